//! Fleet-wide rate limits (C7) and adaptation to the channel's usage signals (B2).
//!
//! The budget lives in Redis so that every worker process draws from the same one: a
//! GCRA ("generic cell rate algorithm") state per connected account and per app, both
//! checked and advanced atomically by one Lua script that reads Redis `TIME`, so clock
//! skew between pods cannot widen the budget.
//!
//! Two more keys per account carry what the channel told any pod:
//! - a **block** until the moment the channel said access returns (a throttle answer,
//!   `estimated_time_to_regain_access`): every pod stops calling, because Meta extends a
//!   block when called during it [M6];
//! - a **slow-down factor** while the usage headers read 80% or more, which stretches
//!   the account's emission interval for every pod before the channel throttles.
//!
//! A caller whose slot is near gets that slot reserved — the script advances the budget
//! for it atomically — and waits just that long: cheaper than a trip back through the
//! dispatcher and the queue, which would otherwise leave an account at a fraction of its
//! budget. Near means at most two of the account's own intervals away (and never more
//! than [`MAX_RESERVATION`]): enough to keep an account at its pace, while a step queued
//! behind a busy app-wide budget does not sit on a worker slot that another channel's
//! step could use. A caller whose slot is further away is denied and told how long to
//! wait; the worker reschedules the step for then, and spends no attempt.
//!
//! All keys of one channel share a Redis Cluster hash tag (`{prefix:channel}`), since a
//! script may only touch keys of one slot.

use std::num::NonZeroU32;
use std::time::Duration;

use backfill_policy::Channel;
use backfill_policy::preset::RateBudget;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use redis::aio::ConnectionManager;

/// Usage at or above this share of the channel's budget slows the account down (B2).
pub const SLOW_DOWN_AT_PERCENT: u32 = 80;

/// The longest wait a caller is given a reserved slot for, instead of a denial.
pub const MAX_RESERVATION: Duration = Duration::from_secs(1);

/// Fraction of the published per-second budget actually used, so that the delay between
/// a grant here and the call's arrival at the channel — scheduling, a busy pool, a loaded
/// node — cannot put one call too many into the channel's one-second window. With a
/// fraction `h`, `rate + 1` calls are granted `(rate / h) / rate = 1/h` seconds apart at
/// the least, so a call may arrive up to `1/h − 1` seconds later than the one after it
/// before the channel sees one too many in a second, whatever the rate: 80% tolerates
/// 250 ms. 90% (111 ms) was exceeded by the 200-account load test on two cores, and so
/// was 85% (176 ms), once in about twenty runs, even with late calls taking a new slot
/// ([`LATE_CALL`]). It costs the slice its pace: `n` calls cannot finish before
/// `(n − 1) / (0.8 × rate)`. Being throttled costs far more than the pace given up: Meta
/// extends a block while it is being called [M6].
pub const HEADROOM: f64 = 0.8;

/// A call that would leave later than this after its slot takes a new slot instead
/// (`executor.rs`): half of the `1/h − 1` seconds [`HEADROOM`] absorbs (125 ms at 80%);
/// the other half is for the trip from here to the channel, which no check can see.
pub const LATE_CALL: Duration = Duration::from_micros(((1.0 / HEADROOM - 1.0) * 500_000.0) as u64);

/// Which budget a call draws from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BudgetKey {
    pub channel: Channel,
    pub account_id: String,
}

/// The limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Call now.
    Granted,
    /// Call after this long: the slot is reserved (at most two of the account's
    /// intervals, and at most [`MAX_RESERVATION`]).
    Reserved { wait: Duration },
    /// Try again after this long.
    Denied {
        retry_after: Duration,
        reason: DenyReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// The account's or app's budget is spent for now.
    Budget,
    /// The channel throttled this account; every pod waits until it said.
    Blocked,
    /// This process's own ceiling (governor), below the fleet budget.
    Local,
}

/// What the channel's usage headers said, normalized by the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// The highest of the reported percentages.
    pub max_percent: u32,
    pub regain_after: Option<Duration>,
}

/// The fleet-wide limiter. Cheap to clone.
#[derive(Clone)]
pub struct FleetLimiter {
    redis: ConnectionManager,
    prefix: String,
    acquire: redis::Script,
    /// Per channel, what this one process may send at most (a pre-filter: it never
    /// raises the Redis budget, it keeps one pod from monopolising it).
    local: std::sync::Arc<[DefaultDirectRateLimiter; 4]>,
}

