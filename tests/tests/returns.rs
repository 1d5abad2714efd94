//! Returns and refunds (issue 11, item 4), through the pii-access API as the returns clerk:
//! recorded with codes and the order's own lines (no buyer data), audited, in the accounting
//! export; a pickup opens the address for purpose returns until it is collected; the records
//! outlive a later notification and the PII's erasure.

use std::sync::Arc;

use orderseal::access::Purpose;
use orderseal::access_client::{AccessClient, Answer, OrderView, Refusal, ReturnView};
use orderseal::audit::AuditLog;
use orderseal::clock::SystemClock;
use orderseal::retention::Erasure;
use orderseal::retention::dynamo::{BusinessEntry, DynamoRetention};
use orderseal::returns::{ItemRef, ReturnMethod, ReturnReason, ReturnRequest, ReturnStatus};
use orderseal_local::{REGION, access_api, person_for, roles};
use orderseal_tests::{CANARIES, LogCapture, SELLER, TestStack, assert_no_canary, canary_order};
use time::{Duration, OffsetDateTime};

fn new_return(rma: &str, sku: &str, quantity: u32, method: ReturnMethod) -> ReturnRequest {
    ReturnRequest {
        rma_id: rma.into(),
        reason: Some(ReturnReason::Damaged),
        method: Some(method),
        items: Some(vec![ItemRef {
            item: sku.into(),
            quantity,
        }]),
        ..Default::default()
    }
}

fn next(rma: &str, status: ReturnStatus, refund: Option<&str>) -> ReturnRequest {
    ReturnRequest {
        rma_id: rma.into(),
        status: Some(status),
        refund: refund.map(str::to_owned),
        ..Default::default()
    }
}

async fn record(c: &AccessClient, order: &str, req: &ReturnRequest) -> ReturnView {
    match c.record_return(SELLER, order, req).await.unwrap() {
        Ok(v) => v,
        Err(r) => panic!("{} refused: {r:?}", req.rma_id),
    }
}

async fn refused(c: &AccessClient, order: &str, req: &ReturnRequest) -> Refusal {
    match c.record_return(SELLER, order, req).await.unwrap() {
        Err(r) => r,
        Ok(v) => panic!("{} was recorded: {:?}", req.rma_id, v.record.status),
    }
}

async fn lookup(c: &AccessClient, order: &str) -> OrderView {
    match c.get_order(Purpose::Returns, SELLER, order).await.unwrap() {
        Answer::Opened(v) => *v,
        Answer::Refused(r) => panic!("returns lookup refused: {r:?}"),
    }
}

async fn entries(stack: &TestStack) -> Vec<BusinessEntry> {
    let store = DynamoRetention::new(
        stack.aws_as(roles::OPERATOR).dynamodb.clone(),
        stack.table(),
    );
    let now = OffsetDateTime::now_utc();
    let mut pages = store.business_records(now - Duration::days(60), now + Duration::days(1), None);
    let mut out = Vec::new();
    while let Some(page) = pages.next_entries().await.unwrap() {
        out.extend(page);
    }
    out
}

