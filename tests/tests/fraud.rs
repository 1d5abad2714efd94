//! Fraud rules at ingest over the keyed blind index: a match holds the order
//! (HELD_FOR_REVIEW), dispatch buys nothing for it, and a fraud reviewer releases or cancels it
//! through the pii-access API, audited. The index holds keyed hashes only and leaves with the
//! order's PII.

use std::sync::Arc;
use std::time::Duration;

use orderseal::access::Purpose;
use orderseal::access_client::{AccessClient, Answer};
use orderseal::audit::AuditLog;
use orderseal::retention::dynamo::DynamoRetention;
use orderseal_local::{REGION, access_api, inspect, person_for, roles};
use orderseal_tests::{LogCapture, SELLER, TestStack, assert_no_canary, canary_order};
use serde_json::{Value, json};

const RULES: &str = r#"{"default":{
    "high_value_new_address":{"min_total":"50.00"},
    "many_names_one_address":{"max_names":1,"window_days":30},
    "postal_code_mismatch":true,
    "repeated_cancellations":{"max":1}}}"#;

/// A canary order to a US address (valid ZIP unless told), recipient `name`, total `total`.
fn order_to(id: &str, line1: &str, name: &str, postal: &str, total: &str) -> Value {
    let mut o = canary_order(id, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z");
    o["recipient"]["deliveryAddress"]["addressLine1"] = json!(line1);
    o["recipient"]["deliveryAddress"]["name"] = json!(name);
    o["recipient"]["deliveryAddress"]["postalCode"] = json!(postal);
    o["proceeds"]["grandTotal"]["amount"] = json!(total);
    o
}

fn s<'a>(item: &'a inspect::Item, k: &str) -> Option<&'a str> {
    inspect::s(item, k)
}

