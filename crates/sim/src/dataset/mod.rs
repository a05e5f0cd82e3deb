//! The simulated world: accounts of the four channels, their conversations, messages, posts
//! and comments, generated deterministically from a profile, a seed and a "now".
//!
//! The same `(profile, seed, now)` always gives the same dataset, so other crates' tests
//! generate it too and compute what a policy should have synced. Messages are never stored:
//! message `i` of a conversation is derived from `hash(seed, account, conversation, i)` when
//! asked for, and a conversation keeps only its message count and time span. That is what
//! lets the `large` profile (20,000 conversations, some with thousands of messages) be built
//! in milliseconds and held in a few megabytes.
//!
//! Invariants the channels' clients may rely on, and the tests check:
//! - messages of a conversation are strictly ordered in time, with distinct timestamps at
//!   every precision a channel shows (whole seconds for Graph and Shopee messages);
//! - a conversation's `last_activity` is its newest message's time;
//! - conversations of an account have distinct `last_activity` (whole seconds);
//! - ids are unique across the whole dataset.

mod content;
mod profile;

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use serde::{Deserialize, Serialize};

pub use content::Locale;
pub use profile::Profile;

use crate::Channel;
use crate::mix::{ALNUM, HEX, Mix, token_chars};
use profile::AccountSpec;

/// Conversations of the Requests folder idle for longer than this are not returned by the
/// Graph list endpoints [M1, IG1].
pub const REQUESTS_FOLDER_IDLE_DAYS: i64 = 30;

const DAY: i64 = 86_400;

/// The whole simulated world.
#[derive(Debug)]
pub struct Dataset {
    profile: Profile,
    seed: u64,
    now: DateTime<Utc>,
    accounts: Vec<Account>,
    objects: HashMap<String, ObjectRef>,
}

/// Where an id points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectRef {
    Account(usize),
    Conversation(usize, usize),
    Post(usize, usize),
    Comment(usize, usize, usize),
}

/// One connected channel account: a Facebook Page, an Instagram professional account, a
/// Zalo Official Account or a Shopee shop.
#[derive(Debug)]
pub struct Account {
    pub channel: Channel,
    /// Page id, Instagram user id, OA id or (Shopee) the shop id.
    pub id: String,
    pub name: String,
    /// Instagram only.
    pub username: Option<String>,
    /// The token a merchant's connection stores: a Page token (Facebook), an Instagram User
    /// token, an OA token, a shop token. Shopee tokens expire 4 h after the simulator starts.
    pub access_token: String,
    /// Facebook only: a user token of the Page's admin. Calls with it fall under the Platform
    /// rate limits (`X-App-Usage`, codes 4/17/32) instead of the Page's BUC limits [M6].
    pub user_token: Option<String>,
    /// Shopee only.
    pub shopee: Option<ShopeeCredentials>,
    pub avatar_url: String,
    pub locale: Locale,
    /// Newest first (by `last_activity`), including conversations the API does not list.
    pub conversations: Vec<Conversation>,
    /// Newest first. Facebook posts (the Page's and visitors') or Instagram media.
    pub posts: Vec<Post>,
    pub(crate) ix: usize,
}

/// What a Shopee call is signed with. One partner (app) serves every shop of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopeeCredentials {
    pub partner_id: u64,
    pub partner_key: String,
    pub shop_id: u64,
    /// The seller's own user id: `from_id` of the messages the shop sends.
    pub seller_user_id: u64,
}

/// The other side of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// PSID (Facebook), IGSID (Instagram), Zalo user id, Shopee buyer user id.
    pub id: String,
    pub name: String,
    /// Instagram username, Shopee buyer username.
    pub username: Option<String>,
    pub avatar_url: String,
    /// Zalo: whether the customer still follows the OA (false = a former follower).
    /// Always true on the other channels.
    pub is_follower: bool,
}

/// Graph inbox folders. Without a `folder` parameter both are listed, except Requests
/// (`pending`) threads idle for more than [`REQUESTS_FOLDER_IDLE_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Folder {
    Inbox,
    /// The Requests folder (message requests).
    Pending,
}

/// One thread between the account and one customer.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// Graph conversation id, Shopee `conversation_id`. Zalo has no conversation id (a
    /// thread is the OA's with one user, addressed by `user_id`): this one is the
    /// simulator's own.
    pub id: String,
    pub customer: Customer,
    pub message_count: u32,
    pub first_message_at: DateTime<Utc>,
    /// The newest message's time.
    pub last_activity: DateTime<Utc>,
    pub folder: Folder,
    /// Whether the list endpoints return it (false for idle Requests-folder threads).
    pub listed: bool,
    pub unread_count: u32,
    /// Shopee: pinned in the seller's chat list.
    pub pinned: bool,
    pub(crate) channel: Channel,
    pub(crate) account_ix: usize,
    pub(crate) ix: usize,
    locale: Locale,
    salt: Mix,
    first_secs: i64,
    last_secs: i64,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    Customer,
    /// The Page, Instagram account, OA or shop.
    Business,
}

