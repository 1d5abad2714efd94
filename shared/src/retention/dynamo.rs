//! The retention side of the order table.
//!
//! Items besides the order (`ORDER#<seller>#<order>` / `ORDER`):
//! * business record: `pk = BUSINESS#<YYYY-MM of purchase>`, `sk = <purchase>#<seller>#<order>`,
//!   the record as JSON in `record`, `ttl` = its own retention. A month is one Query.
//! * hold registry: `pk = HOLDS`, `sk = <seller>#<order>` (the report lists holds without a scan).
//! * audit: `pk = AUDIT#<seller>#<order>`, `sk = <time>#<action>`: who, why, until.
//! * run stats: `pk = STATS`, `sk = RETENTION`: erased total and the last run.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, PutRequest, TransactWriteItem, Update,
    WriteRequest,
};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::aws::ddb::{get_n, get_s, n, s, store_error as err};
use crate::dispatch::PurchasedLabel;
use crate::layout::{
    HOLDS_PK, ORDER_SK, PII_SK, STATS_PK, TTL, ids_of_pk, order_pk, pii_pk, registry_sk,
};

/// The run-stats item of the last index audit (`pk = STATS`).
pub const INDEX_AUDIT_SK: &str = "INDEX_AUDIT";

type Item = HashMap<String, AttributeValue>;

/// How long hold audit entries are kept (they are legal records themselves).
pub const AUDIT_RETENTION: Duration = Duration::days(3653);

/// The non-PII attributes the sweep reads to build a business record (never a sealed blob).
const BUSINESS_ATTRS: [&str; 20] = [
    crate::layout::PARTITION_KEY,
    "seller_id",
    "order_id",
    "marketplace_id",
    "fulfillment_status",
    "fulfilled_by",
    "created_time",
    "last_updated",
    "last_updated_ms",
    "items",
    "order_total",
    "order_tax",
    "label",
    "labels",
    "carrier",
    "tracking_number",
    "confirmed_at",
    "delivered_at",
    "hold_until",
    "pii_erased_at",
];

/// One audited change of a hold.
struct Audit<'a> {
    action: &'static str,
    reason: &'a str,
    by: &'a str,
    until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct DynamoRetention {
    client: Client,
    table: String,
}

fn time_of(item: &Item, k: &str) -> Option<OffsetDateTime> {
    get_s(item, k).and_then(|v| OffsetDateTime::parse(v, &Rfc3339).ok())
}

pub(crate) fn money_of(v: Option<&AttributeValue>) -> Option<Money> {
    let m = v?.as_m().ok()?;
    Some(Money {
        amount: get_s(m, "amount")?.to_owned(),
        currency_code: get_s(m, "currency_code")?.to_owned(),
    })
}

pub(crate) fn line_of(v: &AttributeValue) -> Option<OrderLine> {
    let m = v.as_m().ok()?;
    Some(OrderLine {
        order_item_id: get_s(m, "order_item_id")?.to_owned(),
        seller_sku: get_s(m, "seller_sku").map(str::to_owned),
        asin: get_s(m, "asin").map(str::to_owned),
        quantity: u32::try_from(get_n(m, "quantity")?).ok()?,
        unit_price: money_of(m.get("unit_price")),
        tax: money_of(m.get("tax")),
        is_gift: m
            .get("is_gift")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
    })
}

fn due_of(item: &Item) -> Option<DueOrder> {
    let (seller_id, order_id) = ids_of_pk(get_s(item, crate::layout::PARTITION_KEY)?)?;
    Some(DueOrder {
        seller_id,
        order_id,
        expires_at: get_n(item, "pii_expires_at")?,
        hold_until: get_n(item, "hold_until"),
        created_at: time_of(item, "created_time").map(OffsetDateTime::unix_timestamp),
    })
}

/// Whom the order's shipping class went to: the carrier of each package's label (one entry
/// per package), or the order's carrier as recorded before orders had packages.
fn shared_with(item: &Item, route: Option<String>) -> Vec<SharedWith> {
    let shipping = || vec![crate::seal::PiiClass::Shipping.as_str().to_owned()];
    let labels = crate::dispatch::labels_of(item).unwrap_or_default();
    if labels.is_empty() {
        return get_s(item, "carrier")
            .map(|carrier| SharedWith {
                carrier: carrier.to_owned(),
                route: route.clone(),
                tracking_number: get_s(item, "tracking_number").map(str::to_owned),
                classes: shipping(),
            })
            .into_iter()
            .collect();
    }
    labels
        .into_iter()
        .map(|l| SharedWith {
            carrier: l.shipment.carrier,
            route: Some(l.shipment.via),
            tracking_number: Some(l.shipment.tracking_number),
            classes: shipping(),
        })
        .collect()
}

/// The business record of a stored order, as it stands at erasure (`erased_at`) or, for an
/// order that holds no PII, as it stands.
pub fn business_record(
    item: &Item,
    erased_at: Option<OffsetDateTime>,
    keep_until: OffsetDateTime,
) -> Result<BusinessRecord, StoreError> {
    let labels: Vec<PurchasedLabel> = crate::dispatch::labels_of(item).unwrap_or_default();
    let label = labels.first();
    let shipment = label.map(|l| &l.shipment);
    let items = match item.get("items") {
        Some(v) => v
            .as_l()
            .map_err(|_| StoreError::Malformed("items"))?
            .iter()
            .map(line_of)
            .collect::<Option<Vec<_>>>()
            .ok_or(StoreError::Malformed("items"))?,
        None => Vec::new(),
    };
    Ok(BusinessRecord {
        seller_id: get_s(item, "seller_id")
            .ok_or(StoreError::Malformed("seller_id"))?
            .to_owned(),
        order_id: get_s(item, "order_id")
            .ok_or(StoreError::Malformed("order_id"))?
            .to_owned(),
        marketplace_id: get_s(item, "marketplace_id").unwrap_or_default().to_owned(),
        purchase_date: time_of(item, "created_time")
            .ok_or(StoreError::Malformed("created_time"))?,
        last_updated: time_of(item, "last_updated").ok_or(StoreError::Malformed("last_updated"))?,
        fulfillment_status: get_s(item, "fulfillment_status")
            .unwrap_or_default()
            .to_owned(),
        fulfilled_by: get_s(item, "fulfilled_by").unwrap_or_default().to_owned(),
        items,
        order_total: money_of(item.get("order_total")),
        order_tax: money_of(item.get("order_tax")),
        carrier: shipment
            .map(|s| s.carrier.clone())
            .or_else(|| get_s(item, "carrier").map(str::to_owned)),
        service: shipment.map(|s| s.service.clone()),
        tracking_number: shipment
            .map(|s| s.tracking_number.clone())
            .or_else(|| get_s(item, "tracking_number").map(str::to_owned)),
        shipping_cost: shipping_cost(&labels),
        packages: if labels.len() > 1 {
            labels
                .iter()
                .map(|l| ShippedPackage {
                    package_ref: l.package_ref.clone(),
                    carrier: l.shipment.carrier.clone(),
                    service: l.shipment.service.clone(),
                    tracking_number: l.shipment.tracking_number.clone(),
                    cost: l.shipment.cost.clone(),
                })
                .collect()
        } else {
            Vec::new()
        },
        shipped_at: time_of(item, "confirmed_at")
            .or_else(|| label.and_then(|l| OffsetDateTime::parse(&l.purchased_at, &Rfc3339).ok())),
        delivered_at: time_of(item, "delivered_at"),
        pii_erased_at: erased_at,
        retain_until: keep_until,
    })
}

