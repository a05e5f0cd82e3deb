//! Retries (C4), failing a run (C4), progress (S5), the outbox, extra runs (H6, H8).

use backfill_policy::Priority::{Backlog, Slice};
use backfill_policy::planner::Plan;
use backfill_store::{
    Account, EventKind, FailOutcome, Reschedule, RescheduleOutcome, RunStatus, StartRun, StartedBy,
    StepStatus,
};

use crate::support::*;

fn retry(reason: &str, spend_attempt: bool) -> Reschedule<'_> {
    Reschedule {
        not_before: at(30),
        reason,
        spend_attempt,
        max_retries: 3,
        now: at(1),
    }
}

/// DESIGN 5, 6: throttling and peak deferral spend no attempt; a transient failure does.
async fn only_transient_failures_spend_attempts(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    let step = run.steps[0].id;

    let throttled = db
        .store
        .reschedule(step, retry("throttled", false))
        .await
        .unwrap();
    let transient = db
        .store
        .reschedule(step, retry("HTTP 503", true))
        .await
        .unwrap();

    assert_eq!(throttled, RescheduleOutcome::Rescheduled { attempts: 0 });
    assert_eq!(transient, RescheduleOutcome::Rescheduled { attempts: 1 });
    let context = db.store.load_step(step).await.unwrap();
    assert_eq!(context.step.status, StepStatus::Pending);
    assert_eq!(context.step.not_before, at(30));
    assert_eq!(context.step.last_error.as_deref(), Some("HTTP 503"));
}

/// C4: three retries, then the fourth failure exhausts the step and fails the run with
/// its reason, cancelling the other steps, with `run.failed` in the outbox.
async fn a_step_out_of_retries_fails_its_run(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &message_steps("c", 3, Slice))
        .await;
    let step = run.steps[0].id;

    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(
            db.store
                .reschedule(step, retry("HTTP 500", true))
                .await
                .unwrap(),
        );
    }

    assert_eq!(outcomes[2], RescheduleOutcome::Rescheduled { attempts: 3 });
    assert_eq!(
        outcomes[3],
        RescheduleOutcome::Exhausted {
            attempts: 4,
            run: FailOutcome::Failed { cancelled_steps: 2 }
        }
    );
    let failed = db.store.run("t1", &run.run_id).await.unwrap().unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(
        failed.reason.as_deref(),
        Some("fetch_messages step failed after 4 attempts: HTTP 500")
    );
    let progress = db
        .store
        .progress("t1", &run.run_id, at(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((progress.steps.failed, progress.steps.cancelled), (1, 2));
    assert_eq!(progress.attempts, 4);
    let events = db.store.unpublished_events(10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::RunFailed]
    );
    let after = db
        .store
        .reschedule(step, retry("HTTP 500", true))
        .await
        .unwrap();
    assert_eq!(
        after,
        RescheduleOutcome::NotOpen {
            status: StepStatus::Failed
        }
    );
}

/// C4: failing a run cancels its pending and leased steps and writes `run.failed`, once.
async fn failing_a_run_cancels_its_steps_and_writes_run_failed_once(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &message_steps("c", 3, Slice))
        .await;
    let limits = backfill_store::ClaimLimits {
        batch: 1,
        per_account_in_flight: 5,
        per_channel_in_flight: backfill_store::ChannelCaps::NONE,
        lease: chrono::TimeDelta::minutes(5),
    };
    db.store.claim_due(at(1), limits).await.unwrap();

    let first = db
        .store
        .fail_run(&run.run_id, "auth revoked: reconnect required", at(2))
        .await;
    let second = db.store.fail_run(&run.run_id, "again", at(3)).await;

    assert_eq!(first.unwrap(), FailOutcome::Failed { cancelled_steps: 3 });
    assert_eq!(
        second.unwrap(),
        FailOutcome::AlreadyFinished {
            status: RunStatus::Failed
        }
    );
    let failed = db.store.run("t1", &run.run_id).await.unwrap().unwrap();
    assert_eq!(
        failed.reason.as_deref(),
        Some("auth revoked: reconnect required")
    );
    assert_eq!(failed.finished_at, Some(at(2)));
    let events = db.store.unpublished_events(10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::RunFailed);
    assert_eq!(
        events[0].payload["reason"],
        "auth revoked: reconnect required"
    );
}