/// One message. Derived on demand from its conversation and index.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    /// Position in the conversation, 0 = oldest.
    pub index: u32,
    /// At the finest precision the channel shows anywhere: whole seconds on Graph, whole
    /// milliseconds on Zalo, nanoseconds on Shopee (whose `created_timestamp` is the floor of
    /// this in seconds, while the conversation list shows the newest one in nanoseconds).
    pub created_at: DateTime<Utc>,
    pub sender: Sender,
    pub text: Option<String>,
    pub kind: MessageKind,
    pub attachments: Vec<Attachment>,
    /// Index of the message this one replies to (Graph `reply_to`).
    pub reply_to: Option<u32>,
    /// A reaction the other party left on it.
    pub reaction: Option<String>,
}

/// What kind of message it is. Which kinds appear depends on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    Text,
    /// One or two images in `attachments` (Zalo `photo`).
    Image,
    Video,
    File,
    Sticker {
        sticker_id: u64,
        package_id: u64,
        url: String,
    },
    /// Zalo `link`.
    Link {
        url: String,
        title: String,
        thumb: String,
    },
    /// Graph shares carry only the media URL [M1].
    Share {
        url: String,
    },
    /// Instagram story reply.
    StoryReply {
        story_id: String,
        url: String,
    },
    /// Shopee product card.
    Product {
        item_id: u64,
    },
    /// Shopee order card.
    Order {
        order_sn: String,
    },
    /// Graph `is_unsupported: true`: a message type the API cannot render.
    Unsupported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Image,
    Video,
    File,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub kind: AttachmentKind,
    pub url: String,
    pub preview_url: String,
    pub name: String,
    pub mime_type: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

/// A Facebook post (the Page's or a visitor's) or an Instagram media item.
#[derive(Debug, Clone)]
pub struct Post {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub author: Author,
    /// Written by the account itself (false for visitor posts on a Page).
    pub by_account: bool,
    pub text: String,
    pub is_published: bool,
    pub media: Option<Media>,
    pub permalink: String,
    /// Oldest first, replies included (see [`Comment::parent_id`]).
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub id: String,
    pub name: String,
    pub username: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MediaType {
    Image,
    Video,
    CarouselAlbum,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub media_type: MediaType,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub author: Author,
    pub by_account: bool,
    pub text: String,
    /// The top-level comment this one replies to.
    pub parent_id: Option<String>,
    pub like_count: u32,
}

impl Dataset {
    /// Builds the dataset. `now` is truncated to whole seconds; every timestamp lies before it.
    pub fn generate(profile: Profile, seed: u64, now: DateTime<Utc>) -> Dataset {
        let now = now
            .duration_trunc(Duration::seconds(1))
            .expect("whole seconds fit any date");
        let root = Mix::new(seed);
        let partner = ShopeePartner {
            partner_id: 2_000_000 + root.with_str("partner").below(900_000),
            partner_key: token_chars(root.with_str("partner-key"), HEX, 64),
        };
        let accounts: Vec<Account> = profile
            .accounts()
            .iter()
            .enumerate()
            .map(|(ix, spec)| build_account(root, now, ix, spec, &partner))
            .collect();
        let mut objects = HashMap::new();
        for (a, account) in accounts.iter().enumerate() {
            objects.insert(account.id.clone(), ObjectRef::Account(a));
            for (c, conversation) in account.conversations.iter().enumerate() {
                objects.insert(conversation.id.clone(), ObjectRef::Conversation(a, c));
            }
            for (p, post) in account.posts.iter().enumerate() {
                objects.insert(post.id.clone(), ObjectRef::Post(a, p));
                for (k, comment) in post.comments.iter().enumerate() {
                    objects.insert(comment.id.clone(), ObjectRef::Comment(a, p, k));
                }
            }
        }
        Dataset {
            profile,
            seed,
            now,
            accounts,
            objects,
        }
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The moment every timestamp is relative to (whole seconds).
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn accounts_of(&self, channel: Channel) -> impl Iterator<Item = &Account> {
        self.accounts.iter().filter(move |a| a.channel == channel)
    }

    pub fn account(&self, id: &str) -> Option<&Account> {
        match self.objects.get(id) {
            Some(ObjectRef::Account(a)) => Some(&self.accounts[*a]),
            _ => None,
        }
    }

    pub fn conversation(&self, id: &str) -> Option<(&Account, &Conversation)> {
        match self.objects.get(id) {
            Some(ObjectRef::Conversation(a, c)) => {
                let account = &self.accounts[*a];
                Some((account, &account.conversations[*c]))
            }
            _ => None,
        }
    }

    pub fn post(&self, id: &str) -> Option<(&Account, &Post)> {
        match self.objects.get(id) {
            Some(ObjectRef::Post(a, p)) => {
                let account = &self.accounts[*a];
                Some((account, &account.posts[*p]))
            }
            _ => None,
        }
    }

    pub fn comment(&self, id: &str) -> Option<(&Account, &Post, &Comment)> {
        match self.objects.get(id) {
            Some(ObjectRef::Comment(a, p, k)) => {
                let account = &self.accounts[*a];
                let post = &account.posts[*p];
                Some((account, post, &post.comments[*k]))
            }
            _ => None,
        }
    }

    /// A Graph (Facebook or Instagram) message by its id, decoded without any lookup table.
    pub fn graph_message(&self, id: &str) -> Option<(&Account, &Conversation, Message)> {
        let (a, c, index) = decode_graph_message_id(id)?;
        let account = self.accounts.get(a)?;
        let conversation = account.conversations.get(c)?;
        if !matches!(account.channel, Channel::Facebook | Channel::Instagram)
            || index >= conversation.message_count
            || conversation.message_id(index) != id
        {
            return None;
        }
        Some((account, conversation, conversation.message_at(index)?))
    }

    pub(crate) fn object(&self, id: &str) -> Option<ObjectRef> {
        self.objects.get(id).copied()
    }

    pub(crate) fn account_at(&self, ix: usize) -> &Account {
        &self.accounts[ix]
    }
}

impl Account {
    /// The conversations the list endpoints return with no folder filter, newest first.
    pub fn listed_conversations(&self) -> impl Iterator<Item = &Conversation> {
        self.conversations.iter().filter(|c| c.listed)
    }

