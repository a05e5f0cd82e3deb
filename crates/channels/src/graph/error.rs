//! The Graph error envelope and what each code means for the caller [M6, M8, M9].

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::http::{Answer, after, status_outcome};
use crate::outcome::{Outcome, ThrottleScope};
use crate::redact::Redactor;
use crate::wire::{Flag, lenient_int, lenient_text};

/// `{"error":{"message","type","code","error_subcode","is_transient","error_user_msg",
/// "fbtrace_id"}}` [M8].
#[derive(Debug, Deserialize)]
pub(super) struct GraphError {
    #[serde(default, deserialize_with = "lenient_text")]
    message: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient_text")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_int")]
    code: Option<i64>,
    #[serde(default, deserialize_with = "lenient_int")]
    error_subcode: Option<i64>,
    #[serde(default)]
    is_transient: Option<Flag>,
    #[serde(default, deserialize_with = "lenient_text")]
    error_user_msg: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    fbtrace_id: Option<String>,
}

/// What an error answer asks of the client.
pub(super) enum Verdict {
    /// Code 1 "Please reduce the amount of data you're asking for" [PR1]: ask again
    /// for less, inside this call.
    AskForLess(String),
    Final(Outcome),
}

impl GraphError {
    /// The error of an answer whose body is a Graph error envelope.
    pub(super) fn of(value: &Value) -> Option<Result<Self, serde_json::Error>> {
        let error = value.as_object()?.get("error")?;
        Some(Self::deserialize(error))
    }

    pub(super) fn verdict(
        &self,
        op: &str,
        answer: &Answer,
        redactor: &Redactor<'_>,
        backoff: Duration,
    ) -> Verdict {
        let reason = || self.describe(op, redactor);
        let Some(code) = self.code else {
            // An envelope without a code says nothing the status does not.
            return Verdict::Final(status_outcome(op, answer, redactor, backoff));
        };
        if let Some(scope) = throttle_scope(code) {
            // The BUC header's `estimated_time_to_regain_access` is the channel's own
            // word on when the block lifts [M6]; `Retry-After` is next best.
            let wait = answer
                .usage()
                .and_then(|u| u.regain_after)
                .or_else(|| answer.retry_after())
                .unwrap_or(backoff);
            return Verdict::Final(Outcome::Throttled {
                until: after(wait),
                scope,
            });
        }
        let outcome = match code {
            // 190: token expired or invalid, any subcode (463 expired, 460 password
            // changed, 492 Page role lost...); 102: session invalid [M8].
            190 | 102 => Outcome::AuthRevoked(reason()),
            _ if self.is_deleted_message() => Outcome::Unavailable(reason()),
            1 if self.mentions("reduce the amount of data") => return Verdict::AskForLess(reason()),
            // 1: "possibly a temporary issue"; 2: service unavailable [M8].
            1 | 2 => Outcome::Transient(reason()),
            _ if self.is_transient.is_some_and(|f| f.0) => Outcome::Transient(reason()),
            _ if answer.status.is_server_error() => Outcome::Transient(reason()),
            _ => Outcome::Permanent(reason()),
        };
        Verdict::Final(outcome)
    }

    /// Instagram's detail depth: older messages answer "the message has been deleted"
    /// [IG1, M1]. The code and subcode are unverified, so the wording decides.
    fn is_deleted_message(&self) -> bool {
        self.mentions("has been deleted")
    }

    fn mentions(&self, words: &str) -> bool {
        [&self.message, &self.error_user_msg]
            .into_iter()
            .flatten()
            .any(|m| m.to_ascii_lowercase().contains(words))
    }

    fn describe(&self, op: &str, redactor: &Redactor<'_>) -> String {
        let mut text = format!("{op}: Graph error {}", self.code.unwrap_or_default());
        if let Some(sub) = self.error_subcode {
            text.push_str(&format!("/{sub}"));
        }
        if let Some(kind) = &self.kind {
            text.push_str(&format!(" ({kind})"));
        }
        if let Some(message) = &self.message {
            text.push_str(": ");
            text.push_str(&redactor.snippet(message.as_bytes()));
        }
        if let Some(trace) = &self.fbtrace_id {
            text.push_str(&format!(" [fbtrace_id {trace}]"));
        }
        text
    }
}

/// The throttling codes of [M6] and whose budget each one spent.
fn throttle_scope(code: i64) -> Option<ThrottleScope> {
    match code {
        // 4: app limit; 341: application limit reached [M8].
        4 | 341 => Some(ThrottleScope::App),
        // 17 user, 32 Pages call with a user token, 613 custom (per Page on
        // /conversations [M2]), 80000–80014 business use case limits (80001 Pages,
        // 80002 Instagram, 80006 Messenger).
        17 | 32 | 613 | 80_000..=80_009 | 80_014 => Some(ThrottleScope::Account),
        _ => None,
    }
}
