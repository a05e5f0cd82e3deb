//! Tolerant pieces of the channels' JSON, shared by the three wire formats.
//!
//! One rule throughout: what identifies or orders an item (ids, times) is strict, and a
//! body without it is malformed; what decorates an item (names, texts) is lenient, and
//! an unexpected shape there becomes `None` rather than failing the whole page.
//!
//! Ids arrive as strings or as JSON numbers above 2^53 (Shopee `conversation_id`, Zalo
//! user ids [S4, Z2]). `serde_json` without `arbitrary_precision` still reads any
//! integer up to `u64::MAX` exactly, so [`Id`] takes integers and strings and refuses
//! floats, which would already have lost digits.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

/// A channel id, kept as the decimal or opaque string the channel means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id as a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                if v.is_empty() {
                    return Err(E::invalid_value(de::Unexpected::Str(v), &self));
                }
                Ok(Id(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

/// A non-negative integer (a timestamp, a count, a cursor) sent as a number or a
/// numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UInt(pub u64);

impl<'de> Deserialize<'de> for UInt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UIntVisitor;
        impl Visitor<'_> for UIntVisitor {
            type Value = UInt;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or numeric string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<UInt, E> {
                Ok(UInt(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<UInt, E> {
                u64::try_from(v)
                    .map(UInt)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UInt, E> {
                v.trim()
                    .parse()
                    .map(UInt)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(UIntVisitor)
    }
}

/// A flag sent as `true`, `1` or `"true"` (and their negations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Bool(b) => Ok(Flag(b)),
            Value::Number(n) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
                Ok(Flag(n.as_u64() == Some(1)))
            }
            Value::String(s) if matches!(s.as_str(), "true" | "1") => Ok(Flag(true)),
            Value::String(s) if matches!(s.as_str(), "false" | "0") => Ok(Flag(false)),
            other => Err(de::Error::custom(format_args!(
                "expected a flag, got {}",
                kind(&other)
            ))),
        }
    }
}

/// Lenient text: a string (or a number, written out); any other shape is `None`.
pub(crate) fn lenient_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Lenient count: a non-negative integer that fits `u32`, else `None`.
pub(crate) fn lenient_count<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .and_then(|n| u32::try_from(n).ok()))
}

/// Lenient signed code (Graph `code`, Zalo `error`): an integer or a numeric string,
/// else `None`.
pub(crate) fn lenient_int<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// The JSON type of a value, for error messages that must not quote the value itself.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Graph's ISO 8601 times: `2025-03-02T10:15:00+0000` [M4], and RFC 3339 for good
/// measure.
pub(crate) fn graph_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A Unix time whose unit is read from its magnitude: seconds, milliseconds,
/// microseconds or nanoseconds. Zalo documents milliseconds and Shopee seconds and
/// nanoseconds only by observation [Z2, S5]; any of them lands on the same instant, and
/// until the year 5138 no seconds value reaches 10^11.
pub(crate) fn epoch(value: u64) -> Option<DateTime<Utc>> {
    const E11: u64 = 100_000_000_000;
    let (secs, nanos) = match value {
        v if v < E11 => (v, 0),
        v if v < E11 * 1_000 => (v / 1_000, (v % 1_000) * 1_000_000),
        v if v < E11 * 1_000_000 => (v / 1_000_000, (v % 1_000_000) * 1_000),
        v => (v / 1_000_000_000, v % 1_000_000_000),
    };
    Utc.timestamp_opt(i64::try_from(secs).ok()?, u32::try_from(nanos).ok()?)
        .single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_above_two_to_the_53_survive_as_numbers_and_as_strings() {
        let ids: Vec<Id> =
            serde_json::from_str(r#"[1912345678901234567, "1912345678901234567", -5]"#).unwrap();
        assert_eq!(ids[0].0, "1912345678901234567");
        assert_eq!(ids[1].0, "1912345678901234567");
        assert_eq!(ids[2].0, "-5");
        assert!(serde_json::from_str::<Id>("1.5e3").is_err());
        assert!(serde_json::from_str::<Id>(r#""""#).is_err());
        assert!(serde_json::from_str::<Id>("null").is_err());
    }

    #[test]
    fn graph_times_parse_with_and_without_a_colon_in_the_offset() {
        let a = graph_time("2025-03-02T10:15:00+0000").unwrap();
        let b = graph_time("2025-03-02T12:15:00+02:00").unwrap();
        let c = graph_time("2025-03-02T10:15:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(graph_time("yesterday"), None);
    }

    #[test]
    fn epoch_reads_seconds_millis_micros_and_nanos_as_one_instant() {
        let t = epoch(1_714_550_399).unwrap();
        assert_eq!(epoch(1_714_550_399_000), Some(t));
        assert_eq!(epoch(1_714_550_399_000_000), Some(t));
        assert_eq!(epoch(1_714_550_399_000_000_000), Some(t));
        assert_eq!(
            epoch(1_714_550_399_123).unwrap().timestamp_subsec_millis(),
            123
        );
        assert!(epoch(u64::MAX).is_some());
    }

    #[test]
    fn flags_and_counts_accept_the_shapes_clients_have_seen() {
        let flags: Vec<Flag> = serde_json::from_str(r#"[true, 0, 1, "false", "true"]"#).unwrap();
        assert_eq!(
            flags.iter().map(|f| f.0).collect::<Vec<_>>(),
            [true, false, true, false, true]
        );
        assert!(serde_json::from_str::<Flag>(r#""maybe""#).is_err());
        let n: UInt = serde_json::from_str(r#""1714550399000000000""#).unwrap();
        assert_eq!(n.0, 1_714_550_399_000_000_000);
    }
}
