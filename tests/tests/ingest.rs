//! Ingest against the running emulator and the SP-API sandbox: records are sealed, duplicates
//! and reordering are harmless, SP-API trouble loses nothing, bad input is quarantined with a
//! typed reason, sealed blobs are bound to their order and class, and no canary PII reaches a
//! log, the table or a queue.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use orderseal::classes::{ClassPayload, ContactPii, GiftPii, ShippingPii};
use orderseal::layout::pii_attribute;
use orderseal::seal::{KmsKeyProvider, PiiClass, SealContext, SealError, SealedBlob, Sealer};
use orderseal_tests::{LogCapture, SELLER, TestStack, assert_no_canary, canary_order};
use serde_json::json;
use spapi_sandbox::{Fault, Op};

const FAST: Duration = Duration::from_secs(30);

fn blob(item: &orderseal_local::inspect::Item, class: PiiClass) -> SealedBlob {
    let AttributeValue::B(b) = &item[pii_attribute(class)] else {
        panic!("{class} is not sealed");
    };
    SealedBlob::from_bytes(b.as_ref()).unwrap()
}

fn sealer(stack: &TestStack) -> Sealer<KmsKeyProvider> {
    Sealer::new(KmsKeyProvider::new(
        stack.aws.kms.clone(),
        stack.resources.key("PiiSealKey").unwrap(),
    ))
}

