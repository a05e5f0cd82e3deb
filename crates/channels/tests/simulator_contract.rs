//! Contract tests: the real clients against the channel simulator (`backfill-sim`), which
//! reproduces section 6 of `channel-apis.md` independently of this crate. Every operation
//! walks its listing to the end and must see exactly the simulated data (C9), and every
//! outcome class is provoked through the simulator's own faults, budgets and revocations.

use std::time::Duration;

use backfill_channels::{
    Account, CallResult, Connector, ConnectorsConfig, Credentials, Outcome, SecretString,
    ThrottleScope,
};
use backfill_policy::step::{
    CommentWalk, ConversationWalk, FollowerCheck, ListingMode, MessageWalk, PostWalk,
};
use backfill_policy::{Channel, Cursor, Fetched, Priority, SenderRole, StepKind, StepSpec};
use backfill_sim::dataset::Sender;
use backfill_sim::{
    ChannelFaults, Profile, RateBudget, RevokeReason, SimConfig, SimHandle, SimSettings,
};
use chrono::Utc;

type SimChannel = backfill_sim::Channel;

struct Sim {
    handle: SimHandle,
    connector: Connector,
}

impl Sim {
    /// The tiny dataset, with the Conversations API rate (2 calls/s [M7]) lifted so that
    /// walks run at full speed; tests of throttling use [`Sim::strict`].
    async fn start() -> Self {
        let mut settings = SimSettings::default();
        settings.graph.conversations_calls_per_second = 10_000;
        Self::with(settings).await
    }

    async fn strict() -> Self {
        Self::with(SimSettings::default()).await
    }

    async fn with(settings: SimSettings) -> Self {
        let config = SimConfig {
            profile: Profile::Tiny,
            settings,
            ..SimConfig::default()
        };
        let handle = backfill_sim::spawn(config)
            .await
            .expect("the simulator starts");
        let mut config = ConnectorsConfig {
            request_timeout: Duration::from_millis(800),
            ..ConnectorsConfig::default()
        };
        config.facebook.base_url = handle.base_url(SimChannel::Facebook);
        config.instagram.base_url = handle.base_url(SimChannel::Instagram);
        config.zalo.base_url = handle.base_url(SimChannel::Zalo);
        config.shopee.base_url = handle.base_url(SimChannel::Shopee);
        let connector = Connector::new(config).expect("a valid configuration");
        Self { handle, connector }
    }

    fn sim_account(&self, channel: Channel) -> &backfill_sim::dataset::Account {
        self.handle
            .dataset()
            .accounts_of(sim_channel(channel))
            .next()
            .expect("the dataset has the channel")
    }

    fn account(&self, channel: Channel) -> Account {
        let sim = self.sim_account(channel);
        let access_token = SecretString::from(sim.access_token.clone());
        let credentials = match channel {
            Channel::Facebook | Channel::Instagram => Credentials::Meta { access_token },
            Channel::Zalo => Credentials::Zalo { access_token },
            Channel::Shopee => {
                let shop = sim.shopee.as_ref().expect("shop credentials");
                Credentials::Shopee {
                    partner_id: shop.partner_id,
                    partner_key: SecretString::from(shop.partner_key.clone()),
                    access_token,
                }
            }
        };
        Account {
            channel,
            account_id: sim.id.clone(),
            credentials,
        }
    }

    async fn execute(&self, channel: Channel, step: &StepSpec) -> CallResult {
        let result = self.connector.execute(&self.account(channel), step).await;
        let text = format!("{:?} {}", result.outcome, result.outcome);
        assert!(
            !text.contains(&self.sim_account(channel).access_token),
            "B4: {text}"
        );
        result
    }

    /// Follows `next` from the first page to the last and returns every page.
    async fn walk(&self, channel: Channel, mut step: StepSpec) -> Vec<Fetched> {
        let mut pages = Vec::new();
        for _ in 0..200 {
            let result = self.execute(channel, &step).await;
            let Outcome::Page(fetched) = result.outcome else {
                panic!("{channel} {}: {:?}", step.kind.name(), result.outcome)
            };
            let next = next_of(&fetched);
            pages.push(fetched);
            match next {
                Some(cursor) => step.cursor = Some(cursor),
                None => return pages,
            }
        }
        panic!("{channel} {} did not end", step.kind.name());
    }

