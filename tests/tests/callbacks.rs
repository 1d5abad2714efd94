//! Carrier callbacks against the emulator: only correctly signed, fresh webhooks change an
//! order; duplicates and reordering converge; the label's ship date (shipment anchor, the
//! default) or DELIVERED (delivery anchor) starts the PII retention clock, and the sealed-PII
//! item's TTL follows it.
//! Signatures here are computed from the documented formulas with aws-lc-rs directly, not with
//! the code under test.

use aws_lc_rs::hmac;
use base64::Engine;
use orderseal::aws::ddb::get_n as n;
use orderseal::order::RetentionAnchor;
use orderseal_carrier_callback::LambdaCallback;
use orderseal_local::roles;
use orderseal_tests::{LogCapture, TestStack};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const EP: &str = orderseal_local::LOCAL_WEBHOOK_SECRETS[0];
const SHIPPO: &str = orderseal_local::LOCAL_WEBHOOK_SECRETS[1];
const GENERIC: &str = orderseal_local::LOCAL_WEBHOOK_SECRETS[2];

fn mac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn easypost_headers(secret: &str, body: &str) -> Vec<(String, String)> {
    vec![(
        "X-Hmac-Signature".into(),
        format!(
            "hmac-sha256-hex={}",
            hex(&mac(secret.as_bytes(), body.as_bytes()))
        ),
    )]
}

fn shippo_headers(secret: &str, t: i64, body: &str) -> Vec<(String, String)> {
    let sig = hex(&mac(secret.as_bytes(), format!("{t}.{body}").as_bytes()));
    vec![("Shippo-Auth-Signature".into(), format!("t={t},v1={sig}"))]
}

fn generic_headers(secret: &str, id: &str, t: i64, body: &str) -> Vec<(String, String)> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .encode(mac(&key, format!("{id}.{t}.{body}").as_bytes()));
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), t.to_string()),
        ("webhook-signature".into(), format!("v1,{sig}")),
    ]
}

fn iso(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

fn easypost_event(id: &str, tracking: &str, status: &str, at: OffsetDateTime) -> String {
    json!({"id": id, "object": "Event", "description": "tracker.updated", "result": {
        "object": "Tracker", "tracking_code": tracking, "status": status, "updated_at": iso(at),
        "tracking_details": [{"object": "TrackingDetail", "status": status, "datetime": iso(at)}]}})
    .to_string()
}

/// How long PII is kept after its anchor, as the template configures it.
fn retention_days(stack: &TestStack) -> time::Duration {
    orderseal_local::callback_config(&stack.resources)
        .unwrap()
        .retention
        .retention
}

fn callback(stack: &TestStack) -> LambdaCallback {
    callback_anchored(stack, RetentionAnchor::Shipment)
}

/// The callback as deployed with `RetentionAnchor=<anchor>`.
fn callback_anchored(stack: &TestStack, anchor: RetentionAnchor) -> LambdaCallback {
    let mut config = orderseal_local::callback_config(&stack.resources).unwrap();
    config.retention = config.retention.with_anchor(anchor);
    orderseal_carrier_callback::build(
        &config,
        stack.aws_as(roles::CALLBACK).dynamodb.clone(),
        stack.aws_as(roles::CALLBACK).secrets.clone(),
        orderseal_ingest::system_clock(),
    )
}

/// The default anchor: the label's ship date fixes the expiry (and the PII item's TTL) at
/// dispatch; a delivery is recorded and moves neither.
#[tokio::test]
async fn the_shipment_anchor_fixes_the_expiry_at_the_label_and_delivery_leaves_it() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let id = "113-0000030-0000021";
    let before = OffsetDateTime::now_utc().unix_timestamp();
    let tracking = stack.ship(id, "US", "WA").await;
    let after = OffsetDateTime::now_utc().unix_timestamp();
    let retention = retention_days(&stack);
    assert_eq!(retention, time::Duration::days(22), "the deployed default");
    let item = stack.order_item(id).await.unwrap();
    let expires = n(&item, "pii_expires_at").unwrap();
    assert!(
        (before + retention.whole_seconds()..=after + retention.whole_seconds()).contains(&expires),
        "22 days after the label was bought"
    );
    assert_eq!(n(&item, "anchored_expires_at"), Some(expires));
    let pii = stack.pii_item(id).await.expect("the PII item");
    assert_eq!(n(&pii, "ttl"), Some(expires), "the TTL backstop follows");
    assert!(
        n(&item, "ttl").unwrap() > expires + 365 * 86_400,
        "the order item outlives the PII by the business retention"
    );
    let cb = callback(&stack);
    let delivered = easypost_event(
        "evt_s1",
        &tracking,
        "delivered",
        OffsetDateTime::now_utc() - time::Duration::minutes(5),
    );
    assert_eq!(
        cb.handle(
            "easypost",
            &easypost_headers(EP, &delivered),
            delivered.as_bytes()
        )
        .await,
        200
    );
    let item = stack.order_item(id).await.unwrap();
    assert_eq!(item["tracking_status"].as_s().unwrap(), "DELIVERED");
    assert!(item.contains_key("delivered_at"));
    assert_eq!(
        n(&item, "pii_expires_at"),
        Some(expires),
        "delivery moves nothing"
    );
    assert_eq!(n(&stack.pii_item(id).await.unwrap(), "ttl"), Some(expires));
    logs.assert_clean();
}

