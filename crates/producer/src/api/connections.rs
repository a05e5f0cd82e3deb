//! `/v1/connections`: connect (C1), disconnect (B3), load more (H6), inbound messages (H8),
//! and one account's state.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use backfill_channels::{Credentials, CredentialsError};
use backfill_policy::{Channel, Participant, PolicyError, PresetName};
use backfill_store::{DisconnectOutcome, RunInfo, RunSummary};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::problem::{Body, Problem};
use super::schema::{ChannelName, PresetNameSchema, RunStatusName, StartedByName};
use crate::accounts::{ConnectRequest, Inbound, InboundMessage};

/// Longest account or conversation id accepted: far above any channel's, far below abuse.
const MAX_ID_LEN: usize = 256;

/// Connect (or re-connect) a channel account and start its sync.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectBody {
    #[schema(value_type = ChannelName)]
    pub channel: String,
    /// The channel's id of the account: Page id, Instagram user id, Zalo OA id, Shopee shop id.
    #[schema(example = "104729385610001")]
    pub account_id: String,
    /// Which product's rules the sync follows.
    #[schema(value_type = PresetNameSchema)]
    pub preset: String,
    /// IANA time zone for peak hours; default: the tenant's, else the preset's.
    #[schema(example = "Asia/Taipei")]
    pub timezone: Option<String>,
    /// A partial policy document (the shape of the serialized policy) applied after the
    /// tenant's own overrides, e.g. `{"channels": {"zalo": {"conversations": {"max": 50}}}}`.
    #[schema(value_type = Option<Object>)]
    pub overrides: Option<serde_json::Value>,
    pub credentials: CredentialsBody,
}

/// The account's secrets. Stored encrypted, never returned, never logged (B4).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsBody {
    /// Page token, Instagram user token, Zalo OA token or Shopee shop token.
    #[schema(value_type = String, format = Password)]
    pub access_token: SecretString,
    /// Shopee only: the app's partner id.
    pub partner_id: Option<u64>,
    /// Shopee only: the app's partner key, which signs requests.
    #[schema(value_type = Option<String>, format = Password)]
    pub partner_key: Option<SecretString>,
}

/// A run was started.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunStarted {
    /// Follow it at `GET /v1/runs/{run_id}`.
    pub run_id: String,
    pub connection_id: i64,
    /// The account's generation: steps of older generations are fenced off (B3).
    pub generation: i64,
    /// `T`, from which look-back windows are measured.
    pub connected_at: DateTime<Utc>,
    /// Runs of older generations this request cancelled (a re-connect).
    pub superseded_runs: u64,
}

impl From<RunInfo> for RunStarted {
    fn from(run: RunInfo) -> Self {
        Self {
            run_id: run.run_id,
            connection_id: run.connection_id,
            generation: run.generation,
            connected_at: run.connected_at,
            superseded_runs: run.superseded_runs,
        }
    }
}

/// `202 Accepted` with the run and where to follow it.
fn accepted(run: RunInfo) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/runs/{}", run.run_id)) {
        headers.insert(header::LOCATION, location);
    }
    (StatusCode::ACCEPTED, headers, Json(RunStarted::from(run)))
}

/// Where the channel account and its runs stand.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    pub connection_id: i64,
    #[schema(value_type = ChannelName)]
    pub channel: Channel,
    pub account_id: String,
    /// `connected` or `disconnected`.
    pub state: String,
    pub generation: i64,
    pub timezone: String,
    pub connected_at: DateTime<Utc>,
    /// Newest first.
    pub runs: Vec<RunSummaryView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunSummaryView {
    pub run_id: String,
    pub generation: i64,
    #[schema(value_type = StartedByName)]
    pub started_by: String,
    #[schema(value_type = RunStatusName)]
    pub status: String,
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
    pub slice_completed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<RunSummary> for RunSummaryView {
    fn from(run: RunSummary) -> Self {
        Self {
            run_id: run.id,
            generation: run.generation,
            started_by: run.started_by.to_string(),
            status: run.status.to_string(),
            reason: run.reason,
            started_at: run.started_at,
            slice_completed_at: run.slice_completed_at,
            finished_at: run.finished_at,
        }
    }
}

/// The account after a disconnect.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Disconnected {
    pub connection_id: i64,
    /// Running runs stopped by this request; 0 when it was disconnected already.
    pub cancelled_runs: u64,
    pub already_disconnected: bool,
}

