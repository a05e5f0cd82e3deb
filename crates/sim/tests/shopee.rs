//! Shopee seller chat (points 13–16 of section 6).

mod common;

use std::time::{Duration, SystemTime};

use backfill_sim::{Channel, RateBudget, RevokeReason};
use common::*;
use serde_json::Value;

const LIST: &str = "/api/v2/sellerchat/get_conversation_list";
const MESSAGES: &str = "/api/v2/sellerchat/get_message";
const ONE: &str = "/api/v2/sellerchat/get_one_conversation";
const TWO_POW_53: u64 = 1 << 53;

async fn call(client: &reqwest::Client, url: &str) -> (u16, Value, String) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let raw = response.text().await.unwrap();
    (status, serde_json::from_str(&raw).expect("JSON"), raw)
}

fn assert_envelope_error(body: &Value, error: &str) {
    assert_eq!(body["error"], error, "{body}");
    assert!(body["request_id"].is_string() && body["message"].is_string());
    assert!(
        body.get("response").is_none(),
        "no response on error (point 14)"
    );
}

#[tokio::test]
async fn walking_older_by_next_timestamp_nano_visits_every_conversation_newest_first() {
    let sim = start(relaxed()).await;
    let shop = account(&sim, Channel::Shopee, 0);
    let client = client();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut extra = vec![("direction", "older"), ("type", "all"), ("page_size", "4")];
        if !cursor.is_empty() {
            extra.push(("next_timestamp_nano", cursor.as_str()));
        }
        let (status, body, raw) = call(
            &client,
            &shopee_url(&sim, &shop.access_token, LIST, unix_now(), &extra),
        )
        .await;
        assert_eq!(
            (status, &body["error"], &body["message"]),
            (200, &Value::from(""), &Value::from(""))
        );
        let response = &body["response"];
        let conversations = response["conversations"].as_array().unwrap();
        for c in conversations {
            // Point 16: ids above 2^53 are strings; user and shop ids are numbers.
            let id = c["conversation_id"].as_str().expect("a string id");
            assert!(id.parse::<u64>().unwrap() > TWO_POW_53);
            assert!(raw.contains(&format!("\"conversation_id\":\"{id}\"")));
            assert!(c["to_id"].is_u64() && c["shop_id"].is_u64());
            assert!(
                c["latest_message_id"]
                    .as_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    > TWO_POW_53
            );
            seen.push(c.clone());
        }
        if response["page_result"]["more"] == false {
            break;
        }
        cursor = response["page_result"]["next_cursor"]["next_message_time_nano"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    let ids: Vec<&str> = seen
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        shop.conversations
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
    );
    for (item, conversation) in seen.iter().zip(&shop.conversations) {
        // Point 15: nanoseconds here, while messages carry seconds.
        let nanos = item["last_message_timestamp"].as_u64().unwrap();
        assert_eq!(
            nanos,
            conversation.last_activity.timestamp_nanos_opt().unwrap() as u64
        );
        assert!(nanos > 1_000_000_000_000_000_000);
    }
}

