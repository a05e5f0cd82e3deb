//! Shopee Open Platform v2 seller chat (`/api/v2/sellerchat/*`) [S1–S5].
//!
//! Every Shop API call carries `partner_id`, `timestamp`, `access_token`, `shop_id` and
//! `sign` in the query [S1]. The sign is lowercase hex HMAC-SHA256, keyed with the
//! partner key, over `partner_id + api_path + timestamp + access_token + shop_id` with
//! no separators; the timestamp is the system clock, which Shopee checks to within five
//! minutes. The URL therefore holds the token: it is never logged, and transport errors
//! are stripped of it.
//!
//! The seller-chat pages are login-gated [S2]; shapes come from SDKs and observation
//! [S3–S5], and the client tolerates every variant seen: ids as numbers above 2^53 or as
//! strings, both places of the conversation cursor, `next_offset` "0" or empty as the
//! end.

use std::time::{SystemTime, UNIX_EPOCH};

use backfill_policy::{
    Attachment, Conversation, Cursor, Fetched, Message, Page, Participant, SenderRole,
};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use url::Url;

use crate::credentials::ShopeeAuth;
use crate::http::{Answer, Transport, after, malformed, status_outcome};
use crate::outcome::{CallResult, Outcome, ThrottleScope};
use crate::redact::Redactor;
use crate::wire::{Flag, Id, UInt, epoch, lenient_count, lenient_text};

#[derive(Debug, Clone)]
pub(crate) struct ShopeeSettings {
    pub api_version: String,
    pub conversations_page_max: u32,
    pub messages_page_max: u32,
}

#[derive(Debug, Clone)]
pub struct ShopeeClient {
    transport: Transport,
    base: Url,
    settings: ShopeeSettings,
}

#[derive(Debug, Clone, Copy)]
enum Call<'a> {
    Conversations {
        cursor: Option<&'a Cursor>,
        page_size: u32,
    },
    Messages {
        conversation_id: &'a str,
        offset: Option<&'a Cursor>,
        page_size: u32,
    },
}

impl ShopeeClient {
    pub(crate) fn new(transport: Transport, base: Url, settings: ShopeeSettings) -> Self {
        Self {
            transport,
            base,
            settings,
        }
    }

    /// One page of the shop's conversations, newest first: `direction=older` without a
    /// cursor starts at the newest, and `next_timestamp_nano` walks back [S5].
    /// `page_size` is clamped to 25; above it Shopee answers an empty list [S5].
    pub async fn conversation_list(
        &self,
        auth: ShopeeAuth<'_>,
        cursor: Option<&Cursor>,
        page_size: u32,
    ) -> CallResult {
        let page_size = clamp(page_size, self.settings.conversations_page_max);
        self.call(auth, Call::Conversations { cursor, page_size })
            .await
    }

    /// One page of a conversation's messages, newest first, from `offset` (the previous
    /// page's `next_offset`).
    pub async fn messages(
        &self,
        auth: ShopeeAuth<'_>,
        conversation_id: &str,
        offset: Option<&Cursor>,
        page_size: u32,
    ) -> CallResult {
        let page_size = clamp(page_size, self.settings.messages_page_max);
        self.call(
            auth,
            Call::Messages {
                conversation_id,
                offset,
                page_size,
            },
        )
        .await
    }

    async fn call(&self, auth: ShopeeAuth<'_>, call: Call<'_>) -> CallResult {
        let redactor = Redactor::new([auth.access_token, auth.partner_key]);
        let op = match call {
            Call::Conversations { .. } => "shopee conversation_list",
            Call::Messages { .. } => "shopee messages",
        };
        let request = self
            .transport
            .client()
            .get(self.url(auth, call, unix_now()));
        let outcome = match self.transport.send(request, op, &redactor).await {
            Ok(answer) => self.interpret(op, auth, call, &answer, &redactor),
            Err(outcome) => outcome,
        };
        let outcome = outcome.redacted(&redactor);
        tracing::debug!(op, outcome = outcome.class(), "Shopee call finished");
        CallResult {
            outcome,
            usage: None,
            http_calls: 1,
        }
    }

