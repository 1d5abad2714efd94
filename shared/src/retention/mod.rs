//! Retention (ARCHITECTURE §4): PII lives until `pii_expires_at`, then it is erased and the
//! de-identified business record stays.
//!
//! * Before delivery the expiry is provisional (latest delivery date + retention); canceled or
//!   unfulfillable orders get a short grace; a delivery sets `delivered_at + retention`, never
//!   more than 30 days ([`crate::order::RetentionPolicy`], [`crate::tracking`]).
//! * Readers treat PII past its expiry as erased before the sweep has run ([`pii_state`]).
//! * The sweep finds due orders through a sparse index on the expiry (`pii_shard` →
//!   `pii_expires_at`): an order is in the index exactly while it holds PII, so a run reads the
//!   due orders and nothing else, whatever the table's size.
//! * Erasure is two steps, each safe to repeat: the business record is put first (a batch
//!   write with a deterministic key: a repeat overwrites it), then one conditional update
//!   removes the sealed blobs (each carries its wrapped data key) and the index key and marks
//!   the order erased. The update only applies while the order is still due, unheld and at the
//!   version read, so a repeat (an overlapping or resumed run, a retry after a lost answer)
//!   erases nothing twice, and a crash between the steps leaves a record the next run rewrites.
//!   (Not a transaction: that would cost twice the write units, and nothing is gained since
//!   the record is written first.)
//! * A legal hold (reason, who, until; audited) is the only way to keep PII past its expiry.
//!   While it lasts it owns the TTL backstop; the sweep erases once it lapses.

use std::future::Future;
use std::time::Instant;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::order::{Money, OrderLine};
use crate::store::StoreError;

#[cfg(feature = "dynamodb")]
pub mod dynamo;

/// Shards of the expiry index's partition key: spreads index writes over partitions (each takes
/// about 1,000 writes/s) at the cost of one query per shard per run.
pub const PII_SHARDS: u32 = 8;

/// The sparse global secondary index on the PII expiry.
pub const EXPIRY_INDEX: &str = "pii-expiry";

/// Default life of business records: 18 months, the DPP's limit (2025-11) for non-PII Amazon
/// data; a longer one needs a legal basis (the template's `BusinessRetentionLegalBasis`).
pub const DEFAULT_BUSINESS_RETENTION: Duration = Duration::days(548);

/// The expiry-index shard of an order (FNV-1a of its key; stable across versions).
pub fn pii_shard(seller_id: &str, order_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seller_id.bytes().chain([b'#']).chain(order_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(PII_SHARDS)).to_string()
}

/// Where an order's PII stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiiState {
    /// Before its expiry: usable for the permitted purposes.
    Live,
    /// Past its expiry but kept by a legal hold until `until` (epoch seconds): preserved, not
    /// used for fulfilment or service.
    Held { until: i64 },
    /// Past its expiry, not yet swept: every reader treats it as erased.
    Expired,
    /// Swept.
    Erased,
}

impl PiiState {
    /// Whether a reader may use the PII (for its permitted purposes).
    pub fn usable(self) -> bool {
        self == PiiState::Live
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PiiState::Live => "live",
            PiiState::Held { .. } => "held",
            PiiState::Expired => "expired",
            PiiState::Erased => "erased",
        }
    }
}

/// The rule every reader applies (times in epoch seconds).
pub fn pii_state(expires_at: i64, hold_until: Option<i64>, erased: bool, now: i64) -> PiiState {
    if erased {
        PiiState::Erased
    } else if now < expires_at {
        PiiState::Live
    } else {
        match hold_until {
            Some(until) if now < until => PiiState::Held { until },
            _ => PiiState::Expired,
        }
    }
}

/// A legal hold: the only way to keep PII past its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Why (a case or request reference). Must not contain buyer data.
    pub reason: String,
    /// Who placed it (an operator identity).
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    #[error("a hold needs a reason")]
    NoReason,
    #[error("a hold needs the identity of who places or lifts it")]
    NoActor,
    #[error("reason and identity are limited to {0} characters")]
    TooLong(usize),
    #[error("a hold must end in the future")]
    UntilInPast,
    #[error("no such order, or its PII is already erased")]
    NoOrder,
    #[error("the order has no hold")]
    NotHeld,
    #[error("the order's PII is past its expiry: a hold must be placed before it")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

const MAX_TEXT: usize = 500;

/// Checks the words of a hold placed or lifted at `now`.
pub fn check_hold_text(reason: &str, by: &str) -> Result<(), HoldError> {
    if reason.trim().is_empty() {
        return Err(HoldError::NoReason);
    }
    if by.trim().is_empty() {
        return Err(HoldError::NoActor);
    }
    if reason.chars().count() > MAX_TEXT || by.chars().count() > MAX_TEXT {
        return Err(HoldError::TooLong(MAX_TEXT));
    }
    Ok(())
}

impl Hold {
    pub fn check(&self, now: OffsetDateTime) -> Result<(), HoldError> {
        check_hold_text(&self.reason, &self.by)?;
        if self.until <= now {
            return Err(HoldError::UntilInPast);
        }
        Ok(())
    }
}

