//! Facebook and Instagram against hand-written answers of each documented shape (C9):
//! what the client asks for, how it reads sparse pages, and how it classifies every
//! error envelope [M5, M6, M8, IG1, IG2].

mod common;

use std::time::Duration;

use backfill_channels::{Outcome, ThrottleScope};
use backfill_policy::{Channel, Fetched, SenderRole};
use chrono::{TimeZone, Utc};
use common::*;

fn page(outcome: &Outcome) -> &Fetched {
    match outcome {
        Outcome::Page(fetched) => fetched,
        other => panic!("expected a page, got {other:?}"),
    }
}

#[tokio::test]
async fn facebook_conversations_come_with_their_newest_messages_and_the_after_cursor() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "graph/fb_conversations_nested.json"));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_conversations(), None, Some(2), Some(2)),
        )
        .await;

    let seen = server.last();
    assert_eq!(seen.path(), "/v25.0/1200000000000009/conversations");
    assert_eq!(seen.query("platform").as_deref(), Some("messenger"));
    assert_eq!(
        seen.query("fields").as_deref(),
        Some(
            "id,updated_time,participants,unread_count,\
             messages.limit(2){id,created_time,from,to,message,attachments,tags}"
        )
    );
    assert_eq!(seen.query("limit").as_deref(), Some("2"));
    assert_eq!(seen.query("after"), None);
    // B4: the token travels in a header, never in the URL.
    assert_eq!(seen.query("access_token"), None);
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {TOKEN}"))
    );
    assert_eq!(result.http_calls, 1);

    let Fetched::Conversations(page) = page(&result.outcome) else {
        panic!("conversations")
    };
    assert_eq!(page.next.as_ref().map(|c| c.as_str()), Some("QVFIUbbb"));
    assert_eq!(page.items.len(), 2);
    let first = &page.items[0];
    assert_eq!(first.id, "t_100000000000001");
    assert_eq!(
        first.last_activity,
        Utc.with_ymd_and_hms(2025, 3, 2, 10, 15, 0).unwrap()
    );
    assert_eq!(
        first
            .customer
            .as_ref()
            .map(|c| (c.id.as_str(), c.name.as_deref())),
        Some(("7000000000000001", Some("Lan Nguyen")))
    );
    assert_eq!(first.unread_count, Some(2));
    assert_eq!(first.snippet.as_deref(), Some("Còn size M không shop?"));
    let embedded = first.embedded_messages.as_ref().unwrap();
    assert_eq!(embedded.next.as_ref().map(|c| c.as_str()), Some("ma1"));
    assert_eq!(embedded.items[0].role, Some(SenderRole::Customer));
    assert_eq!(embedded.items[0].conversation_id, "t_100000000000001");
    let reply = &embedded.items[1];
    assert_eq!(reply.role, Some(SenderRole::Business));
    assert_eq!(reply.text, None, "an empty message is no text [M4]");
    assert_eq!(reply.attachments[0].kind, "image");
    assert_eq!(
        reply.attachments[0].url.as_deref(),
        Some("https://cdn.example/x.jpg")
    );
    assert!(!reply.unavailable);

    // Sparse: no unread_count when there is none [R1]; a participant without a name.
    let second = &page.items[1];
    assert_eq!(second.unread_count, None);
    assert_eq!(second.customer.as_ref().map(|c| c.name.clone()), Some(None));
    assert!(second.embedded_messages.as_ref().unwrap().is_last());
    assert!(
        !format!("{:?}", result.outcome).contains(TOKEN),
        "paging.next links are dropped (B4)"
    );
}

#[tokio::test]
async fn want_is_clamped_to_the_page_maximum_and_a_missing_nested_want_asks_for_the_maximum() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "graph/conversations_sparse_last_page.json",
    ));
    server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_conversations(), Some("QVFIUaaa"), Some(500), None),
        )
        .await;
    let seen = server.last();
    // 500 is clamped to the page maximum, 100; with the maximum of 100 nested messages
    // that is over the 5,000 expansion ceiling, so the page asks for 50.
    assert_eq!(seen.query("limit").as_deref(), Some("50"));
    assert!(
        seen.query("fields")
            .unwrap()
            .contains("messages.limit(100){")
    );
    assert_eq!(seen.query("after").as_deref(), Some("QVFIUaaa"));
}

