//! Facebook Pages and Instagram (Instagram API with Instagram Login) on the Graph API.
//!
//! Both speak the same envelope, paging and errors [M5, M8]; they differ in host,
//! field names and edges, which [`GraphClient`] keeps per channel. The token travels in
//! an `Authorization: Bearer` header [§1 "Base URL"], so no URL the client builds holds
//! it; the `paging.next` links Graph returns do, which is why only the `after` cursor is
//! kept from them [M5].

mod error;
mod wire;

use backfill_policy::{Channel, Cursor, Fetched, Page};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use self::error::{GraphError, Verdict};
use self::wire::{Listing, RawComment, RawConversation, RawMessage, RawPost};
use crate::http::{Answer, Transport, malformed, status_outcome};
use crate::outcome::{CallResult, Outcome};
use crate::redact::Redactor;
use crate::usage::UsageReading;

/// Page-size maxima of one Graph channel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GraphLimits {
    pub conversations: u32,
    pub messages: u32,
    pub posts: u32,
    pub comments: u32,
    /// Conversations times nested messages per listing call.
    pub nested_expansion: u32,
}

/// The client of one Graph channel: Facebook or Instagram.
#[derive(Debug, Clone)]
pub struct GraphClient {
    channel: Channel,
    transport: Transport,
    /// Base URL with the version segment, e.g. `https://graph.facebook.com/v25.0`.
    root: Url,
    limits: GraphLimits,
    reduce_data_retries: u32,
}

/// Which edge a call reads, with what its items need to be normalized.
#[derive(Debug, Clone, Copy)]
enum Edge<'a> {
    Conversations {
        owner_id: &'a str,
        nested: Option<u32>,
    },
    Messages {
        owner_id: &'a str,
        conversation_id: &'a str,
    },
    Message {
        owner_id: &'a str,
        conversation_id: &'a str,
        message_id: &'a str,
    },
    Posts {
        owner_id: &'a str,
    },
    Comments {
        post_id: &'a str,
    },
}