/// What the order's labels cost together: their sum when they share a currency and every
/// amount is a number; otherwise the first label's cost (each package's is in `packages`).
fn shipping_cost(labels: &[PurchasedLabel]) -> Option<Money> {
    let first = &labels.first()?.shipment.cost;
    let total = labels
        .iter()
        .try_fold(rust_decimal::Decimal::ZERO, |sum, l| {
            let cost = &l.shipment.cost;
            (cost.currency_code == first.currency_code)
                .then(|| cost.amount.parse::<rust_decimal::Decimal>().ok())
                .flatten()
                .and_then(|a| sum.checked_add(a))
        });
    Some(match total {
        Some(sum) if labels.len() > 1 => Money {
            amount: sum.to_string(),
            currency_code: first.currency_code.clone(),
        },
        _ => first.clone(),
    })
}

/// The business record's item: its key, the record as JSON, its own TTL (its retention), and
/// `pii_erased` once the sweep wrote it at erasure (no refresh overwrites that one).
pub fn business_item(r: &BusinessRecord) -> Result<Item, StoreError> {
    let (pk, sk) = business_key(r.purchase_date, &r.seller_id, &r.order_id);
    let record = serde_json::to_string(r).map_err(|_| StoreError::Malformed("record"))?;
    let mut item = HashMap::from([
        (crate::layout::PARTITION_KEY.to_owned(), s(pk)),
        (crate::layout::SORT_KEY.to_owned(), s(sk)),
        ("seller_id".to_owned(), s(&r.seller_id)),
        ("order_id".to_owned(), s(&r.order_id)),
        ("purchase_date".to_owned(), s(iso(r.purchase_date))),
        ("record".to_owned(), s(record)),
        ("record_version".to_owned(), n(1)),
        (
            crate::layout::TTL.to_owned(),
            n(r.retain_until.unix_timestamp()),
        ),
    ]);
    if r.pii_erased_at.is_some() {
        item.insert("pii_erased".to_owned(), AttributeValue::Bool(true));
    }
    Ok(item)
}

/// Write or refresh the business record of an order still holding (or never holding) PII from
/// its order item as `item` holds it: over an older or equal version only, and never over the
/// record the sweep wrote at erasure. So the accounting export is complete for a closed month
/// before any PII is erased; the sweep writes the final record (with the erasure) later.
pub async fn put_business_record(
    client: &Client,
    table: &str,
    item: &Item,
    keep_until: OffsetDateTime,
) -> Result<(), StoreError> {
    if item.contains_key("pii_erased_at") {
        return Ok(());
    }
    let version = get_n(item, "last_updated_ms").ok_or(StoreError::Malformed("last_updated_ms"))?;
    let mut put = business_item(&business_record(item, None, keep_until)?)?;
    put.insert("last_updated_ms".into(), n(version));
    let result = client
        .put_item()
        .table_name(table)
        .set_item(Some(put))
        .condition_expression(
            "attribute_not_exists(pk) OR (attribute_not_exists(pii_erased) AND last_updated_ms <= :lu)",
        )
        .expression_attribute_values(":lu", n(version))
        .send()
        .await;
    // Refused: a newer version's record, or the final one, is there already.
    crate::aws::ddb::applied("PutItem", result).map(|_| ())
}

/// [`put_business_record`] from the order item as it is now (a consistent read of its
/// non-PII business facts only).
pub async fn refresh_business_record(
    client: &Client,
    table: &str,
    seller_id: &str,
    order_id: &str,
    keep_until: OffsetDateTime,
) -> Result<(), StoreError> {
    let (projection, names) = crate::aws::ddb::aliased_projection(&BUSINESS_ATTRS);
    let item = client
        .get_item()
        .table_name(table)
        .key(
            crate::layout::PARTITION_KEY,
            s(order_pk(seller_id, order_id)),
        )
        .key(crate::layout::SORT_KEY, s(ORDER_SK))
        .projection_expression(projection)
        .set_expression_attribute_names(Some(names))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| err("GetItem", &e))?
        .item;
    match item {
        Some(item) => put_business_record(client, table, &item, keep_until).await,
        None => Ok(()),
    }
}

/// Business records sort by purchase time within a month partition.
pub(crate) fn business_key(
    purchase: OffsetDateTime,
    seller_id: &str,
    order_id: &str,
) -> (String, String) {
    let t = purchase.to_offset(time::UtcOffset::UTC);
    let month = t
        .format(format_description!("[year]-[month]"))
        .expect("UTC months format");
    (
        format!("BUSINESS#{month}"),
        format!("{}#{seller_id}#{order_id}", sort_time(t)),
    )
}

fn sort_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("UTC times format")
}

/// The business partitions that hold purchases in `[from, to)`.
fn months(from: OffsetDateTime, to: OffsetDateTime) -> Vec<String> {
    let (from, to) = (
        from.to_offset(time::UtcOffset::UTC),
        to.to_offset(time::UtcOffset::UTC),
    );
    let mut months = Vec::new();
    // Every month from the one `from` falls in up to the one `to` falls in.
    let mut month =
        time::Date::from_calendar_date(from.year(), from.month(), 1).expect("a month's first day");
    while from < to && month.midnight().assume_utc() < to {
        months.push(format!(
            "BUSINESS#{:04}-{:02}",
            month.year(),
            month.month() as u8
        ));
        let next = month.month().next();
        let year = month.year() + i32::from(next == time::Month::January);
        month = time::Date::from_calendar_date(year, next, 1).expect("a month's first day");
    }
    months
}

