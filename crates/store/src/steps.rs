//! What a worker does with a step: load it, then commit its outcome or reschedule it.
//!
//! # Exactly once in effect (DESIGN decision 1, C5)
//! The queue may deliver a step twice, or two workers may hold it at once (a lease that
//! expired under a slow worker). [`Store::commit_step`] is one transaction that claims
//! the step (`UPDATE … SET status = 'done' WHERE status IN ('pending', 'leased')`),
//! writes its items, inserts its follow-ups and updates its run. Two commits of one step
//! serialize on the step's row: the second finds it done, writes nothing, and answers
//! [`CommitOutcome::AlreadyDone`]. Items written by overlapping steps meet on the
//! channel's unique ids; follow-ups on `(run_id, step_key)`.
//!
//! # Lock order
//! Every transaction here locks the connection row first (see [`crate::connections`]),
//! then the step, then the run. The step's connection and run are read unlocked first:
//! they never change, so reading them early is safe and lets the locks go in order.

use backfill_policy::planner::Plan;
use backfill_policy::{Priority, StepSpec};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Store;
use crate::connections::{ConnectionInfo, Lock, LockedConnection, lock_connection, store_resume};
use crate::db::{Dialect, Session, args};
use crate::dispatch::{ClaimedStep, lease_next_due_of_run};
use crate::error::{Result, StoreError};
use crate::pages::{ItemOwner, StepOwner, insert_steps, write_items};
use crate::runs::{ClosedStep, FailOutcome, RunSummary, close_step, fail_run_locked};
use crate::status::{ConnectionState, RunStatus, StartedBy, StepStatus};

/// A step the store inserted, with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewStep {
    pub id: i64,
    pub spec: StepSpec,
}

/// A step as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredStep {
    pub id: i64,
    pub run_id: String,
    pub connection_id: i64,
    pub tenant_id: String,
    pub generation: i64,
    /// [`StepSpec::key`], unique within the run.
    pub key: String,
    pub spec: StepSpec,
    pub status: StepStatus,
    /// Transient failures spent (C4).
    pub attempts: u32,
    pub last_error: Option<String>,
    pub not_before: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub trace_context: Option<String>,
}

/// Everything a worker needs to execute a step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepContext {
    pub step: StoredStep,
    pub run: RunSummary,
    pub connection: ConnectionInfo,
}

impl StepContext {
    /// Whether the step is still worth a channel call: open, of the connection's current
    /// generation, on a connected account, in a running run. A worker checks this before
    /// calling the channel; [`Store::commit_step`] checks it again, authoritatively.
    pub fn is_current(&self) -> bool {
        self.step.status.is_open()
            && self.step.generation == self.connection.generation
            && self.connection.state == ConnectionState::Connected
            && self.run.status == RunStatus::Running
    }
}

/// The outcome of one executed step.
#[derive(Debug, Clone, Copy)]
pub struct CommitInput<'a> {
    /// The planner's answer for the page the channel returned.
    pub plan: &'a Plan,
    /// The policy clock's now.
    pub now: DateTime<Utc>,
    /// Channel API calls the step made, for progress (normally 1).
    pub http_calls: u32,
    /// Hand the finished step's place on to the run's next due steps, leased in the same
    /// transaction for the worker to push to the queue itself (see [`HandOff`]).
    pub hand_off: Option<HandOff>,
}

/// A finished step hands its place in its account's pipeline on to the run's next due
/// steps: at most `max` of them, leased in the committing transaction, in the order the
/// dispatcher would take them (slice first, then by due time; no backlog while the
/// slice is open, S4). The worker pushes them itself, so an account stays as busy as the
/// dispatcher's per-account cap made it without waiting for the dispatcher's next round
/// and its trip through the queue (C6); with `max` 1 it never grows past that cap.
#[derive(Debug, Clone, Copy)]
pub struct HandOff {
    pub max: u32,
    /// As long as the dispatcher's lease.
    pub lease: chrono::TimeDelta,
}

/// A change of the run's state that a commit caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTransition {
    /// The last slice step is done: the priority slice is in the inbox (S3, S4).
    SliceCompleted,
    /// No step is open any more: the run is completed and `run.completed` is in the outbox.
    Completed,
}

