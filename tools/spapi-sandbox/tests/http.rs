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