/// A customer's message that just arrived (H8).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundBody {
    /// The channel's conversation id (Zalo: the customer's user id).
    pub conversation_id: String,
    pub customer: CustomerBody,
    pub message: InboundMessageBody,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundMessageBody {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub text: Option<String>,
}

/// What the inbound message led to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InboundAccepted {
    /// `stored`: the conversation was synced, the message joined it. `late_arrival`: the
    /// conversation came in with it and a run fetches its history (H8).
    #[schema(example = "late_arrival")]
    pub outcome: String,
    /// The late-arrival run, if one started.
    pub run: Option<RunStarted>,
}

/// The account a path names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountPath {
    /// `facebook`, `instagram`, `zalo` or `shopee`.
    pub channel: String,
    pub account_id: String,
}

impl AccountPath {
    /// The channel; an unknown one names no resource, and the answer lists those that do.
    pub fn channel(&self) -> Result<Channel, Problem> {
        self.channel
            .parse()
            .map_err(|e: PolicyError| Problem::not_found(e.to_string()))
    }
}

fn check_id(field: &str, value: &str) -> Result<(), Problem> {
    if value.trim().is_empty() || value.len() > MAX_ID_LEN {
        return Err(Problem::invalid(
            field,
            format!("must be 1 to {MAX_ID_LEN} characters"),
        ));
    }
    Ok(())
}

impl ConnectBody {
    /// Parses the body into a connect request, naming the first field that is wrong.
    fn parse(self) -> Result<ConnectRequest, Problem> {
        let channel: Channel = self
            .channel
            .parse()
            .map_err(|e: PolicyError| Problem::invalid("channel", e.to_string()))?;
        let preset: PresetName = self
            .preset
            .parse()
            .map_err(|e: PolicyError| Problem::invalid("preset", e.to_string()))?;
        check_id("account_id", &self.account_id)?;
        if channel == Channel::Shopee && self.account_id.parse::<u64>().is_err() {
            return Err(Problem::invalid(
                "account_id",
                "a Shopee account is its numeric shop_id",
            ));
        }
        let timezone = self
            .timezone
            .map(|zone| {
                zone.parse::<Tz>().map_err(|_| {
                    Problem::invalid("timezone", PolicyError::UnknownTimeZone(zone).to_string())
                })
            })
            .transpose()?;
        if let Some(overrides) = &self.overrides
            && !overrides.is_object()
        {
            return Err(Problem::invalid(
                "overrides",
                "must be an object in the shape of the policy",
            ));
        }
        let body = self.credentials;
        let credentials = Credentials::for_channel(
            channel,
            body.access_token,
            body.partner_id,
            body.partner_key,
        )
        .map_err(|e| {
            let field = match e {
                CredentialsError::EmptyToken => "credentials.access_token",
                CredentialsError::ShopeeIncomplete if body.partner_id.is_none() => {
                    "credentials.partner_id"
                }
                CredentialsError::ShopeeIncomplete => "credentials.partner_key",
                CredentialsError::NotShopee(_) => "credentials",
                CredentialsError::Unreadable => "credentials",
            };
            Problem::invalid(field, e.to_string())
        })?;
        Ok(ConnectRequest {
            channel,
            account_id: self.account_id,
            preset,
            timezone,
            overrides: self.overrides,
            credentials,
        })
    }
}

/// Connect or re-connect an account (C1). A re-connect starts a new generation and fences
/// every step of the older run (B3).
#[utoipa::path(
    post,
    path = "/v1/connections",
    tag = "connections",
    request_body = ConnectBody,
    responses(
        (status = 202, description = "The sync started", body = RunStarted,
         headers(("Location" = String, description = "The run's progress"))),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the size limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `field` names it", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn connect(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Body(body): Body<ConnectBody>,
) -> Result<impl IntoResponse, Problem> {
    let request = body.parse()?;
    let (run, _policy) = state.accounts.connect(&tenant, &request).await?;
    tracing::info!(
        tenant = %tenant.id,
        channel = %request.channel,
        account = %request.account_id,
        run = %run.run_id,
        "account connected through the API"
    );
    Ok(accepted(run))
}

