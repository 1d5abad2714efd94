//! The ingest handler, pure over its ports: SQS batch in, partial batch failures out.
//!
//! Per message: parse → dedupe lock on `NotificationId` → `getOrder` → order record + PII
//! classes → seal each class → conditional write (newer `lastUpdatedTime` wins) → for MFN +
//! UNSHIPPED a shipment request (no PII) → complete the lock. Any failure releases the lock and
//! reports the message failed so SQS redelivers it; what can never succeed is quarantined in the
//! DLQ with its reason (or, for notification types we do not handle, acknowledged and counted).

use std::time::{Duration as StdDuration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::{Instrument, info, info_span, warn};

use orderseal::classes::ClassPayload;
use orderseal::clock::Clock;
use orderseal::idempotency::{Acquire, IdempotencyStore, Lease, payload_hash};
use orderseal::mapping::{self, OrderPii};
use orderseal::notification::{
    self, FulfillmentType, Notification, OrderChangeNotification, OrderStatus,
};
use orderseal::quarantine::Quarantine;
use orderseal::seal::{KeyProvider, SealContext, Sealer};
use orderseal::shipments::{ShipmentQueue, ShipmentRequestMessage};
use orderseal::spapi::{INGEST_INCLUDED_DATA, NO_PII_INCLUDED_DATA, OrderSource, SpApiError};
use orderseal::store::{OrderStore, SealedPii, ShipmentRequest, WriteOutcome};

use crate::config::IngestConfig;

/// Everything the handler talks to.
pub struct Ingest<S, I, K, Q, O, D, R = orderseal::sellers::AnySeller> {
    pub store: S,
    pub idempotency: I,
    pub sealer: Sealer<K>,
    pub shipments: Q,
    pub orders: O,
    pub quarantine: D,
    pub clock: std::sync::Arc<dyn Clock>,
    pub config: IngestConfig,
    /// The fraud rules and the blind-index key; `None`: no rules.
    pub fraud: Option<orderseal::fraud::FraudCheck>,
    /// The sellers served here: a notification for another is quarantined at once.
    pub sellers: R,
}

/// What became of one message (logged as `outcome`, stored on the dedupe record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written; no shipment needed (AFN, shipped, canceled...).
    Stored,
    /// Written and a shipment request enqueued.
    StoredShipmentRequested,
    /// The stored record was as new or newer: nothing changed.
    Stale,
    /// A shipment request left pending by an earlier crash was enqueued.
    ShipmentRequestRepaired,
    /// The order is cancelled and its label bought: dispatch was asked to void it.
    LabelVoidRequested,
    /// The same notification was already processed.
    Duplicate,
    /// A known notification type orderseal does not act on.
    IgnoredKnownType,
    /// A notification type orderseal does not know.
    IgnoredUnknownType,
    /// Can never succeed: moved to the DLQ with its reason.
    Quarantined(&'static str),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::StoredShipmentRequested => "stored_shipment_requested",
            Outcome::Stale => "stale_noop",
            Outcome::ShipmentRequestRepaired => "shipment_request_repaired",
            Outcome::LabelVoidRequested => "label_void_requested",
            Outcome::Duplicate => "duplicate",
            Outcome::IgnoredKnownType => "ignored_known_type",
            Outcome::IgnoredUnknownType => "ignored_unknown_type",
            Outcome::Quarantined(_) => "quarantined",
        }
    }
}

