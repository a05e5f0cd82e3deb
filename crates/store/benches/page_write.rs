//! Page-write throughput: how fast the store writes 100-message pages with its
//! one-statement upsert, against a plain multi-row `INSERT` of the same rows into the
//! same table of the same database — the floor an upsert cannot beat. Also measured: the
//! same upsert replayed (every row a conflict: a re-delivered step), and a whole
//! `commit_step` of a 100-message page (claim, fence, upsert, close the step in its run).
//!
//! It measures and reports, one JSON line per figure; it asserts nothing.
//!
//! ```text
//! cargo bench -p backfill-store --bench page_write
//! BACKFILL_BENCH_DATABASE_URL   PostgreSQL server (default: BACKFILL_TEST_DATABASE_URL,
//!                               else postgres://postgres@127.0.0.1:5432/postgres)
//! BACKFILL_BENCH_PAGES          pages per figure (default 200)
//! ```
//! PostgreSQL is skipped, with a line saying so, when the server is unreachable.

use std::time::{Duration, Instant};

use backfill_policy::planner::Plan;
use backfill_policy::step::MessageWalk;
use backfill_policy::{
    Attachment, Channel, Message, Participant, Priority, SenderRole, StepKind, StepSpec,
};
use backfill_store::{CommitInput, Connect, CredentialKey, NewTenant, Store};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use secrecy::SecretString;
use serde_json::json;
use sqlx::types::Json;
use sqlx::{Connection, QueryBuilder};

const PAGE: usize = 100;
const WARM_UP_PAGES: usize = 10;

fn main() {
    let pages = std::env::var("BACKFILL_BENCH_PAGES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match Bench::postgres().await {
            Ok(bench) => bench.run(pages).await,
            Err(reason) => println!("{}", json!({ "backend": "postgres", "skipped": reason })),
        }
        Bench::sqlite().await.run(pages).await;
    });
}

/// The raw pool the baseline inserts through.
enum Raw {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// What to remove when the bench is done.
enum Cleanup {
    Postgres { server: String, database: String },
    Sqlite { path: std::path::PathBuf },
}

impl Cleanup {
    async fn run(self) {
        match self {
            Self::Postgres { server, database } => {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&server).await {
                    let drop = format!(r#"DROP DATABASE IF EXISTS "{database}" WITH (FORCE)"#);
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                        .execute(&mut admin)
                        .await;
                }
            }
            Self::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
        }
    }
}

struct Bench {
    backend: &'static str,
    store: Store,
    raw: Raw,
    cleanup: Cleanup,
}

impl Bench {
    async fn postgres() -> Result<Self, String> {
        let server = std::env::var("BACKFILL_BENCH_DATABASE_URL")
            .or_else(|_| std::env::var("BACKFILL_TEST_DATABASE_URL"))
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let connecting = sqlx::PgConnection::connect(&server);
        let mut admin = tokio::time::timeout(Duration::from_secs(5), connecting)
            .await
            .map_err(|_| format!("{server} did not answer in 5 s"))?
            .map_err(|e| format!("{server} unreachable: {e}"))?;
        let database = format!("backfill_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            r#"CREATE DATABASE "{database}""#
        )))
        .execute(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
        let mut url = url::Url::parse(&server).map_err(|e| e.to_string())?;
        url.set_path(&database);
        let url = url.to_string();
        let store = Store::connect(&url, CredentialKey::generate())
            .await
            .map_err(|e| e.to_string())?;
        let raw = Raw::Postgres(
            sqlx::PgPool::connect(&url)
                .await
                .map_err(|e| e.to_string())?,
        );
        let cleanup = Cleanup::Postgres { server, database };
        Ok(Self {
            backend: "postgres",
            store,
            raw,
            cleanup,
        })
    }