#[tokio::test]
async fn a_nested_want_of_zero_expands_no_messages() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "graph/conversations_sparse_last_page.json",
    ));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_conversations(), None, Some(5), Some(0)),
        )
        .await;
    assert_eq!(
        server.last().query("fields").as_deref(),
        Some("id,updated_time,participants,unread_count")
    );
    let Fetched::Conversations(page) = page(&result.outcome) else {
        panic!()
    };
    assert_eq!(
        page.items[0].embedded_messages, None,
        "not asked, so unknown"
    );
}

#[tokio::test]
async fn an_empty_page_that_still_has_next_continues_the_walk() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "graph/conversations_empty_with_next.json",
    ));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_conversations(), None, Some(25), Some(10)),
        )
        .await;
    let Fetched::Conversations(page) = page(&result.outcome) else {
        panic!()
    };
    assert!(page.items.is_empty());
    assert_eq!(
        page.next.as_ref().map(|c| c.as_str()),
        Some("QVFIUddd"),
        "[M5]: empty is not the end"
    );
}

#[tokio::test]
async fn a_page_without_next_is_the_last_even_with_an_after_cursor() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "graph/conversations_sparse_last_page.json",
    ));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_conversations(), None, Some(25), Some(10)),
        )
        .await;
    let Fetched::Conversations(page) = page(&result.outcome) else {
        panic!()
    };
    assert!(page.is_last());
    let only = &page.items[0];
    assert_eq!(
        (
            only.customer.clone(),
            only.unread_count,
            only.snippet.clone()
        ),
        (None, None, None)
    );
    assert_eq!(
        only.embedded_messages.as_ref().map(|p| p.items.len()),
        Some(0),
        "asked for, and none came"
    );
}

#[tokio::test]
async fn a_next_link_without_cursors_continues_with_its_after_parameter_alone() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "graph/messages_next_link_without_cursors.json",
    ));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(fetch_messages("t_1"), None, Some(1), None),
        )
        .await;
    let seen = server.last();
    assert_eq!(seen.path(), "/v25.0/t_1/messages");
    assert_eq!(
        seen.query("fields").as_deref(),
        Some("id,created_time,from,to,message,attachments,tags")
    );
    let Fetched::Messages(page) = page(&result.outcome) else {
        panic!()
    };
    assert_eq!(page.next.as_ref().map(|c| c.as_str()), Some("QVFIUnext"));
    assert!(!format!("{result:?}").contains(TOKEN));
}

#[tokio::test]
async fn instagram_conversations_use_the_instagram_platform_and_its_own_fields() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "graph/conversations_sparse_last_page.json",
    ));
    server
        .connector()
        .execute(
            &meta(Channel::Instagram),
            &step(list_conversations(), None, Some(50), Some(50)),
        )
        .await;
    let seen = server.last();
    assert_eq!(seen.path(), "/v25.0/17841400000000000/conversations");
    assert_eq!(seen.query("platform").as_deref(), Some("instagram"));
    assert_eq!(
        seen.query("fields").as_deref(),
        Some("id,updated_time,participants,messages.limit(50){id,created_time,from,to,message}")
    );
}

#[tokio::test]
async fn instagram_messages_beyond_the_detail_depth_become_unavailable_placeholders() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(
        200,
        "graph/ig_messages_beyond_detail_depth.json",
    ));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Instagram),
            &step(fetch_messages("aWdfY29udl8x"), None, Some(50), None),
        )
        .await;
    assert_eq!(
        server.last().query("fields").as_deref(),
        Some("id,created_time,from,to,message")
    );
    let Fetched::Messages(page) = page(&result.outcome) else {
        panic!()
    };
    assert!(page.is_last());
    let flags: Vec<_> = page.items.iter().map(|m| (m.unavailable, m.role)).collect();
    assert_eq!(
        flags,
        [
            (false, Some(SenderRole::Customer)),
            (false, Some(SenderRole::Business)),
            (true, None),
            (true, None)
        ]
    );
    assert_eq!(
        page.items[0].from.as_ref().unwrap().name.as_deref(),
        Some("buyer.hoa"),
        "IG names are usernames"
    );
    assert_eq!(page.items[3].id, "aWdfZGlyZWN0XzEyMA");
    assert_eq!(page.items[3].from, None);
}

#[tokio::test]
async fn a_detail_request_answered_message_has_been_deleted_is_unavailable() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(400, "graph/error_message_deleted.json"));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Instagram),
            &step(fetch_messages("c"), Some("x1"), Some(20), None),
        )
        .await;
    assert!(
        matches!(&result.outcome, Outcome::Unavailable(r) if r.contains("has been deleted")),
        "{:?}",
        result.outcome
    );
}