/// What accounting keeps of an order once its PII is gone. No PII: ids, dates, marketplace,
/// lines (SKU, ASIN, quantity, price, tax), totals, carrier, tracking number, shipping cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessRecord {
    pub seller_id: String,
    pub order_id: String,
    pub marketplace_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub purchase_date: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_updated: OffsetDateTime,
    pub fulfillment_status: String,
    pub fulfilled_by: String,
    pub items: Vec<OrderLine>,
    pub order_total: Option<Money>,
    pub order_tax: Option<Money>,
    pub carrier: Option<String>,
    pub service: Option<String>,
    pub tracking_number: Option<String>,
    /// What the labels cost together (the order's shipment may be several packages).
    pub shipping_cost: Option<Money>,
    /// Each package of a shipment of more than one (the fields above are the first's, the
    /// cost is the total).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<ShippedPackage>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub shipped_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// When the sweep erased the order's PII; `None` for a record written while the order held
    /// none (FBA, canceled before any was collected) or before its erasure.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub pii_erased_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub retain_until: OffsetDateTime,
}

/// One package of a shipment: what its label was and cost (no PII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedPackage {
    pub package_ref: String,
    pub carrier: String,
    pub service: String,
    pub tracking_number: String,
    pub cost: Money,
}

/// Columns of the accounting export: one `sale` row per order line (order fields repeated),
/// and one `return` row per recorded return (its items in `returned_items`, `SKU:quantity`
/// separated by spaces; its refund in `refund_amount`, in the order's `currency`).
pub const CSV_HEADER: [&str; 30] = [
    "seller_id",
    "order_id",
    "marketplace_id",
    "purchase_date",
    "fulfillment_status",
    "fulfilled_by",
    "order_total",
    "order_tax",
    "currency",
    "carrier",
    "service",
    "tracking_number",
    "shipping_cost",
    "shipping_cost_currency",
    "shipped_at",
    "delivered_at",
    "order_item_id",
    "seller_sku",
    "asin",
    "quantity",
    "unit_price",
    "item_tax",
    "row_type",
    "rma_id",
    "return_reason",
    "return_method",
    "return_status",
    "returned_items",
    "refund_amount",
    "refunded_at",
];

/// Columns a `sale` row leaves empty (the return's).
const RETURN_COLUMNS: usize = 7;

fn rfc3339(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_default()
}

/// Spreadsheet programs run cells that start with these as formulas; seller-chosen text (SKUs)
/// is quoted with a leading apostrophe so an export cannot carry a formula.
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