#[tokio::test]
async fn a_notification_becomes_a_record_whose_pii_is_ciphertext() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let order = canary_order(
        "113-0000001-0000001",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    stack.send(&stack.publish(&order)).await;

    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));

    let item = stack
        .order_item("113-0000001-0000001")
        .await
        .expect("stored");
    // The order item holds no PII; its sealed-PII item holds the three classes.
    assert!(orderseal_local::inspect::sealed_classes(&item).is_empty());
    let pii = stack
        .pii_item("113-0000001-0000001")
        .await
        .expect("the sealed-PII item");
    assert_eq!(
        orderseal_local::inspect::sealed_classes(&pii),
        PiiClass::ALL.to_vec()
    );
    assert_eq!(item["fulfillment_status"].as_s().unwrap(), "UNSHIPPED");
    assert_eq!(item["ship_req"].as_s().unwrap(), "SENT");
    // The sealed blobs open, under their own context, to exactly the canary values.
    let sealer = sealer(&stack);
    let ctx = |c| SealContext::new(SELLER, "113-0000001-0000001", c);
    let shipping = ShippingPii::from_plaintext(
        &sealer
            .open(&ctx(PiiClass::Shipping), &blob(&pii, PiiClass::Shipping))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(shipping.name.unwrap().expose(), "CANARY-RECIPIENT-Q7Z");
    assert_eq!(shipping.phone.unwrap().expose(), "CANARY-PHONE-Q7Z");
    let contact = ContactPii::from_plaintext(
        &sealer
            .open(&ctx(PiiClass::Contact), &blob(&pii, PiiClass::Contact))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        contact.buyer_email.unwrap().expose(),
        "canary-q7z@marketplace.amazon.com"
    );
    let gift = GiftPii::from_plaintext(
        &sealer
            .open(&ctx(PiiClass::Gift), &blob(&pii, PiiClass::Gift))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(gift.messages[0].message.expose(), "CANARY-GIFT-Q7Z");

    // One shipment request, carrying identifiers only.
    let shipments = orderseal_local::pump::take_all(&stack.aws, &stack.queue_url("ShipmentsQueue"))
        .await
        .unwrap();
    assert_eq!(shipments.len(), 1);
    let request: serde_json::Value = serde_json::from_str(shipments[0].body().unwrap()).unwrap();
    assert_eq!(
        request,
        json!({"version": 1, "seller_id": SELLER, "order_id": "113-0000001-0000001",
               "order_last_updated": "2026-11-21T10:00:00Z"})
    );
    // Nothing in a raw scan of the table or in any queue holds a canary value.
    let dump = stack.raw_dump().await;
    assert!(
        dump.contains("113-0000001-0000001"),
        "the dump is not reading the table"
    );
    assert_no_canary("the table and queues", &dump);
    // getOrder asked only for the datasets ingest uses.
    assert_eq!(
        stack.sandbox.control().stats().last_included_data.unwrap(),
        [
            "BUYER",
            "RECIPIENT",
            "FULFILLMENT",
            "PROCEEDS",
            "CANCELLATION"
        ]
    );
    logs.assert_clean();
}

#[tokio::test]
async fn the_same_notification_ten_times_gives_one_record_and_one_shipment_request() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let order = canary_order(
        "113-0000002-0000002",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    let body = stack.publish(&order);
    for _ in 0..10 {
        stack.send(&body).await;
    }
    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    assert_eq!(
        (report.received, report.acknowledged, report.failed),
        (10, 10, 0)
    );

    let items = orderseal_local::inspect::scan_all(&stack.aws, stack.table())
        .await
        .unwrap();
    let orders = items
        .iter()
        .filter(|i| i["sk"].as_s().unwrap() == "ORDER")
        .count();
    let markers = items
        .iter()
        .filter(|i| i["sk"].as_s().unwrap() == "NOTIF")
        .count();
    assert_eq!((orders, markers), (1, 1));
    let shipments = orderseal_local::pump::take_all(&stack.aws, &stack.queue_url("ShipmentsQueue"))
        .await
        .unwrap();
    assert_eq!(shipments.len(), 1);
    assert_eq!(stack.sandbox.control().stats().get_order.requests, 1);
    logs.assert_clean();
}

#[tokio::test]
async fn an_older_event_after_a_newer_one_changes_nothing() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let id = "113-0000003-0000003";
    // The newer version (canceled) arrives first...
    let newer = canary_order(id, "CANCELLED", "MERCHANT", "2026-11-22T10:00:00Z");
    stack.send(&stack.publish(&newer)).await;
    stack.drain(&ingest, FAST, Duration::ZERO).await;
    // ...then the notification of the older version, whose getOrder answer is older too.
    let older = canary_order(id, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z");
    stack.send(&stack.publish(&older)).await;
    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));

    let item = stack.order_item(id).await.unwrap();
    assert_eq!(item["fulfillment_status"].as_s().unwrap(), "CANCELLED");
    assert_eq!(item["last_updated"].as_s().unwrap(), "2026-11-22T10:00:00Z");
    assert!(
        !item.contains_key("ship_req"),
        "a canceled order got a shipment request"
    );
    let shipments = orderseal_local::pump::take_all(&stack.aws, &stack.queue_url("ShipmentsQueue"))
        .await
        .unwrap();
    assert!(shipments.is_empty());
    assert!(logs.text().contains("stale_noop"));

    // And a newer one after that does replace it.
    let newest = canary_order(id, "SHIPPED", "MERCHANT", "2026-11-23T10:00:00Z");
    stack.send(&stack.publish(&newest)).await;
    stack.drain(&ingest, FAST, Duration::ZERO).await;
    let item = stack.order_item(id).await.unwrap();
    assert_eq!(item["fulfillment_status"].as_s().unwrap(), "SHIPPED");
    logs.assert_clean();
}

#[tokio::test]
async fn throttled_then_successful_getorder_is_stored() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let order = canary_order(
        "113-0000004-0000004",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    let body = stack.publish(&order);
    stack
        .sandbox
        .control()
        .inject(Op::GetOrder, Fault::Throttle, 2);
    stack.send(&body).await;

    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));
    let stats = stack.sandbox.control().stats();
    assert_eq!(
        (stats.get_order.count(429), stats.get_order.count(200)),
        (2, 1)
    );
    assert!(stack.order_item("113-0000004-0000004").await.is_some());
    logs.assert_clean();
}

