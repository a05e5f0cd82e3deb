//! Span names and attribute keys, and the `step` span every worker task runs in.
//!
//! A trace of one connect reads: `api.request` (producer) → `dispatch` (producer) →
//! `step` (worker, one per task, joined to the request through the `traceparent` the
//! step's payload carries) → `channel.call` and `store.commit` (children of `step`).

use std::fmt::Display;

use backfill_policy::Channel;
use tracing::Span;
use tracing::field::Empty;

/// The HTTP request that asked for work (connect, load more, …).
pub const API_REQUEST: &str = "api.request";
/// The dispatcher pushing due steps onto the queue.
pub const DISPATCH: &str = "dispatch";
/// One step executed by a worker.
pub const STEP: &str = "step";
/// The step's one channel API call.
pub const CHANNEL_CALL: &str = "channel.call";
/// The step's one database transaction.
pub const STORE_COMMIT: &str = "store.commit";

/// Every span name, for docs and cross-checks.
pub const ALL_SPAN_NAMES: &[&str] = &[API_REQUEST, DISPATCH, STEP, CHANNEL_CALL, STORE_COMMIT];

/// Attribute keys on spans. Values are identifiers and closed-set names, never a
/// token or a response body (B4).
pub mod attr {
    pub const TENANT: &str = "tenant";
    pub const CHANNEL: &str = "channel";
    pub const ACCOUNT: &str = "account";
    pub const RUN: &str = "run";
    pub const STEP_KIND: &str = "step.kind";
    pub const OUTCOME: &str = "outcome";
}

/// The span one step runs in, with `outcome` left to [`record_outcome`].
///
/// Join it to the request that caused the step with
/// [`set_parent_from`](crate::set_parent_from) *before* entering it: a span's parent
/// is fixed once it starts.
pub fn step(
    tenant: &dyn Display,
    channel: Channel,
    account: &dyn Display,
    run: &dyn Display,
    step_kind: &'static str,
) -> Span {
    tracing::info_span!(
        STEP,
        tenant = %tenant,
        channel = channel.as_str(),
        account = %account,
        run = %run,
        step.kind = step_kind,
        outcome = Empty,
        otel.status_code = Empty,
    )
}

/// Records how a step ended. A `failed` step also marks the span as an error, so a
/// trace backend lists it among failures without knowing our outcome names.
pub fn record_outcome(span: &Span, outcome: &'static str, failed: bool) {
    span.record(attr::OUTCOME, outcome);
    if failed {
        span.record("otel.status_code", "ERROR");
    }
}
