//! `orderseal migrate` against the emulator: items in the layout before issue 10 (sealed blobs on
//! the order item, whose `ttl` was the PII expiry; tracking lookups without their carrier route)
//! are brought to the current layout, byte for byte, and a second run finds nothing to do.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use orderseal::access::{PiiReader, Purpose};
use orderseal::aws::ddb::{get_n as n, s};
use orderseal::classes::ContactPii;
use orderseal::clock::ManualClock;
use orderseal::layout::{self, pii_attribute};
use orderseal::retention::Hold;
use orderseal::retention::dynamo::DynamoRetention;
use orderseal::seal::{KmsKeyProvider, PiiClass};
use orderseal::tracking::TrackingStore;
use orderseal_local::roles;
use orderseal_tests::{LogCapture, SELLER, TestStack, canary_order};
use time::{Duration, OffsetDateTime};

const KEEP: Duration = Duration::days(548);

type Item = HashMap<String, AttributeValue>;

/// Put an order back into the old layout: its sealed-PII item's blobs on the order item, the
/// order item's `ttl` the PII expiry (or the hold's end), no sealed-PII item; and its tracking
/// lookup, if any, at `TRACKING#<number>` without `labelled_at`.
async fn make_legacy(stack: &TestStack, id: &str) -> Item {
    let db = &stack.aws.dynamodb;
    let pii = stack.pii_item(id).await.unwrap();
    let order = stack.order_item(id).await.unwrap();
    let ttl = n(&pii, "ttl").unwrap();
    let mut legacy = order.clone();
    for c in PiiClass::ALL {
        if let Some(v) = pii.get(pii_attribute(c)) {
            legacy.insert(pii_attribute(c).to_owned(), v.clone());
        }
    }
    legacy.insert("ttl".into(), orderseal::aws::ddb::n(ttl));
    legacy.remove("pii_written_ms");
    legacy.remove("pii_classes");
    db.put_item()
        .table_name(stack.table())
        .set_item(Some(legacy))
        .send()
        .await
        .unwrap();
    db.delete_item()
        .table_name(stack.table())
        .key("pk", s(layout::pii_pk(SELLER, id)))
        .key("sk", s(layout::PII_SK))
        .send()
        .await
        .unwrap();
    if let (Some(via), Some(number)) = (
        order.get("dispatch_via").and_then(|v| v.as_s().ok()),
        order.get("tracking_number").and_then(|v| v.as_s().ok()),
    ) {
        let key = |pk: String| {
            HashMap::from([
                ("pk".to_owned(), s(pk)),
                ("sk".to_owned(), s(layout::TRACKING_SK)),
            ])
        };
        let mut lookup = db
            .get_item()
            .table_name(stack.table())
            .set_key(Some(key(layout::tracking_pk(via, number))))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        db.delete_item()
            .table_name(stack.table())
            .set_key(Some(key(layout::tracking_pk(via, number))))
            .send()
            .await
            .unwrap();
        lookup.insert("pk".into(), s(layout::legacy_tracking_pk(number)));
        lookup.remove("labelled_at");
        db.put_item()
            .table_name(stack.table())
            .set_item(Some(lookup))
            .send()
            .await
            .unwrap();
    }
    pii
}