    async fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!(
            "backfill-bench-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url, CredentialKey::generate())
            .await
            .unwrap();
        // The baseline writes with the store's own durability setting (see db.rs), so the
        // two differ only in the statement.
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let options = options.synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        let raw = Raw::Sqlite(sqlx::SqlitePool::connect_with(options).await.unwrap());
        let cleanup = Cleanup::Sqlite { path };
        Self {
            backend: "sqlite",
            store,
            raw,
            cleanup,
        }
    }

    async fn run(self, pages: usize) {
        let now = at(0);
        let api_key = SecretString::from("bench");
        let overrides = json!({});
        let tenant = NewTenant {
            id: "bench",
            name: "bench",
            api_key: &api_key,
            webhook_url: None,
            webhook_secret: None,
            policy_overrides: &overrides,
            timezone: None,
        };
        self.store.upsert_tenant(&tenant, now).await.unwrap();
        let upserted = self.account("upsert", &[]).await;
        let plain = self.account("plain", &[]).await;
        let total = WARM_UP_PAGES + pages;
        let steps: Vec<StepSpec> = (0..total).map(step).collect();
        let committed = self.account("commit", &steps).await;

        // Warm-up pages prepare statements and grow files; they are not timed.
        let warm = |n: usize| {
            (0..n)
                .map(|p| page(&format!("warm{p}")))
                .collect::<Vec<_>>()
        };
        for messages in warm(WARM_UP_PAGES) {
            self.store
                .import_messages(upserted.connection_id, &messages, now)
                .await
                .unwrap();
            self.plain_insert(plain.connection_id, &messages).await;
        }

        let timed: Vec<Vec<Message>> = (0..pages).map(|p| page(&format!("p{p}"))).collect();
        let started = Instant::now();
        for messages in &timed {
            self.store
                .import_messages(upserted.connection_id, messages, now)
                .await
                .unwrap();
        }
        self.report("store_upsert_new_rows", pages, started.elapsed());

        let started = Instant::now();
        for messages in &timed {
            self.store
                .import_messages(upserted.connection_id, messages, now)
                .await
                .unwrap();
        }
        self.report("store_upsert_replayed_rows", pages, started.elapsed());

        let started = Instant::now();
        for messages in &timed {
            self.plain_insert(plain.connection_id, messages).await;
        }
        self.report("plain_multi_row_insert", pages, started.elapsed());

        let plans: Vec<Plan> = (0..total)
            .map(|p| Plan {
                messages: page(&format!("c{p}")),
                ..Plan::default()
            })
            .collect();
        let ids: Vec<i64> = committed.steps.iter().map(|s| s.id).collect();
        for (id, plan) in ids.iter().zip(&plans).take(WARM_UP_PAGES) {
            self.store
                .commit_step(
                    *id,
                    CommitInput {
                        plan,
                        now,
                        http_calls: 1,
                        hand_off: None,
                    },
                )
                .await
                .unwrap();
        }
        let started = Instant::now();
        for (id, plan) in ids.iter().zip(&plans).skip(WARM_UP_PAGES) {
            self.store
                .commit_step(
                    *id,
                    CommitInput {
                        plan,
                        now,
                        http_calls: 1,
                        hand_off: None,
                    },
                )
                .await
                .unwrap();
        }
        self.report("commit_step_with_page", pages, started.elapsed());

        self.store.close().await;
        match &self.raw {
            Raw::Postgres(pool) => pool.close().await,
            Raw::Sqlite(pool) => pool.close().await,
        }
        self.cleanup.run().await;
    }

    async fn account(&self, name: &str, first_steps: &[StepSpec]) -> backfill_store::RunInfo {
        let credentials = SecretString::from("{}");
        self.store
            .connect_account(&Connect {
                tenant_id: "bench",
                channel: Channel::Facebook,
                account_id: name,
                credentials: &credentials,
                policy: &json!({}),
                timezone: "UTC",
                connected_at: at(0),
                first_steps,
                trace_context: None,
            })
            .await
            .unwrap()
    }

