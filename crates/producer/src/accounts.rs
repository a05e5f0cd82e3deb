//! What can be done to a tenant's channel account: connect (C1), disconnect (B3), Zalo
//! "load more" (H6) and an inbound message for a conversation not yet synced (H8).
//!
//! The HTTP API and the embedded CLI (`backfill sync`, `backfill demo`) both come through
//! here, so a connect made from a terminal is the connect the API makes. Inputs are domain
//! types, parsed at the boundary; every refusal is an [`AccountError`] that names the
//! input it is about, so the API can answer with the field and the CLI with the flag.
//! Each operation writes in one store transaction: a refused request leaves nothing.

use backfill_channels::Credentials;
use backfill_policy::planner::{self, Plan, Resume, RunContext};
use backfill_policy::{
    Channel, Conversation, Message, Participant, Policy, PolicyError, PresetName, SenderRole,
};
use backfill_store::{
    Account, Connect, ConnectionInfo, ConnectionState, DisconnectOutcome, RunInfo, RunStatus,
    StartRun, StartedBy, Store, StoreError, Tenant,
};
use backfill_worker::clock::Clock;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A connect or re-connect (C1).
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub channel: Channel,
    /// The channel's id of the account: Page id, Instagram user id, OA id, Shopee shop id.
    pub account_id: String,
    pub preset: PresetName,
    /// Peak hours are read in this zone (S3); default: the tenant's, else the preset's.
    pub timezone: Option<Tz>,
    /// A partial policy document applied after the tenant's own overrides.
    pub overrides: Option<serde_json::Value>,
    pub credentials: Credentials,
}

/// A customer's message that just arrived (H8).
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// The channel's conversation id (Zalo: the customer's user id).
    pub conversation_id: String,
    pub customer: Participant,
    pub message_id: String,
    pub created_at: DateTime<Utc>,
    pub text: Option<String>,
}

/// What an inbound message led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// The conversation is synced already: the message was stored with it.
    Stored,
    /// H8: the conversation came in with the message, and a run fetches its history.
    LateArrival(RunInfo),
}

/// Why an operation on an account was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The request's `field` is wrong; the policy's error says why.
    #[error("{field}: {source}")]
    Invalid {
        field: String,
        #[source]
        source: PolicyError,
    },
    /// The tenant has no such account (or it is another tenant's).
    #[error("no {channel} account {account_id}")]
    UnknownAccount {
        channel: Channel,
        account_id: String,
    },
    /// The account's state does not allow this now; the reason says what would.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AccountError {
    fn invalid(field: impl Into<String>, source: PolicyError) -> Self {
        Self::Invalid {
            field: field.into(),
            source,
        }
    }
}

/// The operations, over one store and the policy clock.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Store,
    clock: Clock,
}

impl Accounts {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// The policy a connect runs under: the preset, the tenant's overrides for it, the
    /// tenant's time zone, the request's overrides, then the request's time zone.
    pub fn resolve_policy(
        tenant: &Tenant,
        request: &ConnectRequest,
    ) -> Result<Policy, AccountError> {
        let preset = request.preset;
        let mut policy = Policy::preset(preset);
        if let Some(overrides) = tenant.policy_overrides.get(preset.as_str()) {
            // Checked when the tenant was provisioned; a failure here means the stored
            // configuration changed under us, which the operator must hear about.
            policy = policy
                .with_overrides(overrides)
                .map_err(|e| AccountError::invalid(format!("tenant {} policy", tenant.id), e))?;
        }
        if let Some(zone) = &tenant.timezone {
            policy.timezone = zone.parse().map_err(|_| {
                AccountError::invalid(
                    "tenant timezone",
                    PolicyError::UnknownTimeZone(zone.clone()),
                )
            })?;
        }
        if let Some(overrides) = &request.overrides {
            policy = policy.with_overrides(overrides).map_err(|e| {
                let field = match &e {
                    PolicyError::InvalidField { field, .. } => format!("overrides.{field}"),
                    PolicyError::UnknownTimeZone(_) => "overrides.timezone".to_owned(),
                    _ => "overrides".to_owned(),
                };
                AccountError::invalid(field, e)
            })?;
        }
        if let Some(zone) = request.timezone {
            policy.timezone = zone;
        }
        policy
            .channel(request.channel)
            .map_err(|e| AccountError::invalid("preset", e))?;
        Ok(policy)
    }

