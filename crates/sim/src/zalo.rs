//! The Zalo Official Account Open API (`/zalo`, standing in for `openapi.zalo.me`), per
//! section 3 and points 9–12 of `channel-apis.md`.
//!
//! Zalo answers HTTP 200 to everything it understands, errors included: the body's `error`
//! field is the status (0 = success) [Z2]. Parameters travel as one URL-encoded JSON object
//! in `data` [Z1]; the token in an `access_token` header (old clients: query parameter).
//! The chat reads are v2.0, the user reads v3.0; the v2.0 follower list is shut down.

use chrono::{Duration, FixedOffset};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::Channel;
use crate::dataset::{Account, Conversation, Message, MessageKind, Sender};
use crate::limits::Admission;
use crate::server::{Reply, Request, Shared, lock};
use crate::settings::{OverMax, ZaloSettings};
use crate::stats::Outcome;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    RecentChats,
    Conversation,
    UserDetail,
    UserList,
    ShutDown,
}

fn api_of(request: &Request) -> Option<Api> {
    let segments: Vec<&str> = request.segments().collect();
    match segments.as_slice() {
        ["v2.0", "oa", "listrecentchat"] => Some(Api::RecentChats),
        ["v2.0", "oa", "conversation"] => Some(Api::Conversation),
        ["v3.0", "oa", "user", "detail"] => Some(Api::UserDetail),
        ["v3.0", "oa", "user", "getlist"] => Some(Api::UserList),
        // "UserInfo API shut down, switch to V3" [Z2].
        ["v2.0", "oa", "getfollowers" | "getprofile"] => Some(Api::ShutDown),
        _ => None,
    }
}

/// The OA token: the `access_token` header [Z1], else the query parameter.
fn token_of(request: &Request) -> Option<&str> {
    request
        .header("access_token")
        .or_else(|| request.param("access_token"))
}

pub(crate) fn account_of(shared: &Shared, request: &Request) -> Option<usize> {
    let info = lock(&shared.tokens).get(token_of(request)?).cloned()?;
    (shared.dataset.account_at(info.account).channel == Channel::Zalo).then_some(info.account)
}

pub(crate) fn endpoint_of(request: &Request) -> String {
    request.segments().skip(2).collect::<Vec<_>>().join("/")
}

/// A business error: HTTP 200, non-zero `error` [Z2].
struct ZaloError {
    code: i32,
    message: String,
    outcome: Outcome,
}

impl ZaloError {
    fn param(settings: &ZaloSettings, message: impl Into<String>) -> Self {
        ZaloError {
            code: settings.errors.invalid_param,
            message: message.into(),
            outcome: Outcome::Error,
        }
    }
}

pub(crate) fn handle(shared: &Shared, request: &Request) -> Reply {
    let Some(api) = api_of(request) else {
        return Reply {
            status: 404,
            headers: Vec::new(),
            body: json!({ "error": 404, "message": "empty api" }),
            outcome: Outcome::Error,
        };
    };
    match serve(shared, request, api) {
        Ok(data) => Reply {
            status: 200,
            headers: Vec::new(),
            body: json!({ "data": data, "error": 0, "message": "Success" }),
            outcome: Outcome::Served,
        },
        Err(error) => Reply {
            status: 200,
            headers: Vec::new(),
            body: json!({ "error": error.code, "message": error.message }),
            outcome: error.outcome,
        },
    }
}

fn serve(shared: &Shared, request: &Request, api: Api) -> Result<Value, ZaloError> {
    let settings = &shared.settings.zalo;
    let invalid_token = || ZaloError {
        code: settings.errors.invalid_token,
        message: "Access token is invalid".into(),
        outcome: Outcome::Error,
    };
    let token = token_of(request).ok_or_else(invalid_token)?;
    let info = lock(&shared.tokens)
        .get(token)
        .cloned()
        .ok_or_else(invalid_token)?;
    let account = shared.dataset.account_at(info.account);
    if info.revoked.is_some() || account.channel != Channel::Zalo {
        return Err(invalid_token());
    }
    let budget = shared.budget(Channel::Zalo, account.ix, settings.budget);
    let admission = lock(&shared.limits)
        .accounts
        .entry(account.ix)
        .or_default()
        .admit(Instant::now(), budget, std::time::Duration::ZERO);
    if let Admission::Refused { .. } = admission {
        return Err(ZaloError {
            code: settings.errors.rate_limit,
            message: "Your application reached limit call api".into(),
            outcome: Outcome::Throttled,
        });
    }
    let zalo = Zalo {
        account,
        settings,
        now: shared.dataset.now(),
    };
    match api {
        Api::RecentChats => zalo.recent_chats(&data_of(request, settings)?),
        Api::Conversation => zalo.conversation(&data_of(request, settings)?),
        Api::UserDetail => zalo.user_detail(&data_of(request, settings)?),
        Api::UserList => zalo.user_list(&data_of(request, settings)?),
        Api::ShutDown => Err(ZaloError {
            code: settings.errors.api_shut_down,
            message: "UserInfo API shut down, switch to V3".into(),
            outcome: Outcome::Error,
        }),
    }
}

