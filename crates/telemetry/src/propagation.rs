//! W3C trace context across the queue: the producer writes the `traceparent` of its
//! span into a step's payload; the worker makes it the parent of the step's span.
//!
//! Only `traceparent` travels, not `tracestate` or baggage: the payload stays small
//! and nothing a caller put into baggage (which could be anything) is persisted.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACEPARENT: &str = "traceparent";

/// The W3C `traceparent` of the current span, to put into a step's payload.
/// `None` when there is no current span or telemetry is not initialized.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&Span::current())
}

/// The W3C `traceparent` of `span`. Starts the span's OpenTelemetry side if it has
/// not started yet, which fixes its parent: set the parent first.
pub fn traceparent_of(span: &Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes the trace context in `traceparent` the parent of `span`, so the span joins
/// the trace that produced it. Call it right after creating the span and before
/// entering it. A missing or malformed value leaves the span a root: telemetry must
/// never fail a step.
pub fn set_parent_from(span: &Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if !parent.span().span_context().is_valid() {
        tracing::debug!("ignoring a malformed traceparent");
        return;
    }
    if let Err(error) = span.set_parent(parent) {
        tracing::debug!(%error, "could not set a span's remote parent");
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Runs `f` under a subscriber with an OpenTelemetry layer that exports nothing,
    /// scoped to this thread so tests do not fight over the global one.
    fn with_otel<T>(f: impl FnOnce() -> T) -> T {
        let tracer = SdkTracerProvider::builder().build().tracer("test");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::with_default(subscriber, f)
    }

    fn trace_id(traceparent: &str) -> &str {
        traceparent.split('-').nth(1).unwrap()
    }

    #[test]
    fn a_step_span_joins_the_trace_of_the_request_that_caused_it() {
        with_otel(|| {
            let request = tracing::info_span!("api.request");
            let traceparent = request.in_scope(current_traceparent).unwrap();
            assert!(traceparent.starts_with("00-"), "{traceparent}");

            let step = tracing::info_span!("step");
            set_parent_from(&step, Some(&traceparent));
            let joined = traceparent_of(&step).unwrap();

            assert_eq!(trace_id(&joined), trace_id(&traceparent));
            assert_ne!(joined, traceparent, "the step is a new span in that trace");
        });
    }

    #[test]
    fn a_malformed_or_missing_traceparent_starts_a_new_trace() {
        with_otel(|| {
            for carried in [Some("00-not-a-trace-context"), None] {
                let step = tracing::info_span!("step");
                set_parent_from(&step, carried);
                let own = traceparent_of(&step).unwrap();
                assert_eq!(own.len(), 55, "{own}");
            }
        });
    }

    #[test]
    fn without_telemetry_there_is_no_traceparent_to_carry() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("api.request");
            assert_eq!(span.in_scope(current_traceparent), None);
        });
        assert_eq!(current_traceparent(), None);
    }
}
