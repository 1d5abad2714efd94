//! The pii-access HTTP API as API Gateway runs it, on a local listener.
//!
//! Authentication is API Gateway's IAM authorisation, done for real: the SigV4 signature is
//! recomputed (aws-sigv4) over the request as received, with the secret of the access key it
//! names, and compared in constant time; a stale `x-amz-date` (over 15 minutes) or an unknown
//! key is refused with 403 as API Gateway refuses it. The caller's session then goes into the
//! payload-2.0 event's `requestContext.authorizer.iam` — the only place the function reads
//! identity from — and the route's function runs with that event.
//!
//! IAM's decision itself is not taken here (that needs the deployment's policies): every
//! authenticated invocation is recorded as `execute-api:Invoke` by the caller's role on the
//! route's ARN, and the policy engine evaluates them after the test run. One the function
//! refused because the caller's role lacks the purpose is recorded as a request IAM must deny,
//! so the function's check and the template's policies are shown to agree.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use orderseal::access::Purpose;
use orderseal::aws::record::{RequestRecorder, Resource};
use orderseal_pii_access::LambdaAccess;
use orderseal_subscriptions::LambdaSubscriptions;
use serde_json::{Value, json};

use crate::{LOCAL_ACCOUNT, LOCAL_PEOPLE, LocalPerson, REGION};

/// The template's logical id of the API.
pub const API_ID: &str = "PiiAccessApi";
const STAGE: &str = "$default";
/// API Gateway refuses a signature older or newer than this.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

struct Gateway {
    functions: BTreeMap<&'static str, Arc<LambdaAccess>>,
    subscriptions: Option<Arc<LambdaSubscriptions>>,
}

/// Serve the purposes' functions on 127.0.0.1 (`port` 0 = any). Returns the base URL and the
/// server task.
pub async fn serve(
    functions: Vec<(Purpose, Arc<LambdaAccess>)>,
    port: u16,
) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    serve_with(functions, None, port).await
}

/// [`serve`], and the operators' subscriptions routes (`/ops/subscriptions…`) when given.
pub async fn serve_with(
    functions: Vec<(Purpose, Arc<LambdaAccess>)>,
    subscriptions: Option<Arc<LambdaSubscriptions>>,
    port: u16,
) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let addr = listener.local_addr()?;
    let gateway = Arc::new(Gateway {
        functions: functions
            .into_iter()
            .map(|(p, f)| (p.as_str(), f))
            .collect(),
        subscriptions,
    });
    let app = axum::Router::new().fallback(receive).with_state(gateway);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{addr}"), task))
}

fn gateway_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// Why a signature is refused (API Gateway's messages).
fn authenticate(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<LocalPerson, &'static str> {
    const MISSING: &str = "Missing Authentication Token";
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = header("authorization").ok_or(MISSING)?;
    let fields = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'")?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in fields.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'");
    };
    let mut scope = credential.split('/');
    let (Some(key_id), Some(_date), Some(region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err("Credential should be scoped to a valid region");
    };
    if region != REGION || service != orderseal::access_client::SERVICE {
        return Err("Credential should be scoped to correct service");
    }
    let person = LOCAL_PEOPLE
        .into_iter()
        .find(|p| p.access_key_id == key_id)
        .ok_or("The security token included in the request is invalid")?;
    let signed_at = header("x-amz-date")
        .and_then(|d| {
            let format =
                time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
            time::PrimitiveDateTime::parse(d, format).ok()
        })
        .map(|t| SystemTime::from(t.assume_utc()))
        .ok_or("Signature expired")?;
    let skew = now
        .duration_since(signed_at)
        .or_else(|_| signed_at.duration_since(now))
        .unwrap_or(Duration::MAX);
    if skew > MAX_SKEW {
        return Err("Signature expired");
    }
    // As AWS: the host and the date must be signed.
    let listed: Vec<&str> = signed_headers.split(';').collect();
    if !listed.contains(&"host") || !listed.contains(&"x-amz-date") {
        return Err(
            "The request signature we calculated does not match the signature you provided",
        );
    }
    // The headers the caller signed, minus the date the signer adds itself.
    let mut signed = Vec::new();
    for name in signed_headers.split(';') {
        if name == "x-amz-date" {
            continue;
        }
        signed.push((
            name,
            header(name).ok_or(
                "The request signature we calculated does not match the signature you provided",
            )?,
        ));
    }
    let host = header("host").ok_or(MISSING)?;
    let url = format!(
        "http://{host}{}",
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let expected = orderseal::access_client::sign_headers(
        method.as_str(),
        &url,
        &signed,
        body,
        &person.credentials(),
        REGION,
        signed_at,
    )
    .map_err(|_| "The request signature we calculated does not match the signature you provided")?;
    let expected_auth = expected
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let expected_signature = expected_auth
        .rsplit("Signature=")
        .next()
        .unwrap_or_default();
    let expected_signed = expected_auth
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_default();
    if expected_signed != signed_headers
        || verify_slices_are_equal(expected_signature.as_bytes(), signature.as_bytes()).is_err()
    {
        return Err(
            "The request signature we calculated does not match the signature you provided",
        );
    }
    Ok(person)
}

/// The operators' routes: `POST|GET /ops/subscriptions`, `DELETE /ops/subscriptions/{seller}`
/// → the route key.
fn ops_route(method: &Method, path: &str) -> Option<String> {
    let rest = path.strip_prefix(orderseal::subscriptions::ROUTE)?;
    match (method, rest) {
        (&Method::POST, "") => Some("POST /ops/subscriptions".to_owned()),
        (&Method::GET, "") => Some("GET /ops/subscriptions".to_owned()),
        (&Method::DELETE, seller) if seller.len() > 1 && !seller[1..].contains('/') => {
            Some("DELETE /ops/subscriptions/{seller}".to_owned())
        }
        _ => None,
    }
}

/// The template's routes: `GET /{purpose}/orders/{seller}/{order}`,
/// `POST /fraud_review/orders/{seller}/{order}/{decision}` and
/// `POST /returns/orders/{seller}/{order}/returns` → the purpose, when a function serves it.
fn route_purpose<'a>(gateway: &'a Gateway, method: &Method, path: &str) -> Option<&'a str> {
    let mut parts = path.trim_start_matches('/').split('/');
    let purpose = parts.next()?;
    let shape = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    );
    let (Some("orders"), Some(seller), Some(order), decision, None) = shape else {
        return None;
    };
    if seller.is_empty() || order.is_empty() {
        return None;
    }
    match (method, decision) {
        (&Method::GET, None) => {}
        (&Method::POST, Some(d)) if purpose == "fraud_review" && !d.is_empty() => {}
        (&Method::POST, Some("returns")) if purpose == "returns" => {}
        _ => return None,
    }
    gateway.functions.get_key_value(purpose).map(|(k, _)| *k)
}

