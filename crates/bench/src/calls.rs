//! `calls_ratio.<channel>`: channel API calls a whole sync used, divided by the fewest
//! calls the channel's page sizes allow for the same items.
//!
//! One account per channel of the `small` dataset, all four at once in one fleet with
//! the product's rate limits: Facebook under `shopline` (peak hours off, so the backlog
//! runs now), Instagram, Zalo and Shopee under `harasocial`. The calls are the
//! simulator's count for the account (every request, whatever its answer); the items
//! are what the store holds afterwards, checked against the ground truth.
//!
//! The floor, per channel (the formulas are repeated in `docs/benchmarks.md`), with
//! `K` kept conversations holding `m_c` kept messages each, `P` kept posts holding
//! `c_p` kept comments each, and the page maxima of `ConnectorsConfig::default()`,
//! which cite the channels' documentation:
//! - Graph (Facebook, Instagram): the conversation listing can carry the newest `N`
//!   messages of each conversation (nested expansion) as long as `limit × N` stays within
//!   what Graph serves (the simulator's code-1 threshold, 5,000), so the floor is the best
//!   `N`: `min over N of ceil(K / L(N)) + Σ_c ceil(max(0, m_c − N) / P_msg)` with
//!   `L(N) = min(P_conv, 5000 / N)` (`N = 0`: no expansion, and every conversation needs
//!   at least one call of its own), plus `ceil(P / P_post)` listing calls and
//!   `Σ_p max(1, ceil(c_p / P_comment))` comment calls where the policy syncs comments.
//! - Zalo: `pages(K) + K + Σ_c pages(m_c)` with pages of 10: no nested expansion, and
//!   the follower status that decides a conversation's cap (H5) is one `user/detail`
//!   call per customer (listing all followers instead is not bounded by the
//!   conversations: an OA may have millions). Zalo tells the end of a listing only by a
//!   short page [Z2], so `pages(n)` is `floor(n / 10) + 1` when the listing ran to the
//!   channel's end, and `ceil(n / 10)` when it stopped on the policy's cap.
//! - Shopee: `ceil(K / 25) + Σ_c max(1, ceil(m_c / 60))`.
//!
//! Every listing takes at least one call even when it finds nothing, hence the
//! `max(1, ...)`. The floor ignores what no client controls: Graph's empty and short
//! pages (M5) are switched off in the headline run and left on in a second run reported
//! as `calls_ratio_with_paging_quirks.<channel>`.

use std::time::Duration;

use backfill_channels::ConnectorsConfig;
use backfill_policy::{Channel, ChannelPolicy, Policy, PresetName};
use backfill_sim::{Profile, SimConfig, SimSettings};
use serde::Serialize;

use crate::fleet::{Fleet, FleetOptions, account_of, tenant_id};

/// The figures of one account.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelCalls {
    pub channel: Channel,
    pub preset: PresetName,
    pub account_id: String,
    /// Every request the simulator attributed to the account.
    pub calls: u64,
    pub throttled: u64,
    pub errors: u64,
    pub requests_by_endpoint: std::collections::BTreeMap<String, u64>,
    pub fewest_calls: u64,
    pub ratio: f64,
    pub conversations: usize,
    pub messages: u64,
    pub posts: usize,
    pub comments: u64,
    /// The store holds exactly the ground truth's ids (counts compared).
    pub matches_truth: bool,
}

/// What was synced, shaped for the floor: per kept conversation its message count,
/// per kept post its comment count.
#[derive(Debug, Clone, Default)]
pub struct Synced {
    pub messages_per_conversation: Vec<u64>,
    pub comments_per_post: Vec<u64>,
    /// The policy walks posts (it syncs comments).
    pub walks_posts: bool,
    /// The policy's caps: a listing that reached one stopped there, not at the
    /// channel's end.
    pub conversation_cap: Option<u64>,
    pub message_cap: Option<u64>,
}

