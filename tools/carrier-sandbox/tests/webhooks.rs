//! Tracking webhooks sent by the sandbox to a receiver on this machine: payload shapes,
//! signatures (checked here with the documented formulas, independently of the sandbox's
//! signer), and what the delivery plans do.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use carrier_sandbox::{
    Api, DEFAULT_EASYPOST_WEBHOOK_SECRET, DEFAULT_GENERIC_WEBHOOK_SECRET,
    DEFAULT_SHIPPO_WEBHOOK_SECRET, Delivery, DeliveryKind, DeliveryPlan, ShipmentRecord,
    TrackingStatus, WebhookError,
};
use serde_json::{Value, json};
use support::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The replay window a receiver allows around a signed timestamp.
const WINDOW_SECS: i64 = 300;

// ---------------------------------------------------------------------------------------------
// A receiver that records every request and checks its signature like orderseal would

#[derive(Debug, Clone)]
struct Hit {
    api: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Answer this many requests with a 500 before checking anything.
    fail_next: Arc<AtomicU32>,
}

impl Receiver {
    /// Serves on `127.0.0.1:0`; returns the receiver and its base URL.
    async fn start() -> (Self, String) {
        let receiver = Self::default();
        let app = Router::new()
            .route("/webhooks/{api}", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, base)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

/// 500 while told to fail; 200 when the signature (and timestamp) checks out, else 401.
async fn receive(
    State(receiver): State<Receiver>,
    Path(api): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let hit = Hit {
        api,
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
            .collect(),
        body: body.to_vec(),
    };
    receiver.hits.lock().unwrap().push(hit.clone());
    let failing = receiver
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let check = check_signature(&hit, &real_key(&hit.api));
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if check.valid
        && check
            .timestamp
            .is_none_or(|t| (now - t).abs() <= WINDOW_SECS)
    {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures, by the documented formulas (spapi-dpp-carriers.md §4.1, orderseal's verify)

/// The HMAC key of each scheme, from the sandbox's default secrets.
fn real_key(api: &str) -> Vec<u8> {
    match api {
        // EasyPost and Shippo: the secret's (ASCII) bytes.
        "easypost" => DEFAULT_EASYPOST_WEBHOOK_SECRET.as_bytes().to_vec(),
        "shippo" => DEFAULT_SHIPPO_WEBHOOK_SECRET.as_bytes().to_vec(),
        // Standard Webhooks: base64-decoded after the `whsec_` prefix.
        "generic" => {
            let encoded = DEFAULT_GENERIC_WEBHOOK_SECRET
                .strip_prefix("whsec_")
                .unwrap();
            STANDARD.decode(encoded).unwrap()
        }
        other => panic!("unknown api {other}"),
    }
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "{text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hmac_ok(key: &[u8], message: &[u8], mac: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::verify(&key, message, mac).is_ok()
}

/// What a signature check found.
#[derive(Debug)]
struct Check {
    valid: bool,
    /// The signed timestamp (Shippo, generic).
    timestamp: Option<i64>,
}

/// Checks the signature headers of `hit` against `key`; panics on a malformed header.
fn check_signature(hit: &Hit, key: &[u8]) -> Check {
    let body = &hit.body;
    match hit.api.as_str() {
        "easypost" => {
            // X-Hmac-Signature: hmac-sha256-hex=<lowercase hex HMAC(secret, body)>
            let value = hit.header("X-Hmac-Signature");
            let mac = value.strip_prefix("hmac-sha256-hex=").unwrap();
            assert_eq!(mac.len(), 64);
            assert_eq!(mac, mac.to_ascii_lowercase());
            Check {
                valid: hmac_ok(key, body, &unhex(mac)),
                timestamp: None,
            }
        }
        "shippo" => {
            // Shippo-Auth-Signature: t=<unix>,v1=<hex HMAC(secret, "<t>.<body>")>
            let value = hit.header("Shippo-Auth-Signature");
            let (t, v1) = value.split_once(',').unwrap();
            let t = t.strip_prefix("t=").unwrap();
            let mac = v1.strip_prefix("v1=").unwrap();
            assert_eq!(mac.len(), 64);
            let mut signed = format!("{t}.").into_bytes();
            signed.extend_from_slice(body);
            Check {
                valid: hmac_ok(key, &signed, &unhex(mac)),
                timestamp: Some(t.parse().unwrap()),
            }
        }
        "generic" => {
            // webhook-signature: v1,<base64 HMAC(key, "<id>.<ts>.<body>")>
            let id = hit.header("webhook-id");
            let t = hit.header("webhook-timestamp");
            let mac = hit.header("webhook-signature").strip_prefix("v1,").unwrap();
            let mut signed = format!("{id}.{t}.").into_bytes();
            signed.extend_from_slice(body);
            Check {
                valid: hmac_ok(key, &signed, &STANDARD.decode(mac).unwrap()),
                timestamp: Some(t.parse().unwrap()),
            }
        }
        other => panic!("unknown api {other}"),
    }
}

fn verifies(hit: &Hit) -> bool {
    check_signature(hit, &real_key(&hit.api)).valid
}

fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

// ---------------------------------------------------------------------------------------------
// Shipments

/// One shipment with a label per API: their tracking numbers (EasyPost, Shippo, generic) and
/// the id of the EasyPost Tracker.
async fn three_shipments(h: &Harness) -> ([String; 3], String) {
    let shipment = easypost_created(h, "US", 12.0).await;
    let bought = h
        .call(
            Api::EasyPost,
            &buy_path(&shipment),
            None,
            &buy_body(&shipment, "Priority"),
        )
        .await;
    assert_eq!(bought.status, StatusCode::OK, "{}", bought.body);
    let (_, rate_id) = shippo_rate(h, "US", "usps_priority").await;
    let transacted = h
        .call(
            Api::Shippo,
            "/shippo/transactions",
            None,
            &transaction(&rate_id),
        )
        .await;
    assert_eq!(
        transacted.status,
        StatusCode::CREATED,
        "{}",
        transacted.body
    );
    let shipped = h
        .call(
            Api::Generic,
            "/generic/v1/shipments",
            None,
            &generic_request("US", 340),
        )
        .await;
    assert_eq!(shipped.status, StatusCode::CREATED, "{}", shipped.body);
    let tracking = [
        &bought.body["tracking_code"],
        &transacted.body["tracking_number"],
        &shipped.body["tracking_number"],
    ]
    .map(|tracking| tracking.as_str().unwrap().to_owned());
    let tracker_id = bought.body["tracker"]["id"].as_str().unwrap().to_owned();
    (tracking, tracker_id)
}

fn record<'a>(records: &'a [ShipmentRecord], tracking: &str) -> &'a ShipmentRecord {
    records
        .iter()
        .find(|record| record.tracking_number.as_deref() == Some(tracking))
        .unwrap()
}

/// `created_at` (whole seconds) + `hours`, as the bodies write it.
fn event_time(record: &ShipmentRecord, hours: i64) -> String {
    let base = record.created_at.replace_nanosecond(0).unwrap();
    (base + time::Duration::hours(hours))
        .format(&Rfc3339)
        .unwrap()
}

fn lifecycle_index(status: TrackingStatus) -> i64 {
    match status {
        TrackingStatus::InTransit => 0,
        TrackingStatus::OutForDelivery => 1,
        TrackingStatus::Delivered => 2,
        TrackingStatus::ReturnToSender => 3,
    }
}

/// The event time and status a body reports, whatever the API.
fn reported(hit: &Hit) -> (String, String) {
    let body = hit.json();
    let (at, status) = match hit.api.as_str() {
        "easypost" => (&body["result"]["updated_at"], &body["result"]["status"]),
        "shippo" => (
            &body["data"]["tracking_status"]["status_date"],
            &body["data"]["tracking_status"]["status"],
        ),
        _ => (&body["data"]["occurred_at"], &body["data"]["status"]),
    };
    (
        at.as_str().unwrap().to_owned(),
        status.as_str().unwrap().to_owned(),
    )
}

fn is_hex(text: &str, prefix: &str) -> bool {
    text.len() == prefix.len() + 32
        && text.starts_with(prefix)
        && text[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn statuses(deliveries: &[Delivery]) -> Vec<(Api, TrackingStatus, DeliveryKind)> {
    deliveries
        .iter()
        .map(|delivery| (delivery.api, delivery.status, delivery.kind))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn each_api_sends_its_payload_shape_signed_as_documented() {
    let h = Harness::new().await;
    let ([ep, sh, generic], tracker_id) = three_shipments(&h).await;
    let (receiver, base) = Receiver::start().await;
    let control = h.sandbox.control();
    let records = control.shipments();
    let before = now_secs();

    let deliveries = control
        .send_tracking(&base, DeliveryPlan::default())
        .await
        .unwrap();
    use DeliveryKind::Normal;
    use TrackingStatus::*;
    let lifecycle = |api| {
        [
            (api, InTransit, Normal),
            (api, OutForDelivery, Normal),
            (api, Delivered, Normal),
        ]
    };
    let mut expected = lifecycle(Api::EasyPost).to_vec();
    expected.extend(lifecycle(Api::Shippo));
    expected.extend(lifecycle(Api::Generic));
    assert_eq!(statuses(&deliveries), expected);
    for delivery in &deliveries {
        assert_eq!(delivery.http_status, Some(200), "{delivery:?}");
        assert_eq!((delivery.attempts, delivery.error.as_deref()), (1, None));
    }
    assert_eq!(control.deliveries(), deliveries);

    let hits = receiver.hits();
    assert_eq!(hits.len(), 9);
    for (i, (hit, delivery)) in hits.iter().zip(&deliveries).enumerate() {
        assert_eq!(
            hit.body,
            delivery.body.as_bytes(),
            "the body is sent as recorded"
        );
        assert_eq!(hit.api, delivery.api.as_str());
        assert_eq!(hit.header("content-type"), "application/json");
        assert!(verifies(hit), "signature of delivery {i}");
        // A single flipped byte breaks it: the check above is not vacuous.
        let mut tampered = hit.clone();
        tampered.body[5] ^= 1;
        assert!(!verifies(&tampered));
        let rec = record(&records, &delivery.tracking_number);
        let hours = lifecycle_index(delivery.status);
        assert_eq!(reported(hit).0, event_time(rec, hours));
        assert_eq!(
            delivery.occurred_at.format(&Rfc3339).unwrap(),
            event_time(rec, hours)
        );
    }

    // EasyPost: an Event around the Tracker, history so far in tracking_details.
    let ep_rec = record(&records, &ep);
    for (i, hit) in hits[0..3].iter().enumerate() {
        let body = hit.json();
        let id = body["id"].as_str().unwrap();
        assert!(is_hex(id, "evt_"), "{id}");
        assert_eq!(id, deliveries[i].event_id);
        assert_eq!(body["object"], "Event");
        assert_eq!(body["description"], "tracker.updated");
        assert_eq!(body["mode"], "test");
        assert_eq!(body["created_at"], event_time(ep_rec, i as i64));
        let result = &body["result"];
        assert_eq!(result["object"], "Tracker");
        assert_eq!(
            result["id"],
            tracker_id.as_str(),
            "the Tracker bought with the label"
        );
        assert_eq!(result["tracking_code"], ep.as_str());
        assert_eq!(result["shipment_id"], ep_rec.shipment_id.as_str());
        assert_eq!(result["carrier"], "USPS");
        assert_eq!(result["updated_at"], event_time(ep_rec, i as i64));
        let wanted = ["in_transit", "out_for_delivery", "delivered"];
        assert_eq!(result["status"], wanted[i]);
        let details = result["tracking_details"].as_array().unwrap();
        assert_eq!(details.len(), i + 1);
        for (j, detail) in details.iter().enumerate() {
            assert_eq!(detail["object"], "TrackingDetail");
            assert_eq!(detail["status"], wanted[j]);
            assert!(!detail["message"].as_str().unwrap().is_empty());
            assert_eq!(detail["datetime"], event_time(ep_rec, j as i64));
        }
        let signature = hit.header("x-hmac-signature");
        assert!(signature.starts_with("hmac-sha256-hex="), "{signature}");
    }

    // Shippo: track_updated; out for delivery is TRANSIT in Shippo's vocabulary.
    let sh_rec = record(&records, &sh);
    for (i, hit) in hits[3..6].iter().enumerate() {
        let body = hit.json();
        assert_eq!(body["event"], "track_updated");
        assert_eq!(body["test"], true);
        let data = &body["data"];
        assert_eq!(data["carrier"], "usps");
        assert_eq!(data["tracking_number"], sh.as_str());
        assert_eq!(data["metadata"], "os-sh-0001");
        let status = &data["tracking_status"];
        let object_id = status["object_id"].as_str().unwrap();
        assert!(is_hex(object_id, ""), "{object_id}");
        assert_eq!(object_id, deliveries[3 + i].event_id);
        assert_eq!(status["status"], ["TRANSIT", "TRANSIT", "DELIVERED"][i]);
        assert!(!status["status_details"].as_str().unwrap().is_empty());
        assert_eq!(status["status_date"], event_time(sh_rec, i as i64));
        let check = check_signature(hit, &real_key("shippo"));
        let t = check.timestamp.unwrap();
        assert!(
            t >= before && t <= now_secs(),
            "signed now, not at the event time"
        );
    }
    assert_eq!(
        hits[3].json()["data"]["tracking_status"]["status_details"],
        "In transit to the destination facility"
    );
    assert_eq!(
        hits[4].json()["data"]["tracking_status"]["status_details"],
        "Out for delivery"
    );

    // Generic: Standard Webhooks headers around our own body.
    let gen_rec = record(&records, &generic);
    for (i, hit) in hits[6..9].iter().enumerate() {
        let status = ["IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"][i];
        assert_eq!(
            hit.json(),
            json!({"type": "shipment.tracking", "data": {
                "tracking_number": generic, "status": status,
                "occurred_at": event_time(gen_rec, i as i64), "reference": "os-gen-0001"
            }})
        );
        let id = hit.header("webhook-id");
        assert!(is_hex(id, "msg_"), "{id}");
        assert_eq!(id, deliveries[6 + i].event_id);
        let t: i64 = hit.header("webhook-timestamp").parse().unwrap();
        assert!(t >= before && t <= now_secs());
        assert!(hit.header("webhook-signature").starts_with("v1,"));
    }
    let ids: std::collections::BTreeSet<_> = deliveries.iter().map(|d| &d.event_id).collect();
    assert_eq!(ids.len(), 9, "every event has its own id");
}

#[tokio::test]
async fn duplicates_are_sent_twice_with_identical_bodies_and_ids() {
    let h = Harness::new().await;
    three_shipments(&h).await;
    let (receiver, base) = Receiver::start().await;
    let plan = DeliveryPlan {
        duplicates: true,
        ..DeliveryPlan::default()
    };
    let deliveries = h
        .sandbox
        .control()
        .send_tracking(&base, plan)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 18);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 18);
    for (pair, sent) in deliveries.chunks(2).zip(hits.chunks(2)) {
        let (first, second) = (&pair[0], &pair[1]);
        assert_eq!(first.kind, DeliveryKind::Normal);
        assert_eq!(second.kind, DeliveryKind::Duplicate);
        assert_eq!(first.body, second.body);
        assert_eq!(first.event_id, second.event_id);
        assert_eq!(first.status, second.status);
        assert_eq!(sent[0].body, sent[1].body, "identical bytes on the wire");
        assert!(verifies(&sent[0]) && verifies(&sent[1]));
        if sent[0].api == "generic" {
            assert_eq!(sent[0].header("webhook-id"), sent[1].header("webhook-id"));
        }
        assert_eq!(
            (first.http_status, second.http_status),
            (Some(200), Some(200))
        );
    }
    let distinct: std::collections::BTreeSet<_> =
        deliveries.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(distinct.len(), 9);
}

#[tokio::test]
async fn shuffled_deliveries_leave_time_order_but_keep_the_event_times() {
    let h = Harness::new().await;
    three_shipments(&h).await;
    let (receiver, base) = Receiver::start().await;
    let control = h.sandbox.control();
    let records = control.shipments();
    let plan = DeliveryPlan {
        shuffle_seed: Some(7),
        ..DeliveryPlan::default()
    };
    let deliveries = control.send_tracking(&base, plan.clone()).await.unwrap();
    assert_eq!(deliveries.len(), 9);

    // Some shipment's events arrive out of time order.
    let hits = receiver.hits();
    let out_of_order = records.iter().any(|rec| {
        let times: Vec<String> = hits
            .iter()
            .zip(&deliveries)
            .filter(|(_, d)| Some(&d.tracking_number) == rec.tracking_number.as_ref())
            .map(|(hit, _)| reported(hit).0)
            .collect();
        assert_eq!(times.len(), 3);
        !times.is_sorted()
    });
    assert!(out_of_order, "{:?}", statuses(&deliveries));

    // Every event is still there once, with its own time, correctly signed.
    let mut seen = Vec::new();
    for (hit, delivery) in hits.iter().zip(&deliveries) {
        let rec = record(&records, &delivery.tracking_number);
        let hours = lifecycle_index(delivery.status);
        assert_eq!(reported(hit).0, event_time(rec, hours));
        assert!(verifies(hit));
        assert_eq!(delivery.http_status, Some(200));
        seen.push((delivery.tracking_number.clone(), delivery.status));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 9);

    // The same seed gives the same order.
    let again = control.send_tracking(&base, plan).await.unwrap();
    let order = |deliveries: &[Delivery]| -> Vec<(String, TrackingStatus)> {
        deliveries
            .iter()
            .map(|d| (d.tracking_number.clone(), d.status))
            .collect()
    };
    assert_eq!(order(&again), order(&deliveries));
}

#[tokio::test]
async fn forged_deliveries_fail_verification() {
    let h = Harness::new().await;
    three_shipments(&h).await;
    let (receiver, base) = Receiver::start().await;
    let control = h.sandbox.control();
    let records = control.shipments();
    let plan = DeliveryPlan {
        forged: true,
        ..DeliveryPlan::default()
    };
    let deliveries = control.send_tracking(&base, plan).await.unwrap();
    assert_eq!(deliveries.len(), 12);
    let hits = receiver.hits();
    let mut forged = 0;
    for (hit, delivery) in hits.iter().zip(&deliveries) {
        if delivery.kind == DeliveryKind::Forged {
            forged += 1;
            assert!(!verifies(hit), "{delivery:?}");
            assert_eq!(delivery.http_status, Some(401), "the receiver refused it");
            assert_eq!(delivery.status, TrackingStatus::ReturnToSender);
            // After the last real event, under an id of its own.
            let rec = record(&records, &delivery.tracking_number);
            assert_eq!(reported(hit).0, event_time(rec, 3));
            assert!(
                deliveries
                    .iter()
                    .filter(|d| d.kind == DeliveryKind::Normal)
                    .all(|d| d.event_id != delivery.event_id)
            );
        } else {
            assert!(verifies(hit));
            assert_eq!(delivery.http_status, Some(200));
        }
    }
    assert_eq!(forged, 3);
    let forged_apis: Vec<Api> = deliveries
        .iter()
        .filter(|d| d.kind == DeliveryKind::Forged)
        .map(|d| d.api)
        .collect();
    assert_eq!(forged_apis, Api::ALL);
}

#[tokio::test]
async fn stale_deliveries_are_correctly_signed_ten_minutes_ago() {
    let h = Harness::new().await;
    let ([_, sh, generic], _) = three_shipments(&h).await;
    let (receiver, base) = Receiver::start().await;
    let plan = DeliveryPlan {
        stale: true,
        ..DeliveryPlan::default()
    };
    let before = now_secs();
    let deliveries = h
        .sandbox
        .control()
        .send_tracking(&base, plan)
        .await
        .unwrap();
    let after = now_secs();
    assert_eq!(
        deliveries.len(),
        11,
        "EasyPost signs no timestamp: no stale event"
    );
    let hits = receiver.hits();
    let mut stale = Vec::new();
    for (hit, delivery) in hits.iter().zip(&deliveries) {
        let check = check_signature(hit, &real_key(&hit.api));
        assert!(check.valid, "{delivery:?}");
        if delivery.kind == DeliveryKind::Stale {
            let t = check.timestamp.unwrap();
            assert!(
                t >= before - 600 && t <= after - 600,
                "{t} vs {before}..{after}"
            );
            assert_eq!(delivery.http_status, Some(401), "outside the window");
            assert_eq!(delivery.status, TrackingStatus::ReturnToSender);
            stale.push(delivery.tracking_number.clone());
        } else {
            assert_eq!(delivery.http_status, Some(200));
        }
    }
    assert_eq!(stale, [sh, generic]);
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_request_until_success() {
    let h = Harness::new().await;
    let ([_, _, generic], _) = three_shipments(&h).await;
    let (receiver, base) = Receiver::start().await;
    let control = h.sandbox.control();
    let one_event = DeliveryPlan {
        only: Some(vec![generic.clone()]),
        until: Some(TrackingStatus::InTransit),
        ..DeliveryPlan::default()
    };

    receiver.fail_next.store(2, Ordering::SeqCst);
    let plan = DeliveryPlan {
        retry_on_5xx: 3,
        ..one_event.clone()
    };
    let deliveries = control.send_tracking(&base, plan).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        deliveries[0].attempts, 3,
        "two 500s, then success: no fourth"
    );
    assert_eq!(deliveries[0].http_status, Some(200));
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    for retry in &hits[1..] {
        assert_eq!(retry.body, hits[0].body);
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            assert_eq!(retry.header(name), hits[0].header(name));
        }
    }
    assert!(verifies(&hits[2]));

    // Retries run out: the last 500 is what is recorded.
    receiver.fail_next.store(5, Ordering::SeqCst);
    let plan = DeliveryPlan {
        retry_on_5xx: 1,
        ..one_event.clone()
    };
    let exhausted = control.send_tracking(&base, plan).await.unwrap();
    assert_eq!(exhausted[0].attempts, 2);
    assert_eq!(exhausted[0].http_status, Some(500));

    // Without retries a 500 is final.
    receiver.fail_next.store(1, Ordering::SeqCst);
    let once = control.send_tracking(&base, one_event).await.unwrap();
    assert_eq!((once[0].attempts, once[0].http_status), (1, Some(500)));
    receiver.fail_next.store(0, Ordering::SeqCst);
    assert_eq!(receiver.hits().len(), 3 + 2 + 1);
    assert_eq!(control.deliveries().len(), 3);
}

#[tokio::test]
async fn unreachable_receivers_are_recorded_as_transport_errors() {
    let h = Harness::new().await;
    let ([_, sh, _], _) = three_shipments(&h).await;
    // A port nothing listens on any more.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let plan = DeliveryPlan {
        only: Some(vec![sh]),
        retry_on_5xx: 3,
        ..DeliveryPlan::default()
    };
    let deliveries = h
        .sandbox
        .control()
        .send_tracking(&base, plan)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 3);
    for delivery in deliveries {
        assert_eq!(delivery.http_status, None);
        assert_eq!(delivery.attempts, 1, "only 5xx answers are retried");
        assert!(delivery.error.is_some_and(|error| !error.is_empty()));
    }
}

#[tokio::test]
async fn non_loopback_targets_are_refused() {
    let h = Harness::new().await;
    three_shipments(&h).await;
    let control = h.sandbox.control();
    for base in [
        "http://192.0.2.10:8080",
        "https://example.com",
        "http://169.254.169.254",
        "http://localhost.example.com",
        "http://[2001:db8::1]:80",
    ] {
        let refused = control
            .send_tracking(base, DeliveryPlan::default())
            .await
            .unwrap_err();
        assert!(
            matches!(refused, WebhookError::NotLoopback(_)),
            "{base}: {refused}"
        );
    }
    assert!(matches!(
        control
            .send_tracking("file:///etc/passwd", DeliveryPlan::default())
            .await,
        Err(WebhookError::InvalidUrl(_))
    ));

    let url = h.url("/_sandbox/webhooks/send");
    let response = h
        .http
        .post(&url)
        .json(&json!({"baseUrl": "http://10.1.2.3:9000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("loopback"),
        "{body}"
    );
    let bad_plan = h
        .http
        .post(&url)
        .json(&json!({"baseUrl": "http://127.0.0.1:9", "plan": {"until": "return_to_sender"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_plan.status(), StatusCode::BAD_REQUEST);
    assert!(control.deliveries().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn control_routes_send_list_and_forget_deliveries() {
    let h = Harness::new().await;
    let ([_, sh, _], _) = three_shipments(&h).await;
    let (receiver, base) = Receiver::start().await;
    let response = h
        .http
        .post(h.url("/_sandbox/webhooks/send"))
        .json(&json!({
            "baseUrl": format!("{base}/"),
            "plan": {"only": [sh], "until": "out_for_delivery", "base_time": "2026-05-01T12:00:00+02:00"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let sent: Value = response.json().await.unwrap();
    let sent = sent["deliveries"].as_array().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["api"], "shippo");
    assert_eq!(sent[0]["tracking_number"], sh.as_str());
    assert_eq!(sent[0]["status"], "in_transit");
    assert_eq!(sent[1]["status"], "out_for_delivery");
    assert_eq!(sent[0]["kind"], "normal");
    assert_eq!(sent[0]["occurred_at"], "2026-05-01T10:00:00Z");
    assert_eq!(sent[1]["occurred_at"], "2026-05-01T11:00:00Z");
    assert_eq!(sent[0]["http_status"], 200);
    assert_eq!(sent[0]["attempts"], 1);
    assert_eq!(sent[0]["error"], Value::Null);
    assert_eq!(sent[0]["url"], format!("{base}/webhooks/shippo"));
    assert!(sent[0]["headers"]["Shippo-Auth-Signature"].is_string());
    assert_eq!(receiver.hits().len(), 2);
    assert_eq!(
        reported(&receiver.hits()[1]),
        ("2026-05-01T11:00:00Z".to_owned(), "TRANSIT".to_owned())
    );

    let listed: Value = h
        .get(&h.url("/_sandbox/webhooks/deliveries"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["deliveries"].as_array().unwrap(), &sent);
    let control = h.sandbox.control();
    assert_eq!(control.deliveries().len(), 2);
    let cleared = h
        .http
        .delete(h.url("/_sandbox/webhooks/deliveries"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(control.deliveries().is_empty());

    control
        .send_tracking(&base, DeliveryPlan::default())
        .await
        .unwrap();
    assert_eq!(control.deliveries().len(), 9);
    control.reset();
    assert!(control.deliveries().is_empty());
    // No shipments, nothing to send.
    let nothing = control
        .send_tracking(&base, DeliveryPlan::default())
        .await
        .unwrap();
    assert!(nothing.is_empty());

    let unknown = h
        .http
        .post(h.url("/_sandbox/webhooks/send"))
        .json(&json!({"baseUrl": base, "plan": {"dupes": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
}

/// The receiving side's own verifier and parser (orderseal) accept every honest delivery,
/// refuse the forged and stale ones, and read the event the sandbox meant.
#[tokio::test]
async fn orderseal_verifies_and_parses_what_the_sandbox_sends() {
    use orderseal::carriers::events;
    use orderseal::carriers::webhooks::{CanonicalStatus, Headers, Scheme, VerifyError, verify};
    use orderseal::secret::SecretString;

    let h = Harness::new().await;
    three_shipments(&h).await;
    let (_receiver, base) = Receiver::start().await;
    let plan = DeliveryPlan {
        duplicates: true,
        forged: true,
        stale: true,
        shuffle_seed: Some(11),
        ..DeliveryPlan::default()
    };
    let deliveries = h
        .sandbox
        .control()
        .send_tracking(&base, plan)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 9 * 2 + 3 + 2);
    for delivery in &deliveries {
        let (scheme, secret) = match delivery.api {
            Api::EasyPost => (Scheme::EasyPost, DEFAULT_EASYPOST_WEBHOOK_SECRET),
            Api::Shippo => (Scheme::Shippo, DEFAULT_SHIPPO_WEBHOOK_SECRET),
            Api::Generic => (Scheme::StandardWebhooks, DEFAULT_GENERIC_WEBHOOK_SECRET),
        };
        let pairs: Vec<(String, String)> = delivery
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let verified = verify(
            scheme,
            &Headers::new(&pairs),
            delivery.body.as_bytes(),
            &[SecretString::new(secret)],
            OffsetDateTime::now_utc(),
        );
        match delivery.kind {
            DeliveryKind::Forged => {
                assert_eq!(verified, Err(VerifyError::Mismatch));
                continue;
            }
            DeliveryKind::Stale => {
                assert_eq!(verified, Err(VerifyError::OutsideWindow));
                continue;
            }
            DeliveryKind::Normal | DeliveryKind::Duplicate => {
                let verified = verified.unwrap_or_else(|e| panic!("{e}: {delivery:?}"));
                assert_eq!(
                    verified.event_id.is_some(),
                    delivery.api == Api::Generic,
                    "only Standard Webhooks carries an id header"
                );
            }
        }
        let event = events::parse(
            scheme,
            delivery.body.as_bytes(),
            delivery.headers.get("webhook-id").map(String::as_str),
        )
        .unwrap()
        .unwrap();
        assert_eq!(event.tracking_number, delivery.tracking_number);
        assert_eq!(event.event.occurred_at, delivery.occurred_at);
        let wanted = match (delivery.api, delivery.status) {
            (_, TrackingStatus::InTransit) => CanonicalStatus::InTransit,
            // Shippo has no out-for-delivery status.
            (Api::Shippo, TrackingStatus::OutForDelivery) => CanonicalStatus::InTransit,
            (_, TrackingStatus::OutForDelivery) => CanonicalStatus::OutForDelivery,
            (_, TrackingStatus::Delivered) => CanonicalStatus::Delivered,
            (_, TrackingStatus::ReturnToSender) => unreachable!("only forged or stale"),
        };
        assert_eq!(event.event.status, wanted);
        let event_id = match delivery.api {
            Api::Shippo => format!("shippo:{}", delivery.event_id),
            Api::EasyPost | Api::Generic => delivery.event_id.clone(),
        };
        assert_eq!(event.event.event_id, event_id);
    }
}

/// A seller's EasyPost secret need not be ASCII: the sandbox keys with its NFKD form, as
/// EasyPost does (the expected MAC's key is written out decomposed here), and orderseal,
/// configured with the secret as typed, verifies it.
#[tokio::test]
async fn non_ascii_easypost_secrets_are_keyed_with_their_nfkd_form() {
    use orderseal::carriers::webhooks::{Headers, Scheme, verify};
    use orderseal::secret::SecretString;

    // Precomposed as a seller types it; decomposed (compatibility) by hand below.
    let typed = "\u{fb01}-s\u{e9}cret-\u{c5}ngstr\u{f6}m";
    let nfkd = "fi-se\u{301}cret-A\u{30a}ngstro\u{308}m";
    let h = Harness::with_config(carrier_sandbox::CarrierSandboxConfig {
        easypost_webhook_secret: typed.to_owned(),
        ..Default::default()
    })
    .await;
    three_shipments(&h).await;
    let (_receiver, base) = Receiver::start().await;
    let deliveries = h
        .sandbox
        .control()
        .send_tracking(&base, DeliveryPlan::default())
        .await
        .unwrap();
    let easypost: Vec<_> = deliveries
        .iter()
        .filter(|d| d.api == Api::EasyPost)
        .collect();
    assert!(!easypost.is_empty());
    for delivery in easypost {
        let mac = delivery.headers["X-Hmac-Signature"]
            .strip_prefix("hmac-sha256-hex=")
            .map(unhex)
            .unwrap();
        assert!(hmac_ok(nfkd.as_bytes(), delivery.body.as_bytes(), &mac));
        assert!(!hmac_ok(typed.as_bytes(), delivery.body.as_bytes(), &mac));
        let pairs: Vec<(String, String)> = delivery
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        verify(
            Scheme::EasyPost,
            &Headers::new(&pairs),
            delivery.body.as_bytes(),
            &[SecretString::new(typed)],
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    }
}
