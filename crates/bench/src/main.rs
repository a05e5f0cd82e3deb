//! `backfill-bench`: the benchmarks of `make bench` (issue 9), on the machine's Redis and
//! PostgreSQL and the channel simulator. Each one measures and reports; none passes or
//! fails on a figure. `docs/benchmarks.md` says what each figure measures and how.
//!
//! ```text
//! backfill-bench [--only calls,slice,fleet,bullmq,rss] [--out target/bench/results.json]
//!                [--bullmq-dir bench/bullmq]
//! backfill-bench worker      # a worker process of a benchmark's fleet (internal)
//! ```
//!
//! Modules: `fleet` wires a fleet (simulator, store, queue, dispatcher, workers in this
//! process or as processes); `calls`, `slice`, `throughput`, `bullmq` and `rss` are the
//! benchmarks; `report` writes the results and prints the table.

mod bullmq;
mod calls;
mod cpu;
mod fleet;
mod profile;
mod report;
mod rss;
mod slice;
mod throughput;

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};

use crate::report::Results;

#[derive(Debug, Parser)]
#[command(about = "Backfill's benchmarks: they measure and report, and never fail on a figure")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Run only these benchmarks.
    #[arg(long, value_delimiter = ',', default_values_t = Bench::all())]
    only: Vec<Bench>,
    /// Where the results go (JSON).
    #[arg(long, default_value = "target/bench/results.json")]
    out: PathBuf,
    /// The BullMQ side of `vs_bullmq`, with its `node_modules` installed.
    #[arg(long, default_value = "bench/bullmq")]
    bullmq_dir: PathBuf,
    /// Worker processes record where their time goes (docs/benchmarks.md) into
    /// `target/bench/profile/`; the summary lands in the throughput details. Not the
    /// shipped telemetry, so figures of a profiled run are not the headline ones.
    #[arg(long)]
    profile: bool,
    /// Tenants connecting the four large accounts in `fleet_vs_raw`.
    #[arg(long, default_value_t = 4)]
    fleet_tenants: usize,
    /// Tenants connecting the large Zalo OA in `vs_bullmq`.
    #[arg(long, default_value_t = 8)]
    steps_tenants: usize,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A worker process of a benchmark's fleet (started by the benchmarks themselves).
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bench {
    Calls,
    Slice,
    Fleet,
    Bullmq,
    Rss,
}

impl Bench {
    fn all() -> Vec<Bench> {
        vec![
            Bench::Calls,
            Bench::Slice,
            Bench::Fleet,
            Bench::Bullmq,
            Bench::Rss,
        ]
    }
}

impl std::fmt::Display for Bench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        f.write_str(&name)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Some(Command::Worker) => runtime.block_on(fleet::worker_process()),
        None => runtime.block_on(run_benchmarks(&cli)),
    }
}

async fn run_benchmarks(cli: &Cli) -> anyhow::Result<()> {
    let started = Instant::now();
    if cli.profile {
        let dir = cli
            .out
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("profile");
        std::fs::create_dir_all(&dir)?;
        profile::enable(dir);
    }
    let mut results = Results {
        started_at: chrono::Utc::now().to_rfc3339(),
        machine: report::machine(&fleet::admin_database_url(), &fleet::redis_url()).await,
        ..Results::default()
    };
    for bench in Bench::all().into_iter().filter(|b| cli.only.contains(b)) {
        eprintln!("backfill-bench: {bench} ...");
        // The machine may be shared: what else ran is part of the figure's context.
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        results.detail(
            &format!("loadavg_before.{bench}"),
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        );
        let at = Instant::now();
        if let Err(error) = run_one(bench, cli, &mut results).await {
            eprintln!("backfill-bench: {bench} could not run: {error:#}");
            results
                .errors
                .insert(bench.to_string(), format!("{error:#}"));
        }
        eprintln!(
            "backfill-bench: {bench} took {:.0} s",
            at.elapsed().as_secs_f64()
        );
        throughput::settle().await;
    }
    results.seconds = started.elapsed().as_secs_f64();
    if let Some(dir) = cli.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&cli.out, serde_json::to_string_pretty(&results)? + "\n")?;
    println!("{}", results.table());
    println!(
        "written to {} ({:.0} s)",
        cli.out.display(),
        results.seconds
    );
    // A benchmark that could not run is a broken run, not a slow one.
    anyhow::ensure!(
        results.errors.is_empty(),
        "{} benchmark(s) could not run",
        results.errors.len()
    );
    Ok(())
}