    fn url(&self, auth: ShopeeAuth<'_>, call: Call<'_>, timestamp: u64) -> Url {
        let name = match call {
            Call::Conversations { .. } => "get_conversation_list",
            Call::Messages { .. } => "get_message",
        };
        let version = &self.settings.api_version;
        // The signed path is the API path alone, without host or any base-URL prefix [S1].
        let api_path = format!("/api/{version}/sellerchat/{name}");
        let signature = sign(auth, &api_path, timestamp);
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) base URL, checked in Connector::new")
            .pop_if_empty()
            .extend(["api", version.as_str(), "sellerchat", name]);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("partner_id", &auth.partner_id.to_string())
                .append_pair("timestamp", &timestamp.to_string())
                .append_pair("access_token", auth.access_token.expose_secret())
                .append_pair("shop_id", &auth.shop_id.to_string())
                .append_pair("sign", &signature);
            match call {
                Call::Conversations { cursor, page_size } => {
                    query
                        .append_pair("direction", "older")
                        .append_pair("type", "all")
                        .append_pair("page_size", &page_size.to_string());
                    if let Some(cursor) = cursor {
                        query.append_pair("next_timestamp_nano", cursor.as_str());
                    }
                }
                Call::Messages {
                    conversation_id,
                    offset,
                    page_size,
                } => {
                    query.append_pair("conversation_id", conversation_id);
                    if let Some(offset) = offset {
                        query.append_pair("offset", offset.as_str());
                    }
                    query.append_pair("page_size", &page_size.to_string());
                }
            }
        }
        url
    }

    fn interpret(
        &self,
        op: &str,
        auth: ShopeeAuth<'_>,
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
        if let Some(error) = envelope.error.as_deref().filter(|e| !e.is_empty()) {
            return error_outcome(op, error, &envelope, answer, redactor, backoff);
        }
        if !answer.status.is_success() {
            return status_outcome(op, answer, redactor, backoff);
        }
        let Some(response) = envelope.response else {
            return malformed(op, &"no response", answer, redactor);
        };
        let fetched = match call {
            Call::Conversations { cursor, .. } => ConversationList::deserialize(response)
                .map_err(|e| format!("response: {e}"))
                .and_then(|list| list.into_page(cursor))
                .map(Fetched::Conversations),
            Call::Messages {
                conversation_id,
                offset,
                ..
            } => MessageList::deserialize(response)
                .map_err(|e| format!("response: {e}"))
                .and_then(|list| list.into_page(auth.shop_id, conversation_id, offset))
                .map(Fetched::Messages),
        };
        match fetched {
            Ok(fetched) => Outcome::Page(fetched),
            Err(what) => malformed(op, &what, answer, redactor),
        }
    }
}

/// `sign = hex(HMAC_SHA256(partner_key, partner_id + api_path + timestamp +
/// access_token + shop_id))`, lowercase [S1].
fn sign(auth: ShopeeAuth<'_>, api_path: &str, timestamp: u64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(auth.partner_key.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(auth.partner_id.to_string().as_bytes());
    mac.update(api_path.as_bytes());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(auth.access_token.expose_secret().as_bytes());
    mac.update(auth.shop_id.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn error_outcome(
    op: &str,
    error: &str,
    envelope: &Envelope,
    answer: &Answer,
    redactor: &Redactor<'_>,
    backoff: std::time::Duration,
) -> Outcome {
    let mut reason = format!("{op}: Shopee {error}");
    if let Some(message) = envelope.message.as_deref().filter(|m| !m.is_empty()) {
        reason.push_str(&format!(": {}", redactor.snippet(message.as_bytes())));
    }
    if let Some(id) = &envelope.request_id {
        reason.push_str(&format!(" [request_id {id}]"));
    }
    match error {
        // `error_auth`: invalid or expired access_token [S5]; `invalid_acceess_token`
        // (sic) is the spelling other v2 answers use for the same.
        "error_auth" | "invalid_acceess_token" | "invalid_access_token" => {
            Outcome::AuthRevoked(reason)
        }
        "error_server" | "error_inner" => Outcome::Transient(reason),
        // The rate-limit error's name is unverified [§4.1]; any name that says so.
        e if e.contains("too_many") || e.contains("rate_limit") => Outcome::Throttled {
            until: after(answer.retry_after().unwrap_or(backoff)),
            scope: ThrottleScope::Account,
        },
        // error_sign, error_param, error_busi...: the request itself is wrong.
        _ => Outcome::Permanent(reason),
    }
}

/// `{request_id, error:"", message:"", response:{...}}`; on error `response` is absent
/// [S1].
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "lenient_text")]
    request_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    error: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    message: Option<String>,
    #[serde(default)]
    response: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ConversationList {
    #[serde(default)]
    conversations: Option<Vec<RawConversation>>,
    #[serde(default)]
    page_result: Option<ConversationPageResult>,
}

