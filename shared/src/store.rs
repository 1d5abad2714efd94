//! The order table: keys, item layout, and the conditional writes that make duplicates and
//! reordering harmless.
//!
//! Order item: `pk = ORDER#<sellerId>#<orderId>`, `sk = ORDER`; non-PII attributes in the
//! clear; one binary attribute per sealed PII class (`pii_shipping`, `pii_contact`,
//! `pii_gift`); `pii_expires_at` and the TTL backstop `ttl` in epoch seconds; `ship_req`
//! (`PENDING` → `SENT`) tracks the shipment request so a crash between the write and the
//! enqueue is repaired by the retry. Attribute names never hold PII.
//!
//! Retention attributes (see [`crate::retention`]): `pii_shard` puts an order holding PII into
//! the sparse expiry index and is removed on erasure; `delivered_expires_at`, once a delivery is
//! known, wins over the provisional expiry a later notification computes; `hold_until` (a legal
//! hold) owns the TTL while it lasts, so no writer shortens it.

use std::collections::BTreeMap;
use std::future::Future;

use crate::order::OrderRecord;
use crate::seal::{PiiClass, SealedBlob};

pub const ORDER_SK: &str = "ORDER";

/// The table's key attributes. Key values never hold PII (ids and item kinds only).
pub mod table {
    /// Partition key of every item: `<KIND>#...` (`ORDER#`, `NOTIF#`, `RATE#`, ...).
    pub const PARTITION_KEY: &str = "pk";
    pub const SORT_KEY: &str = "sk";
    /// Partition key attribute of the expiry index.
    pub const EXPIRY_INDEX_PARTITION_KEY: &str = "pii_shard";

    /// The partition key attribute of a secondary index of the table.
    pub fn index_partition_key(index: &str) -> Option<&'static str> {
        (index == crate::retention::EXPIRY_INDEX).then_some(EXPIRY_INDEX_PARTITION_KEY)
    }
}

pub fn order_pk(seller_id: &str, order_id: &str) -> String {
    format!("ORDER#{seller_id}#{order_id}")
}

