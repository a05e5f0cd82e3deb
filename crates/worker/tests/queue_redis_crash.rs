//! kill -9 of a worker process in the middle of a task: the orphaned task comes back through
//! apalis's heartbeat-based orphan recovery (pitfall 6) and another worker runs it.
//!
//! The victim is this test binary re-invoked as a child process that runs only the ignored
//! test below. Runs against a private redis-server, about 35 s.

mod queue_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use backfill_worker::queue::{QueueBackend, QueueSettings, StepQueue, run_workers};
use queue_support::{GRACE, PrivateRedis, TestQueue, Workers, job, receive, reporting_handler};
use redis::AsyncCommands;
use tokio::sync::mpsc;
use tokio::time::Instant;

const CHILD_TEST: &str = "child_process_runs_a_worker_whose_step_never_finishes";
const CHILD_URL: &str = "BACKFILL_QUEUE_CHILD_REDIS_URL";
const CHILD_QUEUE: &str = "BACKFILL_QUEUE_CHILD_QUEUE";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_orphaned_by_kill_9_of_its_worker_process_is_picked_up_by_another_worker_within_40_s()
 {
    let redis = PrivateRedis::start();
    let queue = TestQueue::new(&redis.url, "crash");
    let steps = StepQueue::connect(&queue.settings("pusher")).await.unwrap();
    steps.push(&[job(42)]).await.unwrap();

    let mut victim = ChildProcess(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CHILD_TEST, "--ignored", "--test-threads", "1"])
            .env(CHILD_URL, &queue.url)
            .env(CHILD_QUEUE, &queue.name)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut conn = queue.conn().await;
    let started: Option<(String, i64)> = conn.blpop(queue.key("test:started"), 20.0).await.unwrap();
    assert_eq!(
        started.map(|(_, step)| step),
        Some(42),
        "the child took the task"
    );
    let victims = queue.workers().await;
    assert!(
        victims.len() == 1 && victims[0].starts_with("crash-child-"),
        "{victims:?}"
    );
    assert_eq!(
        queue.claimed().await.len(),
        1,
        "the task is claimed by the child"
    );

    victim.0.kill().unwrap(); // SIGKILL: no shutdown path runs
    victim.0.wait().unwrap();
    let killed = Instant::now();

    let (sender, mut jobs) = mpsc::unbounded_channel();
    let survivor = Workers::start(queue.settings("survivor"), reporting_handler(sender), GRACE);
    let recovered = receive(&mut jobs, 1, Duration::from_secs(45)).await;
    let took = killed.elapsed();
    assert_eq!(recovered, [job(42)]);
    eprintln!("orphaned task recovered {took:?} after the kill");
    // The child's last heartbeat was at most 5 s before the kill, so recovery comes between
    // the 30 s window minus that heartbeat and the window plus one survivor heartbeat.
    assert!(took <= Duration::from_secs(40), "recovered after {took:?}");
    assert!(
        took >= Duration::from_secs(24),
        "recovered too early: {took:?}"
    );

    let workers = queue.workers().await;
    assert!(
        workers.len() == 1 && workers[0].starts_with("survivor-"),
        "the dead worker was removed: {workers:?}"
    );
    survivor.shut_down().await;
    assert!(queue.claimed().await.is_empty());
    assert_eq!(steps.depth().await.unwrap().total(), 0);
}

/// The victim of the test above: takes the task, reports it, then hangs until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs only as the child process of the kill -9 test"]
async fn child_process_runs_a_worker_whose_step_never_finishes() {
    let (Ok(url), Ok(queue)) = (std::env::var(CHILD_URL), std::env::var(CHILD_QUEUE)) else {
        return;
    };
    let settings = QueueSettings {
        worker_name_prefix: "crash-child".into(),
        ..QueueSettings::new(QueueBackend::Redis {
            url: url.clone(),
            queue: queue.clone(),
        })
    };
    let started_key = format!("{queue}:test:started");
    let handler = move |job: backfill_worker::queue::StepJob| {
        let (url, started_key) = (url.clone(), started_key.clone());
        async move {
            let mut conn = redis::Client::open(url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            let _: () = conn.rpush(started_key, job.step_id).await.unwrap();
            std::future::pending::<()>().await;
        }
    };
    run_workers(settings, handler, std::future::pending(), GRACE)
        .await
        .unwrap();
}

/// Kills the child if the test fails before it does.
struct ChildProcess(Child);

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
