//! `vs_bullmq`: steps per second through Backfill's worker pipeline when the channel
//! answers at once, divided by the jobs per second of a BullMQ worker doing the
//! equivalent bookkeeping, measured in one run on the same Redis and PostgreSQL at the
//! same concurrency; and BullMQ's no-op rate (`bullmq_noop_jobs_per_s`) beside it.
//!
//! - Backfill: one worker process of the shipped settings (16 slots, a store pool of
//!   10) on [`Workload::steps`]: every step loads its row and the connection's sealed
//!   credentials, takes a fleet-wide rate-limit token (a Lua script in Redis), calls the
//!   simulator (zero latency), plans the page, commits items + completion + follow-ups in
//!   one transaction, leases and pushes the due follow-ups, and is acked in apalis.
//! - BullMQ (`bench/bullmq/bench.mjs`, `--mode tx`): as many jobs as the pipeline ran
//!   steps, concurrency 16, a `pg` pool of 10; each job is one transaction that marks its
//!   row done and inserts a follow-up row. `--mode noop`: 20,000 jobs that do nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sqlx::Connection as _;

use crate::cpu::{postgres_backends, process_cpu_s, reaped_children_cpu_s};
use crate::fleet::{admin_database_url, create_database, delete_keys, drop_database, redis_url};
use crate::throughput::{self, FleetRun, Workload};

pub const NOOP_JOBS: u64 = 20_000;
/// Connections of the BullMQ worker's `pg` pool: the store's default pool size.
const PG_POOL: usize = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BullmqRun {
    pub mode: String,
    pub jobs: u64,
    pub completed: u64,
    pub failed: u64,
    pub concurrency: usize,
    pub seconds: f64,
    pub jobs_per_s: f64,
    pub bullmq: Option<String>,
    /// CPU seconds of the node process, from its start (adding the jobs included).
    #[serde(default)]
    pub node_cpu_s: Option<f64>,
    /// CPU seconds of the PostgreSQL backends serving the jobs (sampled every 100 ms).
    #[serde(default)]
    pub postgres_cpu_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VsBullmq {
    pub pipeline: FleetRun,
    pub bullmq_tx: BullmqRun,
    pub bullmq_noop: BullmqRun,
    pub ratio: f64,
    /// CPU milliseconds per step and per job, by side: where each spends.
    pub cpu_ms_per_step: serde_json::Value,
    pub cpu_ms_per_bullmq_job: serde_json::Value,
}

pub async fn run(bullmq_dir: &Path, tenants: usize) -> anyhow::Result<VsBullmq> {
    anyhow::ensure!(
        bullmq_dir.join("node_modules/bullmq").is_dir(),
        "{} has no node_modules/bullmq: run `npm install` there (scripts/bench.sh does)",
        bullmq_dir.display()
    );
    let pipeline = throughput::fleet(&Workload::steps(tenants)?, 1).await?;
    throughput::settle().await;
    let concurrency = pipeline.concurrency_per_worker;
    let bullmq_tx = bullmq(bullmq_dir, "tx", pipeline.steps.max(1_000), concurrency).await?;
    throughput::settle().await;
    let bullmq_noop = bullmq(bullmq_dir, "noop", NOOP_JOBS, concurrency).await?;
    let ratio = pipeline.steps_per_s / bullmq_tx.jobs_per_s;
    let per = |cpu_s: f64, n: u64| cpu_s * 1000.0 / n.max(1) as f64;
    let cpu_ms_per_step = serde_json::json!({
        "worker": per(pipeline.cpu.workers_s, pipeline.steps),
        "postgres": per(pipeline.cpu.postgres_s, pipeline.steps),
        "simulator_and_dispatcher": per(pipeline.cpu.bench_process_s, pipeline.steps),
    });
    let cpu_ms_per_bullmq_job = serde_json::json!({
        "node": bullmq_tx.node_cpu_s.map(|s| per(s, bullmq_tx.completed)),
        "postgres": bullmq_tx.postgres_cpu_s.map(|s| per(s, bullmq_tx.completed)),
        "node_noop": bullmq_noop.node_cpu_s.map(|s| per(s, bullmq_noop.completed)),
    });
    Ok(VsBullmq {
        pipeline,
        bullmq_tx,
        bullmq_noop,
        ratio,
        cpu_ms_per_step,
        cpu_ms_per_bullmq_job,
    })
}

async fn bullmq(
    dir: &Path,
    mode: &str,
    jobs: u64,
    concurrency: usize,
) -> anyhow::Result<BullmqRun> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let database = format!("backfill_bench_bullmq_{}", &id[..12]);
    let queue = format!("bench-{}", &id[..12]);
    let database_url = create_database(&database).await?;
    let outcome = run_node(
        dir,
        mode,
        jobs,
        concurrency,
        &database,
        &database_url,
        &queue,
    )
    .await;
    drop_database(&database).await;
    delete_keys(&redis_url(), &[format!("bull:{queue}*")]).await;
    outcome
}

async fn run_node(
    dir: &Path,
    mode: &str,
    jobs: u64,
    concurrency: usize,
    database: &str,
    database_url: &str,
    queue: &str,
) -> anyhow::Result<BullmqRun> {
    let children_before = reaped_children_cpu_s().unwrap_or(0.0);
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("bench.mjs"))
        .args(["--mode", mode, "--jobs", &jobs.to_string()])
        .args(["--concurrency", &concurrency.to_string()])
        .args([
            "--redis",
            &redis_url(),
            "--pg",
            database_url,
            "--queue",
            queue,
        ])
        .args(["--pool", &PG_POOL.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running node (Node.js 20 or later is needed)")?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut out)
            .await
            .map(|_| out)
    });
    // The backends serving the job's transactions exit with the node process: their CPU
    // time is sampled while they live.
    let mut admin = sqlx::PgConnection::connect(&admin_database_url()).await?;
    let mut backends: BTreeMap<u32, f64> = BTreeMap::new();
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                for pid in postgres_backends(&mut admin, database).await? {
                    if let Some(cpu) = process_cpu_s(pid) {
                        backends.insert(pid, cpu);
                    }
                }
            }
        }
    };
    let node_cpu_s = reaped_children_cpu_s().unwrap_or(0.0) - children_before;
    let stdout = reader.await??;
    anyhow::ensure!(status.success(), "bench.mjs --mode {mode} failed: {status}");
    let stdout = String::from_utf8_lossy(&stdout);
    let line = stdout.lines().last().context("bench.mjs printed nothing")?;
    let mut run: BullmqRun =
        serde_json::from_str(line).with_context(|| format!("bench.mjs printed {line:?}"))?;
    anyhow::ensure!(
        run.failed == 0,
        "{} BullMQ jobs failed: the figure would not be comparable",
        run.failed
    );
    run.node_cpu_s = Some(node_cpu_s);
    run.postgres_cpu_s = (mode == "tx").then(|| backends.values().sum());
    Ok(run)
}
