//! Property tests of the planner's invariants, over random account shapes, connect
//! times and page sizes.

mod support;

use std::collections::{HashSet, VecDeque};

use backfill_policy::planner::{self, RunContext};
use backfill_policy::step::Priority;
use backfill_policy::{Channel, PresetName};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use support::*;

fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2019 .. 2030, minute resolution: crosses many DST changes in many zones.
    (1_546_300_800i64..1_893_456_000).prop_map(|s| DateTime::from_timestamp(s - s % 60, 0).unwrap())
}

fn any_account(now: DateTime<Utc>) -> impl Strategy<Value = Account> {
    (
        prop::collection::vec((0i64..800 * 24, 0u32..130), 0..260),
        prop::collection::vec((0i64..500, 0u32..120), 0..8),
    )
        .prop_map(move |(convs, posts)| {
            let ages: Vec<i64> = convs.iter().map(|(age, _)| *age).collect();
            let mut account = Account::with_conversations(now, &ages, 0);
            let mut counts: Vec<u32> = convs.iter().map(|(_, n)| *n).collect();
            counts.sort_unstable();
            for ((conv, msgs), n) in account.conversations.iter_mut().zip(counts) {
                *msgs = conversation(&conv.id, conv.last_activity, n).1;
            }
            let post_ages: Vec<i64> = posts.iter().map(|(a, _)| *a).collect();
            let comments = posts.iter().map(|(_, c)| *c).max().unwrap_or(0);
            account = account.with_posts(now, &post_ages, comments);
            account.followers = account
                .conversations
                .iter()
                .step_by(2)
                .map(|(c, _)| c.id.clone())
                .collect();
            account
        })
}

