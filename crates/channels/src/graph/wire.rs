//! Graph list envelopes and items, and their translation into the normalized model.
//!
//! Fields are sparse: "if a field has no data, it will not be returned" [M4], so
//! everything but ids and times is optional. Facebook and Instagram name some fields
//! differently (`created_time`/`timestamp`, `message`/`caption`/`text`,
//! `permalink_url`/`permalink`, `name`/`username`); one shape reads both.

use backfill_policy::{
    Attachment, Comment, Conversation, Cursor, Message, Page, Participant, Post, SenderRole,
};
use serde::Deserialize;

use crate::wire::{Id, graph_time, lenient_count, lenient_text};

/// `{data:[...], paging:{cursors:{before,after}, next?, previous?}}` [M5].
#[derive(Debug, Deserialize)]
pub(super) struct Listing<T> {
    data: Vec<T>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    /// A full URL including `access_token`: read for its presence (and, failing a
    /// cursor, its `after` parameter), then dropped. Never stored or logged (B4).
    #[serde(default, deserialize_with = "lenient_text")]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Cursors {
    #[serde(default, deserialize_with = "lenient_text")]
    after: Option<String>,
}

/// Why an item or a page could not be read; names fields, never quotes values.
pub(super) type Malformed = String;

impl<T> Listing<T> {
    /// The page's items, converted, and where it continues.
    ///
    /// The absence of `next` marks the end; a page may be empty and still have `next`
    /// [M5]. Graph cursors continue with the `after` cursor only.
    pub(super) fn into_page<U>(
        self,
        mut convert: impl FnMut(T) -> Result<U, Malformed>,
    ) -> Result<Page<U>, Malformed> {
        let next = next_cursor(self.paging)?;
        let items = self
            .data
            .into_iter()
            .map(&mut convert)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }
}

fn next_cursor(paging: Option<Paging>) -> Result<Option<Cursor>, Malformed> {
    let Some(paging) = paging else {
        return Ok(None);
    };
    let Some(next) = paging.next.filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if let Some(after) = paging
        .cursors
        .and_then(|c| c.after)
        .filter(|a| !a.is_empty())
    {
        return Ok(Some(Cursor::new(after)));
    }
    url::Url::parse(&next)
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .find(|(k, _)| k == "after")
                .map(|(_, v)| v.into_owned())
        })
        .filter(|after| !after.is_empty())
        .map(|after| Some(Cursor::new(after)))
        .ok_or_else(|| "paging.next without an after cursor".to_owned())
}

#[derive(Debug, Deserialize)]
pub(super) struct RawParticipant {
    #[serde(default)]
    id: Option<Id>,
    #[serde(default, deserialize_with = "lenient_text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    username: Option<String>,
}

impl RawParticipant {
    fn into_participant(self) -> Option<Participant> {
        Some(Participant {
            id: self.id?.0,
            name: self.name.or(self.username),
        })
    }
}

