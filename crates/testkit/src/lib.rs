//! A whole fleet for a test or a benchmark, on real services: the simulator for the
//! channels, a PostgreSQL database of its own, its own Redis queue and rate-limit prefix,
//! a dispatcher, and workers — in this process, or as separate OS processes (the calling
//! test binary run again with `FLEET_CHILD` set, see [`Fleet::spawn_worker_process`]),
//! which a test may `kill -9`.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backfill_channels::{Connector, ConnectorsConfig, Credentials, SecretString};
use backfill_policy::{Channel, Policy, PresetName, planner};
use backfill_producer::dispatch::{DispatchSettings, Dispatcher};
use backfill_sim::{SimConfig, SimHandle};
use backfill_store::{Connect, CredentialKey, NewTenant, Progress, RunInfo, Store};
use backfill_truth::Expected;
use backfill_worker::clock::Clock;
use backfill_worker::executor::{Executor, ExecutorSettings};
use backfill_worker::queue::{QueueBackend, QueueSettings, StepQueue, run_workers};
use backfill_worker::ratelimit::{FleetLimiter, Limiter};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sqlx::Connection as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const TENANT: &str = "tenant-1";

pub fn redis_url() -> String {
    std::env::var("BACKFILL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn admin_database_url() -> String {
    std::env::var("BACKFILL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Where the fleet's parts meet: enough for a child process to join.
#[derive(Debug, Clone)]
pub struct Wiring {
    pub database_url: String,
    pub redis_url: String,
    pub queue: String,
    pub limiter_prefix: String,
    pub credential_key: String,
    pub sim_root: String,
}

impl Wiring {
    fn to_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("FLEET_CHILD", "1".into()),
            ("FLEET_DATABASE_URL", self.database_url.clone()),
            ("FLEET_REDIS_URL", self.redis_url.clone()),
            ("FLEET_QUEUE", self.queue.clone()),
            ("FLEET_LIMITER_PREFIX", self.limiter_prefix.clone()),
            ("FLEET_CREDENTIAL_KEY", self.credential_key.clone()),
            ("FLEET_SIM_ROOT", self.sim_root.clone()),
        ]
    }

    pub fn from_env() -> Option<Self> {
        std::env::var("FLEET_CHILD").ok()?;
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"));
        Some(Self {
            database_url: var("FLEET_DATABASE_URL"),
            redis_url: var("FLEET_REDIS_URL"),
            queue: var("FLEET_QUEUE"),
            limiter_prefix: var("FLEET_LIMITER_PREFIX"),
            credential_key: var("FLEET_CREDENTIAL_KEY"),
            sim_root: var("FLEET_SIM_ROOT"),
        })
    }

    pub fn queue_settings(&self, name: &str) -> QueueSettings {
        let mut settings = QueueSettings::new(QueueBackend::Redis {
            url: self.redis_url.clone(),
            queue: self.queue.clone(),
        });
        settings.worker_name_prefix = name.to_owned();
        settings.concurrency = 32;
        settings
    }

    pub fn connectors(&self) -> ConnectorsConfig {
        let root = &self.sim_root;
        serde_json::from_value(serde_json::json!({
            "request_timeout": 5.0,
            "facebook": {"base_url": format!("{root}/facebook")},
            "instagram": {"base_url": format!("{root}/instagram")},
            "zalo": {"base_url": format!("{root}/zalo")},
            "shopee": {"base_url": format!("{root}/shopee")},
        }))
        .expect("connector config")
    }

    /// The executor a worker of this fleet runs.
    pub async fn executor(&self, clock: Clock) -> Executor {
        let key = CredentialKey::from_base64(&self.credential_key).unwrap();
        let store = Store::connect(&self.database_url, key).await.unwrap();
        let connector = Connector::new(self.connectors()).unwrap();
        let redis = redis::Client::open(self.redis_url.as_str()).unwrap();
        let manager = redis::aio::ConnectionManager::new(redis).await.unwrap();
        let limiter = Limiter::Fleet(FleetLimiter::new(
            manager,
            self.limiter_prefix.clone(),
            // The shipped `worker.local_per_second` (config/default.toml): a lower
            // per-process ceiling would bind before the channels' budgets in the load test.
            NonZeroU32::new(100).unwrap(),
        ));
        let queue = StepQueue::connect(&self.queue_settings("pusher"))
            .await
            .unwrap();
        Executor::new(
            store,
            connector,
            limiter,
            queue,
            clock,
            ExecutorSettings::default(),
        )
    }
}

/// Runs a worker until `shutdown` is cancelled.
pub async fn run_worker(wiring: &Wiring, name: &str, clock: Clock, shutdown: CancellationToken) {
    let executor = wiring.executor(clock).await;
    let handler = move |job| {
        let executor = executor.clone();
        async move {
            executor.execute(job).await;
        }
    };
    run_workers(
        wiring.queue_settings(name),
        handler,
        shutdown.cancelled_owned(),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
}

#[allow(missing_debug_implementations, reason = "a test fixture")]
pub struct FleetOptions {
    pub sim: SimConfig,
    pub clock: Option<Clock>,
    pub in_process_workers: usize,
    pub dispatch: DispatchSettings,
    /// Redis to use instead of the shared one (a private, restartable instance).
    pub redis_url: Option<String>,
    /// A server to create the fleet's database on instead of the shared one.
    pub admin_database_url: Option<String>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            sim: SimConfig::default(),
            clock: None,
            in_process_workers: 1,
            dispatch: DispatchSettings::default(),
            redis_url: None,
            admin_database_url: None,
        }
    }
}

