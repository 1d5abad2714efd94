//! The router, the request log, and the path every carrier `POST` takes: record the body,
//! authenticate, apply an injected fault, consult the idempotency store, run the operation,
//! store its answer, and (for a timeout fault) hold the answer back.

use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::control::{Api, Endpoint, Fault, Received, SandboxControl, State};
use crate::idempotency::Lookup;
use crate::{
    IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER, easypost, generic, labels, shippo,
};

pub(crate) fn router(control: SandboxControl) -> Router {
    Router::new()
        .merge(easypost::routes())
        .merge(shippo::routes())
        .merge(generic::routes())
        .route("/labels/{file}", get(labels::get_label))
        .merge(crate::control::routes())
        .merge(crate::webhooks::routes())
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(control)
}

/// One line per request: method, path, query parameter names (never values), status.
/// Bodies are never logged.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(query_names).unwrap_or_default();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        target: "carrier_sandbox",
        %method,
        path,
        query,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// `a=1&b=2&a=3` → `a,b`.
fn query_names(query: &str) -> String {
    let mut names: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(",")
}

/// A 404 in the shape of the API the path belongs to.
async fn not_found(request: Request) -> Response {
    let reply = if request.uri().path().starts_with("/easypost/") {
        easypost::error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource could not be found.",
        )
    } else {
        detail(StatusCode::NOT_FOUND, "Not found.")
    };
    reply.into_response()
}

/// A JSON answer of a carrier operation, kept whole so it can be stored and replayed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) headers: Vec<(&'static str, &'static str)>,
}

impl Reply {
    pub(crate) fn new(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        for (name, value) in self.headers {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

/// `{"detail": message}`: the error shape of Shippo and of the generic API.
pub(crate) fn detail(status: StatusCode, message: &str) -> Reply {
    Reply::new(status, json!({ "detail": message }))
}

/// The answer to a reused idempotency key, for Shippo and the generic API.
pub(crate) fn key_reused_conflict() -> Reply {
    detail(
        StatusCode::CONFLICT,
        "Idempotency-Key reused with a different request",
    )
}

/// The credentials of an `Authorization: <scheme> <credentials>` header, if the scheme matches
/// (case-insensitively).
pub(crate) fn authorization<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (given, credentials) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| credentials.trim())
}

/// What an operation gets besides the state and the body.
pub(crate) struct Ctx<'a> {
    pub(crate) now: OffsetDateTime,
    base_url: &'a str,
}

impl Ctx<'_> {
    /// Where a label is served.
    pub(crate) fn label_url(&self, label_id: &str) -> String {
        format!("{}/labels/{label_id}.pdf", self.base_url)
    }

    /// `now` in RFC 3339 with whole seconds, e.g. `2026-05-02T10:35:00Z`.
    pub(crate) fn timestamp(&self) -> String {
        self.now
            .replace_nanosecond(0)
            .unwrap_or(self.now)
            .format(&Rfc3339)
            .unwrap_or_default()
    }
}

/// `<prefix><32 lowercase hex digits>`, the shape of EasyPost ids and Shippo object ids.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 32);
    id.push_str(prefix);
    id.extend((0..32).map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)])));
    id
}

/// The `Idempotency-Key` header, if present and not blank.
fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(IDEMPOTENCY_KEY_HEADER)?;
    let key = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
    (!key.is_empty()).then_some(key)
}

struct Outcome {
    reply: Reply,
    replayed: bool,
    delay: Option<Duration>,
}

