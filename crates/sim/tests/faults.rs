//! Injected faults and the `/_sim` control endpoints.

mod common;

use std::time::{Duration, Instant};

use backfill_sim::{Channel, ChannelFaults, Faults, Latency, SimStats};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn server_errors_use_each_channels_own_5xx_and_are_counted_as_faults() {
    let mut faults = Faults::default();
    for channel in Channel::ALL {
        faults.of_mut(channel).server_error_rate = 1.0;
    }
    let sim = start_with(relaxed(), faults).await;
    let client = client();
    let page = account(&sim, Channel::Facebook, 0);

    let (status, _, body) = get(
        &client,
        &format!(
            "{}/v21.0/{}/feed?access_token={}",
            sim.base_url(Channel::Facebook),
            page.id,
            page.access_token
        ),
    )
    .await;
    assert_eq!(
        (status, graph_error(&body).0, &body["error"]["is_transient"]),
        (500, 2, &Value::Bool(true))
    );

    let oa = account(&sim, Channel::Zalo, 0);
    let zalo = client
        .get(zalo_url(
            &sim,
            "/v2.0/oa/listrecentchat",
            &json!({ "offset": 0, "count": 10 }),
        ))
        .header("access_token", &oa.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(zalo.status(), 502);
    assert!(zalo.text().await.unwrap().contains("Bad Gateway"));

    let shop = account(&sim, Channel::Shopee, 0);
    let (status, _, body) = get(
        &client,
        &shopee_url(
            &sim,
            &shop.access_token,
            "/api/v2/sellerchat/get_conversation_list",
            unix_now(),
            &[("direction", "older")],
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("error_server"))
    );

    let stats = sim.stats();
    for id in [&page.id, &oa.id, &shop.id] {
        let counters = stats.account(id).unwrap();
        assert_eq!(
            (counters.requests, counters.faults, counters.served),
            (1, 1, 0)
        );
    }
}

#[tokio::test]
async fn an_error_rate_fails_about_that_share_of_requests_and_the_same_seed_fails_the_same_ones() {
    let run = || async {
        let mut faults = Faults::default();
        faults.facebook.server_error_rate = 0.3;
        let sim = start_with(relaxed(), faults).await;
        let page = account(&sim, Channel::Facebook, 0);
        let url = format!(
            "{}/v21.0/{}/feed?access_token={}",
            sim.base_url(Channel::Facebook),
            page.id,
            page.access_token
        );
        let client = client();
        let mut statuses = Vec::new();
        for _ in 0..60 {
            statuses.push(get(&client, &url).await.0);
        }
        statuses
    };
    let first = run().await;
    let failed = first.iter().filter(|s| **s == 500).count();
    assert!(
        (8..=30).contains(&failed),
        "{failed} of 60 at a rate of 0.3"
    );
    assert_eq!(first, run().await, "faults are drawn from the seed");
}

#[tokio::test]
async fn malformed_and_truncated_bodies_cannot_be_parsed() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let url = format!(
        "{}/v21.0/{}/conversations?access_token={}",
        sim.base_url(Channel::Facebook),
        page.id,
        page.access_token
    );
    let client = client();

    sim.set_faults(
        Channel::Facebook,
        ChannelFaults {
            malformed_rate: 1.0,
            ..ChannelFaults::default()
        },
    );
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    sim.set_faults(
        Channel::Facebook,
        ChannelFaults {
            truncated_rate: 1.0,
            ..ChannelFaults::default()
        },
    );
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.content_length().is_some_and(|n| n > 0));
    let error = response.bytes().await.unwrap_err();
    assert!(
        error.is_body() || error.is_decode(),
        "the body stops short: {error}"
    );

    sim.set_faults(Channel::Facebook, ChannelFaults::default());
    assert_eq!(get(&client, &url).await.0, 200);
    assert_eq!(sim.stats().account(&page.id).unwrap().faults, 2);
}

#[tokio::test]
async fn latency_delays_answers_and_a_hang_outlasts_the_clients_timeout() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let url = format!(
        "{}/v21.0/{}/feed?access_token={}",
        sim.base_url(Channel::Facebook),
        page.id,
        page.access_token
    );

    sim.set_faults(
        Channel::Facebook,
        ChannelFaults {
            latency: Latency {
                fixed_ms: 150,
                jitter_ms: 50,
            },
            ..ChannelFaults::default()
        },
    );
    let started = Instant::now();
    assert_eq!(get(&client(), &url).await.0, 200);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(150), "{took:?}");

    sim.set_faults(
        Channel::Facebook,
        ChannelFaults {
            hang_rate: 1.0,
            ..ChannelFaults::default()
        },
    );
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = impatient.get(&url).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");

    // A hang in progress does not hold up shutdown.
    let hanging = tokio::spawn(async move { client().get(&url).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    sim.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let _ = hanging.await;
}

#[tokio::test]
async fn a_token_revoked_mid_walk_fails_the_next_page() {
    let sim = start(relaxed()).await;
    let page = account(&sim, Channel::Facebook, 0);
    let conversation = page
        .conversations
        .iter()
        .find(|c| c.message_count > 100)
        .unwrap();
    let client = client();
    let first = get_ok(
        &client,
        &format!(
            "{}/v21.0/{}/messages?limit=10&access_token={}",
            sim.base_url(Channel::Facebook),
            conversation.id,
            page.access_token
        ),
    )
    .await;
    let next = first["paging"]["next"].as_str().unwrap();

    let revoked: Value = client
        .post(format!("http://{}/_sim/revoke", sim.addr()))
        .json(&json!({ "access_token": page.access_token, "reason": "session_invalidated" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["revoked"], 1);
    let (status, _, body) = get(&client, next).await;
    assert_eq!((status, graph_error(&body)), (400, (190, Some(492))));
}

#[tokio::test]
async fn faults_and_stats_are_controlled_over_http() {
    let sim = start(relaxed()).await;
    let base = format!("http://{}", sim.addr());
    let client = client();
    let shop = account(&sim, Channel::Shopee, 0);

    let faults: Value = client
        .post(format!("{base}/_sim/faults"))
        .json(&json!({ "shopee": { "account_budget": { "calls": 1, "window_secs": 600.0 } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["shopee"]["account_budget"]["calls"], 1);
    assert_eq!(faults["zalo"]["server_error_rate"], 0.0);
    let url = shopee_url(
        &sim,
        &shop.access_token,
        "/api/v2/sellerchat/get_conversation_list",
        unix_now(),
        &[("direction", "older")],
    );
    assert_eq!(get(&client, &url).await.0, 200);
    assert_eq!(get(&client, &url).await.0, 429);

    let stats: SimStats = client
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let counters = &stats.accounts[&shop.id];
    assert_eq!(
        (counters.requests, counters.served, counters.throttled),
        (2, 1, 1)
    );
    assert_eq!(counters.requests_by_endpoint["get_conversation_list"], 2);

    let reset = client
        .post(format!("{base}/_sim/stats/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert!(sim.stats().accounts.is_empty());

    let issued: Value = client
        .post(format!("{base}/_sim/tokens"))
        .json(&json!({ "account_id": shop.id, "age_secs": 5 * 3600 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expired = issued["access_token"].as_str().unwrap();
    let url = shopee_url(
        &sim,
        expired,
        "/api/v2/sellerchat/get_conversation_list",
        unix_now(),
        &[("direction", "older")],
    );
    assert_eq!(get(&client, &url).await.2["error"], "error_auth");
}