impl BusinessRecord {
    /// The shipment's tracking number, or its packages' separated by spaces.
    pub fn tracking_numbers(&self) -> String {
        if self.packages.is_empty() {
            self.tracking_number.clone().unwrap_or_default()
        } else {
            self.packages
                .iter()
                .map(|p| p.tracking_number.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        }
    }

    /// The export rows of this record (an order without lines still gets one row).
    pub fn csv_rows(&self) -> Vec<[String; CSV_HEADER.len()]> {
        let amount = |m: &Option<Money>| m.as_ref().map(|m| m.amount.clone()).unwrap_or_default();
        let currency = self
            .order_total
            .as_ref()
            .or(self.order_tax.as_ref())
            .map(|m| m.currency_code.clone())
            .unwrap_or_default();
        let order = |line: Option<&OrderLine>| {
            [
                cell(&self.seller_id),
                cell(&self.order_id),
                cell(&self.marketplace_id),
                rfc3339(Some(self.purchase_date)),
                cell(&self.fulfillment_status),
                cell(&self.fulfilled_by),
                amount(&self.order_total),
                amount(&self.order_tax),
                currency.clone(),
                cell(self.carrier.as_deref().unwrap_or_default()),
                cell(self.service.as_deref().unwrap_or_default()),
                cell(&self.tracking_numbers()),
                amount(&self.shipping_cost),
                self.shipping_cost
                    .as_ref()
                    .map(|m| m.currency_code.clone())
                    .unwrap_or_default(),
                rfc3339(self.shipped_at),
                rfc3339(self.delivered_at),
                line.map(|l| cell(&l.order_item_id)).unwrap_or_default(),
                line.and_then(|l| l.seller_sku.as_deref())
                    .map(cell)
                    .unwrap_or_default(),
                line.and_then(|l| l.asin.as_deref())
                    .map(cell)
                    .unwrap_or_default(),
                line.map(|l| l.quantity.to_string()).unwrap_or_default(),
                line.map(|l| amount(&l.unit_price)).unwrap_or_default(),
                line.map(|l| amount(&l.tax)).unwrap_or_default(),
                "sale".to_owned(),
            ]
            .into_iter()
            .chain(std::iter::repeat_n(String::new(), RETURN_COLUMNS))
            .collect::<Vec<_>>()
            .try_into()
            .expect("a row has every column")
        };
        if self.items.is_empty() {
            vec![order(None)]
        } else {
            self.items.iter().map(|l| order(Some(l))).collect()
        }
    }
}

impl crate::returns::ReturnRecord {
    /// The return's export row: the order's ids, dates and currency, the return's columns.
    pub fn csv_row(&self) -> [String; CSV_HEADER.len()] {
        let col = |name: &str| {
            CSV_HEADER
                .iter()
                .position(|h| *h == name)
                .expect("a column of the header")
        };
        let mut row: [String; CSV_HEADER.len()] = Default::default();
        let items = self
            .lines
            .iter()
            .map(|l| {
                format!(
                    "{}:{}",
                    l.seller_sku.as_deref().unwrap_or(&l.order_item_id),
                    l.quantity
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        for (name, value) in [
            ("seller_id", cell(&self.seller_id)),
            ("order_id", cell(&self.order_id)),
            ("marketplace_id", cell(&self.marketplace_id)),
            ("purchase_date", rfc3339(Some(self.purchase_date))),
            (
                "currency",
                self.refund
                    .as_ref()
                    .map(|m| m.currency_code.clone())
                    .unwrap_or_default(),
            ),
            ("row_type", "return".to_owned()),
            ("rma_id", cell(&self.rma_id)),
            ("return_reason", self.reason.as_str().to_owned()),
            ("return_method", self.method.as_str().to_owned()),
            ("return_status", self.status.as_str().to_owned()),
            ("returned_items", cell(&items)),
            (
                "refund_amount",
                self.refund
                    .as_ref()
                    .map(|m| m.amount.clone())
                    .unwrap_or_default(),
            ),
            ("refunded_at", rfc3339(self.refunded_at)),
        ] {
            row[col(name)] = value;
        }
        row
    }
}

/// An order the expiry index says is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueOrder {
    pub seller_id: String,
    pub order_id: String,
    /// Epoch seconds.
    pub expires_at: i64,
    pub hold_until: Option<i64>,
    /// Creation time (epoch seconds), for the age of the PII.
    pub created_at: Option<i64>,
}

impl DueOrder {
    pub fn state(&self, now: i64) -> PiiState {
        pii_state(self.expires_at, self.hold_until, false, now)
    }
}

/// An order read for erasure: its business record and the version it was read at.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub record: BusinessRecord,
    /// The erasure only applies to this version (`last_updated_ms`).
    pub version: i64,
    /// Whether a (lapsed) hold must be cleared with it.
    pub had_hold: bool,
}

/// What [`RetentionStore::load`] found for a page of due orders.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub candidates: Vec<Candidate>,
    /// Already erased or deleted since the index answered: (seller, order).
    pub gone: Vec<(String, String)>,
    /// Items that cannot become a business record (logged by id); they stay overdue.
    pub malformed: u64,
}

/// What one erasure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erasure {
    Erased,
    /// Already erased, changed since it was read, no longer due, or held: nothing done.
    Skipped,
}

/// Port: the order table as the sweep sees it.
pub trait RetentionStore: Send + Sync {
    type Cursor: Send;

    /// Up to `limit` orders of `shard` holding PII with `pii_expires_at <= now`, oldest first.
    fn due_page(
        &self,
        shard: u32,
        now: OffsetDateTime,
        limit: u32,
        cursor: Option<Self::Cursor>,
    ) -> impl Future<Output = Result<(Vec<DueOrder>, Option<Self::Cursor>), StoreError>> + Send;

    /// Read the orders' non-PII attributes (never the sealed blobs) as business records.
    fn load(
        &self,
        due: &[DueOrder],
        now: OffsetDateTime,
        keep_until: OffsetDateTime,
    ) -> impl Future<Output = Result<Loaded, StoreError>> + Send;

