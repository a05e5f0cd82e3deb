//! Committing a step's outcome: exactly once in effect (C5), completion exactly once (S5).

use std::sync::Arc;

use backfill_policy::Priority::{Backlog, Slice};
use backfill_policy::planner::{Plan, Resume};
use backfill_policy::{Cursor, Message};
use backfill_store::{Account, CommitOutcome, EventKind, RunStatus, RunTransition, StoreError};

use crate::support::*;

async fn inbox_ids(db: &TestDb, connection_id: i64) -> Vec<String> {
    let page = db
        .store
        .inbox("t1", Account::Connection(connection_id), None, Some(100))
        .await;
    page.unwrap()
        .conversations
        .into_iter()
        .map(|c| c.channel_id)
        .collect()
}

/// The step's items, its completion and its follow-ups are stored together.
async fn a_committed_step_stores_its_items_and_its_follow_ups(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    let plan = Plan {
        conversations: vec![kept("c1", 0, at(5)), kept("c2", 1, at(4))],
        messages: message_page("c1", 0, 3),
        follow_ups: vec![
            fetch_messages("c2", 0, Slice, at(1)),
            listing(2, Slice, at(1)),
        ],
        ..Plan::default()
    };

    let outcome = db.commit(run.steps[0].id, &plan, at(1)).await;

    let CommitOutcome::Committed {
        new_steps,
        run_transition,
        ..
    } = outcome
    else {
        panic!("expected a commit, got {outcome:?}");
    };
    let specs: Vec<_> = new_steps.iter().map(|s| s.spec.clone()).collect();
    assert_eq!(specs, plan.follow_ups);
    assert_eq!(run_transition, None);
    assert_eq!(inbox_ids(&db, run.connection_id).await, ["c1", "c2"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM messages").await, 3);
    assert_eq!(db.count("SELECT open_steps FROM runs").await, 2);
}

/// C5: a re-delivered step finds itself done and changes nothing, even with a different
/// page in hand.
async fn a_second_commit_of_the_same_step_changes_nothing_and_says_already_done(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    let step = run.steps[0].id;
    let plan = Plan {
        conversations: vec![kept("c1", 0, at(5))],
        messages: message_page("c1", 0, 10),
        follow_ups: vec![fetch_messages("c1", 10, Slice, at(1))],
        ..Plan::default()
    };
    assert!(matches!(
        db.commit(step, &plan, at(1)).await,
        CommitOutcome::Committed { .. }
    ));

    let mut replay = plan.clone();
    replay.messages = message_page("c1", 0, 20);
    replay
        .follow_ups
        .push(fetch_messages("c9", 0, Slice, at(2)));
    let outcome = db.commit(step, &replay, at(2)).await;

    assert_eq!(outcome, CommitOutcome::AlreadyDone);
    assert_eq!(db.count("SELECT COUNT(*) FROM messages").await, 10);
    assert_eq!(db.count("SELECT COUNT(*) FROM steps").await, 2);
    assert_eq!(db.count("SELECT open_steps FROM runs").await, 1);
}

/// C5, B1: two workers holding the same step (a lease that expired under a slow one)
/// commit at once; one effect.
async fn two_concurrent_committers_of_one_step_leave_one_effect(db: TestDb) {
    db.tenant("t1").await;
    let first = [
        listing(0, Slice, at(0)),
        fetch_messages("other", 0, Slice, at(0)),
    ];
    let run = db.connect("t1", "page-1", at(0), &first).await;
    let step = run.steps[0].id;
    let plan = Arc::new(Plan {
        conversations: vec![kept("c1", 0, at(5))],
        messages: message_page("c1", 0, 100),
        follow_ups: message_steps("f", 3, Slice),
        ..Plan::default()
    });
    let db = Arc::new(db);

    let committers: Vec<_> = (0..8)
        .map(|_| {
            let (db, plan) = (db.clone(), plan.clone());
            tokio::spawn(async move { db.commit(step, &plan, at(1)).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for committer in committers {
        outcomes.push(committer.await.unwrap());
    }

    let committed = outcomes
        .iter()
        .filter(|o| matches!(o, CommitOutcome::Committed { .. }));
    assert_eq!(committed.count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        CommitOutcome::Committed { .. } | CommitOutcome::AlreadyDone
    )));
    assert_eq!(db.count("SELECT COUNT(*) FROM messages").await, 100);
    assert_eq!(db.count("SELECT COUNT(*) FROM steps").await, 2 + 3);
    assert_eq!(db.count("SELECT open_steps FROM runs").await, 1 + 3);
}

/// C5: ten steps whose pages overlap (each shares half its messages with the next, all
/// share the conversation) commit at once; every item is stored once, and the
/// conversation keeps its newest activity.
async fn many_writers_of_overlapping_pages_leave_no_duplicates(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &message_steps("c", 10, Slice))
        .await;
    let db = Arc::new(db);

    let writers: Vec<_> = run
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let db = db.clone();
            let step = step.id;
            tokio::spawn(async move {
                let plan = Plan {
                    conversations: vec![kept("c", 0, at(i as i64))],
                    messages: message_page("c", i * 50, 100),
                    ..Plan::default()
                };
                db.commit(step, &plan, at(1)).await
            })
        })
        .collect();
    for writer in writers {
        assert!(matches!(
            writer.await.unwrap(),
            CommitOutcome::Committed { .. }
        ));
    }

    assert_eq!(
        db.count("SELECT COUNT(*) FROM messages").await,
        9 * 50 + 100
    );
    assert_eq!(
        db.count("SELECT COUNT(DISTINCT channel_id) FROM messages")
            .await,
        9 * 50 + 100
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM conversations").await, 1);
    let inbox = db
        .store
        .inbox("t1", Account::Connection(run.connection_id), None, None)
        .await;
    assert_eq!(inbox.unwrap().conversations[0].last_activity, at(9));
}

/// C5: a later sighting of a conversation moves its activity forward, an older one
/// (a stale page) does not move it back.
async fn a_conversation_seen_again_moves_forward_but_never_back(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &message_steps("s", 3, Slice))
        .await;
    let sighting = |minutes: i64, snippet: &str| {
        let mut conversation = kept("c1", 0, at(minutes));
        conversation.conversation.snippet = Some(snippet.to_owned());
        Plan {
            conversations: vec![conversation],
            ..Plan::default()
        }
    };

    db.commit(run.steps[0].id, &sighting(10, "first"), at(1))
        .await;
    db.commit(run.steps[1].id, &sighting(20, "newer"), at(2))
        .await;
    db.commit(run.steps[2].id, &sighting(15, "stale"), at(3))
        .await;

    let inbox = db
        .store
        .inbox("t1", Account::Connection(run.connection_id), None, None)
        .await;
    let conversation = inbox.unwrap().conversations.remove(0);
    assert_eq!(conversation.last_activity, at(20));
    assert_eq!(conversation.snippet.as_deref(), Some("newer"));
}

/// A message listed without details (Instagram's depth) gains them when seen in full;
/// a message known in full never turns back into a placeholder.
async fn an_unavailable_placeholder_gains_its_details_and_never_loses_them(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &message_steps("s", 3, Slice))
        .await;
    let placeholder = Message {
        text: None,
        from: None,
        role: None,
        unavailable: true,
        ..message("c1", "m1", at(5))
    };
    let full = message("c1", "m1", at(5));

    db.commit(
        run.steps[0].id,
        &plan_with_messages(vec![placeholder.clone()]),
        at(1),
    )
    .await;
    db.commit(run.steps[1].id, &plan_with_messages(vec![full]), at(2))
        .await;
    db.commit(
        run.steps[2].id,
        &plan_with_messages(vec![placeholder]),
        at(3),
    )
    .await;

    let messages = db
        .store
        .messages("t1", Account::Connection(run.connection_id), "c1")
        .await;
    let stored = messages.unwrap().remove(0);
    assert!(!stored.unavailable);
    assert_eq!(stored.text.as_deref(), Some("text of m1"));
}

