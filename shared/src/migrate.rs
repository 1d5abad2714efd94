//! `orderseal migrate`: bring items written before the current layout ([`crate::layout`]) to
//! it, in place and repeatably.
//!
//! * An order item holding sealed blobs itself (the layout before issue 10, whose `ttl` was the
//!   PII expiry, so TTL could delete the whole order) gets its blobs moved, byte for byte, into
//!   its sealed-PII item with `ttl = max(expiry, hold)`, and its own `ttl` becomes the business
//!   retention after the expiry (none while held). The move is one transaction conditional on
//!   the order's version; nothing is decrypted (a blob is bound to seller, order and class by its
//!   KMS encryption context, not to the item that holds it).
//! * A tracking lookup `TRACKING#<number>` (before lookups were bound to the carrier route that
//!   bought the label) is rebound to `TRACKING#<route>#<number>` from its order's dispatch state.
//!
//! Running it again finds nothing to do. It reads sealed blobs (to move them), so it runs with
//! table-administrator credentials, not the operators' role, which can read none.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use serde::Serialize;
use time::Duration;

use crate::aws::ddb::{get_n, get_s, n, s, store_error as err};
use crate::layout::{
    self, ORDER_SK, PII_SK, TRACKING_SK, TTL, attr, ids_of_pk, pii_attribute, pii_pk, tracking_pk,
};
use crate::seal::PiiClass;
use crate::store::StoreError;

type Item = HashMap<String, AttributeValue>;

/// What a migration run found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    pub scanned: u64,
    /// Order items whose sealed blobs moved into their sealed-PII item.
    pub pii_moved: u64,
    /// Legacy tracking lookups rebound to their carrier route.
    pub lookups_rebound: u64,
    /// Items that need migrating but changed under the run, or whose order could not say the
    /// route (left as they are; a later run retries).
    pub skipped: u64,
    pub dry_run: bool,
}

/// Migrate every item of `table` (see the module docs). With `dry_run`, only count.
pub async fn migrate_layout(
    client: &Client,
    table: &str,
    business_retention: Duration,
    dry_run: bool,
) -> Result<MigrationReport, StoreError> {
    let mut report = MigrationReport {
        dry_run,
        ..MigrationReport::default()
    };
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("Scan", &e))?;
        report.scanned += out.scanned_count().max(0) as u64;
        for item in out.items() {
            let pk = get_s(item, crate::layout::PARTITION_KEY).unwrap_or_default();
            if get_s(item, crate::layout::SORT_KEY) == Some(ORDER_SK) && has_blobs(item) {
                if dry_run || move_pii(client, table, item, business_retention).await? {
                    report.pii_moved += 1;
                } else {
                    report.skipped += 1;
                }
            } else if let Some(number) = legacy_tracking_number(pk, item) {
                if dry_run || rebind_lookup(client, table, item, number).await? {
                    report.lookups_rebound += 1;
                } else {
                    report.skipped += 1;
                }
            }
        }
        start = out.last_evaluated_key.filter(|k| !k.is_empty());
        if start.is_none() {
            return Ok(report);
        }
    }
}

fn has_blobs(item: &Item) -> bool {
    PiiClass::ALL
        .iter()
        .any(|c| item.contains_key(pii_attribute(*c)))
}

/// `TRACKING#<number>` (one `#`), not `TRACKING#<route>#<number>`.
fn legacy_tracking_number<'a>(pk: &'a str, item: &Item) -> Option<&'a str> {
    let number = pk.strip_prefix("TRACKING#")?;
    (get_s(item, crate::layout::SORT_KEY) == Some(TRACKING_SK)
        && !number.is_empty()
        && !number.contains('#'))
    .then_some(number)
}

fn conditional_failed<E>(
    e: &aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| {
            c == "TransactionCanceledException" || c == "ConditionalCheckFailedException"
        })
}

