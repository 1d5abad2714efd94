//! The order records: the conditional writes that make duplicates and reordering harmless.
//!
//! Layout and the TTL rule: [`crate::layout`]. An order is two items: the order item (no PII:
//! facts, `ship_req` (`PENDING` → `SENT`, so a crash between the write and the enqueue is
//! repaired by the retry), retention state) and, while it holds PII, its sealed-PII item.
//!
//! A write of a newer version updates the order item first (conditional on the version, the
//! tombstone and a legal hold), then writes the sealed-PII item in a transaction that re-checks
//! the order item is still at that version and expiry, and marks `pii_written_ms`. A crash
//! between the two leaves the order item at the new version with the old PII item; the retry
//! sees its own version stored without `pii_written_ms` and writes the PII item then.
//!
//! Retention attributes (see [`crate::retention`]): `pii_shard` puts an order holding PII into
//! the sparse expiry index and is removed on erasure; `anchored_expires_at`, once the retention
//! anchor (ship date or delivery) is known, wins over the provisional expiry a later
//! notification computes; `hold_until` (a legal hold) raises the PII item's TTL while it lasts.

use std::collections::BTreeMap;
use std::future::Future;

use crate::order::OrderRecord;
use crate::seal::{PiiClass, SealedBlob};

/// Sealed class blobs of one order.
pub type SealedPii = BTreeMap<PiiClass, SealedBlob>;

/// Where the order's shipment request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentRequest {
    /// Due, not yet confirmed as enqueued.
    Pending,
    /// Enqueued.
    Sent,
}

impl ShipmentRequest {
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentRequest::Pending => "PENDING",
            ShipmentRequest::Sent => "SENT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "SENT" => Some(Self::Sent),
            _ => None,
        }
    }
}

/// What the conditional write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The record was new or older than ours and now holds our version.
    Written {
        shipment: Option<ShipmentRequest>,
        /// Cancelled (or unfulfillable) with a label bought: dispatch must void it.
        label_to_void: bool,
    },
    /// The stored record is as new or newer (or its PII was erased): nothing changed.
    Unchanged {
        shipment: Option<ShipmentRequest>,
        stored_needs_shipment: bool,
        /// As for `Written`, of the stored version: a void not recorded yet is asked again.
        label_to_void: bool,
    },
}

