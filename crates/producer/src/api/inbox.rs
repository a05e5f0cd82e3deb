//! The inbox read side: conversations newest first, 20 to a page by default (C3, H7), and
//! a conversation's messages oldest first (C3).

use axum::Json;
use axum::extract::{Path, State};
use backfill_store::inbox::MAX_INBOX_LIMIT;
use backfill_store::{Account, StoredConversation, StoredMessage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::connections::AccountPath;
use super::problem::{Params, Problem};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Conversations per page, 1 to 100; default 20 (H7).
    pub limit: Option<u32>,
}

/// One page of the inbox.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InboxPageView {
    /// Most recent activity first (C3).
    pub conversations: Vec<ConversationView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConversationView {
    /// The channel's own conversation id.
    pub id: String,
    pub customer: Option<PersonView>,
    pub last_activity: DateTime<Utc>,
    pub snippet: Option<String>,
    pub unread_count: u32,
    /// `open` when synced (H7).
    pub status: String,
    /// `backfill` for history: no notifications, unread counts or automations.
    pub origin: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonView {
    pub id: String,
    pub name: Option<String>,
}

/// A conversation's messages.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagesView {
    /// Oldest first (C3).
    pub messages: Vec<MessageView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    /// The channel's own message id.
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub from: Option<PersonView>,
    /// `customer` or `business`; unknown for an unavailable placeholder.
    pub role: Option<String>,
    pub text: Option<String>,
    /// Attachment kinds (`image`, `sticker`, ...), in order.
    pub attachments: Vec<String>,
    /// Listed by the channel without details: only id and time are known.
    pub unavailable: bool,
}

impl From<StoredConversation> for ConversationView {
    fn from(c: StoredConversation) -> Self {
        Self {
            id: c.channel_id,
            customer: c.customer.map(|p| PersonView {
                id: p.id,
                name: p.name,
            }),
            last_activity: c.last_activity,
            snippet: c.snippet,
            unread_count: c.unread_count,
            status: c.state,
            origin: c.origin,
        }
    }
}

impl From<StoredMessage> for MessageView {
    fn from(m: StoredMessage) -> Self {
        Self {
            id: m.channel_id,
            created_at: m.created_at,
            from: m.sender.map(|p| PersonView {
                id: p.id,
                name: p.name,
            }),
            role: m.role.map(|r| {
                match r {
                    backfill_policy::SenderRole::Customer => "customer",
                    backfill_policy::SenderRole::Business => "business",
                }
                .to_owned()
            }),
            text: m.text,
            attachments: m.attachments.into_iter().map(|a| a.kind).collect(),
            unavailable: m.unavailable,
        }
    }
}

/// The account's conversations, most recent activity first.
#[utoipa::path(
    get,
    path = "/v1/connections/{channel}/{account_id}/conversations",
    tag = "inbox",
    params(AccountPath, InboxQuery),
    responses(
        (status = 200, body = InboxPageView),
        (status = 404, description = "No such account for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` or `cursor` is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn conversations(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path(path): Path<AccountPath>,
    Params(query): Params<InboxQuery>,
) -> Result<Json<InboxPageView>, Problem> {
    let channel = path.channel()?;
    if let Some(limit) = query.limit
        && !(1..=MAX_INBOX_LIMIT).contains(&limit)
    {
        return Err(Problem::invalid(
            "limit",
            format!("must be 1 to {MAX_INBOX_LIMIT}, got {limit}"),
        ));
    }
    let account = Account::Channel {
        channel,
        account_id: &path.account_id,
    };
    let page = state
        .store
        .inbox(&tenant.id, account, query.cursor.as_deref(), query.limit)
        .await?;
    Ok(Json(InboxPageView {
        conversations: page.conversations.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One conversation's messages, oldest first.
#[utoipa::path(
    get,
    path = "/v1/connections/{channel}/{account_id}/conversations/{conversation_id}/messages",
    tag = "inbox",
    params(AccountPath, ("conversation_id" = String, Path, description = "The channel's conversation id")),
    responses(
        (status = 200, body = MessagesView),
        (status = 404, description = "No such account or conversation for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn messages(
    State(state): State<AppState>,
    Caller(tenant): Caller,
    Path((channel, account_id, conversation_id)): Path<(String, String, String)>,
) -> Result<Json<MessagesView>, Problem> {
    let path = AccountPath {
        channel,
        account_id,
    };
    let channel = path.channel()?;
    let account = Account::Channel {
        channel,
        account_id: &path.account_id,
    };
    if !state
        .store
        .conversation_exists(&tenant.id, account, &conversation_id)
        .await?
    {
        return Err(Problem::not_found(format!(
            "no conversation {conversation_id} in {channel} account {}",
            path.account_id
        )));
    }
    let messages = state
        .store
        .messages(&tenant.id, account, &conversation_id)
        .await?;
    Ok(Json(MessagesView {
        messages: messages.into_iter().map(Into::into).collect(),
    }))
}
