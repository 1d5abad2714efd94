//! Returns and refunds: what a returns clerk records about a return (RMA id, reason, items,
//! refund, status and its dates) — business data, no buyer PII.
//!
//! * A return is recorded through the pii-access API's returns function (purpose `returns`,
//!   audited like every other use of it), never from free text: the reason is a code, the
//!   items are the order's own lines, the refund is in the order's currency and never more
//!   than what is left of its total.
//! * It is stored in its own month partition beside the business records
//!   (`RETURN#<month of purchase>`, sort key `<the order's record sort key>#<rma>`): the export
//!   reads a month's records, then its returns; the returns function's role can write nothing
//!   else (it cannot touch a business record); the item has the business retention of its own
//!   last change; PII erasure (sweep, TTL, a buyer's request) and later notifications never
//!   touch it, so a refund recorded after the PII is gone is kept like any other.
//! * An order's returns are changed one at a time: every change bumps `returns_rev` on the
//!   order item in the same transaction, conditioned on the value read, so two clerks cannot
//!   both take the last item back or refund past the total.
//! * A seller-addressed return label needs no buyer data. A **pickup** return (a carrier
//!   collects at the buyer's address) opens the `shipping` class for purpose `returns` while
//!   it is open (requested, not yet received): the order item lists such returns in
//!   `pickup_rmas`, and the returns function reads the address only then.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::order::{Money, OrderLine};

/// Partition prefix of the return items (`RETURN#<yyyy-mm>`).
pub const RETURN_PK_PREFIX: &str = "RETURN#";

/// Most lines one return may list.
pub const MAX_RETURN_LINES: usize = 100;

/// Why the buyer returns it: a code, never free text (free text could carry buyer data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnReason {
    Damaged,
    Defective,
    WrongItem,
    NotAsDescribed,
    NoLongerNeeded,
    ArrivedLate,
    MissingParts,
    Other,
}

impl ReturnReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnReason::Damaged => "damaged",
            ReturnReason::Defective => "defective",
            ReturnReason::WrongItem => "wrong_item",
            ReturnReason::NotAsDescribed => "not_as_described",
            ReturnReason::NoLongerNeeded => "no_longer_needed",
            ReturnReason::ArrivedLate => "arrived_late",
            ReturnReason::MissingParts => "missing_parts",
            ReturnReason::Other => "other",
        }
    }
}

/// How the goods come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnMethod {
    /// The buyer sends it with a label addressed to the seller: no buyer data needed.
    #[default]
    SellerLabel,
    /// A carrier collects it at the buyer's address: opens `shipping` for purpose `returns`
    /// until the return is received.
    Pickup,
}

impl ReturnMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnMethod::SellerLabel => "seller_label",
            ReturnMethod::Pickup => "pickup",
        }
    }
}

/// Where a return stands. `refunded` and `rejected` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    Requested,
    Received,
    Refunded,
    Rejected,
}

impl ReturnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnStatus::Requested => "requested",
            ReturnStatus::Received => "received",
            ReturnStatus::Refunded => "refunded",
            ReturnStatus::Rejected => "rejected",
        }
    }

    /// Whether a return at `self` may move to `to` (a refund without the goods back — a
    /// returnless refund — is allowed; nothing moves backwards or out of a final state).
    pub fn can_become(self, to: ReturnStatus) -> bool {
        use ReturnStatus::*;
        matches!(
            (self, to),
            (Requested, Received | Refunded | Rejected) | (Received, Refunded | Rejected)
        )
    }
}

/// One returned line: the order's line and how many of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    pub order_item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_sku: Option<String>,
    pub quantity: u32,
}

/// A stored return. No buyer PII: ids, codes, quantities, an amount, dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnRecord {
    pub seller_id: String,
    pub order_id: String,
    pub marketplace_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub purchase_date: OffsetDateTime,
    pub rma_id: String,
    pub reason: ReturnReason,
    pub method: ReturnMethod,
    pub lines: Vec<ReturnLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<Money>,
    pub status: ReturnStatus,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub received_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub refunded_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub rejected_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl ReturnRecord {
    /// A pickup that has not been collected yet: the only state in which purpose `returns`
    /// reads the buyer's address.
    pub fn pickup_open(&self) -> bool {
        self.method == ReturnMethod::Pickup && self.status == ReturnStatus::Requested
    }
}

