//! Notifications API v1: the destination and subscription operations orderseal uses, with the
//! shapes of the official model (`specs/spapi/notifications.json` in the kit).
//!
//! - Destinations are the app's (grantless: a `client_credentials` token, 403 with a seller's
//!   token): `createDestination` refuses a second destination for the same SQS ARN with 409, as
//!   Amazon does; `getDestinations`, `getDestination`, `deleteDestination`.
//! - Subscriptions are a seller's (`createSubscription` and `getSubscription` need that seller's
//!   access token): one per seller and notification type, 409 on a second; the destination
//!   must exist. `getSubscriptionById` and `deleteSubscriptionById` are grantless.
//! - Every operation is 1 request/s with a burst of 5 (the model's usage plan), per operation,
//!   on the wall clock: a request over it gets 429 `QuotaExceeded`.
//!
//! Errors are SP-API `ErrorList`s; the answers carry `x-amzn-RequestId` and
//! `x-amzn-RateLimit-Limit`.

// The `Err` of these results is the HTTP answer itself, handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::control::{Fault, Op, SandboxControl};
use crate::lwa::TokenCheck;
use crate::orders::{error, fault_response};
use crate::plan::{Bucket, Plan};
use crate::server;

/// The model's usage plan for every Notifications operation.
const PLAN: Plan = Plan {
    rate: 1.0,
    burst: 5.0,
};

/// Notification types delivered to SQS that a subscription may name (domain notes §1.1).
const SQS_TYPES: [&str; 6] = [
    "ORDER_CHANGE",
    "FBA_OUTBOUND_SHIPMENT_STATUS",
    "FULFILLMENT_ORDER_STATUS",
    "REPORT_PROCESSING_FINISHED",
    "ANY_OFFER_CHANGED",
    "ACCOUNT_STATUS_CHANGED",
];

/// A destination as the model's `Destination` (SQS only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxDestination {
    pub destination_id: String,
    pub name: String,
    pub arn: String,
}

/// A seller's subscription as the model's `Subscription`, with its owner and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxSubscription {
    pub seller_id: String,
    pub notification_type: String,
    pub subscription_id: String,
    pub payload_version: String,
    pub destination_id: String,
    pub processing_directive: Option<Value>,
}

/// The app's destinations and the sellers' subscriptions, and the per-operation buckets.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) destinations: Vec<SandboxDestination>,
    pub(crate) subscriptions: Vec<SandboxSubscription>,
    buckets: HashMap<&'static str, Option<Bucket>>,
}

impl Registry {
    /// Takes one request slot of `operation`; `false`: over the usage plan.
    fn admit(&mut self, operation: &'static str, now: Instant) -> bool {
        PLAN.admit(self.buckets.entry(operation).or_default(), now)
    }
}

pub(crate) fn routes() -> axum::Router<SandboxControl> {
    axum::Router::new()
        .route(
            "/notifications/v1/destinations",
            get(get_destinations).post(create_destination),
        )
        .route(
            "/notifications/v1/destinations/{destination_id}",
            get(get_destination).delete(delete_destination),
        )
        .route(
            "/notifications/v1/subscriptions/{notification_type}",
            get(get_subscription).post(create_subscription),
        )
        .route(
            "/notifications/v1/subscriptions/{notification_type}/{subscription_id}",
            get(get_subscription_by_id).delete(delete_subscription_by_id),
        )
}

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// A `client_credentials` token.
    Grantless,
    /// A seller's access token.
    Seller,
}

/// Fault, usage plan and token checks shared by every operation: `Ok(seller)` (`None` for a
/// grantless caller) or the answer to give.
fn admit(
    control: &SandboxControl,
    headers: &HeaderMap,
    operation: &'static str,
    caller: Caller,
) -> Result<Option<String>, Response> {
    if control.is_down() {
        return Err(fault_response(Fault::Unavailable));
    }
    if let Some(fault) = control.take_fault(Op::Notifications) {
        return Err(fault_response(fault));
    }
    let now = control.now();
    let mut state = control.lock();
    if !state.notifications.admit(operation, Instant::now()) {
        return Err(fault_response(Fault::Throttle));
    }
    let token = headers
        .get("x-amz-access-token")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let denied = |details: &str| {
        error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "Access to requested resource is denied.",
            details,
        )
    };
    match (state.tokens.check(token, now), caller) {
        (TokenCheck::Grantless, Caller::Grantless) => Ok(None),
        (TokenCheck::Seller(seller), Caller::Seller) => Ok(Some(seller)),
        (TokenCheck::Expired, _) => Err(denied("The access token you provided has expired.")),
        (TokenCheck::Unknown, _) => Err(denied(
            "The access token you provided is revoked, malformed or invalid.",
        )),
        // A seller's token on a grantless operation, or the other way round.
        _ => Err(denied("")),
    }
}

/// Records the answer under its operation and adds the common headers.
fn finish(control: &SandboxControl, operation: &'static str, mut response: Response) -> Response {
    control.record_notifications(operation, response.status());
    let headers = response.headers_mut();
    server::insert_request_id(headers);
    headers.insert("x-amzn-RateLimit-Limit", HeaderValue::from_static("1.0"));
    response
}