#[tokio::test]
async fn under_the_delivery_anchor_delivered_sets_the_pii_expiry() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let id = "113-0000030-0000001";
    let tracking = stack
        .ship_anchored(id, "US", "WA", RetentionAnchor::Delivery)
        .await;
    assert_eq!(
        stack
            .order_item(id)
            .await
            .unwrap()
            .get("anchored_expires_at"),
        None
    );
    let cb = callback_anchored(&stack, RetentionAnchor::Delivery);
    let t0 = OffsetDateTime::now_utc() - time::Duration::hours(5);
    // Delivered arrives first, then a late in-transit scan, then a duplicate of delivered.
    let delivered = easypost_event(
        "evt_3",
        &tracking,
        "delivered",
        t0 + time::Duration::hours(3),
    );
    let in_transit = easypost_event(
        "evt_1",
        &tracking,
        "in_transit",
        t0 + time::Duration::hours(1),
    );
    for body in [&delivered, &in_transit, &delivered] {
        assert_eq!(
            cb.handle("easypost", &easypost_headers(EP, body), body.as_bytes())
                .await,
            200
        );
    }
    let item = stack.order_item(id).await.unwrap();
    assert_eq!(item["tracking_status"].as_s().unwrap(), "DELIVERED");
    let delivered_at = t0 + time::Duration::hours(3);
    // The deployed default: 22 days, so that with the sweep's hour and the 7-day backup window
    // no copy outlives 30.
    let retention = retention_days(&stack);
    assert_eq!(retention, time::Duration::days(22));
    let expires = (delivered_at + retention).unix_timestamp();
    assert_eq!(n(&item, "pii_expires_at"), Some(expires));
    assert_eq!(n(&item, "anchored_expires_at"), Some(expires));
    assert_eq!(
        n(&stack.pii_item(id).await.unwrap(), "ttl"),
        Some(expires),
        "the PII item's TTL follows as the backstop"
    );
    assert!(logs.text().contains("\"outcome\":\"duplicate\""));
    logs.assert_clean();
}

