//! Security (issue 9, B4): access tokens and partner keys appear in no log line, in no
//! Redis key or value, and not in plaintext anywhere in the database — also on the error
//! paths: channel faults, a malformed answer, and a token revoked in the middle of a run.
//! (The API's refusals — 401 without or with a wrong key, 404 for another tenant's
//! resources — are proven in `crates/producer/tests/api_end_to_end.rs`.)

use std::time::Duration;

use backfill_policy::{Channel, Policy, PresetName};
use backfill_sim::{ChannelFaults, SimConfig};
use backfill_telemetry::{LogFormat, TelemetryConfig};
use backfill_testkit::*;
use backfill_worker::clock::Clock;
use tokio_util::sync::CancellationToken;

/// A worker process that logs everything it does, as JSON at debug level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run only as a child process of a security test"]
async fn child_worker_process() {
    let Some(wiring) = Wiring::from_env() else {
        return;
    };
    let _telemetry = std::env::var("FLEET_LOG").ok().map(|filter| {
        let config = TelemetryConfig {
            log_format: LogFormat::Json,
            log_filter: filter,
            ..TelemetryConfig::default()
        };
        backfill_telemetry::init(&config).expect("telemetry")
    });
    let name = format!("security-{}", std::process::id());
    run_worker(&wiring, &name, Clock::system(), CancellationToken::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_reaches_a_log_line_a_redis_key_or_the_database_in_plaintext() {
    let mut fleet = Fleet::start(FleetOptions {
        sim: SimConfig::default(),
        in_process_workers: 0,
        ..FleetOptions::default()
    })
    .await;
    let logs = std::env::temp_dir().join(format!("backfill-security-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    for i in 0..2 {
        fleet.spawn_logging_worker_process(
            "child_worker_process",
            &logs.join(format!("worker-{i}.log")),
        );
    }
    // The error paths log and store reasons: make the channels produce them.
    let faults = ChannelFaults {
        server_error_rate: 0.1,
        malformed_rate: 0.02,
        ..ChannelFaults::default()
    };
    for channel in [
        backfill_sim::Channel::Facebook,
        backfill_sim::Channel::Shopee,
        backfill_sim::Channel::Zalo,
    ] {
        fleet.sim.set_faults(channel, faults.clone());
    }
    let harasocial = Policy::preset(PresetName::Harasocial);
    let accounts = [
        (Channel::Facebook, account_of(&fleet.sim, "facebook", 1)),
        (Channel::Zalo, account_of(&fleet.sim, "zalo", 0)),
        (Channel::Shopee, account_of(&fleet.sim, "shopee", 0)),
        (Channel::Instagram, account_of(&fleet.sim, "instagram", 0)),
    ];
    let mut runs = Vec::new();
    for (channel, account) in &accounts {
        runs.push(fleet.connect(*channel, account, &harasocial).await);
    }
    // Revoke the Zalo token once the run is under way: the run fails "reconnect required".
    let zalo = &accounts[1].1;
    fleet
        .wait_until(&runs[1].run_id, Duration::from_secs(60), |p| {
            p.stored.messages > 0
        })
        .await;
    fleet
        .sim
        .revoke_account(zalo, backfill_sim::RevokeReason::default())
        .unwrap();
    let mut reasons = String::new();
    for run in &runs {
        let progress = fleet
            .wait_for_end(&run.run_id, Duration::from_secs(180))
            .await;
        reasons.push_str(&format!("{progress:?}\n"));
    }
    assert!(
        reasons.contains("reconnect required"),
        "the revoked account failed for that reason"
    );

    let secrets: Vec<String> = fleet
        .sim
        .dataset()
        .accounts()
        .iter()
        .flat_map(|a| {
            let mut s = vec![a.access_token.clone()];
            s.extend(a.user_token.clone());
            s.extend(a.shopee.as_ref().map(|c| c.partner_key.clone()));
            s
        })
        .collect();
    let mut log_text = String::new();
    for entry in std::fs::read_dir(&logs).unwrap() {
        log_text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert!(
        log_text.lines().count() > 50,
        "the workers logged: {} lines",
        log_text.lines().count()
    );
    let places = [
        ("a log line", log_text),
        ("Redis", fleet.redis_text().await),
        ("the database", fleet.database_text().await),
    ];
    for (place, text) in &places {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret ({}…) appears in {place}",
                &secret[..6]
            );
        }
    }
    let _ = std::fs::remove_dir_all(&logs);
    fleet.stop().await;
}
