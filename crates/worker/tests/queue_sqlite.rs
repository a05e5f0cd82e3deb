//! The embedded queue on apalis-sqlite, in a file of its own.

mod queue_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apalis::prelude::TaskBuilder;
use backfill_worker::queue::{
    QueueBackend, QueueDepth, QueueError, QueueSettings, StepJob, StepQueue,
};
use queue_support::{
    GRACE, ScratchDir, Workers, gated_handler, job, receive, reporting_handler,
    ten_pushes_one_after_another, wait_until,
};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;
use tokio::sync::mpsc;

fn settings(file: &Path) -> QueueSettings {
    QueueSettings {
        worker_name_prefix: "embedded".into(),
        ..QueueSettings::new(QueueBackend::Sqlite {
            path: file.to_owned(),
            queue: "steps".into(),
        })
    }
}

/// A second, read-only look at the queue file.
async fn inspect(file: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(file).read_only(true))
        .await
        .unwrap()
}

async fn count(pool: &SqlitePool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_jobs_are_delivered_from_a_queue_file_of_its_own() {
    let dir = ScratchDir::new("sqlite-deliver");
    let file = dir.path().join("queue.sqlite");
    let pushed: Vec<StepJob> = (1..=20).map(job).collect();
    StepQueue::connect(&settings(&file))
        .await
        .unwrap()
        .push(&pushed)
        .await
        .unwrap();
    let db = inspect(&file).await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&db)
            .await
            .unwrap();
    assert!(
        ["Jobs", "Workers", "_sqlx_migrations"]
            .iter()
            .all(|table| tables.iter().any(|t| t == table)),
        "{tables:?}"
    );

    let (sender, mut jobs) = mpsc::unbounded_channel();
    let workers = Workers::start(settings(&file), reporting_handler(sender), GRACE);
    let mut received = receive(&mut jobs, pushed.len(), Duration::from_secs(10)).await;
    workers.shut_down().await;
    received.sort_by_key(|job| job.step_id);
    assert_eq!(received, pushed);
}