    fn set_faults(&self, channel: Channel, faults: ChannelFaults) {
        self.handle.set_faults(sim_channel(channel), faults);
    }
}

fn sim_channel(channel: Channel) -> SimChannel {
    match channel {
        Channel::Facebook => SimChannel::Facebook,
        Channel::Instagram => SimChannel::Instagram,
        Channel::Zalo => SimChannel::Zalo,
        Channel::Shopee => SimChannel::Shopee,
    }
}

fn next_of(fetched: &Fetched) -> Option<Cursor> {
    match fetched {
        Fetched::Conversations(p) => p.next.clone(),
        Fetched::Messages(p) => p.next.clone(),
        Fetched::Posts(p) => p.next.clone(),
        Fetched::Comments(p) => p.next.clone(),
        Fetched::Follower(_) => None,
    }
}

fn step(kind: StepKind, want: Option<u32>, nested_want: Option<u32>) -> StepSpec {
    StepSpec {
        kind,
        cursor: None,
        priority: Priority::Slice,
        not_before: Utc::now(),
        want,
        nested_want,
    }
}

fn conversations(want: u32, nested: Option<u32>) -> StepSpec {
    let walk = ConversationWalk {
        page: 0,
        mode: ListingMode::Initial,
        seen: 0,
        skip: 0,
        round1: 0,
        round2: 0,
        in_round2: false,
    };
    step(StepKind::ListConversations(walk), Some(want), nested)
}

fn messages(conversation_id: &str, want: u32) -> StepSpec {
    let walk = MessageWalk {
        page: 0,
        conversation_id: conversation_id.to_owned(),
        slice_conversation: true,
        seen: 0,
        kept: 0,
        cap: None,
        late_arrival_at: None,
    };
    step(StepKind::FetchMessages(walk), Some(want), None)
}

fn posts(want: u32) -> StepSpec {
    step(
        StepKind::ListPosts(PostWalk {
            page: 0,
            seen: 0,
            kept: 0,
            queued: Vec::new(),
        }),
        Some(want),
        None,
    )
}

fn comments(post_id: &str, want: u32) -> StepSpec {
    let walk = CommentWalk {
        page: 0,
        post_id: post_id.to_owned(),
        seen: 0,
        kept: 0,
        budget: None,
        next_posts: Vec::new(),
    };
    step(StepKind::FetchComments(walk), Some(want), None)
}

fn follower(user_id: &str) -> StepSpec {
    step(
        StepKind::CheckFollower(FollowerCheck {
            user_id: user_id.to_owned(),
            slice_conversation: true,
        }),
        None,
        None,
    )
}

