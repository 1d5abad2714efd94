//! Retention on the emulator with an injected clock: PII is readable for its purposes until
//! its expiry, gone for readers at the expiry, erased by the sweep with the business record
//! kept; canceled orders, legal holds, interrupted and overlapping sweeps; and a raw scan that
//! finds no sealed blob or wrapped key of an erased order anywhere.

use std::time::Duration as StdDuration;

use orderseal::access::{AccessError, PiiReader, Purpose};
use orderseal::aws::ddb::get_n as n;
use orderseal::carriers::webhooks::CanonicalStatus;
use orderseal::classes::{ContactPii, ShippingPii};
use orderseal::clock::ManualClock;
use orderseal::order::RetentionAnchor;
use orderseal::retention::dynamo::DynamoRetention;
use orderseal::retention::{
    BusinessRecord, DueOrder, Hold, HoldError, PiiState, SweepLimits, sweep,
};
use orderseal::seal::{KmsKeyProvider, SealedBlob};
use orderseal::tracking::{DynamoTrackingStore, TrackingEvent, TrackingStore};
use orderseal_local::inspect::Item;
use orderseal_local::retention::Seed;
use orderseal_local::roles;
use orderseal_tests::{CANARIES, LogCapture, SELLER, TestStack, assert_no_canary, canary_order};
use time::{Duration, OffsetDateTime};

/// The deployed business retention: the DPP's 18 months.
const KEEP: Duration = Duration::days(548);

/// The sweep's store, as the retention function's role.
fn retention(stack: &TestStack) -> DynamoRetention {
    DynamoRetention::new(
        stack.aws_as(roles::RETENTION).dynamodb.clone(),
        stack.table(),
    )
}

/// The same store as the `orderseal` CLI uses it (report, holds, export), as the operators' role.
fn operator(stack: &TestStack) -> DynamoRetention {
    DynamoRetention::new(
        stack.aws_as(roles::OPERATOR).dynamodb.clone(),
        stack.table(),
    )
}

fn reader(stack: &TestStack) -> PiiReader<KmsKeyProvider> {
    PiiReader::new(
        stack.aws.dynamodb.clone(),
        stack.table(),
        KmsKeyProvider::new(
            stack.aws.kms.clone(),
            stack.resources.key("PiiSealKey").unwrap(),
        ),
    )
}

/// One run of the retention function as Lambda runs it, on a clock set to `at`.
async fn sweep_at(stack: &TestStack, at: OffsetDateTime) -> orderseal::retention::SweepReport {
    orderseal_local::retention::retention(
        stack.aws_as(roles::RETENTION),
        &stack.resources,
        ManualClock::at(at),
    )
    .unwrap()
    .run(None)
    .await
    .unwrap()
}

async fn deliver(stack: &TestStack, order_id: &str, at: OffsetDateTime) {
    DynamoTrackingStore::new(
        stack.aws_as(roles::CALLBACK).dynamodb.clone(),
        stack.table(),
    )
    .apply(
        SELLER,
        order_id,
        &TrackingEvent {
            event_id: format!("delivered-{}", at.unix_timestamp()),
            status: CanonicalStatus::Delivered,
            occurred_at: at,
        },
        Some(Duration::days(30)),
    )
    .await
    .unwrap();
}

/// The TTL of the order's sealed-PII item (`None`: no such item).
async fn pii_ttl(stack: &TestStack, id: &str) -> Option<i64> {
    stack.pii_item(id).await.and_then(|i| n(&i, "ttl"))
}

/// Every business record purchased in the last year or the next.
async fn business_records(stack: &TestStack) -> Vec<BusinessRecord> {
    let now = OffsetDateTime::now_utc();
    let mut pages = operator(stack).business_records(
        now - Duration::days(400),
        now + Duration::days(400),
        None,
    );
    let mut out = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        out.extend(page);
    }
    out
}

/// Every byte string of a sealed blob and of its wrapped key in the order item.
fn sealed_parts(item: &Item) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    for attr in ["pii_shipping", "pii_contact", "pii_gift"] {
        if let Some(b) = item.get(attr).and_then(|v| v.as_b().ok()) {
            let blob = SealedBlob::from_bytes(b.as_ref()).unwrap();
            parts.push(b.as_ref().to_vec());
            parts.push(blob.wrapped_key.clone());
            parts.push(blob.ciphertext.clone());
        }
    }
    parts
}

/// No attribute of any item holds any of `parts` (raw, or base64 as a string would).
async fn assert_nowhere(stack: &TestStack, parts: &[Vec<u8>]) {
    use base64::Engine;
    let items = orderseal_local::inspect::scan_all(&stack.aws, stack.table())
        .await
        .unwrap();
    let dump = stack.raw_dump().await;
    for part in parts {
        let b64 = base64::engine::general_purpose::STANDARD.encode(part);
        assert!(!dump.contains(&b64), "a sealed part is still stored");
        for item in &items {
            for v in item.values() {
                if let Ok(b) = v.as_b() {
                    assert!(
                        !b.as_ref().windows(part.len()).any(|w| w == part.as_slice()),
                        "a sealed part is still stored"
                    );
                }
            }
        }
    }
}