#[tokio::test]
async fn facebook_posts_ask_only_for_the_fields_the_model_keeps() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "graph/fb_posts.json"));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_posts(), None, Some(5), None),
        )
        .await;
    let seen = server.last();
    assert_eq!(seen.path(), "/v25.0/1200000000000009/posts");
    assert_eq!(
        seen.query("fields").as_deref(),
        Some("id,created_time,message,permalink_url")
    );
    assert_eq!(seen.query("limit").as_deref(), Some("5"));
    let Fetched::Posts(page) = page(&result.outcome) else {
        panic!()
    };
    assert_eq!(page.items[0].text.as_deref(), Some("Hàng mới về"));
    assert_eq!(page.items[1].text, None);
    assert_eq!(page.next.as_ref().map(|c| c.as_str()), Some("pa"));
}

#[tokio::test]
async fn instagram_media_read_caption_timestamp_and_permalink() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "graph/ig_media.json"));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Instagram),
            &step(list_posts(), None, Some(5), None),
        )
        .await;
    let seen = server.last();
    assert_eq!(seen.path(), "/v25.0/17841400000000000/media");
    assert_eq!(
        seen.query("fields").as_deref(),
        Some("id,caption,timestamp,permalink")
    );
    let Fetched::Posts(page) = page(&result.outcome) else {
        panic!()
    };
    let post = &page.items[0];
    assert_eq!(
        (post.text.as_deref(), post.permalink.as_deref()),
        (Some("Sale 50%"), Some("https://www.instagram.com/p/AbC/"))
    );
    assert_eq!(
        post.created_at,
        Utc.with_ymd_and_hms(2025, 4, 1, 11, 0, 0).unwrap()
    );
    assert!(page.is_last());
}

#[tokio::test]
async fn facebook_comments_are_every_level_newest_first_with_their_parent() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "graph/fb_comments.json"));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(
                fetch_comments("1200000000000009_555"),
                None,
                Some(100),
                None,
            ),
        )
        .await;
    let seen = server.last();
    assert_eq!(seen.path(), "/v25.0/1200000000000009_555/comments");
    assert_eq!(seen.query("filter").as_deref(), Some("stream"));
    assert_eq!(
        seen.query("order").as_deref(),
        Some("reverse_chronological")
    );
    assert_eq!(
        seen.query("fields").as_deref(),
        Some("id,created_time,from,message,parent")
    );
    let Fetched::Comments(page) = page(&result.outcome) else {
        panic!()
    };
    assert_eq!(
        page.items[0].parent_id.as_deref(),
        Some("1200000000000009_555_777")
    );
    assert_eq!(page.items[0].post_id, "1200000000000009_555");
    assert_eq!(page.items[1].parent_id, None);
    assert_eq!(
        (page.items[2].from.clone(), page.items[2].text.clone()),
        (None, None),
        "sparse [M4]"
    );
    assert_eq!(page.next.as_ref().map(|c| c.as_str()), Some("c1"));
}

#[tokio::test]
async fn instagram_comments_are_capped_at_fifty_and_named_by_username() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(200, "graph/ig_comments.json"));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Instagram),
            &step(fetch_comments("17900000000000100"), None, Some(100), None),
        )
        .await;
    let seen = server.last();
    assert_eq!(seen.query("limit").as_deref(), Some("50"), "[IG2]");
    assert_eq!(
        seen.query("fields").as_deref(),
        Some("id,text,timestamp,username,from")
    );
    assert_eq!(seen.query("filter"), None);
    let Fetched::Comments(page) = page(&result.outcome) else {
        panic!()
    };
    let from = page.items[0].from.as_ref().unwrap();
    assert_eq!(
        (from.id.as_str(), from.name.as_deref()),
        ("9000000000000002", Some("khach_01"))
    );
    assert_eq!(page.items[0].text.as_deref(), Some("Còn màu đen không?"));
    assert_eq!(
        page.items[1].from, None,
        "a username alone is no participant id"
    );
}

#[tokio::test]
async fn a_business_use_case_throttle_waits_for_the_estimated_time_to_regain_access() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(400, "graph/error_throttled_pages_buc.json").header(
        "x-business-use-case-usage",
        r#"{"1200000000000009":[{"type":"pages","call_count":100,"total_cputime":12,"total_time":15,"estimated_time_to_regain_access":7}]}"#,
    ));
    let before = Utc::now();
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_conversations(), None, Some(25), Some(10)),
        )
        .await;
    let Outcome::Throttled { until, scope } = result.outcome else {
        panic!("{:?}", result.outcome)
    };
    assert_eq!(scope, ThrottleScope::Account);
    let wait = (until - before).num_seconds();
    assert!((7 * 60..7 * 60 + 5).contains(&wait), "{wait}");
    let usage = result.usage.unwrap();
    assert_eq!(
        (usage.max_percent, usage.regain_after),
        (100, Some(Duration::from_secs(420)))
    );
}

