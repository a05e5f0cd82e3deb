//! One step, end to end (DESIGN decisions 1, 2, 5, 6).
//!
//! ```text
//! load ─▶ still current? ─▶ due? ─▶ peak? ─▶ rate token ─▶ channel call ─▶ outcome
//!   (fence: B3)            (S3: defer backlog)  (C7: fleet-wide)   │
//!                                                                  ├ page      ─▶ plan ─▶ commit (one transaction) ─▶ push due follow-ups
//!                                                                  ├ throttled ─▶ block the account fleet-wide, reschedule (no attempt)
//!                                                                  ├ transient ─▶ reschedule with backoff, spend an attempt (C4)
//!                                                                  └ auth / permanent ─▶ fail the run with the reason
//! ```
//!
//! Every outcome is recorded in the store before the queue task is acknowledged, and
//! nothing here sleeps on a worker slot: a step that must wait is rescheduled and the
//! dispatcher brings it back when due. From the queue's point of view every task
//! succeeds; the store's lease brings back a step whose worker died mid-way (B1).

use std::sync::Arc;
use std::time::{Duration, Instant};

use backfill_channels::{Account, CallResult, Connector, Credentials, Outcome, ThrottleScope};
use backfill_policy::planner::{self, Plan, RunContext};
use backfill_policy::preset::RateBudget;
use backfill_policy::{Channel, Policy};
use backfill_store::{
    ClaimedStep, CommitInput, CommitOutcome, HandOff, Reschedule, RescheduleOutcome, RunTransition,
    StepContext, Store,
};
use backfill_telemetry::metrics::{DeferralReason, ItemKind, ThrottleSource, WaitReason};
use backfill_telemetry::{metrics, spans};
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use tracing::Instrument;

use crate::clock::Clock;
use crate::queue::{StepJob, StepQueue};
use crate::ratelimit::{Admission, BudgetKey, DenyReason, LATE_CALL, Limiter, Usage};

/// How the executor hands work on.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// A finished step leases its run's next due steps in its commit and pushes them
    /// straight to the queue, at most this many; the rest wait for the dispatcher
    /// ([`backfill_store::HandOff`]). One: the finished step hands its place on, so the
    /// account's pipeline stays as full as the dispatcher's per-account cap made it and
    /// never grows past it — with two, every step could add one more in flight, and an
    /// account whose budget binds (a Zalo OA behind the app-wide budget) would fill the
    /// workers with steps waiting for tokens (C6, C7). Zero leaves everything to the
    /// dispatcher.
    pub hand_off: u32,
    /// The lease of a step pushed that way (as the dispatcher's).
    pub lease: TimeDelta,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            hand_off: 1,
            lease: TimeDelta::seconds(120),
        }
    }
}

/// What became of one delivered step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepReport {
    /// Items, completion and follow-ups committed.
    Committed,
    /// A duplicate delivery: the step was done already.
    AlreadyDone,
    /// An older generation, a disconnected account or an ended run (B3).
    Fenced,
    /// Not due yet; back to pending.
    NotDue,
    /// Backlog in peak hours, waiting for off-peak (S3).
    Deferred,
    /// No rate-limit token; rescheduled without spending an attempt (C7).
    RateLimited,
    /// The channel throttled; the account is blocked fleet-wide for the time it said (B2).
    Throttled,
    /// A transient failure; rescheduled with backoff (C4).
    Retrying,
    /// The run failed: out of retries, auth revoked, or a permanent error.
    RunFailed,
    /// The store could not be reached; the lease will bring the step back.
    StoreUnavailable,
    /// The step id is unknown (deleted with its tenant).
    Unknown,
}

impl StepReport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Committed => "committed",
            Self::AlreadyDone => "already_done",
            Self::Fenced => "fenced",
            Self::NotDue => "not_due",
            Self::Deferred => "deferred",
            Self::RateLimited => "rate_limited",
            Self::Throttled => "throttled",
            Self::Retrying => "retrying",
            Self::RunFailed => "run_failed",
            Self::StoreUnavailable => "store_unavailable",
            Self::Unknown => "unknown",
        }
    }

    fn is_failure(self) -> bool {
        matches!(self, Self::RunFailed | Self::StoreUnavailable)
    }
}

