//! `backfill`: parse the command line, load the configuration, start telemetry, run.

use std::process::ExitCode;

use backfill_cli::config::Config;
use backfill_cli::{Cli, report, run, telemetry};
use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => return report(&error),
    };
    let _telemetry = match backfill_telemetry::init(&telemetry(&cli.command, &config)) {
        Ok(guard) => guard,
        Err(error) => return report(&error.into()),
    };
    run(cli.command, config)
        .await
        .unwrap_or_else(|error| report(&error))
}
