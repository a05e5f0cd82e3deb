//! Generations fence old work (B3); a re-connect adds to the history without duplicates
//! (C1, C5).

use backfill_policy::Channel;
use backfill_policy::Priority::Slice;
use backfill_store::{
    Account, CommitOutcome, DisconnectOutcome, RunStatus, StepStatus, StoreError,
};

use crate::support::*;

/// B3: a re-connect cancels every open step and the running run of the older generation.
async fn a_reconnect_cancels_the_older_runs_open_steps(db: TestDb) {
    db.tenant("t1").await;
    let old = db
        .connect("t1", "page-1", at(0), &message_steps("c", 3, Slice))
        .await;

    let new = db
        .connect("t1", "page-1", at(10), &[listing(0, Slice, at(10))])
        .await;

    assert_eq!(new.connection_id, old.connection_id);
    assert_eq!(new.generation, old.generation + 1);
    assert_eq!(new.superseded_runs, 1);
    let old_run = db.store.run("t1", &old.run_id).await.unwrap().unwrap();
    assert_eq!(old_run.status, RunStatus::Cancelled);
    assert_eq!(old_run.reason.as_deref(), Some("superseded by re-connect"));
    for step in &old.steps {
        let context = db.store.load_step(step.id).await.unwrap();
        assert_eq!(context.step.status, StepStatus::Cancelled);
        assert!(!context.is_current());
    }
    assert!(
        db.store
            .load_step(new.steps[0].id)
            .await
            .unwrap()
            .is_current()
    );
}

/// B3: a worker that held an old-generation step through a re-connect commits it: the
/// commit is fenced and stores nothing.
async fn a_commit_of_an_old_generation_step_is_fenced_and_stores_nothing(db: TestDb) {
    db.tenant("t1").await;
    let old = db
        .connect("t1", "page-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    db.connect("t1", "page-1", at(10), &[listing(0, Slice, at(10))])
        .await;
    let plan = plan_with_messages(message_page("c1", 0, 10));

    let outcome = db.commit(old.steps[0].id, &plan, at(11)).await;

    assert_eq!(outcome, CommitOutcome::Fenced);
    assert_eq!(db.count("SELECT COUNT(*) FROM messages").await, 0);
}

/// B3: a disconnect stops the sync: the run is cancelled, its steps fenced, the
/// credentials dropped; a second disconnect changes nothing.
async fn a_disconnect_cancels_the_run_and_fences_its_steps(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &message_steps("c", 2, Slice))
        .await;

    let outcome = db
        .store
        .disconnect_account("t1", Channel::Facebook, "page-1", at(5))
        .await;
    let again = db
        .store
        .disconnect_account("t1", Channel::Facebook, "page-1", at(6))
        .await;
    let late_commit = db
        .commit(
            run.steps[0].id,
            &plan_with_messages(message_page("c0", 0, 3)),
            at(7),
        )
        .await;

    let connection_id = run.connection_id;
    assert_eq!(
        outcome.unwrap(),
        DisconnectOutcome::Disconnected {
            connection_id,
            cancelled_runs: 1
        }
    );
    assert_eq!(
        again.unwrap(),
        DisconnectOutcome::AlreadyDisconnected { connection_id }
    );
    assert_eq!(late_commit, CommitOutcome::Fenced);
    let stopped = db.store.run("t1", &run.run_id).await.unwrap().unwrap();
    assert_eq!(
        (stopped.status, stopped.reason.as_deref()),
        (RunStatus::Cancelled, Some("disconnected"))
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM messages").await, 0);
    assert!(matches!(
        db.store.decrypt_credentials(connection_id).await,
        Err(StoreError::Disconnected(_))
    ));
}

/// C4: a step of a failed run that a worker still holds stores nothing.
async fn a_commit_in_a_failed_run_stores_nothing(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "page-1", at(0), &message_steps("c", 2, Slice))
        .await;
    db.store
        .fail_run(&run.run_id, "auth revoked: reconnect required", at(1))
        .await
        .unwrap();

    let outcome = db
        .commit(
            run.steps[0].id,
            &plan_with_messages(message_page("c0", 0, 3)),
            at(2),
        )
        .await;

    assert_eq!(outcome, CommitOutcome::RunNotRunning);
    assert_eq!(db.count("SELECT COUNT(*) FROM messages").await, 0);
}

/// C1, C5: a re-connect syncs again into the same history: what was stored stays, what
/// is seen again is not duplicated.
async fn a_reconnect_adds_to_the_history_without_duplicates(db: TestDb) {
    db.tenant("t1").await;
    let first = db
        .connect("t1", "page-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    let plan = plan_with_messages(message_page("c1", 0, 50));
    db.commit(first.steps[0].id, &plan, at(1)).await;
    db.store
        .disconnect_account("t1", Channel::Facebook, "page-1", at(2))
        .await
        .unwrap();

    let second = db
        .connect("t1", "page-1", at(10), &[listing(0, Slice, at(10))])
        .await;
    let plan = plan_with_messages(message_page("c1", 25, 50));
    let outcome = db.commit(second.steps[0].id, &plan, at(11)).await;

    assert!(matches!(outcome, CommitOutcome::Committed { .. }));
    let messages = db
        .store
        .messages("t1", Account::Connection(second.connection_id), "c1")
        .await;
    assert_eq!(messages.unwrap().len(), 75);
}

on_both_backends!(
    a_reconnect_cancels_the_older_runs_open_steps,
    a_commit_of_an_old_generation_step_is_fenced_and_stores_nothing,
    a_disconnect_cancels_the_run_and_fences_its_steps,
    a_commit_in_a_failed_run_stores_nothing,
    a_reconnect_adds_to_the_history_without_duplicates,
);
