//! The `backfill` command. `main.rs` parses the arguments, loads the configuration,
//! starts telemetry and calls [`run`]; everything else is here, one module per command:
//!
//! - `demo`: the whole pipeline against the simulator, embedded, checked against the
//!   simulator's ground truth.
//! - `sync` / `inbox`: one account synced in this process; its inbox read back.
//! - `producer` / `worker`: the fleet's two processes (HTTP API, dispatcher and event
//!   relay; apalis workers), on PostgreSQL and Redis.
//! - `status`: a run's progress, read from the store.
//! - `sim`: the channel simulator as a server.
//!
//! Shared pieces: [`config`] (the layered configuration), [`store`] (opening the store
//! and its credential key), [`embedded`] (dispatcher and workers in one process on
//! SQLite), [`ui`] (progress bars and tables).

pub mod config;
pub mod embedded;
pub mod store;
pub mod ui;

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use backfill_telemetry::TelemetryConfig;
use clap::{Parser, Subcommand};
use redis::aio::ConnectionManager;

pub use commands::{demo, inbox, status, sync};

use crate::config::Config;

/// Back-fills chat history from Facebook, Instagram, Zalo and Shopee into a merchant
/// inbox.
#[derive(Debug, Parser)]
#[command(name = "backfill", version, propagate_version = true)]
pub struct Cli {
    /// A TOML file layered over the defaults (config/default.toml) and under
    /// BACKFILL__SECTION__KEY environment variables.
    #[arg(long, global = true, env = "BACKFILL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sync one account per channel and preset from the built-in simulator, with no
    /// services, and check the result against the simulator's ground truth.
    Demo(demo::DemoArgs),
    /// Sync one account in this process, until its run completes, fails or only work
    /// deferred past peak hours remains.
    Sync(sync::SyncArgs),
    /// An account's conversations, newest first, each with its messages oldest first.
    Inbox(inbox::InboxArgs),
    /// The HTTP API, the dispatcher and the event relay (needs PostgreSQL and Redis).
    Producer,
    /// Workers that execute steps from the Redis queue (needs PostgreSQL and Redis).
    Worker,
    /// A run's progress, from the store.
    Status(status::StatusArgs),
    /// Serve the simulated channel APIs.
    Sim(backfill_sim::SimArgs),
}

impl Command {
    /// Servers log as configured; the other commands print results, and log lines would
    /// break them (on stdout, like `--json`), so they log nothing unless asked.
    fn is_server(&self) -> bool {
        matches!(self, Self::Producer | Self::Worker | Self::Sim(_))
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Demo(_) => "demo",
            Self::Sync(_) => "sync",
            Self::Inbox(_) => "inbox",
            Self::Producer => "producer",
            Self::Worker => "worker",
            Self::Status(_) => "status",
            Self::Sim(_) => "sim",
        }
    }
}

/// The telemetry a command runs with.
pub fn telemetry(command: &Command, config: &Config) -> TelemetryConfig {
    let mut telemetry = config.telemetry.clone();
    if !command.is_server() && !config.log_filter_set {
        telemetry.log_filter = "off".to_owned();
    }
    if telemetry.service_name == TelemetryConfig::default().service_name {
        telemetry.service_name = format!("backfill-{}", command.name());
    }
    telemetry
}

/// Runs a command to its end.
pub async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo(args) => demo::run(args, &config).await,
        Command::Sync(args) => sync::run(args, &config).await,
        Command::Inbox(args) => inbox::run(args, &config).await,
        Command::Producer => commands::producer::run(&config)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Worker => commands::worker::run(&config)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Status(args) => status::run(args, &config).await,
        Command::Sim(args) => backfill_sim::run(args, shutdown_signal())
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

/// Prints an error with its causes and says the command failed.
pub fn report(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

/// Resolves on SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown requested");
}

/// A Redis connection that reconnects by itself; the error names the URL without its
/// password.
pub async fn connect_redis(url: &str) -> anyhow::Result<ConnectionManager> {
    let shown = store::redact(url);
    let client = redis::Client::open(url).with_context(|| format!("invalid Redis URL {shown}"))?;
    // ConnectionManager retries its first connection with backoff; an unreachable Redis
    // should fail the start quickly and say so.
    tokio::time::timeout(Duration::from_secs(10), ConnectionManager::new(client))
        .await
        .map_err(|_| anyhow::anyhow!("cannot reach Redis at {shown}: timed out"))?
        .with_context(|| format!("cannot reach Redis at {shown}"))
}
