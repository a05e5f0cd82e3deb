//! Calendar lengths of time as policies state them: "30 days", "one year", "6 months".
//!
//! A year is twelve calendar months, not 365 days: connected on 2021-11-01 the
//! look-back starts 2020-11-01 (S2), leap day or not.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A positive length of calendar time, written `30d`, `6mo` or `1y` in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Days(u32),
    Months(u32),
}

impl Period {
    /// The instant `self` before `t`.
    pub fn before(self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Days(n) => t - Duration::days(i64::from(n)),
            // `checked_sub_months` only fails near the ends of chrono's range.
            Self::Months(n) => t
                .checked_sub_months(Months::new(n))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }

    fn is_zero(self) -> bool {
        matches!(self, Self::Days(0) | Self::Months(0))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Days(n) => write!(f, "{n}d"),
            Self::Months(n) if n % 12 == 0 => write!(f, "{}y", n / 12),
            Self::Months(n) => write!(f, "{n}mo"),
        }
    }
}

impl FromStr for Period {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u32 = digits.parse().map_err(|_| {
            format!("{s:?} is not a period: write a number and a unit, e.g. 30d, 6mo, 1y")
        })?;
        let period = match unit {
            "d" => Self::Days(n),
            "mo" => Self::Months(n),
            "y" => Self::Months(
                n.checked_mul(12)
                    .ok_or_else(|| format!("{s:?} is too long"))?,
            ),
            _ => return Err(format!("{s:?} has unknown unit {unit:?}: use d, mo or y")),
        };
        if period.is_zero() {
            return Err(format!("{s:?} is zero: a period must be positive"));
        }
        Ok(period)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn one_year_is_twelve_calendar_months() {
        let t = Utc.with_ymd_and_hms(2021, 11, 1, 0, 0, 0).unwrap();
        let year: Period = "1y".parse().unwrap();
        assert_eq!(
            year.before(t),
            Utc.with_ymd_and_hms(2020, 11, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn periods_round_trip_and_refuse_nonsense() {
        for s in ["30d", "6mo", "1y"] {
            assert_eq!(s.parse::<Period>().unwrap().to_string(), s);
        }
        for bad in ["0d", "", "d", "12w", "-3d", "3.5d"] {
            assert!(bad.parse::<Period>().is_err(), "{bad:?} should be refused");
        }
    }
}
