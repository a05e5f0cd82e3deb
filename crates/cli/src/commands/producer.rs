//! `backfill producer`: the HTTP API, the dispatcher and the event relay, until SIGTERM.

use anyhow::Context as _;
use backfill_producer::service::{Dependencies, Producer, ProducerSettings};
use backfill_worker::clock::Clock;
use backfill_worker::queue::{QueueBackend, QueueSettings, StepQueue};
use secrecy::ExposeSecret as _;

use crate::config::Config;
use crate::{connect_redis, shutdown_signal, store};

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let redis_url = config
        .redis
        .url
        .as_ref()
        .context(
            "backfill producer needs Redis: set BACKFILL__REDIS__URL (e.g. redis://127.0.0.1:6379)",
        )?
        .expose_secret();
    let store_url = config.store.url.expose_secret();
    let key = store::credential_key(config.secrets.credential_key.as_ref(), store_url)?;
    let store = store::open(store_url, key, config.store.max_connections).await?;
    backfill_producer::tenants::provision(&store, &config.tenants, chrono::Utc::now())
        .await
        .context("provisioning the configured tenants")?;
    if config.tenants.is_empty() {
        tracing::warn!("no [[tenants]] configured: every API request will be refused (401)");
    }
    let queue = StepQueue::connect(&QueueSettings::new(QueueBackend::Redis {
        url: redis_url.to_owned(),
        queue: config.queue.name.clone(),
    }))
    .await?;
    let redis = connect_redis(redis_url).await?;
    let settings = ProducerSettings {
        listen: config.api.listen,
        api: config.api_settings(),
        dispatch: config.dispatch_settings(),
        events: config.event_settings(),
    };
    let deps = Dependencies {
        store: store.clone(),
        queue,
        redis: Some(redis),
        clock: Clock::system(),
    };
    let producer = Producer::build(settings, deps)
        .await
        .with_context(|| format!("cannot listen on {}", config.api.listen))?;
    producer.run_until(shutdown_signal()).await?;
    store.close().await;
    Ok(())
}
