//! Claiming due steps for the queue: fair, bounded, leased.
//!
//! The dispatcher moves steps from the database to the queue in bounded batches
//! (apalis-redis jams with thousands of due tasks; DESIGN decision 1). A claimed step is
//! `leased` until `lease_until`; if its task is lost — a crash between the claim and the
//! push, a worker killed mid-step (B1) — the lease expires and the step is due again.
//! Executing it twice is harmless: the second commit finds it done.
//!
//! # Fairness (DESIGN decision 4, C6)
//! A run's backlog waits until its slice is complete: within an account, the slice takes
//! the rate-limit budget first (S4), instead of sharing it with a post listing or a
//! comment walk that was due at the same moment. Due steps are ranked within their
//! account (slice first, then by due time), then
//! within their tenant by that rank (the tenant's accounts take turns), and the batch
//! takes the slice of every account before any backlog, then the first turn of every
//! tenant, then the second... One account with 100,000 due steps gets one turn per round
//! like any other, so it cannot hold back another tenant's first page. No account gets
//! more than `per_account_in_flight` steps leased at once, which also bounds how hard one
//! account's rate limit is pushed; and no channel more than its
//! [`ClaimLimits::per_channel_in_flight`]: steps beyond what the channel's app-wide budget
//! serves in a moment would only be turned away by the limiter and come back, again and
//! again, taking workers' time from the other channels' slices (C6, C7).
//!
//! # Several dispatchers
//! On PostgreSQL, dispatchers take turns on a transaction-scoped advisory lock, so the
//! per-account cap counts every claim made before; the candidates are then locked
//! `FOR UPDATE SKIP LOCKED`, which passes over a step a worker is committing right now
//! instead of waiting for it. On SQLite the single writer does both jobs.

use backfill_policy::{Channel, Priority};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::connections::parse_channel;
use crate::db::{Arg, Dialect, args};
use crate::error::Result;
use crate::steps::{priority_code, priority_from_code};

/// Bounds of one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimits {
    /// At most this many steps per claim.
    pub batch: u32,
    /// At most this many steps of one account leased at any time.
    pub per_account_in_flight: u32,
    /// At most this many steps of each channel leased at any time, fleet-wide.
    pub per_channel_in_flight: ChannelCaps,
    /// How long a claimed step stays leased before it is due again. Longer than a step
    /// takes (one API call and one commit), short enough that a lost step is not missed
    /// for long.
    pub lease: TimeDelta,
}

/// A number per channel: how many of its steps may be leased at once, fleet-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelCaps {
    pub facebook: u32,
    pub instagram: u32,
    pub zalo: u32,
    pub shopee: u32,
}

impl ChannelCaps {
    /// No cap on any channel.
    pub const NONE: Self = Self {
        facebook: u32::MAX,
        instagram: u32::MAX,
        zalo: u32::MAX,
        shopee: u32::MAX,
    };

    pub fn of(&self, channel: Channel) -> u32 {
        match channel {
            Channel::Facebook => self.facebook,
            Channel::Instagram => self.instagram,
            Channel::Zalo => self.zalo,
            Channel::Shopee => self.shopee,
        }
    }
}

/// A step claimed for the queue. No payload and no credentials: the worker loads the
/// step by id (B4: nothing secret travels through the queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimedStep {
    pub step_id: i64,
    pub run_id: String,
    pub connection_id: i64,
    pub tenant_id: String,
    pub channel: Channel,
    pub kind: String,
    pub priority: Priority,
    pub trace_context: Option<String>,
    pub lease_until: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LeasedRow {
    id: i64,
    run_id: String,
    connection_id: i64,
    tenant_id: String,
    channel: String,
    kind: String,
    priority: i64,
    trace_context: Option<String>,
    lease_until: DateTime<Utc>,
}

/// An arbitrary constant: the advisory lock key dispatchers take turns on ("backfill").
const CLAIM_LOCK_KEY: i64 = 0x6261_636b_6669_6c6c;

