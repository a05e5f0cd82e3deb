//! Zalo OA against hand-written answers [Z1, Z2]: JSON in `data`, the token in a header,
//! errors under HTTP 200, offset paging that ends on a short page.

mod common;

use backfill_channels::{Outcome, ThrottleScope};
use backfill_policy::{Fetched, SenderRole};
use chrono::{TimeZone, Utc};
use common::*;
use serde_json::{Value, json};

fn data_of(seen: &Seen) -> Value {
    serde_json::from_str(&seen.query("data").expect("a data parameter")).expect("data is JSON")
}

#[tokio::test]
async fn recent_chats_become_conversations_keyed_by_the_customers_user_id() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "zalo/recent_chats_full_page.json"));
    let result = server
        .connector()
        .execute(
            &zalo(),
            &step(list_conversations(), None, Some(2), Some(100)),
        )
        .await;

    let seen = server.last();
    assert_eq!(seen.path(), "/v2.0/oa/listrecentchat");
    assert_eq!(data_of(&seen), json!({"offset": 0, "count": 2}));
    assert_eq!(
        seen.header("access_token").as_deref(),
        Some(TOKEN),
        "[Z1]: a header, not Bearer"
    );
    assert_eq!(seen.query("access_token"), None);

    let Outcome::Page(Fetched::Conversations(page)) = result.outcome else {
        panic!("{:?}", result.outcome)
    };
    assert_eq!(
        page.next.as_ref().map(|c| c.as_str()),
        Some("2"),
        "a full page: continue at offset 2"
    );
    let ids: Vec<_> = page.items.iter().map(|c| c.id.as_str()).collect();
    // src 1: the user sent it (from_id); src 0: the OA did (to_id). Numbers above 2^53
    // keep every digit.
    assert_eq!(ids, ["4000000000000000001", "4000000000000000003"]);
    assert_eq!(
        page.items[0].customer.as_ref().unwrap().name.as_deref(),
        Some("Thu Ha")
    );
    assert_eq!(
        page.items[1].customer.as_ref().unwrap().name.as_deref(),
        Some("Quang")
    );
    assert_eq!(
        page.items[0].last_activity,
        Utc.timestamp_millis_opt(1_714_550_400_000).unwrap()
    );
    assert_eq!(
        page.items[0].snippet.as_deref(),
        Some("Shop ơi tư vấn giúp em")
    );
    assert_eq!(page.items[1].snippet, None);
    assert!(page.items.iter().all(|c| c.embedded_messages.is_none()));
}

#[tokio::test]
async fn a_short_page_ends_the_listing_and_the_cursor_is_the_offset() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "zalo/recent_chats_short_page.json"));
    let result = server
        .connector()
        .execute(
            &zalo(),
            &step(list_conversations(), Some("20"), Some(30), None),
        )
        .await;
    assert_eq!(
        data_of(&server.last()),
        json!({"offset": 20, "count": 10}),
        "count is capped at 10 [Z2]"
    );
    let Outcome::Page(Fetched::Conversations(page)) = result.outcome else {
        panic!()
    };
    assert_eq!(page.items.len(), 1);
    assert!(page.is_last());
}

#[tokio::test]
async fn an_empty_or_null_data_is_the_end() {
    let server = FixtureServer::start().await;
    server.push(Reply::json(
        200,
        r#"{"error":0,"message":"Success","data":[]}"#,
    ));
    server.push(Reply::json(200, r#"{"error":0,"message":"Success"}"#));
    let connector = server.connector();
    for _ in 0..2 {
        let result = connector
            .execute(
                &zalo(),
                &step(list_conversations(), Some("10"), Some(10), None),
            )
            .await;
        assert!(
            matches!(&result.outcome, Outcome::Page(Fetched::Conversations(p)) if p.items.is_empty() && p.is_last())
        );
    }
}

#[tokio::test]
async fn conversation_messages_are_read_with_src_roles_and_millisecond_times() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "zalo/conversation.json"));
    let result = server
        .connector()
        .execute(
            &zalo(),
            &step(
                fetch_messages("4000000000000000001"),
                Some("10"),
                Some(2),
                None,
            ),
        )
        .await;
    let seen = server.last();
    assert_eq!(seen.path(), "/v2.0/oa/conversation");
    // The id as a JSON number, every digit kept.
    assert_eq!(
        seen.query("data").as_deref(),
        Some(r#"{"count":2,"offset":10,"user_id":4000000000000000001}"#)
    );
    let Outcome::Page(Fetched::Messages(page)) = result.outcome else {
        panic!("{:?}", result.outcome)
    };
    assert_eq!(page.next.as_ref().map(|c| c.as_str()), Some("12"));
    let [text, photo] = &page.items[..] else {
        panic!()
    };
    assert_eq!(
        (text.role, text.text.as_deref()),
        (Some(SenderRole::Customer), Some("Shop ơi tư vấn giúp em"))
    );
    assert_eq!(text.conversation_id, "4000000000000000001");
    assert_eq!(photo.role, Some(SenderRole::Business));
    assert_eq!(photo.text, None);
    assert_eq!(
        (
            photo.attachments[0].kind.as_str(),
            photo.attachments[0].url.as_deref()
        ),
        ("photo", Some("https://s.example/p.jpg"))
    );
    assert_eq!(
        photo.created_at,
        Utc.timestamp_millis_opt(1_714_550_460_000).unwrap()
    );
}