impl std::fmt::Debug for FleetLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetLimiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl FleetLimiter {
    /// `prefix` namespaces the keys (one per deployment, one per test);
    /// `local_per_second` is this process's ceiling per channel.
    pub fn new(
        redis: ConnectionManager,
        prefix: impl Into<String>,
        local_per_second: NonZeroU32,
    ) -> Self {
        let quota = Quota::per_second(local_per_second);
        Self {
            redis,
            prefix: prefix.into(),
            acquire: redis::Script::new(ACQUIRE_LUA),
            local: std::sync::Arc::new(std::array::from_fn(|_| RateLimiter::direct(quota))),
        }
    }

    fn tag(&self, channel: Channel) -> String {
        format!("{{{}:{}}}", self.prefix, channel)
    }

    fn keys(&self, key: &BudgetKey) -> [String; 5] {
        let tag = self.tag(key.channel);
        [
            format!("{tag}:acct:{}:tat", key.account_id),
            format!("{tag}:app:tat"),
            format!("{tag}:acct:{}:block", key.account_id),
            format!("{tag}:acct:{}:slow", key.account_id),
            format!("{tag}:app:block"),
        ]
    }

    /// Takes one call's worth of budget for `key`, or says how long to wait.
    pub async fn acquire(
        &self,
        key: &BudgetKey,
        budget: &RateBudget,
    ) -> redis::RedisResult<Admission> {
        let local = &self.local[key.channel as usize];
        if let Err(not_until) = local.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return Ok(Admission::Denied {
                retry_after: wait,
                reason: DenyReason::Local,
            });
        }
        let [tat, app_tat, block, slow, app_block] = self.keys(key);
        let interval_us = emission_interval_us(budget.per_account_per_second);
        let max_reserve = max_reservation(interval_us);
        let app_interval_us = budget.per_app_per_second.map_or(0, emission_interval_us);
        let (granted, wait_us, blocked): (i64, i64, i64) = self
            .acquire
            .key(tat)
            .key(app_tat)
            .key(block)
            .key(slow)
            .key(app_block)
            .arg(interval_us)
            .arg(budget.burst.max(1))
            .arg(app_interval_us)
            .arg(budget.burst.max(1))
            .arg(max_reserve.as_micros() as u64)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(if granted == 1 && wait_us > 0 {
            Admission::Reserved {
                wait: Duration::from_micros(wait_us as u64),
            }
        } else if granted == 1 {
            Admission::Granted
        } else {
            Admission::Denied {
                retry_after: Duration::from_micros(wait_us.max(1) as u64),
                reason: if blocked == 1 {
                    DenyReason::Blocked
                } else {
                    DenyReason::Budget
                },
            }
        })
    }

    /// The channel throttled `key` until `retry_after` from now: every pod stops
    /// calling it until then (B2). Keeps the later of an existing and the new block.
    pub async fn block(&self, key: &BudgetKey, retry_after: Duration) -> redis::RedisResult<()> {
        let [_, _, block, _, _] = self.keys(key);
        self.block_key(&block, retry_after).await
    }

    /// The channel throttled the whole app (Meta code 4, Zalo -32): every account of the
    /// channel waits.
    pub async fn block_app(
        &self,
        channel: Channel,
        retry_after: Duration,
    ) -> redis::RedisResult<()> {
        let block = format!("{}:app:block", self.tag(channel));
        self.block_key(&block, retry_after).await
    }

    async fn block_key(&self, block: &str, retry_after: Duration) -> redis::RedisResult<()> {
        let ms = retry_after.as_millis().max(1) as u64;
        // `GT` keeps the later expiry when two pods report different waits.
        let _: () = redis::pipe()
            .cmd("SET")
            .arg(block)
            .arg(1)
            .arg("PX")
            .arg(ms)
            .arg("NX")
            .ignore()
            .cmd("PEXPIRE")
            .arg(block)
            .arg(ms)
            .arg("GT")
            .ignore()
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(())
    }

    /// Feeds a usage reading from the channel's headers (B2). At 80% or more the
    /// account's pace is slowed for every pod: twice as slow from 80%, four times from
    /// 90%, for a minute or until the channel says access is regained.
    pub async fn observe(&self, key: &BudgetKey, usage: Usage) -> redis::RedisResult<()> {
        let [_, _, _, slow, _] = self.keys(key);
        let factor = slow_down_factor(usage.max_percent);
        let mut conn = self.redis.clone();
        if factor <= 1 {
            return Ok(());
        }
        let ttl = usage
            .regain_after
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_secs(1));
        let _: () = redis::cmd("SET")
            .arg(&slow)
            .arg(factor)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}

