//! The job-queue layer: apalis 1.0 on Redis (the fleet) or on SQLite (the embedded
//! single-process mode).
//!
//! The database is the source of truth (DESIGN decision 1). The queue only carries a
//! bounded window of ready step ids, delivers each at least once, and is allowed to
//! deliver twice: a re-delivered step finds itself done in the database and does nothing.
//! Everything here is therefore about *liveness* (a task is never stuck: not behind a dead
//! worker, a hung handler, a crashed handler or a poisoned payload) and about *hygiene*
//! (nothing piles up in Redis), never about exactly-once.
//!
//! The numbers in comments (`pitfall N`) refer to `shared/notes/apalis-1.0.md`; each
//! pitfall this module relies on is pinned by a test in `tests/queue_*.rs`.
//!
//! What apalis 1.0 does that this module works around (read in the 1.0.0 sources, and
//! pinned by the `apalis_*` tests):
//! - `persist_results(false)` does not merely skip storing the result: it skips the *ack*,
//!   so a finished task stays in `<q>:inflight:<worker>` for good and is re-run by
//!   whichever worker later declares this one dead. Results stay on, and housekeeping
//!   deletes them (pitfall 12).
//! - A graceful stop does not deregister the worker (apalis-redis removes the wrong member
//!   from `<q>:workers`); [`run_workers`] does it itself, and also hands back anything its
//!   worker still holds.
//! - A payload that does not decode is a *backend* error that ends the apalis worker, and a
//!   handler error is retried up to 25 times (pitfall 4). So apalis sees plain JSON and an
//!   infallible task function: decoding, the step timeout and panics are all handled in
//!   [`StepService`], and every task is acked as done.
//! - Once about 8,000 tasks are due at once, every fetch fails (pitfall 3). Housekeeping
//!   promotes due tasks in bounded batches before apalis tries to.

mod redis;
mod sqlite;
mod wake;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::WorkerContext;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What travels through the queue: a step id and the trace context. Never a token (B4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepJob {
    pub step_id: i64,
    pub traceparent: Option<String>,
}

/// Where the queue lives. The queue name is always explicit (pitfall 1): operations
/// (KEDA, dashboards) read `<queue>:scheduled` and `<queue>:active` by name. On Redis
/// Cluster, wrap the name in a hash tag, e.g. `{backfill}steps` (pitfall 13).
#[derive(Clone, PartialEq, Eq)]
pub enum QueueBackend {
    Redis {
        url: String,
        queue: String,
    },
    /// The SQLite file must be the queue's own: apalis-sqlite runs its own sqlx migrations,
    /// which refuse to share `_sqlx_migrations` with the store's (tooling.md).
    Sqlite {
        path: PathBuf,
        queue: String,
    },
}

impl QueueBackend {
    fn queue(&self) -> &str {
        match self {
            Self::Redis { queue, .. } | Self::Sqlite { queue, .. } => queue,
        }
    }
}

// Hand-written so that a password in the Redis URL never reaches a log line (B4).
impl fmt::Debug for QueueBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redis { url, queue } => f
                .debug_struct("Redis")
                .field("url", &redact_url(url))
                .field("queue", queue)
                .finish(),
            Self::Sqlite { path, queue } => f
                .debug_struct("Sqlite")
                .field("path", path)
                .field("queue", queue)
                .finish(),
        }
    }
}

/// How workers consume the queue. [`QueueSettings::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub backend: QueueBackend,
    /// Handlers running at once in this process. apalis fetches one task per free slot and
    /// never more (pitfall 7).
    pub concurrency: usize,
    /// How often an idle worker looks for due tasks; at most 1 s (pitfall 9). Without it an
    /// idle apalis worker only wakes on its heartbeat.
    pub poll_interval: Duration,
    /// How long a worker may stay silent before another worker re-enqueues its tasks
    /// (heartbeat interval × missed heartbeats, pitfall 6). apalis's default is about 300 s.
    pub orphan_after: Duration,
    /// A handler still running after this is cancelled and its task acked; the step's
    /// database lease re-dispatches it (pitfall 6: a hung task is never recovered by apalis).
    pub step_timeout: Duration,
    /// Usually the pod name. Each worker start appends a random suffix (pitfall 8).
    pub worker_name_prefix: String,
}

