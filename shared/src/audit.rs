//! The audit trail: who did what to which order's PII, for which purpose, with what outcome —
//! never a value.
//!
//! One event per access (allowed or refused), hold change, erasure request or fraud decision.
//! It is written twice in one transaction — under the order (`AUDIT#<seller>#<order>`, what
//! `orderseal order audit` lists) and under its day (`AUDITLOG#<yyyy-mm-dd>`, what the
//! periodic review's `orderseal audit report --since` reads) — and emitted as one structured
//! log line at target `audit` in the writer's own log. The dedicated, KMS-encrypted audit log
//! group receives every event from the table's stream (new `AUDITLOG#` items), whoever wrote
//! it: the audit-log function (`functions/audit-log`).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How long access events are kept: 13 months, more than the 12 the DPP asks for audit logs
/// and less than its 18-month limit on other Amazon data (the audit log group keeps 400 days
/// too).
pub const ACCESS_AUDIT_RETENTION: Duration = Duration::days(400);

/// Partition of one day's events (`AUDITLOG#2026-12-01`).
pub fn day_pk(at: OffsetDateTime) -> String {
    let d = at.to_offset(time::UtcOffset::UTC).date();
    format!(
        "AUDITLOG#{:04}-{:02}-{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// What became of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// Refused, with a stable reason code (`not_permitted`, `no_such_order`, `erased`, ...).
    Refused(&'static str),
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Refused(_) => "refused",
        }
    }

    pub fn reason(self) -> Option<&'static str> {
        match self {
            Outcome::Allowed => None,
            Outcome::Refused(r) => Some(r),
        }
    }
}

/// One audited action on one order. Identifiers, names and codes only.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// Unique per request (the API request id); a retried write of the same event is the same item.
    pub id: &'a str,
    pub at: OffsetDateTime,
    /// The caller as AWS authenticated it (an assumed-role ARN), or the named operator.
    pub who: &'a str,
    /// `pii-access`, `hold-add`, `hold-remove`, `subject-erase`, ...
    pub action: &'static str,
    pub purpose: Option<&'static str>,
    pub seller_id: &'a str,
    pub order_id: &'a str,
    /// The classes opened (allowed) or asked for (refused).
    pub classes: Vec<&'static str>,
    pub outcome: Outcome,
    /// A case or request reference given by a person (no buyer data).
    pub note: Option<&'a str>,
    /// The order is one of the configured canary orders.
    pub canary: bool,
    /// A hold's end (epoch seconds).
    pub until: Option<i64>,
    /// How long the table keeps the event.
    pub retention: Duration,
}

impl AuditEvent<'_> {
    /// The log line (target `audit`): the same fields as the table items.
    pub fn emit(&self) {
        let classes = self.classes.join(",");
        tracing::info!(
            target: "audit",
            audit_id = self.id,
            action = self.action,
            who = self.who,
            purpose = self.purpose.unwrap_or("-"),
            seller_id = self.seller_id,
            order_id = self.order_id,
            classes = classes.as_str(),
            outcome = self.outcome.as_str(),
            reason = self.outcome.reason().unwrap_or("-"),
            canary = self.canary,
            "audit"
        );
    }

    #[cfg(feature = "dynamodb")]
    fn sort_key(&self) -> String {
        format!("{}#{}#{}", iso(self.at), self.action, self.id)
    }
}

/// One stored event, as the CLI reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub who: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    pub seller_id: String,
    pub order_id: String,
    #[serde(default)]
    pub classes: Vec<String>,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default)]
    pub canary: bool,
    /// A hold's end (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

/// Accesses of one identity for one purpose over a period: what a periodic review reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessSummary {
    pub who: String,
    pub purpose: String,
    pub allowed: u64,
    pub refused: u64,
    /// Distinct orders touched.
    pub orders: u64,
    pub canary: u64,
    pub first: String,
    pub last: String,
}

/// Group `entries` (any actions) per identity and purpose, most active first.
pub fn summarise(entries: &[AuditEntry]) -> Vec<AccessSummary> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut groups: BTreeMap<(String, String), (AccessSummary, BTreeSet<String>)> = BTreeMap::new();
    for e in entries {
        let purpose = e
            .purpose
            .clone()
            .unwrap_or_else(|| format!("({})", e.action));
        let (s, orders) = groups
            .entry((e.who.clone(), purpose.clone()))
            .or_insert_with(|| {
                (
                    AccessSummary {
                        who: e.who.clone(),
                        purpose,
                        allowed: 0,
                        refused: 0,
                        orders: 0,
                        canary: 0,
                        first: e.at.clone(),
                        last: e.at.clone(),
                    },
                    BTreeSet::new(),
                )
            });
        if e.outcome == "allowed" {
            s.allowed += 1;
        } else {
            s.refused += 1;
        }
        s.canary += u64::from(e.canary);
        orders.insert(format!("{}#{}", e.seller_id, e.order_id));
        if e.at < s.first {
            s.first = e.at.clone();
        }
        if e.at > s.last {
            s.last = e.at.clone();
        }
    }
    let mut out: Vec<AccessSummary> = groups
        .into_values()
        .map(|(mut s, orders)| {
            s.orders = orders.len() as u64;
            s
        })
        .collect();
    out.sort_by(|a, b| {
        (b.allowed + b.refused)
            .cmp(&(a.allowed + a.refused))
            .then_with(|| a.who.cmp(&b.who))
            .then_with(|| a.purpose.cmp(&b.purpose))
    });
    out
}

