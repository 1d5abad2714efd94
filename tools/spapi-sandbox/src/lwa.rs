//! Login with Amazon: `POST /auth/o2/token`.
//!
//! Two grants, as SP-API uses them (domain notes §2.2):
//! - `refresh_token` (+ `refresh_token`, `client_id`, `client_secret`): a seller-authorised
//!   access token; the response echoes the refresh token.
//! - `client_credentials` (+ `scope`, `client_id`, `client_secret`): a grantless access token for
//!   `sellingpartnerapi::notifications` or `sellingpartnerapi::migration`. It does not authorise
//!   seller calls such as getOrder.
//!
//! Errors use LWA's OAuth shape `{"error": …, "error_description": …}`.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::control::{Fault, Op, SandboxControl};
use crate::{ACCESS_TOKEN_TTL_SECS, server};

/// Scopes the `client_credentials` grant accepts.
const GRANTLESS_SCOPES: [&str; 2] = [
    "sellingpartnerapi::notifications",
    "sellingpartnerapi::migration",
];

/// Access tokens issued by the sandbox, with their expiry on the sandbox clock.
#[derive(Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, Issued>,
}

#[derive(Debug, Clone)]
struct Issued {
    expires_at: OffsetDateTime,
    /// The seller it acts for (refresh_token grant); `None`: a grantless token.
    seller: Option<String>,
}

/// What an access token presented to an SP-API operation amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    /// Issued for this seller and not expired.
    Seller(String),
    /// Issued by the client_credentials grant: no seller authorisation.
    Grantless,
    Expired,
    Unknown,
}

impl TokenStore {
    fn issue(&mut self, now: OffsetDateTime, seller: Option<String>) -> String {
        // Forget what has expired long ago so a long-running demo does not grow without bound.
        let horizon = now - time::Duration::days(1);
        self.tokens.retain(|_, issued| issued.expires_at > horizon);
        let token = format!("Atza|IwEB{}", random_token_chars(120));
        let ttl = time::Duration::seconds(ACCESS_TOKEN_TTL_SECS as i64);
        self.tokens.insert(
            token.clone(),
            Issued {
                expires_at: now + ttl,
                seller,
            },
        );
        token
    }

    pub(crate) fn check(&self, token: &str, now: OffsetDateTime) -> TokenCheck {
        match self.tokens.get(token) {
            None => TokenCheck::Unknown,
            Some(issued) if now >= issued.expires_at => TokenCheck::Expired,
            Some(Issued {
                seller: Some(seller),
                ..
            }) => TokenCheck::Seller(seller.clone()),
            Some(_) => TokenCheck::Grantless,
        }
    }
}

