//! The pure heart of Backfill: what to sync, in which order, and when.
//!
//! - [`channel`]: the channel kinds and preset names.
//! - [`preset`]: [`Policy`], every limit of `POLICIES.md` as data, with per-tenant
//!   overrides and validation that names the offending field.
//! - [`calendar`]: peak hours in the tenant's time zone, across midnight and DST (S3).
//! - [`model`]: the normalized conversations, messages, posts and comments every
//!   connector produces and the store keeps.
//! - [`step`]: steps, one channel API call each, with the walk state they carry.
//! - [`planner`]: given a step and the page the channel returned, which items to keep,
//!   which steps follow, in which priority class, and not before when.
//!
//! The crate does no I/O and reads no clock: time comes in as arguments, so the same
//! inputs always give the same plan. Its dependency tree has no tokio, redis, sqlx,
//! reqwest or hyper, and a test in `make test` keeps it that way.

pub mod calendar;
pub mod channel;
pub mod error;
pub mod model;
pub mod period;
pub mod planner;
pub mod preset;
pub mod step;

pub use calendar::PeakWindow;
pub use channel::{Channel, PresetName};
pub use error::PolicyError;
pub use model::{
    AdReferral, Attachment, Comment, Conversation, Cursor, FollowerStatus, Message, Page,
    Participant, Post, SenderRole,
};
pub use period::Period;
pub use planner::{Fetched, Plan, RunContext};
pub use preset::{ChannelPolicy, Policy};
pub use step::{Priority, StepKind, StepSpec};
