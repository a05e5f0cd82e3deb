//! Configuration, in three layers: `config/default.toml` (compiled in), an optional file
//! (`--config FILE` or `BACKFILL_CONFIG`), then `BACKFILL__SECTION__KEY` environment
//! variables. Unknown keys are refused by name rather than ignored; variables without the
//! `BACKFILL__` prefix (the pods' `OTEL_*`, Kubernetes' service links) are not read.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use backfill_channels::ConnectorsConfig;
use backfill_producer::api::ApiSettings;
use backfill_producer::dispatch::DispatchSettings;
use backfill_producer::events::EventSettings;
use backfill_producer::tenants::TenantConfig;
use backfill_telemetry::TelemetryConfig;
use secrecy::SecretString;
use serde::Deserialize;

/// The compiled-in first layer.
pub const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// Everything any command reads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub store: StoreConfig,
    #[serde(default)]
    pub redis: RedisConfig,
    pub queue: QueueConfig,
    #[serde(default)]
    pub secrets: SecretsConfig,
    pub api: ApiConfig,
    pub dispatch: DispatchConfig,
    pub worker: WorkerConfig,
    pub events: EventsConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub connectors: ConnectorsConfig,
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// Whether any layer set `telemetry.log_filter`: interactive commands stay quiet
    /// unless asked, since log lines would break their output.
    #[serde(skip)]
    pub log_filter_set: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A URL may hold a password: kept out of `Debug`.
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    pub url: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    pub credential_key: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub body_limit_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchConfig {
    pub window: u64,
    pub batch: u32,
    pub per_account_in_flight: u32,
    pub per_channel_in_flight: backfill_store::ChannelCaps,
    pub lease_secs: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    pub listen: SocketAddr,
    pub concurrency: usize,
    pub shutdown_grace_secs: u64,
    pub step_timeout_secs: u64,
    pub ratelimit_prefix: String,
    pub local_per_second: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    pub poll_interval_ms: u64,
    pub progress_interval_secs: u64,
    pub channel_prefix: String,
    pub webhook_attempts: usize,
    pub webhook_timeout_secs: u64,
}

impl Config {
    /// Reads the layers; `file` is the optional second one.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut layers = ::config::Config::builder().add_source(::config::File::from_str(
            DEFAULTS,
            ::config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            anyhow::ensure!(
                path.is_file(),
                "configuration file {} not found",
                path.display()
            );
            layers = layers.add_source(
                ::config::File::from(path)
                    .format(::config::FileFormat::Toml)
                    .required(true),
            );
        }
        let layers = layers
            .add_source(
                ::config::Environment::with_prefix("BACKFILL")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()
            .context("reading the configuration")?;
        let log_filter_set = layers.get_string("telemetry.log_filter").is_ok();
        let mut config: Config = layers.try_deserialize().context("invalid configuration")?;
        config.log_filter_set = log_filter_set;
        Ok(config)
    }

    pub fn dispatch_settings(&self) -> DispatchSettings {
        DispatchSettings {
            window: self.dispatch.window,
            batch: self.dispatch.batch,
            per_account_in_flight: self.dispatch.per_account_in_flight,
            per_channel_in_flight: self.dispatch.per_channel_in_flight,
            lease: chrono::TimeDelta::seconds(i64::from(self.dispatch.lease_secs)),
            ..DispatchSettings::default()
        }
    }

    pub fn api_settings(&self) -> ApiSettings {
        ApiSettings {
            body_limit: self.api.body_limit_bytes,
        }
    }

    pub fn event_settings(&self) -> EventSettings {
        EventSettings {
            poll_interval: Duration::from_millis(self.events.poll_interval_ms.max(10)),
            progress_interval: (self.events.progress_interval_secs > 0)
                .then(|| Duration::from_secs(self.events.progress_interval_secs)),
            channel_prefix: self.events.channel_prefix.clone(),
            webhook_attempts: self.events.webhook_attempts.max(1),
            webhook_timeout: Duration::from_secs(self.events.webhook_timeout_secs.max(1)),
            ..EventSettings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_defaults_read_as_the_chart_expects() {
        let config = Config::load(None).unwrap();
        assert_eq!(config.queue.name, "backfill:steps");
        assert_eq!(config.dispatch.window, 1000);
        assert_eq!(config.worker.concurrency, 16);
        assert_eq!(config.worker.shutdown_grace_secs, 25);
        assert_eq!(config.api.listen.port(), 8080);
        assert_eq!(config.worker.listen.port(), 8081);
        assert!(config.redis.url.is_none());
        assert!(config.tenants.is_empty());
    }
}
