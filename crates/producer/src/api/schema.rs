//! Closed sets of names as they appear in the OpenAPI document.
//!
//! Requests carry channel and preset names as strings, parsed by the policy crate so that
//! an unknown name is answered with the valid ones; these enums give the document the
//! same closed sets. They describe fields and are never constructed.
#![allow(dead_code, reason = "schema-only types: they describe string fields")]

use serde::Serialize;
use utoipa::ToSchema;

/// A channel kind.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Channel)]
pub enum ChannelName {
    Facebook,
    Instagram,
    Zalo,
    Shopee,
}

/// A policy preset: `shopline` (Facebook, one year, peak hours) or `harasocial` (four
/// channels with per-channel quantities).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Preset)]
pub enum PresetNameSchema {
    Shopline,
    Harasocial,
}

/// A run's state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RunStatus)]
pub enum RunStatusName {
    Running,
    Completed,
    Failed,
    /// Superseded by a re-connect or stopped by a disconnect (B3).
    Cancelled,
}

/// What started a run.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = StartedBy)]
pub enum StartedByName {
    Connect,
    LoadMore,
    LateArrival,
}