/// A returned item as the clerk names it: its SKU or its order item id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemRef {
    pub item: String,
    pub quantity: u32,
}

/// What the returns clerk sends: a new return (reason and items required), or a status change
/// of a recorded one (with the refund when it is refunded).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    pub rma_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReturnStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReturnReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<ReturnMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ItemRef>>,
    /// The amount refunded, in the order's currency (`"12.34"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<String>,
}

/// The order as a return needs it (non-PII facts of the order item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    pub seller_id: String,
    pub order_id: String,
    pub marketplace_id: String,
    pub purchase_date: OffsetDateTime,
    pub lines: Vec<OrderLine>,
    pub order_total: Option<Money>,
    /// The order's PII is erased or past its expiry: no address for a pickup.
    pub pii_gone: bool,
    /// The order's returns revision (`returns_rev`; 0 before the first return).
    pub returns_rev: i64,
}

/// Why a return request was refused. Messages name fields and positions, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnError {
    #[error("the RMA id must be 1-40 letters, digits, dashes or underscores")]
    BadRmaId,
    #[error("a new return needs a reason code")]
    MissingReason,
    #[error("a new return needs at least one item (at most {MAX_RETURN_LINES})")]
    BadItems,
    #[error("item {0} is not a line of this order")]
    UnknownItem(usize),
    #[error("item {0} names more than one line of this order: name it by its order item id")]
    AmbiguousItem(usize),
    #[error("a pickup needs the buyer's address, which is erased: use a seller-addressed label")]
    PickupWithoutAddress,
    #[error(
        "item {0}: the quantity must be at least 1 and no more than the order's, less other returns"
    )]
    Quantity(usize),
    #[error(
        "the refund must be a positive amount with at most 4 decimals, in the order's currency"
    )]
    BadRefund,
    #[error("the refunds of this order would exceed its total")]
    RefundOverTotal,
    #[error("a refunded return needs its refund amount")]
    RefundRequired,
    #[error("a refund amount goes only with the status refunded")]
    RefundWithoutRefunded,
    #[error("a return cannot go from {from} to {to}")]
    Transition {
        from: &'static str,
        to: &'static str,
    },
    #[error("a recorded return's reason, method and items do not change")]
    Fixed,
}

impl ReturnError {
    /// 409 for a conflict with the recorded return, 422 for a request that can never apply.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            ReturnError::Transition { .. } | ReturnError::Fixed | ReturnError::RefundOverTotal
        )
    }

    /// A stable code for the API's answer and the audit event.
    pub fn code(&self) -> &'static str {
        match self {
            ReturnError::Transition { .. } => "return_transition",
            ReturnError::Fixed => "return_fixed",
            ReturnError::RefundOverTotal => "refund_over_total",
            _ => "invalid_return",
        }
    }
}

/// What applying a request does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created(ReturnRecord),
    Updated {
        /// Whether the return was an uncollected pickup before the change.
        pickup_was_open: bool,
        after: ReturnRecord,
    },
    /// The same request again: nothing to write.
    Unchanged(ReturnRecord),
}

impl Change {
    pub fn record(&self) -> &ReturnRecord {
        match self {
            Change::Created(r) | Change::Unchanged(r) => r,
            Change::Updated { after, .. } => after,
        }
    }

    /// How the order's open pickups change: `Some(true)` one opens, `Some(false)` one closes.
    pub fn pickup_change(&self) -> Option<bool> {
        let (before, after) = match self {
            Change::Created(r) => (false, r.pickup_open()),
            Change::Updated {
                pickup_was_open,
                after,
            } => (*pickup_was_open, after.pickup_open()),
            Change::Unchanged(_) => return None,
        };
        (before != after).then_some(after)
    }
}