/// Executes steps. Cheap to clone; one per process.
#[derive(Clone, Debug)]
pub struct Executor {
    store: Store,
    connector: Connector,
    limiter: Limiter,
    queue: StepQueue,
    clock: Clock,
    settings: ExecutorSettings,
    prepared: Arc<PreparedCache>,
}

/// What a step needs from its connection that is fixed for a generation: the policy
/// snapshot, parsed, and the credentials, opened. A connect or disconnect moves the
/// generation, so a cached entry never goes stale; the cache saves a query, a
/// decryption and a policy parse on every step.
#[derive(Debug)]
struct Prepared {
    policy: Policy,
    credentials: Credentials,
}

/// By (connection id, generation); an entry is a few kilobytes.
type PreparedCache = quick_cache::sync::Cache<(i64, i64), Arc<Prepared>>;

/// A worker that misses its rate-limit slot this many times in a row is overloaded: the
/// step goes back to the store and comes back in a second, maybe to another worker.
const LATE_CALLS_BEFORE_RESCHEDULE: u32 = 3;

/// Connections a worker keeps prepared: more than the accounts it normally works on.
const PREPARED_CONNECTIONS: usize = 4096;

enum PrepareError {
    Store(backfill_store::StoreError),
    /// The run cannot go on: the reason is recorded on it.
    Unusable(String),
}

impl Executor {
    pub fn new(
        store: Store,
        connector: Connector,
        limiter: Limiter,
        queue: StepQueue,
        clock: Clock,
        settings: ExecutorSettings,
    ) -> Self {
        Self {
            store,
            connector,
            limiter,
            queue,
            clock,
            settings,
            prepared: Arc::new(PreparedCache::new(PREPARED_CONNECTIONS)),
        }
    }

    /// Runs one delivered step and records its outcome. Never fails: every failure is
    /// an outcome recorded in the store, or left to the lease.
    pub async fn execute(&self, job: StepJob) -> StepReport {
        let context = match self.store.load_step(job.step_id).await {
            Ok(context) => context,
            Err(backfill_store::StoreError::UnknownStep(_)) => return StepReport::Unknown,
            Err(error) => {
                tracing::warn!(step_id = job.step_id, error = %error, "store unavailable; the lease will bring the step back");
                return StepReport::StoreUnavailable;
            }
        };
        let channel = context.connection.channel;
        let kind = context.step.spec.kind.name();
        let span = spans::step(
            &context.connection.tenant_id,
            channel,
            &context.connection.account_id,
            &context.run.id,
            kind,
        );
        backfill_telemetry::set_parent_from(&span, job.traceparent.as_deref());
        let report = self.run(&context).instrument(span.clone()).await;
        spans::record_outcome(&span, report.as_str(), report.is_failure());
        metrics().step_finished(channel, kind, report.as_str());
        report
    }

