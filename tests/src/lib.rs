//! Harness for the integration tests: a fresh, isolated set of the template's resources in the
//! running emulator per test (unique name prefix), an in-process SP-API sandbox, orders carrying
//! canary PII, and a log capture that proves no canary reaches a log line.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use orderseal_ingest::LambdaIngest;
use orderseal_local::provision::{ProvisionOptions, Resources, provision};
use orderseal_local::pump::{self, PumpOptions, PumpReport};
use orderseal_local::{AwsClients, ingest_config, notify, roles, template};
use serde_json::{Value, json};
use spapi_sandbox::{Sandbox, SandboxConfig};
use tracing_subscriber::fmt::MakeWriter;

pub const SELLER: &str = "A3TH9S8BH6GOGM";

/// Every PII value of a canary order. None may appear in a log, a table scan or a queue.
pub const CANARIES: &[&str] = &[
    "CANARY-RECIPIENT-Q7Z",
    "CANARY-COMPANY-Q7Z",
    "1 CANARY STREET Q7Z",
    "CANARY-LINE2-Q7Z",
    "CANARYVILLE-Q7Z",
    "CANARY-COUNTY-Q7Z",
    "CANARY-PHONE-Q7Z",
    "CANARY-INSTRUCTIONS-Q7Z",
    "CANARY-DROPOFF-Q7Z",
    "CANARY-BUYER-Q7Z",
    "canary-q7z@marketplace.amazon.com",
    "CANARY-BUYER-CO-Q7Z",
    "CANARY-GIFT-Q7Z",
    "CANARY-POSTCODE-Q7Z",
];