/// The fair choice of due steps (see the module doc). `$1` now, `$2` per-account cap,
/// `$3` batch, `$4` … `$7` the Facebook, Instagram, Zalo and Shopee caps.
macro_rules! pick_due_steps {
    ($locking:literal) => {
        concat!(
            "WITH leased AS (
                 SELECT connection_id, channel, COUNT(*) AS leased
                 FROM steps
                 WHERE status = 'leased' AND lease_until > $1
                 GROUP BY connection_id, channel
             ),
             channel_leased AS (
                 SELECT channel, SUM(leased) AS leased FROM leased GROUP BY channel
             ),
             due AS (
                 SELECT id, connection_id, tenant_id, channel, priority,
                        ROW_NUMBER() OVER (PARTITION BY connection_id
                                           ORDER BY priority, not_before, id) AS account_turn
                 FROM steps
                 WHERE ((status = 'pending' AND not_before <= $1)
                        OR (status = 'leased' AND lease_until <= $1))
                   AND (priority = 0
                        OR EXISTS (SELECT 1 FROM runs
                                   WHERE runs.id = steps.run_id
                                     AND runs.slice_completed_at IS NOT NULL))
             ),
             allowed AS (
                 SELECT due.id, due.tenant_id, due.channel, due.priority,
                        ROW_NUMBER() OVER (PARTITION BY due.tenant_id
                                           ORDER BY due.priority, due.account_turn,
                                                    due.connection_id) AS tenant_turn
                 FROM due LEFT JOIN leased ON leased.connection_id = due.connection_id
                 WHERE due.account_turn <= $2 - COALESCE(leased.leased, 0)
             ),
             ranked AS (
                 SELECT allowed.*,
                        ROW_NUMBER() OVER (PARTITION BY allowed.channel
                                           ORDER BY allowed.priority, allowed.tenant_turn,
                                                    allowed.tenant_id, allowed.id) AS channel_turn
                 FROM allowed
             )
             SELECT steps.id
             FROM steps
             JOIN ranked ON ranked.id = steps.id
             LEFT JOIN channel_leased ON channel_leased.channel = ranked.channel
             WHERE ((steps.status = 'pending' AND steps.not_before <= $1)
                    OR (steps.status = 'leased' AND steps.lease_until <= $1))
               AND ranked.channel_turn <= (CASE ranked.channel
                                               WHEN 'facebook' THEN $4
                                               WHEN 'instagram' THEN $5
                                               WHEN 'zalo' THEN $6
                                               ELSE $7
                                           END) - COALESCE(channel_leased.leased, 0)
             ORDER BY ranked.priority, ranked.tenant_turn, ranked.tenant_id, ranked.id
             LIMIT $3 ",
            $locking
        )
    };
}

impl Store {
    /// Claims up to `limits.batch` due steps — pending and due, or leased with an expired
    /// lease — fairly across accounts and tenants, slice before backlog, and leases them
    /// until `now + limits.lease`. Returned in dispatch order.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limits: ClaimLimits,
    ) -> Result<Vec<ClaimedStep>> {
        let lease_until = now + limits.lease;
        let mut tx = self.pools.begin().await?;
        let pick = match tx.dialect() {
            Dialect::Postgres => {
                tx.execute("SELECT pg_advisory_xact_lock($1)", args![CLAIM_LOCK_KEY])
                    .await?;
                // The outer WHERE repeats the due condition so that a step committed
                // between this statement's snapshot and its row lock is re-checked on
                // its new version (READ COMMITTED) and passed over.
                pick_due_steps!("FOR UPDATE OF steps SKIP LOCKED")
            }
            Dialect::Sqlite => pick_due_steps!(""),
        };
        let picked: Vec<(i64,)> = tx
            .fetch_all(
                pick,
                args![
                    now,
                    limits.per_account_in_flight,
                    limits.batch,
                    limits.per_channel_in_flight.of(Channel::Facebook),
                    limits.per_channel_in_flight.of(Channel::Instagram),
                    limits.per_channel_in_flight.of(Channel::Zalo),
                    limits.per_channel_in_flight.of(Channel::Shopee),
                ],
            )
            .await?;
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = picked.into_iter().map(|(id,)| id).collect();
        let leased = lease_ids(&mut tx, &ids, lease_until, now).await?;
        tx.commit().await?;
        in_order(&ids, leased)
    }

    /// Puts a leased step back to pending at once (graceful shutdown: a step taken but
    /// not started). Returns whether it was leased.
    pub async fn release(&self, step_id: i64, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.pools.begin().await?;
        let released = tx
            .execute(
                "UPDATE steps SET status = 'pending', lease_until = NULL, updated_at = $2
                 WHERE id = $1 AND status = 'leased'",
                args![step_id, now],
            )
            .await?;
        tx.commit().await?;
        Ok(released == 1)
    }

    /// Extends a leased step's lease (a step that takes longer than its lease, e.g.
    /// waiting for a rate-limit token). Returns whether it was leased.
    pub async fn renew_lease(
        &self,
        step_id: i64,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pools.begin().await?;
        let renewed = tx
            .execute(
                "UPDATE steps SET lease_until = $2, updated_at = $3
                 WHERE id = $1 AND status = 'leased'",
                args![step_id, lease_until, now],
            )
            .await?;
        tx.commit().await?;
        Ok(renewed == 1)
    }
}