/// How [`Store::commit_step`] went.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    /// The items, the follow-ups and the step's completion are stored.
    Committed {
        /// Follow-ups inserted by this commit (not those an earlier execution inserted).
        new_steps: Vec<NewStep>,
        /// The steps leased for the queue ([`CommitInput::hand_off`]), in
        /// the order to push them. The worker pushes them; if it cannot, their lease
        /// expires and the dispatcher claims them.
        leased: Vec<ClaimedStep>,
        run_transition: Option<RunTransition>,
    },
    /// The step was committed before (a duplicate delivery): nothing changed.
    AlreadyDone,
    /// The step belongs to an older generation or a disconnected account (B3): it is
    /// cancelled and nothing it fetched was stored.
    Fenced,
    /// The step's run has ended (failed or cancelled): the step is cancelled and nothing
    /// it fetched was stored.
    RunNotRunning,
}

/// A step that cannot run now and goes back to pending.
#[derive(Debug, Clone, Copy)]
pub struct Reschedule<'a> {
    /// When it may run again.
    pub not_before: DateTime<Utc>,
    /// Why, kept as the step's last error: "throttled", "peak hours", the transient
    /// failure. Must not contain a credential (B4).
    pub reason: &'a str,
    /// A transient failure spends an attempt; throttling, a denied rate-limit token and
    /// peak deferral spend none (DESIGN decisions 5 and 6).
    pub spend_attempt: bool,
    /// Retries allowed after the first try (C4: 3).
    pub max_retries: u32,
    pub now: DateTime<Utc>,
}

/// How [`Store::reschedule`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RescheduleOutcome {
    /// Pending again, due at `not_before`.
    Rescheduled { attempts: u32 },
    /// Out of retries (C4): the step is failed and, in the same transaction, its run is
    /// failed with the reason, its open steps cancelled and `run.failed` written. A later
    /// [`Store::fail_run`] of the run is a harmless no-op.
    Exhausted { attempts: u32, run: FailOutcome },
    /// The step is no longer open (done, cancelled, failed): nothing changed.
    NotOpen { status: StepStatus },
}

/// The stored code of a priority class: an integer so that `ORDER BY` puts the slice
/// first.
pub(crate) fn priority_code(priority: Priority) -> i64 {
    match priority {
        Priority::Slice => 0,
        Priority::Backlog => 1,
    }
}

pub(crate) fn priority_from_code(code: i64) -> Result<Priority> {
    match code {
        0 => Ok(Priority::Slice),
        1 => Ok(Priority::Backlog),
        _ => Err(StoreError::Corrupt(format!("steps.priority {code}"))),
    }
}

fn count_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[derive(sqlx::FromRow)]
struct StepRow {
    id: i64,
    run_id: String,
    connection_id: i64,
    tenant_id: String,
    generation: i64,
    step_key: String,
    #[sqlx(json)]
    payload: StepSpec,
    status: StepStatus,
    attempts: i64,
    last_error: Option<String>,
    not_before: DateTime<Utc>,
    lease_until: Option<DateTime<Utc>>,
    trace_context: Option<String>,
}

impl From<StepRow> for StoredStep {
    fn from(row: StepRow) -> Self {
        Self {
            id: row.id,
            run_id: row.run_id,
            connection_id: row.connection_id,
            tenant_id: row.tenant_id,
            generation: row.generation,
            key: row.step_key,
            spec: row.payload,
            status: row.status,
            attempts: count_u32(row.attempts),
            last_error: row.last_error,
            not_before: row.not_before,
            lease_until: row.lease_until,
            trace_context: row.trace_context,
        }
    }
}

/// A step joined with its run and its connection ([`Store::load_step`]). The run's and
/// the connection's columns are prefixed where their names would clash.
#[derive(sqlx::FromRow)]
struct StepContextRow {
    #[sqlx(flatten)]
    step: StepRow,
    run_generation: i64,
    run_started_by: StartedBy,
    run_status: RunStatus,
    run_reason: Option<String>,
    run_connected_at: DateTime<Utc>,
    run_started_at: DateTime<Utc>,
    run_slice_completed_at: Option<DateTime<Utc>>,
    run_finished_at: Option<DateTime<Utc>>,
    conn_channel: String,
    conn_account_id: String,
    conn_state: ConnectionState,
    conn_generation: i64,
    #[sqlx(json)]
    conn_policy: serde_json::Value,
    conn_timezone: String,
    conn_connected_at: DateTime<Utc>,
    conn_created_at: DateTime<Utc>,
    conn_updated_at: DateTime<Utc>,
}