/// Wait before retrying a batch's unprocessed part (25 ms doubling, up to 8 retries); false
/// once the retries are spent.
async fn backoff(attempt: &mut u32) -> bool {
    *attempt += 1;
    if *attempt > 8 {
        return false;
    }
    tokio::time::sleep(std::time::Duration::from_millis(25 << (*attempt).min(6))).await;
    true
}

fn iso(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("UTC timestamps format")
}

fn condition_failed(
    e: &SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>,
) -> bool {
    crate::aws::ddb::cancellation_reasons(e)
        .iter()
        .any(|r| r.as_deref() == Some("ConditionalCheckFailed"))
}

impl DynamoRetention {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn order_key(&self, seller_id: &str, order_id: &str) -> Item {
        HashMap::from([
            (
                crate::layout::PARTITION_KEY.to_owned(),
                s(order_pk(seller_id, order_id)),
            ),
            (crate::layout::SORT_KEY.to_owned(), s(ORDER_SK)),
        ])
    }

    /// Every order still holding PII (the whole expiry index: keys and three attributes).
    pub async fn holding_pii(&self) -> Result<Vec<DueOrder>, StoreError> {
        self.index_entries(None, usize::MAX).await
    }

    /// The expiry index, whole or up to `due_by` (epoch seconds), every shard; stops once it
    /// holds `cap` entries (the rest is not read).
    async fn index_entries(
        &self,
        due_by: Option<i64>,
        cap: usize,
    ) -> Result<Vec<DueOrder>, StoreError> {
        let mut all = Vec::new();
        for shard in 0..PII_SHARDS {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(EXPIRY_INDEX)
                .expression_attribute_values(":s", s(shard.to_string()));
            query = match due_by {
                Some(t) => query
                    .key_condition_expression("pii_shard = :s AND pii_expires_at <= :now")
                    .expression_attribute_values(":now", n(t)),
                None => query.key_condition_expression("pii_shard = :s"),
            };
            let mut pages = query.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| err("Query", &e))?;
                all.extend(page.items().iter().filter_map(due_of));
                if all.len() >= cap {
                    return Ok(all);
                }
            }
        }
        Ok(all)
    }

    /// The retention report at `now`.
    pub async fn report(&self, now: OffsetDateTime) -> Result<RetentionReport, StoreError> {
        let holding = self.holding_pii().await?;
        let (erased_total, last_sweep) = self.run_stats().await?;
        let mut report = RetentionReport::from_index(
            now,
            holding,
            erased_total,
            self.holds().await?,
            last_sweep,
        );
        report.last_audit = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(crate::layout::PARTITION_KEY, s(STATS_PK))
            .key(crate::layout::SORT_KEY, s(INDEX_AUDIT_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("GetItem", &e))?
            .item
            .and_then(|i| get_s(&i, "audit").and_then(|a| serde_json::from_str(a).ok()));
        Ok(report)
    }

    /// What orderseal holds for the buyer of one order: classes, dates, erasure, hold, sharing -
    /// names and ids only, never a value (it reads no sealed-PII item).
    pub async fn subject_report(
        &self,
        seller_id: &str,
        order_id: &str,
    ) -> Result<SubjectReport, SubjectError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.order_key(seller_id, order_id)))
            .projection_expression(
                "pk, sk, fulfillment_status, pii_classes, created_time, last_updated, pii_expires_at, \
                 anchored_expires_at, hold_until, pii_erased_at, carrier, tracking_number, dispatch_via, \
                 labels, erase_requested",
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("GetItem", &e))?
            .item
            .ok_or(SubjectError::NoOrder)?;
        let at =
            |k: &str| get_n(&item, k).and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        let text = |k: &str| get_s(&item, k).map(str::to_owned);
        let erased_at = at("pii_erased_at");
        let classes = match (
            &erased_at,
            item.get("pii_classes").and_then(|v| v.as_l().ok()),
        ) {
            (None, Some(l)) => l.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
            _ => Vec::new(),
        };
        let hold = match get_n(&item, "hold_until") {
            Some(_) => self
                .holds()
                .await?
                .into_iter()
                .find(|h| h.seller_id == seller_id && h.order_id == order_id),
            None => None,
        };
        let expiry_basis = if item.contains_key("erase_requested") {
            "request"
        } else if item.contains_key("anchored_expires_at") {
            "anchored"
        } else {
            "provisional"
        };
        Ok(SubjectReport {
            seller_id: seller_id.to_owned(),
            order_id: order_id.to_owned(),
            fulfillment_status: text("fulfillment_status"),
            classes,
            placed_at: text("created_time"),
            last_updated: text("last_updated"),
            erased_by: match erased_at {
                Some(_) => None,
                None => at("pii_expires_at").map(|t| t + crate::order::SWEEP_INTERVAL),
            },
            expiry_basis: expiry_basis.to_owned(),
            erased_at,
            hold,
            shared_with: shared_with(&item, text("dispatch_via")),
        })
    }

    /// Erase one order's PII now, at its buyer's request, by the sweep's own path: the expiry
    /// becomes now (audited with the reason and who asks, in the same transaction), the sealed-PII
    /// item's TTL follows, and the order is erased as the sweep erases it (business record kept,
    /// tombstone, sealed-PII item deleted). Refused while a legal hold applies, with its reason.
    pub async fn erase_on_request(
        &self,
        seller_id: &str,
        order_id: &str,
        reason: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<Erasure, SubjectError> {
        check_hold_text(reason, by).map_err(|_| SubjectError::BadText)?;
        let item = self
            .retention_state(seller_id, order_id)
            .await?
            .ok_or(SubjectError::NoOrder)?;
        if item.contains_key("pii_erased_at") {
            return Err(SubjectError::AlreadyErased);
        }
        if let Some(until) = get_n(&item, "hold_until").filter(|u| *u > now.unix_timestamp()) {
            let reason = self
                .holds()
                .await?
                .into_iter()
                .find(|h| h.seller_id == seller_id && h.order_id == order_id)
                .map(|h| h.reason)
                .unwrap_or_else(|| "(not in the hold registry)".into());
            let until = OffsetDateTime::from_unix_timestamp(until)
                .map(iso)
                .unwrap_or_default();
            return Err(SubjectError::Held { reason, until });
        }
        let expires =
            get_n(&item, "pii_expires_at").ok_or(StoreError::Malformed("pii_expires_at"))?;
        let request = HashMap::from([
            ("reason".to_owned(), s(reason)),
            ("by".to_owned(), s(by)),
            ("at".to_owned(), n(now.unix_timestamp())),
        ]);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.order_key(seller_id, order_id)))
            .update_expression(
                "SET pii_expires_at = :now, anchored_expires_at = :now, erase_requested = :req",
            )
            .condition_expression(
                "pii_expires_at = :exp AND attribute_not_exists(pii_erased_at) \
                 AND (attribute_not_exists(hold_until) OR hold_until <= :now)",
            )
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":exp", n(expires))
            .expression_attribute_values(":req", AttributeValue::M(request))
            .build()
            .map_err(|_| StoreError::Malformed("transaction request"))?;
        let [audit, audit_by_day] = self.audit(
            seller_id,
            order_id,
            Audit {
                action: "subject-erase",
                reason,
                by,
                until: None,
            },
            now,
        );
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(audit)
            .transact_items(audit_by_day)
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e) if condition_failed(&e) => return Err(SubjectError::Changed),
            Err(e) => return Err(err("TransactWriteItems", &e).into()),
        }
        tracing::info!(target: "audit", action = "subject-erase", seller_id, order_id, "erasure requested");
        crate::store::ttl::sync_pii_ttl(&self.client, &self.table, seller_id, order_id).await?;
        let keep_until = now + self.business_retention_of_last_sweep().await?;
        let due = DueOrder {
            seller_id: seller_id.to_owned(),
            order_id: order_id.to_owned(),
            expires_at: now.unix_timestamp(),
            hold_until: None,
            created_at: None,
        };
        let loaded = self
            .load(std::slice::from_ref(&due), now, keep_until)
            .await?;
        let Some(candidate) = loaded.candidates.into_iter().next() else {
            return Ok(Erasure::Skipped);
        };
        if !self
            .keep(std::slice::from_ref(&candidate))
            .await?
            .first()
            .copied()
            .unwrap_or(false)
        {
            return Err(SubjectError::Changed);
        }
        Ok(self.erase(&candidate, now).await?)
    }

    /// The business retention the deployed sweep last ran with (the default before any run).
    async fn business_retention_of_last_sweep(&self) -> Result<Duration, StoreError> {
        let (_, last) = self.run_stats().await?;
        let days = last
            .and_then(|r| r.policy)
            .map(|p| p.business_retention_days);
        Ok(days.map_or(DEFAULT_BUSINESS_RETENTION, Duration::days))
    }

    /// The sweeps' stats item: orders erased so far and the last run.
    async fn run_stats(&self) -> Result<(u64, Option<SweepReport>), StoreError> {
        let stats = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(STATS_PK))
            .key("sk", s("RETENTION"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("GetItem", &e))?
            .item;
        let erased_total = stats
            .as_ref()
            .and_then(|i| get_n(i, "erased_total"))
            .unwrap_or(0)
            .max(0) as u64;
        let last_sweep = stats
            .as_ref()
            .and_then(|i| get_s(i, "last_run"))
            .and_then(|r| serde_json::from_str(r).ok());
        Ok((erased_total, last_sweep))
    }

    /// Every item holding sealed PII that the expiry index does not list, every sealed-PII item
    /// of an erased or missing order, and every sealed-PII item whose TTL is not
    /// `max(expiry, hold)`: a paginated scan of key, retention and TTL attributes only (never a
    /// blob). With `fix`, each is repaired: the order re-enters the index, the orphan is
    /// deleted, the TTL is set from the order item. The result is kept for the report.
    pub async fn audit_index(
        &self,
        fix: bool,
        now: OffsetDateTime,
    ) -> Result<IndexAudit, StoreError> {
        use std::collections::BTreeMap;
        #[derive(Default)]
        struct OrderState {
            indexed: bool,
            erased: bool,
            expires: Option<i64>,
            hold: Option<i64>,
        }
        let mut orders: BTreeMap<(String, String), OrderState> = BTreeMap::new();
        let mut sealed: BTreeMap<(String, String), Option<i64>> = BTreeMap::new();
        let mut audit = IndexAudit {
            at: Some(now),
            ..IndexAudit::default()
        };
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .projection_expression(
                    "pk, sk, pii_shard, pii_erased_at, pii_expires_at, hold_until, #ttl",
                )
                // Sent, not left to AWS: the role allows this scan only with a projection.
                .select(aws_sdk_dynamodb::types::Select::SpecificAttributes)
                .expression_attribute_names("#ttl", TTL)
                .filter_expression("sk IN (:order, :pii)")
                .expression_attribute_values(":order", s(ORDER_SK))
                .expression_attribute_values(":pii", s(PII_SK))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| err("Scan", &e))?;
            audit.scanned += out.scanned_count().max(0) as u64;
            for item in out.items() {
                let Some(ids) = get_s(item, crate::layout::PARTITION_KEY).and_then(ids_of_pk)
                else {
                    continue;
                };
                if get_s(item, crate::layout::SORT_KEY) == Some(PII_SK) {
                    sealed.insert(ids, get_n(item, TTL));
                } else {
                    orders.insert(
                        ids,
                        OrderState {
                            indexed: item.contains_key("pii_shard"),
                            erased: item.contains_key("pii_erased_at"),
                            expires: get_n(item, "pii_expires_at"),
                            hold: get_n(item, "hold_until"),
                        },
                    );
                }
            }
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
        }
        for ((seller_id, order_id), ttl) in sealed {
            let order = orders.get(&(seller_id.clone(), order_id.clone()));
            let kind = match order {
                None => "orphaned",
                Some(o) if o.erased => "orphaned",
                Some(o) if !o.indexed => "unindexed",
                Some(o) => match o.expires {
                    Some(exp) if ttl == Some(crate::layout::pii_ttl(exp, o.hold)) => continue,
                    _ => "ttl_drift",
                },
            };
            match kind {
                "orphaned" => audit.orphaned += 1,
                "unindexed" => audit.unindexed += 1,
                _ => audit.ttl_drift += 1,
            }
            tracing::warn!(seller_id, order_id, kind, fix, "retention audit finding");
            if fix && self.repair(&seller_id, &order_id, kind).await? {
                audit.fixed += 1;
            }
            if audit.findings.len() < AUDIT_FINDINGS_CAP {
                audit.findings.push(AuditFinding {
                    seller_id,
                    order_id,
                    kind: kind.to_owned(),
                });
            }
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .item(crate::layout::PARTITION_KEY, s(STATS_PK))
            .item(crate::layout::SORT_KEY, s(INDEX_AUDIT_SK))
            .item(
                "audit",
                s(serde_json::to_string(&audit).map_err(|_| StoreError::Malformed("audit"))?),
            )
            .send()
            .await
            .map_err(|e| err("PutItem", &e))?;
        Ok(audit)
    }

    /// Repair one audit finding; `false` when the item changed since the scan (nothing done).
    async fn repair(
        &self,
        seller_id: &str,
        order_id: &str,
        kind: &str,
    ) -> Result<bool, StoreError> {
        match kind {
            // Back into the expiry index, unless it was erased since.
            "unindexed" => {
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(self.order_key(seller_id, order_id)))
                    .update_expression("SET pii_shard = :shard")
                    .condition_expression(
                        "attribute_exists(pk) AND attribute_not_exists(pii_erased_at) \
                         AND attribute_not_exists(pii_shard)",
                    )
                    .expression_attribute_values(":shard", s(super::pii_shard(seller_id, order_id)))
                    .return_values(aws_sdk_dynamodb::types::ReturnValue::None)
                    .send()
                    .await;
                crate::aws::ddb::applied("UpdateItem", result)
            }
            // Sealed PII of an erased (or missing) order: nothing may keep it.
            "orphaned" => self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(crate::layout::PARTITION_KEY, s(pii_pk(seller_id, order_id)))
                .key(crate::layout::SORT_KEY, s(PII_SK))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::None)
                .send()
                .await
                .map(|_| true)
                .map_err(|e| err("DeleteItem", &e)),
            _ => {
                crate::store::ttl::sync_pii_ttl(&self.client, &self.table, seller_id, order_id)
                    .await?;
                Ok(true)
            }
        }
    }

    /// The hold registry.
    pub async fn holds(&self) -> Result<Vec<HoldEntry>, StoreError> {
        let items = crate::aws::ddb::partition_items(&self.client, &self.table, "HOLDS").await?;
        items
            .iter()
            .map(|i| {
                let at =
                    |k: &str| get_n(i, k).and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
                Ok(HoldEntry {
                    seller_id: get_s(i, "seller_id").unwrap_or_default().to_owned(),
                    order_id: get_s(i, "order_id").unwrap_or_default().to_owned(),
                    reason: get_s(i, "reason").unwrap_or_default().to_owned(),
                    by: get_s(i, "by").unwrap_or_default().to_owned(),
                    until: at("until").ok_or(StoreError::Malformed("until"))?,
                    placed_at: at("placed_at").ok_or(StoreError::Malformed("placed_at"))?,
                })
            })
            .collect()
    }

    async fn hold_state(
        &self,
        seller_id: &str,
        order_id: &str,
    ) -> Result<Option<Item>, StoreError> {
        let item = self.retention_state(seller_id, order_id).await?;
        Ok(item.filter(|i| !i.contains_key("pii_erased_at") && i.contains_key("pii_shard")))
    }

    /// The order item's retention attributes (expiry, hold, tombstone, index key), consistently.
    async fn retention_state(
        &self,
        seller_id: &str,
        order_id: &str,
    ) -> Result<Option<Item>, StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.order_key(seller_id, order_id)))
            .projection_expression("pk, pii_expires_at, hold_until, pii_erased_at, pii_shard")
            .consistent_read(true)
            .send()
            .await
            .map(|o| o.item)
            .map_err(|e| err("GetItem", &e))
    }

    /// The entry's audit items (per order and per day, `crate::audit`) for the change's own
    /// transaction.
    fn audit(
        &self,
        seller_id: &str,
        order_id: &str,
        entry: Audit<'_>,
        now: OffsetDateTime,
    ) -> [TransactWriteItem; 2] {
        let id = format!("{:016x}", fastrand::u64(..));
        let event = crate::audit::AuditEvent {
            id: &id,
            at: now,
            who: entry.by,
            action: entry.action,
            purpose: None,
            seller_id,
            order_id,
            classes: Vec::new(),
            outcome: crate::audit::Outcome::Allowed,
            note: Some(entry.reason),
            canary: false,
            until: entry.until.map(OffsetDateTime::unix_timestamp),
            retention: AUDIT_RETENTION,
        };
        crate::audit::puts(&self.table, &event)
    }

    /// Delete the order's sealed-PII item if there is none or its TTL has passed at `now`;
    /// `false` when its TTL is still ahead.
    async fn delete_pii_if_due(
        &self,
        seller_id: &str,
        order_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(crate::layout::PARTITION_KEY, s(pii_pk(seller_id, order_id)))
            .key(crate::layout::SORT_KEY, s(PII_SK))
            .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::None)
            .send()
            .await;
        crate::aws::ddb::applied("DeleteItem", result)
    }

    /// The sealed-PII item's TTL, in a hold's transaction (layout's TTL rule). Without a PII
    /// item (none held, or TTL removed it) there is nothing to hold: the transaction fails.
    fn pii_ttl_update(&self, seller_id: &str, order_id: &str, ttl: i64) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .key(crate::layout::PARTITION_KEY, s(pii_pk(seller_id, order_id)))
            .key(crate::layout::SORT_KEY, s(PII_SK))
            .update_expression("SET #ttl = :ttl")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":ttl", n(ttl))
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    /// One hold change: the order update, the PII item's TTL, the registry change and the
    /// audit entry, atomically.
    /// A failed condition (the order changed since it was read) is `on_conflict`.
    async fn change_hold(
        &self,
        (seller_id, order_id): (&str, &str),
        (update, pii_ttl): (Update, i64),
        registry: TransactWriteItem,
        entry: Audit<'_>,
        now: OffsetDateTime,
        on_conflict: HoldError,
    ) -> Result<(), HoldError> {
        let action = entry.action;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some({
                let mut items = vec![
                    TransactWriteItem::builder().update(update).build(),
                    self.pii_ttl_update(seller_id, order_id, pii_ttl),
                    registry,
                ];
                items.extend(self.audit(seller_id, order_id, entry, now));
                items
            }))
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(target: "audit", action, seller_id, order_id, "legal hold changed");
                Ok(())
            }
            Err(e) if condition_failed(&e) => Err(on_conflict),
            Err(e) => Err(err("TransactWriteItems", &e).into()),
        }
    }

    /// Place (or extend) a legal hold: the order's PII stays past its expiry until `hold.until`,
    /// the TTL backstop moves with it, and the audit entry is written in the same transaction.
    pub async fn add_hold(
        &self,
        seller_id: &str,
        order_id: &str,
        hold: &Hold,
        now: OffsetDateTime,
    ) -> Result<(), HoldError> {
        hold.check(now)?;
        let item = self
            .hold_state(seller_id, order_id)
            .await?
            .ok_or(HoldError::NoOrder)?;
        let expires =
            get_n(&item, "pii_expires_at").ok_or(StoreError::Malformed("pii_expires_at"))?;
        let until = hold.until.unix_timestamp();
        // Past its expiry the PII is already gone for every reader; a hold cannot bring it back
        // (an active hold may be extended).
        let active = get_n(&item, "hold_until").is_some_and(|u| u > now.unix_timestamp());
        if expires <= now.unix_timestamp() && !active {
            return Err(HoldError::Expired);
        }
        let record = HashMap::from([
            ("reason".to_owned(), s(&hold.reason)),
            ("by".to_owned(), s(&hold.by)),
            ("until".to_owned(), n(until)),
            ("placed_at".to_owned(), n(now.unix_timestamp())),
        ]);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.order_key(seller_id, order_id)))
            // The order item's own TTL goes while held: a hold may outlast the business
            // retention, and the order item (tombstone, index entry) must outlive the PII.
            .update_expression("SET #hold = :hold, hold_until = :until REMOVE #ttl")
            .condition_expression(
                "attribute_exists(pii_shard) AND attribute_not_exists(pii_erased_at) AND pii_expires_at = :exp",
            )
            .expression_attribute_names("#hold", "hold")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":hold", AttributeValue::M(record.clone()))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":exp", n(expires))
            .build()
            .expect("table, key and expression are set");
        let mut registry = record;
        registry.insert(crate::layout::PARTITION_KEY.into(), s(HOLDS_PK));
        registry.insert(
            crate::layout::SORT_KEY.into(),
            s(registry_sk(seller_id, order_id)),
        );
        registry.insert("seller_id".into(), s(seller_id));
        registry.insert("order_id".into(), s(order_id));
        let registry = Put::builder()
            .table_name(&self.table)
            .set_item(Some(registry))
            .build()
            .expect("table and item are set");
        self.change_hold(
            (seller_id, order_id),
            (update, crate::layout::pii_ttl(expires, Some(until))),
            TransactWriteItem::builder().put(registry).build(),
            Audit {
                action: "hold-add",
                reason: &hold.reason,
                by: &hold.by,
                until: Some(hold.until),
            },
            now,
            // Erased or re-dated between the read and the write.
            HoldError::NoOrder,
        )
        .await
    }

    /// Lift a legal hold: the order's own expiry (and TTL) apply again, audited.
    pub async fn remove_hold(
        &self,
        seller_id: &str,
        order_id: &str,
        reason: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<(), HoldError> {
        check_hold_text(reason, by)?;
        let item = self
            .hold_state(seller_id, order_id)
            .await?
            .ok_or(HoldError::NoOrder)?;
        let until = get_n(&item, "hold_until").ok_or(HoldError::NotHeld)?;
        let expires =
            get_n(&item, "pii_expires_at").ok_or(StoreError::Malformed("pii_expires_at"))?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.order_key(seller_id, order_id)))
            .update_expression("REMOVE #hold, hold_until")
            .condition_expression("hold_until = :until AND pii_expires_at = :exp")
            .expression_attribute_names("#hold", "hold")
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":exp", n(expires))
            .build()
            .expect("table, key and expression are set");
        let registry = Delete::builder()
            .table_name(&self.table)
            .key(crate::layout::PARTITION_KEY, s(HOLDS_PK))
            .key(crate::layout::SORT_KEY, s(registry_sk(seller_id, order_id)))
            .build()
            .expect("table and key are set");
        self.change_hold(
            (seller_id, order_id),
            (update, crate::layout::pii_ttl(expires, None)),
            TransactWriteItem::builder().delete(registry).build(),
            Audit {
                action: "hold-remove",
                reason,
                by,
                until: None,
            },
            now,
            HoldError::NotHeld,
        )
        .await
    }

    /// Business records purchased in `[from, to)`, page by page, optionally for one seller.
    pub fn business_records(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        seller_id: Option<String>,
    ) -> BusinessRecords {
        // Each month's records, then its returns (their own partition, same sort keys).
        let months = months(from, to)
            .into_iter()
            .flat_map(|m| {
                let returns = m.replacen("BUSINESS#", crate::returns::RETURN_PK_PREFIX, 1);
                [m, returns]
            })
            .collect();
        BusinessRecords {
            client: self.client.clone(),
            table: self.table.clone(),
            months,
            lower: sort_time(from),
            upper: sort_time(to),
            seller_id,
            cursor: None,
        }
    }
}