fn assert_erased(item: &Item) {
    for attr in [
        "pii_shipping",
        "pii_contact",
        "pii_gift",
        "pii_shard",
        "hold",
        "hold_until",
    ] {
        assert!(!item.contains_key(attr), "{attr} survived erasure");
    }
    assert!(
        !item.values().any(|v| v.is_b()),
        "no binary attribute survives erasure"
    );
    assert!(item.contains_key("pii_erased_at"));
}

#[tokio::test]
async fn delivered_order_readable_on_day_29_erased_on_day_30_business_record_kept() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let id = "114-0000001-0000001";
    let tracking = stack
        .ship_anchored(id, "US", "WA", RetentionAnchor::Delivery)
        .await;
    let delivered = OffsetDateTime::now_utc() - Duration::hours(2);
    deliver(&stack, id, delivered).await;
    // A later notification (status change) does not move the delivery's expiry.
    let ingest = stack.ingest();
    stack
        .notify(
            &ingest,
            &canary_order(id, "SHIPPED", "MERCHANT", "2026-11-25T10:00:00Z"),
        )
        .await;
    let before = stack.order_item(id).await.unwrap();
    assert_eq!(before["fulfillment_status"].as_s().unwrap(), "SHIPPED");
    let expires = (delivered + Duration::days(30)).unix_timestamp();
    assert_eq!(n(&before, "pii_expires_at"), Some(expires));
    assert_eq!(pii_ttl(&stack, id).await, Some(expires));
    let parts = sealed_parts(&stack.pii_item(id).await.unwrap());
    assert!(parts.len() >= 6, "shipping and contact are sealed");
    let reader = reader(&stack);

    // Day 29: readable for permitted purposes, and the sweep leaves it.
    let day29 = delivered + Duration::days(29);
    let contact: ContactPii = reader
        .open(SELLER, id, Purpose::CustomerService, day29)
        .await
        .unwrap();
    assert_eq!(
        contact.buyer_name.unwrap().expose(),
        "CANARY-BUYER-Q7Z",
        "customer service reads the buyer on day 29"
    );
    let shipping: ShippingPii = reader
        .open(SELLER, id, Purpose::FraudReview, day29)
        .await
        .unwrap();
    assert!(shipping.address_line1.is_some());
    // Returns reads the address only for an open pickup return (tests/tests/returns.rs).
    assert!(matches!(
        reader
            .open::<ShippingPii>(SELLER, id, Purpose::Returns, day29)
            .await,
        Err(AccessError::NotPermitted { .. })
    ));
    assert!(matches!(
        reader
            .open::<ContactPii>(SELLER, id, Purpose::FraudReview, day29)
            .await,
        Err(AccessError::NotPermitted { .. })
    ));
    let run = sweep_at(&stack, day29).await;
    assert_eq!((run.erased, run.overdue), (0, 0));
    assert!(
        stack
            .pii_item(id)
            .await
            .unwrap()
            .contains_key("pii_contact")
    );

    // Day 30: gone for every reader before any sweep ran...
    let day30 = delivered + Duration::days(30);
    assert!(matches!(
        reader
            .open::<ShippingPii>(SELLER, id, Purpose::CustomerService, day30)
            .await,
        Err(AccessError::Gone(PiiState::Expired))
    ));
    // ...then the sweep erases it and keeps the business record.
    let run = sweep_at(&stack, day30).await;
    assert_eq!((run.erased, run.overdue, run.failed), (1, 0, 0));
    let after = stack.order_item(id).await.unwrap();
    assert_erased(&after);
    assert!(
        stack.pii_item(id).await.is_none(),
        "the sealed-PII item is gone"
    );
    assert_eq!(n(&after, "ttl"), Some((day30 + KEEP).unix_timestamp()));
    assert!(matches!(
        reader
            .open::<ShippingPii>(SELLER, id, Purpose::CustomerService, day30)
            .await,
        Err(AccessError::Gone(PiiState::Erased))
    ));

    let records = business_records(&stack).await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.order_id, id);
    assert_eq!(r.items[0].seller_sku.as_deref(), Some("SKU-MUG-1"));
    assert!(r.items[0].quantity >= 1);
    assert_eq!(r.tracking_number.as_deref(), Some(tracking.as_str()));
    assert!(r.carrier.is_some() && r.shipping_cost.is_some() && r.shipped_at.is_some());
    assert_eq!(
        r.delivered_at.map(|d| d.unix_timestamp()),
        Some(delivered.unix_timestamp())
    );
    assert_eq!(
        r.retain_until.unix_timestamp(),
        (day30 + KEEP).unix_timestamp()
    );

    // Exactly once: a later run finds nothing, and a late notification does not re-collect PII.
    let run = sweep_at(&stack, day30 + Duration::hours(1)).await;
    assert_eq!((run.erased, run.skipped), (0, 0));
    let order = canary_order(id, "SHIPPED", "MERCHANT", "2026-11-29T11:00:00Z");
    stack.notify(&ingest, &order).await;
    assert_erased(&stack.order_item(id).await.unwrap());

    assert_nowhere(&stack, &parts).await;
    let dump = stack.raw_dump().await;
    for c in CANARIES {
        assert!(!dump.contains(c));
    }
    logs.assert_clean();
}

