//! One test per rule of REQUIREMENTS.md that the planner implements, named after it.

mod support;

use std::collections::VecDeque;

use backfill_policy::planner::{self, RunContext};
use backfill_policy::step::{Priority, StepKind};
use backfill_policy::{Channel, PolicyError, PresetName};
use chrono::{Duration, TimeZone};
use support::*;

const DAY: i64 = 24;

#[test]
fn s1_shopline_covers_facebook_only() {
    let policy = policy(PresetName::Shopline);
    assert!(policy.channel(Channel::Facebook).is_ok());
    for other in [Channel::Instagram, Channel::Zalo, Channel::Shopee] {
        let err =
            RunContext::new(&policy, other, at(2025, 1, 1, 0), at(2025, 1, 1, 0)).unwrap_err();
        assert!(
            matches!(err, PolicyError::ChannelNotCovered { .. }),
            "{other}: {err}"
        );
    }
}

#[test]
fn s2_shopline_keeps_one_year_before_connecting_and_nothing_older() {
    // Connected on 2021-11-01 (off peak in Taipei: 10:00 local).
    let t = chrono_tz::Asia::Taipei
        .with_ymd_and_hms(2021, 11, 1, 10, 0, 0)
        .unwrap()
        .to_utc();
    let policy = policy(PresetName::Shopline);
    let ctx = ctx(&policy, Channel::Facebook, t);
    // Conversations 1 day .. 500 days old; each has 400 messages one hour apart, so the
    // oldest messages of a recent conversation are also cut by the window.
    let ages: Vec<i64> = (0..120).map(|i| (1 + i * 4) * DAY).collect();
    let mut account = Account::with_conversations(t, &ages, 0);
    for (conv, msgs) in &mut account.conversations {
        *msgs = (0..400)
            .map(|k| {
                message(
                    &conv.id,
                    &format!("{}_m{k}", conv.id),
                    conv.last_activity - Duration::days(k),
                )
            })
            .collect();
    }
    let synced = sync(&ctx, &account, 100, true);

    let window_start = chrono::Utc
        .with_ymd_and_hms(2020, 10, 31, 16, 0, 0)
        .unwrap(); // 2020-11-01 00:00 Taipei
    assert_eq!(
        window_start,
        t - chrono::Months::new(12) - Duration::hours(10)
    );
    let expected: Vec<&str> = account
        .conversations
        .iter()
        .filter(|(c, _)| c.last_activity >= t - chrono::Months::new(12))
        .map(|(c, _)| c.id.as_str())
        .collect();
    assert_eq!(synced.conversation_ids(), expected);
    assert!(
        expected.len() > 50 && expected.len() < 120,
        "the window cuts the list"
    );
    let oldest_allowed = t - chrono::Months::new(12);
    assert!(
        synced
            .messages
            .iter()
            .all(|m| m.created_at >= oldest_allowed)
    );
    // No count cap: every in-window message of a kept conversation is there.
    for (conv, msgs) in account
        .conversations
        .iter()
        .filter(|(c, _)| expected.contains(&c.id.as_str()))
    {
        let in_window = msgs
            .iter()
            .filter(|m| m.created_at >= oldest_allowed)
            .count();
        assert_eq!(synced.messages_of(&conv.id).len(), in_window, "{}", conv.id);
    }
}