    /// Put the business records (idempotent). Returns, per candidate, whether it was written.
    fn keep(
        &self,
        candidates: &[Candidate],
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;

    /// Erase one order's PII, conditionally (see the module doc).
    fn erase(
        &self,
        candidate: &Candidate,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Erasure, StoreError>> + Send;

    /// Orders holding PII past `now` (held ones included), at most about `cap` of them.
    fn due(
        &self,
        now: OffsetDateTime,
        cap: usize,
    ) -> impl Future<Output = Result<Vec<DueOrder>, StoreError>> + Send;

    /// Remember the run's outcome (for the report).
    fn record_run(&self, run: &SweepReport) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How far one run may go.
#[derive(Debug, Clone, Copy)]
pub struct SweepLimits {
    /// Index page size (and BatchGetItem batch, at most 100).
    pub page_size: u32,
    /// Erasures in flight at once.
    pub concurrency: usize,
    /// Stop starting erasures after this instant (the Lambda's deadline minus a margin).
    pub deadline: Option<Instant>,
    /// Stop after this many erasures (tests interrupt a run with it).
    pub max_erasures: Option<u64>,
}

impl Default for SweepLimits {
    fn default() -> Self {
        Self {
            page_size: 100,
            concurrency: 8,
            deadline: None,
            max_erasures: None,
        }
    }
}

/// The outcome of one run; also the metrics it emits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    /// Orders whose PII this run erased.
    pub erased: u64,
    /// Due orders another writer got to first (erased, changed, re-dated, or held since).
    pub skipped: u64,
    /// Due orders under an active legal hold.
    pub held: u64,
    /// Erasures that failed (throttling, unreadable items); the next run retries them.
    pub failed: u64,
    /// Orders still holding PII past their expiry without a hold when the run ended.
    pub overdue: u64,
    /// Whether the run went through every due order (not cut by its limits or an error).
    pub complete: bool,
    /// The table error that ended the run early, if one did (the next run carries on).
    #[serde(default)]
    pub aborted: Option<String>,
    /// The policy the run applied (the retention report shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<SweepPolicy>,
}

/// What orderseal holds for one order's buyer (`orderseal subject report`): which classes, since
/// and until when, where it was shared - never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectReport {
    pub seller_id: String,
    pub order_id: String,
    pub fulfillment_status: Option<String>,
    /// The sealed classes held now (empty once erased, or for an order that collects none).
    pub classes: Vec<String>,
    pub placed_at: Option<String>,
    pub last_updated: Option<String>,
    /// When the PII is erased at the latest (its expiry plus the sweep's hour); backups keep it
    /// restorable for the deployment's window after that.
    #[serde(with = "time::serde::rfc3339::option")]
    pub erased_by: Option<OffsetDateTime>,
    /// What fixed `erased_by`: `shipment`/`delivery` anchor, `provisional`, or `request`.
    pub expiry_basis: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub erased_at: Option<OffsetDateTime>,
    /// A legal hold keeping it past `erased_by`, with its reason.
    pub hold: Option<HoldEntry>,
    /// Shared with a carrier for the shipment: carrier, route, tracking number (by reference;
    /// the carrier holds the label).
    pub shared_with: Vec<SharedWith>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedWith {
    pub carrier: String,
    pub route: Option<String>,
    pub tracking_number: Option<String>,
    /// The classes the carrier received (dispatch opens `shipping` only).
    pub classes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("no such order")]
    NoOrder,
    #[error("the order's PII is already erased")]
    AlreadyErased,
    /// Refused: a legal hold applies (its reason is shown to the operator).
    #[error("a legal hold applies until {until}: {reason}")]
    Held { reason: String, until: String },
    #[error("an erasure request needs a reason and who asks (at most 500 characters each)")]
    BadText,
    #[error("the order changed while it was being erased; run the command again")]
    Changed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `orderseal retention audit` found: sealed PII the expiry index does not list (the sweep
/// and the overdue alarm cannot see it), sealed PII of an erased or missing order, and sealed-PII
/// items whose TTL is not the layout's rule. Target: all zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexAudit {
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    /// Items read (order and sealed-PII items; projection only, never a blob).
    pub scanned: u64,
    pub unindexed: u64,
    pub orphaned: u64,
    pub ttl_drift: u64,
    /// Findings repaired by this run (`--fix`).
    pub fixed: u64,
    /// The findings, by ids (at most [`AUDIT_FINDINGS_CAP`]).
    pub findings: Vec<AuditFinding>,
}

/// At most this many findings are listed (all are counted).
pub const AUDIT_FINDINGS_CAP: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFinding {
    pub seller_id: String,
    pub order_id: String,
    /// `unindexed`, `orphaned` or `ttl_drift`.
    pub kind: String,
}

impl IndexAudit {
    pub fn problems(&self) -> u64 {
        self.unindexed + self.orphaned + self.ttl_drift
    }
}

/// The retention policy a sweep ran with, as deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepPolicy {
    /// What starts the PII clock: `shipment` or `delivery`.
    pub anchor: String,
    pub business_retention_days: i64,
    /// Why business records are kept that long: "DPP 18 months", or the law a longer one needs.
    pub business_retention_basis: String,
}

/// At most this many due orders are read back to count what is overdue after a run; a larger
/// backlog is reported as at least this many (any overdue count raises the alarm).
pub const OVERDUE_COUNT_CAP: usize = 10_000;

/// One run: page through each shard's due orders, erase them, then count what is still due.
///
/// Resumable by construction: erased orders leave the index, so the next run finds only what
/// is left; each run starts at another shard, so a backlog that cuts runs short is worked on
/// evenly. Conditional erasure makes overlapping runs harmless. A table error ends the run
/// early (`aborted`) but the run's counts are still recorded.
pub async fn sweep<S: RetentionStore>(
    store: &S,
    now: OffsetDateTime,
    business_retention: Duration,
    limits: SweepLimits,
) -> Result<SweepReport, StoreError> {
    sweep_with_policy(store, now, business_retention, limits, None).await
}

/// [`sweep`], recording the deployed `policy` with the run (the report shows it).
pub async fn sweep_with_policy<S: RetentionStore>(
    store: &S,
    now: OffsetDateTime,
    business_retention: Duration,
    limits: SweepLimits,
    policy: Option<SweepPolicy>,
) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport {
        at: Some(now),
        complete: true,
        policy,
        ..SweepReport::default()
    };
    let mut settled = std::collections::HashSet::new();
    if let Err(e) = erase_due(
        store,
        now,
        now + business_retention,
        limits,
        &mut report,
        &mut settled,
    )
    .await
    {
        tracing::error!(error = %e, "retention sweep ended early");
        report.complete = false;
        report.aborted = Some(e.to_string());
    }
    // The index is eventually consistent: what this run erased may still be listed.
    let now_s = now.unix_timestamp();
    report.overdue = store
        .due(now, OVERDUE_COUNT_CAP)
        .await?
        .into_iter()
        .filter(|d| d.state(now_s) == PiiState::Expired)
        .filter(|d| !settled.contains(&(d.seller_id.clone(), d.order_id.clone())))
        .count() as u64;
    store.record_run(&report).await?;
    Ok(report)
}