/// A paged read of business records in purchase-time order.
#[derive(Debug)]
pub struct BusinessRecords {
    client: Client,
    table: String,
    months: Vec<String>,
    lower: String,
    upper: String,
    seller_id: Option<String>,
    cursor: Option<Item>,
}

/// One item of the business partitions: an order's record, or a return (read after the
/// records of its month).
// Entries live a page at a time and records are the common case: boxing them saves nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusinessEntry {
    Order(BusinessRecord),
    Return(crate::returns::ReturnRecord),
}

impl BusinessRecords {
    /// The next page of order records (their returns left out), or `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<BusinessRecord>>, StoreError> {
        Ok(self.next_entries().await?.map(|page| {
            page.into_iter()
                .filter_map(|e| match e {
                    BusinessEntry::Order(r) => Some(r),
                    BusinessEntry::Return(_) => None,
                })
                .collect()
        }))
    }

    /// The next page of records and returns (a month's records, then its returns), or `None`
    /// at the end.
    pub async fn next_entries(&mut self) -> Result<Option<Vec<BusinessEntry>>, StoreError> {
        loop {
            let Some(month) = self.months.first().cloned() else {
                return Ok(None);
            };
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                // Lower bound inclusive; `<upper>#…` sorts above `<upper>`, so the end is exclusive.
                .key_condition_expression("pk = :p AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":p", s(month))
                .expression_attribute_values(":lo", s(&self.lower))
                .expression_attribute_values(":hi", s(&self.upper))
                .set_exclusive_start_key(self.cursor.take());
            if let Some(seller) = &self.seller_id {
                query = query
                    .filter_expression("seller_id = :seller")
                    .expression_attribute_values(":seller", s(seller));
            }
            let out = query.send().await.map_err(|e| err("Query", &e))?;
            self.cursor = out.last_evaluated_key.filter(|k| !k.is_empty());
            if self.cursor.is_none() {
                self.months.remove(0);
            }
            let records = out
                .items
                .unwrap_or_default()
                .iter()
                .map(|i| match crate::returns::return_of(i) {
                    Some(r) => r.map(BusinessEntry::Return),
                    None => get_s(i, "record")
                        .and_then(|r| serde_json::from_str(r).ok())
                        .map(BusinessEntry::Order)
                        .ok_or(StoreError::Malformed("record")),
                })
                .collect::<Result<Vec<BusinessEntry>, _>>()?;
            if !records.is_empty() || self.months.is_empty() {
                return Ok(Some(records));
            }
        }
    }
}

