//! The Redis queue against a real Redis (`BACKFILL_TEST_REDIS_URL`, default the machine's
//! 127.0.0.1:6379). Every test has its own queue name and deletes its keys.
//!
//! Tests named `apalis_*` pin apalis-redis 1.0 behaviour that the queue module works
//! around, so that an upgrade which changes it fails here first.

mod queue_support;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apalis::prelude::{BackendExt, TaskBuilder, WorkerBuilder, WorkerContext};
use apalis_redis::{Config, RedisStorage};
use backfill_worker::queue::{
    QueueBackend, QueueDepth, QueueError, QueueSettings, StepJob, StepQueue, run_workers,
};
use queue_support::{
    GRACE, TestQueue, Workers, gated_handler, job, receive, reporting_handler, shared_redis_url,
    ten_pushes_one_after_another, wait_until,
};
use redis::AsyncCommands;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

async fn wait_for_workers(queue: &TestQueue, count: usize) -> Vec<String> {
    wait_until(Duration::from_secs(5), "workers to register", || async {
        queue.workers().await.len() == count
    })
    .await;
    queue.workers().await
}

async fn push(queue: &TestQueue, jobs: &[StepJob]) -> StepQueue {
    let steps = StepQueue::connect(&queue.settings("pusher")).await.unwrap();
    steps.push(jobs).await.unwrap();
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_jobs_are_each_delivered_and_the_handler_sees_the_exact_step_job() {
    let queue = TestQueue::new(&shared_redis_url(), "deliver");
    let pushed: Vec<StepJob> = (1..=40).map(job).collect();
    push(&queue, &pushed).await;

    let (sender, mut jobs) = mpsc::unbounded_channel();
    let workers = Workers::start(queue.settings("pod"), reporting_handler(sender), GRACE);
    let received = receive(&mut jobs, pushed.len(), Duration::from_secs(10)).await;
    workers.shut_down().await;

    let by_id = |jobs: &[StepJob]| -> BTreeMap<i64, StepJob> {
        jobs.iter().map(|job| (job.step_id, job.clone())).collect()
    };
    assert_eq!(by_id(&received), by_id(&pushed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_start_registers_its_own_worker_name_even_with_the_same_prefix() {
    let queue = TestQueue::new(&shared_redis_url(), "names");
    let first = Workers::start(queue.settings("pod-a"), |_| async {}, GRACE);
    let second = Workers::start(queue.settings("pod-a"), |_| async {}, GRACE);

    let names = wait_for_workers(&queue, 2).await;
    assert!(
        names.iter().all(|name| name.starts_with("pod-a-")),
        "{names:?}"
    );
    assert_ne!(names[0], names[1]);

    first.shut_down().await;
    second.shut_down().await;
    assert!(
        queue.workers().await.is_empty(),
        "stopped workers deregister"
    );
    assert!(queue.keys("workers:metadata:*").await.is_empty());
}

/// Pitfall 8: why each start needs a new name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apalis_refuses_to_register_a_worker_name_that_is_still_registered() {
    let queue = TestQueue::new(&shared_redis_url(), "apalis-name");
    let config = Config::default().queue(&queue.name);
    let start = |ctx: WorkerContext| {
        let config = config.clone();
        let url = queue.url.clone();
        tokio::spawn(async move {
            let conn = apalis_redis::connect(url).await.unwrap();
            let storage = RedisStorage::<Value>::new(conn)
                .with_config(config)
                .poll_with_interval(Duration::from_millis(250));
            WorkerBuilder::new(&ctx)
                .backend(storage)
                .build(|_: Value| async {})
                .run()
                .await
        })
    };

    let first = WorkerContext::new("same-pod-name");
    let first_run = start(first.clone());
    wait_for_workers(&queue, 1).await;

    let second = tokio::time::timeout(
        Duration::from_secs(5),
        start(WorkerContext::new("same-pod-name")),
    )
    .await
    .expect("the second registration fails at once")
    .unwrap();
    let error = second.expect_err("a name registered within the orphan window is refused");
    assert!(
        error.to_string().contains("still active within threshold"),
        "{error}"
    );

    first.stop().unwrap();
    first_run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_tasks_leave_no_payload_result_or_metadata_behind() {
    let queue = TestQueue::new(&shared_redis_url(), "sweep");
    let (sender, mut jobs) = mpsc::unbounded_channel();
    let workers = Workers::start(queue.settings("pod"), reporting_handler(sender), GRACE);
    let name = wait_for_workers(&queue, 1).await.remove(0);

    push(&queue, &(1..=30).map(job).collect::<Vec<_>>()).await;
    receive(&mut jobs, 30, Duration::from_secs(10)).await;

    let mut conn = queue.conn().await;
    wait_until(Duration::from_secs(8), "finished tasks to be swept", || {
        let mut conn = conn.clone();
        let queue = &queue;
        async move {
            let payloads: u64 = conn.hlen(queue.key("data")).await.unwrap();
            let done: u64 = conn.scard(queue.key("done")).await.unwrap();
            payloads == 0 && done == 0 && queue.keys("meta:*").await.is_empty()
        }
    })
    .await;
    // A crashed worker's metadata is never deleted by apalis; it expires instead.
    let ttl: i64 = conn
        .ttl(queue.key(&format!("workers:metadata:{name}")))
        .await
        .unwrap();
    assert!(
        ttl > 0,
        "worker metadata has a TTL while the worker lives, got {ttl}"
    );

    workers.shut_down().await;
    let left: Vec<String> = queue.keys("*").await;
    assert!(
        left.iter().all(|key| key.ends_with(":signal")),
        "only apalis's one-element signal list may remain, found {left:?}"
    );
}

/// Pitfall 12 as measured: with the defaults, every finished task keeps its payload, its
/// metadata (with the result) and its id in `<q>:done`, for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apalis_keeps_payload_result_and_metadata_of_finished_tasks_by_default() {
    let queue = TestQueue::new(&shared_redis_url(), "apalis-results");
    let config = Config::default().queue(&queue.name);
    let (done, ids) = run_one_raw_task(&queue, config).await;

    let mut conn = queue.conn().await;
    let id = &ids[0];
    assert!(done, "the raw worker ran the task");
    let in_done: bool = conn.sismember(queue.key("done"), id).await.unwrap();
    let payload: bool = conn.hexists(queue.key("data"), id).await.unwrap();
    let status: Option<String> = conn
        .hget(queue.key(&format!("meta:{id}")), "status")
        .await
        .unwrap();
    assert!(
        in_done && payload,
        "done: {in_done}, payload kept: {payload}"
    );
    assert_eq!(status.as_deref(), Some("Done"));
}

/// The surprise behind `persist_results(true)`: turning results off also turns off the ack,
/// so a finished task stays claimed by its worker, and would run again once that worker
/// is declared dead. And a gracefully stopped worker stays in `<q>:workers`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apalis_without_persisted_results_never_acks_and_a_stopped_worker_stays_registered() {
    let queue = TestQueue::new(&shared_redis_url(), "apalis-no-ack");
    let config = Config::default()
        .queue(&queue.name)
        .batch_size(1)
        .persist_results(false);
    let (done, ids) = run_one_raw_task(&queue, config).await;

    assert!(done, "the raw worker ran the task");
    assert_eq!(
        queue.claimed().await,
        ids,
        "the finished task is still in <q>:inflight:<worker> after a graceful stop"
    );
    assert_eq!(
        queue.workers().await,
        vec![RAW_WORKER.to_owned()],
        "a gracefully stopped worker is still registered"
    );
}

const RAW_WORKER: &str = "raw-apalis-worker";

/// Pushes one task, runs a bare apalis worker with `config` until it has handled it, stops
/// it gracefully, and returns whether it ran and the task ids pushed.
async fn run_one_raw_task(queue: &TestQueue, config: Config) -> (bool, Vec<String>) {
    let mut conn = apalis_redis::connect(queue.url.as_str()).await.unwrap();
    let task = TaskBuilder::new(serde_json::to_vec(&job(1)).unwrap()).build();
    apalis_redis::queries::push_tasks(&mut conn, &config, &[task])
        .await
        .unwrap();
    let ids: Vec<String> = queue.conn().await.hkeys(queue.key("data")).await.unwrap();

    let ran = Arc::new(Notify::new());
    let ctx = WorkerContext::new(RAW_WORKER);
    let storage = RedisStorage::<Value>::new(conn)
        .with_config(config)
        .poll_with_interval(Duration::from_millis(100));
    let worker = WorkerBuilder::new(&ctx).backend(storage).build({
        let ran = ran.clone();
        move |_: Value| {
            let ran = ran.clone();
            async move { ran.notify_one() }
        }
    });
    let running = tokio::spawn(worker.run());
    let done = tokio::time::timeout(Duration::from_secs(5), ran.notified())
        .await
        .is_ok();
    // Let the ack (if any) reach Redis, then stop gracefully.
    tokio::time::sleep(Duration::from_millis(500)).await;
    ctx.stop().unwrap();
    running.await.unwrap().unwrap();
    (done, ids)
}

/// Pitfalls 2 and 7: a push lands in `<q>:scheduled`; a poll promotes every due task to
/// `<q>:active` but claims only as many as there are free slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_counts_scheduled_and_active_tasks_and_drops_to_zero_after_processing() {
    let queue = TestQueue::new(&shared_redis_url(), "depth");
    let steps = push(&queue, &(1..=4).map(job).collect::<Vec<_>>()).await;
    assert_eq!(
        steps.depth().await.unwrap(),
        QueueDepth {
            scheduled: 4,
            active: 0
        }
    );

    let (release, started, handler) = gated_handler();
    let settings = QueueSettings {
        concurrency: 1,
        ..queue.settings("pod")
    };
    let workers = Workers::start(settings, handler, GRACE);

    wait_until(
        Duration::from_secs(5),
        "the first task to start",
        || async { started.load(Ordering::SeqCst) == 1 },
    )
    .await;
    assert_eq!(
        steps.depth().await.unwrap(),
        QueueDepth {
            scheduled: 0,
            active: 3
        }
    );

    release.add_permits(4);
    wait_until(Duration::from_secs(5), "the queue to drain", || async {
        steps.depth().await.unwrap().total() == 0 && queue.claimed().await.is_empty()
    })
    .await;
    assert_eq!(started.load(Ordering::SeqCst), 4);
    workers.shut_down().await;
}

/// Pitfall 7: no prefetch beyond free slots, even after many polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_claims_no_more_tasks_than_it_has_free_slots() {
    let queue = TestQueue::new(&shared_redis_url(), "slots");
    let (release, started, handler) = gated_handler();
    let settings = QueueSettings {
        concurrency: 2,
        ..queue.settings("pod")
    };
    let workers = Workers::start(settings, handler, GRACE);
    let steps = push(&queue, &(1..=6).map(job).collect::<Vec<_>>()).await;

    wait_until(Duration::from_secs(5), "both slots to fill", || async {
        started.load(Ordering::SeqCst) == 2
    })
    .await;
    // Several poll intervals later, still only what the slots hold.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(started.load(Ordering::SeqCst), 2);
    assert_eq!(queue.claimed().await.len(), 2);
    assert_eq!(steps.depth().await.unwrap().total(), 4);

    release.add_permits(6);
    wait_until(Duration::from_secs(5), "all tasks to run", || async {
        started.load(Ordering::SeqCst) == 6
    })
    .await;
    workers.shut_down().await;
}