async fn erase_due<S: RetentionStore>(
    store: &S,
    now: OffsetDateTime,
    keep_until: OffsetDateTime,
    limits: SweepLimits,
    report: &mut SweepReport,
    settled: &mut std::collections::HashSet<(String, String)>,
) -> Result<(), StoreError> {
    let now_s = now.unix_timestamp();
    let page_size = limits.page_size.clamp(1, 100);
    let out_of_budget = |report: &SweepReport| {
        limits.deadline.is_some_and(|d| Instant::now() >= d)
            || limits.max_erasures.is_some_and(|m| report.erased >= m)
    };
    let first = (now_s.div_euclid(3600) as u64 % u64::from(PII_SHARDS)) as u32;
    for shard in (0..PII_SHARDS).map(|i| (first + i) % PII_SHARDS) {
        let mut cursor = None;
        loop {
            if out_of_budget(report) {
                report.complete = false;
                return Ok(());
            }
            let (due, next) = store.due_page(shard, now, page_size, cursor).await?;
            let (held, due): (Vec<_>, Vec<_>) = due
                .into_iter()
                .partition(|d| matches!(d.state(now_s), PiiState::Held { .. }));
            report.held += held.len() as u64;
            if !due.is_empty() {
                let loaded = store.load(&due, now, keep_until).await?;
                report.skipped += loaded.gone.len() as u64;
                report.failed += loaded.malformed;
                settled.extend(loaded.gone);
                let candidates = loaded.candidates;
                let budget = limits
                    .max_erasures
                    .map_or(usize::MAX, |m| m.saturating_sub(report.erased) as usize);
                let batch = &candidates[..candidates.len().min(budget)];
                // The business record first: an order is never erased without it.
                let kept = store.keep(batch).await?;
                report.failed += kept.iter().filter(|k| !**k).count() as u64;
                let mut results = futures_util::stream::iter(
                    batch.iter().zip(kept).filter(|(_, k)| *k).map(|(c, _)| c),
                )
                .map(|c| async move { (c, store.erase(c, now).await) })
                .buffer_unordered(limits.concurrency.max(1));
                while let Some((c, result)) = results.next().await {
                    match result {
                        Ok(Erasure::Erased) => {
                            report.erased += 1;
                            settled.insert((c.record.seller_id.clone(), c.record.order_id.clone()));
                        }
                        Ok(Erasure::Skipped) => report.skipped += 1,
                        Err(e) => {
                            report.failed += 1;
                            tracing::warn!(error = %e, "erasure failed; the next run retries it");
                        }
                    }
                }
                if candidates.len() > budget {
                    report.complete = false;
                    return Ok(());
                }
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(())
}

/// The run's counts as a CloudWatch Embedded Metric Format line (namespace `orderseal`):
/// printed to stdout, CloudWatch turns it into metrics without an API call.
pub fn emf_line(report: &SweepReport, timestamp_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "orderseal",
                "Dimensions": [["Function"]],
                "Metrics": [
                    {"Name": "PiiErased", "Unit": "Count"},
                    {"Name": "PiiOverdue", "Unit": "Count"},
                    {"Name": "PiiHeld", "Unit": "Count"},
                    {"Name": "ErasureFailed", "Unit": "Count"},
                ],
            }],
        },
        "Function": "retention",
        "PiiErased": report.erased,
        "PiiOverdue": report.overdue,
        "PiiHeld": report.held,
        "ErasureFailed": report.failed,
        "complete": report.complete,
    })
    .to_string()
}

/// An active (or lapsed, not yet swept) legal hold, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldEntry {
    pub seller_id: String,
    pub order_id: String,
    pub reason: String,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
}

/// A record holding PII past its due time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueEntry {
    pub seller_id: String,
    pub order_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub overdue_seconds: i64,
}

