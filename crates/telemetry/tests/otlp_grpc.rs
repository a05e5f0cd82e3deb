//! Traces and metrics reach a real OTLP receiver over gRPC (B5).

mod common;

use backfill_telemetry::Protocol;
use common::{Receiver, assert_received_step_trace_and_every_metric, config};

// Multi-threaded: the gRPC exporter's connection runs on the runtime while the SDK's
// export threads wait for it, and `block_in_place` needs this flavor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_trace_and_every_metric_arrive_over_grpc() {
    let receiver = Receiver::start();
    let guard = backfill_telemetry::init(&config(&receiver, Protocol::Grpc)).unwrap();

    common::emit_one_step_trace_and_every_metric();
    tokio::task::block_in_place(|| guard.shutdown()).unwrap();

    let received = receiver.wait_for(common::Received::has_every_span_and_metric);
    assert_received_step_trace_and_every_metric(&received);
}
