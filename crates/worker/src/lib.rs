//! Executes the sync: one step, one channel API call.
//!
//! - [`clock`]: the injected policy clock (DESIGN decision 8).
//! - [`ratelimit`]: fleet-wide GCRA budgets in Redis (C7) and the channel's usage
//!   signals (B2); an in-memory twin for the embedded mode.
//! - [`queue`]: apalis 1.0 on Redis (fleet) or SQLite (embedded), with the settings that
//!   keep it from losing or duplicating work (`../shared/notes/apalis-1.0.md`).
//! - [`executor`]: one step end to end — fence, peak, rate token, channel call, then one
//!   store transaction — and what each outcome does.

pub mod clock;
pub mod executor;
pub mod queue;
pub mod ratelimit;
