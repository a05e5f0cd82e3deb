//! The `backfill sim` command's arguments and body, for the CLI crate to mount.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::dataset::Profile;
use crate::faults::Faults;
use crate::server::{SimConfig, spawn};
use crate::settings::SimSettings;

/// Serve the simulated Facebook, Instagram, Zalo and Shopee APIs on one port.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on; port 0 picks a free port (see the manifest).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Dataset size.
    #[arg(long, value_enum, default_value_t = Profile::Small)]
    pub profile: Profile,
    /// Dataset seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write base URLs and account credentials here, as JSON.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// The dataset's "now" (RFC 3339); default: the system clock.
    #[arg(long, value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
    /// JSON file of settings (any subset of `SimSettings`).
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// JSON file of faults (any subset of `Faults`).
    #[arg(long)]
    pub faults: Option<PathBuf>,
}

fn parse_now(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.to_utc())
        .map_err(|e| format!("not an RFC 3339 time: {e}"))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Serves until `shutdown` resolves, after writing the manifest if asked to.
pub async fn run(args: SimArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let settings: SimSettings = args
        .settings
        .as_ref()
        .map(read_json)
        .transpose()?
        .unwrap_or_default();
    let faults: Faults = args
        .faults
        .as_ref()
        .map(read_json)
        .transpose()?
        .unwrap_or_default();
    let handle = spawn(SimConfig {
        listen: args.listen,
        profile: args.profile,
        seed: args.seed,
        now: args.now,
        settings,
        faults,
    })
    .await?;
    if let Some(path) = &args.manifest {
        handle.manifest().write(path)?;
        tracing::info!(manifest = %path.display(), "manifest written");
    }
    handle.serve_until(shutdown).await
}