impl StepContextRow {
    fn into_context(self) -> Result<StepContext> {
        let step: StoredStep = self.step.into();
        let run = RunSummary {
            id: step.run_id.clone(),
            connection_id: step.connection_id,
            tenant_id: step.tenant_id.clone(),
            generation: self.run_generation,
            started_by: self.run_started_by,
            status: self.run_status,
            reason: self.run_reason,
            connected_at: self.run_connected_at,
            started_at: self.run_started_at,
            slice_completed_at: self.run_slice_completed_at,
            finished_at: self.run_finished_at,
        };
        let connection = ConnectionInfo {
            id: step.connection_id,
            tenant_id: step.tenant_id.clone(),
            channel: crate::connections::parse_channel(&self.conn_channel, step.connection_id)?,
            account_id: self.conn_account_id,
            state: self.conn_state,
            generation: self.conn_generation,
            policy: self.conn_policy,
            timezone: self.conn_timezone,
            connected_at: self.conn_connected_at,
            created_at: self.conn_created_at,
            updated_at: self.conn_updated_at,
        };
        Ok(StepContext {
            step,
            run,
            connection,
        })
    }
}

/// The immutable columns that say where a step lives, with its connection as locked.
#[derive(sqlx::FromRow)]
struct StepHome {
    run_id: String,
    connection_id: i64,
}

#[derive(sqlx::FromRow)]
struct LockedHome {
    #[sqlx(flatten)]
    home: StepHome,
    #[sqlx(flatten)]
    connection: LockedConnection,
}

/// Finds a step's connection and locks it (see [`crate::connections`]): the lookup and
/// the lock in one statement. Only the connection's row is locked (`OF c`), so the lock
/// order stays connection, step, run.
async fn lock_connection_of_step(
    session: &mut Session,
    step_id: i64,
    lock: Lock,
) -> Result<(StepHome, LockedConnection)> {
    macro_rules! locking {
        ($clause:literal) => {
            concat!(
                "SELECT s.run_id, s.connection_id, c.tenant_id, c.channel, c.state,
                        c.generation, c.connected_at
                 FROM steps s JOIN connections c ON c.id = s.connection_id
                 WHERE s.id = $1 ",
                $clause
            )
        };
    }
    let sql = match (session.dialect(), lock) {
        (Dialect::Postgres, Lock::Shared) => locking!("FOR SHARE OF c"),
        (Dialect::Postgres, Lock::Exclusive) => locking!("FOR UPDATE OF c"),
        // `BEGIN IMMEDIATE` already holds SQLite's one write lock.
        (Dialect::Sqlite, _) => locking!(""),
    };
    let row: LockedHome = session
        .fetch_optional(sql, args![step_id])
        .await?
        .ok_or(StoreError::UnknownStep(step_id))?;
    Ok((row.home, row.connection))
}

/// What the claim of a step for commit returns.
#[derive(sqlx::FromRow)]
struct Claimed {
    generation: i64,
    tenant_id: String,
    trace_context: Option<String>,
    priority: i64,
    run_status: RunStatus,
}

/// Why a claimed step may not take effect, if it may not.
fn fence(
    connection: &crate::connections::LockedConnection,
    step_generation: i64,
    run_status: RunStatus,
) -> Option<(CommitOutcome, String)> {
    if connection.state != ConnectionState::Connected {
        return Some((
            CommitOutcome::Fenced,
            "fenced: account disconnected".to_owned(),
        ));
    }
    if connection.generation != step_generation {
        let reason = format!(
            "fenced: generation {step_generation} superseded by {}",
            connection.generation
        );
        return Some((CommitOutcome::Fenced, reason));
    }
    if run_status != RunStatus::Running {
        return Some((CommitOutcome::RunNotRunning, format!("run {run_status}")));
    }
    None
}

