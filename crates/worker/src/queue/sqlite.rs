//! apalis-sqlite, for the embedded single-process mode.
//!
//! The queue gets a file of its own: apalis-sqlite runs its own sqlx migrations, which
//! refuse to share `_sqlx_migrations` with the store's, and its setup switches the file to
//! WAL with `synchronous = OFF` (tooling.md). Losing the last queue writes in a power cut is
//! harmless here: the store's leases re-dispatch any step the queue forgot.
//!
//! Tables (apalis-sqlite 1.0): `Jobs` (one row per task; `job_type` is the queue name;
//! `status` Pending → Queued (fetched) → Done once acked) and `Workers`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apalis::prelude::{
    BackendExt, Strategy, TaskBuilder, WorkerBuilder, WorkerBuilderExt, WorkerContext,
};
use apalis_sqlite::{Config, SqliteStorage};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use super::wake::{self, Wakeups};
use super::{BoxError, QueueDepth, QueueError, QueueSettings, Session, StepService};

#[derive(Clone, Debug)]
pub(super) struct SqliteQueue {
    pool: SqlitePool,
    path: PathBuf,
    queue: String,
    config: Config,
    /// Rows of workers silent for this long, and holding nothing, are deleted: apalis
    /// never deletes a dead worker's row, and every start has a new name (pitfall 8).
    stale_worker_after: Duration,
}

