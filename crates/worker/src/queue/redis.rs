//! apalis-redis, for the fleet.
//!
//! Keys of a queue `q` (apalis-redis 1.0): `q:scheduled` (ZSET, every push lands here),
//! `q:active` (LIST, due and waiting), `q:inflight:<worker>` (SET, what a worker holds),
//! `q:workers` (ZSET, heartbeats), `q:workers:metadata:<worker>`, `q:data` (HASH, payloads),
//! `q:meta:<id>` (HASH per task), `q:done` / `q:dead` (SETs of finished ids), `q:signal`.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script};
use apalis::prelude::{
    BackendExt, Strategy, TaskBuilder, WorkerBuilder, WorkerBuilderExt, WorkerContext,
};
use apalis_redis::{Config, RedisStorage};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::wake::{self, Wakeups};
use super::{
    AbortOnDrop, BoxError, QueueDepth, QueueError, QueueSettings, Session, StepService, redact_url,
};

#[derive(Clone)]
pub(super) struct RedisQueue {
    /// For each worker session's wake-up subscription (`wake.rs`).
    client: Client,
    conn: ConnectionManager,
    wake_channel: String,
    config: Config,
    /// Finished tasks' metadata keys are named `<this>:<task id>`.
    meta_prefix: String,
    /// How long a worker's metadata hash outlives its last refresh: apalis never deletes
    /// the hash of a worker that died, and every start has a new name (pitfall 8).
    worker_metadata_ttl: Duration,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("queue", &self.config.queue.as_ref())
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    pub(super) async fn connect(
        url: &str,
        queue: &str,
        settings: &QueueSettings,
    ) -> Result<Self, QueueError> {
        let unreachable = |cause| QueueError::RedisUnreachable {
            url: redact_url(url),
            cause,
        };
        let client = Client::open(url).map_err(unreachable)?;
        // apalis's own Lua calls are short; a slow answer is a sick Redis, and the worker's
        // restart path copes with it better than a stalled heartbeat would.
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let mut conn = client
            .get_connection_manager_with_config(manager_config)
            .await
            .map_err(unreachable)?;
        ::redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(unreachable)?;

        let config = apalis_config(queue, settings);
        Ok(Self {
            client,
            conn,
            wake_channel: wake::channel(queue),
            meta_prefix: config.job_meta_hash(),
            worker_metadata_ttl: settings.orphan_after * 10,
            config,
        })
    }

    fn error(&self, operation: &'static str, cause: impl Into<BoxError>) -> QueueError {
        QueueError::Redis {
            queue: self.config.queue.to_string(),
            operation,
            cause: cause.into(),
        }
    }

    /// `wake`: signal idle workers (`wake.rs`).
    pub(super) async fn push(&self, payloads: Vec<Vec<u8>>, wake: bool) -> Result<(), QueueError> {
        // Due now: apalis-redis stamps the current second and adds the id to `q:scheduled`;
        // the next poll of any worker promotes it (pitfall 2).
        let tasks: Vec<_> = payloads
            .into_iter()
            .map(|payload| TaskBuilder::new(payload).build())
            .collect();
        let mut conn = self.conn.clone();
        apalis_redis::queries::push_tasks(&mut conn, &self.config, &tasks)
            .await
            .map_err(|e| self.error("push", e))?;
        if !wake {
            return Ok(());
        }
        // A hint for idle workers; they poll anyway, so a lost one costs an interval.
        if let Err(error) = ::redis::cmd("PUBLISH")
            .arg(&self.wake_channel)
            .arg(1)
            .query_async::<i64>(&mut conn)
            .await
        {
            tracing::debug!(%error, "could not signal the pushed tasks; workers find them on their next poll");
        }
        Ok(())
    }

    pub(super) async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let (scheduled, active): (u64, u64) = ::redis::pipe()
            .zcard(self.config.scheduled_jobs_set())
            .llen(self.config.active_jobs_list())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.error("depth", e))?;
        Ok(QueueDepth { scheduled, active })
    }

    pub(super) fn session(
        &self,
        name: &str,
        settings: &QueueSettings,
        service: StepService,
    ) -> Session {
        // `Value`, not `StepJob`: decoding is the service's job (see the module docs).
        let wakeups = Wakeups::default();
        let subscription =
            wake::subscribe(self.client.clone(), self.config.queue.as_ref(), &wakeups);
        let storage = RedisStorage::<Value>::new(self.conn.clone())
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
            _wakeups: Some(AbortOnDrop(subscription)),
        }
    }

    pub(super) async fn retire(&self, worker: &str) -> Result<u64, QueueError> {
        let ctx = WorkerContext::new(worker);
        RETIRE
            .key(self.config.inflight_set_for(&ctx))
            .key(self.config.active_jobs_list())
            .key(self.config.job_data_hash())
            .key(self.config.workers_set())
            .key(self.config.worker_metadata_key(&ctx))
            .arg(worker)
            .arg(&self.meta_prefix)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.error("retire worker", e))
    }

    pub(super) async fn housekeeping(&self, worker: Option<&str>) -> Result<(), QueueError> {
        let promoted = self.promote_due().await?;
        let swept = self.sweep_finished().await?;
        if promoted + swept > 0 {
            tracing::trace!(promoted, swept, "queue housekeeping");
        }
        if let Some(worker) = worker {
            let metadata = self.config.worker_metadata_key(&WorkerContext::new(worker));
            ::redis::cmd("EXPIRE")
                .arg(metadata)
                .arg(self.worker_metadata_ttl.as_secs())
                .query_async::<()>(&mut self.conn.clone())
                .await
                .map_err(|e| self.error("refresh worker metadata", e))?;
        }
        Ok(())
    }

    /// Moves due tasks from `q:scheduled` to `q:active` [`PROMOTE_BATCH`] at a time: apalis's
    /// own promotion unpacks every due id into one Lua call, which fails for every worker
    /// on every poll once about 8,000 are due (pitfall 3). A dispatcher keeps the window
    /// far below that, but follow-up pushes from many workers, or a backlog that fell due
    /// during an outage, do not ask it.
    async fn promote_due(&self) -> Result<u64, QueueError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let mut conn = self.conn.clone();
        let mut promoted = 0;
        loop {
            let batch: u64 = PROMOTE
                .key(self.config.scheduled_jobs_set())
                .key(self.config.active_jobs_list())
                .arg(now)
                .arg(PROMOTE_BATCH)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.error("promote due tasks", e))?;
            promoted += batch;
            if batch < PROMOTE_BATCH {
                return Ok(promoted);
            }
        }
    }

    /// Deletes finished tasks' payloads, results and metadata, [`SWEEP_BATCH`] at a time
    /// (pitfall 12).
    async fn sweep_finished(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let mut swept = 0;
        loop {
            let batch: u64 = SWEEP
                .key(self.config.done_jobs_set())
                .key(self.config.dead_jobs_set())
                .key(self.config.job_data_hash())
                .arg(&self.meta_prefix)
                .arg(SWEEP_BATCH)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.error("sweep finished tasks", e))?;
            swept += batch;
            if batch < SWEEP_BATCH {
                return Ok(swept);
            }
        }
    }
}

