//! The reconcile run (catch-up for notifications that arrive late or never) against the local
//! stack and the SP-API sandbox's searchOrders: dropped notifications are caught up exactly
//! once, a late notification then changes nothing, an interrupted run resumes from its
//! watermark, and searchOrders keeps to its usage plan.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use orderseal_ingest::reconcile::ReconcileConfig;
use orderseal_local::{notify, pump};
use orderseal_tests::{LogCapture, SELLER, TestStack};
use spapi_sandbox::{Fault, Op, OrderRef, SandboxConfig};
use time::OffsetDateTime;

/// The run's clock: ten minutes on, so every sandbox order is past searchOrders' two-minute
/// floor (the sandbox clock moves with it).
fn later(stack: &TestStack) -> OffsetDateTime {
    stack
        .sandbox
        .control()
        .advance_clock(Duration::from_secs(600));
    (OffsetDateTime::now_utc() + time::Duration::minutes(10))
        .replace_nanosecond(0)
        .unwrap()
}

fn config() -> ReconcileConfig {
    ReconcileConfig {
        // The sandbox's orders go back about four days.
        initial_lookback: time::Duration::days(30),
        max_window: time::Duration::days(60),
        ..ReconcileConfig::default()
    }
}

/// Registers the seller in the marketplaces of `refs` (provisioning registered the US one).
async fn sell_in(stack: &TestStack, refs: &[OrderRef]) -> BTreeSet<String> {
    let marketplaces: BTreeSet<String> = refs
        .iter()
        .filter_map(|r| r.marketplace_id.clone())
        .collect();
    orderseal::sellers::DynamoSellers::new(stack.aws.dynamodb.clone(), stack.table())
        .put(&orderseal::sellers::Seller {
            seller_id: SELLER.to_owned(),
            marketplaces: marketplaces.iter().cloned().collect(),
            authorized_on: OffsetDateTime::now_utc().date(),
            added_at: String::new(),
        })
        .await
        .unwrap();
    marketplaces
}

async fn send_notification(stack: &TestStack, order_id: &str) {
    let order = stack.sandbox.control().order(order_id).unwrap();
    let body =
        notify::order_change_for(&order, SELLER, &notify::notification_id_for(&order)).to_string();
    stack.send(&body).await;
}

/// The shipment requests in the queue, per order (taken off the queue).
async fn shipment_requests(stack: &TestStack) -> BTreeMap<String, usize> {
    let mut per_order = BTreeMap::new();
    for m in pump::take_all(&stack.aws, &stack.queue_url("ShipmentsQueue"))
        .await
        .unwrap()
    {
        let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or_default()).unwrap();
        *per_order
            .entry(body["order_id"].as_str().unwrap_or_default().to_owned())
            .or_insert(0) += 1;
    }
    per_order
}

#[tokio::test]
async fn dropped_notifications_are_caught_up_once_and_late_ones_change_nothing() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let control = stack.sandbox.control();
    let refs = control.order_refs();
    let marketplaces = sell_in(&stack, &refs).await;
    let ingest = stack.ingest();
    // Amazon delivers every other notification; the rest are lost.
    let delivered: Vec<&OrderRef> = refs.iter().step_by(2).collect();
    let dropped: Vec<&OrderRef> = refs.iter().skip(1).step_by(2).collect();
    assert!(!dropped.is_empty() && !delivered.is_empty());
    for r in &delivered {
        send_notification(&stack, &r.order_id).await;
    }
    stack
        .drain(&ingest, Duration::from_secs(30), Duration::ZERO)
        .await;
    for r in &dropped {
        assert!(stack.order_item(&r.order_id).await.is_none());
    }
    let from_notifications = shipment_requests(&stack).await;
    control.reset_stats();

    let now = later(&stack);
    let report = stack.reconcile(&ingest, &config(), now).await;
    assert_eq!(
        report.orders_reconciled as usize,
        dropped.len(),
        "{report:?}"
    );
    assert_eq!(
        report.orders_current as usize,
        delivered.len(),
        "{report:?}"
    );
    assert_eq!(report.windows_completed as usize, marketplaces.len());
    assert_eq!((report.windows_interrupted, report.orders_failed), (0, 0));
    for r in &refs {
        assert!(
            stack.order_item(&r.order_id).await.is_some(),
            "{} stored",
            r.order_id
        );
    }
    // One searchOrders page per marketplace; getOrder only for orders that keep buyer data
    // (searchOrders brought no PII: an FBA or cancelled order needed nothing more).
    let stats = control.stats();
    assert_eq!(stats.search_orders.count(200) as usize, marketplaces.len());
    assert_eq!(stats.search_orders.count(429), 0);
    let mut with_pii = 0;
    for r in &dropped {
        if stack.pii_item(&r.order_id).await.is_some() {
            with_pii += 1;
        }
    }
    assert_eq!(stats.get_order.requests, with_pii);
    assert_eq!(
        stats
            .last_included_data
            .as_deref()
            .map(|d| d.contains(&"BUYER".to_owned())),
        if with_pii > 0 { Some(true) } else { None }
    );
    let from_reconcile = shipment_requests(&stack).await;
    assert_eq!(
        from_reconcile.values().sum::<usize>(),
        report.shipment_requests as usize
    );
    assert!(
        from_reconcile.values().all(|&n| n == 1),
        "{from_reconcile:?}"
    );
    assert!(from_reconcile.keys().all(
        |id| dropped.iter().any(|r| &r.order_id == id) && !from_notifications.contains_key(id)
    ));

    // The lost notifications arrive late: nothing more is written or requested.
    for r in &dropped {
        send_notification(&stack, &r.order_id).await;
    }
    let late = stack
        .drain(&ingest, Duration::from_secs(30), Duration::ZERO)
        .await;
    assert!(late.failed == 0, "{late:?}");
    assert!(shipment_requests(&stack).await.is_empty());
    // Nor by the next run.
    let again = stack.reconcile(&ingest, &config(), now).await;
    assert_eq!(again.orders_reconciled, 0, "{again:?}");
    let line: serde_json::Value = serde_json::from_str(&again.emf_line(1)).unwrap();
    assert_eq!(line["ReconciledOrders"], 0);
    let line: serde_json::Value = serde_json::from_str(&report.emf_line(1)).unwrap();
    assert_eq!(line["ReconciledOrders"], dropped.len());
    logs.assert_clean();
}

