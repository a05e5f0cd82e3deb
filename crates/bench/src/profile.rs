//! `--profile`: where a worker process's time goes, for the notes in
//! `docs/benchmarks.md`. Off by default, because it is not what ships: with it, a worker
//! process installs this layer instead of the product's telemetry and, when it stops,
//! writes what it saw to `<dir>/worker-<pid>.json`:
//! - every closed span by name (`step`, `channel.call`, `store.commit`, ...): how many and
//!   their total wall time, from the first time it was entered to the last time it was
//!   left (an instrumented future enters its span on every poll, so this is the time
//!   from the future's start to its end, without what a span held open afterwards);
//! - every SQL statement sqlx ran, by its first four words (sqlx's own `summary`): how
//!   many and their total execution time (sqlx's `elapsed`, which does not include waiting
//!   for a pooled connection);
//! - `handler`: the whole of each step as the queue's handler runs it, load included.
//!
//! Wall times of concurrent steps add up, so totals are compared with each other (what
//! share of a step is the commit), not with the run's duration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::span::Id;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// The environment variable naming the directory a profiled worker writes to.
pub const PROFILE_ENV: &str = "BACKFILL_BENCH_PROFILE";

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Asks every worker process started from now on to profile itself into `dir`.
pub fn enable(dir: PathBuf) {
    let _ = DIR.set(dir);
}

pub fn dir() -> Option<&'static Path> {
    DIR.get().map(PathBuf::as_path)
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Stat {
    pub count: u64,
    pub total_s: f64,
}

impl Stat {
    fn add(&mut self, d: Duration) {
        self.count += 1;
        self.total_s += d.as_secs_f64();
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Profile {
    pub spans: BTreeMap<String, Stat>,
    pub statements: BTreeMap<String, Stat>,
}

impl Profile {
    /// Adds another process's profile to this one.
    pub fn merge(&mut self, other: &Profile) {
        for (into, from) in [
            (&mut self.spans, &other.spans),
            (&mut self.statements, &other.statements),
        ] {
            for (name, stat) in from {
                let s = into.entry(name.clone()).or_default();
                s.count += stat.count;
                s.total_s += stat.total_s;
            }
        }
    }

    /// Mean milliseconds per step of each span and statement, largest first: how a step's
    /// time divides.
    pub fn per_step(&self) -> serde_json::Value {
        let steps = self.spans.get(HANDLER).map_or(0, |s| s.count).max(1) as f64;
        let mut rows: Vec<(String, f64, f64)> = self
            .spans
            .iter()
            .map(|(n, s)| (format!("span {n}"), s))
            .chain(self.statements.iter().map(|(n, s)| (format!("sql {n}"), s)))
            .map(|(n, s)| (n, s.total_s * 1000.0 / steps, s.count as f64 / steps))
            .collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        serde_json::json!({
            "steps": steps,
            "ms_per_step": rows.iter().map(|(n, ms, per)| serde_json::json!({"what": n, "ms": ms, "times": per})).collect::<Vec<_>>(),
        })
    }
}

/// The name under which the whole handler is recorded.
pub const HANDLER: &str = "handler";

#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Profile>>);

impl Recorder {
    pub fn handler(&self, took: Duration) {
        self.0
            .lock()
            .expect("profile")
            .spans
            .entry(HANDLER.to_owned())
            .or_default()
            .add(took);
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let profile = self.0.lock().expect("profile").clone();
        std::fs::write(path, serde_json::to_vec_pretty(&profile)?)?;
        Ok(())
    }
}

/// Installs the profiling layer as the process's subscriber.
pub fn install() -> anyhow::Result<Recorder> {
    let recorder = Recorder::default();
    let filter = EnvFilter::try_new("info,sqlx::query=debug")?;
    tracing_subscriber::registry()
        .with(filter)
        .with(TimingLayer(recorder.clone()))
        .try_init()?;
    Ok(recorder)
}

struct TimingLayer(Recorder);

/// When a span was first entered and last left.
struct Entered {
    first: Instant,
    last_exit: Option<Instant>,
}

impl<S> Layer<S> for TimingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if extensions.get_mut::<Entered>().is_none() {
                extensions.insert(Entered {
                    first: Instant::now(),
                    last_exit: None,
                });
            }
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(entered) = span.extensions_mut().get_mut::<Entered>()
        {
            entered.last_exit = Some(Instant::now());
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(took) = span
            .extensions()
            .get::<Entered>()
            .and_then(|e| Some(e.last_exit? - e.first))
        else {
            return;
        };
        let mut profile = (self.0).0.lock().expect("profile");
        profile
            .spans
            .entry(span.metadata().name().to_owned())
            .or_default()
            .add(took);
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut statement = Statement::default();
        event.record(&mut statement);
        if let (Some(summary), Some(secs)) = (statement.summary, statement.elapsed_secs) {
            let mut profile = (self.0).0.lock().expect("profile");
            profile
                .statements
                .entry(summary)
                .or_default()
                .add(Duration::from_secs_f64(secs.max(0.0)));
        }
    }
}

#[derive(Default)]
struct Statement {
    summary: Option<String>,
    elapsed_secs: Option<f64>,
}

impl Visit for Statement {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = Some(value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            self.summary = Some(value.trim_end_matches(" …").to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.summary = Some(
                format!("{value:?}")
                    .trim_matches('"')
                    .trim_end_matches(" …")
                    .to_owned(),
            );
        }
    }
}

/// Reads and merges the profiles the worker processes wrote into `dir` since `since`.
pub fn collect(dir: &Path, since: std::time::SystemTime) -> Profile {
    let mut merged = Profile::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return merged;
    };
    for entry in entries.flatten() {
        let fresh = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since);
        if !fresh {
            continue;
        }
        if let Ok(bytes) = std::fs::read(entry.path())
            && let Ok(profile) = serde_json::from_slice::<Profile>(&bytes)
        {
            merged.merge(&profile);
        }
    }
    merged
}
