//! The `backfill` binary as a user runs it: the embedded demo, a sync and its inbox
//! against a simulator, and the errors that must say what to fix.

use std::path::Path;
use std::process::{Command, Output};

use backfill_sim::{SimConfig, SimHandle};
use serde_json::Value;

/// The binary, with an environment of our choosing only: no stray `BACKFILL__*`
/// variable of the machine changes what a test sees.
fn backfill(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backfill"));
    command.args(args).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    command
}

/// Runs a blocking command off the async test's threads (the simulator is served on them).
async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            stderr(output)
        )
    })
}

fn account<'a>(sim: &'a SimHandle, channel: &str) -> &'a backfill_sim::dataset::Account {
    sim.dataset()
        .accounts()
        .iter()
        .find(|a| a.channel.as_str() == channel)
        .unwrap()
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}/store.db", dir.display())
}

/// `make demo`: every account of every preset ends verified against the ground truth.
#[tokio::test]
async fn the_demo_ends_ok_with_every_account_verified() {
    let out = output(backfill(&["demo", "--json"])).await;
    assert!(out.status.success(), "demo failed: {}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["ok"], true, "{report:#}");
    let accounts = report["accounts"].as_array().unwrap();
    let pairs: Vec<(&str, &str)> = accounts
        .iter()
        .map(|a| {
            (
                a["preset"].as_str().unwrap(),
                a["channel"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("shopline", "facebook"),
            ("harasocial", "facebook"),
            ("harasocial", "instagram"),
            ("harasocial", "zalo"),
            ("harasocial", "shopee"),
        ]
    );
    for a in accounts {
        assert_eq!(a["status"], "completed", "{a}");
        assert_eq!(a["verified"], true, "{a}");
        assert!(a["messages"].as_i64().unwrap() > 0, "{a}");
        assert!(a["api_calls"].as_u64().unwrap() > 0, "{a}");
        let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 9, "exactly the documented fields: {keys:?}");
    }
}

/// C1, C3, H4, H7: `sync` brings an Instagram account in from the simulator with the
/// credentials from the environment; `inbox` reads it back newest conversation first,
/// each conversation's messages oldest first; `status` shows the completed run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_then_inbox_round_trips_on_sqlite() {
    let sim = backfill_sim::spawn(SimConfig::default()).await.unwrap();
    let instagram = account(&sim, "instagram");
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_url(dir.path());

    let mut sync = backfill(&[
        "sync",
        "--channel",
        "instagram",
        "--account",
        &instagram.id,
        "--preset",
        "harasocial",
        "--base-url",
        &sim.base_url(backfill_sim::Channel::Instagram),
        "--store",
        &store,
        "--json",
    ]);
    sync.env("BACKFILL_ACCESS_TOKEN", &instagram.access_token);
    let out = output(sync).await;
    assert!(out.status.success(), "sync failed: {}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["status"], "completed", "{report:#}");
    assert_eq!(
        report["conversations"], 50,
        "H4: the 50 newest conversations"
    );
    assert!(
        report["unavailable"].as_i64().unwrap() > 0,
        "IG1 placeholders are counted"
    );
    let run_id = report["run_id"].as_str().unwrap().to_owned();
    let key = dir.path().join("store.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(
        mode & 0o777,
        0o600,
        "the generated credential key is private"
    );

    let out = output(backfill(&[
        "inbox",
        "--store",
        &store,
        "--channel",
        "instagram",
        "--account",
        &instagram.id,
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "inbox failed: {}", stderr(&out));
    let inbox = json(&out);
    let conversations = inbox["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 20, "H7: 20 by default");
    let expected_order: Vec<&str> = instagram
        .listed_conversations()
        .take(20)
        .map(|c| c.id.as_str())
        .collect();
    let order: Vec<&str> = conversations
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, expected_order, "C3: most recent activity first");
    for conversation in conversations {
        assert_eq!(conversation["status"], "open", "H7");
        let times: Vec<chrono::DateTime<chrono::Utc>> = conversation["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["created_at"].as_str().unwrap().parse().expect("RFC 3339"))
            .collect();
        assert!(!times.is_empty());
        assert!(times.is_sorted(), "C3: messages oldest first");
        let message = &conversation["messages"][0];
        for field in ["id", "created_at", "from", "text", "unavailable"] {
            assert!(
                message.get(field).is_some(),
                "message field {field}: {message}"
            );
        }
    }

    let out = output(backfill(&[
        "inbox",
        "--store",
        &store,
        "--channel",
        "instagram",
        "--account",
        &instagram.id,
        "--limit",
        "3",
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the 3 newest of 50 conversations"));

    let out = output(backfill(&["status", &run_id, "--store", &store, "--json"])).await;
    assert!(out.status.success(), "status failed: {}", stderr(&out));
    assert_eq!(json(&out)["status"], "completed");
}

/// B4: without the token in the environment, `sync` says where it must be.
#[tokio::test]
async fn credentials_are_asked_of_the_environment_never_of_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(backfill(&[
        "sync",
        "--channel",
        "zalo",
        "--account",
        "1",
        "--preset",
        "harasocial",
        "--store",
        &sqlite_url(dir.path()),
    ]))
    .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("set BACKFILL_ACCESS_TOKEN"),
        "{}",
        stderr(&out)
    );

    let mut shopee = backfill(&[
        "sync",
        "--channel",
        "shopee",
        "--account",
        "123",
        "--preset",
        "harasocial",
        "--store",
        &sqlite_url(dir.path()),
    ]);
    shopee.env("BACKFILL_ACCESS_TOKEN", "t");
    let out = output(shopee).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("BACKFILL_SHOPEE_PARTNER_ID"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_bad_preset_or_channel_is_answered_with_the_valid_ones() {
    let out = output(backfill(&[
        "sync",
        "--channel",
        "zalo",
        "--account",
        "1",
        "--preset",
        "hubspot",
    ]))
    .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("expected one of shopline, harasocial"),
        "{}",
        stderr(&out)
    );

    let out = output(backfill(&["inbox", "--channel", "line", "--account", "1"])).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("expected one of facebook, instagram, zalo, shopee"),
        "{}",
        stderr(&out)
    );
}

/// An unreachable Redis is named, without its password; the pods' OTEL_* variables are
/// no configuration error.
#[tokio::test]
async fn an_unreachable_redis_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    for process in ["worker", "producer"] {
        let mut command = backfill(&[process]);
        command
            .env("BACKFILL__REDIS__URL", "redis://:hunter2@127.0.0.1:1/0")
            .env("BACKFILL__STORE__URL", sqlite_url(dir.path()))
            .env("BACKFILL__TELEMETRY__LOG_FILTER", "off")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "15000")
            .env("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=pod-1");
        let out = output(command).await;
        assert!(!out.status.success(), "{process} must not start");
        let message = stderr(&out);
        assert!(
            message.contains("redis://:***@127.0.0.1:1/0"),
            "{process}: {message}"
        );
        assert!(!message.contains("hunter2"), "{process}: {message}");
    }
}

#[tokio::test]
async fn a_misspelled_configuration_variable_is_refused_by_name() {
    let mut command = backfill(&["worker"]);
    command.env("BACKFILL__WORKER__CONCURENCY", "3");
    let out = output(command).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("concurency"), "{}", stderr(&out));
}

#[tokio::test]
async fn the_fleet_needs_redis_and_says_which_variable_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = backfill(&["producer"]);
    command.env("BACKFILL__STORE__URL", sqlite_url(dir.path()));
    let out = output(command).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("BACKFILL__REDIS__URL"),
        "{}",
        stderr(&out)
    );
}
