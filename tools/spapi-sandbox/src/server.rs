//! The router, the request log and headers shared by every operation.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::control::{self, SandboxControl};
use crate::{confirm, lwa, notifications, orders, search};

/// Header carrying the per-request id on every SP-API and LWA answer.
pub(crate) const REQUEST_ID: &str = "x-amzn-RequestId";

pub(crate) fn router(control: SandboxControl) -> Router {
    Router::new()
        .route("/auth/o2/token", post(lwa::token))
        .route("/orders/2026-01-01/orders", get(search::search_orders))
        .route(
            "/orders/2026-01-01/orders/{order_id}",
            get(orders::get_order),
        )
        .route(
            "/orders/v0/orders/{order_id}/shipmentConfirmation",
            post(confirm::confirm_shipment),
        )
        .merge(notifications::routes())
        .merge(control::routes())
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
        target: "spapi_sandbox",
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

async fn not_found() -> Response {
    let body = json!({"errors": [{
        "code": "NotFound",
        "message": "The requested resource does not exist.",
        "details": "",
    }]});
    let mut response = (StatusCode::NOT_FOUND, Json(body)).into_response();
    insert_request_id(response.headers_mut());
    response
}

pub(crate) fn insert_request_id(headers: &mut HeaderMap) {
    let id = request_id();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
}

/// A random id in the UUID layout SP-API uses for `x-amzn-RequestId`.
fn request_id() -> String {
    let hex = |len: usize| -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)]))
            .collect()
    };
    format!("{}-{}-{}-{}-{}", hex(8), hex(4), hex(4), hex(4), hex(12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_log_keeps_names_only() {
        assert_eq!(
            query_names("includedData=BUYER&includedData=RECIPIENT&x=secret"),
            "includedData,x"
        );
        assert_eq!(query_names("flag"), "flag");
        assert_eq!(query_names(""), "");
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_ne!(id, request_id());
    }
}
