//! The dispatcher: moves due steps from the store to the queue, fairly and in bounded
//! amounts (DESIGN decisions 1 and 4).
//!
//! The store holds every step; Redis holds only a window of ready step ids, never more
//! than [`DispatchSettings::window`] (apalis-redis jams at about 8,000 due tasks:
//! `../shared/notes/apalis-1.0.md`, pitfall 3). Each round claims what fits in the
//! window: slice before backlog, round-robin across tenants and accounts, at most a few
//! in flight per account, so one account's 100,000 conversations cannot hold back
//! another's first page (C6). Claims are leases: a step whose worker died is claimed
//! again once its lease runs out (B1). Several dispatchers may run at once; the store's
//! claim is safe under concurrency.

use std::time::Duration;

use backfill_store::{ChannelCaps, ClaimLimits, Store};
use backfill_telemetry::{metrics, spans};
use backfill_worker::clock::Clock;
use backfill_worker::executor::job_for;
use backfill_worker::queue::{StepJob, StepQueue};
use chrono::TimeDelta;
use tracing::Instrument;

#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Ready steps in the queue at most (scheduled + active).
    pub window: u64,
    /// Steps claimed per round at most.
    pub batch: u32,
    /// Steps of one account leased at once at most. With a per-account rate of a few
    /// calls per second, a handful keeps the account busy without crowding others out.
    pub per_account_in_flight: u32,
    /// Steps of each channel leased at once at most, fleet-wide: about half a second of
    /// the channel's app-wide budget. More would only wait in the queue to be turned away
    /// by the limiter, again and again, taking workers' time from other channels' slices.
    pub per_channel_in_flight: ChannelCaps,
    /// How long a claimed step stays leased: longer than a queue wait plus one call and
    /// one commit.
    pub lease: TimeDelta,
    /// Time between rounds when there was nothing to do.
    pub idle_interval: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            window: 1_000,
            batch: 200,
            per_account_in_flight: 4,
            // Half a second of the presets' app-wide budgets: Meta 200 calls per second
            // per channel, Zalo 100, Shopee 500.
            per_channel_in_flight: ChannelCaps {
                facebook: 100,
                instagram: 100,
                zalo: 50,
                shopee: 250,
            },
            lease: TimeDelta::seconds(120),
            idle_interval: Duration::from_millis(100),
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub claimed: usize,
    pub queue_depth: u64,
}

#[derive(Debug, Clone)]
pub struct Dispatcher {
    store: Store,
    queue: StepQueue,
    clock: Clock,
    settings: DispatchSettings,
}

impl Dispatcher {
    pub fn new(store: Store, queue: StepQueue, clock: Clock, settings: DispatchSettings) -> Self {
        Self {
            store,
            queue,
            clock,
            settings,
        }
    }

    /// One round: claim what fits in the window and push it.
    pub async fn round(&self) -> anyhow::Result<Round> {
        let depth = self.queue.depth().await?;
        metrics().queue_depth(depth.scheduled, depth.active);
        let room = self.settings.window.saturating_sub(depth.total());
        if room == 0 {
            return Ok(Round {
                claimed: 0,
                queue_depth: depth.total(),
            });
        }
        let limits = ClaimLimits {
            batch: self
                .settings
                .batch
                .min(u32::try_from(room).unwrap_or(u32::MAX)),
            per_account_in_flight: self.settings.per_account_in_flight,
            per_channel_in_flight: self.settings.per_channel_in_flight,
            lease: self.settings.lease,
        };
        let claimed = self.store.claim_due(self.clock.now(), limits).await?;
        if !claimed.is_empty() {
            let jobs: Vec<StepJob> = claimed.iter().map(job_for).collect();
            // A push that fails leaves the steps leased: they are claimed again when the
            // lease runs out, so nothing is lost, only delayed.
            self.queue.push(&jobs).await?;
        }
        Ok(Round {
            claimed: claimed.len(),
            queue_depth: depth.total() + claimed.len() as u64,
        })
    }

    /// Rounds until `shutdown` resolves. A round that claimed a full batch is followed at
    /// once; otherwise the dispatcher rests `idle_interval`. Errors (the store or Redis
    /// briefly away) are logged and retried with a growing pause, never fatal.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut failures: u32 = 0;
        loop {
            let span = tracing::debug_span!(spans::DISPATCH);
            let pause = match self.round().instrument(span).await {
                Ok(round) => {
                    failures = 0;
                    if round.claimed as u32 >= self.settings.batch {
                        Duration::ZERO
                    } else {
                        self.settings.idle_interval
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %error, failures, "dispatch round failed; retrying");
                    self.settings.idle_interval * 2u32.saturating_pow(failures.min(6))
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}
