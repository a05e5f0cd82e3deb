//! Rate-limit bookkeeping: rolling windows of admitted calls, Meta's "blocked, and every call
//! while blocked extends the block" rule [M6], and the per-second cap of the Conversations
//! API [M7]. Which window a call is charged to, and what is answered when it is refused, is
//! each channel module's business; this module only counts.
//!
//! Time is `tokio::time::Instant`, so tests that pause tokio's clock control it.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::settings::RateBudget;

/// The outcome of asking a window to admit a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Admitted,
    /// Refused; access is expected back after `regain`.
    Refused {
        regain: Duration,
    },
}

/// Calls admitted in the last `window_secs`, and a block once the budget is spent.
#[derive(Debug, Default)]
pub(crate) struct RollingWindow {
    calls: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl RollingWindow {
    /// Admits and counts the call if the budget has room. Otherwise the call is refused and
    /// not counted: the block lasts until the oldest counted call leaves the window, and
    /// with a non-zero `extension` each call refused while blocked pushes that moment back.
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        budget: RateBudget,
        extension: Duration,
    ) -> Admission {
        let window = window_of(budget);
        self.prune(now, window);
        if let Some(until) = self.blocked_until {
            if until > now {
                let until = until + extension;
                self.blocked_until = Some(until);
                return Admission::Refused {
                    regain: until - now,
                };
            }
            self.blocked_until = None;
        }
        if self.calls.len() >= budget.calls as usize {
            let until = self
                .calls
                .front()
                .map_or(now, |oldest| *oldest + window)
                .max(now);
            if !extension.is_zero() {
                self.blocked_until = Some(until);
            }
            return Admission::Refused {
                regain: until - now,
            };
        }
        self.calls.push_back(now);
        Admission::Admitted
    }

    /// Usage as Meta reports it: whole percent of the budget, 100 while blocked.
    pub(crate) fn usage_pct(&mut self, now: Instant, budget: RateBudget) -> u32 {
        self.prune(now, window_of(budget));
        if self.blocked_for(now) > Duration::ZERO {
            return 100;
        }
        if budget.calls == 0 {
            return 100;
        }
        (self.calls.len() as u64 * 100 / u64::from(budget.calls)).min(100) as u32
    }

    pub(crate) fn blocked_for(&self, now: Instant) -> Duration {
        self.blocked_until
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }

    /// Whether a call now would be admitted, without counting it.
    pub(crate) fn has_room(&mut self, now: Instant, budget: RateBudget) -> bool {
        self.prune(now, window_of(budget));
        self.blocked_for(now).is_zero() && self.calls.len() < budget.calls as usize
    }

    fn prune(&mut self, now: Instant, window: Duration) {
        while self
            .calls
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.calls.pop_front();
        }
    }
}

fn window_of(budget: RateBudget) -> Duration {
    Duration::from_secs_f64(budget.window_secs.max(0.0))
}

/// Events in the last second: a cap ("2 calls/s") or, without a cap, a measurement.
/// An event at `t` is inside the window of `now` when `now - t < 1 s`.
#[derive(Debug, Default)]
pub(crate) struct PerSecond {
    events: VecDeque<Instant>,
}

impl PerSecond {
    pub(crate) fn has_room(&mut self, now: Instant, max: u32) -> bool {
        self.prune(now);
        self.events.len() < max as usize
    }

    /// Records the event if fewer than `max` happened in the last second.
    pub(crate) fn try_record(&mut self, now: Instant, max: u32) -> bool {
        self.prune(now);
        if self.events.len() >= max as usize {
            return false;
        }
        self.events.push_back(now);
        true
    }

    /// Records the event; returns how many happened in the last second, this one included.
    /// The maximum of this over all events is the maximum over every one-second window,
    /// since any window can slide right until it ends on an event without losing one.
    pub(crate) fn record(&mut self, now: Instant) -> usize {
        self.prune(now);
        self.events.push_back(now);
        self.events.len()
    }

