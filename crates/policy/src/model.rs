//! The normalized model: what every connector produces and the store keeps.
//!
//! Each channel names things its own way (`updated_time`, `last_message_timestamp`,
//! `time` in milliseconds, ids above 2^53). The connectors translate to these types at
//! the boundary, so the planner and the store see one shape. Ids are always the
//! channel's own ids, as strings: uniqueness on them is what makes every write
//! idempotent (C5).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An opaque position in a channel listing (a Graph `after` cursor, a Zalo offset, a
/// Shopee `next_timestamp_nano` or `next_offset`). Only the connector that produced it
/// reads it. It is stored in a step's payload, never logged with a request URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    pub fn new(position: impl Into<String>) -> Self {
        Self(position.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of a listing as the channel returned it, in the channel's order.
///
/// `next` is `None` only when the channel said the listing ended. An empty page with a
/// `next` is legal on Graph [M5] and does not end the walk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    pub fn last(items: Vec<T>) -> Self {
        Self { items, next: None }
    }

    pub fn is_last(&self) -> bool {
        self.next.is_none()
    }
}

/// A person or business on the other end of a message or comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: String,
    /// Display name or username; channels omit it for some senders.
    pub name: Option<String>,
}

/// Who wrote a message, from the merchant's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderRole {
    /// The customer (PSID, IGSID, Zalo user, Shopee buyer).
    Customer,
    /// The connected account itself (the Page, the OA, the shop).
    Business,
}

/// A conversation (thread) with one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Graph thread id (`t_...`), Zalo user id, or Shopee `conversation_id`.
    pub id: String,
    /// The channel's own activity time, which orders the inbox (C3).
    pub last_activity: DateTime<Utc>,
    pub customer: Option<Participant>,
    /// Text of the newest message, where the channel lists it.
    pub snippet: Option<String>,
    /// The channel's unread count; absent means none (Graph omits zero [R1]).
    pub unread_count: Option<u32>,
    /// The first page of messages, newest first, when the connector asked for it by
    /// nested expansion in the same call (`messages.limit(n){...}` on Graph). Saves one
    /// call per conversation.
    pub embedded_messages: Option<Page<Message>>,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub created_at: DateTime<Utc>,
    /// The sender; unknown for an unavailable placeholder.
    pub from: Option<Participant>,
    /// Who wrote it; unknown for an unavailable placeholder.
    pub role: Option<SenderRole>,
    /// Text; `None` for a message that carries only attachments or a sticker.
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    /// The ad this message came from (C8). Meta's Conversations API does not return
    /// it (webhook-only [M12]), so for Meta it is normally `None`.
    pub ad_referral: Option<AdReferral>,
    /// The channel lists this message but no longer gives its details (Instagram's
    /// 20-message detail depth [IG1]). Stored as a placeholder with id and time.
    pub unavailable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// `image`, `video`, `audio`, `file`, `sticker`, `link`, `item`, `order`...
    pub kind: String,
    pub url: Option<String>,
    pub name: Option<String>,
    pub mime_type: Option<String>,
}

/// Click-to-Messenger / ad attribution of a message (C8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdReferral {
    pub ad_id: Option<String>,
    pub source: Option<String>,
    pub ad_title: Option<String>,
    pub post_id: Option<String>,
}

/// A post of a Page or a media item of an Instagram account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub text: Option<String>,
    pub permalink: Option<String>,
}

/// A comment on a post, or a reply to a comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub post_id: String,
    /// The comment this one replies to, if any.
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub from: Option<Participant>,
    pub text: Option<String>,
}

/// Whether a Zalo customer follows the Official Account (H5 decides how many
/// messages of theirs are synced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowerStatus {
    pub user_id: String,
    pub follower: bool,
}
