//! Graph JSON of every node and edge the simulator serves. Fields are sparse [M4, R1]: only
//! what was asked for (plus `id`), and a field with no data is left out rather than sent as
//! `null` or `0` (`unread_count`, `is_unsupported`, `attachments`, ...). A field the node
//! does not have is a `(#100)` error, as on Graph.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::fields::{self, Field};
use super::paging::{Cursor, Edge, PageRequest, Quirks, Window};
use super::{GraphError, Links};
use crate::Channel;
use crate::dataset::{
    Account, AttachmentKind, Comment, Conversation, Dataset, MediaType, Message, MessageKind, Post,
    Sender,
};
use crate::settings::{EdgeLimit, GraphSettings, OverMax};

/// Everything rendering needs to know about the call.
pub(super) struct Ctx<'a> {
    pub dataset: &'a Dataset,
    pub settings: &'a GraphSettings,
    pub channel: Channel,
    pub account: &'a Account,
    pub links: Links<'a>,
}

/// Node types, for field validation and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Node {
    Page,
    InstagramUser,
    Conversation,
    Message,
    Post,
    Media,
    Comment,
    InstagramComment,
}

impl Node {
    fn name(self) -> &'static str {
        match self {
            Node::Page => "Page",
            Node::InstagramUser => "User",
            Node::Conversation => "Conversation",
            Node::Message => "Message",
            Node::Post => "Post",
            Node::Media => "Media",
            Node::Comment => "Comment",
            Node::InstagramComment => "IGComment",
        }
    }

    fn known(self) -> &'static [&'static str] {
        match self {
            Node::Page => &["id", "name", "category", "link", "username"],
            Node::InstagramUser => &[
                "id",
                "user_id",
                "username",
                "name",
                "account_type",
                "profile_picture_url",
                "followers_count",
                "follows_count",
                "media_count",
            ],
            Node::Conversation => &[
                "id",
                "updated_time",
                "participants",
                "senders",
                "messages",
                "message_count",
                "unread_count",
                "snippet",
                "link",
                "can_reply",
                "is_subscribed",
                "is_owner",
                "former_participants",
                "subject",
                "name",
                "tags",
            ],
            Node::Message => &[
                "id",
                "created_time",
                "from",
                "to",
                "message",
                "attachments",
                "shares",
                "story",
                "sticker",
                "reactions",
                "tags",
                "is_unsupported",
                "reply_to",
            ],
            Node::Post => &[
                "id",
                "created_time",
                "updated_time",
                "message",
                "story",
                "from",
                "is_published",
                "permalink_url",
                "full_picture",
                "status_type",
                "comments",
            ],
            Node::Media => &[
                "id",
                "caption",
                "media_type",
                "media_url",
                "thumbnail_url",
                "permalink",
                "timestamp",
                "username",
                "comments_count",
                "like_count",
                "comments",
                "media_product_type",
                "is_comment_enabled",
                "owner",
            ],
            Node::Comment => &[
                "id",
                "created_time",
                "from",
                "message",
                "parent",
                "like_count",
                "comment_count",
                "permalink_url",
                "can_comment",
                "is_hidden",
                "attachment",
                "message_tags",
                "user_likes",
                "comments",
            ],
            Node::InstagramComment => &[
                "id",
                "text",
                "timestamp",
                "username",
                "from",
                "like_count",
                "replies",
                "parent_id",
                "hidden",
                "media",
            ],
        }
    }

    /// The node type inside a connection field, if the field is one.
    fn connection(self, field: &str) -> Option<Node> {
        match (self, field) {
            (Node::Conversation, "messages") => Some(Node::Message),
            (Node::Post, "comments") | (Node::Comment, "comments") => Some(Node::Comment),
            (Node::Media, "comments") | (Node::InstagramComment, "replies") => {
                Some(Node::InstagramComment)
            }
            _ => None,
        }
    }

    /// Fields served when the request names none [M1]: `id` plus the node's time.
    pub(super) fn default_fields(self) -> Vec<Field> {
        let names: &[&str] = match self {
            Node::Page | Node::InstagramUser => &["id", "name"],
            Node::Conversation => &["id", "updated_time"],
            Node::Message => &["id", "created_time"],
            Node::Post => &["id", "created_time", "message"],
            Node::Media => &["id"],
            Node::Comment => &["id", "created_time", "from", "message"],
            Node::InstagramComment => &["id", "text", "timestamp"],
        };
        names.iter().map(|n| plain(n)).collect()
    }

    /// Checks every requested field, nested lists included, before anything is rendered.
    pub(super) fn validate(self, fields: &[Field]) -> Result<(), GraphError> {
        for field in fields {
            if !self.known().contains(&field.name.as_str()) {
                return Err(GraphError::param(format!(
                    "(#100) Tried accessing nonexisting field ({}) on node type ({})",
                    field.name,
                    self.name()
                )));
            }
            if let (Some(inner), Some(children)) = (self.connection(&field.name), &field.children) {
                inner.validate(children)?;
            }
        }
        Ok(())
    }
}

