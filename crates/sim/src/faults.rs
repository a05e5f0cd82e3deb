//! Injected faults, per channel, changeable at runtime (library call or `POST /_sim/faults`):
//! server errors, latency, hangs, malformed and truncated bodies, and a per-account rate
//! budget that replaces the settings' one. Decisions come from a generator seeded with the
//! dataset's seed, so a single-threaded client sees the same faults on every run.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::Channel;
use crate::settings::RateBudget;

/// A hang never lasts longer than this; then the simulator answers 504.
pub const MAX_HANG: Duration = Duration::from_secs(120);

/// Latency added to every answer: `fixed_ms` plus a uniform draw in `0..=jitter_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub fixed_ms: u64,
    pub jitter_ms: u64,
}

/// The faults of one channel. Rates are probabilities per request, in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelFaults {
    /// Answer a 5xx with the channel's own server-error body, without serving the call.
    pub server_error_rate: f64,
    pub latency: Latency,
    /// Hold the request without answering, until the client gives up (or `hang_secs`).
    pub hang_rate: f64,
    /// How long a hang lasts before a 504; capped at [`MAX_HANG`].
    pub hang_secs: f64,
    /// Serve the call but answer 200 with an HTML error page instead of JSON.
    pub malformed_rate: f64,
    /// Serve the call but cut the body in half and drop the connection.
    pub truncated_rate: f64,
    /// Every account of the channel gets this budget instead of the settings' one (Meta:
    /// the BUC budget; Zalo: the OA's; Shopee: the shop's).
    pub account_budget: Option<RateBudget>,
}

impl Default for ChannelFaults {
    fn default() -> Self {
        ChannelFaults {
            server_error_rate: 0.0,
            latency: Latency::default(),
            hang_rate: 0.0,
            hang_secs: MAX_HANG.as_secs_f64(),
            malformed_rate: 0.0,
            truncated_rate: 0.0,
            account_budget: None,
        }
    }
}

/// The faults of all four channels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    pub facebook: ChannelFaults,
    pub instagram: ChannelFaults,
    pub zalo: ChannelFaults,
    pub shopee: ChannelFaults,
}

impl Faults {
    pub fn of(&self, channel: Channel) -> &ChannelFaults {
        match channel {
            Channel::Facebook => &self.facebook,
            Channel::Instagram => &self.instagram,
            Channel::Zalo => &self.zalo,
            Channel::Shopee => &self.shopee,
        }
    }

    pub fn of_mut(&mut self, channel: Channel) -> &mut ChannelFaults {
        match channel {
            Channel::Facebook => &mut self.facebook,
            Channel::Instagram => &mut self.instagram,
            Channel::Zalo => &mut self.zalo,
            Channel::Shopee => &mut self.shopee,
        }
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FaultPlan {
    pub delay: Duration,
    pub hang: Option<Duration>,
    pub server_error: bool,
    pub body: BodyFault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFault {
    Intact,
    Malformed,
    Truncated,
}

#[derive(Debug)]
pub(crate) struct FaultState {
    pub config: Faults,
    rngs: [StdRng; 4],
}

impl FaultState {
    pub(crate) fn new(config: Faults, seed: u64) -> Self {
        let rng = |k: u64| StdRng::seed_from_u64(seed ^ (0xFA17_0000 + k));
        FaultState {
            config,
            rngs: [rng(0), rng(1), rng(2), rng(3)],
        }
    }

    /// Draws the fate of one request. Every draw is made whatever the rates, so changing
    /// one rate does not shift the others' sequence.
    pub(crate) fn plan(&mut self, channel: Channel) -> FaultPlan {
        let faults = self.config.of(channel).clone();
        let rng = &mut self.rngs[channel as usize];
        let jitter = rng.random_range(0..=faults.latency.jitter_ms);
        let (hang, server_error, malformed, truncated): (f64, f64, f64, f64) =
            (rng.random(), rng.random(), rng.random(), rng.random());
        let hang_for = Duration::from_secs_f64(faults.hang_secs.clamp(0.0, MAX_HANG.as_secs_f64()));
        FaultPlan {
            delay: Duration::from_millis(faults.latency.fixed_ms + jitter),
            hang: (hang < faults.hang_rate).then_some(hang_for),
            server_error: server_error < faults.server_error_rate,
            body: if malformed < faults.malformed_rate {
                BodyFault::Malformed
            } else if truncated < faults.truncated_rate {
                BodyFault::Truncated
            } else {
                BodyFault::Intact
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_of_zero_and_one_are_never_and_always() {
        let mut state = FaultState::new(Faults::default(), 1);
        state.config.zalo.server_error_rate = 1.0;
        state.config.zalo.latency = Latency {
            fixed_ms: 5,
            jitter_ms: 0,
        };
        for _ in 0..100 {
            let zalo = state.plan(Channel::Zalo);
            assert!(zalo.server_error);
            assert_eq!(zalo.delay, Duration::from_millis(5));
            let facebook = state.plan(Channel::Facebook);
            assert!(!facebook.server_error && facebook.hang.is_none());
            assert_eq!(facebook.body, BodyFault::Intact);
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let mut config = Faults::default();
        config.shopee.malformed_rate = 0.5;
        let draw = |seed| {
            let mut state = FaultState::new(config.clone(), seed);
            (0..64)
                .map(|_| state.plan(Channel::Shopee).body)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(9), draw(9));
        assert!(draw(9).contains(&BodyFault::Malformed) && draw(9).contains(&BodyFault::Intact));
    }
}