#[allow(missing_debug_implementations, reason = "a test fixture")]
pub struct Fleet {
    pub sim: SimHandle,
    pub store: Store,
    pub wiring: Wiring,
    pub clock: Clock,
    database: String,
    admin_database_url: String,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    children: Vec<Child>,
}

impl Fleet {
    pub async fn start(options: FleetOptions) -> Fleet {
        let sim = backfill_sim::spawn(options.sim).await.unwrap();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let database = format!("backfill_fleet_{}", &id[..12]);
        let admin_url = options
            .admin_database_url
            .unwrap_or_else(admin_database_url);
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let database_url = replace_database(&admin_url, &database);
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        let wiring = Wiring {
            database_url: database_url.clone(),
            redis_url: options.redis_url.unwrap_or_else(redis_url),
            queue: format!("test:fleet:{}", &id[..12]),
            limiter_prefix: format!("test:rl:{}", &id[..12]),
            credential_key: key.clone(),
            sim_root: format!("http://{}", sim.addr()),
        };
        let store = Store::connect(&database_url, CredentialKey::from_base64(&key).unwrap())
            .await
            .unwrap();
        store
            .upsert_tenant(
                &NewTenant {
                    id: TENANT,
                    name: "Tenant One",
                    api_key: &SecretString::from("key-1"),
                    webhook_url: None,
                    webhook_secret: None,
                    policy_overrides: &serde_json::json!({}),
                    timezone: None,
                },
                Utc::now(),
            )
            .await
            .unwrap();
        let clock = options.clock.unwrap_or_else(Clock::system);
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let queue = StepQueue::connect(&wiring.queue_settings("dispatcher"))
            .await
            .unwrap();
        let dispatcher = Dispatcher::new(store.clone(), queue, clock.clone(), options.dispatch);
        tasks.push(tokio::spawn(
            dispatcher.run(shutdown.clone().cancelled_owned()),
        ));
        for i in 0..options.in_process_workers {
            let (wiring, clock, shutdown) = (wiring.clone(), clock.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                run_worker(&wiring, &format!("inproc-{i}"), clock, shutdown).await
            }));
        }
        Fleet {
            sim,
            store,
            wiring,
            clock,
            database,
            admin_database_url: admin_url,
            shutdown,
            tasks,
            children: Vec::new(),
        }
    }

    /// Starts a worker in its own OS process: this test binary, run again as the
    /// ignored test `test_binary_filter` with the fleet's wiring in its environment.
    pub fn spawn_worker_process(&mut self, test_binary_filter: &str) -> usize {
        self.spawn_child(test_binary_filter, None)
    }

    /// As [`Fleet::spawn_worker_process`], with the child's output (JSON logs at debug
    /// level: `FLEET_LOG` asks the child to turn them on) written to `log`.
    pub fn spawn_logging_worker_process(
        &mut self,
        test_binary_filter: &str,
        log: &std::path::Path,
    ) -> usize {
        self.spawn_child(test_binary_filter, Some(log))
    }

    fn spawn_child(&mut self, test_binary_filter: &str, log: Option<&std::path::Path>) -> usize {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                test_binary_filter,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(self.wiring.to_env());
        match log {
            Some(path) => {
                let out = std::fs::File::create(path).unwrap();
                command
                    .env("FLEET_LOG", "debug")
                    .stdout(out.try_clone().unwrap())
                    .stderr(out)
            }
            None => command.stdout(Stdio::null()).stderr(Stdio::null()),
        };
        self.children.push(command.spawn().unwrap());
        self.children.len() - 1
    }

    /// Every row of every table of the fleet's database, as text.
    pub async fn database_text(&self) -> String {
        let mut db = sqlx::PgConnection::connect(&self.wiring.database_url)
            .await
            .unwrap();
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                .fetch_all(&mut db)
                .await
                .unwrap();
        let mut text = String::new();
        for (table,) in tables {
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT t::text FROM \"{table}\" t"
            )))
            .fetch_all(&mut db)
            .await
            .unwrap();
            for (row,) in rows {
                text.push_str(&row);
                text.push('\n');
            }
        }
        text
    }

    /// Every key and value the fleet keeps in Redis (queue and rate limits), as text.
    pub async fn redis_text(&self) -> String {
        let client = redis::Client::open(self.wiring.redis_url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut text = String::new();
        for pattern in [
            format!("{}*", self.wiring.queue),
            format!("{{{}*", self.wiring.limiter_prefix),
        ] {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut conn)
                .await
                .unwrap();
            for key in keys {
                text.push_str(&key);
                text.push('\n');
                let kind: String = redis::cmd("TYPE")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let dump: Vec<String> = match kind.as_str() {
                    "string" => vec![
                        redis::cmd("GET")
                            .arg(&key)
                            .query_async(&mut conn)
                            .await
                            .unwrap_or_default(),
                    ],
                    "hash" => redis::cmd("HGETALL")
                        .arg(&key)
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default(),
                    "list" => redis::cmd("LRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default(),
                    "set" => redis::cmd("SMEMBERS")
                        .arg(&key)
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default(),
                    "zset" => redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                for value in dump {
                    text.push_str(&value);
                    text.push('\n');
                }
            }
        }
        text
    }

    /// The worker processes started so far that are still running.
    pub fn live_worker_processes(&mut self) -> Vec<usize> {
        (0..self.children.len())
            .filter(|i| matches!(self.children[*i].try_wait(), Ok(None)))
            .collect()
    }

    /// `kill -9` of a worker process.
    pub fn kill_worker_process(&mut self, index: usize) {
        let child = &mut self.children[index];
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
    }

    pub async fn connect(&self, channel: Channel, account_id: &str, policy: &Policy) -> RunInfo {
        let account = self
            .sim
            .dataset()
            .account(account_id)
            .unwrap_or_else(|| panic!("no account {account_id}"));
        let credentials = Credentials::for_channel(
            channel,
            SecretString::from(account.access_token.clone()),
            account.shopee.as_ref().map(|s| s.partner_id),
            account
                .shopee
                .as_ref()
                .map(|s| SecretString::from(s.partner_key.clone())),
        )
        .unwrap();
        let now = self.clock.now();
        let ctx = planner::RunContext::new(policy, channel, now, now).unwrap();
        let first_steps = planner::first_steps(&ctx);
        self.store
            .connect_account(&Connect {
                tenant_id: TENANT,
                channel,
                account_id,
                credentials: &credentials.to_stored(),
                policy: &serde_json::to_value(policy).unwrap(),
                timezone: policy.timezone.name(),
                connected_at: now,
                first_steps: &first_steps,
                trace_context: None,
            })
            .await
            .unwrap()
    }

    pub async fn progress(&self, run_id: &str) -> Progress {
        self.store
            .progress(TENANT, run_id, self.clock.now())
            .await
            .unwrap()
            .expect("the run exists")
    }

    /// Waits until the run is no longer running, or panics after `limit`.
    pub async fn wait_for_end(&self, run_id: &str, limit: Duration) -> Progress {
        self.wait_until(run_id, limit, |p| p.status.as_str() != "running")
            .await
    }

    pub async fn wait_until(
        &self,
        run_id: &str,
        limit: Duration,
        done: impl Fn(&Progress) -> bool,
    ) -> Progress {
        let started = Instant::now();
        loop {
            let progress = self.progress(run_id).await;
            if done(&progress) {
                return progress;
            }
            assert!(
                started.elapsed() < limit,
                "run {run_id} still not there after {limit:?}: {progress:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The channel ids stored for `account_id`, read straight from the tables.
    pub async fn stored(&self, account_id: &str) -> Expected {
        let mut db = sqlx::PgConnection::connect(&self.wiring.database_url)
            .await
            .unwrap();
        let ids = |table: &'static str| {
            format!(
                "SELECT t.channel_id FROM {table} t JOIN connections c ON c.id = t.connection_id
                 WHERE c.account_id = $1"
            )
        };
        let mut read = async |table: &'static str| -> BTreeSet<String> {
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(ids(table)))
                .bind(account_id)
                .fetch_all(&mut db)
                .await
                .unwrap();
            let n = rows.len();
            let set: BTreeSet<String> = rows.into_iter().map(|(id,)| id).collect();
            assert_eq!(set.len(), n, "{table}: an item stored twice");
            set
        };
        let conversations = read("conversations").await;
        let messages = read("messages").await;
        let posts = read("posts").await;
        let comments = read("comments").await;
        let unavailable: Vec<(String,)> = sqlx::query_as(
            "SELECT m.channel_id FROM messages m JOIN connections c ON c.id = m.connection_id
             WHERE c.account_id = $1 AND m.unavailable",
        )
        .bind(account_id)
        .fetch_all(&mut db)
        .await
        .unwrap();
        Expected {
            conversations,
            messages,
            posts,
            comments,
            unavailable: unavailable.into_iter().map(|(id,)| id).collect(),
        }
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.store.close().await;
        let mut admin = sqlx::PgConnection::connect(&self.admin_database_url)
            .await
            .unwrap();
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.database
        )))
        .execute(&mut admin)
        .await;
        let redis = redis::Client::open(self.wiring.redis_url.as_str()).unwrap();
        if let Ok(mut conn) = redis.get_multiplexed_async_connection().await {
            for pattern in [
                format!("{}*", self.wiring.queue),
                format!("{{{}*", self.wiring.limiter_prefix),
            ] {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(&pattern)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                }
            }
        }
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