fn valid_rma(rma: &str) -> bool {
    !rma.is_empty()
        && rma.len() <= 40
        && rma
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A positive amount with at most 4 decimals.
fn amount(text: &str) -> Option<Decimal> {
    if text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let d: Decimal = text.parse().ok()?;
    (d > Decimal::ZERO && d.scale() <= 4).then_some(d)
}

/// The refunds already recorded on the order's other returns.
fn refunded_elsewhere(others: &[&ReturnRecord]) -> Decimal {
    others
        .iter()
        .filter_map(|r| r.refund.as_ref())
        .filter_map(|m| m.amount.parse::<Decimal>().ok())
        .sum()
}

/// Apply `req` to the order's returns (`existing`, all of them) at `now`: the new or changed
/// return, or why not. Repeating a request is harmless ([`Change::Unchanged`]).
pub fn apply(
    facts: &OrderFacts,
    existing: &[ReturnRecord],
    req: &ReturnRequest,
    now: OffsetDateTime,
) -> Result<Change, ReturnError> {
    if !valid_rma(&req.rma_id) {
        return Err(ReturnError::BadRmaId);
    }
    let current = existing.iter().find(|r| r.rma_id == req.rma_id);
    let others: Vec<&ReturnRecord> = existing
        .iter()
        .filter(|r| r.rma_id != req.rma_id && r.status != ReturnStatus::Rejected)
        .collect();
    let refund = match &req.refund {
        None => None,
        Some(text) => {
            let value = amount(text).ok_or(ReturnError::BadRefund)?;
            let currency = facts
                .order_total
                .as_ref()
                .map(|t| t.currency_code.clone())
                .ok_or(ReturnError::BadRefund)?;
            if let Some(total) = facts
                .order_total
                .as_ref()
                .and_then(|t| t.amount.parse::<Decimal>().ok())
                && refunded_elsewhere(&others) + value > total
            {
                return Err(ReturnError::RefundOverTotal);
            }
            Some(Money {
                amount: value.normalize().to_string(),
                currency_code: currency,
            })
        }
    };
    let Some(current) = current else {
        let status = req.status.unwrap_or(ReturnStatus::Requested);
        let reason = req.reason.ok_or(ReturnError::MissingReason)?;
        let lines = resolve_lines(facts, &others, req.items.as_deref())?;
        check_refund(status, refund.as_ref())?;
        let method = req.method.unwrap_or_default();
        if method == ReturnMethod::Pickup && status == ReturnStatus::Requested && facts.pii_gone {
            return Err(ReturnError::PickupWithoutAddress);
        }
        let at = |s: ReturnStatus| (status == s).then_some(now);
        return Ok(Change::Created(ReturnRecord {
            seller_id: facts.seller_id.clone(),
            order_id: facts.order_id.clone(),
            marketplace_id: facts.marketplace_id.clone(),
            purchase_date: facts.purchase_date,
            rma_id: req.rma_id.clone(),
            reason,
            method,
            lines,
            refund,
            status,
            opened_at: now,
            received_at: at(ReturnStatus::Received),
            refunded_at: at(ReturnStatus::Refunded),
            rejected_at: at(ReturnStatus::Rejected),
            updated_at: now,
        }));
    };
    // A recorded return: only its status (and the refund that goes with refunded) changes.
    if req.reason.is_some_and(|r| r != current.reason)
        || req.method.is_some_and(|m| m != current.method)
        || req.items.as_deref().is_some_and(|items| {
            resolve_lines(facts, &others, Some(items)).ok().as_ref() != Some(&current.lines)
        })
    {
        return Err(ReturnError::Fixed);
    }
    let status = req.status.unwrap_or(current.status);
    if status == current.status {
        return if refund.is_none() || refund == current.refund {
            Ok(Change::Unchanged(current.clone()))
        } else {
            Err(ReturnError::Transition {
                from: current.status.as_str(),
                to: status.as_str(),
            })
        };
    }
    if !current.status.can_become(status) {
        return Err(ReturnError::Transition {
            from: current.status.as_str(),
            to: status.as_str(),
        });
    }
    check_refund(status, refund.as_ref())?;
    let mut after = current.clone();
    after.status = status;
    after.refund = refund;
    after.updated_at = now;
    match status {
        ReturnStatus::Received => after.received_at = Some(now),
        ReturnStatus::Refunded => after.refunded_at = Some(now),
        ReturnStatus::Rejected => after.rejected_at = Some(now),
        ReturnStatus::Requested => {}
    }
    Ok(Change::Updated {
        pickup_was_open: current.pickup_open(),
        after,
    })
}

fn check_refund(status: ReturnStatus, refund: Option<&Money>) -> Result<(), ReturnError> {
    match (status, refund) {
        (ReturnStatus::Refunded, None) => Err(ReturnError::RefundRequired),
        (ReturnStatus::Refunded, Some(_)) | (_, None) => Ok(()),
        (_, Some(_)) => Err(ReturnError::RefundWithoutRefunded),
    }
}

/// The order's lines the items name, with quantities within what was ordered less what other
/// (not rejected) returns already took back.
fn resolve_lines(
    facts: &OrderFacts,
    others: &[&ReturnRecord],
    items: Option<&[ItemRef]>,
) -> Result<Vec<ReturnLine>, ReturnError> {
    let items = items
        .filter(|i| !i.is_empty() && i.len() <= MAX_RETURN_LINES)
        .ok_or(ReturnError::BadItems)?;
    let mut lines: Vec<ReturnLine> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        // By order item id first (unique); a SKU only when one line has it.
        let by_id = facts.lines.iter().find(|l| l.order_item_id == item.item);
        let by_sku: Vec<&OrderLine> = facts
            .lines
            .iter()
            .filter(|l| l.seller_sku.as_deref() == Some(&item.item))
            .collect();
        let line = match (by_id, by_sku.as_slice()) {
            (Some(l), skus) if skus.iter().all(|s| std::ptr::eq(*s, l)) => l,
            (None, [l]) => l,
            (None, []) => return Err(ReturnError::UnknownItem(i + 1)),
            _ => return Err(ReturnError::AmbiguousItem(i + 1)),
        };
        let taken: u64 = others
            .iter()
            .flat_map(|r| &r.lines)
            .chain(lines.iter())
            .filter(|l| l.order_item_id == line.order_item_id)
            .map(|l| u64::from(l.quantity))
            .sum();
        if item.quantity == 0 || taken + u64::from(item.quantity) > u64::from(line.quantity) {
            return Err(ReturnError::Quantity(i + 1));
        }
        lines.push(ReturnLine {
            order_item_id: line.order_item_id.clone(),
            seller_sku: line.seller_sku.clone(),
            quantity: item.quantity,
        });
    }
    Ok(lines)
}