impl Store {
    /// The step, its run and its connection, in one query: a worker loads this for every
    /// step it is handed, so it is one round trip (the three rows are joined on their
    /// primary keys).
    pub async fn load_step(&self, step_id: i64) -> Result<StepContext> {
        let row: StepContextRow = self
            .pools
            .read()
            .await?
            .fetch_optional(
                "SELECT s.id, s.run_id, s.connection_id, s.tenant_id, s.generation, s.step_key,
                        s.payload, s.status, s.attempts, s.last_error, s.not_before,
                        s.lease_until, s.trace_context,
                        r.generation AS run_generation, r.started_by AS run_started_by,
                        r.status AS run_status, r.reason AS run_reason,
                        r.connected_at AS run_connected_at, r.started_at AS run_started_at,
                        r.slice_completed_at AS run_slice_completed_at,
                        r.finished_at AS run_finished_at,
                        c.channel AS conn_channel, c.account_id AS conn_account_id,
                        c.state AS conn_state, c.generation AS conn_generation,
                        c.policy AS conn_policy, c.timezone AS conn_timezone,
                        c.connected_at AS conn_connected_at, c.created_at AS conn_created_at,
                        c.updated_at AS conn_updated_at
                 FROM steps s
                 JOIN runs r ON r.id = s.run_id
                 JOIN connections c ON c.id = s.connection_id
                 WHERE s.id = $1",
                args![step_id],
            )
            .await?
            .ok_or(StoreError::UnknownStep(step_id))?;
        row.into_context()
    }

    /// Commits the outcome of an executed step in one transaction: claims the step,
    /// fences it, upserts the plan's items (C5), stores the listing resume point, inserts
    /// the follow-ups that are new, and closes the step in its run — completing the slice
    /// or the run, with `run.completed` in the outbox, when this was the last.
    pub async fn commit_step(&self, step_id: i64, input: CommitInput<'_>) -> Result<CommitOutcome> {
        let CommitInput {
            plan,
            now,
            http_calls,
            hand_off,
        } = input;
        let mut tx = self.pools.begin().await?;
        // Storing a resume point updates the connection row; taking it exclusively now
        // avoids upgrading a shared lock later, which two such commits would deadlock on.
        let lock = if plan.resume.is_some() {
            Lock::Exclusive
        } else {
            Lock::Shared
        };
        let (home, connection) = lock_connection_of_step(&mut tx, step_id, lock).await?;
        // Nothing can change the run's status while we hold the connection row: every
        // transition that ends a run takes it exclusively, and completion needs this step.
        // So the run's status is read with the claim, in the same statement.
        let claimed: Option<Claimed> = tx
            .fetch_optional(
                "UPDATE steps SET status = 'done', lease_until = NULL,
                     http_calls = http_calls + $2, updated_at = $3
                 WHERE id = $1 AND status IN ('pending', 'leased')
                 RETURNING generation, tenant_id, trace_context, priority,
                     (SELECT status FROM runs WHERE runs.id = steps.run_id) AS run_status",
                args![step_id, http_calls, now],
            )
            .await?;

        let Some(step) = claimed else {
            // Not open: done by an earlier commit, or cancelled. The transaction changed
            // nothing and rolls back when dropped.
            let (status, generation, run_status): (StepStatus, i64, RunStatus) = tx
                .fetch_optional(
                    "SELECT steps.status, steps.generation, runs.status
                     FROM steps JOIN runs ON runs.id = steps.run_id WHERE steps.id = $1",
                    args![step_id],
                )
                .await?
                .ok_or(StoreError::UnknownStep(step_id))?;
            if status == StepStatus::Done {
                return Ok(CommitOutcome::AlreadyDone);
            }
            // Cancelled by a transition, or failed: say which fence stopped it.
            return Ok(fence(&connection, generation, run_status)
                .map_or(CommitOutcome::Fenced, |(outcome, _)| outcome));
        };

        if let Some((outcome, reason)) = fence(&connection, step.generation, step.run_status) {
            tx.execute(
                "UPDATE steps SET status = 'cancelled', last_error = $2 WHERE id = $1",
                args![step_id, reason],
            )
            .await?;
            tx.commit().await?;
            tracing::debug!(step_id, ?outcome, "commit refused");
            return Ok(outcome);
        }

        let items = ItemOwner {
            connection_id: home.connection_id,
            run_id: Some(&home.run_id),
            now,
        };
        write_items(
            &mut tx,
            items,
            &plan.conversations,
            &plan.messages,
            &plan.posts,
            &plan.comments,
        )
        .await?;
        if let Some(resume) = &plan.resume {
            store_resume(&mut tx, home.connection_id, resume, now).await?;
        }
        let owner = StepOwner {
            run_id: &home.run_id,
            connection_id: home.connection_id,
            tenant_id: &step.tenant_id,
            channel: crate::connections::parse_channel(&connection.channel, home.connection_id)?,
            generation: step.generation,
            trace_context: step.trace_context.as_deref(),
            now,
        };
        let new_steps = insert_steps(&mut tx, owner, &plan.follow_ups).await?;
        let closed = ClosedStep {
            priority: priority_from_code(step.priority)?,
            opened: new_steps.len(),
            opened_slice: new_steps
                .iter()
                .filter(|s| s.spec.priority == Priority::Slice)
                .count(),
        };
        let closed = close_step(&mut tx, &home.run_id, closed, now).await?;
        let run_transition = closed.transition;
        let leased = match hand_off {
            // A completed run has nothing left to hand on.
            Some(hand_off) if run_transition != Some(RunTransition::Completed) => {
                lease_next_due_of_run(&mut tx, &home.run_id, closed.slice_complete, hand_off, now)
                    .await?
            }
            _ => Vec::new(),
        };
        tx.commit().await?;
        if run_transition == Some(RunTransition::Completed) {
            tracing::info!(run_id = home.run_id, "run completed");
        }
        Ok(CommitOutcome::Committed {
            new_steps,
            leased,
            run_transition,
        })
    }

