//! The HTTP server: all four channels on one port, each under a path prefix that stands in
//! for its host (`/facebook` = `https://graph.facebook.com`, `/instagram`, `/zalo`,
//! `/shopee`), plus the simulator's own `/_sim/*` endpoints for tests and demos.
//!
//! Every channel request takes the same path: it is attributed to an account (statistics),
//! its faults are drawn (latency, hang, 5xx), the channel module answers it synchronously
//! from the dataset and the shared state, and the answer may then be spoiled (malformed or
//! truncated body). Channel modules never await: all state sits behind short-held mutexes.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Json, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::dataset::{Dataset, Profile};
use crate::faults::{BodyFault, ChannelFaults, FaultState, Faults};
use crate::limits::Limiter;
use crate::manifest::Manifest;
use crate::mix::{ALNUM, HEX, Mix, token_chars};
use crate::settings::{RateBudget, SimSettings};
use crate::stats::{Outcome, SimStats, StatsState};
use crate::tokens::{Permission, RevokeReason, TokenRegistry};
use crate::{Channel, graph, shopee, zalo};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Port 0 picks a free port; see [`SimHandle::addr`].
    pub listen: SocketAddr,
    pub profile: Profile,
    pub seed: u64,
    /// The dataset's "now"; `None` = the system clock at start.
    pub now: Option<DateTime<Utc>>,
    pub settings: SimSettings,
    pub faults: Faults,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            profile: Profile::Small,
            seed: 42,
            now: None,
            settings: SimSettings::default(),
            faults: Faults::default(),
        }
    }
}

/// Errors of the simulator's control calls.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimError {
    #[error("the simulator knows no such access token")]
    UnknownToken,
    #[error("the simulator has no account {0}")]
    UnknownAccount(String),
}

/// A channel request, as the channel modules see it.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: Method,
    /// The path after the channel prefix, e.g. `/v21.0/123/conversations`.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    headers: HeaderMap,
}

impl Request {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn segments(&self) -> impl Iterator<Item = &str> {
        self.path.split('/').filter(|s| !s.is_empty())
    }
}

/// A channel module's answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
    pub outcome: Outcome,
}

/// State shared by every request.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dataset: Arc<Dataset>,
    pub settings: SimSettings,
    /// `http://127.0.0.1:PORT`, what `next` URLs and the manifest point at.
    pub base: String,
    pub tokens: Mutex<TokenRegistry>,
    pub limits: Mutex<Limiter>,
    pub faults: Mutex<FaultState>,
    pub stats: Mutex<StatsState>,
    shutdown: watch::Receiver<bool>,
    counter: AtomicU64,
}

/// Locks a mutex, ignoring poisoning: every critical section leaves its state consistent,
/// so a panic elsewhere must not take the simulator down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The account's rate budget: a runtime override for the account, else the channel's
    /// fault override, else the settings' default.
    pub(crate) fn budget(
        &self,
        channel: Channel,
        account: usize,
        default: RateBudget,
    ) -> RateBudget {
        let channel_override = lock(&self.faults).config.of(channel).account_budget;
        let account_override = lock(&self.limits).overrides.get(&account).copied();
        account_override.or(channel_override).unwrap_or(default)
    }

    fn next_mix(&self) -> Mix {
        Mix::new(self.dataset.seed())
            .with_str("request")
            .with(self.counter.fetch_add(1, Ordering::Relaxed))
    }

    /// A Graph `fbtrace_id`.
    pub(crate) fn trace_id(&self) -> String {
        token_chars(self.next_mix(), ALNUM, 11)
    }

    /// A Shopee `request_id`.
    pub(crate) fn request_id(&self) -> String {
        token_chars(self.next_mix(), HEX, 32)
    }
}

