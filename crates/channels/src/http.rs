//! The one HTTP path every call takes: send, read a bounded body, and turn transport
//! failures and bare HTTP statuses into outcomes.
//!
//! Channel modules look at the body first (each channel has its own error envelope,
//! and Zalo reports errors under HTTP 200); what none of them recognises falls back to
//! [`status_outcome`].

use std::error::Error as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use crate::config::ConnectorsConfig;
use crate::outcome::{Outcome, ThrottleScope};
use crate::redact::Redactor;
use crate::usage::UsageReading;

/// A connection pool shared by all four clients, with the limits every call obeys.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: reqwest::Client,
    max_body_bytes: usize,
    default_backoff: Duration,
}

/// An answer as received: status, headers and the whole (decompressed) body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Transport {
    pub fn new(config: &ConnectorsConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .gzip(true)
            // A redirect would carry a token-bearing URL (Shopee's query) to another
            // host; no documented endpoint redirects, so a 3xx is an answer to classify.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("backfill/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            max_body_bytes: config.max_body_bytes,
            default_backoff: config.default_throttle_backoff,
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn default_backoff(&self) -> Duration {
        self.default_backoff
    }

    /// Sends one request. Transport failures come back as outcomes, their text stripped
    /// of the URL (it holds Shopee's token and signature) and scrubbed.
    pub async fn send(
        &self,
        request: RequestBuilder,
        op: &str,
        redactor: &Redactor<'_>,
    ) -> Result<Answer, Outcome> {
        let started = Instant::now();
        let mut response = request
            .send()
            .await
            .map_err(|e| transport_outcome(op, e, redactor))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > self.max_body_bytes => {
                    return Err(Outcome::Permanent(format!(
                        "{op}: body larger than {} bytes",
                        self.max_body_bytes
                    )));
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                // A body cut off by the connection is a network failure, not a malformed
                // document: asking again is likely to get all of it.
                Err(e) if cut_off(&e) => {
                    return Err(Outcome::Transient(format!(
                        "{op}: the connection dropped after {} bytes of the body ({}): {}",
                        body.len(),
                        chain(e, redactor),
                        redactor.snippet(&body)
                    )));
                }
                Err(e) => return Err(transport_outcome(op, e, redactor)),
            }
        }
        tracing::debug!(
            op,
            status = status.as_u16(),
            bytes = body.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "channel answered"
        );
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

impl Answer {
    pub fn usage(&self) -> Option<UsageReading> {
        UsageReading::from_headers(&self.headers)
    }

    /// `Retry-After` as delta-seconds or an HTTP date.
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        let at = DateTime::parse_from_rfc2822(value)
            .ok()?
            .with_timezone(&Utc);
        Some((at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
    }
}

/// `now + wait` on the system clock: throttle windows are the channel's, measured by
/// its servers, not policy time (DESIGN decision 8).
pub(crate) fn after(wait: Duration) -> DateTime<Utc> {
    let now = Utc::now();
    TimeDelta::from_std(wait)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now + TimeDelta::days(1))
}

/// The outcome of a non-success status whose body the channel module did not recognise.
pub(crate) fn status_outcome(
    op: &str,
    answer: &Answer,
    redactor: &Redactor<'_>,
    backoff: Duration,
) -> Outcome {
    let status = answer.status;
    let reason = || {
        format!(
            "{op}: HTTP {}: {}",
            status.as_u16(),
            redactor.snippet(&answer.body)
        )
    };
    match status {
        StatusCode::TOO_MANY_REQUESTS => Outcome::Throttled {
            until: after(answer.retry_after().unwrap_or(backoff)),
            scope: ThrottleScope::Account,
        },
        StatusCode::UNAUTHORIZED => Outcome::AuthRevoked(reason()),
        StatusCode::REQUEST_TIMEOUT => Outcome::Transient(reason()),
        s if s.is_server_error() => Outcome::Transient(reason()),
        _ => Outcome::Permanent(reason()),
    }
}

/// A body that is not what the channel documents.
pub(crate) fn malformed(
    op: &str,
    what: &dyn std::fmt::Display,
    answer: &Answer,
    redactor: &Redactor<'_>,
) -> Outcome {
    Outcome::Permanent(format!(
        "{op}: malformed answer ({what}): {}",
        redactor.snippet(&answer.body)
    ))
}

fn transport_outcome(op: &str, error: reqwest::Error, redactor: &Redactor<'_>) -> Outcome {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_builder() {
        // A request we could not even build (an id that makes an invalid URL): asking
        // again cannot help.
        return Outcome::Permanent(format!("{op}: invalid request: {}", chain(error, redactor)));
    } else if error.is_decode() {
        return Outcome::Permanent(format!(
            "{op}: undecodable body: {}",
            chain(error, redactor)
        ));
    } else {
        "transport error"
    };
    Outcome::Transient(format!("{op}: {kind}: {}", chain(error, redactor)))
}

/// Whether a body error is the connection ending early. With compression on, reqwest
/// reports it as a decode error whose cause is the body error, so the causes are read
/// too; a decode error without one is a corrupt document.
fn cut_off(error: &reqwest::Error) -> bool {
    let mut source = error.source();
    let mut body = error.is_body();
    while let Some(cause) = source {
        body |= cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_body);
        source = cause.source();
    }
    body
}

/// The error and its causes on one line, without the request URL.
fn chain(error: reqwest::Error, redactor: &Redactor<'_>) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    redactor.scrub(&text)
}
