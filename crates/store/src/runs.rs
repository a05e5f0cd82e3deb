//! Runs: their transitions and their progress.
//!
//! A run ends in one of three ways, each a single transaction; completion and failure
//! write the event announcing them in it (the outbox: the event exists exactly when the
//! transition does):
//! - completed, by the commit that closes its last open step (`close_step`);
//! - failed, by [`Store::fail_run`] or a step out of retries (C4);
//! - cancelled, by a re-connect or a disconnect (B3; no event: the caller asked for it).
//!
//! Progress is a query over steps and items (S5), not a set of counters that could drift
//! from the facts. The one counter, `open_steps`, exists to decide completion race-free;
//! see `close_step`.

use backfill_policy::{Channel, Priority};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Store;
use crate::db::{Session, args};
use crate::error::{Result, StoreError};
use crate::events::insert_event;
use crate::status::{EventKind, RunStatus, StartedBy, StepStatus};
use crate::steps::{RunTransition, priority_from_code};

/// A run as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RunSummary {
    pub id: String,
    pub connection_id: i64,
    pub tenant_id: String,
    pub generation: i64,
    pub started_by: StartedBy,
    pub status: RunStatus,
    /// Why the run failed or was cancelled.
    pub reason: Option<String>,
    /// `T` of the policy: look-back windows are measured from it.
    pub connected_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    /// When the last slice step finished: the inbox shows the priority slice (S4).
    pub slice_completed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Steps counted by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StepCounts {
    pub pending: u64,
    pub leased: u64,
    pub done: u64,
    pub cancelled: u64,
    pub failed: u64,
}

impl StepCounts {
    pub fn total(&self) -> u64 {
        self.pending + self.leased + self.done + self.cancelled + self.failed
    }

    /// Steps with work left: pending or leased.
    pub fn open(&self) -> u64 {
        self.pending + self.leased
    }

    fn add(&mut self, status: StepStatus, n: u64) {
        *match status {
            StepStatus::Pending => &mut self.pending,
            StepStatus::Leased => &mut self.leased,
            StepStatus::Done => &mut self.done,
            StepStatus::Cancelled => &mut self.cancelled,
            StepStatus::Failed => &mut self.failed,
        } += n;
    }
}

/// Items stored for the run's account (whichever run first stored them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ItemCounts {
    pub conversations: i64,
    pub messages: i64,
    /// Messages the channel lists without details (Instagram's detail depth).
    pub unavailable_messages: i64,
    pub posts: i64,
    pub comments: i64,
}

/// Where a run stands (S5): readable at any time, and the payload of its events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub run_id: String,
    pub connection_id: i64,
    pub channel: Channel,
    pub account_id: String,
    pub started_by: StartedBy,
    pub status: RunStatus,
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
    pub slice_completed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Every step of the run, by status.
    pub steps: StepCounts,
    /// The priority slice's steps (DESIGN decision 3), by status.
    pub slice: StepCounts,
    /// The backlog's steps, by status.
    pub backlog: StepCounts,
    /// Pending steps that may not run yet: deferred out of peak hours (S3) or throttled.
    pub deferred: u64,
    /// Transient failures spent across the run's steps (C4).
    pub attempts: u64,
    /// Channel API calls the run's steps reported.
    pub http_calls: u64,
    pub stored: ItemCounts,
}

/// How [`Store::fail_run`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailOutcome {
    /// The run is now failed; its open steps were cancelled and `run.failed` written.
    Failed { cancelled_steps: u64 },
    /// The run had already ended; nothing changed.
    AlreadyFinished { status: RunStatus },
}

