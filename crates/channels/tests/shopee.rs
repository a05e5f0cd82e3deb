//! Shopee seller chat against hand-written answers [S1–S5]: the signed request, both
//! places of the conversation cursor, ids above 2^53, the error envelope.

mod common;

use backfill_channels::{Outcome, ThrottleScope};
use backfill_policy::{Fetched, SenderRole};
use chrono::{TimeZone, Utc};
use common::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature Shopee expects for `seen` [S1], recomputed independently.
fn expected_sign(seen: &Seen) -> String {
    let base = format!(
        "{}{}{}{}{}",
        seen.query("partner_id").unwrap(),
        seen.path(),
        seen.query("timestamp").unwrap(),
        seen.query("access_token").unwrap(),
        seen.query("shop_id").unwrap()
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(PARTNER_KEY.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn the_conversation_list_is_signed_and_walks_older_from_the_newest() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "shopee/conversation_list_next_cursor.json",
    ));
    let result = server
        .connector()
        .execute(
            &shopee(),
            &step(list_conversations(), None, Some(100), None),
        )
        .await;

    let seen = server.last();
    assert_eq!(seen.path(), "/api/v2/sellerchat/get_conversation_list");
    assert_eq!(seen.query("partner_id").as_deref(), Some("2000001"));
    assert_eq!(seen.query("shop_id").as_deref(), Some(SHOP_ID));
    assert_eq!(seen.query("access_token").as_deref(), Some(TOKEN));
    assert_eq!(seen.query("sign"), Some(expected_sign(&seen)));
    let timestamp: i64 = seen.query("timestamp").unwrap().parse().unwrap();
    assert!(
        (Utc::now().timestamp() - timestamp).abs() < 5,
        "the system clock [S1]"
    );
    assert_eq!(seen.query("direction").as_deref(), Some("older"));
    assert_eq!(seen.query("type").as_deref(), Some("all"));
    assert_eq!(
        seen.query("page_size").as_deref(),
        Some("25"),
        "above 25 Shopee answers empty [S5]"
    );
    assert_eq!(seen.query("next_timestamp_nano"), None);

    let Outcome::Page(Fetched::Conversations(page)) = result.outcome else {
        panic!("{:?}", result.outcome)
    };
    assert_eq!(
        page.next.as_ref().map(|c| c.as_str()),
        Some("1714550000123456789")
    );
    let first = &page.items[0];
    assert_eq!(
        first.id, "1912345678901234567",
        "a number above 2^53, every digit kept"
    );
    assert_eq!(
        first
            .customer
            .as_ref()
            .map(|c| (c.id.as_str(), c.name.as_deref())),
        Some(("880001", Some("buyer_abc")))
    );
    assert_eq!(first.snippet.as_deref(), Some("Khi nào giao?"));
    assert_eq!(first.unread_count, Some(2));
    assert_eq!(
        first.last_activity,
        Utc.timestamp_opt(1_714_550_399, 0).unwrap(),
        "nanoseconds [S5]"
    );
    assert_eq!(
        page.items[1].last_activity.timestamp_subsec_nanos(),
        123_456_789
    );
    assert_eq!(page.items[1].snippet, None);
}

#[tokio::test]
async fn the_flat_cursor_shape_is_read_too_and_sent_back_as_next_timestamp_nano() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "shopee/conversation_list_flat_cursor.json",
    ));
    let result = server
        .connector()
        .execute(
            &shopee(),
            &step(
                list_conversations(),
                Some("1714550000123456789"),
                Some(10),
                None,
            ),
        )
        .await;
    let seen = server.last();
    assert_eq!(
        seen.query("next_timestamp_nano").as_deref(),
        Some("1714550000123456789")
    );
    assert_eq!(seen.query("page_size").as_deref(), Some("10"));
    let Outcome::Page(Fetched::Conversations(page)) = result.outcome else {
        panic!("{:?}", result.outcome)
    };
    assert_eq!(
        page.next.as_ref().map(|c| c.as_str()),
        Some("1714000000000000000")
    );
}

#[tokio::test]
async fn more_false_or_an_empty_list_ends_the_walk() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "shopee/conversation_list_last_page.json",
    ));
    server.push(Reply::json(200, r#"{"request_id":"r","error":"","message":"","response":{"conversations":[],"page_result":{"more":true,"next_cursor":{"next_message_time_nano":"5"}}}}"#));
    let connector = server.connector();
    let step = step(
        list_conversations(),
        Some("1714000000000000000"),
        Some(25),
        None,
    );
    let Outcome::Page(Fetched::Conversations(page)) =
        connector.execute(&shopee(), &step).await.outcome
    else {
        panic!()
    };
    assert_eq!((page.items.len(), page.is_last()), (1, true));
    let Outcome::Page(Fetched::Conversations(page)) =
        connector.execute(&shopee(), &step).await.outcome
    else {
        panic!()
    };
    assert_eq!((page.items.len(), page.is_last()), (0, true));
}

#[tokio::test]
async fn a_cursor_that_does_not_advance_is_permanent() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "shopee/conversation_list_flat_cursor.json",
    ));
    let result = server
        .connector()
        .execute(
            &shopee(),
            &step(
                list_conversations(),
                Some("1714000000000000000"),
                Some(25),
                None,
            ),
        )
        .await;
    assert!(
        matches!(&result.outcome, Outcome::Permanent(r) if r.contains("did not advance")),
        "{:?}",
        result.outcome
    );
}

