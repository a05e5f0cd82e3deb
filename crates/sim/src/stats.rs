//! What the simulator saw, per account: how many requests, how they were answered, and the
//! largest number of requests that arrived within any one second. Tests assert on these to
//! prove a client stayed inside a channel's limits (C7) and did not repeat work (C5).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::Channel;
use crate::dataset::Dataset;
use crate::limits::PerSecond;

/// Counters of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStats {
    pub channel: Channel,
    /// Every request attributed to the account, whatever its answer.
    pub requests: u64,
    /// Answered with data.
    pub served: u64,
    /// Answered with a rate-limit error.
    pub throttled: u64,
    /// Answered with any other error the API itself would give (auth, parameters, ...).
    pub errors: u64,
    /// Answered with an injected fault (5xx, hang, malformed or truncated body).
    pub faults: u64,
    /// The most requests that arrived within any one-second window (sliding, exact).
    pub max_requests_per_second: u64,
    /// Requests per endpoint, e.g. `conversations`, `messages`, `get_message`.
    pub requests_by_endpoint: BTreeMap<String, u64>,
}

/// A snapshot of every counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Keyed by account id.
    pub accounts: BTreeMap<String, AccountStats>,
    /// Requests no account could be told for (unknown token and object), per channel.
    pub unattributed: BTreeMap<Channel, u64>,
}

impl SimStats {
    /// The counters of one account, zero if it was never called.
    pub fn account(&self, id: &str) -> Option<&AccountStats> {
        self.accounts.get(id)
    }
}

/// How a request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Served,
    Throttled,
    Error,
    Fault,
}

#[derive(Debug)]
struct Entry {
    stats: AccountStats,
    per_second: PerSecond,
}

#[derive(Debug, Default)]
pub(crate) struct StatsState {
    accounts: HashMap<usize, Entry>,
    unattributed: BTreeMap<Channel, u64>,
}

impl StatsState {
    pub(crate) fn arrived(
        &mut self,
        channel: Channel,
        account: Option<usize>,
        endpoint: &str,
        now: Instant,
    ) {
        let Some(account) = account else {
            *self.unattributed.entry(channel).or_default() += 1;
            return;
        };
        let entry = self.accounts.entry(account).or_insert_with(|| Entry {
            stats: AccountStats {
                channel,
                requests: 0,
                served: 0,
                throttled: 0,
                errors: 0,
                faults: 0,
                max_requests_per_second: 0,
                requests_by_endpoint: BTreeMap::new(),
            },
            per_second: PerSecond::default(),
        });
        let stats = &mut entry.stats;
        stats.requests += 1;
        *stats
            .requests_by_endpoint
            .entry(endpoint.to_owned())
            .or_default() += 1;
        let in_last_second = entry.per_second.record(now) as u64;
        stats.max_requests_per_second = stats.max_requests_per_second.max(in_last_second);
    }

    pub(crate) fn answered(&mut self, account: Option<usize>, outcome: Outcome) {
        let Some(entry) = account.and_then(|a| self.accounts.get_mut(&a)) else {
            return;
        };
        let stats = &mut entry.stats;
        match outcome {
            Outcome::Served => stats.served += 1,
            Outcome::Throttled => stats.throttled += 1,
            Outcome::Error => stats.errors += 1,
            Outcome::Fault => stats.faults += 1,
        }
    }

    pub(crate) fn snapshot(&self, dataset: &Dataset) -> SimStats {
        SimStats {
            accounts: self
                .accounts
                .iter()
                .map(|(ix, entry)| (dataset.account_at(*ix).id.clone(), entry.stats.clone()))
                .collect(),
            unattributed: self.unattributed.clone(),
        }
    }

    pub(crate) fn reset(&mut self) {
        *self = StatsState::default();
    }
}
