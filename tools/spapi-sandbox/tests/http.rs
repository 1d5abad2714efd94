//! The sandbox over real HTTP, as its clients see it.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use spapi_sandbox::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, DEFAULT_SELLER_ID, Fault, Op,
    Sandbox, SandboxConfig, Stats,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const MODEL: &str = include_str!("../../../../shared/specs/spapi/orders_2026-01-01.json");

const ALL_DATASETS: [&str; 11] = [
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "EXPENSE",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
    "TAX",
    "PAYMENT",
    "FULFILLMENT_ORDERS",
];

async fn sandbox() -> (Sandbox, Client) {
    let sandbox = spapi_sandbox::start(SandboxConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    (sandbox, Client::new())
}

async fn token_request(sandbox: &Sandbox, http: &Client, form: &[(&str, &str)]) -> Response {
    http.post(format!("{}/auth/o2/token", sandbox.base_url()))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn access_token(sandbox: &Sandbox, http: &Client) -> String {
    let response = token_request(
        sandbox,
        http,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", DEFAULT_REFRESH_TOKEN),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn get_order(
    sandbox: &Sandbox,
    http: &Client,
    token: Option<&str>,
    order_id: &str,
    included: &[&str],
) -> Response {
    let mut request = http.get(format!(
        "{}/orders/2026-01-01/orders/{order_id}",
        sandbox.base_url()
    ));
    if !included.is_empty() {
        request = request.query(&[("includedData", included.join(","))]);
    }
    if let Some(token) = token {
        request = request.header("x-amz-access-token", token);
    }
    request.send().await.unwrap()
}

async fn json_of(response: Response) -> Value {
    response.json().await.unwrap()
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The first generated order is, for every seed, an MFN US order awaiting shipment with
/// several items and a gift message.
fn first_mfn_unshipped(sandbox: &Sandbox) -> Value {
    let order = sandbox.control().orders().remove(0);
    assert_eq!(order["fulfillment"]["fulfilledBy"], "MERCHANT");
    assert_eq!(order["fulfillment"]["fulfillmentStatus"], "UNSHIPPED");
    order
}

fn static_case(order_id: &str) -> Value {
    let model: Value = serde_json::from_str(MODEL).unwrap();
    let cases = model
        .pointer("/paths/~1orders~12026-01-01~1orders~1{orderId}/get/responses/200/x-amzn-api-sandbox/static")
        .and_then(Value::as_array)
        .unwrap();
    cases
        .iter()
        .find(|case| case["request"]["parameters"]["orderId"]["value"] == order_id)
        .unwrap()
        .clone()
}

// ---------------------------------------------------------------------------------------------
// LWA

#[tokio::test]
async fn refresh_token_grant_issues_bearer_tokens() {
    let (sandbox, http) = sandbox().await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", DEFAULT_REFRESH_TOKEN),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
    ];
    let response = token_request(&sandbox, &http, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "x-amzn-RequestId").is_some());
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let body = json_of(response).await;
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with("Atza|"), "{token}");
    assert!(token.len() > 100 && token.len() <= 2048);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["refresh_token"], DEFAULT_REFRESH_TOKEN);

    let again = json_of(token_request(&sandbox, &http, &form).await).await;
    assert_ne!(again["access_token"], body["access_token"]);
    assert_eq!(sandbox.control().stats().token.count(200), 2);
}