/// Serves one carrier `POST`. `operation` runs with the state locked, only for an authenticated,
/// unfaulted, fresh request with a JSON body; it returns the answer to store and send.
pub(crate) async fn call<F>(
    control: &SandboxControl,
    endpoint: Endpoint,
    path: &str,
    headers: &HeaderMap,
    raw: &[u8],
    operation: F,
) -> Response
where
    F: FnOnce(&mut State, &Value, &Ctx<'_>) -> Reply,
{
    let api = endpoint.api();
    let key = idempotency_key(headers);
    let body: Option<Value> = serde_json::from_slice(raw).ok();
    control.lock().received.push(Received {
        api,
        route: endpoint.route(),
        path: path.to_owned(),
        idempotency_key: key.clone(),
        body: body.clone().unwrap_or(Value::Null),
        raw: String::from_utf8_lossy(raw).into_owned(),
    });

    let outcome = execute(
        control,
        endpoint,
        path,
        headers,
        key.as_deref(),
        body,
        operation,
    );
    {
        let mut state = control.lock();
        let stats = state.stats.api_mut(api);
        stats.requests += 1;
        *stats
            .by_status
            .entry(outcome.reply.status.as_u16())
            .or_default() += 1;
        if outcome.replayed {
            stats.idempotent_replays += 1;
        }
    }
    if let Some(delay) = outcome.delay {
        // Everything is committed; the client may give up meanwhile.
        tokio::time::sleep(delay).await;
    }
    let mut response = outcome.reply.into_response();
    if outcome.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

fn execute<F>(
    control: &SandboxControl,
    endpoint: Endpoint,
    path: &str,
    headers: &HeaderMap,
    key: Option<&str>,
    body: Option<Value>,
    operation: F,
) -> Outcome
where
    F: FnOnce(&mut State, &Value, &Ctx<'_>) -> Reply,
{
    let api = endpoint.api();
    let answer = |reply: Reply, delay: Option<Duration>| Outcome {
        reply,
        replayed: false,
        delay,
    };
    if let Err(reply) = authenticate(control, api, headers) {
        return answer(reply, None);
    }
    // The whole request runs under one lock, so two requests with the same key cannot both
    // find it fresh.
    let mut state = control.lock();
    let delay = match state.take_fault(endpoint) {
        Some(Fault::Timeout(delay)) => Some(delay),
        Some(fault) => return answer(fault_reply(api, fault), None),
        None => None,
    };
    if let Some(key) = key {
        match state.idempotency.lookup(api, key, path, body.as_ref()) {
            Lookup::Fresh => {}
            Lookup::Replay(reply) => {
                return Outcome {
                    reply,
                    replayed: true,
                    delay,
                };
            }
            Lookup::Mismatch => return answer(key_reused(api), delay),
        }
    }
    let Some(body) = body else {
        return answer(malformed_body(api), delay);
    };
    let ctx = Ctx {
        now: OffsetDateTime::now_utc(),
        base_url: control.base_url(),
    };
    let reply = operation(&mut state, &body, &ctx);
    if let Some(key) = key {
        state.idempotency.store(api, key, path, body, &reply);
    }
    answer(reply, delay)
}

fn authenticate(control: &SandboxControl, api: Api, headers: &HeaderMap) -> Result<(), Reply> {
    let config = control.config();
    match api {
        Api::EasyPost => easypost::authenticate(headers, &config.easypost_api_key),
        Api::Shippo => shippo::authenticate(headers, &config.shippo_token),
        Api::Generic => generic::authenticate(headers, &config.generic_api_key),
    }
}

/// The answer to an injected `ServerError` or `RateLimited`.
fn fault_reply(api: Api, fault: Fault) -> Reply {
    let reply = match (api, fault) {
        (Api::EasyPost, Fault::RateLimited) => easypost::error(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "You have exceeded the rate limit. Please retry later.",
        ),
        (Api::EasyPost, _) => easypost::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "We're sorry, something went wrong. Please try again.",
        ),
        (Api::Shippo, Fault::RateLimited) => detail(
            StatusCode::TOO_MANY_REQUESTS,
            "Request was throttled. Expected available in 1 second.",
        ),
        (Api::Shippo, _) => detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "A server error occurred.",
        ),
        (Api::Generic, Fault::RateLimited) => detail(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit exceeded; retry later.",
        ),
        (Api::Generic, _) => detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error."),
    };
    if fault == Fault::RateLimited {
        reply.with_header("retry-after", "1")
    } else {
        reply
    }
}

fn key_reused(api: Api) -> Reply {
    match api {
        Api::EasyPost => easypost::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            easypost::IDEMPOTENCY_KEY_REUSED,
            "Idempotency-Key reused with a different request",
        ),
        Api::Shippo | Api::Generic => key_reused_conflict(),
    }
}

fn malformed_body(api: Api) -> Reply {
    match api {
        Api::EasyPost => easypost::error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "The request body could not be parsed as JSON.",
        ),
        Api::Shippo => detail(StatusCode::BAD_REQUEST, "JSON parse error."),
        Api::Generic => detail(StatusCode::BAD_REQUEST, "Request body is not valid JSON."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_log_keeps_names_only() {
        assert_eq!(query_names("api=easypost&x=secret&api=shippo"), "api,x");
        assert_eq!(query_names("flag"), "flag");
        assert_eq!(query_names(""), "");
    }

    #[test]
    fn ids_are_prefix_and_32_hex_digits() {
        let id = new_id("shp_");
        assert_eq!(id.len(), 36);
        assert!(id.starts_with("shp_"));
        assert!(id[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, new_id("shp_"));
    }

    #[test]
    fn authorization_matches_the_scheme_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(authorization(&headers, "Bearer"), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert_eq!(authorization(&headers, "Bearer"), Some("abc"));
        assert_eq!(authorization(&headers, "ShippoToken"), None);
    }

    #[test]
    fn blank_idempotency_keys_count_as_absent() {
        let mut headers = HeaderMap::new();
        assert_eq!(idempotency_key(&headers), None);
        headers.insert(IDEMPOTENCY_KEY_HEADER, HeaderValue::from_static("  "));
        assert_eq!(idempotency_key(&headers), None);
        headers.insert(IDEMPOTENCY_KEY_HEADER, HeaderValue::from_static("order-1"));
        assert_eq!(idempotency_key(&headers).as_deref(), Some("order-1"));
    }
}
