//! Traces and metrics reach a real OTLP receiver over HTTP with protobuf bodies (B5).

mod common;

use backfill_telemetry::Protocol;
use common::{Receiver, assert_received_step_trace_and_every_metric, config};

#[test]
fn a_step_trace_and_every_metric_arrive_over_http() {
    let receiver = Receiver::start();
    let guard = backfill_telemetry::init(&config(&receiver, Protocol::HttpProtobuf)).unwrap();

    common::emit_one_step_trace_and_every_metric();
    guard.shutdown().unwrap();

    let received = receiver.wait_for(common::Received::has_every_span_and_metric);
    assert_received_step_trace_and_every_metric(&received);
}
