//! Liveness and readiness, for the producer's API port and the worker's health port.
//!
//! `/healthz` answers while the process can serve HTTP at all. `/readyz` answers 200 only
//! when the store and the queue (Redis in the fleet) both answer within a short timeout,
//! so Kubernetes routes requests, and counts rollouts, only to pods that can do work.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use backfill_store::Store;
use backfill_worker::queue::StepQueue;
use serde::Serialize;

use crate::api::problem::Problem;

/// Shorter than the probes' own 2 s timeout, so a slow dependency reads as "not ready"
/// rather than as a probe that timed out.
const CHECK_TIMEOUT: Duration = Duration::from_millis(1_500);

/// What readiness depends on.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub store: Store,
    pub queue: StepQueue,
}

#[derive(Debug, Serialize)]
struct Ready {
    status: &'static str,
    store: &'static str,
    queue: &'static str,
}

impl Readiness {
    /// `Ok` when both answer; otherwise which did not (the causes are logged).
    pub async fn check(&self) -> Result<(), Vec<&'static str>> {
        let store = tokio::time::timeout(CHECK_TIMEOUT, self.store.ping());
        let queue = tokio::time::timeout(CHECK_TIMEOUT, self.queue.depth());
        let (store, queue) = tokio::join!(store, queue);
        let mut failing = Vec::new();
        match store {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "readiness: the store does not answer");
                failing.push("store");
            }
            Err(_) => {
                tracing::warn!("readiness: the store did not answer in time");
                failing.push("store");
            }
        }
        match queue {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "readiness: the queue does not answer");
                failing.push("queue");
            }
            Err(_) => {
                tracing::warn!("readiness: the queue did not answer in time");
                failing.push("queue");
            }
        }
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing)
        }
    }
}

/// `/healthz` and `/readyz`.
pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The store and the queue answer.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready"),
        (status = 503, description = "The store or the queue does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(readiness): State<Readiness>) -> Response {
    match readiness.check().await {
        Ok(()) => Json(Ready {
            status: "ready",
            store: "ok",
            queue: "ok",
        })
        .into_response(),
        Err(failing) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {} unavailable", failing.join(" and ")),
        )
        .into_response(),
    }
}