fn random_token_chars(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// The token request parameters; every one optional so that a missing one is reported as
/// `invalid_request` rather than a parse failure.
#[derive(Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

pub(crate) async fn token(State(control): State<SandboxControl>, request: Request) -> Response {
    let mut response = answer(&control, request).await;
    control.record(Op::Token, response.status());
    let headers = response.headers_mut();
    server::insert_request_id(headers);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn answer(control: &SandboxControl, request: Request) -> Response {
    if let Some(fault) = control.take_fault(Op::Token) {
        return fault_error(fault).into_response();
    }
    let Some(request) = parse(request).await else {
        return LwaError::bad_request("invalid_request", "The request body could not be parsed")
            .into_response();
    };
    match grant(control, &request) {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Parses the form body (what LWA documents); a JSON body is accepted as well.
async fn parse(request: Request) -> Option<TokenRequest> {
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("application/json"));
    if is_json {
        let Json(body) = Json::<TokenRequest>::from_request(request, &())
            .await
            .ok()?;
        Some(body)
    } else {
        let Form(body) = Form::<TokenRequest>::from_request(request, &())
            .await
            .ok()?;
        Some(body)
    }
}

fn grant(control: &SandboxControl, request: &TokenRequest) -> Result<serde_json::Value, LwaError> {
    let grant_type = required(&request.grant_type, "grant_type")?;
    if grant_type != "refresh_token" && grant_type != "client_credentials" {
        return Err(LwaError::bad_request(
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server",
        ));
    }
    let client_id = required(&request.client_id, "client_id")?;
    let client_secret = required(&request.client_secret, "client_secret")?;
    if request.refresh_token.is_some() && request.scope.is_some() {
        return Err(LwaError::bad_request(
            "invalid_request",
            "The request has both a refresh_token and a scope parameter",
        ));
    }
    // Per-grant parameter presence is a malformed request; check it before authenticating.
    let refresh_token = match grant_type {
        "refresh_token" => Some(required(&request.refresh_token, "refresh_token")?),
        _ => None,
    };
    let scope = match grant_type {
        "client_credentials" => Some(required(&request.scope, "scope")?),
        _ => None,
    };

    let config = control.config();
    if client_id != config.client_id || client_secret != config.client_secret {
        return Err(LwaError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "Client authentication failed".to_owned(),
        });
    }

    let now = control.now();
    if let Some(refresh_token) = refresh_token {
        let Some(seller) = seller_of(config, refresh_token) else {
            return Err(LwaError::bad_request(
                "invalid_grant",
                "The request has an invalid grant parameter : refresh_token",
            ));
        };
        let access_token = control.lock().tokens.issue(now, Some(seller));
        return Ok(json!({
            "access_token": access_token,
            "refresh_token": refresh_token,
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_TTL_SECS,
        }));
    }

    let scope = scope.unwrap_or_default();
    if !GRANTLESS_SCOPES.contains(&scope) {
        return Err(LwaError::bad_request(
            "invalid_scope",
            "The request has an invalid parameter : scope",
        ));
    }
    let access_token = control.lock().tokens.issue(now, None);
    Ok(json!({
        "access_token": access_token,
        "scope": scope,
        "token_type": "bearer",
        "expires_in": ACCESS_TOKEN_TTL_SECS,
    }))
}

/// The seller a refresh token was issued by.
fn seller_of(config: &crate::SandboxConfig, refresh_token: &str) -> Option<String> {
    if config
        .refresh_tokens
        .iter()
        .any(|known| known == refresh_token)
    {
        return Some(config.seller_id.clone());
    }
    config
        .other_sellers
        .iter()
        .find(|account| account.refresh_token == refresh_token)
        .map(|account| account.seller_id.clone())
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, LwaError> {
    match value.as_deref() {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(LwaError::bad_request(
            "invalid_request",
            format!("The request is missing a required parameter : {name}"),
        )),
    }
}

/// An LWA error answer: `{"error": …, "error_description": …}`.
#[derive(Debug)]
struct LwaError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl LwaError {
    fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for LwaError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        (self.status, Json(body)).into_response()
    }
}

/// Injected faults on the token endpoint. LWA is not an SP-API operation, so the body keeps
/// LWA's OAuth error shape (RFC 6749 codes) rather than an SP-API `ErrorList`.
fn fault_error(fault: Fault) -> LwaError {
    let (status, error, description) = match fault {
        Fault::Throttle => (
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            "Rate exceeded",
        ),
        Fault::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "An internal error occurred",
        ),
        Fault::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The service is temporarily unavailable",
        ),
        Fault::BadRequest => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request is missing a required parameter or is otherwise malformed",
        ),
    };
    LwaError {
        status,
        error,
        description: description.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_after_an_hour_of_sandbox_time() {
        let mut store = TokenStore::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let seller = store.issue(t0, Some("S1".into()));
        let grantless = store.issue(t0, None);
        assert!(seller.starts_with("Atza|"));
        assert_ne!(seller, grantless);
        let almost = t0 + time::Duration::seconds(3599);
        assert_eq!(
            store.check(&seller, almost),
            TokenCheck::Seller("S1".into())
        );
        assert_eq!(store.check(&grantless, almost), TokenCheck::Grantless);
        let expired = t0 + time::Duration::seconds(3600);
        assert_eq!(store.check(&seller, expired), TokenCheck::Expired);
        assert_eq!(store.check("Atza|never-issued", t0), TokenCheck::Unknown);
    }
}