/// The shipment anchor (the default), clock-injected: the label's ship date fixes the expiry
/// 22 days on, which with the sweep's hour and the 7-day backup window stays within 30 days of
/// shipment. DynamoDB TTL is made to fire first (the sealed-PII item deleted the way TTL deletes
/// it, as soon as its `ttl` has passed): the order item, its tombstone-to-be and the business
/// record are untouched, a late notification stores no PII, and the sweep then erases as usual.
#[tokio::test]
async fn shipment_anchor_erases_by_day_22_and_ttl_firing_first_loses_no_business_record() {
    use orderseal::aws::ddb::s as string;
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let id = "114-0000001-0000022";
    let labelled = OffsetDateTime::now_utc();
    let tracking = stack.ship(id, "US", "WA").await;
    let order = stack.order_item(id).await.unwrap();
    let expires = n(&order, "pii_expires_at").unwrap();
    let shipped = expires - Duration::days(22).whole_seconds();
    assert!(
        (labelled.unix_timestamp() - 5..=labelled.unix_timestamp() + 60).contains(&shipped),
        "22 days after the label"
    );
    assert!(
        expires + 3600 + Duration::days(7).whole_seconds()
            <= shipped + Duration::days(30).whole_seconds(),
        "erased and out of backups within 30 days of shipment"
    );
    let at = |secs: i64| OffsetDateTime::from_unix_timestamp(secs).unwrap();

    // Day 21: readable, and the sweep leaves it.
    let day21 = at(expires) - Duration::days(1);
    let contact: ContactPii = reader(&stack)
        .open(SELLER, id, Purpose::CustomerService, day21)
        .await
        .unwrap();
    assert!(contact.buyer_name.is_some());
    assert_eq!(sweep_at(&stack, day21).await.erased, 0);
    let parts = sealed_parts(&stack.pii_item(id).await.unwrap());

    // TTL fires first: it may delete the sealed-PII item once its ttl has passed.
    let pii_ttl_value = pii_ttl(&stack, id).await.unwrap();
    assert_eq!(pii_ttl_value, expires);
    let ttl_fires = at(pii_ttl_value) + Duration::minutes(10);
    stack
        .aws
        .dynamodb
        .delete_item()
        .table_name(stack.table())
        .key("pk", string(orderseal::layout::pii_pk(SELLER, id)))
        .key("sk", string(orderseal::layout::PII_SK))
        .send()
        .await
        .unwrap();
    let order = stack
        .order_item(id)
        .await
        .expect("TTL never removes the order item");
    assert!(order.contains_key("pii_shard"), "still in the expiry index");
    assert!(n(&order, "ttl").unwrap() > expires + Duration::days(500).whole_seconds());

    // A late notification, after the expiry but before the sweep, stores no PII again.
    let mut ingest = stack.ingest();
    ingest.clock = std::sync::Arc::new(ManualClock::at(ttl_fires));
    stack
        .notify(
            &ingest,
            &canary_order(id, "SHIPPED", "MERCHANT", "2026-11-25T10:00:00Z"),
        )
        .await;
    assert!(
        stack.pii_item(id).await.is_none(),
        "no PII collected past the expiry"
    );
    let order = stack.order_item(id).await.unwrap();
    assert_eq!(order["fulfillment_status"].as_s().unwrap(), "SHIPPED");
    assert_eq!(
        n(&order, "pii_expires_at"),
        Some(expires),
        "the anchor stands"
    );

    // The sweep's next hour: erased as usual, business record written, tombstone kept.
    let run = sweep_at(&stack, ttl_fires + Duration::minutes(50)).await;
    assert_eq!((run.erased, run.overdue, run.failed), (1, 0, 0));
    assert_erased(&stack.order_item(id).await.unwrap());
    let records = business_records(&stack).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].order_id, id);
    assert_eq!(
        records[0].tracking_number.as_deref(),
        Some(tracking.as_str())
    );
    assert_eq!(records[0].fulfillment_status, "SHIPPED");
    // And later still: the tombstone refuses PII for good.
    stack
        .notify(
            &ingest,
            &canary_order(id, "SHIPPED", "MERCHANT", "2026-11-26T10:00:00Z"),
        )
        .await;
    assert!(stack.pii_item(id).await.is_none());
    assert_nowhere(&stack, &parts).await;
    logs.assert_clean();
}

