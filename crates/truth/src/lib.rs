//! Ground truth: exactly what a policy should sync from a simulated account.
//!
//! Tests, `backfill demo` and the fleet proofs compare the store with this. It reads the
//! rules of a [`Policy`] and applies them straight to the simulator's [`Dataset`] — the
//! whole listing at once, as sets — without the planner's page-by-page walk, so that a
//! planner mistake cannot verify itself.
//!
//! "As the channel's endpoints show it": only conversations the list endpoints return
//! (the Requests folder hides idle threads [M1]); Facebook posts are the Page's own
//! published posts (`/{page-id}/posts`); Facebook comments are all levels
//! (`filter=stream`), Instagram comments top-level only [IG2]; Instagram messages past
//! the 20 newest are unavailable placeholders [IG1].

use std::collections::BTreeSet;

use backfill_policy::{Channel, ChannelPolicy, Policy};
use backfill_sim::dataset::{Account, Conversation, Dataset};
use chrono::{DateTime, Utc};

/// Instagram gives details of the newest 20 messages of a conversation only [IG1].
pub const INSTAGRAM_DETAIL_DEPTH: u32 = 20;

/// The ids a sync must end with: no more, no less.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub conversations: BTreeSet<String>,
    pub messages: BTreeSet<String>,
    /// The subset of `messages` stored as unavailable placeholders.
    pub unavailable: BTreeSet<String>,
    pub posts: BTreeSet<String>,
    pub comments: BTreeSet<String>,
}

impl Expected {
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.conversations.len(),
            self.messages.len(),
            self.comments.len(),
        )
    }
}

/// Everything a run of `policy` on `account_id`, connected at `connected_at`, keeps.
///
/// Panics if the account is unknown or the channel not covered: a test set-up mistake.
pub fn expected(
    dataset: &Dataset,
    account_id: &str,
    policy: &Policy,
    connected_at: DateTime<Utc>,
) -> Expected {
    let (account, rules) = lookup(dataset, account_id, policy);
    let conversations = kept_conversations(account, rules, connected_at);
    let mut expected = Expected::default();
    for conversation in &conversations {
        expected
            .conversations
            .insert(channel_conversation_id(account, conversation));
        keep_messages(
            account,
            conversation,
            rules,
            connected_at,
            None,
            &mut expected,
        );
    }
    keep_posts_and_comments(account, rules, connected_at, &mut expected);
    expected
}

/// The priority slice alone (S3): what must be there when peak hours hold back the rest.
pub fn expected_slice(
    dataset: &Dataset,
    account_id: &str,
    policy: &Policy,
    connected_at: DateTime<Utc>,
) -> Expected {
    let (account, rules) = lookup(dataset, account_id, policy);
    let round1 = round_one(account, rules, connected_at);
    let count = rules
        .slice
        .conversations
        .map_or(round1.len(), |n| (n as usize).min(round1.len()));
    let mut expected = Expected::default();
    for conversation in &round1[..count] {
        expected
            .conversations
            .insert(channel_conversation_id(account, conversation));
        keep_messages(
            account,
            conversation,
            rules,
            connected_at,
            rules.slice.messages_per_conversation,
            &mut expected,
        );
    }
    expected
}

/// The id the channel's API gives a conversation: Zalo has no conversation ids, a chat is
/// named by the customer's user id [Z2]; the others list their own thread ids.
pub fn channel_conversation_id(account: &Account, conversation: &Conversation) -> String {
    match account.channel.as_str() {
        "zalo" => conversation.customer.id.clone(),
        _ => conversation.id.clone(),
    }
}

fn lookup<'a>(
    dataset: &'a Dataset,
    account_id: &str,
    policy: &'a Policy,
) -> (&'a Account, &'a ChannelPolicy) {
    let account = dataset
        .account(account_id)
        .unwrap_or_else(|| panic!("no account {account_id} in the dataset"));
    let channel: Channel = account
        .channel
        .as_str()
        .parse()
        .expect("the simulator's channels are Backfill's");
    let rules = policy.channel(channel).unwrap_or_else(|e| panic!("{e}"));
    (account, rules)
}