/// The page maxima the floor uses for one channel.
#[derive(Debug, Clone, Copy)]
pub struct PageSizes {
    pub conversations: u64,
    pub messages: u64,
    pub posts: u64,
    pub comments: u64,
    /// Graph: the largest `limit × nested messages` a listing may ask for.
    pub nested_budget: Option<u64>,
}

impl PageSizes {
    pub fn of(channel: Channel) -> Self {
        let c = ConnectorsConfig::default();
        let nested = Some(u64::from(
            SimSettings::default().graph.reduce_data_threshold,
        ));
        let n = u64::from;
        match channel {
            Channel::Facebook => Self {
                conversations: n(c.facebook.conversations_page_max),
                messages: n(c.facebook.messages_page_max),
                posts: n(c.facebook.posts_page_max),
                comments: n(c.facebook.comments_page_max),
                nested_budget: nested,
            },
            Channel::Instagram => Self {
                conversations: n(c.instagram.conversations_page_max),
                messages: n(c.instagram.messages_page_max),
                posts: n(c.instagram.media_page_max),
                comments: n(c.instagram.comments_page_max),
                nested_budget: nested,
            },
            Channel::Zalo => Self {
                conversations: n(c.zalo.recent_chats_page_max),
                messages: n(c.zalo.messages_page_max),
                posts: 1,
                comments: 1,
                nested_budget: None,
            },
            Channel::Shopee => Self {
                conversations: n(c.shopee.conversations_page_max),
                messages: n(c.shopee.messages_page_max),
                posts: 1,
                comments: 1,
                nested_budget: None,
            },
        }
    }
}

/// The fewest calls that fetch `synced` (see the module doc for the formulas).
pub fn fewest_calls(channel: Channel, sizes: PageSizes, synced: &Synced) -> u64 {
    let k = synced.messages_per_conversation.len() as u64;
    let listing = |per_page: u64| k.max(1).div_ceil(per_page);
    let own_pages = |m: u64, per_page: u64| m.div_ceil(per_page).max(1);
    let conversations_and_messages = match (channel, sizes.nested_budget) {
        (Channel::Facebook | Channel::Instagram, Some(budget)) => (0..=sizes.messages)
            .map(|nested| {
                if nested == 0 {
                    let messages: u64 = synced
                        .messages_per_conversation
                        .iter()
                        .map(|&m| own_pages(m, sizes.messages))
                        .sum();
                    return listing(sizes.conversations) + messages;
                }
                let per_page = sizes.conversations.min(budget / nested).max(1);
                let rest: u64 = synced
                    .messages_per_conversation
                    .iter()
                    .map(|&m| m.saturating_sub(nested).div_ceil(sizes.messages))
                    .sum();
                listing(per_page) + rest
            })
            .min()
            .unwrap_or(0),
        (Channel::Zalo, _) => {
            let messages: u64 = synced
                .messages_per_conversation
                .iter()
                .map(|&m| pages_ending_short(m, sizes.messages, synced.message_cap))
                .sum();
            pages_ending_short(k, sizes.conversations, synced.conversation_cap) + k + messages
        }
        _ => {
            let messages: u64 = synced
                .messages_per_conversation
                .iter()
                .map(|&m| own_pages(m, sizes.messages))
                .sum();
            listing(sizes.conversations) + messages
        }
    };
    let posts_and_comments = if synced.walks_posts {
        let p = synced.comments_per_post.len() as u64;
        let comments: u64 = synced
            .comments_per_post
            .iter()
            .map(|&c| own_pages(c, sizes.comments))
            .sum();
        p.max(1).div_ceil(sizes.posts) + comments
    } else {
        0
    };
    conversations_and_messages + posts_and_comments
}

/// Pages of a listing that tells its end only with a short page (Zalo): one that ran to
/// the channel's end with a multiple of the page size takes one more, empty, page.
fn pages_ending_short(n: u64, per_page: u64, cap: Option<u64>) -> u64 {
    if cap.is_some_and(|cap| n >= cap) {
        n.div_ceil(per_page).max(1)
    } else {
        n / per_page + 1
    }
}