impl QueueSettings {
    pub const DEFAULT_CONCURRENCY: usize = 16;
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);
    pub const DEFAULT_ORPHAN_AFTER: Duration = Duration::from_secs(30);
    pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(60);
    /// The upper bound on `poll_interval` (pitfall 9).
    pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(1);

    pub fn new(backend: QueueBackend) -> Self {
        Self {
            backend,
            concurrency: Self::DEFAULT_CONCURRENCY,
            poll_interval: Self::DEFAULT_POLL_INTERVAL,
            orphan_after: Self::DEFAULT_ORPHAN_AFTER,
            step_timeout: Self::DEFAULT_STEP_TIMEOUT,
            worker_name_prefix: "backfill-worker".to_owned(),
        }
    }

    /// The heartbeat apalis keeps while a worker lives. A dead worker's tasks come back
    /// after `orphan_after` plus at most one heartbeat of a surviving worker, which is when
    /// apalis looks for the dead.
    fn heartbeat_interval(&self) -> Duration {
        self.orphan_after / MISSED_HEARTBEATS
    }

    fn validate(&self) -> Result<(), QueueError> {
        let invalid = |reason: String| Err(QueueError::Settings(reason));
        if self.backend.queue().trim().is_empty() {
            return invalid("the queue name is empty; name it explicitly (pitfall 1)".into());
        }
        if self.concurrency == 0 {
            return invalid("concurrency must be at least 1".into());
        }
        if self.poll_interval.is_zero() || self.poll_interval > Self::MAX_POLL_INTERVAL {
            return invalid(format!(
                "poll_interval must be above 0 and at most {:?}, got {:?} (pitfall 9)",
                Self::MAX_POLL_INTERVAL,
                self.poll_interval
            ));
        }
        // apalis keeps heartbeats in whole seconds.
        if self.heartbeat_interval() < Duration::from_secs(1) {
            return invalid(format!(
                "orphan_after must be at least {MISSED_HEARTBEATS} s, got {:?}",
                self.orphan_after
            ));
        }
        if self.step_timeout.is_zero() {
            return invalid("step_timeout must be above 0".into());
        }
        Ok(())
    }
}

/// How many tasks wait in the queue. Redis: `ZCARD <q>:scheduled` (pushed, not yet promoted:
/// every push lands there first, pitfall 2) and `LLEN <q>:active` (promoted, waiting for a
/// worker). SQLite: pending rows not yet due, and pending rows due now. Tasks a worker holds
/// are in neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub scheduled: u64,
    pub active: u64,
}

impl QueueDepth {
    /// What the dispatcher compares with its window (pitfall 3).
    pub fn total(&self) -> u64 {
        self.scheduled + self.active
    }
}

/// Each message carries its cause (callers log `%error`), which is therefore not also
/// exposed as `source()`: error-chain printers would repeat it.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("invalid queue settings: {0}")]
    Settings(String),
    /// `url` has its password masked.
    #[error("cannot reach Redis at {url}: {cause}")]
    RedisUnreachable {
        url: String,
        cause: ::redis::RedisError,
    },
    #[error("Redis queue {queue:?}: {operation} failed: {cause}")]
    Redis {
        queue: String,
        operation: &'static str,
        cause: BoxError,
    },
    #[error("SQLite queue at {path}: {operation} failed: {cause}")]
    Sqlite {
        path: String,
        operation: &'static str,
        cause: BoxError,
    },
    #[error("cannot encode a step job: {0}")]
    Encode(#[from] serde_json::Error),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Push side, used by the dispatcher and by workers pushing follow-up steps.
#[derive(Clone, Debug)]
pub struct StepQueue {
    backend: Backend,
}

impl StepQueue {
    /// Connects (Redis: and pings; SQLite: and migrates the queue's own file). An
    /// unreachable Redis is reported with its URL, password masked.
    pub async fn connect(settings: &QueueSettings) -> Result<Self, QueueError> {
        settings.validate()?;
        Ok(Self {
            backend: Backend::connect(settings).await?,
        })
    }

    /// Pushes jobs that are due now, in batches of at most [`PUSH_BATCH`] per round trip.
    /// Callers still bound what waits in Redis (pitfall 3): workers defuse a jam of due
    /// tasks, but only after a failed fetch and a restart.
    pub async fn push(&self, jobs: &[StepJob]) -> Result<(), QueueError> {
        for batch in jobs.chunks(PUSH_BATCH) {
            self.push_batch(batch, true).await?;
        }
        Ok(())
    }

    /// Pushes the steps a finishing step handed its place on to (`executor.rs`). The
    /// worker pushing them is about to free the slot that step held and fetches at once,
    /// so one such step needs no other worker woken (on Redis that is a round trip saved
    /// on every step); more than one does.
    pub async fn push_handed_on(&self, jobs: &[StepJob]) -> Result<(), QueueError> {
        let wake = jobs.len() > 1;
        for batch in jobs.chunks(PUSH_BATCH) {
            self.push_batch(batch, wake).await?;
        }
        Ok(())
    }

    async fn push_batch(&self, batch: &[StepJob], wake: bool) -> Result<(), QueueError> {
        let payloads = batch
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()?;
        match &self.backend {
            Backend::Redis(queue) => queue.push(payloads, wake).await,
            Backend::Sqlite(queue) => queue.push(payloads, wake).await,
        }
    }

    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        match &self.backend {
            Backend::Redis(queue) => queue.depth().await,
            Backend::Sqlite(queue) => queue.depth().await,
        }
    }
}