/// The emulator the tests use (`scripts/test.sh` starts it and sets this).
pub fn moto_url() -> String {
    std::env::var("ORDERSEAL_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct TestStack {
    /// Clients the harness uses (provisioning, inspecting): not recorded.
    pub aws: AwsClients,
    /// Clients per principal ([`roles`]): each function, the operator CLI and SP-API act with
    /// their own, so their counters see only their calls and every request is recorded for
    /// the IAM evaluation under the role that makes it.
    principals: BTreeMap<&'static str, AwsClients>,
    /// The event source mappings' clients: the consuming function's role, as on Lambda, but
    /// their own counters (the functions' call counts stay the functions').
    mappings: BTreeMap<&'static str, AwsClients>,
    pub resources: Resources,
    pub sandbox: Sandbox,
    pub carriers: carrier_sandbox::Sandbox,
}

impl TestStack {
    pub async fn new() -> Self {
        Self::with_visibility_timeout(2).await
    }

    /// Provision the template's resources with every queue's visibility timeout set to `secs`.
    pub async fn with_visibility_timeout(secs: i64) -> Self {
        Self::build(secs, SandboxConfig::default()).await
    }

    /// A stack whose SP-API sandbox is `sandbox` (e.g. with more sellers; only the default
    /// seller is registered here).
    pub async fn with_sandbox(sandbox: SandboxConfig) -> Self {
        Self::build(2, sandbox).await
    }

    async fn build(secs: i64, sandbox_config: SandboxConfig) -> Self {
        let url = moto_url();
        let aws = AwsClients::for_endpoint(&url).await;
        aws.sqs.list_queues().send().await.unwrap_or_else(|e| {
            panic!(
                "the AWS emulator at {url} does not answer ({}): run the tests with scripts/test.sh, which starts it",
                orderseal::aws::error_code(&e)
            )
        });
        let prefix = format!(
            "t{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            fastrand_suffix()
        );
        let sandbox = spapi_sandbox::start(sandbox_config, ([127, 0, 0, 1], 0).into())
            .await
            .expect("sandbox starts");
        let carriers = carrier_sandbox::start(
            carrier_sandbox::CarrierSandboxConfig::default(),
            ([127, 0, 0, 1], 0).into(),
        )
        .await
        .expect("carrier sandbox starts");
        let spec = template::load(&orderseal_local::template_path()).expect("template parses");
        let secrets = orderseal_local::local_secrets(SELLER);
        let resources = provision(
            &aws,
            &spec,
            &prefix,
            &secrets,
            &ProvisionOptions {
                visibility_timeout: Some(secs),
            },
        )
        .await
        .expect("resources provision");
        let mut principals = BTreeMap::new();
        for role in roles::ALL {
            principals.insert(role, AwsClients::for_endpoint_as(&url, role).await);
        }
        let mut mappings = BTreeMap::new();
        for role in [roles::INGEST, roles::DISPATCH] {
            mappings.insert(role, AwsClients::for_endpoint_as(&url, role).await);
        }
        Self {
            aws,
            principals,
            mappings,
            resources,
            sandbox,
            carriers,
        }
    }

    /// The clients `role` (one of [`roles`]) acts with.
    pub fn aws_as(&self, role: &str) -> &AwsClients {
        &self.principals[role]
    }

    pub fn table(&self) -> &str {
        self.resources.table("OrdersTable").unwrap()
    }

    pub fn queue_url(&self, id: &str) -> String {
        self.resources.queue(id).unwrap().url.clone()
    }

    /// The ingest function wired to this stack, as Lambda would wire it.
    pub fn ingest(&self) -> LambdaIngest {
        let config = ingest_config(&self.resources, &self.sandbox.base_url()).unwrap();
        orderseal_ingest::build(
            config,
            self.aws_as(roles::INGEST).ingest_clients(),
            orderseal_ingest::system_clock(),
        )
        .unwrap()
    }

    /// One reconcile run of `ingest` (as its schedule invokes it) at `now`, with `config`.
    pub async fn reconcile(
        &self,
        ingest: &LambdaIngest,
        config: &orderseal_ingest::reconcile::ReconcileConfig,
        now: time::OffsetDateTime,
    ) -> orderseal_ingest::reconcile::ReconcileReport {
        let state = orderseal_ingest::reconcile::dynamo::DynamoReconcileState::new(
            self.aws_as(roles::INGEST).dynamodb.clone(),
            self.table(),
        );
        orderseal_ingest::reconcile::run(
            ingest,
            &ingest.orders,
            &state,
            config,
            now,
            Instant::now() + Duration::from_secs(50),
        )
        .await
        .expect("the reconcile run reads its state")
    }

    /// [`Self::ingest`] with these fraud rules (`ORDERSEAL_FRAUD_RULES`).
    pub fn ingest_with_fraud_rules(&self, rules: &str) -> LambdaIngest {
        let mut config = ingest_config(&self.resources, &self.sandbox.base_url()).unwrap();
        config.fraud_rules = orderseal::fraud::FraudConfig::parse(rules).unwrap();
        orderseal_ingest::build(
            config,
            self.aws_as(roles::INGEST).ingest_clients(),
            orderseal_ingest::system_clock(),
        )
        .unwrap()
    }

    /// The dispatch function wired to this stack with the demo seller's rules; carrier requests
    /// time out after `carrier_timeout`.
    pub async fn dispatch(&self, carrier_timeout: Duration) -> orderseal_dispatch::LambdaDispatch {
        let mut config = orderseal_local::dispatch_config(
            &self.resources,
            &self.sandbox.base_url(),
            &self.carriers.base_url(),
            &orderseal_local::demo_shipping_rules(),
        )
        .unwrap();
        config.carrier_timeout = carrier_timeout;
        orderseal_dispatch::build(
            config,
            self.aws_as(roles::DISPATCH).dispatch_clients(),
            orderseal_ingest::system_clock(),
        )
        .await
        .unwrap()
    }

    /// Run a dispatch handler over the shipments queue like the event source mapping would
    /// (its receives and deletes are the dispatch role's, as on Lambda).
    pub async fn drain_shipments<S, K, R, A, D>(
        &self,
        dispatch: &orderseal_dispatch::Dispatch<S, K, R, A, D>,
        settle: Duration,
    ) -> PumpReport
    where
        S: orderseal::dispatch::DispatchStore,
        K: orderseal::seal::KeyProvider,
        R: orderseal_dispatch::Carriers,
        A: orderseal_dispatch::ShipmentConfirmer,
        D: orderseal::quarantine::Quarantine,
    {
        let q = self.resources.queue("ShipmentsQueue").unwrap();
        pump::drain(
            &self.mappings[roles::DISPATCH],
            &q.url,
            &q.arn,
            Duration::from_secs(30),
            &PumpOptions {
                settle,
                max_time: Duration::from_secs(90),
                ..PumpOptions::default()
            },
            |event, deadline| dispatch.handle_batch(event, deadline),
        )
        .await
        .unwrap()
    }

    /// Send a notification to the notifications queue as SP-API does (as its account).
    pub async fn send(&self, body: &str) {
        pump::send(
            self.aws_as(roles::SELLING_PARTNER_API),
            &self.queue_url("NotificationsQueue"),
            body,
        )
        .await
        .unwrap();
    }

    /// Run `ingest` over the notifications queue like the event source mapping would (its
    /// receives and deletes are the ingest role's).
    pub async fn drain(
        &self,
        ingest: &LambdaIngest,
        function_timeout: Duration,
        settle: Duration,
    ) -> PumpReport {
        let q = self.resources.queue("NotificationsQueue").unwrap();
        pump::drain(
            &self.mappings[roles::INGEST],
            &q.url,
            &q.arn,
            function_timeout,
            &PumpOptions {
                settle,
                max_time: Duration::from_secs(90),
                ..PumpOptions::default()
            },
            |event, deadline| ingest.handle_batch(event, deadline),
        )
        .await
        .unwrap()
    }

    /// Invoke the handler directly with these bodies as one batch (ids `m0`, `m1`, ...).
    pub async fn invoke(
        &self,
        ingest: &LambdaIngest,
        bodies: &[String],
    ) -> Result<SqsBatchResponse, orderseal_ingest::handler::BatchFailed> {
        let mut event = SqsEvent::default();
        event.records = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("m{i}"));
                m.body = Some(b.clone());
                m
            })
            .collect();
        ingest
            .handle_batch(event, Instant::now() + Duration::from_secs(30))
            .await
    }

    /// Put an order in the sandbox and return its ORDER_CHANGE notification.
    pub fn publish(&self, order: &Value) -> String {
        self.publish_for(SELLER, order)
    }

    /// [`publish`](Self::publish) for one of the sandbox's other sellers.
    pub fn publish_for(&self, seller: &str, order: &Value) -> String {
        self.sandbox
            .control()
            .put_order_for(seller, order.clone())
            .unwrap();
        notify::order_change_for(order, seller, &notify::notification_id_for(order)).to_string()
    }

    /// Every item of the table and every message left in the queues, as raw text.
    pub async fn raw_dump(&self) -> String {
        let mut out = String::new();
        for item in orderseal_local::inspect::scan_all(&self.aws, self.table())
            .await
            .unwrap()
        {
            out.push_str(&orderseal_local::inspect::item_json(&item).to_string());
            out.push('\n');
        }
        for id in self.resources.queues.keys() {
            for m in pump::take_all(&self.aws, &self.queue_url(id))
                .await
                .unwrap()
            {
                out.push_str(m.body().unwrap_or_default());
                out.push('\n');
            }
        }
        out
    }

    /// Publish `order` in the sandbox, send its ORDER_CHANGE and run `ingest` until drained.
    pub async fn notify(&self, ingest: &LambdaIngest, order: &Value) {
        self.send(&self.publish(order)).await;
        self.drain(ingest, Duration::from_secs(30), Duration::ZERO)
            .await;
    }

    /// Ingest + dispatch one canary order to `country`, returning its tracking number.
    pub async fn ship(&self, order_id: &str, country: &str, region: &str) -> String {
        self.ship_anchored(order_id, country, region, Default::default())
            .await
    }

    /// [`Self::ship`] with dispatch configured for `anchor`.
    pub async fn ship_anchored(
        &self,
        order_id: &str,
        country: &str,
        region: &str,
        anchor: orderseal::order::RetentionAnchor,
    ) -> String {
        let ingest = self.ingest();
        let order = canary_order_to(
            order_id,
            "UNSHIPPED",
            "MERCHANT",
            "2026-11-21T10:00:00Z",
            country,
            region,
        );
        self.notify(&ingest, &order).await;
        let mut dispatch = self.dispatch(Duration::from_secs(5)).await;
        dispatch.retention = dispatch.retention.with_anchor(anchor);
        self.drain_shipments(&dispatch, Duration::ZERO).await;
        let item = self.order_item(order_id).await.unwrap();
        item["tracking_number"].as_s().unwrap().clone()
    }

    pub async fn order_item(&self, order_id: &str) -> Option<orderseal_local::inspect::Item> {
        orderseal_local::inspect::get_order(&self.aws, self.table(), SELLER, order_id)
            .await
            .unwrap()
    }

    /// The order's sealed-PII item (blobs and the TTL backstop), if any.
    pub async fn pii_item(&self, order_id: &str) -> Option<orderseal_local::inspect::Item> {
        orderseal_local::inspect::get_pii(&self.aws, self.table(), SELLER, order_id)
            .await
            .unwrap()
    }
}

