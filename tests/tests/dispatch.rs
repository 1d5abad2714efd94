//! Dispatch against the emulator, the SP-API sandbox and the carrier sandbox: labels bought with
//! the minimum data and confirmed to Amazon, never two labels for one package, nothing bought for
//! an order canceled meanwhile, and no opening of the `contact` class.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use carrier_sandbox::{Api, Fault, Route};
use orderseal::carriers::{allow, easypost, generic, shippo};
use orderseal::dispatch::{DispatchStore, PurchasedLabel};
use orderseal::layout::pii_attribute;
use orderseal::seal::{PiiClass, SealContext, SealError, SealedBlob};
use orderseal::store::StoreError;
use orderseal_tests::{
    LogCapture, SELLER, TestStack, assert_no_canary, canary_order, canary_order_to,
};

const FAST: Duration = Duration::from_secs(30);
const CARRIER_TIMEOUT: Duration = Duration::from_secs(2);

/// Ingest the orders, leaving their shipment requests on the queue.
async fn ingest_orders(stack: &TestStack, orders: &[serde_json::Value]) {
    let ingest = stack.ingest();
    for o in orders {
        stack.send(&stack.publish(o)).await;
    }
    let report = stack.drain(&ingest, FAST, Duration::ZERO).await;
    assert_eq!(report.failed, 0);
}

fn s<'a>(item: &'a orderseal_local::inspect::Item, k: &str) -> &'a str {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or("-")
}

#[tokio::test]
async fn notification_to_label_to_confirmation_for_several_destinations_and_carriers() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let orders = [
        canary_order_to(
            "113-0000020-0000001",
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
            "US",
            "WA",
        ),
        canary_order_to(
            "113-0000020-0000002",
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
            "CA",
            "BC",
        ),
        canary_order_to(
            "113-0000020-0000003",
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
            "GB",
            "London",
        ),
    ];
    ingest_orders(&stack, &orders).await;
    let dispatch = stack.dispatch(CARRIER_TIMEOUT).await;
    let report = stack.drain_shipments(&dispatch, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (3, 0));

    // Seller rules: US → EasyPost cheapest, CA → Shippo fastest, GB → generic cheapest.
    let control = stack.carriers.control();
    for api in [Api::EasyPost, Api::Shippo, Api::Generic] {
        assert_eq!(control.labels_purchased(api), 1, "{api:?}");
    }
    let confirmations = stack.sandbox.control().confirmations();
    assert_eq!(confirmations.len(), 3);
    for (order_id, body) in &confirmations {
        let item = stack.order_item(order_id).await.unwrap();
        assert_eq!(s(&item, "dispatch_state"), "CONFIRMED");
        let detail = &body["packageDetail"];
        assert_eq!(detail["trackingNumber"], s(&item, "tracking_number"));
        assert_eq!(detail["orderItems"][0]["orderItemId"], "50000000000001");
        assert_eq!(detail["orderItems"][0]["quantity"], 2);
        assert_eq!(body["marketplaceId"], "ATVPDKIKX0DER");
        // Amazon's view moved on: the order is shipped with our package.
        let order = stack.sandbox.control().order(order_id).unwrap();
        assert_eq!(order["fulfillment"]["fulfillmentStatus"], "SHIPPED");
        assert_eq!(
            order["packages"][0]["trackingNumber"],
            detail["trackingNumber"]
        );
    }
    // What we keep about the label carries no PII.
    let dump = stack.raw_dump().await;
    assert!(dump.contains("CONFIRMED"));
    assert_no_canary("the table and queues", &dump);
    // Labels show the address: neither a label nor its bearer URL is kept, only the carrier's id.
    assert!(!dump.contains("/labels/"), "a label URL was stored");
    logs.assert_clean();
}