impl WriteOutcome {
    pub fn label_to_void(&self) -> bool {
        match self {
            WriteOutcome::Written { label_to_void, .. }
            | WriteOutcome::Unchanged { label_to_void, .. } => *label_to_void,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("order table {operation} failed: {code}")]
    Service {
        operation: &'static str,
        code: String,
    },
    #[error("stored item is malformed: {0}")]
    Malformed(&'static str),
    /// The write would break a binding another item already holds (e.g. a tracking number
    /// bound to another order); retrying cannot help.
    #[error("conflicting write refused: {0}")]
    Conflict(&'static str),
}

/// Port: the order records.
pub trait OrderStore: Send + Sync {
    /// Write `record` + `sealed` unless the stored record is as new or newer. PII is not
    /// stored for an order erased or past its expiry at `now`.
    fn upsert_if_newer(
        &self,
        record: &OrderRecord,
        sealed: &SealedPii,
        now: time::OffsetDateTime,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send;

    /// `ship_req` PENDING → SENT.
    fn mark_shipment_sent(
        &self,
        seller_id: &str,
        order_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The orders whose sealed PII is still held at the address `address_key`
    /// (`crate::fraud`): the fraud rules' history.
    fn address_priors(
        &self,
        _address_key: &str,
    ) -> impl Future<Output = Result<Vec<crate::fraud::Prior>, StoreError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Put the order on HELD_FOR_REVIEW for `rules`, audited in the same transaction, unless a
    /// review state is already set (held, or decided by a reviewer). `true` when this call
    /// held it.
    fn hold_for_review(
        &self,
        _seller_id: &str,
        _order_id: &str,
        _rules: &[&'static str],
        _now: time::OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async { Ok(false) }
    }
}

#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoOrderStore;

#[cfg(feature = "dynamodb")]
pub mod dynamo {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::{
        AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure,
    };
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    use super::*;
    use crate::aws::ddb::{get_n, n, s};
    use crate::clock::unix_millis;
    use crate::layout::{
        self, ORDER_SK, PII_SK, TTL, attr, order_pk, pii_attribute, pii_pk, registry_sk,
    };
    use crate::order::{Money, OrderLine, status};

    type Item = HashMap<String, AttributeValue>;

    #[derive(Debug, Clone)]
    pub struct DynamoOrderStore {
        client: Client,
        table: String,
        business_retention: time::Duration,
    }

    /// The registry of orders whose buyer asked to cancel (`pk = CANCEL_REQUESTS`,
    /// `sk = <seller>#<order>`): ids and when, no PII; the ops CLI lists it.
    pub use crate::layout::CANCEL_REQUESTS_PK;
    /// How long a registry entry lives unless the ops CLI prunes it first.
    pub const CANCEL_REQUEST_TTL: time::Duration = time::Duration::days(60);

    impl DynamoOrderStore {
        pub fn new(client: Client, table: impl Into<String>) -> Self {
            Self {
                client,
                table: table.into(),
                business_retention: crate::retention::DEFAULT_BUSINESS_RETENTION,
            }
        }

        /// How long the business record of an order that holds no PII is kept (the sweep
        /// writes the others' at erasure).
        pub fn with_business_retention(mut self, retention: time::Duration) -> Self {
            self.business_retention = retention;
            self
        }

        /// `orderseal dlq replay shipments`: arm the order's shipment request again
        /// (`ship_req` PENDING) before it is re-sent, then [`OrderStore::mark_shipment_sent`]
        /// after: should the replay stop in between, the order's next notification sends it
        /// (ingest's repair), as after a crash of ingest itself. `false`: nothing to ship — the
        /// order is confirmed already, or orderseal holds no such order.
        ///
        /// The state is read first rather than in the write's condition, so the operators'
        /// grant names `ship_req` alone (never `dispatch_state`). An order confirmed in between
        /// is left PENDING, which nothing acts on: dispatch finds it confirmed, and ingest
        /// re-sends only for an order still unshipped.
        pub async fn rearm_shipment(
            &self,
            seller_id: &str,
            order_id: &str,
        ) -> Result<bool, StoreError> {
            use crate::aws::ddb::{applied, get_s, store_error};
            let state = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(layout::PARTITION_KEY, s(order_pk(seller_id, order_id)))
                .key(layout::SORT_KEY, s(ORDER_SK))
                .projection_expression("pk, sk, dispatch_state")
                .send()
                .await
                .map_err(|e| store_error("GetItem", &e))?;
            let Some(item) = state.item else {
                return Ok(false);
            };
            if get_s(&item, "dispatch_state") == Some(crate::dispatch::CONFIRMED_STATE) {
                return Ok(false);
            }
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(layout::PARTITION_KEY, s(order_pk(seller_id, order_id)))
                .key(layout::SORT_KEY, s(ORDER_SK))
                .update_expression("SET ship_req = :pending")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":pending", s(ShipmentRequest::Pending.as_str()))
                .send()
                .await;
            applied("UpdateItem", result)
        }

        /// After a write: list a buyer's open cancellation request, and keep the business record
        /// of an order outside the expiry index (no sweep will ever write it).
        async fn after_write(
            &self,
            record: &OrderRecord,
            item: &HashMap<String, AttributeValue>,
            now: OffsetDateTime,
        ) -> Result<(), StoreError> {
            if record.cancel_requested
                && !matches!(
                    record.fulfillment_status.as_str(),
                    status::CANCELLED | status::SHIPPED | status::UNFULFILLABLE
                )
            {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .item(crate::layout::PARTITION_KEY, s(CANCEL_REQUESTS_PK))
                    .item(
                        crate::layout::SORT_KEY,
                        s(registry_sk(&record.seller_id, &record.order_id)),
                    )
                    .item("seller_id", s(&record.seller_id))
                    .item("order_id", s(&record.order_id))
                    .item("requested_at", s(iso_text(record.last_updated)))
                    .item(TTL, n((now + CANCEL_REQUEST_TTL).unix_timestamp()))
                    .send()
                    .await
                    .map_err(|e| crate::aws::ddb::store_error("PutItem", &e))?;
            }
            // The business record: for an order outside the expiry index (no sweep will ever
            // write it), and refreshed when the order ships or is canceled, so a closed month's
            // export is complete before any PII is erased.
            let closing = matches!(
                record.fulfillment_status.as_str(),
                status::SHIPPED | status::CANCELLED | status::UNFULFILLABLE
            );
            if !item.contains_key("pii_shard") || closing {
                crate::retention::dynamo::put_business_record(
                    &self.client,
                    &self.table,
                    item,
                    now + self.business_retention,
                )
                .await?;
            }
            Ok(())
        }

        pub fn client(&self) -> &Client {
            &self.client
        }

        pub fn table(&self) -> &str {
            &self.table
        }
    }
    fn iso_text(t: OffsetDateTime) -> String {
        t.format(&Rfc3339).expect("UTC timestamps format")
    }

    fn iso(t: OffsetDateTime) -> AttributeValue {
        s(iso_text(t))
    }

    fn money(m: &Money) -> AttributeValue {
        AttributeValue::M(HashMap::from([
            ("amount".to_owned(), s(&m.amount)),
            ("currency_code".to_owned(), s(&m.currency_code)),
        ]))
    }

    fn line(l: &OrderLine) -> AttributeValue {
        let mut m = HashMap::from([
            ("order_item_id".to_owned(), s(&l.order_item_id)),
            ("quantity".to_owned(), n(l.quantity)),
            ("is_gift".to_owned(), AttributeValue::Bool(l.is_gift)),
        ]);
        if let Some(v) = &l.seller_sku {
            m.insert("seller_sku".into(), s(v));
        }
        if let Some(v) = &l.asin {
            m.insert("asin".into(), s(v));
        }
        if let Some(v) = &l.unit_price {
            m.insert("unit_price".into(), money(v));
        }
        if let Some(v) = &l.tax {
            m.insert("tax".into(), money(v));
        }
        AttributeValue::M(m)
    }

    /// The non-key attributes written for a record (names → values).
    ///
    /// `pii_expires_at` and `ttl` are not among them: the write sets them with the delivery's
    /// precedence and the hold's (see [`DynamoOrderStore`]).
    pub fn record_attributes(r: &OrderRecord) -> Vec<(&'static str, AttributeValue)> {
        let mut attrs = vec![
            ("seller_id", s(&r.seller_id)),
            ("order_id", s(&r.order_id)),
            ("marketplace_id", s(&r.marketplace_id)),
            ("fulfillment_status", s(&r.fulfillment_status)),
            ("fulfilled_by", s(&r.fulfilled_by)),
            ("created_time", iso(r.created_time)),
            ("last_updated", iso(r.last_updated)),
            ("last_updated_ms", n(unix_millis(r.last_updated))),
            (
                "items",
                AttributeValue::L(r.items.iter().map(line).collect()),
            ),
            (
                "programs",
                AttributeValue::L(r.programs.iter().map(s).collect()),
            ),
            ("cancel_requested", AttributeValue::Bool(r.cancel_requested)),
            ("record_version", n(1)),
        ];
        // In the expiry index while it may hold PII; an order that collects none (FBA,
        // canceled) never enters it, and one already there stays until the sweep.
        if r.collects_pii() {
            attrs.push((
                "pii_shard",
                s(crate::retention::pii_shard(&r.seller_id, &r.order_id)),
            ));
        }
        if let Some(t) = r.ship_by {
            attrs.push(("ship_by", iso(t)));
        }
        if let Some(t) = r.deliver_by {
            attrs.push(("deliver_by", iso(t)));
        }
        if let Some(c) = &r.ship_country {
            attrs.push(("ship_country", s(c)));
        }
        if let Some(m) = &r.order_total {
            attrs.push(("order_total", money(m)));
        }
        if let Some(m) = &r.order_tax {
            attrs.push(("order_tax", money(m)));
        }
        attrs
    }

    /// The items the first write of `record` creates: the order item and, when it collects
    /// PII and has any, its sealed-PII item (for bulk loads that bypass the conditional write,
    /// e.g. seeding a benchmark). `tests/retention.rs` checks them against what
    /// [`DynamoOrderStore::upsert_if_newer`] writes.
    pub fn new_order_items(
        record: &OrderRecord,
        sealed: &SealedPii,
        business_retention: time::Duration,
    ) -> (Item, Option<Item>) {
        let mut item: Item = record_attributes(record)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        item.insert(
            crate::layout::PARTITION_KEY.into(),
            s(order_pk(&record.seller_id, &record.order_id)),
        );
        item.insert(crate::layout::SORT_KEY.into(), s(ORDER_SK));
        let expires = record
            .anchored_expires_at
            .unwrap_or(record.pii_expires_at)
            .unix_timestamp();
        item.insert(attr::PII_EXPIRES_AT.into(), n(expires));
        if record.anchored_expires_at.is_some() {
            item.insert(attr::ANCHORED_EXPIRES_AT.into(), n(expires));
        }
        item.insert(
            TTL.into(),
            n(layout::order_ttl(expires, business_retention)),
        );
        if record.needs_shipment() {
            item.insert("ship_req".into(), s(ShipmentRequest::Pending.as_str()));
        }
        let pii = (record.collects_pii() && !sealed.is_empty()).then(|| {
            item.insert(
                attr::PII_WRITTEN_MS.into(),
                n(unix_millis(record.last_updated)),
            );
            item.insert("pii_classes".into(), classes_held(sealed));
            pii_item(record, sealed, layout::pii_ttl(expires, None))
        });
        (item, pii)
    }

    /// The names of the classes `sealed` holds (no PII), as the order item records them.
    fn classes_held(sealed: &SealedPii) -> AttributeValue {
        AttributeValue::L(sealed.keys().map(|c| s(c.as_str())).collect())
    }

    /// The sealed-PII item of `record`: its blobs and the TTL backstop.
    fn pii_item(record: &OrderRecord, sealed: &SealedPii, ttl: i64) -> Item {
        let mut item = Item::from([
            (
                crate::layout::PARTITION_KEY.to_owned(),
                s(pii_pk(&record.seller_id, &record.order_id)),
            ),
            (crate::layout::SORT_KEY.to_owned(), s(PII_SK)),
            (TTL.to_owned(), n(ttl)),
        ]);
        for (class, blob) in sealed {
            item.insert(
                pii_attribute(*class).to_owned(),
                AttributeValue::B(Blob::new(blob.to_bytes())),
            );
        }
        // The blind index lives here, with the PII: whatever removes this item removes the
        // order from the `address-index` GSI.
        if let Some(keys) = &record.blind_index {
            item.insert(attr::ADDR_KEY.to_owned(), s(&keys.address));
            if let Some(name) = &keys.name {
                item.insert(attr::NAME_KEY.to_owned(), s(name));
            }
            item.insert(attr::INDEXED_MS.to_owned(), n(keys.at_ms));
            if record.cancel_requested {
                item.insert(attr::CANCEL_REQ.to_owned(), AttributeValue::Bool(true));
            }
        }
        item
    }

    /// Cancelled (or never fulfillable) while labels are bought and not voided yet: every
    /// package's (LABEL_PURCHASED), or some while the rest were being bought (LABEL_PENDING).
    fn label_to_void(item: Option<&Item>) -> bool {
        item.is_some_and(|i| {
            let get = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).map(String::as_str);
            let some_bought = || {
                i.get("labels")
                    .and_then(|v| v.as_m().ok())
                    .is_some_and(|m| !m.is_empty())
            };
            get("fulfillment_status").is_some_and(status::never_ships)
                && match get("dispatch_state") {
                    Some(crate::dispatch::LABEL_PURCHASED_STATE) => true,
                    Some(crate::dispatch::LABEL_PENDING_STATE) => some_bought(),
                    _ => false,
                }
        })
    }

    fn shipment_of(item: Option<&Item>) -> Option<ShipmentRequest> {
        item?
            .get("ship_req")
            .and_then(|v| v.as_s().ok())
            .and_then(|v| ShipmentRequest::parse(v))
    }

    /// The legal hold's end, if a refused write was refused only because a hold is on the order
    /// (a hold takes the order item's TTL away while it lasts; the write then leaves it so).
    fn refused_by_hold(old: Option<&Item>, lu: i64) -> Option<i64> {
        let i = old?;
        let older = get_n(i, attr::LAST_UPDATED_MS).is_some_and(|stored| stored < lu);
        if !older || i.contains_key(attr::PII_ERASED_AT) {
            return None;
        }
        get_n(i, attr::HOLD_UNTIL)
    }

    impl DynamoOrderStore {
        async fn write(
            &self,
            record: &OrderRecord,
            held: Option<i64>,
        ) -> crate::aws::ddb::UpdateResult {
            let mut names = HashMap::new();
            let mut values = HashMap::new();
            let mut sets = Vec::new();
            for (i, (name, value)) in record_attributes(record).into_iter().enumerate() {
                names.insert(format!("#a{i}"), name.to_owned());
                values.insert(format!(":a{i}"), value);
                sets.push(format!("#a{i} = :a{i}"));
            }
            if record.needs_shipment() {
                values.insert(":pending".into(), s(ShipmentRequest::Pending.as_str()));
                sets.push("ship_req = if_not_exists(ship_req, :pending)".into());
            }
            // Once the anchor is known its expiry stands; before, the provisional one. The first
            // anchor stored wins (dispatch's ship date comes before the shipped notification).
            let provisional = match record.anchored_expires_at {
                Some(anchored) => {
                    values.insert(":exp".into(), n(anchored.unix_timestamp()));
                    sets.push(
                        "anchored_expires_at = if_not_exists(anchored_expires_at, :exp)".into(),
                    );
                    anchored.unix_timestamp()
                }
                None => {
                    values.insert(":exp".into(), n(record.pii_expires_at.unix_timestamp()));
                    record.pii_expires_at.unix_timestamp()
                }
            };
            sets.push("pii_expires_at = if_not_exists(anchored_expires_at, :exp)".into());
            let mut condition = "(attribute_not_exists(pk) OR last_updated_ms < :lu) \
                 AND attribute_not_exists(pii_erased_at)"
                .to_owned();
            match held {
                // The order item outlives the PII by the business retention (layout's TTL rule).
                None => {
                    names.insert("#ttl".into(), TTL.into());
                    values.insert(
                        ":ottl".into(),
                        n(layout::order_ttl(provisional, self.business_retention)),
                    );
                    sets.push("#ttl = :ottl".into());
                    condition.push_str(" AND attribute_not_exists(hold_until)");
                }
                // Held: the hold took the order item's TTL away; only for the hold seen.
                Some(until) => {
                    values.insert(":hu".into(), n(until));
                    condition.push_str(" AND hold_until = :hu");
                }
            }
            values.insert(":lu".into(), n(unix_millis(record.last_updated)));
            self.client
                .update_item()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    s(order_pk(&record.seller_id, &record.order_id)),
                )
                .key(crate::layout::SORT_KEY, s(ORDER_SK))
                .update_expression(format!("SET {}", sets.join(", ")))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await
        }

        /// Write the sealed-PII item of the version `stored` holds (the order item as the write
        /// left it): in one transaction with a check that the order item is still at this
        /// version, not erased, and at the expiry and hold the PII item's TTL is computed from.
        /// Any conflict is an error: the retry sees what changed and acts on it.
        async fn write_pii(
            &self,
            record: &OrderRecord,
            sealed: &SealedPii,
            stored: &Item,
            now: OffsetDateTime,
        ) -> Result<(), StoreError> {
            use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
            let built = |_| StoreError::Malformed("transaction request");
            let lu = unix_millis(record.last_updated);
            let expires = get_n(stored, attr::PII_EXPIRES_AT)
                .ok_or(StoreError::Malformed("pii_expires_at"))?;
            let hold = get_n(stored, attr::HOLD_UNTIL);
            let mut mark = aws_sdk_dynamodb::types::builders::UpdateBuilder::default()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    s(order_pk(&record.seller_id, &record.order_id)),
                )
                .key(crate::layout::SORT_KEY, s(ORDER_SK))
                // Which classes it holds, by name (no PII): the subject report lists them.
                .update_expression("SET pii_written_ms = :lu, pii_classes = :classes")
                .expression_attribute_values(":lu", n(lu))
                .expression_attribute_values(":classes", classes_held(sealed))
                .expression_attribute_values(":exp", n(expires))
                .expression_attribute_values(":now", n(now.unix_timestamp()));
            // Live at `now`: before its expiry, or kept by the hold.
            let hold_condition = match hold {
                Some(h) => {
                    mark = mark.expression_attribute_values(":hu", n(h));
                    "hold_until = :hu AND (pii_expires_at > :now OR hold_until > :now)"
                }
                None => "attribute_not_exists(hold_until) AND pii_expires_at > :now",
            };
            let mark: Update = mark
                .condition_expression(format!(
                    "last_updated_ms = :lu AND attribute_not_exists(pii_erased_at) \
                     AND pii_expires_at = :exp AND {hold_condition}"
                ))
                .build()
                .map_err(built)?;
            let pii = if sealed.is_empty() {
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .key(
                                crate::layout::PARTITION_KEY,
                                s(pii_pk(&record.seller_id, &record.order_id)),
                            )
                            .key(crate::layout::SORT_KEY, s(PII_SK))
                            .build()
                            .map_err(built)?,
                    )
                    .build()
            } else {
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(pii_item(
                                record,
                                sealed,
                                layout::pii_ttl(expires, hold),
                            )))
                            .build()
                            .map_err(built)?,
                    )
                    .build()
            };
            self.client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(mark).build())
                .transact_items(pii)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws::ddb::store_error("TransactWriteItems", &e))
        }

        /// Finish a write of `record` that reached the order item (`stored` as it now is).
        async fn complete(
            &self,
            record: &OrderRecord,
            sealed: &SealedPii,
            stored: &Item,
            now: OffsetDateTime,
        ) -> Result<(), StoreError> {
            let lu = unix_millis(record.last_updated);
            let expired = get_n(stored, attr::PII_EXPIRES_AT)
                .is_none_or(|exp| exp <= now.unix_timestamp())
                && get_n(stored, attr::HOLD_UNTIL).is_none_or(|h| h <= now.unix_timestamp());
            if record.collects_pii() && get_n(stored, attr::PII_WRITTEN_MS) != Some(lu) {
                if expired {
                    // Past its expiry the order's PII is gone for good, whether or not the sweep
                    // (or TTL) has removed it yet: a late notification brings none back.
                    tracing::info!(order_id = %record.order_id, "past its PII expiry: no PII stored");
                } else {
                    self.write_pii(record, sealed, stored, now).await?;
                }
            }
            self.after_write(record, stored, now).await
        }
    }

    /// An order a fraud rule held, not decided yet.
    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
    pub struct HeldOrder {
        pub seller_id: String,
        pub order_id: String,
        /// The rules that matched.
        pub rules: Vec<String>,
        pub held_at: String,
    }

    /// An entry of the cancellation-request registry with its order's state now.
    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
    pub struct CancelRequest {
        pub seller_id: String,
        pub order_id: String,
        pub requested_at: String,
        /// The order's fulfilment status now (`CANCELLED` once the seller cancelled on Amazon).
        pub fulfillment_status: Option<String>,
        /// Still asked for on the order's latest version.
        pub still_requested: bool,
        /// `LABEL_PURCHASED` or `CONFIRMED`: a label was bought before the request (dispatch
        /// voids it once Amazon cancels the order: `LABEL_VOIDED`).
        pub dispatch_state: Option<String>,
        pub via: Option<String>,
        pub carrier: Option<String>,
        pub tracking_number: Option<String>,
        /// The carrier's answer to the void (`submitted`, `refunded`, `rejected`, ...).
        pub label_void: Option<String>,
    }

    impl CancelRequest {
        /// Nothing left to do: the order is shipped, or the request was withdrawn, or the order
        /// is cancelled and no bought label is left unvoided.
        pub fn resolved(&self) -> bool {
            match self.fulfillment_status.as_deref() {
                Some(status::CANCELLED) => !self.label_to_void(),
                Some(status::SHIPPED) => true,
                _ => !self.still_requested,
            }
        }

        /// A label was bought for it and is not voided yet.
        pub fn label_to_void(&self) -> bool {
            self.tracking_number.is_some() && self.dispatch_state.as_deref() != Some("LABEL_VOIDED")
        }
    }

    impl DynamoOrderStore {
        /// The orders whose buyer asked to cancel, each with its state now (ids only, no PII).
        pub async fn cancel_requests(&self) -> Result<Vec<CancelRequest>, StoreError> {
            use crate::aws::ddb::{get_s, partition_items, store_error as err};
            let text =
                |i: &HashMap<String, AttributeValue>, k: &str| get_s(i, k).map(str::to_owned);
            let mut out = Vec::new();
            for entry in partition_items(&self.client, &self.table, CANCEL_REQUESTS_PK).await? {
                let (Some(seller_id), Some(order_id)) =
                    (text(&entry, "seller_id"), text(&entry, "order_id"))
                else {
                    continue;
                };
                let order = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key(
                        crate::layout::PARTITION_KEY,
                        s(order_pk(&seller_id, &order_id)),
                    )
                    .key(crate::layout::SORT_KEY, s(ORDER_SK))
                    .projection_expression(
                        "pk, sk, fulfillment_status, cancel_requested, dispatch_state, \
                         dispatch_via, carrier, tracking_number, label_void",
                    )
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| err("GetItem", &e))?
                    .item
                    .unwrap_or_default();
                out.push(CancelRequest {
                    requested_at: text(&entry, "requested_at").unwrap_or_default(),
                    fulfillment_status: text(&order, "fulfillment_status"),
                    still_requested: order
                        .get("cancel_requested")
                        .and_then(|v| v.as_bool().ok())
                        .copied()
                        .unwrap_or(false),
                    dispatch_state: text(&order, "dispatch_state"),
                    via: text(&order, "dispatch_via"),
                    carrier: text(&order, "carrier"),
                    tracking_number: text(&order, "tracking_number"),
                    label_void: text(&order, "label_void")
                        .and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
                        .and_then(|v| v["status"].as_str().map(str::to_owned)),
                    seller_id,
                    order_id,
                });
            }
            Ok(out)
        }

        /// Orders held for review and not decided yet (the `FRAUD_HOLDS` registry: ids, the
        /// rules that matched, when), oldest first.
        pub async fn held_for_review(&self) -> Result<Vec<HeldOrder>, StoreError> {
            use crate::aws::ddb::{get_s, partition_items};
            let mut out: Vec<HeldOrder> =
                partition_items(&self.client, &self.table, crate::layout::FRAUD_HOLDS_PK)
                    .await?
                    .iter()
                    .filter_map(|e| {
                        Some(HeldOrder {
                            seller_id: get_s(e, "seller_id")?.to_owned(),
                            order_id: get_s(e, "order_id")?.to_owned(),
                            rules: e
                                .get("rules")
                                .and_then(|v| v.as_l().ok())
                                .map(|l| l.iter().filter_map(|r| r.as_s().ok().cloned()).collect())
                                .unwrap_or_default(),
                            held_at: get_s(e, "held_at").unwrap_or_default().to_owned(),
                        })
                    })
                    .collect();
            out.sort_by(|a, b| a.held_at.cmp(&b.held_at));
            Ok(out)
        }

        /// Drop a resolved entry from the registry.
        pub async fn forget_cancel_request(
            &self,
            seller_id: &str,
            order_id: &str,
        ) -> Result<(), StoreError> {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(crate::layout::PARTITION_KEY, s(CANCEL_REQUESTS_PK))
                .key(crate::layout::SORT_KEY, s(registry_sk(seller_id, order_id)))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws::ddb::store_error("DeleteItem", &e))
        }
    }

    impl OrderStore for DynamoOrderStore {
        async fn upsert_if_newer(
            &self,
            record: &OrderRecord,
            sealed: &SealedPii,
            now: OffsetDateTime,
        ) -> Result<WriteOutcome, StoreError> {
            let lu = unix_millis(record.last_updated);
            let mut result = self.write(record, None).await;
            if let Err(e) = &result
                && let Some(UpdateItemError::ConditionalCheckFailedException(c)) =
                    e.as_service_error()
                && let Some(until) = refused_by_hold(c.item(), lu)
            {
                // Held: write the newer version leaving the TTL to the hold (rare: one more call).
                result = self.write(record, Some(until)).await;
            }
            match result {
                Ok(out) => {
                    if let Some(item) = out.attributes() {
                        self.complete(record, sealed, item, now).await?;
                    }
                    Ok(WriteOutcome::Written {
                        shipment: shipment_of(out.attributes()),
                        label_to_void: label_to_void(out.attributes()),
                    })
                }
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                        let old = c.item();
                        // This very version is stored (a retry after a failure past the write):
                        // finish what the write started.
                        if let Some(item) = old
                            && get_n(item, attr::LAST_UPDATED_MS) == Some(lu)
                            && !item.contains_key(attr::PII_ERASED_AT)
                        {
                            self.complete(record, sealed, item, now).await?;
                        }
                        let stored_needs_shipment = old.is_some_and(|i| {
                            let get =
                                |k: &str| i.get(k).and_then(|v| v.as_s().ok()).map(String::as_str);
                            get("fulfilled_by") == Some(status::MERCHANT)
                                && get("fulfillment_status") == Some(status::UNSHIPPED)
                                && !i.contains_key(attr::PII_ERASED_AT)
                                && i.get("cancel_requested").and_then(|v| v.as_bool().ok())
                                    != Some(&true)
                        });
                        Ok(WriteOutcome::Unchanged {
                            shipment: shipment_of(old),
                            stored_needs_shipment,
                            label_to_void: label_to_void(old),
                        })
                    }
                    _ => Err(StoreError::Service {
                        operation: "UpdateItem",
                        code: crate::aws::error_code(&e),
                    }),
                },
            }
        }

        async fn mark_shipment_sent(
            &self,
            seller_id: &str,
            order_id: &str,
        ) -> Result<(), StoreError> {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    s(order_pk(seller_id, order_id)),
                )
                .key(crate::layout::SORT_KEY, s(ORDER_SK))
                .update_expression("SET ship_req = :sent")
                .condition_expression("ship_req = :pending")
                .expression_attribute_values(":sent", s(ShipmentRequest::Sent.as_str()))
                .expression_attribute_values(":pending", s(ShipmentRequest::Pending.as_str()))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                // Already SENT (a concurrent duplicate got there first): the goal holds.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Ok(())
                }
                Err(e) => Err(StoreError::Service {
                    operation: "UpdateItem",
                    code: crate::aws::error_code(&e),
                }),
            }
        }

        async fn address_priors(
            &self,
            address_key: &str,
        ) -> Result<Vec<crate::fraud::Prior>, StoreError> {
            let mut out = Vec::new();
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(crate::fraud::ADDRESS_INDEX)
                    .key_condition_expression("addr_key = :k")
                    .expression_attribute_values(":k", s(address_key))
                    .projection_expression("pk, name_key, indexed_ms, cancel_req")
                    .select(aws_sdk_dynamodb::types::Select::SpecificAttributes)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| crate::aws::ddb::store_error("Query", &e))?;
                for item in page.items() {
                    let Some((_, order_id)) =
                        crate::aws::ddb::get_s(item, crate::layout::PARTITION_KEY)
                            .and_then(crate::layout::ids_of_pk)
                    else {
                        continue;
                    };
                    out.push(crate::fraud::Prior {
                        order_id,
                        name_key: crate::aws::ddb::get_s(item, attr::NAME_KEY).map(str::to_owned),
                        written_ms: get_n(item, attr::INDEXED_MS).unwrap_or(0),
                        cancel_requested: item
                            .get(attr::CANCEL_REQ)
                            .and_then(|v| v.as_bool().ok())
                            .copied()
                            .unwrap_or(false),
                    });
                }
                // A busy address is not worth more than a few pages: the rules need counts.
                match page.last_evaluated_key {
                    Some(k) if !k.is_empty() && out.len() < 1_000 => start = Some(k),
                    _ => break,
                }
            }
            Ok(out)
        }

        async fn hold_for_review(
            &self,
            seller_id: &str,
            order_id: &str,
            rules: &[&'static str],
            now: OffsetDateTime,
        ) -> Result<bool, StoreError> {
            use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
            let update = Update::builder()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    s(order_pk(seller_id, order_id)),
                )
                .key(crate::layout::SORT_KEY, s(ORDER_SK))
                .update_expression("SET review_state = :held, review_rules = :rules")
                // Never once dispatch has started: a label bought must be confirmed.
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(review_state) \
                     AND attribute_not_exists(dispatch_state)",
                )
                .expression_attribute_values(":held", s(crate::fraud::HELD_FOR_REVIEW))
                .expression_attribute_values(
                    ":rules",
                    AttributeValue::L(rules.iter().map(|r| s(*r)).collect()),
                )
                .build()
                .map_err(|_| StoreError::Malformed("transaction request"))?;
            let note = rules.join(",");
            let id = format!("{:016x}", fastrand::u64(..));
            let event = crate::audit::AuditEvent {
                id: &id,
                at: now,
                who: "orderseal-ingest",
                action: "fraud-hold",
                purpose: None,
                seller_id,
                order_id,
                classes: Vec::new(),
                outcome: crate::audit::Outcome::Allowed,
                note: Some(&note),
                canary: false,
                until: None,
                retention: crate::audit::ACCESS_AUDIT_RETENTION,
            };
            let [by_order, by_day] = crate::audit::puts(&self.table, &event);
            // Listed for the reviewers until decided (the decision deletes it with its event; no
            // TTL: an undecided hold stays listed, whatever became of the order's PII).
            let listed = aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .item(
                    crate::layout::PARTITION_KEY,
                    s(crate::layout::FRAUD_HOLDS_PK),
                )
                .item(crate::layout::SORT_KEY, s(registry_sk(seller_id, order_id)))
                .item("seller_id", s(seller_id))
                .item("order_id", s(order_id))
                .item(
                    "rules",
                    AttributeValue::L(rules.iter().map(|r| s(*r)).collect()),
                )
                .item("held_at", s(iso_text(now)))
                .build()
                .map_err(|_| StoreError::Malformed("transaction request"))?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(update).build())
                .transact_items(by_order)
                .transact_items(by_day)
                .transact_items(TransactWriteItem::builder().put(listed).build())
                .send()
                .await;
            match result {
                Ok(_) => {
                    event.emit();
                    Ok(true)
                }
                Err(e)
                    if crate::aws::ddb::cancellation_reasons(&e)
                        .first()
                        .is_some_and(|r| r.as_deref() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(false)
                }
                Err(e) => Err(crate::aws::ddb::store_error("TransactWriteItems", &e)),
            }
        }
    }
}