#[cfg(feature = "dynamodb")]
pub use dynamo::{DynamoReturns, FACT_ATTRS, WriteError, return_key, return_of};

#[cfg(feature = "dynamodb")]
mod dynamo {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
    use time::Duration;
    use time::format_description::well_known::Rfc3339;

    use super::*;
    use crate::aws::ddb::{get_n, get_s, n, s};
    use crate::layout::{ORDER_SK, PARTITION_KEY, SORT_KEY, TTL, attr, order_pk};
    use crate::retention::dynamo::{business_key, line_of, money_of};
    use crate::store::StoreError;

    type Item = HashMap<String, AttributeValue>;

    /// The order item's attributes a return reads (never a blob).
    pub const FACT_ATTRS: [&str; 10] = [
        PARTITION_KEY,
        "seller_id",
        "order_id",
        "marketplace_id",
        "created_time",
        "items",
        "order_total",
        attr::PII_ERASED_AT,
        attr::PII_EXPIRES_AT,
        attr::RETURNS_REV,
    ];

    /// The partition and sort-key prefix of an order's returns: the month of its business
    /// record, and its record's sort key.
    fn returns_of_order(
        purchase: OffsetDateTime,
        seller_id: &str,
        order_id: &str,
    ) -> (String, String) {
        let (pk, sk) = business_key(purchase, seller_id, order_id);
        let month = pk.trim_start_matches("BUSINESS#");
        (format!("{RETURN_PK_PREFIX}{month}"), format!("{sk}#"))
    }

    /// A return's key: `RETURN#<month>`, `<the order's record sort key>#<rma>`.
    pub fn return_key(
        purchase: OffsetDateTime,
        seller_id: &str,
        order_id: &str,
        rma: &str,
    ) -> (String, String) {
        let (pk, prefix) = returns_of_order(purchase, seller_id, order_id);
        (pk, format!("{prefix}{rma}"))
    }

    /// A stored return item's record, if the item is one.
    pub fn return_of(item: &Item) -> Option<Result<ReturnRecord, StoreError>> {
        (get_s(item, "kind") == Some("return")).then(|| {
            get_s(item, "record")
                .and_then(|r| serde_json::from_str(r).ok())
                .ok_or(StoreError::Malformed("return record"))
        })
    }