#[tokio::test]
async fn carriers_receive_only_allowed_fields_and_never_email_price_or_title() {
    let stack = TestStack::new().await;
    let orders = [
        canary_order_to(
            "113-0000021-0000001",
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
            "US",
            "WA",
        ),
        canary_order_to(
            "113-0000021-0000002",
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
            "CA",
            "BC",
        ),
        canary_order_to(
            "113-0000021-0000003",
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
            "GB",
            "London",
        ),
    ];
    ingest_orders(&stack, &orders).await;
    let dispatch = stack.dispatch(CARRIER_TIMEOUT).await;
    stack.drain_shipments(&dispatch, Duration::ZERO).await;

    let control = stack.carriers.control();
    for (api, allowed) in [
        (Api::EasyPost, easypost::ALLOWED),
        (Api::Shippo, shippo::ALLOWED),
        (Api::Generic, generic::ALLOWED),
    ] {
        let received = control.received(api);
        assert!(!received.is_empty(), "{api:?} received nothing");
        for r in &received {
            allow::check(&r.body, allowed).unwrap_or_else(|e| panic!("{api:?} {}: {e}", r.path));
            for never in [
                "canary-q7z@marketplace.amazon.com", // buyer email
                "CANARY-BUYER-Q7Z",                  // buyer name
                "CANARY-BUYER-CO-Q7Z",
                "CANARY-COMPANY-Q7Z",
                "CANARY-GIFT-Q7Z",
                "CANARY-INSTRUCTIONS-Q7Z",
                "CANARY-DROPOFF-Q7Z",
                "CANARY-COUNTY-Q7Z",
                "Ceramic mug", // item title
                "29.99",       // item price
                "59.98",       // order total
                "113-0000021", // the Amazon order id: our reference is opaque
            ] {
                assert!(
                    !r.raw.contains(never),
                    "{api:?} {} received {never}",
                    r.path
                );
            }
        }
        let sent_address = received
            .iter()
            .any(|r| r.raw.contains("1 CANARY STREET Q7Z"));
        assert!(sent_address, "{api:?} never received the address it needs");
    }
    // The phone goes abroad only (the US order is domestic).
    let phone_in = |api| {
        control
            .received(api)
            .iter()
            .any(|r| r.raw.contains("CANARY-PHONE-Q7Z"))
    };
    assert!(!phone_in(Api::EasyPost), "domestic shipment sent the phone");
    assert!(phone_in(Api::Shippo) && phone_in(Api::Generic));
}

/// Where [`CrashOnce`] fails.
#[derive(PartialEq)]
enum CrashAt {
    /// The label is bought but never recorded.
    Purchase,
    /// The label is voided but the void never recorded.
    Void,
    /// Amazon accepted a package's confirmation but it was never recorded.
    Confirm,
}

/// A store that "crashes" once right after the carrier (or Amazon) answered.
struct CrashOnce<S> {
    inner: S,
    at: CrashAt,
    /// Writes at `at` that succeed before the crash.
    after: usize,
    seen: std::sync::atomic::AtomicUsize,
}

/// `d` with its store wrapped to crash once at `at`.
fn crash_once<S, K, R, A, D>(
    d: orderseal_dispatch::Dispatch<S, K, R, A, D>,
    at: CrashAt,
) -> orderseal_dispatch::Dispatch<CrashOnce<S>, K, R, A, D> {
    crash_once_after(d, at, 0)
}

/// `d` with its store wrapped to crash once at the write at `at` that follows `after` good ones.
fn crash_once_after<S, K, R, A, D>(
    d: orderseal_dispatch::Dispatch<S, K, R, A, D>,
    at: CrashAt,
    after: usize,
) -> orderseal_dispatch::Dispatch<CrashOnce<S>, K, R, A, D> {
    orderseal_dispatch::Dispatch {
        store: CrashOnce {
            inner: d.store,
            at,
            after,
            seen: Default::default(),
        },
        sealer: d.sealer,
        carriers: d.carriers,
        amazon: d.amazon,
        rules: d.rules,
        clock: d.clock,
        retention: d.retention,
        quarantine: d.quarantine,
    }
}

impl<S> CrashOnce<S> {
    fn crash_now(&self, at: CrashAt) -> bool {
        self.at == at && self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == self.after
    }
}

impl<S: DispatchStore> DispatchStore for CrashOnce<S> {
    async fn load(
        &self,
        seller_id: &str,
        order_id: &str,
    ) -> Result<Option<orderseal::dispatch::OrderForDispatch>, StoreError> {
        self.inner.load(seller_id, order_id).await
    }

    async fn begin(
        &self,
        seller_id: &str,
        order_id: &str,
        via: &str,
        plan: &[orderseal::dispatch::PlannedPackage],
    ) -> Result<orderseal::dispatch::Begin, StoreError> {
        self.inner.begin(seller_id, order_id, via, plan).await
    }

