//! CPU seconds spent by each part of a run, from `/proc/<pid>/stat`: where a
//! throughput run's time goes at the level of processes. The benchmark process itself
//! is the simulator, the dispatcher and the raw loops; PostgreSQL is counted as the
//! backends serving the run's own database (the server's shared background processes,
//! and Redis, serve other clients of the machine too and are left out).

use std::collections::BTreeMap;

use serde::Serialize;

/// Linux reports process times in clock ticks of `USER_HZ`, which is 100 on every
/// architecture Linux supports (the kernel scales its internal `HZ` to it).
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds of a process (all its threads), if it is alive.
pub fn process_cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// User + system CPU seconds of this process's children that have exited and been
/// waited for (`cutime` + `cstime`).
pub fn reaped_children_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cutime: f64 = fields.get(13)?.parse().ok()?;
    let cstime: f64 = fields.get(14)?.parse().ok()?;
    Some((cutime + cstime) / USER_HZ)
}

/// The PostgreSQL backends connected to `database` right now.
pub async fn postgres_backends(
    db: &mut sqlx::PgConnection,
    database: &str,
) -> anyhow::Result<Vec<u32>> {
    let pids: Vec<(i32,)> = sqlx::query_as(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .fetch_all(db)
    .await?;
    Ok(pids.into_iter().map(|(pid,)| pid as u32).collect())
}

/// A snapshot of CPU seconds per process, to subtract from a later one.
#[derive(Debug, Clone, Default)]
pub struct Snapshot(BTreeMap<u32, f64>);

impl Snapshot {
    pub fn take(pids: impl IntoIterator<Item = u32>) -> Self {
        Self(
            pids.into_iter()
                .filter_map(|pid| Some((pid, process_cpu_s(pid)?)))
                .collect(),
        )
    }

    /// CPU seconds `pids` spent since `self` (a process not in `self` started since).
    pub fn spent_since(&self, pids: impl IntoIterator<Item = u32>) -> f64 {
        pids.into_iter()
            .filter_map(|pid| Some(process_cpu_s(pid)? - self.0.get(&pid).copied().unwrap_or(0.0)))
            .sum()
    }
}

/// CPU seconds by part of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuSpent {
    /// Worker processes.
    pub workers_s: f64,
    /// This process: the simulator answering the calls, the dispatcher, the raw loops.
    pub bench_process_s: f64,
    /// The backends of the run's database.
    pub postgres_s: f64,
}

impl CpuSpent {
    pub fn total_s(&self) -> f64 {
        self.workers_s + self.bench_process_s + self.postgres_s
    }
}
