//! A last line of defence for B4 in the trace pipeline.
//!
//! Tokens are kept out of telemetry by construction (they are `SecretString`s and never
//! a span field). But a log event inside a span becomes a span *event* with every field
//! of the event, so one careless `debug!(access_token = …)` would ship a token to the
//! trace backend, which keeps it for weeks and shows it to everyone on call. This span
//! processor replaces the value of any attribute whose key names a secret before the
//! span reaches the exporter.

use std::time::Duration;

use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

/// What a secret's value becomes.
pub const REDACTED: &str = "[redacted]";

/// Key segments that name a secret. Whole segments, so `tokens_left` (a rate-limit
/// count) stays readable while `access_token` and `page.token` do not.
const SECRET_SEGMENTS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "authorization",
    "signature",
    "cookie",
    "credential",
    "credentials",
    "apikey",
];

/// Wraps the exporting processor and redacts secrets in each ended span.
#[derive(Debug)]
pub(crate) struct RedactingProcessor<P> {
    inner: P,
}

impl<P> RedactingProcessor<P> {
    pub(crate) fn new(inner: P) -> Self {
        Self { inner }
    }
}

impl<P: SpanProcessor> SpanProcessor for RedactingProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        redact(&mut span.attributes);
        for event in span.events.events.iter_mut() {
            redact(&mut event.attributes);
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

fn redact(attributes: &mut [KeyValue]) {
    for attribute in attributes {
        if names_a_secret(attribute.key.as_str()) || carries_a_credential(&attribute.value) {
            attribute.value = Value::from(REDACTED);
        }
    }
}

/// Whether an attribute key names a secret: `access_token`, `app.secret`,
/// `Authorization`, `x-api-key`, …
pub(crate) fn names_a_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("api_key")
        || key.contains("api-key")
        || key
            .split(['.', '_', '-'])
            .any(|segment| SECRET_SEGMENTS.contains(&segment))
}

/// Whether a value is an HTTP credential, whatever its key: an error message that
/// echoes a request header would carry one.
fn carries_a_credential(value: &Value) -> bool {
    let Value::String(value) = value else {
        return false;
    };
    let value = value.as_str().trim_start();
    ["bearer ", "basic "].iter().any(|scheme| {
        value.len() > scheme.len() && value[..scheme.len()].eq_ignore_ascii_case(scheme)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_name_a_secret_are_recognized() {
        for key in [
            "token",
            "access_token",
            "page.access_token",
            "app_secret",
            "Authorization",
            "x-api-key",
            "api_key",
            "credentials",
            "sign.signature",
        ] {
            assert!(names_a_secret(key), "{key}");
        }
    }

    #[test]
    fn ordinary_keys_stay_readable() {
        for key in [
            "tenant",
            "account",
            "tokens_left",
            "step.kind",
            "idempotency_key",
            "outcome",
            "channel",
        ] {
            assert!(!names_a_secret(key), "{key}");
        }
    }

    #[test]
    fn secrets_are_replaced_and_other_attributes_kept() {
        let mut attributes = vec![
            KeyValue::new("access_token", "EAAGsecret"),
            KeyValue::new("error", "Bearer EAAGsecret rejected"),
            KeyValue::new("account", "page-1"),
        ];
        redact(&mut attributes);
        assert_eq!(attributes[0].value, Value::from(REDACTED));
        assert_eq!(attributes[1].value, Value::from(REDACTED));
        assert_eq!(attributes[2].value, Value::from("page-1"));
    }
}
