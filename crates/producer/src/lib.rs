//! The producer: what starts and feeds sync workflows.
//!
//! - [`dispatch`]: the dispatcher that moves due steps from the store to the queue, fairly
//!   and never more than a window at a time.

pub mod dispatch;