#[tokio::test]
async fn returns_are_recorded_audited_exported_and_outlive_the_pii() {
    let stack = TestStack::new().await;
    let logs = LogCapture::start();
    let order = "113-6200001-0000001";
    stack.ship(order, "US", "WA").await;
    // Amazon reports it shipped: the business record is written.
    let ingest = stack.ingest();
    stack
        .notify(
            &ingest,
            &canary_order(order, "SHIPPED", "MERCHANT", "2026-11-22T10:00:00Z"),
        )
        .await;
    let functions = access_api::functions(&stack.resources, &[], Arc::new(SystemClock), |r| {
        stack.aws_as(r).clone()
    })
    .unwrap();
    let (url, server) = access_api::serve(functions, 0).await.unwrap();
    let clerk = AccessClient::new(&url, REGION, person_for(Purpose::Returns).credentials());

    // A seller-addressed label needs no buyer data: returns reads contact, not the address.
    let v = record(
        &clerk,
        order,
        &new_return("RMA-1", "SKU-MUG-1", 1, ReturnMethod::SellerLabel),
    )
    .await;
    assert!(v.changed && !v.shipping_for_returns);
    assert_eq!(v.record.status, ReturnStatus::Requested);
    assert_eq!(v.record.lines[0].order_item_id, "50000000000001");
    let view = lookup(&clerk, order).await;
    assert!(view.classes.shipping.is_none(), "no pickup, no address");
    assert!(view.classes.contact.is_some());

    // A pickup opens the address for returns until it is collected.
    let calls = &stack.aws_as(roles::PII_ACCESS_RETURNS).calls;
    calls.reset();
    let v = record(
        &clerk,
        order,
        &new_return("RMA-2", "SKU-MUG-1", 1, ReturnMethod::Pickup),
    )
    .await;
    assert!(v.shipping_for_returns);
    // One read of the order, one of its returns, one transaction (return, pickup, audit).
    let counted = calls.snapshot();
    assert_eq!(counted.get("DynamoDB.GetItem"), Some(&1), "{counted:?}");
    assert_eq!(counted.get("DynamoDB.Query"), Some(&1), "{counted:?}");
    assert_eq!(
        counted.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "{counted:?}"
    );
    assert_eq!(counted.values().sum::<u64>(), 3, "{counted:?}");
    let view = lookup(&clerk, order).await;
    assert_eq!(
        view.classes
            .shipping
            .as_ref()
            .and_then(|s| s.name.as_ref())
            .map(|n| n.expose()),
        Some("CANARY-RECIPIENT-Q7Z")
    );
    record(&clerk, order, &next("RMA-2", ReturnStatus::Received, None)).await;
    assert!(
        lookup(&clerk, order).await.classes.shipping.is_none(),
        "collected: closed again"
    );

    // Refunds; a repeat changes nothing; what can never apply or conflicts is refused.
    let v = record(
        &clerk,
        order,
        &next("RMA-1", ReturnStatus::Refunded, Some("29.99")),
    )
    .await;
    assert_eq!(
        v.record
            .refund
            .as_ref()
            .map(|m| (m.amount.as_str(), m.currency_code.as_str())),
        Some(("29.99", "USD"))
    );
    assert!(
        !record(
            &clerk,
            order,
            &next("RMA-1", ReturnStatus::Refunded, Some("29.99"))
        )
        .await
        .changed
    );
    for (req, status, code) in [
        (
            new_return("RMA-3", "SKU-MUG-1", 1, ReturnMethod::SellerLabel),
            422,
            "invalid_return",
        ),
        (
            new_return("RMA-3", "SKU-OTHER", 1, ReturnMethod::SellerLabel),
            422,
            "invalid_return",
        ),
        (
            next("RMA-2", ReturnStatus::Refunded, Some("30.00")),
            409,
            "refund_over_total",
        ),
        (
            next("RMA-1", ReturnStatus::Received, None),
            409,
            "return_transition",
        ),
        (
            next("RMA-9", ReturnStatus::Received, None),
            422,
            "invalid_return",
        ),
    ] {
        let r = refused(&clerk, order, &req).await;
        assert_eq!((r.status, r.error.as_str()), (status, code), "{req:?}");
    }
    // Only the returns clerk records returns: the function refuses anyone else (IAM does too:
    // the evaluation checks the recorded invocation).
    let agent = AccessClient::new(
        &url,
        REGION,
        person_for(Purpose::CustomerService).credentials(),
    );
    let r = refused(
        &agent,
        order,
        &next("RMA-2", ReturnStatus::Refunded, Some("29.99")),
    )
    .await;
    assert_eq!((r.status, r.error.as_str()), (403, "not_permitted"));

    // Audited: one event per request, allowed or refused, naming the RMA and no value.
    let trail = AuditLog::new(stack.aws.dynamodb.clone(), stack.table())
        .for_order(SELLER, order)
        .await
        .unwrap();
    let returns: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "return-record")
        .collect();
    assert_eq!(returns.len(), 11, "{trail:?}");
    assert_eq!(returns.iter().filter(|e| e.outcome == "allowed").count(), 5);
    assert_eq!(returns[0].note.as_deref(), Some("RMA-1"));
    assert_eq!(returns[0].who, person_for(Purpose::Returns).caller_arn());

    // A later notification rewrites the order: the returns stay. Then the PII is erased (on
    // request, by the sweep's path): the returns stay, a refund can still be recorded, and
    // nothing of the buyer is left.
    stack
        .notify(
            &ingest,
            &canary_order(order, "SHIPPED", "MERCHANT", "2026-11-23T10:00:00Z"),
        )
        .await;
    let now = OffsetDateTime::now_utc();
    let operator = DynamoRetention::new(
        stack.aws_as(roles::OPERATOR).dynamodb.clone(),
        stack.table(),
    );
    assert_eq!(
        operator
            .erase_on_request(
                SELLER,
                order,
                "buyer request 9001",
                "cs@seller.example",
                now
            )
            .await
            .unwrap(),
        Erasure::Erased
    );
    let v = record(
        &clerk,
        order,
        &next("RMA-2", ReturnStatus::Refunded, Some("29.99")),
    )
    .await;
    assert_eq!(v.record.refund.unwrap().amount, "29.99");

    let all = entries(&stack).await;
    let (orders, returns): (Vec<_>, Vec<_>) = all
        .iter()
        .partition(|e| matches!(e, BusinessEntry::Order(_)));
    assert_eq!(orders.len(), 1);
    let returns: Vec<_> = returns
        .into_iter()
        .map(|e| match e {
            BusinessEntry::Return(r) => r,
            BusinessEntry::Order(_) => unreachable!(),
        })
        .collect();
    assert_eq!(
        returns
            .iter()
            .map(|r| (r.rma_id.as_str(), r.status))
            .collect::<Vec<_>>(),
        [
            ("RMA-1", ReturnStatus::Refunded),
            ("RMA-2", ReturnStatus::Refunded)
        ]
    );
    assert!(
        matches!(all[0], BusinessEntry::Order(_)),
        "returns sort after their order"
    );
    let rows: Vec<_> = returns.iter().map(|r| r.csv_row()).collect();
    assert!(rows.iter().all(|r| r.contains(&"return".to_owned())));

    let dump = stack.raw_dump().await;
    for c in CANARIES {
        assert!(
            !dump.contains(c),
            "a canary value is stored after the erasure"
        );
    }
    assert_no_canary("the table", &dump);
    logs.assert_clean();
    server.abort();
}