    /// Connects or re-connects an account and starts its sync (C1); a re-connect fences
    /// every step of the older run (B3). The run's steps carry the current trace context,
    /// so the worker spans join the request that caused them.
    pub async fn connect(
        &self,
        tenant: &Tenant,
        request: &ConnectRequest,
    ) -> Result<(RunInfo, Policy), AccountError> {
        let policy = Self::resolve_policy(tenant, request)?;
        let connected_at = self.clock.now();
        let context = RunContext::new(&policy, request.channel, connected_at, connected_at)
            .map_err(|e| AccountError::invalid("preset", e))?;
        let first_steps = planner::first_steps(&context);
        let policy_document = serde_json::to_value(&policy).expect("a policy always serializes");
        let trace_context = backfill_telemetry::current_traceparent();
        let run = self
            .store
            .connect_account(&Connect {
                tenant_id: &tenant.id,
                channel: request.channel,
                account_id: &request.account_id,
                credentials: &request.credentials.to_stored(),
                policy: &policy_document,
                timezone: policy.timezone.name(),
                connected_at,
                first_steps: &first_steps,
                trace_context: trace_context.as_deref(),
            })
            .await?;
        Ok((run, policy))
    }

    /// Disconnects an account (B3): its running runs stop, its open steps are fenced.
    pub async fn disconnect(
        &self,
        tenant_id: &str,
        channel: Channel,
        account_id: &str,
    ) -> Result<DisconnectOutcome, AccountError> {
        match self
            .store
            .disconnect_account(tenant_id, channel, account_id, self.clock.now())
            .await
        {
            Err(StoreError::UnknownAccount { .. }) => Err(unknown(channel, account_id)),
            other => Ok(other?),
        }
    }

    /// H6: the next batch of older conversations, refused with the reason past the
    /// policy's ceiling (1,500 for Zalo), while another sync of the account runs, or when
    /// the channel listed nothing more.
    pub async fn load_more(
        &self,
        tenant_id: &str,
        channel: Channel,
        account_id: &str,
    ) -> Result<RunInfo, AccountError> {
        let connection = self.connected(tenant_id, channel, account_id).await?;
        let policy = stored_policy(&connection)?;
        let now = self.clock.now();
        let context = RunContext::new(&policy, channel, connection.connected_at, now)
            .map_err(|e| AccountError::invalid("channel", e))?;
        let account = Account::Connection(connection.id);
        let synced = self
            .store
            .synced_conversation_count(tenant_id, account)
            .await?;
        let resume = self
            .store
            .connection_resume(tenant_id, connection.id)
            .await?;
        // The policy speaks first: past the ceiling (H6), or on a channel without load
        // more, its refusal is the answer whether or not the listing had more. Where the
        // listing ended, a placeholder position stands in for the check alone.
        let position = resume.clone().unwrap_or(Resume {
            cursor: None,
            skip: 0,
            seen: synced,
        });
        let step = planner::load_more(&context, synced, &position).map_err(|e| match e {
            PolicyError::LoadMoreLimit { .. } => AccountError::Conflict(e.to_string()),
            other => AccountError::invalid("channel", other),
        })?;
        let runs = self
            .store
            .runs_of_connection(tenant_id, connection.id)
            .await?;
        if let Some(run) = runs.iter().find(|r| {
            r.status == RunStatus::Running
                && r.generation == connection.generation
                && matches!(r.started_by, StartedBy::Connect | StartedBy::LoadMore)
        }) {
            return Err(AccountError::Conflict(format!(
                "run {} is still listing this account's conversations; load more once it has finished",
                run.id
            )));
        }
        if resume.is_none() {
            return Err(AccountError::Conflict(format!(
                "nothing more to load: the channel listed no conversation beyond the {synced} already synced"
            )));
        }
        let plan = Plan {
            follow_ups: vec![step],
            ..Plan::default()
        };
        let trace_context = backfill_telemetry::current_traceparent();
        Ok(self
            .store
            .start_run(&StartRun {
                tenant_id,
                connection_id: connection.id,
                started_by: StartedBy::LoadMore,
                plan: &plan,
                now,
                trace_context: trace_context.as_deref(),
            })
            .await?)
    }