    async fn label_purchased(
        &self,
        seller_id: &str,
        order_id: &str,
        label: &PurchasedLabel,
        completes: Option<&[String]>,
        anchored: Option<i64>,
    ) -> Result<(), StoreError> {
        if self.crash_now(CrashAt::Purchase) {
            return Err(StoreError::Malformed("injected crash"));
        }
        self.inner
            .label_purchased(seller_id, order_id, label, completes, anchored)
            .await
    }

    async fn confirmed(
        &self,
        seller_id: &str,
        order_id: &str,
        package_ref: &str,
        completes: Option<&[String]>,
        at: &str,
    ) -> Result<(), StoreError> {
        if self.crash_now(CrashAt::Confirm) {
            return Err(StoreError::Malformed("injected crash"));
        }
        self.inner
            .confirmed(seller_id, order_id, package_ref, completes, at)
            .await
    }

    async fn label_voided(
        &self,
        seller_id: &str,
        order_id: &str,
        labels: &[PurchasedLabel],
        void: &orderseal::dispatch::RecordedVoid,
    ) -> Result<bool, StoreError> {
        if self.crash_now(CrashAt::Void) {
            return Err(StoreError::Malformed("injected crash"));
        }
        self.inner
            .label_voided(seller_id, order_id, labels, void)
            .await
    }
}

#[tokio::test]
async fn a_crash_between_the_carrier_call_and_the_record_write_buys_exactly_one_label() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    ingest_orders(
        &stack,
        &[canary_order(
            "113-0000022-0000001",
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
        )],
    )
    .await;
    let d = stack.dispatch(CARRIER_TIMEOUT).await;
    let crashing = crash_once(d, CrashAt::Purchase);
    let report = stack
        .drain_shipments(&crashing, Duration::from_secs(4))
        .await;
    assert_eq!(
        (report.failed, report.acknowledged),
        (1, 1),
        "failed once, then succeeded"
    );
    let control = stack.carriers.control();
    assert_eq!(control.labels_purchased(Api::EasyPost), 1);
    assert!(control.stats().api(Api::EasyPost).idempotent_replays >= 1);
    let item = stack.order_item("113-0000022-0000001").await.unwrap();
    assert_eq!(s(&item, "dispatch_state"), "CONFIRMED");
    assert_eq!(stack.sandbox.control().confirmations().len(), 1);
    logs.assert_clean();
}

#[tokio::test]
async fn a_carrier_timeout_is_retried_with_the_same_key_and_still_buys_one_label() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    ingest_orders(
        &stack,
        &[canary_order(
            "113-0000023-0000001",
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
        )],
    )
    .await;
    // The carrier buys the label but answers only after our client gave up.
    stack.carriers.control().inject(
        Api::EasyPost,
        Route::Buy,
        Fault::Timeout(CARRIER_TIMEOUT + Duration::from_secs(1)),
        1,
    );
    let dispatch = stack.dispatch(CARRIER_TIMEOUT).await;
    let report = stack.drain_shipments(&dispatch, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));
    assert_eq!(stack.carriers.control().labels_purchased(Api::EasyPost), 1);
    assert!(logs.text().contains("carrier_timeout"));
    let item = stack.order_item("113-0000023-0000001").await.unwrap();
    assert_eq!(s(&item, "dispatch_state"), "CONFIRMED");
    logs.assert_clean();
}

#[tokio::test]
async fn an_order_canceled_before_dispatch_runs_gets_no_label() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let id = "113-0000024-0000001";
    ingest_orders(
        &stack,
        &[canary_order(
            id,
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
        )],
    )
    .await;
    // The buyer cancels; the newer notification is ingested before dispatch gets to the order.
    ingest_orders(
        &stack,
        &[canary_order(
            id,
            "CANCELLED",
            "MERCHANT",
            "2026-11-21T11:00:00Z",
        )],
    )
    .await;
    let dispatch = stack.dispatch(CARRIER_TIMEOUT).await;
    let report = stack.drain_shipments(&dispatch, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));
    let control = stack.carriers.control();
    for api in [Api::EasyPost, Api::Shippo, Api::Generic] {
        assert_eq!(control.labels_purchased(api), 0);
        assert!(control.received(api).is_empty(), "{api:?} was contacted");
    }
    assert!(stack.sandbox.control().confirmations().is_empty());
    assert!(logs.text().contains("\"reason\":\"canceled\""));
    logs.assert_clean();
}

