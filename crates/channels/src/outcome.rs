//! How one call ended: the classification every caller branches on (DESIGN decision 6).
//!
//! The connector classifies each answer exactly once, here. The worker never looks at
//! HTTP statuses or error codes; it reads an [`Outcome`] and decides: keep the page,
//! reschedule (throttled), retry (transient), fail the run (auth revoked, permanent), or
//! record a placeholder (unavailable).

use std::fmt;

use backfill_policy::Fetched;
use chrono::{DateTime, Utc};

use crate::redact::Redactor;
use crate::usage::UsageReading;

/// Whose budget a throttle answer spent, so the rate limiter slows down the right key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThrottleScope {
    /// The connected account's own budget (Pages/Instagram/Messenger BUC, a per-Page
    /// custom limit, a plain HTTP 429).
    Account,
    /// The whole app's budget, shared by every account (Graph codes 4 and 341, Zalo's
    /// "application reached limit call api").
    App,
}

impl ThrottleScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::App => "app",
        }
    }
}

/// The classified result of one step's call.
///
/// Every reason string has been through the [`Redactor`]: it never contains the
/// account's token or partner key, nor any `access_token=` value (B4).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The channel answered with a page (or a follower status).
    Page(Fetched),
    /// The channel refused for rate reasons; calling again before `until` extends the
    /// block [M6], so the step is rescheduled, not retried, and spends no attempt.
    Throttled {
        until: DateTime<Utc>,
        scope: ThrottleScope,
    },
    /// Worth retrying: 5xx, timeouts, connection errors, Graph code 2 or `is_transient`.
    Transient(String),
    /// The token no longer works (Graph 190, Zalo -216, Shopee `error_auth`): the
    /// merchant must reconnect.
    AuthRevoked(String),
    /// Retrying cannot help: a bad request, or a body that is not what the channel
    /// documents (with its first bytes, redacted).
    Permanent(String),
    /// The channel lists the item but no longer gives its details (Instagram's
    /// 20-message detail depth [IG1]: "the message has been deleted").
    Unavailable(String),
}

impl Outcome {
    /// A short stable name for metrics and logs.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Page(_) => "page",
            Self::Throttled { .. } => "throttled",
            Self::Transient(_) => "transient",
            Self::AuthRevoked(_) => "auth_revoked",
            Self::Permanent(_) => "permanent",
            Self::Unavailable(_) => "unavailable",
        }
    }

    /// The reason text of a non-page outcome.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Transient(r)
            | Self::AuthRevoked(r)
            | Self::Permanent(r)
            | Self::Unavailable(r) => Some(r),
            Self::Page(_) | Self::Throttled { .. } => None,
        }
    }

    /// Scrubs every reason once more at the single exit of each call, so that no path
    /// that built a reason can forget to (B4).
    pub(crate) fn redacted(self, redactor: &Redactor) -> Self {
        match self {
            Self::Transient(r) => Self::Transient(redactor.scrub(&r)),
            Self::AuthRevoked(r) => Self::AuthRevoked(redactor.scrub(&r)),
            Self::Permanent(r) => Self::Permanent(redactor.scrub(&r)),
            Self::Unavailable(r) => Self::Unavailable(redactor.scrub(&r)),
            page_or_throttle => page_or_throttle,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Page(fetched) => write_fetched(f, fetched),
            Self::Throttled { until, scope } => {
                write!(
                    f,
                    "throttled ({}) until {}",
                    scope.as_str(),
                    until.to_rfc3339()
                )
            }
            Self::Transient(r) => write!(f, "transient: {r}"),
            Self::AuthRevoked(r) => write!(f, "auth revoked: {r}"),
            Self::Permanent(r) => write!(f, "permanent: {r}"),
            Self::Unavailable(r) => write!(f, "unavailable: {r}"),
        }
    }
}

fn write_fetched(f: &mut fmt::Formatter<'_>, fetched: &Fetched) -> fmt::Result {
    let (count, what, last) = match fetched {
        Fetched::Conversations(p) => (p.items.len(), "conversations", p.is_last()),
        Fetched::Messages(p) => (p.items.len(), "messages", p.is_last()),
        Fetched::Posts(p) => (p.items.len(), "posts", p.is_last()),
        Fetched::Comments(p) => (p.items.len(), "comments", p.is_last()),
        Fetched::Follower(s) => {
            let follows = if s.follower {
                "follows"
            } else {
                "does not follow"
            };
            return write!(f, "page: user {} {follows}", s.user_id);
        }
    };
    let end = if last { "last page" } else { "more to come" };
    write!(f, "page: {count} {what}, {end}")
}

/// What [`crate::Connector::execute`] returns: the outcome, the channel's usage signal
/// if it sent one (B2), and how many HTTP requests the call took (a Graph code 1 answer
/// is asked again for less inside the call, so one step can cost several).
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    pub outcome: Outcome,
    pub usage: Option<UsageReading>,
    pub http_calls: u32,
}

impl CallResult {
    /// A result decided before any request was sent (a step the channel cannot serve,
    /// credentials of another channel).
    pub(crate) fn unsent(outcome: Outcome) -> Self {
        Self {
            outcome,
            usage: None,
            http_calls: 0,
        }
    }
}
