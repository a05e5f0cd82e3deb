//! `backfill demo`: the whole product in one process, with no services.
//!
//! The channel simulator runs in process; a SQLite store and an apalis-sqlite queue live
//! in a scratch directory; the dispatcher and the workers are the fleet's own. One account
//! per channel is connected under each preset that covers it, their runs are shown live,
//! and at the end the store is compared with what the policy should have synced, computed
//! from the simulator's dataset by `backfill-truth` (not by the planner, which would check
//! itself). Any difference, or a run that did not complete, fails the command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use backfill_channels::{Connector, ConnectorsConfig, Credentials, SecretString};
use backfill_policy::{Channel, Policy, PresetName};
use backfill_producer::accounts::{Accounts, ConnectRequest};
use backfill_sim::{Profile, SimConfig, SimHandle};
use backfill_store::{Progress, RunInfo, RunStatus, Store, SyncedIds};
use backfill_truth::Expected;
use backfill_worker::clock::Clock;
use chrono::{DateTime, NaiveTime, TimeZone as _, Utc};
use clap::Args;
use serde::Serialize;

use super::sync::{settled, tenant};
use crate::config::Config;
use crate::embedded::Engine;
use crate::ui::{self, Bars};
use crate::{shutdown_signal, store};

/// The demo's tenant.
const TENANT: &str = "demo";
/// A run that has not settled by then is reported as it stands.
const TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Dataset size: tiny, small (default) or large.
    #[arg(long, value_enum, default_value_t = Profile::Small)]
    pub profile: Profile,
    /// Dataset seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep the store in this directory (read it with `backfill inbox --store
    /// sqlite://DIR/demo.db --tenant demo ...`) instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Print one JSON object instead of bars and a table.
    #[arg(long)]
    pub json: bool,
}

/// One connected account and how it went.
struct Account {
    preset: PresetName,
    channel: Channel,
    account_id: String,
    name: String,
    policy: Policy,
    run: RunInfo,
}

/// What `--json` prints, field for field.
#[derive(Debug, Serialize)]
struct DemoReport {
    accounts: Vec<AccountReport>,
    ok: bool,
}

#[derive(Debug, Serialize)]
struct AccountReport {
    channel: Channel,
    preset: PresetName,
    account_id: String,
    status: String,
    conversations: i64,
    messages: i64,
    comments: i64,
    api_calls: u64,
    verified: bool,
}

/// The demo's "now": the latest 10:00 in Taipei. shopline's peak hours are 17:00 to 01:00
/// there (S3); at 10:00 the whole year is synced at once instead of the priority slice
/// alone, and the result is the same whatever the hour the demo is run.
fn demo_now(real_now: DateTime<Utc>) -> DateTime<Utc> {
    let taipei = chrono_tz::Asia::Taipei;
    let ten = NaiveTime::from_hms_opt(10, 0, 0).expect("a valid time");
    let today = real_now.with_timezone(&taipei).date_naive();
    let at = |date: chrono::NaiveDate| {
        taipei
            .from_local_datetime(&date.and_time(ten))
            .single()
            .expect("Taipei has no DST")
            .to_utc()
    };
    let candidate = at(today);
    if candidate <= real_now {
        candidate
    } else {
        at(today.pred_opt().expect("a date after year 1"))
    }
}

/// One account per channel under each preset that covers it, in the order shown.
fn pick_accounts(sim: &SimHandle) -> anyhow::Result<Vec<(PresetName, Channel, usize)>> {
    let mut picks = Vec::new();
    let mut used = std::collections::HashMap::<Channel, usize>::new();
    for preset in PresetName::ALL {
        let policy = Policy::preset(preset);
        for (channel, _) in policy.channels.iter() {
            let nth = used.entry(channel).or_default();
            let available = sim
                .dataset()
                .accounts()
                .iter()
                .filter(|a| a.channel.as_str() == channel.as_str())
                .count();
            if *nth >= available {
                bail!(
                    "the {} dataset has no further {channel} account for {preset}",
                    sim.dataset().profile()
                );
            }
            picks.push((preset, channel, *nth));
            *nth += 1;
        }
    }
    Ok(picks)
}