#[derive(Debug, Deserialize)]
struct Participants {
    data: Vec<RawParticipant>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawConversation {
    id: Id,
    #[serde(default, deserialize_with = "lenient_text")]
    updated_time: Option<String>,
    #[serde(default)]
    participants: Option<Participants>,
    /// Omitted when zero [R1].
    #[serde(default, deserialize_with = "lenient_count")]
    unread_count: Option<u32>,
    #[serde(default)]
    messages: Option<Listing<RawMessage>>,
}

impl RawConversation {
    /// `nested`: whether the request expanded `messages`; then an absent `messages`
    /// is an empty thread, not an unknown one.
    pub(super) fn into_conversation(
        self,
        owner_id: &str,
        nested: bool,
    ) -> Result<Conversation, Malformed> {
        let id = self.id.0;
        let embedded_messages = match self.messages {
            Some(listing) => Some(listing.into_page(|m| m.into_message(owner_id, &id))?),
            None if nested => Some(Page::last(Vec::new())),
            None => None,
        };
        let newest = embedded_messages.as_ref().and_then(|p| p.items.first());
        let last_activity = match &self.updated_time {
            Some(t) => graph_time(t)
                .ok_or_else(|| format!("conversation {id}: unreadable updated_time"))?,
            None => newest
                .map(|m| m.created_at)
                .ok_or_else(|| format!("conversation {id}: no updated_time"))?,
        };
        let customer = self
            .participants
            .into_iter()
            .flat_map(|p| p.data)
            .filter_map(RawParticipant::into_participant)
            .find(|p| p.id != owner_id);
        Ok(Conversation {
            snippet: newest.and_then(|m| m.text.clone()),
            id,
            last_activity,
            customer,
            unread_count: self.unread_count,
            embedded_messages,
        })
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RawMessage {
    id: Id,
    created_time: String,
    #[serde(default)]
    from: Option<RawParticipant>,
    #[serde(default, deserialize_with = "lenient_text")]
    message: Option<String>,
    #[serde(default)]
    attachments: Option<Attachments>,
}

#[derive(Debug, Deserialize)]
struct Attachments {
    data: Vec<RawAttachment>,
}

#[derive(Debug, Deserialize)]
struct RawAttachment {
    #[serde(default, deserialize_with = "lenient_text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    mime_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    file_url: Option<String>,
    #[serde(default)]
    image_data: Option<Media>,
    #[serde(default)]
    video_data: Option<Media>,
}

#[derive(Debug, Deserialize)]
struct Media {
    #[serde(default, deserialize_with = "lenient_text")]
    url: Option<String>,
}

impl RawMessage {
    pub(super) fn into_message(
        self,
        owner_id: &str,
        conversation_id: &str,
    ) -> Result<Message, Malformed> {
        let id = self.id.0;
        let created_at = graph_time(&self.created_time)
            .ok_or_else(|| format!("message {id}: unreadable created_time"))?;
        // Beyond Instagram's detail depth a message comes back with its id and time
        // only [IG1]: keep it as a placeholder whose sender is unknown.
        let unavailable =
            self.from.is_none() && self.message.is_none() && self.attachments.is_none();
        let from = self.from.and_then(RawParticipant::into_participant);
        let role = from.as_ref().map(|p| {
            if p.id == owner_id {
                SenderRole::Business
            } else {
                SenderRole::Customer
            }
        });
        Ok(Message {
            id,
            conversation_id: conversation_id.to_owned(),
            created_at,
            from,
            role,
            // "empty if none" [M4]: an attachment-only message has no text.
            text: self.message.filter(|t| !t.is_empty()),
            attachments: self
                .attachments
                .map_or_else(Vec::new, |a| a.data.into_iter().map(attachment).collect()),
            ad_referral: None,
            unavailable,
        })
    }
}

fn attachment(raw: RawAttachment) -> Attachment {
    let kind = match (&raw.image_data, &raw.video_data, raw.mime_type.as_deref()) {
        (Some(_), _, _) => "image",
        (_, Some(_), _) => "video",
        (_, _, Some(m)) if m.starts_with("image/") => "image",
        (_, _, Some(m)) if m.starts_with("video/") => "video",
        (_, _, Some(m)) if m.starts_with("audio/") => "audio",
        _ => "file",
    };
    let url = [raw.image_data, raw.video_data]
        .into_iter()
        .flatten()
        .find_map(|m| m.url)
        .or(raw.file_url);
    Attachment {
        kind: kind.to_owned(),
        url,
        name: raw.name,
        mime_type: raw.mime_type,
    }
}

/// A Page post (`created_time`, `message`, `permalink_url`) or an Instagram media item
/// (`timestamp`, `caption`, `permalink`).
#[derive(Debug, Deserialize)]
pub(super) struct RawPost {
    id: Id,
    #[serde(default, alias = "timestamp", deserialize_with = "lenient_text")]
    created_time: Option<String>,
    #[serde(default, alias = "caption", deserialize_with = "lenient_text")]
    message: Option<String>,
    #[serde(default, alias = "permalink", deserialize_with = "lenient_text")]
    permalink_url: Option<String>,
}

impl RawPost {
    pub(super) fn into_post(self) -> Result<Post, Malformed> {
        let id = self.id.0;
        let created_at = self
            .created_time
            .as_deref()
            .and_then(graph_time)
            .ok_or_else(|| format!("post {id}: missing or unreadable time"))?;
        Ok(Post {
            id,
            created_at,
            text: self.message.filter(|t| !t.is_empty()),
            permalink: self.permalink_url,
        })
    }
}

/// A Page comment (`created_time`, `from{id,name}`, `message`, `parent{id}`) or an
/// Instagram comment (`timestamp`, `from{id,username}`, `username`, `text`).
#[derive(Debug, Deserialize)]
pub(super) struct RawComment {
    id: Id,
    #[serde(default, alias = "timestamp", deserialize_with = "lenient_text")]
    created_time: Option<String>,
    #[serde(default)]
    from: Option<RawParticipant>,
    #[serde(default, deserialize_with = "lenient_text")]
    username: Option<String>,
    #[serde(default, alias = "text", deserialize_with = "lenient_text")]
    message: Option<String>,
    #[serde(default)]
    parent: Option<Parent>,
}

#[derive(Debug, Deserialize)]
struct Parent {
    id: Id,
}

impl RawComment {
    pub(super) fn into_comment(self, post_id: &str) -> Result<Comment, Malformed> {
        let id = self.id.0;
        let created_at = self
            .created_time
            .as_deref()
            .and_then(graph_time)
            .ok_or_else(|| format!("comment {id}: missing or unreadable time"))?;
        let username = self.username;
        let from = self
            .from
            .and_then(RawParticipant::into_participant)
            .map(|mut p| {
                p.name = p.name.or(username);
                p
            });
        Ok(Comment {
            id,
            post_id: post_id.to_owned(),
            parent_id: self.parent.map(|p| p.id.0),
            created_at,
            from,
            text: self.message.filter(|t| !t.is_empty()),
        })
    }
}