#[tokio::test]
async fn dispatch_opens_shipping_but_not_contact() {
    let stack = TestStack::new().await;
    let id = "113-0000025-0000001";
    ingest_orders(
        &stack,
        &[canary_order(
            id,
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
        )],
    )
    .await;
    let dispatch = stack.dispatch(CARRIER_TIMEOUT).await;
    let item = stack.pii_item(id).await.unwrap();
    let blob = |class| {
        let AttributeValue::B(b) = &item[pii_attribute(class)] else {
            panic!("{class} not sealed");
        };
        SealedBlob::from_bytes(b.as_ref()).unwrap()
    };
    let ctx = |class| SealContext::new(SELLER, id, class);
    assert!(
        dispatch
            .sealer
            .open(&ctx(PiiClass::Shipping), &blob(PiiClass::Shipping))
            .await
            .is_ok()
    );
    // No packing slip is printed, so the gift message is not dispatch's to open either.
    assert!(matches!(
        dispatch
            .sealer
            .open(&ctx(PiiClass::Gift), &blob(PiiClass::Gift))
            .await,
        Err(SealError::ClassNotPermitted {
            operation: "open",
            class: PiiClass::Gift
        })
    ));
    let refused = dispatch
        .sealer
        .open(&ctx(PiiClass::Contact), &blob(PiiClass::Contact))
        .await;
    assert!(matches!(
        refused,
        Err(SealError::ClassNotPermitted {
            operation: "open",
            class: PiiClass::Contact
        })
    ));
    // Dispatch never seals.
    assert!(
        dispatch
            .sealer
            .seal(&ctx(PiiClass::Shipping), b"x")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn calls_per_shipped_order() {
    let stack = TestStack::new().await;
    ingest_orders(
        &stack,
        &[
            canary_order(
                "113-0000026-0000001",
                "UNSHIPPED",
                "MERCHANT",
                "2026-11-21T10:00:00Z",
            ),
            canary_order(
                "113-0000026-0000002",
                "UNSHIPPED",
                "MERCHANT",
                "2026-11-21T10:00:00Z",
            ),
        ],
    )
    .await;
    let dispatch = stack.dispatch(CARRIER_TIMEOUT).await;
    let spapi_before = stack.sandbox.control().stats();
    stack.aws_as(orderseal_local::roles::DISPATCH).calls.reset();
    let report = stack.drain_shipments(&dispatch, Duration::ZERO).await;
    assert_eq!(report.acknowledged, 2);
    let aws = stack
        .aws_as(orderseal_local::roles::DISPATCH)
        .calls
        .snapshot();
    let spapi = stack.sandbox.control().stats();
    let carrier = stack.carriers.control().stats();
    println!("2 shipped orders, AWS: {aws:?}");
    println!(
        "2 shipped orders, SP-API: token {} confirmShipment {}; carrier (EasyPost) requests {}",
        spapi.token.requests - spapi_before.token.requests,
        spapi.confirm_shipment.requests,
        carrier.api(Api::EasyPost).requests
    );
    // Per order: TransactGetItems (load: order item + shipping blob), UpdateItem ×3 (begin,
    // usage-plan slot, confirmed), TransactWriteItems ×2 (label + tracking lookup + the
    // anchored expiry; the PII item's TTL after it), GetItem ×1 (the expiry the TTL follows),
    // KMS Decrypt ×1 (shipping); the LWA secret and the seller's token secret once per
    // container.
    let per_order = |k: &str| aws.get(k).copied().unwrap_or(0);
    assert_eq!(per_order("DynamoDB.TransactGetItems"), 2);
    assert_eq!(per_order("DynamoDB.GetItem"), 2);
    assert_eq!(per_order("DynamoDB.UpdateItem"), 6);
    assert_eq!(per_order("DynamoDB.TransactWriteItems"), 4);
    assert_eq!(per_order("KMS.Decrypt"), 2);
    assert_eq!(per_order("Secrets Manager.GetSecretValue"), 2);
    assert_eq!(spapi.confirm_shipment.requests, 2);
    assert_eq!(
        carrier.api(Api::EasyPost).requests,
        4,
        "create + buy per order"
    );
}

/// The tracking-number lookup carrier webhooks find their order through.
async fn tracking_lookup(
    stack: &TestStack,
    via: &str,
    number: &str,
) -> orderseal_local::inspect::Item {
    stack
        .aws
        .dynamodb
        .get_item()
        .table_name(stack.table())
        .key(
            "pk",
            AttributeValue::S(orderseal::layout::tracking_pk(via, number)),
        )
        .key("sk", AttributeValue::S("TRACKING".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

/// A tracking number stays bound to the order its label was bought for: a second order
/// claiming it (a carrier reusing a number, a replayed response) is refused as a conflict,
/// the order stays LABEL_PENDING, and the carrier's webhooks still reach the first order.
#[tokio::test]
async fn a_tracking_number_cannot_be_moved_to_another_order() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    let (first, second) = ("113-0000022-0000031", "113-0000022-0000032");
    let tracking = stack.ship(first, "US", "WA").await;
    let labels = orderseal::dispatch::labels_of(&stack.order_item(first).await.unwrap()).unwrap();
    let [label] = &labels[..] else {
        panic!("one package, one label: {labels:?}")
    };
    assert_eq!(label.shipment.tracking_number, tracking);
    ingest_orders(
        &stack,
        &[canary_order(
            second,
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
        )],
    )
    .await;
    let d = stack.dispatch(CARRIER_TIMEOUT).await;
    let plan = [orderseal::dispatch::PlannedPackage {
        package_ref: "1".into(),
        key: "os-test".into(),
        parcel: d.rules.default_parcel,
        items: label.items.clone(),
    }];
    let begun = d
        .store
        .begin(SELLER, second, &label.shipment.via, &plan)
        .await
        .unwrap();
    assert_eq!(begun, orderseal::dispatch::Begin::Started);
    assert!(matches!(
        d.store
            .label_purchased(SELLER, second, label, Some(&[]), None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let item = stack.order_item(second).await.unwrap();
    assert_eq!(s(&item, "dispatch_state"), "LABEL_PENDING");
    assert!(!item.contains_key("tracking_number"));
    let lookup = tracking_lookup(&stack, &label.shipment.via, &tracking).await;
    assert_eq!(s(&lookup, "order_id"), first);
    logs.assert_clean();
}

#[tokio::test]
async fn a_request_that_can_never_succeed_is_quarantined_at_once_with_its_reason() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    ingest_orders(
        &stack,
        &[canary_order(
            "113-0000022-0000077",
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
        )],
    )
    .await;
    let garbage = r#"{"version":1,"order":"not a shipment request"}"#;
    orderseal_local::pump::send(&stack.aws, &stack.queue_url("ShipmentsQueue"), garbage)
        .await
        .unwrap();
    let d = stack.dispatch(CARRIER_TIMEOUT).await;
    let report = stack.drain_shipments(&d, Duration::ZERO).await;
    // Neither retried nor lost: parked whole with its reason, the good one shipped.
    assert_eq!((report.acknowledged, report.failed), (2, 0));
    let parked = orderseal_local::pump::take_all(&stack.aws, &stack.queue_url("ShipmentsDlq"))
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].body(), Some(garbage));
    assert_eq!(
        parked[0].message_attributes().unwrap()[orderseal::quarantine::REASON_ATTRIBUTE]
            .string_value(),
        Some("malformed_shipment_request")
    );
    let item = stack.order_item("113-0000022-0000077").await.unwrap();
    assert_eq!(s(&item, "dispatch_state"), "CONFIRMED");
    logs.assert_clean();
}

#[tokio::test]
async fn a_label_bought_before_amazon_cancelled_the_order_is_voided_once_even_when_retried() {
    use spapi_sandbox::{Fault as AmazonFault, Op};
    let logs = LogCapture::start();
    let stack = TestStack::with_visibility_timeout(1).await;
    let ingest = stack.ingest();
    let destinations = [
        (
            "113-0000023-0000001",
            "US",
            "WA",
            Api::EasyPost,
            "submitted",
        ),
        ("113-0000023-0000002", "CA", "BC", Api::Shippo, "refunded"),
        (
            "113-0000023-0000003",
            "GB",
            "London",
            Api::Generic,
            "refunded",
        ),
    ];
    let version = |id: &str, status: &str, at: &str, country: &str, region: &str| {
        canary_order_to(id, status, "MERCHANT", at, country, region)
    };
    for (id, country, region, _, _) in destinations {
        let order = version(id, "UNSHIPPED", "2026-11-21T10:00:00Z", country, region);
        stack.notify(&ingest, &order).await;
    }
    // The labels are bought, but Amazon refuses the confirmations: the orders stay unshipped.
    stack
        .sandbox
        .control()
        .inject(Op::ConfirmShipment, AmazonFault::BadRequest, 3);
    let d = stack.dispatch(CARRIER_TIMEOUT).await;
    let report = stack.drain_shipments(&d, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (3, 0));
    for (id, ..) in destinations {
        let item = stack.order_item(id).await.unwrap();
        assert_eq!(s(&item, "dispatch_state"), "LABEL_PURCHASED", "{id}");
    }
    // Then Amazon cancels them (the seller cancelled a buyer's request, or the order expired).
    for (id, country, region, _, _) in destinations {
        let order = version(id, "CANCELLED", "2026-11-22T09:00:00Z", country, region);
        stack.notify(&ingest, &order).await;
    }
    // Ingest asks dispatch to void each label; dispatch "crashes" once after a carrier voided
    // one (not recorded), and the retry asks the carrier again under the same key.
    let crashing = crash_once(d, CrashAt::Void);
    let report = stack
        .drain_shipments(&crashing, Duration::from_secs(4))
        .await;
    assert_eq!(
        (report.failed, report.acknowledged),
        (1, 3),
        "one crash, then every void recorded"
    );
    let control = stack.carriers.control();
    let stats = control.stats();
    for (id, _, _, api, status) in destinations {
        assert_eq!(
            control.labels_refunded(api),
            1,
            "{api}: voided exactly once"
        );
        let item = stack.order_item(id).await.unwrap();
        assert_eq!(s(&item, "dispatch_state"), "LABEL_VOIDED", "{id}");
        let void: serde_json::Value = serde_json::from_str(s(&item, "label_void")).unwrap();
        assert_eq!(void["status"], status, "{id}");
    }
    assert!(
        Api::ALL
            .iter()
            .map(|api| stats.api(*api).idempotent_replays)
            .sum::<u64>()
            >= 1,
        "the retried void was answered from the carrier's idempotency store"
    );

    // A later request finds the label voided: the carrier is not asked again.
    orderseal_local::pump::send(
        &stack.aws,
        &stack.queue_url("ShipmentsQueue"),
        &serde_json::json!({"version": 1, "seller_id": SELLER,
            "order_id": "113-0000023-0000001", "order_last_updated": ""})
        .to_string(),
    )
    .await
    .unwrap();
    let d = stack.dispatch(CARRIER_TIMEOUT).await;
    let before = control.stats();
    let report = stack.drain_shipments(&d, Duration::ZERO).await;
    assert_eq!(report.acknowledged, 1);
    assert_eq!(control.stats().easypost.requests, before.easypost.requests);
    // Nothing was ever confirmed to Amazon, and no void went to another carrier.
    assert_eq!(
        stack.sandbox.control().stats().confirm_shipment.count(204),
        0
    );
    for api in Api::ALL {
        assert_eq!(control.labels_purchased(api), 1, "{api}");
    }
    logs.assert_clean();
}

#[tokio::test]
async fn a_carrier_key_rotated_under_a_running_dispatch_is_read_again_on_its_401() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    ingest_orders(
        &stack,
        &[canary_order(
            "113-0000024-0000001",
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
        )],
    )
    .await;
    let secret_id = stack
        .resources
        .secret("CarrierCredentialsSecret")
        .unwrap()
        .to_owned();
    let put = |value: String| {
        let aws = &stack.aws;
        let id = secret_id.clone();
        async move {
            aws.secrets
                .put_secret_value()
                .secret_id(id)
                .secret_string(value)
                .send()
                .await
                .unwrap();
        }
    };
    let current = stack
        .aws
        .secrets
        .get_secret_value()
        .secret_id(&secret_id)
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_owned();
    let mut stale: serde_json::Value = serde_json::from_str(&current).unwrap();
    stale["easypost"] = serde_json::json!("EZTK-revoked-key");
    // Dispatch starts with the key the carrier no longer accepts; then the secret is rotated.
    put(stale.to_string()).await;
    let d = stack.dispatch(CARRIER_TIMEOUT).await;
    put(current).await;
    let report = stack.drain_shipments(&d, Duration::ZERO).await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));
    let control = stack.carriers.control();
    assert_eq!(
        control.stats().easypost.count(401),
        1,
        "refused once, then read again"
    );
    assert_eq!(control.labels_purchased(Api::EasyPost), 1);
    let item = stack.order_item("113-0000024-0000001").await.unwrap();
    assert_eq!(s(&item, "dispatch_state"), "CONFIRMED");
    logs.assert_clean();
}

/// The canary order with a second line: two floor lamps, which the seller's rules ship one per
/// box of their own (`SKU-LAMP-1`), beside the two mugs of the first line.
fn order_with_lamps(order_id: &str) -> serde_json::Value {
    let mut order = canary_order(order_id, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z");
    order["orderItems"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "orderItemId": "50000000000002",
            "quantityOrdered": 2,
            "product": {"asin": "B0CANARY02", "sellerSku": "SKU-LAMP-1", "title": "Floor lamp",
                "price": {"unitPrice": {"amount": "89.00", "currencyCode": "USD"}}}
        }));
    order
}

