//! Claiming due steps: fair across accounts and tenants (C6), slice first, capped per
//! account, leased so that nothing lost stays lost (B1).

use std::collections::HashSet;
use std::sync::Arc;

use backfill_policy::Priority::{Backlog, Slice};
use backfill_policy::planner::Plan;
use backfill_policy::{Channel, Priority};
use backfill_store::{
    ChannelCaps, ClaimLimits, ClaimedStep, CommitInput, CommitOutcome, HandOff, RunTransition,
};
use chrono::TimeDelta;

use crate::support::*;

fn limits(batch: u32, per_account_in_flight: u32) -> ClaimLimits {
    ClaimLimits {
        batch,
        per_account_in_flight,
        per_channel_in_flight: ChannelCaps::NONE,
        lease: TimeDelta::minutes(5),
    }
}

fn claimed_from(claimed: &[ClaimedStep], connection_id: i64) -> usize {
    claimed
        .iter()
        .filter(|c| c.connection_id == connection_id)
        .count()
}

/// C6: one tenant's account with 10,000 due steps cannot hold back another tenant's
/// first page: the small account's steps are in the first batch.
async fn an_account_with_ten_thousand_due_steps_does_not_hold_back_another(db: TestDb) {
    db.tenant("big").await;
    db.tenant("small").await;
    let huge = db
        .connect(
            "big",
            "page-big",
            at(0),
            &message_steps("c", 10_000, Backlog),
        )
        .await;
    let small = db
        .connect(
            "small",
            "page-small",
            at(1),
            &message_steps("s", 3, Backlog),
        )
        .await;

    let claimed = db.store.claim_due(at(2), limits(10, 100)).await.unwrap();

    assert_eq!(claimed.len(), 10);
    assert_eq!(claimed_from(&claimed, small.connection_id), 3);
    assert_eq!(claimed_from(&claimed, huge.connection_id), 7);
    // Dispatch order alternates while both have steps.
    let first_two: HashSet<_> = claimed[..2].iter().map(|c| c.connection_id).collect();
    assert_eq!(first_two.len(), 2);
}

/// DESIGN 3: slice steps are claimed before backlog steps, even backlog due earlier.
async fn slice_steps_are_claimed_before_backlog(db: TestDb) {
    db.tenant("t1").await;
    let first = [
        fetch_messages("old-backlog", 0, Backlog, at(0)),
        fetch_messages("new-slice", 0, Slice, at(5)),
        fetch_messages("other-slice", 0, Slice, at(6)),
    ];
    db.connect("t1", "page-1", at(0), &first).await;

    let claimed = db.store.claim_due(at(10), limits(2, 10)).await.unwrap();

    let priorities: Vec<Priority> = claimed.iter().map(|c| c.priority).collect();
    assert_eq!(priorities, [Slice, Slice]);
    assert_eq!(claimed[0].channel, Channel::Facebook);
    assert_eq!(
        claimed[0].trace_context.as_deref(),
        Some("00-trace-span-01")
    );
}

/// S4: a run's backlog waits for its slice. Within an account the slice takes the
/// rate-limit budget first; the backlog is claimed once the last slice step is done. A
/// run that opens with no slice step (a load-more) has nothing to wait for.
async fn a_run_s_backlog_waits_until_its_slice_is_complete(db: TestDb) {
    db.tenant("t1").await;
    let first = [
        fetch_messages("backlog", 0, Backlog, at(0)),
        fetch_messages("slice", 0, Slice, at(0)),
    ];
    let run = db.connect("t1", "page-1", at(0), &first).await;
    let backlog_only = db
        .connect("t1", "page-2", at(0), &message_steps("b", 1, Backlog))
        .await;

    let claimed = db.store.claim_due(at(1), limits(10, 10)).await.unwrap();
    let claimed_ids: HashSet<i64> = claimed.iter().map(|c| c.step_id).collect();
    let slice_step = run.steps.iter().find(|s| s.spec.priority == Slice).unwrap();
    assert_eq!(
        claimed_ids,
        HashSet::from([slice_step.id, backlog_only.steps[0].id]),
        "the slice step, and the backlog of the run without a slice; not the other backlog"
    );
    let CommitOutcome::Committed { run_transition, .. } =
        db.commit(slice_step.id, &Plan::default(), at(2)).await
    else {
        panic!("expected a commit");
    };
    assert_eq!(run_transition, Some(RunTransition::SliceCompleted));

    let after = db.store.claim_due(at(2), limits(10, 10)).await.unwrap();
    let backlog_step = run
        .steps
        .iter()
        .find(|s| s.spec.priority == Backlog)
        .unwrap();
    assert_eq!(
        after.iter().map(|c| c.step_id).collect::<Vec<_>>(),
        [backlog_step.id]
    );
}

