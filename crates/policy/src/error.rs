//! Why a policy or a request against it was refused.

use thiserror::Error;

/// A configuration or request the policy refuses. Every variant names what was wrong
/// and the value that was given, so the operator can fix it without reading code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("unknown channel {0:?}: expected one of facebook, instagram, zalo, shopee")]
    UnknownChannel(String),

    #[error("unknown preset {0:?}: expected one of shopline, harasocial")]
    UnknownPreset(String),

    #[error("unknown time zone {0:?}: expected an IANA name such as Asia/Taipei")]
    UnknownTimeZone(String),

    #[error("invalid policy field `{field}` = {value}: {reason}")]
    InvalidField {
        field: String,
        value: String,
        reason: String,
    },

    #[error("channel {channel} is not covered by preset {preset}")]
    ChannelNotCovered { channel: String, preset: String },

    /// H6: a Zalo "load more" past the preset's ceiling.
    #[error(
        "load more refused: {synced} conversations are already synced and the limit is {limit} (H6)"
    )]
    LoadMoreLimit { synced: u32, limit: u32 },

    #[error("{0}")]
    NotApplicable(String),
}

impl PolicyError {
    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidField {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}
