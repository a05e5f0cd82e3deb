//! Meta's usage headers, read into one number the rate limiter can act on (B2).
//!
//! `X-App-Usage` is a flat object of whole percentages; `X-Business-Use-Case-Usage` maps
//! each business object to an array of entries, each with its own percentages and an
//! `estimated_time_to_regain_access` in minutes [M6]. Throttling can start when *any*
//! percentage reaches 100, so the reading is the highest percentage anywhere.
//!
//! The headers appear only "once enough calls have been made" [M6]; a missing header is
//! no reading, not zero usage. A malformed header is ignored: a usage signal is advice,
//! and a bad one must never fail a call that otherwise succeeded.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

pub const APP_USAGE: &str = "x-app-usage";
pub const BUSINESS_USE_CASE_USAGE: &str = "x-business-use-case-usage";

/// The percentages Meta reports; each can trigger throttling at 100.
const PERCENT_FIELDS: [&str; 3] = ["call_count", "total_cputime", "total_time"];

/// One normalized usage signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageReading {
    /// The highest percentage over all entries of both headers (may exceed 100).
    pub max_percent: u32,
    /// The longest `estimated_time_to_regain_access` announced, when one is non-zero.
    pub regain_after: Option<Duration>,
}

impl UsageReading {
    /// Reads both headers of one answer. `None` when neither carried a usable number.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let mut reading = Accumulator::default();
        for value in headers.get_all(APP_USAGE) {
            if let Some(json) = header_json(value) {
                reading.entry(&json);
            }
        }
        for value in headers.get_all(BUSINESS_USE_CASE_USAGE) {
            let Some(Value::Object(objects)) = header_json(value) else {
                continue;
            };
            for entries in objects.values() {
                match entries {
                    Value::Array(entries) => entries.iter().for_each(|e| reading.entry(e)),
                    single => reading.entry(single),
                }
            }
        }
        reading.finish()
    }

    /// Combines two readings of one call: the higher usage and the longer wait.
    pub fn max(self, other: Self) -> Self {
        Self {
            max_percent: self.max_percent.max(other.max_percent),
            regain_after: self.regain_after.max(other.regain_after),
        }
    }
}

fn header_json(value: &reqwest::header::HeaderValue) -> Option<Value> {
    serde_json::from_slice(value.as_bytes()).ok()
}

#[derive(Default)]
struct Accumulator {
    max_percent: Option<u32>,
    regain_minutes: u64,
}

impl Accumulator {
    fn entry(&mut self, entry: &Value) {
        let Value::Object(fields) = entry else { return };
        for name in PERCENT_FIELDS {
            if let Some(p) = fields.get(name).and_then(whole_number) {
                let p = u32::try_from(p).unwrap_or(u32::MAX);
                self.max_percent = Some(self.max_percent.map_or(p, |m| m.max(p)));
            }
        }
        if let Some(m) = fields
            .get("estimated_time_to_regain_access")
            .and_then(whole_number)
        {
            self.regain_minutes = self.regain_minutes.max(m);
        }
    }

    fn finish(self) -> Option<UsageReading> {
        let regain_after = (self.regain_minutes > 0)
            .then(|| Duration::from_secs(self.regain_minutes.saturating_mul(60)));
        match (self.max_percent, regain_after) {
            (None, None) => None,
            (percent, regain_after) => Some(UsageReading {
                max_percent: percent.unwrap_or(0),
                regain_after,
            }),
        }
    }
}

/// A non-negative whole number from a JSON number or numeric string; fractions round up
/// (99.5 % is as close to the limit as 100 %).
fn whole_number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.ceil() as u64)
        }),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.ceil() as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_reading_is_the_highest_percentage_over_every_entry_of_both_headers() {
        let h = headers(&[
            (
                APP_USAGE,
                r#"{"call_count":12,"total_cputime":3,"total_time":40}"#,
            ),
            (
                BUSINESS_USE_CASE_USAGE,
                concat!(
                    r#"{"120":[{"type":"pages","call_count":55,"total_cputime":7,"total_time":9,"estimated_time_to_regain_access":0}],"#,
                    r#""121":[{"type":"messenger","call_count":2,"total_cputime":87,"total_time":9,"estimated_time_to_regain_access":7}]}"#,
                ),
            ),
        ]);
        let reading = UsageReading::from_headers(&h).unwrap();
        assert_eq!(reading.max_percent, 87);
        assert_eq!(reading.regain_after, Some(Duration::from_secs(7 * 60)));
    }

    #[test]
    fn no_header_is_no_reading_and_a_zero_regain_time_is_no_wait() {
        assert_eq!(UsageReading::from_headers(&HeaderMap::new()), None);
        let h = headers(&[(
            APP_USAGE,
            r#"{"call_count":0,"total_cputime":0,"total_time":0}"#,
        )]);
        assert_eq!(
            UsageReading::from_headers(&h),
            Some(UsageReading {
                max_percent: 0,
                regain_after: None
            })
        );
    }

    #[test]
    fn malformed_headers_are_ignored_without_failing() {
        for bad in [
            "",
            "{",
            "[1,2]",
            "null",
            r#"{"call_count":"lots"}"#,
            r#"{"1":"x"}"#,
            r#"{"1":[null,7]}"#,
        ] {
            let h = headers(&[(APP_USAGE, bad), (BUSINESS_USE_CASE_USAGE, bad)]);
            assert_eq!(UsageReading::from_headers(&h), None, "{bad}");
        }
        let h = headers(&[
            (APP_USAGE, "{"),
            (BUSINESS_USE_CASE_USAGE, r#"{"1":[{"call_count":"99.5"}]}"#),
        ]);
        assert_eq!(UsageReading::from_headers(&h).unwrap().max_percent, 100);
    }
}