#[tokio::test]
async fn spapi_down_fails_the_message_which_reaches_the_dlq_after_max_receives() {
    let logs = LogCapture::start();
    let stack = TestStack::with_visibility_timeout(1).await;
    let ingest = stack.ingest();
    let order = canary_order(
        "113-0000005-0000005",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    let body = stack.publish(&order);
    stack.sandbox.control().set_down(true);
    stack.send(&body).await;

    // A short function timeout so each attempt gives up quickly; the pump waits for the
    // redelivery after every failure, as the event source mapping would.
    let report = stack
        .drain(&ingest, Duration::from_secs(2), Duration::from_secs(4))
        .await;
    assert_eq!(report.acknowledged, 0);
    assert_eq!(report.failed, 5, "maxReceiveCount from the template is 5");
    // Not lost: the notification itself is in the DLQ, and nothing half-done is left behind.
    let dlq = orderseal_local::pump::take_all(&stack.aws, &stack.queue_url("NotificationsDlq"))
        .await
        .unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].body().unwrap(), body);
    assert!(stack.order_item("113-0000005-0000005").await.is_none());
    let items = orderseal_local::inspect::scan_all(&stack.aws, stack.table())
        .await
        .unwrap();
    assert!(
        items.iter().all(|i| i["sk"].as_s().unwrap() != "NOTIF"),
        "a failed attempt left its idempotency lock behind"
    );
    assert!(stack.sandbox.control().stats().get_order.count(503) >= 5);

    // Once SP-API is back, a redrive from the DLQ is processed normally.
    stack.sandbox.control().set_down(false);
    stack.send(&body).await;
    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    assert_eq!(report.acknowledged, 1);
    assert!(stack.order_item("113-0000005-0000005").await.is_some());
    logs.assert_clean();
}