    /// The sender id of messages the account writes: the Page/IG/OA id, or the Shopee
    /// seller's user id.
    pub fn sender_id(&self) -> String {
        match &self.shopee {
            Some(shopee) => shopee.seller_user_id.to_string(),
            None => self.id.clone(),
        }
    }
}

impl Conversation {
    /// All messages, newest first, derived lazily.
    pub fn messages(&self) -> impl DoubleEndedIterator<Item = Message> + ExactSizeIterator + '_ {
        (0..self.message_count)
            .rev()
            .map(|i| self.derive_message(i))
    }

    /// Message `index` (0 = oldest).
    pub fn message_at(&self, index: u32) -> Option<Message> {
        (index < self.message_count).then(|| self.derive_message(index))
    }

    /// The `rank`-th newest message (0 = newest).
    pub fn message_by_rank(&self, rank: u32) -> Option<Message> {
        self.message_at(self.message_count.checked_sub(rank + 1)?)
    }

    /// Creation time of message `index` (0 = oldest), without deriving the rest of it.
    pub fn created_at(&self, index: u32) -> DateTime<Utc> {
        let secs = self.second_of(index);
        let nanos = match self.channel {
            Channel::Zalo => {
                self.salt.with_str("ms").with(u64::from(index)).below(1000) * 1_000_000
            }
            Channel::Shopee => self
                .salt
                .with_str("ns")
                .with(u64::from(index))
                .below(1_000_000_000),
            Channel::Facebook | Channel::Instagram => 0,
        };
        Utc.timestamp_opt(secs, nanos as u32)
            .single()
            .expect("generated times are valid")
    }

    /// The whole second of message `index`: strictly increasing in `index`. Slots of width
    /// `span / (n - 1)` (at least 2 s) each hold one message at a jittered offset that stays
    /// inside its slot, so order and distinctness hold by construction.
    fn second_of(&self, index: u32) -> i64 {
        let n = i64::from(self.message_count);
        let i = i64::from(index);
        if n == 1 || i == n - 1 {
            return self.last_secs;
        }
        if i == 0 {
            return self.first_secs;
        }
        let span = self.last_secs - self.first_secs;
        let width = span / (n - 1);
        let base = self.first_secs + i * span / (n - 1);
        base + self
            .salt
            .with_str("jitter")
            .with(index.into())
            .below((width - 1) as u64) as i64
    }

    pub(crate) fn sender_at(&self, index: u32) -> Sender {
        if index == 0 || self.salt.with_str("sender").with(index.into()).chance(0.55) {
            Sender::Customer
        } else {
            Sender::Business
        }
    }

    /// The message id, also without deriving the rest.
    pub fn message_id(&self, index: u32) -> String {
        let tag = self.id_tag(index);
        match self.channel {
            Channel::Facebook => {
                let mut bytes = Vec::with_capacity(14);
                bytes.extend_from_slice(&(self.account_ix as u16).to_be_bytes());
                bytes.extend_from_slice(&(self.ix as u32).to_be_bytes());
                bytes.extend_from_slice(&index.to_be_bytes());
                bytes.extend_from_slice(&tag.to_be_bytes());
                format!("m_{}", URL_SAFE_NO_PAD.encode(bytes))
            }
            Channel::Instagram => URL_SAFE_NO_PAD.encode(format!(
                "ig_message_item:{}:{}:{index}:{tag}",
                self.account_ix, self.ix
            )),
            Channel::Zalo => {
                token_chars(self.salt.with_str("zalo-mid").with(index.into()), HEX, 32)
            }
            Channel::Shopee => self.shopee_message_id(index).to_string(),
        }
    }

    /// Shopee message ids are time-ordered, snowflake-style: creation milliseconds in the high
    /// bits, so they exceed 2^53 and sort like time. That order is what `offset` paging uses.
    pub(crate) fn shopee_message_id(&self, index: u32) -> u64 {
        let ms = self.created_at(index).timestamp_millis() as u64;
        (ms << 22) | (u64::from(self.id_tag(index)) & 0x3F_FFFF)
    }

    fn id_tag(&self, index: u32) -> u32 {
        self.salt.with_str("id-tag").with(index.into()).value() as u32
    }