/// Pitfall 3 as measured: apalis promotes every due task with one `unpack`, which fails
/// once about 8,000 are due, and then fails the same way on every poll of every worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apalis_jams_a_worker_once_8100_tasks_fall_due_at_once() {
    let queue = TestQueue::new(&shared_redis_url(), "apalis-jam");
    push(&queue, &(1..=8_100).map(job).collect::<Vec<_>>()).await;

    let conn = apalis_redis::connect(queue.url.as_str()).await.unwrap();
    let storage = RedisStorage::<Value>::new(conn)
        .with_config(Config::default().queue(&queue.name).batch_size(1))
        .poll_with_interval(Duration::from_millis(100));
    let run = WorkerBuilder::new(RAW_WORKER)
        .backend(storage)
        .build(|_: Value| async {})
        .run();
    let error = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the worker ends")
        .expect_err("with an error");
    assert!(
        error.to_string().contains("too many results to unpack"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_too_large_for_apalis_to_promote_is_promoted_in_batches_and_delivered() {
    let queue = TestQueue::new(&shared_redis_url(), "backlog");
    let steps = push(&queue, &(1..=9_000).map(job).collect::<Vec<_>>()).await;

    let (sender, mut jobs) = mpsc::unbounded_channel();
    let workers = Workers::start(queue.settings("pod"), reporting_handler(sender), GRACE);
    let received: HashSet<i64> = receive(&mut jobs, 9_000, Duration::from_secs(40))
        .await
        .into_iter()
        .map(|job| job.step_id)
        .collect();
    assert_eq!(received.len(), 9_000);
    assert_eq!(steps.depth().await.unwrap().total(), 0);
    workers.shut_down().await;
}

/// Pitfall 9: without a poll interval an idle worker would wait for its next heartbeat
/// (up to 5 s here); with the 250 ms interval it is a fraction of a second, given slack for
/// a machine busy compiling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_picks_up_a_new_job_well_before_its_next_heartbeat() {
    let queue = TestQueue::new(&shared_redis_url(), "idle");
    let (sender, mut jobs) = mpsc::unbounded_channel();
    let workers = Workers::start(queue.settings("pod"), reporting_handler(sender), GRACE);
    wait_for_workers(&queue, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let pushed = Instant::now();
    push(&queue, &[job(7)]).await;
    receive(&mut jobs, 1, Duration::from_secs(4)).await;
    let waited = pushed.elapsed();
    assert!(
        waited < Duration::from_secs(1),
        "idle worker took {waited:?}"
    );
    workers.shut_down().await;
}

/// A push wakes idle workers (`queue/wake.rs`): with the longest poll interval allowed
/// (1 s), ten pushes one after another, each waiting for the last to be delivered, take
/// well under two seconds; polling alone would take about five.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_wakes_an_idle_worker_without_waiting_for_its_poll() {
    let queue = TestQueue::new(&shared_redis_url(), "wake");
    let settings = QueueSettings {
        poll_interval: QueueSettings::MAX_POLL_INTERVAL,
        ..queue.settings("pod")
    };
    let (sender, mut jobs) = mpsc::unbounded_channel();
    let workers = Workers::start(settings, reporting_handler(sender), GRACE);
    wait_for_workers(&queue, 1).await;
    let steps = StepQueue::connect(&queue.settings("pusher")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let took = ten_pushes_one_after_another(&steps, &mut jobs).await;
    assert!(took < Duration::from_secs(2), "ten pushes took {took:?}");
    workers.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_running_step_finish_fetches_nothing_more_and_leaves_nothing_claimed() {
    let queue = TestQueue::new(&shared_redis_url(), "shutdown");
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (started, finished) = (started.clone(), finished.clone());
        move |_: StepJob| {
            let finished = finished.clone();
            started.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                finished.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    let settings = QueueSettings {
        concurrency: 1,
        ..queue.settings("pod")
    };
    let workers = Workers::start(settings, handler, GRACE);
    let steps = push(&queue, &[job(1), job(2)]).await;
    wait_until(Duration::from_secs(5), "a step to start", || async {
        started.load(Ordering::SeqCst) == 1
    })
    .await;

    let took = workers.shut_down().await;
    assert!(took < GRACE, "returned after {took:?}");
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the in-flight step finished"
    );
    assert_eq!(started.load(Ordering::SeqCst), 1, "nothing new was fetched");
    assert_eq!(
        steps.depth().await.unwrap().total(),
        1,
        "the other task waits"
    );
    assert!(queue.claimed().await.is_empty(), "nothing left claimed");
    assert!(queue.workers().await.is_empty(), "the worker deregistered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_still_running_when_the_grace_period_ends_is_cancelled_and_handed_back() {
    let queue = TestQueue::new(&shared_redis_url(), "grace");
    let started = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (started, cancelled) = (started.clone(), cancelled.clone());
        move |_: StepJob| {
            started.fetch_add(1, Ordering::SeqCst);
            let on_drop = DropCounter(cancelled.clone());
            async move {
                let _on_drop = on_drop;
                std::future::pending::<()>().await
            }
        }
    };
    let workers = Workers::start(queue.settings("pod"), handler, Duration::from_secs(1));
    let steps = push(&queue, &[job(1)]).await;
    wait_until(Duration::from_secs(5), "the step to start", || async {
        started.load(Ordering::SeqCst) == 1
    })
    .await;

    let took = workers.shut_down().await;
    assert!(took < Duration::from_secs(3), "returned after {took:?}");
    wait_until(
        Duration::from_secs(2),
        "the handler to be cancelled",
        || async { cancelled.load(Ordering::SeqCst) == 1 },
    )
    .await;
    assert_eq!(
        steps.depth().await.unwrap(),
        QueueDepth {
            scheduled: 0,
            active: 1
        },
        "the abandoned task is back in line"
    );
    assert!(queue.claimed().await.is_empty());
    assert!(queue.workers().await.is_empty());
}

/// Pitfalls 4 and 6: a hung handler is cancelled after the step timeout, its slot freed,
/// and its task acked rather than retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_hangs_past_the_step_timeout_does_not_block_later_jobs() {
    let queue = TestQueue::new(&shared_redis_url(), "hang");
    let (sender, mut jobs) = mpsc::unbounded_channel();
    let hung = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (hung, cancelled) = (hung.clone(), cancelled.clone());
        move |job: StepJob| {
            let hang = job.step_id == 1;
            if hang {
                hung.fetch_add(1, Ordering::SeqCst);
            } else {
                let _ = sender.send(job);
            }
            let on_drop = hang.then(|| DropCounter(cancelled.clone()));
            async move {
                let _on_drop = on_drop;
                if hang {
                    std::future::pending::<()>().await
                }
            }
        }
    };
    let settings = QueueSettings {
        concurrency: 1,
        step_timeout: Duration::from_secs(1),
        ..queue.settings("pod")
    };
    let workers = Workers::start(settings, handler, GRACE);
    let steps = push(&queue, &[job(1)]).await;
    wait_until(
        Duration::from_secs(5),
        "the hanging step to start",
        || async { hung.load(Ordering::SeqCst) == 1 },
    )
    .await;
    steps.push(&[job(2), job(3)]).await.unwrap();

    let later: HashSet<i64> = receive(&mut jobs, 2, Duration::from_secs(5))
        .await
        .into_iter()
        .map(|job| job.step_id)
        .collect();
    assert_eq!(later, HashSet::from([2, 3]));
    assert_eq!(
        cancelled.load(Ordering::SeqCst),
        1,
        "the hung handler was cancelled"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        hung.load(Ordering::SeqCst),
        1,
        "the timed-out task is not retried"
    );
    workers.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_neither_stops_the_worker_nor_is_retried() {
    let queue = TestQueue::new(&shared_redis_url(), "panic");
    let (sender, mut jobs) = mpsc::unbounded_channel();
    let panicked = Arc::new(AtomicUsize::new(0));
    let handler = {
        let panicked = panicked.clone();
        move |job: StepJob| {
            let sender = sender.clone();
            let panicked = panicked.clone();
            async move {
                if job.step_id == 1 {
                    panicked.fetch_add(1, Ordering::SeqCst);
                    panic!("step 1 blows up");
                }
                let _ = sender.send(job);
            }
        }
    };
    let workers = Workers::start(queue.settings("pod"), handler, GRACE);
    let worker = wait_for_workers(&queue, 1).await;
    let steps = push(&queue, &[job(1)]).await;
    wait_until(Duration::from_secs(5), "step 1 to panic", || async {
        panicked.load(Ordering::SeqCst) == 1
    })
    .await;
    steps.push(&[job(2)]).await.unwrap();

    assert_eq!(
        receive(&mut jobs, 1, Duration::from_secs(5)).await,
        [job(2)]
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(panicked.load(Ordering::SeqCst), 1, "not retried");
    assert_eq!(
        queue.workers().await,
        worker,
        "the same worker kept running"
    );
    workers.shut_down().await;
}

/// apalis turns a payload that does not decode into a backend error that ends the worker;
/// the queue module decodes it itself and drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_is_not_a_step_job_is_dropped_without_stopping_the_worker() {
    let queue = TestQueue::new(&shared_redis_url(), "foreign");
    let (sender, mut jobs) = mpsc::unbounded_channel();
    let workers = Workers::start(queue.settings("pod"), reporting_handler(sender), GRACE);
    let worker = wait_for_workers(&queue, 1).await;

    let mut conn = apalis_redis::connect(queue.url.as_str()).await.unwrap();
    let foreign = TaskBuilder::new(br#"{"step":"not ours"}"#.to_vec()).build();
    let config = Config::default().queue(&queue.name);
    apalis_redis::queries::push_tasks(&mut conn, &config, &[foreign])
        .await
        .unwrap();
    push(&queue, &[job(5)]).await;

    assert_eq!(
        receive(&mut jobs, 1, Duration::from_secs(5)).await,
        [job(5)]
    );
    assert_eq!(
        queue.workers().await,
        worker,
        "the same worker kept running"
    );
    workers.shut_down().await;
}

/// Bytes that are not even JSON fail apalis's decoding, which ends the worker; the worker
/// that replaces it must not fetch them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_is_not_json_costs_one_worker_restart_and_is_then_deleted() {
    let queue = TestQueue::new(&shared_redis_url(), "garbage");
    let (sender, mut jobs) = mpsc::unbounded_channel();
    let workers = Workers::start(queue.settings("pod"), reporting_handler(sender), GRACE);
    let first = wait_for_workers(&queue, 1).await;

    let mut conn = apalis_redis::connect(queue.url.as_str()).await.unwrap();
    let garbage = TaskBuilder::new(b"\xff\x00 not json".to_vec()).build();
    let config = Config::default().queue(&queue.name);
    apalis_redis::queries::push_tasks(&mut conn, &config, &[garbage])
        .await
        .unwrap();
    let garbage_id: String = queue
        .conn()
        .await
        .hkeys::<_, Vec<String>>(queue.key("data"))
        .await
        .unwrap()
        .remove(0);
    wait_until(Duration::from_secs(5), "a replacement worker", || async {
        let workers = queue.workers().await;
        workers.len() == 1 && workers != first
    })
    .await;

    push(&queue, &[job(6)]).await;
    assert_eq!(
        receive(&mut jobs, 1, Duration::from_secs(5)).await,
        [job(6)]
    );
    let mut conn = queue.conn().await;
    let kept: bool = conn.hexists(queue.key("data"), &garbage_id).await.unwrap();
    let meta: bool = conn
        .exists(queue.key(&format!("meta:{garbage_id}")))
        .await
        .unwrap();
    assert!(
        !kept && !meta,
        "the garbage is deleted (payload kept: {kept}, metadata kept: {meta})"
    );
    workers.shut_down().await;
}

/// Why the queue module hands apalis plain JSON: a typed worker dies on a foreign payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apalis_ends_a_typed_worker_whose_next_payload_does_not_decode() {
    let queue = TestQueue::new(&shared_redis_url(), "apalis-decode");
    let config = Config::default().queue(&queue.name).batch_size(1);
    let mut conn = apalis_redis::connect(queue.url.as_str()).await.unwrap();
    let foreign = TaskBuilder::new(br#"{"step":"not ours"}"#.to_vec()).build();
    apalis_redis::queries::push_tasks(&mut conn, &config, &[foreign])
        .await
        .unwrap();

    let storage = RedisStorage::<StepJob>::new(conn)
        .with_config(config)
        .poll_with_interval(Duration::from_millis(100));
    let run = WorkerBuilder::new(RAW_WORKER)
        .backend(storage)
        .build(|_: StepJob| async {})
        .run();
    let error = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the worker ends")
        .expect_err("with an error");
    assert!(error.to_string().contains("decoding"), "{error}");
}

#[tokio::test]
async fn an_unreachable_redis_is_named_in_the_error_without_its_password() {
    let settings = QueueSettings::new(QueueBackend::Redis {
        url: "redis://:hunter2@127.0.0.1:1/0".into(),
        queue: "steps".into(),
    });
    let error = StepQueue::connect(&settings).await.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, QueueError::RedisUnreachable { .. }),
        "{error:?}"
    );
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");

    let error = run_workers(settings, |_| async {}, async {}, GRACE)
        .await
        .unwrap_err();
    assert!(
        matches!(error, QueueError::RedisUnreachable { .. }),
        "{error:?}"
    );
}

/// Counts drops: a cancelled handler future is dropped.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