/// A channel page that repeats an item (an offset listing that shifted) is written once.
async fn a_page_that_repeats_an_item_stores_it_once(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    let mut messages = message_page("c1", 0, 5);
    messages.push(messages[0].clone());
    let plan = Plan {
        conversations: vec![kept("c1", 0, at(5)), kept("c1", 0, at(5))],
        messages,
        follow_ups: vec![listing(1, Slice, at(0)), listing(1, Slice, at(0))],
        ..Plan::default()
    };

    let outcome = db.commit(run.steps[0].id, &plan, at(1)).await;

    let CommitOutcome::Committed { new_steps, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(new_steps.len(), 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM messages").await, 5);
    assert_eq!(db.count("SELECT COUNT(*) FROM conversations").await, 1);
}

/// S5: the last two steps of a run commit at once, round after round; the run completes
/// exactly once and exactly one `run.completed` is written.
async fn concurrent_commits_of_the_last_steps_complete_the_run_exactly_once(db: TestDb) {
    db.tenant("t1").await;
    let db = Arc::new(db);
    for round in 0..5 {
        let run = db
            .connect("t1", "page-1", at(round), &message_steps("c", 6, Slice))
            .await;
        let committers: Vec<_> = run
            .steps
            .iter()
            .map(|step| {
                let (db, step) = (db.clone(), step.id);
                tokio::spawn(async move { db.commit(step, &Plan::default(), at(round)).await })
            })
            .collect();
        let mut completions = 0;
        for committer in committers {
            if let CommitOutcome::Committed { run_transition, .. } = committer.await.unwrap() {
                completions += usize::from(run_transition == Some(RunTransition::Completed));
            }
        }
        assert_eq!(completions, 1, "round {round}");
        let status = db
            .store
            .run("t1", &run.run_id)
            .await
            .unwrap()
            .unwrap()
            .status;
        assert_eq!(status, RunStatus::Completed);
    }
    let events = db.store.unpublished_events(100).await.unwrap();
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e.kind == EventKind::RunCompleted));
}

