//! The order table's layout, in one place: every key, the attribute names adapters share, and
//! the one rule that sets `ttl`. Every adapter (ingest, dispatch, callbacks, retention, the ops
//! CLI and the IAM request recorder) builds keys and TTLs here.
//!
//! Items (key values and attribute names never hold PII; only `PII#` items hold sealed PII):
//! * **order** `ORDER#<seller>#<order>` / `ORDER`: the order's non-PII facts, its dispatch and
//!   tracking state, and its retention state — `pii_expires_at` (when its PII must be gone),
//!   `anchored_expires_at` (the expiry the retention anchor fixed: ship date or delivery; no
//!   later notification moves it), `hold_until` (a legal hold), `pii_shard` (in the sparse
//!   expiry index while it may hold PII) and the tombstone `pii_erased_at` (refuses PII for good).
//! * **sealed PII** `PII#<seller>#<order>` / `PII`: one binary attribute per sealed class and
//!   `ttl`. In its own partition so IAM (`dynamodb:LeadingKeys`) keeps every role that needs no
//!   PII away from it.
//! * tracking lookup `TRACKING#<route>#<number>`, carrier event marker
//!   `CARRIEREVENT#<carrier>#<id>`, notification lock `NOTIF#...`, business record
//!   `BUSINESS#<month>` (with the order's returns beside it), registries `HOLDS`, `CANCEL_REQUESTS`, `FRAUD_HOLDS`, audit `AUDIT#<seller>#<order>`,
//!   run stats `STATS`.
//!
//! ## The TTL rule
//! DynamoDB TTL is the backstop, the retention sweep the rule. TTL may fire early or late and
//! deletes whole items, so the layout makes sure it can only ever remove PII:
//! * the sealed-PII item's `ttl` is [`pii_ttl`] = `max(pii_expires_at, hold_until)` — written by
//!   every change of either (ingest, the anchor, holds);
//! * the order item's `ttl` is [`order_ttl`]: the business retention after the PII expiry while
//!   it may hold PII (a hold removes it), and the business record's own limit once erased.
//!   It never fires before the sweep could have erased, so the tombstone and the business record
//!   outlive the PII whichever fires first.

use time::Duration;

use crate::seal::PiiClass;

/// Partition key of every item.
pub const PARTITION_KEY: &str = "pk";
/// Sort key of every item.
pub const SORT_KEY: &str = "sk";
/// The table's TTL attribute (epoch seconds).
pub const TTL: &str = "ttl";

pub const ORDER_SK: &str = "ORDER";
pub const PII_SK: &str = "PII";
pub const TRACKING_SK: &str = "TRACKING";
pub const CARRIER_EVENT_SK: &str = "CARRIEREVENT";

/// Registry partitions.
pub const HOLDS_PK: &str = "HOLDS";
pub const CANCEL_REQUESTS_PK: &str = "CANCEL_REQUESTS";
/// Orders a fraud rule held, until a reviewer decides (`orderseal fraud list`).
pub const FRAUD_HOLDS_PK: &str = "FRAUD_HOLDS";
pub const STATS_PK: &str = "STATS";

/// Attribute names shared by more than one adapter.
pub mod attr {
    pub const PII_EXPIRES_AT: &str = "pii_expires_at";
    pub const ANCHORED_EXPIRES_AT: &str = "anchored_expires_at";
    pub const HOLD_UNTIL: &str = "hold_until";
    pub const PII_ERASED_AT: &str = "pii_erased_at";
    pub const PII_SHARD: &str = "pii_shard";
    pub const LAST_UPDATED_MS: &str = "last_updated_ms";
    /// On the order item: the `last_updated_ms` whose sealed PII item is written.
    pub const PII_WRITTEN_MS: &str = "pii_written_ms";
    /// On the sealed-PII item: the blind-index keys (`crate::fraud`), the `address-index`
    /// GSI's partition key and what it projects.
    pub const ADDR_KEY: &str = "addr_key";
    pub const NAME_KEY: &str = "name_key";
    pub const INDEXED_MS: &str = "indexed_ms";
    pub const CANCEL_REQ: &str = "cancel_req";
    /// On the order item: the RMA ids of its open pickup returns (`crate::returns`), the only
    /// time purpose `returns` reads the address.
    pub const PICKUP_RMAS: &str = "pickup_rmas";
    /// On the order item: bumped by every change of its returns (they change one at a time).
    pub const RETURNS_REV: &str = "returns_rev";
}