fn covered() -> impl Strategy<Value = (PresetName, Channel)> {
    prop_oneof![
        Just((PresetName::Shopline, Channel::Facebook)),
        Just((PresetName::Harasocial, Channel::Facebook)),
        Just((PresetName::Harasocial, Channel::Instagram)),
        Just((PresetName::Harasocial, Channel::Zalo)),
        Just((PresetName::Harasocial, Channel::Shopee)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn never_more_than_a_cap_and_never_outside_the_window(
        (preset, channel) in covered(),
        now in any_instant(),
        account in any_instant().prop_flat_map(any_account),
        page_size in 1u32..120,
        nested in any::<bool>(),
    ) {
        let policy = policy(preset);
        let rules = policy.channel(channel).unwrap().clone();
        // Shift the account so it is relative to `now`.
        let ctx = RunContext::new(&policy, channel, now, now).unwrap();
        let account = rebase(account, now);
        let synced = sync(&ctx, &account, page_size, nested);

        let ids: HashSet<&str> = synced.conversation_ids().into_iter().collect();
        prop_assert_eq!(ids.len(), synced.conversations.len(), "no conversation twice");
        let message_ids: HashSet<&str> = synced.messages.iter().map(|m| m.id.as_str()).collect();
        prop_assert_eq!(message_ids.len(), synced.messages.len(), "no message twice");

        let top_up_total = rules.conversations.top_up.map(|t| t.total_at_most);
        if let Some(cap) = rules.conversations.max.or(top_up_total) {
            let round1_cap = rules.conversations.max;
            let limit = match (round1_cap, top_up_total) { (Some(a), Some(b)) => a.max(b), (a, b) => a.or(b).unwrap() };
            let _ = cap;
            if rules.conversations.lookback.is_none() {
                prop_assert!(synced.conversations.len() as u32 <= limit);
            }
        }
        if let Some(max) = rules.messages.max_per_conversation {
            for c in &synced.conversations {
                prop_assert!(synced.messages_of(&c.conversation.id).len() as u32 <= max);
            }
        }
        if let Some(start) = rules.messages.lookback.map(|p| p.before(now)) {
            prop_assert!(synced.messages.iter().all(|m| m.created_at >= start));
        }
        if let Some(lookback) = rules.conversations.lookback {
            let start = lookback.before(now);
            let in_window = synced.conversations.iter().filter(|c| c.conversation.last_activity >= start).count();
            let expected_in_window = account.conversations.iter().filter(|(c, _)| c.last_activity >= start).count();
            prop_assert_eq!(in_window, expected_in_window, "round 1 keeps every conversation of the window");
        }
        if let Some(rule) = &rules.comments {
            if let Some(max) = rule.max_posts { prop_assert!(synced.posts.len() as u32 <= max); }
            if let Some(max) = rule.max_comments {
                for p in &synced.posts { prop_assert!(synced.comments_of(&p.id).len() as u32 <= max); }
            }
            if let Some(start) = rule.lookback.map(|p| p.before(now)) {
                prop_assert!(synced.posts.iter().all(|p| p.created_at >= start));
                prop_assert!(synced.comments.iter().all(|c| c.created_at >= start));
            }
        }
    }

    #[test]
    fn facebook_round_two_never_takes_the_total_past_its_ceiling(
        in_window in 0usize..150,
        older in 0usize..400,
        at_most in 1u32..300,
        total in 1u32..300,
        if_fewer_than in 1u32..300,
    ) {
        prop_assume!(total >= if_fewer_than);
        let now = at(2025, 6, 1, 0);
        let policy = policy(PresetName::Harasocial)
            .with_overrides(&serde_json::json!({"channels": {"facebook": {"conversations": {"top_up":
                {"if_fewer_than": if_fewer_than, "at_most": at_most, "total_at_most": total}}}}}))
            .unwrap();
        let ctx = RunContext::new(&policy, Channel::Facebook, now, now).unwrap();
        let mut ages: Vec<i64> = (0..in_window as i64).map(|i| i * 2).collect();
        ages.extend((0..older as i64).map(|i| 31 * 24 + i));
        let account = Account::with_conversations(now, &ages, 1);
        let synced = sync(&ctx, &account, 50, true);
        let round1 = in_window as u32;
        let round2 = synced.conversations.len() as u32 - round1;
        if round1 < if_fewer_than {
            let expected = at_most.min(total.saturating_sub(round1)).min(older as u32);
            prop_assert_eq!(round2, expected);
            prop_assert!(synced.conversations.len() as u32 <= total.max(round1));
        } else {
            prop_assert_eq!(round2, 0);
        }
    }

    #[test]
    fn the_slice_is_a_subset_of_what_is_kept_and_a_backlog_step_is_never_due_in_peak(
        now in any_instant(),
        account in any_instant().prop_flat_map(any_account),
        tz in prop::sample::select(vec!["Asia/Taipei", "America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago"]),
    ) {
        let policy = policy(PresetName::Shopline)
            .with_overrides(&serde_json::json!({"timezone": tz}))
            .unwrap();
        let peak = policy.peak.unwrap();
        let ctx = RunContext::new(&policy, Channel::Facebook, now, now).unwrap();
        let account = rebase(account, now);

        let mut queue: VecDeque<_> = planner::first_steps(&ctx).into();
        let mut slice = Synced::default();
        while let Some(step) = queue.pop_front() {
            if step.priority == Priority::Backlog {
                prop_assert!(!peak.is_peak(policy.timezone, step.not_before), "backlog due in peak: {:?}", step);
                continue;
            }
            let plan = planner::plan(&ctx, &step, serve(&account, &step, 100, true)).unwrap();
            for f in &plan.follow_ups {
                if f.priority == Priority::Backlog {
                    prop_assert!(!peak.is_peak(policy.timezone, f.not_before));
                }
            }
            absorb(&mut slice, plan, &mut queue);
        }
        let all = sync(&ctx, &account, 100, true);
        let kept: HashSet<&str> = all.messages.iter().map(|m| m.id.as_str()).collect();
        prop_assert!(slice.messages.iter().all(|m| kept.contains(m.id.as_str())));
        let kept_convs: HashSet<&str> = all.conversation_ids().into_iter().collect();
        prop_assert!(slice.conversation_ids().iter().all(|c| kept_convs.contains(c)));
        prop_assert!(slice.conversations.len() <= 50);
        for c in &slice.conversations {
            prop_assert!(c.rank < 50);
            prop_assert!(slice.messages_of(&c.conversation.id).len() <= 100);
        }
    }

    #[test]
    fn next_off_peak_is_the_first_instant_out_of_peak(
        t in any_instant(),
        tz in prop::sample::select(vec!["Asia/Taipei", "America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago"]),
        start_min in 0u32..1440,
        len_min in 1u32..1439,
    ) {
        let tz: chrono_tz::Tz = tz.parse().unwrap();
        let start = chrono::NaiveTime::from_num_seconds_from_midnight_opt(start_min * 60, 0).unwrap();
        let end = chrono::NaiveTime::from_num_seconds_from_midnight_opt(((start_min + len_min) % 1440) * 60, 0).unwrap();
        let peak = backfill_policy::PeakWindow { start, end, jitter_secs: 0 };
        let off = peak.next_off_peak(tz, t);
        prop_assert!(off >= t);
        prop_assert!(!peak.is_peak(tz, off));
        prop_assert!(off - t <= Duration::hours(26), "never more than a day away");
        // Every minute before `off` is in peak.
        let mut probe = t;
        while probe < off {
            prop_assert!(peak.is_peak(tz, probe), "{} is off peak before {}", probe, off);
            probe += Duration::minutes(7);
        }
    }
}

/// The generated accounts are built around an arbitrary instant; move them to `now`.
fn rebase(mut account: Account, now: DateTime<Utc>) -> Account {
    let Some(newest) = account.conversations.first().map(|(c, _)| c.last_activity) else {
        return account;
    };
    let shift = now - newest - Duration::minutes(1);
    for (conv, msgs) in &mut account.conversations {
        conv.last_activity += shift;
        for m in msgs {
            m.created_at += shift;
        }
    }
    if let Some(newest_post) = account.posts.iter().map(|(p, _)| p.created_at).max() {
        let shift = now - newest_post - Duration::hours(200);
        for (post, comments) in &mut account.posts {
            post.created_at += shift;
            for c in comments {
                c.created_at += shift;
            }
        }
    }
    account
}
