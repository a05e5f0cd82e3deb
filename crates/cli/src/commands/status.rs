//! `backfill status RUN_ID`: a run's progress, read from the store.
//!
//! An operator reading the store directly already sees every tenant's data, so this reads
//! any run by id, without a tenant; tenants read theirs through `GET /v1/runs/{run_id}`,
//! which prints the same document as `--json` here.

use std::process::ExitCode;

use anyhow::bail;
use backfill_producer::api::RunProgress;
use backfill_store::{Progress, StepCounts};
use chrono::Utc;
use clap::Args;
use secrecy::ExposeSecret as _;

use crate::config::Config;
use crate::store;
use crate::ui::{seconds, thousands};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run's id, as a connect returned it.
    pub run_id: String,
    /// The store's URL; default: the configured one (`store.url`).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Print the progress document as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: StatusArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let url = args
        .store
        .clone()
        .unwrap_or_else(|| config.store.url.expose_secret().to_owned());
    if let Some(path) = store::sqlite_path(&url)
        && !path.exists()
    {
        bail!(
            "no store at {}: pass --store URL, or sync an account first",
            path.display()
        );
    }
    let key = store::credential_key(config.secrets.credential_key.as_ref(), &url)?;
    let store = store::open(&url, key, 2).await?;
    let progress = store.run_progress(&args.run_id, Utc::now()).await?;
    store.close().await;
    let Some(progress) = progress else {
        bail!(
            "no run {} in the store at {}",
            args.run_id,
            store::redact(&url)
        );
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&RunProgress::from(progress))?
        );
    } else {
        print!("{}", describe(&progress));
    }
    Ok(ExitCode::SUCCESS)
}

fn counts(c: &StepCounts) -> String {
    format!(
        "{} done, {} pending, {} running, {} failed, {} cancelled",
        c.done, c.pending, c.leased, c.failed, c.cancelled
    )
}

/// The human form of a run's progress.
pub fn describe(p: &Progress) -> String {
    let mut out = format!(
        "run        {}\naccount    {} {}\nstarted    {} by {}\nstatus     {}",
        p.run_id,
        p.channel,
        p.account_id,
        p.started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        p.started_by,
        p.status,
    );
    if let Some(reason) = &p.reason {
        out.push_str(&format!(" ({reason})"));
    }
    out.push('\n');
    out.push_str(&format!(
        "slice      ready after {}\nfinished   after {}\n",
        seconds(p.slice_completed_at.map(|t| t - p.started_at)),
        seconds(p.finished_at.map(|t| t - p.started_at)),
    ));
    out.push_str(&format!("steps      {}\n", counts(&p.steps)));
    out.push_str(&format!("  slice    {}\n", counts(&p.slice)));
    out.push_str(&format!("  backlog  {}\n", counts(&p.backlog)));
    out.push_str(&format!(
        "deferred   {} (not due yet: peak hours or rate limits)\n",
        p.deferred
    ));
    let s = &p.stored;
    out.push_str(&format!(
        "stored     {} conversations, {} messages ({} unavailable), {} posts, {} comments\n",
        thousands(s.conversations),
        thousands(s.messages),
        thousands(s.unavailable_messages),
        thousands(s.posts),
        thousands(s.comments),
    ));
    out.push_str(&format!(
        "api calls  {} ({} transient failures retried)\n",
        thousands(p.http_calls),
        p.attempts
    ));
    out
}
