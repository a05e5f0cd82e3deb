//! A whole fleet for one benchmark, on the machine's Redis and PostgreSQL: the simulator
//! for the channels, a fresh database, its own queue name and rate-limit prefix, the
//! dispatcher, and workers — in this process, or as worker processes (this binary run
//! again as `backfill-bench worker`), which is what `fleet_vs_raw` and `worker_rss_mib`
//! measure.
//!
//! The wiring is the fleet tests' (`backfill-testkit`), which is what `backfill worker`
//! builds from its configuration: `Store::connect`, `StepQueue` on Redis, `FleetLimiter`,
//! `Executor`, `run_workers`, and `Dispatcher` on the producer side. It differs from the
//! testkit where a benchmark needs it to: several tenants, the dispatcher started once
//! the measured work is connected, worker processes that are this binary, errors
//! returned instead of panics.

use std::num::NonZeroU32;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use backfill_channels::{Account, Connector, ConnectorsConfig, Credentials, SecretString};
use backfill_policy::{Channel, Policy, planner};
use backfill_producer::dispatch::{DispatchSettings, Dispatcher};
use backfill_sim::{SimConfig, SimHandle};
use backfill_store::{Connect, CredentialKey, NewTenant, RunInfo, Store};
use backfill_worker::clock::Clock;
use backfill_worker::executor::{Executor, ExecutorSettings};
use backfill_worker::queue::{QueueBackend, QueueSettings, StepQueue, run_workers};
use backfill_worker::ratelimit::{FleetLimiter, Limiter};
use base64::Engine as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::Connection as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::profile;

/// The environment variable a worker process reads its [`Wiring`] from (JSON).
pub const WIRING_ENV: &str = "BACKFILL_BENCH_WIRING";

pub fn redis_url() -> String {
    std::env::var("BACKFILL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn admin_database_url() -> String {
    std::env::var("BACKFILL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// How a worker runs. The defaults are `config/default.toml`'s `[worker]` and
/// `[store]` sections, so a benchmark's worker is the one that ships.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSettings {
    pub concurrency: usize,
    /// This process's ceiling of channel calls per second, per channel.
    pub local_per_second: u32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            local_per_second: 100,
        }
    }
}

/// Where the fleet's parts meet: enough for a worker process to join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wiring {
    pub database_url: String,
    pub redis_url: String,
    pub queue: String,
    pub limiter_prefix: String,
    pub credential_key: String,
    pub sim_root: String,
    pub worker: WorkerSettings,
}

impl Wiring {
    pub fn queue_settings(&self, name: &str) -> QueueSettings {
        let mut settings = QueueSettings::new(QueueBackend::Redis {
            url: self.redis_url.clone(),
            queue: self.queue.clone(),
        });
        settings.worker_name_prefix = name.to_owned();
        settings.concurrency = self.worker.concurrency;
        settings
    }

    pub fn connectors(&self) -> ConnectorsConfig {
        connectors_for(&self.sim_root)
    }

    /// The executor a worker of this fleet runs.
    pub async fn executor(&self, clock: Clock) -> anyhow::Result<Executor> {
        let key = CredentialKey::from_base64(&self.credential_key)?;
        let store = Store::connect(&self.database_url, key).await?;
        let connector = Connector::new(self.connectors())?;
        let redis = redis::Client::open(self.redis_url.as_str())?;
        let manager = redis::aio::ConnectionManager::new(redis).await?;
        let local = NonZeroU32::new(self.worker.local_per_second)
            .context("local_per_second must be at least 1")?;
        let limiter = Limiter::Fleet(FleetLimiter::new(
            manager,
            self.limiter_prefix.clone(),
            local,
        ));
        let queue = StepQueue::connect(&self.queue_settings("pusher")).await?;
        Ok(Executor::new(
            store,
            connector,
            limiter,
            queue,
            clock,
            ExecutorSettings::default(),
        ))
    }
}