    fn prune(&mut self, now: Instant) {
        while self
            .events
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1))
        {
            self.events.pop_front();
        }
    }
}

/// Meta's Business Use Case types the simulator charges [M6].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum BucType {
    Pages,
    Messenger,
    Instagram,
}

impl BucType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BucType::Pages => "pages",
            BucType::Messenger => "messenger",
            BucType::Instagram => "instagram",
        }
    }
}

/// Every rate-limit window of the simulator, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    /// Per account and BUC type (Page and Instagram tokens).
    pub buc: HashMap<(usize, BucType), RollingWindow>,
    /// The app's Platform budget, shared by every user-token call.
    pub app: RollingWindow,
    /// Per user token.
    pub users: HashMap<String, RollingWindow>,
    /// Conversations API calls per account.
    pub conversations: HashMap<usize, PerSecond>,
    /// Zalo per OA and Shopee per shop.
    pub accounts: HashMap<usize, RollingWindow>,
    /// Budgets set for single accounts at runtime; they beat the channel's.
    pub overrides: HashMap<usize, RateBudget>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_window_refuses_past_its_budget_and_frees_as_calls_age_out() {
        let mut w = RollingWindow::default();
        let budget = RateBudget::new(2, 10.0);
        let t0 = Instant::now();
        assert_eq!(w.admit(t0, budget, Duration::ZERO), Admission::Admitted);
        assert_eq!(
            w.admit(t0 + Duration::from_secs(1), budget, Duration::ZERO),
            Admission::Admitted
        );
        assert_eq!(w.usage_pct(t0 + Duration::from_secs(1), budget), 100);
        assert_eq!(
            w.admit(t0 + Duration::from_secs(2), budget, Duration::ZERO),
            Admission::Refused {
                regain: Duration::from_secs(8)
            }
        );
        assert_eq!(
            w.admit(t0 + Duration::from_secs(10), budget, Duration::ZERO),
            Admission::Admitted
        );
        assert_eq!(w.usage_pct(t0 + Duration::from_secs(10), budget), 100);
        assert_eq!(w.usage_pct(t0 + Duration::from_secs(11), budget), 50);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_while_blocked_extend_the_block() {
        let mut w = RollingWindow::default();
        let budget = RateBudget::new(1, 10.0);
        let ext = Duration::from_secs(5);
        let t0 = Instant::now();
        assert_eq!(w.admit(t0, budget, ext), Admission::Admitted);
        assert_eq!(
            w.admit(t0, budget, ext),
            Admission::Refused {
                regain: Duration::from_secs(10)
            }
        );
        assert_eq!(
            w.admit(t0, budget, ext),
            Admission::Refused {
                regain: Duration::from_secs(15)
            }
        );
        // Without the extension the window would have freed at t0 + 10 s.
        assert!(matches!(
            w.admit(t0 + Duration::from_secs(12), budget, ext),
            Admission::Refused { .. }
        ));
        assert_eq!(
            w.admit(t0 + Duration::from_secs(21), budget, ext),
            Admission::Admitted
        );
    }

    #[tokio::test(start_paused = true)]
    async fn per_second_counts_a_sliding_window() {
        let mut s = PerSecond::default();
        let t0 = Instant::now();
        assert!(s.try_record(t0, 2));
        assert!(s.try_record(t0 + Duration::from_millis(500), 2));
        assert!(!s.try_record(t0 + Duration::from_millis(999), 2));
        assert!(s.try_record(t0 + Duration::from_millis(1000), 2));
        let mut m = PerSecond::default();
        let counts: Vec<usize> = [0, 300, 600, 1100, 1200]
            .into_iter()
            .map(|ms| m.record(t0 + Duration::from_millis(ms)))
            .collect();
        assert_eq!(counts, [1, 2, 3, 3, 4]);
    }
}
