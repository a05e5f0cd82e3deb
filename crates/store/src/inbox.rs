//! The read side: the merchant's inbox in the channel's order (C3).
//!
//! Conversations come newest activity first, 20 to a page by default (H7), paged by a
//! keyset cursor on `(last_activity, id)`: a page is an index range scan however deep the
//! merchant scrolls, and a conversation that moves while they scroll is neither skipped
//! nor shown twice within the pages already read. Messages of a conversation come oldest
//! first. Every read is scoped by the tenant: a tenant sees only its own accounts.

use backfill_policy::{AdReferral, Attachment, Channel, Participant, SenderRole};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Store;
use crate::db::{Session, args};
use crate::error::{Result, StoreError};

/// H7: the inbox lists the 20 newest conversations unless asked otherwise.
pub const DEFAULT_INBOX_LIMIT: u32 = 20;
/// The largest page the inbox serves.
pub const MAX_INBOX_LIMIT: u32 = 100;

/// Which account of a tenant: by connection id, or by channel and the channel's account
/// id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account<'a> {
    Connection(i64),
    Channel {
        channel: Channel,
        account_id: &'a str,
    },
}

/// A conversation as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredConversation {
    pub id: i64,
    pub connection_id: i64,
    /// The channel's own id of the conversation.
    pub channel_id: String,
    pub customer: Option<Participant>,
    pub last_activity: DateTime<Utc>,
    pub snippet: Option<String>,
    pub unread_count: u32,
    /// `open` when synced (H7); the message center moves it on.
    pub state: String,
    /// `backfill` for history (DESIGN decision 9).
    pub origin: String,
}

/// A message as the conversation view shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    pub id: i64,
    /// The channel's own id of the message.
    pub channel_id: String,
    pub conversation_id: String,
    pub created_at: DateTime<Utc>,
    pub sender: Option<Participant>,
    pub role: Option<SenderRole>,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub ad_referral: Option<AdReferral>,
    /// Listed by the channel without details: only id and time are known.
    pub unavailable: bool,
    pub origin: String,
}

/// One page of the inbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxPage {
    pub conversations: Vec<StoredConversation>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: i64,
    connection_id: i64,
    channel_id: String,
    customer_id: Option<String>,
    customer_name: Option<String>,
    last_activity: DateTime<Utc>,
    snippet: Option<String>,
    unread_count: i64,
    state: String,
    origin: String,
}

impl From<ConversationRow> for StoredConversation {
    fn from(row: ConversationRow) -> Self {
        Self {
            id: row.id,
            connection_id: row.connection_id,
            channel_id: row.channel_id,
            customer: participant(row.customer_id, row.customer_name),
            last_activity: row.last_activity,
            snippet: row.snippet,
            unread_count: u32::try_from(row.unread_count).unwrap_or(u32::MAX),
            state: row.state,
            origin: row.origin,
        }
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    channel_id: String,
    conversation_channel_id: String,
    created_at: DateTime<Utc>,
    sender_id: Option<String>,
    sender_name: Option<String>,
    sender_role: Option<String>,
    text: Option<String>,
    #[sqlx(json)]
    attachments: Vec<Attachment>,
    #[sqlx(json(nullable))]
    ad_referral: Option<AdReferral>,
    unavailable: bool,
    origin: String,
}

impl TryFrom<MessageRow> for StoredMessage {
    type Error = StoreError;

    fn try_from(row: MessageRow) -> Result<Self> {
        let role = match row.sender_role.as_deref() {
            None => None,
            Some("customer") => Some(SenderRole::Customer),
            Some("business") => Some(SenderRole::Business),
            Some(_) => {
                return Err(StoreError::Corrupt(format!(
                    "sender_role of message {}",
                    row.id
                )));
            }
        };
        Ok(Self {
            id: row.id,
            channel_id: row.channel_id,
            conversation_id: row.conversation_channel_id,
            created_at: row.created_at,
            sender: participant(row.sender_id, row.sender_name),
            role,
            text: row.text,
            attachments: row.attachments,
            ad_referral: row.ad_referral,
            unavailable: row.unavailable,
            origin: row.origin,
        })
    }
}

fn participant(id: Option<String>, name: Option<String>) -> Option<Participant> {
    id.map(|id| Participant { id, name })
}

/// The cursor is opaque to clients: the last row's position, `micros:id`, in base64url.
fn encode_cursor(last_activity: DateTime<Utc>, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", last_activity.timestamp_micros()))
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, i64)> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let (micros, id) = text.split_once(':').ok_or(StoreError::InvalidCursor)?;
    let micros: i64 = micros.parse().map_err(|_| StoreError::InvalidCursor)?;
    let id: i64 = id.parse().map_err(|_| StoreError::InvalidCursor)?;
    let at = DateTime::from_timestamp_micros(micros).ok_or(StoreError::InvalidCursor)?;
    Ok((at, id))
}