    /// H8: a customer writes in. A synced conversation just gets the message; one that was
    /// not synced comes in with it, and a run fetches its older messages if the policy
    /// says so (Zalo: up to 100, when its previous activity is within 6 months).
    pub async fn inbound(
        &self,
        tenant_id: &str,
        channel: Channel,
        account_id: &str,
        inbound: InboundMessage,
    ) -> Result<Inbound, AccountError> {
        let connection = self.connected(tenant_id, channel, account_id).await?;
        let now = self.clock.now();
        let message = Message {
            id: inbound.message_id,
            conversation_id: inbound.conversation_id.clone(),
            created_at: inbound.created_at,
            from: Some(inbound.customer.clone()),
            role: Some(SenderRole::Customer),
            text: inbound.text.clone(),
            attachments: Vec::new(),
            ad_referral: None,
            unavailable: false,
        };
        let account = Account::Connection(connection.id);
        if self
            .store
            .conversation_exists(tenant_id, account, &inbound.conversation_id)
            .await?
        {
            self.store
                .import_messages(connection.id, &[message], now)
                .await?;
            return Ok(Inbound::Stored);
        }
        let policy = stored_policy(&connection)?;
        let context = RunContext::new(&policy, channel, connection.connected_at, now)
            .map_err(|e| AccountError::invalid("channel", e))?;
        let conversation = Conversation {
            id: inbound.conversation_id,
            last_activity: inbound.created_at,
            customer: Some(inbound.customer),
            snippet: inbound.text,
            unread_count: None,
            embedded_messages: None,
        };
        let plan = planner::late_arrival(&context, conversation, message)
            .map_err(|e| AccountError::invalid("channel", e))?;
        let trace_context = backfill_telemetry::current_traceparent();
        let run = self
            .store
            .start_run(&StartRun {
                tenant_id,
                connection_id: connection.id,
                started_by: StartedBy::LateArrival,
                plan: &plan,
                now,
                trace_context: trace_context.as_deref(),
            })
            .await?;
        Ok(Inbound::LateArrival(run))
    }

    /// The account, if the tenant has it and it is connected.
    async fn connected(
        &self,
        tenant_id: &str,
        channel: Channel,
        account_id: &str,
    ) -> Result<ConnectionInfo, AccountError> {
        let connection = self
            .store
            .connection(tenant_id, channel, account_id)
            .await?
            .ok_or_else(|| unknown(channel, account_id))?;
        if connection.state != ConnectionState::Connected {
            return Err(AccountError::Conflict(format!(
                "{channel} account {account_id} is disconnected; connect it again first"
            )));
        }
        Ok(connection)
    }
}

fn unknown(channel: Channel, account_id: &str) -> AccountError {
    AccountError::UnknownAccount {
        channel,
        account_id: account_id.to_owned(),
    }
}

/// The policy snapshot the account's current generation runs under.
fn stored_policy(connection: &ConnectionInfo) -> Result<Policy, AccountError> {
    serde_json::from_value(connection.policy.clone()).map_err(|_| {
        AccountError::Store(StoreError::Corrupt(format!(
            "policy of connection {}",
            connection.id
        )))
    })
}
