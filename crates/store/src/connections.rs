//! Connected channel accounts: connect, disconnect, and the runs they start.
//!
//! A connection is one channel account of one tenant, unique by (tenant, channel,
//! account id), kept across disconnects so that a re-connect finds the history it already
//! synced and adds to it without duplicates (C5). Its `generation` goes up on every
//! connect and disconnect; every step carries the generation it was created in, and a
//! step whose generation is no longer the connection's is fenced off (B3).
//!
//! # The connection row is the workflow's lock
//! Transitions that cancel steps (connect, disconnect, fail a run) take the connection
//! row exclusively; a commit takes it shared (exclusively only when it stores a listing
//! resume point). So a commit never interleaves with a cancellation of its own steps: it
//! runs wholly before (and its follow-ups are cancelled with the rest) or wholly after
//! (and finds itself fenced). Every transaction takes the connection row first, then
//! step rows, then the run row, so lock waits cannot form a cycle.

use backfill_policy::planner::{Plan, Resume};
use backfill_policy::{Channel, StepSpec};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;

use crate::Store;
use crate::db::{Arg, Dialect, Session, args};
use crate::error::{Result, StoreError};
use crate::pages::{ItemOwner, StepOwner, insert_steps, write_items};
use crate::runs::{cancel_older_runs, complete_run};
use crate::status::{ConnectionState, StartedBy};
use crate::steps::NewStep;

/// A connect or re-connect of a channel account (C1).
#[derive(Debug, Clone, Copy)]
pub struct Connect<'a> {
    pub tenant_id: &'a str,
    pub channel: Channel,
    pub account_id: &'a str,
    /// The channel credentials, as opaque JSON the connector serializes. Sealed at rest
    /// with the store's [`crate::CredentialKey`]; never in a step payload (B4).
    pub credentials: &'a SecretString,
    /// The policy snapshot the new generation runs under.
    pub policy: &'a serde_json::Value,
    /// IANA time zone for peak hours.
    pub timezone: &'a str,
    /// `T`: the moment of connecting, from the policy clock.
    pub connected_at: DateTime<Utc>,
    /// The planner's `first_steps` for this account.
    pub first_steps: &'a [StepSpec],
    /// The API request's trace context, carried by every step of the run.
    pub trace_context: Option<&'a str>,
}

/// The run a connect (or [`Store::start_run`]) started.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub run_id: String,
    pub connection_id: i64,
    pub generation: i64,
    pub connected_at: DateTime<Utc>,
    /// The run's first steps with their ids, to hand to the queue at once.
    pub steps: Vec<NewStep>,
    /// Runs of older generations this connect cancelled.
    pub superseded_runs: u64,
}

/// A connected account as the API and the worker see it. No credentials: see
/// [`Store::decrypt_credentials`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionInfo {
    pub id: i64,
    pub tenant_id: String,
    pub channel: Channel,
    pub account_id: String,
    pub state: ConnectionState,
    pub generation: i64,
    pub policy: serde_json::Value,
    pub timezone: String,
    pub connected_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a disconnect went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectOutcome {
    /// The account is disconnected: its running runs are cancelled, its open steps fenced.
    Disconnected {
        connection_id: i64,
        cancelled_runs: u64,
    },
    /// It was not connected; nothing changed.
    AlreadyDisconnected { connection_id: i64 },
}

