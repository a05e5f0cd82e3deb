//! Bad input (issue 9): a channel that answers garbage fails the run cleanly, with a
//! reason that shows what came back (never a token), and keeps what was already stored.
//! (The API side — schemathesis against `/openapi.json`, no 5xx — is
//! `scripts/api-fuzz.sh`, run by `make test`.)

use std::time::Duration;

use backfill_policy::{Channel, Policy, PresetName};
use backfill_sim::{ChannelFaults, SimConfig};
use backfill_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_answering_malformed_bodies_fails_the_run_with_a_reason_and_loses_nothing() {
    let fleet = Fleet::start(FleetOptions {
        sim: SimConfig::default(),
        ..FleetOptions::default()
    })
    .await;
    let policy = Policy::preset(PresetName::Harasocial);
    let account = account_of(&fleet.sim, "shopee", 0);
    let run = fleet.connect(Channel::Shopee, &account, &policy).await;
    // Let part of the history land first.
    fleet
        .wait_until(&run.run_id, Duration::from_secs(60), |p| {
            p.stored.messages >= 30
        })
        .await;
    let before = fleet.stored(&account).await;

    fleet.sim.set_faults(
        backfill_sim::Channel::Shopee,
        ChannelFaults {
            malformed_rate: 1.0,
            ..ChannelFaults::default()
        },
    );
    let progress = fleet
        .wait_for_end(&run.run_id, Duration::from_secs(60))
        .await;

    assert_eq!(progress.status.as_str(), "failed", "{progress:#?}");
    let reason = progress.reason.unwrap_or_default();
    assert!(
        reason.contains("<"),
        "the reason shows the body's first bytes: {reason}"
    );
    let shop = fleet.sim.dataset().account(&account).unwrap();
    assert!(!reason.contains(&shop.access_token), "and never the token");
    let after = fleet.stored(&account).await;
    assert!(
        before.messages.is_subset(&after.messages),
        "nothing already stored is lost"
    );
    fleet.stop().await;
}