/// Jobs per round trip in [`StepQueue::push`].
pub const PUSH_BATCH: usize = 500;

/// Consumer side: runs `settings.concurrency` handlers until `shutdown` resolves, then
/// stops fetching, lets in-flight handlers finish within `grace`, hands back whatever is
/// still claimed, and returns.
///
/// From apalis's view every task succeeds: the handler records outcomes in the database
/// itself (pitfall 4). A handler that panics or outlives `step_timeout` is cancelled and
/// its task acked; the step's database lease re-dispatches it.
///
/// A backend failure (Redis gone, this worker declared dead by the others) ends the
/// current apalis worker: its in-flight handlers finish, what it holds goes back to the
/// queue, and a new worker with a new name (pitfall 8) starts after a short backoff. Only
/// invalid settings and a backend unreachable at start are returned as errors.
///
/// Handlers are spawned onto the Tokio runtime, so they run in parallel and a handler that
/// blocks its thread cannot stall the worker's heartbeat on a multi-threaded runtime.
pub async fn run_workers<H, Fut>(
    settings: QueueSettings,
    handler: H,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), QueueError>
where
    H: Fn(StepJob) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    settings.validate()?;
    let backend = Backend::connect(&settings).await?;
    let service = StepService::new(handler, settings.step_timeout);

    // The caller's future resolves once; the token can be awaited by every session.
    let stop = CancellationToken::new();
    let _shutdown_watch = AbortOnDrop(tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    }));

    let mut backoff = RESTART_BACKOFF_MIN;
    loop {
        let name = worker_name(&settings.worker_name_prefix);
        let started = Instant::now();
        let outcome = run_session(&backend, &name, &service, &stop, grace, &settings).await;

        match backend.retire(&name).await {
            Ok(0) => {}
            Ok(released) => tracing::warn!(
                worker = %name,
                released,
                "handed tasks this worker still held back to the queue"
            ),
            Err(error) => tracing::warn!(
                worker = %name,
                %error,
                "could not retire the worker; the others re-enqueue its tasks once it counts as dead"
            ),
        }

        if stop.is_cancelled() {
            if let Err(error) = backend.housekeeping(None).await {
                tracing::debug!(%error, "final queue housekeeping failed");
            }
            return Ok(());
        }
        if let Err(error) = outcome {
            if started.elapsed() > RESTART_BACKOFF_RESET {
                backoff = RESTART_BACKOFF_MIN;
            }
            tracing::warn!(worker = %name, %error, ?backoff, "queue worker failed; restarting under a new name");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop.cancelled() => return Ok(()),
            }
            backoff = (backoff * 2).min(RESTART_BACKOFF_MAX);
        }
    }
}

/// apalis heartbeats per orphan window: with the default 30 s window, a heartbeat every
/// 5 s, so a dead worker's tasks are back within about 35 s (pitfall 6).
const MISSED_HEARTBEATS: u32 = 6;
/// How often a running worker does [`Backend::housekeeping`].
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(2);
const RESTART_BACKOFF_MIN: Duration = Duration::from_millis(250);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A worker that ran this long before failing restarts without the accumulated backoff.
const RESTART_BACKOFF_RESET: Duration = Duration::from_secs(60);

/// `prefix-<48 random bits>`: unique per worker start, so a container restarted in the
/// same pod (same hostname) never collides with its own previous registration, which
/// apalis refuses for a whole orphan window (pitfall 8).
fn worker_name(prefix: &str) -> String {
    let prefix = match prefix.trim() {
        "" => "backfill-worker",
        prefix => prefix,
    };
    format!("{prefix}-{:012x}", rand::random::<u64>() >> 16)
}

