//! The dispatch handler, pure over its ports: shipment requests in, labels bought and shipments
//! confirmed to Amazon, partial batch failures out.
//!
//! Per message: load the order → if CONFIRMED, done → if LABEL_PURCHASED, confirm → else
//! re-check it is still shippable (not canceled, not held, PII not expired) right before buying,
//! record the carrier choice and idempotency key (LABEL_PENDING), unseal only `shipping`, build
//! the `MinimalShipment`, buy the label with the key, record it (LABEL_PURCHASED, no PII), then
//! `confirmShipment` (CONFIRMED). A crash anywhere resumes from the recorded state. An order
//! Amazon cancelled after its label was bought (LABEL_PURCHASED) has the label voided with the
//! carrier instead, once (LABEL_VOIDED; the carrier's answer recorded on the order).

use std::future::Future;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{Instrument, info, info_span, warn};

use orderseal::carriers::{Carrier, CarrierError, MinimalError, MinimalShipment, VoidStatus};
use orderseal::classes::{ClassPayload, ShippingPii};
use orderseal::clock::Clock;
use orderseal::dispatch::{
    Begin, DispatchState, DispatchStore, NotShippable, OrderForDispatch, PurchasedLabel,
    RecordedVoid,
};
use orderseal::quarantine::Quarantine;
use orderseal::seal::{KeyProvider, PiiClass, SealContext, SealError, Sealer};
use orderseal::shipments::ShipmentRequestMessage;
use orderseal::spapi::SpApiError;
use orderseal::spapi::model::{ConfirmShipmentOrderItem, ConfirmShipmentRequest, PackageDetail};
use orderseal::store::StoreError;

use crate::config::ShippingRules;

/// One package per order for now; its reference is what Amazon calls packageReferenceId.
pub const PACKAGE_REF: &str = "1";

/// Port: Orders v0 confirmShipment.
pub trait ShipmentConfirmer: Send + Sync {
    fn confirm(
        &self,
        seller_id: &str,
        order_id: &str,
        body: &ConfirmShipmentRequest,
        deadline: Instant,
    ) -> impl Future<Output = Result<(), SpApiError>> + Send;
}

/// Port: the carrier adapters by name.
pub trait Carriers: Send + Sync {
    type C: Carrier;
    fn get(&self, name: &str) -> Option<std::sync::Arc<Self::C>>;
    /// A carrier refused its key: read the keys again. `true`: fresh ones are in place (now, or
    /// by a reload moments ago), worth one more attempt.
    fn reload(&self) -> impl Future<Output = bool> + Send;
}