/// Two connects in one process (the dispatcher's queue and the workers) must not run the
/// migrations at the same moment on a fresh file.
static SETUP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl SqliteQueue {
    pub(super) async fn connect(
        path: &Path,
        queue: &str,
        settings: &QueueSettings,
    ) -> Result<Self, QueueError> {
        let failed = |operation, cause: sqlx::Error| failure(path, operation, cause);
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| failed("open", e))?;
        {
            let _one_at_a_time = SETUP.lock().await;
            SqliteStorage::setup(&pool).await.map_err(|cause| {
                failure(
                    path,
                    "migrate (the queue needs a SQLite file of its own)",
                    cause,
                )
            })?;
        }
        Ok(Self {
            pool,
            path: path.to_owned(),
            queue: queue.to_owned(),
            config: apalis_config(queue, settings),
            stale_worker_after: settings.orphan_after * 10,
        })
    }

    fn error(&self, operation: &'static str, cause: impl Into<BoxError>) -> QueueError {
        failure(&self.path, operation, cause)
    }

    /// `wake`: signal this process's idle workers of the queue (`wake.rs`).
    pub(super) async fn push(&self, payloads: Vec<Vec<u8>>, wake: bool) -> Result<(), QueueError> {
        let tasks: Vec<_> = payloads
            .into_iter()
            .map(|payload| TaskBuilder::new(payload).build())
            .collect();
        let mut tx = self.pool.begin().await.map_err(|e| self.error("push", e))?;
        apalis_sqlite::queries::push_tasks(&mut *tx, &self.queue, &tasks)
            .await
            .map_err(|e| self.error("push", e))?;
        tx.commit().await.map_err(|e| self.error("push", e))?;
        if wake {
            wake::signal_local(&self.wake_key());
        }
        Ok(())
    }

    /// Sessions of this queue in this process share the key (`wake.rs`).
    fn wake_key(&self) -> String {
        format!("{}#{}", self.path.display(), self.queue)
    }

    pub(super) async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let (scheduled, active): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(run_at > ?2), 0), COALESCE(SUM(run_at <= ?2), 0) \
             FROM Jobs WHERE job_type = ?1 AND status = 'Pending'",
        )
        .bind(&self.queue)
        .bind(unix_now())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.error("depth", e))?;
        Ok(QueueDepth {
            scheduled: scheduled.unsigned_abs(),
            active: active.unsigned_abs(),
        })
    }

    pub(super) fn session(
        &self,
        name: &str,
        settings: &QueueSettings,
        service: StepService,
    ) -> Session {
        let wakeups = Wakeups::default();
        wake::register_local(&self.wake_key(), &wakeups);
        let storage = SqliteStorage::<Value>::new(&self.pool)
            .with_config(self.config.clone())
            .poll_with_strategy(
                Strategy::new()
                    .stream(wakeups)
                    .interval(settings.poll_interval), // pitfall 9
            );
        let ctx = WorkerContext::new(name);
        let worker = WorkerBuilder::new(&ctx)
            .backend(storage)
            .concurrency(settings.concurrency)
            .build(move |payload: Value| service.clone().run(payload));
        Session {
            ctx,
            events: worker.stream().map_ok(drop).boxed(),
            _wakeups: None,
        }
    }

    pub(super) async fn retire(&self, worker: &str) -> Result<u64, QueueError> {
        let failed = |e: sqlx::Error| self.error("retire worker", e);
        let mut tx = self.pool.begin().await.map_err(failed)?;
        // A payload that is not JSON fails the worker at every fetch: delete it instead.
        sqlx::query(
            "DELETE FROM Jobs WHERE job_type = ?1 AND lock_by = ?2 \
             AND status IN ('Queued', 'Running') AND NOT json_valid(CAST(job AS TEXT))",
        )
        .bind(&self.queue)
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        let released = sqlx::query(
            "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
             WHERE job_type = ?1 AND lock_by = ?2 AND status IN ('Queued', 'Running')",
        )
        .bind(&self.queue)
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(failed)?
        .rows_affected();
        sqlx::query(
            "DELETE FROM Jobs WHERE job_type = ?1 AND lock_by = ?2 AND status IN ('Done', 'Killed')",
        )
        .bind(&self.queue)
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        // `Jobs.lock_by` references `Workers.id`: keep a row something still points at.
        sqlx::query(
            "DELETE FROM Workers WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM Jobs WHERE lock_by = ?1)",
        )
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        Ok(released)
    }

    /// Deletes finished rows, and rows of workers long gone that hold nothing.
    pub(super) async fn housekeeping(&self) -> Result<(), QueueError> {
        let failed = |e: sqlx::Error| self.error("housekeeping", e);
        let removed =
            sqlx::query("DELETE FROM Jobs WHERE job_type = ?1 AND status IN ('Done', 'Killed')")
                .bind(&self.queue)
                .execute(&self.pool)
                .await
                .map_err(failed)?
                .rows_affected();
        let stale_before = unix_now() - self.stale_worker_after.as_secs() as i64;
        sqlx::query(
            "DELETE FROM Workers WHERE worker_type = ?1 AND last_seen < ?2 \
             AND NOT EXISTS (SELECT 1 FROM Jobs WHERE Jobs.lock_by = Workers.id)",
        )
        .bind(&self.queue)
        .bind(stale_before)
        .execute(&self.pool)
        .await
        .map_err(failed)?;
        if removed > 0 {
            tracing::trace!(removed, "queue housekeeping");
        }
        Ok(())
    }
}

/// The same choices as on Redis (see `redis::apalis_config`); apalis-sqlite has no pubsub.
fn apalis_config(queue: &str, settings: &QueueSettings) -> Config {
    Config::default()
        .queue(queue) // pitfall 1
        .batch_size(1) // pitfall 7
        .heartbeat_interval(settings.heartbeat_interval()) // pitfall 6
        .missed_heartbeats(super::MISSED_HEARTBEATS as usize)
        // Without results there is no ack: a finished row would stay `Queued` under this
        // worker and run again once the worker is declared dead. `housekeeping` deletes done rows.
        .persist_results(true)
        .lock_tasks(false)
}

fn failure(path: &Path, operation: &'static str, cause: impl Into<BoxError>) -> QueueError {
    QueueError::Sqlite {
        path: path.display().to_string(),
        operation,
        cause: cause.into(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}
