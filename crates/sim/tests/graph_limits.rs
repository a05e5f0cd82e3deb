//! Graph rate limits (point 7 of section 6): BUC budgets with `X-Business-Use-Case-Usage`,
//! Platform budgets with `X-App-Usage`, blocks that grow while the caller keeps calling, and
//! the Conversations API's 2 calls per second.

mod common;

use std::time::Duration;

use backfill_sim::{Channel, RateBudget};
use common::*;
use serde_json::Value;

fn usage(headers: &reqwest::header::HeaderMap, account_id: &str) -> Option<Value> {
    let raw = headers.get("x-business-use-case-usage")?.to_str().unwrap();
    let parsed: Value = serde_json::from_str(raw).unwrap();
    Some(parsed[account_id].clone())
}

fn entry<'a>(usage: &'a Value, kind: &str) -> &'a Value {
    usage
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == kind)
        .unwrap()
}

#[tokio::test]
async fn throttling_starts_at_the_buc_budget_and_the_usage_header_counts_up_to_it() {
    let mut settings = relaxed();
    settings.graph.buc_budget = RateBudget::new(5, 600.0);
    settings.graph.usage_header_threshold_pct = 40;
    let sim = start(settings).await;
    let page = account(&sim, Channel::Facebook, 0);
    let url = format!(
        "{}/v21.0/{}/conversations?access_token={}",
        sim.base_url(Channel::Facebook),
        page.id,
        page.access_token
    );
    let client = client();

    for call in 1..=5u64 {
        let (status, headers, _) = get(&client, &url).await;
        assert_eq!(status, 200, "call {call} is within the budget");
        let usage = usage(&headers, &page.id);
        // Headers appear "once enough calls have been made" [M6]: here from 40%.
        assert_eq!(usage.is_some(), call >= 2, "call {call}");
        if let Some(usage) = usage {
            let messenger = entry(&usage, "messenger");
            assert_eq!(messenger["call_count"], call * 20);
            assert_eq!(messenger["estimated_time_to_regain_access"], 0);
            assert!(messenger["total_cputime"].is_u64() && messenger["total_time"].is_u64());
        }
    }
    let (status, headers, body) = get(&client, &url).await;
    assert_eq!(
        (status, graph_error(&body)),
        (400, (80006, None)),
        "the 6th messenger call"
    );
    let blocked = usage(&headers, &page.id).expect("throttle answers carry the header");
    assert_eq!(entry(&blocked, "messenger")["call_count"], 100);
    assert!(
        entry(&blocked, "messenger")["estimated_time_to_regain_access"]
            .as_u64()
            .unwrap()
            >= 1
    );

    // Pages calls have their own BUC type, still free: 80001 only when it is spent too.
    let feed = format!(
        "{}/v21.0/{}/feed?access_token={}",
        sim.base_url(Channel::Facebook),
        page.id,
        page.access_token
    );
    for _ in 0..5 {
        assert_eq!(get(&client, &feed).await.0, 200);
    }
    let (_, _, body) = get(&client, &feed).await;
    assert_eq!(graph_error(&body).0, 80001);

    let stats = sim.stats();
    let counters = stats.account(&page.id).unwrap();
    assert_eq!((counters.served, counters.throttled), (10, 2));
}

#[tokio::test]
async fn instagram_throttles_with_80002() {
    let mut settings = relaxed();
    settings.graph.buc_budget = RateBudget::new(2, 600.0);
    let sim = start(settings).await;
    let ig = account(&sim, Channel::Instagram, 0);
    let url = format!(
        "{}/v23.0/me/media?access_token={}",
        sim.base_url(Channel::Instagram),
        ig.access_token
    );
    let client = client();
    assert_eq!(get(&client, &url).await.0, 200);
    assert_eq!(get(&client, &url).await.0, 200);
    let (_, headers, body) = get(&client, &url).await;
    assert_eq!(graph_error(&body).0, 80002);
    assert_eq!(
        entry(&usage(&headers, &ig.id).unwrap(), "instagram")["call_count"],
        100
    );
}

#[tokio::test]
async fn calling_while_blocked_extends_the_block() {
    let mut settings = relaxed();
    settings.graph.buc_budget = RateBudget::new(2, 0.5);
    settings.graph.block_extension_secs = 0.5;
    let sim = start(settings).await;
    let page = account(&sim, Channel::Facebook, 0);
    let url = format!(
        "{}/v21.0/{}/feed?access_token={}",
        sim.base_url(Channel::Facebook),
        page.id,
        page.access_token
    );
    let client = client();
    let started = tokio::time::Instant::now();

    assert_eq!(get(&client, &url).await.0, 200);
    assert_eq!(get(&client, &url).await.0, 200);
    // Blocked until about 0.5 s; each of these three pushes the end 0.5 s further.
    for _ in 0..3 {
        assert_eq!(get(&client, &url).await.0, 400);
    }
    tokio::time::sleep_until(started + Duration::from_millis(900)).await;
    let (_, _, body) = get(&client, &url).await;
    assert_eq!(
        graph_error(&body).0,
        80001,
        "without the extensions the window would be free by now"
    );
    // Now stay quiet until the (extended) block is over: about 2.5 s from the start.
    tokio::time::sleep_until(started + Duration::from_millis(2_800)).await;
    assert_eq!(get(&client, &url).await.0, 200);
}