pub struct Dispatch<S, K, R, A, D> {
    pub store: S,
    /// Guarded: opens `shipping` only.
    pub sealer: Sealer<K>,
    pub carriers: R,
    pub amazon: A,
    pub rules: ShippingRules,
    pub clock: std::sync::Arc<dyn Clock>,
    /// The retention anchor: under `shipment`, the label's ship date fixes the PII expiry.
    pub retention: orderseal::order::RetentionPolicy,
    /// The shipments DLQ, for requests that can never succeed as they stand.
    pub quarantine: D,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Confirmed,
    AlreadyConfirmed,
    /// The order was cancelled after its label was bought: the carrier voided the label (or,
    /// `Rejected`, refused to; recorded, and asked again by the next cancellation notice).
    LabelVoided(VoidStatus),
    AlreadyVoided,
    NotShippable(NotShippable),
    OrderMissing,
    /// Can never succeed as things stand: moved to the DLQ with its reason (replay it with
    /// `orderseal dlq replay shipments` once the cause is fixed).
    Quarantined(&'static str),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::AlreadyConfirmed => "already_confirmed",
            Outcome::LabelVoided(_) => "label_voided",
            Outcome::AlreadyVoided => "already_voided",
            Outcome::NotShippable(_) => "not_shippable",
            Outcome::OrderMissing => "order_missing",
            Outcome::Quarantined(_) => "quarantined",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Retry {
    #[error("shipment request is not valid JSON of the expected shape")]
    Malformed,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Carrier(#[from] CarrierError),
    #[error(transparent)]
    Amazon(#[from] SpApiError),
    #[error(transparent)]
    Address(#[from] MinimalError),
    #[error("no carrier adapter {0} is configured")]
    NoCarrier(String),
    #[error("decrypted shipping class is malformed")]
    BadPlaintext,
    #[error("quarantine failed: {0}")]
    Quarantine(String),
}

impl Retry {
    pub fn reason_code(&self) -> &'static str {
        match self {
            Retry::Malformed => "malformed_shipment_request",
            Retry::Store(StoreError::Conflict(_)) => "store_conflict",
            Retry::Store(_) => "store_failed",
            Retry::Seal(_) => "unseal_failed",
            Retry::Carrier(e) => e.reason_code(),
            Retry::Amazon(e) => e.reason_code(),
            Retry::Address(_) => "address_incomplete",
            Retry::NoCarrier(_) => "carrier_not_configured",
            Retry::BadPlaintext => "shipping_class_malformed",
            Retry::Quarantine(_) => "quarantine_failed",
        }
    }

    /// Retrying the same request cannot help: the body does not parse, the stored address or
    /// plaintext cannot make a shipment, the route names an adapter that is not configured, the
    /// carrier refused the request (4xx, no rates, a field it may not get) or Amazon refused the
    /// confirmation (400). Everything else (timeouts, throttling, 5xx, AWS errors) is retried.
    pub fn is_permanent(&self) -> bool {
        match self {
            Retry::Malformed | Retry::Address(_) | Retry::NoCarrier(_) | Retry::BadPlaintext => {
                true
            }
            Retry::Carrier(e) => matches!(
                e,
                CarrierError::Rejected { .. } | CarrierError::NoRates | CarrierError::Disallowed(_)
            ),
            Retry::Amazon(e) => e.is_permanent(),
            Retry::Store(_) | Retry::Seal(_) | Retry::Quarantine(_) => false,
        }
    }
}

pub use orderseal::batch::BatchFailed;
use orderseal::batch::for_each_message;

/// The idempotency key of one package's label: derived from seller, order and package, so any
/// retry — in this invocation or the next — asks the carrier for the same purchase.
pub fn label_key(seller_id: &str, order_id: &str, package_ref: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("orderseal/label/v1/{seller_id}/{order_id}/{package_ref}").as_bytes(),
    );
    let hex: String = d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("os-{hex}")
}

impl<S, K, R, A, D> Dispatch<S, K, R, A, D>
where
    S: DispatchStore,
    K: KeyProvider,
    R: Carriers,
    A: ShipmentConfirmer,
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
        let request = serde_json::from_str::<ShipmentRequestMessage>(body);
        // Every line about the request carries its ids (none for one that does not parse).
        let span = match &request {
            Ok(r) => info_span!("dispatch", order_id = %r.order_id, seller_id = %r.seller_id),
            Err(_) => info_span!("dispatch"),
        };
        async move {
            let result = match request {
                Ok(request) => self.process(&request, deadline).await,
                Err(_) => Err(Retry::Malformed),
            };
            let result = match result {
                Err(e) if e.is_permanent() => {
                    let reason = e.reason_code();
                    warn!(outcome = "quarantined", reason, error = %e, "shipment request quarantined");
                    match self.quarantine.quarantine(body, reason).await {
                        Ok(()) => Ok(Outcome::Quarantined(reason)),
                        Err(q) => Err(Retry::Quarantine(q)),
                    }
                }
                other => other,
            };
            match &result {
                Ok(Outcome::NotShippable(why)) => info!(
                    outcome = "not_shippable",
                    reason = why.as_str(),
                    "nothing bought"
                ),
                Ok(Outcome::Quarantined(_)) => {}
                Ok(o) => info!(outcome = o.as_str(), "message processed"),
                Err(e) => {
                    warn!(outcome = "retry", reason = e.reason_code(), error = %e, "message failed")
                }
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn process(
        &self,
        req: &ShipmentRequestMessage,
        deadline: Instant,
    ) -> Result<Outcome, Retry> {
        let Some(order) = self.store.load(&req.seller_id, &req.order_id).await? else {
            return Ok(Outcome::OrderMissing);
        };
        let label = match order.state.clone() {
            DispatchState::Confirmed(_) => return Ok(Outcome::AlreadyConfirmed),
            DispatchState::Voided { .. } => return Ok(Outcome::AlreadyVoided),
            DispatchState::LabelPurchased(label) if order.label_must_be_voided() => {
                return self.void(&order, &label, deadline).await;
            }
            // Bought, not yet confirmed: a cancellation asked for since stops the confirmation,
            // and the label is reported for voiding (the seller cancels on Amazon).
            DispatchState::LabelPurchased(label) if order.cancel_requested => {
                warn!(
                    reason = NotShippable::CancelRequested.as_str(),
                    via = %label.shipment.via,
                    tracking_number = %label.shipment.tracking_number,
                    "buyer asked to cancel after the label was bought: not confirmed, void the label"
                );
                return Ok(Outcome::NotShippable(NotShippable::CancelRequested));
            }
            DispatchState::LabelPurchased(label) => label,
            DispatchState::LabelPending { via, key } => {
                if let Err(why) = order.shippable(self.now().unix_timestamp()) {
                    warn!(
                        reason = why.as_str(),
                        "order stopped being shippable after a carrier was chosen; any label bought under the recorded key needs voiding"
                    );
                    return Ok(Outcome::NotShippable(why));
                }
                self.buy(&order, &via, &key, deadline).await?
            }
            DispatchState::Ready => {
                if let Err(why) = order.shippable(self.now().unix_timestamp()) {
                    return Ok(Outcome::NotShippable(why));
                }
                let route = self.rules.route(order.ship_country.as_deref());
                let key = label_key(&order.seller_id, &order.order_id, PACKAGE_REF);
                let (via, key) = match self
                    .store
                    .begin(&order.seller_id, &order.order_id, &route.carrier, &key)
                    .await?
                {
                    Begin::Started => (route.carrier.clone(), key),
                    Begin::AlreadyPending { via, key } => (via, key),
                    Begin::Refused => {
                        // Changed under us (e.g. canceled by a newer notification): re-read why.
                        let why = match self.store.load(&order.seller_id, &order.order_id).await? {
                            Some(now) => now.shippable(self.now().unix_timestamp()).err(),
                            None => None,
                        };
                        return Ok(Outcome::NotShippable(
                            why.unwrap_or(NotShippable::NotUnshipped),
                        ));
                    }
                };
                self.buy(&order, &via, &key, deadline).await?
            }
        };
        self.confirm(&order, &label, deadline).await?;
        Ok(Outcome::Confirmed)
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    async fn buy(
        &self,
        order: &OrderForDispatch,
        via: &str,
        key: &str,
        deadline: Instant,
    ) -> Result<PurchasedLabel, Retry> {
        // No adapter, no unsealing.
        if self.carriers.get(via).is_none() {
            return Err(Retry::NoCarrier(via.to_owned()));
        }
        let blob = order
            .shipping
            .as_ref()
            .ok_or(Retry::Address(MinimalError::Missing("address")))?;
        let ctx = SealContext::new(&order.seller_id, &order.order_id, PiiClass::Shipping);
        let plaintext = self.sealer.open(&ctx, blob).await?;
        let shipping = ShippingPii::from_plaintext(&plaintext).map_err(|_| Retry::BadPlaintext)?;
        drop(plaintext);
        let route = self.rules.route(order.ship_country.as_deref());
        let parcel = self.rules.parcel(
            order
                .lines
                .iter()
                .map(|l| (l.seller_sku.as_deref(), l.quantity)),
        );
        let shipment = MinimalShipment::from_shipping(
            &shipping,
            key.to_owned(),
            self.rules.ship_from.clone(),
            parcel,
            self.rules
                .phone_required(route, order.ship_country.as_deref()),
        )?;
        drop(shipping);
        let created = self
            .carrier_call(via, deadline, |carrier| {
                let shipment = &shipment;
                async move { carrier.create_shipment(shipment, route.policy, key).await }
            })
            .await?;
        let label = PurchasedLabel {
            shipment: created,
            purchased_at: self.now().format(&Rfc3339).unwrap_or_default(),
            package_ref: PACKAGE_REF.to_owned(),
        };
        // The ship date is the label's purchase: orderseal confirms the shipment with it.
        let anchored = self
            .retention
            .shipment_expiry(self.now())
            .map(time::OffsetDateTime::unix_timestamp);
        self.store
            .label_purchased(&order.seller_id, &order.order_id, &label, anchored)
            .await?;
        info!(
            via,
            carrier = %label.shipment.carrier,
            service = %label.shipment.service,
            tracking_number = %label.shipment.tracking_number,
            "label purchased"
        );
        Ok(label)
    }

    /// Void the label of an order cancelled after it was bought, under the label's own key (a
    /// retry asks for the same refund), and record the carrier's answer.
    async fn void(
        &self,
        order: &OrderForDispatch,
        label: &PurchasedLabel,
        deadline: Instant,
    ) -> Result<Outcome, Retry> {
        let via = &label.shipment.via;
        let key = label_key(&order.seller_id, &order.order_id, &label.package_ref);
        let outcome = self
            .carrier_call(via, deadline, |carrier| {
                let key = &key;
                async move { carrier.void_label(&label.shipment, key).await }
            })
            .await?;
        let status = outcome.status;
        let void = RecordedVoid {
            outcome,
            at: self.now().format(&Rfc3339).unwrap_or_default(),
        };
        let recorded = self
            .store
            .label_voided(&order.seller_id, &order.order_id, label, &void)
            .await?;
        if status.settled() {
            info!(
                via = %via,
                carrier = %label.shipment.carrier,
                tracking_number = %label.shipment.tracking_number,
                void_status = status.as_str(),
                recorded,
                "cancelled after its label was bought: label voided"
            );
        } else {
            warn!(
                via = %via,
                tracking_number = %label.shipment.tracking_number,
                reason = "void_rejected",
                "the carrier refused to void the label: ask it again, or take it up with the carrier"
            );
        }
        Ok(Outcome::LabelVoided(status))
    }

    /// Call `via`'s adapter with [`Self::with_retries`]; a key it refuses (401) is read again
    /// from the secret once and the call repeated with the new one.
    async fn carrier_call<T, F, Fut>(
        &self,
        via: &str,
        deadline: Instant,
        call: F,
    ) -> Result<T, Retry>
    where
        F: Fn(std::sync::Arc<R::C>) -> Fut,
        Fut: Future<Output = Result<T, CarrierError>>,
    {
        let adapter = || {
            self.carriers
                .get(via)
                .ok_or_else(|| Retry::NoCarrier(via.to_owned()))
        };
        let carrier = adapter()?;
        match self.with_retries(deadline, || call(carrier.clone())).await {
            Err(CarrierError::Unauthorized) if self.carriers.reload().await => {
                let carrier = adapter()?;
                Ok(self
                    .with_retries(deadline, || call(carrier.clone()))
                    .await?)
            }
            other => Ok(other?),
        }
    }

    /// Carrier retries with the same idempotency key, within the invocation's time.
    async fn with_retries<T, F, Fut>(&self, deadline: Instant, call: F) -> Result<T, CarrierError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, CarrierError>>,
    {
        let mut attempt = 0u32;
        loop {
            match call().await {
                Err(e) if e.is_retryable() && attempt < 4 => {
                    let pause = Duration::from_millis(250 * 2u64.pow(attempt));
                    if Instant::now() + pause + Duration::from_secs(2) >= deadline {
                        return Err(e);
                    }
                    info!(
                        attempt,
                        reason = e.reason_code(),
                        "carrier retry with the same idempotency key"
                    );
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn confirm(
        &self,
        order: &OrderForDispatch,
        label: &PurchasedLabel,
        deadline: Instant,
    ) -> Result<(), Retry> {
        // Amazon's code for the carrier in the order's marketplace, or Other with its name.
        let (carrier_code, carrier_name) = orderseal::carriers::amazon::carrier_code(
            &order.marketplace_id,
            &label.shipment.carrier,
        );
        let body = ConfirmShipmentRequest {
            marketplace_id: order.marketplace_id.clone(),
            package_detail: PackageDetail {
                package_reference_id: label.package_ref.clone(),
                carrier_code,
                carrier_name,
                shipping_method: Some(label.shipment.service.clone()),
                tracking_number: label.shipment.tracking_number.clone(),
                ship_date: label.purchased_at.clone(),
                order_items: order
                    .lines
                    .iter()
                    .map(|l| ConfirmShipmentOrderItem {
                        order_item_id: l.order_item_id.clone(),
                        quantity: l.quantity,
                    })
                    .collect(),
            },
        };
        self.amazon
            .confirm(&order.seller_id, &order.order_id, &body, deadline)
            .await?;
        self.store
            .confirmed(
                &order.seller_id,
                &order.order_id,
                &self.now().format(&Rfc3339).unwrap_or_default(),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_key_is_stable_per_package_and_distinct_across_orders() {
        let a = label_key("S", "111-1", "1");
        assert_eq!(a, label_key("S", "111-1", "1"));
        assert_ne!(a, label_key("S", "111-2", "1"));
        assert_ne!(a, label_key("S", "111-1", "2"));
        assert!(a.starts_with("os-") && a.len() == 35);
    }
}