#[test]
fn s3_during_peak_only_the_slice_runs_and_the_rest_waits_for_off_peak() {
    let tz = chrono_tz::Asia::Taipei;
    // 20:00 in Taipei: peak.
    let t = tz.with_ymd_and_hms(2025, 3, 1, 20, 0, 0).unwrap().to_utc();
    let policy = policy(PresetName::Shopline);
    let ctx = ctx(&policy, Channel::Facebook, t);
    let ages: Vec<i64> = (0..80).map(|i| i * DAY + 1).collect();
    let mut account = Account::with_conversations(t, &ages, 150);
    for (_, msgs) in &mut account.conversations {
        for (k, m) in msgs.iter_mut().enumerate() {
            m.created_at -= Duration::minutes(k as i64); // keep them inside the window
        }
    }

    // Execute only what is due now; collect what was deferred.
    let mut queue: VecDeque<_> = planner::first_steps(&ctx).into();
    let mut synced = Synced::default();
    let mut deferred = Vec::new();
    while let Some(step) = queue.pop_front() {
        if step.not_before > t {
            deferred.push(step);
            continue;
        }
        assert_eq!(
            step.priority,
            Priority::Slice,
            "only slice steps run in peak"
        );
        let plan = planner::plan(&ctx, &step, serve(&account, &step, 100, true)).unwrap();
        absorb(&mut synced, plan, &mut queue);
    }
    // The slice: the newest 50 conversations, the newest 100 messages of each.
    let newest_50: Vec<&str> = account.conversations[..50]
        .iter()
        .map(|(c, _)| c.id.as_str())
        .collect();
    assert_eq!(synced.conversation_ids(), newest_50);
    for (conv, msgs) in &account.conversations[..50] {
        let got: Vec<&str> = synced
            .messages_of(&conv.id)
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        let want: Vec<&str> = msgs[..100].iter().map(|m| m.id.as_str()).collect();
        assert_eq!(got, want);
    }
    assert!(
        synced.posts.is_empty() && synced.comments.is_empty(),
        "posts and comments are backlog"
    );

    // Everything deferred waits for 01:00 Taipei (plus at most the jitter).
    let off_peak = tz.with_ymd_and_hms(2025, 3, 2, 1, 0, 0).unwrap().to_utc();
    assert!(!deferred.is_empty());
    for step in &deferred {
        assert_eq!(step.priority, Priority::Backlog);
        assert!(
            step.not_before >= off_peak && step.not_before <= off_peak + Duration::minutes(10),
            "{step:?}"
        );
    }

    // After 01:00 the rest completes without further action.
    let later = off_peak + Duration::minutes(11);
    let ctx_later = RunContext::new(&policy, Channel::Facebook, t, later).unwrap();
    let rest = run(&ctx_later, &account, 100, true, deferred.into());
    let total = synced.conversations.len() + rest.conversations.len();
    assert_eq!(total, 80);
    assert_eq!(synced.messages.len() + rest.messages.len(), 80 * 150);
}

#[test]
fn h1_facebook_round_one_keeps_every_conversation_of_the_last_30_days_with_50_messages() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Facebook, t);
    // 150 conversations inside 30 days: more than 100, no cap applies, no round 2.
    let mut ages: Vec<i64> = (0..150).map(|i| i * 4).collect();
    ages.extend((0..50).map(|i| 31 * DAY + i));
    let account = Account::with_conversations(t, &ages, 80);
    let synced = sync(&ctx, &account, 100, true);
    assert_eq!(synced.conversations.len(), 150);
    assert!(
        synced
            .conversations
            .iter()
            .all(|c| c.priority == Priority::Slice)
    );
    for (conv, msgs) in &account.conversations[..150] {
        let got: Vec<&str> = synced
            .messages_of(&conv.id)
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        let want: Vec<&str> = msgs[..50].iter().map(|m| m.id.as_str()).collect();
        assert_eq!(got, want, "the newest 50 of {}", conv.id);
    }
}

#[test]
fn h2_facebook_round_two_tops_up_with_at_most_100_older_conversations() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Facebook, t);
    // 40 in the window, 300 older: round 2 adds exactly 100.
    let mut ages: Vec<i64> = (0..40).map(|i| i * 10).collect();
    ages.extend((0..300).map(|i| 31 * DAY + i));
    let account = Account::with_conversations(t, &ages, 3);
    let synced = sync(&ctx, &account, 100, true);
    let expected: Vec<&str> = account.conversations[..140]
        .iter()
        .map(|(c, _)| c.id.as_str())
        .collect();
    assert_eq!(synced.conversation_ids(), expected);
    let round2: Vec<_> = synced
        .conversations
        .iter()
        .filter(|c| c.priority == Priority::Backlog)
        .collect();
    assert_eq!(round2.len(), 100, "round 2 is backlog, and 100 of them");

    // Round 1 with 100 or more: no round 2.
    let mut ages: Vec<i64> = (0..100).map(|i| i * 5).collect();
    ages.extend((0..50).map(|i| 31 * DAY + i));
    let account = Account::with_conversations(t, &ages, 1);
    assert_eq!(sync(&ctx, &account, 100, true).conversations.len(), 100);

    // Together never past 200, even when round 2 may take more.
    let custom = policy
        .clone()
        .with_overrides(
            &serde_json::json!({"channels": {"facebook": {"conversations": {"top_up":
            {"if_fewer_than": 150, "at_most": 180, "total_at_most": 200}}}}}),
        )
        .unwrap();
    let ctx = support::ctx(&custom, Channel::Facebook, t);
    let mut ages: Vec<i64> = (0..60).map(|i| i * 10).collect();
    ages.extend((0..300).map(|i| 31 * DAY + i));
    let account = Account::with_conversations(t, &ages, 1);
    assert_eq!(sync(&ctx, &account, 100, true).conversations.len(), 200);
}

