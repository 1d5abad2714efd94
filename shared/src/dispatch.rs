//! The dispatch side of the order record: what dispatch reads, and the conditional state
//! transitions UNSHIPPED → LABEL_PENDING → LABEL_PURCHASED → CONFIRMED, or LABEL_PURCHASED (or a
//! LABEL_PENDING with labels bought) → LABEL_VOIDED once an order cancelled after its labels were
//! bought has them voided.
//!
//! An order ships as one or more packages, planned from the seller's SKU rules before anything
//! is bought. `LABEL_PENDING` records the chosen carrier adapter and that plan - each package
//! with its idempotency key and its items - *before* a label is bought, so a retry after a crash
//! reuses both and the carrier answers the same purchase again instead of selling a second
//! label. Each package's label is recorded as it is bought (`labels`, by package reference), and
//! each confirmation to Amazon as it is accepted (`confirmed_packages`): a retry resumes at the
//! first package not done. The write that records the last package moves the order on, and only
//! if every other package is recorded.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::carriers::{Parcel, ShipmentCreated, VoidOutcome, VoidStatus};
use crate::seal::SealedBlob;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchState {
    /// Nothing done yet.
    Ready,
    /// A carrier and the packages were chosen; `bought` holds the labels recorded so far (a
    /// label may have been bought for the next package and not recorded yet).
    LabelPending {
        via: String,
        plan: Vec<PlannedPackage>,
        bought: Vec<PurchasedLabel>,
    },
    /// Every package's label is bought; Amazon has `confirmed` (package references) of them.
    LabelPurchased {
        labels: Vec<PurchasedLabel>,
        confirmed: Vec<String>,
    },
    /// Amazon accepted the confirmation of every package.
    Confirmed(Vec<PurchasedLabel>),
    /// The order was cancelled after its labels were bought; the carrier voided them.
    Voided {
        labels: Vec<PurchasedLabel>,
        void: RecordedVoid,
    },
}

/// One line of a package: which order item, how many of its units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageItem {
    pub order_item_id: String,
    pub quantity: u32,
}

/// One package of an order's shipment, as planned before anything is bought
/// (`dispatch_packages`, JSON; no PII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedPackage {
    /// What Amazon calls `packageReferenceId`: "1", "2", ... in plan order.
    pub package_ref: String,
    /// The carrier's idempotency key for this package's label.
    pub key: String,
    pub parcel: Parcel,
    pub items: Vec<PackageItem>,
}

/// The void of an order's labels as kept on the order (`label_void`, JSON; no PII): the
/// overall outcome (`rejected` if the carrier refused any of them), and per package when the
/// order had more than one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedVoid {
    #[serde(flatten)]
    pub outcome: VoidOutcome,
    /// RFC 3339.
    pub at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageVoid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageVoid {
    pub package_ref: String,
    #[serde(flatten)]
    pub outcome: VoidOutcome,
}

