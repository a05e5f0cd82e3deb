//! The policy clock (DESIGN decision 8): what "now" means for look-back windows and
//! peak hours. Tests and `--now` start it at a chosen instant; it then runs on at the
//! speed of the real clock, or stands still.
//!
//! Only policy time comes from here. Request signing, token expiry and timeouts use the
//! system clock, which the channels' servers check.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone)]
pub struct Clock(Arc<Inner>);

#[derive(Debug)]
enum Inner {
    System,
    /// Real time shifted by a fixed offset (milliseconds): `--now` in the CLI.
    Offset(AtomicI64),
    /// Stands still until advanced (tests).
    Fixed(AtomicI64),
}

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(Inner::System))
    }

    /// A clock that reads `start` now and runs on from there.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        let offset = (start - Utc::now()).num_milliseconds();
        Self(Arc::new(Inner::Offset(AtomicI64::new(offset))))
    }

    /// A clock that reads `at` until advanced.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Inner::Fixed(AtomicI64::new(
            at.timestamp_millis(),
        ))))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &*self.0 {
            Inner::System => Utc::now(),
            Inner::Offset(ms) => Utc::now() + Duration::milliseconds(ms.load(Ordering::Relaxed)),
            Inner::Fixed(ms) => DateTime::from_timestamp_millis(ms.load(Ordering::Relaxed))
                .expect("a valid instant"),
        }
    }

    /// Moves the clock forward (offset and fixed clocks; the system clock cannot be).
    pub fn advance(&self, by: Duration) {
        match &*self.0 {
            Inner::System => panic!("the system clock cannot be advanced"),
            Inner::Offset(ms) | Inner::Fixed(ms) => {
                ms.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_started_in_the_past_runs_on_from_there() {
        let start = Utc::now() - Duration::days(400);
        let clock = Clock::starting_at(start);
        let read = clock.now();
        assert!(read >= start && read - start < Duration::seconds(5));
        clock.advance(Duration::hours(2));
        assert!(clock.now() - start >= Duration::hours(2));
    }

    #[test]
    fn a_fixed_clock_stands_still_until_advanced() {
        // Whole seconds: the clock keeps milliseconds.
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = Clock::fixed(at);
        assert_eq!(clock.now().timestamp_millis(), at.timestamp_millis());
        clock.advance(Duration::minutes(5));
        assert_eq!((clock.now() - at).num_minutes(), 5);
    }
}