#[cfg(feature = "dynamodb")]
/// UTC with a fixed 9-digit fraction, so that sort keys order as the times do.
fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
    ))
    .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(feature = "dynamodb")]
pub use dynamo::{AuditLog, puts};

#[cfg(feature = "dynamodb")]
mod dynamo {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

    use super::*;
    use crate::aws::ddb::{get_s, n, s};
    use crate::layout::{PARTITION_KEY, SORT_KEY, TTL, audit_pk};
    use crate::store::StoreError;

    type Item = HashMap<String, AttributeValue>;

    /// The event's two items (per order, per day), for a transaction of the caller's or
    /// [`AuditLog::record`]'s own.
    pub fn puts(table: &str, e: &AuditEvent<'_>) -> [TransactWriteItem; 2] {
        let sk = e.sort_key();
        let ttl = (e.at + e.retention).unix_timestamp();
        let item = |pk: String, sk: String| {
            let mut put = Put::builder()
                .table_name(table)
                .item(PARTITION_KEY, s(pk))
                .item(SORT_KEY, s(sk))
                .item("at", s(iso(e.at)))
                .item("who", s(e.who))
                .item("action", s(e.action))
                .item("seller_id", s(e.seller_id))
                .item("order_id", s(e.order_id))
                .item("outcome", s(e.outcome.as_str()))
                .item(TTL, n(ttl));
            if let Some(p) = e.purpose {
                put = put.item("purpose", s(p));
            }
            if !e.classes.is_empty() {
                put = put.item(
                    "classes",
                    AttributeValue::L(e.classes.iter().map(|c| s(*c)).collect()),
                );
            }
            if let Some(r) = e.outcome.reason() {
                put = put.item("reason", s(r));
            }
            if let Some(note) = e.note {
                put = put.item("note", s(note));
            }
            if e.canary {
                put = put.item("canary", AttributeValue::Bool(true));
            }
            if let Some(u) = e.until {
                put = put.item("until", n(u));
            }
            TransactWriteItem::builder()
                .put(put.build().expect("table and key are set"))
                .build()
        };
        [
            item(audit_pk(e.seller_id, e.order_id), sk.clone()),
            item(day_pk(e.at), format!("{sk}#{}#{}", e.seller_id, e.order_id)),
        ]
    }

    /// Reads and writes the audit items of the order table.
    #[derive(Debug, Clone)]
    pub struct AuditLog {
        client: Client,
        table: String,
    }

    impl AuditLog {
        pub fn new(client: Client, table: impl Into<String>) -> Self {
            Self {
                client,
                table: table.into(),
            }
        }

        /// Write the event (both items, atomically), then log it.
        pub async fn record(&self, e: &AuditEvent<'_>) -> Result<(), StoreError> {
            let [by_order, by_day] = puts(&self.table, e);
            self.client
                .transact_write_items()
                .transact_items(by_order)
                .transact_items(by_day)
                .send()
                .await
                .map_err(|err| crate::aws::ddb::store_error("TransactWriteItems", &err))?;
            e.emit();
            Ok(())
        }

        /// Every event of one order, oldest first.
        pub async fn for_order(
            &self,
            seller_id: &str,
            order_id: &str,
        ) -> Result<Vec<AuditEntry>, StoreError> {
            self.query(&audit_pk(seller_id, order_id), None).await
        }

        /// Every event from `since` to `now`, oldest first (one query per day).
        pub async fn since(
            &self,
            since: OffsetDateTime,
            now: OffsetDateTime,
        ) -> Result<Vec<AuditEntry>, StoreError> {
            let mut out = Vec::new();
            let since = since.to_offset(time::UtcOffset::UTC);
            let now = now.to_offset(time::UtcOffset::UTC);
            let mut day = since;
            let from = iso(since);
            while day.date() <= now.date() {
                out.extend(self.query(&day_pk(day), Some(&from)).await?);
                match day.checked_add(Duration::days(1)) {
                    Some(next) => day = next,
                    None => break,
                }
            }
            Ok(out)
        }

