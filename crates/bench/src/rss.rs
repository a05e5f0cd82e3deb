//! `worker_rss_mib`: the resident memory of a worker process (this binary as
//! `backfill-bench worker`, wired as `backfill worker` is) while 10,000 steps wait.
//!
//! The steps are real work at the product's rate limits: the `crowd` dataset's 200
//! accounts (its 20,000-conversation Page and 199 small accounts of the four channels)
//! are connected under `harasocial`, each connect starting with one message walk per
//! listed conversation — every conversation of the small accounts, and as many of the
//! big Page's as make 10,000 in all. The dispatcher keeps its bounded window of them in
//! Redis, the worker runs its 16 slots full at the accounts' budgets (and its own
//! per-process ceiling), and the store holds thousands of waiting steps for the whole
//! sampling. `VmRSS` is read from `/proc/<pid>/status` every 200 ms for 15 s; the
//! figure is the largest reading, and `VmHWM` (the kernel's high-water mark) is kept
//! beside it.

use std::time::{Duration, Instant};

use backfill_policy::step::MessageWalk;
use backfill_policy::{Channel, Policy, PresetName, Priority, StepKind, StepSpec};
use backfill_sim::{Profile, SimConfig};
use serde::Serialize;

use crate::fleet::{Fleet, FleetOptions, sim_credentials, tenant_id};

pub const STEPS_WAITING: usize = 10_000;
const SAMPLE_FOR: Duration = Duration::from_secs(15);
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Serialize)]
pub struct RssFigure {
    pub steps_connected: usize,
    pub open_steps_at_end: i64,
    pub steps_done_while_sampled: i64,
    pub rss_mib_idle: f64,
    pub rss_mib_max: f64,
    pub rss_mib_at_end: f64,
    pub hwm_mib: f64,
    pub samples: usize,
}

pub async fn run() -> anyhow::Result<RssFigure> {
    let sim = SimConfig {
        profile: Profile::Crowd,
        ..SimConfig::default()
    };
    let mut fleet = Fleet::start(FleetOptions {
        sim,
        in_process_workers: 0,
        ..FleetOptions::default()
    })
    .await?;
    let outcome = measure(&mut fleet).await;
    fleet.stop().await;
    outcome
}

async fn measure(fleet: &mut Fleet) -> anyhow::Result<RssFigure> {
    let pid = fleet.spawn_worker_process()?;
    fleet.wait_for_workers(1, Duration::from_secs(60)).await?;
    let rss_mib_idle = status_mib(pid, "VmRSS")?;

    let policy = Policy::preset(PresetName::Harasocial);
    let now = fleet.clock.now();
    // (channel, account, its message walks): the small accounts first, so that the big
    // Page makes up the rest.
    let mut plan: Vec<(Channel, String, Vec<String>)> = Vec::new();
    for account in fleet.sim.dataset().accounts() {
        let channel: Channel = account.channel.as_str().parse()?;
        let conversations = account
            .listed_conversations()
            .map(|c| backfill_truth::channel_conversation_id(account, c))
            .collect();
        plan.push((channel, account.id.clone(), conversations));
    }
    plan.sort_by_key(|(_, _, conversations)| conversations.len());
    let mut left = STEPS_WAITING;
    let mut steps_connected = 0;
    for (channel, account, conversations) in plan {
        let cap = policy.channel(channel)?.messages.max_per_conversation;
        let steps: Vec<StepSpec> = conversations
            .into_iter()
            .take(left)
            .map(|conversation_id| StepSpec {
                kind: StepKind::FetchMessages(MessageWalk {
                    page: 0,
                    conversation_id,
                    slice_conversation: false,
                    seen: 0,
                    kept: 0,
                    cap,
                    late_arrival_at: None,
                }),
                cursor: None,
                priority: Priority::Backlog,
                not_before: now,
                want: cap,
                nested_want: None,
            })
            .collect();
        left -= steps.len();
        steps_connected += steps.len();
        let credentials = sim_credentials(&fleet.sim, channel, &account)?;
        fleet
            .connect_with_steps(
                &tenant_id(0),
                channel,
                &account,
                &policy,
                &credentials,
                &steps,
            )
            .await?;
    }
    fleet.start_dispatcher().await?;

    let mut db = fleet.db().await?;
    let open = async |db: &mut sqlx::PgConnection| -> anyhow::Result<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM steps WHERE status IN ('pending', 'leased')")
                .fetch_one(db)
                .await?;
        Ok(n)
    };
    let mut max = 0.0f64;
    let mut last = 0.0;
    let mut samples = 0;
    let started = Instant::now();
    while started.elapsed() < SAMPLE_FOR {
        tokio::time::sleep(SAMPLE_EVERY).await;
        last = status_mib(pid, "VmRSS")?;
        max = max.max(last);
        samples += 1;
    }
    let hwm_mib = status_mib(pid, "VmHWM")?;
    let open_at_end = open(&mut db).await?;
    let (done,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM steps WHERE status = 'done'")
        .fetch_one(&mut db)
        .await?;
    Ok(RssFigure {
        steps_connected,
        open_steps_at_end: open_at_end,
        steps_done_while_sampled: done,
        rss_mib_idle,
        rss_mib_max: max,
        rss_mib_at_end: last,
        hwm_mib,
        samples,
    })
}

/// A `kB` line of `/proc/<pid>/status`, in MiB.
fn status_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            anyhow::anyhow!("no {field} in /proc/{pid}/status: has the worker exited?")
        })?;
    Ok(kib / 1024.0)
}