#[tokio::test]
async fn an_order_split_by_the_sellers_sku_rules_is_bought_and_confirmed_package_by_package() {
    use spapi_sandbox::{Fault as AmazonFault, Op};
    let logs = LogCapture::start();
    let stack = TestStack::with_visibility_timeout(1).await;
    let (crash_buying, crash_confirming, cancelled) = (
        "113-0000028-0000001",
        "113-0000028-0000002",
        "113-0000028-0000003",
    );
    let packages_of = |body: &serde_json::Value| {
        let d = &body["packageDetail"];
        let items: Vec<(String, u64)> = d["orderItems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["orderItemId"].as_str().unwrap().to_owned(),
                    i["quantity"].as_u64().unwrap(),
                )
            })
            .collect();
        (d["packageReferenceId"].as_str().unwrap().to_owned(), items)
    };
    let plan = |id: &str| {
        [
            ("1", "50000000000001", 2),
            ("2", "50000000000002", 1),
            ("3", "50000000000002", 1),
        ]
        .map(|(r, item, q)| (id.to_owned(), r.to_owned(), vec![(item.to_owned(), q)]))
        .to_vec()
    };

    // 1. A crash after the second package's label was bought, before it was recorded.
    ingest_orders(&stack, &[order_with_lamps(crash_buying)]).await;
    let d = crash_once_after(stack.dispatch(CARRIER_TIMEOUT).await, CrashAt::Purchase, 1);
    let report = stack.drain_shipments(&d, Duration::from_secs(4)).await;
    assert_eq!((report.failed, report.acknowledged), (1, 1));
    let control = stack.carriers.control();
    assert_eq!(
        control.labels_purchased(Api::EasyPost),
        3,
        "one label per package"
    );
    assert!(control.stats().api(Api::EasyPost).idempotent_replays >= 1);
    // Each package weighs what it holds: the mugs together, each lamp alone.
    let mut keys = Vec::new();
    let mut grams = Vec::new();
    for r in control.received(Api::EasyPost) {
        let Some(ounces) = r.body["shipment"]["parcel"]["weight"].as_f64() else {
            continue;
        };
        if !keys.contains(&r.idempotency_key) {
            keys.push(r.idempotency_key.clone());
            grams.push((ounces * 28.349_523_125).round() as i64);
        }
    }
    assert_eq!(
        keys.len(),
        3,
        "a key per package, the retry under the same one"
    );
    for (got, want) in grams.iter().zip([900, 2800, 2800]) {
        assert!((got - want).abs() <= 3, "parcels {grams:?}");
    }
    let confirmations: Vec<_> = stack
        .sandbox
        .control()
        .confirmations()
        .iter()
        .map(|(id, body)| {
            let (r, items) = packages_of(body);
            (id.clone(), r, items)
        })
        .collect();
    assert_eq!(
        confirmations,
        plan(crash_buying),
        "one confirmation per package, with its items"
    );
    let item = stack.order_item(crash_buying).await.unwrap();
    assert_eq!(s(&item, "dispatch_state"), "CONFIRMED");
    let labels = orderseal::dispatch::labels_of(&item).unwrap();
    assert_eq!(labels.len(), 3);
    let order = stack.sandbox.control().order(crash_buying).unwrap();
    assert_eq!(order["fulfillment"]["fulfillmentStatus"], "SHIPPED");
    assert_eq!(order["packages"].as_array().unwrap().len(), 3);
    // Every package's tracking number leads the carrier's webhooks to the order.
    for label in &labels {
        let lookup =
            tracking_lookup(&stack, &label.shipment.via, &label.shipment.tracking_number).await;
        assert_eq!(s(&lookup, "order_id"), crash_buying);
    }

    // 2. A crash after Amazon accepted the second package, before it was recorded: the retry
    // sends that package again (an edit of the same package to Amazon), never a fourth one.
    stack.sandbox.control().clear_confirmations();
    ingest_orders(&stack, &[order_with_lamps(crash_confirming)]).await;
    let d = crash_once_after(stack.dispatch(CARRIER_TIMEOUT).await, CrashAt::Confirm, 1);
    let report = stack.drain_shipments(&d, Duration::from_secs(4)).await;
    assert_eq!((report.failed, report.acknowledged), (1, 1));
    assert_eq!(control.labels_purchased(Api::EasyPost), 6);
    let refs: Vec<String> = stack
        .sandbox
        .control()
        .confirmations()
        .iter()
        .map(|(_, body)| packages_of(body).0)
        .collect();
    assert_eq!(refs, ["1", "2", "2", "3"]);
    let order = stack.sandbox.control().order(crash_confirming).unwrap();
    assert_eq!(order["packages"].as_array().unwrap().len(), 3);
    assert_eq!(
        s(
            &stack.order_item(crash_confirming).await.unwrap(),
            "dispatch_state"
        ),
        "CONFIRMED"
    );

    // 3. Cancelled once its labels were bought (Amazon refused the first confirmation): every
    // package's label is voided, once.
    ingest_orders(&stack, &[order_with_lamps(cancelled)]).await;
    stack
        .sandbox
        .control()
        .inject(Op::ConfirmShipment, AmazonFault::BadRequest, 1);
    let d = stack.dispatch(CARRIER_TIMEOUT).await;
    let report = stack.drain_shipments(&d, Duration::ZERO).await;
    assert_eq!(report.acknowledged, 1);
    assert_eq!(
        s(
            &stack.order_item(cancelled).await.unwrap(),
            "dispatch_state"
        ),
        "LABEL_PURCHASED"
    );
    let mut version = order_with_lamps(cancelled);
    version["fulfillment"]["fulfillmentStatus"] = "CANCELLED".into();
    version["lastUpdatedTime"] = "2026-11-22T09:00:00Z".into();
    let ingest = stack.ingest();
    stack.notify(&ingest, &version).await;
    let report = stack.drain_shipments(&d, Duration::ZERO).await;
    assert_eq!(report.acknowledged, 1);
    assert_eq!(
        control.labels_refunded(Api::EasyPost),
        3,
        "each package's label voided once"
    );
    let item = stack.order_item(cancelled).await.unwrap();
    assert_eq!(s(&item, "dispatch_state"), "LABEL_VOIDED");
    let void: serde_json::Value = serde_json::from_str(s(&item, "label_void")).unwrap();
    assert_eq!(void["status"], "submitted");
    assert_eq!(void["packages"].as_array().unwrap().len(), 3);
    assert_no_canary("the table and queues", &stack.raw_dump().await);
    logs.assert_clean();
}

