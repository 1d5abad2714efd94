//! Property: any schedule of ingest, dispatch, carrier callback, sweep and TTL events for a few
//! orders - shuffled, duplicated, with crashes between the order write and its sealed-PII
//! write, and with DynamoDB TTL firing whenever it may - ends with every order's PII gone by its
//! limit and exactly one business record per order. Each schedule is drawn from a seed on a
//! virtual clock shared by every function; a failure names the seed and the schedule.
//!
//! `ORDERSEAL_SCHEDULES=<n>` runs `n` seeds (default 6 in the test command; the campaign in
//! BENCHMARKS.md runs more), `ORDERSEAL_SCHEDULE_SEED=<s>` replays one.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use orderseal::aws::ddb::{get_n as n, s};
use orderseal::clock::{Clock, ManualClock};
use orderseal::layout;
use orderseal::retention::{BusinessRecord, PiiState};
use orderseal_local::roles;
use orderseal_tests::{LogCapture, SELLER, TestStack, canary_order};
use time::{Duration, OffsetDateTime};

const ORDERS: [&str; 2] = ["116-0000001-0000001", "116-0000001-0000002"];
/// The DPP's limit after shipment, less the backup window and the sweep's hour.
const LIMIT_AFTER_SHIPMENT: Duration = Duration::days(22);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// ORDER_CHANGE for the open version.
    Unshipped(usize),
    /// ORDER_CHANGE once Amazon has it shipped (before or after our label: reordering).
    Shipped(usize),
    /// The shipments queue drained by dispatch.
    Dispatch,
    /// The carrier's delivery webhook for the order's label, if it has one.
    Delivered(usize),
    /// The hourly sweep, now.
    Sweep,
    /// DynamoDB TTL removes what it may (any item whose `ttl` has passed).
    TtlFires,
    /// The virtual clock moves on.
    Advance(i64),
    /// Ingest crashed between the order write and the sealed-PII write of the last version,
    /// and the notification comes again.
    CrashThenRedeliver(usize),
}

fn schedule(seed: u64) -> Vec<Step> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut steps = vec![Step::Unshipped(0), Step::Unshipped(1)];
    let len = rng.usize(8..16);
    for _ in 0..len {
        let o = rng.usize(..ORDERS.len());
        steps.push(match rng.u8(..9) {
            0 => Step::Unshipped(o),
            1 => Step::Shipped(o),
            2 | 3 => Step::Dispatch,
            4 => Step::Delivered(o),
            5 => Step::Sweep,
            6 => Step::TtlFires,
            7 => Step::Advance(rng.i64(1..12)),
            _ => Step::CrashThenRedeliver(o),
        });
    }
    rng.shuffle(&mut steps);
    // Duplicates: some steps happen twice, adjacent (a redelivery).
    let mut out = Vec::new();
    for st in steps {
        out.push(st);
        if rng.u8(..5) == 0 {
            out.push(st);
        }
    }
    out
}

struct World<'a> {
    stack: &'a TestStack,
    clock: ManualClock,
    ingest: orderseal_ingest::LambdaIngest,
    dispatch: orderseal_dispatch::LambdaDispatch,
    callback: orderseal_carrier_callback::LambdaCallback,
}

