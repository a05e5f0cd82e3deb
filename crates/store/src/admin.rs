//! Reads for operators and the producer's own housekeeping, outside any tenant's API:
//! readiness, the runs still running (periodic progress events), one run's progress by id
//! (`backfill status`), when a run's next step falls due (`backfill sync` tells "deferred"
//! from "busy"), and every channel id an account holds (checking a sync against ground
//! truth).

use std::collections::BTreeSet;

use backfill_policy::Channel;
use chrono::{DateTime, Utc};

use crate::Store;
use crate::db::args;
use crate::error::{Result, StoreError};
use crate::runs::{Progress, progress_of};

/// A run that is still running, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunningRun {
    pub tenant_id: String,
    pub run_id: String,
}

/// The channel ids of everything stored for one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncedIds {
    pub conversations: BTreeSet<String>,
    pub messages: BTreeSet<String>,
    /// The subset of `messages` stored as unavailable placeholders.
    pub unavailable: BTreeSet<String>,
    pub posts: BTreeSet<String>,
    pub comments: BTreeSet<String>,
}

impl Store {
    /// One round trip to the database: readiness probes.
    pub async fn ping(&self) -> Result<()> {
        let one: Option<i64> = self
            .pools
            .read()
            .await?
            .scalar("SELECT CAST(1 AS BIGINT)", args![])
            .await?;
        one.map(drop)
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// Up to `limit` running runs, oldest first.
    pub async fn running_runs(&self, limit: u32) -> Result<Vec<RunningRun>> {
        self.pools
            .read()
            .await?
            .fetch_all(
                "SELECT tenant_id, id AS run_id FROM runs WHERE status = 'running'
                 ORDER BY started_at, id LIMIT $1",
                args![limit],
            )
            .await
    }

    /// The progress of any tenant's run: for operators, who read the database anyway.
    /// Tenants read theirs through [`Store::progress`].
    pub async fn run_progress(&self, run_id: &str, now: DateTime<Utc>) -> Result<Option<Progress>> {
        let mut session = self.pools.read().await?;
        progress_of(&mut session, run_id, None, now).await
    }

    /// When the earliest pending step of the run may run; `None` when none is pending.
    pub async fn next_due(&self, run_id: &str) -> Result<Option<DateTime<Utc>>> {
        self.pools
            .read()
            .await?
            .scalar(
                "SELECT MIN(not_before) FROM steps WHERE run_id = $1 AND status = 'pending'",
                args![run_id],
            )
            .await
            .map(Option::flatten)
    }

    /// Every channel id stored for one of `tenant_id`'s accounts.
    pub async fn synced_ids(
        &self,
        tenant_id: &str,
        channel: Channel,
        account_id: &str,
    ) -> Result<SyncedIds> {
        let connection = self
            .connection(tenant_id, channel, account_id)
            .await?
            .ok_or_else(|| StoreError::UnknownAccount {
                tenant_id: tenant_id.to_owned(),
                channel,
                account_id: account_id.to_owned(),
            })?;
        let mut session = self.pools.read().await?;
        let mut ids = async |sql: &'static str| -> Result<BTreeSet<String>> {
            let rows: Vec<(String,)> = session.fetch_all(sql, args![connection.id]).await?;
            Ok(rows.into_iter().map(|(id,)| id).collect())
        };
        Ok(SyncedIds {
            conversations: ids("SELECT channel_id FROM conversations WHERE connection_id = $1")
                .await?,
            messages: ids("SELECT channel_id FROM messages WHERE connection_id = $1").await?,
            unavailable: ids(
                "SELECT channel_id FROM messages WHERE connection_id = $1 AND unavailable",
            )
            .await?,
            posts: ids("SELECT channel_id FROM posts WHERE connection_id = $1").await?,
            comments: ids("SELECT channel_id FROM comments WHERE connection_id = $1").await?,
        })
    }
}