#[tokio::test]
async fn a_matching_order_is_held_until_a_fraud_reviewer_releases_or_cancels_it() {
    let stack = TestStack::new().await;
    let logs = LogCapture::start();
    let ingest = stack.ingest_with_fraud_rules(RULES);
    let (a, b, c, e, f) = (
        "113-8000001-0000001",
        "113-8000001-0000002",
        "113-8000001-0000003",
        "113-8000001-0000005",
        "113-8000001-0000006",
    );
    // A: high value to an address never seen, with a postal code no US address has.
    stack
        .notify(
            &ingest,
            &order_to(
                a,
                "1 CANARY STREET Q7Z",
                "CANARY-RECIPIENT-Q7Z",
                "CANARY-POSTCODE-Q7Z",
                "59.98",
            ),
        )
        .await;
    // B: the same address spelt otherwise, another recipient name: two names at one address.
    stack
        .notify(
            &ingest,
            &order_to(
                b,
                "1 canary st. q7z",
                "Another Name",
                "CANARY-POSTCODE-Q7Z",
                "9.99",
            ),
        )
        .await;
    // C: another address, small, valid ZIP: nothing matches. One index query more than an
    // order without rules (the key is cached since A).
    let calls = &stack.aws_as(roles::INGEST).calls;
    calls.reset();
    stack
        .notify(
            &ingest,
            &order_to(c, "9 Other Road", "CANARY-RECIPIENT-Q7Z", "98101", "9.99"),
        )
        .await;
    let counted = calls.snapshot();
    assert_eq!(counted.get("DynamoDB.Query"), Some(&1), "{counted:?}");
    assert_eq!(calls.total(), 11, "{counted:?}");
    // E: a buyer asked to cancel (indexed, never held: nothing would ship); F, to the same
    // address, then meets the repeated-cancellations rule.
    let mut cancelled = order_to(e, "5 Cancel Lane", "CANARY-RECIPIENT-Q7Z", "98101", "9.99");
    cancelled["orderItems"][0]["cancellation"] =
        json!({"cancellationRequest": {"requester": "BUYER", "cancelReason": "NO_LONGER_NEEDED"}});
    stack.notify(&ingest, &cancelled).await;
    calls.reset();
    stack
        .notify(
            &ingest,
            &order_to(f, "5 Cancel Ln", "CANARY-RECIPIENT-Q7Z", "98101", "9.99"),
        )
        .await;
    // Held: the review state and its audit event, one transaction more.
    let counted = calls.snapshot();
    assert_eq!(
        counted.get("DynamoDB.TransactWriteItems"),
        Some(&2),
        "{counted:?}"
    );
    assert_eq!(calls.total(), 12, "{counted:?}");

    let review = |id: &'static str| {
        let stack = &stack;
        async move {
            let item = stack.order_item(id).await.unwrap();
            let rules: Vec<String> = item
                .get("review_rules")
                .and_then(|v| v.as_l().ok())
                .map(|l| l.iter().filter_map(|r| r.as_s().ok().cloned()).collect())
                .unwrap_or_default();
            (s(&item, "review_state").map(str::to_owned), rules)
        }
    };
    assert_eq!(
        review(a).await,
        (
            Some("HELD_FOR_REVIEW".into()),
            vec![
                "high_value_new_address".into(),
                "postal_code_mismatch".into()
            ]
        )
    );
    assert_eq!(
        review(b).await,
        (
            Some("HELD_FOR_REVIEW".into()),
            vec![
                "many_names_one_address".into(),
                "postal_code_mismatch".into()
            ]
        )
    );
    assert_eq!(review(c).await, (None, vec![]));
    assert_eq!(review(e).await, (None, vec![]));
    assert_eq!(
        review(f).await,
        (
            Some("HELD_FOR_REVIEW".into()),
            vec!["repeated_cancellations".into()]
        )
    );

    // The blind index: the two spellings share a key, the other addresses do not; keys only.
    let key = |id: &'static str| {
        let stack = &stack;
        async move {
            s(&stack.pii_item(id).await.unwrap(), "addr_key")
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(key(a).await, key(b).await);
    assert_ne!(key(a).await, key(c).await);
    assert_eq!(key(e).await, key(f).await);
    assert!(key(a).await.starts_with(&format!("ADDR#{SELLER}#")));

    // Dispatch buys nothing for the held orders; C ships.
    let dispatch = stack.dispatch(Duration::from_secs(5)).await;
    stack.drain_shipments(&dispatch, Duration::ZERO).await;
    for id in [a, b, f] {
        let item = stack.order_item(id).await.unwrap();
        assert!(
            s(&item, "tracking_number").is_none() && s(&item, "dispatch_state").is_none(),
            "{id} was dispatched"
        );
    }
    assert!(s(&stack.order_item(c).await.unwrap(), "tracking_number").is_some());
    // A later version of C that would now match (high value to its address) is not held: its
    // label is bought, and a hold must never stop a bought label's confirmation.
    let mut later = order_to(c, "9 Other Road", "CANARY-RECIPIENT-Q7Z", "98101", "99.99");
    later["lastUpdatedTime"] = json!("2026-11-22T10:00:00Z");
    stack.notify(&ingest, &later).await;
    assert_eq!(review(c).await, (None, vec![]));
    // Keys only: no address, name or postal code in any item or queue (raw_dump reads the
    // queues too, so it runs after dispatch).
    assert_no_canary("the table", &stack.raw_dump().await);
    let raw = stack.raw_dump().await;
    for spelling in [
        "Another Name",
        "canary st",
        "Other Road",
        "Cancel Lane",
        "98101",
    ] {
        // As a value, not as digits inside a timestamp or a random id.
        let shown = raw.match_indices(spelling).any(|(at, _)| {
            let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
            !digit(raw[..at].chars().next_back())
                && !digit(raw[at + spelling.len()..].chars().next())
        });
        assert!(!shown, "the table shows {spelling}");
    }

    // The reviewers' list: the held orders, not C (ids and rules only).
    let orders = orderseal::store::DynamoOrderStore::new(
        stack.aws_as(roles::OPERATOR).dynamodb.clone(),
        stack.table(),
    );
    let listed = |held: Vec<orderseal::store::dynamo::HeldOrder>| {
        let mut ids: Vec<String> = held.into_iter().map(|h| h.order_id).collect();
        ids.sort();
        ids
    };
    assert_eq!(listed(orders.held_for_review().await.unwrap()), [a, b, f]);

    // The reviewer's side, through the pii-access API.
    let functions = access_api::functions(
        &stack.resources,
        &[],
        Arc::new(orderseal::clock::SystemClock),
        |r| stack.aws_as(r).clone(),
    )
    .unwrap();
    let (url, server) = access_api::serve(functions, 0).await.unwrap();
    let fran = AccessClient::new(&url, REGION, person_for(Purpose::FraudReview).credentials());
    let alice = AccessClient::new(
        &url,
        REGION,
        person_for(Purpose::CustomerService).credentials(),
    );
    // The reviewer sees the held order's address (fraud_review: shipping only).
    match fran
        .get_order(Purpose::FraudReview, SELLER, a)
        .await
        .unwrap()
    {
        Answer::Opened(v) => assert!(v.classes.shipping.is_some() && v.classes.contact.is_none()),
        Answer::Refused(r) => panic!("{r:?}"),
    }
    // Customer service cannot decide.
    let r = alice
        .decide(SELLER, a, "release")
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((r.status, r.error.as_str()), (403, "not_permitted"));
    // Release A: it ships. Cancel B: it never does; releasing it afterwards is refused.
    let v = fran.decide(SELLER, a, "release").await.unwrap().unwrap();
    assert_eq!(v.review_state, "RELEASED");
    let v = fran.decide(SELLER, b, "cancel").await.unwrap().unwrap();
    assert_eq!(v.review_state, "CANCELLED");
    let r = fran
        .decide(SELLER, b, "release")
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((r.status, r.error.as_str()), (409, "not_held"));
    let r = fran
        .decide(SELLER, c, "release")
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((r.status, r.error.as_str()), (409, "not_held"));
    stack.drain_shipments(&dispatch, Duration::ZERO).await;
    assert!(
        s(&stack.order_item(a).await.unwrap(), "tracking_number").is_some(),
        "released, not shipped"
    );
    assert!(s(&stack.order_item(b).await.unwrap(), "dispatch_state").is_none());
    // Decided: off the list, in the decision's own transaction.
    assert_eq!(listed(orders.held_for_review().await.unwrap()), [f]);

    // Audited: the hold by ingest, the decisions by the reviewer, the refusals.
    let log = AuditLog::new(stack.aws.dynamodb.clone(), stack.table());
    let trail_a = log.for_order(SELLER, a).await.unwrap();
    let actions: Vec<(&str, &str)> = trail_a
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("fraud-hold", "allowed"),
            ("pii-access", "allowed"),
            ("fraud-release", "refused"),
            ("fraud-release", "allowed")
        ],
        "{trail_a:?}"
    );
    assert_eq!(
        trail_a[0].note.as_deref(),
        Some("high_value_new_address,postal_code_mismatch")
    );
    assert_eq!(
        trail_a[3].who,
        person_for(Purpose::FraudReview).caller_arn()
    );
    let trail_b = log.for_order(SELLER, b).await.unwrap();
    assert!(
        trail_b
            .iter()
            .any(|e| e.action == "fraud-cancel" && e.outcome == "allowed")
    );
    assert!(
        trail_b
            .iter()
            .any(|e| e.action == "fraud-release" && e.reason.as_deref() == Some("not_held"))
    );

    // Erased orders leave the index: B's PII erased on request, its entry is gone with it.
    let op = DynamoRetention::new(
        stack.aws_as(roles::OPERATOR).dynamodb.clone(),
        stack.table(),
    );
    op.erase_on_request(
        SELLER,
        b,
        "REQ-9",
        "privacy@seller.example",
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let at_address = stack
        .aws
        .dynamodb
        .query()
        .table_name(stack.table())
        .index_name(orderseal::fraud::ADDRESS_INDEX)
        .key_condition_expression("addr_key = :k")
        .expression_attribute_values(
            ":k",
            aws_sdk_dynamodb::types::AttributeValue::S(key(a).await),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = at_address
        .items()
        .iter()
        .filter_map(|i| {
            s(i, "pk")
                .and_then(orderseal::layout::ids_of_pk)
                .map(|(_, o)| o)
        })
        .collect();
    assert_eq!(ids, [a.to_owned()], "B left the index with its PII");
    logs.assert_clean();
    server.abort();
}
