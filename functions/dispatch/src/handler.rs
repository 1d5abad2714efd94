//! The dispatch handler, pure over its ports: shipment requests in, labels bought and shipments
//! confirmed to Amazon, partial batch failures out.
//!
//! Per message: load the order → if CONFIRMED, done → if LABEL_PURCHASED, confirm what is left
//! → else re-check it is still shippable (not canceled, not held, PII not expired) right before
//! buying, plan its packages from the seller's SKU rules and record the carrier choice and the
//! plan with a key per package (LABEL_PENDING), unseal only `shipping`, and per package build
//! the `MinimalShipment`, buy its label with its key and record it (no PII); with every label
//! recorded (LABEL_PURCHASED), `confirmShipment` package by package, each recorded as Amazon
//! accepts it (CONFIRMED with the last). A crash anywhere resumes from the recorded state at the
//! first package not done. An order Amazon cancelled after labels were bought has them voided
//! with the carrier instead, once (LABEL_VOIDED; the carrier's answers recorded on the order).

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
    Begin, DispatchState, DispatchStore, NotShippable, OrderForDispatch, PackageItem,
    PlannedPackage, PurchasedLabel, RecordedVoid,
};
use orderseal::quarantine::Quarantine;
use orderseal::seal::{KeyProvider, PiiClass, SealContext, SealError, Sealer};
use orderseal::shipments::ShipmentRequestMessage;
use orderseal::spapi::SpApiError;
use orderseal::spapi::model::{ConfirmShipmentOrderItem, ConfirmShipmentRequest, PackageDetail};
use orderseal::store::StoreError;

use crate::config::{ShippingRules, TooManyPackages};

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
    #[error(transparent)]
    TooManyPackages(#[from] TooManyPackages),
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
            Retry::TooManyPackages(_) => "too_many_packages",
            Retry::Quarantine(_) => "quarantine_failed",
        }
    }

    /// Retrying the same request cannot help: the body does not parse, the stored address or
    /// plaintext cannot make a shipment, the route names an adapter that is not configured, the
    /// carrier refused the request (4xx, no rates, a field it may not get) or Amazon refused the
    /// confirmation (400). Everything else (timeouts, throttling, 5xx, AWS errors) is retried.
    pub fn is_permanent(&self) -> bool {
        match self {
            Retry::Malformed
            | Retry::Address(_)
            | Retry::NoCarrier(_)
            | Retry::BadPlaintext
            | Retry::TooManyPackages(_) => true,
            Retry::Carrier(e) => matches!(
                e,
                CarrierError::Rejected { .. } | CarrierError::NoRates | CarrierError::Disallowed(_)
            ),
            Retry::Amazon(e) => e.is_permanent(),
            Retry::Store(_) | Retry::Seal(_) | Retry::Quarantine(_) => false,
        }
    }
}