/// How much slower an account goes at a given usage (B2).
pub fn slow_down_factor(max_percent: u32) -> u32 {
    match max_percent {
        p if p >= 90 => 4,
        p if p >= SLOW_DOWN_AT_PERCENT => 2,
        _ => 1,
    }
}

/// How far away a slot may be and still be reserved for an account whose calls are
/// `interval_us` apart (see the module doc).
fn max_reservation(interval_us: u64) -> Duration {
    MAX_RESERVATION.min(Duration::from_micros(2 * interval_us))
}

fn emission_interval_us(per_second: f64) -> u64 {
    (1_000_000.0 / (per_second * HEADROOM)).ceil() as u64
}

/// GCRA over an account key and an app key, atomically.
///
/// KEYS: account TAT, app TAT, account block, account slow-down factor, app block.
/// ARGV: account interval (µs), account burst, app interval (µs, 0 = none), app burst,
/// longest reservation (µs).
/// Returns {granted (1/0), wait in µs (a reservation when granted), blocked (1/0)}.
///
/// A key's TAT ("theoretical arrival time") is when the budget would be fully rested; a
/// call is allowed at `TAT - (burst - 1) * interval`, and then pushes TAT one interval
/// further. A call allowed later, but within the longest reservation, is granted for
/// then (reserved). Nothing is written unless both budgets allow the call.
const ACQUIRE_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local block_ms = math.max(redis.call('PTTL', KEYS[3]), redis.call('PTTL', KEYS[5]))
if block_ms > 0 then
  return {0, block_ms * 1000, 1}
end

local slow = tonumber(redis.call('GET', KEYS[4]) or '1') or 1
local max_reserve = tonumber(ARGV[5])

-- GCRA on every budget the call draws from (the account's, and the app's when it has
-- one). The call's slot is the earliest instant all of them allow; each budget's
-- theoretical arrival time then advances from that slot, not from its own earliest:
-- a call the app budget holds back is still one call of its account at the slot it
-- really goes, so the account's next call is spaced from there.
local budgets = {{KEYS[1], tonumber(ARGV[1]) * slow, tonumber(ARGV[2])}}
if tonumber(ARGV[3]) > 0 then
  budgets[2] = {KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4])}
end
local slot = now
for i, b in ipairs(budgets) do
  local tat = tonumber(redis.call('GET', b[1]) or '0') or 0
  if tat < now then tat = now end
  b[4] = tat
  slot = math.max(slot, tat - (b[3] - 1) * b[2])
end
local wait = slot - now
if wait > max_reserve then return {0, wait, 0} end