impl RecordedVoid {
    /// The record of voiding `voids` (one per label, in package order; at least one).
    pub fn of(voids: Vec<(String, VoidOutcome)>, at: String) -> Self {
        // Refused anywhere: refused (asked again); else still pending anywhere: submitted.
        let overall = [VoidStatus::Rejected, VoidStatus::Submitted]
            .into_iter()
            .find_map(|s| voids.iter().find(|(_, o)| o.status == s))
            .or(voids.first())
            .map(|(_, o)| o.clone())
            .unwrap_or(VoidOutcome {
                status: VoidStatus::NotApplicable,
                refund_ref: None,
            });
        let packages = if voids.len() > 1 {
            voids
                .into_iter()
                .map(|(package_ref, outcome)| PackageVoid {
                    package_ref,
                    outcome,
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            outcome: overall,
            at,
            packages,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchasedLabel {
    pub shipment: ShipmentCreated,
    /// RFC 3339.
    pub purchased_at: String,
    /// Our package reference for confirmShipment (positive number).
    pub package_ref: String,
    /// What the package holds (empty on a label recorded before orders had packages: the
    /// whole order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<PackageItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchLine {
    pub order_item_id: String,
    pub seller_sku: Option<String>,
    pub quantity: u32,
}

/// `dispatch_state` once Amazon has the shipment confirmation: nothing left to do.
pub const CONFIRMED_STATE: &str = "CONFIRMED";
/// `dispatch_state` once every label is bought, before Amazon has every confirmation.
pub const LABEL_PURCHASED_STATE: &str = "LABEL_PURCHASED";
/// `dispatch_state` once a carrier and the packages are chosen, before every label is bought.
pub const LABEL_PENDING_STATE: &str = "LABEL_PENDING";

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
    /// A retry: use the recorded carrier and plan; `bought` are the labels recorded so far.
    AlreadyPending {
        via: String,
        plan: Vec<PlannedPackage>,
        bought: Vec<PurchasedLabel>,
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

    /// Ready → LABEL_PENDING with the carrier and the package plan, only while still
    /// UNSHIPPED, merchant-fulfilled, not held, not erased, and no cancellation asked for.
    fn begin(
        &self,
        seller_id: &str,
        order_id: &str,
        via: &str,
        plan: &[PlannedPackage],
    ) -> impl Future<Output = Result<Begin, StoreError>> + Send;

    /// Record one package's label (idempotent for the same label; refused for another label
    /// of that package). With `completes` (the plan's other package references, every one
    /// recorded already) the order moves to LABEL_PURCHASED. With `anchored_expiry` (the
    /// shipment anchor: ship date + retention, epoch seconds) the label also fixes the PII
    /// expiry, unless an earlier anchor did.
    fn label_purchased(
        &self,
        seller_id: &str,
        order_id: &str,
        label: &PurchasedLabel,
        completes: Option<&[String]>,
        anchored_expiry: Option<i64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record Amazon's acceptance of one package's confirmation; with `completes` (the other
    /// packages, every one confirmed already) LABEL_PURCHASED → CONFIRMED.
    fn confirmed(
        &self,
        seller_id: &str,
        order_id: &str,
        package_ref: &str,
        completes: Option<&[String]>,
        at: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record a void of these labels (the order's, as loaded): → LABEL_VOIDED, or, when the
    /// carrier refused any, the refusal alone (the state stays: a later cancellation notice
    /// asks again). `false`: the order was no longer at these labels (voided already, or
    /// changed).
    fn label_voided(
        &self,
        seller_id: &str,
        order_id: &str,
        labels: &[PurchasedLabel],
        void: &RecordedVoid,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

#[cfg(feature = "dynamodb")]
pub use dynamo::{DynamoDispatchStore, labels_of};

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
        dispatch_state, dispatch_via, dispatch_packages, labels, label, label_void, confirmed_packages, \
        cancel_requested, review_state";
    /// What dispatch reads of the sealed-PII item: the `shipping` blob only (never `contact` or
    /// `gift`). Its IAM policy allows no other attribute.
    const PII_PROJECTION: &str = "pk, sk, pii_shipping";

    const PENDING: &str = super::LABEL_PENDING_STATE;
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

    /// An order's labels in package order: the `labels` map (package reference → label JSON),
    /// or the single `label` of an order recorded before orders had packages.
    pub fn labels_of(
        item: &HashMap<String, AttributeValue>,
    ) -> Result<Vec<PurchasedLabel>, StoreError> {
        let parse = |text: &str| {
            serde_json::from_str::<PurchasedLabel>(text)
                .map_err(|_| StoreError::Malformed("labels"))
        };
        let mut labels = match item.get("labels") {
            Some(AttributeValue::M(m)) => m
                .values()
                .map(|v| v.as_s().map_err(|_| StoreError::Malformed("labels")))
                .map(|v| v.and_then(|t| parse(t)))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(StoreError::Malformed("labels")),
            None => match get_s(item, "label") {
                Some(text) => vec![parse(&text)?],
                None => Vec::new(),
            },
        };
        labels.sort_by_key(|l| {
            (
                l.package_ref.parse::<u64>().unwrap_or(u64::MAX),
                l.package_ref.clone(),
            )
        });
        Ok(labels)
    }

    /// `#r0`, `#r1`, ... for the package references in `refs`, with a condition clause per
    /// reference built by `clause` from its placeholder.
    fn ref_names(
        refs: &[String],
        prefix: &str,
        clause: impl Fn(&str, usize) -> String,
    ) -> (Vec<String>, HashMap<String, String>) {
        let mut clauses = Vec::new();
        let mut names = HashMap::new();
        for (i, r) in refs.iter().enumerate() {
            let name = format!("#{prefix}{i}");
            clauses.push(clause(&name, i));
            names.insert(name, r.clone());
        }
        (clauses, names)
    }

    /// The package plan recorded at `begin` (at least one package).
    fn plan_of(item: &HashMap<String, AttributeValue>) -> Result<Vec<PlannedPackage>, StoreError> {
        get_s(item, "dispatch_packages")
            .and_then(|text| serde_json::from_str::<Vec<PlannedPackage>>(&text).ok())
            .filter(|plan| !plan.is_empty())
            .ok_or(StoreError::Malformed("dispatch_packages"))
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
        let labels = labels_of(item)?;
        let some = |labels: Vec<PurchasedLabel>| {
            if labels.is_empty() {
                Err(StoreError::Malformed("labels"))
            } else {
                Ok(labels)
            }
        };
        let state = match get_s(item, "dispatch_state").as_deref() {
            None => DispatchState::Ready,
            Some(PENDING) => DispatchState::LabelPending {
                via: get_s(item, "dispatch_via").ok_or(StoreError::Malformed("dispatch_via"))?,
                plan: plan_of(item)?,
                bought: labels,
            },
            Some(PURCHASED) => DispatchState::LabelPurchased {
                labels: some(labels)?,
                confirmed: item
                    .get("confirmed_packages")
                    .and_then(|v| v.as_ss().ok())
                    .cloned()
                    .unwrap_or_default(),
            },
            // Nothing left to do with these labels (an erased order keeps none).
            Some(CONFIRMED) => DispatchState::Confirmed(labels),
            Some(VOIDED) => DispatchState::Voided {
                labels,
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
            plan: &[PlannedPackage],
        ) -> Result<Begin, StoreError> {
            let plan_text = serde_json::to_string(plan).expect("plain struct serializes");
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(seller_id, order_id)))
                .update_expression(
                    "SET dispatch_state = :pending, dispatch_via = :via, dispatch_packages = :plan, labels = :none",
                )
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
                .expression_attribute_values(":plan", s(plan_text))
                .expression_attribute_values(":none", AttributeValue::M(HashMap::new()))
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
                                "dispatch_state, dispatch_via, dispatch_packages, labels",
                            )
                            .await?
                            .unwrap_or_default();
                        match (
                            get_s(&old, "dispatch_state").as_deref(),
                            get_s(&old, "dispatch_via"),
                        ) {
                            (Some(PENDING), Some(via)) => Ok(Begin::AlreadyPending {
                                via,
                                plan: plan_of(&old)?,
                                bought: labels_of(&old)?,
                            }),
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
            completes: Option<&[String]>,
            anchored_expiry: Option<i64>,
        ) -> Result<(), StoreError> {
            use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
            let text = serde_json::to_string(label).expect("plain struct serializes");
            let built = |e: aws_sdk_dynamodb::error::BuildError| {
                let _ = e;
                StoreError::Malformed("transaction request")
            };
            // The package's label is recorded and its tracking number starts pointing at the
            // order, in one transaction (carrier callbacks find the order through it). The
            // order's own `tracking_number`/`carrier` are its first recorded label's.
            let mut set = vec![
                "labels.#ref = :label",
                "tracking_number = if_not_exists(tracking_number, :tracking)",
                "carrier = if_not_exists(carrier, :carrier)",
            ];
            // Every other package recorded: this write completes the order's labels.
            let (others, mut names) = ref_names(completes.unwrap_or_default(), "o", |name, _| {
                format!("attribute_exists(labels.{name})")
            });
            if completes.is_some() {
                set.push("dispatch_state = :purchased");
            }
            if anchored_expiry.is_some() {
                // The first anchor wins (a repeat of this write, or an earlier shipped version).
                set.push("anchored_expires_at = if_not_exists(anchored_expires_at, :exp)");
                set.push("pii_expires_at = if_not_exists(anchored_expires_at, :exp)");
            }
            let fresh = std::iter::once(
                "dispatch_state = :pending AND (attribute_not_exists(labels.#ref) OR labels.#ref = :label)"
                    .to_owned(),
            )
            .chain(others)
            .collect::<Vec<_>>()
            .join(" AND ");
            names.insert("#ref".to_owned(), label.package_ref.clone());
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(self.key(seller_id, order_id)))
                .update_expression(format!("SET {}", set.join(", ")))
                .condition_expression(format!(
                    "({fresh}) OR (dispatch_state = :purchased AND labels.#ref = :label)"
                ))
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(
                    anchored_expiry.map(|exp| HashMap::from([(":exp".to_owned(), n(exp))])),
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
                    match (
                        reasons.first().and_then(Option::as_deref),
                        reasons.get(1).and_then(Option::as_deref),
                    ) {
                        (_, Some("ConditionalCheckFailed")) => Err(StoreError::Conflict(
                            "tracking number already bound to another order",
                        )),
                        // Another label for this package, or the last package recorded before
                        // every other one: read the order again.
                        (Some("ConditionalCheckFailed"), _) => Err(StoreError::Conflict(
                            "the order's labels changed under this write",
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
            package_ref: &str,
            completes: Option<&[String]>,
            at: &str,
        ) -> Result<(), StoreError> {
            let others = completes.unwrap_or_default();
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(seller_id, order_id)))
                .update_expression(if completes.is_some() {
                    "ADD confirmed_packages :ref SET dispatch_state = :confirmed, confirmed_at = if_not_exists(confirmed_at, :at)"
                } else {
                    "ADD confirmed_packages :ref SET confirmed_at = if_not_exists(confirmed_at, :at)"
                })
                .condition_expression(
                    std::iter::once("dispatch_state IN (:purchased, :confirmed)".to_owned())
                        .chain((0..others.len()).map(|i| format!("contains(confirmed_packages, :o{i})")))
                        .collect::<Vec<_>>()
                        .join(" AND "),
                )
                .expression_attribute_values(":ref", AttributeValue::Ss(vec![package_ref.to_owned()]))
                .expression_attribute_values(":confirmed", s(CONFIRMED))
                .expression_attribute_values(":purchased", s(PURCHASED))
                .expression_attribute_values(":at", s(at));
            for (i, r) in others.iter().enumerate() {
                update = update.expression_attribute_values(format!(":o{i}"), s(r));
            }
            if crate::aws::ddb::applied("UpdateItem", update.send().await)? {
                Ok(())
            } else {
                Err(StoreError::Conflict(
                    "a package confirmation is missing or the order moved on",
                ))
            }
        }

        async fn label_voided(
            &self,
            seller_id: &str,
            order_id: &str,
            labels: &[PurchasedLabel],
            void: &RecordedVoid,
        ) -> Result<bool, StoreError> {
            let refs: Vec<String> = labels.iter().map(|l| l.package_ref.clone()).collect();
            let (same, names) = ref_names(&refs, "l", |name, i| format!("labels.{name} = :l{i}"));
            let void_text = serde_json::to_string(void).expect("plain struct serializes");
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(seller_id, order_id)))
                .condition_expression(
                    std::iter::once("dispatch_state IN (:purchased, :pending)".to_owned())
                        .chain(same)
                        .collect::<Vec<_>>()
                        .join(" AND "),
                )
                .set_expression_attribute_names(Some(names))
                .expression_attribute_values(":purchased", s(PURCHASED))
                .expression_attribute_values(":pending", s(PENDING))
                .expression_attribute_values(":void", s(void_text));
            for (i, label) in labels.iter().enumerate() {
                let text = serde_json::to_string(label).expect("plain struct serializes");
                update = update.expression_attribute_values(format!(":l{i}"), s(text));
            }
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