#[test]
fn h3_facebook_comments_are_the_100_newest_of_each_of_the_5_newest_posts() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Facebook, t);
    let account =
        Account::with_conversations(t, &[1], 1).with_posts(t, &[1, 2, 3, 4, 5, 6, 7], 130);
    let synced = sync(&ctx, &account, 100, true);
    let post_ids: Vec<&str> = synced.posts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(post_ids, ["p0", "p1", "p2", "p3", "p4"]);
    for (post, comments) in &account.posts[..5] {
        let got: Vec<&str> = synced
            .comments_of(&post.id)
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        let want: Vec<&str> = comments[..100].iter().map(|c| c.id.as_str()).collect();
        assert_eq!(got, want);
    }
    assert_eq!(synced.comments.len(), 500);
}

#[test]
fn h3_the_across_posts_reading_is_one_configuration_change_away() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial)
        .with_overrides(
            &serde_json::json!({"channels": {"facebook": {"comments": {"scope": "across_posts"}}}}),
        )
        .unwrap();
    let ctx = ctx(&policy, Channel::Facebook, t);
    let account = Account::with_conversations(t, &[1], 1).with_posts(t, &[1, 2, 3, 4, 5, 6], 45);
    let synced = sync(&ctx, &account, 25, true);
    assert_eq!(synced.comments.len(), 100, "100 in all");
    assert_eq!(synced.comments_of("p0").len(), 45);
    assert_eq!(synced.comments_of("p1").len(), 45);
    assert_eq!(synced.comments_of("p2").len(), 10);
}

#[test]
fn h4_instagram_keeps_50_conversations_of_50_messages_and_20_comments_of_5_posts() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Instagram, t);
    let ages: Vec<i64> = (0..70).collect();
    let account = Account::with_conversations(t, &ages, 60).with_posts(t, &[1, 2, 3, 4, 5, 6], 30);
    let synced = sync(&ctx, &account, 25, true);
    assert_eq!(synced.conversations.len(), 50);
    assert!(synced.conversations.iter().all(|c| c.rank < 50));
    for c in &synced.conversations {
        assert_eq!(synced.messages_of(&c.conversation.id).len(), 50);
    }
    assert_eq!(synced.posts.len(), 5);
    assert_eq!(synced.comments.len(), 5 * 20);
}

#[test]
fn h4_instagram_placeholders_beyond_the_detail_depth_count_and_are_reported() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Instagram, t);
    let mut account = Account::with_conversations(t, &[1], 60);
    for m in account.conversations[0].1.iter_mut().skip(20) {
        m.unavailable = true;
        m.text = None;
    }
    let queue: VecDeque<_> = planner::first_steps(&ctx).into();
    let mut unavailable = 0;
    let mut q = queue;
    let mut messages = 0;
    while let Some(step) = q.pop_front() {
        let plan = planner::plan(&ctx, &step, serve(&account, &step, 25, true)).unwrap();
        unavailable += plan.unavailable;
        messages += plan.messages.len();
        q.extend(plan.follow_ups);
    }
    assert_eq!(messages, 50);
    assert_eq!(unavailable, 30);
}