/// Runs the headline (paging quirks off) and the quirks-on variant side by side.
pub async fn run() -> anyhow::Result<(Vec<ChannelCalls>, Vec<ChannelCalls>)> {
    let (clean, quirky) = tokio::join!(run_once(false), run_once(true));
    Ok((clean?, quirky?))
}

async fn run_once(paging_quirks: bool) -> anyhow::Result<Vec<ChannelCalls>> {
    let mut settings = SimSettings::default();
    if !paging_quirks {
        settings.graph.empty_page_rate = 0.0;
        settings.graph.short_page_rate = 0.0;
    }
    let sim = SimConfig {
        profile: Profile::Small,
        settings,
        ..SimConfig::default()
    };
    let mut fleet = Fleet::start(FleetOptions {
        sim,
        in_process_workers: 1,
        ..FleetOptions::default()
    })
    .await?;
    fleet.start_dispatcher().await?;
    let shopline =
        Policy::preset(PresetName::Shopline).with_overrides(&serde_json::json!({"peak": null}))?;
    let harasocial = Policy::preset(PresetName::Harasocial);
    let cases = [
        (Channel::Facebook, &shopline),
        (Channel::Instagram, &harasocial),
        (Channel::Zalo, &harasocial),
        (Channel::Shopee, &harasocial),
    ];
    let tenant = tenant_id(0);
    let mut runs = Vec::new();
    for (channel, policy) in cases {
        let account = account_of(&fleet.sim, channel, 0)?;
        let run = fleet.connect(&tenant, channel, &account, policy).await?;
        runs.push((channel, policy, account, run));
    }
    let outcome = async {
        fleet.wait_all_finished(Duration::from_secs(300)).await?;
        let stats = fleet.sim.stats();
        let mut db = fleet.db().await?;
        let mut figures = Vec::new();
        for (channel, policy, account, run) in &runs {
            let synced = synced_of(&mut db, account, policy.channel(*channel)?).await?;
            let expected =
                backfill_truth::expected(fleet.sim.dataset(), account, policy, run.connected_at);
            let messages: u64 = synced.messages_per_conversation.iter().sum();
            let comments: u64 = synced.comments_per_post.iter().sum();
            let matches_truth = expected.conversations.len()
                == synced.messages_per_conversation.len()
                && expected.messages.len() as u64 == messages
                && expected.posts.len() == synced.comments_per_post.len()
                && expected.comments.len() as u64 == comments;
            let s = stats.accounts.get(account.as_str()).cloned();
            let calls = s.as_ref().map_or(0, |s| s.requests);
            let fewest = fewest_calls(*channel, PageSizes::of(*channel), &synced);
            figures.push(ChannelCalls {
                channel: *channel,
                preset: policy.preset,
                account_id: account.clone(),
                calls,
                throttled: s.as_ref().map_or(0, |s| s.throttled),
                errors: s.as_ref().map_or(0, |s| s.errors + s.faults),
                requests_by_endpoint: s.map(|s| s.requests_by_endpoint).unwrap_or_default(),
                fewest_calls: fewest,
                ratio: calls as f64 / fewest.max(1) as f64,
                conversations: synced.messages_per_conversation.len(),
                messages,
                posts: synced.comments_per_post.len(),
                comments,
                matches_truth,
            });
        }
        Ok(figures)
    }
    .await;
    fleet.stop().await;
    outcome
}

