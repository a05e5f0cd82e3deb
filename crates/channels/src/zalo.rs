//! Zalo Official Account Open API [Z1, Z2].
//!
//! Requests carry their parameters as URL-encoded JSON in one `data` query parameter
//! and the token in an `access_token` HTTP header [Z1 README]. Answers are HTTP 200 even
//! on failure: `{"error":0,"message":"Success","data":...}` or `{"error":-216,...}`
//! [§3.2], so the body's `error` decides before the status does.
//!
//! Chat listings page by offset and end with a short page [Z2]; the cursor is the next
//! offset as a decimal string.

use backfill_policy::{
    Attachment, Conversation, Fetched, FollowerStatus, Message, Page, Participant, SenderRole,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use crate::http::{Answer, Transport, after, malformed, status_outcome};
use crate::outcome::{CallResult, Outcome, ThrottleScope};
use crate::redact::Redactor;
use crate::wire::{Flag, Id, UInt, epoch, lenient_int, lenient_text};

/// "Access token is invalid" [Z2].
const INVALID_TOKEN: i64 = -216;
/// "Your application reached limit call api", treated as a rate limit by clients [Z2].
const OVER_LIMIT: i64 = -32;
/// "User has not followed the OA" [Z2].
const NOT_FOLLOWER: i64 = -213;

/// Page-size maxima and API versions of the Zalo client.
#[derive(Debug, Clone)]
pub(crate) struct ZaloSettings {
    pub chat_api_version: String,
    pub user_api_version: String,
    pub recent_chats_page_max: u32,
    pub messages_page_max: u32,
}

#[derive(Debug, Clone)]
pub struct ZaloClient {
    transport: Transport,
    base: Url,
    settings: ZaloSettings,
}

#[derive(Debug, Clone, Copy)]
enum Call<'a> {
    RecentChats {
        offset: u32,
        count: u32,
    },
    Messages {
        user_id: &'a str,
        offset: u32,
        count: u32,
    },
    Follower {
        user_id: &'a str,
    },
}

impl ZaloClient {
    pub(crate) fn new(transport: Transport, base: Url, settings: ZaloSettings) -> Self {
        Self {
            transport,
            base,
            settings,
        }
    }

    /// One page of recent chats: the last message with each user, newest first
    /// (`/v2.0/oa/listrecentchat`). Each row becomes the conversation with that user,
    /// its id the user's id. `count` is clamped to the page maximum (10).
    pub async fn recent_chats(&self, token: &SecretString, offset: u32, count: u32) -> CallResult {
        let count = clamp(count, self.settings.recent_chats_page_max);
        self.call(token, Call::RecentChats { offset, count }).await
    }

    /// One page of the messages exchanged with one user (`/v2.0/oa/conversation`).
    pub async fn conversation_messages(
        &self,
        token: &SecretString,
        user_id: &str,
        offset: u32,
        count: u32,
    ) -> CallResult {
        let count = clamp(count, self.settings.messages_page_max);
        self.call(
            token,
            Call::Messages {
                user_id,
                offset,
                count,
            },
        )
        .await
    }

    /// Whether a user follows the OA (`/v3.0/oa/user/detail`, `user_is_follower`).
    pub async fn follower_status(&self, token: &SecretString, user_id: &str) -> CallResult {
        self.call(token, Call::Follower { user_id }).await
    }

    async fn call(&self, token: &SecretString, call: Call<'_>) -> CallResult {
        let redactor = Redactor::new([token]);
        let op = match call {
            Call::RecentChats { .. } => "zalo recent_chats",
            Call::Messages { .. } => "zalo conversation_messages",
            Call::Follower { .. } => "zalo follower_status",
        };
        let request = self
            .transport
            .client()
            .get(self.url(call))
            .header("access_token", token.expose_secret());
        let outcome = match self.transport.send(request, op, &redactor).await {
            Ok(answer) => self.interpret(op, call, &answer, &redactor),
            Err(outcome) => outcome,
        };
        let outcome = outcome.redacted(&redactor);
        tracing::debug!(op, outcome = outcome.class(), "Zalo call finished");
        CallResult {
            outcome,
            usage: None,
            http_calls: 1,
        }
    }