    /// Puts a step that cannot run now back to pending, due at `not_before`, its lease
    /// released. A transient failure spends an attempt, and the attempt past
    /// `max_retries` fails the step and its run (C4).
    pub async fn reschedule(
        &self,
        step_id: i64,
        input: Reschedule<'_>,
    ) -> Result<RescheduleOutcome> {
        let Reschedule {
            not_before,
            reason,
            spend_attempt,
            max_retries,
            now,
        } = input;
        let mut tx = self.pools.begin().await?;
        if spend_attempt {
            // Failing the run cancels steps that concurrent commits may hold: take the
            // connection exclusively first, as every run transition does.
            let connection_id: i64 = tx
                .scalar(
                    "SELECT connection_id FROM steps WHERE id = $1",
                    args![step_id],
                )
                .await?
                .ok_or(StoreError::UnknownStep(step_id))?;
            lock_connection(&mut tx, connection_id, Lock::Exclusive).await?;
        }
        let spent: Option<(i64, String, String)> = tx
            .fetch_optional(
                "UPDATE steps SET attempts = attempts + $2, last_error = $3, updated_at = $4
                 WHERE id = $1 AND status IN ('pending', 'leased')
                 RETURNING attempts, run_id, kind",
                args![step_id, i64::from(spend_attempt), reason, now],
            )
            .await?;
        let Some((attempts, run_id, kind)) = spent else {
            let status: StepStatus = tx
                .scalar("SELECT status FROM steps WHERE id = $1", args![step_id])
                .await?
                .ok_or(StoreError::UnknownStep(step_id))?;
            return Ok(RescheduleOutcome::NotOpen { status });
        };
        let attempts = count_u32(attempts);
        if spend_attempt && attempts > max_retries {
            tx.execute(
                "UPDATE steps SET status = 'failed', lease_until = NULL WHERE id = $1",
                args![step_id],
            )
            .await?;
            let run_reason = format!("{kind} step failed after {attempts} attempts: {reason}");
            let run = fail_run_locked(&mut tx, &run_id, &run_reason, now).await?;
            tx.commit().await?;
            tracing::warn!(
                step_id,
                run_id,
                attempts,
                reason,
                "retries exhausted, run failed"
            );
            return Ok(RescheduleOutcome::Exhausted { attempts, run });
        }
        tx.execute(
            "UPDATE steps SET status = 'pending', not_before = $2, lease_until = NULL
             WHERE id = $1",
            args![step_id, not_before],
        )
        .await?;
        tx.commit().await?;
        Ok(RescheduleOutcome::Rescheduled { attempts })
    }
}
