//! Throughput: `fleet_vs_raw`, `fleet2_vs_raw`, and the pipeline half of `vs_bullmq`.
//!
//! A [`Workload`] is a set of accounts of the `large` dataset, each connected under
//! several tenants (independent connections over the same data, as many merchants would
//! be), with the rate limits out of the way: the simulator's limits raised far above
//! anything reachable ([`unlimited_sim`]), the policies' `rate` overridden to
//! 100,000 calls per second per account and no app budget ([`unthrottled`]), and each
//! worker's own per-process ceiling raised to match. Everything else is the product's
//! defaults: the dispatcher's window, batch and per-account cap, the worker's
//! concurrency (16) and store pool (10), the connectors' page sizes.
//!
//! - **fleet**: worker processes (this binary as `backfill-bench worker`) on Redis and a
//!   fresh PostgreSQL database, the dispatcher in this process. The clock starts when
//!   the dispatcher starts (every run connected, every worker registered) and stops
//!   when no run is running.
//! - **raw**: the same connector and the same planner, walking the same steps from an
//!   in-memory list with as many concurrent loops as a worker has slots, storing and
//!   queueing nothing: the cost of fetching and reading the pages alone.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backfill_channels::{Account, Connector, Outcome};
use backfill_policy::planner::{self, RunContext};
use backfill_policy::{Channel, Policy, PresetName, StepSpec};
use backfill_sim::{Profile, SimConfig, SimHandle, SimSettings};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;

use crate::cpu::{CpuSpent, Snapshot, postgres_backends};
use crate::fleet::{
    Fleet, FleetOptions, WorkerSettings, account_of, connectors_for, sim_account, tenant_id,
};

/// What one throughput run connects: `tenants` × `accounts`.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: &'static str,
    pub tenants: usize,
    pub accounts: Vec<(Channel, Policy)>,
}

impl Workload {
    /// `fleet_vs_raw`: the four accounts of the `large` dataset under `harasocial`, each
    /// connected by `tenants` tenants. Messages come in every page shape the channels
    /// have: Graph listings carrying 50 nested messages per conversation, Zalo's pages of
    /// 10, Shopee's of up to 60.
    pub fn messages(tenants: usize) -> anyhow::Result<Self> {
        let harasocial = unthrottled(Policy::preset(PresetName::Harasocial))?;
        Ok(Self {
            name: "harasocial on the large dataset's four accounts",
            tenants,
            accounts: Channel::ALL
                .into_iter()
                .map(|c| (c, harasocial.clone()))
                .collect(),
        })
    }

    /// `vs_bullmq`: steps that each carry little, so that the bookkeeping is what is
    /// measured: the large Zalo OA under `harasocial` (pages of 10 messages, one
    /// follower check per conversation), connected by `tenants` tenants.
    pub fn steps(tenants: usize) -> anyhow::Result<Self> {
        let harasocial = unthrottled(Policy::preset(PresetName::Harasocial))?;
        Ok(Self {
            name: "harasocial on the large dataset's Zalo OA",
            tenants,
            accounts: vec![(Channel::Zalo, harasocial)],
        })
    }
}

/// Rate limits out of the way: 100,000 calls per second per account, no app budget.
pub fn unthrottled(policy: Policy) -> anyhow::Result<Policy> {
    let rate = serde_json::json!({"rate": {"per_account_per_second": 100_000.0, "burst": 1_000, "per_app_per_second": null}});
    let channels: serde_json::Map<String, serde_json::Value> = policy
        .channels
        .iter()
        .map(|(c, _)| (c.to_string(), rate.clone()))
        .collect();
    Ok(policy.with_overrides(&serde_json::json!({"peak": null, "channels": channels}))?)
}

/// The `large` dataset with every simulated rate limit far out of reach, and zero
/// latency.
pub fn unlimited_sim() -> SimConfig {
    let mut settings = SimSettings::default();
    let plenty = backfill_sim::RateBudget::new(1_000_000_000, 1.0);
    settings.graph.conversations_calls_per_second = 1_000_000_000;
    settings.graph.buc_budget = plenty;
    settings.graph.app_budget = plenty;
    settings.graph.user_budget = plenty;
    settings.zalo.budget = plenty;
    settings.shopee.budget = plenty;
    SimConfig {
        profile: Profile::Large,
        settings,
        ..SimConfig::default()
    }
}

