//! The peak calendar (S3): is an instant in peak hours, and when does the next
//! off-peak period start, in any IANA time zone.
//!
//! Windows are read in local wall-clock time and may cross midnight (17:00 to 01:00).
//! Daylight-saving changes are handled by converting instants to local time (always
//! unambiguous) and, for the way back, by taking the *later* instant of a repeated local
//! time and the first valid instant after a skipped one, so that "the end of peak" is
//! never itself in peak.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::PolicyError;

/// Daily peak hours in the tenant's time zone: `[start, end)`, crossing midnight when
/// `end <= start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeakWindow {
    #[serde(with = "hh_mm")]
    pub start: NaiveTime,
    #[serde(with = "hh_mm")]
    pub end: NaiveTime,
    /// Deferred work starts at the end of peak plus up to this many seconds, spread by
    /// step, so that a fleet does not stampede the channel at 01:00:00.
    pub jitter_secs: u32,
}

impl PeakWindow {
    pub(crate) fn validate(&self, at: &str) -> Result<(), PolicyError> {
        if self.start == self.end {
            return Err(PolicyError::invalid(
                format!("{at}.end"),
                self.end.format("%H:%M"),
                "the peak window has zero length (start equals end)",
            ));
        }
        Ok(())
    }

    fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }

    /// Whether `t` falls in peak hours read in `tz`.
    pub fn is_peak(&self, tz: Tz, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&tz).time();
        if self.crosses_midnight() {
            local >= self.start || local < self.end
        } else {
            local >= self.start && local < self.end
        }
    }

    /// The first instant at or after `t` that is not in peak: `t` itself outside peak.
    pub fn next_off_peak(&self, tz: Tz, t: DateTime<Utc>) -> DateTime<Utc> {
        if !self.is_peak(tz, t) {
            return t;
        }
        let local = t.with_timezone(&tz);
        let date = if self.crosses_midnight() && local.time() >= self.start {
            local
                .date_naive()
                .succ_opt()
                .expect("date within chrono's range")
        } else {
            local.date_naive()
        };
        let end = first_instant_at_or_after(tz, date.and_time(self.end));
        // A DST jump can land the end of peak inside the next day's window only for
        // absurd windows; the loop guards correctness rather than speed.
        if self.is_peak(tz, end) {
            self.next_off_peak(tz, end + Duration::minutes(1))
        } else {
            end
        }
    }
}

/// The instant of local time `naive` in `tz`; for a repeated local time the later one,
/// for a skipped one the first instant after the gap.
fn first_instant_at_or_after(tz: Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    let mut candidate = naive;
    // Gaps are at most a few hours; 24 h of minutes bounds the search.
    for _ in 0..24 * 60 {
        match tz.from_local_datetime(&candidate) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(_, later) => return later.with_timezone(&Utc),
            LocalResult::None => candidate += Duration::minutes(1),
        }
    }
    unreachable!("no time zone skips a whole day")
}

/// `HH:MM` in configuration (`17:00`), also accepting `HH:MM:SS`.
mod hh_mm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format("%H:%M"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(&s, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&s, "%H:%M:%S"))
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a time of day (HH:MM)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window(start: (u32, u32), end: (u32, u32)) -> PeakWindow {
        PeakWindow {
            start: NaiveTime::from_hms_opt(start.0, start.1, 0).unwrap(),
            end: NaiveTime::from_hms_opt(end.0, end.1, 0).unwrap(),
            jitter_secs: 0,
        }
    }

    fn local(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, m, d, h, min, 0)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn s3_peak_crosses_midnight_in_taipei() {
        let tz = chrono_tz::Asia::Taipei;
        let peak = window((17, 0), (1, 0));
        assert!(!peak.is_peak(tz, local(tz, 2025, 3, 1, 16, 59)));
        assert!(peak.is_peak(tz, local(tz, 2025, 3, 1, 17, 0)));
        assert!(peak.is_peak(tz, local(tz, 2025, 3, 1, 23, 59)));
        assert!(peak.is_peak(tz, local(tz, 2025, 3, 2, 0, 30)));
        assert!(!peak.is_peak(tz, local(tz, 2025, 3, 2, 1, 0)));
        assert_eq!(
            peak.next_off_peak(tz, local(tz, 2025, 3, 1, 20, 0)),
            local(tz, 2025, 3, 2, 1, 0)
        );
        assert_eq!(
            peak.next_off_peak(tz, local(tz, 2025, 3, 2, 0, 10)),
            local(tz, 2025, 3, 2, 1, 0)
        );
        let off = local(tz, 2025, 3, 2, 9, 0);
        assert_eq!(peak.next_off_peak(tz, off), off);
    }

    #[test]
    fn peak_end_on_a_repeated_local_hour_is_the_later_instant() {
        // New York falls back on 2025-11-02: 01:00–02:00 happens twice.
        let tz = chrono_tz::America::New_York;
        let peak = window((17, 0), (1, 30));
        let evening = local(tz, 2025, 11, 1, 22, 0);
        let end = peak.next_off_peak(tz, evening);
        assert!(!peak.is_peak(tz, end));
        assert_eq!(
            end,
            tz.with_ymd_and_hms(2025, 11, 2, 1, 30, 0)
                .latest()
                .unwrap()
                .with_timezone(&Utc)
        );
    }

    #[test]
    fn peak_end_in_a_skipped_local_hour_is_the_first_instant_after_the_gap() {
        // New York springs forward on 2025-03-09: 02:00–03:00 does not exist.
        let tz = chrono_tz::America::New_York;
        let peak = window((17, 0), (2, 30));
        let end = peak.next_off_peak(tz, local(tz, 2025, 3, 8, 23, 0));
        assert_eq!(end, local(tz, 2025, 3, 9, 3, 0));
        assert!(!peak.is_peak(tz, end));
    }

    #[test]
    fn a_daytime_window_does_not_cross_midnight() {
        let tz = chrono_tz::Europe::Paris;
        let peak = window((9, 0), (12, 0));
        assert!(!peak.is_peak(tz, local(tz, 2025, 6, 1, 8, 59)));
        assert!(peak.is_peak(tz, local(tz, 2025, 6, 1, 11, 59)));
        assert_eq!(
            peak.next_off_peak(tz, local(tz, 2025, 6, 1, 10, 0)),
            local(tz, 2025, 6, 1, 12, 0)
        );
    }
}
