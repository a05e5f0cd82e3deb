//! A producer and its fleet for one test, on real services: its own PostgreSQL database,
//! its own Redis queue, rate-limit prefix and event channels, the channel simulator, the
//! producer's API on a free port, workers in this process, and a webhook receiver.
//! Everything of the test is deleted when it stops.

#![allow(dead_code, reason = "each test uses a different part of the harness")]

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use backfill_channels::{Connector, ConnectorsConfig};
use backfill_producer::api::{ApiSettings, RunProgress};
use backfill_producer::dispatch::DispatchSettings;
use backfill_producer::events::EventSettings;
use backfill_producer::service::{Dependencies, Producer, ProducerSettings};
use backfill_producer::tenants::{TenantConfig, provision};
use backfill_sim::{SimConfig, SimHandle};
use backfill_store::{CredentialKey, Store};
use backfill_worker::clock::Clock;
use backfill_worker::executor::{Executor, ExecutorSettings};
use backfill_worker::queue::{QueueBackend, QueueSettings, StepQueue, run_workers};
use backfill_worker::ratelimit::{FleetLimiter, Limiter};
use futures::{FutureExt as _, StreamExt as _};
use serde_json::Value;
use sqlx::Connection as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const ACME: &str = "acme";
pub const ACME_KEY: &str = "acme-api-key-0123456789";
pub const GLOBEX: &str = "globex";
pub const GLOBEX_KEY: &str = "globex-api-key-0123456789";
pub const WEBHOOK_SECRET: &str = "whsec-acme-0123456789";
/// Bodies above this are refused (413) in the tests' API.
pub const BODY_LIMIT: usize = 16 * 1024;

pub fn redis_url() -> String {
    std::env::var("BACKFILL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn admin_database_url() -> String {
    std::env::var("BACKFILL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn replace_database(url: &str, database: &str) -> String {
    let (base, _) = url
        .rsplit_once('/')
        .expect("a database URL ends with /name");
    format!("{base}/{database}")
}

/// A webhook delivery as the receiver got it.
#[derive(Debug)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub struct Harness {
    pub api: String,
    pub http: reqwest::Client,
    pub sim: SimHandle,
    pub store: Store,
    /// Events published on `acme`'s Redis channel, as received.
    pub published: mpsc::UnboundedReceiver<String>,
    /// Webhook deliveries to `acme`'s receiver.
    pub webhooks: mpsc::UnboundedReceiver<Delivery>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// Last: dropped after everything that uses the database and Redis.
    _cleanup: Cleanup,
}

/// Deletes the test's database and Redis keys when dropped, also when the test panics.
struct Cleanup {
    database: String,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Drop runs on the test's runtime, which cannot be blocked on: clean up from a
        // thread with a runtime of its own. FORCE ends the pools' connections.
        let (database, prefix) = (self.database.clone(), self.prefix.clone());
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_database_url()).await?;
                let sql = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await?;
                let client = redis::Client::open(redis_url())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                for pattern in [format!("{prefix}*"), format!("{{{prefix}*")] {
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(&pattern)
                        .query_async(&mut conn)
                        .await?;
                    if !keys.is_empty() {
                        let () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
                    }
                }
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(cleaned, Ok(Ok(()))) {
            eprintln!(
                "could not clean up test database {} and keys {}*",
                self.database, self.prefix
            );
        }
    }
}