/// What a lease returns: a [`LeasedRow`].
macro_rules! returning_leased {
    () => {
        "RETURNING id, run_id, connection_id, tenant_id, channel, kind, priority, trace_context, lease_until"
    };
}

/// Leases, inside a committing transaction, the run's next due steps ([`crate::HandOff`]):
/// pending and due at `now`, slice first, then by due time and age — the order of the
/// claim's account turn — and backlog only once the slice is complete (`backlog_open`).
/// A step a dispatcher is claiming at this moment is passed over, not waited for.
pub(crate) async fn lease_next_due_of_run(
    tx: &mut crate::db::Session,
    run_id: &str,
    backlog_open: bool,
    hand_off: crate::HandOff,
    now: DateTime<Utc>,
) -> Result<Vec<ClaimedStep>> {
    if hand_off.max == 0 {
        return Ok(Vec::new());
    }
    macro_rules! hand_off_sql {
        ($locking:literal) => {
            concat!(
                "UPDATE steps SET status = 'leased', lease_until = $3, updated_at = $4
                 WHERE id IN (SELECT id FROM steps
                              WHERE run_id = $1 AND status = 'pending' AND not_before <= $4
                                AND priority <= $5
                              ORDER BY priority, not_before, id
                              LIMIT $2 ",
                $locking,
                ")\n",
                returning_leased!()
            )
        };
    }
    let sql = match tx.dialect() {
        Dialect::Postgres => hand_off_sql!("FOR UPDATE SKIP LOCKED"),
        Dialect::Sqlite => hand_off_sql!(""),
    };
    let highest_priority = if backlog_open {
        Priority::Backlog
    } else {
        Priority::Slice
    };
    let mut leased: Vec<LeasedRow> = tx
        .fetch_all(
            sql,
            args![
                run_id,
                hand_off.max,
                now + hand_off.lease,
                now,
                priority_code(highest_priority)
            ],
        )
        .await?;
    // RETURNING has no order: slice first, then oldest first, as they are pushed together.
    leased.sort_by_key(|row| (row.priority, row.id));
    leased.into_iter().map(claimed).collect()
}

/// Marks `ids` leased until `lease_until` and returns what it leased (a claim's pick,
/// checked under the claim's own locks).
async fn lease_ids(
    tx: &mut crate::db::Session,
    ids: &[i64],
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<LeasedRow>> {
    macro_rules! lease_sql {
        ($id_match:literal) => {
            concat!(
                "UPDATE steps SET status = 'leased', lease_until = $2, updated_at = $3
                 WHERE ",
                $id_match,
                "\n",
                returning_leased!()
            )
        };
    }
    let sql = match tx.dialect() {
        Dialect::Postgres => lease_sql!("id = ANY($1)"),
        Dialect::Sqlite => lease_sql!("id IN (SELECT value FROM json_each($1))"),
    };
    tx.fetch_all(
        sql,
        vec![
            Arg::Ids(ids.to_vec()),
            Arg::from(lease_until),
            Arg::from(now),
        ],
    )
    .await
}

/// RETURNING has no order: restores the order of `ids` (the fair order of the pick).
fn in_order(ids: &[i64], mut leased: Vec<LeasedRow>) -> Result<Vec<ClaimedStep>> {
    let position: std::collections::HashMap<i64, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    leased.sort_by_key(|row| position[&row.id]);
    leased.into_iter().map(claimed).collect()
}

fn claimed(row: LeasedRow) -> Result<ClaimedStep> {
    Ok(ClaimedStep {
        step_id: row.id,
        channel: parse_channel(&row.channel, row.connection_id)?,
        run_id: row.run_id,
        connection_id: row.connection_id,
        tenant_id: row.tenant_id,
        kind: row.kind,
        priority: priority_from_code(row.priority)?,
        trace_context: row.trace_context,
        lease_until: row.lease_until,
    })
}