/// Partition key attribute of the expiry index.
pub const EXPIRY_INDEX_PARTITION_KEY: &str = attr::PII_SHARD;

/// The partition key attribute of a secondary index of the table.
pub fn index_partition_key(index: &str) -> Option<&'static str> {
    match index {
        crate::retention::EXPIRY_INDEX => Some(EXPIRY_INDEX_PARTITION_KEY),
        crate::fraud::ADDRESS_INDEX => Some(attr::ADDR_KEY),
        _ => None,
    }
}

pub fn order_pk(seller_id: &str, order_id: &str) -> String {
    format!("ORDER#{seller_id}#{order_id}")
}

/// The partition of an order's sealed PII.
pub fn pii_pk(seller_id: &str, order_id: &str) -> String {
    format!("PII#{seller_id}#{order_id}")
}

/// `ORDER#<seller>#<order>` or `PII#<seller>#<order>` → (seller, order).
pub fn ids_of_pk(pk: &str) -> Option<(String, String)> {
    let mut parts = pk.splitn(3, '#');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("ORDER" | "PII"), Some(seller), Some(order))
            if !seller.is_empty() && !order.is_empty() =>
        {
            Some((seller.to_owned(), order.to_owned()))
        }
        _ => None,
    }
}

/// The attribute of the sealed-PII item holding one class.
pub fn pii_attribute(class: PiiClass) -> &'static str {
    match class {
        PiiClass::Shipping => "pii_shipping",
        PiiClass::Contact => "pii_contact",
        PiiClass::Gift => "pii_gift",
    }
}

/// The lookup from a carrier route's tracking number to the order.
pub fn tracking_pk(route: &str, tracking_number: &str) -> String {
    format!("TRACKING#{route}#{tracking_number}")
}

/// The pre-route lookup key (`TRACKING#<number>`), for migration only.
pub fn legacy_tracking_pk(tracking_number: &str) -> String {
    format!("TRACKING#{tracking_number}")
}

pub fn carrier_event_pk(carrier: &str, event_id: &str) -> String {
    format!("CARRIEREVENT#{carrier}#{event_id}")
}

pub fn audit_pk(seller_id: &str, order_id: &str) -> String {
    format!("AUDIT#{seller_id}#{order_id}")
}

/// Sort key of an order's entry in a registry (`HOLDS`, `CANCEL_REQUESTS`).
pub fn registry_sk(seller_id: &str, order_id: &str) -> String {
    format!("{seller_id}#{order_id}")
}

/// The TTL of an order's sealed-PII item: never before its expiry, nor before a hold's end.
pub fn pii_ttl(pii_expires_at: i64, hold_until: Option<i64>) -> i64 {
    hold_until.map_or(pii_expires_at, |h| h.max(pii_expires_at))
}

/// The TTL of an order item that may still hold PII (not held, not erased): the business
/// retention after its PII expiry, saturating.
pub fn order_ttl(pii_expires_at: i64, business_retention: Duration) -> i64 {
    pii_expires_at.saturating_add(business_retention.whole_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_removes_pii_before_anything_the_business_keeps() {
        let exp = 1_800_000_000;
        assert_eq!(pii_ttl(exp, None), exp);
        assert_eq!(
            pii_ttl(exp, Some(exp - 5)),
            exp,
            "a lapsed hold lowers nothing"
        );
        assert_eq!(pii_ttl(exp, Some(exp + 5)), exp + 5, "a hold owns the TTL");
        let order = order_ttl(exp, Duration::days(548));
        assert!(order > pii_ttl(exp, None));
        assert_eq!(order_ttl(i64::MAX - 1, Duration::days(1)), i64::MAX);
    }

    #[test]
    fn order_and_pii_keys_give_back_their_ids() {
        for pk in [order_pk("A1B2", "111-2"), pii_pk("A1B2", "111-2")] {
            assert_eq!(ids_of_pk(&pk), Some(("A1B2".into(), "111-2".into())));
        }
        assert_eq!(ids_of_pk("NOTIF#x"), None);
        assert_eq!(ids_of_pk("ORDER##1"), None);
        assert_eq!(ids_of_pk("TRACKING#ups#1Z"), None);
    }
}