    fn url(&self, call: Call<'_>) -> Url {
        let (version, path, data) = match call {
            Call::RecentChats { offset, count } => (
                &self.settings.chat_api_version,
                ["oa", "listrecentchat"].as_slice(),
                json!({"offset": offset, "count": count}),
            ),
            Call::Messages {
                user_id,
                offset,
                count,
            } => (
                &self.settings.chat_api_version,
                ["oa", "conversation"].as_slice(),
                json!({"user_id": numeric_id(user_id), "offset": offset, "count": count}),
            ),
            Call::Follower { user_id } => (
                &self.settings.user_api_version,
                ["oa", "user", "detail"].as_slice(),
                json!({"user_id": user_id}),
            ),
        };
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) base URL, checked in Connector::new")
            .pop_if_empty()
            .push(version)
            .extend(path);
        url.query_pairs_mut().append_pair("data", &data.to_string());
        url
    }

    fn interpret(
        &self,
        op: &str,
        call: Call<'_>,
        answer: &Answer,
        redactor: &Redactor<'_>,
    ) -> Outcome {
        let backoff = self.transport.default_backoff();
        let envelope = match serde_json::from_slice::<Envelope>(&answer.body) {
            Ok(envelope) => envelope,
            Err(_) if !answer.status.is_success() => {
                return status_outcome(op, answer, redactor, backoff);
            }
            Err(e) => return malformed(op, &e, answer, redactor),
        };
        match (envelope.error, call) {
            (Some(0) | None, _) => {}
            (Some(NOT_FOLLOWER), Call::Follower { user_id }) => {
                let status = FollowerStatus {
                    user_id: user_id.to_owned(),
                    follower: false,
                };
                return Outcome::Page(Fetched::Follower(status));
            }
            (Some(code), _) => {
                return error_outcome(
                    op,
                    code,
                    envelope.message.as_deref(),
                    answer,
                    redactor,
                    backoff,
                );
            }
        }
        if !answer.status.is_success() {
            return status_outcome(op, answer, redactor, backoff);
        }
        let data = envelope.data.unwrap_or(Value::Null);
        let fetched = match call {
            Call::RecentChats { offset, count } => rows(data).and_then(|rows: Vec<RawMessage>| {
                let next = next_offset(offset, count, rows.len());
                let items = rows
                    .into_iter()
                    .map(RawMessage::into_conversation)
                    .collect::<Result<_, _>>()?;
                Ok(Fetched::Conversations(Page { items, next }))
            }),
            Call::Messages {
                user_id,
                offset,
                count,
            } => rows(data).and_then(|rows: Vec<RawMessage>| {
                let next = next_offset(offset, count, rows.len());
                let items = rows
                    .into_iter()
                    .map(|m| m.into_message(user_id))
                    .collect::<Result<_, _>>()?;
                Ok(Fetched::Messages(Page { items, next }))
            }),
            Call::Follower { user_id } => UserDetail::deserialize(data)
                .map_err(|e| format!("user detail: {e}"))
                .map(|detail| Fetched::Follower(detail.into_status(user_id))),
        };
        match fetched {
            Ok(fetched) => Outcome::Page(fetched),
            Err(what) => malformed(op, &what, answer, redactor),
        }
    }
}

fn error_outcome(
    op: &str,
    code: i64,
    message: Option<&str>,
    answer: &Answer,
    redactor: &Redactor<'_>,
    backoff: std::time::Duration,
) -> Outcome {
    let reason = format!(
        "{op}: Zalo error {code}: {}",
        redactor.snippet(message.unwrap_or_default().as_bytes())
    );
    match code {
        INVALID_TOKEN => Outcome::AuthRevoked(reason),
        OVER_LIMIT => Outcome::Throttled {
            until: after(answer.retry_after().unwrap_or(backoff)),
            // The message names the application, not the OA.
            scope: ThrottleScope::App,
        },
        // -201/-204 read as "token invalid" in some clients and "wrong parameter" in
        // others [§3.2]; neither is helped by retrying.
        _ => Outcome::Permanent(reason),
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "lenient_int")]
    error: Option<i64>,
    #[serde(default, deserialize_with = "lenient_text")]
    message: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