#[tokio::test]
async fn calls_per_package_of_a_split_order() {
    let stack = TestStack::new().await;
    ingest_orders(&stack, &[order_with_lamps("113-0000029-0000001")]).await;
    let dispatch = stack.dispatch(CARRIER_TIMEOUT).await;
    stack.aws_as(orderseal_local::roles::DISPATCH).calls.reset();
    let report = stack.drain_shipments(&dispatch, Duration::ZERO).await;
    assert_eq!(report.acknowledged, 1);
    let aws = stack
        .aws_as(orderseal_local::roles::DISPATCH)
        .calls
        .snapshot();
    println!("1 order of 3 packages, AWS: {aws:?}");
    let count = |k: &str| aws.get(k).copied().unwrap_or(0);
    // As one package (calls_per_shipped_order), plus per further package: its label's
    // TransactWriteItems, its confirmation's usage-plan slot and record (UpdateItem ×2); the
    // order is loaded and its address unsealed once.
    assert_eq!(count("DynamoDB.TransactGetItems"), 1);
    assert_eq!(count("KMS.Decrypt"), 1);
    assert_eq!(count("DynamoDB.GetItem"), 1);
    assert_eq!(count("DynamoDB.TransactWriteItems"), 2 + 2);
    assert_eq!(count("DynamoDB.UpdateItem"), 3 + 2 * 2);
    assert_eq!(stack.sandbox.control().stats().confirm_shipment.requests, 3);
    assert_eq!(
        stack.carriers.control().stats().api(Api::EasyPost).requests,
        6,
        "create + buy per package"
    );
}