#[tokio::test]
async fn messages_page_by_next_offset_with_shop_roles_and_second_times() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "shopee/messages.json"));
    let result = server
        .connector()
        .execute(
            &shopee(),
            &step(fetch_messages("1912345678901234567"), None, Some(30), None),
        )
        .await;
    let seen = server.last();
    assert_eq!(seen.path(), "/api/v2/sellerchat/get_message");
    assert_eq!(seen.query("sign"), Some(expected_sign(&seen)));
    assert_eq!(
        seen.query("conversation_id").as_deref(),
        Some("1912345678901234567")
    );
    assert_eq!(seen.query("page_size").as_deref(), Some("30"));
    assert_eq!(seen.query("offset"), None, "the first page has no offset");

    let Outcome::Page(Fetched::Messages(page)) = result.outcome else {
        panic!("{:?}", result.outcome)
    };
    assert_eq!(
        page.next.as_ref().map(|c| c.as_str()),
        Some("2412345678901234000")
    );
    let [buyer, shop] = &page.items[..] else {
        panic!()
    };
    assert_eq!(buyer.id, "2412345678901234567");
    assert_eq!(buyer.conversation_id, "1912345678901234567");
    assert_eq!(
        (buyer.role, buyer.text.as_deref()),
        (Some(SenderRole::Customer), Some("Khi nào giao?"))
    );
    assert_eq!(
        buyer.created_at,
        Utc.timestamp_opt(1_714_550_399, 0).unwrap(),
        "seconds [S5]"
    );
    assert_eq!(buyer.from.as_ref().map(|p| p.id.as_str()), Some("880001"));
    assert_eq!(shop.role, Some(SenderRole::Business));
    assert_eq!(
        (
            shop.attachments[0].kind.as_str(),
            shop.attachments[0].name.as_deref()
        ),
        ("item", Some("123456789"))
    );
}

#[tokio::test]
async fn next_offset_zero_ends_the_messages_and_the_offset_is_sent_back() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "shopee/messages_end.json"));
    let result = server
        .connector()
        .execute(
            &shopee(),
            &step(
                fetch_messages("1912345678901234567"),
                Some("2412345678901234000"),
                Some(500),
                None,
            ),
        )
        .await;
    let seen = server.last();
    assert_eq!(seen.query("offset").as_deref(), Some("2412345678901234000"));
    assert_eq!(seen.query("page_size").as_deref(), Some("60"));
    let Outcome::Page(Fetched::Messages(page)) = result.outcome else {
        panic!()
    };
    assert!(page.is_last());
    assert_eq!(
        page.items[0].attachments[0].url.as_deref(),
        Some("https://cf.example/img.jpg")
    );
}

#[tokio::test]
async fn error_envelopes_are_classified_whatever_the_http_status() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(403, "shopee/error_auth.json"));
    server.push(Reply::fixture(200, "shopee/error_auth.json"));
    server.push(Reply::fixture(403, "shopee/error_sign.json"));
    server.push(Reply::fixture(500, "shopee/error_server.json"));
    server.push(Reply::json(
        429,
        r#"{"request_id":"x","error":"error_too_many_request","message":"slow down"}"#,
    ));
    let connector = server.connector();
    let step = step(list_conversations(), None, Some(25), None);
    let mut classes = Vec::new();
    for _ in 0..5 {
        classes.push(connector.execute(&shopee(), &step).await.outcome);
    }
    assert!(
        matches!(&classes[0], Outcome::AuthRevoked(r) if r.contains("request_id aa11bb22")),
        "{:?}",
        classes[0]
    );
    assert!(matches!(classes[1], Outcome::AuthRevoked(_)));
    assert!(matches!(&classes[2], Outcome::Permanent(r) if r.contains("error_sign")));
    assert!(matches!(classes[3], Outcome::Transient(_)));
    assert!(matches!(
        classes[4],
        Outcome::Throttled {
            scope: ThrottleScope::Account,
            ..
        }
    ));
}

#[tokio::test]
async fn a_success_without_a_response_or_with_a_bad_id_is_permanent() {
    let server = FixtureServer::start().await;
    server.push(Reply::json(
        200,
        r#"{"request_id":"x","error":"","message":""}"#,
    ));
    server.push(Reply::json(200, r#"{"error":"","response":{"conversations":[{"conversation_id":1.9e18,"last_message_timestamp":1}]}}"#));
    let connector = server.connector();
    let step = step(list_conversations(), None, Some(25), None);
    assert!(matches!(
        connector.execute(&shopee(), &step).await.outcome,
        Outcome::Permanent(_)
    ));
    assert!(
        matches!(
            connector.execute(&shopee(), &step).await.outcome,
            Outcome::Permanent(_)
        ),
        "a float id lost digits"
    );
}

#[tokio::test]
async fn a_shop_id_that_is_not_a_number_is_permanent_without_a_call() {
    let server = FixtureServer::start().await;
    let mut account = shopee();
    account.account_id = "my-shop".into();
    let result = server
        .connector()
        .execute(&account, &step(list_conversations(), None, None, None))
        .await;
    assert!(matches!(result.outcome, Outcome::Permanent(_)));
    assert!(server.seen().is_empty());
}
