//! The producer's HTTP API (axum): connect, disconnect, load more and inbound messages
//! (`connections`), run progress (`runs`), the inbox read side (`inbox`), liveness and
//! readiness, and the OpenAPI document generated from these handlers (`/openapi.json`).
//!
//! Every `/v1` route authenticates a tenant by its API key ([`auth::Caller`]) and scopes
//! every read and write by it. Every refusal is an `application/problem+json` document
//! ([`problem::Problem`]) that names the field and the reason; request bodies are capped
//! at [`ApiSettings::body_limit`].

pub mod auth;
mod connections;
mod inbox;
pub mod problem;
mod runs;
mod schema;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use backfill_store::Store;
use backfill_telemetry::spans;
use backfill_worker::clock::Clock;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use connections::{
    ConnectBody, ConnectionView, CredentialsBody, CustomerBody, Disconnected, InboundAccepted,
    InboundBody, InboundMessageBody, RunStarted, RunSummaryView,
};
pub use inbox::{ConversationView, InboxPageView, MessageView, MessagesView, PersonView};
pub use runs::{RunProgress, StepTally, StoredTally};

use crate::accounts::Accounts;
use crate::health::{self, Readiness};
use problem::Problem;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) store: Store,
    pub(crate) accounts: Accounts,
    pub(crate) clock: Clock,
}

impl AppState {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self {
            accounts: Accounts::new(store.clone(), clock.clone()),
            store,
            clock,
        }
    }
}

/// How the API serves requests.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest request body accepted; larger ones are answered 413. A connect with
    /// overrides is a few KiB; 64 KiB leaves room without inviting abuse.
    pub body_limit: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
        }
    }
}

/// The whole HTTP surface of the producer.
pub fn router(state: AppState, readiness: Readiness, settings: &ApiSettings) -> Router {
    const ACCOUNT: &str = "/v1/connections/{channel}/{account_id}";
    let v1 = Router::new()
        .route("/v1/connections", post(connections::connect))
        .route(
            ACCOUNT,
            get(connections::show).delete(connections::disconnect),
        )
        .route(
            &format!("{ACCOUNT}/load-more"),
            post(connections::load_more),
        )
        .route(&format!("{ACCOUNT}/inbound"), post(connections::inbound))
        .route(
            &format!("{ACCOUNT}/conversations"),
            get(inbox::conversations),
        )
        .route(
            &format!("{ACCOUNT}/conversations/{{conversation_id}}/messages"),
            get(inbox::messages),
        )
        .route("/v1/runs/{run_id}", get(runs::progress))
        .with_state(state);
    Router::new()
        .merge(v1)
        .merge(health::router(readiness))
        .route("/openapi.json", get(openapi_json))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::info_span!(
                    spans::API_REQUEST,
                    method = %request.method(),
                    path = %request.uri().path(),
                    tenant = tracing::field::Empty,
                )
            }),
        )
}

async fn no_route() -> Problem {
    Problem::not_found("no such endpoint; the API is described at /openapi.json")
}

async fn openapi_json() -> impl IntoResponse {
    (StatusCode::OK, axum::Json(ApiDoc::openapi()))
}

/// The OpenAPI 3.1 document, generated from the handlers' annotations.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Backfill",
        description = "Back-fills a merchant's channel history (Facebook, Instagram, Zalo, \
                       Shopee) into the inbox. Authenticate with the tenant's API key as \
                       `Authorization: Bearer <api key>`. Errors are `application/problem+json` \
                       documents naming the field and the reason."
    ),
    paths(
        connections::connect,
        connections::show,
        connections::disconnect,
        connections::load_more,
        connections::inbound,
        inbox::conversations,
        inbox::messages,
        runs::progress,
        health::healthz,
        health::readyz,
    ),
    components(schemas(
        schema::ChannelName,
        schema::PresetNameSchema,
        schema::RunStatusName,
        schema::StartedByName,
        Problem,
        crate::events::EventEnvelope,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "connections", description = "Connect, disconnect, load more (H6), inbound messages (H8)"),
        (name = "runs", description = "Progress of a sync (S5)"),
        (name = "inbox", description = "The read side, in the channel's order (C3, H7)"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The tenant's API key"))
                    .build(),
            ),
        );
    }
}
