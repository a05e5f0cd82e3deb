//! Property tests: whatever bytes a channel sends, every response parser answers with an
//! outcome and never panics; bytes that are not JSON, and truncated documents, are
//! `Permanent`. Kept to 256 cases per property so it runs in `make test`.
//!
//! The answers go through the real HTTP path (a local scripted server), so status,
//! headers, envelope detection and item conversion are all exercised together.

mod common;

use std::sync::{Mutex, OnceLock};

use backfill_channels::{Account, Connector, Outcome};
use backfill_policy::{Channel, StepSpec};
use common::*;
use proptest::prelude::*;
use serde_json::Value;
use tokio::runtime::Runtime;

/// One scripted server shared by the properties, which the test runner runs on parallel
/// threads: the lock keeps each queued answer with the call that reads it.
struct Harness {
    turn: Mutex<()>,
    runtime: Runtime,
    server: FixtureServer,
    connector: Connector,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(FixtureServer::start());
        let connector = server.connector();
        Harness {
            turn: Mutex::new(()),
            runtime,
            server,
            connector,
        }
    })
}

/// Every response parser: (account, step) pairs covering each operation of each channel.
fn operations() -> Vec<(Account, StepSpec)> {
    let mut ops = Vec::new();
    for channel in [Channel::Facebook, Channel::Instagram] {
        ops.push((
            meta(channel),
            step(list_conversations(), None, Some(5), Some(5)),
        ));
        ops.push((
            meta(channel),
            step(fetch_messages("t_1"), None, Some(5), None),
        ));
        ops.push((meta(channel), step(list_posts(), None, Some(5), None)));
        ops.push((
            meta(channel),
            step(fetch_comments("p_1"), None, Some(5), None),
        ));
    }
    ops.push((zalo(), step(list_conversations(), None, Some(5), None)));
    ops.push((
        zalo(),
        step(fetch_messages("4000000000000000001"), None, Some(5), None),
    ));
    ops.push((
        zalo(),
        step(check_follower("4000000000000000001"), None, None, None),
    ));
    ops.push((shopee(), step(list_conversations(), None, Some(5), None)));
    ops.push((
        shopee(),
        step(fetch_messages("1912345678901234567"), None, Some(5), None),
    ));
    ops
}

fn answer(op: usize, status: u16, body: Vec<u8>) -> Outcome {
    let h = harness();
    let (account, step) = &operations()[op];
    let _turn = h
        .turn
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    h.server.push(Reply::json(status, body));
    let outcome = h
        .runtime
        .block_on(h.connector.execute(account, step))
        .outcome;
    // Display must not panic either.
    let _ = outcome.to_string();
    outcome
}

/// JSON built from the names the parsers look for, so that the generator reaches past
/// the envelope into items, cursors and error objects.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "data",
        "paging",
        "cursors",
        "after",
        "next",
        "error",
        "code",
        "error_subcode",
        "message",
        "id",
        "created_time",
        "updated_time",
        "from",
        "participants",
        "messages",
        "attachments",
        "src",
        "time",
        "from_id",
        "to_id",
        "user_is_follower",
        "response",
        "conversations",
        "page_result",
        "more",
        "next_cursor",
        "next_message_time_nano",
        "next_offset",
        "conversation_id",
        "message_id",
        "last_message_timestamp",
        "created_timestamp",
        "content",
        "timestamp",
        "text",
        "parent",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9:+T-]{0,24}".prop_map(Value::from),
        Just(Value::from("2025-03-02T10:15:00+0000")),
        Just(Value::from("reduce the amount of data")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone().prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn fixtures() -> Vec<String> {
    [
        "graph/fb_conversations_nested.json",
        "graph/ig_messages_beyond_detail_depth.json",
        "graph/fb_comments.json",
        "zalo/recent_chats_full_page.json",
        "zalo/user_detail_follower.json",
        "shopee/conversation_list_next_cursor.json",
        "shopee/messages.json",
    ]
    .into_iter()
    .map(fixture)
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic_and_non_json_is_permanent(
        op in 0..13usize,
        status in prop::sample::select(vec![200u16, 200, 400, 403, 404]),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let is_json = serde_json::from_slice::<Value>(&body).is_ok();
        let outcome = answer(op, status, body);
        if !is_json {
            prop_assert!(matches!(outcome, Outcome::Permanent(_)), "{:?}", outcome);
        }
    }

    #[test]
    fn arbitrary_json_never_panics(op in 0..13usize, value in json_value()) {
        let outcome = answer(op, 200, serde_json::to_vec(&value).unwrap());
        let bare_status = matches!(outcome, Outcome::Transient(ref r) if r.contains("HTTP"));
        prop_assert!(!bare_status, "a 200 is never read as a server error: {:?}", outcome);
    }

    #[test]
    fn a_truncated_document_is_permanent(op in 0..13usize, which in 0..7usize, cut in 0.0..1.0f64) {
        let body = fixtures().swap_remove(which).into_bytes();
        let cut = ((body.len() as f64 * cut) as usize).min(body.len() - 2);
        let outcome = answer(op, 200, body[..cut].to_vec());
        prop_assert!(matches!(outcome, Outcome::Permanent(_)), "{:?}", outcome);
    }
}