#[tokio::test]
async fn an_interrupted_run_resumes_from_its_watermark() {
    let stack = TestStack::with_sandbox(SandboxConfig {
        generated_orders: 30,
        ..SandboxConfig::default()
    })
    .await;
    let control = stack.sandbox.control();
    let refs = control.order_refs();
    sell_in(&stack, &refs).await;
    let us: Vec<&OrderRef> = refs
        .iter()
        .filter(|r| r.marketplace_id.as_deref() == Some(orderseal_local::MARKETPLACE_US))
        .collect();
    assert!(us.len() >= 3, "a window of several pages");
    let ingest = stack.ingest();
    let config = ReconcileConfig {
        page_size: 2,
        ..config()
    };
    let now = later(&stack);
    // The second page of the first marketplace searched fails as Amazon refuses a request.
    control.inject_after(Op::SearchOrders, Fault::BadRequest, 1, 1);
    let first = stack.reconcile(&ingest, &config, now).await;
    assert_eq!(first.windows_interrupted, 1, "{first:?}");
    assert_eq!(first.stopped_by, Some("spapi_rejected"));
    let marks = watermarks(&stack).await;
    let stopped: Vec<_> = marks
        .iter()
        .filter(|(_, (at, _))| *at == now - config.initial_lookback)
        .collect();
    assert_eq!(
        stopped.len(),
        1,
        "the interrupted window kept its watermark: {marks:?}"
    );
    let (_, (_, window)) = stopped[0];
    assert_eq!(*window, config.max_window / 2, "and halves its next window");

    let second = stack.reconcile(&ingest, &config, now).await;
    assert_eq!(second.windows_interrupted, 0, "{second:?}");
    for r in &refs {
        assert!(stack.order_item(&r.order_id).await.is_some());
    }
    assert_eq!(
        (first.orders_reconciled + second.orders_reconciled) as usize,
        refs.len(),
        "every order written once: {first:?} {second:?}"
    );
    let requests = shipment_requests(&stack).await;
    assert!(requests.values().all(|&n| n == 1), "{requests:?}");
    let before = now - config.settle;
    assert!(
        watermarks(&stack)
            .await
            .values()
            .all(|(at, _)| *at == before),
        "every window done: the watermarks are at its end"
    );
    assert_eq!(control.stats().search_orders.count(429), 0);
}

#[tokio::test]
async fn searchorders_keeps_to_its_usage_plan() {
    let stack = TestStack::new().await;
    let control = stack.sandbox.control();
    let ingest = stack.ingest();
    // The shared bucket is spent (another invocation's burst): the next slot is hours away.
    let far = orderseal::clock::unix_millis(OffsetDateTime::now_utc()) + 10 * 3_600_000;
    stack
        .aws
        .dynamodb
        .put_item()
        .table_name(stack.table())
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("RATE#searchOrders#{SELLER}")),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("RATE".into()),
        )
        .item(
            "tat",
            aws_sdk_dynamodb::types::AttributeValue::N(far.to_string()),
        )
        .send()
        .await
        .unwrap();
    let now = later(&stack);
    let report = stack.reconcile(&ingest, &config(), now).await;
    assert_eq!(
        report.stopped_by,
        Some("usage_plan_exhausted"),
        "{report:?}"
    );
    assert_eq!(report.pages, 0);
    assert_eq!(
        control.stats().search_orders.requests,
        0,
        "no request over the plan"
    );
    assert!(
        watermarks(&stack)
            .await
            .values()
            .all(|(at, _)| *at == now - config().initial_lookback)
    );
}

/// Every stored watermark: `sk` → (watermark, window).
async fn watermarks(stack: &TestStack) -> BTreeMap<String, (OffsetDateTime, time::Duration)> {
    let out = stack
        .aws
        .dynamodb
        .query()
        .table_name(stack.table())
        .key_condition_expression("pk = :p")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S("RECONCILE".into()),
        )
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|item| {
            let s = |k: &str| item[k].as_s().unwrap().clone();
            (
                s("sk"),
                (
                    OffsetDateTime::parse(
                        &s("watermark"),
                        &time::format_description::well_known::Rfc3339,
                    )
                    .unwrap(),
                    time::Duration::seconds(item["window_secs"].as_n().unwrap().parse().unwrap()),
                ),
            )
        })
        .collect()
}
