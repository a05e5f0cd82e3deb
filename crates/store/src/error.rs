//! The store's error: what a caller must tell apart to decide what to do next.
//!
//! Outcomes that are part of normal operation (a step already done, a fenced step, a run
//! that already finished) are not errors: they are the variants of the operations'
//! outcome enums. An error here means the request could not be served: a missing row the
//! caller named, a database that failed, or data that does not decode.
//!
//! No variant ever carries a credential (B4): decryption failures say which connection,
//! never what was stored.

use backfill_policy::Channel;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL: expected postgres://… or sqlite://…")]
    UnsupportedUrl,

    #[error("unknown tenant {0}")]
    UnknownTenant(String),

    #[error("tenant {tenant_id} has no {channel} account {account_id}")]
    UnknownAccount {
        tenant_id: String,
        channel: Channel,
        account_id: String,
    },

    #[error("unknown connection {0}")]
    UnknownConnection(i64),

    #[error("unknown run {0}")]
    UnknownRun(String),

    #[error("unknown step {0}")]
    UnknownStep(i64),

    /// The operation needs a connected account (e.g. starting a load-more run).
    #[error("connection {0} is disconnected")]
    Disconnected(i64),

    /// Sealed data did not open with the configured key: a wrong key, or a row that was
    /// tampered with or moved to another owner (the owner is authenticated data).
    #[error("sealed {what} of {owner} could not be decrypted with the configured key")]
    Decrypt { what: &'static str, owner: String },

    #[error("invalid inbox cursor")]
    InvalidCursor,

    /// A row holds a value this version does not understand (an unknown status, a step
    /// payload that no longer decodes). Names the table and column, never the value.
    #[error("corrupt {0}")]
    Corrupt(String),

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
