//! The dispatch side of the order record: what dispatch reads, and the conditional state
//! transitions UNSHIPPED → LABEL_PENDING → LABEL_PURCHASED → CONFIRMED, or LABEL_PURCHASED →
//! LABEL_VOIDED once an order cancelled after its label was bought has its label voided.
//!
//! `LABEL_PENDING` records the chosen carrier adapter and the idempotency key *before* a label is
//! bought, so a retry after a crash reuses both and the carrier answers the same purchase again
//! instead of selling a second label.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::carriers::{ShipmentCreated, VoidOutcome};
use crate::seal::SealedBlob;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchState {
    /// Nothing done yet.
    Ready,
    /// A carrier was chosen; the label may or may not have been bought.
    LabelPending { via: String, key: String },
    /// The label is bought; Amazon has not confirmed yet.
    LabelPurchased(PurchasedLabel),
    /// Amazon accepted the shipment confirmation.
    Confirmed(PurchasedLabel),
    /// The order was cancelled after its label was bought; the carrier voided the label.
    Voided {
        label: PurchasedLabel,
        void: RecordedVoid,
    },
}

/// A label's void as kept on the order (`label_void`, JSON; no PII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedVoid {
    #[serde(flatten)]
    pub outcome: VoidOutcome,
    /// RFC 3339.
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchasedLabel {
    pub shipment: ShipmentCreated,
    /// RFC 3339.
    pub purchased_at: String,
    /// Our package reference for confirmShipment (positive number).
    pub package_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchLine {
    pub order_item_id: String,
    pub seller_sku: Option<String>,
    pub quantity: u32,
}

/// `dispatch_state` once Amazon has the shipment confirmation: nothing left to do.
pub const CONFIRMED_STATE: &str = "CONFIRMED";
/// `dispatch_state` once a label is bought, before Amazon has the confirmation.
pub const LABEL_PURCHASED_STATE: &str = "LABEL_PURCHASED";

/// What dispatch reads of an order: business facts, the sealed `shipping` blob, the state.
#[derive(Debug, Clone)]
pub struct OrderForDispatch {
    pub seller_id: String,
    pub order_id: String,
    pub marketplace_id: String,
    pub fulfillment_status: String,
    pub fulfilled_by: String,
    pub ship_country: Option<String>,
    pub lines: Vec<DispatchLine>,
    pub pii_expires_at: i64,
    pub erased: bool,
    pub held: bool,
    /// A fraud rule matched at ingest (`HELD_FOR_REVIEW`) or the reviewer cancelled it: nothing
    /// is bought until a reviewer releases it.
    pub review_state: Option<String>,
    /// The buyer asked to cancel: nothing is bought or confirmed until the seller decides.
    pub cancel_requested: bool,
    pub shipping: Option<SealedBlob>,
    pub state: DispatchState,
}

/// Why an order is not (or no longer) shippable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotShippable {
    Canceled,
    NotUnshipped,
    NotMerchantFulfilled,
    Held,
    HeldForReview,
    CancelledAfterReview,
    CancelRequested,
    PiiErased,
    PiiExpired,
    NoAddress,
}

impl NotShippable {
    pub fn as_str(self) -> &'static str {
        match self {
            NotShippable::Canceled => "canceled",
            NotShippable::NotUnshipped => "not_unshipped",
            NotShippable::NotMerchantFulfilled => "not_merchant_fulfilled",
            NotShippable::Held => "held",
            NotShippable::HeldForReview => "held_for_review",
            NotShippable::CancelledAfterReview => "cancelled_after_review",
            NotShippable::CancelRequested => "buyer_cancel_requested",
            NotShippable::PiiErased => "pii_erased",
            NotShippable::PiiExpired => "pii_expired",
            NotShippable::NoAddress => "no_address",
        }
    }
}

impl OrderForDispatch {
    /// Amazon cancelled the order (or it can never be fulfilled): a label bought for it is
    /// voided with the carrier. A buyer's cancellation *request* is not enough — the seller
    /// decides it (cancelling on Amazon then brings the cancellation).
    pub fn label_must_be_voided(&self) -> bool {
        crate::order::status::never_ships(&self.fulfillment_status)
    }