        async fn query(&self, pk: &str, from: Option<&str>) -> Result<Vec<AuditEntry>, StoreError> {
            let mut out = Vec::new();
            let mut start: Option<Item> = None;
            loop {
                let mut q = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression(match from {
                        Some(_) => "pk = :pk AND sk >= :from",
                        None => "pk = :pk",
                    })
                    .expression_attribute_values(":pk", s(pk))
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take());
                if let Some(f) = from {
                    q = q.expression_attribute_values(":from", s(f));
                }
                let page = q
                    .send()
                    .await
                    .map_err(|e| crate::aws::ddb::store_error("Query", &e))?;
                out.extend(page.items().iter().map(entry));
                match page.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
            Ok(out)
        }
    }

    /// An item back as an entry (older hold entries have `by` and an epoch `at`).
    fn entry(item: &Item) -> AuditEntry {
        let text = |k: &str| get_s(item, k).map(str::to_owned);
        let at = text("at")
            .or_else(|| {
                crate::aws::ddb::get_n(item, "at")
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                    .map(iso)
            })
            .unwrap_or_default();
        let (seller_id, order_id) = get_s(item, PARTITION_KEY)
            .and_then(|pk| pk.strip_prefix("AUDIT#"))
            .and_then(|rest| rest.split_once('#'))
            .map(|(s, o)| (s.to_owned(), o.to_owned()))
            .unwrap_or_default();
        AuditEntry {
            at,
            who: text("who").or_else(|| text("by")).unwrap_or_default(),
            action: text("action").unwrap_or_default(),
            purpose: text("purpose"),
            seller_id: text("seller_id").unwrap_or(seller_id),
            order_id: text("order_id").unwrap_or(order_id),
            classes: item
                .get("classes")
                .and_then(|v| v.as_l().ok())
                .map(|l| l.iter().filter_map(|c| c.as_s().ok().cloned()).collect())
                .unwrap_or_default(),
            outcome: text("outcome").unwrap_or_else(|| "allowed".into()),
            reason: text("reason").filter(|_| item.contains_key("outcome")),
            note: text("note").or_else(|| {
                // Hold entries keep their free-text reason under `reason`.
                text("reason").filter(|_| !item.contains_key("outcome"))
            }),
            canary: item
                .get("canary")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            until: crate::aws::ddb::get_n(item, "until"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(who: &str, purpose: &str, order: &str, outcome: &str, at: &str) -> AuditEntry {
        AuditEntry {
            at: at.into(),
            who: who.into(),
            action: "pii-access".into(),
            purpose: Some(purpose.into()),
            seller_id: "S".into(),
            order_id: order.into(),
            classes: vec!["shipping".into()],
            outcome: outcome.into(),
            reason: None,
            note: None,
            canary: false,
            until: None,
        }
    }

    #[test]
    fn the_review_summary_counts_per_identity_and_purpose() {
        let entries = [
            entry(
                "alice",
                "customer_service",
                "1",
                "allowed",
                "2026-12-01T10:00:00Z",
            ),
            entry(
                "alice",
                "customer_service",
                "1",
                "allowed",
                "2026-12-01T09:00:00Z",
            ),
            entry(
                "alice",
                "customer_service",
                "2",
                "refused",
                "2026-12-02T10:00:00Z",
            ),
            entry("alice", "returns", "3", "allowed", "2026-12-01T10:00:00Z"),
            entry(
                "bob",
                "fraud_review",
                "1",
                "refused",
                "2026-12-01T10:00:00Z",
            ),
        ];
        let s = summarise(&entries);
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].who.as_str(), s[0].purpose.as_str()),
            ("alice", "customer_service")
        );
        assert_eq!((s[0].allowed, s[0].refused, s[0].orders), (2, 1, 2));
        assert_eq!(s[0].first, "2026-12-01T09:00:00Z");
        assert_eq!(s[0].last, "2026-12-02T10:00:00Z");
        assert_eq!((s[2].who.as_str(), s[2].refused), ("bob", 1));
    }

    #[test]
    fn days_partition_by_utc_date() {
        let t = OffsetDateTime::from_unix_timestamp(1_796_083_200).unwrap(); // 2026-12-01T00:00Z
        assert_eq!(day_pk(t), "AUDITLOG#2026-12-01");
        assert_eq!(day_pk(t - Duration::seconds(1)), "AUDITLOG#2026-11-30");
        // Another offset is the same instant: its UTC day.
        let east = t.to_offset(time::UtcOffset::from_hms(5, 0, 0).unwrap()) - Duration::hours(1);
        assert_eq!(day_pk(east), "AUDITLOG#2026-11-30");
    }
}