async fn move_pii(
    client: &Client,
    table: &str,
    order: &Item,
    business_retention: Duration,
) -> Result<bool, StoreError> {
    let built = |_| StoreError::Malformed("transaction request");
    let (Some((seller_id, order_id)), Some(version), Some(expires)) = (
        get_s(order, crate::layout::PARTITION_KEY).and_then(ids_of_pk),
        get_n(order, attr::LAST_UPDATED_MS),
        get_n(order, attr::PII_EXPIRES_AT),
    ) else {
        return Err(StoreError::Malformed("order item"));
    };
    let hold = get_n(order, attr::HOLD_UNTIL);
    let removes = PiiClass::ALL.map(pii_attribute).join(", ");
    // The classes it holds, by name (the subject report lists them).
    let classes = AttributeValue::L(
        PiiClass::ALL
            .iter()
            .filter(|c| order.contains_key(pii_attribute(**c)))
            .map(|c| s(c.as_str()))
            .collect(),
    );
    let erased = order.contains_key(attr::PII_ERASED_AT);
    let mut update = Update::builder()
        .table_name(table)
        .key(
            crate::layout::PARTITION_KEY,
            s(layout::order_pk(&seller_id, &order_id)),
        )
        .key(crate::layout::SORT_KEY, s(ORDER_SK))
        .condition_expression("last_updated_ms = :v")
        .expression_attribute_values(":v", n(version));
    update = match (erased, hold) {
        // Should not exist: blobs beside a tombstone go, nothing moves.
        (true, _) => update.update_expression(format!("REMOVE {removes}")),
        // Held: the order item keeps no TTL while a hold lasts.
        (false, Some(_)) => update
            .update_expression(format!(
                "SET pii_written_ms = :v, pii_classes = :classes REMOVE {removes}, #ttl"
            ))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":classes", classes.clone()),
        (false, None) => update
            .update_expression(format!(
                "SET pii_written_ms = :v, pii_classes = :classes, #ttl = :ottl REMOVE {removes}"
            ))
            .expression_attribute_values(":classes", classes.clone())
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(
                ":ottl",
                n(layout::order_ttl(expires, business_retention)),
            ),
    };
    let update = update.build().map_err(built)?;
    let mut items = vec![TransactWriteItem::builder().update(update).build()];
    if !erased {
        let mut sealed: Item = PiiClass::ALL
            .iter()
            .filter_map(|c| {
                let a = pii_attribute(*c);
                order.get(a).map(|v| (a.to_owned(), v.clone()))
            })
            .collect();
        sealed.insert(
            crate::layout::PARTITION_KEY.into(),
            s(pii_pk(&seller_id, &order_id)),
        );
        sealed.insert(crate::layout::SORT_KEY.into(), s(PII_SK));
        sealed.insert(TTL.into(), n(layout::pii_ttl(expires, hold)));
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(sealed))
            // A PII item written by the current code holds a newer version's PII.
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(built)?;
        items.push(TransactWriteItem::builder().put(put).build());
    }
    let result = client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if conditional_failed(&e) => Ok(false),
        Err(e) => Err(err("TransactWriteItems", &e)),
    }
}

async fn rebind_lookup(
    client: &Client,
    table: &str,
    lookup: &Item,
    number: &str,
) -> Result<bool, StoreError> {
    let built = |_| StoreError::Malformed("transaction request");
    let (Some(seller_id), Some(order_id)) = (get_s(lookup, "seller_id"), get_s(lookup, "order_id"))
    else {
        return Ok(false);
    };
    let order = client
        .get_item()
        .table_name(table)
        .key(
            crate::layout::PARTITION_KEY,
            s(layout::order_pk(seller_id, order_id)),
        )
        .key(crate::layout::SORT_KEY, s(ORDER_SK))
        .projection_expression("dispatch_via, label, labels")
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| err("GetItem", &e))?
        .item
        .unwrap_or_default();
    // The label that bought this tracking number (an order of several packages has one each).
    let label: Option<crate::dispatch::PurchasedLabel> = crate::dispatch::labels_of(&order)
        .unwrap_or_default()
        .into_iter()
        .find(|l| l.shipment.tracking_number == number);
    let Some(route) = label
        .as_ref()
        .map(|l| l.shipment.via.clone())
        .or_else(|| get_s(&order, "dispatch_via").map(str::to_owned))
    else {
        tracing::warn!(
            order_id,
            "tracking lookup left as it is: its order names no route"
        );
        return Ok(false);
    };
    let mut rebound = lookup.clone();
    rebound.insert(
        crate::layout::PARTITION_KEY.into(),
        s(tracking_pk(&route, number)),
    );
    if !rebound.contains_key("labelled_at")
        && let Some(t) = label.as_ref().and_then(|l| {
            time::OffsetDateTime::parse(
                &l.purchased_at,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
        })
    {
        rebound.insert("labelled_at".into(), n(t.unix_timestamp()));
    }
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(rebound))
        .condition_expression(
            "attribute_not_exists(pk) OR (seller_id = :seller AND order_id = :order)",
        )
        .expression_attribute_values(":seller", s(seller_id))
        .expression_attribute_values(":order", s(order_id))
        .build()
        .map_err(built)?;
    let delete = Delete::builder()
        .table_name(table)
        .key(
            crate::layout::PARTITION_KEY,
            s(layout::legacy_tracking_pk(number)),
        )
        .key(crate::layout::SORT_KEY, s(TRACKING_SK))
        .build()
        .map_err(built)?;
    let result = client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().delete(delete).build())
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if conditional_failed(&e) => Ok(false),
        Err(e) => Err(err("TransactWriteItems", &e)),
    }
}