#[tokio::test]
async fn bad_input_is_quarantined_with_a_typed_reason_and_the_rest_of_the_batch_proceeds() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let good_order = canary_order(
        "113-0000006-0000006",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    let good = stack.publish(&good_order);
    let template: serde_json::Value = serde_json::from_str(&good).unwrap();

    let mut missing = template.clone();
    missing["NotificationMetadata"]
        .as_object_mut()
        .unwrap()
        .remove("NotificationId");
    let mut wrong_type = template.clone();
    wrong_type["Payload"]["OrderChangeNotification"]["Summary"]["OrderItems"][0]["Quantity"] =
        json!("CANARY-POSTCODE-Q7Z");
    wrong_type["NotificationMetadata"]["NotificationId"] = json!("wrong-type-1");
    let mut oversized = template.clone();
    oversized["NotificationMetadata"]["NotificationId"] = json!("oversized-1");
    oversized["Padding"] = json!("x".repeat(300 * 1024));
    let malformed = "{\"NotificationVersion\": \"1.0\", \"NotificationType\": \"ORDER_CHANGE\", CANARY-BUYER-Q7Z";
    let unknown = json!({"NotificationVersion": "1.0", "NotificationType": "SOMETHING_NEW", "PayloadVersion": "1.0",
        "EventTime": "2026-11-21T10:00:00Z", "Payload": {},
        "NotificationMetadata": {"ApplicationId": "a", "SubscriptionId": "s",
            "PublishTime": "2026-11-21T10:00:00Z", "NotificationId": "unknown-1"}});

    let bodies = vec![
        malformed.to_owned(),
        missing.to_string(),
        good.clone(),
        wrong_type.to_string(),
        oversized.to_string(),
        unknown.to_string(),
    ];
    let response = stack.invoke(&ingest, &bodies).await.unwrap();
    assert!(
        response.batch_item_failures.is_empty(),
        "bad input was retried instead of quarantined"
    );
    assert!(
        stack.order_item("113-0000006-0000006").await.is_some(),
        "the good message was not processed"
    );

    let dlq = orderseal_local::pump::take_all(&stack.aws, &stack.queue_url("NotificationsDlq"))
        .await
        .unwrap();
    let mut reasons: Vec<String> = dlq
        .iter()
        .map(|m| {
            m.message_attributes().unwrap()["orderseal-reason"]
                .string_value()
                .unwrap()
                .to_owned()
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        ["malformed_json", "missing_field", "too_large", "wrong_type"]
    );
    // Nothing lost: each quarantined body is the original, whole (the oversized one cannot be
    // sent over SQS's limit and is parked as a marker with its size).
    let reason_of = |body: &str| {
        dlq.iter().find(|m| m.body() == Some(body)).map(|m| {
            m.message_attributes().unwrap()["orderseal-reason"]
                .string_value()
                .unwrap()
                .to_owned()
        })
    };
    assert_eq!(reason_of(malformed).as_deref(), Some("malformed_json"));
    assert_eq!(
        reason_of(&missing.to_string()).as_deref(),
        Some("missing_field")
    );
    assert_eq!(
        reason_of(&wrong_type.to_string()).as_deref(),
        Some("wrong_type")
    );
    let parked = format!(
        "{{\"orderseal_quarantine\":\"too_large\",\"original_bytes\":{}}}",
        oversized.to_string().len()
    );
    assert_eq!(reason_of(&parked).as_deref(), Some("too_large"));
    // The typed reasons are logged; the values that made them are not.
    let text = logs.text();
    for r in [
        "malformed_json",
        "missing_field",
        "too_large",
        "wrong_type",
        "ignored_unknown_type",
    ] {
        assert!(text.contains(r), "reason {r} not logged");
    }
    assert!(
        text.contains("SOMETHING_NEW"),
        "the unknown type name is logged"
    );
    logs.assert_clean();
}

#[tokio::test]
async fn a_sealed_blob_copied_to_another_order_or_class_fails_to_open() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    for id in ["113-0000007-0000001", "113-0000007-0000002"] {
        let order = canary_order(id, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z");
        stack.send(&stack.publish(&order)).await;
    }
    stack.drain(&ingest, FAST, Duration::ZERO).await;
    let a = stack.pii_item("113-0000007-0000001").await.unwrap();
    let shipping_a = blob(&a, PiiClass::Shipping);
    let sealer = sealer(&stack);

    // Its own place opens.
    let own = SealContext::new(SELLER, "113-0000007-0000001", PiiClass::Shipping);
    assert!(sealer.open(&own, &shipping_a).await.is_ok());
    // Copied to the other order, or into another class of the same order: refused by KMS
    // (encryption context) before AES-GCM (AAD) is even reached.
    for ctx in [
        SealContext::new(SELLER, "113-0000007-0000002", PiiClass::Shipping),
        SealContext::new(SELLER, "113-0000007-0000001", PiiClass::Contact),
        SealContext::new(SELLER, "113-0000007-0000001", PiiClass::Gift),
        SealContext::new("A2OTHERSELLER", "113-0000007-0000001", PiiClass::Shipping),
    ] {
        assert!(
            matches!(
                sealer.open(&ctx, &shipping_a).await,
                Err(SealError::OpenFailed)
            ),
            "opened under {ctx:?}"
        );
    }
    // A blob whose wrapped key is genuine but whose ciphertext comes from the other order fails
    // at AES-GCM: the key is bound to one order, the ciphertext to its own nonce and AAD.
    let b = stack.pii_item("113-0000007-0000002").await.unwrap();
    let mut spliced = shipping_a.clone();
    let shipping_b = blob(&b, PiiClass::Shipping);
    spliced.ciphertext = shipping_b.ciphertext;
    spliced.nonce = shipping_b.nonce;
    assert!(matches!(
        sealer.open(&own, &spliced).await,
        Err(SealError::OpenFailed)
    ));
    logs.assert_clean();
}

#[tokio::test]
async fn a_crash_between_the_write_and_the_enqueue_is_repaired_by_the_retry() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let order = canary_order(
        "113-0000008-0000008",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    stack.send(&stack.publish(&order)).await;

    // First attempt: the order is written, then the shipments queue fails.
    let mut broken = stack.ingest();
    // (Harness clients: a queue that does not exist is no request of the deployed function.)
    broken.shipments = orderseal::shipments::SqsShipmentQueue::new(
        stack.aws.sqs.clone(),
        format!("{}-missing", stack.queue_url("ShipmentsQueue")),
    );
    let report = stack.drain(&broken, FAST, Duration::ZERO).await;
    assert_eq!(report.failed, 1);
    let item = stack.order_item("113-0000008-0000008").await.unwrap();
    assert_eq!(item["ship_req"].as_s().unwrap(), "PENDING");

    // The redelivery finds the order already written and sends the pending request once.
    let report = stack
        .drain(&stack.ingest(), FAST, Duration::from_secs(4))
        .await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));
    let item = stack.order_item("113-0000008-0000008").await.unwrap();
    assert_eq!(item["ship_req"].as_s().unwrap(), "SENT");
    let shipments = orderseal_local::pump::take_all(&stack.aws, &stack.queue_url("ShipmentsQueue"))
        .await
        .unwrap();
    assert_eq!(shipments.len(), 1);
    assert!(logs.text().contains("shipment_request_repaired"));
    logs.assert_clean();
}

