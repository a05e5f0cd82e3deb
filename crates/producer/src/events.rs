//! Run events (S5): `run.completed`, `run.failed` and periodic `run.progress`, delivered
//! from the store's outbox to Redis pub/sub and to each tenant's webhook.
//!
//! The store writes `run.completed` and `run.failed` in the transaction that makes the
//! transition, so an event exists exactly when its transition does. The relay here reads
//! what is unpublished, delivers it, then stamps it published: a crash in between
//! delivers again, so delivery is at least once and consumers de-duplicate on the event
//! `id`. Every `progress_interval` the relay also writes a `run.progress` event for each
//! running run, which then travels the same way.
//!
//! - Redis: `PUBLISH backfill:events:<tenant> <event>`. Pub/sub keeps nothing for
//!   absent subscribers; it is the live feed. An event whose publish fails stays
//!   unpublished and is tried again on the next pass, with the tenant's later events
//!   held back so that a subscriber never sees them out of order.
//! - Webhooks: `POST <webhook_url>` with the event as the body, signed
//!   `X-Backfill-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, retried with
//!   exponential backoff on network errors, 408, 429 and 5xx. An endpoint still failing
//!   after the last attempt loses that event (logged): one tenant's dead endpoint must not
//!   hold back the outbox for everyone.
//!
//! With several producers, one relays at a time: a short lease in Redis
//! (`<prefix>:relay-leader`), renewed on every pass, elects it; another takes over
//! within one lease if it dies.

use std::collections::HashMap;
use std::time::Duration;

use backfill_store::{Event, Store};
use backfill_worker::clock::Clock;
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use redis::aio::ConnectionManager;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::time::Instant;

/// The header a webhook's signature travels in.
pub const SIGNATURE_HEADER: &str = "X-Backfill-Signature";
/// The event's type (`run.completed`, ...), for routing without parsing the body.
pub const EVENT_TYPE_HEADER: &str = "X-Backfill-Event";
/// The event's id, for de-duplication without parsing the body.
pub const EVENT_ID_HEADER: &str = "X-Backfill-Event-Id";

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// Time between passes over the outbox.
    pub poll_interval: Duration,
    /// Events read per pass.
    pub batch: u32,
    /// A `run.progress` event per running run this often; `None`: none.
    pub progress_interval: Option<Duration>,
    /// Redis channels are `<channel_prefix>:<tenant id>`; the leader lease is
    /// `<channel_prefix>:relay-leader`.
    pub channel_prefix: String,
    /// One webhook request, connect to last byte.
    pub webhook_timeout: Duration,
    /// Webhook attempts per event, the first included.
    pub webhook_attempts: usize,
    /// How long a relay stays leader without renewing.
    pub leader_lease: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            batch: 100,
            progress_interval: Some(Duration::from_secs(30)),
            channel_prefix: "backfill:events".to_owned(),
            webhook_timeout: Duration::from_secs(10),
            // 0.5 + 1 + 2 + 4 s of backoff (with jitter): an endpoint that is restarting
            // gets its events; one that is down does not stall the relay for minutes.
            webhook_attempts: 5,
            leader_lease: Duration::from_secs(15),
        }
    }
}