/// The connector configuration that points every channel at the simulator; page sizes
/// and timeouts are the production defaults.
pub fn connectors_for(sim_root: &str) -> ConnectorsConfig {
    serde_json::from_value(serde_json::json!({
        "facebook": {"base_url": format!("{sim_root}/facebook")},
        "instagram": {"base_url": format!("{sim_root}/instagram")},
        "zalo": {"base_url": format!("{sim_root}/zalo")},
        "shopee": {"base_url": format!("{sim_root}/shopee")},
    }))
    .expect("a valid connector configuration")
}

/// Runs a worker until `shutdown` is cancelled: what `backfill worker` does, without
/// its health endpoint and configuration layers. With a `recorder`, the time of every
/// step is recorded (`--profile`).
pub async fn run_worker(
    wiring: &Wiring,
    name: &str,
    shutdown: CancellationToken,
    recorder: Option<profile::Recorder>,
) -> anyhow::Result<()> {
    let executor = wiring.executor(Clock::system()).await?;
    let handler = move |job| {
        let (executor, recorder) = (executor.clone(), recorder.clone());
        async move {
            let started = Instant::now();
            executor.execute(job).await;
            if let Some(recorder) = recorder {
                recorder.handler(started.elapsed());
            }
        }
    };
    run_workers(
        wiring.queue_settings(name),
        handler,
        shutdown.cancelled_owned(),
        Duration::from_secs(5),
    )
    .await?;
    Ok(())
}

/// The worker process: reads its wiring from the environment and runs until its
/// standard input closes, which is also what happens when the benchmark dies.
pub async fn worker_process() -> anyhow::Result<()> {
    let wiring: Wiring =
        serde_json::from_str(&std::env::var(WIRING_ENV).context("no wiring in the environment")?)?;
    let profile_dir = std::env::var_os(profile::PROFILE_ENV).map(std::path::PathBuf::from);
    // As `backfill worker` does, unless profiling: logs to stdout (discarded by the
    // benchmarks), spans and metrics recorded, nothing exported without an endpoint.
    let (_telemetry, recorder) = match &profile_dir {
        Some(_) => (None, Some(profile::install()?)),
        None => {
            let config = backfill_telemetry::TelemetryConfig {
                service_name: "backfill-worker".into(),
                ..backfill_telemetry::TelemetryConfig::default()
            };
            (Some(backfill_telemetry::init(&config)?), None)
        }
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut sink).await;
        stop.cancel();
    });
    let outcome = run_worker(
        &wiring,
        &format!("bench-{}", std::process::id()),
        shutdown,
        recorder.clone(),
    )
    .await;
    if let (Some(dir), Some(recorder)) = (profile_dir, recorder) {
        recorder.write(&dir.join(format!("worker-{}.json", std::process::id())))?;
    }
    outcome
}

#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub sim: SimConfig,
    pub dispatch: DispatchSettings,
    pub worker: WorkerSettings,
    pub in_process_workers: usize,
    /// Tenants `tenant-0`, `tenant-1`, ...: connecting one simulated account under
    /// several tenants gives independent connections (their own rows, locks and rate
    /// budgets) over the same data.
    pub tenants: usize,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            sim: SimConfig::default(),
            dispatch: DispatchSettings::default(),
            worker: WorkerSettings::default(),
            in_process_workers: 1,
            tenants: 1,
        }
    }
}

pub struct Fleet {
    pub sim: SimHandle,
    pub store: Store,
    pub wiring: Wiring,
    pub clock: Clock,
    database: String,
    shutdown: CancellationToken,
    /// The dispatcher's settings until [`Fleet::start_dispatcher`] starts it.
    dispatch: Option<DispatchSettings>,
    tasks: Vec<JoinHandle<()>>,
    children: Vec<Child>,
}