/// The kept items of `account`, per conversation and per post.
async fn synced_of(
    db: &mut sqlx::PgConnection,
    account: &str,
    rules: &ChannelPolicy,
) -> anyhow::Result<Synced> {
    let per_conversation: Vec<(i64,)> = sqlx::query_as(
        "SELECT COUNT(m.id) FROM conversations c
         JOIN connections k ON k.id = c.connection_id
         LEFT JOIN messages m ON m.connection_id = c.connection_id AND m.conversation_channel_id = c.channel_id
         WHERE k.account_id = $1 GROUP BY c.id",
    )
    .bind(account)
    .fetch_all(&mut *db)
    .await?;
    let per_post: Vec<(i64,)> = sqlx::query_as(
        "SELECT COUNT(cm.id) FROM posts p
         JOIN connections k ON k.id = p.connection_id
         LEFT JOIN comments cm ON cm.connection_id = p.connection_id AND cm.post_channel_id = p.channel_id
         WHERE k.account_id = $1 GROUP BY p.id",
    )
    .bind(account)
    .fetch_all(&mut *db)
    .await?;
    Ok(Synced {
        messages_per_conversation: per_conversation.into_iter().map(|(n,)| n as u64).collect(),
        comments_per_post: per_post.into_iter().map(|(n,)| n as u64).collect(),
        walks_posts: rules.comments.is_some(),
        conversation_cap: rules.conversations.max.map(u64::from),
        message_cap: rules.messages.max_per_conversation.map(u64::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopee_needs_a_listing_page_per_25_and_a_call_per_conversation() {
        let synced = Synced {
            messages_per_conversation: vec![30; 100],
            ..Synced::default()
        };
        assert_eq!(
            fewest_calls(Channel::Shopee, PageSizes::of(Channel::Shopee), &synced),
            4 + 100
        );
    }

    #[test]
    fn zalo_pays_a_follower_check_per_conversation() {
        let synced = Synced {
            messages_per_conversation: vec![25, 1, 0],
            ..Synced::default()
        };
        // One listing page, three checks, 3 + 1 + 1 message pages.
        assert_eq!(
            fewest_calls(Channel::Zalo, PageSizes::of(Channel::Zalo), &synced),
            1 + 3 + 5
        );
    }

    #[test]
    fn a_zalo_listing_that_runs_to_the_end_on_a_full_page_takes_one_more() {
        let synced = Synced {
            messages_per_conversation: vec![20, 100],
            message_cap: Some(100),
            conversation_cap: Some(100),
            ..Synced::default()
        };
        // Listing: 2 < cap, one short page. Checks: 2. Messages: 20 ran to the end
        // (2 full pages and an empty one), 100 stopped on the cap (10 pages).
        assert_eq!(
            fewest_calls(Channel::Zalo, PageSizes::of(Channel::Zalo), &synced),
            1 + 2 + 3 + 10
        );
    }

    #[test]
    fn graph_picks_the_nested_expansion_that_costs_least() {
        // 40 conversations of 30 messages: one listing of 40 with 30 nested each
        // (40 x 30 = 1,200, within the budget) fetches everything.
        let synced = Synced {
            messages_per_conversation: vec![30; 40],
            ..Synced::default()
        };
        assert_eq!(
            fewest_calls(Channel::Facebook, PageSizes::of(Channel::Facebook), &synced),
            1
        );
        // One long conversation adds the pages past the nested ones.
        let mut long = synced.clone();
        long.messages_per_conversation.push(330);
        let sizes = PageSizes::of(Channel::Facebook);
        // Nested 100: 41 conversations need one page of 50, the long one 3 more pages.
        assert_eq!(fewest_calls(Channel::Facebook, sizes, &long), 1 + 3);
    }

    #[test]
    fn every_kept_post_costs_a_comment_call_even_without_comments() {
        let synced = Synced {
            messages_per_conversation: vec![],
            comments_per_post: vec![0, 0, 120],
            walks_posts: true,
            ..Synced::default()
        };
        // Listing (1, nothing kept), posts (1), comments 1 + 1 + 2.
        assert_eq!(
            fewest_calls(Channel::Facebook, PageSizes::of(Channel::Facebook), &synced),
            1 + 1 + 4
        );
    }
}