async fn run_one(bench: Bench, cli: &Cli, results: &mut Results) -> anyhow::Result<()> {
    match bench {
        Bench::Calls => {
            results.missing(&[
                "calls_ratio.facebook",
                "calls_ratio.instagram",
                "calls_ratio.zalo",
                "calls_ratio.shopee",
            ]);
            let (clean, quirky) = calls::run().await?;
            for c in &clean {
                results.figure(format!("calls_ratio.{}", c.channel), c.ratio);
                results.figure(format!("calls.{}", c.channel), c.calls as f64);
                results.figure(format!("fewest_calls.{}", c.channel), c.fewest_calls as f64);
            }
            for c in &quirky {
                results.figure(
                    format!("calls_ratio_with_paging_quirks.{}", c.channel),
                    c.ratio,
                );
            }
            results.detail("calls_ratio", &clean);
            results.detail("calls_ratio_with_paging_quirks", &quirky);
        }
        Bench::Slice => {
            results.missing(&["slice_ratio"]);
            let figures = slice::run().await?;
            let worst = figures.iter().map(|f| f.ratio).fold(f64::NAN, f64::max);
            results.figure("slice_ratio", worst);
            for f in &figures {
                let case = f.case.replace('/', ".");
                results.figure(format!("slice_ratio.{case}"), f.ratio);
                results.figure(format!("slice_seconds.{case}"), f.took_s);
                results.figure(format!("slice_bound_seconds.{case}"), f.bound_s);
            }
            results.detail("slice_ratio", &figures);
        }
        Bench::Fleet => {
            results.missing(&["fleet_vs_raw", "fleet2_vs_raw"]);
            let workload = throughput::Workload::messages(cli.fleet_tenants)?;
            let c = throughput::compare(&workload).await?;
            results.figure("raw_messages_per_s", c.raw_messages_per_s);
            results.figure("fleet_messages_per_s", c.fleet.messages_per_s);
            results.figure("fleet2_messages_per_s", c.fleet2.messages_per_s);
            results.figure(
                "fleet_vs_raw",
                c.fleet.messages_per_s / c.raw_messages_per_s,
            );
            results.figure(
                "fleet2_vs_raw",
                c.fleet2.messages_per_s / c.raw_messages_per_s,
            );
            // CPU seconds for the same work: steadier than rates on a shared machine.
            let raw_cpu = c.raw.iter().map(|r| r.cpu_s).sum::<f64>() / c.raw.len().max(1) as f64;
            results.figure("raw_cpu_s", raw_cpu);
            results.figure("fleet_cpu_s", c.fleet.cpu.total_s());
            results.figure("fleet2_cpu_s", c.fleet2.cpu.total_s());
            results.detail("fleet_vs_raw", &c);
        }
        Bench::Bullmq => {
            results.missing(&["vs_bullmq", "bullmq_noop_jobs_per_s"]);
            let figure = bullmq::run(&cli.bullmq_dir, cli.steps_tenants).await?;
            results.figure("vs_bullmq", figure.ratio);
            results.figure("bullmq_noop_jobs_per_s", figure.bullmq_noop.jobs_per_s);
            results.figure("bullmq_tx_jobs_per_s", figure.bullmq_tx.jobs_per_s);
            results.figure("pipeline_steps_per_s", figure.pipeline.steps_per_s);
            results.detail("vs_bullmq", &figure);
        }
        Bench::Rss => {
            results.missing(&["worker_rss_mib"]);
            let figure = rss::run().await?;
            results.figure("worker_rss_mib", figure.rss_mib_max);
            results.figure("worker_hwm_mib", figure.hwm_mib);
            results.figure("worker_idle_rss_mib", figure.rss_mib_idle);
            results.detail("worker_rss_mib", &figure);
        }
    }
    Ok(())
}