    fn derive_message(&self, index: u32) -> Message {
        let m = self.salt.with_str("message").with(index.into());
        let sender = self.sender_at(index);
        let customer = sender == Sender::Customer;
        let line = || {
            let text = if customer {
                content::customer_line(m.with_str("text"), self.locale)
            } else {
                content::business_line(m.with_str("text"), self.locale)
            };
            Some(text.to_owned())
        };
        let attach = |kind: AttachmentKind, k: u64| self.attachment(index, kind, k);
        let roll = m.with_str("kind").unit();
        let (kind, text, attachments) = match self.channel {
            Channel::Facebook => match roll {
                r if r < 0.72 => (MessageKind::Text, line(), vec![]),
                r if r < 0.82 => {
                    let images = m.with_str("count").between(1, 2);
                    let caption = if m.with_str("caption").chance(0.3) {
                        line()
                    } else {
                        None
                    };
                    let attachments = (0..images)
                        .map(|k| attach(AttachmentKind::Image, k))
                        .collect();
                    (MessageKind::Image, caption, attachments)
                }
                r if r < 0.84 => (
                    MessageKind::Video,
                    None,
                    vec![attach(AttachmentKind::Video, 0)],
                ),
                r if r < 0.86 => (
                    MessageKind::File,
                    None,
                    vec![attach(AttachmentKind::File, 0)],
                ),
                r if r < 0.92 => (self.sticker(m), None, vec![]),
                r if r < 0.95 && customer => (self.share(m), None, vec![]),
                r if r < 0.965 && customer => (MessageKind::Unsupported, None, vec![]),
                _ => (MessageKind::Text, line(), vec![]),
            },
            Channel::Instagram => match roll {
                r if r < 0.75 => (MessageKind::Text, line(), vec![]),
                r if r < 0.85 => (
                    MessageKind::Image,
                    None,
                    vec![attach(AttachmentKind::Image, 0)],
                ),
                r if r < 0.88 => (
                    MessageKind::Video,
                    None,
                    vec![attach(AttachmentKind::Video, 0)],
                ),
                r if r < 0.92 && customer => {
                    let story_id = (17_950_000_000_000_000
                        + m.with_str("story").below(1_000_000_000_000))
                    .to_string();
                    let url =
                        format!("https://lookaside.instagram.sim.invalid/stories/{story_id}.jpg");
                    (MessageKind::StoryReply { story_id, url }, line(), vec![])
                }
                r if r < 0.95 && customer => (self.share(m), None, vec![]),
                r if r < 0.97 && customer => (MessageKind::Unsupported, None, vec![]),
                _ => (MessageKind::Text, line(), vec![]),
            },
            Channel::Zalo => match roll {
                r if r < 0.75 => (MessageKind::Text, line(), vec![]),
                r if r < 0.87 => (
                    MessageKind::Image,
                    None,
                    vec![attach(AttachmentKind::Image, 0)],
                ),
                r if r < 0.95 => (self.sticker(m), None, vec![]),
                _ => {
                    let n = m.with_str("link").below(100_000);
                    let kind = MessageKind::Link {
                        url: format!("https://shop.sim.invalid/p/{n}"),
                        title: format!("Sản phẩm #{n}"),
                        thumb: format!("https://shop.sim.invalid/p/{n}/thumb.jpg"),
                    };
                    (kind, None, vec![])
                }
            },
            Channel::Shopee => match roll {
                r if r < 0.74 => (MessageKind::Text, line(), vec![]),
                r if r < 0.84 => (
                    MessageKind::Image,
                    None,
                    vec![attach(AttachmentKind::Image, 0)],
                ),
                r if r < 0.90 => (self.sticker(m), None, vec![]),
                r if r < 0.95 => {
                    let item_id = 20_000_000_000 + m.with_str("item").below(9_000_000_000);
                    (MessageKind::Product { item_id }, None, vec![])
                }
                r if r < 0.98 => {
                    let day = self.created_at(index).format("%y%m%d");
                    let order_sn = format!(
                        "{day}{}",
                        token_chars(m.with_str("sn"), b"0123456789ABCDEFGHJKMNPQRSTUVWXYZ", 8)
                    );
                    (MessageKind::Order { order_sn }, None, vec![])
                }
                _ => (
                    MessageKind::Video,
                    None,
                    vec![attach(AttachmentKind::Video, 0)],
                ),
            },
        };
        let graph = matches!(self.channel, Channel::Facebook | Channel::Instagram);
        let reply_to = (graph && index > 0 && m.with_str("reply").chance(0.05))
            .then(|| index - 1 - m.with_str("reply-to").below(u64::from(index.min(3))) as u32);
        let reaction = (graph && m.with_str("reaction").chance(0.06)).then(|| {
            m.with_str("reaction-kind")
                .pick(&["❤", "😆", "😮", "👍"])
                .to_owned()
        });
        Message {
            id: self.message_id(index),
            index,
            created_at: self.created_at(index),
            sender,
            text,
            kind,
            attachments,
            reply_to,
            reaction,
        }
    }