/// The `data` parameter: one JSON object [Z1].
fn data_of(request: &Request, settings: &ZaloSettings) -> Result<Value, ZaloError> {
    let raw = request
        .param("data")
        .ok_or_else(|| ZaloError::param(settings, "Parameters are invalid: data is required"))?;
    match serde_json::from_str::<Value>(raw) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(ZaloError::param(
            settings,
            "Parameters are invalid: data must be a JSON object",
        )),
    }
}

struct Zalo<'a> {
    account: &'a Account,
    settings: &'a ZaloSettings,
    now: chrono::DateTime<chrono::Utc>,
}

impl Zalo<'_> {
    /// A non-negative integer field of `data`, given as a number or a numeric string.
    fn number(&self, data: &Value, name: &str, default: Option<u64>) -> Result<u64, ZaloError> {
        let value = match data.get(name) {
            None | Some(Value::Null) => {
                return default.ok_or_else(|| {
                    ZaloError::param(
                        self.settings,
                        format!("Parameters are invalid: {name} is required"),
                    )
                });
            }
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            Some(_) => None,
        };
        value.ok_or_else(|| {
            ZaloError::param(self.settings, format!("Parameters are invalid: {name}"))
        })
    }

    /// `offset` and `count`, with `count` capped or refused above `max` (point 11).
    fn window(&self, data: &Value, max: u32) -> Result<(usize, usize), ZaloError> {
        let offset = self.number(data, "offset", Some(0))?;
        let count = self.number(data, "count", Some(u64::from(max)))?;
        if count == 0 {
            return Err(ZaloError::param(
                self.settings,
                "Parameters are invalid: count must be positive",
            ));
        }
        let count = if count > u64::from(max) {
            match self.settings.over_max_count {
                OverMax::Cap => u64::from(max),
                OverMax::Reject => {
                    return Err(ZaloError::param(
                        self.settings,
                        format!("Parameters are invalid: count must not exceed {max}"),
                    ));
                }
            }
        } else {
            count
        };
        Ok((offset as usize, count as usize))
    }

    fn conversation_with(&self, data: &Value) -> Result<&Conversation, ZaloError> {
        let user_id = match data.get("user_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(ZaloError::param(
                    self.settings,
                    "Parameters are invalid: user_id is required",
                ));
            }
        };
        self.account
            .conversations
            .iter()
            .find(|c| c.customer.id == user_id)
            .ok_or_else(|| {
                ZaloError::param(
                    self.settings,
                    "Parameters are invalid: user_id has not interacted with the OA",
                )
            })
    }

    /// The newest message of each user, newest first (`data` is a flat array [Z2]).
    fn recent_chats(&self, data: &Value) -> Result<Value, ZaloError> {
        let (offset, count) = self.window(data, self.settings.chat_count_max)?;
        let items = self
            .account
            .conversations
            .iter()
            .skip(offset)
            .take(count)
            .filter_map(|c| c.message_by_rank(0).map(|m| self.message(c, &m)))
            .collect();
        Ok(Value::Array(items))
    }

    /// Messages with one user, newest first; a short page is the last one.
    fn conversation(&self, data: &Value) -> Result<Value, ZaloError> {
        let conversation = self.conversation_with(data)?;
        let (offset, count) = self.window(data, self.settings.chat_count_max)?;
        let items = (offset..offset.saturating_add(count))
            .map_while(|rank| conversation.message_by_rank(u32::try_from(rank).ok()?))
            .map(|m| self.message(conversation, &m))
            .collect();
        Ok(Value::Array(items))
    }

    /// `src` 1 = user, 0 = OA; `time` in milliseconds [Z1, Z2].
    fn message(&self, c: &Conversation, m: &Message) -> Value {
        let (oa, user) = (
            (
                &self.account.id,
                &self.account.name,
                &self.account.avatar_url,
            ),
            (&c.customer.id, &c.customer.name, &c.customer.avatar_url),
        );
        let (src, from, to) = match m.sender {
            Sender::Customer => (1, user, oa),
            Sender::Business => (0, oa, user),
        };
        let vietnam = FixedOffset::east_opt(7 * 3600).expect("a valid offset");
        let mut out = json!({
            "message_id": m.id,
            "src": src,
            "time": m.created_at.timestamp_millis(),
            "sent_time": m.created_at.with_timezone(&vietnam).format("%H:%M:%S %d/%m/%Y").to_string(),
            "from_id": from.0, "from_display_name": from.1, "from_avatar": from.2,
            "to_id": to.0, "to_display_name": to.1, "to_avatar": to.2,
            "message": m.text.clone().unwrap_or_default(),
        });
        let extra = match &m.kind {
            MessageKind::Image => {
                let a = &m.attachments[0];
                json!({ "type": "photo", "url": a.url, "thumb": a.preview_url })
            }
            MessageKind::Sticker { url, .. } => json!({ "type": "sticker", "url": url }),
            MessageKind::Link { url, title, thumb } => json!({
                "type": "link", "message": url,
                "links": [{ "url": url, "title": title, "thumb": thumb, "description": "" }],
            }),
            _ => json!({ "type": "text" }),
        };
        if let (Value::Object(out), Value::Object(extra)) = (&mut out, extra) {
            out.extend(extra);
        }
        out
    }

    /// Profile and follower status. `user_is_follower` is UNVERIFIED as a field name.
    fn user_detail(&self, data: &Value) -> Result<Value, ZaloError> {
        let c = self.conversation_with(data)?;
        let customer = &c.customer;
        Ok(json!({
            "user_id": customer.id,
            "display_name": customer.name,
            "user_alias": "",
            "is_sensitive": false,
            "user_last_interaction_date": c.last_activity.format("%d/%m/%Y").to_string(),
            "user_is_follower": customer.is_follower,
            "avatar": customer.avatar_url,
            "avatars": { "120": customer.avatar_url, "240": customer.avatar_url },
            "tags_and_notes_info": { "notes": [], "tag_names": [] },
        }))
    }

    /// Users of the OA, most recent interaction first, optionally only (non-)followers.
    fn user_list(&self, data: &Value) -> Result<Value, ZaloError> {
        let (offset, count) = self.window(data, self.settings.user_list_count_max)?;
        if offset + count > self.settings.user_list_offset_limit as usize {
            return Err(ZaloError::param(
                self.settings,
                format!(
                    "Parameters are invalid: offset + count must not exceed {}",
                    self.settings.user_list_offset_limit
                ),
            ));
        }
        let follower = match data.get("is_follower") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s == "true" || s == "false" => Some(s == "true"),
            Some(_) => {
                return Err(ZaloError::param(
                    self.settings,
                    "Parameters are invalid: is_follower",
                ));
            }
        };
        let period = match data.get("last_interaction_period").and_then(Value::as_str) {
            None => None,
            Some("TODAY") => Some(Duration::days(1)),
            Some("YESTERDAY") => Some(Duration::days(2)),
            Some("L7D") => Some(Duration::days(7)),
            Some("L30D") => Some(Duration::days(30)),
            Some(other) => {
                return Err(ZaloError::param(
                    self.settings,
                    format!("Parameters are invalid: last_interaction_period {other}"),
                ));
            }
        };
        let users: Vec<&Conversation> = self
            .account
            .conversations
            .iter()
            .filter(|c| follower.is_none_or(|f| c.customer.is_follower == f))
            .filter(|c| period.is_none_or(|p| self.now - c.last_activity < p))
            .collect();
        let page: Vec<Value> = users
            .iter()
            .skip(offset)
            .take(count)
            .map(|c| json!({ "user_id": c.customer.id }))
            .collect();
        Ok(json!({ "total": users.len(), "count": page.len(), "offset": offset, "users": page }))
    }
}