#[derive(sqlx::FromRow)]
struct ProgressHead {
    id: String,
    connection_id: i64,
    channel: String,
    account_id: String,
    started_by: StartedBy,
    status: RunStatus,
    reason: Option<String>,
    started_at: DateTime<Utc>,
    slice_completed_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct StepGroup {
    status: StepStatus,
    priority: i64,
    steps: i64,
    deferred: i64,
    attempts: i64,
    http_calls: i64,
}

fn count(n: i64) -> u64 {
    // COUNT and SUM of non-negative columns; a negative would be a corrupt row.
    u64::try_from(n).unwrap_or(0)
}

/// The progress of `run_id`, seen by `tenant_id` (or unscoped, inside the store).
pub(crate) async fn progress_of(
    session: &mut Session,
    run_id: &str,
    tenant_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Progress>> {
    let head: Option<ProgressHead> = session
        .fetch_optional(
            "SELECT r.id, r.connection_id, c.channel, c.account_id, r.started_by, r.status,
                    r.reason, r.started_at, r.slice_completed_at, r.finished_at
             FROM runs r JOIN connections c ON c.id = r.connection_id
             WHERE r.id = $1 AND ($2 IS NULL OR r.tenant_id = $2)",
            args![run_id, tenant_id],
        )
        .await?;
    let Some(head) = head else { return Ok(None) };
    let groups: Vec<StepGroup> = session
        .fetch_all(
            "SELECT status, priority, COUNT(*) AS steps,
                    CAST(SUM(CASE WHEN status = 'pending' AND not_before > $2 THEN 1 ELSE 0 END)
                         AS BIGINT) AS deferred,
                    CAST(SUM(attempts) AS BIGINT) AS attempts,
                    CAST(SUM(http_calls) AS BIGINT) AS http_calls
             FROM steps WHERE run_id = $1
             GROUP BY status, priority",
            args![run_id, now],
        )
        .await?;
    let stored: ItemCounts = session
        .fetch_one(
            "SELECT
                 (SELECT COUNT(*) FROM conversations WHERE connection_id = $1) AS conversations,
                 (SELECT COUNT(*) FROM messages WHERE connection_id = $1) AS messages,
                 (SELECT COUNT(*) FROM messages WHERE connection_id = $1 AND unavailable)
                     AS unavailable_messages,
                 (SELECT COUNT(*) FROM posts WHERE connection_id = $1) AS posts,
                 (SELECT COUNT(*) FROM comments WHERE connection_id = $1) AS comments",
            args![head.connection_id],
        )
        .await?;

    let channel = head
        .channel
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("connections.channel of run {run_id}")))?;
    let mut progress = Progress {
        run_id: head.id,
        connection_id: head.connection_id,
        channel,
        account_id: head.account_id,
        started_by: head.started_by,
        status: head.status,
        reason: head.reason,
        started_at: head.started_at,
        slice_completed_at: head.slice_completed_at,
        finished_at: head.finished_at,
        steps: StepCounts::default(),
        slice: StepCounts::default(),
        backlog: StepCounts::default(),
        deferred: 0,
        attempts: 0,
        http_calls: 0,
        stored,
    };
    for group in groups {
        let n = count(group.steps);
        progress.steps.add(group.status, n);
        match priority_from_code(group.priority)? {
            backfill_policy::Priority::Slice => progress.slice.add(group.status, n),
            backfill_policy::Priority::Backlog => progress.backlog.add(group.status, n),
        }
        progress.deferred += count(group.deferred);
        progress.attempts += count(group.attempts);
        progress.http_calls += count(group.http_calls);
    }
    Ok(Some(progress))
}