/// A delivery whose TTL step was lost (throttled, timed out: the handler answered 500 and wrote
/// no marker) is repaired by the carrier's retry: the TTL step runs from the stored expiry even
/// though the delivery itself is no longer newer.
#[tokio::test]
async fn a_lost_ttl_step_is_repaired_by_the_retry() {
    use orderseal::aws::ddb::{n as num, s as string};
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let id = "113-0000030-0000007";
    let tracking = stack
        .ship_anchored(id, "US", "WA", RetentionAnchor::Delivery)
        .await;
    let cb = callback_anchored(&stack, RetentionAnchor::Delivery);
    let provisional = n(&stack.pii_item(id).await.unwrap(), "ttl").unwrap();
    // Delivered now: its expiry is past the provisional one (latest delivery date + retention).
    let delivered = easypost_event("evt_d", &tracking, "delivered", OffsetDateTime::now_utc());
    let send = async || {
        cb.handle(
            "easypost",
            &easypost_headers(EP, &delivered),
            delivered.as_bytes(),
        )
        .await
    };
    assert_eq!(send().await, 200);
    let expires = n(&stack.order_item(id).await.unwrap(), "pii_expires_at").unwrap();
    assert!(expires > provisional, "the case needs a late delivery");
    // What a lost step leaves: the delivery recorded, the TTL still provisional, no marker.
    let table = stack.table();
    stack
        .aws
        .dynamodb
        .update_item()
        .table_name(table)
        .key(
            "pk",
            string(orderseal::layout::pii_pk(orderseal_tests::SELLER, id)),
        )
        .key("sk", string(orderseal::layout::PII_SK))
        .update_expression("SET #ttl = :old")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":old", num(provisional))
        .send()
        .await
        .unwrap();
    stack
        .aws
        .dynamodb
        .delete_item()
        .table_name(table)
        .key("pk", string("CARRIEREVENT#easypost#evt_d"))
        .key("sk", string("CARRIEREVENT"))
        .send()
        .await
        .unwrap();
    assert_eq!(send().await, 200, "the carrier's retry");
    let item = stack.order_item(id).await.unwrap();
    assert_eq!(n(&item, "pii_expires_at"), Some(expires));
    assert_eq!(
        n(&stack.pii_item(id).await.unwrap(), "ttl"),
        Some(expires),
        "the retry moved the TTL"
    );
    logs.assert_clean();
}

/// The tracking store with a fault: each `apply` is sent to the table, and then the first
/// `fail` of them report a failure anyway (a timeout after DynamoDB applied the write, or the
/// function dying before it answers).
struct AppliedThenFailed {
    inner: orderseal::tracking::DynamoTrackingStore,
    fail: std::sync::atomic::AtomicU32,
}

impl orderseal::tracking::TrackingStore for AppliedThenFailed {
    async fn order_for(
        &self,
        route: &str,
        tracking_number: &str,
    ) -> Result<Option<orderseal::tracking::TrackedOrder>, orderseal::store::StoreError> {
        self.inner.order_for(route, tracking_number).await
    }

    async fn seen(
        &self,
        carrier: &str,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, orderseal::store::StoreError> {
        self.inner.seen(carrier, event_id, now).await
    }

    async fn record_event(
        &self,
        carrier: &str,
        event_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), orderseal::store::StoreError> {
        self.inner.record_event(carrier, event_id, now).await
    }

    async fn apply(
        &self,
        seller_id: &str,
        order_id: &str,
        event: &orderseal::tracking::TrackingEvent,
        retention: Option<time::Duration>,
    ) -> Result<(), orderseal::store::StoreError> {
        self.inner
            .apply(seller_id, order_id, event, retention)
            .await?;
        let left = self.fail.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.fail
                .store(left - 1, std::sync::atomic::Ordering::SeqCst);
            return Err(orderseal::store::StoreError::Service {
                operation: "UpdateItem",
                code: "RequestTimeout".into(),
            });
        }
        Ok(())
    }
}