#[tokio::test]
async fn latest_without_a_cursor_starts_from_the_oldest_and_page_size_above_25_is_empty() {
    let sim = start(relaxed()).await;
    let shop = account(&sim, Channel::Shopee, 0);
    let client = client();
    let url =
        |extra: &[(&str, &str)]| shopee_url(&sim, &shop.access_token, LIST, unix_now(), extra);

    let (_, body, _) = call(
        &client,
        &url(&[("direction", "latest"), ("type", "all"), ("page_size", "3")]),
    )
    .await;
    let ids: Vec<&str> = body["response"]["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    let oldest_first: Vec<&str> = shop
        .conversations
        .iter()
        .rev()
        .take(3)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, oldest_first, "the observed direction quirk");

    let (status, body, _) = call(
        &client,
        &url(&[("direction", "older"), ("type", "all"), ("page_size", "26")]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["response"]["conversations"],
        serde_json::json!([]),
        "page_size > 25 answers empty [S5]"
    );
    assert_eq!(body["response"]["page_result"]["more"], false);
    let (_, body, _) = call(
        &client,
        &url(&[("direction", "older"), ("type", "all"), ("page_size", "25")]),
    )
    .await;
    assert!(
        !body["response"]["conversations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn messages_walk_by_next_offset_newest_first_with_second_timestamps() {
    let sim = start(relaxed()).await;
    let shop = account(&sim, Channel::Shopee, 0);
    let conversation = shop
        .conversations
        .iter()
        .find(|c| c.message_count > 30)
        .unwrap();
    let client = client();
    let mut items = Vec::new();
    let mut offset = String::new();
    loop {
        let extra = [
            ("conversation_id", conversation.id.as_str()),
            ("offset", offset.as_str()),
            ("page_size", "15"),
        ];
        let (status, body, raw) = call(
            &client,
            &shopee_url(&sim, &shop.access_token, MESSAGES, unix_now(), &extra),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        for m in body["response"]["messages"].as_array().unwrap() {
            let id = m["message_id"].as_str().unwrap();
            assert!(id.parse::<u64>().unwrap() > TWO_POW_53);
            assert!(raw.contains(&format!("\"message_id\":\"{id}\"")));
            assert!(m["from_id"].is_u64() && m["to_id"].is_u64());
            items.push(m.clone());
        }
        offset = body["response"]["page_result"]["next_offset"]
            .as_str()
            .unwrap()
            .to_owned();
        if offset.is_empty() || offset == "0" {
            break;
        }
    }
    let expected: Vec<_> = conversation.messages().collect();
    assert_eq!(items.len(), expected.len());
    for (item, message) in items.iter().zip(&expected) {
        assert_eq!(item["message_id"], message.id.as_str());
        assert_eq!(
            item["created_timestamp"],
            message.created_at.timestamp(),
            "seconds (point 16)"
        );
        assert_eq!(item["conversation_id"], conversation.id.as_str());
    }
    let newest_seconds = items[0]["created_timestamp"].as_i64().unwrap();
    let listed_nanos = conversation.last_activity.timestamp_nanos_opt().unwrap();
    assert_eq!(newest_seconds, listed_nanos / 1_000_000_000);

    let (_, one, _) = call(
        &client,
        &shopee_url(
            &sim,
            &shop.access_token,
            ONE,
            unix_now(),
            &[("conversation_id", &conversation.id)],
        ),
    )
    .await;
    assert_eq!(one["response"]["conversation_id"], conversation.id.as_str());
    assert_eq!(
        one["response"]["latest_message_id"],
        expected[0].id.as_str()
    );
}

#[tokio::test]
async fn the_signature_timestamp_and_token_age_are_checked() {
    let sim = start(relaxed()).await;
    let shop = account(&sim, Channel::Shopee, 0);
    let client = client();
    let extra = [("direction", "older"), ("type", "all"), ("page_size", "5")];

    let good = shopee_url(&sim, &shop.access_token, LIST, unix_now(), &extra);
    assert_eq!(call(&client, &good).await.0, 200);

    let tampered = good.replace("&sign=", "&sign=0");
    let (status, body, _) = call(&client, &tampered).await;
    assert_envelope_error(&body, "error_sign");
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("Wrong sign."))
    );

    // Signed for another path: the path is part of the base string.
    let other_path =
        shopee_url(&sim, &shop.access_token, MESSAGES, unix_now(), &extra).replace(MESSAGES, LIST);
    assert_envelope_error(&call(&client, &other_path).await.1, "error_sign");

    let stale = shopee_url(&sim, &shop.access_token, LIST, unix_now() - 301, &extra);
    let (status, body, _) = call(&client, &stale).await;
    assert_envelope_error(&body, "error_param");
    assert_eq!(status, 400);
    assert_eq!(
        call(
            &client,
            &shopee_url(&sim, &shop.access_token, LIST, unix_now() - 240, &extra)
        )
        .await
        .0,
        200
    );

    let old_token = sim
        .issue_token(
            &shop.id,
            SystemTime::now() - Duration::from_secs(4 * 3600 + 60),
        )
        .unwrap();
    let (status, body, _) = call(
        &client,
        &shopee_url(&sim, &old_token, LIST, unix_now(), &extra),
    )
    .await;
    assert_envelope_error(&body, "error_auth");
    assert_eq!(status, 403);
    let young_token = sim
        .issue_token(&shop.id, SystemTime::now() - Duration::from_secs(3 * 3600))
        .unwrap();
    assert_eq!(
        call(
            &client,
            &shopee_url(&sim, &young_token, LIST, unix_now(), &extra)
        )
        .await
        .0,
        200
    );

    sim.revoke_token(&young_token, RevokeReason::default())
        .unwrap();
    assert_envelope_error(
        &call(
            &client,
            &shopee_url(&sim, &young_token, LIST, unix_now(), &extra),
        )
        .await
        .1,
        "error_auth",
    );
    assert_envelope_error(
        &call(
            &client,
            &shopee_url(&sim, "unknown", LIST, unix_now(), &extra),
        )
        .await
        .1,
        "error_auth",
    );
}

#[tokio::test]
async fn a_shop_over_its_budget_gets_429() {
    let sim = start(relaxed()).await;
    let shop = account(&sim, Channel::Shopee, 0);
    sim.set_account_budget(&shop.id, Some(RateBudget::new(2, 600.0)))
        .unwrap();
    let client = client();
    let url = shopee_url(
        &sim,
        &shop.access_token,
        LIST,
        unix_now(),
        &[("direction", "older"), ("type", "all")],
    );
    assert_eq!(call(&client, &url).await.0, 200);
    assert_eq!(call(&client, &url).await.0, 200);
    let (status, body, _) = call(&client, &url).await;
    assert_eq!(status, 429);
    assert_envelope_error(&body, "error_rate_limit");
    sim.set_account_budget(&shop.id, None).unwrap();
    assert_eq!(call(&client, &url).await.0, 200);
}