    fn sticker(&self, m: Mix) -> MessageKind {
        let package_id = 1_000 + m.with_str("package").below(50);
        let sticker_id = package_id * 1_000 + m.with_str("sticker").below(40);
        MessageKind::Sticker {
            sticker_id,
            package_id,
            url: format!(
                "https://stickers.{}.sim.invalid/{package_id}/{sticker_id}.png",
                self.channel
            ),
        }
    }

    fn share(&self, m: Mix) -> MessageKind {
        MessageKind::Share {
            url: format!(
                "https://cdn.{}.sim.invalid/share/{}.jpg",
                self.channel,
                m.with_str("share").below(1_000_000_000)
            ),
        }
    }

    fn attachment(&self, index: u32, kind: AttachmentKind, k: u64) -> Attachment {
        let m = self.salt.with_str("attachment").with(index.into()).with(k);
        let id = (10_000_000_000_000 + m.below(90_000_000_000_000)).to_string();
        let host = format!("https://cdn.{}.sim.invalid", self.channel);
        let (name, mime_type, ext, width, height) = match kind {
            AttachmentKind::Image => (format!("image_{id}.jpg"), "image/jpeg", "jpg", 720, 960),
            AttachmentKind::Video => (format!("video_{id}.mp4"), "video/mp4", "mp4", 720, 1280),
            AttachmentKind::File => (format!("bao-gia-{id}.pdf"), "application/pdf", "pdf", 0, 0),
        };
        Attachment {
            url: format!("{host}/{id}.{ext}"),
            preview_url: format!("{host}/{id}_s.jpg"),
            id,
            kind,
            name,
            mime_type: mime_type.to_owned(),
            size: 20_000 + m.with_str("size").below(5_000_000),
            width,
            height,
        }
    }
}

impl Post {
    /// Top-level comments, oldest first.
    pub fn top_level_comments(&self) -> impl Iterator<Item = &Comment> {
        self.comments.iter().filter(|c| c.parent_id.is_none())
    }