async fn receive(
    State(gateway): State<Arc<Gateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let person = match authenticate(&method, &uri, &headers, &body, SystemTime::now()) {
        Ok(p) => p,
        Err(message) => return gateway_error(StatusCode::FORBIDDEN, message),
    };
    let path = uri.path();
    let ops = ops_route(&method, path).filter(|_| gateway.subscriptions.is_some());
    let purpose = route_purpose(&gateway, &method, path);
    let route_key = match (ops.clone(), purpose) {
        (Some(key), _) => key,
        (None, Some(purpose)) => {
            if method == Method::GET {
                format!("GET /{purpose}/orders/{{seller}}/{{order}}")
            } else if purpose == "returns" {
                "POST /returns/orders/{seller}/{order}/returns".to_owned()
            } else {
                format!("POST /{purpose}/orders/{{seller}}/{{order}}/{{decision}}")
            }
        }
        (None, None) => return gateway_error(StatusCode::NOT_FOUND, "Not Found"),
    };
    let request_id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": uri.query().unwrap_or_default(),
        "headers": headers.iter().filter_map(|(k, v)| Some((k.as_str().to_owned(), Value::from(v.to_str().ok()?)))).collect::<serde_json::Map<_, _>>(),
        "requestContext": {
            "accountId": LOCAL_ACCOUNT,
            "apiId": "local",
            "stage": STAGE,
            "requestId": request_id,
            "authorizer": { "iam": {
                "accessKey": person.access_key_id,
                "accountId": LOCAL_ACCOUNT,
                "callerId": format!("AROALOCAL:{}", person.session),
                "userArn": person.caller_arn(),
                "userId": format!("AROALOCAL:{}", person.session),
            }},
            "http": { "method": method.as_str(), "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "" },
            "time": "", "timeEpoch": 0,
        },
        "body": String::from_utf8_lossy(&body),
        "isBase64Encoded": false,
    });
    let Ok(request) = lambda_http::request::from_str(&event.to_string()) else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let call = orderseal_pii_access::call_of(&request);
    let (status, reply_body) = match (&gateway.subscriptions, purpose) {
        (Some(subscriptions), _) if ops.is_some() => {
            let deadline = std::time::Instant::now() + Duration::from_secs(28);
            let reply = subscriptions.handle(call, deadline).await;
            (reply.status, reply.body.into_bytes())
        }
        (_, Some(purpose)) => {
            let reply = gateway.functions[purpose].handle(call).await;
            (reply.status, reply.body.to_vec())
        }
        _ => return gateway_error(StatusCode::NOT_FOUND, "Not Found"),
    };
    let refused_for_role = status == 403
        && serde_json::from_slice::<Value>(&reply_body)
            .ok()
            .is_some_and(|v| v["error"] == "not_permitted");
    record_invoke(person, method.as_str(), path, refused_for_role);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply_body).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The invocation as IAM authorises it, for the evaluation after the run.
fn record_invoke(person: LocalPerson, method: &str, path: &str, must_be_denied: bool) {
    let recorder = RequestRecorder::from_env(person.role);
    if !recorder.is_on() {
        return;
    }
    let mut facts = BTreeMap::new();
    if must_be_denied {
        facts.insert("Expect".to_owned(), "Denied".to_owned());
    }
    recorder.record_authz(
        "ApiGateway.Invoke",
        "execute-api:Invoke",
        Resource::Api {
            id: API_ID.to_owned(),
            stage: STAGE.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
        },
        BTreeMap::new(),
        facts,
    );
}

/// The three purposes' functions for resources in the emulator, each with the clients of its own
/// role (`clients_for(role)`), `canary_orders` configured, on `clock`.
pub fn functions(
    resources: &crate::Resources,
    canary_orders: &[&str],
    clock: Arc<dyn orderseal::clock::Clock>,
    clients_for: impl Fn(&'static str) -> crate::AwsClients,
) -> Result<Vec<(Purpose, Arc<LambdaAccess>)>, crate::LocalError> {
    Purpose::PEOPLE
        .into_iter()
        .map(|purpose| {
            let (role, _) = crate::roles::for_purpose(purpose);
            let aws = clients_for(role);
            let config = crate::access_config(resources, purpose, canary_orders)?;
            Ok((
                purpose,
                Arc::new(orderseal_pii_access::build(
                    config,
                    aws.dynamodb,
                    aws.kms,
                    aws.sqs,
                    clock.clone(),
                )),
            ))
        })
        .collect()
}
