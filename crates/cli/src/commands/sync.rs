//! `backfill sync`: connect one account and run its sync in this process, until the run
//! completes or fails, or only work deferred out of peak hours (S3) remains.
//!
//! Credentials come from the environment only — `BACKFILL_ACCESS_TOKEN`, and for Shopee
//! `BACKFILL_SHOPEE_PARTNER_ID` and `BACKFILL_SHOPEE_PARTNER_KEY` — never from the command
//! line, where any user of the machine could read them (B4).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use backfill_channels::{Connector, ConnectorsConfig, Credentials, SecretString};
use backfill_policy::{Channel, PresetName};
use backfill_producer::accounts::{Accounts, ConnectRequest};
use backfill_store::{NewTenant, Progress, RunStatus, Store, Tenant};
use backfill_worker::clock::Clock;
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use clap::Args;
use secrecy::ExposeSecret as _;
use serde::Serialize;

use super::{parse_channel, parse_instant, parse_preset, parse_timezone};
use crate::config::Config;
use crate::embedded::Engine;
use crate::ui::{self, Bars};
use crate::{shutdown_signal, store};

/// Pending work not due for this long counts as deferred: peak hours (S3) or a long
/// throttle, not the short waits of rate limiting.
const DEFERRED_AFTER: TimeDelta = TimeDelta::minutes(2);

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// facebook, instagram, zalo or shopee.
    #[arg(long, value_parser = parse_channel)]
    pub channel: Channel,
    /// The account: Page id, Instagram user id, Zalo OA id, or Shopee shop id.
    #[arg(long, value_name = "ID")]
    pub account: String,
    /// shopline or harasocial.
    #[arg(long, value_parser = parse_preset)]
    pub preset: PresetName,
    /// The channel API's base URL (default: the real host), e.g. the simulator's
    /// `http://127.0.0.1:PORT/zalo`.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The store (default: the configured `store.url`, a SQLite file).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The connect moment, RFC 3339; the clock runs on from there (default: now).
    #[arg(long, value_parser = parse_instant, value_name = "RFC3339")]
    pub now: Option<DateTime<Utc>>,
    /// Peak hours are read in this IANA time zone (default: the preset's).
    #[arg(long, value_parser = parse_timezone, value_name = "ZONE")]
    pub timezone: Option<Tz>,
    /// The tenant the account belongs to.
    #[arg(long, default_value = "local")]
    pub tenant: String,
    /// Stop waiting after this many seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub timeout: u64,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct SyncReport {
    /// `completed`, `failed` or `deferred`.
    status: String,
    run_id: String,
    channel: Channel,
    account_id: String,
    preset: PresetName,
    conversations: i64,
    messages: i64,
    unavailable: i64,
    posts: i64,
    comments: i64,
    api_calls: u64,
    slice_seconds: Option<f64>,
    seconds: f64,
    reason: Option<String>,
    /// When the deferred work may run.
    deferred_until: Option<DateTime<Utc>>,
}

/// How a watched run ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Settled {
    Finished(RunStatus),
    /// Still running, but nothing is due before this.
    Deferred(DateTime<Utc>),
}