/// `page_result{page_size, next_cursor{next_message_time_nano, conversation_id}, more}`
/// [S3]; one client reads `page_result.next_message_time_nano` directly [S5].
#[derive(Debug, Deserialize)]
struct ConversationPageResult {
    #[serde(default)]
    more: Option<Flag>,
    #[serde(default)]
    next_cursor: Option<NextCursor>,
    #[serde(default, deserialize_with = "lenient_text")]
    next_message_time_nano: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NextCursor {
    #[serde(default, deserialize_with = "lenient_text")]
    next_message_time_nano: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawConversation {
    conversation_id: Id,
    #[serde(default)]
    to_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient_text")]
    to_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_count")]
    unread_count: Option<u32>,
    #[serde(default)]
    latest_message_content: Option<Content>,
    /// Unix nanoseconds (observed [S5]).
    last_message_timestamp: UInt,
}

impl ConversationList {
    fn into_page(self, previous: Option<&Cursor>) -> Result<Page<Conversation>, String> {
        let raw = self.conversations.unwrap_or_default();
        let last_timestamp = raw.last().map(|c| c.last_message_timestamp.0);
        let items = raw
            .into_iter()
            .map(RawConversation::into_conversation)
            .collect::<Result<Vec<_>, _>>()?;
        let page_result = self.page_result;
        let more = page_result.as_ref().and_then(|p| p.more).map(|f| f.0);
        let cursor = page_result
            .and_then(|p| {
                p.next_cursor
                    .and_then(|c| c.next_message_time_nano)
                    .or(p.next_message_time_nano)
            })
            .filter(|c| !c.is_empty() && c != "0");
        // The walk ends on `more=false` or an empty page [S5]. With `more=true` and no
        // cursor in either place, the oldest listed conversation's time is where the
        // next page starts.
        let next = match (items.is_empty(), more) {
            (true, _) | (false, Some(false)) => None,
            (false, Some(true)) => cursor.or_else(|| last_timestamp.map(|t| t.to_string())),
            (false, None) => cursor,
        };
        let next = advanced(next, previous)?;
        Ok(Page { items, next })
    }
}

impl RawConversation {
    fn into_conversation(self) -> Result<Conversation, String> {
        let id = self.conversation_id.0;
        let last_activity = epoch(self.last_message_timestamp.0)
            .ok_or_else(|| format!("conversation {id}: last_message_timestamp out of range"))?;
        Ok(Conversation {
            customer: self.to_id.map(|to| Participant {
                id: to.0,
                name: self.to_name,
            }),
            snippet: self
                .latest_message_content
                .and_then(|c| c.text)
                .filter(|t| !t.is_empty()),
            id,
            last_activity,
            unread_count: self.unread_count,
            embedded_messages: None,
        })
    }
}

#[derive(Debug, Deserialize)]
struct MessageList {
    #[serde(default)]
    messages: Option<Vec<RawMessage>>,
    #[serde(default)]
    page_result: Option<MessagePageResult>,
}

#[derive(Debug, Deserialize)]
struct MessagePageResult {
    #[serde(default, deserialize_with = "lenient_text")]
    next_offset: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawMessage {
    message_id: Id,
    #[serde(default, deserialize_with = "lenient_text")]
    message_type: Option<String>,
    #[serde(default)]
    from_id: Option<Id>,
    #[serde(default)]
    from_shop_id: Option<Id>,
    #[serde(default)]
    to_shop_id: Option<Id>,
    /// Unix seconds (observed [S5]).
    created_timestamp: UInt,
    #[serde(default)]
    content: Option<Content>,
}

/// `content{text|url|thumb_url|sticker_id|item_id|order_sn|video_url|...}` [S3, S4].
#[derive(Debug, Default, Deserialize)]
struct Content {
    #[serde(default, deserialize_with = "lenient_text")]
    text: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    url: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    thumb_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    video_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    sticker_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    item_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    order_sn: Option<String>,
}

impl MessageList {
    fn into_page(
        self,
        shop_id: u64,
        conversation_id: &str,
        previous: Option<&Cursor>,
    ) -> Result<Page<Message>, String> {
        let shop = shop_id.to_string();
        let items = self
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.into_message(&shop, conversation_id))
            .collect::<Result<Vec<_>, _>>()?;
        // `next_offset` "0" or empty means the end [S5].
        let next = self
            .page_result
            .and_then(|p| p.next_offset)
            .filter(|o| !items.is_empty() && !o.is_empty() && o != "0");
        let next = advanced(next, previous)?;
        Ok(Page { items, next })
    }
}

impl RawMessage {
    fn into_message(self, shop_id: &str, conversation_id: &str) -> Result<Message, String> {
        let id = self.message_id.0;
        let created_at = epoch(self.created_timestamp.0)
            .ok_or_else(|| format!("message {id}: created_timestamp out of range"))?;
        let role = match (&self.from_shop_id, &self.to_shop_id) {
            (Some(from), _) if from.0 == shop_id => Some(SenderRole::Business),
            (_, Some(to)) if to.0 == shop_id => Some(SenderRole::Customer),
            _ => None,
        };
        let content = self.content.unwrap_or_default();
        let kind = self.message_type.unwrap_or_else(|| "text".to_owned());
        let attachments = if kind == "text" {
            Vec::new()
        } else {
            vec![Attachment {
                url: content.url.or(content.video_url).or(content.thumb_url),
                name: content.sticker_id.or(content.item_id).or(content.order_sn),
                kind,
                mime_type: None,
            }]
        };
        Ok(Message {
            id,
            conversation_id: conversation_id.to_owned(),
            created_at,
            from: self.from_id.map(|f| Participant {
                id: f.0,
                name: None,
            }),
            role,
            text: content.text.filter(|t| !t.is_empty()),
            attachments,
            ad_referral: None,
            unavailable: false,
        })
    }
}

/// A cursor that does not move would walk the same page forever; practitioners treat
/// it as an error [§5], and so does this client.
fn advanced(next: Option<String>, previous: Option<&Cursor>) -> Result<Option<Cursor>, String> {
    match (next, previous) {
        (Some(next), Some(previous)) if next == previous.as_str() => {
            Err("the cursor did not advance".to_owned())
        }
        (next, _) => Ok(next.map(Cursor::new)),
    }
}

fn clamp(want: u32, max: u32) -> u32 {
    want.clamp(1, max.max(1))
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    #[test]
    fn the_sign_is_lowercase_hex_hmac_sha256_over_the_concatenated_base_string() {
        let key = SecretString::from("test-partner-key");
        let token = SecretString::from("test-access-token");
        let auth = ShopeeAuth {
            partner_id: 2_000_001,
            partner_key: &key,
            access_token: &token,
            shop_id: 300_001,
        };
        // python3: hmac.new(b"test-partner-key", b"2000001/api/v2/sellerchat/get_message"
        //   b"1714550400test-access-token300001", hashlib.sha256).hexdigest()
        assert_eq!(
            sign(auth, "/api/v2/sellerchat/get_message", 1_714_550_400),
            "afe923176aad379249890fa0064272e00f078df1f95a3298afab0658d7c36356"
        );
    }
}
