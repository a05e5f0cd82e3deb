//! Tenants: the merchants the service syncs for, their API keys and settings.
//!
//! An API key is stored as its SHA-256, so a leaked table does not hand out keys and a
//! request is matched by an indexed equality on the hash. (A fast hash is right here: the
//! keys are long random strings, not passwords a dictionary could guess.)

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Store;
use crate::db::{Arg, args};
use crate::error::{Result, StoreError};

/// A tenant to create or update.
#[derive(Debug, Clone)]
pub struct NewTenant<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub api_key: &'a SecretString,
    /// Where run events are delivered.
    pub webhook_url: Option<&'a str>,
    /// Signs delivered events; sealed at rest.
    pub webhook_secret: Option<&'a SecretString>,
    /// Per-tenant policy overrides, as the policy crate reads them.
    pub policy_overrides: &'a serde_json::Value,
    /// The tenant's time zone (IANA name) for peak hours; `None`: the preset's default.
    pub timezone: Option<&'a str>,
}

/// A tenant's settings. Secrets are not part of it: see [`Store::webhook_secret`].
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub webhook_url: Option<String>,
    #[sqlx(json)]
    pub policy_overrides: serde_json::Value,
    pub timezone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn api_key_hash(api_key: &str) -> String {
    hex::encode(Sha256::digest(api_key.as_bytes()))
}

/// The associated data a tenant's webhook secret is sealed with.
fn webhook_owner(tenant_id: &str) -> String {
    format!("tenant:{tenant_id}:webhook_secret")
}

impl Store {
    /// Creates the tenant, or updates every setting of an existing one (the API key too:
    /// this is also how a key is rotated).
    pub async fn upsert_tenant(
        &self,
        tenant: &NewTenant<'_>,
        now: DateTime<Utc>,
    ) -> Result<Tenant> {
        let secret = tenant
            .webhook_secret
            .map(|s| self.key.seal(s, &webhook_owner(tenant.id)));
        let mut tx = self.pools.begin().await?;
        let stored: Tenant = tx
            .fetch_one(
                "INSERT INTO tenants (id, name, api_key_hash, webhook_url, webhook_secret,
                                      policy_overrides, timezone, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                 ON CONFLICT (id) DO UPDATE SET
                     name = excluded.name,
                     api_key_hash = excluded.api_key_hash,
                     webhook_url = excluded.webhook_url,
                     webhook_secret = excluded.webhook_secret,
                     policy_overrides = excluded.policy_overrides,
                     timezone = excluded.timezone,
                     updated_at = excluded.updated_at
                 RETURNING id, name, webhook_url, policy_overrides, timezone, created_at, updated_at",
                args![
                    tenant.id,
                    tenant.name,
                    api_key_hash(tenant.api_key.expose_secret()),
                    tenant.webhook_url,
                    secret,
                    Arg::json(tenant.policy_overrides),
                    tenant.timezone,
                    now,
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(stored)
    }

    pub async fn tenant(&self, tenant_id: &str) -> Result<Option<Tenant>> {
        self.pools
            .read()
            .await?
            .fetch_optional(
                "SELECT id, name, webhook_url, policy_overrides, timezone, created_at, updated_at
                 FROM tenants WHERE id = $1",
                args![tenant_id],
            )
            .await
    }

    /// The tenant an API request authenticates as, if the key is known.
    pub async fn tenant_by_api_key(&self, api_key: &str) -> Result<Option<Tenant>> {
        self.pools
            .read()
            .await?
            .fetch_optional(
                "SELECT id, name, webhook_url, policy_overrides, timezone, created_at, updated_at
                 FROM tenants WHERE api_key_hash = $1",
                args![api_key_hash(api_key)],
            )
            .await
    }

    /// The tenant's webhook secret, decrypted, if one is set.
    pub async fn webhook_secret(&self, tenant_id: &str) -> Result<Option<SecretString>> {
        let sealed: Option<Option<Vec<u8>>> = self
            .pools
            .read()
            .await?
            .scalar(
                "SELECT webhook_secret FROM tenants WHERE id = $1",
                args![tenant_id],
            )
            .await?;
        let sealed = sealed.ok_or_else(|| StoreError::UnknownTenant(tenant_id.to_owned()))?;
        sealed
            .map(|s| {
                self.key
                    .open(&s, "webhook secret", &webhook_owner(tenant_id))
            })
            .transpose()
    }
}