/// The retention report: what is held, what is overdue (the target is zero), what was erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Orders holding PII before their expiry.
    pub live: u64,
    /// Orders holding PII past their expiry under an active legal hold.
    pub held: u64,
    /// Orders holding PII past their expiry without a hold: each is listed.
    pub overdue: Vec<OverdueEntry>,
    /// Orders erased by all sweeps so far.
    pub erased_total: u64,
    /// Age in seconds of the oldest PII still held (since the order was placed).
    pub oldest_pii_age_seconds: Option<i64>,
    pub holds: Vec<HoldEntry>,
    pub last_sweep: Option<SweepReport>,
    /// The last `orderseal retention audit` (items holding PII the index misses; target 0).
    #[serde(default)]
    pub last_audit: Option<IndexAudit>,
}

impl RetentionReport {
    /// Builds the counts from every order still holding PII (the whole expiry index).
    pub fn from_index(
        at: OffsetDateTime,
        holding_pii: impl IntoIterator<Item = DueOrder>,
        erased_total: u64,
        holds: Vec<HoldEntry>,
        last_sweep: Option<SweepReport>,
    ) -> Self {
        let now = at.unix_timestamp();
        let mut report = Self {
            at,
            live: 0,
            held: 0,
            overdue: Vec::new(),
            erased_total,
            oldest_pii_age_seconds: None,
            holds,
            last_sweep,
            last_audit: None,
        };
        let mut oldest: Option<i64> = None;
        for d in holding_pii {
            if let Some(c) = d.created_at {
                oldest = Some(oldest.map_or(c, |o| o.min(c)));
            }
            match d.state(now) {
                PiiState::Live => report.live += 1,
                PiiState::Held { .. } => report.held += 1,
                PiiState::Expired | PiiState::Erased => report.overdue.push(OverdueEntry {
                    due_at: OffsetDateTime::from_unix_timestamp(d.expires_at)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                    overdue_seconds: now - d.expires_at,
                    seller_id: d.seller_id,
                    order_id: d.order_id,
                }),
            }
        }
        report
            .overdue
            .sort_by_key(|o| std::cmp::Reverse(o.overdue_seconds));
        report.oldest_pii_age_seconds = oldest.map(|o| now - o);
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn readers_see_expired_pii_as_gone_unless_held() {
        let exp = 1_000;
        assert_eq!(pii_state(exp, None, false, 999), PiiState::Live);
        assert_eq!(pii_state(exp, None, false, 1_000), PiiState::Expired);
        assert_eq!(
            pii_state(exp, Some(2_000), false, 1_500),
            PiiState::Held { until: 2_000 }
        );
        assert_eq!(pii_state(exp, Some(2_000), false, 2_000), PiiState::Expired);
        assert_eq!(pii_state(exp, Some(2_000), true, 10), PiiState::Erased);
        assert!(PiiState::Live.usable());
        assert!(!PiiState::Held { until: 2_000 }.usable());
        assert!(!PiiState::Expired.usable());
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(pii_shard("A1", "111-1"), pii_shard("A1", "111-1"));
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let s: u32 = pii_shard("SELLER", &format!("123-{i:07}-0000000"))
                .parse()
                .unwrap();
            assert!(s < PII_SHARDS);
            seen.insert(s);
        }
        assert_eq!(seen.len(), PII_SHARDS as usize);
    }

    #[test]
    fn holds_need_words_and_a_future_end() {
        let now = datetime!(2026-11-30 12:00 UTC);
        let hold = |reason: &str, by: &str, days: i64| Hold {
            reason: reason.into(),
            by: by.into(),
            until: now + Duration::days(days),
        };
        assert_eq!(hold("case 42", "legal@seller", 30).check(now), Ok(()));
        assert_eq!(hold(" ", "legal", 30).check(now), Err(HoldError::NoReason));
        assert_eq!(hold("case", "", 30).check(now), Err(HoldError::NoActor));
        assert_eq!(
            hold("case", "legal", 0).check(now),
            Err(HoldError::UntilInPast)
        );
        assert_eq!(
            hold(&"x".repeat(501), "legal", 1).check(now),
            Err(HoldError::TooLong(500))
        );
    }

    fn record() -> BusinessRecord {
        let t = datetime!(2026-10-01 09:30 UTC);
        BusinessRecord {
            seller_id: "A1SELLER".into(),
            order_id: "111-2222222-3333333".into(),
            marketplace_id: "ATVPDKIKX0DER".into(),
            purchase_date: t,
            last_updated: t,
            fulfillment_status: "SHIPPED".into(),
            fulfilled_by: "MERCHANT".into(),
            items: vec![
                OrderLine {
                    order_item_id: "1".into(),
                    seller_sku: Some("=HYPERLINK(1)".into()),
                    asin: Some("B0".into()),
                    quantity: 2,
                    unit_price: Some(Money {
                        amount: "9.99".into(),
                        currency_code: "USD".into(),
                    }),
                    tax: Some(Money {
                        amount: "1.60".into(),
                        currency_code: "USD".into(),
                    }),
                    is_gift: false,
                },
                OrderLine {
                    order_item_id: "2".into(),
                    seller_sku: Some("SKU-2".into()),
                    asin: None,
                    quantity: 1,
                    unit_price: None,
                    tax: None,
                    is_gift: false,
                },
            ],
            order_total: Some(Money {
                amount: "21.58".into(),
                currency_code: "USD".into(),
            }),
            order_tax: None,
            carrier: Some("USPS".into()),
            service: Some("Priority".into()),
            tracking_number: Some("9400".into()),
            shipping_cost: Some(Money {
                amount: "7.10".into(),
                currency_code: "USD".into(),
            }),
            packages: Vec::new(),
            shipped_at: Some(t),
            delivered_at: None,
            pii_erased_at: Some(t),
            retain_until: t,
        }
    }

