//! Requests from an order's buyer, as the operators' role (issue 11, item 6): the subject
//! report says what is held without a value; an erasure on request leaves the same raw-scan
//! state as the sweep, is audited, and is refused while a legal hold applies.

use orderseal::aws::ddb::get_n as n;
use orderseal::retention::dynamo::DynamoRetention;
use orderseal::retention::{Erasure, Hold, SubjectError};
use orderseal_local::roles;
use orderseal_tests::{CANARIES, LogCapture, SELLER, TestStack, assert_no_canary, canary_order};
use time::{Duration, OffsetDateTime};

fn operator(stack: &TestStack) -> DynamoRetention {
    DynamoRetention::new(
        stack.aws_as(roles::OPERATOR).dynamodb.clone(),
        stack.table(),
    )
}

#[tokio::test]
async fn a_buyer_can_learn_what_is_held_and_have_it_erased_unless_a_legal_hold_applies() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let id = "117-0000001-0000001";
    let tracking = stack.ship(id, "US", "WA").await;
    let store = operator(&stack);
    let now = OffsetDateTime::now_utc();

    // What is held: classes, dates, erasure, sharing - and no value.
    let report = store.subject_report(SELLER, id).await.unwrap();
    assert_eq!(report.classes, ["shipping", "contact", "gift"]);
    assert_eq!(report.expiry_basis, "anchored");
    let erased_by = report.erased_by.unwrap();
    assert!(erased_by > now + Duration::days(21) && erased_by < now + Duration::days(23));
    assert_eq!(report.shared_with.len(), 1);
    assert_eq!(
        report.shared_with[0].tracking_number.as_deref(),
        Some(tracking.as_str())
    );
    assert_eq!(report.shared_with[0].classes, ["shipping"]);
    let text = orderseal_ops::render_subject(&report);
    assert!(
        text.contains("buyer data held (sealed): shipping, contact, gift"),
        "{text}"
    );
    let json = serde_json::to_string(&report).unwrap();
    assert_no_canary("the subject report", &format!("{text}{json}"));

    // A legal hold refuses the erasure and says why.
    store
        .add_hold(
            SELLER,
            id,
            &Hold {
                reason: "litigation case 2026-40".into(),
                by: "legal@seller.example".into(),
                until: now + Duration::days(60),
            },
            now,
        )
        .await
        .unwrap();
    match store
        .erase_on_request(SELLER, id, "buyer request 7781", "cs@seller.example", now)
        .await
    {
        Err(SubjectError::Held { reason, .. }) => assert_eq!(reason, "litigation case 2026-40"),
        other => panic!("not refused under the hold: {other:?}"),
    }
    assert!(
        stack.pii_item(id).await.is_some(),
        "nothing erased under the hold"
    );
    let held = store.subject_report(SELLER, id).await.unwrap();
    assert_eq!(
        held.hold.as_ref().map(|h| h.reason.as_str()),
        Some("litigation case 2026-40")
    );
    store
        .remove_hold(SELLER, id, "case closed", "legal@seller.example", now)
        .await
        .unwrap();
    assert!(matches!(
        store
            .erase_on_request(SELLER, id, "", "cs@seller.example", now)
            .await,
        Err(SubjectError::BadText)
    ));

    // Erased now, by the sweep's path.
    assert_eq!(
        store
            .erase_on_request(SELLER, id, "buyer request 7781", "cs@seller.example", now)
            .await
            .unwrap(),
        Erasure::Erased
    );
    assert!(stack.pii_item(id).await.is_none());
    let order = stack.order_item(id).await.unwrap();
    assert!(order.contains_key("pii_erased_at") && !order.contains_key("pii_shard"));
    assert!(!order.values().any(|v| v.is_b()));
    assert_eq!(n(&order, "pii_expires_at"), Some(now.unix_timestamp()));
    let after = store.subject_report(SELLER, id).await.unwrap();
    assert!(after.classes.is_empty() && after.erased_at.is_some());
    assert_eq!(after.expiry_basis, "request");
    assert_eq!(
        store
            .erase_on_request(SELLER, id, "again", "cs@seller.example", now)
            .await,
        Err(SubjectError::AlreadyErased)
    );
    // Audited: who, why and when, by ids; the business record is kept.
    let dump = stack.raw_dump().await;
    assert!(dump.contains("subject-erase") && dump.contains("buyer request 7781"));
    for c in CANARIES {
        assert!(
            !dump.contains(c),
            "a canary value is stored after the erasure"
        );
    }
    let mut pages = store.business_records(now - Duration::days(40), now + Duration::days(1), None);
    let mut records = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        records.extend(page);
    }
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].tracking_number.as_deref(),
        Some(tracking.as_str())
    );
    assert_eq!(
        records[0].pii_erased_at.map(|t| t.unix_timestamp()),
        Some(now.unix_timestamp())
    );
    // A late notification brings nothing back.
    stack
        .notify(
            &stack.ingest(),
            &canary_order(id, "SHIPPED", "MERCHANT", "2026-11-25T10:00:00Z"),
        )
        .await;
    assert!(stack.pii_item(id).await.is_none());
    assert_eq!(
        store.subject_report(SELLER, "117-9999999-9999999").await,
        Err(SubjectError::NoOrder)
    );
    logs.assert_clean();
}