fn ok(payload: Value) -> Response {
    (StatusCode::OK, Json(json!({ "payload": payload }))).into_response()
}

fn empty_ok() -> Response {
    (StatusCode::OK, Json(json!({}))).into_response()
}

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "InvalidInput", message, "")
}

fn not_found(what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("The {what} specified does not exist."),
        "",
    )
}

fn conflict(message: &str) -> Response {
    error(StatusCode::CONFLICT, "Conflict", message, "")
}

fn new_id(prefix: &str) -> String {
    let hex = |len: usize| -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)]))
            .collect()
    };
    format!(
        "{prefix}{}-{}-{}-{}-{}",
        hex(8),
        hex(4),
        hex(4),
        hex(4),
        hex(12)
    )
}

fn destination_json(d: &SandboxDestination) -> Value {
    json!({ "name": d.name, "destinationId": d.destination_id, "resource": { "sqs": { "arn": d.arn } } })
}

fn subscription_json(s: &SandboxSubscription) -> Value {
    let mut body = json!({
        "subscriptionId": s.subscription_id,
        "payloadVersion": s.payload_version,
        "destinationId": s.destination_id,
    });
    if let Some(directive) = &s.processing_directive {
        body["processingDirective"] = directive.clone();
    }
    body
}

/// `^arn:aws:sqs:\S+:\S+:\S+`, at most 1000 characters (the model's `SqsResource.arn`).
fn valid_sqs_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws:sqs:") else {
        return false;
    };
    let parts: Vec<&str> = rest.splitn(3, ':').collect();
    arn.len() <= 1000
        && parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && !p.chars().any(char::is_whitespace))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateDestinationRequest {
    name: Option<String>,
    resource_specification: Option<ResourceSpecification>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpecification {
    sqs: Option<SqsResource>,
    event_bridge: Option<Value>,
}

#[derive(Deserialize)]
struct SqsResource {
    arn: Option<String>,
}

async fn create_destination(
    State(control): State<SandboxControl>,
    headers: HeaderMap,
    body: Result<Json<CreateDestinationRequest>, JsonRejection>,
) -> Response {
    const OP: &str = "createDestination";
    let answer = (|| {
        admit(&control, &headers, OP, Caller::Grantless)?;
        let Ok(Json(request)) = body else {
            return Err(invalid(
                "The request body is not a CreateDestinationRequest.",
            ));
        };
        let name = request
            .name
            .filter(|n| !n.is_empty() && n.len() <= 256)
            .ok_or_else(|| invalid("name is required (at most 256 characters)."))?;
        let spec = request
            .resource_specification
            .ok_or_else(|| invalid("resourceSpecification is required."))?;
        if spec.event_bridge.is_some() {
            return Err(invalid(
                "Use one resource type (sqs) per destination; this sandbox has no EventBridge.",
            ));
        }
        let arn = spec
            .sqs
            .and_then(|sqs| sqs.arn)
            .filter(|arn| valid_sqs_arn(arn))
            .ok_or_else(|| invalid("resourceSpecification.sqs.arn must be an SQS queue ARN."))?;
        let mut state = control.lock();
        let registry = &mut state.notifications;
        if registry.destinations.iter().any(|d| d.arn == arn) {
            return Err(conflict("A destination for this resource already exists."));
        }
        let destination = SandboxDestination {
            destination_id: new_id(""),
            name,
            arn,
        };
        let body = destination_json(&destination);
        registry.destinations.push(destination);
        Ok(ok(body))
    })();
    finish(&control, OP, answer.unwrap_or_else(|r| r))
}

async fn get_destinations(State(control): State<SandboxControl>, headers: HeaderMap) -> Response {
    const OP: &str = "getDestinations";
    let answer = admit(&control, &headers, OP, Caller::Grantless).map(|_| {
        let list: Vec<Value> = control
            .lock()
            .notifications
            .destinations
            .iter()
            .map(destination_json)
            .collect();
        ok(Value::Array(list))
    });
    finish(&control, OP, answer.unwrap_or_else(|r| r))
}

async fn get_destination(
    State(control): State<SandboxControl>,
    headers: HeaderMap,
    Path(destination_id): Path<String>,
) -> Response {
    const OP: &str = "getDestination";
    let answer = admit(&control, &headers, OP, Caller::Grantless).map(|_| {
        let state = control.lock();
        match state
            .notifications
            .destinations
            .iter()
            .find(|d| d.destination_id == destination_id)
        {
            Some(d) => ok(destination_json(d)),
            None => not_found("destination"),
        }
    });
    finish(&control, OP, answer.unwrap_or_else(|r| r))
}

async fn delete_destination(
    State(control): State<SandboxControl>,
    headers: HeaderMap,
    Path(destination_id): Path<String>,
) -> Response {
    const OP: &str = "deleteDestination";
    let answer = admit(&control, &headers, OP, Caller::Grantless).map(|_| {
        let mut state = control.lock();
        let destinations = &mut state.notifications.destinations;
        let before = destinations.len();
        destinations.retain(|d| d.destination_id != destination_id);
        if destinations.len() == before {
            not_found("destination")
        } else {
            empty_ok()
        }
    });
    finish(&control, OP, answer.unwrap_or_else(|r| r))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateSubscriptionRequest {
    payload_version: Option<String>,
    destination_id: Option<String>,
    processing_directive: Option<Value>,
}

async fn create_subscription(
    State(control): State<SandboxControl>,
    headers: HeaderMap,
    Path(notification_type): Path<String>,
    body: Result<Json<CreateSubscriptionRequest>, JsonRejection>,
) -> Response {
    const OP: &str = "createSubscription";
    let answer = (|| {
        let seller = admit(&control, &headers, OP, Caller::Seller)?.unwrap_or_default();
        if !SQS_TYPES.contains(&notification_type.as_str()) {
            return Err(invalid("Unknown or unsupported notificationType."));
        }
        let Ok(Json(request)) = body else {
            return Err(invalid(
                "The request body is not a CreateSubscriptionRequest.",
            ));
        };
        let payload_version = request
            .payload_version
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid("payloadVersion is required."))?;
        let destination_id = request
            .destination_id
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid("destinationId is required."))?;
        let mut state = control.lock();
        let registry = &mut state.notifications;
        if !registry
            .destinations
            .iter()
            .any(|d| d.destination_id == destination_id)
        {
            return Err(invalid("No destination with this destinationId."));
        }
        if registry
            .subscriptions
            .iter()
            .any(|s| s.seller_id == seller && s.notification_type == notification_type)
        {
            return Err(conflict(
                "A subscription for this notificationType already exists.",
            ));
        }
        let subscription = SandboxSubscription {
            seller_id: seller,
            notification_type,
            subscription_id: new_id(""),
            payload_version,
            destination_id,
            processing_directive: request.processing_directive,
        };
        let body = subscription_json(&subscription);
        registry.subscriptions.push(subscription);
        Ok(ok(body))
    })();
    finish(&control, OP, answer.unwrap_or_else(|r| r))
}

