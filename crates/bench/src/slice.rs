//! `slice_ratio`: time from connect to a complete priority slice, divided by the bound
//! the rate limit sets — the slice's own calls at the account's rate — with every
//! channel answering after 100 ms (simulator fault `latency.fixed_ms = 100`).
//!
//! Five accounts of the `small` dataset are connected at once to one fleet (a worker of
//! the shipped settings, the dispatcher's defaults, the product's rate limits): the
//! Facebook Page under `shopline` (peak off) and another under `harasocial`, and the
//! Instagram, Zalo and Shopee accounts under `harasocial`. Each account has its own
//! budget, so the bound of each is its own; they share the worker, as accounts do.
//!
//! - took: `runs.slice_completed_at − runs.connected_at`, both stamped by the fleet's
//!   clock in the store (no polling error);
//! - slice calls: the channel calls of the run's slice steps (`steps.http_calls`,
//!   priority slice);
//! - bound: slice calls ÷ `rate.per_account_per_second` of the policy.
//!
//! The headline `slice_ratio` is the largest of the five.

use std::time::{Duration, Instant};

use backfill_policy::{Channel, Policy, PresetName};
use backfill_sim::{Faults, Latency, Profile, SimConfig};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::fleet::{Fleet, FleetOptions, account_of, tenant_id};

pub const LATENCY_MS: u64 = 100;

#[derive(Debug, Clone, Serialize)]
pub struct SliceFigure {
    /// `preset/channel`.
    pub case: String,
    pub channel: Channel,
    pub slice_calls: u64,
    /// Calls of the whole run up to the slice's completion (slice and backlog steps
    /// share the account's budget).
    pub calls_until_slice: u64,
    /// The steps that called the channel until then, in the order they finished
    /// (`kind/priority`): what shared the account's budget with the slice.
    pub steps_until_slice: Vec<String>,
    pub per_account_per_second: f64,
    pub took_s: f64,
    pub bound_s: f64,
    pub ratio: f64,
}

pub async fn run() -> anyhow::Result<Vec<SliceFigure>> {
    let mut faults = Faults::default();
    for channel in backfill_sim::Channel::ALL {
        faults.of_mut(channel).latency = Latency {
            fixed_ms: LATENCY_MS,
            jitter_ms: 0,
        };
    }
    let sim = SimConfig {
        profile: Profile::Small,
        faults,
        ..SimConfig::default()
    };
    let mut fleet = Fleet::start(FleetOptions {
        sim,
        ..FleetOptions::default()
    })
    .await?;
    let outcome = measure(&mut fleet).await;
    fleet.stop().await;
    outcome
}

async fn measure(fleet: &mut Fleet) -> anyhow::Result<Vec<SliceFigure>> {
    // The fleet runs before the connects, as it does in production.
    fleet.start_dispatcher().await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shopline =
        Policy::preset(PresetName::Shopline).with_overrides(&serde_json::json!({"peak": null}))?;
    let harasocial = Policy::preset(PresetName::Harasocial);
    let cases = [
        (Channel::Facebook, 0, &shopline),
        (Channel::Facebook, 1, &harasocial),
        (Channel::Instagram, 0, &harasocial),
        (Channel::Zalo, 0, &harasocial),
        (Channel::Shopee, 0, &harasocial),
    ];
    let tenant = tenant_id(0);
    let mut runs = Vec::new();
    for (channel, n, policy) in cases {
        let account = account_of(&fleet.sim, channel, n)?;
        let run = fleet.connect(&tenant, channel, &account, policy).await?;
        runs.push((channel, policy, run));
    }

    let mut db = fleet.db().await?;
    let started = Instant::now();
    loop {
        let (waiting,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM runs WHERE slice_completed_at IS NULL")
                .fetch_one(&mut db)
                .await?;
        if waiting == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(180),
            "{waiting} slices still incomplete after 180 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut figures = Vec::new();
    for (channel, policy, run) in runs {
        let (connected_at, slice_at): (DateTime<Utc>, DateTime<Utc>) =
            sqlx::query_as("SELECT connected_at, slice_completed_at FROM runs WHERE id = $1")
                .bind(&run.run_id)
                .fetch_one(&mut db)
                .await?;
        let (slice_calls,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(SUM(http_calls), 0)::BIGINT FROM steps WHERE run_id = $1 AND priority = 0",
        )
        .bind(&run.run_id)
        .fetch_one(&mut db)
        .await?;
        let (calls_until_slice,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(SUM(http_calls), 0)::BIGINT FROM steps
             WHERE run_id = $1 AND status = 'done' AND updated_at <= $2",
        )
        .bind(&run.run_id)
        .bind(slice_at)
        .fetch_one(&mut db)
        .await?;
        let steps: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kind, priority FROM steps
             WHERE run_id = $1 AND status = 'done' AND http_calls > 0 AND updated_at <= $2
             ORDER BY updated_at, id",
        )
        .bind(&run.run_id)
        .bind(slice_at)
        .fetch_all(&mut db)
        .await?;
        let steps_until_slice = steps
            .into_iter()
            .map(|(kind, priority)| {
                format!("{kind}/{}", if priority == 0 { "slice" } else { "backlog" })
            })
            .collect();
        let rate = policy.channel(channel)?.rate.per_account_per_second;
        let took_s = (slice_at - connected_at).as_seconds_f64();
        let bound_s = slice_calls as f64 / rate;
        figures.push(SliceFigure {
            case: format!("{}/{channel}", policy.preset),
            channel,
            slice_calls: slice_calls as u64,
            calls_until_slice: calls_until_slice as u64,
            steps_until_slice,
            per_account_per_second: rate,
            took_s,
            bound_s,
            ratio: if bound_s > 0.0 {
                took_s / bound_s
            } else {
                f64::NAN
            },
        });
    }
    Ok(figures)
}