/// DESIGN 4: an account never has more than its cap of steps leased at once.
async fn no_account_has_more_than_its_cap_in_flight(db: TestDb) {
    db.tenant("t1").await;
    db.connect("t1", "page-1", at(0), &message_steps("c", 10, Slice))
        .await;

    let first = db.store.claim_due(at(1), limits(10, 3)).await.unwrap();
    let while_full = db.store.claim_due(at(1), limits(10, 3)).await.unwrap();
    db.commit(first[0].step_id, &Plan::default(), at(2)).await;
    let after_one_done = db.store.claim_due(at(2), limits(10, 3)).await.unwrap();

    assert_eq!(first.len(), 3);
    assert!(while_full.is_empty());
    assert_eq!(after_one_done.len(), 1);
}

/// C6, C7: no channel has more than its cap leased at once, fleet-wide, and within the
/// cap its accounts take turns; other channels are not held back by it.
async fn no_channel_has_more_than_its_cap_in_flight(db: TestDb) {
    for (tenant, account) in [("t1", "oa-1"), ("t2", "oa-2"), ("t3", "oa-3")] {
        db.tenant(tenant).await;
        db.connect_channel(
            Channel::Zalo,
            tenant,
            account,
            at(0),
            &message_steps(account, 4, Slice),
            "token",
        )
        .await;
    }
    db.connect_channel(
        Channel::Shopee,
        "t1",
        "shop-1",
        at(0),
        &message_steps("s", 3, Slice),
        "token",
    )
    .await;
    let caps = ClaimLimits {
        per_channel_in_flight: ChannelCaps {
            zalo: 2,
            ..ChannelCaps::NONE
        },
        ..limits(100, 10)
    };
    let of = |claimed: &[ClaimedStep], channel: Channel| {
        claimed.iter().filter(|c| c.channel == channel).count()
    };

    let first = db.store.claim_due(at(1), caps).await.unwrap();
    let while_full = db.store.claim_due(at(1), caps).await.unwrap();
    let zalo_step = first.iter().find(|c| c.channel == Channel::Zalo).unwrap();
    db.commit(zalo_step.step_id, &Plan::default(), at(2)).await;
    let after_one_done = db.store.claim_due(at(2), caps).await.unwrap();

    assert_eq!(of(&first, Channel::Zalo), 2, "{first:?}");
    let zalo_accounts: HashSet<i64> = first
        .iter()
        .filter(|c| c.channel == Channel::Zalo)
        .map(|c| c.connection_id)
        .collect();
    assert_eq!(
        zalo_accounts.len(),
        2,
        "two accounts' turns, not one account's two steps"
    );
    assert_eq!(
        of(&first, Channel::Shopee),
        3,
        "Shopee is not held back by Zalo's cap"
    );
    assert!(while_full.is_empty());
    assert_eq!(of(&after_one_done, Channel::Zalo), 1);
}

/// C6: tenants take turns before their accounts do: a tenant with three accounts does
/// not get three times the share of a tenant with one.
async fn tenants_take_turns_before_their_accounts_do(db: TestDb) {
    db.tenant("many").await;
    db.tenant("one").await;
    for account in ["p1", "p2", "p3"] {
        db.connect("many", account, at(0), &message_steps(account, 5, Backlog))
            .await;
    }
    let single = db
        .connect("one", "solo", at(0), &message_steps("solo", 5, Backlog))
        .await;

    let claimed = db.store.claim_due(at(1), limits(4, 10)).await.unwrap();

    assert_eq!(claimed_from(&claimed, single.connection_id), 2);
    let accounts: HashSet<_> = claimed.iter().map(|c| c.connection_id).collect();
    assert_eq!(
        accounts.len(),
        3,
        "the big tenant's turns go to two different accounts"
    );
}

