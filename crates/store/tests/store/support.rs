//! Test harness: a fresh database per test, on either backend, and small builders for
//! the policy types the store persists.
//!
//! PostgreSQL tests create their own database (`BACKFILL_TEST_DATABASE_URL`, default
//! the local server) and drop it when the test ends, even if it panics; SQLite tests use
//! a temporary file. So tests are isolated and run in parallel.

use std::path::PathBuf;

use backfill_policy::planner::{KeptConversation, Plan};
use backfill_policy::step::{ConversationWalk, ListingMode, MessageWalk};
use backfill_policy::{Channel, Conversation, Message, Participant, Priority, StepKind, StepSpec};
use backfill_store::{
    CommitInput, CommitOutcome, Connect, CredentialKey, NewTenant, RunInfo, Store, Tenant,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use secrecy::SecretString;
use sqlx::Connection;

/// Instantiates each named `async fn(TestDb)` once per backend:
/// `name::on_postgres` and `name::on_sqlite`.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres() {
                    super::$test(crate::support::TestDb::postgres().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite() {
                    super::$test(crate::support::TestDb::sqlite().await).await;
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

/// A store on a database of its own, with raw access for tests that inspect tables.
pub struct TestDb {
    pub store: Store,
    pub key: CredentialKey,
    pub url: String,
    raw: Raw,
    cleanup: Cleanup,
}

enum Raw {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

enum Cleanup {
    Postgres { admin_url: String, database: String },
    Sqlite { path: PathBuf },
}

fn admin_url() -> String {
    std::env::var("BACKFILL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl TestDb {
    pub async fn postgres() -> Self {
        let admin_url = admin_url();
        let database = format!("backfill_store_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL for tests (set BACKFILL_TEST_DATABASE_URL)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            r#"CREATE DATABASE "{database}""#
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&database);
        let url = url.to_string();
        let key = CredentialKey::generate();
        let store = Store::connect(&url, key.clone()).await.unwrap();
        let raw = Raw::Postgres(sqlx::PgPool::connect(&url).await.unwrap());
        Self {
            store,
            key,
            url,
            raw,
            cleanup: Cleanup::Postgres {
                admin_url,
                database,
            },
        }
    }

    pub async fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!(
            "backfill-store-test-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let url = format!("sqlite://{}", path.display());
        let key = CredentialKey::generate();
        let store = Store::connect(&url, key.clone()).await.unwrap();
        let raw = Raw::Sqlite(sqlx::SqlitePool::connect(&url).await.unwrap());
        Self {
            store,
            key,
            url,
            raw,
            cleanup: Cleanup::Sqlite { path },
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.raw, Raw::Sqlite(_))
    }

    /// An integer from raw SQL (counts).
    pub async fn count(&self, sql: &'static str) -> i64 {
        match &self.raw {
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    /// Whether `needle` appears anywhere in the stored data: every row of every table as
    /// text on PostgreSQL; the database file and its WAL, byte for byte, on SQLite.
    pub async fn stored_anywhere(&self, needle: &str) -> bool {
        match (&self.raw, &self.cleanup) {
            (Raw::Postgres(pool), _) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                for table in tables {
                    let sql = format!(r#"SELECT t::text FROM "{table}" t"#);
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                    if rows.iter().any(|row| row.contains(needle)) {
                        return true;
                    }
                }
                false
            }
            (Raw::Sqlite(_), Cleanup::Sqlite { path }) => {
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                [path.clone(), wal]
                    .iter()
                    .filter_map(|p| std::fs::read(p).ok())
                    .any(|bytes| {
                        bytes
                            .windows(needle.len())
                            .any(|window| window == needle.as_bytes())
                    })
            }
            (Raw::Sqlite(_), Cleanup::Postgres { .. }) => unreachable!("raw and cleanup agree"),
        }
    }

    pub async fn tenant(&self, id: &str) -> Tenant {
        let api_key = SecretString::from(format!("key-of-{id}"));
        let overrides = serde_json::json!({});
        let tenant = NewTenant {
            id,
            name: id,
            api_key: &api_key,
            webhook_url: None,
            webhook_secret: None,
            policy_overrides: &overrides,
            timezone: Some("Asia/Taipei"),
        };
        self.store.upsert_tenant(&tenant, at(0)).await.unwrap()
    }

    /// Connects `account` of `tenant` on Facebook at `connected_at` with `first_steps`.
    pub async fn connect(
        &self,
        tenant: &str,
        account: &str,
        connected_at: DateTime<Utc>,
        first_steps: &[StepSpec],
    ) -> RunInfo {
        self.connect_with_token(tenant, account, connected_at, first_steps, "token")
            .await
    }

    pub async fn connect_with_token(
        &self,
        tenant: &str,
        account: &str,
        connected_at: DateTime<Utc>,
        first_steps: &[StepSpec],
        token: &str,
    ) -> RunInfo {
        self.connect_channel(
            Channel::Facebook,
            tenant,
            account,
            connected_at,
            first_steps,
            token,
        )
        .await
    }

    /// An account of `channel`.
    pub async fn connect_channel(
        &self,
        channel: Channel,
        tenant: &str,
        account: &str,
        connected_at: DateTime<Utc>,
        first_steps: &[StepSpec],
        token: &str,
    ) -> RunInfo {
        let credentials = SecretString::from(format!(r#"{{"access_token":"{token}"}}"#));
        let policy = serde_json::json!({ "preset": "shopline" });
        self.store
            .connect_account(&Connect {
                tenant_id: tenant,
                channel,
                account_id: account,
                credentials: &credentials,
                policy: &policy,
                timezone: "Asia/Taipei",
                connected_at,
                first_steps,
                trace_context: Some("00-trace-span-01"),
            })
            .await
            .unwrap()
    }

    pub async fn commit(&self, step_id: i64, plan: &Plan, now: DateTime<Utc>) -> CommitOutcome {
        self.store
            .commit_step(
                step_id,
                CommitInput {
                    plan,
                    now,
                    http_calls: 1,
                    hand_off: None,
                },
            )
            .await
            .unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Postgres {
                admin_url,
                database,
            } => {
                // Drop runs inside the test's runtime, which cannot be blocked on: drop the
                // database from a thread of its own. FORCE ends the pools' connections.
                let (admin_url, name) = (admin_url.clone(), database.clone());
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                        let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&mut admin)
                            .await?;
                        admin.close().await
                    })
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("could not drop test database {database}");
                }
            }
            Cleanup::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
        }
    }
}

/// A fixed instant plus `minutes`: tests never read the clock.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

/// A step of the account's conversation listing, `seen` conversations down.
pub fn listing(seen: u32, priority: Priority, not_before: DateTime<Utc>) -> StepSpec {
    let walk = ConversationWalk {
        page: seen,
        mode: ListingMode::Initial,
        seen,
        skip: 0,
        round1: seen,
        round2: 0,
        in_round2: false,
    };
    StepSpec {
        kind: StepKind::ListConversations(walk),
        cursor: None,
        priority,
        not_before,
        want: Some(25),
        nested_want: None,
    }
}

/// A step fetching one conversation's messages, `seen` messages down.
pub fn fetch_messages(
    conversation: &str,
    seen: u32,
    priority: Priority,
    not_before: DateTime<Utc>,
) -> StepSpec {
    let walk = MessageWalk {
        page: seen,
        conversation_id: conversation.to_owned(),
        slice_conversation: priority == Priority::Slice,
        seen,
        kept: seen,
        cap: None,
        late_arrival_at: None,
    };
    StepSpec {
        kind: StepKind::FetchMessages(walk),
        cursor: None,
        priority,
        not_before,
        want: Some(100),
        nested_want: None,
    }
}

/// `n` message-fetch steps of distinct conversations named `{prefix}{i}`.
pub fn message_steps(prefix: &str, n: usize, priority: Priority) -> Vec<StepSpec> {
    (0..n)
        .map(|i| fetch_messages(&format!("{prefix}{i}"), 0, priority, at(0)))
        .collect()
}

pub fn conversation(id: &str, last_activity: DateTime<Utc>) -> Conversation {
    Conversation {
        id: id.to_owned(),
        last_activity,
        customer: Some(Participant {
            id: format!("psid-{id}"),
            name: Some(format!("Customer {id}")),
        }),
        snippet: Some(format!("latest in {id}")),
        unread_count: Some(1),
        embedded_messages: None,
    }
}

pub fn kept(id: &str, rank: u32, last_activity: DateTime<Utc>) -> KeptConversation {
    KeptConversation {
        conversation: conversation(id, last_activity),
        rank,
        priority: Priority::Slice,
    }
}

pub fn message(conversation: &str, id: &str, created_at: DateTime<Utc>) -> Message {
    Message {
        id: id.to_owned(),
        conversation_id: conversation.to_owned(),
        created_at,
        from: Some(Participant {
            id: "psid".to_owned(),
            name: Some("Customer".to_owned()),
        }),
        role: Some(backfill_policy::SenderRole::Customer),
        text: Some(format!("text of {id}")),
        attachments: Vec::new(),
        ad_referral: None,
        unavailable: false,
    }
}

/// A page of `n` messages of `conversation`, newest first as channels list them, with ids
/// `{conversation}-m{first}` onwards.
pub fn message_page(conversation: &str, first: usize, n: usize) -> Vec<Message> {
    (first..first + n)
        .rev()
        .map(|i| message(conversation, &format!("{conversation}-m{i}"), at(i as i64)))
        .collect()
}

pub fn plan_with_messages(messages: Vec<Message>) -> Plan {
    Plan {
        messages,
        walk_ended: true,
        ..Plan::default()
    }
}
