//! `target/bench/results.json` and the table printed after a run.
//!
//! Figures are flat `name → number` pairs (`null` when the benchmark could not run), so
//! that a later run can be compared line by line; what stands behind each ratio is kept
//! beside it under its own name and, in full, under `details`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// Where a figure should land. Benchmarks report; nothing fails on a figure.
#[derive(Debug, Clone, Copy, Serialize)]
pub enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Self::AtMost(goal) => value <= goal,
            Self::AtLeast(goal) => value >= goal,
        }
    }

    fn describe(self) -> String {
        match self {
            Self::AtMost(goal) => format!("<= {goal}"),
            Self::AtLeast(goal) => format!(">= {goal}"),
        }
    }
}

/// The goal of a headline figure, from issue 9.
pub fn goal_of(figure: &str) -> Option<Goal> {
    match figure {
        f if f.starts_with("calls_ratio.") => Some(Goal::AtMost(1.05)),
        "slice_ratio" => Some(Goal::AtMost(1.25)),
        "fleet_vs_raw" | "fleet2_vs_raw" => Some(Goal::AtLeast(0.5)),
        "vs_bullmq" => Some(Goal::AtLeast(1.0)),
        "worker_rss_mib" => Some(Goal::AtMost(64.0)),
        _ => None,
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub machine: BTreeMap<String, serde_json::Value>,
    pub started_at: String,
    pub seconds: f64,
    pub figures: BTreeMap<String, Option<f64>>,
    pub goals: BTreeMap<String, String>,
    /// Benchmarks that could not run, with why.
    pub errors: BTreeMap<String, String>,
    pub details: BTreeMap<String, serde_json::Value>,
}

impl Results {
    pub fn figure(&mut self, name: impl Into<String>, value: f64) {
        let name = name.into();
        if let Some(goal) = goal_of(&name) {
            self.goals.insert(name.clone(), goal.describe());
        }
        self.figures
            .insert(name, value.is_finite().then_some(value));
    }

    /// The figures a failed benchmark would have written, as `null`.
    pub fn missing(&mut self, names: &[&str]) {
        for name in names {
            if let Some(goal) = goal_of(name) {
                self.goals.insert((*name).to_owned(), goal.describe());
            }
            self.figures.entry((*name).to_owned()).or_insert(None);
        }
    }

    pub fn detail(&mut self, name: &str, value: impl Serialize) {
        let value = serde_json::to_value(value)
            .unwrap_or_else(|e| serde_json::Value::String(e.to_string()));
        self.details.insert(name.to_owned(), value);
    }

    /// The headline figures with their goals, then the numbers behind them.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<44} {:>14}  {:<8} verdict",
            "figure", "value", "goal"
        );
        let headline = |name: &String| goal_of(name).is_some();
        for pass in [true, false] {
            if !pass {
                let _ = writeln!(out, "\nbehind the figures");
            }
            for (name, value) in self.figures.iter().filter(|(n, _)| headline(n) == pass) {
                let shown = value.map_or_else(|| "—".to_owned(), format_value);
                let (goal, verdict) = match (goal_of(name), value) {
                    (Some(goal), Some(v)) => {
                        (goal.describe(), if goal.met(*v) { "met" } else { "MISSED" })
                    }
                    (Some(goal), None) => (goal.describe(), "not measured"),
                    (None, _) => (String::new(), ""),
                };
                let _ = writeln!(out, "{name:<44} {shown:>14}  {goal:<8} {verdict}");
            }
        }
        for (name, error) in &self.errors {
            let _ = writeln!(out, "\n{name} could not run: {error}");
        }
        out
    }
}

fn format_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// What the figures were measured on.
pub async fn machine(database: &str, redis: &str) -> BTreeMap<String, serde_json::Value> {
    let mut m = BTreeMap::new();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    m.insert("nproc".into(), cores.into());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if let Some(model) = cpuinfo.lines().find_map(|l| {
        l.strip_prefix("model name")?
            .split_once(':')
            .map(|(_, v)| v.trim())
    }) {
        m.insert("cpu_model".into(), model.into());
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(kib) = meminfo.lines().find_map(|l| {
        l.strip_prefix("MemTotal:")?
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
    }) {
        m.insert("mem_total_mib".into(), (kib / 1024).into());
    }
    if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        m.insert("kernel".into(), kernel.trim().into());
    }
    if let Ok(out) = tokio::process::Command::new("node")
        .arg("--version")
        .output()
        .await
    {
        m.insert(
            "node".into(),
            String::from_utf8_lossy(&out.stdout).trim().into(),
        );
    }
    if let Ok(mut db) = <sqlx::PgConnection as sqlx::Connection>::connect(database).await
        && let Ok((version,)) = sqlx::query_as::<_, (String,)>("SHOW server_version")
            .fetch_one(&mut db)
            .await
    {
        m.insert("postgresql".into(), version.into());
    }
    if let Ok(client) = redis::Client::open(redis)
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
        && let Ok(info) = redis::cmd("INFO")
            .arg("server")
            .query_async::<String>(&mut conn)
            .await
        && let Some(version) = info.lines().find_map(|l| l.strip_prefix("redis_version:"))
    {
        m.insert("redis".into(), version.trim().into());
    }
    m
}