#[tokio::test]
async fn client_credentials_grant_is_grantless() {
    let (sandbox, http) = sandbox().await;
    let grant = |scope| {
        [
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ]
    };
    for scope in [
        "sellingpartnerapi::notifications",
        "sellingpartnerapi::migration",
    ] {
        let response = token_request(&sandbox, &http, &grant(scope)).await;
        assert_eq!(response.status(), StatusCode::OK, "{scope}");
        let body = json_of(response).await;
        assert!(body["access_token"].as_str().unwrap().starts_with("Atza|"));
        assert_eq!(body["expires_in"], 3600);
        assert!(body.get("refresh_token").is_none());
    }

    let response = token_request(&sandbox, &http, &grant("sellingpartnerapi::orders")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(response).await["error"], "invalid_scope");

    // A grantless token does not act for the seller.
    let body =
        json_of(token_request(&sandbox, &http, &grant("sellingpartnerapi::notifications")).await)
            .await;
    let grantless = body["access_token"].as_str().unwrap();
    let order_id = sandbox.control().order_ids().remove(0);
    let response = get_order(&sandbox, &http, Some(grantless), &order_id, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_client_credentials_are_invalid_client() {
    let (sandbox, http) = sandbox().await;
    for (client_id, secret) in [
        (DEFAULT_CLIENT_ID, "wrong-secret"),
        ("amzn1.application-oa2-client.other", DEFAULT_CLIENT_SECRET),
    ] {
        let response = token_request(
            &sandbox,
            &http,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", DEFAULT_REFRESH_TOKEN),
                ("client_id", client_id),
                ("client_secret", secret),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            json_of(response).await,
            json!({"error": "invalid_client", "error_description": "Client authentication failed"})
        );
    }
}

#[tokio::test]
async fn unknown_refresh_token_is_invalid_grant() {
    let (sandbox, http) = sandbox().await;
    let response = token_request(
        &sandbox,
        &http,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "Atzr|somebody-else"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(response).await,
        json!({
            "error": "invalid_grant",
            "error_description": "The request has an invalid grant parameter : refresh_token"
        })
    );
}

#[tokio::test]
async fn malformed_token_requests_are_rejected() {
    let (sandbox, http) = sandbox().await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[
                ("refresh_token", DEFAULT_REFRESH_TOKEN),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", DEFAULT_CLIENT_SECRET),
            ],
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "password"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", DEFAULT_CLIENT_SECRET),
            ],
            "unsupported_grant_type",
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", DEFAULT_CLIENT_SECRET),
            ],
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", DEFAULT_REFRESH_TOKEN),
                ("client_id", DEFAULT_CLIENT_ID),
            ],
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", DEFAULT_REFRESH_TOKEN),
                ("scope", "sellingpartnerapi::notifications"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", DEFAULT_CLIENT_SECRET),
            ],
            "invalid_request",
        ),
    ];
    for (form, expected) in cases {
        let response = token_request(&sandbox, &http, form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{form:?}");
        let body = json_of(response).await;
        assert_eq!(body["error"], expected, "{form:?}");
        assert!(body["error_description"].is_string());
    }
    // Not a form at all.
    let response = http
        .post(format!("{}/auth/o2/token", sandbox.base_url()))
        .body("grant_type=refresh_token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(response).await["error"], "invalid_request");
    assert_eq!(sandbox.control().stats().token.count(400), 6);
}

#[tokio::test]
async fn access_tokens_expire_after_an_hour() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order_id = sandbox.control().order_ids().remove(0);
    let control = sandbox.control();

    control.advance_clock(Duration::from_secs(3599));
    let response = get_order(&sandbox, &http, Some(&token), &order_id, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);

    control.advance_clock(Duration::from_secs(1));
    let response = get_order(&sandbox, &http, Some(&token), &order_id, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = json_of(response).await;
    assert_eq!(body["errors"][0]["code"], "Unauthorized");
    assert_eq!(
        body["errors"][0]["details"],
        "The access token you provided has expired."
    );

    // A fresh token works again on the advanced clock.
    let fresh = access_token(&sandbox, &http).await;
    let response = get_order(&sandbox, &http, Some(&fresh), &order_id, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);

    let stats = control.stats();
    assert_eq!(stats.token.requests, 2);
    assert_eq!(stats.get_order.requests, 3);
    assert_eq!(stats.get_order.count(200), 2);
    assert_eq!(stats.get_order.count(403), 1);
}

// ---------------------------------------------------------------------------------------------
// getOrder

#[tokio::test]
async fn included_data_decides_the_sections() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let full = first_mfn_unshipped(&sandbox);
    let order_id = full["orderId"].as_str().unwrap();

    let response = get_order(&sandbox, &http, Some(&token), order_id, &["RECIPIENT"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "x-amzn-RateLimit-Limit"), Some("0.5"));
    assert!(header(&response, "x-amzn-RequestId").is_some());
    let order = json_of(response).await["order"].clone();
    for required in ["orderId", "createdTime", "lastUpdatedTime", "salesChannel"] {
        assert_eq!(order[required], full[required], "{required}");
    }
    let item_ids = |o: &Value| -> Vec<Value> {
        o["orderItems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["orderItemId"].clone())
            .collect()
    };
    assert_eq!(item_ids(&order), item_ids(&full));
    assert_eq!(order["recipient"], full["recipient"]);
    assert!(order["recipient"]["deliveryAddress"]["phone"].is_string());
    for absent in [
        "buyer",
        "proceeds",
        "fulfillment",
        "packages",
        "payment",
        "tax",
    ] {
        assert!(order.get(absent).is_none(), "{absent} without its dataset");
    }
    let items = order["orderItems"].as_array().unwrap();
    assert!(items.len() > 1);
    for item in items {
        let keys: BTreeSet<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(keys.contains("orderItemId") && keys.contains("quantityOrdered"));
        assert!(keys.contains("product"));
        for absent in [
            "proceeds",
            "fulfillment",
            "promotion",
            "tax",
            "expense",
            "cancellation",
        ] {
            assert!(!keys.contains(absent), "item {absent} without its dataset");
        }
    }

    let response = get_order(&sandbox, &http, Some(&token), order_id, &["BUYER"]).await;
    let order = json_of(response).await["order"].clone();
    assert_eq!(order["buyer"], full["buyer"]);
    assert!(order["buyer"]["buyerEmail"].is_string());
    assert!(order.get("recipient").is_none());

    // Repeated parameters mean the same as a comma-separated list.
    let repeated = http
        .get(format!(
            "{}/orders/2026-01-01/orders/{order_id}?includedData=BUYER&includedData=FULFILLMENT",
            sandbox.base_url()
        ))
        .header("x-amz-access-token", &token)
        .send()
        .await
        .unwrap();
    let repeated = json_of(repeated).await;
    let listed = json_of(
        get_order(
            &sandbox,
            &http,
            Some(&token),
            order_id,
            &["BUYER", "FULFILLMENT"],
        )
        .await,
    )
    .await;
    assert_eq!(repeated, listed);
    assert_eq!(listed["order"]["fulfillment"], full["fulfillment"]);
    assert!(listed["order"]["orderItems"][0]["fulfillment"].is_object());
    assert_eq!(
        sandbox.control().stats().last_included_data,
        Some(vec!["BUYER".to_owned(), "FULFILLMENT".to_owned()])
    );

    // Every dataset: the whole stored order.
    let all =
        json_of(get_order(&sandbox, &http, Some(&token), order_id, &ALL_DATASETS).await).await;
    assert_eq!(all, json!({ "order": full }));
}

#[tokio::test]
async fn unknown_order_is_404() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let response = get_order(
        &sandbox,
        &http,
        Some(&token),
        "999-0000000-0000000",
        &["BUYER"],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(header(&response, "x-amzn-RequestId").is_some());
    let body = json_of(response).await;
    assert_eq!(body["errors"][0]["code"], "NotFound");
    assert!(body["errors"][0]["message"].is_string());
}

#[tokio::test]
async fn missing_or_unknown_token_is_403() {
    let (sandbox, http) = sandbox().await;
    let order_id = sandbox.control().order_ids().remove(0);
    let response = get_order(&sandbox, &http, None, &order_id, &["BUYER"]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(header(&response, "x-amzn-RequestId").is_some());
    assert_eq!(
        json_of(response).await,
        json!({"errors": [{
            "code": "Unauthorized",
            "message": "Access to requested resource is denied.",
            "details": ""
        }]})
    );
    let response = get_order(&sandbox, &http, Some("Atza|forged"), &order_id, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(response).await["errors"][0]["code"], "Unauthorized");
}

#[tokio::test]
async fn invalid_included_data_is_400() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order_id = sandbox.control().order_ids().remove(0);
    for bad in [&["BUYER", "ADDRESS"][..], &["buyer"][..]] {
        let response = get_order(&sandbox, &http, Some(&token), &order_id, bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(header(&response, "x-amzn-RateLimit-Limit"), Some("0.5"));
        assert_eq!(json_of(response).await["errors"][0]["code"], "InvalidInput");
    }
}

#[tokio::test]
async fn static_sandbox_cases_answer_as_in_the_model() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    for order_id in [
        "114-9876543-1234567",
        "171-9876543-2109876",
        "028-1234567-8901234",
    ] {
        let case = static_case(order_id);
        let included: Vec<&str> = case["request"]["parameters"]["includedData"]["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let response = get_order(&sandbox, &http, Some(&token), order_id, &included).await;
        assert_eq!(response.status(), StatusCode::OK, "{order_id}");
        assert_eq!(json_of(response).await, case["response"], "{order_id}");
    }
    // The canned order narrowed to fewer datasets.
    let response = get_order(
        &sandbox,
        &http,
        Some(&token),
        "114-9876543-1234567",
        &["RECIPIENT"],
    )
    .await;
    let order = json_of(response).await["order"].clone();
    assert_eq!(
        order["recipient"]["deliveryAddress"]["phone"],
        "+1 206 555 0100"
    );
    assert!(order.get("proceeds").is_none());

    let response = get_order(&sandbox, &http, Some(&token), "TEST_CASE_400", &[]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(response).await,
        json!({"errors": [{"code": "InvalidInput", "message": "Invalid Input"}]})
    );
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn throttling_answers_429_then_recovers() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order_id = sandbox.control().order_ids().remove(0);
    sandbox.control().inject(Op::GetOrder, Fault::Throttle, 2);
    for _ in 0..2 {
        let response = get_order(&sandbox, &http, Some(&token), &order_id, &["BUYER"]).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&response, "x-amzn-RateLimit-Limit"), Some("0.5"));
        assert!(header(&response, "x-amzn-RequestId").is_some());
        let body = json_of(response).await;
        assert_eq!(body["errors"][0]["code"], "QuotaExceeded");
        assert_eq!(
            body["errors"][0]["message"],
            "You exceeded your quota for the requested resource."
        );
    }
    let response = get_order(&sandbox, &http, Some(&token), &order_id, &["BUYER"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let stats = sandbox.control().stats();
    assert_eq!(stats.get_order.count(429), 2);
    assert_eq!(stats.get_order.count(200), 1);
}

#[tokio::test]
async fn server_faults_injected_over_http() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order_id = sandbox.control().order_ids().remove(0);
    for (fault, status, code) in [
        (
            "server_error",
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
        ),
        (
            "unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
        ),
    ] {
        let injected = http
            .post(format!("{}/_sandbox/faults", sandbox.base_url()))
            .json(&json!({"op": "getOrder", "fault": fault, "times": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(injected.status(), StatusCode::NO_CONTENT);
        let response = get_order(&sandbox, &http, Some(&token), &order_id, &[]).await;
        assert_eq!(response.status(), status);
        assert_eq!(json_of(response).await["errors"][0]["code"], code);
    }
    let response = get_order(&sandbox, &http, Some(&token), &order_id, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);

    let rejected = http
        .post(format!("{}/_sandbox/faults", sandbox.base_url()))
        .json(&json!({"op": "getOrder", "fault": "meteor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn token_endpoint_faults() {
    let (sandbox, http) = sandbox().await;
    sandbox.control().inject(Op::Token, Fault::Throttle, 1);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", DEFAULT_REFRESH_TOKEN),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
    ];
    let response = token_request(&sandbox, &http, &form).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(json_of(response).await["error"].is_string());
    let response = token_request(&sandbox, &http, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let stats = sandbox.control().stats();
    assert_eq!(stats.token.count(429), 1);
    assert_eq!(stats.token.count(200), 1);
    assert_eq!(stats.get_order.requests, 0);
}

#[tokio::test]
async fn down_mode_answers_503_until_cleared() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order_id = sandbox.control().order_ids().remove(0);
    let set_down = |down: bool| {
        http.post(format!("{}/_sandbox/down", sandbox.base_url()))
            .json(&json!({ "down": down }))
            .send()
    };
    assert_eq!(
        set_down(true).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    for _ in 0..3 {
        let response = get_order(&sandbox, &http, Some(&token), &order_id, &[]).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            json_of(response).await["errors"][0]["code"],
            "ServiceUnavailable"
        );
    }
    // Tokens are still issued while getOrder is down.
    access_token(&sandbox, &http).await;
    assert_eq!(
        set_down(false).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let response = get_order(&sandbox, &http, Some(&token), &order_id, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Control

#[tokio::test]
async fn put_order_roundtrip_with_canary_pii() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let mut order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap().to_owned();
    order["buyer"]["buyerName"] = json!("CANARY-Buyer-Name-7731");
    order["buyer"]["buyerEmail"] = json!("canary-7731@marketplace.amazon.com");
    order["recipient"]["deliveryAddress"]["addressLine1"] = json!("1 CANARY-Street-7731");
    order["recipient"]["deliveryAddress"]["phone"] = json!("+1 206-555-0177");
    order["fulfillment"]["fulfillmentStatus"] = json!("SHIPPED");
    order["lastUpdatedTime"] = json!("2099-01-01T00:00:00Z");

    let put = http
        .post(format!("{}/_sandbox/orders", sandbox.base_url()))
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    assert_eq!(sandbox.control().order(&order_id).as_ref(), Some(&order));

    let response = get_order(
        &sandbox,
        &http,
        Some(&token),
        &order_id,
        &["BUYER", "RECIPIENT", "FULFILLMENT"],
    )
    .await;
    let served = json_of(response).await["order"].clone();
    assert_eq!(served["buyer"]["buyerName"], "CANARY-Buyer-Name-7731");
    assert_eq!(
        served["recipient"]["deliveryAddress"]["addressLine1"],
        "1 CANARY-Street-7731"
    );
    assert_eq!(served["fulfillment"]["fulfillmentStatus"], "SHIPPED");
    assert_eq!(served["lastUpdatedTime"], "2099-01-01T00:00:00Z");

    // In-process: a brand-new order.
    let mut fresh = order.clone();
    fresh["orderId"] = json!("113-0000000-0000001");
    sandbox.control().put_order(fresh).unwrap();
    let response = get_order(&sandbox, &http, Some(&token), "113-0000000-0000001", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sandbox.control().orders().len(), 13);

    // Over HTTP: listed, readable, removable.
    let listed = json_of(
        http.get(format!("{}/_sandbox/orders", sandbox.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["sellerId"], DEFAULT_SELLER_ID);
    assert_eq!(listed["orders"].as_array().unwrap().len(), 13);
    let removed = http
        .delete(format!(
            "{}/_sandbox/orders/113-0000000-0000001",
            sandbox.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let response = get_order(&sandbox, &http, Some(&token), "113-0000000-0000001", &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // The model's required fields are enforced.
    let invalid = http
        .post(format!("{}/_sandbox/orders", sandbox.base_url()))
        .json(&json!({"orderId": "113-0000000-0000002"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn stats_and_reset_over_http() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let control = sandbox.control();
    let original_ids = control.order_ids();
    get_order(
        &sandbox,
        &http,
        Some(&token),
        &original_ids[0],
        &["TAX", "PAYMENT"],
    )
    .await;
    assert!(control.remove_order(&original_ids[1]));
    control.inject(Op::GetOrder, Fault::Throttle, 5);
    control.set_down(true);

    let stats: Stats = http
        .get(format!("{}/_sandbox/stats", sandbox.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.token.count(200), 1);
    assert_eq!(stats.get_order.count(200), 1);
    assert_eq!(
        stats.last_included_data,
        Some(vec!["TAX".to_owned(), "PAYMENT".to_owned()])
    );
    assert_eq!(stats, control.stats());

    let reset = http
        .post(format!("{}/_sandbox/reset", sandbox.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(control.order_ids(), original_ids);
    assert_eq!(control.stats(), Stats::default());
    // Neither down nor throttled any more; the token survived the reset.
    let response = get_order(&sandbox, &http, Some(&token), &original_ids[1], &[]).await;
    assert_eq!(response.status(), StatusCode::OK);

    control.reset_stats();
    assert_eq!(control.stats().get_order.requests, 0);
}

#[tokio::test]
async fn generated_orders_cover_the_cases() {
    let (sandbox, _http) = sandbox().await;
    let control = sandbox.control();
    let orders = control.orders();
    assert_eq!(orders.len(), 12);

    let fulfilled_by = |o: &Value| o["fulfillment"]["fulfilledBy"].as_str().unwrap().to_owned();
    let status = |o: &Value| {
        o["fulfillment"]["fulfillmentStatus"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let by: BTreeSet<String> = orders.iter().map(fulfilled_by).collect();
    assert_eq!(
        by,
        BTreeSet::from(["AMAZON".to_owned(), "MERCHANT".to_owned()])
    );

    let marketplaces: BTreeSet<&str> = orders
        .iter()
        .map(|o| o["salesChannel"]["marketplaceId"].as_str().unwrap())
        .collect();
    assert!(marketplaces.len() >= 3, "{marketplaces:?}");
    for (id, name, currency) in [
        ("ATVPDKIKX0DER", "Amazon.com", "USD"),
        ("A1PA6795UKMFR9", "Amazon.de", "EUR"),
        ("A1F83G8C2ARO7P", "Amazon.co.uk", "GBP"),
        ("A1VC38T7YXB528", "Amazon.co.jp", "JPY"),
        ("A2EUQ1WTGCTBG2", "Amazon.ca", "CAD"),
    ] {
        let order = orders
            .iter()
            .find(|o| o["salesChannel"]["marketplaceId"] == id)
            .unwrap_or_else(|| panic!("no order in {id}"));
        assert_eq!(order["salesChannel"]["marketplaceName"], name);
        assert_eq!(order["salesChannel"]["channelName"], "AMAZON");
        assert_eq!(
            order["orderItems"][0]["product"]["price"]["unitPrice"]["currencyCode"],
            currency
        );
    }

    assert!(
        orders
            .iter()
            .any(|o| o["orderItems"].as_array().unwrap().len() > 1)
    );
    assert!(orders.iter().any(|o| {
        o["orderItems"].as_array().unwrap().iter().any(|item| {
            item.pointer("/fulfillment/packing/giftOption/giftMessage")
                .and_then(Value::as_str)
                .is_some_and(|m| !m.is_empty())
        })
    }));
    let business = orders
        .iter()
        .find(|o| o.pointer("/buyer/buyerCompanyName").is_some())
        .expect("a business order");
    assert!(
        business["programs"]
            .as_array()
            .unwrap()
            .contains(&json!("AMAZON_BUSINESS"))
    );
    assert_eq!(
        business["orderItems"][0]["product"]["price"]["priceDesignation"],
        "BUSINESS_PRICE"
    );
    assert!(orders.iter().any(|o| status(o) == "CANCELLED"));
    assert!(orders.iter().any(|o| status(o) == "SHIPPED"));
    assert!(
        orders
            .iter()
            .any(|o| status(o) == "UNSHIPPED" && fulfilled_by(o) == "MERCHANT")
    );

    for order in &orders {
        let id = order["orderId"].as_str().unwrap();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [3, 7, 7], "{id}");
        for field in ["createdTime", "lastUpdatedTime"] {
            let value = order[field].as_str().unwrap();
            OffsetDateTime::parse(value, &Rfc3339).unwrap_or_else(|_| panic!("{field}: {value}"));
        }
        let address = &order["recipient"]["deliveryAddress"];
        if fulfilled_by(order) == "MERCHANT" && address.get("addressLine1").is_some() {
            assert!(address["phone"].is_string(), "MFN {id} has a phone");
        }
        if fulfilled_by(order) == "AMAZON" {
            assert!(address.get("phone").is_none(), "AFN {id} has no phone");
        }
        assert!(!order["orderItems"].as_array().unwrap().is_empty());
    }

    let refs = control.order_refs();
    assert_eq!(refs.len(), 12);
    assert!(refs.iter().all(|r| r.seller_id == DEFAULT_SELLER_ID));
    assert_eq!(
        refs.iter().map(|r| r.order_id.clone()).collect::<Vec<_>>(),
        control.order_ids()
    );
}

#[tokio::test]
async fn same_seed_same_orders() {
    let config = SandboxConfig {
        seed: 7,
        generated_orders: 20,
        ..SandboxConfig::default()
    };
    let a = spapi_sandbox::start(config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let b = spapi_sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(a.control().order_ids(), b.control().order_ids());
    assert_eq!(a.control().order_ids().len(), 20);
    let (default, _) = sandbox().await;
    assert_ne!(a.control().order_ids(), default.control().order_ids());
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let (sandbox, http) = sandbox().await;
    let url = format!("{}/_sandbox/stats", sandbox.base_url());
    assert!(http.get(&url).send().await.unwrap().status().is_success());
    sandbox.shutdown().await;
    let fresh = Client::new();
    assert!(fresh.get(&url).send().await.is_err());
}

// ---------------------------------------------------------------------------------------------
// confirmShipment (Orders API v0)

const ORDERS_V0_MODEL: &str = include_str!("../../../../shared/specs/spapi/ordersV0.json");
const CONFIRM_STATIC_ORDER_ID: &str = "902-1106328-1059050";

async fn confirm_shipment(
    sandbox: &Sandbox,
    http: &Client,
    token: Option<&str>,
    order_id: &str,
    body: &Value,
) -> Response {
    let mut request = http
        .post(format!(
            "{}/orders/v0/orders/{order_id}/shipmentConfirmation",
            sandbox.base_url()
        ))
        .json(body);
    if let Some(token) = token {
        request = request.header("x-amz-access-token", token);
    }
    request.send().await.unwrap()
}

/// A confirmShipment body for `order` shipping `items` (orderItemId, quantity) in one package.
fn confirmation(order: &Value, reference: &str, tracking: &str, items: &[(&str, u64)]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(id, quantity)| json!({"orderItemId": id, "quantity": quantity}))
        .collect();
    json!({
        "marketplaceId": order["salesChannel"]["marketplaceId"],
        "packageDetail": {
            "packageReferenceId": reference,
            "carrierCode": "UPS",
            "shippingMethod": "UPS Ground",
            "trackingNumber": tracking,
            "shipDate": "2026-02-03T16:30:00Z",
            "orderItems": items,
        }
    })
}

/// Every item of `order` with its full ordered quantity.
fn all_items(order: &Value) -> Vec<(String, u64)> {
    order["orderItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["orderItemId"].as_str().unwrap().to_owned(),
                item["quantityOrdered"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn borrowed(items: &[(String, u64)]) -> Vec<(&str, u64)> {
    items.iter().map(|(id, q)| (id.as_str(), *q)).collect()
}

async fn packages_and_fulfillment(
    sandbox: &Sandbox,
    http: &Client,
    token: &str,
    order_id: &str,
) -> Value {
    let response = get_order(
        sandbox,
        http,
        Some(token),
        order_id,
        &["PACKAGES", "FULFILLMENT"],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    json_of(response).await["order"].clone()
}

/// Asserts a 400 `InvalidInput` whose errors name exactly `paths` (in `details` and `message`)
/// and that none of `secrets` is echoed.
async fn assert_invalid(response: Response, paths: &[&str], secrets: &[&str]) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&response, "x-amzn-RateLimit-Limit"), Some("2.0"));
    assert!(header(&response, "x-amzn-RequestId").is_some());
    let text = response.text().await.unwrap();
    for secret in secrets {
        assert!(!text.contains(secret), "{text} echoes {secret}");
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    let errors = body["errors"].as_array().unwrap();
    let details: Vec<&str> = errors
        .iter()
        .map(|e| e["details"].as_str().unwrap())
        .collect();
    assert_eq!(details, paths, "{body}");
    for error in errors {
        assert_eq!(error["code"], "InvalidInput", "{body}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(error["details"].as_str().unwrap()),
            "{body}"
        );
    }
}

#[tokio::test]
async fn confirm_shipment_ships_the_order_and_get_order_shows_the_package() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let control = sandbox.control();
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let packages_before = order["packages"].as_array().map_or(0, Vec::len);
    let items = all_items(&order);
    let body = confirmation(&order, "1", "1Z999AA10123456784", &borrowed(&items));

    control.advance_clock(Duration::from_secs(120));
    let before = control.now() - time::Duration::seconds(1);
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "x-amzn-RateLimit-Limit"), Some("2.0"));
    assert!(header(&response, "x-amzn-RequestId").is_some());
    assert!(response.bytes().await.unwrap().is_empty());

    let served = packages_and_fulfillment(&sandbox, &http, &token, order_id).await;
    assert_eq!(served["fulfillment"]["fulfillmentStatus"], "SHIPPED");
    let updated =
        OffsetDateTime::parse(served["lastUpdatedTime"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(updated >= before && updated <= control.now(), "{updated}");
    let packages = served["packages"].as_array().unwrap();
    assert_eq!(packages.len(), packages_before + 1);
    let package = packages.last().unwrap();
    let package_items: Vec<Value> = items
        .iter()
        .map(|(id, q)| json!({"orderItemId": id, "quantity": q}))
        .collect();
    assert_eq!(package["packageReferenceId"], "1");
    assert_eq!(package["carrier"], "UPS");
    assert_eq!(package["shippingService"], "UPS Ground");
    assert_eq!(package["trackingNumber"], "1Z999AA10123456784");
    assert_eq!(package["shipTime"], "2026-02-03T16:30:00Z");
    assert_eq!(package["packageStatus"], json!({"status": "SHIPPED"}));
    assert_eq!(package["createdTime"], served["lastUpdatedTime"]);
    assert_eq!(package["packageItems"], json!(package_items));
    for item in served["orderItems"].as_array().unwrap() {
        assert_eq!(
            item["fulfillment"]["quantityFulfilled"],
            item["quantityOrdered"]
        );
        assert_eq!(item["fulfillment"]["quantityUnfulfilled"], 0);
    }
    // Everything else in the order is as before.
    let mut expected = order.clone();
    for key in ["fulfillment", "packages", "lastUpdatedTime", "orderItems"] {
        expected.as_object_mut().unwrap().remove(key);
    }
    let mut stored = control.order(order_id).unwrap();
    for key in ["fulfillment", "packages", "lastUpdatedTime", "orderItems"] {
        stored.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(stored, expected);
    // An order ref reflects it too (e.g. for an ORDER_CHANGE notification).
    let order_ref = control
        .order_refs()
        .into_iter()
        .find(|r| r.order_id == order_id)
        .unwrap();
    assert_eq!(order_ref.fulfillment_status.as_deref(), Some("SHIPPED"));

    // What the client sent, in process and over HTTP.
    assert_eq!(
        control.confirmations(),
        vec![(order_id.to_owned(), body.clone())]
    );
    let listed = json_of(
        http.get(format!("{}/_sandbox/confirmations", sandbox.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        listed,
        json!({"confirmations": [{"orderId": order_id, "body": body}]})
    );
    let stats = control.stats();
    assert_eq!(stats.confirm_shipment.requests, 1);
    assert_eq!(stats.confirm_shipment.count(204), 1);
    assert_eq!(stats.op(Op::ConfirmShipment), &stats.confirm_shipment);
    assert_eq!(stats.get_order.requests, 1);

    let cleared = http
        .delete(format!("{}/_sandbox/confirmations", sandbox.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(control.confirmations().is_empty());
    // Reset brings the unshipped order back.
    control.reset();
    assert_eq!(control.order(order_id).unwrap(), order);
}

#[tokio::test]
async fn confirm_shipment_missing_carrier_code_is_400_naming_the_field() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let items = all_items(&order);
    let mut body = confirmation(&order, "7", "TRK-SECRET-0042", &borrowed(&items));
    body["packageDetail"]
        .as_object_mut()
        .unwrap()
        .remove("carrierCode");
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_invalid(
        response,
        &["packageDetail.carrierCode"],
        &["TRK-SECRET-0042", "UPS Ground"],
    )
    .await;

    // Several problems at once, each by path; values never echoed.
    body["packageDetail"]["carrierCode"] = json!("UPS");
    body["packageDetail"]["shipDate"] = json!("03/02/2026 SECRET");
    body["packageDetail"]["orderItems"][0]["quantity"] = json!(0);
    body["packageDetail"]
        .as_object_mut()
        .unwrap()
        .remove("trackingNumber");
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_invalid(
        response,
        &[
            "packageDetail.trackingNumber",
            "packageDetail.shipDate",
            "packageDetail.orderItems[0].quantity",
        ],
        &["SECRET"],
    )
    .await;

    // Not JSON at all.
    let response = http
        .post(format!(
            "{}/orders/v0/orders/{order_id}/shipmentConfirmation",
            sandbox.base_url()
        ))
        .header("x-amz-access-token", &token)
        .body("marketplaceId=ATVPDKIKX0DER")
        .send()
        .await
        .unwrap();
    assert_invalid(response, &["payload"], &["ATVPDKIKX0DER"]).await;
    assert_eq!(
        sandbox.control().confirmations().last().unwrap().1,
        json!("marketplaceId=ATVPDKIKX0DER")
    );

    // Nothing changed.
    assert_eq!(sandbox.control().order(order_id).unwrap(), order);
    assert_eq!(sandbox.control().stats().confirm_shipment.count(400), 3);
}

#[tokio::test]
async fn confirm_shipment_carrier_other_needs_carrier_name() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let items = all_items(&order);
    let mut body = confirmation(&order, "1", "LC-00012345", &borrowed(&items));
    // A carrier Amazon does not list cannot be named as a code, nor a listed one misspelt.
    for unlisted in ["Local Courier Co", "fedex"] {
        body["packageDetail"]["carrierCode"] = json!(unlisted);
        let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
        assert_invalid(response, &["packageDetail.carrierCode"], &["LC-00012345"]).await;
    }
    body["packageDetail"]["carrierCode"] = json!("Other");
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_invalid(response, &["packageDetail.carrierName"], &["LC-00012345"]).await;

    // With a carrier name, the package's carrier is that name.
    body["packageDetail"]["carrierName"] = json!("Local Courier Co");
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let served = packages_and_fulfillment(&sandbox, &http, &token, order_id).await;
    let package = served["packages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(package["carrier"], "Local Courier Co");
}

#[tokio::test]
async fn confirm_shipment_unknown_item_is_400() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let items = all_items(&order);
    let body = confirmation(
        &order,
        "1",
        "1Z999AA10123456784",
        &[(items[0].0.as_str(), 1), ("99999999999999", 1)],
    );
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_invalid(
        response,
        &["packageDetail.orderItems[1].orderItemId"],
        &["99999999999999"],
    )
    .await;
    assert_eq!(sandbox.control().order(order_id).unwrap(), order);
}

#[tokio::test]
async fn confirm_shipment_quantity_above_ordered_is_400() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let items = all_items(&order);
    let (id, ordered) = &items[0];
    let body = confirmation(
        &order,
        "1",
        "1Z999AA10123456784",
        &[(id.as_str(), ordered + 1)],
    );
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_invalid(response, &["packageDetail.orderItems[0].quantity"], &[]).await;
    assert_eq!(sandbox.control().order(order_id).unwrap(), order);
}

#[tokio::test]
async fn confirm_shipment_refuses_cancelled_and_amazon_fulfilled_orders() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let orders = sandbox.control().orders();
    let status = |o: &Value| o["fulfillment"]["fulfillmentStatus"].clone();
    let cancelled = orders
        .iter()
        .find(|o| status(o) == "CANCELLED" && o["fulfillment"]["fulfilledBy"] == "MERCHANT")
        .expect("a canceled MFN order");
    let afn = orders
        .iter()
        .find(|o| o["fulfillment"]["fulfilledBy"] == "AMAZON" && status(o) != "SHIPPED")
        .expect("an AFN order not shipped");
    for (order, expected) in [(cancelled, "cancelled"), (afn, "merchant-fulfilled")] {
        let order_id = order["orderId"].as_str().unwrap();
        let items = all_items(order);
        let body = confirmation(order, "1", "1Z999AA10123456784", &borrowed(&items));
        let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{order_id}");
        let error = json_of(response).await["errors"][0].clone();
        assert_eq!(error["code"], "InvalidInput");
        assert!(
            error["message"].as_str().unwrap().contains(expected),
            "{error}"
        );
        assert_eq!(error["details"], "orderId");
        assert_eq!(sandbox.control().order(order_id).as_ref(), Some(order));
    }
}

#[tokio::test]
async fn confirm_shipment_wrong_marketplace_is_400_and_unknown_order_404() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let items = all_items(&order);
    let mut body = confirmation(&order, "1", "1Z999AA10123456784", &borrowed(&items));
    body["marketplaceId"] = json!("A1PA6795UKMFR9");
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_invalid(response, &["marketplaceId"], &["A1PA6795UKMFR9"]).await;
    assert_eq!(sandbox.control().order(order_id).unwrap(), order);

    let response =
        confirm_shipment(&sandbox, &http, Some(&token), "999-0000000-0000000", &body).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&response, "x-amzn-RateLimit-Limit"), Some("2.0"));
    assert_eq!(json_of(response).await["errors"][0]["code"], "NotFound");
    let stats = sandbox.control().stats();
    assert_eq!(stats.confirm_shipment.count(400), 1);
    assert_eq!(stats.confirm_shipment.count(404), 1);
}

#[tokio::test]
async fn confirm_shipment_without_seller_token_is_403() {
    let (sandbox, http) = sandbox().await;
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let items = all_items(&order);
    let body = confirmation(&order, "1", "1Z999AA10123456784", &borrowed(&items));

    let response = confirm_shipment(&sandbox, &http, None, order_id, &body).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(header(&response, "x-amzn-RequestId").is_some());
    assert_eq!(
        json_of(response).await,
        json!({"errors": [{
            "code": "Unauthorized",
            "message": "Access to requested resource is denied.",
            "details": ""
        }]})
    );
    let response = confirm_shipment(&sandbox, &http, Some("Atza|forged"), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A grantless token does not act for the seller either.
    let grantless = json_of(
        token_request(
            &sandbox,
            &http,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "sellingpartnerapi::notifications"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", DEFAULT_CLIENT_SECRET),
            ],
        )
        .await,
    )
    .await;
    let grantless = grantless["access_token"].as_str().unwrap();
    let response = confirm_shipment(&sandbox, &http, Some(grantless), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    assert_eq!(sandbox.control().order(order_id).unwrap(), order);
    assert_eq!(sandbox.control().stats().confirm_shipment.count(403), 3);
    // Refused requests are still recorded as received.
    assert_eq!(sandbox.control().confirmations().len(), 3);
}

#[tokio::test]
async fn confirm_shipment_repeat_is_idempotent() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let control = sandbox.control();
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let items = all_items(&order);
    let (id, ordered) = &items[0];
    let body = confirmation(
        &order,
        "1",
        "1Z999AA10123456784",
        &[(id.as_str(), *ordered)],
    );

    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let after_first = control.order(order_id).unwrap();

    control.advance_clock(Duration::from_secs(600));
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Nothing counted twice, not even the update time.
    assert_eq!(control.order(order_id).unwrap(), after_first);

    // The same package reference with another tracking number edits the package (Amazon:
    // re-confirming a package edits it): one package, its units not counted twice.
    let other = confirmation(
        &order,
        "1",
        "1Z999AA10999999999",
        &[(id.as_str(), *ordered)],
    );
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &other).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let edited = control.order(order_id).unwrap();
    let packages = edited["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0]["trackingNumber"], "1Z999AA10999999999");
    assert_eq!(edited["orderItems"], after_first["orderItems"]);
    assert_eq!(
        edited["fulfillment"]["fulfillmentStatus"],
        after_first["fulfillment"]["fulfillmentStatus"]
    );
    // An edit still cannot ship more than the order has.
    let too_many = confirmation(
        &order,
        "1",
        "1Z999AA10999999999",
        &[(id.as_str(), *ordered + 1)],
    );
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &too_many).await;
    assert_invalid(
        response,
        &["packageDetail.orderItems[0].quantity"],
        &["1Z999AA10999999999"],
    )
    .await;
    assert_eq!(control.order(order_id).unwrap(), edited);

    assert_eq!(control.confirmations().len(), 4);
    let stats = control.stats();
    assert_eq!(stats.confirm_shipment.count(204), 3);
    assert_eq!(stats.confirm_shipment.count(400), 1);
}

#[tokio::test]
async fn confirm_shipment_partial_then_complete() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let items = all_items(&order);
    assert!(items.len() > 1);

    // First package: the first item only. Unknown properties are accepted (the model does not
    // forbid them) and recorded as sent.
    let mut first = confirmation(
        &order,
        "1",
        "1Z999AA10000000001",
        &[(items[0].0.as_str(), items[0].1)],
    );
    first["packageDetail"]["x-extra"] = json!("ignored");
    first["packageDetail"]["orderItems"][0]["transparencyCodes"] = json!(["AZ:0001"]);
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &first).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let served = packages_and_fulfillment(&sandbox, &http, &token, order_id).await;
    assert_eq!(
        served["fulfillment"]["fulfillmentStatus"],
        "PARTIALLY_SHIPPED"
    );
    let package = served["packages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        package["packageItems"],
        json!([{"orderItemId": items[0].0, "quantity": items[0].1, "transparencyCodes": ["AZ:0001"]}])
    );
    assert!(package.get("x-extra").is_none());
    let item = |served: &Value, index: usize| served["orderItems"][index]["fulfillment"].clone();
    assert_eq!(item(&served, 0)["quantityFulfilled"], items[0].1);
    assert_eq!(item(&served, 1)["quantityFulfilled"], 0);
    assert_eq!(item(&served, 1)["quantityUnfulfilled"], items[1].1);

    // The first item is fully confirmed: one more unit of it is too many.
    let again = confirmation(
        &order,
        "2",
        "1Z999AA10000000002",
        &[(items[0].0.as_str(), 1)],
    );
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &again).await;
    assert_invalid(response, &["packageDetail.orderItems[0].quantity"], &[]).await;

    // The rest, one unit at a time for the last item where it has several: accumulates.
    let rest = &items[1..];
    let (last_id, last_quantity) = rest.last().unwrap();
    let mut second: Vec<(&str, u64)> = borrowed(rest);
    let second_last = second.last_mut().unwrap();
    second_last.1 = last_quantity - 1;
    let second: Vec<(&str, u64)> = second.into_iter().filter(|(_, q)| *q > 0).collect();
    if !second.is_empty() {
        let body = confirmation(&order, "2", "1Z999AA10000000002", &second);
        let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let served = packages_and_fulfillment(&sandbox, &http, &token, order_id).await;
        assert_eq!(
            served["fulfillment"]["fulfillmentStatus"],
            "PARTIALLY_SHIPPED"
        );
    }
    let body = confirmation(&order, "3", "1Z999AA10000000003", &[(last_id.as_str(), 1)]);
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let served = packages_and_fulfillment(&sandbox, &http, &token, order_id).await;
    assert_eq!(served["fulfillment"]["fulfillmentStatus"], "SHIPPED");
    let references: Vec<&str> = served["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["packageReferenceId"].as_str().unwrap())
        .collect();
    let expected: &[&str] = if second.is_empty() {
        &["1", "3"]
    } else {
        &["1", "2", "3"]
    };
    assert_eq!(references, expected);
    for (index, (_, ordered)) in items.iter().enumerate() {
        assert_eq!(item(&served, index)["quantityFulfilled"], *ordered);
        assert_eq!(item(&served, index)["quantityUnfulfilled"], 0);
    }
}

#[tokio::test]
async fn confirm_shipment_injected_503_then_success() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let control = sandbox.control();
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let items = all_items(&order);
    let body = confirmation(&order, "1", "1Z999AA10123456784", &borrowed(&items));

    control.inject(Op::ConfirmShipment, Fault::Unavailable, 1);
    // Faults for confirmShipment leave getOrder alone.
    let response = get_order(&sandbox, &http, Some(&token), order_id, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&response, "x-amzn-RequestId").is_some());
    assert_eq!(
        json_of(response).await["errors"][0]["code"],
        "ServiceUnavailable"
    );
    assert_eq!(control.order(order_id).unwrap(), order);

    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        control.order(order_id).unwrap()["fulfillment"]["fulfillmentStatus"],
        "SHIPPED"
    );
    // The retry sent the same body.
    assert_eq!(
        control.confirmations(),
        vec![
            (order_id.to_owned(), body.clone()),
            (order_id.to_owned(), body.clone())
        ]
    );

    // Throttling injected over HTTP by its JSON name, and down mode.
    let injected = http
        .post(format!("{}/_sandbox/faults", sandbox.base_url()))
        .json(&json!({"op": "confirmShipment", "fault": "throttle", "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), StatusCode::NO_CONTENT);
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, "x-amzn-RateLimit-Limit"), Some("2.0"));
    control.set_down(true);
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    control.set_down(false);
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let stats: Stats = http
        .get(format!("{}/_sandbox/stats", sandbox.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.confirm_shipment.requests, 5);
    assert_eq!(stats.confirm_shipment.count(503), 2);
    assert_eq!(stats.confirm_shipment.count(429), 1);
    assert_eq!(stats.confirm_shipment.count(204), 2);
    assert_eq!(stats.get_order.requests, 1);
}

#[tokio::test]
async fn confirm_shipment_static_sandbox_cases_answer_as_in_the_model() {
    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let model: Value = serde_json::from_str(ORDERS_V0_MODEL).unwrap();
    let responses = model
        .pointer("/paths/~1orders~1v0~1orders~1{orderId}~1shipmentConfirmation/post/responses")
        .unwrap();
    let case = |status: &str| responses[status]["x-amzn-api-sandbox"]["static"][0].clone();
    let accepted = case("204");
    let refused = case("400");
    assert_eq!(
        accepted["request"]["parameters"]["orderId"]["value"],
        CONFIRM_STATIC_ORDER_ID
    );

    let body = &accepted["request"]["parameters"]["body"]["value"];
    let response =
        confirm_shipment(&sandbox, &http, Some(&token), CONFIRM_STATIC_ORDER_ID, body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "x-amzn-RateLimit-Limit"), Some("2.0"));

    let body = &refused["request"]["parameters"]["body"]["value"];
    let response =
        confirm_shipment(&sandbox, &http, Some(&token), CONFIRM_STATIC_ORDER_ID, body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(response).await, refused["response"]);
    assert_eq!(
        refused["response"],
        json!({"errors": [{"code": "Invalid Input", "message": "Invalid Input"}]})
    );

    // A valid body the model has no case for: Amazon's sandbox cannot match it.
    let mut other = accepted["request"]["parameters"]["body"]["value"].clone();
    other["packageDetail"]["trackingNumber"] = json!("999999999");
    let response = confirm_shipment(
        &sandbox,
        &http,
        Some(&token),
        CONFIRM_STATIC_ORDER_ID,
        &other,
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(response).await["errors"][0]["code"], "InvalidInput");
    // An invalid one gets the field-level errors.
    other["packageDetail"]
        .as_object_mut()
        .unwrap()
        .remove("carrierCode");
    let response = confirm_shipment(
        &sandbox,
        &http,
        Some(&token),
        CONFIRM_STATIC_ORDER_ID,
        &other,
    )
    .await;
    assert_invalid(response, &["packageDetail.carrierCode"], &[]).await;

    // Still a token is needed, and the static order is not a stored order.
    let response = confirm_shipment(&sandbox, &http, None, CONFIRM_STATIC_ORDER_ID, body).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        !sandbox
            .control()
            .order_ids()
            .contains(&CONFIRM_STATIC_ORDER_ID.to_owned())
    );
}

/// The request log names the path and the status, never a body.
#[tokio::test]
async fn request_log_carries_no_confirmation_bodies() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only test installing a subscriber");

    let (sandbox, http) = sandbox().await;
    let token = access_token(&sandbox, &http).await;
    let order = first_mfn_unshipped(&sandbox);
    let order_id = order["orderId"].as_str().unwrap();
    let items = all_items(&order);
    let mut body = confirmation(&order, "1", "CANARY-TRK-5521", &borrowed(&items));
    body["packageDetail"]["carrierCode"] = json!("Other");
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    body["packageDetail"]["carrierName"] = json!("CANARY-Carrier-5521");
    let response = confirm_shipment(&sandbox, &http, Some(&token), order_id, &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let path = format!("/orders/v0/orders/{order_id}/shipmentConfirmation");
    assert!(log.contains(&path), "{log}");
    assert!(log.contains("status=204"), "{log}");
    assert!(!log.contains("CANARY"), "{log}");
    assert!(!log.contains("UPS Ground"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// Several sellers; the Notifications API.

const SECOND_SELLER: &str = "A2SECONDSELLER1";
const SECOND_TOKEN: &str = "Atzr|second-seller-token";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:000000000000:orderseal-notifications";

async fn two_sellers() -> (Sandbox, Client) {
    let config = SandboxConfig {
        generated_orders: 3,
        other_sellers: vec![spapi_sandbox::SellerAccount {
            seller_id: SECOND_SELLER.to_owned(),
            refresh_token: SECOND_TOKEN.to_owned(),
            generated_orders: 2,
        }],
        ..SandboxConfig::default()
    };
    let sandbox = spapi_sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts");
    (sandbox, Client::new())
}

async fn token_for(sandbox: &Sandbox, http: &Client, refresh_token: &str) -> String {
    let response = token_request(
        sandbox,
        http,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    json_of(response).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn grantless_token(sandbox: &Sandbox, http: &Client) -> String {
    let response = token_request(
        sandbox,
        http,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "sellingpartnerapi::notifications"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    json_of(response).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn notifications(
    sandbox: &Sandbox,
    http: &Client,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let mut request = http
        .request(
            method,
            format!("{}/notifications/v1{path}", sandbox.base_url()),
        )
        .header("x-amz-access-token", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn each_seller_sees_only_its_own_orders() {
    let (sandbox, http) = two_sellers().await;
    let refs = sandbox.control().order_refs();
    let theirs: Vec<_> = refs
        .iter()
        .filter(|r| r.seller_id == SECOND_SELLER)
        .collect();
    let ours: Vec<_> = refs
        .iter()
        .filter(|r| r.seller_id == DEFAULT_SELLER_ID)
        .collect();
    assert_eq!((ours.len(), theirs.len()), (3, 2), "{refs:?}");
    let first = token_for(&sandbox, &http, DEFAULT_REFRESH_TOKEN).await;
    let second = token_for(&sandbox, &http, SECOND_TOKEN).await;
    let their_order = &theirs[0].order_id;
    let response = get_order(&sandbox, &http, Some(&second), their_order, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = get_order(&sandbox, &http, Some(&first), their_order, &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = get_order(&sandbox, &http, Some(&second), &ours[0].order_id, &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // An order posted for the second seller is its own.
    let mut order = sandbox.control().order(their_order).unwrap();
    order["orderId"] = json!("902-0000000-0000009");
    let posted = http
        .post(format!(
            "{}/_sandbox/orders?sellerId={SECOND_SELLER}",
            sandbox.base_url()
        ))
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::NO_CONTENT);
    let response = get_order(&sandbox, &http, Some(&second), "902-0000000-0000009", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = get_order(&sandbox, &http, Some(&first), "902-0000000-0000009", &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let listed = json_of(
        http.get(format!("{}/_sandbox/orders", sandbox.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["sellers"], json!([DEFAULT_SELLER_ID, SECOND_SELLER]));
}

#[tokio::test]
async fn destinations_are_grantless_and_unique_per_queue() {
    let (sandbox, http) = two_sellers().await;
    let grantless = grantless_token(&sandbox, &http).await;
    let seller = token_for(&sandbox, &http, DEFAULT_REFRESH_TOKEN).await;
    let body = json!({"name": "orderseal", "resourceSpecification": {"sqs": {"arn": QUEUE_ARN}}});
    let refused = notifications(
        &sandbox,
        &http,
        reqwest::Method::POST,
        "/destinations",
        &seller,
        Some(body.clone()),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let created = notifications(
        &sandbox,
        &http,
        reqwest::Method::POST,
        "/destinations",
        &grantless,
        Some(body.clone()),
    )
    .await;
    assert_eq!(created.status(), StatusCode::OK);
    let created = json_of(created).await;
    assert_eq!(created["payload"]["resource"]["sqs"]["arn"], QUEUE_ARN);
    let again = notifications(
        &sandbox,
        &http,
        reqwest::Method::POST,
        "/destinations",
        &grantless,
        Some(body),
    )
    .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(json_of(again).await["errors"][0]["code"], "Conflict");
    let bad = notifications(
        &sandbox,
        &http,
        reqwest::Method::POST,
        "/destinations",
        &grantless,
        Some(json!({"name": "x", "resourceSpecification": {"sqs": {"arn": "arn:aws:sns:x:y:z"}}})),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let listed = notifications(
        &sandbox,
        &http,
        reqwest::Method::GET,
        "/destinations",
        &grantless,
        None,
    )
    .await;
    let listed = json_of(listed).await;
    assert_eq!(listed["payload"].as_array().unwrap().len(), 1);
    let id = created["payload"]["destinationId"].as_str().unwrap();
    let deleted = notifications(
        &sandbox,
        &http,
        reqwest::Method::DELETE,
        &format!("/destinations/{id}"),
        &grantless,
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert!(sandbox.control().destinations().is_empty());
    let stats = sandbox.control().stats();
    assert_eq!(stats.notification_op("createDestination").count(409), 1);
    assert_eq!(stats.notification_op("createDestination").count(403), 1);
}

#[tokio::test]
async fn subscriptions_are_one_per_seller_and_type() {
    let (sandbox, http) = two_sellers().await;
    let grantless = grantless_token(&sandbox, &http).await;
    let created = notifications(
        &sandbox,
        &http,
        reqwest::Method::POST,
        "/destinations",
        &grantless,
        Some(json!({"name": "orderseal", "resourceSpecification": {"sqs": {"arn": QUEUE_ARN}}})),
    )
    .await;
    let destination = json_of(created).await["payload"]["destinationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"payloadVersion": "1.0", "destinationId": destination});
    let mut ids = Vec::new();
    for refresh in [DEFAULT_REFRESH_TOKEN, SECOND_TOKEN] {
        let token = token_for(&sandbox, &http, refresh).await;
        let missing = notifications(
            &sandbox,
            &http,
            reqwest::Method::GET,
            "/subscriptions/ORDER_CHANGE",
            &token,
            None,
        )
        .await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let created = notifications(
            &sandbox,
            &http,
            reqwest::Method::POST,
            "/subscriptions/ORDER_CHANGE",
            &token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(created.status(), StatusCode::OK);
        let created = json_of(created).await;
        assert_eq!(created["payload"]["destinationId"], destination.as_str());
        ids.push(
            created["payload"]["subscriptionId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        let again = notifications(
            &sandbox,
            &http,
            reqwest::Method::POST,
            "/subscriptions/ORDER_CHANGE",
            &token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        let found = notifications(
            &sandbox,
            &http,
            reqwest::Method::GET,
            "/subscriptions/ORDER_CHANGE",
            &token,
            None,
        )
        .await;
        assert_eq!(
            json_of(found).await["payload"]["subscriptionId"],
            ids.last().unwrap().as_str()
        );
    }
    assert_ne!(ids[0], ids[1]);
    let subscriptions = sandbox.control().subscriptions();
    assert_eq!(
        subscriptions
            .iter()
            .map(|s| s.seller_id.as_str())
            .collect::<Vec<_>>(),
        [DEFAULT_SELLER_ID, SECOND_SELLER]
    );
    // An unknown destination is refused; deleting by id is grantless.
    let token = token_for(&sandbox, &http, DEFAULT_REFRESH_TOKEN).await;
    let bad = notifications(
        &sandbox,
        &http,
        reqwest::Method::POST,
        "/subscriptions/FBA_OUTBOUND_SHIPMENT_STATUS",
        &token,
        Some(json!({"payloadVersion": "1.0", "destinationId": "nope"})),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let path = format!("/subscriptions/ORDER_CHANGE/{}", ids[0]);
    let refused = notifications(
        &sandbox,
        &http,
        reqwest::Method::DELETE,
        &path,
        &token,
        None,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let deleted = notifications(
        &sandbox,
        &http,
        reqwest::Method::DELETE,
        &path,
        &grantless,
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let gone = notifications(
        &sandbox,
        &http,
        reqwest::Method::GET,
        &path,
        &grantless,
        None,
    )
    .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(sandbox.control().subscriptions().len(), 1);
}

#[tokio::test]
async fn notifications_operations_keep_to_one_a_second_burst_five() {
    let (sandbox, http) = two_sellers().await;
    let grantless = grantless_token(&sandbox, &http).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let response = notifications(
            &sandbox,
            &http,
            reqwest::Method::GET,
            "/destinations",
            &grantless,
            None,
        )
        .await;
        statuses.push(response.status().as_u16());
    }
    // Seven back to back: the burst of five, then throttled (the refill of one a second
    // cannot add a whole slot within a few milliseconds).
    assert_eq!(&statuses[..5], &[200; 5]);
    assert_eq!(statuses[6], 429, "{statuses:?}");
    let throttled = sandbox
        .control()
        .stats()
        .notification_op("getDestinations")
        .count(429);
    assert!(throttled >= 1);
}

// ---------------------------------------------------------------------------------------------
// searchOrders

async fn search(
    sandbox: &Sandbox,
    http: &Client,
    token: &str,
    query: &[(&str, String)],
) -> Response {
    http.get(format!("{}/orders/2026-01-01/orders", sandbox.base_url()))
        .header("x-amz-access-token", token)
        .query(query)
        .send()
        .await
        .unwrap()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

#[tokio::test]
async fn search_orders_pages_a_sellers_orders_and_checks_its_tokens() {
    let (sandbox, http) = two_sellers().await;
    let control = sandbox.control();
    control.advance_clock(Duration::from_secs(600));
    let token = token_for(&sandbox, &http, DEFAULT_REFRESH_TOKEN).await;
    let after = rfc3339(OffsetDateTime::now_utc() - time::Duration::days(30));
    let before = rfc3339(OffsetDateTime::now_utc() + time::Duration::minutes(5));
    let base = vec![
        ("lastUpdatedAfter", after.clone()),
        ("lastUpdatedBefore", before.clone()),
        ("maxResultsPerPage", "2".to_owned()),
        ("includedData", "FULFILLMENT".to_owned()),
    ];
    let mut seen = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let mut query = base.clone();
        if let Some(p) = &page {
            query.push(("paginationToken", p.clone()));
        }
        let response = search(&sandbox, &http, &token, &query).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = json_of(response).await;
        for order in body["orders"].as_array().unwrap() {
            assert!(order.get("buyer").is_none() && order.get("recipient").is_none());
            assert!(order.get("fulfillment").is_some());
            seen.push(order["orderId"].as_str().unwrap().to_owned());
        }
        assert_eq!(body["lastUpdatedBefore"], before.as_str());
        match body["pagination"]["nextToken"].as_str() {
            Some(next) => page = Some(next.to_owned()),
            None => break,
        }
    }
    // The primary seller's three orders, each once; not the second seller's.
    let mut own: Vec<String> = control
        .order_refs()
        .into_iter()
        .filter(|r| r.seller_id == DEFAULT_SELLER_ID)
        .map(|r| r.order_id)
        .collect();
    own.sort();
    seen.sort();
    assert_eq!(seen, own);

    // A token is for the parameters it was issued with, for 24 hours.
    let first = json_of(search(&sandbox, &http, &token, &base).await).await;
    let next = first["pagination"]["nextToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut other = base.clone();
    other.push(("marketplaceIds", "A1PA6795UKMFR9".to_owned()));
    other.push(("paginationToken", next.clone()));
    assert_eq!(
        search(&sandbox, &http, &token, &other).await.status(),
        StatusCode::BAD_REQUEST
    );
    control.advance_clock(Duration::from_secs(24 * 3600));
    let fresh = token_for(&sandbox, &http, DEFAULT_REFRESH_TOKEN).await;
    let mut stale = base.clone();
    stale.push(("paginationToken", next));
    let expired = search(&sandbox, &http, &fresh, &stale).await;
    assert_eq!(expired.status(), StatusCode::BAD_REQUEST);
    assert!(
        json_of(expired).await["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // The model's rules: exactly one "after", a "before" at least two minutes back.
    let neither = search(
        &sandbox,
        &http,
        &fresh,
        &[("maxResultsPerPage", "5".to_owned())],
    )
    .await;
    assert_eq!(neither.status(), StatusCode::BAD_REQUEST);
    let too_late = search(
        &sandbox,
        &http,
        &fresh,
        &[
            ("lastUpdatedAfter", after.clone()),
            ("lastUpdatedBefore", rfc3339(control.now())),
        ],
    )
    .await;
    assert_eq!(too_late.status(), StatusCode::BAD_REQUEST);
    let page_too_big = search(
        &sandbox,
        &http,
        &fresh,
        &[
            ("lastUpdatedAfter", after),
            ("maxResultsPerPage", "101".to_owned()),
        ],
    )
    .await;
    assert_eq!(page_too_big.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn search_orders_allows_a_burst_of_twenty_per_seller() {
    let (sandbox, http) = two_sellers().await;
    let first = token_for(&sandbox, &http, DEFAULT_REFRESH_TOKEN).await;
    let second = token_for(&sandbox, &http, SECOND_TOKEN).await;
    let query = [(
        "lastUpdatedAfter",
        rfc3339(OffsetDateTime::now_utc() - time::Duration::days(1)),
    )];
    for _ in 0..20 {
        assert_eq!(
            search(&sandbox, &http, &first, &query).await.status(),
            StatusCode::OK
        );
    }
    let over = search(&sandbox, &http, &first, &query).await;
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&over, "x-amzn-RateLimit-Limit"), Some("0.0056"));
    // Another seller's plan is its own.
    assert_eq!(
        search(&sandbox, &http, &second, &query).await.status(),
        StatusCode::OK
    );
    assert_eq!(sandbox.control().stats().search_orders.count(429), 1);
}