fn plain(name: &str) -> Field {
    Field {
        name: name.to_owned(),
        modifiers: Vec::new(),
        children: None,
    }
}

/// The `fields` of a request, or the node's defaults.
pub(super) fn requested(raw: Option<&str>, node: Node) -> Result<Vec<Field>, GraphError> {
    let fields = match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => fields::parse(raw).map_err(|e| GraphError::param(format!("(#100) {e}")))?,
        None => node.default_fields(),
    };
    node.validate(&fields)?;
    Ok(fields)
}

pub(super) fn graph_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%z").to_string()
}

/// `limit` after the edge's rules: absent → default, above max → capped or refused.
pub(super) fn limit_of(
    raw: Option<&str>,
    rule: EdgeLimit,
    edge: &str,
) -> Result<usize, GraphError> {
    let Some(raw) = raw else {
        return Ok(rule.default as usize);
    };
    let n: u32 = raw.trim().parse().map_err(|_| {
        GraphError::param(format!(
            "(#100) Param limit must be a non-negative integer, got \"{raw}\""
        ))
    })?;
    if n > rule.max {
        return match rule.over_max {
            OverMax::Cap => Ok(rule.max as usize),
            OverMax::Reject => Err(GraphError::param(format!(
                "(#100) The limit on the {edge} edge cannot exceed {}; requested {n}",
                rule.max
            ))),
        };
    }
    Ok(n as usize)
}