pub fn pii_attribute(class: PiiClass) -> &'static str {
    match class {
        PiiClass::Shipping => "pii_shipping",
        PiiClass::Contact => "pii_contact",
        PiiClass::Gift => "pii_gift",
    }
}

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
    Written { shipment: Option<ShipmentRequest> },
    /// The stored record is as new or newer (or its PII was erased): nothing changed.
    Unchanged {
        shipment: Option<ShipmentRequest>,
        stored_needs_shipment: bool,
    },
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
    /// Write `record` + `sealed` unless the stored record is as new or newer.
    fn upsert_if_newer(
        &self,
        record: &OrderRecord,
        sealed: &SealedPii,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send;

    /// `ship_req` PENDING → SENT.
    fn mark_shipment_sent(
        &self,
        seller_id: &str,
        order_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
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
    use crate::order::{Money, OrderLine, status};

    #[derive(Debug, Clone)]
    pub struct DynamoOrderStore {
        client: Client,
        table: String,
        business_retention: time::Duration,
    }

    /// The registry of orders whose buyer asked to cancel (`pk = CANCEL_REQUESTS`,
    /// `sk = <seller>#<order>`): ids and when, no PII; the ops CLI lists it.
    pub const CANCEL_REQUESTS_PK: &str = "CANCEL_REQUESTS";
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

        /// After a write: list a buyer's open cancellation request, and keep the business record
        /// of an order outside the expiry index (no sweep will ever write it).
        async fn after_write(
            &self,
            record: &OrderRecord,
            item: &HashMap<String, AttributeValue>,
        ) -> Result<(), StoreError> {
            let now = OffsetDateTime::now_utc();
            if record.cancel_requested
                && !matches!(
                    record.fulfillment_status.as_str(),
                    status::CANCELLED | status::SHIPPED | status::UNFULFILLABLE
                )
            {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .item("pk", s(CANCEL_REQUESTS_PK))
                    .item("sk", s(format!("{}#{}", record.seller_id, record.order_id)))
                    .item("seller_id", s(&record.seller_id))
                    .item("order_id", s(&record.order_id))
                    .item("requested_at", s(iso_text(record.last_updated)))
                    .item("ttl", n((now + CANCEL_REQUEST_TTL).unix_timestamp()))
                    .send()
                    .await
                    .map_err(|e| crate::aws::ddb::store_error("PutItem", &e))?;
            }
            if !item.contains_key("pii_shard") {
                let business = crate::retention::dynamo::business_record(
                    item,
                    None,
                    now + self.business_retention,
                )?;
                let mut put = crate::retention::dynamo::business_item(&business)?;
                put.insert(
                    "last_updated_ms".into(),
                    n(unix_millis(record.last_updated)),
                );
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(put))
                    // Only over an older version of it (two ingests racing on versions).
                    .condition_expression("attribute_not_exists(pk) OR last_updated_ms < :lu")
                    .expression_attribute_values(":lu", n(unix_millis(record.last_updated)))
                    .send()
                    .await;
                match result {
                    Ok(_) => {}
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|se| se.is_conditional_check_failed_exception()) => {}
                    Err(e) => return Err(crate::aws::ddb::store_error("PutItem", &e)),
                }
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

    /// The whole item the first write of `record` creates (for bulk loads that bypass the
    /// conditional write, e.g. seeding a benchmark). `tests/retention.rs` checks it against
    /// what [`DynamoOrderStore::upsert_if_newer`] writes.
    pub fn new_order_item(
        record: &OrderRecord,
        sealed: &SealedPii,
    ) -> HashMap<String, AttributeValue> {
        let mut item: HashMap<String, AttributeValue> = record_attributes(record)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        item.insert(
            "pk".into(),
            s(order_pk(&record.seller_id, &record.order_id)),
        );
        item.insert("sk".into(), s(ORDER_SK));
        let expires = n(record.pii_expires_at.unix_timestamp());
        item.insert("pii_expires_at".into(), expires.clone());
        item.insert("ttl".into(), expires);
        for (class, blob) in sealed {
            item.insert(
                pii_attribute(*class).to_owned(),
                AttributeValue::B(Blob::new(blob.to_bytes())),
            );
        }
        if record.needs_shipment() {
            item.insert("ship_req".into(), s(ShipmentRequest::Pending.as_str()));
        }
        item
    }

    fn shipment_of(item: Option<&HashMap<String, AttributeValue>>) -> Option<ShipmentRequest> {
        item?
            .get("ship_req")
            .and_then(|v| v.as_s().ok())
            .and_then(|v| ShipmentRequest::parse(v))
    }

    /// A legal hold on the stored order, as a refused write saw it.
    #[derive(Debug, Clone, Copy)]
    struct Held {
        hold_until: i64,
        delivered_expires: Option<i64>,
    }

    /// The hold, if a refused write was refused only because a legal hold owns the TTL.
    fn refused_by_hold(old: Option<&HashMap<String, AttributeValue>>, lu: i64) -> Option<Held> {
        let i = old?;
        let num = |k: &str| get_n(i, k);
        let older = num("last_updated_ms").is_some_and(|stored| stored < lu);
        if !older || i.contains_key("pii_erased_at") {
            return None;
        }
        Some(Held {
            hold_until: num("hold_until")?,
            delivered_expires: num("delivered_expires_at"),
        })
    }

    impl DynamoOrderStore {
        async fn write(
            &self,
            record: &OrderRecord,
            sealed: &SealedPii,
            held: Option<Held>,
        ) -> crate::aws::ddb::UpdateResult {
            let mut names = HashMap::new();
            let mut values = HashMap::new();
            let mut sets = Vec::new();
            let mut removes = Vec::new();
            for (i, (name, value)) in record_attributes(record).into_iter().enumerate() {
                names.insert(format!("#a{i}"), name.to_owned());
                values.insert(format!(":a{i}"), value);
                sets.push(format!("#a{i} = :a{i}"));
            }
            // An order that collects no PII leaves what is held as it is (a now-canceled
            // order's PII goes on its grace, by the sweep).
            let classes = if record.collects_pii() {
                &PiiClass::ALL[..]
            } else {
                &[]
            };
            for &class in classes {
                let attr = pii_attribute(class);
                match sealed.get(&class) {
                    Some(blob) => {
                        values.insert(
                            format!(":{attr}"),
                            AttributeValue::B(Blob::new(blob.to_bytes())),
                        );
                        sets.push(format!("{attr} = :{attr}"));
                    }
                    None => removes.push(attr),
                }
            }
            if record.needs_shipment() {
                values.insert(":pending".into(), s(ShipmentRequest::Pending.as_str()));
                sets.push("ship_req = if_not_exists(ship_req, :pending)".into());
            }
            // Once delivery is known its expiry stands; before, the provisional one.
            let provisional = record.pii_expires_at.unix_timestamp();
            values.insert(":exp".into(), n(provisional));
            sets.push("pii_expires_at = if_not_exists(delivered_expires_at, :exp)".into());
            let mut condition = "(attribute_not_exists(pk) OR last_updated_ms < :lu) \
                 AND attribute_not_exists(pii_erased_at)"
                .to_owned();
            names.insert("#ttl".into(), "ttl".into());
            match held {
                // TTL is the backstop; the retention sweep erases on time.
                None => {
                    sets.push("#ttl = if_not_exists(delivered_expires_at, :exp)".into());
                    condition.push_str(" AND attribute_not_exists(hold_until)");
                }
                // A hold owns the TTL: never below the hold's end nor below the expiry, and only
                // for the hold and delivery this was computed from.
                Some(h) => {
                    let expires = h.delivered_expires.unwrap_or(provisional);
                    values.insert(":ttl".into(), n(expires.max(h.hold_until)));
                    values.insert(":hu".into(), n(h.hold_until));
                    sets.push("#ttl = :ttl".into());
                    condition.push_str(" AND hold_until = :hu");
                    match h.delivered_expires {
                        Some(d) => {
                            values.insert(":dexp".into(), n(d));
                            condition.push_str(" AND delivered_expires_at = :dexp");
                        }
                        None => {
                            condition.push_str(" AND attribute_not_exists(delivered_expires_at)")
                        }
                    }
                }
            }
            values.insert(":lu".into(), n(unix_millis(record.last_updated)));
            let mut expr = format!("SET {}", sets.join(", "));
            if !removes.is_empty() {
                expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
            }
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(order_pk(&record.seller_id, &record.order_id)))
                .key("sk", s(ORDER_SK))
                .update_expression(expr)
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
        /// `LABEL_PURCHASED` or `CONFIRMED`: a label was bought before the request; void it.
        pub dispatch_state: Option<String>,
        pub via: Option<String>,
        pub carrier: Option<String>,
        pub tracking_number: Option<String>,
    }

    impl CancelRequest {
        /// Nothing left to do: the order is cancelled or shipped, or the request was withdrawn.
        pub fn resolved(&self) -> bool {
            !self.still_requested
                || matches!(
                    self.fulfillment_status.as_deref(),
                    Some(status::CANCELLED | status::SHIPPED)
                )
        }

        /// A label was bought for it and must be voided with the carrier.
        pub fn label_to_void(&self) -> bool {
            self.tracking_number.is_some()
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
                    .key("pk", s(order_pk(&seller_id, &order_id)))
                    .key("sk", s(ORDER_SK))
                    .projection_expression(
                        "pk, sk, fulfillment_status, cancel_requested, dispatch_state, \
                         dispatch_via, carrier, tracking_number",
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
                    seller_id,
                    order_id,
                });
            }
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
                .key("pk", s(CANCEL_REQUESTS_PK))
                .key("sk", s(format!("{seller_id}#{order_id}")))
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
        ) -> Result<WriteOutcome, StoreError> {
            let lu = unix_millis(record.last_updated);
            let mut result = self.write(record, sealed, None).await;
            if let Err(e) = &result
                && let Some(UpdateItemError::ConditionalCheckFailedException(c)) =
                    e.as_service_error()
                && let Some(held) = refused_by_hold(c.item(), lu)
            {
                // Held: write the newer version with the hold's TTL (rare: one more call).
                result = self.write(record, sealed, Some(held)).await;
            }
            match result {
                Ok(out) => {
                    if let Some(item) = out.attributes() {
                        self.after_write(record, item).await?;
                    }
                    Ok(WriteOutcome::Written {
                        shipment: shipment_of(out.attributes()),
                    })
                }
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                        let old = c.item();
                        // This very version is stored (a retry after a failure past the write):
                        // finish what the write started.
                        if let Some(item) = old
                            && get_n(item, "last_updated_ms") == Some(lu)
                            && !item.contains_key("pii_erased_at")
                        {
                            self.after_write(record, item).await?;
                        }
                        let stored_needs_shipment = old.is_some_and(|i| {
                            let get =
                                |k: &str| i.get(k).and_then(|v| v.as_s().ok()).map(String::as_str);
                            get("fulfilled_by") == Some(status::MERCHANT)
                                && get("fulfillment_status") == Some(status::UNSHIPPED)
                                && !i.contains_key("pii_erased_at")
                                && i.get("cancel_requested").and_then(|v| v.as_bool().ok())
                                    != Some(&true)
                        });
                        Ok(WriteOutcome::Unchanged {
                            shipment: shipment_of(old),
                            stored_needs_shipment,
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
                .key("pk", s(order_pk(seller_id, order_id)))
                .key("sk", s(ORDER_SK))
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
    }
}