/// A delivery whose handling died after the write but before the answer (no dedupe marker yet)
/// is not taken for a duplicate: the carrier's retry applies it again and the order ends
/// delivered with its expiry, the marker written once it is.
#[tokio::test]
async fn a_crash_after_applying_a_delivery_does_not_make_its_retry_a_duplicate() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let id = "113-0000030-0000011";
    let tracking = stack
        .ship_anchored(id, "US", "WA", RetentionAnchor::Delivery)
        .await;
    let mut config = orderseal_local::callback_config(&stack.resources).unwrap();
    config.retention = config.retention.with_anchor(RetentionAnchor::Delivery);
    let callback_aws = stack.aws_as(roles::CALLBACK);
    let cb = orderseal_carrier_callback::Callback {
        store: AppliedThenFailed {
            inner: orderseal::tracking::DynamoTrackingStore::new(
                callback_aws.dynamodb.clone(),
                &config.table,
            ),
            fail: 2.into(),
        },
        secrets: orderseal_carrier_callback::SecretsManagerWebhookSecrets::new(
            callback_aws.secrets.clone(),
            &config.webhook_secret_id,
        ),
        clock: orderseal_ingest::system_clock(),
        delivery_retention: config.delivery_retention(),
    };
    let at = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let delivered = easypost_event("evt_crash", &tracking, "delivered", at);
    let send = async || {
        cb.handle(
            "easypost",
            &easypost_headers(EP, &delivered),
            delivered.as_bytes(),
        )
        .await
    };
    assert_eq!(send().await, 500, "the first attempt died after the write");
    assert_eq!(send().await, 500, "and so did the carrier's first retry");
    assert_eq!(
        send().await,
        200,
        "the next retry is applied, not deduplicated"
    );
    let item = stack.order_item(id).await.unwrap();
    assert_eq!(item["tracking_status"].as_s().unwrap(), "DELIVERED");
    let expires = (at.replace_nanosecond(0).unwrap() + config.retention.retention).unix_timestamp();
    assert_eq!(n(&item, "pii_expires_at"), Some(expires));
    let text = logs.text();
    assert!(
        !text.contains("\"outcome\":\"duplicate\""),
        "no attempt was a duplicate"
    );
    assert_eq!(send().await, 200);
    assert!(
        logs.text().contains("\"outcome\":\"duplicate\""),
        "once applied and marked, a repeat is a duplicate"
    );
    logs.assert_clean();
}

/// AWS calls per webhook event, counted at the SDK layer (BENCHMARKS.md): the event is applied
/// before its marker is written, so a duplicate costs the marker's read and nothing else.
#[tokio::test]
async fn calls_per_webhook_event() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let tracking = stack.ship("113-0000030-0000009", "US", "WA").await;
    let cb = callback(&stack);
    let calls = &stack.aws_as(roles::CALLBACK).calls;
    let t0 = OffsetDateTime::now_utc() - time::Duration::hours(5);
    let send = async |body: &str| {
        calls.reset();
        let status = cb
            .handle("easypost", &easypost_headers(EP, body), body.as_bytes())
            .await;
        assert_eq!(status, 200);
        calls.snapshot()
    };
    let count = |pairs: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    let in_transit = easypost_event("evt_c1", &tracking, "in_transit", t0);
    // Cold container: the webhook secret is read once.
    let mut first = count(&[
        ("DynamoDB.GetItem", 2),    // tracking lookup, dedupe marker
        ("DynamoDB.UpdateItem", 1), // tracking state
        ("DynamoDB.PutItem", 1),    // dedupe marker, after applying
    ]);
    first.insert("Secrets Manager.GetSecretValue".into(), 1);
    assert_eq!(send(&in_transit).await, first);
    assert_eq!(
        send(&in_transit).await,
        count(&[("DynamoDB.GetItem", 2)]),
        "a duplicate: lookup and marker read"
    );
    let delivered = easypost_event(
        "evt_c2",
        &tracking,
        "delivered",
        t0 + time::Duration::hours(1),
    );
    assert_eq!(
        send(&delivered).await,
        count(&[
            // lookup, marker, the order's business facts
            ("DynamoDB.GetItem", 3),
            ("DynamoDB.UpdateItem", 2), // tracking state, delivery (the label fixed the expiry)
            ("DynamoDB.PutItem", 2),    // the business record refreshed, the marker
        ])
    );
    logs.assert_clean();
}

