//! `backfill sim`: serves all four channels on one port, writes the manifest, and a plain
//! HTTP client that follows only the documented paging walks a whole `small` account at the
//! default rate limits, quickly.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use backfill_sim::{Channel, Dataset, Manifest, Profile, SimArgs, run};
use clap::Parser;
use common::*;
use serde_json::{Value, json};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

fn manifest_path() -> PathBuf {
    std::env::temp_dir().join(format!(
        "backfill-sim-manifest-{}-{}.json",
        std::process::id(),
        unix_now()
    ))
}

async fn wait_for(path: &Path) -> Manifest {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(manifest) = Manifest::read(path) {
            return manifest;
        }
        assert!(Instant::now() < deadline, "the manifest was not written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Walks a Page's conversations and every message of each, following `next` only and
/// waiting out the 2 calls/s rule when told to (code 613).
async fn walk_page(
    client: &reqwest::Client,
    base: &str,
    page: &str,
    token: &str,
) -> Vec<(String, Vec<String>)> {
    let mut conversations = Vec::new();
    let mut next = Some(format!(
        "{base}/v21.0/{page}/conversations?fields=id,updated_time&limit=100&access_token={token}"
    ));
    while let Some(url) = next {
        let (status, _, body) = get(client, &url).await;
        if status == 400 && body["error"]["code"] == 613 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            next = Some(url);
            continue;
        }
        assert_eq!(status, 200, "{body}");
        for item in body["data"].as_array().unwrap() {
            let id = item["id"].as_str().unwrap().to_owned();
            let messages = format!(
                "{base}/v21.0/{id}/messages?fields=id,created_time,message,from&limit=100&access_token={token}"
            );
            let (items, _) = walk_graph(client, &messages).await;
            conversations.push((id, ids(&items)));
        }
        next = body["paging"]["next"].as_str().map(str::to_owned);
    }
    conversations
}

#[tokio::test]
async fn the_command_serves_every_channel_writes_the_manifest_and_a_whole_account_can_be_walked() {
    let path = manifest_path();
    let now = "2025-11-01T08:00:00Z";
    let cli = Cli::parse_from([
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--profile",
        "small",
        "--seed",
        "7",
        "--now",
        now,
        "--manifest",
        path.to_str().unwrap(),
    ]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(cli.sim, async move {
        let _ = stopped.await;
    }));
    let manifest = wait_for(&path).await;
    let expected = Dataset::generate(Profile::Small, 7, now.parse().unwrap());

    // Every channel under one port, and every account with its credentials.
    let port = |url: &str| {
        url.rsplit_once(':')
            .unwrap()
            .1
            .split('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let facebook = manifest.base_url(Channel::Facebook).to_owned();
    for channel in Channel::ALL {
        assert_eq!(port(manifest.base_url(channel)), port(&facebook));
        assert!(manifest.base_url(channel).ends_with(&format!("/{channel}")));
    }
    assert_eq!(manifest.accounts.len(), expected.accounts().len());
    let pages: Vec<_> = manifest
        .accounts
        .iter()
        .filter(|a| a.channel == Channel::Facebook)
        .collect();
    assert!(pages.len() >= 2, "two Pages, for the two presets");
    let shop = manifest
        .accounts
        .iter()
        .find(|a| a.channel == Channel::Shopee)
        .unwrap();
    assert!(shop.partner_id.is_some() && shop.partner_key.is_some());
    assert!(pages[0].partner_id.is_none() && pages[0].partner_key.is_none());

    let client = client();
    let started = Instant::now();
    let walked = walk_page(
        &client,
        &facebook,
        &pages[0].account_id,
        &pages[0].access_token,
    )
    .await;
    let took = started.elapsed();
    let page = expected.account(&pages[0].account_id).unwrap();
    let want: Vec<(String, Vec<String>)> = page
        .listed_conversations()
        .map(|c| (c.id.clone(), c.messages().map(|m| m.id).collect()))
        .collect();
    assert_eq!(walked.len(), want.len());
    assert!(
        walked == want,
        "the walk matches the dataset generated from the same seed and now"
    );
    assert!(
        took < Duration::from_secs(20),
        "a whole small Page took {took:?}"
    );

    // Zalo, by offset, through the same port.
    let oa = manifest
        .accounts
        .iter()
        .find(|a| a.channel == Channel::Zalo)
        .unwrap();
    let mut users = 0;
    for offset in (0..).step_by(10) {
        let mut url = reqwest::Url::parse(&format!(
            "{}/v2.0/oa/listrecentchat",
            manifest.base_url(Channel::Zalo)
        ))
        .unwrap();
        url.query_pairs_mut().append_pair(
            "data",
            &json!({ "offset": offset, "count": 10 }).to_string(),
        );
        let body: Value = client
            .get(url)
            .header("access_token", &oa.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = body["data"].as_array().unwrap().len();
        users += page;
        if page < 10 {
            break;
        }
    }
    assert_eq!(
        users,
        expected
            .account(&oa.account_id)
            .unwrap()
            .conversations
            .len()
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_file(&path);
}
