//! The two backends behind one way of running a query.
//!
//! Most of the store's SQL is the same text on PostgreSQL and SQLite: `$N` placeholders,
//! `ON CONFLICT` upserts, `RETURNING`, window functions, row values and partial indexes
//! work on both. So a statement is written once and run through a [`Session`], which
//! binds the same [`Arg`]s to whichever connection it holds and decodes rows into types
//! that derive `sqlx::FromRow` (they decode from either backend). Where the dialects
//! differ — row locks, arrays, the bulk page writers — the caller matches on
//! [`Session::dialect`] or [`Session::raw`] and says why there.
//!
//! SQL is always a `&'static str` (sqlx 0.9's `SqlSafeStr`): values travel as bind
//! parameters, never spliced into text.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{Database, Decode, FromRow, Postgres, Row, Sqlite, Transaction, Type};

use crate::error::{Result, StoreError};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// How to size the connection pools.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL connections, or SQLite reader connections (SQLite has one writer).
    pub max_connections: u32,
    /// How long a caller waits for a free connection before the call fails.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone)]
pub(crate) enum Pools {
    Postgres(PgPool),
    /// One writer, many readers: see [`Pools::connect`].
    Sqlite {
        writer: SqlitePool,
        readers: SqlitePool,
    },
}

impl Pools {
    /// Opens the database `url` names and brings its schema up to date. Migrating an
    /// up-to-date database is a no-op; on PostgreSQL the migrator holds an advisory lock,
    /// so pods starting together migrate once.
    pub(crate) async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect(url)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            return Ok(Self::Postgres(pool));
        }
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl);
        }
        let base: SqliteConnectOptions = url.parse()?;
        // WAL lets readers run while the writer commits. `synchronous = NORMAL` is durable
        // against a crash of the process (the WAL is fsynced at checkpoints, not at every
        // commit); a power loss may drop the last commits, which the workflow re-executes
        // idempotently. `busy_timeout` covers other processes opening the same file.
        let write_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        // A single writer connection. SQLite admits one writer at a time anyway; with
        // several write connections they would race for the file lock, and a transaction
        // that read before writing could fail at once with SQLITE_BUSY (busy_timeout does
        // not cover a lock upgrade in WAL mode). One connection makes writers queue in the
        // pool instead, fairly, and it makes claim_due's read-rank-lease atomic without
        // row locks: the single writer is SQLite's `FOR UPDATE SKIP LOCKED`.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(write_options)
            .await?;
        SQLITE_MIGRATIONS.run(&writer).await?;
        // Readers open after the writer created the file and switched it to WAL (a
        // persistent property of the file, so they need not set it).
        let read_options = base.read_only(true).busy_timeout(Duration::from_secs(10));
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(read_options)
            .await?;
        Ok(Self::Sqlite { writer, readers })
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Self::Postgres(_) => Dialect::Postgres,
            Self::Sqlite { .. } => Dialect::Sqlite,
        }
    }

    /// A write transaction (READ COMMITTED on PostgreSQL).
    pub(crate) async fn begin(&self) -> Result<Session> {
        Ok(match self {
            Self::Postgres(pool) => Session::Postgres(Held::Tx(pool.begin().await?)),
            // IMMEDIATE takes the write lock at BEGIN rather than at the first write, so a
            // transaction never has to upgrade a read lock (which SQLite refuses, busy).
            Self::Sqlite { writer, .. } => {
                Session::Sqlite(Held::Tx(writer.begin_with("BEGIN IMMEDIATE").await?))
            }
        })
    }

    /// A connection for reads outside a transaction.
    pub(crate) async fn read(&self) -> Result<Session> {
        Ok(match self {
            Self::Postgres(pool) => Session::Postgres(Held::Conn(pool.acquire().await?)),
            Self::Sqlite { readers, .. } => Session::Sqlite(Held::Conn(readers.acquire().await?)),
        })
    }

    pub(crate) async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite { writer, readers } => {
                readers.close().await;
                writer.close().await;
            }
        }
    }
}

/// A bind parameter, in a form both backends encode.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Time(Option<DateTime<Utc>>),
    Json(Option<serde_json::Value>),
    Bool(bool),
    Bytes(Option<Vec<u8>>),
    /// A list of ids: a `BIGINT[]` on PostgreSQL (`= ANY($n)`), a JSON array on SQLite
    /// (`IN (SELECT value FROM json_each($n))`).
    Ids(Vec<i64>),
}