impl World<'_> {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Ingest one version; no PII may be written for an order already past its expiry.
    async fn notify(&self, i: usize, status: &str, at: &str) {
        let id = ORDERS[i];
        let before = self.stack.pii_item(id).await;
        let order = canary_order(id, status, "MERCHANT", at);
        self.stack.notify(&self.ingest, &order).await;
        let after = self.stack.pii_item(id).await;
        if after.is_some() && after != before {
            let stored = self.stack.order_item(id).await.unwrap();
            assert!(
                n(&stored, "pii_expires_at").unwrap() > self.now().unix_timestamp(),
                "{id}: PII collected past its expiry"
            );
        }
    }

    async fn pii_items(&self) -> Vec<orderseal_local::inspect::Item> {
        orderseal_local::inspect::scan_all(&self.stack.aws, self.stack.table())
            .await
            .unwrap()
            .into_iter()
            .filter(|i| orderseal_local::inspect::s(i, "sk") == Some(layout::PII_SK))
            .collect()
    }

    async fn step(&self, st: Step) {
        match st {
            Step::Unshipped(i) => self.notify(i, "UNSHIPPED", "2026-11-21T10:00:00Z").await,
            Step::Shipped(i) => self.notify(i, "SHIPPED", "2026-11-22T10:00:00Z").await,
            Step::Dispatch => {
                self.stack
                    .drain_shipments(&self.dispatch, StdDuration::ZERO)
                    .await;
            }
            Step::Delivered(i) => {
                let Some(order) = self.stack.order_item(ORDERS[i]).await else {
                    return;
                };
                let Some(number) = order.get("tracking_number").and_then(|v| v.as_s().ok()) else {
                    return;
                };
                let body =
                    serde_json::json!({"id": format!("evt_{}_{}", i, self.now().unix_timestamp()),
                    "object": "Event", "description": "tracker.updated", "result": {
                    "object": "Tracker", "tracking_code": number, "status": "delivered",
                    "updated_at": iso(self.now() - Duration::minutes(1)),
                    "tracking_details": [{"object": "TrackingDetail", "status": "delivered",
                        "datetime": iso(self.now() - Duration::minutes(1))}]}})
                    .to_string();
                let secret = orderseal_local::LOCAL_WEBHOOK_SECRETS[0];
                let mac = aws_lc_rs::hmac::sign(
                    &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes()),
                    body.as_bytes(),
                );
                let hex: String = mac.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                let headers = vec![(
                    "X-Hmac-Signature".to_owned(),
                    format!("hmac-sha256-hex={hex}"),
                )];
                let status = self
                    .callback
                    .handle("easypost", &headers, body.as_bytes())
                    .await;
                assert!(
                    matches!(status, 200 | 400),
                    "the callback answered {status}"
                );
            }
            Step::Sweep => {
                let now = self.now();
                orderseal_local::retention::retention(
                    self.stack.aws_as(roles::RETENTION),
                    &self.stack.resources,
                    ManualClock::at(now),
                )
                .unwrap()
                .run(None)
                .await
                .unwrap();
                self.assert_nothing_past_due(now).await;
            }
            Step::TtlFires => {
                let now = self.now().unix_timestamp();
                for item in orderseal_local::inspect::scan_all(&self.stack.aws, self.stack.table())
                    .await
                    .unwrap()
                {
                    if n(&item, "ttl").is_some_and(|t| t <= now) {
                        self.stack
                            .aws
                            .dynamodb
                            .delete_item()
                            .table_name(self.stack.table())
                            .key("pk", item["pk"].clone())
                            .key("sk", item["sk"].clone())
                            .send()
                            .await
                            .unwrap();
                    }
                }
            }
            Step::Advance(days) => self.clock.advance(Duration::days(days)),
            Step::CrashThenRedeliver(i) => {
                let id = ORDERS[i];
                let Some(order) = self.stack.order_item(id).await else {
                    return;
                };
                // What the crash leaves: the order item at its version, the PII write not done.
                let db = &self.stack.aws.dynamodb;
                db.update_item()
                    .table_name(self.stack.table())
                    .key("pk", s(layout::order_pk(SELLER, id)))
                    .key("sk", s(layout::ORDER_SK))
                    .update_expression("REMOVE pii_written_ms")
                    .send()
                    .await
                    .unwrap();
                db.delete_item()
                    .table_name(self.stack.table())
                    .key("pk", s(layout::pii_pk(SELLER, id)))
                    .key("sk", s(layout::PII_SK))
                    .send()
                    .await
                    .unwrap();
                let status = order["fulfillment_status"].as_s().unwrap().clone();
                let at = order["last_updated"].as_s().unwrap().clone();
                self.notify(i, &status, &at).await;
            }
        }
    }

    /// After a sweep at `now`: no order past its expiry (and not held) still holds PII.
    async fn assert_nothing_past_due(&self, now: OffsetDateTime) {
        for pii in self.pii_items().await {
            let (seller, order) =
                layout::ids_of_pk(orderseal_local::inspect::s(&pii, "pk").unwrap()).unwrap();
            let item = orderseal_local::inspect::get_order(
                &self.stack.aws,
                self.stack.table(),
                &seller,
                &order,
            )
            .await
            .unwrap();
            let state = item.as_ref().map(|i| {
                orderseal::retention::pii_state(
                    n(i, "pii_expires_at").unwrap_or(i64::MIN),
                    n(i, "hold_until"),
                    i.contains_key("pii_erased_at"),
                    now.unix_timestamp(),
                )
            });
            assert_eq!(
                state,
                Some(PiiState::Live),
                "{order}: PII held past its limit"
            );
        }
    }
}