#[tokio::test]
async fn the_estimated_time_to_regain_access_grows_with_each_blocked_call() {
    let mut settings = relaxed();
    settings.graph.buc_budget = RateBudget::new(1, 3_600.0);
    settings.graph.block_extension_secs = 600.0;
    let sim = start(settings).await;
    let page = account(&sim, Channel::Facebook, 0);
    let url = format!(
        "{}/v21.0/{}/feed?access_token={}",
        sim.base_url(Channel::Facebook),
        page.id,
        page.access_token
    );
    let client = client();
    assert_eq!(get(&client, &url).await.0, 200);
    let mut minutes = Vec::new();
    for _ in 0..3 {
        let (_, headers, _) = get(&client, &url).await;
        let usage = usage(&headers, &page.id).unwrap();
        minutes.push(
            entry(&usage, "pages")["estimated_time_to_regain_access"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_eq!(minutes, [60, 70, 80]);
}

#[tokio::test]
async fn user_tokens_fall_under_platform_limits_with_x_app_usage_and_codes_4_32_17() {
    let mut settings = relaxed();
    settings.graph.app_budget = RateBudget::new(3, 600.0);
    settings.graph.usage_header_threshold_pct = 1;
    let sim = start(settings).await;
    let page = account(&sim, Channel::Facebook, 0);
    let user_token = page.user_token.clone().unwrap();
    let fb = sim.base_url(Channel::Facebook);
    let feed = format!("{fb}/v21.0/{}/feed?access_token={user_token}", page.id);
    let client = client();
    for call in 1..=3u64 {
        let (status, headers, _) = get(&client, &feed).await;
        assert_eq!(status, 200);
        assert!(
            headers.get("x-business-use-case-usage").is_none(),
            "user tokens get X-App-Usage"
        );
        let app: Value = serde_json::from_str(headers["x-app-usage"].to_str().unwrap()).unwrap();
        assert_eq!(app["call_count"], call * 100 / 3);
    }
    let (status, _, body) = get(&client, &feed).await;
    assert_eq!(
        (status, graph_error(&body).0),
        (403, 4),
        "code 4 is observed as HTTP 403 [GH1]"
    );

    let mut settings = relaxed();
    settings.graph.user_budget = RateBudget::new(1, 600.0);
    let sim = start(settings).await;
    let page = account(&sim, Channel::Facebook, 0);
    let user_token = page.user_token.clone().unwrap();
    let post = &page.posts[0];
    let fb = sim.base_url(Channel::Facebook);
    assert_eq!(
        get(
            &client,
            &format!("{fb}/v21.0/{}/feed?access_token={user_token}", page.id)
        )
        .await
        .0,
        200
    );
    let (_, _, body) = get(
        &client,
        &format!("{fb}/v21.0/{}/feed?access_token={user_token}", page.id),
    )
    .await;
    assert_eq!(graph_error(&body).0, 32, "a Pages call with a user token");
    let (_, _, body) = get(
        &client,
        &format!("{fb}/v21.0/{}/comments?access_token={user_token}", post.id),
    )
    .await;
    assert_eq!(graph_error(&body).0, 17, "any other call with a user token");
}

#[tokio::test]
async fn the_conversations_api_allows_two_calls_per_second_per_page() {
    let sim = start(backfill_sim::SimSettings::default()).await;
    let (a, b) = (
        account(&sim, Channel::Facebook, 0),
        account(&sim, Channel::Facebook, 1),
    );
    let fb = sim.base_url(Channel::Facebook);
    let url = |page: &backfill_sim::dataset::Account| {
        format!(
            "{fb}/v21.0/{}/conversations?access_token={}",
            page.id, page.access_token
        )
    };
    let client = client();

    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, _, body) = get(&client, &url(a)).await;
        if status != 200 {
            assert_eq!(graph_error(&body), (613, None));
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 400, 400, 400]);
    // The limit is per Page: the other Page is unaffected.
    assert_eq!(get(&client, &url(b)).await.0, 200);
    let burst = sim.stats().account(&a.id).unwrap().clone();
    assert_eq!((burst.throttled, burst.max_requests_per_second), (3, 5));

    // A client pacing itself at 2/s is never refused, and the statistic shows its pace.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    sim.reset_stats();
    for _ in 0..4 {
        assert_eq!(get(&client, &url(a)).await.0, 200);
        tokio::time::sleep(Duration::from_millis(520)).await;
    }
    let paced = sim.stats().account(&a.id).unwrap().clone();
    assert_eq!((paced.throttled, paced.max_requests_per_second), (0, 2));
    assert_eq!(paced.requests_by_endpoint["conversations"], 4);
}
