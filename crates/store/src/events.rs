//! The outbox of run events (S5).
//!
//! `run.completed` and `run.failed` are written by the transaction that makes the
//! transition, so there is no window in which a run finished but its event is lost, nor
//! an event for a transition that rolled back. A publisher reads the unpublished events,
//! delivers them (webhook, queue) and stamps them; a crash between delivery and stamp
//! delivers again, so consumers de-duplicate on the event id: at least once, by design.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Store;
use crate::db::{Arg, Dialect, Session, args};
use crate::error::{Result, StoreError};
use crate::runs::announce;
use crate::status::EventKind;

/// One event of the outbox. The payload of run events is the run's [`crate::Progress`]
/// at the moment of the event.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub tenant_id: String,
    pub run_id: String,
    pub kind: EventKind,
    #[sqlx(json)]
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

pub(crate) async fn insert_event<T: Serialize>(
    session: &mut Session,
    tenant_id: &str,
    run_id: &str,
    kind: EventKind,
    payload: &T,
    now: DateTime<Utc>,
) -> Result<i64> {
    session
        .scalar(
            "INSERT INTO events (tenant_id, run_id, kind, payload, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            args![tenant_id, run_id, kind, Arg::json(payload), now],
        )
        .await?
        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
}

impl Store {
    /// Up to `limit` events not yet published, oldest first.
    pub async fn unpublished_events(&self, limit: u32) -> Result<Vec<Event>> {
        self.pools
            .read()
            .await?
            .fetch_all(
                "SELECT id, tenant_id, run_id, kind, payload, created_at, published_at
                 FROM events WHERE published_at IS NULL ORDER BY id LIMIT $1",
                args![limit],
            )
            .await
    }

    /// Stamps events as published; returns how many were not stamped before.
    pub async fn mark_published(&self, event_ids: &[i64], now: DateTime<Utc>) -> Result<u64> {
        if event_ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pools.begin().await?;
        let sql = match tx.dialect() {
            Dialect::Postgres => {
                "UPDATE events SET published_at = $2
                 WHERE id = ANY($1) AND published_at IS NULL"
            }
            Dialect::Sqlite => {
                "UPDATE events SET published_at = $2
                 WHERE id IN (SELECT value FROM json_each($1)) AND published_at IS NULL"
            }
        };
        let stamped = tx
            .execute(sql, vec![Arg::Ids(event_ids.to_vec()), Arg::from(now)])
            .await?;
        tx.commit().await?;
        Ok(stamped)
    }

    /// Writes a `run.progress` event with the run's progress now (for periodic progress
    /// notices while a long back-fill runs).
    pub async fn append_progress_event(&self, run_id: &str, now: DateTime<Utc>) -> Result<i64> {
        let mut tx = self.pools.begin().await?;
        let id = announce(&mut tx, run_id, EventKind::RunProgress, now).await?;
        tx.commit().await?;
        Ok(id)
    }
}