    /// Re-checked right before buying anything.
    pub fn shippable(&self, now_unix: i64) -> Result<(), NotShippable> {
        use crate::order::status;
        if self.fulfillment_status == status::CANCELLED {
            return Err(NotShippable::Canceled);
        }
        if self.fulfilled_by != status::MERCHANT {
            return Err(NotShippable::NotMerchantFulfilled);
        }
        if self.fulfillment_status != status::UNSHIPPED {
            return Err(NotShippable::NotUnshipped);
        }
        if self.cancel_requested {
            return Err(NotShippable::CancelRequested);
        }
        if self.held {
            return Err(NotShippable::Held);
        }
        match self.review_state.as_deref() {
            None | Some(crate::fraud::RELEASED) => {}
            Some(crate::fraud::CANCELLED) => return Err(NotShippable::CancelledAfterReview),
            Some(_) => return Err(NotShippable::HeldForReview),
        }
        if self.erased {
            return Err(NotShippable::PiiErased);
        }
        // Readers treat PII past its expiry as erased even before the sweep ran (a held order
        // was refused above: a legal hold preserves PII, it does not make it usable).
        if !crate::retention::pii_state(self.pii_expires_at, None, false, now_unix).usable() {
            return Err(NotShippable::PiiExpired);
        }
        if self.shipping.is_none() {
            return Err(NotShippable::NoAddress);
        }
        Ok(())
    }
}

/// The outcome of trying to start a label purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    Started,
    /// A retry: use the recorded carrier and key.
    AlreadyPending {
        via: String,
        key: String,
    },
    /// The order changed under us (canceled, held, already further along).
    Refused,
}

/// Port: the order record as dispatch moves it along.
pub trait DispatchStore: Send + Sync {
    fn load(
        &self,
        seller_id: &str,
        order_id: &str,
    ) -> impl Future<Output = Result<Option<OrderForDispatch>, StoreError>> + Send;

    /// Ready → LABEL_PENDING, only while still UNSHIPPED, merchant-fulfilled, not held, not
    /// erased, and no cancellation asked for.
    fn begin(
        &self,
        seller_id: &str,
        order_id: &str,
        via: &str,
        key: &str,
    ) -> impl Future<Output = Result<Begin, StoreError>> + Send;