/// One event as subscribers and webhooks receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventEnvelope {
    /// Unique and increasing: de-duplicate on it (delivery is at least once).
    pub id: i64,
    /// `run.completed`, `run.failed` or `run.progress`.
    #[serde(rename = "type")]
    pub kind: String,
    pub tenant_id: String,
    pub run_id: String,
    pub created_at: DateTime<Utc>,
    /// The run's progress when the event was written (the `RunProgress` document).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<&Event> for EventEnvelope {
    fn from(event: &Event) -> Self {
        Self {
            id: event.id,
            kind: event.kind.as_str().to_owned(),
            tenant_id: event.tenant_id.clone(),
            run_id: event.run_id.clone(),
            created_at: event.created_at,
            data: event.payload.clone(),
        }
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`: the value of [`SIGNATURE_HEADER`].
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC accepts a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver does with [`SIGNATURE_HEADER`]: recompute and compare in constant time.
pub fn verify(secret: &SecretString, body: &[u8], header: &str) -> bool {
    let Some(hex_signature) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(signature) = hex::decode(hex_signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC accepts a key of any length");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Why one webhook request did not land.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("request failed: {0}")]
    Network(#[source] reqwest::Error),
    #[error("answered {0}")]
    Status(StatusCode),
}

impl DeliveryError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Network(_) => true,
            Self::Status(status) => {
                status.is_server_error()
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::REQUEST_TIMEOUT
            }
        }
    }
}

/// A tenant's webhook, looked up once per pass.
#[derive(Clone)]
struct Webhook {
    url: String,
    secret: SecretString,
}

/// Moves events from the outbox to their subscribers.
#[derive(Clone)]
pub struct EventRelay {
    store: Store,
    redis: Option<ConnectionManager>,
    http: reqwest::Client,
    settings: EventSettings,
    /// The policy clock: a progress event counts as deferred what is not due by it.
    clock: Clock,
    /// This relay's name in the leader lease.
    instance: String,
}

impl std::fmt::Debug for EventRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRelay")
            .field("redis", &self.redis.is_some())
            .field("settings", &self.settings)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// Renews the lease if this relay holds it, takes it if nobody does.
const LEADER_LUA: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

impl EventRelay {
    /// Without Redis (embedded mode) events go to webhooks only, and this relay is the
    /// only one.
    pub fn new(
        store: Store,
        redis: Option<ConnectionManager>,
        clock: Clock,
        settings: EventSettings,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.webhook_timeout)
            .user_agent(concat!("backfill/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with a timeout builds");
        Self {
            store,
            redis,
            http,
            settings,
            clock,
            instance: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Relays until `shutdown` resolves; a pass under way finishes first. Failures are
    /// logged and retried on the next pass, never fatal.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_progress = Instant::now();
        loop {
            if self.lead().await {
                if let Some(every) = self.settings.progress_interval
                    && last_progress.elapsed() >= every
                {
                    last_progress = Instant::now();
                    if let Err(error) = self.announce_progress().await {
                        tracing::warn!(error = %error, "could not write run.progress events");
                    }
                }
                if let Err(error) = self.relay_pending().await {
                    tracing::warn!(error = %error, "event relay pass failed; retrying");
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    /// Whether this relay is the one that relays now.
    async fn lead(&self) -> bool {
        let Some(redis) = &self.redis else {
            return true;
        };
        let lease_ms = u64::try_from(self.settings.leader_lease.as_millis()).unwrap_or(u64::MAX);
        let held: redis::RedisResult<i64> = redis::Script::new(LEADER_LUA)
            .key(format!("{}:relay-leader", self.settings.channel_prefix))
            .arg(&self.instance)
            .arg(lease_ms)
            .invoke_async(&mut redis.clone())
            .await;
        match held {
            Ok(held) => held == 1,
            Err(error) => {
                tracing::debug!(error = %error, "relay lease unavailable; skipping this pass");
                false
            }
        }
    }

    /// Writes a `run.progress` event for every running run; returns how many.
    pub async fn announce_progress(&self) -> anyhow::Result<usize> {
        let runs = self.store.running_runs(self.settings.batch * 10).await?;
        let now = self.clock.now();
        for run in &runs {
            self.store.append_progress_event(&run.run_id, now).await?;
        }
        Ok(runs.len())
    }

    /// One pass: delivers up to a batch of unpublished events and stamps those delivered.
    /// Returns how many were stamped.
    pub async fn relay_pending(&self) -> anyhow::Result<usize> {
        let events = self.store.unpublished_events(self.settings.batch).await?;
        if events.is_empty() {
            return Ok(0);
        }
        // Per tenant in order; tenants side by side, so that one slow webhook does not
        // delay everybody else's events.
        let mut by_tenant: HashMap<String, Vec<Event>> = HashMap::new();
        for event in events {
            by_tenant
                .entry(event.tenant_id.clone())
                .or_default()
                .push(event);
        }
        let delivered: Vec<Vec<i64>> = futures::stream::iter(by_tenant)
            .map(|(tenant, events)| self.deliver_tenant(tenant, events))
            .buffer_unordered(8)
            .collect()
            .await;
        let ids: Vec<i64> = delivered.into_iter().flatten().collect();
        self.store.mark_published(&ids, self.clock.now()).await?;
        Ok(ids.len())
    }

    /// Delivers one tenant's events in order; returns the ids delivered. Stops at the
    /// first event Redis did not take, so the rest keep their order for the next pass.
    async fn deliver_tenant(&self, tenant: String, events: Vec<Event>) -> Vec<i64> {
        let tenant = tenant.as_str();
        let webhook = match self.webhook(tenant).await {
            Ok(webhook) => webhook,
            Err(error) => {
                tracing::warn!(tenant, error = %error, "cannot read the tenant's webhook; retrying next pass");
                return Vec::new();
            }
        };
        let mut delivered = Vec::with_capacity(events.len());
        for event in events {
            let envelope = EventEnvelope::from(&event);
            let body = serde_json::to_vec(&envelope).expect("an event serializes");
            if let Some(redis) = &self.redis {
                let channel = format!("{}:{tenant}", self.settings.channel_prefix);
                let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&body)
                    .query_async(&mut redis.clone())
                    .await;
                if let Err(error) = published {
                    tracing::warn!(tenant, event = event.id, error = %error, "could not publish an event; retrying next pass");
                    break;
                }
            }
            if let Some(webhook) = &webhook {
                self.post(webhook, &envelope, &body).await;
            }
            delivered.push(event.id);
        }
        delivered
    }

    async fn webhook(&self, tenant: &str) -> anyhow::Result<Option<Webhook>> {
        let Some(url) = self.store.tenant(tenant).await?.and_then(|t| t.webhook_url) else {
            return Ok(None);
        };
        let Some(secret) = self.store.webhook_secret(tenant).await? else {
            tracing::warn!(
                tenant,
                "webhook configured without a secret; not delivering unsigned events"
            );
            return Ok(None);
        };
        Ok(Some(Webhook { url, secret }))
    }

    /// POSTs one event, retrying with backoff; logs the outcome.
    async fn post(&self, webhook: &Webhook, envelope: &EventEnvelope, body: &[u8]) {
        let signature = sign(&webhook.secret, body);
        let attempt = || async {
            let response = self
                .http
                .post(&webhook.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, &signature)
                .header(EVENT_TYPE_HEADER, &envelope.kind)
                .header(EVENT_ID_HEADER, envelope.id.to_string())
                .body(body.to_vec())
                .send()
                .await
                .map_err(DeliveryError::Network)?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(DeliveryError::Status(status))
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(self.settings.webhook_attempts.saturating_sub(1))
            .with_jitter();
        let outcome = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(DeliveryError::is_retryable)
            .notify(|error, wait| {
                tracing::debug!(tenant = %envelope.tenant_id, event = envelope.id, error = %error, ?wait, "webhook delivery failed; retrying");
            })
            .await;
        match outcome {
            Ok(()) => {
                tracing::debug!(tenant = %envelope.tenant_id, event = envelope.id, kind = %envelope.kind, "webhook delivered");
            }
            Err(error) => {
                // The URL may carry a token of the tenant's receiver: it is not logged.
                tracing::warn!(
                    tenant = %envelope.tenant_id,
                    event = envelope.id,
                    kind = %envelope.kind,
                    error = %error.without_url(),
                    "webhook delivery failed for good; the event is not sent again"
                );
            }
        }
    }
}

impl DeliveryError {
    fn without_url(self) -> Self {
        match self {
            Self::Network(error) => Self::Network(error.without_url()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_and_body() {
        let secret = SecretString::from("whsec-1");
        let body = br#"{"id":1,"type":"run.completed"}"#;
        let signature = sign(&secret, body);
        assert!(signature.starts_with("sha256="));
        assert_eq!(signature.len(), "sha256=".len() + 64);
        assert!(verify(&secret, body, &signature));
        assert!(!verify(&SecretString::from("whsec-2"), body, &signature));
        assert!(!verify(&secret, b"{}", &signature));
        assert!(!verify(&secret, body, "md5=00"));
    }

    #[test]
    fn only_transient_answers_are_retried() {
        assert!(DeliveryError::Status(StatusCode::BAD_GATEWAY).is_retryable());
        assert!(DeliveryError::Status(StatusCode::TOO_MANY_REQUESTS).is_retryable());
        assert!(!DeliveryError::Status(StatusCode::NOT_FOUND).is_retryable());
        assert!(!DeliveryError::Status(StatusCode::UNAUTHORIZED).is_retryable());
    }
}