/// Times are stored to the microsecond, PostgreSQL's precision, on both backends: an
/// inbox cursor then round-trips exactly, and SQLite's text times compare as PostgreSQL's.
pub(crate) fn instant(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

impl Arg {
    pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> Self {
        Self::Json(Some(
            serde_json::to_value(value).expect("store types serialize to JSON"),
        ))
    }
}

macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr;)*) => {
        $(impl From<$t> for Arg {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

arg_from! {
    i64 => |v| Arg::Int(Some(v));
    u32 => |v| Arg::Int(Some(i64::from(v)));
    Option<i64> => |v| Arg::Int(v);
    Option<u32> => |v| Arg::Int(v.map(i64::from));
    &str => |v| Arg::Text(Some(v.to_owned()));
    &String => |v| Arg::Text(Some(v.clone()));
    String => |v| Arg::Text(Some(v));
    Option<&str> => |v| Arg::Text(v.map(str::to_owned));
    Option<String> => |v| Arg::Text(v);
    DateTime<Utc> => |v| Arg::Time(Some(instant(v)));
    Option<DateTime<Utc>> => |v| Arg::Time(v.map(instant));
    bool => |v| Arg::Bool(v);
    Vec<u8> => |v| Arg::Bytes(Some(v));
    Option<Vec<u8>> => |v| Arg::Bytes(v);
}

/// `args![a, b, c]`: bind parameters `$1, $2, $3`.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        vec![$($crate::db::Arg::from($arg)),*]
    };
}
pub(crate) use args;

/// A row type that decodes from either backend (`#[derive(sqlx::FromRow)]` and tuples).
pub(crate) trait Record:
    for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin
{
}
impl<T> Record for T where
    T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin
{
}

/// A single column value that decodes from either backend.
pub(crate) trait Column:
    for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite> + Send
{
}
impl<T> Column for T where
    T: for<'r> Decode<'r, Postgres>
        + Type<Postgres>
        + for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + Send
{
}

/// A pooled connection, or a transaction on one.
pub(crate) enum Held<DB: Database> {
    Tx(Transaction<'static, DB>),
    Conn(PoolConnection<DB>),
}

impl<DB: Database> Held<DB> {
    fn conn(&mut self) -> &mut DB::Connection {
        match self {
            Self::Tx(tx) => tx,
            Self::Conn(conn) => conn,
        }
    }
}

/// One connection of either backend; a transaction if it came from [`Pools::begin`],
/// which rolls back when dropped without [`Session::commit`].
pub(crate) enum Session {
    Postgres(Held<Postgres>),
    Sqlite(Held<Sqlite>),
}

/// The raw connection, for the few statements that differ by dialect in more than text.
pub(crate) enum Raw<'a> {
    Postgres(&'a mut PgConnection),
    Sqlite(&'a mut SqliteConnection),
}

impl Session {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Self::Postgres(_) => Dialect::Postgres,
            Self::Sqlite(_) => Dialect::Sqlite,
        }
    }

    pub(crate) fn raw(&mut self) -> Raw<'_> {
        match self {
            Self::Postgres(held) => Raw::Postgres(held.conn()),
            Self::Sqlite(held) => Raw::Sqlite(held.conn()),
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(crate) async fn execute(&mut self, sql: &'static str, args: Vec<Arg>) -> Result<u64> {
        Ok(match self {
            Self::Postgres(held) => bind_pg(sql, args)
                .execute(held.conn())
                .await?
                .rows_affected(),
            Self::Sqlite(held) => bind_sqlite(sql, args)
                .execute(held.conn())
                .await?
                .rows_affected(),
        })
    }

    pub(crate) async fn fetch_all<T: Record>(
        &mut self,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> Result<Vec<T>> {
        Ok(match self {
            Self::Postgres(held) => {
                let rows = bind_pg(sql, args).fetch_all(held.conn()).await?;
                rows.iter().map(T::from_row).collect::<Result<_, _>>()?
            }
            Self::Sqlite(held) => {
                let rows = bind_sqlite(sql, args).fetch_all(held.conn()).await?;
                rows.iter().map(T::from_row).collect::<Result<_, _>>()?
            }
        })
    }

    pub(crate) async fn fetch_optional<T: Record>(
        &mut self,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> Result<Option<T>> {
        Ok(match self {
            Self::Postgres(held) => {
                let row = bind_pg(sql, args).fetch_optional(held.conn()).await?;
                row.as_ref().map(T::from_row).transpose()?
            }
            Self::Sqlite(held) => {
                let row = bind_sqlite(sql, args).fetch_optional(held.conn()).await?;
                row.as_ref().map(T::from_row).transpose()?
            }
        })
    }

    pub(crate) async fn fetch_one<T: Record>(
        &mut self,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> Result<T> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// The first column of the first row, if there is a row.
    pub(crate) async fn scalar<T: Column>(
        &mut self,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> Result<Option<T>> {
        Ok(match self {
            Self::Postgres(held) => {
                let row = bind_pg(sql, args).fetch_optional(held.conn()).await?;
                row.map(|r| r.try_get(0)).transpose()?
            }
            Self::Sqlite(held) => {
                let row = bind_sqlite(sql, args).fetch_optional(held.conn()).await?;
                row.map(|r| r.try_get(0)).transpose()?
            }
        })
    }

    /// Commits a transaction; a plain connection just goes back to its pool.
    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Self::Postgres(Held::Tx(tx)) => tx.commit().await?,
            Self::Sqlite(Held::Tx(tx)) => tx.commit().await?,
            Self::Postgres(Held::Conn(_)) | Self::Sqlite(Held::Conn(_)) => {}
        }
        Ok(())
    }
}

fn bind_pg(sql: &'static str, args: Vec<Arg>) -> Query<'static, Postgres, PgArguments> {
    args.into_iter()
        .fold(sqlx::query(sql), |query, arg| match arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::Time(v) => query.bind(v),
            Arg::Json(v) => query.bind(v.map(Json)),
            Arg::Bool(v) => query.bind(v),
            Arg::Bytes(v) => query.bind(v),
            Arg::Ids(v) => query.bind(v),
        })
}

fn bind_sqlite(sql: &'static str, args: Vec<Arg>) -> Query<'static, Sqlite, SqliteArguments> {
    args.into_iter()
        .fold(sqlx::query(sql), |query, arg| match arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::Time(v) => query.bind(v),
            Arg::Json(v) => query.bind(v.map(Json)),
            Arg::Bool(v) => query.bind(v),
            Arg::Bytes(v) => query.bind(v),
            Arg::Ids(v) => query.bind(Json(v)),
        })
}