/// S5: progress counts steps by status and by class, deferred steps, and the items
/// stored for the account.
async fn progress_counts_steps_by_status_and_class_and_the_items_stored(db: TestDb) {
    db.tenant("t1").await;
    let first = [
        listing(0, Slice, at(0)),
        fetch_messages("a", 0, Slice, at(0)),
        fetch_messages("b", 0, Backlog, at(0)),
        fetch_messages("c", 0, Backlog, at(600)),
    ];
    let run = db.connect("t1", "page-1", at(0), &first).await;
    let mut messages = message_page("a", 0, 4);
    messages[0].unavailable = true;
    let plan = Plan {
        conversations: vec![kept("a", 0, at(3))],
        messages,
        ..Plan::default()
    };
    db.commit(run.steps[1].id, &plan, at(1)).await;

    let progress = db
        .store
        .progress("t1", &run.run_id, at(2))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(progress.status, RunStatus::Running);
    assert_eq!((progress.steps.pending, progress.steps.done), (3, 1));
    assert_eq!((progress.slice.open(), progress.slice.done), (1, 1));
    assert_eq!(progress.backlog.pending, 2);
    assert_eq!(progress.deferred, 1);
    assert_eq!(progress.http_calls, 1);
    assert_eq!(
        (progress.stored.conversations, progress.stored.messages),
        (1, 4)
    );
    assert_eq!(progress.stored.unavailable_messages, 1);
    assert_eq!(progress.slice_completed_at, None);
    assert!(
        db.store
            .progress("someone-else", &run.run_id, at(2))
            .await
            .unwrap()
            .is_none()
    );
}

/// S5: events stay in the outbox until marked published; a progress event can be added
/// at any time.
async fn published_events_leave_the_outbox(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    db.store
        .append_progress_event(&run.run_id, at(1))
        .await
        .unwrap();
    db.commit(run.steps[0].id, &Plan::default(), at(2)).await;

    let events = db.store.unpublished_events(10).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    let stamped = db.store.mark_published(&ids, at(3)).await.unwrap();
    let stamped_again = db.store.mark_published(&ids, at(4)).await.unwrap();

    assert_eq!(kinds, [EventKind::RunProgress, EventKind::RunCompleted]);
    assert_eq!(events[1].payload["status"], "completed");
    assert_eq!((stamped, stamped_again), (2, 0));
    assert!(db.store.unpublished_events(10).await.unwrap().is_empty());
}

/// H6, H8: a run started on a connected account outside a connect stores its items at
/// once and runs its steps in the current generation.
async fn a_late_arrival_starts_a_run_of_its_own(db: TestDb) {
    db.tenant("t1").await;
    let connect = db.connect("t1", "oa-1", at(0), &[]).await;
    let plan = Plan {
        conversations: vec![kept("late", 0, at(50))],
        messages: vec![message("late", "late-m1", at(50))],
        follow_ups: vec![fetch_messages("late", 0, Slice, at(50))],
        ..Plan::default()
    };

    let started = db
        .store
        .start_run(&StartRun {
            tenant_id: "t1",
            connection_id: connect.connection_id,
            started_by: StartedBy::LateArrival,
            plan: &plan,
            now: at(50),
            trace_context: None,
        })
        .await
        .unwrap();

    let empty_connect = db.store.run("t1", &connect.run_id).await.unwrap().unwrap();
    assert_eq!(
        empty_connect.status,
        RunStatus::Completed,
        "a run without steps is complete"
    );
    assert_eq!(started.generation, connect.generation);
    assert_eq!(started.steps.len(), 1);
    let account = Account::Connection(connect.connection_id);
    assert!(
        db.store
            .conversation_exists("t1", account, "late")
            .await
            .unwrap()
    );
    let run = db.store.run("t1", &started.run_id).await.unwrap().unwrap();
    assert_eq!(
        (run.started_by, run.status),
        (StartedBy::LateArrival, RunStatus::Running)
    );
}

on_both_backends!(
    only_transient_failures_spend_attempts,
    a_step_out_of_retries_fails_its_run,
    failing_a_run_cancels_its_steps_and_writes_run_failed_once,
    progress_counts_steps_by_status_and_class_and_the_items_stored,
    published_events_leave_the_outbox,
    a_late_arrival_starts_a_run_of_its_own,
);