    async fn run(&self, context: &StepContext) -> StepReport {
        let step_id = context.step.id;
        if !context.is_current() {
            return self.fence(context).await;
        }
        let now = self.clock.now();
        if context.step.not_before > now + TimeDelta::seconds(1) {
            // Delivered early (a re-delivery after a reschedule): back to pending.
            let not_before = context.step.not_before;
            return self
                .reschedule(
                    context,
                    not_before,
                    "not yet due",
                    false,
                    StepReport::NotDue,
                )
                .await;
        }
        let prepared = match self.prepared(context).await {
            Ok(prepared) => prepared,
            Err(PrepareError::Store(error)) => return self.store_unavailable(step_id, &error),
            Err(PrepareError::Unusable(reason)) => return self.fail(context, &reason).await,
        };
        let policy = &prepared.policy;
        let run_context = match RunContext::new(
            policy,
            context.connection.channel,
            context.run.connected_at,
            now,
        ) {
            Ok(run_context) => run_context,
            Err(error) => return self.fail(context, &error.to_string()).await,
        };
        let spec = &context.step.spec;

        // S3: backlog waits for off-peak.
        if let Some(at) = run_context.defer_until(spec) {
            metrics().deferred(context.connection.channel, DeferralReason::Peak);
            return self
                .reschedule(context, at, "peak hours", false, StepReport::Deferred)
                .await;
        }

        // Everything that needs the store (the credentials above) comes before the
        // rate-limit token: the time between the grant and the call reaching the channel
        // is what the limiter's headroom must absorb.
        // C7: one token from the fleet-wide budget, or come back when there is one.
        let key = BudgetKey {
            channel: context.connection.channel,
            account_id: context.connection.account_id.clone(),
        };
        let rules = policy
            .channel(context.connection.channel)
            .expect("RunContext checked the channel");
        if let Some(report) = self.take_token(context, &key, &rules.rate, now).await {
            return report;
        }

        let account = Account {
            channel: context.connection.channel,
            account_id: context.connection.account_id.clone(),
            credentials: prepared.credentials.clone(),
        };
        let started = Instant::now();
        let call_span = tracing::info_span!(
            spans::CHANNEL_CALL,
            channel = context.connection.channel.as_str(),
            outcome = tracing::field::Empty
        );
        let result: CallResult = self
            .connector
            .execute(&account, spec)
            .instrument(call_span.clone())
            .await;
        call_span.record("outcome", result.outcome.class());
        metrics().channel_call(
            context.connection.channel,
            result.outcome.class(),
            started.elapsed(),
        );
        if let Some(usage) = &result.usage {
            let usage = Usage {
                max_percent: usage.max_percent,
                regain_after: usage.regain_after,
            };
            if crate::ratelimit::slow_down_factor(usage.max_percent) > 1 {
                metrics().throttled(context.connection.channel, ThrottleSource::Usage);
            }
            if let Err(error) = self.limiter.observe(&key, usage).await {
                tracing::warn!(error = %error, "could not record the channel's usage reading");
            }
        }

        match result.outcome {
            Outcome::Page(fetched) => match planner::plan(&run_context, spec, fetched) {
                Ok(plan) => self.commit(context, &plan, result.http_calls).await,
                Err(error) => {
                    self.fail(context, &format!("the page does not fit the step: {error}"))
                        .await
                }
            },
            // The channel no longer gives this item's details (Instagram's detail depth):
            // nothing to keep, and nothing follows from it.
            Outcome::Unavailable(_) => {
                self.commit(context, &Plan::default(), result.http_calls)
                    .await
            }
            Outcome::Throttled { until, scope } => {
                metrics().throttled(context.connection.channel, ThrottleSource::Channel);
                let wait = (until - Utc::now()).max(TimeDelta::seconds(1));
                let blocked = match scope {
                    ThrottleScope::Account => {
                        self.limiter
                            .block(&key, wait.to_std().unwrap_or_default())
                            .await
                    }
                    ThrottleScope::App => {
                        self.limiter
                            .block_app(key.channel, wait.to_std().unwrap_or_default())
                            .await
                    }
                };
                if let Err(error) = blocked {
                    tracing::warn!(error = %error, "could not share the throttle with the fleet");
                }
                self.reschedule(
                    context,
                    now + wait + small_jitter(),
                    "throttled by the channel",
                    false,
                    StepReport::Throttled,
                )
                .await
            }
            Outcome::Transient(reason) => {
                metrics().retried(context.connection.channel);
                let retry = context.step.attempts + 1;
                let delay = policy.retries.delay_ms(retry, rand::rng().random::<f64>());
                let at = now + TimeDelta::milliseconds(delay as i64);
                let reschedule = Reschedule {
                    not_before: at,
                    reason: &reason,
                    spend_attempt: true,
                    max_retries: policy.retries.max_retries,
                    now,
                };
                match self.store.reschedule(step_id, reschedule).await {
                    Ok(RescheduleOutcome::Exhausted { .. }) => {
                        self.run_ended(context.connection.channel, context, "failed");
                        StepReport::RunFailed
                    }
                    Ok(RescheduleOutcome::Rescheduled { .. }) => StepReport::Retrying,
                    Ok(RescheduleOutcome::NotOpen { .. }) => StepReport::AlreadyDone,
                    Err(error) => self.store_unavailable(step_id, &error),
                }
            }
            Outcome::AuthRevoked(reason) => {
                self.fail(context, &format!("reconnect required: {reason}"))
                    .await
            }
            Outcome::Permanent(reason) => self.fail(context, &reason).await,
        }
    }