#[tokio::test]
async fn rejected_requests_change_nothing() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let id = "113-0000031-0000001";
    let tracking = stack.ship(id, "CA", "BC").await; // Shippo route
    let before = stack.order_item(id).await.unwrap();
    let cb = callback(&stack);
    let now = OffsetDateTime::now_utc();
    let body = json!({"event": "track_updated", "data": {"tracking_number": tracking,
        "tracking_status": {"object_id": "s1", "status": "DELIVERED", "status_date": iso(now)}}})
    .to_string();
    let t = now.unix_timestamp();
    let mut tampered = body.clone().into_bytes();
    tampered[10] ^= 1;
    type Case = (Vec<(String, String)>, Vec<u8>, u16, &'static str);
    let cases: Vec<Case> = vec![
        (
            shippo_headers(SHIPPO, t, &body),
            tampered,
            401,
            "tampered body",
        ),
        (
            shippo_headers("wrong-secret", t, &body),
            body.clone().into_bytes(),
            401,
            "wrong secret",
        ),
        (vec![], body.clone().into_bytes(), 401, "missing header"),
        (
            shippo_headers(SHIPPO, t - 301, &body),
            body.clone().into_bytes(),
            401,
            "stale",
        ),
        (
            shippo_headers(SHIPPO, t + 301, &body),
            body.clone().into_bytes(),
            401,
            "future",
        ),
        (
            shippo_headers(SHIPPO, t, "not json"),
            b"not json".to_vec(),
            400,
            "malformed",
        ),
        (vec![], vec![b' '; 257 * 1024], 413, "oversized"),
    ];
    // Correctly signed, but dated two days ahead, or days before the label was bought.
    let dated = |at: OffsetDateTime| {
        let body = json!({"event": "track_updated", "data": {"tracking_number": tracking,
            "tracking_status": {"object_id": "s9", "status": "DELIVERED", "status_date": iso(at)}}})
        .to_string();
        (shippo_headers(SHIPPO, t, &body), body.into_bytes())
    };
    let mut cases = cases;
    for (at, what) in [
        (now + time::Duration::days(2), "dated ahead"),
        (now - time::Duration::days(3), "dated before the label"),
    ] {
        let (headers, body) = dated(at);
        cases.push((headers, body, 400, what));
    }
    for (headers, body, want, what) in cases {
        assert_eq!(cb.handle("shippo", &headers, &body).await, want, "{what}");
    }
    // A carrier route that did not sell the label cannot move the order, however well signed.
    let other = easypost_event("evt_x", &tracking, "delivered", now);
    assert_eq!(
        cb.handle("easypost", &easypost_headers(EP, &other), other.as_bytes())
            .await,
        200
    );
    assert_eq!(cb.handle("nobody", &[], b"{}").await, 404);
    let after = stack.order_item(id).await.unwrap();
    assert_eq!(before, after, "a rejected request changed the order");
    let text = logs.text();
    for reason in [
        "event_time_ahead",
        "event_time_before_label",
        "unknown_tracking_number",
    ] {
        assert!(text.contains(reason), "{reason} logged");
    }
    // And the genuine one is accepted.
    assert_eq!(
        cb.handle("shippo", &shippo_headers(SHIPPO, t, &body), body.as_bytes())
            .await,
        200
    );
    let item = stack.order_item(id).await.unwrap();
    assert_eq!(item["tracking_status"].as_s().unwrap(), "DELIVERED");
    logs.assert_clean();
}