#[tokio::test]
async fn migrate_moves_sealed_pii_into_its_own_item_and_rebinds_tracking_lookups() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let (shipped, held) = ("115-0000001-0000001", "115-0000001-0000002");
    let tracking = stack.ship(shipped, "US", "WA").await;
    let ingest = stack.ingest();
    stack
        .notify(
            &ingest,
            &canary_order(held, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
        )
        .await;
    let now = OffsetDateTime::now_utc();
    let until = now + Duration::days(90);
    DynamoRetention::new(stack.aws.dynamodb.clone(), stack.table())
        .add_hold(
            SELLER,
            held,
            &Hold {
                reason: "case 2026-31".into(),
                by: "legal@seller.example".into(),
                until,
            },
            now,
        )
        .await
        .unwrap();
    let sealed_shipped = make_legacy(&stack, shipped).await;
    let sealed_held = make_legacy(&stack, held).await;
    let route = stack.order_item(shipped).await.unwrap()["dispatch_via"]
        .as_s()
        .unwrap()
        .clone();
    let callbacks = orderseal::tracking::DynamoTrackingStore::new(
        stack.aws_as(roles::CALLBACK).dynamodb.clone(),
        stack.table(),
    );
    assert!(
        callbacks
            .order_for(&route, &tracking)
            .await
            .unwrap()
            .is_none(),
        "the legacy lookup is invisible to the callback"
    );

    let db = &stack.aws.dynamodb;
    let dry = orderseal::migrate::migrate_layout(db, stack.table(), KEEP, true)
        .await
        .unwrap();
    assert_eq!((dry.pii_moved, dry.lookups_rebound, dry.skipped), (2, 1, 0));
    assert!(
        stack.pii_item(shipped).await.is_none(),
        "a dry run changes nothing"
    );

    let run = orderseal::migrate::migrate_layout(db, stack.table(), KEEP, false)
        .await
        .unwrap();
    assert_eq!((run.pii_moved, run.lookups_rebound, run.skipped), (2, 1, 0));
    for (id, before) in [(shipped, &sealed_shipped), (held, &sealed_held)] {
        let order = stack.order_item(id).await.unwrap();
        let pii = stack.pii_item(id).await.expect("the sealed-PII item");
        for c in PiiClass::ALL {
            assert!(
                !order.contains_key(pii_attribute(c)),
                "{id}: {c} left on the order"
            );
            assert_eq!(
                pii.get(pii_attribute(c)),
                before.get(pii_attribute(c)),
                "{id}: {c} moved byte for byte"
            );
        }
        assert_eq!(
            order["pii_classes"].as_l().unwrap().len(),
            before.keys().filter(|k| k.starts_with("pii_")).count(),
            "{id}: the classes it holds, by name"
        );
        let expires = n(&order, "pii_expires_at").unwrap();
        let hold = n(&order, "hold_until");
        assert_eq!(n(&pii, "ttl"), Some(layout::pii_ttl(expires, hold)), "{id}");
        match hold {
            Some(_) => assert_eq!(n(&order, "ttl"), None, "{id}: no order TTL while held"),
            None => assert_eq!(
                n(&order, "ttl"),
                Some(layout::order_ttl(expires, KEEP)),
                "{id}: the order item outlives its PII"
            ),
        }
    }
    assert_eq!(
        n(&stack.pii_item(held).await.unwrap(), "ttl"),
        Some(until.unix_timestamp())
    );
    // The moved blobs still open (bound to seller, order and class, not to the item).
    let reader = PiiReader::new(
        stack.aws.dynamodb.clone(),
        stack.table(),
        KmsKeyProvider::new(
            stack.aws.kms.clone(),
            stack.resources.key("PiiSealKey").unwrap(),
        ),
    );
    let contact: ContactPii = reader
        .open(SELLER, shipped, Purpose::CustomerService, now)
        .await
        .unwrap();
    assert!(contact.buyer_email.is_some());
    let found = callbacks
        .order_for(&route, &tracking)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.order_id, shipped);
    assert!(found.labelled_at.is_some(), "labelled_at from the label");

    let again = orderseal::migrate::migrate_layout(db, stack.table(), KEEP, false)
        .await
        .unwrap();
    assert_eq!(
        (again.pii_moved, again.lookups_rebound, again.skipped),
        (0, 0, 0)
    );
    // And the migrated order is erased on time like any other.
    let at = OffsetDateTime::from_unix_timestamp(
        n(&stack.order_item(shipped).await.unwrap(), "pii_expires_at").unwrap(),
    )
    .unwrap();
    let run = orderseal_local::retention::retention(
        stack.aws_as(roles::RETENTION),
        &stack.resources,
        ManualClock::at(at),
    )
    .unwrap()
    .run(None)
    .await
    .unwrap();
    assert_eq!(run.erased, 1);
    assert!(stack.pii_item(shipped).await.is_none());
    logs.assert_clean();
}