fn conversation_items(pages: Vec<Fetched>) -> Vec<backfill_policy::Conversation> {
    pages
        .into_iter()
        .flat_map(|f| match f {
            Fetched::Conversations(p) => p.items,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn message_items(pages: Vec<Fetched>) -> Vec<backfill_policy::Message> {
    pages
        .into_iter()
        .flat_map(|f| match f {
            Fetched::Messages(p) => p.items,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn role(sender: Sender) -> SenderRole {
    match sender {
        Sender::Customer => SenderRole::Customer,
        Sender::Business => SenderRole::Business,
    }
}

/// The account's longest conversation, where paging and detail depth show.
fn longest(account: &backfill_sim::dataset::Account) -> &backfill_sim::dataset::Conversation {
    account
        .conversations
        .iter()
        .max_by_key(|c| c.message_count)
        .expect("conversations")
}

#[tokio::test]
async fn facebook_conversations_messages_posts_and_comments_walk_to_exactly_the_simulated_data() {
    let sim = Sim::start().await;
    let page = sim.sim_account(Channel::Facebook);

    let listed = conversation_items(
        sim.walk(Channel::Facebook, conversations(5, Some(10)))
            .await,
    );
    let expected: Vec<_> = page.listed_conversations().map(|c| c.id.clone()).collect();
    assert_eq!(
        listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        expected,
        "newest activity first (C3)"
    );
    for (got, want) in listed.iter().zip(page.listed_conversations()) {
        assert_eq!(got.last_activity, want.last_activity);
        assert_eq!(
            got.customer.as_ref().map(|c| c.id.as_str()),
            Some(want.customer.id.as_str())
        );
        let embedded = got.embedded_messages.as_ref().expect("nested expansion");
        let newest: Vec<_> = want.messages().take(10).map(|m| m.id).collect();
        assert_eq!(
            embedded
                .items
                .iter()
                .map(|m| m.id.clone())
                .collect::<Vec<_>>(),
            newest
        );
        assert_eq!(embedded.next.is_some(), want.message_count > 10);
    }

    let long = longest(page);
    let walked = message_items(sim.walk(Channel::Facebook, messages(&long.id, 100)).await);
    assert_eq!(walked.len(), long.message_count as usize);
    for (got, want) in walked.iter().zip(long.messages()) {
        assert_eq!(
            (&got.id, got.created_at, got.role),
            (&want.id, want.created_at, Some(role(want.sender)))
        );
        assert!(
            !got.unavailable,
            "Facebook has no detail depth in the simulator's default"
        );
    }

    let walked: Vec<_> = sim
        .walk(Channel::Facebook, posts(2))
        .await
        .into_iter()
        .flat_map(|f| match f {
            Fetched::Posts(p) => p.items,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut own: Vec<_> = page
        .posts
        .iter()
        .filter(|p| p.by_account && p.is_published)
        .collect();
    own.sort_by_key(|p| std::cmp::Reverse(p.created_at));
    assert_eq!(
        walked.iter().map(|p| &p.id).collect::<Vec<_>>(),
        own.iter().map(|p| &p.id).collect::<Vec<_>>()
    );

    let busiest = page.posts.iter().max_by_key(|p| p.comments.len()).unwrap();
    let walked: Vec<_> = sim
        .walk(Channel::Facebook, comments(&busiest.id, 7))
        .await
        .into_iter()
        .flat_map(|f| match f {
            Fetched::Comments(p) => p.items,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        walked.len(),
        busiest.comments.len(),
        "filter=stream lists every level [M11]"
    );
    assert!(
        walked
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    for got in &walked {
        let (_, _, want) = sim
            .handle
            .dataset()
            .comment(&got.id)
            .expect("a simulated comment");
        assert_eq!(got.parent_id, want.parent_id);
        assert_eq!(got.post_id, busiest.id);
    }
}

#[tokio::test]
async fn instagram_walks_to_the_simulated_data_with_placeholders_beyond_the_detail_depth() {
    let sim = Sim::start().await;
    let ig = sim.sim_account(Channel::Instagram);

    let listed = conversation_items(
        sim.walk(Channel::Instagram, conversations(50, Some(50)))
            .await,
    );
    assert_eq!(
        listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        ig.listed_conversations()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    );

    let long = longest(ig);
    assert!(
        long.message_count > 20,
        "the tiny dataset has a conversation beyond the depth"
    );
    let walked = message_items(sim.walk(Channel::Instagram, messages(&long.id, 8)).await);
    assert_eq!(
        walked.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        long.messages().map(|m| m.id).collect::<Vec<_>>()
    );
    assert!(
        walked[..20]
            .iter()
            .all(|m| !m.unavailable && m.role.is_some()),
        "the newest 20 have details [IG1]"
    );
    assert!(
        walked[20..]
            .iter()
            .all(|m| m.unavailable && m.from.is_none() && m.role.is_none())
    );

    // A detail request for a message beyond the depth: "the message has been deleted".
    let account = sim.account(Channel::Instagram);
    let Credentials::Meta { access_token } = &account.credentials else {
        unreachable!()
    };
    let instagram = sim.connector.instagram();
    let newest = instagram
        .message_detail(access_token, &ig.id, &long.id, &walked[0].id)
        .await;
    assert!(
        matches!(&newest.outcome, Outcome::Page(Fetched::Messages(p)) if p.items[0].text.is_some() || !p.items[0].attachments.is_empty()),
        "{:?}",
        newest.outcome
    );
    let old = instagram
        .message_detail(access_token, &ig.id, &long.id, &walked[25].id)
        .await;
    assert!(
        matches!(old.outcome, Outcome::Unavailable(_)),
        "{:?}",
        old.outcome
    );

    let media: Vec<_> = sim
        .walk(Channel::Instagram, posts(100))
        .await
        .into_iter()
        .flat_map(|f| match f {
            Fetched::Posts(p) => p.items,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(media.len(), ig.posts.len());
    let busiest = ig.posts.iter().max_by_key(|p| p.comments.len()).unwrap();
    let walked: Vec<_> = sim
        .walk(Channel::Instagram, comments(&busiest.id, 100))
        .await
        .into_iter()
        .flat_map(|f| match f {
            Fetched::Comments(p) => p.items,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        walked.len(),
        busiest.top_level_comments().count(),
        "top-level only [IG2]"
    );
    assert!(
        walked
            .iter()
            .all(|c| c.from.as_ref().is_some_and(|p| p.name.is_some()))
    );
}

#[tokio::test]
async fn zalo_recent_chats_messages_and_follower_status_match_the_simulated_oa() {
    let sim = Sim::start().await;
    let oa = sim.sim_account(Channel::Zalo);

    let listed = conversation_items(sim.walk(Channel::Zalo, conversations(100, None)).await);
    assert_eq!(
        listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        oa.conversations
            .iter()
            .map(|c| c.customer.id.clone())
            .collect::<Vec<_>>(),
        "one row per user, keyed by the user's id, newest first"
    );
    assert_eq!(listed[0].last_activity, oa.conversations[0].last_activity);

    let long = longest(oa);
    let walked = message_items(
        sim.walk(Channel::Zalo, messages(&long.customer.id, 100))
            .await,
    );
    assert_eq!(
        walked.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        long.messages().map(|m| m.id).collect::<Vec<_>>()
    );
    for (got, want) in walked.iter().zip(long.messages()) {
        assert_eq!(
            (got.created_at, got.role),
            (want.created_at, Some(role(want.sender))),
            "ms times, src roles"
        );
    }

    for customer in oa.conversations.iter().map(|c| &c.customer).take(6) {
        let result = sim.execute(Channel::Zalo, &follower(&customer.id)).await;
        let Outcome::Page(Fetched::Follower(status)) = result.outcome else {
            panic!("{:?}", result.outcome)
        };
        assert_eq!(status.follower, customer.is_follower, "{}", customer.id);
    }
}

#[tokio::test]
async fn shopee_conversations_and_messages_match_the_simulated_shop_with_ids_above_2_53() {
    let sim = Sim::start().await;
    let shop = sim.sim_account(Channel::Shopee);

    let listed = conversation_items(sim.walk(Channel::Shopee, conversations(4, None)).await);
    assert_eq!(
        listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        shop.conversations
            .iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        listed[0].last_activity, shop.conversations[0].last_activity,
        "nanoseconds kept"
    );

    let long = longest(shop);
    let walked = message_items(sim.walk(Channel::Shopee, messages(&long.id, 30)).await);
    assert_eq!(
        walked.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        long.messages().map(|m| m.id).collect::<Vec<_>>()
    );
    assert!(
        walked
            .iter()
            .all(|m| m.id.parse::<u64>().unwrap() > 1 << 53)
    );
    for (got, want) in walked.iter().zip(long.messages()) {
        assert_eq!(got.role, Some(role(want.sender)));
        assert_eq!(
            got.created_at.timestamp(),
            want.created_at.timestamp(),
            "seconds [S5]"
        );
    }
}

#[tokio::test]
async fn a_nested_listing_is_sized_under_the_expansion_ceiling_and_takes_one_call() {
    let sim = Sim::start().await;
    let result = sim
        .execute(Channel::Facebook, &conversations(100, Some(100)))
        .await;
    assert!(
        matches!(result.outcome, Outcome::Page(Fetched::Conversations(_))),
        "{:?}",
        result.outcome
    );
    assert_eq!(
        result.http_calls, 1,
        "100 x 100 is over the 5,000 ceiling, so the client asks for 50 x 100 at once"
    );
}

#[tokio::test]
async fn asking_for_too_much_nested_data_is_answered_by_asking_again_for_less() {
    // A channel whose real ceiling is lower than the configured one [PR1].
    let mut settings = SimSettings::default();
    settings.graph.conversations_calls_per_second = 10_000;
    settings.graph.reduce_data_threshold = 2_500;
    let sim = Sim::with(settings).await;
    let result = sim
        .execute(Channel::Facebook, &conversations(100, Some(100)))
        .await;
    assert!(
        matches!(result.outcome, Outcome::Page(Fetched::Conversations(_))),
        "{:?}",
        result.outcome
    );
    assert_eq!(
        result.http_calls, 2,
        "50 x 100 is refused with code 1, 25 x 50 is not"
    );
}

#[tokio::test]
async fn every_channel_throttles_when_its_budget_is_spent() {
    let sim = Sim::strict().await;
    // Conversations API: 2 calls/s per Page [M7], answered 613.
    let mut throttled = None;
    for _ in 0..4 {
        if let Outcome::Throttled { until, scope } = sim
            .execute(Channel::Facebook, &conversations(5, Some(1)))
            .await
            .outcome
        {
            throttled = Some((until, scope));
        }
    }
    let (until, scope) = throttled.expect("the third call within a second is refused");
    assert_eq!(scope, ThrottleScope::Account);
    assert!(until > Utc::now());

    for channel in Channel::ALL {
        let id = sim.sim_account(channel).id.clone();
        sim.handle
            .set_account_budget(&id, Some(RateBudget::new(2, 3_600.0)))
            .unwrap();
        let step = if channel == Channel::Zalo || channel == Channel::Shopee {
            conversations(5, None)
        } else {
            posts(5)
        };
        let mut last = None;
        for _ in 0..4 {
            last = Some(sim.execute(channel, &step).await);
        }
        let last = last.unwrap();
        let Outcome::Throttled { until, scope } = last.outcome else {
            panic!("{channel}: {:?}", last.outcome)
        };
        assert!(until > Utc::now(), "{channel}");
        let expected_scope = if channel == Channel::Zalo {
            ThrottleScope::App
        } else {
            ThrottleScope::Account
        };
        assert_eq!(scope, expected_scope, "{channel}");
        if matches!(channel, Channel::Facebook | Channel::Instagram) {
            let usage = last
                .usage
                .unwrap_or_else(|| panic!("{channel}: Meta sends usage headers [M6]"));
            assert!(usage.max_percent >= 100, "{channel}: {usage:?}");
        }
    }
}

#[tokio::test]
async fn server_errors_hangs_and_cut_off_bodies_are_transient_on_every_channel() {
    let sim = Sim::start().await;
    for channel in Channel::ALL {
        let step = conversations(5, Some(5));
        sim.set_faults(
            channel,
            ChannelFaults {
                server_error_rate: 1.0,
                ..ChannelFaults::default()
            },
        );
        let outcome = sim.execute(channel, &step).await.outcome;
        assert!(
            matches!(outcome, Outcome::Transient(_)),
            "{channel} 5xx: {outcome:?}"
        );

        sim.set_faults(
            channel,
            ChannelFaults {
                truncated_rate: 1.0,
                ..ChannelFaults::default()
            },
        );
        let outcome = sim.execute(channel, &step).await.outcome;
        assert!(
            matches!(&outcome, Outcome::Transient(r) if r.contains("dropped")),
            "{channel} cut: {outcome:?}"
        );

        sim.set_faults(
            channel,
            ChannelFaults {
                hang_rate: 1.0,
                hang_secs: 5.0,
                ..ChannelFaults::default()
            },
        );
        let outcome = sim.execute(channel, &step).await.outcome;
        assert!(
            matches!(&outcome, Outcome::Transient(r) if r.contains("timed out")),
            "{channel} hang: {outcome:?}"
        );
        sim.set_faults(channel, ChannelFaults::default());
    }
}

#[tokio::test]
async fn malformed_bodies_are_permanent_and_quote_their_first_bytes_on_every_channel() {
    let sim = Sim::start().await;
    for channel in Channel::ALL {
        sim.set_faults(
            channel,
            ChannelFaults {
                malformed_rate: 1.0,
                ..ChannelFaults::default()
            },
        );
        let outcome = sim
            .execute(channel, &conversations(5, Some(5)))
            .await
            .outcome;
        assert!(
            matches!(&outcome, Outcome::Permanent(r) if r.contains('<')),
            "{channel}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn revoked_tokens_are_auth_revoked_on_every_channel() {
    let sim = Sim::start().await;
    for channel in Channel::ALL {
        let id = sim.sim_account(channel).id.clone();
        sim.handle
            .revoke_account(&id, RevokeReason::Expired)
            .unwrap();
        let outcome = sim
            .execute(channel, &conversations(5, Some(5)))
            .await
            .outcome;
        assert!(
            matches!(outcome, Outcome::AuthRevoked(_)),
            "{channel}: {outcome:?}"
        );
    }
}
