//! Shopee Open Platform v2 seller chat (`/shopee`, standing in for
//! `partner.shopeemobile.com`), per section 4 and points 13–16 of `channel-apis.md`.
//!
//! Every call is signed: `sign = hex(HMAC_SHA256(partner_key, partner_id + path +
//! timestamp + access_token + shop_id))` with a `timestamp` within 5 minutes of the
//! server's clock and a token younger than 4 hours [S1]. These checks use the system
//! clock, as the real server does, not the dataset's "now".
//!
//! Ids above 2^53 (`conversation_id`, `message_id`) are JSON strings; user and shop ids are
//! numbers. The conversation list reports `last_message_timestamp` in nanoseconds, messages
//! report `created_timestamp` in seconds [S5].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::time::Instant;

use crate::Channel;
use crate::dataset::{Account, Conversation, Message, MessageKind, Sender, ShopeeCredentials};
use crate::limits::Admission;
use crate::server::{Reply, Request, Shared, lock};
use crate::settings::{OversizePage, ShopeeSettings};
use crate::stats::Outcome;

const PREFIX: &str = "/api/v2/sellerchat/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    ConversationList,
    Messages,
    OneConversation,
}

fn api_of(request: &Request) -> Option<Api> {
    match request.path.strip_prefix(PREFIX)? {
        "get_conversation_list" => Some(Api::ConversationList),
        "get_message" => Some(Api::Messages),
        "get_one_conversation" => Some(Api::OneConversation),
        _ => None,
    }
}

/// The shop named by `shop_id`, for statistics.
pub(crate) fn account_of(shared: &Shared, request: &Request) -> Option<usize> {
    let shop_id: u64 = request.param("shop_id")?.parse().ok()?;
    shared
        .dataset
        .accounts_of(Channel::Shopee)
        .find(|a| a.shopee.as_ref().is_some_and(|s| s.shop_id == shop_id))
        .map(|a| a.ix)
}

pub(crate) fn endpoint_of(request: &Request) -> String {
    request.segments().last().unwrap_or_default().to_owned()
}