/// The accounting export is complete for a closed month before any PII is erased: the business
/// record is written when Amazon reports the order shipped, refreshed at delivery and when an
/// order is canceled, and the sweep's record at erasure is final (no later refresh replaces it).
#[tokio::test]
async fn business_records_are_written_at_ship_delivery_and_cancel_before_erasure() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let (shipped, canceled) = ("114-0000005-0000001", "114-0000005-0000002");
    let tracking = stack.ship(shipped, "US", "WA").await;
    assert!(
        business_records(&stack).await.is_empty(),
        "nothing closed yet"
    );
    // Amazon's notification once confirmShipment went through.
    stack
        .notify(
            &ingest,
            &canary_order(shipped, "SHIPPED", "MERCHANT", "2026-11-22T10:00:00Z"),
        )
        .await;
    let records = business_records(&stack).await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r.order_id.as_str(), r.fulfillment_status.as_str()),
        (shipped, "SHIPPED")
    );
    assert_eq!(r.tracking_number.as_deref(), Some(tracking.as_str()));
    assert!(r.shipped_at.is_some() && r.shipping_cost.is_some());
    assert_eq!((r.pii_erased_at, r.delivered_at), (None, None));
    assert!(
        stack.pii_item(shipped).await.is_some(),
        "PII still within retention"
    );
    // Delivered: refreshed.
    let delivered = OffsetDateTime::now_utc() - Duration::hours(1);
    deliver(&stack, shipped, delivered).await;
    let r = business_records(&stack).await.remove(0);
    assert_eq!(
        r.delivered_at.map(|d| d.unix_timestamp()),
        Some(delivered.unix_timestamp())
    );
    // Canceled after its PII was collected: its record exists now, its PII for the grace.
    for (status, at) in [
        ("UNSHIPPED", "2026-11-21T10:00:00Z"),
        ("CANCELLED", "2026-11-22T10:00:00Z"),
    ] {
        stack
            .notify(&ingest, &canary_order(canceled, status, "MERCHANT", at))
            .await;
    }
    let records = business_records(&stack).await;
    let c = records
        .iter()
        .find(|r| r.order_id == canceled)
        .expect("canceled order's record");
    assert_eq!(c.fulfillment_status, "CANCELLED");
    assert!(stack.pii_item(canceled).await.is_some());
    // Erasure writes the final record; a later refresh does not replace it.
    let expires = n(&stack.order_item(shipped).await.unwrap(), "pii_expires_at").unwrap();
    let at = OffsetDateTime::from_unix_timestamp(expires).unwrap();
    assert!(sweep_at(&stack, at).await.erased >= 1);
    deliver(&stack, shipped, delivered - Duration::minutes(5)).await;
    let records = business_records(&stack).await;
    let r = records.iter().find(|r| r.order_id == shipped).unwrap();
    assert_eq!(r.pii_erased_at.map(|t| t.unix_timestamp()), Some(expires));
    assert_eq!(
        r.retain_until.unix_timestamp(),
        (at + KEEP).unix_timestamp(),
        "kept 18 months from erasure"
    );
    assert_eq!(records.len(), 2, "one record per order");
    logs.assert_clean();
}

/// A TTL step lost after the label moved the expiry earlier (the sealed-PII item's TTL still
/// at the provisional date) does not delay erasure: the sweep refuses to delete a PII item whose
/// TTL is ahead, repairs the TTL from the order item's expiry and hold, and erases on time.
#[tokio::test]
async fn a_lost_ttl_step_does_not_delay_erasure() {
    use orderseal::aws::ddb::{n as num, s as string};
    let stack = TestStack::new().await;
    let id = "114-0000001-0000023";
    stack.ship(id, "US", "WA").await;
    let expires = n(&stack.order_item(id).await.unwrap(), "pii_expires_at").unwrap();
    let later = expires + Duration::days(9).whole_seconds();
    stack
        .aws
        .dynamodb
        .update_item()
        .table_name(stack.table())
        .key("pk", string(orderseal::layout::pii_pk(SELLER, id)))
        .key("sk", string(orderseal::layout::PII_SK))
        .update_expression("SET #ttl = :later")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":later", num(later))
        .send()
        .await
        .unwrap();
    let at = OffsetDateTime::from_unix_timestamp(expires).unwrap() + Duration::minutes(30);
    let run = sweep_at(&stack, at).await;
    assert_eq!((run.erased, run.overdue, run.skipped), (1, 0, 0));
    assert!(stack.pii_item(id).await.is_none());
    assert_erased(&stack.order_item(id).await.unwrap());
}

#[tokio::test]
async fn canceled_order_is_erased_after_its_grace() {
    let stack = TestStack::new().await;
    let id = "114-0000002-0000001";
    let canceled_at = "2026-11-20T08:00:00Z";
    let ingest = stack.ingest();
    // Collected while open; a canceled order would collect none.
    stack
        .notify(
            &ingest,
            &canary_order(id, "UNSHIPPED", "MERCHANT", "2026-11-20T07:00:00Z"),
        )
        .await;
    stack
        .notify(
            &ingest,
            &canary_order(id, "CANCELLED", "MERCHANT", canceled_at),
        )
        .await;
    let t =
        OffsetDateTime::parse(canceled_at, &time::format_description::well_known::Rfc3339).unwrap();
    let item = stack.order_item(id).await.unwrap();
    assert_eq!(
        n(&item, "pii_expires_at"),
        Some((t + Duration::days(7)).unix_timestamp())
    );

    let run = sweep_at(&stack, t + Duration::days(7) - Duration::seconds(1)).await;
    assert_eq!(run.erased, 0);
    let run = sweep_at(&stack, t + Duration::days(7)).await;
    assert_eq!((run.erased, run.overdue), (1, 0));
    assert_erased(&stack.order_item(id).await.unwrap());
    let records = business_records(&stack).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].fulfillment_status, "CANCELLED");
    assert_eq!(records[0].carrier, None);
}