/// `after`/`before` of a request, checked against the edge they must belong to.
pub(super) fn page_request(
    edge: &Edge,
    limit: usize,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<PageRequest, GraphError> {
    let decode = |name: &str, raw: Option<&str>| -> Result<Option<Cursor>, GraphError> {
        raw.map(|text| {
            edge.decode(text).ok_or_else(|| {
                GraphError::param(format!(
                    "(#100) The {name} cursor is not valid for this edge"
                ))
            })
        })
        .transpose()
    };
    Ok(PageRequest {
        limit,
        after: decode("after", after)?,
        before: decode("before", before)?,
    })
}

impl Ctx<'_> {
    fn quirks(&self) -> Quirks {
        Quirks {
            empty_rate: self.settings.empty_page_rate,
            short_rate: self.settings.short_page_rate,
        }
    }

    /// `{data, paging}` for one window of a list. `url` builds `next`/`previous` from a
    /// cursor parameter; lists with no items at all carry no paging, as on Graph.
    pub(super) fn page(
        &self,
        edge: &Edge,
        total: usize,
        request: PageRequest,
        mut item: impl FnMut(usize) -> Result<Value, GraphError>,
        url: impl Fn(&str, String) -> String,
    ) -> Result<Map<String, Value>, GraphError> {
        let window = edge.window(total, request, self.quirks());
        let data = (window.start..window.end)
            .map(&mut item)
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Map::new();
        out.insert("data".into(), Value::Array(data));
        if total > 0 && request.limit > 0 {
            out.insert("paging".into(), paging(edge, window, url));
        }
        Ok(out)
    }

    fn person(
        &self,
        id: &str,
        name: &str,
        username: Option<&str>,
        pick: Option<&[Field]>,
    ) -> Value {
        let mut out = Map::new();
        if self.channel == Channel::Instagram {
            out.insert("username".into(), json!(username.unwrap_or(name)));
        } else {
            out.insert("name".into(), json!(name));
            out.insert("email".into(), json!(format!("{id}@facebook.com")));
        }
        out.insert("id".into(), json!(id));
        if let Some(pick) = pick {
            out.retain(|k, _| k == "id" || pick.iter().any(|f| &f.name == k));
        }
        Value::Object(out)
    }

    fn customer_of(&self, conversation: &Conversation, pick: Option<&[Field]>) -> Value {
        let c = &conversation.customer;
        self.person(&c.id, &c.name, c.username.as_deref(), pick)
    }

    fn business(&self, pick: Option<&[Field]>) -> Value {
        let a = self.account;
        self.person(&a.id, &a.name, a.username.as_deref(), pick)
    }

    pub(super) fn account_node(&self, fields: &[Field]) -> Value {
        let a = self.account;
        let mut out = Map::new();
        out.insert("id".into(), json!(a.id));
        for field in fields {
            let value = match field.name.as_str() {
                "name" => json!(a.name),
                "username" | "user_id" if self.channel == Channel::Instagram => {
                    if field.name == "username" {
                        json!(a.username)
                    } else {
                        json!(a.id)
                    }
                }
                "category" => json!("Clothing (Brand)"),
                "link" => json!(format!("https://www.facebook.sim.invalid/{}", a.id)),
                "account_type" => json!("BUSINESS"),
                "profile_picture_url" => json!(a.avatar_url),
                "followers_count" => json!(1_000 + a.conversations.len() * 7),
                "follows_count" => json!(120),
                "media_count" => json!(a.posts.len()),
                _ => continue,
            };
            out.insert(field.name.clone(), value);
        }
        Value::Object(out)
    }

    /// One conversation; `messages` nested as a connection.
    pub(super) fn conversation(
        &self,
        c: &Conversation,
        fields: &[Field],
    ) -> Result<Value, GraphError> {
        let mut out = Map::new();
        out.insert("id".into(), json!(c.id));
        for field in fields {
            let pick = field.children.as_deref();
            let value = match field.name.as_str() {
                "updated_time" => json!(graph_time(c.last_activity)),
                "participants" | "senders" => {
                    json!({ "data": [self.customer_of(c, pick), self.business(pick)] })
                }
                "messages" => Value::Object(self.messages_connection(c, field)?),
                "message_count" => json!(c.message_count),
                "unread_count" if c.unread_count > 0 => json!(c.unread_count),
                "snippet" => match c.message_by_rank(0).and_then(|m| m.text) {
                    Some(text) => json!(text.chars().take(100).collect::<String>()),
                    None => continue,
                },
                "link" if self.channel == Channel::Facebook => {
                    json!(format!("/{}/inbox/{}", self.account.id, c.customer.id))
                }
                "can_reply" => {
                    json!(self.dataset.now() - c.last_activity < chrono::Duration::days(7))
                }
                "is_subscribed" | "is_owner" => json!(true),
                _ => continue,
            };
            out.insert(field.name.clone(), value);
        }
        Ok(Value::Object(out))
    }

    /// Whether message `rank` (0 = newest) still has details [M1, M3, M4].
    pub(super) fn detailed(&self, rank: u32) -> bool {
        let depth = match self.channel {
            Channel::Instagram => self.settings.instagram_detail_depth,
            _ => self.settings.facebook_detail_depth,
        };
        depth.is_none_or(|d| rank < d)
    }

    /// `messages{...}.limit(n)` inside a conversation; `next` leads to `/{id}/messages`.
    fn messages_connection(
        &self,
        c: &Conversation,
        field: &Field,
    ) -> Result<Map<String, Value>, GraphError> {
        let limit = limit_of(
            field.modifier("limit"),
            self.settings.messages_limit,
            "messages",
        )?;
        let children = field
            .children
            .clone()
            .unwrap_or_else(|| Node::Message.default_fields());
        let edge = Edge::new(self.dataset.seed(), "messages", &c.id);
        let request = page_request(
            &edge,
            limit,
            field.modifier("after"),
            field.modifier("before"),
        )?;
        let fields_param = fields::Display(&children).to_string();
        self.page(
            &edge,
            c.message_count as usize,
            request,
            |rank| self.message_in_list(c, rank as u32, &children),
            |cursor, value| {
                let params = [
                    ("fields", fields_param.clone()),
                    ("limit", limit.to_string()),
                    (cursor, value),
                ];
                self.links.url(&format!("{}/messages", c.id), &params)
            },
        )
    }

    /// A message inside a list: older than the detail depth, only `id` and `created_time`.
    pub(super) fn message_in_list(
        &self,
        c: &Conversation,
        rank: u32,
        fields: &[Field],
    ) -> Result<Value, GraphError> {
        let message = c
            .message_by_rank(rank)
            .expect("the window stays inside the conversation");
        if !self.detailed(rank) {
            return Ok(json!({ "id": message.id, "created_time": graph_time(message.created_at) }));
        }
        Ok(self.message(c, &message, fields))
    }

    pub(super) fn message(&self, c: &Conversation, m: &Message, fields: &[Field]) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(m.id));
        let (from, to) = match m.sender {
            Sender::Customer => (self.customer_of(c, None), self.business(None)),
            Sender::Business => (self.business(None), self.customer_of(c, None)),
        };
        for field in fields {
            let value = match field.name.as_str() {
                "created_time" => json!(graph_time(m.created_at)),
                "from" => pick(from.clone(), field.children.as_deref()),
                "to" => json!({ "data": [pick(to.clone(), field.children.as_deref())] }),
                // "message: text; empty if none" [M4].
                "message" => json!(m.text.clone().unwrap_or_default()),
                "attachments" => match self.attachments(m) {
                    Some(data) => json!({ "data": data }),
                    None => continue,
                },
                "shares" => match &m.kind {
                    // Only the image or video URL of a share is returned [M1].
                    MessageKind::Share { url } => json!({ "data": [{ "link": url }] }),
                    _ => continue,
                },
                "story" => match &m.kind {
                    MessageKind::StoryReply { story_id, url } => {
                        json!({ "link": url, "id": story_id })
                    }
                    _ => continue,
                },
                "sticker" => match &m.kind {
                    MessageKind::Sticker { url, .. } => json!(url),
                    _ => continue,
                },
                "reactions" => match &m.reaction {
                    Some(reaction) => {
                        let reactor = match m.sender {
                            Sender::Customer => self.business(None),
                            Sender::Business => self.customer_of(c, None),
                        };
                        json!({ "data": [{ "reaction": reaction, "users": [reactor] }] })
                    }
                    None => continue,
                },
                "tags" => {
                    let first = if m.sender == Sender::Customer {
                        "inbox"
                    } else {
                        "sent"
                    };
                    json!({ "data": [{ "name": first }, { "name": "source:chat" }] })
                }
                "is_unsupported" if m.kind == MessageKind::Unsupported => json!(true),
                "reply_to" => match m.reply_to {
                    Some(index) => json!({
                        "mid": c.message_id(index),
                        "is_self_reply": c.sender_at(index) == m.sender,
                    }),
                    None => continue,
                },
                _ => continue,
            };
            out.insert(field.name.clone(), value);
        }
        Value::Object(out)
    }

    fn attachments(&self, m: &Message) -> Option<Vec<Value>> {
        if let MessageKind::Sticker {
            sticker_id, url, ..
        } = &m.kind
        {
            return Some(vec![json!({
                "id": sticker_id.to_string(),
                "image_data": { "url": url, "preview_url": url, "width": 240, "height": 240,
                                "max_width": 240, "max_height": 240, "render_as_sticker": true },
            })]);
        }
        if m.attachments.is_empty() {
            return None;
        }
        let data = m
            .attachments
            .iter()
            .map(|a| {
                let mut out = json!({ "id": a.id, "mime_type": a.mime_type, "name": a.name, "size": a.size });
                let extra = match a.kind {
                    AttachmentKind::Image => json!({ "image_data": {
                        "url": a.url, "preview_url": a.preview_url, "width": a.width, "height": a.height,
                        "max_width": a.width, "max_height": a.height } }),
                    AttachmentKind::Video => json!({ "video_data": {
                        "url": a.url, "preview_url": a.preview_url, "width": a.width, "height": a.height } }),
                    AttachmentKind::File => json!({ "file_url": a.url }),
                };
                merge(&mut out, extra);
                out
            })
            .collect();
        Some(data)
    }

    pub(super) fn post(&self, p: &Post, fields: &[Field]) -> Result<Value, GraphError> {
        let mut out = Map::new();
        out.insert("id".into(), json!(p.id));
        for field in fields {
            let value = match field.name.as_str() {
                "created_time" => json!(graph_time(p.created_at)),
                "updated_time" => json!(graph_time(
                    p.comments.last().map_or(p.created_at, |c| c.created_at)
                )),
                "message" => json!(p.text),
                "from" => json!({ "name": p.author.name, "id": p.author.id }),
                "is_published" => json!(p.is_published),
                "permalink_url" => json!(p.permalink),
                "full_picture" => match &p.media {
                    Some(media) => json!(media.url),
                    None => continue,
                },
                "status_type" => json!(match p.media.as_ref().map(|m| m.media_type) {
                    Some(MediaType::Video) => "added_video",
                    Some(_) => "added_photos",
                    None => "mobile_status_update",
                }),
                "comments" => Value::Object(self.comments_connection(p, None, field)?),
                _ => continue,
            };
            out.insert(field.name.clone(), value);
        }
        Ok(Value::Object(out))
    }

    pub(super) fn media(&self, p: &Post, fields: &[Field]) -> Result<Value, GraphError> {
        let mut out = Map::new();
        out.insert("id".into(), json!(p.id));
        let media = p.media.as_ref();
        for field in fields {
            let value = match field.name.as_str() {
                "caption" => json!(p.text),
                "media_type" => json!(media.map(|m| m.media_type)),
                "media_url" => json!(media.map(|m| &m.url)),
                "thumbnail_url" => match media {
                    Some(m) if m.media_type == MediaType::Video => {
                        json!(m.url.replace(".jpg", "_thumb.jpg"))
                    }
                    _ => continue,
                },
                "permalink" => json!(p.permalink),
                "timestamp" => json!(graph_time(p.created_at)),
                "username" => json!(self.account.username),
                "comments_count" => json!(p.comments.len()),
                "like_count" => json!(p.comments.len() * 3 + 5),
                "comments" => Value::Object(self.comments_connection(p, None, field)?),
                "media_product_type" => json!("FEED"),
                "is_comment_enabled" => json!(true),
                "owner" => json!({ "id": self.account.id }),
                _ => continue,
            };
            out.insert(field.name.clone(), value);
        }
        Ok(Value::Object(out))
    }

    /// The comments of a post, or the replies of a comment, in the order the edge serves
    /// them: FB `filter`/`order` [M11]; IG top-level only, newest first [IG2].
    pub(super) fn comment_list<'p>(
        &self,
        post: &'p Post,
        parent: Option<&'p Comment>,
        options: CommentOptions,
    ) -> Vec<&'p Comment> {
        let mut list: Vec<&Comment> = match parent {
            Some(parent) => post.replies_to(&parent.id).collect(),
            None if options.stream => post.comments.iter().collect(),
            None => post.top_level_comments().collect(),
        };
        if options.reverse {
            list.reverse();
        }
        list
    }

    pub(super) fn comment_options(
        &self,
        parent: bool,
        filter: Option<&str>,
        order: Option<&str>,
    ) -> Result<CommentOptions, GraphError> {
        if self.channel == Channel::Instagram {
            // Replies come oldest first; top-level comments newest first [IG2].
            return Ok(CommentOptions {
                stream: false,
                reverse: !parent,
            });
        }
        let stream = match filter {
            None | Some("toplevel") => false,
            Some("stream") => true,
            Some(other) => {
                return Err(GraphError::param(format!(
                    "(#100) param filter must be one of {{toplevel, stream}} - got \"{other}\""
                )));
            }
        };
        let reverse = match order {
            None | Some("chronological") => false,
            Some("reverse_chronological") => true,
            Some(other) => {
                return Err(GraphError::param(format!(
                    "(#100) param order must be one of {{chronological, reverse_chronological}} - got \"{other}\""
                )));
            }
        };
        Ok(CommentOptions { stream, reverse })
    }

    pub(super) fn comment_limit(&self) -> EdgeLimit {
        match self.channel {
            Channel::Instagram => self.settings.instagram_comments_limit,
            _ => self.settings.comments_limit,
        }
    }

    /// `summary` of FB comment lists [M11]; Instagram has none.
    pub(super) fn comment_summary(&self, options: CommentOptions, total: usize) -> Option<Value> {
        (self.channel == Channel::Facebook).then(|| {
            json!({
                "order": if options.reverse { "reverse_chronological" } else { "chronological" },
                "total_count": total,
                "can_comment": true,
            })
        })
    }

    /// `comments{...}` inside a post, media or comment (or IG `replies{...}`).
    fn comments_connection(
        &self,
        post: &Post,
        parent: Option<&Comment>,
        field: &Field,
    ) -> Result<Map<String, Value>, GraphError> {
        let options = self.comment_options(
            parent.is_some(),
            field.modifier("filter"),
            field.modifier("order"),
        )?;
        let list = self.comment_list(post, parent, options);
        let limit = limit_of(field.modifier("limit"), self.comment_limit(), "comments")?;
        let node = if self.channel == Channel::Instagram {
            Node::InstagramComment
        } else {
            Node::Comment
        };
        let children = field
            .children
            .clone()
            .unwrap_or_else(|| node.default_fields());
        let object = parent.map_or(&post.id, |c| &c.id);
        let edge_name = if self.channel == Channel::Instagram && parent.is_some() {
            "replies"
        } else {
            "comments"
        };
        let edge = Edge::new(self.dataset.seed(), edge_name, object);
        let request = page_request(
            &edge,
            limit,
            field.modifier("after"),
            field.modifier("before"),
        )?;
        let summary = matches!(field.modifier("summary"), Some("true" | "1"));
        let fields_param = fields::Display(&children).to_string();
        let mut out = self.page(
            &edge,
            list.len(),
            request,
            |i| self.comment(post, list[i], &children),
            |cursor, value| {
                let mut params = vec![
                    ("fields", fields_param.clone()),
                    ("limit", limit.to_string()),
                ];
                for name in ["filter", "order"] {
                    if let Some(v) = field.modifier(name) {
                        params.push((name, v.to_owned()));
                    }
                }
                if summary {
                    params.push(("summary", "true".into()));
                }
                params.push((cursor, value));
                self.links.url(&format!("{object}/{edge_name}"), &params)
            },
        )?;
        if summary && let Some(summary) = self.comment_summary(options, list.len()) {
            out.insert("summary".into(), summary);
        }
        Ok(out)
    }

    pub(super) fn comment(
        &self,
        post: &Post,
        c: &Comment,
        fields: &[Field],
    ) -> Result<Value, GraphError> {
        let mut out = Map::new();
        out.insert("id".into(), json!(c.id));
        let instagram = self.channel == Channel::Instagram;
        for field in fields {
            let value = match field.name.as_str() {
                "created_time" => json!(graph_time(c.created_at)),
                "timestamp" => json!(graph_time(c.created_at)),
                "message" | "text" => json!(c.text),
                "from" if instagram => json!({ "id": c.author.id, "username": c.author.username }),
                "from" => json!({ "name": c.author.name, "id": c.author.id }),
                "username" => json!(c.author.username),
                "parent" => match c
                    .parent_id
                    .as_deref()
                    .and_then(|id| post.comments.iter().find(|p| p.id == id))
                {
                    Some(parent) => json!({
                        "created_time": graph_time(parent.created_at),
                        "from": { "name": parent.author.name, "id": parent.author.id },
                        "message": parent.text,
                        "id": parent.id,
                    }),
                    None => continue,
                },
                "parent_id" => match &c.parent_id {
                    Some(id) => json!(id),
                    None => continue,
                },
                "like_count" => json!(c.like_count),
                "comment_count" => json!(post.replies_to(&c.id).count()),
                "permalink_url" => json!(format!("{}?comment_id={}", post.permalink, c.id)),
                "can_comment" => json!(c.parent_id.is_none()),
                "is_hidden" | "hidden" | "user_likes" => json!(false),
                "media" => json!({ "id": post.id }),
                "comments" | "replies" if c.parent_id.is_none() => {
                    Value::Object(self.comments_connection(post, Some(c), field)?)
                }
                _ => continue,
            };
            out.insert(field.name.clone(), value);
        }
        Ok(Value::Object(out))
    }
}

/// How a comment edge orders and filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CommentOptions {
    pub stream: bool,
    pub reverse: bool,
}

fn paging(edge: &Edge, window: Window, url: impl Fn(&str, String) -> String) -> Value {
    let before = edge.encode(Cursor {
        pos: window.start,
        hop: 0,
    });
    let after = edge.encode(Cursor {
        pos: window.end,
        hop: window.after_hop,
    });
    let mut out = Map::new();
    out.insert(
        "cursors".into(),
        json!({ "before": before, "after": after }),
    );
    if window.has_next {
        out.insert("next".into(), json!(url("after", after)));
    }
    if window.start > 0 {
        out.insert("previous".into(), json!(url("before", before)));
    }
    Value::Object(out)
}

fn pick(value: Value, keep: Option<&[Field]>) -> Value {
    match (value, keep) {
        (Value::Object(mut map), Some(keep)) => {
            map.retain(|k, _| k == "id" || keep.iter().any(|f| &f.name == k));
            Value::Object(map)
        }
        (value, _) => value,
    }
}

fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(into), Value::Object(extra)) = (into, extra) {
        into.extend(extra);
    }
}