/// A run started on a connected account outside a connect: a Zalo load-more (H6) or a
/// late arrival (H8).
#[derive(Debug, Clone, Copy)]
pub struct StartRun<'a> {
    pub tenant_id: &'a str,
    pub connection_id: i64,
    pub started_by: StartedBy,
    /// Items to store at once and the run's first steps (`follow_ups`): the planner's
    /// `late_arrival` plan, or a plan holding the `load_more` step.
    pub plan: &'a Plan,
    pub now: DateTime<Utc>,
    pub trace_context: Option<&'a str>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ConnectionRow {
    id: i64,
    tenant_id: String,
    channel: String,
    account_id: String,
    state: ConnectionState,
    generation: i64,
    #[sqlx(json)]
    policy: serde_json::Value,
    timezone: String,
    connected_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ConnectionRow {
    pub(crate) fn into_info(self) -> Result<ConnectionInfo> {
        let channel = parse_channel(&self.channel, self.id)?;
        Ok(ConnectionInfo {
            id: self.id,
            tenant_id: self.tenant_id,
            channel,
            account_id: self.account_id,
            state: self.state,
            generation: self.generation,
            policy: self.policy,
            timezone: self.timezone,
            connected_at: self.connected_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub(crate) fn parse_channel(text: &str, connection_id: i64) -> Result<Channel> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("channel of connection {connection_id}")))
}

/// The associated data credentials are sealed with: a ciphertext opens only on the row
/// of the account it was written for.
fn credentials_owner(tenant_id: &str, channel: Channel, account_id: &str) -> String {
    format!("connection:{tenant_id}:{channel}:{account_id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Commits: many at once, none while a transition holds the row.
    Shared,
    /// Transitions, and commits that update the row.
    Exclusive,
}

/// What a transaction needs to know about the connection it locked.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LockedConnection {
    pub tenant_id: String,
    pub channel: String,
    pub state: ConnectionState,
    pub generation: i64,
    pub connected_at: DateTime<Utc>,
}

/// Locks a connection row for the rest of the transaction (see the module doc). On
/// SQLite, `BEGIN IMMEDIATE` already holds the database's one write lock.
pub(crate) async fn lock_connection(
    session: &mut Session,
    connection_id: i64,
    lock: Lock,
) -> Result<LockedConnection> {
    let sql = match (session.dialect(), lock) {
        (Dialect::Postgres, Lock::Shared) => {
            "SELECT tenant_id, channel, state, generation, connected_at
             FROM connections WHERE id = $1 FOR SHARE"
        }
        (Dialect::Postgres, Lock::Exclusive) => {
            "SELECT tenant_id, channel, state, generation, connected_at
             FROM connections WHERE id = $1 FOR UPDATE"
        }
        (Dialect::Sqlite, _) => {
            "SELECT tenant_id, channel, state, generation, connected_at
             FROM connections WHERE id = $1"
        }
    };
    session
        .fetch_optional(sql, args![connection_id])
        .await?
        .ok_or(StoreError::UnknownConnection(connection_id))
}

/// What a new run is and where its steps come from.
struct Opening<'a> {
    connection_id: i64,
    tenant_id: &'a str,
    channel: Channel,
    generation: i64,
    started_by: StartedBy,
    connected_at: DateTime<Utc>,
    now: DateTime<Utc>,
    trace_context: Option<&'a str>,
}

/// Inserts a running run, the items it starts with (a late arrival's conversation and
/// message), and its first steps; a run with no step completes at once.
async fn open_run(
    session: &mut Session,
    opening: Opening<'_>,
    items: Option<&Plan>,
    first_steps: &[StepSpec],
) -> Result<(String, Vec<NewStep>)> {
    let run_id = uuid::Uuid::new_v4().to_string();
    session
        .execute(
            "INSERT INTO runs (id, connection_id, tenant_id, generation, started_by, status,
                               connected_at, started_at, open_steps, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, 0, $7)",
            args![
                &run_id,
                opening.connection_id,
                opening.tenant_id,
                opening.generation,
                opening.started_by,
                opening.connected_at,
                opening.now,
            ],
        )
        .await?;
    if let Some(plan) = items {
        let owner = ItemOwner {
            connection_id: opening.connection_id,
            run_id: Some(&run_id),
            now: opening.now,
        };
        write_items(
            session,
            owner,
            &plan.conversations,
            &plan.messages,
            &plan.posts,
            &plan.comments,
        )
        .await?;
    }
    let owner = StepOwner {
        run_id: &run_id,
        connection_id: opening.connection_id,
        tenant_id: opening.tenant_id,
        channel: opening.channel,
        generation: opening.generation,
        trace_context: opening.trace_context,
        now: opening.now,
    };
    let steps = insert_steps(session, owner, first_steps).await?;
    if steps.is_empty() {
        complete_run(session, &run_id, opening.now).await?;
    } else {
        // A run that opens with no slice step (a load-more, say) has its slice complete
        // from the start: only the close of a slice step checks it later (`close_step`).
        let slice_completed_at = (!steps
            .iter()
            .any(|s| s.spec.priority == backfill_policy::Priority::Slice))
        .then_some(opening.now);
        session
            .execute(
                "UPDATE runs SET open_steps = $2, slice_completed_at = $3 WHERE id = $1",
                args![
                    &run_id,
                    i64::try_from(steps.len()).expect("step count fits in i64"),
                    slice_completed_at
                ],
            )
            .await?;
    }
    Ok((run_id, steps))
}