impl Fleet {
    /// Starts everything but the dispatcher, which [`Fleet::start_dispatcher`] starts
    /// once the benchmark has connected what it measures (so that the clock starts when
    /// the work is there, not when the first of many connects lands).
    pub async fn start(options: FleetOptions) -> anyhow::Result<Fleet> {
        let sim = backfill_sim::spawn(options.sim).await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let database = format!("backfill_bench_{}", &id[..12]);
        let database_url = create_database(&database).await?;
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        let wiring = Wiring {
            database_url: database_url.clone(),
            redis_url: redis_url(),
            queue: format!("bench:steps:{}", &id[..12]),
            limiter_prefix: format!("bench:rl:{}", &id[..12]),
            credential_key: key.clone(),
            sim_root: format!("http://{}", sim.addr()),
            worker: options.worker,
        };
        let store = Store::connect(&database_url, CredentialKey::from_base64(&key)?).await?;
        for tenant in 0..options.tenants {
            let id = tenant_id(tenant);
            store
                .upsert_tenant(
                    &NewTenant {
                        id: &id,
                        name: &id,
                        api_key: &SecretString::from(format!("key-{id}")),
                        webhook_url: None,
                        webhook_secret: None,
                        policy_overrides: &serde_json::json!({}),
                        timezone: None,
                    },
                    Utc::now(),
                )
                .await?;
        }
        let mut fleet = Fleet {
            sim,
            store,
            wiring,
            clock: Clock::system(),
            database,
            shutdown: CancellationToken::new(),
            dispatch: Some(options.dispatch),
            tasks: Vec::new(),
            children: Vec::new(),
        };
        for i in 0..options.in_process_workers {
            let (wiring, shutdown) = (fleet.wiring.clone(), fleet.shutdown.clone());
            fleet.tasks.push(tokio::spawn(async move {
                if let Err(error) =
                    run_worker(&wiring, &format!("inproc-{i}"), shutdown, None).await
                {
                    eprintln!("in-process worker {i} failed: {error:#}");
                }
            }));
        }
        Ok(fleet)
    }

    pub async fn start_dispatcher(&mut self) -> anyhow::Result<()> {
        let Some(settings) = self.dispatch.take() else {
            anyhow::bail!("the dispatcher runs already")
        };
        let queue = StepQueue::connect(&self.wiring.queue_settings("dispatcher")).await?;
        let dispatcher = Dispatcher::new(self.store.clone(), queue, self.clock.clone(), settings);
        let handle = tokio::spawn(dispatcher.run(self.shutdown.clone().cancelled_owned()));
        self.tasks.push(handle);
        Ok(())
    }

