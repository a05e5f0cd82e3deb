//! The message center's data and the sync workflow's durable state, on PostgreSQL (the
//! fleet) and SQLite (embedded mode), behind one [`Store`].
//!
//! The database is the workflow's source of truth (DESIGN decision 1): the queue only
//! carries step ids, delivers them at least once, and may lose some. Everything a step
//! does — the items it fetched, its own completion, the follow-up steps it creates, the
//! run's completion and the event announcing it — commits in one transaction, so a
//! re-delivered step finds itself done and changes nothing, and a lost one is claimed
//! again when its lease expires.
//!
//! A step's life: [`Store::connect_account`] (or a commit) inserts it `pending`;
//! [`Store::claim_due`] leases it for the queue; a worker [`Store::load_step`]s it, calls
//! the channel, and ends with [`Store::commit_step`], [`Store::reschedule`] (throttled,
//! deferred, transient failure) or [`Store::fail_run`] (auth revoked, permanent error).
//!
//! - `db`: the two backends behind one way of running a query; migrations.
//! - [`crypto`]: [`CredentialKey`], AES-256-GCM sealing of secrets at rest (B4).
//! - [`tenants`]: tenants, their API keys (stored hashed) and settings.
//! - [`connections`]: connect and disconnect (C1, B3: generations fence old work), extra
//!   runs for load-more (H6) and late arrivals (H8), credentials, listing resume.
//! - [`steps`]: what a worker does with a step: load it, commit its outcome exactly once
//!   in effect (C5), or reschedule it (throttled, deferred, transient failure with C4's
//!   retry budget).
//! - [`runs`]: run transitions (completion, failure) and progress as a query (S5).
//! - [`dispatch`]: claiming due steps fairly (C6) under a lease, with several
//!   dispatchers at once.
//! - `pages`: the one-statement page writers: a page of 100 messages is one `INSERT`.
//! - [`events`]: the transactional outbox of run events.
//! - [`inbox`]: the read side in the channel's order (C3, H7).
//! - [`status`]: the states rows move through.
//! - [`admin`]: reads outside any tenant's API: readiness, running runs, an account's
//!   synced ids.
//!
//! Invariants, written as absences: no statement splices a value into SQL text; no
//! plaintext credential is stored, logged or put in an error; no counter stands in for a
//! fact that a query can establish, except `runs.open_steps`, which is maintained in the
//! same transaction as every change to the set of open steps.

pub mod admin;
pub mod connections;
pub mod crypto;
mod db;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod inbox;
mod pages;
pub mod runs;
pub mod status;
pub mod steps;
pub mod tenants;

use std::fmt;

pub use admin::{RunningRun, SyncedIds};
pub use connections::{Connect, ConnectionInfo, DisconnectOutcome, RunInfo, StartRun};
pub use crypto::{CredentialKey, KeyError};
pub use db::StoreOptions;
pub use dispatch::{ChannelCaps, ClaimLimits, ClaimedStep};
pub use error::{Result, StoreError};
pub use events::Event;
pub use inbox::{Account, InboxPage, StoredConversation, StoredMessage};
pub use runs::{FailOutcome, ItemCounts, Progress, RunSummary, StepCounts};
pub use status::{ConnectionState, EventKind, RunStatus, StartedBy, StepStatus};
pub use steps::{
    CommitInput, CommitOutcome, HandOff, NewStep, Reschedule, RescheduleOutcome, RunTransition,
    StepContext, StoredStep,
};
pub use tenants::{NewTenant, Tenant};

use db::{Dialect, Pools};

/// The store: a handle on one database, cheap to clone (it holds connection pools).
#[derive(Clone)]
pub struct Store {
    pools: Pools,
    key: CredentialKey,
}

impl Store {
    /// Opens `url` (`postgres://…`, or `sqlite://path`, created if missing) and applies
    /// the migrations; applying them to an up-to-date database is a no-op.
    ///
    /// `key` seals credentials and webhook secrets at rest.
    pub async fn connect(url: &str, key: CredentialKey) -> Result<Self> {
        Self::connect_with(url, key, StoreOptions::default()).await
    }

    pub async fn connect_with(
        url: &str,
        key: CredentialKey,
        options: StoreOptions,
    ) -> Result<Self> {
        let pools = Pools::connect(url, &options).await?;
        tracing::debug!(backend = ?pools.dialect(), "store connected and migrated");
        Ok(Self { pools, key })
    }

    /// Which backend this store runs on: `"postgres"` or `"sqlite"`.
    pub fn backend(&self) -> &'static str {
        match self.pools.dialect() {
            Dialect::Postgres => "postgres",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// Closes the pools, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.pools.close().await;
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}