/// Every setting here answers a pitfall of apalis-redis 1.0; `tests/queue_redis.rs` pins
/// each behaviour this relies on.
fn apalis_config(queue: &str, settings: &QueueSettings) -> Config {
    Config::default()
        // Pitfall 1: the default is the Rust type name.
        .queue(queue)
        // Pitfall 7: fetch one task per free slot. A prefetched task waits in a buffer that
        // blocks the heartbeat, and the worker is then declared dead and its tasks re-run.
        .batch_size(1)
        // Pitfall 6: the default orphan window is 10 × 30 s.
        .heartbeat_interval(settings.heartbeat_interval())
        .missed_heartbeats(super::MISSED_HEARTBEATS as usize)
        // Pitfall 12, with a twist: `persist_results(false)` also turns off the ack, which
        // leaves every finished task in `q:inflight:<worker>` to be re-run when the worker
        // is later declared dead. Results stay on; `sweep_finished` deletes them.
        .persist_results(true)
        // apalis's per-task lock is bookkeeping only (orphan recovery is per worker and the
        // lease lives in the database), and costs one Lua call per task.
        .lock_tasks(false)
        // apalis's own per-task event; pushes signal idle workers on `<queue>:wake`.
        .emit_events(false)
}

/// Ids per Lua call, far below the ~8,000 at which `unpack` fails (pitfall 3), and short
/// enough not to hold up Redis, which runs one script at a time.
const PROMOTE_BATCH: u64 = 1_000;

/// Moves up to ARGV[2] tasks due by ARGV[1] (unix seconds, the clock apalis scores with)
/// from `q:scheduled` to the back of `q:active`, as apalis's fetch does.
static PROMOTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS[1] q:scheduled, KEYS[2] q:active; ARGV[1] now, ARGV[2] batch size
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, ARGV[2])
if #ids > 0 then
    redis.call("RPUSH", KEYS[2], unpack(ids))
    redis.call("ZREM", KEYS[1], unpack(ids))
end
return #ids
"#,
    )
});

/// Tasks swept per Lua call: each call stays short, since Redis runs scripts one at a time
/// (apalis's own `vacuum` walks the whole data hash in one call, pitfall 12).
const SWEEP_BATCH: u64 = 500;

/// Deletes the payload and metadata of finished tasks.
static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS[1] q:done, KEYS[2] q:dead, KEYS[3] q:data
-- ARGV[1] metadata key prefix (q:meta), ARGV[2] at most this many ids per set
local removed = 0
for _, finished in ipairs({KEYS[1], KEYS[2]}) do
    local ids = redis.call("SPOP", finished, ARGV[2])
    for _, id in ipairs(ids) do
        redis.call("HDEL", KEYS[3], id)
        redis.call("DEL", ARGV[1] .. ":" .. id)
    end
    removed = removed + #ids
end
return removed
"#,
    )
});

/// Hands a stopped worker's tasks back to the front of `q:active` and deregisters it.
///
/// Needed after a grace period runs out (handlers abandoned), after a fetch whose answer
/// was lost, and after any backend failure; and on every stop, because apalis-redis's own
/// close removes the wrong member from `q:workers`. A task whose payload is gone, or is not
/// JSON, is deleted rather than handed back: fetching it fails the worker (an undecodable
/// payload is a backend error in apalis), so handing it back would fail every worker in turn.
static RETIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS[1] q:inflight:<worker>, KEYS[2] q:active, KEYS[3] q:data, KEYS[4] q:workers,
-- KEYS[5] q:workers:metadata:<worker>; ARGV[1] worker name, ARGV[2] metadata key prefix
local released = 0
for _, id in ipairs(redis.call("SMEMBERS", KEYS[1])) do
    local payload = redis.call("HGET", KEYS[3], id)
    if payload and pcall(cjson.decode, payload) then
        redis.call("LPUSH", KEYS[2], id)
        released = released + 1
    else
        redis.call("HDEL", KEYS[3], id)
        redis.call("DEL", ARGV[2] .. ":" .. id)
    end
end
redis.call("DEL", KEYS[1], KEYS[5])
redis.call("ZREM", KEYS[4], ARGV[1])
return released
"#,
    )
});
