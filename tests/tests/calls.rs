//! AWS calls made by the ingest function, counted at the SDK layer (every transmitted request,
//! retries included) for a new order, a duplicate notification and an unchanged (stale) order.
//! These counts are the cost model in BENCHMARKS.md; a change to them should be deliberate.

use std::collections::BTreeMap;
use std::time::Duration;

use orderseal_tests::{TestStack, canary_order};

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn aws_calls_per_new_order_and_per_duplicate() {
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let calls = &stack.aws_as(orderseal_local::roles::INGEST).calls;
    let timeout = Duration::from_secs(30);

    // Cold container, first order: the LWA secret and the seller's token secret are read once,
    // and the seller registry asked once (cached for minutes).
    let first = canary_order(
        "113-0000010-0000001",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    stack.send(&stack.publish(&first)).await;
    stack.drain(&ingest, timeout, Duration::ZERO).await;
    let cold = calls.snapshot();
    println!("new MFN order, cold container: {cold:?}");

    // Warm container, a new MFN order with all three PII classes.
    calls.reset();
    let second = canary_order(
        "113-0000010-0000002",
        "UNSHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    let body = stack.publish(&second);
    stack.send(&body).await;
    stack.drain(&ingest, timeout, Duration::ZERO).await;
    let new_order = calls.snapshot();
    println!("new MFN order, warm: {new_order:?}");
    assert_eq!(
        new_order,
        counts(&[
            ("DynamoDB.PutItem", 1),    // idempotency lock
            ("DynamoDB.UpdateItem", 4), // usage-plan slot, order write, ship_req SENT, lock COMPLETED
            // the sealed-PII item, with the check that the order item is still at its version
            ("DynamoDB.TransactWriteItems", 1),
            ("KMS.GenerateDataKey", 3), // shipping, contact, gift
            ("SQS.SendMessage", 1),     // shipment request
        ])
    );
    let mut cold_expected = new_order.clone();
    cold_expected.insert("Secrets Manager.GetSecretValue".into(), 2);
    // The seller registry: one conditional write that asks and notes the notification.
    *cold_expected
        .entry("DynamoDB.UpdateItem".into())
        .or_default() += 1;
    assert_eq!(cold, cold_expected);

    // The same notification again: one conditional put, nothing else.
    calls.reset();
    stack.send(&body).await;
    stack.drain(&ingest, timeout, Duration::ZERO).await;
    let duplicate = calls.snapshot();
    println!("duplicate notification: {duplicate:?}");
    assert_eq!(duplicate, counts(&[("DynamoDB.PutItem", 1)]));

    // A new notification for an order version already stored: fetched and sealed, not written.
    calls.reset();
    let mut renotified: serde_json::Value = serde_json::from_str(&body).unwrap();
    renotified["NotificationMetadata"]["NotificationId"] = "another-notification".into();
    stack.send(&renotified.to_string()).await;
    stack.drain(&ingest, timeout, Duration::ZERO).await;
    let stale = calls.snapshot();
    println!("new notification, unchanged order: {stale:?}");
    assert_eq!(
        stale,
        counts(&[
            ("DynamoDB.PutItem", 1),
            ("DynamoDB.UpdateItem", 3), // slot, refused order write, lock COMPLETED
            ("KMS.GenerateDataKey", 3),
        ])
    );
}