    #[test]
    fn export_rows_are_per_line_and_cannot_carry_formulas() {
        let rows = record().csv_rows();
        assert_eq!(rows.len(), 2);
        let col = |name: &str| CSV_HEADER.iter().position(|h| *h == name).unwrap();
        assert_eq!(rows[0][col("seller_sku")], "'=HYPERLINK(1)");
        assert_eq!(rows[0][col("quantity")], "2");
        assert_eq!(rows[0][col("item_tax")], "1.60");
        assert_eq!(rows[1][col("order_total")], "21.58");
        assert_eq!(rows[1][col("currency")], "USD");
        assert_eq!(rows[1][col("shipping_cost")], "7.10");
        assert_eq!(rows[1][col("delivered_at")], "");
        let no_lines = BusinessRecord {
            items: vec![],
            ..record()
        };
        assert_eq!(no_lines.csv_rows().len(), 1);
        assert_eq!(rows[0][col("row_type")], "sale");
        assert_eq!(rows[0][col("rma_id")], "");
    }

    #[test]
    fn a_return_is_one_row_with_its_items_and_refund() {
        use crate::returns::*;
        let r = record();
        let ret = ReturnRecord {
            seller_id: r.seller_id.clone(),
            order_id: r.order_id.clone(),
            marketplace_id: r.marketplace_id.clone(),
            purchase_date: r.purchase_date,
            rma_id: "RMA-7".into(),
            reason: ReturnReason::Defective,
            method: ReturnMethod::SellerLabel,
            lines: vec![
                ReturnLine {
                    order_item_id: "1".into(),
                    seller_sku: Some("=HYPERLINK(1)".into()),
                    quantity: 1,
                },
                ReturnLine {
                    order_item_id: "2".into(),
                    seller_sku: None,
                    quantity: 1,
                },
            ],
            refund: Some(Money {
                amount: "11.59".into(),
                currency_code: "USD".into(),
            }),
            status: ReturnStatus::Refunded,
            opened_at: datetime!(2026-10-10 10:00 UTC),
            received_at: None,
            refunded_at: Some(datetime!(2026-10-12 10:00 UTC)),
            rejected_at: None,
            updated_at: datetime!(2026-10-12 10:00 UTC),
        };
        let row = ret.csv_row();
        let col = |name: &str| CSV_HEADER.iter().position(|h| *h == name).unwrap();
        assert_eq!(row[col("row_type")], "return");
        assert_eq!(row[col("order_id")], r.order_id);
        assert_eq!(row[col("returned_items")], "'=HYPERLINK(1):1 2:1");
        assert_eq!(row[col("refund_amount")], "11.59");
        assert_eq!(row[col("currency")], "USD");
        assert_eq!(row[col("return_reason")], "defective");
        assert_eq!(row[col("refunded_at")], "2026-10-12T10:00:00Z");
        assert_eq!(
            row[col("seller_sku")],
            "",
            "line columns are the sale rows'"
        );
    }

    #[test]
    fn the_report_lists_every_overdue_record_and_the_oldest_pii() {
        let at = datetime!(2026-11-30 12:00 UTC);
        let now = at.unix_timestamp();
        let due = |order: &str, expires_at: i64, hold_until: Option<i64>, created: i64| DueOrder {
            seller_id: "S".into(),
            order_id: order.into(),
            expires_at,
            hold_until,
            created_at: Some(created),
        };
        let report = RetentionReport::from_index(
            at,
            [
                due("live", now + 10, None, now - 100),
                due("held", now - 10, Some(now + 50), now - 900),
                due("late", now - 10, None, now - 200),
                due("later", now - 20, Some(now - 5), now - 300),
            ],
            7,
            vec![],
            None,
        );
        assert_eq!((report.live, report.held), (1, 1));
        let overdue: Vec<_> = report.overdue.iter().map(|o| o.order_id.as_str()).collect();
        assert_eq!(overdue, ["later", "late"], "a lapsed hold is overdue");
        assert_eq!(report.oldest_pii_age_seconds, Some(900));
        assert_eq!(report.erased_total, 7);
    }