/// Round 1: the listed conversations, newest first, inside the look-back window (S2, H1)
/// and under the cap (H4, H5, H9).
fn round_one<'a>(
    account: &'a Account,
    rules: &ChannelPolicy,
    connected_at: DateTime<Utc>,
) -> Vec<&'a Conversation> {
    let window_start = rules.conversations.lookback.map(|p| p.before(connected_at));
    let cap = rules.conversations.max.map_or(usize::MAX, |m| m as usize);
    account
        .listed_conversations()
        .take_while(|c| window_start.is_none_or(|start| c.last_activity >= start))
        .take(cap)
        .collect()
}

/// Round 1 plus H2's top-up: the next older conversations when round 1 has too few.
fn kept_conversations<'a>(
    account: &'a Account,
    rules: &ChannelPolicy,
    connected_at: DateTime<Utc>,
) -> Vec<&'a Conversation> {
    let mut kept = round_one(account, rules, connected_at);
    if let Some(top_up) = rules.conversations.top_up {
        let round1 = kept.len() as u32;
        if round1 < top_up.if_fewer_than {
            let more = top_up
                .at_most
                .min(top_up.total_at_most.saturating_sub(round1)) as usize;
            let older: Vec<&Conversation> = account
                .listed_conversations()
                .skip(kept.len())
                .take(more)
                .collect();
            kept.extend(older);
        }
    }
    kept
}

/// The newest messages of `conversation` within the window and the cap (S2, H1, H4, H5,
/// H9); `slice_cap` narrows the cap further for [`expected_slice`].
fn keep_messages(
    account: &Account,
    conversation: &Conversation,
    rules: &ChannelPolicy,
    connected_at: DateTime<Utc>,
    slice_cap: Option<u32>,
    expected: &mut Expected,
) {
    let window_start = rules.messages.lookback.map(|p| p.before(connected_at));
    let cap = if conversation.customer.is_follower {
        rules.messages.max_per_conversation
    } else {
        rules
            .messages
            .max_for_non_follower
            .or(rules.messages.max_per_conversation)
    };
    let cap = [cap, slice_cap]
        .into_iter()
        .flatten()
        .min()
        .map_or(usize::MAX, |c| c as usize);
    let instagram = account.channel.as_str() == "instagram";
    for (rank, message) in conversation
        .messages()
        .take_while(|m| window_start.is_none_or(|start| m.created_at >= start))
        .take(cap)
        .enumerate()
    {
        if instagram && rank as u32 >= INSTAGRAM_DETAIL_DEPTH {
            expected.unavailable.insert(message.id.clone());
        }
        expected.messages.insert(message.id);
    }
}

/// Posts and their comments (C2, H3, H4; shopline: those of the year before connecting).
fn keep_posts_and_comments(
    account: &Account,
    rules: &ChannelPolicy,
    connected_at: DateTime<Utc>,
    expected: &mut Expected,
) {
    let Some(rule) = &rules.comments else { return };
    let window_start = rule.lookback.map(|p| p.before(connected_at));
    let instagram = account.channel.as_str() == "instagram";
    let posts = account
        .posts
        .iter()
        // `/{page-id}/posts` lists the Page's own published posts; `/media` lists all.
        .filter(|p| instagram || (p.by_account && p.is_published))
        .take_while(|p| window_start.is_none_or(|start| p.created_at >= start))
        .take(rule.max_posts.map_or(usize::MAX, |m| m as usize));
    let mut budget = rule.max_comments.map(|m| m as usize);
    for post in posts {
        expected.posts.insert(post.id.clone());
        let mut comments: Vec<_> = if instagram {
            post.top_level_comments().collect()
        } else {
            post.comments.iter().collect()
        };
        // Newest first, as `order=reverse_chronological` lists them.
        comments.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        let cap = match rule.scope {
            backfill_policy::preset::CommentScope::PerPost => {
                rule.max_comments.map_or(usize::MAX, |m| m as usize)
            }
            backfill_policy::preset::CommentScope::AcrossPosts => budget.unwrap_or(usize::MAX),
        };
        let kept: Vec<_> = comments
            .into_iter()
            .take_while(|c| window_start.is_none_or(|start| c.created_at >= start))
            .take(cap)
            .collect();
        if rule.scope == backfill_policy::preset::CommentScope::AcrossPosts {
            budget = budget.map(|b| b - kept.len());
        }
        expected
            .comments
            .extend(kept.into_iter().map(|c| c.id.clone()));
    }
}