impl Store {
    /// Connects or re-connects an account and starts its sync (C1), in one transaction:
    /// the connection is upserted as connected with the next generation and freshly sealed
    /// credentials; every running run of an older generation is cancelled with its open
    /// steps ("superseded by re-connect", B3); the new run and its first steps are
    /// inserted.
    pub async fn connect_account(&self, connect: &Connect<'_>) -> Result<RunInfo> {
        let Connect {
            tenant_id,
            channel,
            account_id,
            connected_at,
            ..
        } = *connect;
        let sealed = self.key.seal(
            connect.credentials,
            &credentials_owner(tenant_id, channel, account_id),
        );
        let mut tx = self.pools.begin().await?;
        let tenant: Option<String> = tx
            .scalar("SELECT id FROM tenants WHERE id = $1", args![tenant_id])
            .await?;
        if tenant.is_none() {
            return Err(StoreError::UnknownTenant(tenant_id.to_owned()));
        }
        // The upsert row-locks the connection (exclusively) until commit.
        let (connection_id, generation): (i64, i64) = tx
            .fetch_one(
                "INSERT INTO connections (tenant_id, channel, account_id, state, generation,
                     credentials, policy, timezone, connected_at, created_at, updated_at)
                 VALUES ($1, $2, $3, 'connected', 1, $4, $5, $6, $7, $7, $7)
                 ON CONFLICT (tenant_id, channel, account_id) DO UPDATE SET
                     state = 'connected',
                     generation = connections.generation + 1,
                     credentials = excluded.credentials,
                     policy = excluded.policy,
                     timezone = excluded.timezone,
                     connected_at = excluded.connected_at,
                     listing_resume = NULL,
                     updated_at = excluded.updated_at
                 RETURNING id, generation",
                args![
                    tenant_id,
                    channel.as_str(),
                    account_id,
                    sealed,
                    Arg::json(connect.policy),
                    connect.timezone,
                    connected_at,
                ],
            )
            .await?;
        let superseded_runs = cancel_older_runs(
            &mut tx,
            connection_id,
            generation,
            "superseded by re-connect",
            connected_at,
        )
        .await?;
        let opening = Opening {
            connection_id,
            tenant_id,
            channel,
            generation,
            started_by: StartedBy::Connect,
            connected_at,
            now: connected_at,
            trace_context: connect.trace_context,
        };
        let (run_id, steps) = open_run(&mut tx, opening, None, connect.first_steps).await?;
        tx.commit().await?;
        tracing::info!(
            tenant_id,
            %channel,
            connection_id,
            generation,
            run_id,
            superseded_runs,
            "account connected"
        );
        Ok(RunInfo {
            run_id,
            connection_id,
            generation,
            connected_at,
            steps,
            superseded_runs,
        })
    }

    /// Disconnects an account (B3): the next generation, its credentials dropped (they
    /// are useless now and a liability kept), its running runs cancelled with their open
    /// steps ("disconnected").
    pub async fn disconnect_account(
        &self,
        tenant_id: &str,
        channel: Channel,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<DisconnectOutcome> {
        let mut tx = self.pools.begin().await?;
        let bumped: Option<(i64, i64)> = tx
            .fetch_optional(
                "UPDATE connections
                 SET state = 'disconnected', generation = generation + 1, credentials = NULL,
                     updated_at = $4
                 WHERE tenant_id = $1 AND channel = $2 AND account_id = $3
                   AND state = 'connected'
                 RETURNING id, generation",
                args![tenant_id, channel.as_str(), account_id, now],
            )
            .await?;
        let Some((connection_id, generation)) = bumped else {
            let known: Option<i64> = tx
                .scalar(
                    "SELECT id FROM connections
                     WHERE tenant_id = $1 AND channel = $2 AND account_id = $3",
                    args![tenant_id, channel.as_str(), account_id],
                )
                .await?;
            return match known {
                Some(connection_id) => Ok(DisconnectOutcome::AlreadyDisconnected { connection_id }),
                None => Err(StoreError::UnknownAccount {
                    tenant_id: tenant_id.to_owned(),
                    channel,
                    account_id: account_id.to_owned(),
                }),
            };
        };
        let cancelled_runs =
            cancel_older_runs(&mut tx, connection_id, generation, "disconnected", now).await?;
        tx.commit().await?;
        tracing::info!(tenant_id, %channel, connection_id, cancelled_runs, "account disconnected");
        Ok(DisconnectOutcome::Disconnected {
            connection_id,
            cancelled_runs,
        })
    }

    /// Starts a run on a connected account outside a connect — a load-more (H6) or a late
    /// arrival (H8) — in the account's current generation: stores the plan's items and
    /// inserts its follow-ups as the run's first steps, in one transaction.
    pub async fn start_run(&self, start: &StartRun<'_>) -> Result<RunInfo> {
        let StartRun {
            tenant_id,
            connection_id,
            plan,
            now,
            ..
        } = *start;
        let lock = if plan.resume.is_some() {
            Lock::Exclusive
        } else {
            Lock::Shared
        };
        let mut tx = self.pools.begin().await?;
        let connection = lock_connection(&mut tx, connection_id, lock).await?;
        if connection.tenant_id != tenant_id {
            return Err(StoreError::UnknownConnection(connection_id));
        }
        if connection.state != ConnectionState::Connected {
            return Err(StoreError::Disconnected(connection_id));
        }
        let opening = Opening {
            connection_id,
            tenant_id,
            channel: parse_channel(&connection.channel, connection_id)?,
            generation: connection.generation,
            started_by: start.started_by,
            connected_at: connection.connected_at,
            now,
            trace_context: start.trace_context,
        };
        let (run_id, steps) = open_run(&mut tx, opening, Some(plan), &plan.follow_ups).await?;
        if let Some(resume) = &plan.resume {
            store_resume(&mut tx, connection_id, resume, now).await?;
        }
        tx.commit().await?;
        Ok(RunInfo {
            run_id,
            connection_id,
            generation: connection.generation,
            connected_at: connection.connected_at,
            steps,
            superseded_runs: 0,
        })
    }

    /// The account's credentials, decrypted, for the connector's call. Never log them.
    pub async fn decrypt_credentials(&self, connection_id: i64) -> Result<SecretString> {
        let row: Option<(String, String, String, Option<Vec<u8>>)> = self
            .pools
            .read()
            .await?
            .fetch_optional(
                "SELECT tenant_id, channel, account_id, credentials FROM connections WHERE id = $1",
                args![connection_id],
            )
            .await?;
        let (tenant_id, channel, account_id, sealed) =
            row.ok_or(StoreError::UnknownConnection(connection_id))?;
        let sealed = sealed.ok_or(StoreError::Disconnected(connection_id))?;
        let owner = credentials_owner(
            &tenant_id,
            parse_channel(&channel, connection_id)?,
            &account_id,
        );
        self.key.open(&sealed, "credentials", &owner)
    }

    /// One of `tenant_id`'s accounts.
    pub async fn connection(
        &self,
        tenant_id: &str,
        channel: Channel,
        account_id: &str,
    ) -> Result<Option<ConnectionInfo>> {
        let row: Option<ConnectionRow> = self
            .pools
            .read()
            .await?
            .fetch_optional(
                "SELECT id, tenant_id, channel, account_id, state, generation, policy, timezone,
                        connected_at, created_at, updated_at
                 FROM connections WHERE tenant_id = $1 AND channel = $2 AND account_id = $3",
                args![tenant_id, channel.as_str(), account_id],
            )
            .await?;
        row.map(ConnectionRow::into_info).transpose()
    }

    /// Every account of `tenant_id`, connected or not.
    pub async fn connections(&self, tenant_id: &str) -> Result<Vec<ConnectionInfo>> {
        let rows: Vec<ConnectionRow> = self
            .pools
            .read()
            .await?
            .fetch_all(
                "SELECT id, tenant_id, channel, account_id, state, generation, policy, timezone,
                        connected_at, created_at, updated_at
                 FROM connections WHERE tenant_id = $1 ORDER BY id",
                args![tenant_id],
            )
            .await?;
        rows.into_iter().map(ConnectionRow::into_info).collect()
    }

    /// Where the account's conversation listing stopped on a cap (H6: where a load-more
    /// continues), if it did.
    pub async fn connection_resume(
        &self,
        tenant_id: &str,
        connection_id: i64,
    ) -> Result<Option<Resume>> {
        let resume: Option<Option<sqlx::types::Json<Resume>>> = self
            .pools
            .read()
            .await?
            .scalar(
                "SELECT listing_resume FROM connections WHERE id = $1 AND tenant_id = $2",
                args![connection_id, tenant_id],
            )
            .await?;
        let resume = resume.ok_or(StoreError::UnknownConnection(connection_id))?;
        Ok(resume.map(|json| json.0))
    }
}

pub(crate) async fn store_resume(
    session: &mut Session,
    connection_id: i64,
    resume: &Resume,
    now: DateTime<Utc>,
) -> Result<()> {
    session
        .execute(
            "UPDATE connections SET listing_resume = $2, updated_at = $3 WHERE id = $1",
            args![connection_id, Arg::json(resume), now],
        )
        .await?;
    Ok(())
}