#[tokio::test]
async fn a_legal_hold_keeps_pii_past_expiry_until_lifted_or_lapsed_and_is_audited() {
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let canceled_at = "2026-11-20T08:00:00Z";
    let t =
        OffsetDateTime::parse(canceled_at, &time::format_description::well_known::Rfc3339).unwrap();
    let (lifted, lapsing, late) = (
        "114-0000003-0000001",
        "114-0000003-0000002",
        "114-0000003-0000003",
    );
    // Collected while open, then canceled: the PII is kept for the grace.
    for (status, at) in [
        ("UNSHIPPED", "2026-11-20T07:00:00Z"),
        ("CANCELLED", canceled_at),
    ] {
        for id in [lifted, lapsing, late] {
            stack
                .send(&stack.publish(&canary_order(id, status, "MERCHANT", at)))
                .await;
        }
        stack
            .drain(&ingest, StdDuration::from_secs(30), StdDuration::ZERO)
            .await;
    }
    let store = operator(&stack);

    // Holds need a reason, an actor and a future end; an unknown order cannot be held.
    let hold = |until: OffsetDateTime| Hold {
        reason: "litigation case 2026-17".into(),
        by: "legal@seller.example".into(),
        until,
    };
    let placed = t + Duration::days(3);
    assert_eq!(
        store
            .add_hold(
                SELLER,
                lifted,
                &Hold {
                    reason: "".into(),
                    ..hold(t + Duration::days(60))
                },
                placed
            )
            .await,
        Err(HoldError::NoReason)
    );
    assert_eq!(
        store
            .add_hold(
                SELLER,
                "114-9999999-9999999",
                &hold(t + Duration::days(60)),
                placed
            )
            .await,
        Err(HoldError::NoOrder)
    );
    store
        .add_hold(SELLER, lifted, &hold(t + Duration::days(60)), placed)
        .await
        .unwrap();
    store
        .add_hold(SELLER, lapsing, &hold(t + Duration::days(20)), placed)
        .await
        .unwrap();
    let item = stack.order_item(lifted).await.unwrap();
    assert_eq!(
        pii_ttl(&stack, lifted).await,
        Some((t + Duration::days(60)).unix_timestamp()),
        "the hold owns the TTL backstop"
    );
    assert_eq!(
        n(&item, "ttl"),
        None,
        "the order item keeps no TTL while held: it outlives the hold"
    );
    // A newer notification is stored, but the hold keeps owning the TTL.
    stack
        .notify(
            &ingest,
            &canary_order(lifted, "CANCELLED", "MERCHANT", "2026-11-21T08:00:00Z"),
        )
        .await;
    let item = stack.order_item(lifted).await.unwrap();
    assert_eq!(
        n(&item, "pii_expires_at"),
        Some((t + Duration::days(8)).unix_timestamp())
    );
    assert_eq!(
        pii_ttl(&stack, lifted).await,
        Some((t + Duration::days(60)).unix_timestamp())
    );
    assert_eq!(n(&item, "ttl"), None);
    // A delivery scan arriving now re-dates the expiry but cannot shorten the hold's TTL.
    deliver(&stack, lifted, t - Duration::days(25)).await;
    let item = stack.order_item(lifted).await.unwrap();
    assert_eq!(
        n(&item, "pii_expires_at"),
        Some((t + Duration::days(5)).unix_timestamp())
    );
    assert_eq!(
        pii_ttl(&stack, lifted).await,
        Some((t + Duration::days(60)).unix_timestamp())
    );

    // A delivery whose expiry outlasts the hold moves the TTL past the hold's end.
    store
        .add_hold(SELLER, late, &hold(t + Duration::days(20)), placed)
        .await
        .unwrap();
    deliver(&stack, late, t + Duration::days(2)).await;
    assert_eq!(
        pii_ttl(&stack, late).await,
        Some((t + Duration::days(32)).unix_timestamp())
    );
    store
        .remove_hold(SELLER, late, "not needed", "legal@seller.example", placed)
        .await
        .unwrap();

    // Past expiry: held, not overdue, preserved but not usable.
    let at = t + Duration::days(12);
    let run = sweep_at(&stack, at).await;
    assert_eq!((run.erased, run.held, run.overdue), (0, 2, 0));
    let report = store.report(at).await.unwrap();
    assert_eq!((report.held, report.overdue.len()), (2, 0));
    assert_eq!(report.holds.len(), 2);
    assert!(
        stack
            .pii_item(lifted)
            .await
            .unwrap()
            .contains_key("pii_shipping")
    );
    assert!(matches!(
        reader(&stack)
            .open::<ShippingPii>(SELLER, lifted, Purpose::CustomerService, at)
            .await,
        Err(AccessError::Gone(PiiState::Held { .. }))
    ));

    // Lifted: the order's own expiry applies again and the next run erases it.
    let lift = t + Duration::days(13);
    store
        .remove_hold(SELLER, lifted, "case closed", "legal@seller.example", lift)
        .await
        .unwrap();
    assert_eq!(
        store
            .remove_hold(SELLER, lifted, "again", "legal@seller.example", lift)
            .await,
        Err(HoldError::NotHeld)
    );
    assert_eq!(
        pii_ttl(&stack, lifted).await,
        Some((t + Duration::days(5)).unix_timestamp()),
        "the TTL backstop returns to the expiry"
    );
    let run = sweep_at(&stack, lift).await;
    assert_eq!((run.erased, run.held), (1, 1));
    assert_erased(&stack.order_item(lifted).await.unwrap());
    assert!(stack.pii_item(lifted).await.is_none());
    // The other hold runs out at day 20; the first run after it erases.
    let run = sweep_at(&stack, t + Duration::days(20)).await;
    assert_eq!((run.erased, run.held, run.overdue), (1, 0, 0));
    assert_erased(&stack.order_item(lapsing).await.unwrap());

    // Audit: who, why and until for each change, by ids.
    let items = orderseal_local::inspect::scan_all(&stack.aws, stack.table())
        .await
        .unwrap();
    let audit: Vec<&Item> = items
        .iter()
        .filter(|i| {
            orderseal_local::inspect::s(i, "pk") == Some(&format!("AUDIT#{SELLER}#{lifted}"))
        })
        .collect();
    let actions: Vec<&str> = audit
        .iter()
        .filter_map(|i| orderseal_local::inspect::s(i, "action"))
        .collect();
    assert_eq!(actions, ["hold-add", "hold-remove"]);
    assert!(
        audit
            .iter()
            .all(|i| orderseal_local::inspect::s(i, "who") == Some("legal@seller.example"))
    );
    assert!(store.holds().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_interrupted_sweep_resumes_and_overlapping_sweeps_erase_each_order_once() {
    let stack = TestStack::new().await;
    let now = OffsetDateTime::now_utc();
    let seed = |seller: &'static str, count: usize| {
        orderseal_local::retention::seed_orders(
            &stack.aws,
            stack.table(),
            Seed {
                seller,
                count,
                created: now - Duration::days(40),
                expires: now - Duration::days(1),
            },
        )
    };
    let first = seed(SELLER, 45).await.unwrap();
    let parts: Vec<Vec<u8>> = {
        let mut p = Vec::new();
        for id in &first[..3] {
            p.extend(sealed_parts(&stack.order_item(id).await.unwrap()));
        }
        p
    };
    let store = retention(&stack);
    let small = SweepLimits {
        page_size: 10,
        concurrency: 4,
        ..SweepLimits::default()
    };
    // Cut mid-page: 15 erasures with pages of 10.
    let cut = sweep(
        &store,
        now,
        KEEP,
        SweepLimits {
            max_erasures: Some(15),
            ..small
        },
    )
    .await
    .unwrap();
    assert_eq!((cut.erased, cut.complete), (15, false));
    assert_eq!(cut.overdue, 30, "the rest is reported overdue, not lost");
    let resumed = sweep(&store, now, KEEP, small).await.unwrap();
    assert_eq!(
        (resumed.erased, resumed.overdue, resumed.complete),
        (30, 0, true)
    );
    let again = sweep(&store, now, KEEP, small).await.unwrap();
    assert_eq!(again.erased, 0);

    // Two runs at once over 40 more: each order is erased by exactly one of them.
    seed("A2OTHERSELLER", 40).await.unwrap();
    let other = retention(&stack);
    let (a, b) = tokio::join!(
        sweep(&store, now, KEEP, small),
        sweep(&other, now, KEEP, small)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.erased + b.erased, 40);
    assert_eq!((a.failed, b.failed), (0, 0));

    let records = business_records(&stack).await;
    assert_eq!(records.len(), 85, "one business record per order");
    let mut ids: Vec<_> = records
        .iter()
        .map(|r| (&r.seller_id, &r.order_id))
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 85);
    let report = operator(&stack).report(now).await.unwrap();
    assert_eq!((report.live, report.overdue.len()), (0, 0));
    assert_eq!(report.erased_total, 85);
    assert!(operator(&stack).holding_pii().await.unwrap().is_empty());
    assert_nowhere(&stack, &parts).await;
}

