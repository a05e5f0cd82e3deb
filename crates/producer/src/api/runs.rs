//! `/v1/runs/{run_id}`: a run's progress at any time (S5).

use axum::Json;
use axum::extract::{Path, State};
use backfill_store::{ItemCounts, Progress, StepCounts};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use super::schema::{ChannelName, RunStatusName, StartedByName};

/// Where a run stands: counts done and pending, deferred, failed (S5). The same document
/// is the `data` of every run event, exactly as the store's outbox recorded it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunProgress {
    pub run_id: String,
    pub connection_id: i64,
    #[schema(value_type = ChannelName)]
    pub channel: String,
    pub account_id: String,
    #[schema(value_type = StartedByName)]
    pub started_by: String,
    #[schema(value_type = RunStatusName)]
    pub status: String,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
    /// When the priority slice was stored: what the inbox shows first (S4).
    pub slice_completed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Every step (one channel call each), by state.
    pub steps: StepTally,
    /// The priority slice's steps.
    pub slice: StepTally,
    /// The backlog's steps.
    pub backlog: StepTally,
    /// Pending steps not due yet: out of peak hours (S3) or waiting on a rate limit.
    pub deferred: u64,
    /// Transient failures spent so far (C4: at most 3 per step).
    pub attempts: u64,
    /// Channel API calls made.
    pub http_calls: u64,
    /// What the account holds now.
    pub stored: StoredTally,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StepTally {
    pub pending: u64,
    /// Handed to a worker.
    pub leased: u64,
    pub done: u64,
    pub cancelled: u64,
    pub failed: u64,
}

impl From<StepCounts> for StepTally {
    fn from(counts: StepCounts) -> Self {
        Self {
            pending: counts.pending,
            leased: counts.leased,
            done: counts.done,
            cancelled: counts.cancelled,
            failed: counts.failed,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoredTally {
    pub conversations: i64,
    pub messages: i64,
    /// Messages the channel lists without details (Instagram keeps details of the newest 20).
    pub unavailable_messages: i64,
    pub posts: i64,
    pub comments: i64,
}

impl From<ItemCounts> for StoredTally {
    fn from(counts: ItemCounts) -> Self {
        Self {
            conversations: counts.conversations,
            messages: counts.messages,
            unavailable_messages: counts.unavailable_messages,
            posts: counts.posts,
            comments: counts.comments,
        }
    }
}

impl From<Progress> for RunProgress {
    fn from(p: Progress) -> Self {
        Self {
            run_id: p.run_id,
            connection_id: p.connection_id,
            channel: p.channel.to_string(),
            account_id: p.account_id,
            started_by: p.started_by.to_string(),
            status: p.status.to_string(),
            reason: p.reason,
            started_at: p.started_at,
            slice_completed_at: p.slice_completed_at,
            finished_at: p.finished_at,
            steps: p.steps.into(),
            slice: p.slice.into(),
            backlog: p.backlog.into(),
            deferred: p.deferred,
            attempts: p.attempts,
            http_calls: p.http_calls,
            stored: p.stored.into(),
        }
    }
}

/// A run's progress (S5): readable at any time, while it runs and after.
#[utoipa::path(
    get,
    path = "/v1/runs/{run_id}",
    tag = "runs",
    params(("run_id" = String, Path, description = "As returned by a connect, load more or late arrival")),
    responses(
        (status = 200, body = RunProgress),
        (status = 404, description = "No such run for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn progress(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(run_id): Path<String>,
) -> Result<Json<RunProgress>, Problem> {
    state
        .store
        .progress(&tenant.id, &run_id, state.clock.now())
        .await?
        .map(|p| Json(p.into()))
        .ok_or_else(|| Problem::not_found(format!("no run {run_id}")))
}
