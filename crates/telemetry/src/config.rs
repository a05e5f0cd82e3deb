//! What `init` needs to know, as the `[telemetry]` section of the configuration.
//!
//! Every field has a default, so an empty section (or none) gives text logs at `info`
//! and no export: the embedded mode and the tests need nothing else.

use serde::{Deserialize, Serialize};

/// How telemetry is emitted. Deserialized from the `telemetry` section, i.e. the
/// variables `BACKFILL__TELEMETRY__OTLP_ENDPOINT`, `…__PROTOCOL`, `…__LOG_FORMAT`,
/// `…__LOG_FILTER` and `…__SERVICE_NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OpenTelemetry `service.name`: `backfill-producer`, `backfill-worker`, …
    pub service_name: String,
    /// Base URL of an OTLP receiver, e.g. `http://otel-collector:4317` for gRPC or
    /// `http://otel-collector:4318` for HTTP (the `/v1/traces` and `/v1/metrics` paths
    /// are appended). `None` or an empty string: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// The OTLP transport used when an endpoint is set.
    pub protocol: Protocol,
    /// How log lines are written to stdout.
    pub log_format: LogFormat,
    /// A `tracing` filter directive, e.g. `info` or `info,backfill_worker=debug`.
    pub log_filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            service_name: "backfill".to_owned(),
            otlp_endpoint: None,
            protocol: Protocol::default(),
            log_format: LogFormat::default(),
            log_filter: "info".to_owned(),
        }
    }
}

impl TelemetryConfig {
    /// The endpoint to export to, if any. An empty or blank value counts as unset,
    /// because a Helm chart or a `.env` file commonly renders `VAR=""` for "off".
    pub fn endpoint(&self) -> Option<&str> {
        self.otlp_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|endpoint| !endpoint.is_empty())
    }
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// OTLP/gRPC (port 4317 by convention). Needs a Tokio runtime at `init`.
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with binary protobuf bodies (port 4318 by convention).
    #[serde(rename = "http", alias = "http/protobuf", alias = "http_protobuf")]
    HttpProtobuf,
}

/// Log line format on stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Text,
    /// One JSON object per line with the span's fields, for a log pipeline.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_means_text_logs_at_info_and_no_export() {
        let config: TelemetryConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, TelemetryConfig::default());
        assert_eq!(config.endpoint(), None);
        assert_eq!(config.log_filter, "info");
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn protocol_and_log_format_read_as_the_environment_spells_them() {
        let config: TelemetryConfig = serde_json::from_str(
            r#"{"otlp_endpoint":"http://collector:4318","protocol":"http","log_format":"json"}"#,
        )
        .unwrap();
        assert_eq!(config.protocol, Protocol::HttpProtobuf);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.endpoint(), Some("http://collector:4318"));

        let grpc: TelemetryConfig = serde_json::from_str(r#"{"protocol":"grpc"}"#).unwrap();
        assert_eq!(grpc.protocol, Protocol::Grpc);
    }

    #[test]
    fn a_blank_endpoint_counts_as_unset() {
        let config = TelemetryConfig {
            otlp_endpoint: Some("  ".to_owned()),
            ..TelemetryConfig::default()
        };
        assert_eq!(config.endpoint(), None);
    }

    #[test]
    fn unknown_keys_are_refused_rather_than_ignored() {
        let typo = serde_json::from_str::<TelemetryConfig>(r#"{"otlp_endpont":"x"}"#);
        assert!(typo.is_err());
    }
}
