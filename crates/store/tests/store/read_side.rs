//! The inbox in the channel's order (C3, H7), scoped by tenant.

use backfill_policy::Channel;
use backfill_policy::Priority::Slice;
use backfill_policy::planner::Plan;
use backfill_store::{Account, StoreError};

use crate::support::*;

/// Stores `n` conversations `c0..c{n-1}` on a fresh account, `c{i}` active at minute `i`
/// (so `c{n-1}` is the newest), with `messages` messages in `c0`.
async fn account_with_conversations(db: &TestDb, n: usize, messages: usize) -> i64 {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "oa-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    let conversations = (0..n)
        .map(|i| kept(&format!("c{i}"), i as u32, at(i as i64)))
        .collect();
    let plan = Plan {
        conversations,
        messages: message_page("c0", 0, messages),
        ..Plan::default()
    };
    db.commit(run.steps[0].id, &plan, at(1)).await;
    run.connection_id
}

/// C3, H7: the inbox lists the 20 newest conversations by default, newest first, every
/// one open and marked as back-filled history.
async fn the_inbox_lists_the_20_newest_conversations_by_default_all_open(db: TestDb) {
    let connection_id = account_with_conversations(&db, 30, 0).await;

    let page = db
        .store
        .inbox("t1", Account::Connection(connection_id), None, None)
        .await
        .unwrap();

    let ids: Vec<_> = page
        .conversations
        .iter()
        .map(|c| c.channel_id.clone())
        .collect();
    let newest_20: Vec<_> = (10..30).rev().map(|i| format!("c{i}")).collect();
    assert_eq!(ids, newest_20);
    assert!(
        page.conversations
            .iter()
            .all(|c| c.state == "open" && c.origin == "backfill")
    );
    assert!(page.next_cursor.is_some());
}

/// C3: following the cursor walks every conversation exactly once, newest first, also
/// when several share one activity time.
async fn cursor_paging_walks_every_conversation_once_in_order(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect("t1", "oa-1", at(0), &[listing(0, Slice, at(0))])
        .await;
    // Pairs of conversations share an activity time: ties are broken by id.
    let conversations = (0..45)
        .map(|i| kept(&format!("c{i:02}"), i, at(i64::from(i / 2))))
        .collect();
    db.commit(
        run.steps[0].id,
        &Plan {
            conversations,
            ..Plan::default()
        },
        at(1),
    )
    .await;
    let account = Account::Channel {
        channel: Channel::Facebook,
        account_id: "oa-1",
    };

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = db
            .store
            .inbox("t1", account, cursor.as_deref(), Some(7))
            .await
            .unwrap();
        assert!(page.conversations.len() <= 7);
        seen.extend(
            page.conversations
                .into_iter()
                .map(|c| (c.last_activity, c.id)),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }

    assert_eq!(seen.len(), 45);
    assert!(
        seen.windows(2).all(|pair| pair[0] > pair[1]),
        "strictly newest first"
    );
}

/// C3: a conversation's messages come oldest first.
async fn messages_of_a_conversation_come_oldest_first(db: TestDb) {
    let connection_id = account_with_conversations(&db, 1, 30).await;

    let messages = db
        .store
        .messages("t1", Account::Connection(connection_id), "c0")
        .await
        .unwrap();

    let ids: Vec<_> = messages.iter().map(|m| m.channel_id.clone()).collect();
    let oldest_first: Vec<_> = (0..30).map(|i| format!("c0-m{i}")).collect();
    assert_eq!(ids, oldest_first);
    assert_eq!(
        messages[0].sender.as_ref().map(|p| p.id.as_str()),
        Some("psid")
    );
}

/// Every read takes the tenant: another tenant's account is unknown, not empty.
async fn a_tenant_sees_only_its_own_accounts(db: TestDb) {
    let connection_id = account_with_conversations(&db, 3, 3).await;
    db.tenant("t2").await;
    let account = Account::Connection(connection_id);

    let inbox = db.store.inbox("t2", account, None, None).await;
    let messages = db.store.messages("t2", account, "c0").await;
    let resume = db.store.connection_resume("t2", connection_id).await;

    assert!(matches!(inbox, Err(StoreError::UnknownConnection(_))));
    assert!(matches!(messages, Err(StoreError::UnknownConnection(_))));
    assert!(matches!(resume, Err(StoreError::UnknownConnection(_))));
    assert!(
        db.store
            .connection("t2", Channel::Facebook, "oa-1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(db.store.connections("t1").await.unwrap().len(), 1);
}

/// H6, H8: what the producer asks before a load-more or a late arrival.
async fn the_synced_count_and_existence_answer_load_more_and_late_arrival(db: TestDb) {
    let connection_id = account_with_conversations(&db, 12, 0).await;
    let account = Account::Connection(connection_id);

    assert_eq!(
        db.store
            .synced_conversation_count("t1", account)
            .await
            .unwrap(),
        12
    );
    assert!(
        db.store
            .conversation_exists("t1", account, "c11")
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .conversation_exists("t1", account, "c12")
            .await
            .unwrap()
    );
}

async fn a_forged_cursor_is_refused(db: TestDb) {
    let connection_id = account_with_conversations(&db, 3, 0).await;
    let account = Account::Connection(connection_id);

    let page = db
        .store
        .inbox("t1", account, Some("not-a-cursor"), None)
        .await;

    assert!(matches!(page, Err(StoreError::InvalidCursor)));
}

on_both_backends!(
    the_inbox_lists_the_20_newest_conversations_by_default_all_open,
    cursor_paging_walks_every_conversation_once_in_order,
    messages_of_a_conversation_come_oldest_first,
    a_tenant_sees_only_its_own_accounts,
    the_synced_count_and_existence_answer_load_more_and_late_arrival,
    a_forged_cursor_is_refused,
);