impl Harness {
    pub async fn start() -> Harness {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let prefix = format!("test:api:{id}");
        let sim = backfill_sim::spawn(SimConfig::default()).await.unwrap();

        let database = format!("backfill_api_{id}");
        let mut admin = sqlx::PgConnection::connect(&admin_database_url())
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let database_url = replace_database(&admin_database_url(), &database);
        let store = Store::connect(&database_url, CredentialKey::generate())
            .await
            .unwrap();

        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();

        // The webhook receiver: records every delivery, answers 200.
        let (webhook_tx, webhooks) = mpsc::unbounded_channel();
        let receiver = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let tx = webhook_tx.clone();
                async move {
                    let _ = tx.send(Delivery { headers, body });
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hooks = format!("http://{}/hooks", listener.local_addr().unwrap());
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, receiver)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        }));

        let tenants: Vec<TenantConfig> = serde_json::from_value(serde_json::json!([
            {"id": ACME, "api_key": ACME_KEY, "webhook_url": hooks, "webhook_secret": WEBHOOK_SECRET},
            {"id": GLOBEX, "api_key": GLOBEX_KEY},
        ]))
        .unwrap();
        provision(&store, &tenants, chrono::Utc::now())
            .await
            .unwrap();

        // Subscribed before anything runs, so no event is published unheard.
        let (published_tx, published) = mpsc::unbounded_channel();
        let client = redis::Client::open(redis_url()).unwrap();
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub
            .subscribe(format!("{prefix}:events:{ACME}"))
            .await
            .unwrap();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let mut messages = pubsub.on_message();
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    message = messages.next() => match message {
                        Some(message) => {
                            let _ = published_tx.send(message.get_payload::<String>().unwrap());
                        }
                        None => return,
                    },
                }
            }
        }));

        let clock = Clock::system();
        let queue_settings = QueueSettings {
            concurrency: 8,
            worker_name_prefix: format!("api-test-{id}"),
            ..QueueSettings::new(QueueBackend::Redis {
                url: redis_url(),
                queue: format!("{prefix}:steps"),
            })
        };
        let queue = StepQueue::connect(&queue_settings).await.unwrap();
        let redis = redis::aio::ConnectionManager::new(client).await.unwrap();

        let producer = Producer::build(
            ProducerSettings {
                listen: "127.0.0.1:0".parse().unwrap(),
                api: ApiSettings {
                    body_limit: BODY_LIMIT,
                },
                dispatch: DispatchSettings::default(),
                events: EventSettings {
                    poll_interval: Duration::from_millis(100),
                    progress_interval: Some(Duration::from_millis(500)),
                    channel_prefix: format!("{prefix}:events"),
                    webhook_attempts: 3,
                    ..EventSettings::default()
                },
            },
            Dependencies {
                store: store.clone(),
                queue: queue.clone(),
                redis: Some(redis.clone()),
                clock: clock.clone(),
            },
        )
        .await
        .unwrap();
        let api = format!("http://{}", producer.local_addr().unwrap());
        tasks.push(tokio::spawn({
            let stop = shutdown.clone();
            async move {
                producer.run_until(stop.cancelled_owned()).await.unwrap();
            }
        }));

        let connectors: ConnectorsConfig = serde_json::from_value(serde_json::json!({
            "facebook": {"base_url": sim.base_url(backfill_sim::Channel::Facebook)},
            "instagram": {"base_url": sim.base_url(backfill_sim::Channel::Instagram)},
            "zalo": {"base_url": sim.base_url(backfill_sim::Channel::Zalo)},
            "shopee": {"base_url": sim.base_url(backfill_sim::Channel::Shopee)},
        }))
        .unwrap();
        let limiter = Limiter::Fleet(FleetLimiter::new(
            redis,
            format!("{prefix}:rl"),
            NonZeroU32::new(100).unwrap(),
        ));
        let executor = Executor::new(
            store.clone(),
            Connector::new(connectors).unwrap(),
            limiter,
            queue,
            clock,
            ExecutorSettings::default(),
        );
        let handler = move |job| {
            let executor = executor.clone();
            async move {
                executor.execute(job).await;
            }
        };
        tasks.push(tokio::spawn(
            run_workers(
                queue_settings,
                handler,
                shutdown.clone().cancelled_owned(),
                Duration::from_secs(5),
            )
            .map(|result| result.unwrap()),
        ));

        Harness {
            api,
            http: reqwest::Client::new(),
            sim,
            store,
            published,
            webhooks,
            shutdown,
            tasks,
            _cleanup: Cleanup { database, prefix },
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// A request as `key`'s tenant.
    pub fn as_tenant(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
    ) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(key)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.as_tenant(reqwest::Method::GET, path, ACME_KEY)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.as_tenant(reqwest::Method::POST, path, ACME_KEY)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Polls the run's progress over the API until `done` holds, or panics after `limit`.
    pub async fn wait_for(
        &self,
        run_id: &str,
        limit: Duration,
        done: impl Fn(&RunProgress) -> bool,
    ) -> RunProgress {
        let started = Instant::now();
        loop {
            let response = self.get(&format!("/v1/runs/{run_id}")).await;
            assert_eq!(response.status(), 200);
            let progress: RunProgress = response.json().await.unwrap();
            if done(&progress) {
                return progress;
            }
            assert!(
                started.elapsed() < limit,
                "run {run_id} not there after {limit:?}: {progress:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_for_end(&self, run_id: &str) -> RunProgress {
        self.wait_for(run_id, Duration::from_secs(60), |p| p.status != "running")
            .await
    }

    /// Stops the producer, the workers and the receivers; the database and the Redis
    /// keys go when the harness is dropped.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        self.store.close().await;
    }
}