#[test]
fn h5_zalo_syncs_100_conversations_100_messages_for_followers_and_1_for_those_who_left() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Zalo, t);
    let ages: Vec<i64> = (0..130).collect();
    let mut account = Account::with_conversations(t, &ages, 120);
    // Every third customer unfollowed.
    account.followers = account
        .conversations
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, (c, _))| c.id.clone())
        .collect();
    let synced = sync(&ctx, &account, 10, false);
    assert_eq!(synced.conversations.len(), 100);
    for (i, (conv, msgs)) in account.conversations[..100].iter().enumerate() {
        let got = synced.messages_of(&conv.id);
        if i % 3 == 0 {
            assert_eq!(
                got.len(),
                1,
                "a former follower gets only the newest message"
            );
            assert_eq!(got[0].id, msgs[0].id);
        } else {
            assert_eq!(got.len(), 100);
        }
    }
    assert!(
        synced
            .steps
            .iter()
            .any(|s| matches!(s.kind, StepKind::CheckFollower(_)))
    );
}

#[test]
fn h6_zalo_load_more_adds_30_at_a_time_up_to_1500_and_refuses_past_it() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Zalo, t);
    let ages: Vec<i64> = (0..1600).collect();
    let mut account = Account::with_conversations(t, &ages, 1);
    account.followers = account
        .conversations
        .iter()
        .map(|(c, _)| c.id.clone())
        .collect();
    let first = sync(&ctx, &account, 10, false);
    assert_eq!(first.conversations.len(), 100);
    let mut resume = first
        .last_listing_resume
        .clone()
        .expect("the first listing stopped on its cap");
    let mut synced = 100u32;
    let mut all_ids: Vec<String> = first
        .conversation_ids()
        .iter()
        .map(|s| s.to_string())
        .collect();
    loop {
        match planner::load_more(&ctx, synced, &resume) {
            Ok(step) => {
                let more = run(&ctx, &account, 10, false, VecDeque::from([step]));
                assert_eq!(more.conversations.len(), 30.min(1500 - synced as usize));
                assert_eq!(
                    more.conversations[0].rank, synced,
                    "continues where the list stopped"
                );
                synced += more.conversations.len() as u32;
                all_ids.extend(more.conversation_ids().iter().map(|s| s.to_string()));
                resume = more
                    .last_listing_resume
                    .clone()
                    .expect("stopped on its cap");
            }
            Err(PolicyError::LoadMoreLimit { synced: s, limit }) => {
                assert_eq!((s, limit), (1500, 1500));
                break;
            }
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }
    assert_eq!(synced, 1500);
    let expected: Vec<String> = account.conversations[..1500]
        .iter()
        .map(|(c, _)| c.id.clone())
        .collect();
    assert_eq!(all_ids, expected, "no conversation skipped or repeated");
    let err = planner::load_more(&ctx, 1500, &resume).unwrap_err();
    assert!(err.to_string().contains("1500"), "{err}");
}

#[test]
fn h7_zalo_inbox_shows_20_conversations_by_default() {
    assert_eq!(policy(PresetName::Harasocial).inbox.default_page_size, 20);
    assert_eq!(policy(PresetName::Shopline).inbox.default_page_size, 20);
}

#[test]
fn h8_a_late_customer_within_6_months_brings_100_older_messages_else_only_the_new_one() {
    let now = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = RunContext::new(&policy, Channel::Zalo, at(2025, 1, 1, 0), now).unwrap();
    for (previous_age_days, expected) in [(30, 101), (200, 1)] {
        let (conv, mut history) =
            conversation("late", now - Duration::days(previous_age_days), 150);
        let new_message = message("late", "late_new", now);
        history.insert(0, new_message.clone());
        let account = Account {
            conversations: vec![(conv.clone(), history)],
            ..Account::default()
        };
        let plan = planner::late_arrival(&ctx, conv, new_message).unwrap();
        assert_eq!(plan.conversations.len(), 1);
        let mut synced = Synced::default();
        let mut queue = VecDeque::new();
        absorb(&mut synced, plan, &mut queue);
        let rest = run(&ctx, &account, 10, false, queue);
        let mut ids: Vec<String> = synced
            .messages
            .iter()
            .chain(&rest.messages)
            .map(|m| m.id.clone())
            .collect();
        ids.dedup();
        assert_eq!(
            ids.len(),
            expected,
            "previous activity {previous_age_days} days ago"
        );
    }
}