/// One apalis worker under one name, from registration to its last ack.
struct Session {
    /// Shares state with the apalis worker: `stop()` on it stops the worker.
    ctx: WorkerContext,
    events: BoxStream<'static, Result<(), apalis::prelude::WorkerError>>,
    /// What wakes the worker when tasks are pushed (`wake.rs`); ends with the session.
    _wakeups: Option<AbortOnDrop<()>>,
}

/// Runs one apalis worker until shutdown is requested or its backend fails, then drains
/// it. `Err` carries why the backend failed.
async fn run_session(
    backend: &Backend,
    name: &str,
    service: &StepService,
    stop: &CancellationToken,
    grace: Duration,
    settings: &QueueSettings,
) -> Result<(), String> {
    // Before the worker's first fetch: a backlog of due tasks large enough to jam apalis
    // (pitfall 3) must be promoted first, or every restart would fail the same way.
    if let Err(error) = backend.housekeeping(None).await {
        tracing::debug!(%error, "queue housekeeping failed; the worker starts anyway");
    }
    // `_subscription` lives as long as the session: dropping it ends the wake-ups.
    let Session {
        ctx,
        mut events,
        _wakeups: _subscription,
    } = backend.session(name, settings, service.clone());
    let _housekeeper = AbortOnDrop(tokio::spawn(keep_house(backend.clone(), name.to_owned())));
    tracing::info!(worker = %name, queue = settings.backend.queue(), "queue worker starting");

    let (outcome, mut deadline) = loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break (Ok(()), Instant::now() + grace),
            event = events.next() => match event {
                Some(Ok(())) => {}
                // In-flight handlers are bounded by the step timeout, so they may finish.
                Some(Err(error)) => break (Err(error.to_string()), Instant::now() + settings.step_timeout),
                None => break (Err("the apalis worker stopped on its own".to_owned()), Instant::now()),
            },
        }
    };

    // From here apalis fetches nothing new; it waits for in-flight handlers, flushes
    // their acks and returns. A worker that has not started yet has fetched nothing.
    if ctx.stop().is_err() {
        return outcome;
    }
    let mut grace_applied = outcome.is_ok();
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled(), if !grace_applied => {
                grace_applied = true;
                deadline = deadline.min(Instant::now() + grace);
            }
            () = tokio::time::sleep_until(deadline) => {
                // Dropping the worker cancels the handlers (they are aborted on drop); what
                // they held is handed back by `retire`.
                tracing::warn!(
                    worker = %name,
                    abandoned = ctx.task_count(),
                    "in-flight steps did not finish in time; abandoning them"
                );
                break;
            }
            event = events.next() => match event {
                None => break,
                Some(Ok(())) => {}
                // apalis must not be polled again after a failed close: `retire` cleans up.
                Some(Err(error)) => {
                    tracing::warn!(worker = %name, %error, "queue worker failed while stopping");
                    break;
                }
            },
        }
    }
    outcome
}

async fn keep_house(backend: Backend, worker: String) {
    let mut ticks = tokio::time::interval_at(
        Instant::now() + HOUSEKEEPING_INTERVAL,
        HOUSEKEEPING_INTERVAL,
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = backend.housekeeping(Some(&worker)).await {
            tracing::debug!(%error, "queue housekeeping failed; retrying on the next tick");
        }
    }
}

/// The apalis task function: decodes the payload, runs the caller's handler under the step
/// timeout and catches its panics. It never fails, so apalis acks every task as done and
/// never retries one (pitfall 4).
#[derive(Clone)]
struct StepService {
    handler: Arc<dyn Fn(StepJob) -> BoxFuture<'static, ()> + Send + Sync>,
    step_timeout: Duration,
}

impl StepService {
    fn new<H, Fut>(handler: H, step_timeout: Duration) -> Self
    where
        H: Fn(StepJob) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            handler: Arc::new(move |job| handler(job).boxed()),
            step_timeout,
        }
    }

    async fn run(self, payload: serde_json::Value) {
        // apalis decodes arguments as a backend step, and a decode failure there ends the
        // whole worker; decoded here, a foreign payload costs one log line. The payload
        // itself is not logged: it is not ours.
        let job = match serde_json::from_value::<StepJob>(payload) {
            Ok(job) => job,
            Err(error) => {
                tracing::error!(%error, "dropped a queue payload that is not a StepJob");
                return;
            }
        };
        let step_id = job.step_id;
        let handler = AbortOnDrop(tokio::spawn((self.handler)(job)));
        match tokio::time::timeout(self.step_timeout, handler).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) if error.is_panic() => tracing::error!(
                step_id,
                "step handler panicked; the step's lease will re-dispatch it"
            ),
            Ok(Err(error)) => tracing::warn!(step_id, %error, "step handler was cancelled"),
            Err(_elapsed) => tracing::error!(
                step_id,
                timeout = ?self.step_timeout,
                "step handler exceeded the step timeout and was cancelled; the step's lease will re-dispatch it"
            ),
        }
    }
}

