//! The producer: what starts and feeds sync workflows.
//!
//! - [`dispatch`]: the dispatcher that moves due steps from the store to the queue, fairly
//!   and never more than a window at a time.
//! - [`accounts`]: connect (C1), disconnect (B3), load more (H6) and inbound messages
//!   (H8), shared by the HTTP API and the embedded CLI.
//! - [`api`]: the HTTP API (axum) with its OpenAPI document, per-tenant API keys and
//!   `application/problem+json` refusals.
//! - [`events`]: run events from the store's outbox to Redis pub/sub and signed webhooks.
//! - [`tenants`]: tenants provisioned from configuration.
//! - [`health`]: `/healthz` and `/readyz`, for the producer and the worker.
//! - [`service`]: the producer process, API, dispatcher and relay together.

pub mod dispatch;

pub mod accounts;
pub mod api;
pub mod events;
pub mod health;
pub mod service;
pub mod tenants;
