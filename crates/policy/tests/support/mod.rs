//! Builders for the rule tests: synthetic channel listings and a driver that walks them
//! through the planner the way the worker would, one page per step.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the support module"
)]

use std::collections::VecDeque;

use backfill_policy::model::{Comment, Conversation, Cursor, FollowerStatus, Message, Page, Post};
use backfill_policy::planner::{self, Fetched, KeptConversation, Plan, RunContext};
use backfill_policy::step::{StepKind, StepSpec};
use backfill_policy::{Channel, Participant, Policy, PresetName, SenderRole};
use chrono::{DateTime, Duration, TimeZone, Utc};

pub fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

/// A synthetic account: conversations newest first, each with messages newest first.
#[derive(Clone, Debug, Default)]
pub struct Account {
    pub conversations: Vec<(Conversation, Vec<Message>)>,
    pub posts: Vec<(Post, Vec<Comment>)>,
    pub followers: Vec<String>,
}

impl Account {
    /// `ages` are the conversations' last activity, in hours before `now`, any order;
    /// each gets `messages` messages one hour apart ending at its last activity.
    pub fn with_conversations(now: DateTime<Utc>, ages_hours: &[i64], messages: u32) -> Self {
        let mut ages = ages_hours.to_vec();
        ages.sort_unstable();
        let conversations = ages
            .iter()
            .enumerate()
            .map(|(i, age)| {
                let last = now - Duration::hours(*age) - Duration::seconds(i as i64);
                conversation(&format!("c{i}"), last, messages)
            })
            .collect();
        Self {
            conversations,
            ..Self::default()
        }
    }

    pub fn with_posts(mut self, now: DateTime<Utc>, ages_days: &[i64], comments: u32) -> Self {
        self.posts = ages_days
            .iter()
            .enumerate()
            .map(|(i, age)| {
                let created = now - Duration::days(*age) - Duration::seconds(i as i64);
                let post = Post {
                    id: format!("p{i}"),
                    created_at: created,
                    text: None,
                    permalink: None,
                };
                let comments = (0..comments)
                    .map(|k| Comment {
                        id: format!("p{i}_k{k}"),
                        post_id: post.id.clone(),
                        parent_id: None,
                        created_at: created + Duration::hours(i64::from(comments - k)),
                        from: None,
                        text: Some(format!("comment {k}")),
                    })
                    .collect();
                (post, comments)
            })
            .collect();
        self
    }
}

pub fn conversation(id: &str, last: DateTime<Utc>, messages: u32) -> (Conversation, Vec<Message>) {
    let msgs = (0..messages)
        .map(|k| {
            message(
                id,
                &format!("{id}_m{k}"),
                last - Duration::hours(i64::from(k)),
            )
        })
        .collect();
    let conv = Conversation {
        id: id.to_owned(),
        last_activity: last,
        customer: Some(Participant {
            id: format!("u_{id}"),
            name: None,
        }),
        snippet: None,
        unread_count: None,
        embedded_messages: None,
    };
    (conv, msgs)
}

pub fn message(conversation_id: &str, id: &str, at: DateTime<Utc>) -> Message {
    Message {
        id: id.to_owned(),
        conversation_id: conversation_id.to_owned(),
        created_at: at,
        from: Some(Participant {
            id: "u".into(),
            name: None,
        }),
        role: Some(SenderRole::Customer),
        text: Some("xin chào 你好 👋".into()),
        attachments: Vec::new(),
        ad_referral: None,
        unavailable: false,
    }
}

/// What a run kept, and every step it executed.
#[derive(Debug, Default)]
pub struct Synced {
    pub conversations: Vec<KeptConversation>,
    pub messages: Vec<Message>,
    pub posts: Vec<Post>,
    pub comments: Vec<Comment>,
    pub steps: Vec<StepSpec>,
    pub last_listing_resume: Option<planner::Resume>,
}

impl Synced {
    pub fn conversation_ids(&self) -> Vec<&str> {
        self.conversations
            .iter()
            .map(|c| c.conversation.id.as_str())
            .collect()
    }

    pub fn messages_of(&self, conversation_id: &str) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| m.conversation_id == conversation_id)
            .collect()
    }

    pub fn comments_of(&self, post_id: &str) -> Vec<&Comment> {
        self.comments
            .iter()
            .filter(|c| c.post_id == post_id)
            .collect()
    }
}

/// Pages a synthetic listing the way a channel would: `page_size` items, honouring the
/// step's `want`, a cursor that is the offset. Embeds the first messages page when the
/// step asks for nested messages (Graph).
pub fn serve(account: &Account, step: &StepSpec, page_size: u32, nested: bool) -> Fetched {
    serve_with(account, step, page_size, nested, false)
}