#[tokio::test]
async fn follower_status_reads_user_is_follower_and_tolerates_its_absence() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "zalo/user_detail_follower.json"));
    server.push(Reply::fixture(200, "zalo/user_detail_without_flag.json"));
    server.push(Reply::fixture(200, "zalo/error_not_follower.json"));
    let connector = server.connector();
    let step = step(check_follower("4000000000000000001"), None, None, None);
    let mut follows = Vec::new();
    for _ in 0..3 {
        let Outcome::Page(Fetched::Follower(status)) =
            connector.execute(&zalo(), &step).await.outcome
        else {
            panic!()
        };
        assert_eq!(status.user_id, "4000000000000000001");
        follows.push(status.follower);
    }
    assert_eq!(follows, [false, true, false]);
    let seen = server.last();
    assert_eq!(seen.path(), "/v3.0/oa/user/detail");
    assert_eq!(data_of(&seen), json!({"user_id": "4000000000000000001"}));
}

#[tokio::test]
async fn errors_under_http_200_are_classified_by_their_code() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "zalo/error_invalid_token.json"));
    server.push(Reply::fixture(200, "zalo/error_over_limit.json").header("retry-after", "30"));
    server.push(Reply::fixture(200, "zalo/error_invalid_param.json"));
    let connector = server.connector();
    let step = step(list_conversations(), None, Some(10), None);

    let revoked = connector.execute(&zalo(), &step).await.outcome;
    assert!(
        matches!(&revoked, Outcome::AuthRevoked(r) if r.contains("-216")),
        "{revoked:?}"
    );
    let before = Utc::now();
    let Outcome::Throttled { until, scope } = connector.execute(&zalo(), &step).await.outcome
    else {
        panic!()
    };
    assert_eq!(scope, ThrottleScope::App);
    assert!((30..35).contains(&(until - before).num_seconds()));
    assert!(
        matches!(connector.execute(&zalo(), &step).await.outcome, Outcome::Permanent(r) if r.contains("-201"))
    );
}

#[tokio::test]
async fn server_errors_and_malformed_bodies_are_told_apart() {
    let server = FixtureServer::start().await;
    server.push(Reply::json(503, "upstream unavailable"));
    server.push(Reply::json(
        200,
        r#"{"error":0,"data":[{"src":1,"time":"soon"}]}"#,
    ));
    server.push(Reply::json(
        200,
        r#"{"error":0,"data":{"conversations":[]}}"#,
    ));
    let connector = server.connector();
    let step = step(list_conversations(), None, Some(10), None);
    assert!(matches!(
        connector.execute(&zalo(), &step).await.outcome,
        Outcome::Transient(_)
    ));
    assert!(matches!(
        connector.execute(&zalo(), &step).await.outcome,
        Outcome::Permanent(_)
    ));
    // The fabricated `data.conversations` shape [§3.3] is not the API's.
    assert!(matches!(
        connector.execute(&zalo(), &step).await.outcome,
        Outcome::Permanent(_)
    ));
}

#[tokio::test]
async fn a_cursor_that_is_not_an_offset_is_permanent_without_a_call() {
    let server = FixtureServer::start().await;
    let result = server
        .connector()
        .execute(
            &zalo(),
            &step(list_conversations(), Some("QVFI"), Some(10), None),
        )
        .await;
    assert!(matches!(result.outcome, Outcome::Permanent(_)));
    assert_eq!(result.http_calls, 0);
}