    /// Starts a worker in its own OS process; returns its pid.
    pub fn spawn_worker_process(&mut self) -> anyhow::Result<u32> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        if let Some(dir) = profile::dir() {
            command.env(profile::PROFILE_ENV, dir);
        }
        let child = command
            .arg("worker")
            .env(WIRING_ENV, serde_json::to_string(&self.wiring)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Waits until every worker process has registered with the queue, so that a
    /// measurement does not include process start-up.
    pub async fn wait_for_workers(&self, expected: usize, limit: Duration) -> anyhow::Result<()> {
        let client = redis::Client::open(self.wiring.redis_url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let started = Instant::now();
        loop {
            let workers: u64 = redis::cmd("ZCARD")
                .arg(format!("{}:workers", self.wiring.queue))
                .query_async(&mut conn)
                .await?;
            if workers as usize >= expected {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < limit,
                "only {workers} of {expected} workers registered after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Connects `account_id` for `tenant` as the API would (C1): a new run and its first
    /// steps, which the dispatcher then hands to the queue.
    pub async fn connect(
        &self,
        tenant: &str,
        channel: Channel,
        account_id: &str,
        policy: &Policy,
    ) -> anyhow::Result<RunInfo> {
        let credentials = sim_credentials(&self.sim, channel, account_id)?;
        let now = self.clock.now();
        let ctx = planner::RunContext::new(policy, channel, now, now)?;
        let first_steps = planner::first_steps(&ctx);
        self.connect_with_steps(
            tenant,
            channel,
            account_id,
            policy,
            &credentials,
            &first_steps,
        )
        .await
    }

    pub async fn connect_with_steps(
        &self,
        tenant: &str,
        channel: Channel,
        account_id: &str,
        policy: &Policy,
        credentials: &Credentials,
        first_steps: &[backfill_policy::StepSpec],
    ) -> anyhow::Result<RunInfo> {
        let now = self.clock.now();
        Ok(self
            .store
            .connect_account(&Connect {
                tenant_id: tenant,
                channel,
                account_id,
                credentials: &credentials.to_stored(),
                policy: &serde_json::to_value(policy)?,
                timezone: policy.timezone.name(),
                connected_at: now,
                first_steps,
                trace_context: None,
            })
            .await?)
    }

    /// The name of the fleet's database.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// A plain connection to the fleet's database, for the benchmarks' own queries.
    pub async fn db(&self) -> anyhow::Result<sqlx::PgConnection> {
        Ok(sqlx::PgConnection::connect(&self.wiring.database_url).await?)
    }

    /// Waits until no run is running; returns when that was seen. Polls one cheap
    /// count, so that watching adds next to nothing to what is measured.
    pub async fn wait_all_finished(&self, limit: Duration) -> anyhow::Result<Instant> {
        let mut db = self.db().await?;
        let started = Instant::now();
        loop {
            let (running,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM runs WHERE status = 'running'")
                    .fetch_one(&mut db)
                    .await?;
            if running == 0 {
                let (bad,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM runs WHERE status <> 'completed'")
                        .fetch_one(&mut db)
                        .await?;
                anyhow::ensure!(bad == 0, "{bad} runs ended other than completed");
                return Ok(Instant::now());
            }
            anyhow::ensure!(
                started.elapsed() < limit,
                "{running} runs still running after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for child in &mut self.children {
            drop(child.stdin.take());
        }
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        for child in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
        self.store.close().await;
        drop_database(&self.database).await;
        delete_keys(
            &self.wiring.redis_url,
            &[
                format!("{}*", self.wiring.queue),
                format!("{{{}*", self.wiring.limiter_prefix),
            ],
        )
        .await;
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn tenant_id(n: usize) -> String {
    format!("tenant-{n}")
}

/// The credentials a merchant's connect would hand over for a simulated account.
pub fn sim_credentials(
    sim: &SimHandle,
    channel: Channel,
    account_id: &str,
) -> anyhow::Result<Credentials> {
    let account = sim
        .dataset()
        .account(account_id)
        .with_context(|| format!("no account {account_id}"))?;
    Ok(Credentials::for_channel(
        channel,
        SecretString::from(account.access_token.clone()),
        account.shopee.as_ref().map(|s| s.partner_id),
        account
            .shopee
            .as_ref()
            .map(|s| SecretString::from(s.partner_key.clone())),
    )?)
}

/// What the connector needs to call the channel for a simulated account.
pub fn sim_account(sim: &SimHandle, channel: Channel, account_id: &str) -> anyhow::Result<Account> {
    Ok(Account {
        channel,
        account_id: account_id.to_owned(),
        credentials: sim_credentials(sim, channel, account_id)?,
    })
}

/// The `n`-th account of `channel` in the simulator's dataset.
pub fn account_of(sim: &SimHandle, channel: Channel, n: usize) -> anyhow::Result<String> {
    sim.dataset()
        .accounts()
        .iter()
        .filter(|a| a.channel.as_str() == channel.as_str())
        .nth(n)
        .map(|a| a.id.clone())
        .with_context(|| format!("no {channel} account #{n}"))
}

/// A fresh database on the benchmark's PostgreSQL server; returns its URL.
pub async fn create_database(name: &str) -> anyhow::Result<String> {
    let mut admin = sqlx::PgConnection::connect(&admin_database_url())
        .await
        .context("PostgreSQL is not reachable (scripts/services.sh starts it)")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let admin_url = admin_database_url();
    let (base, _) = admin_url
        .rsplit_once('/')
        .context("a database URL ends with /name")?;
    Ok(format!("{base}/{name}"))
}

pub async fn drop_database(name: &str) {
    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_database_url()).await {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await;
    }
}

pub async fn delete_keys(redis_url: &str, patterns: &[String]) {
    let Ok(client) = redis::Client::open(redis_url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    for pattern in patterns {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        for chunk in keys.chunks(500) {
            let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
        }
    }
}