/// As [`serve`], but before every real page the channel first answers an empty page that
/// still has `next` (legal on Graph [M5]); the cursor's `~` marks it as given.
pub fn serve_with(
    account: &Account,
    step: &StepSpec,
    page_size: u32,
    nested: bool,
    empty_first: bool,
) -> Fetched {
    let raw = step.cursor.as_ref().map_or("0", |c| c.as_str());
    if empty_first && !raw.ends_with('~') {
        let next = Some(Cursor::new(format!("{raw}~")));
        return match &step.kind {
            StepKind::ListConversations(_) => Fetched::Conversations(Page {
                items: vec![],
                next,
            }),
            StepKind::FetchMessages(_) => Fetched::Messages(Page {
                items: vec![],
                next,
            }),
            StepKind::ListPosts(_) => Fetched::Posts(Page {
                items: vec![],
                next,
            }),
            StepKind::FetchComments(_) => Fetched::Comments(Page {
                items: vec![],
                next,
            }),
            StepKind::CheckFollower(_) => serve_with(account, step, page_size, nested, false),
        };
    }
    let offset: usize = raw.trim_end_matches('~').parse().unwrap();
    let size = step.want.map_or(page_size, |w| w.min(page_size)) as usize;
    fn slice<T: Clone>(all: &[T], offset: usize, size: usize) -> Page<T> {
        let end = (offset + size).min(all.len());
        let items = all.get(offset..end).unwrap_or(&[]).to_vec();
        let next = (end < all.len()).then(|| Cursor::new(end.to_string()));
        Page { items, next }
    }
    match &step.kind {
        StepKind::ListConversations(_) => {
            let mut page = slice(&account.conversations, offset, size);
            let items = page
                .items
                .drain(..)
                .map(|(mut conv, msgs)| {
                    if nested {
                        let n = step.nested_want.unwrap_or(page_size) as usize;
                        conv.embedded_messages = Some(slice(&msgs, 0, n));
                    }
                    conv
                })
                .collect();
            Fetched::Conversations(Page {
                items,
                next: page.next,
            })
        }
        StepKind::FetchMessages(w) => {
            let msgs = &account
                .conversations
                .iter()
                .find(|(c, _)| c.id == w.conversation_id)
                .expect("known conversation")
                .1;
            Fetched::Messages(slice(msgs, offset, size))
        }
        StepKind::CheckFollower(c) => Fetched::Follower(FollowerStatus {
            user_id: c.user_id.clone(),
            follower: account.followers.contains(&c.user_id),
        }),
        StepKind::ListPosts(_) => {
            let posts: Vec<Post> = account.posts.iter().map(|(p, _)| p.clone()).collect();
            Fetched::Posts(slice(&posts, offset, size))
        }
        StepKind::FetchComments(w) => {
            let comments = &account
                .posts
                .iter()
                .find(|(p, _)| p.id == w.post_id)
                .unwrap()
                .1;
            Fetched::Comments(slice(comments, offset, size))
        }
    }
}

/// Runs a whole sync of `account` through the planner, as the worker would (ignoring
/// not_before: time does not pass), and returns what was kept.
pub fn sync(ctx: &RunContext<'_>, account: &Account, page_size: u32, nested: bool) -> Synced {
    let queue: VecDeque<StepSpec> = planner::first_steps(ctx).into();
    run(ctx, account, page_size, nested, queue)
}

pub fn run(
    ctx: &RunContext<'_>,
    account: &Account,
    page_size: u32,
    nested: bool,
    queue: VecDeque<StepSpec>,
) -> Synced {
    run_with(ctx, account, page_size, nested, false, queue)
}

/// Runs the steps as the worker would; like the store, refuses a second step with the
/// same key in one run (C5), so a walk whose follow-up repeats its own key fails here.
pub fn run_with(
    ctx: &RunContext<'_>,
    account: &Account,
    page_size: u32,
    nested: bool,
    empty_first: bool,
    mut queue: VecDeque<StepSpec>,
) -> Synced {
    let mut synced = Synced::default();
    let mut keys = std::collections::HashSet::new();
    while let Some(step) = queue.pop_front() {
        assert!(
            keys.insert(step.key()),
            "step key {} twice in one run",
            step.key()
        );
        let fetched = serve_with(account, &step, page_size, nested, empty_first);
        let plan: Plan = planner::plan(ctx, &step, fetched).expect("plannable");
        absorb(&mut synced, plan, &mut queue);
        synced.steps.push(step);
        assert!(synced.steps.len() < 100_000, "the walk does not end");
    }
    synced
}

pub fn absorb(synced: &mut Synced, plan: Plan, queue: &mut VecDeque<StepSpec>) {
    if plan.resume.is_some() {
        synced.last_listing_resume = plan.resume;
    }
    synced.conversations.extend(plan.conversations);
    synced.messages.extend(plan.messages);
    synced.posts.extend(plan.posts);
    synced.comments.extend(plan.comments);
    queue.extend(plan.follow_ups);
}

pub fn policy(preset: PresetName) -> Policy {
    Policy::preset(preset)
}

pub fn ctx<'a>(
    policy: &'a Policy,
    channel: Channel,
    connected_at: DateTime<Utc>,
) -> RunContext<'a> {
    RunContext::new(policy, channel, connected_at, connected_at).unwrap()
}