    /// The connection's policy and credentials for this step's generation, from the
    /// cache or loaded into it.
    async fn prepared(&self, context: &StepContext) -> Result<Arc<Prepared>, PrepareError> {
        let connection = &context.connection;
        let key = (connection.id, connection.generation);
        self.prepared
            .get_or_insert_async(&key, async {
                let policy: Policy =
                    serde_json::from_value(connection.policy.clone()).map_err(|error| {
                        PrepareError::Unusable(format!("the stored policy is unreadable: {error}"))
                    })?;
                let stored = self
                    .store
                    .decrypt_credentials(connection.id)
                    .await
                    .map_err(PrepareError::Store)?;
                let credentials =
                    Credentials::from_stored(connection.channel, &stored).map_err(|error| {
                        PrepareError::Unusable(format!("stored credentials unusable: {error}"))
                    })?;
                Ok(Arc::new(Prepared {
                    policy,
                    credentials,
                }))
            })
            .await
    }

    /// C7: takes one token from the fleet-wide budget, so that the call can leave now;
    /// or, when there is none to be had soon, reschedules the step and says so.
    async fn take_token(
        &self,
        context: &StepContext,
        key: &BudgetKey,
        rate: &RateBudget,
        now: DateTime<Utc>,
    ) -> Option<StepReport> {
        let step_id = context.step.id;
        let mut late = 0;
        loop {
            let asked = Instant::now();
            // The slot is no earlier than `asked` (+ the reservation): a lateness measured
            // from it errs on the side of taking a new slot.
            let slot = match self.limiter.acquire(key, rate).await {
                Ok(Admission::Granted) => asked,
                // The slot is ours, a moment away: waiting for it here is cheaper than a
                // trip back through the dispatcher and the queue.
                Ok(Admission::Reserved { wait }) => {
                    tokio::time::sleep(wait).await;
                    asked + wait
                }
                Ok(Admission::Denied {
                    retry_after,
                    reason,
                }) => {
                    metrics().ratelimit_wait(context.connection.channel, wait_reason(reason));
                    let at = now + to_delta(retry_after) + small_jitter();
                    return Some(
                        self.rate_limited(context, at, "waiting for rate-limit budget")
                            .await,
                    );
                }
                Err(error) => {
                    tracing::warn!(step_id, error = %error, "rate limiter unreachable");
                    let at = now + TimeDelta::seconds(1) + small_jitter();
                    return Some(
                        self.rate_limited(context, at, "rate limiter unreachable")
                            .await,
                    );
                }
            };
            // A call that leaves well after its slot (a starved runtime, a paused process)
            // could reach the channel right before the account's next call, on time, and
            // make one call too many in the channel's second: it gives its slot up and
            // takes a new one, behind every call already granted (C7).
            if slot.elapsed() <= LATE_CALL {
                return None;
            }
            late += 1;
            metrics().ratelimit_wait(context.connection.channel, WaitReason::Late);
            if late == LATE_CALLS_BEFORE_RESCHEDULE {
                let at = now + TimeDelta::seconds(1) + small_jitter();
                return Some(
                    self.rate_limited(
                        context,
                        at,
                        "this worker could not make its rate-limit slot in time",
                    )
                    .await,
                );
            }
        }
    }

    /// Back to the store until `at`, without spending an attempt: waiting for budget is
    /// not a failure (C4, C7).
    async fn rate_limited(
        &self,
        context: &StepContext,
        at: DateTime<Utc>,
        reason: &str,
    ) -> StepReport {
        self.reschedule(context, at, reason, false, StepReport::RateLimited)
            .await
    }

    /// Commits a page's plan; on success pushes the steps the commit handed its place to.
    ///
    /// Stamped when it commits, not when the step started: a slice is complete when its
    /// last page is stored, after that step's rate-limit wait and call.
    async fn commit(&self, context: &StepContext, plan: &Plan, http_calls: u32) -> StepReport {
        let now = self.clock.now();
        let channel = context.connection.channel;
        let commit_span = tracing::info_span!(spans::STORE_COMMIT);
        let outcome = self
            .store
            .commit_step(
                context.step.id,
                CommitInput {
                    plan,
                    now,
                    http_calls,
                    hand_off: (self.settings.hand_off > 0).then_some(HandOff {
                        max: self.settings.hand_off,
                        lease: self.settings.lease,
                    }),
                },
            )
            .instrument(commit_span)
            .await;
        match outcome {
            Ok(CommitOutcome::Committed {
                leased,
                run_transition,
                ..
            }) => {
                record_items(channel, plan);
                match run_transition {
                    Some(RunTransition::Completed) => self.run_ended(channel, context, "completed"),
                    Some(RunTransition::SliceCompleted) => {
                        let since = (now - context.run.started_at).to_std().unwrap_or_default();
                        metrics().slice_ready(channel, since);
                    }
                    None => {}
                }
                self.push(context, &leased).await;
                StepReport::Committed
            }
            Ok(CommitOutcome::AlreadyDone) => StepReport::AlreadyDone,
            Ok(CommitOutcome::Fenced | CommitOutcome::RunNotRunning) => StepReport::Fenced,
            Err(error) => self.store_unavailable(context.step.id, &error),
        }
    }