/// Closes one step of a running run and opens `opened` follow-ups, in the committing
/// transaction. Says whether this closed the slice or the run.
///
/// The race this settles: the last two open steps of a run commit at the same time. Had
/// each read "how many steps are open?" and then decided, both could read 2 (neither sees
/// the other's uncommitted work) and neither would complete the run — or, reading after
/// the other's commit, both would. `UPDATE … SET open_steps = open_steps - 1 + opened …
/// RETURNING` is one atomic read-modify-write, and it row-locks the run until commit: the
/// second committer waits, then decrements the first one's result. Exactly one of them
/// sees 0 and completes the run, so exactly one `run.completed` is written. (On SQLite
/// the single writer serializes the two transactions outright.)
///
/// The slice check runs after that lock for the same reason: under READ COMMITTED each
/// statement sees every transaction committed before it started, so of two concurrent
/// commits of the last slice steps, the one that takes the run lock second sees both
/// steps done.
pub(crate) async fn close_step(
    session: &mut Session,
    run_id: &str,
    closed: ClosedStep,
    now: DateTime<Utc>,
) -> Result<Closed> {
    let opened = i64::try_from(closed.opened).expect("a plan's follow-ups fit in i64");
    let (open_steps, slice_completed_at): (i64, Option<DateTime<Utc>>) = session
        .fetch_optional(
            "UPDATE runs SET open_steps = open_steps - 1 + $2, updated_at = $3
             WHERE id = $1 RETURNING open_steps, slice_completed_at",
            args![run_id, opened, now],
        )
        .await?
        .ok_or_else(|| StoreError::UnknownRun(run_id.to_owned()))?;
    if open_steps == 0 {
        complete_run(session, run_id, now).await?;
        return Ok(Closed {
            transition: Some(RunTransition::Completed),
            slice_complete: true,
        });
    }
    let unchanged = Closed {
        transition: None,
        slice_complete: slice_completed_at.is_some(),
    };
    // Only the close of a slice step that opens no slice step can complete the slice; a
    // run that opens with no slice step has it complete from the start (`open_run`).
    if slice_completed_at.is_some() || closed.priority != Priority::Slice || closed.opened_slice > 0
    {
        return Ok(unchanged);
    }
    let slice_open: Option<i64> = session
        .scalar(
            "SELECT id FROM steps
             WHERE run_id = $1 AND priority = 0 AND status IN ('pending', 'leased') LIMIT 1",
            args![run_id],
        )
        .await?;
    if slice_open.is_some() {
        return Ok(unchanged);
    }
    let marked = session
        .execute(
            "UPDATE runs SET slice_completed_at = $2
             WHERE id = $1 AND slice_completed_at IS NULL",
            args![run_id, now],
        )
        .await?;
    Ok(Closed {
        transition: (marked == 1).then_some(RunTransition::SliceCompleted),
        slice_complete: true,
    })
}

/// What closing a step did to its run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closed {
    pub transition: Option<RunTransition>,
    /// The run's slice is complete (now or before): its backlog may run.
    pub slice_complete: bool,
}

/// The step a commit closes, and what it opens ([`close_step`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClosedStep {
    pub priority: Priority,
    /// Follow-ups inserted.
    pub opened: usize,
    /// Of which in the slice.
    pub opened_slice: usize,
}

/// Marks a running run completed (no step open) and writes `run.completed`.
pub(crate) async fn complete_run(
    session: &mut Session,
    run_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let completed = session
        .execute(
            "UPDATE runs SET status = 'completed', finished_at = $2, updated_at = $2,
                 slice_completed_at = COALESCE(slice_completed_at, $2)
             WHERE id = $1 AND status = 'running'",
            args![run_id, now],
        )
        .await?;
    if completed == 1 {
        announce(session, run_id, EventKind::RunCompleted, now).await?;
    }
    Ok(())
}