    #[test]
    fn metrics_are_one_emf_line() {
        let line = emf_line(
            &SweepReport {
                erased: 3,
                overdue: 1,
                ..SweepReport::default()
            },
            1_700_000_000_000,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["PiiErased"], 3);
        assert_eq!(v["PiiOverdue"], 1);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "orderseal");
        assert!(!line.contains('\n'));
    }

    /// An in-memory order table for the sweep engine: `stale` makes the read-back after a run
    /// still list what the run erased (a lagging index); `fail_shard` fails that shard's query.
    struct Fake {
        due: std::sync::Mutex<Vec<DueOrder>>,
        first_listing: Vec<DueOrder>,
        stale: bool,
        /// Fails once, like a throttled query.
        fail_shard: std::sync::Mutex<Option<u32>>,
        recorded: std::sync::Mutex<Option<SweepReport>>,
    }

    impl Fake {
        fn new(n: usize, stale: bool, fail_shard: Option<u32>) -> Self {
            let due: Vec<DueOrder> = (0..n)
                .map(|i| DueOrder {
                    seller_id: "S".into(),
                    order_id: format!("o{i}"),
                    expires_at: 0,
                    hold_until: None,
                    created_at: Some(0),
                })
                .collect();
            Self {
                first_listing: due.clone(),
                due: std::sync::Mutex::new(due),
                stale,
                fail_shard: std::sync::Mutex::new(fail_shard),
                recorded: std::sync::Mutex::new(None),
            }
        }
    }

    impl RetentionStore for Fake {
        type Cursor = ();

        async fn due_page(
            &self,
            shard: u32,
            _now: OffsetDateTime,
            _limit: u32,
            _cursor: Option<()>,
        ) -> Result<(Vec<DueOrder>, Option<()>), StoreError> {
            let mut fail = self.fail_shard.lock().unwrap();
            if *fail == Some(shard) {
                *fail = None;
                return Err(StoreError::Service {
                    operation: "Query",
                    code: "ThrottlingException".into(),
                });
            }
            let due = self.due.lock().unwrap().clone();
            Ok((
                due.into_iter()
                    .filter(|d| pii_shard(&d.seller_id, &d.order_id) == shard.to_string())
                    .collect(),
                None,
            ))
        }

        async fn load(
            &self,
            due: &[DueOrder],
            now: OffsetDateTime,
            keep_until: OffsetDateTime,
        ) -> Result<Loaded, StoreError> {
            Ok(Loaded {
                candidates: due
                    .iter()
                    .map(|d| Candidate {
                        record: BusinessRecord {
                            seller_id: d.seller_id.clone(),
                            order_id: d.order_id.clone(),
                            pii_erased_at: Some(now),
                            retain_until: keep_until,
                            ..record()
                        },
                        version: 1,
                        had_hold: false,
                    })
                    .collect(),
                ..Loaded::default()
            })
        }

        async fn keep(&self, candidates: &[Candidate]) -> Result<Vec<bool>, StoreError> {
            Ok(vec![true; candidates.len()])
        }

        async fn erase(&self, c: &Candidate, _now: OffsetDateTime) -> Result<Erasure, StoreError> {
            let mut due = self.due.lock().unwrap();
            let before = due.len();
            due.retain(|d| d.order_id != c.record.order_id);
            Ok(if due.len() < before {
                Erasure::Erased
            } else {
                Erasure::Skipped
            })
        }

        async fn due(
            &self,
            _now: OffsetDateTime,
            _cap: usize,
        ) -> Result<Vec<DueOrder>, StoreError> {
            Ok(if self.stale {
                self.first_listing.clone()
            } else {
                self.due.lock().unwrap().clone()
            })
        }

        async fn record_run(&self, run: &SweepReport) -> Result<(), StoreError> {
            *self.recorded.lock().unwrap() = Some(run.clone());
            Ok(())
        }
    }

    /// One sweep with the production limits, `hours` after noon on 2026-11-30.
    fn sweep_at(store: &Fake, hours: i64) -> SweepReport {
        let now = datetime!(2026-11-30 12:00 UTC) + Duration::hours(hours);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(sweep(
                store,
                now,
                Duration::days(3653),
                SweepLimits::default(),
            ))
            .unwrap()
    }

    #[test]
    fn a_lagging_index_does_not_report_what_the_run_erased_as_overdue() {
        let store = Fake::new(40, true, None);
        let run = sweep_at(&store, 0);
        assert_eq!((run.erased, run.overdue, run.complete), (40, 0, true));
        assert_eq!(store.recorded.lock().unwrap().as_ref(), Some(&run));
    }

    #[test]
    fn a_table_error_ends_the_run_early_but_its_counts_are_recorded() {
        let store = Fake::new(40, false, Some(3));
        let run = sweep_at(&store, 0);
        assert!(!run.complete);
        assert!(
            run.aborted
                .as_deref()
                .unwrap()
                .contains("ThrottlingException")
        );
        assert_eq!(
            run.erased + run.overdue,
            40,
            "what was not erased is overdue"
        );
        assert_eq!(store.recorded.lock().unwrap().as_ref(), Some(&run));
        // The next run picks up the rest.
        let next = sweep_at(&store, 1);
        assert_eq!((run.erased + next.erased, next.overdue), (40, 0));
    }
}