pub async fn run(args: DemoArgs, _config: &Config) -> anyhow::Result<ExitCode> {
    let now = demo_now(Utc::now());
    let sim = backfill_sim::spawn(SimConfig {
        profile: args.profile,
        seed: args.seed,
        now: Some(now),
        ..SimConfig::default()
    })
    .await
    .context("starting the channel simulator")?;

    let scratch;
    let dir = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => {
            scratch = tempfile::Builder::new()
                .prefix("backfill-demo-")
                .tempdir()?;
            scratch.path().to_owned()
        }
    };
    let database = dir.join("demo.db");
    let url = format!("sqlite://{}", database.display());
    let key = store::credential_key(None, &url)?;
    let store = store::open(&url, key, 10).await?;

    if !args.json {
        println!(
            "Backfill demo: the channel simulator ({} profile, seed {}), a SQLite store and queue in {},\n\
             the dispatcher and 16 workers, all in this process.\n\
             The clock reads {} in Asia/Taipei: outside shopline's peak hours (17:00–01:00),\n\
             so shopline syncs its whole year now instead of only the priority slice.\n",
            args.profile,
            args.seed,
            dir.display(),
            now.with_timezone(&chrono_tz::Asia::Taipei)
                .format("%Y-%m-%d %H:%M"),
        );
    }

    let clock = Clock::starting_at(now);
    let tenant = tenant(&store, TENANT, clock.now()).await?;
    let accounts_api = Accounts::new(store.clone(), clock.clone());
    let manifest = sim.manifest();
    let mut accounts = Vec::new();
    for (preset, channel, nth) in pick_accounts(&sim)? {
        let account = sim
            .dataset()
            .accounts()
            .iter()
            .filter(|a| a.channel.as_str() == channel.as_str())
            .nth(nth)
            .expect("pick_accounts checked it exists");
        let credentials = Credentials::for_channel(
            channel,
            SecretString::from(account.access_token.clone()),
            account.shopee.as_ref().map(|s| s.partner_id),
            account
                .shopee
                .as_ref()
                .map(|s| SecretString::from(s.partner_key.clone())),
        )?;
        let request = ConnectRequest {
            channel,
            account_id: account.id.clone(),
            preset,
            timezone: None,
            overrides: None,
            credentials,
        };
        let (run, policy) = accounts_api.connect(&tenant, &request).await?;
        accounts.push(Account {
            preset,
            channel,
            account_id: account.id.clone(),
            name: account.name.clone(),
            policy,
            run,
        });
    }

    let connectors: ConnectorsConfig = serde_json::from_value(serde_json::json!({
        "facebook": {"base_url": manifest.base_urls.facebook},
        "instagram": {"base_url": manifest.base_urls.instagram},
        "zalo": {"base_url": manifest.base_urls.zalo},
        "shopee": {"base_url": manifest.base_urls.shopee},
    }))
    .context("connector configuration for the simulator")?;
    let connector = Connector::new(connectors)?;
    let started = std::time::Instant::now();
    let engine = Engine::start(
        store.clone(),
        dir.join("demo.queue.db"),
        connector,
        clock.clone(),
    )
    .await?;

    let progress = watch(&store, &accounts, &clock, args.json).await;
    let elapsed = started.elapsed();
    engine.stop().await;
    let progress = progress?;

    let stats = sim.stats();
    let mut report = DemoReport {
        accounts: Vec::new(),
        ok: true,
    };
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (account, progress) in accounts.iter().zip(&progress) {
        let expected = backfill_truth::expected(
            sim.dataset(),
            &account.account_id,
            &account.policy,
            account.run.connected_at,
        );
        let stored = store
            .synced_ids(TENANT, account.channel, &account.account_id)
            .await?;
        let differences = compare(&stored, &expected);
        let completed = progress.status == RunStatus::Completed;
        let verified = completed && differences.is_empty();
        let label = format!("{} {} {}", account.preset, account.channel, account.name);
        if !completed {
            problems.push(format!(
                "{label}: the run ended {}{}",
                progress.status,
                progress
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        problems.extend(differences.iter().map(|d| format!("{label}: {d}")));
        let sim_stats = stats.account(&account.account_id);
        let api_calls = sim_stats.map_or(0, |s| s.requests);
        let throttles = sim_stats.map_or(0, |s| s.throttled);
        rows.push(vec![
            account.preset.to_string(),
            account.channel.to_string(),
            account.name.clone(),
            ui::thousands(progress.stored.conversations),
            ui::thousands(progress.stored.messages),
            ui::thousands(progress.stored.comments),
            ui::thousands(api_calls),
            ui::thousands(throttles),
            ui::seconds(progress.slice_completed_at.map(|t| t - progress.started_at)),
            progress.status.to_string(),
            if verified { "yes" } else { "NO" }.to_owned(),
        ]);
        report.ok &= verified;
        report.accounts.push(AccountReport {
            channel: account.channel,
            preset: account.preset,
            account_id: account.account_id.clone(),
            status: progress.status.to_string(),
            conversations: progress.stored.conversations,
            messages: progress.stored.messages,
            comments: progress.stored.comments,
            api_calls,
            verified,
        });
    }
    store.close().await;
    drop(sim);

    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{}\n",
            ui::table(
                &[
                    "preset",
                    "channel",
                    "account",
                    "conversations",
                    "messages",
                    "comments",
                    "API calls",
                    "throttles",
                    "time to slice",
                    "status",
                    "verified",
                ],
                &rows,
            )
        );
        println!(
            "{} runs settled in {:.1} s; API calls and throttles as the simulator counted them.",
            accounts.len(),
            elapsed.as_secs_f64()
        );
        if report.ok {
            println!(
                "Every account holds exactly what its policy allows: the same conversations, \
                 messages, posts and comments as the simulator's ground truth, nothing twice."
            );
        } else {
            println!("The store differs from the simulator's ground truth:");
            for problem in &problems {
                println!("  - {problem}");
            }
        }
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Shows the runs until each has settled; returns their last progress, in order.
async fn watch(
    store: &Store,
    accounts: &[Account],
    clock: &Clock,
    quiet: bool,
) -> anyhow::Result<Vec<Progress>> {
    let bars = Bars::new(quiet);
    let handles: Vec<_> = accounts
        .iter()
        .map(|a| bars.add(&format!("{:<10} {:<9} {}", a.preset, a.channel, a.name)))
        .collect();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let mut all = Vec::with_capacity(accounts.len());
        let mut busy = false;
        for (account, bar) in accounts.iter().zip(&handles) {
            let progress = store
                .progress(TENANT, &account.run.run_id, clock.now())
                .await?
                .context("a demo run disappeared from the store")?;
            ui::show(bar, &progress);
            busy |= settled(store, &progress, clock.now()).await?.is_none();
            all.push(progress);
        }
        if !busy {
            return Ok(all);
        }
        tokio::select! {
            () = &mut signal => bail!("interrupted"),
            () = tokio::time::sleep_until(deadline) => return Ok(all),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// How the stored ids differ from the expected ones; empty when they are equal.
fn compare(stored: &SyncedIds, expected: &Expected) -> Vec<String> {
    let mut differences = Vec::new();
    let sets = [
        (
            "conversations",
            &stored.conversations,
            &expected.conversations,
        ),
        ("messages", &stored.messages, &expected.messages),
        (
            "unavailable messages",
            &stored.unavailable,
            &expected.unavailable,
        ),
        ("posts", &stored.posts, &expected.posts),
        ("comments", &stored.comments, &expected.comments),
    ];
    for (what, stored, expected) in sets {
        let missing: Vec<&String> = expected.difference(stored).collect();
        let extra: Vec<&String> = stored.difference(expected).collect();
        if missing.is_empty() && extra.is_empty() {
            continue;
        }
        let sample = |ids: &[&String]| {
            ids.iter()
                .take(3)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        differences.push(format!(
            "{what}: {} stored, {} expected; {} missing (e.g. {}), {} not allowed (e.g. {})",
            stored.len(),
            expected.len(),
            missing.len(),
            sample(&missing),
            extra.len(),
            sample(&extra),
        ));
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_clock_is_ten_in_the_morning_in_taipei_and_never_ahead() {
        for hour in 0..24 {
            let real = Utc.with_ymd_and_hms(2025, 3, 1, hour, 30, 0).unwrap();
            let now = demo_now(real);
            assert!(now <= real && real - now < chrono::TimeDelta::hours(24));
            let local = now.with_timezone(&chrono_tz::Asia::Taipei);
            assert_eq!(local.format("%H:%M").to_string(), "10:00");
            let shopline = Policy::preset(PresetName::Shopline);
            assert!(!shopline.peak.unwrap().is_peak(shopline.timezone, now));
        }
    }
}