/// The worker of a throughput run: the shipped one, with its per-process ceiling out of
/// the way like the rest of the limits.
pub fn unthrottled_worker() -> WorkerSettings {
    WorkerSettings {
        local_per_second: 1_000_000,
        ..WorkerSettings::default()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetRun {
    pub workload: &'static str,
    pub worker_processes: usize,
    pub concurrency_per_worker: usize,
    pub runs: usize,
    pub seconds: f64,
    pub messages: u64,
    pub steps: u64,
    pub http_calls: u64,
    pub messages_per_s: f64,
    pub steps_per_s: f64,
    /// CPU seconds by part of the fleet during the measured time.
    pub cpu: CpuSpent,
    /// With `--profile`: how a step's time divides (see `profile.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<serde_json::Value>,
}

/// Runs `workload` through a fleet of `processes` worker processes.
pub async fn fleet(workload: &Workload, processes: usize) -> anyhow::Result<FleetRun> {
    let options = FleetOptions {
        sim: unlimited_sim(),
        worker: unthrottled_worker(),
        in_process_workers: 0,
        tenants: workload.tenants,
        ..FleetOptions::default()
    };
    let since = std::time::SystemTime::now();
    let mut fleet = Fleet::start(options).await?;
    let outcome = measure_fleet(&mut fleet, workload, processes).await;
    // Stopping lets the worker processes write their profiles.
    fleet.stop().await;
    let mut run = outcome?;
    if let Some(dir) = crate::profile::dir() {
        let profile = crate::profile::collect(dir, since);
        // How much of the time the worker slots spent inside a step; the rest is
        // waiting for the next task (the hop through the dispatcher and the queue).
        let slots = (processes * run.concurrency_per_worker) as f64 * run.seconds;
        let handler_s = profile
            .spans
            .get(crate::profile::HANDLER)
            .map_or(0.0, |s| s.total_s);
        let mut summary = profile.per_step();
        summary["slot_busy_share"] = serde_json::json!(handler_s / slots);
        run.profile = Some(summary);
    }
    Ok(run)
}

async fn measure_fleet(
    fleet: &mut Fleet,
    workload: &Workload,
    processes: usize,
) -> anyhow::Result<FleetRun> {
    let mut workers = Vec::new();
    for _ in 0..processes {
        workers.push(fleet.spawn_worker_process()?);
    }
    fleet
        .wait_for_workers(processes, Duration::from_secs(60))
        .await?;
    let mut runs = 0;
    for tenant in 0..workload.tenants {
        for (channel, policy) in &workload.accounts {
            let account = account_of(&fleet.sim, *channel, 0)?;
            fleet
                .connect(&tenant_id(tenant), *channel, &account, policy)
                .await?;
            runs += 1;
        }
    }
    let mut db = fleet.db().await?;
    let me = std::process::id();
    let before = Snapshot::take(
        workers
            .iter()
            .copied()
            .chain([me])
            .chain(postgres_backends(&mut db, fleet.database()).await?),
    );
    let started = Instant::now();
    fleet.start_dispatcher().await?;
    let finished = fleet.wait_all_finished(Duration::from_secs(600)).await?;
    let seconds = (finished - started).as_secs_f64();
    let cpu = CpuSpent {
        workers_s: before.spent_since(workers.iter().copied()),
        bench_process_s: before.spent_since([me]),
        postgres_s: before.spent_since(postgres_backends(&mut db, fleet.database()).await?),
    };
    let (messages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(&mut db)
        .await?;
    let (steps, http_calls): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(http_calls), 0)::BIGINT FROM steps WHERE status = 'done'",
    )
    .fetch_one(&mut db)
    .await?;
    Ok(FleetRun {
        workload: workload.name,
        worker_processes: processes,
        concurrency_per_worker: fleet.wiring.worker.concurrency,
        runs,
        seconds,
        messages: messages as u64,
        steps: steps as u64,
        http_calls: http_calls as u64,
        messages_per_s: messages as f64 / seconds,
        steps_per_s: steps as f64 / seconds,
        cpu,
        profile: None,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct RawRun {
    pub concurrency: usize,
    pub seconds: f64,
    pub messages: u64,
    pub calls: u64,
    /// Calls answered other than with a page (throttles, 5xx): retried at once.
    pub retried: u64,
    pub messages_per_s: f64,
    /// CPU seconds of this process (the simulator and the loops).
    pub cpu_s: f64,
}

/// One step of the raw walk, with what it needs to be called and planned.
struct RawJob {
    account: Arc<Account>,
    policy: Arc<Policy>,
    connected_at: DateTime<Utc>,
    step: StepSpec,
}

#[derive(Default)]
struct RawState {
    queue: VecDeque<RawJob>,
    in_flight: usize,
    messages: u64,
    calls: u64,
    retried: u64,
}

/// Walks `workload` with the connector and the planner alone, `concurrency` calls at a
/// time, on a simulator of its own configured like the fleet's.
pub async fn raw(workload: &Workload, concurrency: usize) -> anyhow::Result<RawRun> {
    let sim = backfill_sim::spawn(unlimited_sim()).await?;
    let outcome = walk_raw(&sim, workload, concurrency).await;
    let _ = sim.shutdown().await;
    outcome
}

async fn walk_raw(
    sim: &SimHandle,
    workload: &Workload,
    concurrency: usize,
) -> anyhow::Result<RawRun> {
    let connector = Connector::new(connectors_for(&format!("http://{}", sim.addr())))?;
    let mut state = RawState::default();
    for _tenant in 0..workload.tenants {
        for (channel, policy) in &workload.accounts {
            let account = Arc::new(sim_account(sim, *channel, &account_of(sim, *channel, 0)?)?);
            let policy = Arc::new(policy.clone());
            let connected_at = Utc::now();
            let ctx = RunContext::new(&policy, *channel, connected_at, connected_at)?;
            for step in planner::first_steps(&ctx) {
                state.queue.push_back(RawJob {
                    account: account.clone(),
                    policy: policy.clone(),
                    connected_at,
                    step,
                });
            }
        }
    }
    let state = Arc::new((Mutex::new(state), Notify::new()));
    let me = std::process::id();
    let before = Snapshot::take([me]);
    let started = Instant::now();
    let loops: Vec<_> = (0..concurrency)
        .map(|_| {
            let (state, connector) = (state.clone(), connector.clone());
            tokio::spawn(async move { raw_loop(&state, &connector).await })
        })
        .collect();
    for handle in loops {
        handle.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_s = before.spent_since([me]);
    let done = state.0.lock().expect("raw state");
    Ok(RawRun {
        concurrency,
        seconds,
        messages: done.messages,
        calls: done.calls,
        retried: done.retried,
        messages_per_s: done.messages as f64 / seconds,
        cpu_s,
    })
}

async fn raw_loop(state: &(Mutex<RawState>, Notify), connector: &Connector) -> anyhow::Result<()> {
    let (shared, wake) = state;
    loop {
        // Registered before looking, so that a wake-up between the look and the wait is
        // not missed.
        let notified = wake.notified();
        let job = {
            let mut s = shared.lock().expect("raw state");
            match s.queue.pop_front() {
                Some(job) => {
                    s.in_flight += 1;
                    Some(job)
                }
                None if s.in_flight == 0 => return Ok(()),
                None => None,
            }
        };
        let Some(job) = job else {
            notified.await;
            continue;
        };
        let result = connector.execute(&job.account, &job.step).await;
        let mut follow_ups = Vec::new();
        let mut messages = 0;
        let mut retry = None;
        match result.outcome {
            Outcome::Page(fetched) => {
                let ctx = RunContext::new(
                    &job.policy,
                    job.account.channel,
                    job.connected_at,
                    Utc::now(),
                )?;
                let plan = planner::plan(&ctx, &job.step, fetched)?;
                messages = plan.messages.len() as u64;
                follow_ups = plan.follow_ups;
            }
            Outcome::Unavailable(_) => {}
            Outcome::Throttled { .. } | Outcome::Transient(_) => retry = Some(job.step.clone()),
            Outcome::AuthRevoked(reason) | Outcome::Permanent(reason) => {
                anyhow::bail!(
                    "raw walk: {} {}: {reason}",
                    job.account.channel,
                    job.step.kind.name()
                )
            }
        }
        {
            let mut s = shared.lock().expect("raw state");
            s.in_flight -= 1;
            s.calls += u64::from(result.http_calls);
            s.messages += messages;
            if let Some(step) = retry {
                s.retried += 1;
                s.queue.push_back(RawJob { step, ..job });
            } else {
                for step in follow_ups {
                    s.queue.push_back(RawJob {
                        account: job.account.clone(),
                        policy: job.policy.clone(),
                        connected_at: job.connected_at,
                        step,
                    });
                }
            }
        }
        wake.notify_waiters();
    }
}

/// `fleet_vs_raw` and `fleet2_vs_raw`: the raw walk three times, around the two fleet
/// runs, so that a change in what else the machine is doing weighs on both sides; the
/// median raw rate is the denominator.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub workload: &'static str,
    pub tenants: usize,
    pub raw: Vec<RawRun>,
    pub raw_messages_per_s: f64,
    pub fleet: FleetRun,
    pub fleet2: FleetRun,
}

pub async fn compare(workload: &Workload) -> anyhow::Result<Comparison> {
    let concurrency = WorkerSettings::default().concurrency;
    let mut raws = vec![raw(workload, concurrency).await?];
    settle().await;
    let fleet1 = fleet(workload, 1).await?;
    settle().await;
    raws.push(raw(workload, concurrency).await?);
    settle().await;
    let fleet2 = fleet(workload, 2).await?;
    settle().await;
    raws.push(raw(workload, concurrency).await?);
    let mut rates: Vec<f64> = raws.iter().map(|r| r.messages_per_s).collect();
    rates.sort_by(f64::total_cmp);
    Ok(Comparison {
        workload: workload.name,
        tenants: workload.tenants,
        raw_messages_per_s: rates[rates.len() / 2],
        raw: raws,
        fleet: fleet1,
        fleet2,
    })
}

/// Waits a moment between runs, so that one run's tail (PostgreSQL's background
/// writer, a dropped database) does not weigh on the next.
pub async fn settle() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}