/// A running simulator. Dropping it stops the server too, without waiting.
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts a simulator: generates the dataset, binds, serves in the background.
pub async fn spawn(config: SimConfig) -> anyhow::Result<SimHandle> {
    let now = config.now.unwrap_or_else(Utc::now);
    let dataset = Arc::new(Dataset::generate(config.profile, config.seed, now));
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the simulator to {}", config.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    // A wildcard bind is still reached through the loopback address.
    let host = if addr.ip().is_unspecified() {
        SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
    } else {
        addr
    };
    let (stop, shutdown) = watch::channel(false);
    let shared = Arc::new(Shared {
        tokens: Mutex::new(TokenRegistry::new(&dataset, SystemTime::now())),
        limits: Mutex::new(Limiter::default()),
        faults: Mutex::new(FaultState::new(config.faults, config.seed)),
        stats: Mutex::new(StatsState::default()),
        dataset,
        settings: config.settings,
        base: format!("http://{host}"),
        shutdown: shutdown.clone(),
        counter: AtomicU64::new(0),
    });
    let app = router(shared.clone());
    let mut signal = shutdown;
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = signal.wait_for(|stop| *stop).await;
            })
            .await
    });
    tracing::info!(base = %shared.base, profile = %config.profile, seed = config.seed, "channel simulator listening");
    Ok(SimHandle {
        shared,
        addr,
        stop,
        task: Some(task),
    })
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL that stands in for the channel's host, e.g. `http://127.0.0.1:P/facebook`.
    pub fn base_url(&self, channel: Channel) -> String {
        format!("{}/{channel}", self.shared.base)
    }

    pub fn dataset(&self) -> &Dataset {
        &self.shared.dataset
    }

    pub fn settings(&self) -> &SimSettings {
        &self.shared.settings
    }

    pub fn manifest(&self) -> Manifest {
        Manifest::new(&self.shared.base, &self.shared.dataset)
    }

    pub fn stats(&self) -> SimStats {
        lock(&self.shared.stats).snapshot(&self.shared.dataset)
    }

    pub fn reset_stats(&self) {
        lock(&self.shared.stats).reset();
    }

    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).config.clone()
    }

    /// Replaces the faults of one channel; takes effect from the next request.
    pub fn set_faults(&self, channel: Channel, faults: ChannelFaults) {
        *lock(&self.shared.faults).config.of_mut(channel) = faults;
    }

    /// Gives one account its own rate budget (`None` restores the channel's).
    pub fn set_account_budget(
        &self,
        account_id: &str,
        budget: Option<RateBudget>,
    ) -> Result<(), SimError> {
        let account = self.account_ix(account_id)?;
        let mut limits = lock(&self.shared.limits);
        match budget {
            Some(budget) => limits.overrides.insert(account, budget),
            None => limits.overrides.remove(&account),
        };
        Ok(())
    }

    /// Revokes one token; its next use fails as the channel fails it.
    pub fn revoke_token(&self, token: &str, reason: RevokeReason) -> Result<(), SimError> {
        lock(&self.shared.tokens)
            .revoke(token, reason)
            .then_some(())
            .ok_or(SimError::UnknownToken)
    }

    /// Revokes every token of an account; returns how many.
    pub fn revoke_account(
        &self,
        account_id: &str,
        reason: RevokeReason,
    ) -> Result<usize, SimError> {
        let account = self.account_ix(account_id)?;
        Ok(lock(&self.shared.tokens).revoke_account(account, reason))
    }

    /// Issues a new token for an account, as if issued at `issued_at` (Shopee tokens expire
    /// [`crate::ShopeeSettings::token_lifetime_secs`] after it).
    pub fn issue_token(&self, account_id: &str, issued_at: SystemTime) -> Result<String, SimError> {
        let account = self.account_ix(account_id)?;
        let account = self.shared.dataset.account_at(account);
        Ok(lock(&self.shared.tokens).issue(account, issued_at))
    }

    /// Takes a permission away from a token (Graph answers 200 or 10).
    pub fn deny_permission(&self, token: &str, permission: Permission) -> Result<(), SimError> {
        lock(&self.shared.tokens)
            .deny(token, permission)
            .then_some(())
            .ok_or(SimError::UnknownToken)
    }

    fn account_ix(&self, account_id: &str) -> Result<usize, SimError> {
        self.shared
            .dataset
            .account(account_id)
            .map(|a| a.ix)
            .ok_or_else(|| SimError::UnknownAccount(account_id.to_owned()))
    }

    /// Stops accepting connections and waits for open requests (hangs end at once).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.await
                .context("the simulator task panicked")?
                .context("serving")?;
        }
        Ok(())
    }

    /// Serves until `signal` resolves, then shuts down.
    pub async fn serve_until(self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        signal.await;
        self.shutdown().await
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .route("/_sim/faults", get(faults).post(set_faults))
        .route("/_sim/revoke", post(revoke))
        .route("/_sim/tokens", post(issue_token))
        .route("/_sim/manifest", get(manifest))
        .fallback(channel_request)
        .with_state(shared)
}