/// What a stored order holds of PII: the sealed classes of its sealed-PII item, and its order
/// item's index key (and no other PII attribute there).
async fn pii_held(stack: &TestStack, id: &str) -> Vec<String> {
    let order = stack.order_item(id).await.unwrap();
    let pii = stack.pii_item(id).await.unwrap_or_default();
    let mut held: Vec<String> = order
        .keys()
        .chain(pii.keys())
        .filter(|k| {
            k.starts_with("pii_")
                && !["pii_expires_at", "pii_written_ms", "pii_classes"].contains(&k.as_str())
        })
        .cloned()
        .collect();
    held.sort();
    held
}

/// Collect only what a purpose needs (BENCHMARKS.md counts these): an order Amazon fulfils
/// (FBA) and a canceled one are fetched without BUYER and RECIPIENT, store no PII class and stay
/// out of the expiry index, and their business record is written with them; an open MFN order
/// asks for both and stores its three classes.
#[tokio::test]
async fn fba_and_canceled_orders_collect_no_pii() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let cases = [
        ("113-0000040-0000001", "SHIPPED", "AMAZON", "FBA shipped"),
        (
            "113-0000040-0000002",
            "UNSHIPPED",
            "AMAZON",
            "FBA unshipped",
        ),
        (
            "113-0000040-0000003",
            "CANCELLED",
            "MERCHANT",
            "MFN canceled",
        ),
        ("113-0000040-0000004", "UNSHIPPED", "MERCHANT", "MFN open"),
    ];
    let mut counts = Vec::new();
    for (id, status, by, what) in cases {
        stack
            .notify(
                &ingest,
                &canary_order(id, status, by, "2026-11-21T10:00:00Z"),
            )
            .await;
        let asked = stack.sandbox.control().stats().last_included_data.unwrap();
        let asked_pii: Vec<&String> = asked
            .iter()
            .filter(|d| *d == "BUYER" || *d == "RECIPIENT")
            .collect();
        assert!(
            asked.contains(&"CANCELLATION".to_owned()),
            "{what}: {asked:?}"
        );
        let held = pii_held(&stack, id).await;
        counts.push((what, asked_pii.len(), held.len()));
        if by == "MERCHANT" && status == "UNSHIPPED" {
            assert_eq!(asked_pii.len(), 2, "{what}");
            assert_eq!(
                held,
                ["pii_contact", "pii_gift", "pii_shard", "pii_shipping"],
                "{what}"
            );
        } else {
            assert!(asked_pii.is_empty(), "{what} asked for {asked_pii:?}");
            assert!(held.is_empty(), "{what} holds {held:?}");
        }
    }
    println!("PII datasets asked / PII attributes stored per order type: {counts:?}");
    // Nothing of the buyer anywhere for the three: the raw dump of table and queues.
    let dump = stack.raw_dump().await;
    assert_no_canary("the table and queues", &dump);
    // Accounting still sees them: their business records exist now (no sweep will see them).
    let business: Vec<&str> = dump.lines().filter(|l| l.contains("BUSINESS#")).collect();
    for (id, _, by, what) in cases {
        let has = business.iter().any(|l| l.contains(id));
        assert_eq!(
            has,
            by == "AMAZON" || id.ends_with('3'),
            "{what}: business record"
        );
    }
    logs.assert_clean();
}