#[test]
fn h9_shopee_keeps_100_conversations_of_30_messages_and_no_comments() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Shopee, t);
    let ages: Vec<i64> = (0..140).collect();
    let account = Account::with_conversations(t, &ages, 45).with_posts(t, &[1], 5);
    let synced = sync(&ctx, &account, 25, false);
    assert_eq!(synced.conversations.len(), 100);
    assert_eq!(synced.messages.len(), 100 * 30);
    assert!(synced.posts.is_empty() && synced.comments.is_empty());
    assert!(
        !synced
            .steps
            .iter()
            .any(|s| matches!(s.kind, StepKind::ListPosts(_)))
    );
    // Pages end on the caps: 4 listing pages of 25, 2 message pages (25 + 5) each.
    let listings = synced
        .steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::ListConversations(_)))
        .count();
    assert_eq!(listings, 4);
}

#[test]
fn c3_ranks_follow_the_channel_order_newest_first() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Shopee, t);
    let ages: Vec<i64> = (0..60).map(|i| i * 7 % 60).collect();
    let account = Account::with_conversations(t, &ages, 5);
    let synced = sync(&ctx, &account, 25, false);
    let ranks: Vec<u32> = synced.conversations.iter().map(|c| c.rank).collect();
    assert_eq!(ranks, (0..60).collect::<Vec<_>>());
    assert!(
        synced
            .conversations
            .windows(2)
            .all(|w| w[0].conversation.last_activity > w[1].conversation.last_activity)
    );
}

#[test]
fn c5_follow_up_keys_do_not_depend_on_the_cursor() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Shopee, t);
    let account = Account::with_conversations(t, &(0..60).collect::<Vec<_>>(), 5);
    let step = planner::first_steps(&ctx).remove(0);
    let page = serve(&account, &step, 25, false);
    let mut other = page.clone();
    if let planner::Fetched::Conversations(p) = &mut other {
        p.next = Some(backfill_policy::Cursor::new(
            "a-different-but-equivalent-cursor",
        ));
    }
    let keys = |f| -> Vec<String> {
        planner::plan(&ctx, &step, f)
            .unwrap()
            .follow_ups
            .iter()
            .map(|s| s.key())
            .collect()
    };
    assert_eq!(keys(page), keys(other), "a re-run finds the same step keys");
}

#[test]
fn c5_an_empty_page_that_still_has_next_continues_the_walk_under_a_new_key() {
    // Graph may answer an empty page that still has `next` [M5]; the walk must go on,
    // and its next step must not share the key of the step that got the empty page.
    let t = at(2025, 6, 1, 0);
    for (preset, channel, page_size, nested) in [
        (PresetName::Shopline, Channel::Facebook, 100, true),
        (PresetName::Harasocial, Channel::Facebook, 25, true),
        (PresetName::Harasocial, Channel::Shopee, 25, false),
    ] {
        let policy = policy(preset);
        let ctx = ctx(&policy, channel, t);
        let account =
            Account::with_conversations(t, &(0..130).map(|i| i * 20).collect::<Vec<_>>(), 140)
                .with_posts(t, &[1, 2, 3], 130);
        let plain = sync(&ctx, &account, page_size, nested);
        let with_empty_pages = run_with(
            &ctx,
            &account,
            page_size,
            nested,
            true,
            planner::first_steps(&ctx).into(),
        );
        assert_eq!(
            with_empty_pages.conversation_ids(),
            plain.conversation_ids(),
            "{preset}/{channel}"
        );
        assert_eq!(
            with_empty_pages.messages.len(),
            plain.messages.len(),
            "{preset}/{channel}"
        );
        assert_eq!(
            with_empty_pages.comments.len(),
            plain.comments.len(),
            "{preset}/{channel}"
        );
        assert!(
            with_empty_pages.steps.len() > plain.steps.len(),
            "the empty pages were served"
        );
    }
}

#[test]
fn a_page_of_the_wrong_kind_is_refused_not_misplanned() {
    let t = at(2025, 6, 1, 0);
    let policy = policy(PresetName::Harasocial);
    let ctx = ctx(&policy, Channel::Shopee, t);
    let step = planner::first_steps(&ctx).remove(0);
    let err = planner::plan(
        &ctx,
        &step,
        planner::Fetched::Posts(backfill_policy::Page::last(vec![])),
    )
    .unwrap_err();
    assert!(err.to_string().contains("list_conversations"), "{err}");
}