#[tokio::test]
async fn the_report_lists_overdue_records_and_the_export_streams_business_records() {
    let stack = TestStack::new().await;
    let now = OffsetDateTime::now_utc();
    let seed = |count: usize, expires: OffsetDateTime| {
        orderseal_local::retention::seed_orders(
            &stack.aws,
            stack.table(),
            Seed {
                seller: SELLER,
                count,
                created: now - Duration::days(35),
                expires,
            },
        )
    };
    let due = seed(3, now - Duration::hours(2)).await.unwrap();
    let store = operator(&stack);
    // Two more placed later and not yet due (distinct ids: another creation time).
    orderseal_local::retention::seed_orders(
        &stack.aws,
        stack.table(),
        Seed {
            seller: SELLER,
            count: 2,
            created: now - Duration::days(3),
            expires: now + Duration::days(20),
        },
    )
    .await
    .unwrap();

    let report = store.report(now).await.unwrap();
    assert_eq!(report.live, 2);
    let mut overdue: Vec<_> = report.overdue.iter().map(|o| o.order_id.clone()).collect();
    overdue.sort();
    assert_eq!(overdue, due);
    assert!(report.overdue.iter().all(|o| o.overdue_seconds >= 7_200));
    assert_eq!(report.oldest_pii_age_seconds.map(|a| a / 86_400), Some(35));
    let table = orderseal_ops::render_table(&report);
    assert!(table.contains("OVERDUE") && table.contains(&due[0]));

    // Past its expiry the PII is gone for readers: no hold can bring it back.
    assert_eq!(
        store
            .add_hold(
                SELLER,
                &due[0],
                &Hold {
                    reason: "too late".into(),
                    by: "ops".into(),
                    until: now + Duration::days(9),
                },
                now,
            )
            .await,
        Err(HoldError::Expired)
    );
    let run = sweep_at(&stack, now).await;
    assert_eq!((run.erased, run.overdue), (3, 0));
    let report = store.report(now).await.unwrap();
    assert!(report.overdue.is_empty());
    assert_eq!(report.last_sweep.as_ref().map(|s| s.erased), Some(3));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["overdue"].as_array().map(Vec::len), Some(0));

    let mut csv = Vec::new();
    let from = now - Duration::days(36);
    let exported = orderseal_ops::export_csv(
        store.business_records(from, now, Some(SELLER.into())),
        from,
        now,
        &mut csv,
        &indicatif::ProgressBar::hidden(),
    )
    .await
    .unwrap();
    // The 3 erased and the 2 shipped orders still within retention: the export does not wait
    // for erasure.
    assert_eq!((exported.records, exported.rows), (5, 5));
    let text = String::from_utf8(csv).unwrap();
    assert!(text.starts_with("seller_id,order_id,marketplace_id,purchase_date"));
    for id in &due {
        assert!(text.contains(id.as_str()));
    }
    assert_no_canary("export", &text);
    for pii in [
        "Seed Recipient",
        "Seed Street",
        "Seed Buyer",
        "@marketplace",
    ] {
        assert!(!text.contains(pii), "the export carries no PII");
    }
    // Another seller's export is empty; a range before the orders is empty.
    let other = orderseal_ops::export_csv(
        store.business_records(from, now, Some("A9NOBODY".into())),
        from,
        now,
        Vec::new(),
        &indicatif::ProgressBar::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(other.records, 0);
    let _: Vec<DueOrder> = store.holding_pii().await.unwrap();
}

