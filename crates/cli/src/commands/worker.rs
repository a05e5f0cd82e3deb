//! `backfill worker`: apalis workers on the Redis queue executing steps, with the
//! fleet-wide rate limiter, and `/healthz` + `/readyz` on their own port. SIGTERM stops
//! fetching and lets in-flight steps finish within the shutdown grace (B6).

use std::num::NonZeroU32;
use std::time::Duration;

use anyhow::Context as _;
use backfill_channels::Connector;
use backfill_producer::health::{self, Readiness};
use backfill_worker::clock::Clock;
use backfill_worker::executor::{Executor, ExecutorSettings};
use backfill_worker::queue::{QueueBackend, QueueSettings, StepQueue, run_workers};
use backfill_worker::ratelimit::{FleetLimiter, Limiter};
use secrecy::ExposeSecret as _;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::{connect_redis, shutdown_signal, store};

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let redis_url = config
        .redis
        .url
        .as_ref()
        .context(
            "backfill worker needs Redis: set BACKFILL__REDIS__URL (e.g. redis://127.0.0.1:6379)",
        )?
        .expose_secret();
    let local_per_second = NonZeroU32::new(config.worker.local_per_second)
        .context("worker.local_per_second must be at least 1")?;
    let connector =
        Connector::new(config.connectors.clone()).context("invalid [connectors] configuration")?;

    let settings = QueueSettings {
        concurrency: config.worker.concurrency,
        step_timeout: Duration::from_secs(config.worker.step_timeout_secs),
        // The pod's name, so that Redis shows which pod holds what (a random suffix is
        // added per start).
        worker_name_prefix: std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "backfill-worker".to_owned()),
        ..QueueSettings::new(QueueBackend::Redis {
            url: redis_url.to_owned(),
            queue: config.queue.name.clone(),
        })
    };
    // The queue first: its error names the URL (password masked) when Redis is away.
    let queue = StepQueue::connect(&settings).await?;
    let redis = connect_redis(redis_url).await?;
    let store_url = config.store.url.expose_secret();
    let key = store::credential_key(config.secrets.credential_key.as_ref(), store_url)?;
    let store = store::open(store_url, key, config.store.max_connections).await?;

    let limiter = Limiter::Fleet(FleetLimiter::new(
        redis,
        config.worker.ratelimit_prefix.clone(),
        local_per_second,
    ));
    let executor = Executor::new(
        store.clone(),
        connector,
        limiter,
        queue.clone(),
        Clock::system(),
        ExecutorSettings::default(),
    );

    // Health keeps answering through the shutdown grace: a pod finishing its steps is
    // alive, and must not be killed for failing its liveness probe.
    let listener = tokio::net::TcpListener::bind(config.worker.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.worker.listen))?;
    let health_stop = CancellationToken::new();
    let health = health::router(Readiness {
        store: store.clone(),
        queue,
    });
    let server = tokio::spawn(
        axum::serve(listener, health)
            .with_graceful_shutdown(health_stop.clone().cancelled_owned())
            .into_future(),
    );
    tracing::info!(health = %config.worker.listen, concurrency = config.worker.concurrency, "worker starting");

    let handler = move |job| {
        let executor = executor.clone();
        async move {
            executor.execute(job).await;
        }
    };
    let grace = Duration::from_secs(config.worker.shutdown_grace_secs);
    let outcome = run_workers(settings, handler, shutdown_signal(), grace).await;
    health_stop.cancel();
    let _ = server.await;
    store.close().await;
    outcome?;
    tracing::info!("worker stopped");
    Ok(())
}