-- Keys expire once fully rested, so idle accounts leave nothing behind.
for i, b in ipairs(budgets) do
  local new_tat = math.max(b[4], slot) + b[2]
  redis.call('SET', b[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
end
return {1, wait, 0}
"#;

/// The embedded mode's limiter: one process is the whole fleet, so the same GCRA,
/// blocks and slow-downs as the Lua script, kept in memory. (Not `governor`: its quota
/// is fixed per limiter, and B2 needs the pace of one account to change at run time.)
#[derive(Debug, Clone, Default)]
pub struct LocalLimiter {
    state: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, LocalState>>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct LocalState {
    tat: Option<std::time::Instant>,
    blocked_until: Option<std::time::Instant>,
    slow: Option<(u32, std::time::Instant)>,
}

impl LocalLimiter {
    fn budget_key(key: &BudgetKey) -> String {
        format!("{}:{}", key.channel, key.account_id)
    }

    pub fn acquire(&self, key: &BudgetKey, budget: &RateBudget) -> Admission {
        let now = std::time::Instant::now();
        let mut map = self.state.lock().expect("limiter state lock");
        let mut probes: Vec<(String, Duration, u32)> = Vec::with_capacity(2);
        let acct = Self::budget_key(key);
        let app_block = format!("{}:app", key.channel);
        let app_blocked = self_app_block(&map, &app_block);
        let state = map.entry(acct.clone()).or_default();
        if let Some(until) = state
            .blocked_until
            .into_iter()
            .chain(app_blocked)
            .filter(|u| *u > now)
            .max()
        {
            return Admission::Denied {
                retry_after: until - now,
                reason: DenyReason::Blocked,
            };
        }
        let slow = state
            .slow
            .filter(|(_, until)| *until > now)
            .map_or(1, |(f, _)| f);
        let interval =
            Duration::from_micros(emission_interval_us(budget.per_account_per_second)) * slow;
        probes.push((acct, interval, budget.burst.max(1)));
        if let Some(app) = budget.per_app_per_second {
            let interval = Duration::from_micros(emission_interval_us(app));
            probes.push((
                format!("{}:app", key.channel),
                interval,
                budget.burst.max(1),
            ));
        }
        // As the Lua script: the slot all budgets allow, then every budget advances
        // from that slot.
        let mut tats = Vec::with_capacity(2);
        let mut slot = now;
        for (k, interval, burst) in &probes {
            let tat = map
                .get(k)
                .and_then(|s| s.tat)
                .filter(|t| *t > now)
                .unwrap_or(now);
            let allow_at = tat.checked_sub(*interval * (burst - 1)).unwrap_or(now);
            slot = slot.max(allow_at);
            tats.push((k.clone(), tat, *interval));
        }
        let wait = slot - now;
        let account_interval = emission_interval_us(budget.per_account_per_second);
        if wait > max_reservation(account_interval) {
            return Admission::Denied {
                retry_after: wait,
                reason: DenyReason::Budget,
            };
        }
        for (k, tat, interval) in tats {
            map.entry(k).or_default().tat = Some(tat.max(slot) + interval);
        }
        if wait.is_zero() {
            Admission::Granted
        } else {
            Admission::Reserved { wait }
        }
    }

    pub fn block(&self, key: &BudgetKey, retry_after: Duration) {
        let until = std::time::Instant::now() + retry_after;
        let mut map = self.state.lock().expect("limiter state lock");
        let state = map.entry(Self::budget_key(key)).or_default();
        state.blocked_until = Some(state.blocked_until.map_or(until, |u| u.max(until)));
    }

    pub fn block_app(&self, channel: Channel, retry_after: Duration) {
        let until = std::time::Instant::now() + retry_after;
        let mut map = self.state.lock().expect("limiter state lock");
        let state = map.entry(format!("{channel}:app")).or_default();
        state.blocked_until = Some(state.blocked_until.map_or(until, |u| u.max(until)));
    }

    pub fn observe(&self, key: &BudgetKey, usage: Usage) {
        let factor = slow_down_factor(usage.max_percent);
        if factor <= 1 {
            return;
        }
        let ttl = usage
            .regain_after
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_secs(1));
        let mut map = self.state.lock().expect("limiter state lock");
        map.entry(Self::budget_key(key)).or_default().slow =
            Some((factor, std::time::Instant::now() + ttl));
    }
}

fn self_app_block(
    map: &std::collections::HashMap<String, LocalState>,
    app_key: &str,
) -> Option<std::time::Instant> {
    map.get(app_key).and_then(|s| s.blocked_until)
}

/// The limiter a worker uses: fleet-wide in Redis, or in memory when embedded.
#[derive(Debug, Clone)]
pub enum Limiter {
    Fleet(FleetLimiter),
    Local(LocalLimiter),
}

impl Limiter {
    pub async fn acquire(
        &self,
        key: &BudgetKey,
        budget: &RateBudget,
    ) -> redis::RedisResult<Admission> {
        match self {
            Self::Fleet(l) => l.acquire(key, budget).await,
            Self::Local(l) => Ok(l.acquire(key, budget)),
        }
    }

    pub async fn block(&self, key: &BudgetKey, retry_after: Duration) -> redis::RedisResult<()> {
        match self {
            Self::Fleet(l) => l.block(key, retry_after).await,
            Self::Local(l) => {
                l.block(key, retry_after);
                Ok(())
            }
        }
    }

    pub async fn block_app(
        &self,
        channel: Channel,
        retry_after: Duration,
    ) -> redis::RedisResult<()> {
        match self {
            Self::Fleet(l) => l.block_app(channel, retry_after).await,
            Self::Local(l) => {
                l.block_app(channel, retry_after);
                Ok(())
            }
        }
    }

    pub async fn observe(&self, key: &BudgetKey, usage: Usage) -> redis::RedisResult<()> {
        match self {
            Self::Fleet(l) => l.observe(key, usage).await,
            Self::Local(l) => {
                l.observe(key, usage);
                Ok(())
            }
        }
    }
}