/// The retention anchor's moves of the PII item's TTL (layout's TTL rule), shared by the
/// adapters that fix an order's expiry (dispatch at the ship date, callbacks at delivery).
#[cfg(feature = "dynamodb")]
pub mod ttl {
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};

    use super::StoreError;
    use crate::aws::ddb::{get_n, n, s, store_error as err};
    use crate::layout::{self, ORDER_SK, PII_SK, TTL, attr, order_pk, pii_pk};

    /// Set the sealed-PII item's TTL to `max(pii_expires_at, hold_until)` of the order item as
    /// it stands: read it, then write the TTL in a transaction that checks the order item still
    /// says so. A conflict (a hold or a sweep got there first, which set or made moot the TTL
    /// itself) or no PII item (none held, or TTL already removed it) leaves it as it is.
    pub async fn sync_pii_ttl(
        client: &Client,
        table: &str,
        seller_id: &str,
        order_id: &str,
    ) -> Result<(), StoreError> {
        let built = |_| StoreError::Malformed("transaction request");
        let Some(order) = client
            .get_item()
            .table_name(table)
            .key(
                crate::layout::PARTITION_KEY,
                s(order_pk(seller_id, order_id)),
            )
            .key(crate::layout::SORT_KEY, s(ORDER_SK))
            .projection_expression("pk, pii_expires_at, hold_until, pii_erased_at")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("GetItem", &e))?
            .item
        else {
            return Ok(());
        };
        let Some(expires) = get_n(&order, attr::PII_EXPIRES_AT) else {
            return Err(StoreError::Malformed("pii_expires_at"));
        };
        if order.contains_key(attr::PII_ERASED_AT) {
            return Ok(());
        }
        let hold = get_n(&order, attr::HOLD_UNTIL);
        let mut check = ConditionCheck::builder()
            .table_name(table)
            .key(
                crate::layout::PARTITION_KEY,
                s(order_pk(seller_id, order_id)),
            )
            .key(crate::layout::SORT_KEY, s(ORDER_SK))
            .expression_attribute_values(":exp", n(expires));
        let hold_condition = match hold {
            Some(h) => {
                check = check.expression_attribute_values(":hu", n(h));
                "hold_until = :hu"
            }
            None => "attribute_not_exists(hold_until)",
        };
        let check = check
            .condition_expression(format!(
                "pii_expires_at = :exp AND attribute_not_exists(pii_erased_at) AND {hold_condition}"
            ))
            .build()
            .map_err(built)?;
        let update = Update::builder()
            .table_name(table)
            .key(crate::layout::PARTITION_KEY, s(pii_pk(seller_id, order_id)))
            .key(crate::layout::SORT_KEY, s(PII_SK))
            .update_expression("SET #ttl = :ttl")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":ttl", n(layout::pii_ttl(expires, hold)))
            .build()
            .map_err(built)?;
        let result = client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if crate::aws::ddb::cancellation_reasons(&e)
                    .iter()
                    .any(|r| r.as_deref() == Some("ConditionalCheckFailed")) =>
            {
                Ok(())
            }
            Err(e) => Err(err("TransactWriteItems", &e)),
        }
    }
}