#[tokio::test]
async fn the_bulk_seed_writes_the_item_the_ingest_write_creates() {
    let stack = TestStack::new().await;
    let created = OffsetDateTime::now_utc() - Duration::days(3);
    let expires = created + Duration::days(40);
    let ids = orderseal_local::retention::seed_orders(
        &stack.aws,
        stack.table(),
        Seed {
            seller: SELLER,
            count: 1,
            created,
            expires,
        },
    )
    .await
    .unwrap();
    orderseal_local::retention::bulk_seed_orders(
        &stack.aws,
        stack.table(),
        Seed {
            seller: "A2BULKSELLER",
            count: 1,
            created,
            expires,
        },
    )
    .await
    .unwrap();
    let get = |seller: &'static str| {
        orderseal_local::inspect::get_order(&stack.aws, stack.table(), seller, &ids[0])
    };
    let pii = |seller: &'static str| {
        orderseal_local::inspect::get_pii(&stack.aws, stack.table(), seller, &ids[0])
    };
    let (mut by_store, mut bulk) = (
        get(SELLER).await.unwrap().unwrap(),
        get("A2BULKSELLER").await.unwrap().unwrap(),
    );
    // What differs by seller.
    for k in ["pk", "seller_id", "pii_shard"] {
        assert!(
            by_store.remove(k).is_some() && bulk.remove(k).is_some(),
            "{k}"
        );
    }
    assert_eq!(by_store, bulk);
    let (mut by_store, mut bulk) = (
        pii(SELLER).await.unwrap().unwrap(),
        pii("A2BULKSELLER").await.unwrap().unwrap(),
    );
    // What differs by seller or by the fresh data keys.
    for k in ["pk", "pii_shipping", "pii_contact"] {
        assert!(
            by_store.remove(k).is_some() && bulk.remove(k).is_some(),
            "{k}"
        );
    }
    assert_eq!(by_store, bulk);
}