/// The package references of `refs` but `this`: what a write that completes the order's
/// packages conditions on.
fn other_refs<'a>(refs: impl Iterator<Item = &'a String>, this: &str) -> Vec<String> {
    refs.filter(|r| r.as_str() != this).cloned().collect()
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
        let labels = match order.state.clone() {
            DispatchState::Confirmed(_) => return Ok(Outcome::AlreadyConfirmed),
            DispatchState::Voided { .. } => return Ok(Outcome::AlreadyVoided),
            DispatchState::LabelPurchased { labels, .. } if order.label_must_be_voided() => {
                return self.void(&order, &labels, deadline).await;
            }
            // Cancelled while its packages were being bought: void those bought so far.
            DispatchState::LabelPending { bought, .. }
                if order.label_must_be_voided() && !bought.is_empty() =>
            {
                return self.void(&order, &bought, deadline).await;
            }
            // Bought, not yet confirmed: a cancellation asked for since stops the confirmation,
            // and the labels are reported for voiding (the seller cancels on Amazon).
            DispatchState::LabelPurchased { labels, .. } if order.cancel_requested => {
                for label in &labels {
                    warn!(
                        reason = NotShippable::CancelRequested.as_str(),
                        via = %label.shipment.via,
                        package = %label.package_ref,
                        tracking_number = %label.shipment.tracking_number,
                        "buyer asked to cancel after the label was bought: not confirmed, void the label"
                    );
                }
                return Ok(Outcome::NotShippable(NotShippable::CancelRequested));
            }
            DispatchState::LabelPurchased { labels, confirmed } => {
                self.confirm(&order, &labels, &confirmed, deadline).await?;
                return Ok(Outcome::Confirmed);
            }
            DispatchState::LabelPending { via, plan, bought } => {
                if let Err(why) = order.shippable(self.now().unix_timestamp()) {
                    warn!(
                        reason = why.as_str(),
                        "order stopped being shippable after a carrier was chosen; any label bought under the recorded keys needs voiding"
                    );
                    return Ok(Outcome::NotShippable(why));
                }
                self.buy(&order, &via, &plan, bought, deadline).await?
            }
            DispatchState::Ready => {
                if let Err(why) = order.shippable(self.now().unix_timestamp()) {
                    return Ok(Outcome::NotShippable(why));
                }
                let route = self.rules.route(order.ship_country.as_deref());
                let plan = self.plan(&order)?;
                let (via, plan, bought) = match self
                    .store
                    .begin(&order.seller_id, &order.order_id, &route.carrier, &plan)
                    .await?
                {
                    Begin::Started => (route.carrier.clone(), plan, Vec::new()),
                    Begin::AlreadyPending { via, plan, bought } => (via, plan, bought),
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
                self.buy(&order, &via, &plan, bought, deadline).await?
            }
        };
        self.confirm(&order, &labels, &[], deadline).await?;
        Ok(Outcome::Confirmed)
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The order's packages by the seller's rules, each with its reference ("1", "2", ...)
    /// and the idempotency key of its label.
    fn plan(&self, order: &OrderForDispatch) -> Result<Vec<PlannedPackage>, Retry> {
        Ok(self
            .rules
            .packages(&order.lines)?
            .into_iter()
            .zip(1u32..)
            .map(|(p, n)| {
                let package_ref = n.to_string();
                PlannedPackage {
                    key: label_key(&order.seller_id, &order.order_id, &package_ref),
                    package_ref,
                    parcel: p.parcel,
                    items: p.items,
                }
            })
            .collect())
    }

    /// Buy the label of every planned package not `bought` yet, each under its own key and
    /// recorded as soon as the carrier sold it; the address is unsealed once for all of them.
    /// Returns every package's label, in plan order.
    async fn buy(
        &self,
        order: &OrderForDispatch,
        via: &str,
        plan: &[PlannedPackage],
        mut bought: Vec<PurchasedLabel>,
        deadline: Instant,
    ) -> Result<Vec<PurchasedLabel>, Retry> {
        let todo: Vec<&PlannedPackage> = plan
            .iter()
            .filter(|p| !bought.iter().any(|l| l.package_ref == p.package_ref))
            .collect();
        if todo.is_empty() {
            return Ok(bought);
        }
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
        let phone = self
            .rules
            .phone_required(route, order.ship_country.as_deref());
        for package in todo {
            let shipment = MinimalShipment::from_shipping(
                &shipping,
                package.key.clone(),
                self.rules.ship_from.clone(),
                package.parcel,
                phone,
            )?;
            let key = package.key.as_str();
            let created = self
                .carrier_call(via, deadline, |carrier| {
                    let shipment = &shipment;
                    async move { carrier.create_shipment(shipment, route.policy, key).await }
                })
                .await?;
            drop(shipment);
            let label = PurchasedLabel {
                shipment: created,
                purchased_at: self.now().format(&Rfc3339).unwrap_or_default(),
                package_ref: package.package_ref.clone(),
                items: package.items.clone(),
            };
            // The ship date is the first label's purchase: orderseal confirms with it.
            let anchored = bought
                .is_empty()
                .then(|| self.retention.shipment_expiry(self.now()))
                .flatten()
                .map(time::OffsetDateTime::unix_timestamp);
            let others = other_refs(plan.iter().map(|p| &p.package_ref), &package.package_ref);
            let completes = (bought.len() + 1 == plan.len()).then_some(others.as_slice());
            self.store
                .label_purchased(
                    &order.seller_id,
                    &order.order_id,
                    &label,
                    completes,
                    anchored,
                )
                .await?;
            info!(
                via,
                carrier = %label.shipment.carrier,
                service = %label.shipment.service,
                package = %label.package_ref,
                packages = plan.len(),
                tracking_number = %label.shipment.tracking_number,
                "label purchased"
            );
            bought.push(label);
        }
        drop(shipping);
        bought.sort_by_key(|l| plan.iter().position(|p| p.package_ref == l.package_ref));
        Ok(bought)
    }

    /// Void the labels of an order cancelled after they were bought, each under its own key (a
    /// retry asks for the same refund), and record the carrier's answers.
    async fn void(
        &self,
        order: &OrderForDispatch,
        labels: &[PurchasedLabel],
        deadline: Instant,
    ) -> Result<Outcome, Retry> {
        let mut voids = Vec::with_capacity(labels.len());
        for label in labels {
            let via = &label.shipment.via;
            let key = label_key(&order.seller_id, &order.order_id, &label.package_ref);
            let outcome = self
                .carrier_call(via, deadline, |carrier| {
                    let key = &key;
                    async move { carrier.void_label(&label.shipment, key).await }
                })
                .await?;
            if outcome.status.settled() {
                info!(
                    via = %via,
                    carrier = %label.shipment.carrier,
                    package = %label.package_ref,
                    tracking_number = %label.shipment.tracking_number,
                    void_status = outcome.status.as_str(),
                    "cancelled after its label was bought: label voided"
                );
            } else {
                warn!(
                    via = %via,
                    package = %label.package_ref,
                    tracking_number = %label.shipment.tracking_number,
                    reason = "void_rejected",
                    "the carrier refused to void the label: ask it again, or take it up with the carrier"
                );
            }
            voids.push((label.package_ref.clone(), outcome));
        }
        let void = RecordedVoid::of(voids, self.now().format(&Rfc3339).unwrap_or_default());
        let status = void.outcome.status;
        let recorded = self
            .store
            .label_voided(&order.seller_id, &order.order_id, labels, &void)
            .await?;
        info!(void_status = status.as_str(), recorded, "voids recorded");
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

    /// `confirmShipment` for every package not `confirmed` yet, one request per package with
    /// its own items, each recorded as Amazon accepts it.
    async fn confirm(
        &self,
        order: &OrderForDispatch,
        labels: &[PurchasedLabel],
        confirmed: &[String],
        deadline: Instant,
    ) -> Result<(), Retry> {
        let mut done: Vec<String> = confirmed.to_vec();
        for label in labels {
            if done.contains(&label.package_ref) {
                continue;
            }
            // Amazon's code for the carrier in the order's marketplace, or Other with its name.
            let (carrier_code, carrier_name) = orderseal::carriers::amazon::carrier_code(
                &order.marketplace_id,
                &label.shipment.carrier,
            );
            // A label recorded before orders had packages holds the whole order.
            let items: Vec<PackageItem> = if label.items.is_empty() {
                order
                    .lines
                    .iter()
                    .map(|l| PackageItem {
                        order_item_id: l.order_item_id.clone(),
                        quantity: l.quantity,
                    })
                    .collect()
            } else {
                label.items.clone()
            };
            let body = ConfirmShipmentRequest {
                marketplace_id: order.marketplace_id.clone(),
                package_detail: PackageDetail {
                    package_reference_id: label.package_ref.clone(),
                    carrier_code,
                    carrier_name,
                    shipping_method: Some(label.shipment.service.clone()),
                    tracking_number: label.shipment.tracking_number.clone(),
                    ship_date: label.purchased_at.clone(),
                    order_items: items
                        .into_iter()
                        .map(|i| ConfirmShipmentOrderItem {
                            order_item_id: i.order_item_id,
                            quantity: i.quantity,
                        })
                        .collect(),
                },
            };
            self.amazon
                .confirm(&order.seller_id, &order.order_id, &body, deadline)
                .await?;
            let others = other_refs(labels.iter().map(|l| &l.package_ref), &label.package_ref);
            let completes = (done.len() + 1 == labels.len()).then_some(others.as_slice());
            self.store
                .confirmed(
                    &order.seller_id,
                    &order.order_id,
                    &label.package_ref,
                    completes,
                    &self.now().format(&Rfc3339).unwrap_or_default(),
                )
                .await?;
            done.push(label.package_ref.clone());
        }
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