    /// Replies to one comment, oldest first.
    pub fn replies_to<'a>(&'a self, comment_id: &'a str) -> impl Iterator<Item = &'a Comment> {
        self.comments
            .iter()
            .filter(move |c| c.parent_id.as_deref() == Some(comment_id))
    }
}

struct ShopeePartner {
    partner_id: u64,
    partner_key: String,
}

/// Decodes the ids [`Conversation::message_id`] makes for Graph channels.
fn decode_graph_message_id(id: &str) -> Option<(usize, usize, u32)> {
    if let Some(rest) = id.strip_prefix("m_") {
        let bytes = URL_SAFE_NO_PAD.decode(rest).ok()?;
        if bytes.len() != 14 {
            return None;
        }
        let a = u16::from_be_bytes(bytes[0..2].try_into().ok()?);
        let c = u32::from_be_bytes(bytes[2..6].try_into().ok()?);
        let i = u32::from_be_bytes(bytes[6..10].try_into().ok()?);
        return Some((a.into(), c as usize, i));
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
    let mut parts = text.strip_prefix("ig_message_item:")?.split(':');
    let a = parts.next()?.parse().ok()?;
    let c = parts.next()?.parse().ok()?;
    let i = parts.next()?.parse().ok()?;
    Some((a, c, i))
}

/// `count` distinct, increasing offsets (seconds) spread over `lo..hi`: one per slot of
/// width `(hi - lo) / count`, jittered inside the slot. Used for ages and comment times.
fn spread(mix: Mix, count: u32, lo: i64, hi: i64) -> Vec<i64> {
    let n = i64::from(count);
    if n == 0 {
        return Vec::new();
    }
    let width = ((hi - lo) / n).max(2);
    (0..n)
        .map(|k| lo + k * width + mix.with(k as u64).below((width - 1) as u64) as i64)
        .collect()
}

fn build_account(
    root: Mix,
    now: DateTime<Utc>,
    ix: usize,
    spec: &AccountSpec,
    partner: &ShopeePartner,
) -> Account {
    let m = root.with_str("account").with(ix as u64);
    let a = ix as u64;
    let channel = spec.channel;
    let shopee = (channel == Channel::Shopee).then(|| ShopeeCredentials {
        partner_id: partner.partner_id,
        partner_key: partner.partner_key.clone(),
        shop_id: 300_000_000 + a * 1_000_000 + m.with_str("shop").below(1_000_000),
        seller_user_id: 100_000_000 + m.with_str("seller").below(400_000_000),
    });
    let id = match channel {
        Channel::Facebook => {
            100_000_000_000_000 + a * 1_000_000_000_000 + m.with_str("id").below(1_000_000_000_000)
        }
        Channel::Instagram => {
            17_841_400_000_000_000 + a * 1_000_000_000 + m.with_str("id").below(1_000_000_000)
        }
        Channel::Zalo => {
            2_200_000_000_000_000_000
                + a * 10_000_000_000_000
                + m.with_str("id").below(10_000_000_000_000)
        }
        Channel::Shopee => shopee.as_ref().map_or(0, |s| s.shop_id),
    }
    .to_string();
    let access_token = match channel {
        Channel::Facebook => format!("EAAB{}", token_chars(m.with_str("token"), ALNUM, 150)),
        Channel::Instagram => format!("IGAA{}", token_chars(m.with_str("token"), ALNUM, 140)),
        Channel::Zalo => token_chars(m.with_str("token"), ALNUM, 128),
        Channel::Shopee => token_chars(m.with_str("token"), ALNUM, 32),
    };
    let user_token = (channel == Channel::Facebook)
        .then(|| format!("EAAG{}", token_chars(m.with_str("user-token"), ALNUM, 150)));
    let mut account = Account {
        channel,
        avatar_url: format!("https://cdn.{channel}.sim.invalid/avatar/{id}.jpg"),
        id,
        name: spec.name.to_owned(),
        username: spec.username.map(str::to_owned),
        access_token,
        user_token,
        shopee,
        locale: spec.locale,
        conversations: Vec::new(),
        posts: Vec::new(),
        ix,
    };
    account.conversations = build_conversations(m, now, &account, spec);
    account.posts = build_posts(m, now, &account, spec);
    account
}

fn build_conversations(
    m: Mix,
    now: DateTime<Utc>,
    account: &Account,
    spec: &AccountSpec,
) -> Vec<Conversation> {
    let now_secs = now.timestamp();
    let older = spec.conversations.saturating_sub(spec.recent);
    let mut ages = spread(m.with_str("recent"), spec.recent, 120, 30 * DAY - 120);
    ages.extend(spread(
        m.with_str("older"),
        older,
        30 * DAY + 120,
        i64::from(spec.history_days) * DAY,
    ));
    let a = account.ix as u64;
    ages.into_iter()
        .enumerate()
        .map(|(rank, age)| {
            let cm = m.with_str("conversation").with(rank as u64);
            let r = rank as u64;
            let heavy = spec
                .heavy
                .iter()
                .find(|(hr, _)| *hr as usize == rank)
                .map(|(_, n)| *n);
            let count = heavy.unwrap_or_else(|| {
                if spec.long_every > 0 && rank as u32 % spec.long_every == spec.long_every - 1 {
                    cm.with_str("long")
                        .between(spec.long_messages.0.into(), spec.long_messages.1.into())
                        as u32
                } else {
                    let u = cm.with_str("count").unit();
                    1 + (f64::from(spec.typical_messages.saturating_sub(1)) * u * u).round() as u32
                }
            });
            let gap = cm.with_str("gap").between(60, 3 * 3600) as i64;
            let span = (i64::from(count) - 1) * gap;
            let last_secs = now_secs - age;
            let (customer_name, handle) =
                content::person(cm.with_str("customer"), account.locale.mostly(cm));
            let (id, customer_id) = match account.channel {
                Channel::Facebook => (
                    format!(
                        "t_{}",
                        1_000_000_000_000_000
                            + a * 10_000_000_000_000
                            + r * 10_000_000
                            + cm.with_str("id").below(10_000_000)
                    ),
                    7_000_000_000_000_000
                        + a * 100_000_000_000_000
                        + r * 100_000_000
                        + cm.with_str("cid").below(100_000_000),
                ),
                Channel::Instagram => (
                    URL_SAFE_NO_PAD.encode(format!(
                        "ig_direct_thread:{a}:{rank}:{}",
                        cm.with_str("id").below(1_000_000_000)
                    )),
                    6_000_000_000_000_000
                        + a * 100_000_000_000_000
                        + r * 100_000_000
                        + cm.with_str("cid").below(100_000_000),
                ),
                Channel::Zalo => {
                    let user = 4_000_000_000_000_000_000
                        + a * 100_000_000_000_000
                        + r * 1_000_000_000
                        + cm.with_str("cid").below(1_000_000_000);
                    // Zalo has no conversation id: a conversation is the OA's thread with one user.
                    (format!("zalo_{}_{user}", account.id), user)
                }
                Channel::Shopee => (
                    (1_900_000_000_000_000_000
                        + a * 1_000_000_000_000_000
                        + r * 1_000_000_000
                        + cm.with_str("id").below(1_000_000_000))
                    .to_string(),
                    500_000_000 + r * 10_000 + cm.with_str("cid").below(10_000),
                ),
            };
            let is_follower = match account.channel {
                // At least one former follower near the top, whatever the seed (H5).
                Channel::Zalo => rank != 3 && (rank < 3 || !cm.with_str("follower").chance(0.2)),
                _ => true,
            };
            let username = match account.channel {
                Channel::Instagram | Channel::Shopee => Some(handle),
                Channel::Facebook | Channel::Zalo => None,
            };
            let graph = matches!(account.channel, Channel::Facebook | Channel::Instagram);
            // One active and one idle Requests-folder thread whatever the seed, plus a few more.
            let pending = graph
                && (rank == 1
                    || rank + 2 == spec.conversations as usize
                    || cm.with_str("folder").chance(0.05));
            let folder = if pending {
                Folder::Pending
            } else {
                Folder::Inbox
            };
            let mut conversation = Conversation {
                id,
                customer: Customer {
                    id: customer_id.to_string(),
                    name: customer_name,
                    username,
                    avatar_url: format!(
                        "https://cdn.{}.sim.invalid/avatar/{customer_id}.jpg",
                        account.channel
                    ),
                    is_follower,
                },
                message_count: count,
                first_message_at: now,
                last_activity: now,
                folder,
                listed: !(pending && age > REQUESTS_FOLDER_IDLE_DAYS * DAY),
                unread_count: 0,
                pinned: account.channel == Channel::Shopee && rank % 15 == 4,
                channel: account.channel,
                account_ix: account.ix,
                ix: rank,
                locale: account.locale,
                salt: cm,
                first_secs: last_secs - span,
                last_secs,
            };
            conversation.first_message_at = conversation.created_at(0);
            conversation.last_activity = conversation.created_at(count - 1);
            if age < 3 * DAY {
                conversation.unread_count = (0..count.min(10))
                    .map(|k| conversation.sender_at(count - 1 - k))
                    .take_while(|s| *s == Sender::Customer)
                    .count() as u32;
            }
            conversation
        })
        .collect()
}

fn build_posts(m: Mix, now: DateTime<Utc>, account: &Account, spec: &AccountSpec) -> Vec<Post> {
    let now_secs = now.timestamp();
    let a = account.ix as u64;
    let ages = spread(
        m.with_str("posts"),
        spec.posts,
        6 * 3600,
        i64::from(spec.post_history_days) * DAY,
    );
    let account_author = Author {
        id: account.id.clone(),
        name: account.name.clone(),
        username: account.username.clone(),
    };
    ages.into_iter()
        .enumerate()
        .map(|(rank, age)| {
            let pm = m.with_str("post").with(rank as u64);
            let r = rank as u64;
            let created_secs = now_secs - age;
            let instagram = account.channel == Channel::Instagram;
            let by_account = instagram || !pm.with_str("visitor").chance(0.15);
            let author = if by_account {
                account_author.clone()
            } else {
                let id = 7_500_000_000_000_000
                    + r * 1_000_000
                    + pm.with_str("visitor-id").below(1_000_000);
                person_author(pm.with_str("visitor-author"), account, id)
            };
            let (id, number) = if instagram {
                let n = 17_900_000_000_000_000
                    + a * 100_000_000_000_000
                    + r * 1_000_000_000
                    + pm.with_str("id").below(1_000_000_000);
                (n.to_string(), n)
            } else {
                let n = 122_000_000_000_000_000
                    + a * 1_000_000_000_000_000
                    + r * 1_000_000_000
                    + pm.with_str("id").below(1_000_000_000);
                (format!("{}_{n}", account.id), n)
            };
            let media_type = match pm.with_str("media").unit() {
                u if u < 0.6 => Some(MediaType::Image),
                u if u < 0.8 => Some(MediaType::Video),
                _ if instagram => Some(MediaType::CarouselAlbum),
                _ => None,
            };
            let media = media_type.map(|media_type| Media {
                media_type,
                url: format!(
                    "https://cdn.{}.sim.invalid/media/{number}.jpg",
                    account.channel
                ),
            });
            let permalink = if instagram {
                format!(
                    "https://www.instagram.sim.invalid/p/{}/",
                    token_chars(pm.with_str("shortcode"), ALNUM, 11)
                )
            } else {
                format!(
                    "https://www.facebook.sim.invalid/{}/posts/{number}",
                    account.id
                )
            };
            let comment_count = spec
                .heavy_comments
                .iter()
                .find(|(hr, _)| *hr as usize == rank)
                .map(|(_, n)| *n)
                .unwrap_or_else(|| {
                    (f64::from(spec.typical_comments) * pm.with_str("comments").unit().powf(1.5))
                        .round() as u32
                });
            let comments = build_comments(
                pm,
                now_secs,
                created_secs,
                comment_count,
                account,
                &account_author,
                number,
                r,
            );
            Post {
                id,
                created_at: at(created_secs),
                author,
                by_account,
                text: content::post_text(pm.with_str("text"), account.locale).to_owned(),
                is_published: !by_account || instagram || !pm.with_str("unpublished").chance(0.05),
                media,
                permalink,
                comments,
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)] // Reason: a private builder step; a struct would only rename these.
fn build_comments(
    pm: Mix,
    now_secs: i64,
    created_secs: i64,
    count: u32,
    account: &Account,
    account_author: &Author,
    post_number: u64,
    post_rank: u64,
) -> Vec<Comment> {
    let a = account.ix as u64;
    let end = (now_secs - 60).min(created_secs + 45 * DAY);
    let offsets = spread(pm.with_str("comment-times"), count, 120, end - created_secs);
    let mut comments: Vec<Comment> = Vec::with_capacity(count as usize);
    let mut top_level: Vec<usize> = Vec::new();
    for (k, offset) in offsets.into_iter().enumerate() {
        let km = pm.with_str("comment").with(k as u64);
        let parent = (!top_level.is_empty() && km.with_str("reply").chance(0.25))
            .then(|| top_level[km.with_str("parent").below(top_level.len() as u64) as usize]);
        let by_account = parent.is_some() && km.with_str("by-account").chance(0.3);
        let k64 = k as u64;
        let author = if by_account {
            account_author.clone()
        } else {
            let id = 7_600_000_000_000_000
                + post_rank * 1_000_000_000
                + k64 * 10_000
                + km.with_str("author-id").below(10_000);
            person_author(km.with_str("author"), account, id)
        };
        let id = if account.channel == Channel::Instagram {
            (18_000_000_000_000_000
                + a * 100_000_000_000_000
                + post_rank * 100_000_000
                + k64 * 1_000
                + km.with_str("id").below(1_000))
            .to_string()
        } else {
            format!(
                "{post_number}_{}",
                1_000_000_000_000_000 + k64 * 1_000_000 + km.with_str("id").below(1_000_000)
            )
        };
        comments.push(Comment {
            id,
            created_at: at(created_secs + offset),
            text: content::comment_text(km.with_str("text"), account.locale, by_account).to_owned(),
            author,
            by_account,
            parent_id: parent.map(|p| comments[p].id.clone()),
            like_count: km.with_str("likes").below(30) as u32,
        });
        if parent.is_none() {
            top_level.push(k);
        }
    }
    comments
}

fn person_author(m: Mix, account: &Account, id: u64) -> Author {
    let (name, handle) = content::person(m, account.locale.mostly(m));
    Author {
        id: id.to_string(),
        name,
        username: (account.channel == Channel::Instagram).then_some(handle),
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .expect("generated times are valid")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 1, 8, 0, 0).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_dataset_and_another_seed_does_not() {
        let a = Dataset::generate(Profile::Tiny, 42, now());
        let b = Dataset::generate(Profile::Tiny, 42, now());
        let c = Dataset::generate(Profile::Tiny, 43, now());
        let first = |d: &Dataset| {
            let conv = &d.accounts()[0].conversations[0];
            (
                conv.id.clone(),
                conv.last_activity,
                conv.messages().next().unwrap(),
            )
        };
        assert_eq!(first(&a), first(&b));
        assert_ne!(first(&a).0, first(&c).0);
        assert_eq!(a.accounts()[0].access_token, b.accounts()[0].access_token);
    }

    #[test]
    fn messages_are_strictly_ordered_and_the_newest_is_the_last_activity() {
        for profile in [Profile::Tiny, Profile::Small] {
            let d = Dataset::generate(profile, 7, now());
            for account in d.accounts() {
                let mut previous_activity = None;
                for conversation in &account.conversations {
                    let messages: Vec<Message> = conversation.messages().collect();
                    assert_eq!(messages.len() as u32, conversation.message_count);
                    assert_eq!(messages[0].created_at, conversation.last_activity);
                    for pair in messages.windows(2) {
                        assert!(pair[0].created_at.timestamp() > pair[1].created_at.timestamp());
                    }
                    if let Some(previous) = previous_activity {
                        assert!(conversation.last_activity.timestamp() < previous);
                    }
                    previous_activity = Some(conversation.last_activity.timestamp());
                    assert!(conversation.last_activity < d.now());
                }
            }
        }
    }

    #[test]
    fn ids_are_unique_and_graph_message_ids_decode() {
        let d = Dataset::generate(Profile::Small, 1, now());
        let mut seen = HashSet::new();
        for account in d.accounts() {
            assert!(seen.insert(account.id.clone()));
            for conversation in &account.conversations {
                assert!(seen.insert(conversation.id.clone()), "{}", conversation.id);
                for message in conversation.messages() {
                    assert!(seen.insert(message.id.clone()), "{}", message.id);
                    if matches!(account.channel, Channel::Facebook | Channel::Instagram) {
                        let (_, found, decoded) = d.graph_message(&message.id).unwrap();
                        assert_eq!(found.id, conversation.id);
                        assert_eq!(decoded, message);
                    }
                }
            }
            for post in &account.posts {
                assert!(seen.insert(post.id.clone()));
                for comment in &post.comments {
                    assert!(seen.insert(comment.id.clone()));
                }
            }
        }
    }

    #[test]
    fn small_cuts_meaningfully_at_thirty_days_and_one_year() {
        let d = Dataset::generate(Profile::Small, 42, now());
        let page = d.accounts_of(Channel::Facebook).next().unwrap();
        let recent = page
            .conversations
            .iter()
            .filter(|c| c.last_activity >= d.now() - Duration::days(30))
            .count();
        let within_year = page
            .conversations
            .iter()
            .filter(|c| c.last_activity >= d.now() - Duration::days(365))
            .count();
        assert_eq!(recent, 40);
        assert!(within_year > recent && within_year < page.conversations.len());
        assert!(
            page.conversations
                .iter()
                .filter(|c| c.message_count >= 250)
                .count()
                >= 2
        );
        assert!(
            d.accounts_of(Channel::Zalo)
                .next()
                .unwrap()
                .conversations
                .iter()
                .any(|c| !c.customer.is_follower)
        );
    }

    #[test]
    fn large_is_generated_quickly() {
        let started = std::time::Instant::now();
        let d = Dataset::generate(Profile::Large, 42, now());
        let page = d.accounts_of(Channel::Facebook).next().unwrap();
        assert!(page.conversations.len() >= 20_000);
        assert!(page.conversations.iter().any(|c| c.message_count >= 1_000));
        let oldest = page.conversations.last().unwrap().last_activity;
        assert!(d.now() - oldest > Duration::days(700));
        // Generous for unoptimised builds on a busy machine; release takes a few ms.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}