fn iso(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn run(seed: u64) {
    let stack = TestStack::new().await;
    // Just after the canary order's first version, before its ship-by and delivery windows.
    let clock = ManualClock::at(time::macros::datetime!(2026-11-21 12:00 UTC));
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let mut ingest = stack.ingest();
    ingest.clock = shared.clone();
    let mut dispatch = stack.dispatch(StdDuration::from_secs(5)).await;
    dispatch.clock = shared.clone();
    let config = orderseal_local::callback_config(&stack.resources).unwrap();
    let callback = orderseal_carrier_callback::build(
        &config,
        stack.aws_as(roles::CALLBACK).dynamodb.clone(),
        stack.aws_as(roles::CALLBACK).secrets.clone(),
        shared,
    );
    let world = World {
        stack: &stack,
        clock,
        ingest,
        dispatch,
        callback,
    };
    let steps = schedule(seed);
    println!("seed {seed}: {steps:?}");
    for st in &steps {
        world.step(*st).await;
    }
    // The shipment bound: an order with a label expires at most 22 days after it.
    for id in ORDERS {
        let Some(order) = stack.order_item(id).await else {
            continue;
        };
        let expires = n(&order, "pii_expires_at").unwrap();
        let labels = orderseal::dispatch::labels_of(&order).unwrap();
        assert_eq!(
            labels.is_empty(),
            !order.contains_key("tracking_number"),
            "seed {seed}: {id} has a tracking number exactly when it has labels"
        );
        if let Some(label) = labels.first() {
            let shipped = OffsetDateTime::parse(
                &label.purchased_at,
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
            assert!(
                expires <= (shipped + LIMIT_AFTER_SHIPMENT).unix_timestamp(),
                "seed {seed}: {id} expires more than 22 days after shipment"
            );
        }
        if let Some(pii) = stack.pii_item(id).await {
            assert_eq!(
                n(&pii, "ttl"),
                Some(layout::pii_ttl(expires, n(&order, "hold_until"))),
                "seed {seed}: {id}: the TTL rule"
            );
        }
    }
    // The limit: a sweep at the latest expiry leaves no PII anywhere.
    let mut latest = world.now();
    for id in ORDERS {
        if let Some(e) = stack
            .order_item(id)
            .await
            .and_then(|o| n(&o, "pii_expires_at"))
        {
            latest = latest.max(OffsetDateTime::from_unix_timestamp(e).unwrap());
        }
    }
    world.clock.set(latest);
    world.step(Step::Sweep).await;
    assert!(
        world.pii_items().await.is_empty(),
        "seed {seed}: PII left after its limit"
    );
    let dump = stack.raw_dump().await;
    for c in orderseal_tests::CANARIES {
        assert!(!dump.contains(c), "seed {seed}: a canary value is stored");
    }
    // One business record per stored order, final (written at erasure) for each.
    let mut pages = orderseal::retention::dynamo::DynamoRetention::new(
        stack.aws_as(roles::OPERATOR).dynamodb.clone(),
        stack.table(),
    )
    .business_records(
        latest - Duration::days(400),
        latest + Duration::days(1),
        None,
    );
    let mut records: Vec<BusinessRecord> = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        records.extend(page);
    }
    let mut ids: Vec<&str> = records.iter().map(|r| r.order_id.as_str()).collect();
    ids.sort();
    let mut stored: Vec<&str> = Vec::new();
    for id in ORDERS {
        if stack.order_item(id).await.is_some() {
            stored.push(id);
        }
    }
    assert_eq!(ids, stored, "seed {seed}: one business record per order");
    for r in &records {
        assert!(
            r.pii_erased_at.is_some(),
            "seed {seed}: {} record is final",
            r.order_id
        );
    }
}

#[tokio::test]
async fn any_schedule_ends_with_pii_gone_by_its_limit_and_one_business_record_per_order() {
    let logs = LogCapture::start();
    let seeds: Vec<u64> = match std::env::var("ORDERSEAL_SCHEDULE_SEED") {
        Ok(s) => vec![s.parse().expect("a seed")],
        Err(_) => {
            let count = std::env::var("ORDERSEAL_SCHEDULES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(6u64);
            (1..=count).collect()
        }
    };
    for seed in seeds {
        run(seed).await;
    }
    logs.assert_clean();
}
