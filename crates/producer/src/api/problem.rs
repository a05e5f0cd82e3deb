//! Error answers as `application/problem+json` (RFC 9457): a status, a title, a detail a
//! person can act on and, for an invalid request, the `field` that was wrong.
//!
//! Handlers return `Result<_, Problem>`; every refusal of the layers below converts here
//! once, so the mapping from cause to status lives in one place.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use backfill_store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::accounts::AccountError;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What was wrong, and what would be accepted.
    pub detail: String,
    /// The request field the problem is about, as a path into the body (`credentials.partner_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `WWW-Authenticate` for 401 answers (RFC 6750).
const BEARER_CHALLENGE: &str = r#"Bearer realm="backfill""#;

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
        }
    }

    /// 422: the request is well-formed but `field` is not acceptable.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// The store could not serve the request. The cause is logged, not shown: it may name
    /// tables and hosts that are no business of a client.
    pub fn unavailable(error: &StoreError) -> Self {
        tracing::error!(error = %error, "store error while serving a request");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is unavailable; retry shortly",
        )
    }

    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(&self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BEARER_CHALLENGE),
            );
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UnknownAccount {
                channel,
                account_id,
                ..
            } => Self::not_found(format!("no {channel} account {account_id}")),
            StoreError::UnknownRun(run) => Self::not_found(format!("no run {run}")),
            StoreError::InvalidCursor => Self::invalid(
                "cursor",
                "not a cursor this API issued; pass back `next_cursor` unchanged",
            ),
            StoreError::Disconnected(_) => {
                Self::conflict("the account is disconnected; connect it again first")
            }
            other => Self::unavailable(&other),
        }
    }
}

impl From<AccountError> for Problem {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Invalid { field, source } => Self::invalid(field, source.to_string()),
            error @ AccountError::UnknownAccount { .. } => Self::not_found(error.to_string()),
            AccountError::Conflict(reason) => Self::conflict(reason),
            AccountError::Store(error) => error.into(),
        }
    }
}

/// A JSON body whose errors say which field was wrong.
///
/// axum's own `Json` reports a type error as one sentence; this one answers 422 with the
/// path to the field (`credentials.partner_id`) from `serde_path_to_error`, 400 for a body
/// that is not JSON, 413 past the body limit and 415 without a JSON content type — all
/// as problem documents.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| match rejection {
                BytesRejection::FailedToBufferBody(_)
                    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    Problem::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "the request body is larger than this API accepts",
                    )
                }
                other => Problem::new(other.status(), other.body_text()),
            })?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let field = error.path().to_string();
            let inner = error.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not valid JSON: {inner}"),
                );
            }
            // A missing or unknown top-level field has no path; the message names it.
            Problem {
                field: (field != ".").then_some(field),
                ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, inner.to_string())
            }
        })?;
        deserializer.end().map_err(|error| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not valid JSON: {error}"),
            )
        })?;
        Ok(Self(value))
    }
}

/// Query parameters whose errors are problem documents (422) like every other refusal.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, rejection.body_text())
            })
    }
}