/// A push wakes the idle workers of the same process (`queue/wake.rs`): with the longest
/// poll interval allowed (1 s), ten pushes one after another, each waiting for the last
/// to be delivered, take well under two seconds; polling alone would take about five.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_wakes_an_idle_worker_of_the_same_process() {
    let dir = ScratchDir::new("sqlite-wake");
    let file = dir.path().join("queue.sqlite");
    let settings = QueueSettings {
        poll_interval: QueueSettings::MAX_POLL_INTERVAL,
        ..settings(&file)
    };
    let steps = StepQueue::connect(&settings).await.unwrap();
    let (sender, mut jobs) = mpsc::unbounded_channel();
    let workers = Workers::start(settings, reporting_handler(sender), GRACE);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let took = ten_pushes_one_after_another(&steps, &mut jobs).await;
    assert!(took < Duration::from_secs(2), "ten pushes took {took:?}");
    workers.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_counts_pending_rows_and_drops_to_zero_after_processing() {
    let dir = ScratchDir::new("sqlite-depth");
    let file = dir.path().join("queue.sqlite");
    let steps = StepQueue::connect(&settings(&file)).await.unwrap();
    steps
        .push(&(1..=3).map(job).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(
        steps.depth().await.unwrap(),
        QueueDepth {
            scheduled: 0,
            active: 3
        }
    );

    let (release, started, handler) = gated_handler();
    let one_slot = QueueSettings {
        concurrency: 1,
        ..settings(&file)
    };
    let workers = Workers::start(one_slot, handler, GRACE);
    wait_until(
        Duration::from_secs(5),
        "the first step to start",
        || async { started.load(Ordering::SeqCst) == 1 },
    )
    .await;
    assert_eq!(
        steps.depth().await.unwrap().total(),
        2,
        "one slot, one claim"
    );

    release.add_permits(3);
    wait_until(Duration::from_secs(5), "the queue to drain", || async {
        steps.depth().await.unwrap().total() == 0 && started.load(Ordering::SeqCst) == 3
    })
    .await;
    workers.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_running_step_finish_and_leaves_nothing_claimed() {
    let dir = ScratchDir::new("sqlite-shutdown");
    let file = dir.path().join("queue.sqlite");
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
    let one_slot = QueueSettings {
        concurrency: 1,
        ..settings(&file)
    };
    let steps = StepQueue::connect(&one_slot).await.unwrap();
    let workers = Workers::start(one_slot, handler, GRACE);
    steps.push(&[job(1), job(2)]).await.unwrap();
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
    let db = inspect(&file).await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM Jobs WHERE lock_by IS NOT NULL").await,
        0
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM Workers").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_still_running_when_the_grace_period_ends_is_handed_back() {
    let dir = ScratchDir::new("sqlite-grace");
    let file = dir.path().join("queue.sqlite");
    let (_never_released, started, handler) = gated_handler();
    let steps = StepQueue::connect(&settings(&file)).await.unwrap();
    let workers = Workers::start(settings(&file), handler, Duration::from_secs(1));
    steps.push(&[job(1)]).await.unwrap();
    wait_until(Duration::from_secs(5), "the step to start", || async {
        started.load(Ordering::SeqCst) == 1
    })
    .await;

    let took = workers.shut_down().await;
    assert!(took < Duration::from_secs(3), "returned after {took:?}");
    assert_eq!(
        steps.depth().await.unwrap(),
        QueueDepth {
            scheduled: 0,
            active: 1
        }
    );
    let db = inspect(&file).await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM Jobs WHERE lock_by IS NOT NULL").await,
        0
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM Workers").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_rows_are_deleted_from_the_queue_file() {
    let dir = ScratchDir::new("sqlite-sweep");
    let file = dir.path().join("queue.sqlite");
    let (sender, mut jobs) = mpsc::unbounded_channel();
    let steps = StepQueue::connect(&settings(&file)).await.unwrap();
    let workers = Workers::start(settings(&file), reporting_handler(sender), GRACE);
    steps
        .push(&(1..=10).map(job).collect::<Vec<_>>())
        .await
        .unwrap();
    receive(&mut jobs, 10, Duration::from_secs(10)).await;

    let db = inspect(&file).await;
    wait_until(
        Duration::from_secs(8),
        "done rows to be deleted",
        || async { count(&db, "SELECT COUNT(*) FROM Jobs").await == 0 },
    )
    .await;
    workers.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_is_not_json_costs_one_worker_restart_and_is_then_deleted() {
    let dir = ScratchDir::new("sqlite-garbage");
    let file = dir.path().join("queue.sqlite");
    let steps = StepQueue::connect(&settings(&file)).await.unwrap();
    let writer = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&file))
        .await
        .unwrap();
    let mut tx = writer.begin().await.unwrap();
    let garbage = TaskBuilder::new(b"\xff\x00 not json".to_vec()).build();
    apalis_sqlite::queries::push_tasks(&mut *tx, "steps", &[garbage])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let (sender, mut jobs) = mpsc::unbounded_channel();
    let workers = Workers::start(settings(&file), reporting_handler(sender), GRACE);
    steps.push(&[job(6)]).await.unwrap();
    assert_eq!(
        receive(&mut jobs, 1, Duration::from_secs(5)).await,
        [job(6)]
    );
    let db = inspect(&file).await;
    wait_until(
        Duration::from_secs(5),
        "the garbage to be deleted",
        || async { count(&db, "SELECT COUNT(*) FROM Jobs").await == 0 },
    )
    .await;
    workers.shut_down().await;
}

/// tooling.md: apalis-sqlite's migrator and another sqlx migrator cannot share a database.
#[tokio::test]
async fn the_queue_refuses_a_file_that_another_migrator_already_owns() {
    let dir = ScratchDir::new("sqlite-shared-file");
    let file = dir.path().join("store.sqlite");
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(
        migrations.join("20240101000000_store.sql"),
        "CREATE TABLE conversations (id INTEGER PRIMARY KEY);",
    )
    .unwrap();
    let store = SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::migrate::Migrator::new(migrations)
        .await
        .unwrap()
        .run(&store)
        .await
        .unwrap();

    let error = StepQueue::connect(&settings(&file)).await.unwrap_err();
    assert!(matches!(error, QueueError::Sqlite { .. }), "{error:?}");
    assert!(
        error.to_string().contains("a SQLite file of its own"),
        "{error}"
    );
}