/// Why a message goes back to the queue.
#[derive(Debug, thiserror::Error)]
pub enum Retry {
    #[error("another invocation is processing this notification")]
    InProgress,
    #[error(transparent)]
    SpApi(#[from] SpApiError),
    #[error(transparent)]
    Seal(#[from] orderseal::seal::SealError),
    #[error(transparent)]
    Store(#[from] orderseal::store::StoreError),
    #[error(transparent)]
    Idempotency(#[from] orderseal::idempotency::IdempotencyError),
    #[error(transparent)]
    Queue(#[from] orderseal::shipments::QueueError),
    #[error("{0}")]
    FraudIndex(String),
    #[error(transparent)]
    Unmappable(#[from] mapping::MappingError),
    #[error("quarantine failed: {0}")]
    Quarantine(String),
}

impl Retry {
    /// Can never succeed as the order stands: Amazon refuses the request for good, or the
    /// order cannot be mapped. A notification is quarantined with the reason; the reconcile
    /// run logs it and goes on.
    pub fn is_permanent(&self) -> bool {
        match self {
            Retry::Unmappable(_) => true,
            Retry::SpApi(api) => api.is_permanent(),
            _ => false,
        }
    }

    pub fn reason_code(&self) -> &'static str {
        match self {
            Retry::InProgress => "in_progress",
            Retry::SpApi(e) => e.reason_code(),
            Retry::Seal(_) => "seal_failed",
            Retry::Store(_) => "store_failed",
            Retry::Idempotency(_) => "idempotency_store_failed",
            Retry::Queue(_) => "shipment_queue_failed",
            Retry::FraudIndex(_) => "fraud_index_unavailable",
            Retry::Unmappable(_) => "order_unmappable",
            Retry::Quarantine(_) => "quarantine_failed",
        }
    }
}

/// The invocation failed as a whole: every message in the batch failed.
pub use orderseal::batch::BatchFailed;
use orderseal::batch::for_each_message;

impl<S, I, K, Q, O, D, R> Ingest<S, I, K, Q, O, D, R>
where
    R: orderseal::sellers::SellerRegistry,
    S: OrderStore,
    I: IdempotencyStore,
    K: KeyProvider,
    Q: ShipmentQueue,
    O: OrderSource,
    D: Quarantine,
{
    /// Process a batch with partial batch failures ([`orderseal::batch`]).
    pub async fn handle_batch(
        &self,
        event: SqsEvent,
        deadline: Instant,
    ) -> Result<SqsBatchResponse, BatchFailed> {
        for_each_message(
            event,
            |m| async move { self.handle_message(&m, deadline).await },
        )
        .await
    }

    async fn handle_message(
        &self,
        message: &SqsMessage,
        deadline: Instant,
    ) -> Result<Outcome, Retry> {
        let body = message.body.as_deref().unwrap_or("");
        let result = self.process(body, deadline).await;
        match &result {
            Ok(Outcome::Quarantined(reason)) => {
                warn!(outcome = "quarantined", reason, "message quarantined")
            }
            Ok(o @ (Outcome::IgnoredKnownType | Outcome::IgnoredUnknownType)) => {
                info!(outcome = o.as_str(), "message acknowledged")
            }
            Ok(o) => info!(outcome = o.as_str(), "message processed"),
            Err(e) => {
                warn!(outcome = "retry", reason = e.reason_code(), error = %e, "message failed")
            }
        }
        result
    }

    async fn process(&self, body: &str, deadline: Instant) -> Result<Outcome, Retry> {
        let parsed = match notification::parse(body) {
            Ok(n) => n,
            Err(e) => {
                warn!(reason = e.reason_code(), error = %e, "notification rejected");
                return self.quarantine(body, e.reason_code()).await;
            }
        };
        match parsed {
            Notification::OrderChange(n) => {
                let span = info_span!(
                    "order_change",
                    notification_id = %n.metadata.notification_id,
                    order_id = %n.payload.amazon_order_id,
                    seller_id = %n.payload.seller_id,
                );
                self.order_change(body, &n, deadline).instrument(span).await
            }
            Notification::Known { kind, .. } => {
                info!(notification_type = %kind, "notification type not handled by ingest");
                Ok(Outcome::IgnoredKnownType)
            }
            Notification::Unknown { kind, .. } => {
                warn!(notification_type = %kind, reason = "unknown_notification_type", "notification type unknown");
                Ok(Outcome::IgnoredUnknownType)
            }
        }
    }

    async fn quarantine(&self, body: &str, reason: &'static str) -> Result<Outcome, Retry> {
        self.quarantine
            .quarantine(body, reason)
            .await
            .map_err(Retry::Quarantine)?;
        Ok(Outcome::Quarantined(reason))
    }

    async fn order_change(
        &self,
        body: &str,
        n: &OrderChangeNotification,
        deadline: Instant,
    ) -> Result<Outcome, Retry> {
        if let Some(app) = &self.config.application_id
            && n.metadata.application_id != *app
        {
            // Another application's subscription points at our queue: nothing to fetch with.
            return self.quarantine(body, "unknown_application").await;
        }
        if !self.sellers.is_known(&n.payload.seller_id).await? {
            // Not added here (`orderseal seller add`), or removed: replay it once it is.
            return self.quarantine(body, "unknown_seller").await;
        }
        let now = self.clock.now();
        let lease = Lease {
            notification_id: n.metadata.notification_id.clone(),
            payload_hash: payload_hash(body.as_bytes()),
            now,
            in_progress_until: now + time_until(deadline),
            expires_after: self.config.dedupe_window,
        };
        match self.idempotency.acquire(&lease).await? {
            Acquire::Acquired => {}
            Acquire::Completed { .. } => return Ok(Outcome::Duplicate),
            Acquire::InProgress => return Err(Retry::InProgress),
            Acquire::PayloadMismatch => {
                return self.quarantine(body, "notification_id_reused").await;
            }
        }
        match self.fetch_and_store(n, deadline).await {
            Ok(outcome) => {
                self.idempotency.complete(&lease, outcome.as_str()).await?;
                Ok(outcome)
            }
            Err(e) => {
                // Let the retry run again; a failed release only delays it to the lock expiry.
                if let Err(release) = self.idempotency.release(&lease).await {
                    warn!(error = %release, "idempotency release failed");
                }
                match e {
                    e if e.is_permanent() => self.quarantine(body, e.reason_code()).await,
                    e => Err(e),
                }
            }
        }
    }

    async fn fetch_and_store(
        &self,
        n: &OrderChangeNotification,
        deadline: Instant,
    ) -> Result<Outcome, Retry> {
        let seller = &n.payload.seller_id;
        let order_id = &n.payload.amazon_order_id;
        // Buyer data only for an order we fulfil: the notification tells which before the call;
        // should the (fresher) response show an open MFN order the notification did not, ask
        // again with it (rare: a stale notification, one more call).
        let summary = &n.payload.summary;
        let asks_pii = summary.fulfillment_type == FulfillmentType::Mfn
            && summary.order_status != OrderStatus::Canceled;
        let included = if asks_pii {
            INGEST_INCLUDED_DATA
        } else {
            NO_PII_INCLUDED_DATA
        };
        let response = self
            .orders
            .get_order(seller, order_id, included, deadline)
            .await?;
        let cancel_requested = summary
            .order_items
            .iter()
            .any(|i| i.is_buyer_requested_cancel == Some(true));
        self.store_fetched(
            seller,
            order_id,
            response,
            asks_pii,
            cancel_requested,
            deadline,
        )
        .await
    }

    /// The rest of a notification's path once the order is in hand (from getOrder, or from a
    /// searchOrders page: the reconcile run): map, screen, seal, the conditional write, the
    /// shipment request. `asked_pii`: the response was asked for the buyer's datasets; when it
    /// was not and the order turns out to need them, getOrder is asked for them.
    /// `cancel_requested`: the notification said the buyer asked to cancel.
    pub async fn store_fetched(
        &self,
        seller: &str,
        order_id: &str,
        response: orderseal::spapi::model::GetOrderResponse,
        asked_pii: bool,
        cancel_requested: bool,
        deadline: Instant,
    ) -> Result<Outcome, Retry> {
        let (mut record, mut pii) =
            mapping::build(&response, seller, order_id, &self.config.retention)?;
        drop(response);
        if !asked_pii && record.collects_pii() {
            let response = self
                .orders
                .get_order(seller, order_id, INGEST_INCLUDED_DATA, deadline)
                .await?;
            (record, pii) = mapping::build(&response, seller, order_id, &self.config.retention)?;
        }
        record.cancel_requested |= cancel_requested;
        let review = self.screen(&mut record, &pii).await?;
        let sealed = self.seal_all(seller, order_id, &pii).await?;
        drop(pii);
        let outcome = self
            .store
            .upsert_if_newer(&record, &sealed, self.clock.now())
            .await?;
        let label_to_void = outcome.label_to_void();
        let (pending, written) = match outcome {
            WriteOutcome::Written { shipment, .. } => {
                (shipment == Some(ShipmentRequest::Pending), true)
            }
            WriteOutcome::Unchanged {
                shipment,
                stored_needs_shipment,
                ..
            } => (
                stored_needs_shipment && shipment == Some(ShipmentRequest::Pending),
                false,
            ),
        };
        if !review.is_empty() && (written || pending) {
            // Before the shipment request: dispatch must find the order held.
            self.store
                .hold_for_review(seller, order_id, &review, self.clock.now())
                .await?;
        }
        let request = || ShipmentRequestMessage {
            version: ShipmentRequestMessage::VERSION,
            seller_id: seller.to_owned(),
            order_id: order_id.to_owned(),
            order_last_updated: record
                .last_updated
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        };
        if pending {
            self.shipments.send(&request()).await?;
            self.store.mark_shipment_sent(seller, order_id).await?;
        } else if label_to_void {
            // Cancelled after its label was bought: dispatch voids it (once; a repeat of this
            // request finds it voided). Asked again by every notice until it is recorded.
            info!("cancelled with a label bought: dispatch is asked to void it");
            self.shipments.send(&request()).await?;
        }
        Ok(match (written, pending) {
            (true, true) => Outcome::StoredShipmentRequested,
            _ if label_to_void => Outcome::LabelVoidRequested,
            (true, false) => Outcome::Stored,
            (false, true) => Outcome::ShipmentRequestRepaired,
            (false, false) => Outcome::Stale,
        })
    }

    /// The fraud rules for an order that keeps PII: its blind-index keys go onto the record
    /// (written with the PII), and the rules it matches come back (empty: none, or no rules).
    async fn screen(
        &self,
        record: &mut orderseal::order::OrderRecord,
        pii: &OrderPii,
    ) -> Result<Vec<&'static str>, Retry> {
        let Some(fraud) = &self.fraud else {
            return Ok(Vec::new());
        };
        let rules = fraud.config.for_seller(&record.seller_id);
        if !rules.any() || !record.collects_pii() {
            return Ok(Vec::new());
        }
        let shipping = &pii.shipping;
        let mut priors = Vec::new();
        let mut name_key = None;
        if rules.uses_index() {
            let index = fraud.index().await.map_err(|e| Retry::FraudIndex(e.0))?;
            let Some(address) = index.address_key(&record.seller_id, shipping) else {
                return Ok(Vec::new());
            };
            name_key = index.name_key(&record.seller_id, shipping);
            priors = self.store.address_priors(&address).await?;
            record.blind_index = Some(orderseal::fraud::IndexKeys {
                address,
                name: name_key.clone(),
                at_ms: orderseal::clock::unix_millis(record.last_updated),
            });
        }
        // Every order keeping PII is indexed (a cancelled one counts for the next); only one
        // dispatch would ship is held.
        if !record.needs_shipment() {
            return Ok(Vec::new());
        }
        let hits = orderseal::fraud::evaluate(
            rules,
            &orderseal::fraud::Candidate {
                order_id: &record.order_id,
                total: record.order_total.as_ref(),
                name_key: name_key.as_deref(),
                country: shipping.country_code.as_deref(),
                postal_code: shipping.postal_code.as_ref().map(|p| p.expose()),
            },
            &priors,
            orderseal::clock::unix_millis(self.clock.now()),
        );
        if !hits.is_empty() {
            tracing::warn!(order_id = %record.order_id, rules = %hits.join(","), "fraud rules matched: held for review");
        }
        Ok(hits)
    }

    async fn seal_all(
        &self,
        seller: &str,
        order_id: &str,
        pii: &OrderPii,
    ) -> Result<SealedPii, Retry> {
        let mut sealed = SealedPii::new();
        let classes: [(
            orderseal::seal::PiiClass,
            Option<zeroize::Zeroizing<Vec<u8>>>,
        ); 3] = [
            seal_input(&pii.shipping),
            seal_input(&pii.contact),
            seal_input(&pii.gift),
        ];
        for (class, plaintext) in classes {
            if let Some(plaintext) = plaintext {
                let ctx = SealContext::new(seller, order_id, class);
                sealed.insert(class, self.sealer.seal(&ctx, &plaintext).await?);
            }
        }
        Ok(sealed)
    }
}

fn seal_input<P: ClassPayload>(
    payload: &P,
) -> (
    orderseal::seal::PiiClass,
    Option<zeroize::Zeroizing<Vec<u8>>>,
) {
    (
        P::CLASS,
        (!payload.is_empty()).then(|| payload.to_plaintext()),
    )
}

fn time_until(deadline: Instant) -> time::Duration {
    let left: StdDuration = deadline.saturating_duration_since(Instant::now());
    time::Duration::try_from(left).unwrap_or(time::Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use orderseal::clock::SystemClock;
    use orderseal::fakes::{
        InMemoryIdempotencyStore, InMemoryOrderStore, RecordingQueue, ScriptedOrders,
    };
    use orderseal::seal::LocalKeyProvider;

    use super::*;

    #[derive(Default)]
    struct Parked {
        reasons: Mutex<Vec<&'static str>>,
        fail: bool,
    }

    impl Quarantine for Parked {
        async fn quarantine(&self, _body: &str, reason: &'static str) -> Result<(), String> {
            if self.fail {
                return Err("InjectedFailure".into());
            }
            self.reasons.lock().unwrap().push(reason);
            Ok(())
        }
    }

    type TestIngest = Ingest<
        InMemoryOrderStore,
        InMemoryIdempotencyStore,
        LocalKeyProvider,
        RecordingQueue,
        ScriptedOrders,
        Parked,
    >;

    fn ingest(parked: Parked) -> TestIngest {
        let env = [
            ("ORDERSEAL_TABLE", "t"),
            ("ORDERSEAL_PII_KEY_ID", "k"),
            ("ORDERSEAL_SHIPMENTS_QUEUE_URL", "q"),
            ("ORDERSEAL_LWA_SECRET_ID", "s"),
            (
                "ORDERSEAL_SPAPI_ENDPOINT",
                "https://sellingpartnerapi-na.amazon.com",
            ),
            (
                "ORDERSEAL_LWA_ENDPOINT",
                "https://api.amazon.com/auth/o2/token",
            ),
        ];
        Ingest {
            store: InMemoryOrderStore::default(),
            idempotency: InMemoryIdempotencyStore::default(),
            sealer: Sealer::new(LocalKeyProvider::random()),
            shipments: RecordingQueue::default(),
            orders: ScriptedOrders::default(),
            quarantine: parked,
            clock: Arc::new(SystemClock),
            fraud: None,
            sellers: orderseal::sellers::AnySeller,
            config: IngestConfig::from_lookup(|k| {
                env.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            })
            .unwrap(),
        }
    }

    fn notification(order_id: &str, notification_id: &str) -> String {
        serde_json::json!({
            "NotificationVersion": "1.0", "NotificationType": "ORDER_CHANGE", "PayloadVersion": "1.0",
            "EventTime": "2026-05-01T12:00:01Z",
            "Payload": {"OrderChangeNotification": {
                "NotificationLevel": "OrderLevel", "SellerId": "S1", "AmazonOrderId": order_id,
                "OrderChangeType": "OrderStatusChange",
                "OrderChangeTrigger": {"TimeOfOrderChange": null, "ChangeReason": "x"},
                "Summary": {"MarketplaceId": "ATVPDKIKX0DER", "OrderStatus": "Unshipped",
                    "PurchaseDate": null, "DestinationPostalCode": null, "FulfillmentType": "MFN",
                    "OrderType": "StandardOrder",
                    "OrderItems": [{"OrderItemId": "1", "SellerSKU": "S", "SupplySourceId": null, "Quantity": 1}]}}},
            "NotificationMetadata": {"ApplicationId": "a", "SubscriptionId": "s",
                "PublishTime": "2026-05-01T12:00:02Z", "NotificationId": notification_id}
        })
        .to_string()
    }

    fn order(order_id: &str) -> String {
        serde_json::json!({"order": {
            "orderId": order_id, "createdTime": "2026-05-01T11:58:00Z", "lastUpdatedTime": "2026-05-01T12:00:00Z",
            "salesChannel": {"channelName": "AMAZON", "marketplaceId": "ATVPDKIKX0DER"},
            "recipient": {"deliveryAddress": {"name": "N", "addressLine1": "A", "city": "C", "countryCode": "US"}},
            "fulfillment": {"fulfillmentStatus": "UNSHIPPED", "fulfilledBy": "MERCHANT"},
            "orderItems": [{"orderItemId": "1", "quantityOrdered": 1, "product": {"sellerSku": "S"}}]
        }})
        .to_string()
    }

    fn event(bodies: &[(&str, String)]) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = bodies
            .iter()
            .map(|(id, body)| {
                let mut m = SqsMessage::default();
                m.message_id = Some((*id).to_owned());
                m.body = Some(body.clone());
                m
            })
            .collect();
        e
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn only_the_failed_ids_are_reported() {
        let i = ingest(Parked::default());
        i.orders
            .answer("111-0000000-0000001", Ok(order("111-0000000-0000001")));
        i.orders
            .answer("111-0000000-0000002", Err(SpApiError::Server(503)));
        let resp = i
            .handle_batch(
                event(&[
                    ("ok", notification("111-0000000-0000001", "n1")),
                    ("bad", notification("111-0000000-0000002", "n2")),
                ]),
                soon(),
            )
            .await
            .unwrap();
        let failed: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["bad"]);
        assert_eq!(i.shipments.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn when_every_message_fails_the_invocation_errors() {
        let i = ingest(Parked::default());
        i.orders
            .answer("111-0000000-0000001", Err(SpApiError::Throttled));
        let result = i
            .handle_batch(
                event(&[
                    ("a", notification("111-0000000-0000001", "n1")),
                    ("b", notification("111-0000000-0000001", "n2")),
                ]),
                soon(),
            )
            .await;
        assert!(matches!(result, Err(BatchFailed(2))));
    }

    #[tokio::test]
    async fn a_failure_without_a_message_id_fails_the_batch_instead_of_reporting_an_empty_id() {
        let i = ingest(Parked::default());
        i.orders
            .answer("111-0000000-0000001", Ok(order("111-0000000-0000001")));
        i.orders
            .answer("111-0000000-0000002", Err(SpApiError::Server(500)));
        let result = i
            .handle_batch(
                event(&[
                    ("ok", notification("111-0000000-0000001", "n1")),
                    ("", notification("111-0000000-0000002", "n2")),
                ]),
                soon(),
            )
            .await;
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn a_request_sp_api_rejects_as_invalid_is_quarantined_not_retried() {
        let i = ingest(Parked::default());
        i.orders
            .answer("111-0000000-0000001", Err(SpApiError::Rejected(400)));
        let resp = i
            .handle_batch(
                event(&[("a", notification("111-0000000-0000001", "n1"))]),
                soon(),
            )
            .await
            .unwrap();
        assert!(resp.batch_item_failures.is_empty());
        assert_eq!(*i.quarantine.reasons.lock().unwrap(), ["spapi_rejected"]);
    }

    #[tokio::test]
    async fn when_quarantine_fails_the_message_is_reported_failed_not_dropped() {
        let i = ingest(Parked {
            fail: true,
            ..Parked::default()
        });
        let resp = i
            .handle_batch(
                event(&[("bad", "{not json".into()), ("ok-type", "{}".into())]),
                soon(),
            )
            .await;
        // Both fail (the second has no NotificationType either): the invocation errors.
        assert!(matches!(resp, Err(BatchFailed(2))));
    }

    #[tokio::test]
    async fn a_notification_held_by_a_live_invocation_is_retried_later() {
        let i = ingest(Parked::default());
        let body = notification("111-0000000-0000001", "n1");
        let now = i.clock.now();
        let held = Lease {
            notification_id: "n1".into(),
            payload_hash: payload_hash(body.as_bytes()),
            now,
            in_progress_until: now + time::Duration::minutes(1),
            expires_after: time::Duration::days(7),
        };
        assert_eq!(
            i.idempotency.acquire(&held).await.unwrap(),
            Acquire::Acquired
        );
        i.orders
            .answer("111-0000000-0000001", Ok(order("111-0000000-0000001")));
        let resp = i
            .handle_batch(
                event(&[
                    ("a", body.clone()),
                    ("b", notification("111-0000000-0000001", "n9")),
                ]),
                soon(),
            )
            .await
            .unwrap();
        let failed: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["a"]);
    }

    #[tokio::test]
    async fn a_failed_enqueue_is_repaired_once_on_the_retry() {
        let i = ingest(Parked::default());
        i.orders
            .answer("111-0000000-0000001", Ok(order("111-0000000-0000001")));
        *i.shipments.fail_next.lock().unwrap() = 1;
        let body = notification("111-0000000-0000001", "n1");
        assert!(
            i.handle_batch(event(&[("a", body.clone())]), soon())
                .await
                .is_err()
        );
        let resp = i
            .handle_batch(event(&[("a", body.clone())]), soon())
            .await
            .unwrap();
        assert!(resp.batch_item_failures.is_empty());
        let again = i.handle_batch(event(&[("a", body)]), soon()).await.unwrap();
        assert!(again.batch_item_failures.is_empty());
        assert_eq!(i.shipments.sent.lock().unwrap().len(), 1);
        assert_eq!(
            *i.orders.calls.lock().unwrap(),
            2,
            "the duplicate did not call SP-API"
        );
    }
}