#[tokio::test]
async fn rotated_secrets_are_accepted_during_the_overlap_and_standard_webhooks_dedupe_on_id() {
    let stack = TestStack::new().await;
    let id = "113-0000032-0000001";
    let tracking = stack.ship(id, "US", "WA").await;
    let cb = callback(&stack);
    let now = OffsetDateTime::now_utc();
    // EasyPost: the previous secret is still listed, so both sign acceptably.
    let body = easypost_event("evt_9", &tracking, "out_for_delivery", now);
    assert_eq!(
        cb.handle(
            "easypost",
            &easypost_headers("ep-webhook-secret-previous", &body),
            body.as_bytes()
        )
        .await,
        200
    );
    let body = easypost_event(
        "evt_10",
        &tracking,
        "in_transit",
        now - time::Duration::hours(1),
    );
    assert_eq!(
        cb.handle("easypost", &easypost_headers(EP, &body), body.as_bytes())
            .await,
        200
    );
    let item = stack.order_item(id).await.unwrap();
    assert_eq!(
        item["tracking_status"].as_s().unwrap(),
        "OUT_FOR_DELIVERY",
        "the older scan did not win"
    );

    // Standard Webhooks (generic carrier): same webhook-id twice is one event.
    let gid = "113-0000032-0000002";
    let gtracking = stack.ship(gid, "GB", "London").await;
    let body = json!({"type": "shipment.tracking", "data": {"tracking_number": gtracking,
        "status": "DELIVERED", "occurred_at": iso(now)}})
    .to_string();
    let headers = generic_headers(GENERIC, "msg_1", now.unix_timestamp(), &body);
    assert_eq!(cb.handle("generic", &headers, body.as_bytes()).await, 200);
    assert_eq!(cb.handle("generic", &headers, body.as_bytes()).await, 200);
    let item = stack.order_item(gid).await.unwrap();
    assert_eq!(item["tracking_status"].as_s().unwrap(), "DELIVERED");
    let markers = orderseal_local::inspect::scan_all(&stack.aws, stack.table())
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i["sk"].as_s().unwrap() == "CARRIEREVENT")
        .count();
    assert_eq!(markers, 3, "one dedupe marker per distinct event");
}

#[tokio::test]
async fn the_carriers_own_webhooks_duplicated_shuffled_forged_and_stale_end_delivered() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let orders = [
        ("113-0000033-0000001", "US", "WA"),
        ("113-0000033-0000002", "CA", "BC"),
        ("113-0000033-0000003", "GB", "London"),
    ];
    let mut tracking = Vec::new();
    for (id, country, region) in orders {
        tracking.push(stack.ship(id, country, region).await);
    }
    let mut anchored = Vec::new();
    for (id, _, _) in orders {
        anchored.push(n(&stack.order_item(id).await.unwrap(), "pii_expires_at").unwrap());
    }
    let cb = std::sync::Arc::new(callback(&stack));
    let (url, server) = orderseal_local::callbacks::serve(cb, 0).await.unwrap();
    let base = OffsetDateTime::now_utc() - time::Duration::hours(4);
    let plan: carrier_sandbox::DeliveryPlan = serde_json::from_value(json!({
        "duplicates": true, "shuffle_seed": 11, "forged": true, "stale": true, "retry_on_5xx": 2,
        "base_time": iso(base),
    }))
    .unwrap();
    let deliveries = stack
        .carriers
        .control()
        .send_tracking(&url, plan)
        .await
        .unwrap();
    server.abort();
    for d in &deliveries {
        let want = match format!("{:?}", d.kind).as_str() {
            "Forged" | "Stale" => 401,
            _ => 200,
        };
        assert_eq!(d.http_status, Some(want), "{:?} {:?}", d.kind, d.status);
    }
    for ((id, _, _), anchored) in orders.iter().zip(anchored) {
        let item = stack.order_item(id).await.unwrap();
        assert_eq!(item["tracking_status"].as_s().unwrap(), "DELIVERED", "{id}");
        // Delivered is the third lifecycle event: base + 2 h; the label fixed the expiry.
        let delivered = base.replace_nanosecond(0).unwrap() + time::Duration::hours(2);
        assert_eq!(
            n(&item, "delivered_at_ms"),
            Some(delivered.unix_timestamp() * 1000),
            "{id}"
        );
        assert_eq!(n(&item, "pii_expires_at"), Some(anchored), "{id}");
    }
    assert_eq!(tracking.len(), 3);
    logs.assert_clean();
}