impl RetentionStore for DynamoRetention {
    type Cursor = Item;

    async fn due_page(
        &self,
        shard: u32,
        now: OffsetDateTime,
        limit: u32,
        cursor: Option<Item>,
    ) -> Result<(Vec<DueOrder>, Option<Item>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(EXPIRY_INDEX)
            .key_condition_expression("pii_shard = :s AND pii_expires_at <= :now")
            .expression_attribute_values(":s", s(shard.to_string()))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .limit(limit as i32)
            .set_exclusive_start_key(cursor)
            .send()
            .await
            .map_err(|e| err("Query", &e))?;
        let due = out.items().iter().filter_map(due_of).collect();
        Ok((due, out.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    async fn load(
        &self,
        due: &[DueOrder],
        now: OffsetDateTime,
        keep_until: OffsetDateTime,
    ) -> Result<Loaded, StoreError> {
        let (projection, names) = crate::aws::ddb::aliased_projection(&BUSINESS_ATTRS);
        let mut items = Vec::with_capacity(due.len());
        for chunk in due.chunks(100) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(
                        chunk
                            .iter()
                            .map(|d| self.order_key(&d.seller_id, &d.order_id))
                            .collect(),
                    ))
                    .projection_expression(&projection)
                    .set_expression_attribute_names(Some(names.clone()))
                    .consistent_read(true)
                    .build()
                    .map_err(|_| StoreError::Malformed("keys"))?,
            );
            let mut attempt = 0u32;
            while let Some(keys) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| err("BatchGetItem", &e))?;
                if let Some(mut got) = out.responses {
                    items.extend(got.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                if pending.is_some() && !backoff(&mut attempt).await {
                    return Err(StoreError::Service {
                        operation: "BatchGetItem",
                        code: "UnprocessedKeys".into(),
                    });
                }
            }
        }
        let mut loaded = Loaded::default();
        let mut found = std::collections::HashSet::new();
        for item in items {
            let ids = get_s(&item, crate::layout::PARTITION_KEY).and_then(ids_of_pk);
            if let Some(ids) = &ids {
                found.insert(ids.clone());
            }
            if item.contains_key("pii_erased_at") {
                loaded.gone.extend(ids);
                continue;
            }
            let built = business_record(&item, Some(now), keep_until).and_then(|record| {
                Ok(Candidate {
                    version: get_n(&item, "last_updated_ms")
                        .ok_or(StoreError::Malformed("last_updated_ms"))?,
                    had_hold: item.contains_key("hold_until"),
                    record,
                })
            });
            match built {
                Ok(c) => loaded.candidates.push(c),
                Err(e) => {
                    // Logged by id; left in place, it stays overdue (and alarms) until fixed.
                    tracing::error!(pk = get_s(&item, crate::layout::PARTITION_KEY), error = %e, "order item cannot become a business record");
                    loaded.malformed += 1;
                }
            }
        }
        // Deleted since the index answered (only the business horizon's TTL deletes an order
        // item, long after its erasure; or an operator did).
        loaded.gone.extend(
            due.iter()
                .map(|d| (d.seller_id.clone(), d.order_id.clone()))
                .filter(|k| !found.contains(k)),
        );
        Ok(loaded)
    }