#[tokio::test]
async fn an_app_limit_throttles_the_app_for_the_default_backoff() {
    let server = FixtureServer::start().await;
    // Code 4 observed as HTTP 403 [GH1], and flagged transient: the throttle wins.
    server.push(Reply::fixture(403, "graph/error_app_limit.json").header(
        "x-app-usage",
        r#"{"call_count":100,"total_cputime":3,"total_time":9}"#,
    ));
    let before = Utc::now();
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_posts(), None, Some(5), None),
        )
        .await;
    let Outcome::Throttled { until, scope } = result.outcome else {
        panic!("{:?}", result.outcome)
    };
    assert_eq!(scope, ThrottleScope::App);
    assert!((60..65).contains(&(until - before).num_seconds()));
    assert_eq!(result.usage.map(|u| u.max_percent), Some(100));
}

#[tokio::test]
async fn usage_headers_of_a_successful_answer_are_read_too() {
    let server = FixtureServer::start().await;
    server.push(
        Reply::fixture(200, "graph/fb_posts.json")
            .header("x-business-use-case-usage", r#"{"1":[{"type":"pages","call_count":81,"total_cputime":2,"total_time":3,"estimated_time_to_regain_access":0}]}"#),
    );
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_posts(), None, Some(5), None),
        )
        .await;
    assert!(matches!(result.outcome, Outcome::Page(_)));
    assert_eq!(
        result.usage.map(|u| (u.max_percent, u.regain_after)),
        Some((81, None))
    );
}

#[tokio::test]
async fn an_expired_token_is_auth_revoked() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(400, "graph/error_token_expired.json"));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_posts(), None, Some(5), None),
        )
        .await;
    let Outcome::AuthRevoked(reason) = &result.outcome else {
        panic!("{:?}", result.outcome)
    };
    assert!(reason.contains("190/463"), "{reason}");
}

#[tokio::test]
async fn reduce_the_amount_of_data_is_asked_again_with_half_the_page_and_half_the_nesting() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(500, "graph/error_reduce_data.json"));
    server.push(Reply::fixture(200, "graph/fb_conversations_nested.json"));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_conversations(), None, Some(100), Some(50)),
        )
        .await;
    assert!(
        matches!(result.outcome, Outcome::Page(_)),
        "{:?}",
        result.outcome
    );
    assert_eq!(result.http_calls, 2);
    let seen = server.seen();
    assert_eq!(seen[1].query("limit").as_deref(), Some("50"));
    assert!(
        seen[1]
            .query("fields")
            .unwrap()
            .contains("messages.limit(25){")
    );
}

#[tokio::test]
async fn reduce_the_amount_of_data_gives_up_as_transient_after_bounded_retries() {
    let server = FixtureServer::start().await;
    for _ in 0..10 {
        server.push(Reply::fixture(500, "graph/error_reduce_data.json"));
    }
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(fetch_messages("t_1"), None, Some(100), None),
        )
        .await;
    assert!(
        matches!(result.outcome, Outcome::Transient(_)),
        "{:?}",
        result.outcome
    );
    assert_eq!(result.http_calls, 5, "one call and four smaller ones");
    let limits: Vec<_> = server
        .seen()
        .iter()
        .map(|s| s.query("limit").unwrap())
        .collect();
    assert_eq!(limits, ["100", "50", "25", "12", "6"]);
}

#[tokio::test]
async fn service_errors_and_bare_5xx_answers_are_transient() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(500, "graph/error_service.json"));
    server.push(
        Reply::json(502, "<html><body>Bad Gateway</body></html>")
            .header("content-type", "text/html"),
    );
    let connector = server.connector();
    let account = meta(Channel::Facebook);
    let step = step(list_posts(), None, Some(5), None);
    assert!(matches!(
        connector.execute(&account, &step).await.outcome,
        Outcome::Transient(_)
    ));
    let Outcome::Transient(reason) = connector.execute(&account, &step).await.outcome else {
        panic!()
    };
    assert!(
        reason.contains("HTTP 502") && reason.contains("Bad Gateway"),
        "{reason}"
    );
}