/// The lowercase hex signature of a shop API call [S1].
pub fn sign(
    partner_key: &str,
    partner_id: u64,
    path: &str,
    timestamp: i64,
    access_token: &str,
    shop_id: u64,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(partner_key.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{partner_id}{path}{timestamp}{access_token}{shop_id}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The body of an injected 5xx.
pub(crate) fn server_error_body(request_id: String) -> Value {
    json!({ "request_id": request_id, "error": "error_server", "message": "Something went wrong. Please try again later." })
}

struct ShopeeError {
    error: String,
    message: String,
    status: u16,
    outcome: Outcome,
}

impl ShopeeError {
    fn new(error: &str, message: impl Into<String>, status: u16) -> Self {
        ShopeeError {
            error: error.to_owned(),
            message: message.into(),
            status,
            outcome: Outcome::Error,
        }
    }
}

pub(crate) fn handle(shared: &Shared, request: &Request) -> Reply {
    let request_id = shared.request_id();
    let result = match api_of(request) {
        Some(api) => serve(shared, request, api),
        None => Err(ShopeeError::new("error_not_found", "Api not found.", 404)),
    };
    match result {
        // `error` and `message` are empty strings on success [S1].
        Ok(response) => Reply {
            status: 200,
            headers: Vec::new(),
            body: json!({ "request_id": request_id, "error": "", "message": "", "response": response }),
            outcome: Outcome::Served,
        },
        // On error there is no `response` [S1].
        Err(e) => Reply {
            status: e.status,
            headers: Vec::new(),
            body: json!({ "request_id": request_id, "error": e.error, "message": e.message }),
            outcome: e.outcome,
        },
    }
}

fn serve(shared: &Shared, request: &Request, api: Api) -> Result<Value, ShopeeError> {
    let settings = &shared.settings.shopee;
    let param_error = |message: String| {
        ShopeeError::new("error_param", message, settings.param_error_http_status)
    };
    let required = |name: &str| {
        request
            .param(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| param_error(format!("Wrong parameters, detail: {name} is required.")))
    };
    let number = |name: &str| -> Result<i64, ShopeeError> {
        required(name)?.parse().map_err(|_| {
            param_error(format!(
                "Wrong parameters, detail: {name} must be an integer."
            ))
        })
    };
    let partner_id = number("partner_id")?;
    let timestamp = number("timestamp")?;
    let shop_id = number("shop_id")?;
    let access_token = required("access_token")?;
    let signature = required("sign")?;

    let dataset = &*shared.dataset;
    let credentials: Vec<&ShopeeCredentials> = dataset
        .accounts_of(Channel::Shopee)
        .filter_map(|a| a.shopee.as_ref())
        .collect();
    let Some(partner) = credentials
        .iter()
        .find(|c| c.partner_id as i64 == partner_id)
    else {
        return Err(param_error(
            "Wrong parameters, detail: partner_id is invalid.".into(),
        ));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    if now.abs_diff(timestamp) > settings.timestamp_tolerance_secs {
        return Err(ShopeeError::new(
            &settings.stale_timestamp_error,
            "Invalid timestamp: it must be within 5 minutes of the server time.",
            settings.param_error_http_status,
        ));
    }
    let expected = sign(
        &partner.partner_key,
        partner_id as u64,
        &request.path,
        timestamp,
        access_token,
        shop_id as u64,
    );
    if signature != expected {
        return Err(ShopeeError::new(
            "error_sign",
            "Wrong sign.",
            settings.sign_error_http_status,
        ));
    }

    let auth_error =
        |message: &str| ShopeeError::new("error_auth", message, settings.auth_error_http_status);
    let info = lock(&shared.tokens)
        .get(access_token)
        .cloned()
        .ok_or_else(|| auth_error("Invalid access_token."))?;
    let account = dataset.account_at(info.account);
    let shop = account
        .shopee
        .as_ref()
        .filter(|s| s.shop_id as i64 == shop_id);
    if info.revoked.is_some() || shop.is_none() {
        return Err(auth_error("Invalid access_token."));
    }
    let age = SystemTime::now()
        .duration_since(info.issued_at)
        .unwrap_or_default();
    if age > Duration::from_secs(settings.token_lifetime_secs) {
        return Err(auth_error(
            "Invalid access_token: the access_token has expired.",
        ));
    }

    let budget = shared.budget(Channel::Shopee, account.ix, settings.budget);
    let admission = lock(&shared.limits)
        .accounts
        .entry(account.ix)
        .or_default()
        .admit(Instant::now(), budget, Duration::ZERO);
    if let Admission::Refused { .. } = admission {
        return Err(ShopeeError {
            outcome: Outcome::Throttled,
            ..ShopeeError::new(
                &settings.rate_limit_error,
                "Too many requests. Please try again later.",
                settings.rate_limit_http_status,
            )
        });
    }

    let shopee = Shopee {
        account,
        settings,
        request,
    };
    match api {
        Api::ConversationList => shopee.conversation_list(),
        Api::Messages => shopee.messages(),
        Api::OneConversation => Ok(shopee.conversation_json(shopee.conversation()?)),
    }
}

struct Shopee<'a> {
    account: &'a Account,
    settings: &'a ShopeeSettings,
    request: &'a Request,
}

fn nanos(c: &Conversation) -> u64 {
    c.last_activity
        .timestamp_nanos_opt()
        .expect("dataset times fit in i64 nanoseconds") as u64
}

impl Shopee<'_> {
    fn param_error(&self, message: impl Into<String>) -> ShopeeError {
        ShopeeError::new(
            "error_param",
            message,
            self.settings.param_error_http_status,
        )
    }

    fn page_size(&self, default: u32) -> Result<u32, ShopeeError> {
        match self.request.param("page_size") {
            None | Some("") => Ok(default),
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(self.param_error(
                    "Wrong parameters, detail: page_size must be a positive integer.",
                )),
            },
        }
    }

    fn shop(&self) -> &ShopeeCredentials {
        self.account.shopee.as_ref().expect("a Shopee account")
    }

    /// `get_conversation_list` [S3, S5]: `older` walks back from the newest; `latest`
    /// without a cursor starts from the OLDEST and goes forward (observed quirk).
    fn conversation_list(&self) -> Result<Value, ShopeeError> {
        let older = match self.request.param("direction") {
            Some("older") => true,
            Some("latest") => false,
            _ => {
                return Err(self
                    .param_error("Wrong parameters, detail: direction must be latest or older."));
            }
        };
        let wanted: fn(&Conversation) -> bool = match self.request.param("type").unwrap_or("all") {
            "all" => |_: &Conversation| true,
            "unread" => |c: &Conversation| c.unread_count > 0,
            "pinned" => |c: &Conversation| c.pinned,
            _ => {
                return Err(self
                    .param_error("Wrong parameters, detail: type must be all, unread or pinned."));
            }
        };
        let cursor = match self.request.param("next_timestamp_nano") {
            None | Some("" | "0") => None,
            Some(raw) => Some(raw.parse::<u64>().map_err(|_| {
                self.param_error(
                    "Wrong parameters, detail: next_timestamp_nano must be an integer.",
                )
            })?),
        };
        let page_size = self.page_size(self.settings.conversation_page_size_default)?;
        let max = self.settings.conversation_page_size_max;
        let page_size = match self.settings.oversize_conversation_page {
            _ if page_size <= max => page_size,
            // Observed: page_size > 25 answers an empty list [S5].
            OversizePage::Empty => {
                return Ok(json!({
                    "conversations": [],
                    "page_result": { "page_size": page_size, "more": false,
                                     "next_cursor": { "next_message_time_nano": "0", "conversation_id": "0" } },
                }));
            }
            OversizePage::Cap => max,
            OversizePage::Reject => {
                return Err(self.param_error(format!(
                    "Wrong parameters, detail: page_size must not exceed {max}."
                )));
            }
        };
        let mut list: Vec<&Conversation> = self
            .account
            .conversations
            .iter()
            .filter(|c| wanted(c))
            .filter(|c| cursor.is_none_or(|x| if older { nanos(c) < x } else { nanos(c) > x }))
            .collect();
        if !older {
            list.reverse();
        }
        let more = list.len() > page_size as usize;
        list.truncate(page_size as usize);
        let next_cursor = match list.last() {
            Some(last) => {
                json!({ "next_message_time_nano": nanos(last).to_string(), "conversation_id": last.id })
            }
            None => json!({ "next_message_time_nano": "0", "conversation_id": "0" }),
        };
        let conversations: Vec<Value> = list.iter().map(|c| self.conversation_json(c)).collect();
        Ok(json!({
            "conversations": conversations,
            "page_result": { "page_size": page_size, "more": more, "next_cursor": next_cursor },
        }))
    }

    fn conversation(&self) -> Result<&Conversation, ShopeeError> {
        let id = self.request.param("conversation_id").ok_or_else(|| {
            self.param_error("Wrong parameters, detail: conversation_id is required.")
        })?;
        self.account
            .conversations
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| {
                self.param_error("Wrong parameters, detail: conversation_id is invalid.")
            })
    }

    fn conversation_json(&self, c: &Conversation) -> Value {
        let newest = c.message_by_rank(0).expect("conversations have messages");
        let last_read = c
            .message_by_rank(c.unread_count)
            .map_or_else(|| "0".to_owned(), |m| m.id);
        json!({
            "conversation_id": c.id,
            "to_id": user_id_json(&c.customer.id),
            "to_name": c.customer.username.as_deref().unwrap_or(&c.customer.name),
            "to_avatar": c.customer.avatar_url,
            "shop_id": self.shop().shop_id,
            "unread_count": c.unread_count,
            "pinned": c.pinned,
            "mute": false,
            "last_read_message_id": last_read,
            "latest_message_id": newest.id,
            "latest_message_type": message_type(&newest),
            "latest_message_content": self.content(&newest),
            "latest_message_from_id": self.sender_user_id(c, &newest),
            "last_message_timestamp": nanos(c),
            "last_message_option": 0,
            "max_general_option_hide_time": "0",
        })
    }

    /// `get_message`: newest first; `offset` is the `next_offset` of the previous page, the
    /// id of its oldest message. Ids grow with time, so "older than the offset" is found by
    /// binary search without deriving the messages in between.
    fn messages(&self) -> Result<Value, ShopeeError> {
        let c = self.conversation()?;
        let start = match self.request.param("offset") {
            None | Some("" | "0") => 0,
            Some(raw) => {
                let offset: u64 = raw.parse().map_err(|_| {
                    self.param_error("Wrong parameters, detail: offset is invalid.")
                })?;
                let older = partition_point(c.message_count, |i| c.shopee_message_id(i) < offset);
                c.message_count - older
            }
        };
        let page_size = self
            .page_size(self.settings.message_page_size_default)?
            .min(self.settings.message_page_size_max);
        let end = start.saturating_add(page_size).min(c.message_count);
        let messages: Vec<Value> = (start..end)
            .filter_map(|rank| c.message_by_rank(rank))
            .map(|m| self.message_json(c, &m))
            .collect();
        let next_offset = if end < c.message_count {
            c.message_by_rank(end - 1).map(|m| m.id).unwrap_or_default()
        } else {
            self.settings.end_of_messages_offset.clone()
        };
        Ok(json!({
            "messages": messages,
            "page_result": { "page_size": page_size, "next_offset": next_offset },
        }))
    }

    fn sender_user_id(&self, c: &Conversation, m: &Message) -> Value {
        match m.sender {
            Sender::Customer => user_id_json(&c.customer.id),
            Sender::Business => json!(self.shop().seller_user_id),
        }
    }

    fn message_json(&self, c: &Conversation, m: &Message) -> Value {
        let shop_id = self.shop().shop_id;
        let (from_shop_id, to_id, to_shop_id) = match m.sender {
            Sender::Customer => (0, json!(self.shop().seller_user_id), shop_id),
            Sender::Business => (shop_id, user_id_json(&c.customer.id), 0),
        };
        json!({
            "message_id": m.id,
            "message_type": message_type(m),
            "from_id": self.sender_user_id(c, m),
            "from_shop_id": from_shop_id,
            "to_id": to_id,
            "to_shop_id": to_shop_id,
            "conversation_id": c.id,
            "created_timestamp": m.created_at.timestamp(),
            "region": "VN",
            "status": "normal",
            "source": if m.sender == Sender::Customer { "android" } else { "web" },
            "message_option": 0,
            "content": self.content(m),
            "source_content": {},
        })
    }

    fn content(&self, m: &Message) -> Value {
        let shop_id = self.shop().shop_id;
        match &m.kind {
            MessageKind::Image => {
                let a = &m.attachments[0];
                json!({ "url": a.url, "thumb_url": a.preview_url, "thumb_height": a.height / 4, "thumb_width": a.width / 4 })
            }
            MessageKind::Video => {
                let a = &m.attachments[0];
                json!({ "video_url": a.url, "thumb_url": a.preview_url, "thumb_height": a.height / 4,
                        "thumb_width": a.width / 4, "duration_seconds": 5 + a.size % 55 })
            }
            MessageKind::Sticker {
                sticker_id,
                package_id,
                ..
            } => {
                json!({ "sticker_id": sticker_id.to_string(), "sticker_package_id": package_id.to_string() })
            }
            MessageKind::Product { item_id } => json!({ "item_id": item_id, "shop_id": shop_id }),
            MessageKind::Order { order_sn } => json!({ "order_sn": order_sn, "shop_id": shop_id }),
            _ => json!({ "text": m.text.clone().unwrap_or_default() }),
        }
    }
}