impl GraphClient {
    pub(crate) fn new(
        channel: Channel,
        transport: Transport,
        root: Url,
        limits: GraphLimits,
        reduce_data_retries: u32,
    ) -> Self {
        Self {
            channel,
            transport,
            root,
            limits,
            reduce_data_retries,
        }
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// One page of the account's conversations, newest activity first, each with its
    /// newest `nested_messages` messages expanded in the same call when asked
    /// (`messages.limit(n){...}`): one call instead of one per conversation.
    ///
    /// `owner_id` is the Page id or Instagram user id; it tells the customer among the
    /// participants and the business's own messages. `limit` and `nested_messages` are
    /// clamped to the configured maxima.
    pub async fn list_conversations(
        &self,
        token: &SecretString,
        owner_id: &str,
        after: Option<&Cursor>,
        limit: u32,
        nested_messages: Option<u32>,
    ) -> CallResult {
        let nested = nested_messages.map(|n| clamp(n, self.limits.messages));
        let mut limit = clamp(limit, self.limits.conversations);
        if let Some(n) = nested {
            // Ask for no more than Graph expands in one call, rather than be refused with
            // code 1 and spend a second call on one rate-limit token.
            limit = limit.min((self.limits.nested_expansion / n).max(1));
        }
        let edge = Edge::Conversations { owner_id, nested };
        self.fetch(token, edge, after, limit).await
    }

    /// One page of a conversation's messages, newest first.
    pub async fn list_messages(
        &self,
        token: &SecretString,
        owner_id: &str,
        conversation_id: &str,
        after: Option<&Cursor>,
        limit: u32,
    ) -> CallResult {
        let edge = Edge::Messages {
            owner_id,
            conversation_id,
        };
        self.fetch(token, edge, after, clamp(limit, self.limits.messages))
            .await
    }

    /// The details of one message (`GET /{message-id}`), as a one-item last page.
    /// Beyond Instagram's detail depth this answers "the message has been deleted",
    /// which is [`Outcome::Unavailable`] [IG1, M1].
    pub async fn message_detail(
        &self,
        token: &SecretString,
        owner_id: &str,
        conversation_id: &str,
        message_id: &str,
    ) -> CallResult {
        let edge = Edge::Message {
            owner_id,
            conversation_id,
            message_id,
        };
        self.fetch(token, edge, None, 1).await
    }

    /// One page of the Page's posts (Instagram: the account's media), newest first.
    pub async fn list_posts(
        &self,
        token: &SecretString,
        owner_id: &str,
        after: Option<&Cursor>,
        limit: u32,
    ) -> CallResult {
        self.fetch(
            token,
            Edge::Posts { owner_id },
            after,
            clamp(limit, self.limits.posts),
        )
        .await
    }

    /// One page of a post's (media item's) comments, newest first. Facebook lists all
    /// levels (`filter=stream`) [M11]; Instagram lists top-level comments, which is all
    /// its edge gives [IG2].
    pub async fn list_comments(
        &self,
        token: &SecretString,
        post_id: &str,
        after: Option<&Cursor>,
        limit: u32,
    ) -> CallResult {
        self.fetch(
            token,
            Edge::Comments { post_id },
            after,
            clamp(limit, self.limits.comments),
        )
        .await
    }

    /// Sends the request, and on code 1 "reduce the amount of data" sends it again with
    /// half the page size and half the nested expansion, a bounded number of times.
    async fn fetch(
        &self,
        token: &SecretString,
        mut edge: Edge<'_>,
        after: Option<&Cursor>,
        mut limit: u32,
    ) -> CallResult {
        let redactor = Redactor::new([token]);
        let op = self.op(edge);
        let mut http_calls = 0;
        let mut usage: Option<UsageReading> = None;
        let mut retries_left = self.reduce_data_retries;
        let outcome = loop {
            let request = self
                .transport
                .client()
                .get(self.url(edge, after, limit))
                .bearer_auth(token.expose_secret());
            http_calls += 1;
            let answer = match self.transport.send(request, &op, &redactor).await {
                Ok(answer) => answer,
                Err(outcome) => break outcome,
            };
            usage = answer.usage().or(usage);
            match self.interpret(&op, edge, &answer, &redactor) {
                Verdict::Final(outcome) => break outcome,
                Verdict::AskForLess(reason) => {
                    let nested = match edge {
                        Edge::Conversations { nested, .. } => nested.unwrap_or(1),
                        _ => 1,
                    };
                    if retries_left == 0 || (limit == 1 && nested == 1) {
                        break Outcome::Transient(format!(
                            "{reason} (still too much after {} smaller requests)",
                            http_calls - 1
                        ));
                    }
                    retries_left -= 1;
                    limit = (limit / 2).max(1);
                    if let Edge::Conversations {
                        nested: Some(n), ..
                    } = &mut edge
                    {
                        *n = (*n / 2).max(1);
                    }
                    tracing::debug!(op, limit, "Graph asked for less data; asking again");
                }
            }
        };
        let outcome = outcome.redacted(&redactor);
        tracing::debug!(
            op,
            outcome = outcome.class(),
            http_calls,
            "Graph call finished"
        );
        CallResult {
            outcome,
            usage,
            http_calls,
        }
    }

    fn interpret(
        &self,
        op: &str,
        edge: Edge<'_>,
        answer: &Answer,
        redactor: &Redactor<'_>,
    ) -> Verdict {
        let backoff = self.transport.default_backoff();
        let value = match serde_json::from_slice::<Value>(&answer.body) {
            Ok(value) => value,
            Err(_) if !answer.status.is_success() => {
                return Verdict::Final(status_outcome(op, answer, redactor, backoff));
            }
            Err(e) => {
                return Verdict::Final(malformed(op, &format!("not JSON: {e}"), answer, redactor));
            }
        };
        match GraphError::of(&value) {
            Some(Ok(error)) => return error.verdict(op, answer, redactor, backoff),
            Some(Err(_)) | None if !answer.status.is_success() => {
                return Verdict::Final(status_outcome(op, answer, redactor, backoff));
            }
            Some(Err(e)) => {
                return Verdict::Final(malformed(
                    op,
                    &format!("error envelope: {e}"),
                    answer,
                    redactor,
                ));
            }
            None => {}
        }
        let fetched = match edge {
            Edge::Conversations { owner_id, nested } => page(value, |c: RawConversation| {
                c.into_conversation(owner_id, nested.is_some())
            })
            .map(Fetched::Conversations),
            Edge::Messages {
                owner_id,
                conversation_id,
            } => page(value, |m: RawMessage| {
                m.into_message(owner_id, conversation_id)
            })
            .map(Fetched::Messages),
            Edge::Message {
                owner_id,
                conversation_id,
                ..
            } => serde_json::from_value::<RawMessage>(value)
                .map_err(|e| e.to_string())
                .and_then(|m| m.into_message(owner_id, conversation_id))
                .map(|m| Fetched::Messages(Page::last(vec![m]))),
            Edge::Posts { .. } => page(value, RawPost::into_post).map(Fetched::Posts),
            Edge::Comments { post_id } => {
                page(value, |c: RawComment| c.into_comment(post_id)).map(Fetched::Comments)
            }
        };
        Verdict::Final(match fetched {
            Ok(fetched) => Outcome::Page(fetched),
            Err(what) => malformed(op, &what, answer, redactor),
        })
    }

    fn url(&self, edge: Edge<'_>, after: Option<&Cursor>, limit: u32) -> Url {
        let instagram = self.channel == Channel::Instagram;
        let (node, edge_name) = match edge {
            Edge::Conversations { owner_id, .. } => (owner_id, Some("conversations")),
            Edge::Messages {
                conversation_id, ..
            } => (conversation_id, Some("messages")),
            Edge::Message { message_id, .. } => (message_id, None),
            Edge::Posts { owner_id } => (owner_id, Some(if instagram { "media" } else { "posts" })),
            Edge::Comments { post_id } => (post_id, Some("comments")),
        };
        // Only what the model keeps (C9: only the fields needed).
        let fields = match edge {
            Edge::Conversations { nested, .. } => conversation_fields(instagram, nested),
            Edge::Messages { .. } | Edge::Message { .. } => message_fields(instagram).to_owned(),
            Edge::Posts { .. } if instagram => "id,caption,timestamp,permalink".to_owned(),
            Edge::Posts { .. } => "id,created_time,message,permalink_url".to_owned(),
            Edge::Comments { .. } if instagram => "id,text,timestamp,username,from".to_owned(),
            Edge::Comments { .. } => "id,created_time,from,message,parent".to_owned(),
        };
        let mut url = self.root.clone();
        url.path_segments_mut()
            .expect("an http(s) base URL, checked in Connector::new")
            .push(node)
            .extend(edge_name);
        let mut query = url.query_pairs_mut();
        match edge {
            Edge::Conversations { .. } => {
                query.append_pair(
                    "platform",
                    if instagram { "instagram" } else { "messenger" },
                );
            }
            // Every level, newest first: "to get all comments ... set the filter
            // parameter to stream" [M11]; Instagram's edge is reverse-chronological
            // already and takes neither [IG2].
            Edge::Comments { .. } if !instagram => {
                query
                    .append_pair("filter", "stream")
                    .append_pair("order", "reverse_chronological");
            }
            _ => {}
        }
        query.append_pair("fields", &fields);
        if !matches!(edge, Edge::Message { .. }) {
            query.append_pair("limit", &limit.to_string());
        }
        if let Some(after) = after {
            query.append_pair("after", after.as_str());
        }
        drop(query);
        url
    }

    fn op(&self, edge: Edge<'_>) -> String {
        let name = match edge {
            Edge::Conversations { .. } => "list_conversations",
            Edge::Messages { .. } => "list_messages",
            Edge::Message { .. } => "message_detail",
            Edge::Posts { .. } => "list_posts",
            Edge::Comments { .. } => "list_comments",
        };
        format!("{} {name}", self.channel)
    }
}

fn message_fields(instagram: bool) -> &'static str {
    if instagram {
        // `from`/`to` carry `{id, username}` on Instagram [IG1].
        "id,created_time,from,to,message"
    } else {
        "id,created_time,from,to,message,attachments,tags"
    }
}

fn conversation_fields(instagram: bool, nested: Option<u32>) -> String {
    // `unread_count` is a Page conversation field [R1]; the Instagram Login reference
    // does not list it, and Graph refuses unknown fields.
    let mut fields = if instagram {
        "id,updated_time,participants".to_owned()
    } else {
        "id,updated_time,participants,unread_count".to_owned()
    };
    if let Some(n) = nested {
        fields.push_str(&format!(
            ",messages.limit({n}){{{}}}",
            message_fields(instagram)
        ));
    }
    fields
}

fn page<T: DeserializeOwned, U>(
    value: Value,
    convert: impl FnMut(T) -> Result<U, String>,
) -> Result<Page<U>, String> {
    let listing: Listing<T> = serde_json::from_value(value).map_err(|e| e.to_string())?;
    listing.into_page(convert)
}

/// A requested page size within `[1, max]`.
fn clamp(want: u32, max: u32) -> u32 {
    want.clamp(1, max.max(1))
}
