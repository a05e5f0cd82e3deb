//! Tenants are provisioned by configuration: each `[[tenants]]` entry is checked, then
//! upserted when the producer starts (an API key in the file is how a key is issued or
//! rotated). Mistakes are refused at start with the tenant and the field, never at the
//! first connect.

use std::collections::BTreeMap;

use backfill_policy::{Policy, PresetName};
use backfill_store::{NewTenant, Store};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// One `[[tenants]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: String,
    /// Display name; defaults to the id.
    #[serde(default)]
    pub name: Option<String>,
    /// The key its API requests carry as `Authorization: Bearer <api_key>`. Stored hashed.
    pub api_key: SecretString,
    /// Where run events are POSTed, signed with `webhook_secret`.
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    /// The tenant's IANA time zone for peak hours (S3); default: the preset's.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Policy overrides per preset: `[tenants.policy.shopline]` patches `shopline` for
    /// this tenant's connects, in the shape of the serialized policy.
    #[serde(default)]
    pub policy: BTreeMap<String, serde_json::Value>,
}

/// A tenant entry that cannot be provisioned.
#[derive(Debug, thiserror::Error)]
#[error("tenant {tenant:?}: {field}: {reason}")]
pub struct TenantConfigError {
    pub tenant: String,
    pub field: String,
    pub reason: String,
}

/// Shortest API key accepted: a key is a bearer credential, guessable keys are refused.
pub const MIN_API_KEY_LEN: usize = 16;

impl TenantConfig {
    /// Checks every field the way a connect would use it.
    pub fn validate(&self) -> Result<(), TenantConfigError> {
        let error = |field: &str, reason: String| TenantConfigError {
            tenant: self.id.clone(),
            field: field.to_owned(),
            reason,
        };
        if self.id.trim().is_empty() || self.id.len() > 128 {
            return Err(error("id", "must be 1 to 128 characters".into()));
        }
        if self.api_key.expose_secret().len() < MIN_API_KEY_LEN {
            return Err(error(
                "api_key",
                format!(
                    "must be at least {MIN_API_KEY_LEN} characters (e.g. `openssl rand -hex 24`)"
                ),
            ));
        }
        match (&self.webhook_url, &self.webhook_secret) {
            (Some(url), Some(_)) => {
                let parsed =
                    url::Url::parse(url).map_err(|e| error("webhook_url", e.to_string()))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(error("webhook_url", "must be an http(s) URL".into()));
                }
            }
            (Some(_), None) => {
                return Err(error(
                    "webhook_secret",
                    "is required with webhook_url: every delivery is signed".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(error(
                    "webhook_url",
                    "is required with webhook_secret".into(),
                ));
            }
            (None, None) => {}
        }
        if let Some(zone) = &self.timezone {
            zone.parse::<Tz>().map_err(|_| {
                error(
                    "timezone",
                    format!(
                        "unknown time zone {zone:?}: expected an IANA name such as Asia/Taipei"
                    ),
                )
            })?;
        }
        for (preset, overrides) in &self.policy {
            let field = format!("policy.{preset}");
            let name: PresetName = preset
                .parse()
                .map_err(|e: backfill_policy::PolicyError| error(&field, e.to_string()))?;
            Policy::preset(name)
                .with_overrides(overrides)
                .map_err(|e| error(&field, e.to_string()))?;
        }
        Ok(())
    }
}

/// Validates every entry, then upserts them all. Nothing is written if any is refused.
pub async fn provision(
    store: &Store,
    tenants: &[TenantConfig],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    for tenant in tenants {
        tenant.validate()?;
    }
    let mut ids = std::collections::BTreeSet::new();
    for tenant in tenants {
        anyhow::ensure!(
            ids.insert(&tenant.id),
            "tenant {:?} is configured twice",
            tenant.id
        );
    }
    for tenant in tenants {
        let overrides = serde_json::Value::Object(
            tenant
                .policy
                .iter()
                .map(|(preset, value)| (preset.clone(), value.clone()))
                .collect(),
        );
        store
            .upsert_tenant(
                &NewTenant {
                    id: &tenant.id,
                    name: tenant.name.as_deref().unwrap_or(&tenant.id),
                    api_key: &tenant.api_key,
                    webhook_url: tenant.webhook_url.as_deref(),
                    webhook_secret: tenant.webhook_secret.as_ref(),
                    policy_overrides: &overrides,
                    timezone: tenant.timezone.as_deref(),
                },
                now,
            )
            .await?;
        tracing::info!(tenant = %tenant.id, "tenant provisioned");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(extra: serde_json::Value) -> TenantConfig {
        let mut doc = serde_json::json!({"id": "acme", "api_key": "0123456789abcdef0123"});
        doc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn a_plain_tenant_is_accepted() {
        tenant(serde_json::json!({})).validate().unwrap();
    }

    #[test]
    fn a_webhook_without_a_secret_is_refused_naming_the_secret() {
        let error = tenant(serde_json::json!({"webhook_url": "https://hooks.example/x"}))
            .validate()
            .unwrap_err();
        assert_eq!(error.field, "webhook_secret");
    }

    #[test]
    fn policy_overrides_are_checked_against_their_preset() {
        let error = tenant(serde_json::json!({
            "policy": {"shopline": {"channels": {"facebook": {"slice": {"conversations": 0}}}}}
        }))
        .validate()
        .unwrap_err();
        assert_eq!(error.field, "policy.shopline");
        assert!(
            error
                .reason
                .contains("channels.facebook.slice.conversations"),
            "{error}"
        );

        let error = tenant(serde_json::json!({"policy": {"hubspot": {}}}))
            .validate()
            .unwrap_err();
        assert!(error.reason.contains("shopline, harasocial"), "{error}");
    }

    #[test]
    fn a_short_api_key_and_a_bad_time_zone_are_refused() {
        let short: TenantConfig =
            serde_json::from_value(serde_json::json!({"id": "a", "api_key": "short"})).unwrap();
        assert_eq!(short.validate().unwrap_err().field, "api_key");
        let zone = tenant(serde_json::json!({"timezone": "Mars/Olympus"}));
        assert_eq!(zone.validate().unwrap_err().field, "timezone");
    }
}