async fn channel_request(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let full = uri.path().trim_start_matches('/');
    let (prefix, rest) = full.split_once('/').unwrap_or((full, ""));
    let Ok(channel) = prefix.parse::<Channel>() else {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": "unknown path: the simulator serves /facebook, /instagram, /zalo, /shopee and /_sim" }))).into_response();
    };
    let request = Request {
        method,
        path: format!("/{rest}"),
        query: url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
        headers,
    };
    let (account, endpoint) = match channel {
        Channel::Facebook | Channel::Instagram => (
            graph::account_of(&shared, &request),
            graph::endpoint_of(&shared.dataset, &request),
        ),
        Channel::Zalo => (
            zalo::account_of(&shared, &request),
            zalo::endpoint_of(&request),
        ),
        Channel::Shopee => (
            shopee::account_of(&shared, &request),
            shopee::endpoint_of(&request),
        ),
    };
    lock(&shared.stats).arrived(channel, account, &endpoint, tokio::time::Instant::now());
    let plan = lock(&shared.faults).plan(channel);
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    if let Some(hang) = plan.hang {
        lock(&shared.stats).answered(account, Outcome::Fault);
        let mut stop = shared.shutdown.clone();
        tokio::select! {
            () = tokio::time::sleep(hang) => {}
            _ = stop.wait_for(|stop| *stop) => {}
        }
        return html(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Time-out");
    }
    if plan.server_error {
        lock(&shared.stats).answered(account, Outcome::Fault);
        return match channel {
            Channel::Facebook | Channel::Instagram => {
                json_response(500, &[], &graph::server_error_body(shared.trace_id()))
            }
            Channel::Zalo => html(StatusCode::BAD_GATEWAY, "502 Bad Gateway"),
            Channel::Shopee => {
                json_response(500, &[], &shopee::server_error_body(shared.request_id()))
            }
        };
    }
    let reply = match channel {
        Channel::Facebook | Channel::Instagram => graph::handle(&shared, channel, &request),
        Channel::Zalo => zalo::handle(&shared, &request),
        Channel::Shopee => shopee::handle(&shared, &request),
    };
    let outcome = if plan.body == BodyFault::Intact {
        reply.outcome
    } else {
        Outcome::Fault
    };
    lock(&shared.stats).answered(account, outcome);
    match plan.body {
        BodyFault::Intact => json_response(reply.status, &reply.headers, &reply.body),
        // A proxy's error page where JSON was expected.
        BodyFault::Malformed => html(StatusCode::OK, "Sorry, something went wrong."),
        BodyFault::Truncated => truncated(&reply),
    }
}

fn json_response(status: u16, headers: &[(&'static str, String)], body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let map = response.headers_mut();
    map.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.append(HeaderName::from_static(name), value);
        }
    }
    response
}

fn html(status: StatusCode, title: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>{title}</title></head><body><center><h1>{title}</h1></center><hr><center>nginx</center></body></html>"
    );
    (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// Status, headers and half of the body, then the connection drops: the declared length
/// is never reached. The pause lets the first half leave before the abort.
fn truncated(reply: &Reply) -> Response {
    use futures::StreamExt as _;
    let bytes = Bytes::from(reply.body.to_string());
    let half = bytes.slice(..bytes.len() / 2);
    let cut = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "truncated by the simulator",
        ))
    });
    let chunks = futures::stream::once(async move { Ok::<_, std::io::Error>(half) }).chain(cut);
    let mut response = json_response(reply.status, &reply.headers, &Value::Null);
    *response.body_mut() = Body::from_stream(chunks);
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    response
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<SimStats> {
    Json(lock(&shared.stats).snapshot(&shared.dataset))
}

async fn reset_stats(State(shared): State<Arc<Shared>>) -> StatusCode {
    lock(&shared.stats).reset();
    StatusCode::NO_CONTENT
}

async fn faults(State(shared): State<Arc<Shared>>) -> Json<Faults> {
    Json(lock(&shared.faults).config.clone())
}

/// Replaces the faults of the channels named in the body, e.g.
/// `{"zalo": {"server_error_rate": 0.5}}`; returns all faults.
async fn set_faults(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<std::collections::BTreeMap<Channel, ChannelFaults>>,
) -> Json<Faults> {
    let mut state = lock(&shared.faults);
    for (channel, faults) in body {
        *state.config.of_mut(channel) = faults;
    }
    Json(state.config.clone())
}

#[derive(Debug, Deserialize)]
struct RevokeBody {
    access_token: Option<String>,
    account_id: Option<String>,
    #[serde(default)]
    reason: RevokeReason,
}

/// `{"access_token": "..."}` or `{"account_id": "..."}`, optional `"reason"`.
async fn revoke(State(shared): State<Arc<Shared>>, Json(body): Json<RevokeBody>) -> Response {
    let mut tokens = lock(&shared.tokens);
    let revoked = match (&body.access_token, &body.account_id) {
        (Some(token), _) => usize::from(tokens.revoke(token, body.reason)),
        (None, Some(id)) => match shared.dataset.account(id) {
            Some(account) => tokens.revoke_account(account.ix, body.reason),
            None => 0,
        },
        (None, None) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "give access_token or account_id" })),
            )
                .into_response();
        }
    };
    if revoked == 0 {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such token or account" })),
        )
            .into_response();
    }
    Json(json!({ "revoked": revoked })).into_response()
}

#[derive(Debug, Deserialize)]
struct IssueBody {
    account_id: String,
    /// How long ago the token was issued.
    #[serde(default)]
    age_secs: u64,
}

/// `{"account_id": "...", "age_secs": 0}` → `{"access_token": "..."}`.
async fn issue_token(State(shared): State<Arc<Shared>>, Json(body): Json<IssueBody>) -> Response {
    let Some(account) = shared.dataset.account(&body.account_id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such account" })),
        )
            .into_response();
    };
    let issued_at = SystemTime::now() - Duration::from_secs(body.age_secs);
    let token = lock(&shared.tokens).issue(account, issued_at);
    Json(json!({ "access_token": token })).into_response()
}

async fn manifest(State(shared): State<Arc<Shared>>) -> Json<Manifest> {
    Json(Manifest::new(&shared.base, &shared.dataset))
}
