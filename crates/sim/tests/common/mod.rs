//! Helpers shared by the simulator's integration tests: start a simulator on port 0 with
//! the tiny profile and a fixed "now", and talk to it over real HTTP.

#![allow(dead_code)] // Reason: each test binary uses a different subset of these helpers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backfill_sim::dataset::Account;
use backfill_sim::{Channel, Faults, Profile, SimConfig, SimHandle, SimSettings, spawn};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 1, 8, 0, 0).unwrap()
}

/// Settings for tests that are not about the per-second rule: no 2 calls/s cap.
pub fn relaxed() -> SimSettings {
    let mut settings = SimSettings::default();
    settings.graph.conversations_calls_per_second = 10_000;
    settings
}

pub async fn start(settings: SimSettings) -> SimHandle {
    start_with(settings, Faults::default()).await
}

pub async fn start_with(settings: SimSettings, faults: Faults) -> SimHandle {
    spawn(SimConfig {
        profile: Profile::Tiny,
        seed: 42,
        now: Some(now()),
        settings,
        faults,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub fn account(sim: &SimHandle, channel: Channel, n: usize) -> &Account {
    sim.dataset()
        .accounts_of(channel)
        .nth(n)
        .expect("the tiny profile has this account")
}

/// GET, returning status, headers and the parsed JSON body.
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = client
        .get(url)
        .send()
        .await
        .expect("the request is answered");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.expect("the body is JSON");
    (status, headers, body)
}

pub async fn get_ok(client: &reqwest::Client, url: &str) -> Value {
    let (status, _, body) = get(client, url).await;
    assert_eq!(status, 200, "{url} answered {body}");
    body
}

/// Follows Graph `paging.next` from `url` until it is absent, the only end signal [M5].
/// Returns every item and how many pages came back empty.
pub async fn walk_graph(client: &reqwest::Client, url: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut empty_pages = 0;
    let mut next = Some(url.to_owned());
    let mut pages = 0;
    while let Some(url) = next {
        pages += 1;
        assert!(pages < 10_000, "paging does not end");
        let body = get_ok(client, &url).await;
        let data = body["data"].as_array().expect("a list has data").clone();
        if data.is_empty() {
            empty_pages += 1;
        }
        items.extend(data);
        next = body["paging"]["next"].as_str().map(str::to_owned);
    }
    (items, empty_pages)
}

pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A Graph error's `(code, subcode)`.
pub fn graph_error(body: &Value) -> (u64, Option<u64>) {
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(error["fbtrace_id"].is_string(), "{body}");
    (
        error["code"].as_u64().unwrap(),
        error["error_subcode"].as_u64(),
    )
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A signed Shopee URL for `path` at `timestamp`, with extra parameters.
pub fn shopee_url(
    sim: &SimHandle,
    token: &str,
    path: &str,
    timestamp: i64,
    extra: &[(&str, &str)],
) -> String {
    let shop = account(sim, Channel::Shopee, 0).shopee.clone().unwrap();
    let sign = backfill_sim::shopee_sign(
        &shop.partner_key,
        shop.partner_id,
        path,
        timestamp,
        token,
        shop.shop_id,
    );
    let mut url = reqwest::Url::parse(&format!("{}{path}", sim.base_url(Channel::Shopee))).unwrap();
    url.query_pairs_mut()
        .append_pair("partner_id", &shop.partner_id.to_string())
        .append_pair("timestamp", &timestamp.to_string())
        .append_pair("access_token", token)
        .append_pair("shop_id", &shop.shop_id.to_string())
        .append_pair("sign", &sign);
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

/// A Zalo URL with its `data` parameter.
pub fn zalo_url(sim: &SimHandle, path: &str, data: &Value) -> String {
    let mut url = reqwest::Url::parse(&format!("{}{path}", sim.base_url(Channel::Zalo))).unwrap();
    url.query_pairs_mut().append_pair("data", &data.to_string());
    url.to_string()
}