fn message_type(m: &Message) -> &'static str {
    match m.kind {
        MessageKind::Image => "image",
        MessageKind::Video => "video",
        MessageKind::Sticker { .. } => "sticker",
        MessageKind::Product { .. } => "item",
        MessageKind::Order { .. } => "order",
        _ => "text",
    }
}

/// User ids are JSON numbers on Shopee (they stay below 2^53).
fn user_id_json(id: &str) -> Value {
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

/// The number of `i` in `0..n` for which `below(i)` holds, `below` being true then false.
fn partition_point(n: u32, below: impl Fn(u32) -> bool) -> u32 {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_lowercase_hex_hmac_sha256_of_the_concatenation() {
        // Computed with Python's hmac module: HMAC-SHA256(b"key", b"1/api/v2/x2tok3").
        assert_eq!(
            sign("key", 1, "/api/v2/x", 2, "tok", 3),
            "f39a97b4c0f1e8ccb179dd68db4dc3d2351c7e2ee0478b3a4a9ad98e14b2f7cb"
        );
    }

    #[test]
    fn partition_point_finds_the_boundary() {
        assert_eq!(partition_point(10, |i| i < 4), 4);
        assert_eq!(partition_point(10, |_| true), 10);
        assert_eq!(partition_point(0, |_| true), 0);
    }
}
