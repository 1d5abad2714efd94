//! `orderseal dlq list|replay` against the emulator: a quarantined and a redriven message in
//! each DLQ, listed by reason (never a body), replayed through the binary, and processed
//! exactly once by the same functions that parked them.

use std::process::{Command, Output};
use std::time::Duration;

use carrier_sandbox::{Api, Fault as CarrierFault, Route};
use orderseal::store::DynamoOrderStore;
use orderseal_local::{notify, pump};
use orderseal_tests::{LogCapture, SELLER, TestStack, assert_no_canary, canary_order, moto_url};
use serde_json::Value;
use spapi_sandbox::{Fault, Op};

const FAST: Duration = Duration::from_secs(30);

fn orderseal(stack: &TestStack, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_orderseal"))
        .args(args)
        .env("ORDERSEAL_TABLE", stack.table())
        .env(
            "ORDERSEAL_NOTIFICATIONS_QUEUE",
            stack.queue_url("NotificationsQueue"),
        )
        .env(
            "ORDERSEAL_NOTIFICATIONS_DLQ",
            stack.queue_url("NotificationsDlq"),
        )
        .env(
            "ORDERSEAL_SHIPMENTS_QUEUE",
            stack.queue_url("ShipmentsQueue"),
        )
        .env("ORDERSEAL_SHIPMENTS_DLQ", stack.queue_url("ShipmentsDlq"))
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_REGION", orderseal_local::REGION)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_canary("the CLI's output", &text);
    out
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `(order id, reason)` of every parked message, sorted.
fn parked(stack: &TestStack, queue: &str) -> Vec<(String, String)> {
    let listed = json(&orderseal(
        stack,
        &["dlq", "list", queue, "--format", "json"],
    ));
    let mut out: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["order_id"].as_str().unwrap_or("-").to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn s(item: &orderseal_local::inspect::Item, k: &str) -> String {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn parked_notifications_are_listed_by_reason_and_replayed_exactly_once() {
    let logs = LogCapture::start();
    let stack = TestStack::with_visibility_timeout(1).await;
    let ingest = stack.ingest();
    let rejected = canary_order(
        "113-0000091-0000001",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    let failing = canary_order(
        "113-0000091-0000002",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    // Amazon refuses the getOrder as sent (400): quarantined at once with its reason.
    let rejected_body = stack.publish(&rejected);
    stack
        .sandbox
        .control()
        .inject(Op::GetOrder, Fault::BadRequest, 1);
    stack.send(&rejected_body).await;
    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));
    // SP-API down: five failed receives, then SQS redrives it (no reason attribute).
    let failing_body = stack.publish(&failing);
    stack.sandbox.control().set_down(true);
    stack.send(&failing_body).await;
    let report = stack
        .drain(&ingest, Duration::from_secs(2), Duration::from_secs(4))
        .await;
    assert_eq!(report.failed, 5);
    stack.sandbox.control().set_down(false);
    assert!(stack.order_item("113-0000091-0000001").await.is_none());
    assert!(stack.order_item("113-0000091-0000002").await.is_none());

    let expected = vec![
        (
            "113-0000091-0000001".to_owned(),
            "spapi_rejected".to_owned(),
        ),
        (
            "113-0000091-0000002".to_owned(),
            "retries_exhausted".to_owned(),
        ),
    ];
    assert_eq!(parked(&stack, "notifications"), expected);
    let table =
        String::from_utf8(orderseal(&stack, &["dlq", "list", "notifications"]).stdout).unwrap();
    assert!(table.contains("2 notifications parked"), "{table}");
    assert!(table.contains("spapi_rejected: 1"), "{table}");

    // A dry run of one reason changes nothing; listing twice lost nothing either.
    let dry = json(&orderseal(
        &stack,
        &[
            "dlq",
            "replay",
            "notifications",
            "--reason",
            "spapi_rejected",
            "--dry-run",
        ],
    ));
    assert_eq!(
        (dry["replayed"].as_u64(), dry["unselected"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(parked(&stack, "notifications"), expected);

    // Replayed: both back in the notifications queue, the DLQ empty.
    let done = json(&orderseal(
        &stack,
        &["dlq", "replay", "notifications", "--rate", "50"],
    ));
    assert_eq!(done["replayed"].as_u64(), Some(2), "{done}");
    assert!(parked(&stack, "notifications").is_empty());
    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (2, 0));
    // A second delivery of either (a replay that stopped before its delete) is a duplicate.
    stack.send(&rejected_body).await;
    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));

    // Processed exactly once: each order stored, one shipment request each, nothing parked.
    let requests = pump::take_all(&stack.aws, &stack.queue_url("ShipmentsQueue"))
        .await
        .unwrap();
    let mut ordered: Vec<String> = requests
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(m.body().unwrap()).unwrap()["order_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    ordered.sort();
    assert_eq!(ordered, ["113-0000091-0000001", "113-0000091-0000002"]);
    for id in ["113-0000091-0000001", "113-0000091-0000002"] {
        assert_eq!(
            s(&stack.order_item(id).await.unwrap(), "fulfillment_status"),
            "UNSHIPPED"
        );
        assert!(stack.pii_item(id).await.is_some());
    }
    assert!(
        pump::take_all(&stack.aws, &stack.queue_url("NotificationsDlq"))
            .await
            .unwrap()
            .is_empty()
    );
    logs.assert_clean();
}

#[tokio::test]
async fn parked_shipment_requests_re_arm_their_order_and_ship_exactly_once() {
    let logs = LogCapture::start();
    let stack = TestStack::with_visibility_timeout(1).await;
    let ingest = stack.ingest();
    let refused = canary_order(
        "113-0000092-0000001",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    let stuck = canary_order(
        "113-0000092-0000002",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    let dispatch = stack.dispatch(Duration::from_secs(2)).await;

    // Amazon refuses the confirmation (400): the label is bought, the request quarantined.
    stack.notify(&ingest, &refused).await;
    stack
        .sandbox
        .control()
        .inject(Op::ConfirmShipment, Fault::BadRequest, 1);
    let report = stack.drain_shipments(&dispatch, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));
    let item = stack.order_item("113-0000092-0000001").await.unwrap();
    assert_eq!(s(&item, "dispatch_state"), "LABEL_PURCHASED");

    // The carrier fails every attempt: five receives, then SQS redrives the request.
    stack.notify(&ingest, &stuck).await;
    let carriers = stack.carriers.control();
    carriers.inject(Api::EasyPost, Route::Any, CarrierFault::ServerError, 1_000);
    let report = stack
        .drain_shipments(&dispatch, Duration::from_secs(4))
        .await;
    assert_eq!(report.failed, 5);
    carriers.clear_faults();
    assert_eq!(carriers.labels_purchased(Api::EasyPost), 1);

    assert_eq!(
        parked(&stack, "shipments"),
        vec![
            (
                "113-0000092-0000001".to_owned(),
                "spapi_rejected".to_owned()
            ),
            (
                "113-0000092-0000002".to_owned(),
                "retries_exhausted".to_owned()
            ),
        ]
    );
    // A shipment replay re-arms the order, so it needs the table.
    let out = Command::new(env!("CARGO_BIN_EXE_orderseal"))
        .args(["dlq", "replay", "shipments"])
        .env_remove("ORDERSEAL_TABLE")
        .env(
            "ORDERSEAL_SHIPMENTS_QUEUE",
            stack.queue_url("ShipmentsQueue"),
        )
        .env("ORDERSEAL_SHIPMENTS_DLQ", stack.queue_url("ShipmentsDlq"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let done = json(&orderseal(
        &stack,
        &["dlq", "replay", "shipments", "--rate", "50"],
    ));
    assert_eq!(
        (done["replayed"].as_u64(), done["settled"].as_u64()),
        (Some(2), Some(0)),
        "{done}"
    );
    assert!(parked(&stack, "shipments").is_empty());
    let report = stack.drain_shipments(&dispatch, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (2, 0));
    for id in ["113-0000092-0000001", "113-0000092-0000002"] {
        let item = stack.order_item(id).await.unwrap();
        assert_eq!(s(&item, "dispatch_state"), "CONFIRMED", "{id}");
        assert_eq!(s(&item, "ship_req"), "SENT", "{id}");
    }
    // Exactly once: one label per order (the refused one's was not bought again), one
    // accepted confirmation each (the refused one was sent twice: refused, then accepted).
    assert_eq!(carriers.labels_purchased(Api::EasyPost), 2);
    let confirm = stack.sandbox.control().stats().confirm_shipment;
    assert_eq!((confirm.count(204), confirm.count(400)), (2, 1));
    let mut confirmed: Vec<String> = stack
        .sandbox
        .control()
        .confirmations()
        .into_iter()
        .map(|(order, _)| order)
        .collect();
    confirmed.sort();
    assert_eq!(
        confirmed,
        [
            "113-0000092-0000001",
            "113-0000092-0000001",
            "113-0000092-0000002"
        ]
    );

    // A request parked for an order confirmed since is settled: deleted, nothing sent.
    let stale = serde_json::json!({"version": 1, "seller_id": SELLER,
        "order_id": "113-0000092-0000001", "order_last_updated": ""})
    .to_string();
    pump::send(&stack.aws, &stack.queue_url("ShipmentsDlq"), &stale)
        .await
        .unwrap();
    let done = json(&orderseal(&stack, &["dlq", "replay", "shipments"]));
    assert_eq!(
        (done["replayed"].as_u64(), done["settled"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(parked(&stack, "shipments").is_empty());
    assert!(
        pump::take_all(&stack.aws, &stack.queue_url("ShipmentsQueue"))
            .await
            .unwrap()
            .is_empty()
    );
    logs.assert_clean();
}

#[tokio::test]
async fn a_replay_stopped_after_re_arming_is_finished_by_the_next_notification() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let order = canary_order(
        "113-0000093-0000001",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    stack.notify(&ingest, &order).await;
    // The request is lost (as if parked, then the replay stopped right after re-arming).
    assert_eq!(
        pump::take_all(&stack.aws, &stack.queue_url("ShipmentsQueue"))
            .await
            .unwrap()
            .len(),
        1
    );
    let operator = DynamoOrderStore::new(
        stack
            .aws_as(orderseal_local::roles::OPERATOR)
            .dynamodb
            .clone(),
        stack.table(),
    );
    assert!(
        operator
            .rearm_shipment(SELLER, "113-0000093-0000001")
            .await
            .unwrap()
    );
    assert_eq!(
        s(
            &stack.order_item("113-0000093-0000001").await.unwrap(),
            "ship_req"
        ),
        "PENDING"
    );
    // Amazon's next notification for the order (same version, a new NotificationId) sends it.
    stack
        .send(&notify::order_change_for(&order, SELLER, "a-later-notification").to_string())
        .await;
    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));
    let dispatch = stack.dispatch(Duration::from_secs(2)).await;
    let report = stack.drain_shipments(&dispatch, Duration::ZERO).await;
    assert_eq!(report.acknowledged, 1);
    let item = stack.order_item("113-0000093-0000001").await.unwrap();
    assert_eq!(
        (s(&item, "dispatch_state"), s(&item, "ship_req")),
        ("CONFIRMED".to_owned(), "SENT".to_owned())
    );
    // Once confirmed there is nothing to re-arm.
    assert!(
        !operator
            .rearm_shipment(SELLER, "113-0000093-0000001")
            .await
            .unwrap()
    );
    assert!(
        !operator
            .rearm_shipment(SELLER, "113-0000093-9999999")
            .await
            .unwrap()
    );
    logs.assert_clean();
}