    /// Pushes the steps the commit leased (the run's next due ones, slice first): the
    /// account's next call follows at once instead of waiting for the dispatcher's next
    /// round (C6, S4).
    async fn push(&self, context: &StepContext, leased: &[ClaimedStep]) {
        if leased.is_empty() {
            return;
        }
        let traceparent = backfill_telemetry::current_traceparent()
            .or_else(|| context.step.trace_context.clone());
        let jobs: Vec<StepJob> = leased
            .iter()
            .map(|s| StepJob {
                step_id: s.step_id,
                traceparent: traceparent.clone(),
            })
            .collect();
        if let Err(error) = self.queue.push_handed_on(&jobs).await {
            // Leased but not queued: the lease expires and the dispatcher re-claims them.
            tracing::warn!(error = %error, "could not push follow-ups; their lease will bring them back");
        }
    }

    async fn reschedule(
        &self,
        context: &StepContext,
        not_before: DateTime<Utc>,
        reason: &str,
        spend_attempt: bool,
        report: StepReport,
    ) -> StepReport {
        let reschedule = Reschedule {
            not_before,
            reason,
            spend_attempt,
            max_retries: u32::MAX,
            now: self.clock.now(),
        };
        match self.store.reschedule(context.step.id, reschedule).await {
            Ok(RescheduleOutcome::NotOpen { .. }) => StepReport::AlreadyDone,
            Ok(_) => report,
            Err(error) => self.store_unavailable(context.step.id, &error),
        }
    }

    /// A step that is no longer current is closed through the commit path, which
    /// cancels it authoritatively under the connection's lock.
    async fn fence(&self, context: &StepContext) -> StepReport {
        if !context.step.status.is_open() {
            return StepReport::AlreadyDone;
        }
        self.commit(context, &Plan::default(), 0).await
    }

    async fn fail(&self, context: &StepContext, reason: &str) -> StepReport {
        tracing::warn!(run_id = context.run.id, reason, "failing the run");
        match self
            .store
            .fail_run(&context.run.id, reason, self.clock.now())
            .await
        {
            Ok(_) => {
                self.run_ended(context.connection.channel, context, "failed");
                StepReport::RunFailed
            }
            Err(error) => self.store_unavailable(context.step.id, &error),
        }
    }

    fn run_ended(&self, channel: Channel, context: &StepContext, status: &'static str) {
        let duration = (self.clock.now() - context.run.started_at)
            .to_std()
            .unwrap_or_default();
        metrics().run_finished(channel, status, duration);
    }

    fn store_unavailable(&self, step_id: i64, error: &backfill_store::StoreError) -> StepReport {
        tracing::warn!(step_id, error = %error, "store error; the lease will bring the step back");
        StepReport::StoreUnavailable
    }
}

fn record_items(channel: Channel, plan: &Plan) {
    let m = metrics();
    for (kind, count) in [
        (ItemKind::Conversation, plan.conversations.len()),
        (ItemKind::Message, plan.messages.len()),
        (ItemKind::Post, plan.posts.len()),
        (ItemKind::Comment, plan.comments.len()),
    ] {
        if count > 0 {
            m.items_stored(channel, kind, count as u64);
        }
    }
}

fn wait_reason(reason: DenyReason) -> WaitReason {
    match reason {
        DenyReason::Budget => WaitReason::Budget,
        DenyReason::Blocked => WaitReason::Blocked,
        DenyReason::Local => WaitReason::Local,
    }
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Spreads steps that were told to wait the same time, so they do not return together.
fn small_jitter() -> TimeDelta {
    TimeDelta::milliseconds(rand::rng().random_range(0..50))
}

/// A step the dispatcher or the executor hands to the queue.
pub fn job_for(step: &ClaimedStep) -> StepJob {
    StepJob {
        step_id: step.step_id,
        traceparent: step.trace_context.clone(),
    }
}
