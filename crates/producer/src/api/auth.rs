//! `Authorization: Bearer <api key>`: which tenant a request speaks for.
//!
//! Every `/v1` handler takes a [`Caller`]; every store read and write it makes is scoped
//! by the caller's tenant id, so another tenant's accounts and runs are simply not found
//! (404), never forbidden (403): their existence is not disclosed.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use backfill_store::Tenant;

use super::AppState;
use super::problem::Problem;

/// The authenticated tenant.
#[derive(Debug, Clone)]
pub struct Caller(pub Tenant);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Problem::unauthorized("send the tenant's API key as `Authorization: Bearer <api key>`")
        })?;
        let key = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, key) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
            })
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must read `Bearer <api key>`")
            })?;
        match state.store.tenant_by_api_key(key).await {
            Ok(Some(tenant)) => {
                tracing::Span::current().record("tenant", tenant.id.as_str());
                Ok(Self(tenant))
            }
            Ok(None) => Err(Problem::unauthorized("unknown API key")),
            Err(error) => Err(Problem::unavailable(&error)),
        }
    }
}
