//! The sandbox over real HTTP, as its clients see it.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use carrier_sandbox::{Api, DEFAULT_EASYPOST_API_KEY, DEFAULT_GENERIC_API_KEY, Fault, Route};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use support::*;

/// A client that gives up long before the sandbox answers a `Timeout` fault.
fn impatient(request: RequestBuilder) -> RequestBuilder {
    request.timeout(Duration::from_millis(200))
}

const SLOW: Fault = Fault::Timeout(Duration::from_millis(800));

async fn assert_label_pdf(h: &Harness, label_url: &str) {
    assert!(
        label_url.starts_with(&format!("{}/labels/", h.sandbox.base_url())),
        "{label_url}"
    );
    assert!(label_url.ends_with(".pdf"), "{label_url}");
    let response = h.get(label_url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[CONTENT_TYPE].to_str().unwrap(),
        "application/pdf"
    );
    let pdf = response.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4"));
    let text = String::from_utf8_lossy(&pdf);
    // Like a real label: the recipient's name and address, nothing else about the buyer.
    assert!(text.contains(RECIPIENT), "{text}");
    assert!(!text.contains(RECIPIENT_PHONE), "{text}");
    assert!(!text.contains(RECIPIENT_EMAIL), "{text}");
}

// ---------------------------------------------------------------------------------------------
// EasyPost

