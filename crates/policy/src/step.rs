//! Steps: the unit of work. One step is one channel API call (DESIGN decision 2).
//!
//! A step carries everything needed to make its call and to plan what follows: the
//! listing position ([`Cursor`]) and the walk's counters (how far down the list it is,
//! how much was kept). Steps are stored by the store as JSON and identified within a
//! run by [`StepSpec::key`], which is derived from the walk's counters and never from
//! the channel's cursor, so that a step re-executed after a crash creates follow-ups
//! with the same keys and the store's unique index drops the duplicates (C5).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Cursor;

/// Priority class (DESIGN decision 3): slice steps run first and even in peak hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Slice,
    Backlog,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slice => "slice",
            Self::Backlog => "backlog",
        }
    }
}

/// What one step asks the channel for, with the state of the walk it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// One page of the account's conversation list, newest first.
    ListConversations(ConversationWalk),
    /// One page of one conversation's messages, newest first.
    FetchMessages(MessageWalk),
    /// Zalo: whether a customer follows the OA, which decides their message cap (H5).
    CheckFollower(FollowerCheck),
    /// One page of the account's posts (Instagram: media), newest first.
    ListPosts(PostWalk),
    /// One page of one post's comments, newest first.
    FetchComments(CommentWalk),
}

impl StepKind {
    /// A short stable name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ListConversations(_) => "list_conversations",
            Self::FetchMessages(_) => "fetch_messages",
            Self::CheckFollower(_) => "check_follower",
            Self::ListPosts(_) => "list_posts",
            Self::FetchComments(_) => "fetch_comments",
        }
    }
}

/// Why a conversation listing is being walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ListingMode {
    /// The sync that a connect starts (C1): rounds, windows and caps of the policy.
    Initial,
    /// Zalo "load more" (H6): the next `cap` conversations after those already synced.
    LoadMore { cap: u32 },
}

/// The state of a walk down the conversation list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationWalk {
    /// Pages fetched before this one in the walk. Part of the step's key: an empty page
    /// that still has `next` [M5] moves no other counter, and its follow-up must not
    /// collide with the step itself.
    #[serde(default)]
    pub page: u32,
    pub mode: ListingMode,
    /// Conversations listed before this page: the rank of its first item.
    pub seen: u32,
    /// Items at the start of this page that an earlier walk already kept (a load-more
    /// resuming in the middle of a page).
    #[serde(default)]
    pub skip: u32,
    /// Kept in round 1 so far (H1; every kept conversation where there are no rounds).
    pub round1: u32,
    /// Kept in round 2 so far (H2).
    pub round2: u32,
    /// Round 1 has ended and round 2 is under way.
    pub in_round2: bool,
}

/// The state of a walk down one conversation's messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageWalk {
    /// Pages fetched before this one in the walk. Part of the step's key: an empty page
    /// that still has `next` [M5] moves no other counter, and its follow-up must not
    /// collide with the step itself.
    #[serde(default)]
    pub page: u32,
    pub conversation_id: String,
    /// The conversation belongs to the slice, so its newest messages do too (S3).
    pub slice_conversation: bool,
    /// Messages listed before this page.
    pub seen: u32,
    /// Messages kept so far.
    pub kept: u32,
    /// At most this many messages for this conversation; `None`: no cap.
    pub cap: Option<u32>,
    /// H8: the conversation came in late; the cap depends on its previous activity and is
    /// decided on the first page.
    #[serde(default)]
    pub late_arrival_at: Option<DateTime<Utc>>,
}

/// A Zalo follower check for one customer's conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowerCheck {
    pub user_id: String,
    pub slice_conversation: bool,
}

/// The state of a walk down the account's posts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostWalk {
    /// Pages fetched before this one in the walk. Part of the step's key: an empty page
    /// that still has `next` [M5] moves no other counter, and its follow-up must not
    /// collide with the step itself.
    #[serde(default)]
    pub page: u32,
    pub seen: u32,
    pub kept: u32,
    /// Posts kept on earlier pages whose comments are not yet being fetched (only for the
    /// `across_posts` comment reading, which walks posts one after another).
    #[serde(default)]
    pub queued: Vec<String>,
}

/// The state of a walk down one post's comments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentWalk {
    /// Pages fetched before this one in the walk. Part of the step's key: an empty page
    /// that still has `next` [M5] moves no other counter, and its follow-up must not
    /// collide with the step itself.
    #[serde(default)]
    pub page: u32,
    pub post_id: String,
    pub seen: u32,
    pub kept: u32,
    /// Comments this walk may still keep; `None`: no cap.
    pub budget: Option<u32>,
    /// `across_posts` reading: the posts to continue with, newest first, when this one
    /// ends with budget left.
    #[serde(default)]
    pub next_posts: Vec<String>,
}

/// A step as the planner creates it: what to call, from where, how urgently, and not
/// before when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSpec {
    pub kind: StepKind,
    /// Where the listing continues; `None` for its first page.
    pub cursor: Option<Cursor>,
    pub priority: Priority,
    pub not_before: DateTime<Utc>,
    /// Ask the channel for at most this many items, so that a page ends on a cap or on
    /// the slice boundary instead of fetching what would be thrown away. The connector
    /// clamps it to the channel's page size.
    pub want: Option<u32>,
    /// For a conversation listing: how many newest messages of each conversation to ask
    /// for in the same call by nested expansion, where the channel allows it.
    pub nested_want: Option<u32>,
}

impl StepSpec {
    /// The step's identity within its run, stable across re-execution (see module doc).
    pub fn key(&self) -> String {
        match &self.kind {
            // A load-more is a run of its own, so its pages cannot meet the initial walk's.
            StepKind::ListConversations(w) => format!("conversations:{}", w.page),
            StepKind::FetchMessages(w) => match w.late_arrival_at {
                None => format!("messages:{}:{}", w.conversation_id, w.page),
                Some(_) => format!("messages:{}:late:{}", w.conversation_id, w.page),
            },
            StepKind::CheckFollower(c) => format!("follower:{}", c.user_id),
            StepKind::ListPosts(w) => format!("posts:{}", w.page),
            StepKind::FetchComments(w) => format!("comments:{}:{}", w.post_id, w.page),
        }
    }
}