/// `orderseal retention audit`: sealed PII the expiry index does not list (the sweep and the
/// overdue alarm would never see it), sealed PII left beside an erased order, and a TTL off the
/// layout's rule are each found by a projection-only scan as the operators' role, repaired with
/// `--fix`, and the report shows the last result (target 0).
#[tokio::test]
async fn the_index_audit_finds_and_repairs_pii_the_sweep_cannot_see() {
    use orderseal::aws::ddb::{n as num, s as string};
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let (clean, unindexed, orphaned, drifted) = (
        "114-0000009-0000001",
        "114-0000009-0000002",
        "114-0000009-0000003",
        "114-0000009-0000004",
    );
    for id in [clean, unindexed, orphaned, drifted] {
        stack
            .notify(
                &ingest,
                &canary_order(id, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
            )
            .await;
    }
    let admin = &stack.aws.dynamodb;
    let update = |pk: String, sk: &'static str, expr: &'static str| {
        admin
            .update_item()
            .table_name(stack.table())
            .key("pk", string(pk))
            .key("sk", string(sk))
            .update_expression(expr)
    };
    // A lost index entry; an erasure that left the PII item behind; a TTL moved off the rule.
    update(
        orderseal::layout::order_pk(SELLER, unindexed),
        "ORDER",
        "REMOVE pii_shard",
    )
    .send()
    .await
    .unwrap();
    update(
        orderseal::layout::order_pk(SELLER, orphaned),
        "ORDER",
        "SET pii_erased_at = :t REMOVE pii_shard",
    )
    .expression_attribute_values(":t", num(1))
    .send()
    .await
    .unwrap();
    update(
        orderseal::layout::pii_pk(SELLER, drifted),
        "PII",
        "SET #ttl = #ttl + :d",
    )
    .expression_attribute_names("#ttl", "ttl")
    .expression_attribute_values(":d", num(5 * 86_400))
    .send()
    .await
    .unwrap();
    let store = operator(&stack);
    let now = OffsetDateTime::now_utc();
    let found = store.audit_index(false, now).await.unwrap();
    assert_eq!(
        (
            found.unindexed,
            found.orphaned,
            found.ttl_drift,
            found.fixed
        ),
        (1, 1, 1, 0)
    );
    let kinds: Vec<(&str, &str)> = found
        .findings
        .iter()
        .map(|f| (f.order_id.as_str(), f.kind.as_str()))
        .collect();
    assert!(kinds.contains(&(unindexed, "unindexed")) && kinds.contains(&(orphaned, "orphaned")));
    assert!(kinds.contains(&(drifted, "ttl_drift")));
    assert!(!kinds.iter().any(|(id, _)| *id == clean));
    let report = store.report(now).await.unwrap();
    assert_eq!(report.last_audit.as_ref().map(|a| a.unindexed), Some(1));
    assert!(orderseal_ops::render_table(&report).contains("PII the expiry index misses"));
    // The report itself, from the index, cannot see the unindexed order.
    assert_eq!(report.live, 2);

    let fixed = store.audit_index(true, now).await.unwrap();
    assert_eq!((fixed.problems(), fixed.fixed), (3, 3));
    assert!(
        stack
            .order_item(unindexed)
            .await
            .unwrap()
            .contains_key("pii_shard")
    );
    assert!(stack.pii_item(orphaned).await.is_none());
    let d = stack.order_item(drifted).await.unwrap();
    assert_eq!(
        n(&stack.pii_item(drifted).await.unwrap(), "ttl"),
        n(&d, "pii_expires_at")
    );
    let again = store.audit_index(false, now).await.unwrap();
    assert_eq!(again.problems(), 0);
    assert!(again.scanned >= 8, "order and PII items were read");
    assert_eq!(store.report(now).await.unwrap().live, 3);
    logs.assert_clean();
}

#[tokio::test]
async fn the_sweep_reports_the_sellers_due_to_authorise_the_app_again() {
    let stack = TestStack::new().await;
    let now = time::OffsetDateTime::now_utc();
    // The stack's seller authorised today; another 340 days ago (25 days left).
    let harness = orderseal::sellers::DynamoSellers::new(stack.aws.dynamodb.clone(), stack.table());
    harness
        .put(&orderseal::sellers::Seller {
            seller_id: "A2OLDAUTHSELLER".into(),
            marketplaces: vec!["ATVPDKIKX0DER".into()],
            authorized_on: (now - time::Duration::days(340)).date(),
            added_at: String::new(),
        })
        .await
        .unwrap();
    // Read as the retention function reads it.
    let registry = orderseal::sellers::DynamoSellers::new(
        stack
            .aws_as(orderseal_local::roles::RETENTION)
            .dynamodb
            .clone(),
        stack.table(),
    );
    let line: serde_json::Value = serde_json::from_str(
        &orderseal_retention::authorization_line(&registry, now)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["Sellers"], 2);
    assert_eq!(line["SellersDueForReauthorization"], 1);
    assert_eq!(line["SellerAuthorizationDaysLeft"], 25);
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "orderseal"
    );
}
