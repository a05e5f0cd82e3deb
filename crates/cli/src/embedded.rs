//! The whole pipeline in one process, without services (DESIGN decision 10): the
//! dispatcher and the workers of the fleet, on an apalis-sqlite queue in a file of its
//! own, with the in-memory rate limiter. `backfill sync` and `backfill demo` run on it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use backfill_channels::Connector;
use backfill_producer::dispatch::{DispatchSettings, Dispatcher};
use backfill_store::Store;
use backfill_worker::clock::Clock;
use backfill_worker::executor::{Executor, ExecutorSettings};
use backfill_worker::queue::{QueueBackend, QueueSettings, StepQueue, run_workers};
use backfill_worker::ratelimit::{Limiter, LocalLimiter};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The embedded queue's name inside its SQLite file.
const QUEUE: &str = "backfill:steps";
/// Steps executed at once: the channels' rate limits, not the slots, bound throughput.
const CONCURRENCY: usize = 16;
/// In-flight steps get this long to finish when the engine stops.
const GRACE: Duration = Duration::from_secs(5);

/// A running dispatcher and its workers.
#[derive(Debug)]
pub struct Engine {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Starts dispatching the store's due steps to workers in this process.
    pub async fn start(
        store: Store,
        queue_file: PathBuf,
        connector: Connector,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let mut settings = QueueSettings::new(QueueBackend::Sqlite {
            path: queue_file.clone(),
            queue: QUEUE.to_owned(),
        });
        settings.concurrency = CONCURRENCY;
        settings.worker_name_prefix = "embedded".to_owned();
        let queue = StepQueue::connect(&settings).await.with_context(|| {
            format!("cannot open the embedded queue at {}", queue_file.display())
        })?;
        let dispatch = DispatchSettings {
            // One process, no Redis round trips to spare: look for due steps often.
            idle_interval: Duration::from_millis(50),
            ..DispatchSettings::default()
        };
        let dispatcher = Dispatcher::new(store.clone(), queue.clone(), clock.clone(), dispatch);
        let executor = Executor::new(
            store,
            connector,
            Limiter::Local(LocalLimiter::default()),
            queue,
            clock,
            ExecutorSettings::default(),
        );
        let stop = CancellationToken::new();
        let handler = move |job| {
            let executor = executor.clone();
            async move {
                executor.execute(job).await;
            }
        };
        let workers = run_workers(settings, handler, stop.clone().cancelled_owned(), GRACE);
        let tasks = vec![
            tokio::spawn(dispatcher.run(stop.clone().cancelled_owned())),
            tokio::spawn(async move {
                if let Err(error) = workers.await {
                    tracing::error!(error = %error, "embedded workers stopped");
                }
            }),
        ];
        Ok(Self { stop, tasks })
    }

    /// Stops dispatching, lets in-flight steps finish (within the grace), and returns.
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
