//! Load, fairness and fleet-wide rate limits (issue 9, C6, C7).
//!
//! Two hundred accounts are connected at once, one of them the 20,000-conversation Page,
//! and three worker processes share the work. Asserted: every small account's slice
//! completes within twice its own rate-limit bound plus two seconds per step of the
//! slice's critical path, while the big Page is still syncing (it holds nobody back);
//! and over the whole fleet the simulator never sees more calls in one second on a Page
//! than its budget, nor serves a throttle answer. Reported beside it: how many slices
//! make it with one second per step.
//!
//! An account's own rate-limit bound is the time the limits that apply to it allow for
//! its slice's calls: its per-account budget, and its share of its channel's app-wide
//! budget (C7) shared fairly with the other accounts of that channel syncing at the
//! same time. With the app budget shared max-min fairly, an account with `c` slice calls
//! is done once every account of the channel has made `min(c, its own calls)` of them:
//! `bound = max(c / per_account_rate, Σ min(c, c_j) / app_rate)`, both rates less the
//! limiter's headroom. In this crowd the fifty Zalo OAs' slices (about 2,550 calls) are
//! bound by Zalo's app budget (100 calls per second, 80 after headroom): about 32 s,
//! whatever the fleet's size; the Shopee shops' by their own 10 per second. The
//! dispatcher's per-channel cap keeps the Zalo steps that budget cannot serve yet out of
//! the queue: without it they were turned away and came back over and over, and the
//! Shopee slices, the tightest bounds here, waited behind them.

use std::time::Duration;

use backfill_policy::{Channel, Policy, PresetName};
use backfill_sim::{Profile, SimConfig};
use backfill_testkit::*;
use backfill_worker::clock::Clock;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run only as a child process of a load test"]
async fn child_worker_process() {
    let Some(wiring) = Wiring::from_env() else {
        return;
    };
    let name = format!("load-{}", std::process::id());
    run_worker(&wiring, &name, Clock::system(), CancellationToken::new()).await;
}

/// Budgets (calls per second) of the harasocial preset for one account and for the
/// whole app, less the limiter's headroom.
fn rates_of(channel: Channel) -> (f64, Option<f64>) {
    let policy = Policy::preset(PresetName::Harasocial);
    let rate = &policy.channel(channel).unwrap().rate;
    let headroom = backfill_worker::ratelimit::HEADROOM;
    (
        rate.per_account_per_second * headroom,
        rate.per_app_per_second.map(|r| r * headroom),
    )
}

/// The time the rate limits allow for a slice of `calls` calls when the accounts of its
/// channel syncing at once have slices of `channel_calls` calls (see the module doc).
fn rate_bound(channel: Channel, calls: u64, channel_calls: &[u64]) -> Duration {
    let (per_account, per_app) = rates_of(channel);
    let own = calls as f64 / per_account;
    let shared = per_app.map_or(0.0, |app| {
        channel_calls.iter().map(|&c| c.min(calls)).sum::<u64>() as f64 / app
    });
    Duration::from_secs_f64(own.max(shared))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_accounts_at_once_every_slice_lands_and_no_page_exceeds_its_budget() {
    let sim = SimConfig {
        profile: Profile::Crowd,
        ..SimConfig::default()
    };
    let mut fleet = Fleet::start(FleetOptions {
        sim,
        in_process_workers: 0,
        ..FleetOptions::default()
    })
    .await;
    for _ in 0..3 {
        fleet.spawn_worker_process("child_worker_process");
    }
    let accounts: Vec<(Channel, String)> = fleet
        .sim
        .dataset()
        .accounts()
        .iter()
        .map(|a| (a.channel.as_str().parse().unwrap(), a.id.clone()))
        .collect();
    assert_eq!(accounts.len(), 200);
    let shopline = Policy::preset(PresetName::Shopline)
        .with_overrides(&serde_json::json!({"peak": null}))
        .unwrap();
    let harasocial = Policy::preset(PresetName::Harasocial);
    let (big_channel, big) = accounts[0].clone();
    let big_run = fleet.connect(big_channel, &big, &shopline).await;
    let mut runs = Vec::new();
    for (channel, account) in &accounts[1..] {
        runs.push((
            *channel,
            account.clone(),
            fleet.connect(*channel, account, &harasocial).await,
        ));
    }

    let mut slices = Vec::new();
    for (channel, account, run) in &runs {
        let progress = fleet
            .wait_until(&run.run_id, Duration::from_secs(300), |p| {
                p.slice_completed_at.is_some()
            })
            .await;
        let took = (progress.slice_completed_at.unwrap() - progress.started_at)
            .to_std()
            .unwrap();
        slices.push((*channel, account, took, slice_call_count(&progress)));
    }
    // The promise: within twice the rate-limit bound, plus the pipeline's latency once per
    // step of the slice's critical path. Asserted with two seconds per step; reported
    // with one. The allowance is the 200 connects' burst on two cores, with debug builds
    // of three workers, the simulator and the dispatcher; a slice held back behind the big
    // Page or behind another channel's accounts (C6) misses it by far.
    let mut within_promise = 0;
    let mut missed_promise: std::collections::BTreeMap<Channel, usize> = Default::default();
    let mut late = Vec::new();
    let mut worst = (0.0f64, String::new());
    for &(channel, account, took, calls) in &slices {
        let channel_calls: Vec<u64> = slices
            .iter()
            .filter(|s| s.0 == channel)
            .map(|s| s.3)
            .collect();
        let bound = rate_bound(channel, calls, &channel_calls);
        let path = critical_path(channel);
        let promise = bound * 2 + Duration::from_secs(1) * path;
        let limit = bound * 2 + Duration::from_secs(2) * path;
        within_promise += usize::from(took <= promise);
        if took > promise {
            *missed_promise.entry(channel).or_default() += 1;
        }
        let line = format!(
            "{channel} {account}: {took:.1?} for {calls} slice calls, bound {bound:.1?}, limit {limit:.1?}"
        );
        let share = took.as_secs_f64() / promise.as_secs_f64();
        if share > worst.0 {
            worst = (share, line.clone());
        }
        if took > limit {
            late.push(line);
        }
    }
    eprintln!(
        "small slices: {within_promise} of {} within twice their own rate-limit bound (+1 s per step of the critical path); missed by channel {missed_promise:?}; slowest {:.2}x of that ({})",
        slices.len(),
        worst.0,
        worst.1
    );
    assert!(
        late.is_empty(),
        "slices later than twice their own rate-limit bound (+2 s per step of the critical path):\n{}",
        late.join("\n")
    );

    let stats = fleet.sim.stats();
    for (id, s) in &stats.accounts {
        let budget = match s.channel.as_str() {
            "facebook" | "instagram" => 2,
            _ => 10,
        };
        assert!(
            s.max_requests_per_second <= budget,
            "{id}: {} calls in one second, budget {budget}",
            s.max_requests_per_second
        );
        assert_eq!(s.throttled, 0, "{id}: throttled in steady state");
    }
    assert_eq!(
        fleet.progress(&big_run.run_id).await.status.as_str(),
        "running",
        "the big Page is still going"
    );
    fleet.stop().await;
}

/// Steps one after another in a slice: listing, then (Zalo) the follower check, then the
/// messages. The pipeline's own latency is paid once per step of that chain.
fn critical_path(channel: Channel) -> u32 {
    match channel {
        Channel::Facebook | Channel::Instagram => 2,
        Channel::Zalo => 4,
        Channel::Shopee => 3,
    }
}

/// The slice's channel calls: its steps, one call each.
fn slice_call_count(progress: &backfill_store::Progress) -> u64 {
    progress.slice.done.max(1)
}