/// S3, S4: the slice completes when its last step is done, before the backlog; the run
/// when the backlog is done too.
async fn the_slice_completes_before_the_run(db: TestDb) {
    db.tenant("t1").await;
    let first = [
        fetch_messages("a", 0, Slice, at(0)),
        fetch_messages("b", 0, Backlog, at(0)),
    ];
    let run = db.connect("t1", "page-1", at(0), &first).await;

    let slice = db.commit(run.steps[0].id, &Plan::default(), at(1)).await;
    let progress = db
        .store
        .progress("t1", &run.run_id, at(1))
        .await
        .unwrap()
        .unwrap();
    let rest = db.commit(run.steps[1].id, &Plan::default(), at(2)).await;

    let transition = |o: &CommitOutcome| match o {
        CommitOutcome::Committed { run_transition, .. } => *run_transition,
        other => panic!("{other:?}"),
    };
    assert_eq!(transition(&slice), Some(RunTransition::SliceCompleted));
    assert_eq!(progress.slice_completed_at, Some(at(1)));
    assert_eq!(progress.status, RunStatus::Running);
    assert_eq!(transition(&rest), Some(RunTransition::Completed));
}

/// H6: where a listing stopped on a cap is kept on the connection for a load-more.
async fn a_listing_that_stops_on_a_cap_keeps_where_to_resume(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "oa-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    let resume = Resume {
        cursor: Some(Cursor::new("offset:100")),
        skip: 0,
        seen: 100,
    };
    let plan = Plan {
        resume: Some(resume.clone()),
        walk_ended: true,
        ..Plan::default()
    };

    db.commit(run.steps[0].id, &plan, at(1)).await;

    let stored = db
        .store
        .connection_resume("t1", run.connection_id)
        .await
        .unwrap();
    assert_eq!(stored, Some(resume));
}

async fn committing_an_unknown_step_is_an_error(db: TestDb) {
    let outcome = db
        .store
        .commit_step(
            4242,
            backfill_store::CommitInput {
                plan: &Plan::default(),
                now: at(0),
                http_calls: 1,
                hand_off: None,
            },
        )
        .await;
    assert!(matches!(outcome, Err(StoreError::UnknownStep(4242))));
}

on_both_backends!(
    a_committed_step_stores_its_items_and_its_follow_ups,
    a_second_commit_of_the_same_step_changes_nothing_and_says_already_done,
    two_concurrent_committers_of_one_step_leave_one_effect,
    many_writers_of_overlapping_pages_leave_no_duplicates,
    a_conversation_seen_again_moves_forward_but_never_back,
    an_unavailable_placeholder_gains_its_details_and_never_loses_them,
    a_page_that_repeats_an_item_stores_it_once,
    concurrent_commits_of_the_last_steps_complete_the_run_exactly_once,
    the_slice_completes_before_the_run,
    a_listing_that_stops_on_a_cap_keeps_where_to_resume,
    committing_an_unknown_step_is_an_error,
);