/// `data` is a flat array of messages [§3.3]; `null` or absent is an empty page.
fn rows<T: DeserializeOwned>(data: Value) -> Result<Vec<T>, String> {
    match data {
        Value::Null => Ok(Vec::new()),
        data => Vec::<T>::deserialize(data).map_err(|e| format!("data: {e}")),
    }
}

/// Offset paging: a short page ends the listing [Z2].
fn next_offset(offset: u32, count: u32, returned: usize) -> Option<backfill_policy::Cursor> {
    let returned = u32::try_from(returned).unwrap_or(u32::MAX);
    (returned >= count)
        .then(|| backfill_policy::Cursor::new(offset.saturating_add(returned).to_string()))
}

/// A message row of `listrecentchat` and `conversation` [§3.3].
#[derive(Debug, Deserialize)]
struct RawMessage {
    #[serde(default)]
    message_id: Option<Id>,
    /// 1: from the user; 0: from the OA.
    src: UInt,
    /// Unix milliseconds.
    time: UInt,
    #[serde(default, rename = "type", deserialize_with = "lenient_text")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    url: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    thumb: Option<String>,
    #[serde(default)]
    from_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient_text")]
    from_display_name: Option<String>,
    #[serde(default)]
    to_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient_text")]
    to_display_name: Option<String>,
}

impl RawMessage {
    fn role(&self) -> Result<SenderRole, String> {
        match self.src.0 {
            1 => Ok(SenderRole::Customer),
            0 => Ok(SenderRole::Business),
            other => Err(format!("unknown src {other}")),
        }
    }

    fn time(&self) -> Result<chrono::DateTime<chrono::Utc>, String> {
        epoch(self.time.0).ok_or_else(|| "time out of range".to_owned())
    }

    /// The customer's side of the row: the sender if the user wrote it, else the
    /// recipient.
    fn into_conversation(self) -> Result<Conversation, String> {
        let last_activity = self.time()?;
        let (id, name) = match self.role()? {
            SenderRole::Customer => (self.from_id, self.from_display_name),
            SenderRole::Business => (self.to_id, self.to_display_name),
        };
        let id = id.ok_or("recent chat without the user's id")?.0;
        Ok(Conversation {
            customer: Some(Participant {
                id: id.clone(),
                name,
            }),
            id,
            last_activity,
            snippet: self.message.filter(|t| !t.is_empty()),
            unread_count: None,
            embedded_messages: None,
        })
    }

    fn into_message(self, user_id: &str) -> Result<Message, String> {
        let role = self.role()?;
        let created_at = self.time()?;
        let id = self.message_id.ok_or("message without message_id")?.0;
        let from = self.from_id.map(|id| Participant {
            id: id.0,
            name: self.from_display_name,
        });
        let attachments = match self.kind.as_deref() {
            None | Some("text") => Vec::new(),
            Some(kind) => vec![Attachment {
                kind: kind.to_owned(),
                url: self.url.or(self.thumb),
                name: None,
                mime_type: None,
            }],
        };
        Ok(Message {
            id,
            conversation_id: user_id.to_owned(),
            created_at,
            from,
            role: Some(role),
            text: self.message.filter(|t| !t.is_empty()),
            attachments,
            ad_referral: None,
            unavailable: false,
        })
    }
}

#[derive(Debug, Deserialize)]
struct UserDetail {
    #[serde(default)]
    user_is_follower: Option<Flag>,
}

impl UserDetail {
    /// Without the flag, the user is taken to follow: Zalo answers this API for users
    /// who interact with the OA, and an absent flag must not cut a customer's history to
    /// the non-follower cap (H5). A non-follower shows as the flag or as -213.
    fn into_status(self, user_id: &str) -> FollowerStatus {
        FollowerStatus {
            user_id: user_id.to_owned(),
            follower: self.user_is_follower.is_none_or(|f| f.0),
        }
    }
}

/// User ids are sent as JSON numbers where they are numbers, as in Zalo's examples
/// [§3.1]; `u64` holds them exactly.
fn numeric_id(user_id: &str) -> Value {
    user_id
        .parse::<u64>()
        .map_or_else(|_| Value::from(user_id), Value::from)
}

fn clamp(want: u32, max: u32) -> u32 {
    want.clamp(1, max.max(1))
}