/// The account and its runs, newest first.
#[utoipa::path(
    get,
    path = "/v1/connections/{channel}/{account_id}",
    tag = "connections",
    params(AccountPath),
    responses(
        (status = 200, body = ConnectionView),
        (status = 404, description = "No such account for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(path): Path<AccountPath>,
) -> Result<Json<ConnectionView>, Problem> {
    let channel = path.channel()?;
    let connection = state
        .store
        .connection(&tenant.id, channel, &path.account_id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no {channel} account {}", path.account_id)))?;
    let runs = state
        .store
        .runs_of_connection(&tenant.id, connection.id)
        .await?;
    Ok(Json(ConnectionView {
        connection_id: connection.id,
        channel,
        account_id: connection.account_id,
        state: connection.state.to_string(),
        generation: connection.generation,
        timezone: connection.timezone,
        connected_at: connection.connected_at,
        runs: runs.into_iter().map(Into::into).collect(),
    }))
}

/// Disconnect an account (B3): its sync stops at once and its credentials are dropped.
#[utoipa::path(
    delete,
    path = "/v1/connections/{channel}/{account_id}",
    tag = "connections",
    params(AccountPath),
    responses(
        (status = 200, body = Disconnected),
        (status = 404, description = "No such account for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn disconnect(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(path): Path<AccountPath>,
) -> Result<Json<Disconnected>, Problem> {
    let channel = path.channel()?;
    let outcome = state
        .accounts
        .disconnect(&tenant.id, channel, &path.account_id)
        .await?;
    Ok(Json(match outcome {
        DisconnectOutcome::Disconnected {
            connection_id,
            cancelled_runs,
        } => Disconnected {
            connection_id,
            cancelled_runs,
            already_disconnected: false,
        },
        DisconnectOutcome::AlreadyDisconnected { connection_id } => Disconnected {
            connection_id,
            cancelled_runs: 0,
            already_disconnected: true,
        },
    }))
}

/// Zalo "load more" (H6): the next 30 older conversations, up to 1,500 in all.
#[utoipa::path(
    post,
    path = "/v1/connections/{channel}/{account_id}/load-more",
    tag = "connections",
    params(AccountPath),
    responses(
        (status = 202, description = "A load-more run started", body = RunStarted),
        (status = 404, description = "No such account for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused for now: the limit is reached, a sync is running, nothing is left, or the account is disconnected", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The account's policy has no load more", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn load_more(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(path): Path<AccountPath>,
) -> Result<impl IntoResponse, Problem> {
    let channel = path.channel()?;
    let run = state
        .accounts
        .load_more(&tenant.id, channel, &path.account_id)
        .await?;
    Ok(accepted(run))
}

/// A customer wrote in (H8). A conversation not synced yet comes in with its history, as
/// the policy allows; a synced one just gets the message.
#[utoipa::path(
    post,
    path = "/v1/connections/{channel}/{account_id}/inbound",
    tag = "connections",
    params(AccountPath),
    request_body = InboundBody,
    responses(
        (status = 200, description = "The conversation was synced; the message joined it", body = InboundAccepted),
        (status = 202, description = "A late-arrival run started", body = InboundAccepted),
        (status = 404, description = "No such account for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account is disconnected", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid, or the policy has no late arrival for this channel", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn inbound(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(path): Path<AccountPath>,
    Body(body): Body<InboundBody>,
) -> Result<impl IntoResponse, Problem> {
    let channel = path.channel()?;
    check_id("conversation_id", &body.conversation_id)?;
    check_id("customer.id", &body.customer.id)?;
    check_id("message.id", &body.message.id)?;
    let message = InboundMessage {
        conversation_id: body.conversation_id,
        customer: Participant {
            id: body.customer.id,
            name: body.customer.name,
        },
        message_id: body.message.id,
        created_at: body.message.created_at,
        text: body.message.text,
    };
    let outcome = state
        .accounts
        .inbound(&tenant.id, channel, &path.account_id, message)
        .await?;
    Ok(match outcome {
        Inbound::Stored => (
            StatusCode::OK,
            Json(InboundAccepted {
                outcome: "stored".to_owned(),
                run: None,
            }),
        ),
        Inbound::LateArrival(run) => (
            StatusCode::ACCEPTED,
            Json(InboundAccepted {
                outcome: "late_arrival".to_owned(),
                run: Some(run.into()),
            }),
        ),
    })
}