    /// The baseline: the same rows and columns, one multi-row `INSERT … VALUES` without
    /// `ON CONFLICT`, in a transaction of its own like the store's.
    async fn plain_insert(&self, connection_id: i64, messages: &[Message]) {
        const COLUMNS: &str = "INSERT INTO messages (connection_id, first_run_id, stored_at, \
             channel_id, conversation_channel_id, created_at, sender_id, sender_name, \
             sender_role, text, attachments, ad_referral, unavailable) ";
        let now = at(0);
        macro_rules! insert {
            ($db:ty, $pool:expr) => {{
                let mut query = QueryBuilder::<$db>::new(COLUMNS);
                query.push_values(messages, |mut row, m| {
                    row.push_bind(connection_id)
                        .push_bind(None::<&str>)
                        .push_bind(now)
                        .push_bind(m.id.as_str())
                        .push_bind(m.conversation_id.as_str())
                        .push_bind(m.created_at)
                        .push_bind(m.from.as_ref().map(|p| p.id.as_str()))
                        .push_bind(m.from.as_ref().and_then(|p| p.name.as_deref()))
                        .push_bind("customer")
                        .push_bind(m.text.as_deref())
                        .push_bind(Json(&m.attachments))
                        .push_bind(None::<Json<()>>)
                        .push_bind(m.unavailable);
                });
                let mut tx = $pool.begin().await.unwrap();
                query.build().execute(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
            }};
        }
        match &self.raw {
            Raw::Postgres(pool) => insert!(sqlx::Postgres, pool),
            Raw::Sqlite(pool) => insert!(sqlx::Sqlite, pool),
        }
    }

    fn report(&self, workload: &str, pages: usize, elapsed: Duration) {
        let rows = pages * PAGE;
        let seconds = elapsed.as_secs_f64();
        println!(
            "{}",
            json!({
                "backend": self.backend,
                "workload": workload,
                "pages": pages,
                "rows_per_page": PAGE,
                "rows": rows,
                "seconds": (seconds * 1000.0).round() / 1000.0,
                "rows_per_sec": (rows as f64 / seconds).round(),
                "ms_per_page": (seconds * 1000.0 / pages as f64 * 100.0).round() / 100.0,
            })
        );
    }
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

/// One page of `PAGE` messages of conversation `conversation`, newest first, shaped like
/// a Messenger page: a sender, a sentence of text, now and then an image.
fn page(conversation: &str) -> Vec<Message> {
    (0..PAGE)
        .rev()
        .map(|i| Message {
            id: format!("m_{conversation}_{i:04}_aWQ6MTIzNDU2Nzg5MDEyMzQ1Njc4OQ"),
            conversation_id: format!("t_{conversation}"),
            created_at: at(i as i64),
            from: Some(Participant {
                id: "6789012345678901".to_owned(),
                name: Some("Nguyen Van A".to_owned()),
            }),
            role: Some(SenderRole::Customer),
            text: Some(format!(
                "Chào shop, mẫu này còn size M không ạ? Mã đơn {i:06}"
            )),
            attachments: if i % 10 == 0 {
                vec![Attachment {
                    kind: "image".to_owned(),
                    url: Some(format!("https://cdn.example/img/{conversation}/{i}.jpg")),
                    name: None,
                    mime_type: Some("image/jpeg".to_owned()),
                }]
            } else {
                Vec::new()
            },
            ad_referral: None,
            unavailable: false,
        })
        .collect()
}

/// A message-page step per conversation `c{n}` (only its id matters to the bench).
fn step(n: usize) -> StepSpec {
    let walk = MessageWalk {
        page: 0,
        conversation_id: format!("c{n}"),
        slice_conversation: true,
        seen: 0,
        kept: 0,
        cap: None,
        late_arrival_at: None,
    };
    StepSpec {
        kind: StepKind::FetchMessages(walk),
        cursor: None,
        priority: Priority::Slice,
        not_before: at(0),
        want: Some(100),
        nested_want: None,
    }
}