impl fmt::Debug for StepService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepService")
            .field("step_timeout", &self.step_timeout)
            .finish_non_exhaustive()
    }
}

/// A spawned task that is aborted when its handle is dropped: a handler cancelled by the
/// step timeout or by an expired grace period must not live on detached.
#[derive(Debug)]
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Clone, Debug)]
enum Backend {
    Redis(redis::RedisQueue),
    Sqlite(sqlite::SqliteQueue),
}

impl Backend {
    async fn connect(settings: &QueueSettings) -> Result<Self, QueueError> {
        Ok(match &settings.backend {
            QueueBackend::Redis { url, queue } => {
                Self::Redis(redis::RedisQueue::connect(url, queue, settings).await?)
            }
            QueueBackend::Sqlite { path, queue } => {
                Self::Sqlite(sqlite::SqliteQueue::connect(path, queue, settings).await?)
            }
        })
    }

    fn session(&self, name: &str, settings: &QueueSettings, service: StepService) -> Session {
        match self {
            Self::Redis(queue) => queue.session(name, settings, service),
            Self::Sqlite(queue) => queue.session(name, settings, service),
        }
    }

    /// Hands back to the queue whatever the named worker still holds and deregisters it.
    /// Returns how many tasks went back.
    async fn retire(&self, worker: &str) -> Result<u64, QueueError> {
        match self {
            Self::Redis(queue) => queue.retire(worker).await,
            Self::Sqlite(queue) => queue.retire(worker).await,
        }
    }

    /// Deletes what finished tasks leave behind (pitfall 12), and on Redis promotes due
    /// tasks in bounded batches (pitfall 3) and keeps `worker`'s metadata from outliving it.
    async fn housekeeping(&self, worker: Option<&str>) -> Result<(), QueueError> {
        match self {
            Self::Redis(queue) => queue.housekeeping(worker).await,
            Self::Sqlite(queue) => queue.housekeeping().await,
        }
    }
}

/// `redis://user:secret@host/0` becomes `redis://user:***@host/0`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let user = match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{scheme}://{user}{}", &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_url_loses_its_password_before_it_is_shown() {
        assert_eq!(
            redact_url("redis://:hunter2@10.0.0.1:6379/0"),
            "redis://:***@10.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("rediss://app:hunter2@cache/1"),
            "rediss://app:***@cache/1"
        );
        assert_eq!(redact_url("redis://token@cache"), "redis://***@cache");
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        let settings = QueueSettings::new(QueueBackend::Redis {
            url: "redis://:hunter2@cache".into(),
            queue: "q".into(),
        });
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn worker_names_keep_the_prefix_and_differ_per_start() {
        let a = worker_name("pod-7");
        let b = worker_name("pod-7");
        assert!(a.starts_with("pod-7-") && b.starts_with("pod-7-"));
        assert_ne!(a, b);
        assert!(worker_name("  ").starts_with("backfill-worker-"));
    }

    #[test]
    fn settings_outside_the_safe_range_are_refused() {
        let base = QueueSettings::new(QueueBackend::Redis {
            url: "redis://127.0.0.1".into(),
            queue: "steps".into(),
        });
        assert!(base.validate().is_ok());
        assert_eq!(base.heartbeat_interval(), Duration::from_secs(5));

        let slow_poll = QueueSettings {
            poll_interval: Duration::from_secs(2),
            ..base.clone()
        };
        let no_slots = QueueSettings {
            concurrency: 0,
            ..base.clone()
        };
        let unnamed = QueueSettings {
            backend: QueueBackend::Redis {
                url: "redis://127.0.0.1".into(),
                queue: " ".into(),
            },
            ..base.clone()
        };
        let tiny_orphan_window = QueueSettings {
            orphan_after: Duration::from_secs(2),
            ..base
        };
        for settings in [slow_poll, no_slots, unnamed, tiny_orphan_window] {
            assert!(
                matches!(settings.validate(), Err(QueueError::Settings(_))),
                "{settings:?}"
            );
        }
    }
}