#[tokio::test]
async fn easypost_create_and_buy_have_the_documented_shapes() {
    let h = Harness::new().await;
    let shipment = easypost_created(&h, "US", 12.0).await;
    assert!(is_hex_id(&shipment["id"], "shp_"), "{}", shipment["id"]);
    assert_eq!(shipment["object"], "Shipment");
    assert_eq!(shipment["mode"], "test");
    assert_eq!(shipment["reference"], "os-ep-0001");
    assert!(is_hex_id(&shipment["to_address"]["id"], "adr_"));
    assert_eq!(shipment["to_address"]["object"], "Address");
    assert_eq!(shipment["to_address"]["name"], RECIPIENT);
    assert_eq!(shipment["to_address"]["zip"], "62701");
    assert_eq!(shipment["to_address"]["residential"], true);
    assert!(is_hex_id(&shipment["from_address"]["id"], "adr_"));
    assert_eq!(shipment["from_address"]["company"], "Orderseal Demo Seller");
    assert!(is_hex_id(&shipment["parcel"]["id"], "prcl_"));
    assert_eq!(shipment["parcel"]["weight"], 12.0);
    assert_eq!(shipment["tracking_code"], Value::Null);
    assert_eq!(shipment["postage_label"], Value::Null);
    let rates = shipment["rates"].as_array().unwrap();
    assert!(rates.len() >= 3, "{rates:?}");
    for rate in rates {
        assert!(is_hex_id(&rate["id"], "rate_"));
        assert_eq!(rate["object"], "Rate");
        assert!(["USPS", "UPS", "FedEx"].contains(&rate["carrier"].as_str().unwrap()));
        assert!(rate["rate"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
        assert_eq!(rate["currency"], "USD");
        assert!(rate["delivery_days"].as_u64().unwrap() >= 1);
        assert_eq!(rate["shipment_id"], shipment["id"]);
    }
    let priority = rate_with(&shipment["rates"], "/service", "Priority");
    assert_eq!(priority["carrier"], "USPS");
    assert_eq!(priority["rate"], "7.58");
    assert_eq!(priority["delivery_days"], 2);

    let bought = h
        .call(
            Api::EasyPost,
            &buy_path(&shipment),
            None,
            &buy_body(&shipment, "Priority"),
        )
        .await;
    assert_eq!(bought.status, StatusCode::OK, "{}", bought.body);
    let body = &bought.body;
    assert_eq!(body["id"], shipment["id"]);
    let tracking = body["tracking_code"].as_str().unwrap();
    assert!(
        tracking.starts_with("9405") && tracking.len() == 22,
        "{tracking}"
    );
    assert_eq!(body["selected_rate"]["id"], priority["id"]);
    assert_eq!(body["selected_rate"]["rate"], "7.58");
    assert_eq!(body["postage_label"]["object"], "PostageLabel");
    assert_eq!(body["postage_label"]["label_file_type"], "application/pdf");
    assert!(is_hex_id(&body["tracker"]["id"], "trk_"));
    assert_eq!(body["tracker"]["tracking_code"], tracking);
    assert_label_pdf(&h, body["postage_label"]["label_url"].as_str().unwrap()).await;

    let control = h.sandbox.control();
    assert_eq!(control.labels_purchased(Api::EasyPost), 1);
    assert_eq!(control.labels_purchased(Api::Shippo), 0);
    let records = control.shipments();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.api, Api::EasyPost);
    assert_eq!(record.shipment_id, shipment["id"].as_str().unwrap());
    assert_eq!(record.reference.as_deref(), Some("os-ep-0001"));
    assert_eq!(record.tracking_number.as_deref(), Some(tracking));
    assert_eq!(record.carrier.as_deref(), Some("USPS"));
    assert_eq!(record.service.as_deref(), Some("Priority"));
    assert_eq!(record.to_country, "US");
    let stats = control.stats();
    assert_eq!(stats.easypost.count(201), 1);
    assert_eq!(stats.easypost.count(200), 1);
    assert_eq!(stats.easypost.shipments_created, 1);
    assert_eq!(stats.label_downloads, 1);
}

#[tokio::test]
async fn easypost_same_key_twice_replays_without_a_second_label() {
    let h = Harness::new().await;
    let body = easypost_shipment("US", 12.0);
    let path = "/easypost/v2/shipments";
    let first = h.call(Api::EasyPost, path, Some("create-1"), &body).await;
    let second = h.call(Api::EasyPost, path, Some("create-1"), &body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED);
    assert!(!first.replayed && second.replayed);
    assert_eq!(first.body, second.body);
    assert_eq!(h.sandbox.control().shipments().len(), 1);

    let shipment = first.body;
    let buy = buy_body(&shipment, "Priority");
    let bought = h
        .call(Api::EasyPost, &buy_path(&shipment), Some("buy-1"), &buy)
        .await;
    let again = h
        .call(Api::EasyPost, &buy_path(&shipment), Some("buy-1"), &buy)
        .await;
    assert_eq!(bought.status, StatusCode::OK);
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(again.replayed);
    assert_eq!(bought.body["tracking_code"], again.body["tracking_code"]);
    assert_eq!(
        bought.body["postage_label"]["label_url"],
        again.body["postage_label"]["label_url"]
    );
    let control = h.sandbox.control();
    assert_eq!(control.labels_purchased(Api::EasyPost), 1);
    assert_eq!(control.stats().easypost.idempotent_replays, 2);
}

#[tokio::test]
async fn easypost_same_key_different_body_is_refused() {
    let h = Harness::new().await;
    let path = "/easypost/v2/shipments";
    let first = h
        .call(
            Api::EasyPost,
            path,
            Some("k-1"),
            &easypost_shipment("US", 12.0),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let reused = h
        .call(
            Api::EasyPost,
            path,
            Some("k-1"),
            &easypost_shipment("US", 13.0),
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.body["error"]["code"], "IDEMPOTENCY.KEY.REUSED");
    assert!(reused.body["error"]["message"].is_string());
    assert_eq!(reused.body["error"]["errors"], json!([]));
    assert_eq!(h.sandbox.control().shipments().len(), 1);
}

#[tokio::test]
async fn easypost_buying_twice_is_postage_exists() {
    let h = Harness::new().await;
    let shipment = easypost_created(&h, "US", 12.0).await;
    let first = h
        .call(
            Api::EasyPost,
            &buy_path(&shipment),
            None,
            &buy_body(&shipment, "Priority"),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    // Another rate, another key (or none): the shipment already has postage.
    let second = h
        .call(
            Api::EasyPost,
            &buy_path(&shipment),
            Some("other-key"),
            &buy_body(&shipment, "GroundAdvantage"),
        )
        .await;
    assert_eq!(second.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(second.body["error"]["code"], "SHIPMENT.POSTAGE.EXISTS");
    assert!(second.body["error"]["message"].is_string());
    assert_eq!(second.body["error"]["errors"], json!([]));
    assert_eq!(h.sandbox.control().labels_purchased(Api::EasyPost), 1);
}

#[tokio::test]
async fn easypost_timeout_commits_and_the_retry_gets_the_stored_label() {
    let h = Harness::new().await;
    let control = h.sandbox.control();
    let shipment = easypost_created(&h, "US", 12.0).await;
    let buy = buy_body(&shipment, "Priority");
    control.inject(Api::EasyPost, Route::Buy, SLOW, 1);

    let lost = impatient(h.post(Api::EasyPost, &buy_path(&shipment), Some("buy-t"), &buy))
        .send()
        .await;
    assert!(lost.is_err_and(|error| error.is_timeout()));
    // The carrier bought the label although the client never saw the answer.
    assert_eq!(control.labels_purchased(Api::EasyPost), 1);
    let committed = control.shipments()[0].tracking_number.clone().unwrap();

    let retry = h
        .call(Api::EasyPost, &buy_path(&shipment), Some("buy-t"), &buy)
        .await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert!(retry.replayed);
    assert_eq!(retry.body["tracking_code"], committed.as_str());
    assert_eq!(control.labels_purchased(Api::EasyPost), 1);
}

#[tokio::test]
async fn easypost_server_error_commits_nothing_and_the_retry_succeeds() {
    let h = Harness::new().await;
    let control = h.sandbox.control();
    let shipment = easypost_created(&h, "US", 12.0).await;
    let buy = buy_body(&shipment, "Priority");
    control.inject(Api::EasyPost, Route::Buy, Fault::ServerError, 1);

    let failed = h
        .call(Api::EasyPost, &buy_path(&shipment), Some("buy-s"), &buy)
        .await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(failed.body["error"]["code"], "INTERNAL_SERVER_ERROR");
    assert_eq!(control.labels_purchased(Api::EasyPost), 0);
    assert_eq!(control.shipments()[0].tracking_number, None);

    let retry = h
        .call(Api::EasyPost, &buy_path(&shipment), Some("buy-s"), &buy)
        .await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert!(!retry.replayed);
    assert_eq!(control.labels_purchased(Api::EasyPost), 1);
}

#[tokio::test]
async fn easypost_rate_limited_create_commits_nothing() {
    let h = Harness::new().await;
    let control = h.sandbox.control();
    control.inject(Api::EasyPost, Route::CreateShipment, Fault::RateLimited, 1);
    let body = easypost_shipment("US", 12.0);
    let path = "/easypost/v2/shipments";
    let limited = h.call(Api::EasyPost, path, Some("c-1"), &body).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.retry_after.as_deref(), Some("1"));
    assert_eq!(limited.body["error"]["code"], "RATE_LIMITED");
    assert!(control.shipments().is_empty());
    let retry = h.call(Api::EasyPost, path, Some("c-1"), &body).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(control.shipments().len(), 1);
}

#[tokio::test]
async fn easypost_bad_auth_is_401() {
    let h = Harness::new().await;
    let body = easypost_shipment("US", 12.0);
    let url = h.url("/easypost/v2/shipments");
    let attempts = [
        h.http.post(&url).basic_auth("wrong-key", None::<&str>),
        h.http.post(&url).bearer_auth(DEFAULT_EASYPOST_API_KEY),
        h.http.post(&url),
    ];
    for attempt in attempts {
        let refused = answer(attempt.json(&body).send().await.unwrap()).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused.body["error"]["code"], "UNAUTHORIZED");
        assert_eq!(refused.body["error"]["errors"], json!([]));
    }
    let control = h.sandbox.control();
    assert!(control.shipments().is_empty());
    assert_eq!(control.stats().easypost.count(401), 3);
}

#[tokio::test]
async fn easypost_invalid_requests_use_the_error_envelope() {
    let h = Harness::new().await;
    let path = "/easypost/v2/shipments";
    let mut body = easypost_shipment("US", 12.0);
    let shipment = body["shipment"].as_object_mut().unwrap();
    shipment["to_address"]
        .as_object_mut()
        .unwrap()
        .remove("zip");
    shipment["to_address"]
        .as_object_mut()
        .unwrap()
        .remove("state");
    shipment["parcel"].as_object_mut().unwrap().remove("weight");
    let missing = h.call(Api::EasyPost, path, None, &body).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.body["error"]["code"], "PARAMETER.REQUIRED");
    let fields: BTreeSet<&str> = missing.body["error"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "shipment.to_address.zip",
            "shipment.to_address.state",
            "shipment.parcel.weight"
        ])
    );

    let mut body = easypost_shipment("US", 12.0);
    body["shipment"]["parcel"]["weight"] = json!("12");
    let invalid = h.call(Api::EasyPost, path, None, &body).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.body["error"]["code"], "PARAMETER.INVALID");
    assert_eq!(
        invalid.body["error"]["errors"][0]["field"],
        "shipment.parcel.weight"
    );

    let nothing = h.call(Api::EasyPost, path, None, &json!({})).await;
    assert_eq!(nothing.body["error"]["code"], "PARAMETER.REQUIRED");
    assert_eq!(nothing.body["error"]["errors"][0]["field"], "shipment");

    let unknown = h
        .call(
            Api::EasyPost,
            "/easypost/v2/shipments/shp_0000/buy",
            None,
            &json!({"rate": {"id": "rate_0000"}}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error"]["code"], "NOT_FOUND");

    let shipment = easypost_created(&h, "US", 12.0).await;
    let foreign = h
        .call(
            Api::EasyPost,
            &buy_path(&shipment),
            None,
            &json!({"rate": {"id": "rate_0000"}}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(foreign.body["error"]["errors"][0]["field"], "rate.id");
    let no_rate = h
        .call(Api::EasyPost, &buy_path(&shipment), None, &json!({}))
        .await;
    assert_eq!(no_rate.body["error"]["code"], "PARAMETER.REQUIRED");
    assert_eq!(h.sandbox.control().labels_purchased(Api::EasyPost), 0);
}

#[tokio::test]
async fn easypost_rates_depend_on_destination_and_weight() {
    let h = Harness::new().await;
    let services = |shipment: &Value| -> BTreeSet<String> {
        shipment["rates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rate| rate["service"].as_str().unwrap().to_owned())
            .collect()
    };
    let cheapest = |shipment: &Value| -> f64 {
        shipment["rates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rate| rate["rate"].as_str().unwrap().parse::<f64>().unwrap())
            .fold(f64::INFINITY, f64::min)
    };
    let domestic = easypost_created(&h, "US", 12.0).await;
    let germany = easypost_created(&h, "DE", 12.0).await;
    let japan = easypost_created(&h, "JP", 12.0).await;
    assert!(services(&domestic).contains("Priority"));
    assert!(services(&germany).contains("PriorityMailInternational"));
    assert!(services(&domestic).is_disjoint(&services(&germany)));
    assert!(cheapest(&germany) > cheapest(&domestic));
    assert!(cheapest(&japan) > cheapest(&germany));

    let heavy = easypost_created(&h, "US", 40.0).await;
    let price = |shipment: &Value| {
        rate_with(&shipment["rates"], "/service", "Priority")["rate"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert!(price(&heavy) > price(&domestic));
    // The same request prices the same way every time.
    let again = easypost_created(&h, "US", 12.0).await;
    let prices = |shipment: &Value| -> Vec<(String, String)> {
        shipment["rates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rate| {
                (
                    rate["service"].as_str().unwrap().to_owned(),
                    rate["rate"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(prices(&domestic), prices(&again));
}

// ---------------------------------------------------------------------------------------------
// Shippo

#[tokio::test]
async fn shippo_shipment_and_transaction_have_the_documented_shapes() {
    let h = Harness::new().await;
    let created = h
        .call(
            Api::Shippo,
            "/shippo/shipments",
            None,
            &shippo_shipment("US", "12"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let shipment = &created.body;
    assert!(is_hex_id(&shipment["object_id"], ""));
    assert_eq!(shipment["status"], "SUCCESS");
    assert_eq!(shipment["metadata"], "os-sh-0001");
    assert!(is_hex_id(&shipment["address_to"]["object_id"], ""));
    assert_eq!(shipment["address_to"]["name"], RECIPIENT);
    assert_eq!(shipment["address_from"]["city"], "San Francisco");
    let parcel = &shipment["parcels"][0];
    assert!(is_hex_id(&parcel["object_id"], ""));
    assert_eq!(parcel["weight"], "12");
    assert_eq!(parcel["mass_unit"], "oz");
    assert_eq!(parcel["distance_unit"], "in");
    let rates = shipment["rates"].as_array().unwrap();
    assert!(rates.len() >= 3);
    for rate in rates {
        assert!(is_hex_id(&rate["object_id"], ""));
        assert_eq!(rate["shipment"], shipment["object_id"]);
        assert!(["USPS", "UPS", "FedEx"].contains(&rate["provider"].as_str().unwrap()));
        assert!(rate["servicelevel"]["token"].is_string());
        assert!(rate["servicelevel"]["name"].is_string());
        assert_eq!(rate["currency"], "USD");
        assert!(rate["estimated_days"].as_u64().unwrap() >= 1);
    }
    assert_eq!(rates[0]["attributes"], json!(["CHEAPEST"]));
    let priority = rate_with(&shipment["rates"], "/servicelevel/token", "usps_priority");
    assert_eq!(priority["servicelevel"]["name"], "Priority Mail");
    assert_eq!(priority["provider"], "USPS");
    assert_eq!(priority["amount"], "7.58");
    assert_eq!(priority["estimated_days"], 2);

    let rate_id = priority["object_id"].as_str().unwrap();
    let bought = h
        .call(
            Api::Shippo,
            "/shippo/transactions",
            None,
            &transaction(rate_id),
        )
        .await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
    let txn = &bought.body;
    assert!(is_hex_id(&txn["object_id"], ""));
    assert_eq!(txn["status"], "SUCCESS");
    assert_eq!(txn["rate"], rate_id);
    assert_eq!(txn["tracking_status"], "UNKNOWN");
    assert_eq!(txn["metadata"], "os-sh-0001");
    let tracking = txn["tracking_number"].as_str().unwrap();
    assert!(
        tracking.starts_with("9405") && tracking.len() == 22,
        "{tracking}"
    );
    assert!(
        txn["tracking_url_provider"]
            .as_str()
            .unwrap()
            .contains(tracking)
    );
    assert_label_pdf(&h, txn["label_url"].as_str().unwrap()).await;

    let control = h.sandbox.control();
    assert_eq!(control.labels_purchased(Api::Shippo), 1);
    let record = &control.shipments()[0];
    assert_eq!(record.api, Api::Shippo);
    assert_eq!(record.shipment_id, shipment["object_id"].as_str().unwrap());
    assert_eq!(record.tracking_number.as_deref(), Some(tracking));
    assert_eq!(record.service.as_deref(), Some("usps_priority"));
    assert_eq!(record.reference.as_deref(), Some("os-sh-0001"));
}

#[tokio::test]
async fn shippo_same_key_replays_and_a_different_body_conflicts() {
    let h = Harness::new().await;
    let (_, rate_id) = shippo_rate(&h, "US", "usps_priority").await;
    let body = transaction(&rate_id);
    let path = "/shippo/transactions";
    let first = h.call(Api::Shippo, path, Some("txn-1"), &body).await;
    let second = h.call(Api::Shippo, path, Some("txn-1"), &body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert!(second.replayed);
    assert_eq!(first.body["object_id"], second.body["object_id"]);
    assert_eq!(
        first.body["tracking_number"],
        second.body["tracking_number"]
    );
    assert_eq!(h.sandbox.control().labels_purchased(Api::Shippo), 1);

    let mut changed = body.clone();
    changed["metadata"] = json!("something else");
    let conflict = h.call(Api::Shippo, path, Some("txn-1"), &changed).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(
        conflict.body,
        json!({"detail": "Idempotency-Key reused with a different request"})
    );
    // A fresh key for a rate already bought is refused, not bought twice.
    let again = h.call(Api::Shippo, path, Some("txn-2"), &body).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body["detail"].as_str().unwrap().contains(&rate_id));
    assert_eq!(h.sandbox.control().labels_purchased(Api::Shippo), 1);
}

#[tokio::test]
async fn shippo_timeout_commits_and_the_retry_gets_the_stored_label() {
    let h = Harness::new().await;
    let control = h.sandbox.control();
    let (_, rate_id) = shippo_rate(&h, "DE", "usps_priority_mail_international").await;
    let body = transaction(&rate_id);
    control.inject(Api::Shippo, Route::Buy, SLOW, 1);

    let lost = impatient(h.post(Api::Shippo, "/shippo/transactions", Some("t-1"), &body))
        .send()
        .await;
    assert!(lost.is_err_and(|error| error.is_timeout()));
    assert_eq!(control.labels_purchased(Api::Shippo), 1);
    let committed = control.shipments()[0].tracking_number.clone().unwrap();
    assert!(committed.starts_with("CP") && committed.ends_with("US"));

    let retry = h
        .call(Api::Shippo, "/shippo/transactions", Some("t-1"), &body)
        .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(retry.body["tracking_number"], committed.as_str());
    assert_eq!(control.labels_purchased(Api::Shippo), 1);
}

#[tokio::test]
async fn shippo_server_error_commits_nothing_and_the_retry_succeeds() {
    let h = Harness::new().await;
    let control = h.sandbox.control();
    control.inject(Api::Shippo, Route::Any, Fault::ServerError, 1);
    let body = shippo_shipment("US", "12");
    let failed = h
        .call(Api::Shippo, "/shippo/shipments", Some("s-1"), &body)
        .await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(failed.body["detail"].is_string());
    assert!(control.shipments().is_empty());
    let retry = h
        .call(Api::Shippo, "/shippo/shipments", Some("s-1"), &body)
        .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(!retry.replayed);
    assert_eq!(control.shipments().len(), 1);

    let rate_id = rate_with(&retry.body["rates"], "/servicelevel/token", "ups_ground")["object_id"]
        .as_str()
        .unwrap()
        .to_owned();
    control.inject(Api::Shippo, Route::Buy, Fault::RateLimited, 1);
    let limited = h
        .call(
            Api::Shippo,
            "/shippo/transactions",
            None,
            &transaction(&rate_id),
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.retry_after.as_deref(), Some("1"));
    assert_eq!(control.labels_purchased(Api::Shippo), 0);
    let bought = h
        .call(
            Api::Shippo,
            "/shippo/transactions",
            None,
            &transaction(&rate_id),
        )
        .await;
    assert_eq!(bought.status, StatusCode::CREATED);
    assert!(
        bought.body["tracking_number"]
            .as_str()
            .unwrap()
            .starts_with("1Z")
    );
    assert_eq!(control.labels_purchased(Api::Shippo), 1);
}

#[tokio::test]
async fn shippo_bad_auth_is_401() {
    let h = Harness::new().await;
    let url = h.url("/shippo/shipments");
    let body = shippo_shipment("US", "12");
    let wrong = h
        .http
        .post(&url)
        .header(AUTHORIZATION, "ShippoToken not-the-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    let wrong = answer(wrong).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, json!({"detail": "Invalid token."}));
    let missing = answer(h.http.post(&url).json(&body).send().await.unwrap()).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert!(missing.body["detail"].is_string());
    assert!(h.sandbox.control().shipments().is_empty());
}

#[tokio::test]
async fn shippo_unknown_rates_and_invalid_parcels_are_400() {
    let h = Harness::new().await;
    let unknown = h
        .call(
            Api::Shippo,
            "/shippo/transactions",
            None,
            &transaction("0123456789abcdef0123456789abcdef"),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.body["detail"]
            .as_str()
            .unwrap()
            .contains("0123456789abcdef0123456789abcdef")
    );

    let mut body = shippo_shipment("US", "12");
    body["parcels"][0]["length"] = json!(10);
    body["parcels"][0]["mass_unit"] = json!("stone");
    body["address_to"].as_object_mut().unwrap().remove("zip");
    let invalid = h.call(Api::Shippo, "/shippo/shipments", None, &body).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let fields: BTreeSet<&str> = invalid
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["address_to.zip", "parcels.0.length", "parcels.0.mass_unit"])
    );
    assert_eq!(
        invalid.body["address_to.zip"],
        json!(["This field is required."])
    );
    assert!(h.sandbox.control().shipments().is_empty());
}

#[tokio::test]
async fn shippo_rates_depend_on_destination_and_weight() {
    let h = Harness::new().await;
    let amounts = |shipment: &Value| -> Vec<(String, f64)> {
        shipment["rates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rate| {
                (
                    rate["servicelevel"]["token"].as_str().unwrap().to_owned(),
                    rate["amount"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    };
    let (domestic, _) = shippo_rate(&h, "US", "usps_priority").await;
    let (canada, _) = shippo_rate(&h, "CA", "usps_priority_mail_international").await;
    let domestic = amounts(&domestic);
    let canada = amounts(&canada);
    assert!(
        domestic
            .iter()
            .all(|(token, _)| !token.contains("international"))
    );
    assert!(canada.iter().all(|(token, _)| {
        token.contains("international") || token == "ups_worldwide_expedited"
    }));
    assert!(canada[0].1 > domestic[0].1);

    // Five pounds: First-Class Package International (up to 4 lb) drops out.
    let heavy = h
        .call(
            Api::Shippo,
            "/shippo/shipments",
            None,
            &shippo_shipment("CA", "80"),
        )
        .await;
    let heavy = amounts(&heavy.body);
    assert!(
        canada
            .iter()
            .any(|(token, _)| token.starts_with("usps_first_class"))
    );
    assert!(
        !heavy
            .iter()
            .any(|(token, _)| token.starts_with("usps_first_class"))
    );
}

// ---------------------------------------------------------------------------------------------
// Generic REST

#[tokio::test]
async fn generic_quotes_and_shipment_have_the_documented_shapes() {
    let h = Harness::new().await;
    let request = generic_request("US", 340);
    let quotes = h
        .call(Api::Generic, "/generic/v1/quotes", None, &request)
        .await;
    assert_eq!(quotes.status, StatusCode::OK, "{}", quotes.body);
    let list = quotes.body["quotes"].as_array().unwrap();
    assert!(list.len() >= 3);
    let amounts: Vec<f64> = list
        .iter()
        .map(|quote| quote["amount"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        amounts.windows(2).all(|pair| pair[0] <= pair[1]),
        "{amounts:?}"
    );
    for quote in list {
        assert!(quote["service"].is_string());
        assert_eq!(quote["currency"], "USD");
        assert!(quote["days"].as_u64().unwrap() >= 1);
    }
    assert_eq!(h.sandbox.control().labels_purchased(Api::Generic), 0);

    // Without a service: the cheapest.
    let cheapest = h
        .call(Api::Generic, "/generic/v1/shipments", None, &request)
        .await;
    assert_eq!(cheapest.status, StatusCode::CREATED, "{}", cheapest.body);
    assert_eq!(cheapest.body["service"], list[0]["service"]);
    assert_eq!(cheapest.body["cost"]["amount"], list[0]["amount"]);

    let mut priority = request.clone();
    priority["service"] = json!("usps_priority");
    let shipped = h
        .call(Api::Generic, "/generic/v1/shipments", None, &priority)
        .await;
    assert_eq!(shipped.status, StatusCode::CREATED, "{}", shipped.body);
    let body = &shipped.body;
    assert!(is_hex_id(&body["shipment_id"], "gshp_"));
    assert_eq!(body["reference"], "os-gen-0001");
    assert_eq!(body["carrier"], "USPS");
    assert_eq!(body["service"], "usps_priority");
    assert_eq!(body["cost"], json!({"amount": "7.58", "currency": "USD"}));
    let tracking = body["tracking_number"].as_str().unwrap();
    assert!(tracking.starts_with("9405") && tracking.len() == 22);
    assert_label_pdf(&h, body["label_url"].as_str().unwrap()).await;

    let control = h.sandbox.control();
    assert_eq!(control.labels_purchased(Api::Generic), 2);
    let record = control
        .shipments()
        .into_iter()
        .find(|record| record.shipment_id == body["shipment_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(record.api, Api::Generic);
    assert_eq!(record.tracking_number.as_deref(), Some(tracking));
    assert_eq!(record.carrier.as_deref(), Some("USPS"));
    assert_eq!(record.service.as_deref(), Some("usps_priority"));
    assert_eq!(record.to_country, "US");
}

#[tokio::test]
async fn generic_same_key_replays_and_a_different_body_conflicts() {
    let h = Harness::new().await;
    let request = generic_request("US", 340);
    let path = "/generic/v1/shipments";
    let first = h.call(Api::Generic, path, Some("g-1"), &request).await;
    let second = h.call(Api::Generic, path, Some("g-1"), &request).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED);
    assert!(second.replayed);
    assert_eq!(first.body, second.body);
    assert_eq!(h.sandbox.control().labels_purchased(Api::Generic), 1);

    let conflict = h
        .call(Api::Generic, path, Some("g-1"), &generic_request("US", 341))
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(
        conflict.body,
        json!({"detail": "Idempotency-Key reused with a different request"})
    );
    assert_eq!(h.sandbox.control().labels_purchased(Api::Generic), 1);
}

#[tokio::test]
async fn generic_timeout_commits_and_the_retry_gets_the_stored_label() {
    let h = Harness::new().await;
    let control = h.sandbox.control();
    control.inject(Api::Generic, Route::CreateShipment, SLOW, 1);
    let request = generic_request("JP", 900);
    let path = "/generic/v1/shipments";
    let lost = impatient(h.post(Api::Generic, path, Some("g-t"), &request))
        .send()
        .await;
    assert!(lost.is_err_and(|error| error.is_timeout()));
    assert_eq!(control.labels_purchased(Api::Generic), 1);
    let committed = control.shipments()[0].tracking_number.clone().unwrap();

    let retry = h.call(Api::Generic, path, Some("g-t"), &request).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert!(retry.replayed);
    assert_eq!(retry.body["tracking_number"], committed.as_str());
    assert_eq!(control.labels_purchased(Api::Generic), 1);
    assert_eq!(control.shipments().len(), 1);
}

#[tokio::test]
async fn generic_server_error_commits_nothing_and_the_retry_succeeds() {
    let h = Harness::new().await;
    let control = h.sandbox.control();
    // The generic create-shipment call is the label purchase: a Buy fault hits it.
    control.inject(Api::Generic, Route::Buy, Fault::ServerError, 1);
    let request = generic_request("US", 340);
    let path = "/generic/v1/shipments";
    // Quotes are not a purchase and pass untouched.
    let quotes = h
        .call(Api::Generic, "/generic/v1/quotes", None, &request)
        .await;
    assert_eq!(quotes.status, StatusCode::OK);
    let failed = h.call(Api::Generic, path, Some("g-s"), &request).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(failed.body["detail"].is_string());
    assert_eq!(control.labels_purchased(Api::Generic), 0);
    assert!(control.shipments().is_empty());
    let retry = h.call(Api::Generic, path, Some("g-s"), &request).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(!retry.replayed);
    assert_eq!(control.labels_purchased(Api::Generic), 1);
}

#[tokio::test]
async fn generic_bad_auth_is_401() {
    let h = Harness::new().await;
    let url = h.url("/generic/v1/shipments");
    let request = generic_request("US", 340);
    for attempt in [
        h.http.post(&url).bearer_auth("wrong"),
        h.http
            .post(&url)
            .basic_auth(DEFAULT_GENERIC_API_KEY, None::<&str>),
        h.http.post(&url),
    ] {
        let response = attempt.json(&request).send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"].to_str().unwrap(),
            "Bearer"
        );
        let refused = answer(response).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert!(refused.body["detail"].is_string());
    }
    assert_eq!(h.sandbox.control().labels_purchased(Api::Generic), 0);
}

#[tokio::test]
async fn generic_invalid_requests_are_422_with_field_errors() {
    let h = Harness::new().await;
    let path = "/generic/v1/shipments";
    let mut request = generic_request("US", 340);
    request["recipient"]
        .as_object_mut()
        .unwrap()
        .remove("postal_code");
    request["parcel"]["weight_grams"] = json!(0);
    let invalid = h.call(Api::Generic, path, None, &request).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        invalid.body["errors"],
        json!([
            {"field": "recipient.postal_code", "message": "is required"},
            {"field": "parcel.weight_grams", "message": "must be an integer greater than 0"}
        ])
    );

    let mut unknown = generic_request("US", 340);
    unknown["service"] = json!("teleport");
    let refused = h.call(Api::Generic, path, None, &unknown).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["errors"][0]["field"], "service");

    // A domestic service to an international destination.
    let mut mismatched = generic_request("DE", 340);
    mismatched["service"] = json!("usps_priority");
    let refused = h.call(Api::Generic, path, None, &mismatched).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["errors"][0]["field"], "service");

    let not_json = h
        .authed(Api::Generic, h.http.post(h.url(path)))
        .header(CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(h.sandbox.control().labels_purchased(Api::Generic), 0);
}

#[tokio::test]
async fn generic_quotes_differ_for_international_destinations() {
    let h = Harness::new().await;
    let services = |answer: &Answer| -> Vec<(String, String)> {
        answer.body["quotes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|quote| {
                (
                    quote["service"].as_str().unwrap().to_owned(),
                    quote["amount"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let path = "/generic/v1/quotes";
    let domestic = h
        .call(Api::Generic, path, None, &generic_request("US", 340))
        .await;
    let international = h
        .call(Api::Generic, path, None, &generic_request("DE", 340))
        .await;
    let domestic = services(&domestic);
    let international = services(&international);
    assert!(
        domestic
            .iter()
            .all(|(service, _)| !international.iter().any(|(other, _)| other == service))
    );
    let cheapest = |quotes: &[(String, String)]| quotes[0].1.parse::<f64>().unwrap();
    assert!(cheapest(&international) > cheapest(&domestic));
}

// ---------------------------------------------------------------------------------------------
// Recording, control routes, concurrency

#[tokio::test]
async fn received_records_exact_bodies_with_route_and_key() {
    let h = Harness::new().await;
    let control = h.sandbox.control();
    // Sent as raw text, whitespace and an unexpected field included: recorded unmodified.
    let raw = "{ \"reference\": \"os-gen-0002\",\n  \"recipient\": {\"name\": \"R\", \"address_lines\": [\"1 Main St\"], \"city\": \"Springfield\", \"region\": \"IL\", \"postal_code\": \"62701\", \"country\": \"US\", \"email\": \"leak@example.com\"},\n  \"parcel\": {\"weight_grams\": 340, \"length_mm\": 1, \"width_mm\": 1, \"height_mm\": 1} }";
    let response = h
        .authed(Api::Generic, h.http.post(h.url("/generic/v1/shipments")))
        .header(CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", "rec-1")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let quote_body = generic_request("DE", 500);
    h.call(Api::Generic, "/generic/v1/quotes", None, &quote_body)
        .await;
    // Even a refused request is recorded.
    let refused = h
        .http
        .post(h.url("/generic/v1/quotes"))
        .body("not json at all")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let received = control.received(Api::Generic);
    assert_eq!(received.len(), 3);
    assert_eq!(received[0].route, Route::CreateShipment);
    assert_eq!(received[0].path, "/generic/v1/shipments");
    assert_eq!(received[0].idempotency_key.as_deref(), Some("rec-1"));
    assert_eq!(received[0].raw, raw);
    assert_eq!(
        received[0].body,
        serde_json::from_str::<Value>(raw).unwrap()
    );
    assert_eq!(
        received[0].body["recipient"]["email"], "leak@example.com",
        "what arrived, not what the sandbox uses"
    );
    assert_eq!(received[1].route, Route::Quote);
    assert_eq!(received[1].idempotency_key, None);
    assert_eq!(received[1].body, quote_body);
    assert_eq!(received[2].body, Value::Null);
    assert_eq!(received[2].raw, "not json at all");
    assert!(control.received(Api::EasyPost).is_empty());

    // EasyPost and Shippo record their routes too.
    let shipment = easypost_created(&h, "US", 12.0).await;
    let buy = buy_body(&shipment, "Priority");
    h.call(Api::EasyPost, &buy_path(&shipment), Some("b"), &buy)
        .await;
    let easypost = control.received(Api::EasyPost);
    assert_eq!(
        easypost
            .iter()
            .map(|received| received.route)
            .collect::<Vec<_>>(),
        [Route::CreateShipment, Route::Buy]
    );
    assert_eq!(easypost[0].body, easypost_shipment("US", 12.0));
    assert_eq!(easypost[1].body, buy);
    assert_eq!(easypost[1].path, buy_path(&shipment));

    let over_http: Value = h
        .get(&h.url("/_sandbox/received?api=generic"))
        .await
        .json()
        .await
        .unwrap();
    let listed = over_http["received"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0]["api"], "generic");
    assert_eq!(listed[0]["route"], "create_shipment");
    assert_eq!(listed[0]["idempotency_key"], "rec-1");
    assert_eq!(listed[0]["raw"], raw);
    assert_eq!(listed[0]["body"], received[0].body);
    let everything: Value = h
        .get(&h.url("/_sandbox/received"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(everything["received"].as_array().unwrap().len(), 5);
    let bad_api = h.get(&h.url("/_sandbox/received?api=dhl")).await;
    assert_eq!(bad_api.status(), StatusCode::BAD_REQUEST);

    let cleared = h
        .http
        .delete(h.url("/_sandbox/received"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(control.received(Api::Generic).is_empty());
}

#[tokio::test]
async fn control_routes_inject_faults_report_and_reset() {
    let h = Harness::new().await;
    let control = h.sandbox.control();
    let faults = h.url("/_sandbox/faults");
    let bad = h
        .http
        .post(&faults)
        .json(&json!({"api": "easypost", "fault": "timeout"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let injected = h
        .http
        .post(&faults)
        .json(&json!({"api": "shippo", "route": "create_shipment", "fault": "rate_limited", "times": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), StatusCode::NO_CONTENT);
    let body = shippo_shipment("US", "12");
    for _ in 0..2 {
        let limited = h.call(Api::Shippo, "/shippo/shipments", None, &body).await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    }
    let (_, rate_id) = shippo_rate(&h, "US", "usps_priority").await;

    // A pending fault can be dropped.
    h.http
        .post(&faults)
        .json(&json!({"api": "shippo", "fault": "server_error"}))
        .send()
        .await
        .unwrap();
    let dropped = h.http.delete(&faults).send().await.unwrap();
    assert_eq!(dropped.status(), StatusCode::NO_CONTENT);
    let bought = h
        .call(
            Api::Shippo,
            "/shippo/transactions",
            None,
            &transaction(&rate_id),
        )
        .await;
    assert_eq!(bought.status, StatusCode::CREATED);
    let label_url = bought.body["label_url"].as_str().unwrap().to_owned();

    let stats: Value = h.get(&h.url("/_sandbox/stats")).await.json().await.unwrap();
    assert_eq!(stats["shippo"]["requests"], 4);
    assert_eq!(stats["shippo"]["by_status"]["429"], 2);
    assert_eq!(stats["shippo"]["labels_purchased"], 1);
    assert_eq!(stats["easypost"]["requests"], 0);
    let shipments: Value = h
        .get(&h.url("/_sandbox/shipments"))
        .await
        .json()
        .await
        .unwrap();
    let listed = &shipments["shipments"][0];
    assert_eq!(listed["api"], "shippo");
    assert_eq!(listed["to_country"], "US");
    assert_eq!(listed["tracking_number"], bought.body["tracking_number"]);
    assert!(listed["created_at"].as_str().unwrap().ends_with('Z'));

    let reset = h.http.post(h.url("/_sandbox/reset")).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert!(control.shipments().is_empty());
    assert!(control.received(Api::Shippo).is_empty());
    assert_eq!(control.labels_purchased(Api::Shippo), 0);
    assert_eq!(control.stats(), carrier_sandbox::Stats::default());
    assert_eq!(h.get(&label_url).await.status(), StatusCode::NOT_FOUND);
    // Rates are forgotten too.
    let gone = h
        .call(
            Api::Shippo,
            "/shippo/transactions",
            None,
            &transaction(&rate_id),
        )
        .await;
    assert_eq!(gone.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_api_shape() {
    let h = Harness::new().await;
    let easypost = h.get(&h.url("/easypost/v2/nothing")).await;
    assert_eq!(easypost.status(), StatusCode::NOT_FOUND);
    let body: Value = easypost.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    let label = h.get(&h.url("/labels/lbl_missing.pdf")).await;
    assert_eq!(label.status(), StatusCode::NOT_FOUND);
    let body: Value = label.json().await.unwrap();
    assert_eq!(body, json!({"detail": "Not found."}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_buy_one_label() {
    let h = Harness::new().await;
    let (_, rate_id) = shippo_rate(&h, "US", "usps_priority").await;
    let body = transaction(&rate_id);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let request = h.post(Api::Shippo, "/shippo/transactions", Some("same"), &body);
        tasks.push(tokio::spawn(async move {
            answer(request.send().await.unwrap()).await
        }));
    }
    let mut tracking = BTreeSet::new();
    for task in tasks {
        let answer = task.await.unwrap();
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        tracking.insert(answer.body["tracking_number"].as_str().unwrap().to_owned());
    }
    assert_eq!(tracking.len(), 1);
    let control = h.sandbox.control();
    assert_eq!(control.labels_purchased(Api::Shippo), 1);
    assert_eq!(control.stats().shippo.idempotent_replays, 5);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let h = Harness::new().await;
    let url = h.url("/_sandbox/stats");
    assert_eq!(h.get(&url).await.status(), StatusCode::OK);
    h.sandbox.shutdown().await;
    assert!(h.http.get(&url).send().await.is_err());
}

#[tokio::test]
async fn refunds_void_a_bought_label_once_in_each_api() {
    let h = Harness::new().await;
    let control = h.sandbox.control();

    // EasyPost: no postage yet → 422; bought → submitted; again → the same, counted once.
    let shipment = easypost_created(&h, "US", 12.0).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    let refund_path = format!("/easypost/v2/shipments/{id}/refund");
    let early = h.call(Api::EasyPost, &refund_path, None, &json!({})).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(early.body["error"]["code"], "SHIPMENT.REFUND.UNAVAILABLE");
    let bought = h
        .call(
            Api::EasyPost,
            &buy_path(&shipment),
            None,
            &buy_body(&shipment, "Priority"),
        )
        .await;
    assert_eq!(bought.status, StatusCode::OK);
    for _ in 0..2 {
        let refunded = h.call(Api::EasyPost, &refund_path, None, &json!({})).await;
        assert_eq!(refunded.status, StatusCode::OK, "{}", refunded.body);
        assert_eq!(refunded.body["refund_status"], "submitted");
        assert_eq!(refunded.body["id"], shipment["id"]);
    }
    let unknown = h
        .call(
            Api::EasyPost,
            "/easypost/v2/shipments/shp_unknown/refund",
            None,
            &json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(control.labels_refunded(Api::EasyPost), 1);

    // Shippo: the refund names the transaction; a repeat answers the same refund.
    let (_, rate_id) = shippo_rate(&h, "US", "usps_priority").await;
    let tx = h
        .call(
            Api::Shippo,
            "/shippo/transactions",
            None,
            &transaction(&rate_id),
        )
        .await;
    assert_eq!(tx.status, StatusCode::CREATED, "{}", tx.body);
    let body = json!({"transaction": tx.body["object_id"], "async": false});
    let first = h.call(Api::Shippo, "/shippo/refunds", None, &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["status"], "SUCCESS");
    assert_eq!(first.body["transaction"], tx.body["object_id"]);
    let again = h.call(Api::Shippo, "/shippo/refunds", None, &body).await;
    assert_eq!(again.body["object_id"], first.body["object_id"]);
    let bogus = h
        .call(
            Api::Shippo,
            "/shippo/refunds",
            None,
            &json!({"transaction": "nope"}),
        )
        .await;
    assert_eq!(bogus.status, StatusCode::BAD_REQUEST);
    let missing = h
        .call(Api::Shippo, "/shippo/refunds", None, &json!({}))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.body["transaction"].is_array(), "{}", missing.body);
    assert_eq!(control.labels_refunded(Api::Shippo), 1);

    // Generic: void by shipment id.
    let created = h
        .call(
            Api::Generic,
            "/generic/v1/shipments",
            None,
            &generic_request("US", 340),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let void_path = format!(
        "/generic/v1/shipments/{}/void",
        created.body["shipment_id"].as_str().unwrap()
    );
    let voided = h.call(Api::Generic, &void_path, None, &json!({})).await;
    assert_eq!(voided.status, StatusCode::OK, "{}", voided.body);
    assert_eq!(voided.body["void_status"], "voided");
    let again = h.call(Api::Generic, &void_path, None, &json!({})).await;
    assert_eq!(again.body["void_id"], voided.body["void_id"]);
    let unknown = h
        .call(
            Api::Generic,
            "/generic/v1/shipments/gshp_unknown/void",
            None,
            &json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(control.labels_refunded(Api::Generic), 1);
    let records = control.shipments();
    assert_eq!(records.iter().filter(|r| r.refund_id.is_some()).count(), 3);
}