/// The connection id of a tenant's account, or the error naming what is unknown.
async fn resolve(session: &mut Session, tenant_id: &str, account: Account<'_>) -> Result<i64> {
    match account {
        Account::Connection(id) => session
            .scalar(
                "SELECT id FROM connections WHERE id = $1 AND tenant_id = $2",
                args![id, tenant_id],
            )
            .await?
            .ok_or(StoreError::UnknownConnection(id)),
        Account::Channel {
            channel,
            account_id,
        } => session
            .scalar(
                "SELECT id FROM connections
                 WHERE tenant_id = $1 AND channel = $2 AND account_id = $3",
                args![tenant_id, channel.as_str(), account_id],
            )
            .await?
            .ok_or_else(|| StoreError::UnknownAccount {
                tenant_id: tenant_id.to_owned(),
                channel,
                account_id: account_id.to_owned(),
            }),
    }
}

impl Store {
    /// A page of an account's conversations, newest activity first (C3), `limit` of them
    /// (20 by default, H7; at most 100), after `cursor` if given.
    pub async fn inbox(
        &self,
        tenant_id: &str,
        account: Account<'_>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<InboxPage> {
        let limit = limit
            .unwrap_or(DEFAULT_INBOX_LIMIT)
            .clamp(1, MAX_INBOX_LIMIT);
        let after = cursor.map(decode_cursor).transpose()?;
        let mut session = self.pools.read().await?;
        let connection_id = resolve(&mut session, tenant_id, account).await?;
        // One row more than asked says whether there is a next page.
        let fetch = limit + 1;
        let mut rows: Vec<ConversationRow> = match after {
            None => {
                session
                    .fetch_all(
                        "SELECT id, connection_id, channel_id, customer_id, customer_name,
                                last_activity, snippet, unread_count, state, origin
                         FROM conversations WHERE connection_id = $1
                         ORDER BY last_activity DESC, id DESC LIMIT $2",
                        args![connection_id, fetch],
                    )
                    .await?
            }
            Some((last_activity, id)) => {
                session
                    .fetch_all(
                        "SELECT id, connection_id, channel_id, customer_id, customer_name,
                                last_activity, snippet, unread_count, state, origin
                         FROM conversations
                         WHERE connection_id = $1 AND (last_activity, id) < ($2, $3)
                         ORDER BY last_activity DESC, id DESC LIMIT $4",
                        args![connection_id, last_activity, id, fetch],
                    )
                    .await?
            }
        };
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = more
            .then(|| {
                rows.last()
                    .map(|row| encode_cursor(row.last_activity, row.id))
            })
            .flatten();
        Ok(InboxPage {
            conversations: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    /// The messages of one conversation (by the channel's conversation id), oldest first
    /// (C3).
    pub async fn messages(
        &self,
        tenant_id: &str,
        account: Account<'_>,
        conversation_id: &str,
    ) -> Result<Vec<StoredMessage>> {
        let mut session = self.pools.read().await?;
        let connection_id = resolve(&mut session, tenant_id, account).await?;
        let rows: Vec<MessageRow> = session
            .fetch_all(
                "SELECT id, channel_id, conversation_channel_id, created_at, sender_id,
                        sender_name, sender_role, text, attachments, ad_referral, unavailable,
                        origin
                 FROM messages WHERE connection_id = $1 AND conversation_channel_id = $2
                 ORDER BY created_at, id",
                args![connection_id, conversation_id],
            )
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Whether a conversation (by the channel's id) is stored: H8 decides by it whether a
    /// customer who writes in is a late arrival.
    pub async fn conversation_exists(
        &self,
        tenant_id: &str,
        account: Account<'_>,
        conversation_id: &str,
    ) -> Result<bool> {
        let mut session = self.pools.read().await?;
        let connection_id = resolve(&mut session, tenant_id, account).await?;
        let found: Option<i64> = session
            .scalar(
                "SELECT id FROM conversations WHERE connection_id = $1 AND channel_id = $2",
                args![connection_id, conversation_id],
            )
            .await?;
        Ok(found.is_some())
    }

    /// How many conversations of the account are stored: H6 caps load-more by it.
    pub async fn synced_conversation_count(
        &self,
        tenant_id: &str,
        account: Account<'_>,
    ) -> Result<u32> {
        let mut session = self.pools.read().await?;
        let connection_id = resolve(&mut session, tenant_id, account).await?;
        let count: i64 = session
            .scalar(
                "SELECT COUNT(*) FROM conversations WHERE connection_id = $1",
                args![connection_id],
            )
            .await?
            .unwrap_or(0);
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_position_round_trips_through_a_cursor(
            micros in 0i64..253_402_300_799_000_000,
            id in 0i64..i64::MAX,
        ) {
            let at = DateTime::from_timestamp_micros(micros).unwrap();
            proptest::prop_assert_eq!(decode_cursor(&encode_cursor(at, id)).unwrap(), (at, id));
        }
    }

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        assert_eq!(decode_cursor(&encode_cursor(at, 42)).unwrap(), (at, 42));
        assert!(matches!(
            decode_cursor("%%%"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor(&URL_SAFE_NO_PAD.encode("12")),
            Err(StoreError::InvalidCursor)
        ));
    }
}
