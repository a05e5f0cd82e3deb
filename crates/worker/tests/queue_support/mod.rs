//! Shared by the `queue_*` tests: `run_workers` in the background with a shutdown switch,
//! test handlers, Redis isolation (a unique queue name per test, its keys deleted even when
//! the test panics), a private redis-server for tests that kill things, scratch
//! directories, and a polling helper.
#![allow(dead_code)] // each test file uses its own subset

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backfill_worker::queue::{
    QueueBackend, QueueError, QueueSettings, StepJob, StepQueue, run_workers,
};
use futures::FutureExt;
use futures::future::BoxFuture;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Commands};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub const GRACE: Duration = Duration::from_secs(5);

pub fn job(step_id: i64) -> StepJob {
    StepJob {
        step_id,
        traceparent: (step_id % 2 == 0)
            .then(|| format!("00-{:032x}-{:016x}-01", step_id + 1, step_id + 7)),
    }
}

/// `run_workers` in the background, with a shutdown switch.
#[derive(Debug)]
pub struct Workers {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), QueueError>>,
}

impl Workers {
    pub fn start<H, Fut>(settings: QueueSettings, handler: H, grace: Duration) -> Self
    where
        H: Fn(StepJob) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        Self {
            stop: Some(stop),
            handle: tokio::spawn(run_workers(settings, handler, shutdown, grace)),
        }
    }

    /// Signals shutdown and waits for `run_workers` to return; gives how long it took.
    pub async fn shut_down(mut self) -> Duration {
        let asked = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        let result = tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("run_workers returns after shutdown")
            .expect("run_workers does not panic");
        result.expect("run_workers ends without error");
        asked.elapsed()
    }
}

/// A handler that reports every job it is given.
pub fn reporting_handler(
    sender: mpsc::UnboundedSender<StepJob>,
) -> impl Fn(StepJob) -> std::future::Ready<()> + Clone + Send + Sync + 'static {
    move |job| {
        let _ = sender.send(job);
        std::future::ready(())
    }
}

pub async fn receive(
    jobs: &mut mpsc::UnboundedReceiver<StepJob>,
    count: usize,
    within: Duration,
) -> Vec<StepJob> {
    let mut received = Vec::new();
    tokio::time::timeout(within, async {
        while received.len() < count {
            received.push(jobs.recv().await.expect("handler alive"));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {count} jobs within {within:?}", received.len()));
    received
}

/// The machine's shared Redis; override with `BACKFILL_TEST_REDIS_URL`.
pub fn shared_redis_url() -> String {
    std::env::var("BACKFILL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A queue name no other test uses; every key under it is deleted on drop.
#[derive(Debug)]
pub struct TestQueue {
    pub url: String,
    pub name: String,
}

impl TestQueue {
    pub fn new(url: &str, label: &str) -> Self {
        Self {
            url: url.to_owned(),
            name: format!("backfill-test:{label}:{:08x}", rand::random::<u32>()),
        }
    }

    /// Settings as production has them, with a tighter step timeout where a test needs one.
    pub fn settings(&self, prefix: &str) -> QueueSettings {
        QueueSettings {
            worker_name_prefix: prefix.to_owned(),
            ..QueueSettings::new(QueueBackend::Redis {
                url: self.url.clone(),
                queue: self.name.clone(),
            })
        }
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.name)
    }

    pub async fn conn(&self) -> MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    pub async fn keys(&self, suffix_pattern: &str) -> Vec<String> {
        let mut conn = self.conn().await;
        let mut keys: Vec<String> = Vec::new();
        let mut iter = conn
            .scan_match::<_, String>(self.key(suffix_pattern))
            .await
            .unwrap();
        while let Some(key) = futures::StreamExt::next(&mut iter).await {
            keys.push(key.unwrap());
        }
        keys
    }

    /// Worker names currently in `<q>:workers`.
    pub async fn workers(&self) -> Vec<String> {
        self.conn()
            .await
            .zrange(self.key("workers"), 0, -1)
            .await
            .unwrap()
    }

    /// Every task id held in any `<q>:inflight:<worker>` set.
    pub async fn claimed(&self) -> Vec<String> {
        let mut conn = self.conn().await;
        let mut ids = Vec::new();
        for key in self.keys("inflight:*").await {
            let members: Vec<String> = conn.smembers(key).await.unwrap();
            ids.extend(members);
        }
        ids
    }
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let keys: Vec<String> = match conn.scan_match::<_, String>(format!("{}:*", self.name)) {
            Ok(iter) => iter.filter_map(Result::ok).collect(),
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = conn.del(keys);
        }
        // apalis registers every queue in one global sorted set.
        let _: redis::RedisResult<()> = conn.zrem("core:apalis:queues:list", self.key("workers"));
    }
}

/// A redis-server of the test's own, on a free port, stopped on drop.
#[derive(Debug)]
pub struct PrivateRedis {
    pub url: String,
    dir: PathBuf,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = scratch_dir("redis");
        let pidfile = dir.join("redis.pid");
        let status = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "yes"])
            .arg("--pidfile")
            .arg(&pidfile)
            .arg("--dir")
            .arg(&dir)
            .status()
            .expect("redis-server is installed (apt-get install -y redis-server)");
        assert!(status.success(), "redis-server did not start");
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while client.get_connection().is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server on {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { url, dir }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("redis.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh directory under the system temp dir; the caller removes it.
pub fn scratch_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "backfill-queue-test-{label}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes a directory on drop.
#[derive(Debug)]
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(label: &str) -> Self {
        Self(scratch_dir(label))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `condition` every 50 ms until it holds; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A handler that counts the steps it starts and holds each until a permit is added.
pub fn gated_handler() -> (
    Arc<Semaphore>,
    Arc<AtomicUsize>,
    impl Fn(StepJob) -> BoxFuture<'static, ()> + Clone + Send + Sync + 'static,
) {
    let release = Arc::new(Semaphore::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (release, started) = (release.clone(), started.clone());
        move |_: StepJob| {
            let release = release.clone();
            started.fetch_add(1, Ordering::SeqCst);
            async move { release.acquire().await.unwrap().forget() }.boxed()
        }
    };
    (release, started, handler)
}

/// Pushes ten jobs one after another, each once the previous one reached the handler,
/// and returns how long the ten took. With workers that only poll, each would wait for
/// the idle worker's next poll: half an interval on average.
pub async fn ten_pushes_one_after_another(
    steps: &StepQueue,
    jobs: &mut mpsc::UnboundedReceiver<StepJob>,
) -> Duration {
    let started = Instant::now();
    for id in 1..=10 {
        steps.push(&[job(id)]).await.unwrap();
        receive(jobs, 1, Duration::from_secs(5)).await;
    }
    started.elapsed()
}
