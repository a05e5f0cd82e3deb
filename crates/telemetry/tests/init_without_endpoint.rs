//! With no endpoint, `init` still gives a working process: logs, real trace ids to
//! carry across the queue, and metrics that are recorded into nothing.

use std::time::Duration;

use backfill_policy::Channel;
use backfill_telemetry::{
    Protocol, TelemetryConfig, TelemetryError, current_traceparent, init, metrics, spans,
};

// One test, because `init` installs process-wide state and must run in a fixed order.
#[test]
fn init_refuses_grpc_without_a_runtime_and_then_works_without_an_endpoint_once() {
    let grpc_outside_tokio = TelemetryConfig {
        otlp_endpoint: Some("http://127.0.0.1:4317".to_owned()),
        protocol: Protocol::Grpc,
        ..TelemetryConfig::default()
    };
    assert!(matches!(
        init(&grpc_outside_tokio),
        Err(TelemetryError::NoRuntime)
    ));

    let bad_filter = TelemetryConfig {
        log_filter: "info,=[".to_owned(),
        ..TelemetryConfig::default()
    };
    assert!(matches!(
        init(&bad_filter),
        Err(TelemetryError::Filter { .. })
    ));

    let guard = init(&TelemetryConfig::default()).unwrap();

    let request = tracing::info_span!(spans::API_REQUEST);
    assert!(request.in_scope(current_traceparent).is_some());
    metrics().step_finished(Channel::Zalo, "list_conversations", "done");
    metrics().channel_call(Channel::Zalo, "page", Duration::from_millis(5));

    assert!(matches!(
        init(&TelemetryConfig::default()),
        Err(TelemetryError::AlreadyInitialized(_))
    ));
    guard.shutdown().unwrap();
}