    /// LABEL_PENDING → LABEL_PURCHASED (idempotent for the same label).
    /// With `anchored_expiry` (the shipment anchor: ship date + retention, epoch seconds) the
    /// label also fixes the PII expiry, unless an earlier anchor did.
    fn label_purchased(
        &self,
        seller_id: &str,
        order_id: &str,
        label: &PurchasedLabel,
        anchored_expiry: Option<i64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// LABEL_PURCHASED → CONFIRMED.
    fn confirmed(
        &self,
        seller_id: &str,
        order_id: &str,
        at: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record a void of this label: LABEL_PURCHASED → LABEL_VOIDED, or, when the carrier
    /// refused it, the refusal alone (still LABEL_PURCHASED: a later cancellation notice asks
    /// again). `false`: the order was no longer at this label (voided already, or changed).
    fn label_voided(
        &self,
        seller_id: &str,
        order_id: &str,
        label: &PurchasedLabel,
        void: &RecordedVoid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoDispatchStore;

#[cfg(feature = "dynamodb")]
mod dynamo {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    use crate::aws::ddb::{get_n, n, s, store_error as err};
    use crate::layout::{ORDER_SK, PII_SK, order_pk, pii_attribute, pii_pk};
    use crate::order::status;
    use crate::seal::PiiClass;

    /// What dispatch reads of an order item: everything shipping needs and its own state.
    const LOAD_PROJECTION: &str = "pk, sk, seller_id, order_id, marketplace_id, fulfillment_status, \
        fulfilled_by, ship_country, #items, pii_expires_at, pii_erased_at, #hold, \
        dispatch_state, dispatch_via, dispatch_key, label, label_void, cancel_requested, review_state";
    /// What dispatch reads of the sealed-PII item: the `shipping` blob only (never `contact` or
    /// `gift`). Its IAM policy allows no other attribute.
    const PII_PROJECTION: &str = "pk, sk, pii_shipping";

    const PENDING: &str = "LABEL_PENDING";
    const PURCHASED: &str = super::LABEL_PURCHASED_STATE;
    const CONFIRMED: &str = super::CONFIRMED_STATE;
    const VOIDED: &str = "LABEL_VOIDED";

    #[derive(Debug, Clone)]
    pub struct DynamoDispatchStore {
        client: Client,
        table: String,
    }

    impl DynamoDispatchStore {
        pub fn new(client: Client, table: impl Into<String>) -> Self {
            Self {
                client,
                table: table.into(),
            }
        }

        /// A consistent read of the order's `projection` (placeholders `#items`, `#hold`).
        async fn get(
            &self,
            seller_id: &str,
            order_id: &str,
            projection: &str,
        ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
            let mut req = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(self.key(seller_id, order_id)))
                .projection_expression(projection)
                .consistent_read(true);
            for (placeholder, name) in [("#items", "items"), ("#hold", "hold")] {
                if projection.contains(placeholder) {
                    req = req.expression_attribute_names(placeholder, name);
                }
            }
            req.send()
                .await
                .map(|o| o.item)
                .map_err(|e| err("GetItem", &e))
        }

        /// The order item and its sealed-PII item, read together (one consistent snapshot).
        async fn get_with_pii(
            &self,
            seller_id: &str,
            order_id: &str,
        ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
            use aws_sdk_dynamodb::types::{Get, TransactGetItem};
            let built = |_| StoreError::Malformed("transaction request");
            let order = Get::builder()
                .table_name(&self.table)
                .set_key(Some(self.key(seller_id, order_id)))
                .projection_expression(LOAD_PROJECTION)
                .expression_attribute_names("#items", "items")
                .expression_attribute_names("#hold", "hold")
                .build()
                .map_err(built)?;
            let pii = Get::builder()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    AttributeValue::S(pii_pk(seller_id, order_id)),
                )
                .key(crate::layout::SORT_KEY, AttributeValue::S(PII_SK.into()))
                .projection_expression(PII_PROJECTION)
                .build()
                .map_err(built)?;
            let out = self
                .client
                .transact_get_items()
                .transact_items(TransactGetItem::builder().get(order).build())
                .transact_items(TransactGetItem::builder().get(pii).build())
                .send()
                .await
                .map_err(|e| err("TransactGetItems", &e))?;
            let mut responses = out.responses.unwrap_or_default().into_iter();
            let Some(mut item) = responses.next().and_then(|r| r.item) else {
                return Ok(None);
            };
            let attr = pii_attribute(PiiClass::Shipping);
            if let Some(blob) = responses
                .next()
                .and_then(|r| r.item)
                .and_then(|mut p| p.remove(attr))
            {
                item.insert(attr.to_owned(), blob);
            }
            Ok(Some(item))
        }

        fn key(&self, seller_id: &str, order_id: &str) -> HashMap<String, AttributeValue> {
            HashMap::from([
                (
                    crate::layout::PARTITION_KEY.to_owned(),
                    AttributeValue::S(order_pk(seller_id, order_id)),
                ),
                (
                    crate::layout::SORT_KEY.to_owned(),
                    AttributeValue::S(ORDER_SK.into()),
                ),
            ])
        }
    }
    fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
        item.get(k).and_then(|v| v.as_s().ok()).cloned()
    }

    fn label_of(item: &HashMap<String, AttributeValue>) -> Result<PurchasedLabel, StoreError> {
        let text = get_s(item, "label").ok_or(StoreError::Malformed("label"))?;
        serde_json::from_str(&text).map_err(|_| StoreError::Malformed("label"))
    }

    fn parse(item: &HashMap<String, AttributeValue>) -> Result<OrderForDispatch, StoreError> {
        let lines = item
            .get("items")
            .and_then(|v| v.as_l().ok())
            .ok_or(StoreError::Malformed("items"))?
            .iter()
            .filter_map(|l| {
                let m = l.as_m().ok()?;
                Some(DispatchLine {
                    order_item_id: get_s(m, "order_item_id")?,
                    seller_sku: get_s(m, "seller_sku"),
                    quantity: u32::try_from(get_n(m, "quantity")?).ok()?,
                })
            })
            .collect();
        let state = match get_s(item, "dispatch_state").as_deref() {
            None => DispatchState::Ready,
            Some(PENDING) => DispatchState::LabelPending {
                via: get_s(item, "dispatch_via").ok_or(StoreError::Malformed("dispatch_via"))?,
                key: get_s(item, "dispatch_key").ok_or(StoreError::Malformed("dispatch_key"))?,
            },
            Some(PURCHASED) => DispatchState::LabelPurchased(label_of(item)?),
            Some(CONFIRMED) => DispatchState::Confirmed(label_of(item)?),
            Some(VOIDED) => DispatchState::Voided {
                label: label_of(item)?,
                void: get_s(item, "label_void")
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .ok_or(StoreError::Malformed("label_void"))?,
            },
            Some(_) => return Err(StoreError::Malformed("dispatch_state")),
        };
        let shipping = match item.get(pii_attribute(PiiClass::Shipping)) {
            Some(AttributeValue::B(b)) => Some(
                SealedBlob::from_bytes(b.as_ref())
                    .map_err(|_| StoreError::Malformed("pii_shipping"))?,
            ),
            _ => None,
        };
        Ok(OrderForDispatch {
            seller_id: get_s(item, "seller_id").ok_or(StoreError::Malformed("seller_id"))?,
            order_id: get_s(item, "order_id").ok_or(StoreError::Malformed("order_id"))?,
            marketplace_id: get_s(item, "marketplace_id").unwrap_or_default(),
            fulfillment_status: get_s(item, "fulfillment_status").unwrap_or_default(),
            fulfilled_by: get_s(item, "fulfilled_by").unwrap_or_default(),
            ship_country: get_s(item, "ship_country"),
            lines,
            pii_expires_at: get_n(item, "pii_expires_at").unwrap_or(0),
            erased: item.contains_key("pii_erased_at"),
            held: item.contains_key("hold"),
            review_state: get_s(item, "review_state"),
            cancel_requested: item
                .get("cancel_requested")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            shipping,
            state,
        })
    }

    impl DispatchStore for DynamoDispatchStore {
        async fn load(
            &self,
            seller_id: &str,
            order_id: &str,
        ) -> Result<Option<OrderForDispatch>, StoreError> {
            self.get_with_pii(seller_id, order_id)
                .await?
                .as_ref()
                .map(parse)
                .transpose()
        }

        async fn begin(
            &self,
            seller_id: &str,
            order_id: &str,
            via: &str,
            key: &str,
        ) -> Result<Begin, StoreError> {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(seller_id, order_id)))
                .update_expression("SET dispatch_state = :pending, dispatch_via = :via, dispatch_key = :key")
                .condition_expression(
                    "attribute_not_exists(dispatch_state) AND fulfillment_status = :unshipped AND fulfilled_by = :merchant \
                     AND attribute_not_exists(#hold) AND attribute_not_exists(pii_erased_at) \
                     AND (attribute_not_exists(cancel_requested) OR cancel_requested = :no) \
                     AND (attribute_not_exists(review_state) OR review_state = :released)",
                )
                .expression_attribute_values(":no", AttributeValue::Bool(false))
                .expression_attribute_values(":released", s(crate::fraud::RELEASED))
                .expression_attribute_names("#hold", "hold")
                .expression_attribute_values(":pending", s(PENDING))
                .expression_attribute_values(":via", s(via))
                .expression_attribute_values(":key", s(key))
                .expression_attribute_values(":unshipped", s(status::UNSHIPPED))
                .expression_attribute_values(":merchant", s(status::MERCHANT))
                .send()
                .await;
            match result {
                Ok(_) => Ok(Begin::Started),
                Err(e) => match e.as_service_error() {
                    // Another attempt got there first (or the order is not shippable): read its
                    // state back - a failed condition would return the whole item, blobs too.
                    Some(UpdateItemError::ConditionalCheckFailedException(_)) => {
                        let old = self
                            .get(
                                seller_id,
                                order_id,
                                "dispatch_state, dispatch_via, dispatch_key",
                            )
                            .await?
                            .unwrap_or_default();
                        match (
                            get_s(&old, "dispatch_state").as_deref(),
                            get_s(&old, "dispatch_via"),
                            get_s(&old, "dispatch_key"),
                        ) {
                            (Some(PENDING), Some(via), Some(key)) => {
                                Ok(Begin::AlreadyPending { via, key })
                            }
                            _ => Ok(Begin::Refused),
                        }
                    }
                    _ => Err(err("UpdateItem", &e)),
                },
            }
        }