/// Two clerks record different returns of one order from the same reading: the second write
/// is refused (the order's returns revision moved), so the limits computed from that reading
/// (what is left to return, what is left to refund) cannot be exceeded together.
#[tokio::test]
async fn returns_of_one_order_change_one_at_a_time() {
    use orderseal::returns::{Change, DynamoReturns, WriteError, apply};
    let stack = TestStack::new().await;
    let order = "113-6200002-0000001";
    stack.ship(order, "US", "WA").await;
    let returns = DynamoReturns::new(
        stack.aws_as(roles::PII_ACCESS_RETURNS).dynamodb.clone(),
        stack.table(),
        Duration::days(548),
    );
    let now = OffsetDateTime::now_utc();
    let facts = returns
        .order_facts(SELLER, order, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(facts.returns_rev, 0);
    // Both read no returns: each may take both mugs back.
    let both = |rma: &str| new_return(rma, "SKU-MUG-1", 2, ReturnMethod::SellerLabel);
    let first = apply(&facts, &[], &both("RMA-A"), now).unwrap();
    let second = apply(&facts, &[], &both("RMA-B"), now).unwrap();
    assert!(matches!(
        (&first, &second),
        (Change::Created(_), Change::Created(_))
    ));
    let event = |id: &'static str, rma: &'static str| orderseal::audit::AuditEvent {
        id,
        at: now,
        who: "arn:aws:sts::123456789012:assumed-role/ReturnsClerkRole/rob",
        action: "return-record",
        purpose: Some("returns"),
        seller_id: SELLER,
        order_id: order,
        classes: Vec::new(),
        outcome: orderseal::audit::Outcome::Allowed,
        note: Some(rma),
        canary: false,
        until: None,
        retention: orderseal::audit::ACCESS_AUDIT_RETENTION,
    };
    returns
        .write(
            &first,
            0,
            facts.returns_rev,
            orderseal::audit::puts(stack.table(), &event("r1", "RMA-A")),
        )
        .await
        .unwrap();
    assert!(matches!(
        returns
            .write(
                &second,
                0,
                facts.returns_rev,
                orderseal::audit::puts(stack.table(), &event("r2", "RMA-B"))
            )
            .await,
        Err(WriteError::Concurrent)
    ));
    // Read again: the second is refused for what it is.
    let facts = returns
        .order_facts(SELLER, order, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(facts.returns_rev, 1);
    let recorded: Vec<_> = returns
        .returns_of(&facts)
        .await
        .unwrap()
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        apply(&facts, &recorded, &both("RMA-B"), now),
        Err(orderseal::returns::ReturnError::Quantity(1))
    );
}