/// Where the run stands: finished, deferred, or still busy (`None`).
pub(crate) async fn settled(
    store: &Store,
    progress: &Progress,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Settled>> {
    if progress.status != RunStatus::Running {
        return Ok(Some(Settled::Finished(progress.status)));
    }
    if progress.steps.leased > 0 || progress.steps.pending == 0 {
        return Ok(None);
    }
    Ok(store
        .next_due(&progress.run_id)
        .await?
        .filter(|due| *due > now + DEFERRED_AFTER)
        .map(Settled::Deferred))
}

fn credentials_from_env(channel: Channel) -> anyhow::Result<Credentials> {
    let token = std::env::var("BACKFILL_ACCESS_TOKEN").map_err(|_| {
        anyhow::anyhow!(
            "set BACKFILL_ACCESS_TOKEN to the account's access token \
             (credentials are read from the environment only, never from the command line)"
        )
    })?;
    let partner_id = std::env::var("BACKFILL_SHOPEE_PARTNER_ID")
        .ok()
        .map(|id| {
            id.trim()
                .parse::<u64>()
                .with_context(|| format!("BACKFILL_SHOPEE_PARTNER_ID must be a number, got {id:?}"))
        })
        .transpose()?;
    let partner_key = std::env::var("BACKFILL_SHOPEE_PARTNER_KEY")
        .ok()
        .map(SecretString::from);
    // Shopee partner variables left in the environment do not apply to other channels.
    let (partner_id, partner_key) = if channel == Channel::Shopee {
        (partner_id, partner_key)
    } else {
        (None, None)
    };
    Credentials::for_channel(channel, SecretString::from(token), partner_id, partner_key).map_err(
        |e| match e {
            backfill_channels::CredentialsError::ShopeeIncomplete => anyhow::anyhow!(
                "{e}: set BACKFILL_SHOPEE_PARTNER_ID and BACKFILL_SHOPEE_PARTNER_KEY"
            ),
            other => anyhow::anyhow!("BACKFILL_ACCESS_TOKEN: {other}"),
        },
    )
}

/// The tenant to connect for: an existing one, or (embedded) a local one created now.
pub(crate) async fn tenant(store: &Store, id: &str, now: DateTime<Utc>) -> anyhow::Result<Tenant> {
    if let Some(tenant) = store.tenant(id).await? {
        return Ok(tenant);
    }
    // The embedded tenant has no API: its key is random and thrown away.
    let api_key = SecretString::from(format!("{:032x}", rand::random::<u128>()));
    Ok(store
        .upsert_tenant(
            &NewTenant {
                id,
                name: id,
                api_key: &api_key,
                webhook_url: None,
                webhook_secret: None,
                policy_overrides: &serde_json::json!({}),
                timezone: None,
            },
            now,
        )
        .await?)
}

/// The connector configuration with one channel pointed at `base_url`.
pub(crate) fn with_base_url(
    mut config: ConnectorsConfig,
    channel: Channel,
    base_url: String,
) -> ConnectorsConfig {
    match channel {
        Channel::Facebook => config.facebook.base_url = base_url,
        Channel::Instagram => config.instagram.base_url = base_url,
        Channel::Zalo => config.zalo.base_url = base_url,
        Channel::Shopee => config.shopee.base_url = base_url,
    }
    config
}

pub async fn run(args: SyncArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let credentials = credentials_from_env(args.channel)?;
    if args.channel == Channel::Shopee && args.account.parse::<u64>().is_err() {
        bail!(
            "--account: a Shopee account is its numeric shop id, got {:?}",
            args.account
        );
    }
    let url = args
        .store
        .clone()
        .unwrap_or_else(|| config.store.url.expose_secret().to_owned());
    let key = store::credential_key(config.secrets.credential_key.as_ref(), &url)?;
    let store = store::open(&url, key, config.store.max_connections).await?;
    let mut connectors = config.connectors.clone();
    if let Some(base_url) = args.base_url.clone() {
        connectors = with_base_url(connectors, args.channel, base_url);
    }
    let connector = Connector::new(connectors).context("invalid connector configuration")?;
    let clock = args.now.map_or_else(Clock::system, Clock::starting_at);

    let tenant = tenant(&store, &args.tenant, clock.now()).await?;
    let accounts = Accounts::new(store.clone(), clock.clone());
    let request = ConnectRequest {
        channel: args.channel,
        account_id: args.account.clone(),
        preset: args.preset,
        timezone: args.timezone,
        overrides: None,
        credentials,
    };
    let (run, _policy) = accounts.connect(&tenant, &request).await?;

    // The queue lives beside a SQLite store; a PostgreSQL store gets a throwaway one.
    let scratch;
    let queue_file = match store::sqlite_path(&url) {
        Some(database) => store::beside(&database, "queue.db"),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().join("queue.db")
        }
    };
    let engine = Engine::start(store.clone(), queue_file, connector, clock.clone()).await?;

    let bars = Bars::new(args.json);
    let bar = bars.add(&format!(
        "{} {} {}",
        args.preset, args.channel, args.account
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let (progress, settled) = loop {
        let progress = store
            .progress(&tenant.id, &run.run_id, clock.now())
            .await?
            .context("the run disappeared from the store")?;
        ui::show(&bar, &progress);
        if let Some(settled) = settled(&store, &progress, clock.now()).await? {
            break (progress, settled);
        }
        tokio::select! {
            () = &mut signal => {
                engine.stop().await;
                bail!(
                    "interrupted; what was stored stays, and `backfill sync` again starts over without storing anything twice"
                );
            }
            () = tokio::time::sleep_until(deadline) => {
                engine.stop().await;
                bail!("the run ({}) did not settle within {} s; see `backfill status {}`", run.run_id, args.timeout, run.run_id);
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    };
    bar.finish_and_clear();
    engine.stop().await;
    store.close().await;

    let (status, deferred_until) = match &settled {
        Settled::Finished(status) => (status.to_string(), None),
        Settled::Deferred(until) => ("deferred".to_owned(), Some(*until)),
    };
    let stored = &progress.stored;
    let report = SyncReport {
        status,
        run_id: run.run_id.clone(),
        channel: args.channel,
        account_id: args.account.clone(),
        preset: args.preset,
        conversations: stored.conversations,
        messages: stored.messages,
        unavailable: stored.unavailable_messages,
        posts: stored.posts,
        comments: stored.comments,
        api_calls: progress.http_calls,
        slice_seconds: progress
            .slice_completed_at
            .map(|t| (t - progress.started_at).num_milliseconds() as f64 / 1000.0),
        seconds: (clock.now() - progress.started_at).num_milliseconds() as f64 / 1000.0,
        reason: progress.reason.clone(),
        deferred_until,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", human(&report, &url));
    }
    Ok(
        if report.status == "failed" || report.status == "cancelled" {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

fn human(r: &SyncReport, url: &str) -> String {
    let mut out = format!(
        "{} {} under {}: {}",
        r.channel, r.account_id, r.preset, r.status
    );
    match (&r.reason, r.deferred_until) {
        (Some(reason), _) => out.push_str(&format!(" ({reason})")),
        (None, Some(until)) => out.push_str(&format!(
            " (the rest waits for off-peak, from {})",
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )),
        (None, None) => {}
    }
    out.push('\n');
    out.push_str(&format!(
        "  {} conversations, {} messages ({} unavailable), {} posts, {} comments\n",
        ui::thousands(r.conversations),
        ui::thousands(r.messages),
        ui::thousands(r.unavailable),
        ui::thousands(r.posts),
        ui::thousands(r.comments),
    ));
    out.push_str(&format!(
        "  {} API call{}; slice ready after {}; {:.1} s in all\n",
        ui::thousands(r.api_calls),
        if r.api_calls == 1 { "" } else { "s" },
        r.slice_seconds
            .map_or_else(|| "—".to_owned(), |s| format!("{s:.1} s")),
        r.seconds,
    ));
    out.push_str(&format!(
        "  run {}  (backfill status {} --store {})\n",
        r.run_id,
        r.run_id,
        store::redact(url)
    ));
    out
}
