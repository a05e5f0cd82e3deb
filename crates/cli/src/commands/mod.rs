//! One module per command.

pub mod demo;
pub mod inbox;
pub mod producer;
pub mod status;
pub mod sync;
pub mod worker;

use backfill_policy::{Channel, PolicyError, PresetName};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// `--channel`: the error lists the valid channels.
pub(crate) fn parse_channel(raw: &str) -> Result<Channel, String> {
    raw.parse().map_err(|e: PolicyError| e.to_string())
}

/// `--preset`: the error lists the valid presets.
pub(crate) fn parse_preset(raw: &str) -> Result<PresetName, String> {
    raw.parse().map_err(|e: PolicyError| e.to_string())
}

/// `--now`: an RFC 3339 instant.
pub(crate) fn parse_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.to_utc())
        .map_err(|e| format!("not an RFC 3339 time such as 2025-03-01T10:00:00+08:00: {e}"))
}

/// `--timezone`: an IANA name.
pub(crate) fn parse_timezone(raw: &str) -> Result<Tz, String> {
    raw.parse()
        .map_err(|_| PolicyError::UnknownTimeZone(raw.to_owned()).to_string())
}
