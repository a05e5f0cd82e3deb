//! Secrets at rest (B4) and tenants' API keys.

use backfill_policy::Priority::Slice;
use backfill_store::{CredentialKey, NewTenant, Store, StoreError};
use secrecy::{ExposeSecret, SecretString};

use crate::support::*;

const TOKEN: &str = "EAAB-plaintext-page-token-4f9c2e";

/// B4: the access token is sealed at rest — it appears in no table, no file — and opens
/// again with the configured key only.
async fn credentials_are_encrypted_at_rest(db: TestDb) {
    db.tenant("t1").await;
    let run = db
        .connect_with_token("t1", "page-1", at(0), &[listing(0, Slice, at(0))], TOKEN)
        .await;

    let stored_anywhere = db.stored_anywhere(TOKEN).await;
    let opened = db
        .store
        .decrypt_credentials(run.connection_id)
        .await
        .unwrap();
    let other_key = Store::connect(&db.url, CredentialKey::generate())
        .await
        .unwrap();
    let with_wrong_key = other_key.decrypt_credentials(run.connection_id).await;
    other_key.close().await;

    assert!(!stored_anywhere, "the plaintext token is stored");
    assert!(opened.expose_secret().contains(TOKEN));
    let error = with_wrong_key.unwrap_err();
    assert!(matches!(error, StoreError::Decrypt { .. }));
    assert!(!error.to_string().contains(TOKEN));
}

/// B4: a re-connect seals the new token under a fresh nonce; the old one is gone.
async fn a_reconnect_replaces_the_sealed_credentials(db: TestDb) {
    db.tenant("t1").await;
    db.connect_with_token("t1", "page-1", at(0), &[], "old-token-1111")
        .await;
    let run = db
        .connect_with_token("t1", "page-1", at(5), &[], "new-token-2222")
        .await;

    let opened = db
        .store
        .decrypt_credentials(run.connection_id)
        .await
        .unwrap();

    assert!(opened.expose_secret().contains("new-token-2222"));
    assert!(!db.stored_anywhere("new-token-2222").await);
}

/// Tenants authenticate by API key, which is stored only as its hash; their webhook
/// secret is sealed like credentials.
async fn a_tenant_is_found_by_its_api_key_which_is_stored_hashed(db: TestDb) {
    let api_key = SecretString::from("bf_live_0123456789abcdef");
    let secret = SecretString::from("whsec-0123456789");
    let overrides =
        serde_json::json!({ "channels": { "facebook": { "messages": { "max": 10 } } } });
    let tenant = NewTenant {
        id: "shop-1",
        name: "Shop One",
        api_key: &api_key,
        webhook_url: Some("https://shop.example/hooks"),
        webhook_secret: Some(&secret),
        policy_overrides: &overrides,
        timezone: Some("Asia/Ho_Chi_Minh"),
    };
    db.store.upsert_tenant(&tenant, at(0)).await.unwrap();

    let found = db
        .store
        .tenant_by_api_key("bf_live_0123456789abcdef")
        .await
        .unwrap()
        .unwrap();
    let wrong = db.store.tenant_by_api_key("bf_live_guess").await.unwrap();
    let webhook_secret = db.store.webhook_secret("shop-1").await.unwrap().unwrap();

    assert_eq!(
        (found.id.as_str(), found.policy_overrides.clone()),
        ("shop-1", overrides)
    );
    assert_eq!(found.timezone.as_deref(), Some("Asia/Ho_Chi_Minh"));
    assert!(wrong.is_none());
    assert_eq!(webhook_secret.expose_secret(), "whsec-0123456789");
    assert!(!db.stored_anywhere("bf_live_0123456789abcdef").await);
    assert!(!db.stored_anywhere("whsec-0123456789").await);
}

/// The done condition of issue 5: migrations apply to an empty database and again to a
/// migrated one, without error, and the data stays.
async fn migrations_apply_again_to_a_migrated_database(db: TestDb) {
    db.tenant("t1").await;

    for _ in 0..2 {
        let reopened = Store::connect(&db.url, db.key.clone()).await.unwrap();
        assert!(reopened.tenant("t1").await.unwrap().is_some());
        reopened.close().await;
    }
    assert_eq!(
        db.store.backend(),
        if db.is_sqlite() { "sqlite" } else { "postgres" }
    );
}

#[test]
fn a_credential_key_never_shows_in_debug_output() {
    let key: CredentialKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        .parse()
        .unwrap();
    let shown = format!("{key:?}");
    assert_eq!(shown, "CredentialKey(<redacted>)");
    assert!(!format!("{:?}", SecretString::from(TOKEN)).contains(TOKEN));
}

on_both_backends!(
    credentials_are_encrypted_at_rest,
    a_reconnect_replaces_the_sealed_credentials,
    a_tenant_is_found_by_its_api_key_which_is_stored_hashed,
    migrations_apply_again_to_a_migrated_database,
);