        async fn label_purchased(
            &self,
            seller_id: &str,
            order_id: &str,
            label: &PurchasedLabel,
            anchored_expiry: Option<i64>,
        ) -> Result<(), StoreError> {
            use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
            let text = serde_json::to_string(label).expect("plain struct serializes");
            let built = |e: aws_sdk_dynamodb::error::BuildError| {
                let _ = e;
                StoreError::Malformed("transaction request")
            };
            // The order moves to LABEL_PURCHASED and the tracking number starts pointing at it,
            // in one transaction (carrier callbacks find the order through it).
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(self.key(seller_id, order_id)));
            update = match anchored_expiry {
                // The first anchor wins (a repeat of this write, or an earlier shipped version).
                Some(exp) => update
                    .update_expression(
                        "SET dispatch_state = :purchased, label = :label, tracking_number = :tracking, \
                         carrier = :carrier, anchored_expires_at = if_not_exists(anchored_expires_at, :exp), \
                         pii_expires_at = if_not_exists(anchored_expires_at, :exp)",
                    )
                    .expression_attribute_values(":exp", n(exp)),
                None => update.update_expression(
                    "SET dispatch_state = :purchased, label = :label, tracking_number = :tracking, carrier = :carrier",
                ),
            };
            let update = update
                .condition_expression(
                    "dispatch_state = :pending OR (dispatch_state = :purchased AND label = :label)",
                )
                .expression_attribute_values(":pending", s(PENDING))
                .expression_attribute_values(":purchased", s(PURCHASED))
                .expression_attribute_values(":label", s(text))
                .expression_attribute_values(":tracking", s(&label.shipment.tracking_number))
                .expression_attribute_values(":carrier", s(&label.shipment.carrier))
                .build()
                .map_err(built)?;
            // Bound to the route that bought the label (only its webhooks find the order), and
            // never moved to another order: a repeat for this order rewrites the same binding.
            let labelled_at = OffsetDateTime::parse(&label.purchased_at, &Rfc3339)
                .map_err(|_| StoreError::Malformed("purchased_at"))?;
            let lookup = Put::builder()
                .table_name(&self.table)
                .item(
                    crate::layout::PARTITION_KEY,
                    s(crate::layout::tracking_pk(
                        &label.shipment.via,
                        &label.shipment.tracking_number,
                    )),
                )
                .item(crate::layout::SORT_KEY, s("TRACKING"))
                .item("seller_id", s(seller_id))
                .item("order_id", s(order_id))
                .item("carrier", s(&label.shipment.carrier))
                .item("labelled_at", n(labelled_at.unix_timestamp()))
                .condition_expression(
                    "attribute_not_exists(pk) OR (seller_id = :seller AND order_id = :order)",
                )
                .expression_attribute_values(":seller", s(seller_id))
                .expression_attribute_values(":order", s(order_id))
                .build()
                .map_err(built)?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(update).build())
                .transact_items(TransactWriteItem::builder().put(lookup).build())
                .send()
                .await;
            match result {
                Ok(_) if anchored_expiry.is_some() => {
                    // The sealed-PII item's TTL follows the anchored expiry.
                    crate::store::ttl::sync_pii_ttl(&self.client, &self.table, seller_id, order_id)
                        .await
                }
                Ok(_) => Ok(()),
                Err(e) => {
                    let reasons = crate::aws::ddb::cancellation_reasons(&e);
                    match reasons.get(1).and_then(Option::as_deref) {
                        Some("ConditionalCheckFailed") => Err(StoreError::Conflict(
                            "tracking number already bound to another order",
                        )),
                        _ => Err(err("TransactWriteItems", &e)),
                    }
                }
            }
        }

        async fn confirmed(
            &self,
            seller_id: &str,
            order_id: &str,
            at: &str,
        ) -> Result<(), StoreError> {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(seller_id, order_id)))
                .update_expression("SET dispatch_state = :confirmed, confirmed_at = :at")
                .condition_expression("dispatch_state IN (:purchased, :confirmed)")
                .expression_attribute_values(":confirmed", s(CONFIRMED))
                .expression_attribute_values(":purchased", s(PURCHASED))
                .expression_attribute_values(":at", s(at))
                .send()
                .await;
            result.map(|_| ()).map_err(|e| err("UpdateItem", &e))
        }

        async fn label_voided(
            &self,
            seller_id: &str,
            order_id: &str,
            label: &PurchasedLabel,
            void: &RecordedVoid,
        ) -> Result<bool, StoreError> {
            let label = serde_json::to_string(label).expect("plain struct serializes");
            let void_text = serde_json::to_string(void).expect("plain struct serializes");
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(seller_id, order_id)))
                .condition_expression("dispatch_state = :purchased AND label = :label")
                .expression_attribute_values(":purchased", s(PURCHASED))
                .expression_attribute_values(":label", s(label))
                .expression_attribute_values(":void", s(void_text));
            let update = if void.outcome.status.settled() {
                update
                    .update_expression("SET dispatch_state = :voided, label_void = :void")
                    .expression_attribute_values(":voided", s(VOIDED))
            } else {
                update.update_expression("SET label_void = :void")
            };
            crate::aws::ddb::applied("UpdateItem", update.send().await)
        }
    }
}