/// Fails a running run with `reason`, cancels its open steps and writes `run.failed`.
///
/// The caller holds the run's connection row exclusively (see [`crate::steps`] on lock
/// order), so no commit of this run is half-way while its steps are cancelled.
pub(crate) async fn fail_run_locked(
    session: &mut Session,
    run_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<FailOutcome> {
    let failed = session
        .execute(
            "UPDATE runs SET status = 'failed', reason = $2, finished_at = $3, updated_at = $3,
                 open_steps = 0
             WHERE id = $1 AND status = 'running'",
            args![run_id, reason, now],
        )
        .await?;
    if failed == 0 {
        let status: RunStatus = session
            .scalar("SELECT status FROM runs WHERE id = $1", args![run_id])
            .await?
            .ok_or_else(|| StoreError::UnknownRun(run_id.to_owned()))?;
        return Ok(FailOutcome::AlreadyFinished { status });
    }
    let cancelled_steps = session
        .execute(
            "UPDATE steps SET status = 'cancelled', lease_until = NULL, updated_at = $2,
                 last_error = COALESCE(last_error, 'run failed')
             WHERE run_id = $1 AND status IN ('pending', 'leased')",
            args![run_id, now],
        )
        .await?;
    announce(session, run_id, EventKind::RunFailed, now).await?;
    Ok(FailOutcome::Failed { cancelled_steps })
}

/// Cancels the running runs of a connection older than `generation` and their open
/// steps (B3). The caller holds the connection row exclusively.
pub(crate) async fn cancel_older_runs(
    session: &mut Session,
    connection_id: i64,
    generation: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let runs = session
        .execute(
            "UPDATE runs SET status = 'cancelled', reason = $3, finished_at = $4, updated_at = $4,
                 open_steps = 0
             WHERE connection_id = $1 AND status = 'running' AND generation < $2",
            args![connection_id, generation, reason, now],
        )
        .await?;
    session
        .execute(
            "UPDATE steps SET status = 'cancelled', lease_until = NULL, last_error = $3,
                 updated_at = $4
             WHERE connection_id = $1 AND status IN ('pending', 'leased') AND generation < $2",
            args![connection_id, generation, reason, now],
        )
        .await?;
    Ok(runs)
}

/// Writes a run event whose payload is the run's progress at this moment.
pub(crate) async fn announce(
    session: &mut Session,
    run_id: &str,
    kind: EventKind,
    now: DateTime<Utc>,
) -> Result<i64> {
    let progress = progress_of(session, run_id, None, now)
        .await?
        .ok_or_else(|| StoreError::UnknownRun(run_id.to_owned()))?;
    let tenant_id: String = session
        .scalar("SELECT tenant_id FROM runs WHERE id = $1", args![run_id])
        .await?
        .ok_or_else(|| StoreError::UnknownRun(run_id.to_owned()))?;
    insert_event(session, &tenant_id, run_id, kind, &progress, now).await
}

/// Locks the connection a run belongs to, exclusively, and returns its id.
pub(crate) async fn lock_connection_of_run(session: &mut Session, run_id: &str) -> Result<i64> {
    let connection_id: i64 = session
        .scalar(
            "SELECT connection_id FROM runs WHERE id = $1",
            args![run_id],
        )
        .await?
        .ok_or_else(|| StoreError::UnknownRun(run_id.to_owned()))?;
    crate::connections::lock_connection(
        session,
        connection_id,
        crate::connections::Lock::Exclusive,
    )
    .await?;
    Ok(connection_id)
}

impl Store {
    /// Fails a run with `reason` (C4: out of retries; or auth revoked: "reconnect
    /// required"), cancels its pending and leased steps, and writes `run.failed`, in one
    /// transaction. Failing a run that has already ended changes nothing.
    pub async fn fail_run(
        &self,
        run_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<FailOutcome> {
        let mut tx = self.pools.begin().await?;
        lock_connection_of_run(&mut tx, run_id).await?;
        let outcome = fail_run_locked(&mut tx, run_id, reason, now).await?;
        tx.commit().await?;
        if let FailOutcome::Failed { cancelled_steps } = outcome {
            tracing::info!(run_id, reason, cancelled_steps, "run failed");
        }
        Ok(outcome)
    }

    /// The progress of a run of `tenant_id` (S5); `None` if the tenant has no such run.
    pub async fn progress(
        &self,
        tenant_id: &str,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Progress>> {
        let mut session = self.pools.read().await?;
        progress_of(&mut session, run_id, Some(tenant_id), now).await
    }

    /// A run of `tenant_id`.
    pub async fn run(&self, tenant_id: &str, run_id: &str) -> Result<Option<RunSummary>> {
        self.pools
            .read()
            .await?
            .fetch_optional(
                "SELECT id, connection_id, tenant_id, generation, started_by, status, reason,
                        connected_at, started_at, slice_completed_at, finished_at
                 FROM runs WHERE id = $1 AND tenant_id = $2",
                args![run_id, tenant_id],
            )
            .await
    }

    /// The runs of one of `tenant_id`'s connections, newest first.
    pub async fn runs_of_connection(
        &self,
        tenant_id: &str,
        connection_id: i64,
    ) -> Result<Vec<RunSummary>> {
        self.pools
            .read()
            .await?
            .fetch_all(
                "SELECT id, connection_id, tenant_id, generation, started_by, status, reason,
                        connected_at, started_at, slice_completed_at, finished_at
                 FROM runs WHERE connection_id = $1 AND tenant_id = $2
                 ORDER BY started_at DESC, id DESC",
                args![connection_id, tenant_id],
            )
            .await
    }
}