/// B1: nothing lost stays lost. Follow-ups a worker committed but never pushed (it
/// crashed) are due; a step claimed but never executed is claimed again once its lease
/// expires, and not before.
async fn a_crash_between_commit_and_queue_push_loses_nothing(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    let claimed = db.store.claim_due(at(1), limits(10, 10)).await.unwrap();
    let plan = Plan {
        follow_ups: message_steps("c", 2, Slice),
        ..Plan::default()
    };
    let CommitOutcome::Committed { new_steps, .. } =
        db.commit(claimed[0].step_id, &plan, at(2)).await
    else {
        panic!("expected a commit");
    };

    // The worker dies here: the follow-ups never reach the queue.
    let recovered = db.store.claim_due(at(3), limits(10, 10)).await.unwrap();
    // And this dispatcher dies too, before pushing what it claimed.
    let while_leased = db.store.claim_due(at(4), limits(10, 10)).await.unwrap();
    let after_expiry = db.store.claim_due(at(3 + 6), limits(10, 10)).await.unwrap();

    let ids = |steps: &[ClaimedStep]| steps.iter().map(|c| c.step_id).collect::<HashSet<_>>();
    let new_ids: HashSet<_> = new_steps.iter().map(|s| s.id).collect();
    assert_eq!(ids(&recovered), new_ids);
    assert!(while_leased.is_empty());
    assert_eq!(ids(&after_expiry), new_ids);
    assert!(
        after_expiry
            .iter()
            .all(|c| c.run_id == run.run_id && c.lease_until == at(14))
    );
}

/// S3: a step deferred to a later time is not claimed before it.
async fn a_deferred_step_waits_for_its_time(db: TestDb) {
    db.tenant("t1").await;
    db.connect(
        "t1",
        "page-1",
        at(0),
        &[fetch_messages("c", 0, Backlog, at(60))],
    )
    .await;

    let early = db.store.claim_due(at(59), limits(10, 10)).await.unwrap();
    let due = db.store.claim_due(at(60), limits(10, 10)).await.unwrap();

    assert!(early.is_empty());
    assert_eq!(due.len(), 1);
}

/// Several dispatchers claiming at once never claim one step twice, and together claim
/// every step.
async fn concurrent_dispatchers_never_claim_a_step_twice(db: TestDb) {
    db.tenant("t1").await;
    for account in ["a", "b", "c", "d"] {
        db.connect("t1", account, at(0), &message_steps(account, 50, Backlog))
            .await;
    }
    let db = Arc::new(db);

    let dispatchers: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = db.store.claim_due(at(1), limits(15, 1_000)).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|c| c.step_id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for dispatcher in dispatchers {
        all.extend(dispatcher.await.unwrap());
    }

    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 200);
    assert_eq!(distinct.len(), 200);
}

/// Graceful shutdown puts a taken step back at once; a renewed lease keeps it taken.
async fn a_released_step_is_due_again_and_a_renewed_lease_holds(db: TestDb) {
    db.tenant("t1").await;
    db.connect("t1", "page-1", at(0), &message_steps("c", 1, Slice))
        .await;
    let step = db.store.claim_due(at(1), limits(1, 1)).await.unwrap()[0].step_id;

    assert!(db.store.release(step, at(2)).await.unwrap());
    assert!(!db.store.release(step, at(2)).await.unwrap());
    let again = db.store.claim_due(at(3), limits(1, 1)).await.unwrap();
    assert!(db.store.renew_lease(step, at(60), at(4)).await.unwrap());
    let during_renewed_lease = db.store.claim_due(at(30), limits(1, 1)).await.unwrap();

    assert_eq!(again[0].step_id, step);
    assert!(during_renewed_lease.is_empty());
}