    async fn keep(&self, candidates: &[Candidate]) -> Result<Vec<bool>, StoreError> {
        let mut written = vec![true; candidates.len()];
        for (chunk_no, chunk) in candidates.chunks(25).enumerate() {
            let mut requests = Vec::with_capacity(chunk.len());
            for c in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(business_item(&c.record)?))
                    .build()
                    .map_err(|_| StoreError::Malformed("record"))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let mut attempt = 0u32;
            while !requests.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut requests))
                    .send()
                    .await
                    .map_err(|e| err("BatchWriteItem", &e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if !backoff(&mut attempt).await {
                    // Not kept, so not erased this run: the next run tries again.
                    for req in &requests {
                        let order = req
                            .put_request()
                            .and_then(|p| p.item().get("order_id"))
                            .and_then(|v| v.as_s().ok());
                        for (i, c) in chunk.iter().enumerate() {
                            if Some(&c.record.order_id) == order {
                                written[chunk_no * 25 + i] = false;
                            }
                        }
                    }
                    break;
                }
            }
        }
        Ok(written)
    }

    async fn erase(&self, c: &Candidate, now: OffsetDateTime) -> Result<Erasure, StoreError> {
        let r = &c.record;
        // The label reference goes too: with our carrier credentials it fetches the label again,
        // and the label shows the address. The business record kept carrier, service, tracking
        // number and cost.
        // First the sealed-PII item, and only once its TTL has passed - as TTL itself would
        // delete it: a hold placed since the load, or a later expiry, raised it, and the delete
        // refuses. A repeat (or TTL having got there first) finds nothing to delete.
        let (seller_id, order_id) = (r.seller_id.as_str(), r.order_id.as_str());
        if !self.delete_pii_if_due(seller_id, order_id, now).await? {
            // The TTL is later than the order's expiry and hold say (a TTL step lost after an
            // anchor moved the expiry earlier): repair it from the order item, then once more.
            crate::store::ttl::sync_pii_ttl(&self.client, &self.table, seller_id, order_id).await?;
            if !self.delete_pii_if_due(seller_id, order_id, now).await? {
                return Ok(Erasure::Skipped);
            }
        }
        // Then the order item becomes the tombstone: out of the expiry index, its TTL now the
        // business record's. Conditional, so overlapping runs erase each order once; a crash
        // before it leaves the order due, and the next run writes it (the PII is gone already).
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.order_key(seller_id, order_id)))
            .update_expression(
                "SET pii_erased_at = :now, #ttl = :keep REMOVE pii_shard, #hold, hold_until, label, labels, \
                 dispatch_packages",
            )
            .condition_expression(
                "attribute_exists(pii_shard) AND pii_expires_at <= :now AND last_updated_ms = :v \
                 AND (attribute_not_exists(hold_until) OR hold_until <= :now)",
            )
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_names("#hold", "hold")
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":keep", n(r.retain_until.unix_timestamp()))
            .expression_attribute_values(":v", n(c.version))
            // Sent, not left to the default: the role allows this update only with NONE.
            .return_values(aws_sdk_dynamodb::types::ReturnValue::None)
            .send()
            .await;
        if !crate::aws::ddb::applied("UpdateItem", result)? {
            return Ok(Erasure::Skipped);
        }
        tracing::info!(target: "audit", action = "erase", seller_id = %r.seller_id, order_id = %r.order_id, "PII erased");
        if c.had_hold {
            // The lapsed hold leaves the registry (the audit trail keeps its history).
            let removed = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(crate::layout::PARTITION_KEY, s(HOLDS_PK))
                .key(
                    crate::layout::SORT_KEY,
                    s(registry_sk(&r.seller_id, &r.order_id)),
                )
                .send()
                .await;
            if let Err(e) = removed {
                // The report shows it as lapsed; the PII is gone either way.
                tracing::warn!(order_id = %r.order_id, error = %err("DeleteItem", &e), "lapsed hold stays in the registry");
            }
        }
        Ok(Erasure::Erased)
    }

    async fn due(&self, now: OffsetDateTime, cap: usize) -> Result<Vec<DueOrder>, StoreError> {
        self.index_entries(Some(now.unix_timestamp()), cap).await
    }

    async fn record_run(&self, run: &SweepReport) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(crate::layout::PARTITION_KEY, s("STATS"))
            .key(crate::layout::SORT_KEY, s("RETENTION"))
            .update_expression("ADD erased_total :e SET last_run = :r")
            .expression_attribute_values(":e", n(run.erased))
            .expression_attribute_values(
                ":r",
                s(serde_json::to_string(run).map_err(|_| StoreError::Malformed("run"))?),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err("UpdateItem", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn business_keys_sort_by_purchase_time_within_the_month() {
        let (pk, sk) = business_key(datetime!(2026-11-03 07:08:09.5 UTC), "S1", "111-1");
        assert_eq!(pk, "BUSINESS#2026-11");
        assert_eq!(sk, "2026-11-03T07:08:09Z#S1#111-1");
        let (pk, _) = business_key(datetime!(2026-12-01 00:30 +01:00), "S1", "111-1");
        assert_eq!(pk, "BUSINESS#2026-11", "months are UTC months");
    }

    fn label(package_ref: &str, tracking: &str, amount: &str, currency: &str) -> PurchasedLabel {
        PurchasedLabel {
            shipment: crate::carriers::ShipmentCreated {
                via: "easypost".into(),
                carrier: "USPS".into(),
                service: "Priority".into(),
                tracking_number: tracking.into(),
                label_ref: format!("pl_{tracking}"),
                carrier_shipment_id: format!("shp_{tracking}"),
                cost: Money {
                    amount: amount.into(),
                    currency_code: currency.into(),
                },
            },
            purchased_at: "2026-11-21T10:00:00Z".into(),
            package_ref: package_ref.into(),
            items: Vec::new(),
        }
    }

    fn order_with(labels: &[PurchasedLabel]) -> Item {
        let mut item = Item::from([
            (crate::layout::PARTITION_KEY.to_owned(), s("ORDER#S1#111-1")),
            ("seller_id".to_owned(), s("S1")),
            ("order_id".to_owned(), s("111-1")),
            ("created_time".to_owned(), s("2026-11-20T09:00:00Z")),
            ("last_updated".to_owned(), s("2026-11-21T10:00:00Z")),
        ]);
        let map = labels
            .iter()
            .map(|l| (l.package_ref.clone(), s(serde_json::to_string(l).unwrap())))
            .collect();
        item.insert("labels".into(), AttributeValue::M(map));
        item
    }

    #[test]
    fn a_shipment_of_several_packages_is_kept_per_package_with_its_total_cost() {
        let keep = datetime!(2028-05-01 00:00 UTC);
        // Keys of the map come back in any order: the record lists packages by reference.
        let labels = [
            label("10", "T10", "1.05", "USD"),
            label("2", "T2", "7.10", "USD"),
            label("1", "T1", "12.35", "USD"),
        ];
        let r = business_record(&order_with(&labels), None, keep).unwrap();
        let refs: Vec<&str> = r.packages.iter().map(|p| p.package_ref.as_str()).collect();
        assert_eq!(refs, ["1", "2", "10"]);
        assert_eq!(r.tracking_number.as_deref(), Some("T1"));
        assert_eq!(r.tracking_numbers(), "T1 T2 T10");
        assert_eq!(
            r.shipping_cost,
            Some(Money {
                amount: "20.50".into(),
                currency_code: "USD".into()
            })
        );
        // Costs in different currencies are not added up: the first stands, each is listed.
        let mixed = [
            label("1", "T1", "12.35", "USD"),
            label("2", "T2", "9", "CAD"),
        ];
        let r = business_record(&order_with(&mixed), None, keep).unwrap();
        assert_eq!(r.shipping_cost.unwrap().amount, "12.35");
        assert_eq!(r.packages[1].cost.currency_code, "CAD");
        // One package: no package list, its own cost.
        let r = business_record(&order_with(&mixed[..1]), None, keep).unwrap();
        assert!(r.packages.is_empty());
        assert_eq!(r.tracking_numbers(), "T1");
        // An order recorded before orders had packages: its single `label`.
        let mut legacy = order_with(&[]);
        legacy.remove("labels");
        legacy.insert("label".into(), s(serde_json::to_string(&mixed[0]).unwrap()));
        let r = business_record(&legacy, None, keep).unwrap();
        assert_eq!(r.tracking_number.as_deref(), Some("T1"));
        assert_eq!(r.shipping_cost.unwrap().amount, "12.35");
    }

    #[test]
    fn an_export_range_reads_each_month_it_touches() {
        assert_eq!(
            months(
                datetime!(2026-11-15 00:00 UTC),
                datetime!(2027-02-01 00:00 UTC)
            ),
            ["BUSINESS#2026-11", "BUSINESS#2026-12", "BUSINESS#2027-01"]
        );
        assert_eq!(
            months(
                datetime!(2026-11-15 00:00 UTC),
                datetime!(2026-11-15 00:00 UTC)
            ),
            Vec::<String>::new()
        );
    }
}
