//! Per-tenant overrides: what configuration may change, and how a mistake is refused.

use backfill_policy::{Channel, Policy, PolicyError, PresetName};
use serde_json::json;

fn shopline() -> Policy {
    Policy::preset(PresetName::Shopline)
}

fn refusal(overrides: serde_json::Value) -> String {
    shopline()
        .with_overrides(&overrides)
        .unwrap_err()
        .to_string()
}

#[test]
fn presets_validate_and_round_trip_through_their_serialized_form() {
    for name in PresetName::ALL {
        let policy = Policy::preset(name);
        policy.validate().unwrap();
        let doc = serde_json::to_value(&policy).unwrap();
        assert_eq!(policy.clone().with_overrides(&doc).unwrap(), policy);
    }
}

#[test]
fn an_override_changes_only_the_fields_it_names() {
    let policy = shopline()
        .with_overrides(&json!({
            "timezone": "Europe/Paris",
            "peak": {"start": "18:30"},
            "channels": {"facebook": {"slice": {"conversations": 80}}}
        }))
        .unwrap();
    assert_eq!(policy.timezone, chrono_tz::Europe::Paris);
    let peak = policy.peak.unwrap();
    assert_eq!(peak.start.format("%H:%M").to_string(), "18:30");
    assert_eq!(peak.end.format("%H:%M").to_string(), "01:00", "untouched");
    let fb = policy.channel(Channel::Facebook).unwrap();
    assert_eq!(fb.slice.conversations, Some(80));
    assert_eq!(fb.slice.messages_per_conversation, Some(100), "untouched");
}

#[test]
fn configuration_reads_from_toml_the_way_operators_write_it() {
    let overrides: serde_json::Value = toml::from_str(
        r#"
        timezone = "Asia/Ho_Chi_Minh"
        [channels.facebook.messages]
        lookback = "6mo"
        "#,
    )
    .unwrap();
    let policy = shopline().with_overrides(&overrides).unwrap();
    let fb = policy.channel(Channel::Facebook).unwrap();
    assert_eq!(fb.messages.lookback.unwrap().to_string(), "6mo");
}

#[test]
fn a_zero_cap_is_refused_naming_the_field_and_the_value() {
    let err = Policy::preset(PresetName::Harasocial)
        .with_overrides(&json!({"channels": {"shopee": {"messages": {"max_per_conversation": 0}}}}))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid policy field `channels.shopee.messages.max_per_conversation` = 0: must be at least 1"
    );
}

#[test]
fn a_negative_cap_is_refused_naming_the_field_and_the_value() {
    let err = refusal(json!({"channels": {"facebook": {"slice": {"conversations": -5}}}}));
    assert!(
        err.contains("channels.facebook.slice.conversations"),
        "{err}"
    );
    assert!(err.contains("-5"), "{err}");
}

#[test]
fn an_unknown_channel_is_refused() {
    let err = refusal(json!({"channels": {"tiktok": {}}}));
    assert!(err.contains("channels"), "{err}");
    assert!(err.contains("tiktok"), "{err}");
    assert_eq!(
        "tiktok".parse::<Channel>().unwrap_err().to_string(),
        "unknown channel \"tiktok\": expected one of facebook, instagram, zalo, shopee"
    );
}

#[test]
fn an_unknown_preset_lists_the_valid_ones() {
    let err = "shopify".parse::<PresetName>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown preset \"shopify\": expected one of shopline, harasocial"
    );
}

#[test]
fn an_unknown_time_zone_is_refused() {
    let err = shopline()
        .with_overrides(&json!({"timezone": "Mars/Olympus_Mons"}))
        .unwrap_err();
    assert_eq!(
        err,
        PolicyError::UnknownTimeZone("Mars/Olympus_Mons".into())
    );
}

#[test]
fn a_look_back_window_of_zero_is_refused() {
    let err = refusal(json!({"channels": {"facebook": {"conversations": {"lookback": "0d"}}}}));
    assert!(
        err.contains("channels.facebook.conversations.lookback"),
        "{err}"
    );
    assert!(err.contains("zero"), "{err}");
}

#[test]
fn a_peak_window_of_zero_length_is_refused() {
    let err = refusal(json!({"peak": {"start": "01:00", "end": "01:00"}}));
    assert_eq!(
        err,
        "invalid policy field `peak.end` = 01:00: the peak window has zero length (start equals end)"
    );
}

#[test]
fn a_misspelled_field_is_refused_rather_than_ignored() {
    let err = refusal(json!({"channels": {"facebook": {"mesages": {}}}}));
    assert!(err.contains("mesages"), "{err}");
}

#[test]
fn a_non_positive_rate_is_refused() {
    let err = refusal(json!({"channels": {"facebook": {"rate": {"per_account_per_second": 0.0}}}}));
    assert!(
        err.contains("channels.facebook.rate.per_account_per_second"),
        "{err}"
    );
}

#[test]
fn retry_delays_grow_and_stay_within_bounds() {
    let retries = shopline().retries;
    assert_eq!(retries.max_retries, 3, "C4");
    let d: Vec<u64> = (1..=3).map(|r| retries.delay_ms(r, 0.0)).collect();
    assert!(d[0] < d[1] && d[1] < d[2], "{d:?}");
    assert!(retries.delay_ms(30, 1.0) <= retries.max_delay_ms);
    assert!(
        retries.delay_ms(1, 0.0) >= retries.base_delay_ms / 2,
        "never immediately"
    );
}