/// PII already held for an order that is canceled later stays only for the grace, then the
/// sweep erases it; the newer version does not ask for buyer data again.
#[tokio::test]
async fn an_order_canceled_after_its_pii_was_collected_keeps_it_only_for_the_grace() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let id = "113-0000040-0000011";
    stack
        .notify(
            &ingest,
            &canary_order(id, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
        )
        .await;
    assert_eq!(pii_held(&stack, id).await.len(), 4);
    stack
        .notify(
            &ingest,
            &canary_order(id, "CANCELLED", "MERCHANT", "2026-11-22T10:00:00Z"),
        )
        .await;
    let asked = stack.sandbox.control().stats().last_included_data.unwrap();
    assert!(!asked.contains(&"BUYER".to_owned()) && !asked.contains(&"RECIPIENT".to_owned()));
    let item = stack.order_item(id).await.unwrap();
    assert_eq!(item["fulfillment_status"].as_s().unwrap(), "CANCELLED");
    assert_eq!(
        pii_held(&stack, id).await.len(),
        4,
        "kept for the grace, not dropped at once"
    );
    let grace = orderseal::aws::ddb::get_n(&item, "pii_expires_at").unwrap();
    assert_eq!(
        grace,
        time::macros::datetime!(2026-11-29 10:00 UTC).unix_timestamp(),
        "canceled: last update + the 7-day grace"
    );
    logs.assert_clean();
}

/// A buyer's cancellation request stops the order before any label: no shipment request is
/// enqueued, a request already queued buys nothing, and the cancellation-request list shows
/// the order for the seller to act on.
#[tokio::test]
async fn a_buyer_cancel_requested_order_is_never_labelled_and_is_listed() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let (asked_first, asked_later) = ("113-0000040-0000021", "113-0000040-0000022");
    let requested = |id: &str, updated: &str| {
        let mut order = canary_order(id, "UNSHIPPED", "MERCHANT", updated);
        order["orderItems"][0]["cancellation"] = json!({
            "cancellationRequest": {"requester": "BUYER", "cancelReason": "Order placed by mistake"}});
        order
    };
    // Asked before ingest saw the order: no shipment request at all.
    stack
        .notify(&ingest, &requested(asked_first, "2026-11-21T10:00:00Z"))
        .await;
    // Asked after: the shipment request is already queued when the request comes in.
    stack
        .notify(
            &ingest,
            &canary_order(asked_later, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
        )
        .await;
    stack
        .notify(&ingest, &requested(asked_later, "2026-11-21T11:00:00Z"))
        .await;
    for id in [asked_first, asked_later] {
        let item = stack.order_item(id).await.unwrap();
        assert_eq!(item["cancel_requested"].as_bool().ok(), Some(&true));
    }
    let dispatch = stack.dispatch(std::time::Duration::from_secs(5)).await;
    let report = stack
        .drain_shipments(&dispatch, std::time::Duration::ZERO)
        .await;
    assert_eq!(report.failed, 0);
    assert_eq!(
        stack.carriers.control().shipments().len(),
        0,
        "no label was bought"
    );
    for id in [asked_first, asked_later] {
        let item = stack.order_item(id).await.unwrap();
        assert!(!item.contains_key("dispatch_state"), "{id} was not started");
    }
    assert!(logs.text().contains("buyer_cancel_requested"));
    // The seller's list, read as the operator role.
    let operator = orderseal::store::DynamoOrderStore::new(
        stack
            .aws_as(orderseal_local::roles::OPERATOR)
            .dynamodb
            .clone(),
        stack.table(),
    );
    let listed = operator.cancel_requests().await.unwrap();
    let mut ids: Vec<&str> = listed.iter().map(|r| r.order_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, [asked_first, asked_later]);
    assert!(listed.iter().all(|r| !r.resolved() && !r.label_to_void()));
    let table = orderseal_ops::render_cancel_requests(&listed);
    assert!(
        table.contains(asked_first) && table.contains("cancel on Amazon"),
        "{table}"
    );
    assert!(table.contains("2 open, 0 resolved"), "{table}");
    // The seller cancels one on Amazon: it shows resolved and is pruned.
    stack
        .notify(
            &ingest,
            &canary_order(asked_first, "CANCELLED", "MERCHANT", "2026-11-21T12:00:00Z"),
        )
        .await;
    let listed = operator.cancel_requests().await.unwrap();
    let first = listed.iter().find(|r| r.order_id == asked_first).unwrap();
    assert!(first.resolved());
    operator
        .forget_cancel_request(SELLER, asked_first)
        .await
        .unwrap();
    assert_eq!(operator.cancel_requests().await.unwrap().len(), 1);
    logs.assert_clean();
}