/// A commit hands the finished step's place on (C6): in its own transaction it leases
/// the run's next due steps for its worker to push — slice first, oldest first (an
/// earlier step still waiting goes before the commit's own follow-ups), only those due,
/// at most as many as asked, and no backlog while the slice is open. The dispatcher then
/// passes over them, and the others stay for it.
async fn a_commit_hands_its_place_to_the_run_s_next_due_steps(db: TestDb) {
    db.tenant("t1").await;
    let first = [
        listing(0, Slice, at(0)),
        fetch_messages("waiting", 0, Slice, at(0)),
    ];
    let run = db.connect("t1", "page-1", at(0), &first).await;
    let waiting = run.steps[1].id;
    let claimed = db.store.claim_due(at(1), limits(1, 10)).await.unwrap();
    assert_eq!(claimed[0].step_id, run.steps[0].id, "the listing first");
    let mut follow_ups = message_steps("b", 1, Backlog);
    follow_ups.extend(message_steps("s", 3, Slice));
    follow_ups[3].not_before = at(600); // a slice step that is not due yet
    let plan = Plan {
        follow_ups,
        ..Plan::default()
    };
    let hand_off = |max| HandOff {
        max,
        lease: TimeDelta::minutes(30),
    };
    let outcome = db
        .store
        .commit_step(
            claimed[0].step_id,
            CommitInput {
                plan: &plan,
                now: at(2),
                http_calls: 1,
                hand_off: Some(hand_off(2)),
            },
        )
        .await
        .unwrap();
    let CommitOutcome::Committed {
        new_steps, leased, ..
    } = outcome
    else {
        panic!("expected a commit, got {outcome:?}");
    };
    let id_of = |i: usize| new_steps[i].id;
    let leased_ids: Vec<i64> = leased.iter().map(|c| c.step_id).collect();
    assert_eq!(
        leased_ids,
        [waiting, id_of(1)],
        "the slice step that waited, then the first due slice follow-up"
    );
    assert!(leased.iter().all(|c| c.priority == Slice));
    assert_eq!(leased[0].lease_until, at(32));

    let dispatched = db.store.claim_due(at(3), limits(10, 10)).await.unwrap();
    let dispatched_ids: Vec<i64> = dispatched.iter().map(|c| c.step_id).collect();
    assert_eq!(
        dispatched_ids,
        [id_of(2)],
        "the other due slice step; not the leased ones, the undue one, or the backlog"
    );

    // Later the undue slice step is due and goes first; the backlog waits for the last
    // slice step, and is handed on by it.
    let handed_on = |outcome: CommitOutcome| match outcome {
        CommitOutcome::Committed { leased, .. } => {
            leased.iter().map(|c| c.step_id).collect::<Vec<_>>()
        }
        other => panic!("expected a commit, got {other:?}"),
    };
    let mut handed = Vec::new();
    for (step, minute) in [
        (waiting, 700),
        (id_of(1), 701),
        (id_of(2), 702),
        (id_of(3), 703),
    ] {
        let outcome = db
            .store
            .commit_step(
                step,
                CommitInput {
                    plan: &Plan::default(),
                    now: at(minute),
                    http_calls: 1,
                    hand_off: Some(hand_off(1)),
                },
            )
            .await
            .unwrap();
        handed.push(handed_on(outcome));
    }
    assert_eq!(
        handed,
        [vec![id_of(3)], vec![], vec![], vec![id_of(0)]],
        "the slice step that fell due, nothing while the slice is open, then the backlog"
    );
}

on_both_backends!(
    a_run_s_backlog_waits_until_its_slice_is_complete,
    a_commit_hands_its_place_to_the_run_s_next_due_steps,
    an_account_with_ten_thousand_due_steps_does_not_hold_back_another,
    slice_steps_are_claimed_before_backlog,
    no_account_has_more_than_its_cap_in_flight,
    no_channel_has_more_than_its_cap_in_flight,
    tenants_take_turns_before_their_accounts_do,
    a_crash_between_commit_and_queue_push_loses_nothing,
    a_deferred_step_waits_for_its_time,
    concurrent_dispatchers_never_claim_a_step_twice,
    a_released_step_is_due_again_and_a_renewed_lease_holds,
);