#[tokio::test]
async fn invalid_parameters_and_missing_permissions_are_permanent() {
    let server = FixtureServer::start().await;
    server.push(Reply::fixture(400, "graph/error_invalid_parameter.json"));
    server.push(Reply::fixture(403, "graph/error_permission.json"));
    let connector = server.connector();
    let account = meta(Channel::Facebook);
    let step = step(list_posts(), None, Some(5), None);
    let Outcome::Permanent(reason) = connector.execute(&account, &step).await.outcome else {
        panic!()
    };
    assert!(
        reason.contains("Graph error 100") && reason.contains("fbtrace_id AbC129xyz"),
        "{reason}"
    );
    let Outcome::Permanent(reason) = connector.execute(&account, &step).await.outcome else {
        panic!()
    };
    assert!(reason.contains("Graph error 200"), "{reason}");
}

#[tokio::test]
async fn a_truncated_body_is_permanent_and_quotes_its_first_bytes() {
    let server = FixtureServer::start().await;
    let body = fixture("graph/fb_posts.json");
    server.push(Reply::json(200, &body[..body.len() / 2]));
    let result = server
        .connector()
        .execute(
            &meta(Channel::Facebook),
            &step(list_posts(), None, Some(5), None),
        )
        .await;
    let Outcome::Permanent(reason) = &result.outcome else {
        panic!("{:?}", result.outcome)
    };
    assert!(
        reason.contains(r#"{"data":[   {"id":"1200000000000009_555""#),
        "{reason}"
    );
    assert!(reason.len() < 400, "a snippet, not the body");
}

#[tokio::test]
async fn a_body_that_is_not_json_or_not_a_listing_is_permanent() {
    let server = FixtureServer::start().await;
    server.push(Reply::json(200, "<html>maintenance</html>"));
    server.push(Reply::json(200, r#"{"id":"1200000000000009"}"#));
    server.push(Reply::json(200, r#"{"data":[{"id":"m_1"}]}"#));
    let connector = server.connector();
    for _ in 0..3 {
        let result = connector
            .execute(
                &meta(Channel::Facebook),
                &step(fetch_messages("t_1"), None, Some(5), None),
            )
            .await;
        assert!(
            matches!(result.outcome, Outcome::Permanent(_)),
            "{:?}",
            result.outcome
        );
    }
}

#[tokio::test]
async fn http_429_is_throttled_until_retry_after() {
    let server = FixtureServer::start().await;
    server.push(Reply::json(429, "").header("retry-after", "120"));
    let before = Utc::now();
    let result = server
        .connector()
        .execute(
            &meta(Channel::Instagram),
            &step(list_posts(), None, Some(5), None),
        )
        .await;
    let Outcome::Throttled { until, scope } = result.outcome else {
        panic!("{:?}", result.outcome)
    };
    assert_eq!(scope, ThrottleScope::Account);
    assert!((120..125).contains(&(until - before).num_seconds()));
}

#[tokio::test]
async fn timeouts_hang_ups_and_refused_connections_are_transient() {
    let server = FixtureServer::start().await;
    server.push(Reply::behaving(Behaviour::Hang));
    server.push(Reply::behaving(Behaviour::Hangup));
    let connector = server.connector();
    let account = meta(Channel::Facebook);
    let step = step(list_posts(), None, Some(5), None);
    let timed_out = connector.execute(&account, &step).await;
    assert!(
        matches!(&timed_out.outcome, Outcome::Transient(r) if r.contains("timed out")),
        "{:?}",
        timed_out.outcome
    );
    assert!(matches!(
        connector.execute(&account, &step).await.outcome,
        Outcome::Transient(_)
    ));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = backfill_channels::ConnectorsConfig::default();
    config.facebook.base_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let refused = backfill_channels::Connector::new(config)
        .unwrap()
        .execute(&account, &step)
        .await;
    assert!(
        matches!(&refused.outcome, Outcome::Transient(r) if r.contains("connection failed")),
        "{:?}",
        refused.outcome
    );
    assert_eq!(refused.http_calls, 1);
}

#[tokio::test]
async fn a_step_the_channel_cannot_serve_is_permanent_without_a_call() {
    let server = FixtureServer::start().await;
    let connector = server.connector();
    let result = connector
        .execute(
            &meta(Channel::Facebook),
            &step(check_follower("1"), None, None, None),
        )
        .await;
    assert!(matches!(result.outcome, Outcome::Permanent(_)));
    let mut wrong = zalo();
    wrong.channel = Channel::Facebook;
    let result = connector
        .execute(&wrong, &step(list_posts(), None, None, None))
        .await;
    assert!(matches!(&result.outcome, Outcome::Permanent(r) if r.contains("zalo credentials")));
    assert_eq!(result.http_calls, 0);
    assert!(server.seen().is_empty());
}