/// A newer version of an open MFN order that carries no buyer or recipient data (Amazon
/// withheld or removed it) leaves no older PII behind: its sealed-PII item is deleted in the
/// write's transaction, and the order stays in the expiry index until the sweep.
#[tokio::test]
async fn a_newer_version_without_pii_removes_the_older_pii() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let id = "113-0000040-0000021";
    stack
        .notify(
            &ingest,
            &canary_order(id, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
        )
        .await;
    assert_eq!(
        orderseal_local::inspect::sealed_classes(&stack.pii_item(id).await.unwrap()),
        PiiClass::ALL.to_vec()
    );
    let mut bare = canary_order(id, "UNSHIPPED", "MERCHANT", "2026-11-22T10:00:00Z");
    let o = bare.as_object_mut().unwrap();
    o.remove("buyer");
    o.remove("recipient");
    for item in o["orderItems"].as_array_mut().unwrap() {
        item.as_object_mut().unwrap().remove("fulfillment");
    }
    stack.notify(&ingest, &bare).await;
    assert!(stack.pii_item(id).await.is_none(), "the older PII is gone");
    let order = stack.order_item(id).await.unwrap();
    assert_eq!(
        orderseal::aws::ddb::get_n(&order, "last_updated_ms"),
        Some(time::macros::datetime!(2026-11-22 10:00 UTC).unix_timestamp() * 1000)
    );
    assert!(order.contains_key("pii_shard"));
    logs.assert_clean();
}

#[tokio::test]
async fn an_unknown_seller_or_application_is_quarantined_at_once_with_its_reason() {
    let logs = LogCapture::start();
    let stack = TestStack::with_visibility_timeout(1).await;
    let ingest = stack.ingest();
    let order = canary_order(
        "113-0000031-0000001",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    stack.sandbox.control().put_order(order.clone()).unwrap();
    // A seller nobody added (no refresh token), and our queue named by another application.
    let stranger =
        orderseal_local::notify::order_change_for(&order, "A0STRANGERSELLER", "n-stranger");
    let mut other_app = orderseal_local::notify::order_change_for(&order, SELLER, "n-other-app");
    other_app["NotificationMetadata"]["ApplicationId"] =
        json!("amzn1.sellerapps.app.11111111-1111-1111-1111-111111111111");
    stack.send(&stranger.to_string()).await;
    stack.send(&other_app.to_string()).await;
    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    // Once each: neither was retried until SQS gave up on it.
    assert_eq!((report.acknowledged, report.failed), (2, 0));
    let dlq = orderseal_local::pump::take_all(&stack.aws, &stack.queue_url("NotificationsDlq"))
        .await
        .unwrap();
    let mut reasons: Vec<(String, String)> = dlq
        .iter()
        .map(|m| {
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            (
                body["NotificationMetadata"]["NotificationId"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                m.message_attributes().unwrap()["orderseal-reason"]
                    .string_value()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("n-other-app".to_owned(), "unknown_application".to_owned()),
            ("n-stranger".to_owned(), "unknown_seller".to_owned()),
        ]
    );
    // The other application's notification was never fetched; nothing was stored for either.
    assert_eq!(stack.sandbox.control().stats().get_order.requests, 0);
    assert!(stack.order_item("113-0000031-0000001").await.is_none());
    logs.assert_clean();
}