fn replace_database(url: &str, database: &str) -> String {
    let (base, _) = url
        .rsplit_once('/')
        .expect("a database URL ends with /name");
    format!("{base}/{database}")
}

pub fn preset(name: PresetName) -> Policy {
    Policy::preset(name)
}

/// The first account of `channel` in the dataset, and its `n`-th when asked.
pub fn account_of(sim: &SimHandle, channel: &str, n: usize) -> String {
    sim.dataset()
        .accounts()
        .iter()
        .filter(|a| a.channel.as_str() == channel)
        .nth(n)
        .unwrap_or_else(|| panic!("no {channel} account #{n}"))
        .id
        .clone()
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Redis of a test's own, with its append-only file on, so that a restart keeps the
/// queue (`../shared/notes/tooling.md`).
#[derive(Debug)]
pub struct PrivateRedis {
    port: u16,
    dir: std::path::PathBuf,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("backfill-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let redis = Self { port, dir };
        redis.launch();
        redis
    }

    fn launch(&self) {
        let status = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
            ])
            .args(["--daemonize", "yes", "--dir"])
            .arg(&self.dir)
            .arg("--pidfile")
            .arg(self.dir.join("redis.pid"))
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .status()
            .expect("redis-server is installed (scripts/services.sh installs it)");
        assert!(status.success());
        wait_for_port(self.port, "redis-server");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops Redis (its append-only file flushed) and starts it again on the same data.
    pub fn restart(&self) {
        let _ = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "shutdown"])
            .status();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.launch();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "shutdown", "nosave"])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of a test's own (trust authentication, fsync off), which the
/// test may restart.
#[derive(Debug)]
pub struct PrivatePostgres {
    port: u16,
    dir: std::path::PathBuf,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("backfill-pg-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pg = Self { port, dir };
        if is_root() {
            Command::new("chown")
                .arg("-R")
                .arg("postgres")
                .arg(&pg.dir)
                .status()
                .unwrap();
        }
        let initdb = pg
            .pg_command("initdb")
            .arg("-D")
            .arg(pg.dir.join("data"))
            .args(["-A", "trust", "-U", "postgres"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(initdb.success(), "initdb failed");
        pg.pg_ctl(&["start", "-w"]);
        wait_for_port(port, "PostgreSQL");
        pg
    }

    fn pg_command(&self, tool: &str) -> Command {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (scripts/services.sh installs it)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .max()
            .unwrap();
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
            c
        } else {
            Command::new(bin.join(tool))
        };
        command.stderr(Stdio::null());
        command
    }

    fn pg_ctl(&self, action: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let status = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-o", &options, "-m", "fast"])
            .args(action)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {action:?} failed");
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A fast restart: open connections are cut, as in a failover.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-w"]);
        wait_for_port(self.port, "PostgreSQL");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"))
}
