//! The audit log group receives every audit event, whoever wrote it (issue 11, item 2): a
//! fraud hold at ingest, a legal hold and a buyer's erasure from the operator CLI's path, a
//! people's lookup and a return record through the pii-access API — read from the table's
//! stream as Lambda's event source mapping does, one line each, once, and no value in any.

use std::sync::Arc;

use orderseal::access::Purpose;
use orderseal::access_client::{AccessClient, Answer};
use orderseal::audit::AuditLog;
use orderseal::clock::SystemClock;
use orderseal::retention::Hold;
use orderseal::retention::dynamo::DynamoRetention;
use orderseal::returns::{ItemRef, ReturnReason, ReturnRequest};
use orderseal_local::audit_stream::AuditStream;
use orderseal_local::{REGION, access_api, person_for, roles};
use orderseal_tests::{LogCapture, SELLER, TestStack, assert_no_canary, canary_order, moto_url};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

#[tokio::test]
async fn every_audit_event_reaches_the_audit_log_once_whoever_wrote_it() {
    let stack = TestStack::new().await;
    let logs = LogCapture::start();
    let mut stream = AuditStream::open(&moto_url(), stack.table()).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let (held, looked_up) = ("113-9100001-0000001", "113-9100001-0000002");

    // Ingest holds an order for review (a fraud rule).
    let ingest = stack
        .ingest_with_fraud_rules(r#"{"default":{"high_value_new_address":{"min_total":"50.00"}}}"#);
    stack
        .notify(
            &ingest,
            &canary_order(held, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
        )
        .await;
    // The operators' role: a legal hold placed and lifted, then a buyer's erasure.
    let tracking_order = looked_up;
    stack.ship(tracking_order, "US", "WA").await;
    let operator = DynamoRetention::new(
        stack.aws_as(roles::OPERATOR).dynamodb.clone(),
        stack.table(),
    );
    let hold = Hold {
        reason: "case 2026-41".into(),
        by: "legal@seller.example".into(),
        until: now + Duration::days(60),
    };
    operator.add_hold(SELLER, held, &hold, now).await.unwrap();
    operator
        .remove_hold(SELLER, held, "case closed", "legal@seller.example", now)
        .await
        .unwrap();
    // People, through the pii-access API: a lookup, a refused lookup, a return record.
    let functions = access_api::functions(&stack.resources, &[], Arc::new(SystemClock), |r| {
        stack.aws_as(r).clone()
    })
    .unwrap();
    let (url, server) = access_api::serve(functions, 0).await.unwrap();
    let agent = AccessClient::new(
        &url,
        REGION,
        person_for(Purpose::CustomerService).credentials(),
    );
    assert!(matches!(
        agent
            .get_order(Purpose::CustomerService, SELLER, looked_up)
            .await
            .unwrap(),
        Answer::Opened(_)
    ));
    assert!(matches!(
        agent
            .get_order(Purpose::FraudReview, SELLER, looked_up)
            .await
            .unwrap(),
        Answer::Refused(_)
    ));
    let clerk = AccessClient::new(&url, REGION, person_for(Purpose::Returns).credentials());
    let request = ReturnRequest {
        rma_id: "RMA-41".into(),
        reason: Some(ReturnReason::WrongItem),
        items: Some(vec![ItemRef {
            item: "SKU-MUG-1".into(),
            quantity: 1,
        }]),
        ..Default::default()
    };
    clerk
        .record_return(SELLER, looked_up, &request)
        .await
        .unwrap()
        .unwrap();
    operator
        .erase_on_request(
            SELLER,
            looked_up,
            "buyer request 4100",
            "cs@seller.example",
            now,
        )
        .await
        .unwrap();

    // What the table holds under the days, and what the log group receives.
    let day = AuditLog::new(stack.aws.dynamodb.clone(), stack.table())
        .since(
            now - Duration::hours(1),
            OffsetDateTime::now_utc() + Duration::minutes(1),
        )
        .await
        .unwrap();
    let lines = stream.mirror().await.unwrap();
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["audit"].clone())
        .collect();
    assert!(events.iter().all(|e| e.is_object()), "{lines:?}");
    let mut actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        [
            "fraud-hold",
            "hold-add",
            "hold-remove",
            "pii-access",
            "pii-access",
            "return-record",
            "subject-erase"
        ],
        "{lines:?}"
    );
    // One line per event the table holds (the same events: the table sorts them by time).
    let mut logged: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            let f = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (f("action"), f("who"), f("order_id"))
        })
        .collect();
    let mut stored: Vec<(String, String, String)> = day
        .iter()
        .map(|e| (e.action.clone(), e.who.clone(), e.order_id.clone()))
        .collect();
    logged.sort();
    stored.sort();
    assert_eq!(logged, stored);
    let refused = events.iter().find(|e| e["outcome"] == "refused").unwrap();
    assert_eq!(refused["reason"], "not_permitted");
    assert_eq!(
        refused["who"],
        person_for(Purpose::CustomerService).caller_arn()
    );

    // Once: a second run finds nothing new; a new event is one new line.
    assert!(stream.mirror().await.unwrap().is_empty());
    operator.add_hold(SELLER, held, &hold, now).await.unwrap();
    let again = stream.mirror().await.unwrap();
    assert_eq!(again.len(), 1, "{again:?}");

    assert_no_canary("the audit log", &lines.join("\n"));
    logs.assert_clean();
    server.abort();
}