    /// Why a return was not written.
    #[derive(Debug, thiserror::Error)]
    pub enum WriteError {
        /// Another write changed the order's returns (or its item) since they were read:
        /// read again.
        #[error("the order's returns changed meanwhile; try again")]
        Concurrent,
        #[error(transparent)]
        Store(#[from] StoreError),
    }

    /// The returns of the order table.
    #[derive(Debug, Clone)]
    pub struct DynamoReturns {
        client: Client,
        table: String,
        business_retention: Duration,
    }

    impl DynamoReturns {
        pub fn new(client: Client, table: impl Into<String>, business_retention: Duration) -> Self {
            Self {
                client,
                table: table.into(),
                business_retention,
            }
        }

        /// The order's facts at `now` (a consistent read of the order item's non-PII
        /// attributes).
        pub async fn order_facts(
            &self,
            seller_id: &str,
            order_id: &str,
            now: OffsetDateTime,
        ) -> Result<Option<OrderFacts>, StoreError> {
            let (projection, names) = crate::aws::ddb::aliased_projection(&FACT_ATTRS);
            let item = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(PARTITION_KEY, s(order_pk(seller_id, order_id)))
                .key(SORT_KEY, s(ORDER_SK))
                .projection_expression(projection)
                .set_expression_attribute_names(Some(names))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| crate::aws::ddb::store_error("GetItem", &e))?
                .item;
            let Some(item) = item else { return Ok(None) };
            let lines = match item.get("items") {
                Some(v) => v
                    .as_l()
                    .map_err(|_| StoreError::Malformed("items"))?
                    .iter()
                    .map(line_of)
                    .collect::<Option<Vec<_>>>()
                    .ok_or(StoreError::Malformed("items"))?,
                None => Vec::new(),
            };
            Ok(Some(OrderFacts {
                seller_id: seller_id.to_owned(),
                order_id: order_id.to_owned(),
                marketplace_id: get_s(&item, "marketplace_id")
                    .unwrap_or_default()
                    .to_owned(),
                purchase_date: get_s(&item, "created_time")
                    .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                    .ok_or(StoreError::Malformed("created_time"))?,
                lines,
                order_total: money_of(item.get("order_total")),
                pii_gone: item.contains_key(attr::PII_ERASED_AT)
                    || get_n(&item, attr::PII_EXPIRES_AT)
                        .is_some_and(|e| e <= now.unix_timestamp()),
                returns_rev: get_n(&item, attr::RETURNS_REV).unwrap_or(0),
            }))
        }

        /// Every return of the order with its stored version, RMA order (one consistent Query).
        pub async fn returns_of(
            &self,
            facts: &OrderFacts,
        ) -> Result<Vec<(ReturnRecord, i64)>, StoreError> {
            let (pk, prefix) =
                returns_of_order(facts.purchase_date, &facts.seller_id, &facts.order_id);
            let mut out = Vec::new();
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
                .expression_attribute_values(":p", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
                .projection_expression("#k, #r, #v")
                .expression_attribute_names("#k", "kind")
                .expression_attribute_names("#r", "record")
                .expression_attribute_names("#v", "version")
                .consistent_read(true)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| crate::aws::ddb::store_error("Query", &e))?;
                for item in page.items.unwrap_or_default() {
                    if let Some(record) = return_of(&item) {
                        out.push((record?, get_n(&item, "version").unwrap_or(0)));
                    }
                }
            }
            Ok(out)
        }