fn fastrand_suffix() -> String {
    format!("{:06x}", fastrand::u32(..0xFF_FFFF))
}

/// A full Orders v2026-01-01 order whose every PII field holds a canary value.
pub fn canary_order(order_id: &str, status: &str, fulfilled_by: &str, last_updated: &str) -> Value {
    canary_order_to(order_id, status, fulfilled_by, last_updated, "US", "WA")
}

/// [`canary_order`] shipped to another country (ISO alpha-2) and region.
pub fn canary_order_to(
    order_id: &str,
    status: &str,
    fulfilled_by: &str,
    last_updated: &str,
    country: &str,
    region: &str,
) -> Value {
    json!({
        "orderId": order_id,
        "createdTime": "2026-11-20T09:00:00Z",
        "lastUpdatedTime": last_updated,
        "programs": ["PRIME"],
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": "ATVPDKIKX0DER", "marketplaceName": "Amazon.com"},
        "buyer": {
            "buyerName": "CANARY-BUYER-Q7Z",
            "buyerEmail": "canary-q7z@marketplace.amazon.com",
            "buyerCompanyName": "CANARY-BUYER-CO-Q7Z"
        },
        "recipient": {
            "deliveryAddress": {
                "name": "CANARY-RECIPIENT-Q7Z",
                "companyName": "CANARY-COMPANY-Q7Z",
                "addressLine1": "1 CANARY STREET Q7Z",
                "addressLine2": "CANARY-LINE2-Q7Z",
                "city": "CANARYVILLE-Q7Z",
                "districtOrCounty": "CANARY-COUNTY-Q7Z",
                "stateOrRegion": region,
                "postalCode": "CANARY-POSTCODE-Q7Z",
                "countryCode": country,
                "phone": "CANARY-PHONE-Q7Z",
                "addressType": "RESIDENTIAL"
            },
            "deliveryPreference": {
                "addressInstruction": "CANARY-INSTRUCTIONS-Q7Z",
                "dropOffLocation": "CANARY-DROPOFF-Q7Z"
            }
        },
        "proceeds": {"grandTotal": {"amount": "59.98", "currencyCode": "USD"}},
        "fulfillment": {
            "fulfillmentStatus": status,
            "fulfilledBy": fulfilled_by,
            "fulfillmentServiceLevel": "STANDARD",
            "shipByWindow": {"latestDateTime": "2026-11-23T23:59:59Z"},
            "deliverByWindow": {"earliestDateTime": "2026-11-25T00:00:00Z", "latestDateTime": "2026-11-28T23:59:59Z"}
        },
        "orderItems": [
            {
                "orderItemId": "50000000000001",
                "quantityOrdered": 2,
                "product": {
                    "asin": "B0CANARY01", "sellerSku": "SKU-MUG-1", "title": "Ceramic mug",
                    "price": {"unitPrice": {"amount": "29.99", "currencyCode": "USD"}}
                },
                "fulfillment": {"packing": {"giftOption": {"giftMessage": "CANARY-GIFT-Q7Z", "giftWrapLevel": "ITEM"}}}
            }
        ]
    })
}

/// Asserts that none of the canary values occurs in `text`.
pub fn assert_no_canary(what: &str, text: &str) {
    for c in CANARIES {
        assert!(!text.contains(c), "{what} contains the canary value {c}");
    }
}

/// Captures every log line the code under test emits on this thread (JSON, DEBUG and up).
#[derive(Clone, Default)]
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

pub struct CaptureGuard {
    _guard: tracing::subscriber::DefaultGuard,
    capture: LogCapture,
}

impl LogCapture {
    /// Install for the current thread (`#[tokio::test]` runs everything on it).
    pub fn start() -> CaptureGuard {
        let capture = LogCapture::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(capture.clone())
            .finish();
        CaptureGuard {
            _guard: tracing::subscriber::set_default(subscriber),
            capture,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

impl CaptureGuard {
    pub fn text(&self) -> String {
        self.capture.text()
    }

    /// The logs hold the expected events and no canary value.
    pub fn assert_clean(&self) {
        let text = self.text();
        assert!(
            text.contains("\"outcome\""),
            "no outcome was logged: the capture is not working"
        );
        assert_no_canary("the logs", &text);
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
