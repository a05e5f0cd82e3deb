//! Zalo Official Account API (points 9–12 of section 6).

mod common;

use backfill_sim::dataset::Sender;
use backfill_sim::{Channel, RateBudget, RevokeReason};
use common::*;
use serde_json::{Value, json};

/// GET with the token in the `access_token` header [Z1]; Zalo answers 200 to everything.
async fn zalo_get(client: &reqwest::Client, url: &str, token: &str) -> Value {
    let response = client
        .get(url)
        .header("access_token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "Zalo errors travel in the body (point 9)"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn recent_chats_page_by_ten_until_a_short_page_and_list_each_users_newest_message() {
    let sim = start(relaxed()).await;
    let oa = account(&sim, Channel::Zalo, 0);
    let client = client();
    let mut items = Vec::new();
    let mut offset = 0;
    loop {
        let url = zalo_url(
            &sim,
            "/v2.0/oa/listrecentchat",
            &json!({ "offset": offset, "count": 10 }),
        );
        let body = zalo_get(&client, &url, &oa.access_token).await;
        assert_eq!(body["error"], 0);
        let page = body["data"]
            .as_array()
            .expect("data is a flat array")
            .clone();
        assert!(page.len() <= 10);
        let short = page.len() < 10;
        items.extend(page);
        offset += 10;
        if short {
            break;
        }
    }
    assert_eq!(items.len(), oa.conversations.len());
    for (item, conversation) in items.iter().zip(&oa.conversations) {
        let newest = conversation.messages().next().unwrap();
        assert_eq!(item["message_id"], newest.id.as_str());
        assert_eq!(
            item["time"],
            newest.created_at.timestamp_millis(),
            "milliseconds (point 12)"
        );
        let user = if item["src"] == 1 {
            &item["from_id"]
        } else {
            &item["to_id"]
        };
        assert_eq!(user, conversation.customer.id.as_str());
    }
}

#[tokio::test]
async fn a_conversation_walks_by_offset_newest_first_with_src_and_millisecond_times() {
    let sim = start(relaxed()).await;
    let oa = account(&sim, Channel::Zalo, 0);
    let conversation = oa
        .conversations
        .iter()
        .find(|c| c.message_count > 20)
        .unwrap();
    let client = client();
    let mut items = Vec::new();
    for offset in (0..).step_by(10) {
        // user_id as a string; the OA's token, this time, as a query parameter.
        let data = json!({ "user_id": conversation.customer.id, "offset": offset, "count": 10 });
        let url = format!(
            "{}&access_token={}",
            zalo_url(&sim, "/v2.0/oa/conversation", &data),
            oa.access_token
        );
        let body: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        let page = body["data"].as_array().unwrap().clone();
        let short = page.len() < 10;
        items.extend(page);
        if short {
            break;
        }
    }
    let expected: Vec<_> = conversation.messages().collect();
    assert_eq!(items.len(), expected.len());
    for (item, message) in items.iter().zip(&expected) {
        assert_eq!(item["message_id"], message.id.as_str());
        assert_eq!(item["time"], message.created_at.timestamp_millis());
        assert_eq!(
            item["src"],
            if message.sender == Sender::Customer {
                1
            } else {
                0
            }
        );
        assert!(["text", "photo", "sticker", "link"].contains(&item["type"].as_str().unwrap()));
    }
    let times: Vec<i64> = items.iter().map(|i| i["time"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]));
    assert!(times[0] > 1_600_000_000_000, "milliseconds, not seconds");
}

#[tokio::test]
async fn count_above_ten_is_capped_and_user_lists_filter_followers() {
    let sim = start(relaxed()).await;
    let oa = account(&sim, Channel::Zalo, 0);
    let client = client();
    let body = zalo_get(
        &client,
        &zalo_url(
            &sim,
            "/v2.0/oa/listrecentchat",
            &json!({ "offset": 0, "count": 50 }),
        ),
        &oa.access_token,
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 10, "point 11");

    let former = zalo_get(
        &client,
        &zalo_url(
            &sim,
            "/v3.0/oa/user/getlist",
            &json!({ "offset": 0, "count": 50, "is_follower": false }),
        ),
        &oa.access_token,
    )
    .await;
    let expected: Vec<&str> = oa
        .conversations
        .iter()
        .filter(|c| !c.customer.is_follower)
        .map(|c| c.customer.id.as_str())
        .collect();
    assert!(!expected.is_empty());
    let users: Vec<&str> = former["data"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, expected);
    assert_eq!(former["data"]["total"], expected.len());

    for conversation in oa.conversations.iter().take(5) {
        let detail = zalo_get(
            &client,
            &zalo_url(
                &sim,
                "/v3.0/oa/user/detail",
                &json!({ "user_id": conversation.customer.id }),
            ),
            &oa.access_token,
        )
        .await;
        assert_eq!(
            detail["data"]["display_name"],
            conversation.customer.name.as_str()
        );
        assert_eq!(
            detail["data"]["user_is_follower"],
            conversation.customer.is_follower
        );
        assert!(detail["data"]["avatars"]["240"].is_string());
    }
}

#[tokio::test]
async fn business_errors_are_http_200_with_a_negative_error_code() {
    let mut settings = relaxed();
    settings.zalo.budget = RateBudget::new(3, 600.0);
    let sim = start(settings).await;
    let oa = account(&sim, Channel::Zalo, 0);
    let client = client();
    let recent = zalo_url(
        &sim,
        "/v2.0/oa/listrecentchat",
        &json!({ "offset": 0, "count": 10 }),
    );

    let body = zalo_get(&client, &recent, "not-a-token").await;
    assert_eq!(
        (body["error"].as_i64(), body.get("data")),
        (Some(-216), None)
    );

    let body = zalo_get(
        &client,
        &format!(
            "{}/v2.0/oa/listrecentchat?data=%7Bnot-json",
            sim.base_url(Channel::Zalo)
        ),
        &oa.access_token,
    )
    .await;
    assert_eq!(body["error"], -201);

    let body = zalo_get(
        &client,
        &zalo_url(
            &sim,
            "/v2.0/oa/getfollowers",
            &json!({ "offset": 0, "count": 50 }),
        ),
        &oa.access_token,
    )
    .await;
    assert_eq!(body["error"], -240, "the v2 user APIs are shut down");

    assert_eq!(
        zalo_get(&client, &recent, &oa.access_token).await["error"],
        0
    );
    let body = zalo_get(&client, &recent, &oa.access_token).await;
    assert_eq!(
        body["error"], -32,
        "every authenticated call counts: this is the fourth of a budget of three"
    );
    assert_eq!(sim.stats().account(&oa.id).unwrap().throttled, 1);

    sim.revoke_token(&oa.access_token, RevokeReason::default())
        .unwrap();
    assert_eq!(
        zalo_get(&client, &recent, &oa.access_token).await["error"],
        -216
    );
}