        /// Write a change in one transaction with `audit` (the event's items): the return item
        /// (created only if absent, changed only at the version read) and the order item's
        /// returns revision (only at `returns_rev`, the one the change was computed from) with
        /// its open pickups. [`Change::Unchanged`] writes only the audit items.
        pub async fn write(
            &self,
            change: &Change,
            version: i64,
            returns_rev: i64,
            audit: [TransactWriteItem; 2],
        ) -> Result<(), WriteError> {
            let built = |_| StoreError::Malformed("transaction request");
            let record = change.record();
            let mut items: Vec<TransactWriteItem> = Vec::with_capacity(4);
            if !matches!(change, Change::Unchanged(_)) {
                let (pk, sk) = return_key(
                    record.purchase_date,
                    &record.seller_id,
                    &record.order_id,
                    &record.rma_id,
                );
                let json = serde_json::to_string(record)
                    .map_err(|_| StoreError::Malformed("return record"))?;
                let ttl = (record.updated_at + self.business_retention).unix_timestamp();
                let mut put = Put::builder()
                    .table_name(&self.table)
                    .item(PARTITION_KEY, s(pk))
                    .item(SORT_KEY, s(sk))
                    .item("kind", s("return"))
                    .item("seller_id", s(&record.seller_id))
                    .item("order_id", s(&record.order_id))
                    .item("rma_id", s(&record.rma_id))
                    .item("record", s(json))
                    .item("version", n(version + 1))
                    .item(TTL, n(ttl));
                put = match change {
                    Change::Created(_) => put.condition_expression("attribute_not_exists(pk)"),
                    _ => put
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", n(version)),
                };
                items.push(
                    TransactWriteItem::builder()
                        .put(put.build().map_err(built)?)
                        .build(),
                );
                let mut update = Update::builder()
                    .table_name(&self.table)
                    .key(
                        PARTITION_KEY,
                        s(order_pk(&record.seller_id, &record.order_id)),
                    )
                    .key(SORT_KEY, s(ORDER_SK))
                    .condition_expression(
                        "attribute_exists(pk) AND (attribute_not_exists(#rev) OR #rev = :rev)",
                    )
                    .expression_attribute_names("#rev", attr::RETURNS_REV)
                    .expression_attribute_values(":rev", n(returns_rev))
                    .expression_attribute_values(":next", n(returns_rev + 1));
                update = match change.pickup_change() {
                    None => update.update_expression("SET #rev = :next"),
                    Some(opens) => update
                        .update_expression(if opens {
                            "SET #rev = :next ADD #p :r"
                        } else {
                            "SET #rev = :next DELETE #p :r"
                        })
                        .expression_attribute_names("#p", attr::PICKUP_RMAS)
                        .expression_attribute_values(
                            ":r",
                            AttributeValue::Ss(vec![record.rma_id.clone()]),
                        ),
                };
                items.push(
                    TransactWriteItem::builder()
                        .update(update.build().map_err(built)?)
                        .build(),
                );
            }
            items.extend(audit);
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) => {
                    let reasons = crate::aws::ddb::cancellation_reasons(&e);
                    if reasons.iter().any(|r| {
                        matches!(
                            r.as_deref(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        )
                    }) {
                        Err(WriteError::Concurrent)
                    } else {
                        Err(WriteError::Store(crate::aws::ddb::store_error(
                            "TransactWriteItems",
                            &e,
                        )))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn money(a: &str) -> Option<Money> {
        Some(Money {
            amount: a.into(),
            currency_code: "USD".into(),
        })
    }

    fn facts() -> OrderFacts {
        let line = |id: &str, sku: &str, qty| OrderLine {
            order_item_id: id.into(),
            seller_sku: Some(sku.into()),
            asin: None,
            quantity: qty,
            unit_price: money("20.00"),
            tax: None,
            is_gift: false,
        };
        OrderFacts {
            seller_id: "S1".into(),
            order_id: "111-1".into(),
            marketplace_id: "ATVPDKIKX0DER".into(),
            purchase_date: datetime!(2026-11-03 07:00 UTC),
            lines: vec![line("OI-1", "SKU-A", 2), line("OI-2", "SKU-B", 1)],
            order_total: money("50.00"),
            pii_gone: false,
            returns_rev: 0,
        }
    }

    fn open(rma: &str, items: &[(&str, u32)]) -> ReturnRequest {
        ReturnRequest {
            rma_id: rma.into(),
            reason: Some(ReturnReason::Damaged),
            items: Some(
                items
                    .iter()
                    .map(|(i, q)| ItemRef {
                        item: (*i).into(),
                        quantity: *q,
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-20 10:00 UTC);

    fn created(c: Change) -> ReturnRecord {
        match c {
            Change::Created(r) => r,
            other => panic!("not created: {other:?}"),
        }
    }

    #[test]
    fn a_new_return_names_the_orders_lines_by_sku_or_item_id() {
        let r = created(
            apply(
                &facts(),
                &[],
                &open("RMA-1", &[("SKU-A", 1), ("OI-2", 1)]),
                NOW,
            )
            .unwrap(),
        );
        assert_eq!(r.status, ReturnStatus::Requested);
        assert_eq!(r.method, ReturnMethod::SellerLabel);
        assert_eq!(r.lines[0].order_item_id, "OI-1");
        assert_eq!(r.lines[1].seller_sku.as_deref(), Some("SKU-B"));
        assert_eq!(r.opened_at, NOW);
        assert!(!r.pickup_open());
    }

    #[test]
    fn bad_requests_are_refused_by_field() {
        let f = facts();
        let mut bad = open("RMA 1", &[("SKU-A", 1)]);
        assert_eq!(apply(&f, &[], &bad, NOW), Err(ReturnError::BadRmaId));
        bad.rma_id = "RMA-1".into();
        bad.reason = None;
        assert_eq!(apply(&f, &[], &bad, NOW), Err(ReturnError::MissingReason));
        assert_eq!(
            apply(&f, &[], &open("R", &[]), NOW),
            Err(ReturnError::BadItems)
        );
        assert_eq!(
            apply(&f, &[], &open("R", &[("SKU-Z", 1)]), NOW),
            Err(ReturnError::UnknownItem(1))
        );
        assert_eq!(
            apply(&f, &[], &open("R", &[("SKU-A", 3)]), NOW),
            Err(ReturnError::Quantity(1))
        );
        assert_eq!(
            apply(&f, &[], &open("R", &[("SKU-A", 0)]), NOW),
            Err(ReturnError::Quantity(1))
        );
        assert_eq!(
            apply(&f, &[], &open("R", &[("SKU-A", 1), ("OI-1", 2)]), NOW),
            Err(ReturnError::Quantity(2)),
            "two lines of one request add up"
        );
        for refund in ["-1", "0", "1e3", "12.345678", " 1", "NaN"] {
            let mut r = open("R", &[("SKU-A", 1)]);
            r.status = Some(ReturnStatus::Refunded);
            r.refund = Some(refund.into());
            assert_eq!(
                apply(&f, &[], &r, NOW),
                Err(ReturnError::BadRefund),
                "{refund}"
            );
        }
        let mut r = open("R", &[("SKU-A", 1)]);
        r.status = Some(ReturnStatus::Refunded);
        assert_eq!(apply(&f, &[], &r, NOW), Err(ReturnError::RefundRequired));
        r.status = Some(ReturnStatus::Received);
        r.refund = Some("5".into());
        assert_eq!(
            apply(&f, &[], &r, NOW),
            Err(ReturnError::RefundWithoutRefunded)
        );
    }

    #[test]
    fn the_status_moves_forward_only_and_repeats_are_harmless() {
        let f = facts();
        let r = created(apply(&f, &[], &open("RMA-1", &[("SKU-A", 2)]), NOW).unwrap());
        let step = |existing: &ReturnRecord, status, refund: Option<&str>| {
            apply(
                &f,
                std::slice::from_ref(existing),
                &ReturnRequest {
                    rma_id: "RMA-1".into(),
                    status: Some(status),
                    refund: refund.map(str::to_owned),
                    ..Default::default()
                },
                NOW + time::Duration::days(3),
            )
        };
        let Ok(Change::Updated {
            after: received, ..
        }) = step(&r, ReturnStatus::Received, None)
        else {
            panic!("requested -> received");
        };
        assert_eq!(received.received_at, Some(NOW + time::Duration::days(3)));
        let Ok(Change::Updated {
            after: refunded, ..
        }) = step(&received, ReturnStatus::Refunded, Some("40.00"))
        else {
            panic!("received -> refunded");
        };
        assert_eq!(refunded.refund, money("40"));
        assert!(matches!(
            step(&refunded, ReturnStatus::Refunded, Some("40")),
            Ok(Change::Unchanged(_))
        ));
        assert!(matches!(
            step(&refunded, ReturnStatus::Refunded, None),
            Ok(Change::Unchanged(_))
        ));
        assert_eq!(
            step(&refunded, ReturnStatus::Refunded, Some("41")),
            Err(ReturnError::Transition {
                from: "refunded",
                to: "refunded"
            })
        );
        assert_eq!(
            step(&refunded, ReturnStatus::Received, None),
            Err(ReturnError::Transition {
                from: "refunded",
                to: "received"
            })
        );
        assert_eq!(
            step(&received, ReturnStatus::Requested, None),
            Err(ReturnError::Transition {
                from: "received",
                to: "requested"
            })
        );
        let mut changed = open("RMA-1", &[("SKU-A", 1)]);
        changed.status = Some(ReturnStatus::Received);
        assert_eq!(
            apply(&f, std::slice::from_ref(&r), &changed, NOW),
            Err(ReturnError::Fixed)
        );
    }

    #[test]
    fn quantities_and_refunds_count_the_orders_other_returns_but_not_rejected_ones() {
        let f = facts();
        let mut first = created(apply(&f, &[], &open("RMA-1", &[("SKU-A", 2)]), NOW).unwrap());
        assert_eq!(
            apply(
                &f,
                std::slice::from_ref(&first),
                &open("RMA-2", &[("SKU-A", 1)]),
                NOW
            ),
            Err(ReturnError::Quantity(1))
        );
        first.refund = money("45.00");
        first.status = ReturnStatus::Refunded;
        let mut second = open("RMA-2", &[("SKU-B", 1)]);
        second.status = Some(ReturnStatus::Refunded);
        second.refund = Some("5.01".into());
        assert_eq!(
            apply(&f, std::slice::from_ref(&first), &second, NOW),
            Err(ReturnError::RefundOverTotal)
        );
        second.refund = Some("5".into());
        assert!(apply(&f, std::slice::from_ref(&first), &second, NOW).is_ok());
        first.status = ReturnStatus::Rejected;
        first.refund = None;
        assert!(
            apply(
                &f,
                std::slice::from_ref(&first),
                &open("RMA-3", &[("SKU-A", 2)]),
                NOW
            )
            .is_ok()
        );
    }

    #[test]
    fn only_an_uncollected_pickup_opens_the_address() {
        let f = facts();
        let mut req = open("RMA-9", &[("SKU-B", 1)]);
        req.method = Some(ReturnMethod::Pickup);
        let change = apply(&f, &[], &req, NOW).unwrap();
        assert_eq!(change.pickup_change(), Some(true));
        let r = created(change);
        let received = apply(
            &f,
            std::slice::from_ref(&r),
            &ReturnRequest {
                rma_id: "RMA-9".into(),
                status: Some(ReturnStatus::Received),
                ..Default::default()
            },
            NOW,
        )
        .unwrap();
        assert_eq!(received.pickup_change(), Some(false));
        assert!(
            !created(apply(&f, &[], &open("RMA-8", &[("SKU-B", 1)]), NOW).unwrap()).pickup_open()
        );
    }

    #[test]
    fn an_item_naming_two_lines_is_refused_and_a_pickup_needs_the_address() {
        let mut f = facts();
        f.lines[1].seller_sku = Some("SKU-A".into());
        assert_eq!(
            apply(&f, &[], &open("R", &[("SKU-A", 1)]), NOW),
            Err(ReturnError::AmbiguousItem(1))
        );
        let by_id = created(apply(&f, &[], &open("R", &[("OI-2", 1)]), NOW).unwrap());
        assert_eq!(by_id.lines[0].order_item_id, "OI-2");

        let mut f = facts();
        f.pii_gone = true;
        let mut pickup = open("R", &[("SKU-B", 1)]);
        pickup.method = Some(ReturnMethod::Pickup);
        assert_eq!(
            apply(&f, &[], &pickup, NOW),
            Err(ReturnError::PickupWithoutAddress)
        );
        assert!(
            apply(&f, &[], &open("R", &[("SKU-B", 1)]), NOW).is_ok(),
            "a seller-addressed label needs no address"
        );
    }

    #[test]
    fn requests_refuse_unknown_fields_and_reason_text() {
        let json = r#"{"rma_id":"R","reason":"damaged","items":[{"item":"SKU-A","quantity":1}],"note":"x"}"#;
        assert!(serde_json::from_str::<ReturnRequest>(json).is_err());
        let json = r#"{"rma_id":"R","reason":"it broke, call me","items":[]}"#;
        assert!(serde_json::from_str::<ReturnRequest>(json).is_err());
        let json = r#"{"rma_id":"R","reason":"wrong_item","method":"pickup","items":[{"item":"SKU-A","quantity":1}]}"#;
        let req: ReturnRequest = serde_json::from_str(json).unwrap();
        assert_eq!(req.method, Some(ReturnMethod::Pickup));
    }
}