async fn get_subscription(
    State(control): State<SandboxControl>,
    headers: HeaderMap,
    Path(notification_type): Path<String>,
) -> Response {
    const OP: &str = "getSubscription";
    let answer = admit(&control, &headers, OP, Caller::Seller).map(|seller| {
        let seller = seller.unwrap_or_default();
        let state = control.lock();
        match state
            .notifications
            .subscriptions
            .iter()
            .find(|s| s.seller_id == seller && s.notification_type == notification_type)
        {
            Some(s) => ok(subscription_json(s)),
            None => not_found("subscription"),
        }
    });
    finish(&control, OP, answer.unwrap_or_else(|r| r))
}

async fn get_subscription_by_id(
    State(control): State<SandboxControl>,
    headers: HeaderMap,
    Path((notification_type, subscription_id)): Path<(String, String)>,
) -> Response {
    const OP: &str = "getSubscriptionById";
    let answer = admit(&control, &headers, OP, Caller::Grantless).map(|_| {
        let state = control.lock();
        match state.notifications.subscriptions.iter().find(|s| {
            s.subscription_id == subscription_id && s.notification_type == notification_type
        }) {
            Some(s) => ok(subscription_json(s)),
            None => not_found("subscription"),
        }
    });
    finish(&control, OP, answer.unwrap_or_else(|r| r))
}

async fn delete_subscription_by_id(
    State(control): State<SandboxControl>,
    headers: HeaderMap,
    Path((notification_type, subscription_id)): Path<(String, String)>,
) -> Response {
    const OP: &str = "deleteSubscriptionById";
    let answer = admit(&control, &headers, OP, Caller::Grantless).map(|_| {
        let mut state = control.lock();
        let subscriptions = &mut state.notifications.subscriptions;
        let before = subscriptions.len();
        subscriptions.retain(|s| {
            !(s.subscription_id == subscription_id && s.notification_type == notification_type)
        });
        if subscriptions.len() == before {
            not_found("subscription")
        } else {
            empty_ok()
        }
    });
    finish(&control, OP, answer.unwrap_or_else(|r| r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_usage_plan_allows_a_burst_of_five_then_one_a_second() {
        let mut registry = Registry::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(registry.admit("createDestination", t0));
        }
        assert!(!registry.admit("createDestination", t0));
        // Each operation has its own bucket.
        assert!(registry.admit("getDestinations", t0));
        assert!(!registry.admit("createDestination", t0 + Duration::from_millis(900)));
        assert!(registry.admit("createDestination", t0 + Duration::from_millis(1900)));
    }

    #[test]
    fn sqs_arns_follow_the_model_pattern() {
        assert!(valid_sqs_arn(
            "arn:aws:sqs:us-east-1:123456789012:orderseal-notifications"
        ));
        assert!(!valid_sqs_arn("arn:aws:sns:us-east-1:123456789012:topic"));
        assert!(!valid_sqs_arn("arn:aws:sqs:us-east-1:123456789012"));
        assert!(!valid_sqs_arn("arn:aws:sqs:us-east-1:1234 56789012:q"));
    }
}
