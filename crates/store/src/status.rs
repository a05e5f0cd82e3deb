//! The states the workflow's rows move through, as closed enums.
//!
//! They are stored as lowercase text (readable in `psql`, checked by `CHECK` constraints)
//! and decode straight from a column on either backend; a value this version does not
//! know is a decode error, not a silent default.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Type};

use crate::db::Arg;

/// A connected channel account's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    Connected,
    Disconnected,
}

/// A run: the sync one connect (or a load-more, or a late arrival) starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Every step is done.
    Completed,
    /// A step failed for good (C4); the reason says why.
    Failed,
    /// Superseded by a re-connect or stopped by a disconnect (B3).
    Cancelled,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartedBy {
    /// C1: a connect or re-connect.
    Connect,
    /// H6: the merchant asked for more conversations.
    LoadMore,
    /// H8: a customer beyond the synced ones wrote in.
    LateArrival,
}

/// A step's place in its life: `pending → leased → done`, or `cancelled`/`failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Waiting for `not_before`, or for a dispatcher.
    Pending,
    /// Claimed by a dispatcher until `lease_until`; claimed again if that passes.
    Leased,
    Done,
    /// Fenced by a re-connect or disconnect, or its run stopped.
    Cancelled,
    /// Out of retries (C4).
    Failed,
}

impl StepStatus {
    /// Pending or leased: the step still has work to do.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Leased)
    }
}

/// The kinds of events in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "run.completed")]
    RunCompleted,
    #[serde(rename = "run.failed")]
    RunFailed,
    #[serde(rename = "run.progress")]
    RunProgress,
}

/// A stored text that names no known state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    what: &'static str,
    value: String,
}

/// The text form, parsing, and column decoding of a text-stored enum.
macro_rules! stored_as_text {
    ($name:ident, $what:literal { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)*
                    other => Err(UnknownValue { what: $what, value: other.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB: Database> Type<DB> for $name
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $name
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<&str as Decode<DB>>::decode(value)?.parse()?)
            }
        }

        impl From<$name> for Arg {
            fn from(value: $name) -> Self {
                Arg::from(value.as_str())
            }
        }
    };
}

stored_as_text!(ConnectionState, "connection state" {
    Connected => "connected",
    Disconnected => "disconnected",
});

stored_as_text!(RunStatus, "run status" {
    Running => "running",
    Completed => "completed",
    Failed => "failed",
    Cancelled => "cancelled",
});

stored_as_text!(StartedBy, "run trigger" {
    Connect => "connect",
    LoadMore => "load_more",
    LateArrival => "late_arrival",
});

stored_as_text!(StepStatus, "step status" {
    Pending => "pending",
    Leased => "leased",
    Done => "done",
    Cancelled => "cancelled",
    Failed => "failed",
});

stored_as_text!(EventKind, "event kind" {
    RunCompleted => "run.completed",
    RunFailed => "run.failed",
    RunProgress => "run.progress",
});
