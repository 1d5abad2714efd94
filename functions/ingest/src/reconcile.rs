//! Catch-up for notifications that arrive late or never: Amazon's guidance is to treat
//! notifications as the primary path and keep "a backup mechanism". A scheduled invocation of
//! the ingest function runs this, per registered seller and marketplace:
//!
//! 1. the window: from the stored watermark less an overlap to the watermark plus the window
//!    size (at most two minutes and a margin before now, as `searchOrders` requires);
//! 2. Orders v2026 `searchOrders` over it, page by page, asking only for the datasets without
//!    buyer data (fulfilment, proceeds, cancellation): that is all an FBA or cancelled order
//!    needs, so no getOrder is made for those;
//! 3. per page one BatchGetItem of the stored versions; every order not stored, or stored
//!    older, goes through [`Ingest::store_fetched`] — the notification path itself (an order
//!    that keeps buyer data is fetched with getOrder for it there: the data collected is what
//!    a notification would have collected, and nothing for orders already held);
//! 4. when every page is done the watermark moves to the window's end (and the window grows
//!    back toward its maximum); when the run stops first (its time, the usage plan, an error)
//!    the watermark stays and the window halves, so the next run resumes from the watermark
//!    with fresh pagination (tokens expire after 24 hours and are never stored).
//!
//! `searchOrders` keeps to its usage plan (0.0056 rps, burst 20) through the same shared
//! limiter as getOrder: a slot that would come after the invocation's time stops the run
//! without a request. Orders the reconcile run wrote are counted (`ReconciledOrders`): each is
//! one a notification did not bring in time.

use std::collections::HashMap;
use std::future::Future;
use std::time::Instant;

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use tracing::{info, warn};

use orderseal::clock::unix_millis;
use orderseal::idempotency::IdempotencyStore;
use orderseal::quarantine::Quarantine;
use orderseal::seal::KeyProvider;
use orderseal::sellers::Seller;
use orderseal::shipments::ShipmentQueue;
use orderseal::spapi::model::{GetOrderResponse, SearchOrdersResponse};
use orderseal::spapi::{NO_PII_INCLUDED_DATA, OrderSource, SpApiError};
use orderseal::store::{OrderStore, StoreError};

use crate::handler::{Ingest, Outcome, Retry};

/// How far a run reaches, and how it pages.
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// Searched again before the watermark: an order updated just before it but indexed late.
    pub overlap: Duration,
    /// The largest window one run searches.
    pub max_window: Duration,
    /// The smallest window after interrupted runs.
    pub min_window: Duration,
    /// Where a seller and marketplace without a watermark starts (before now).
    pub initial_lookback: Duration,
    /// `maxResultsPerPage` (1–100).
    pub page_size: u32,
    /// `lastUpdatedBefore` must be at least two minutes before the request: this margin more.
    pub settle: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            overlap: Duration::minutes(10),
            max_window: Duration::hours(24),
            min_window: Duration::minutes(15),
            initial_lookback: Duration::hours(24),
            page_size: 100,
            settle: Duration::minutes(3),
        }
    }
}

/// Where the last complete window of a seller and marketplace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    pub at: OffsetDateTime,
    /// The next run's window.
    pub window: Duration,
}

/// Port: searchOrders (the SP-API client in Lambda).
pub trait OrderSearch: Send + Sync {
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        seller_id: &str,
        marketplace: &str,
        after: OffsetDateTime,
        before: OffsetDateTime,
        page_size: u32,
        page: Option<&str>,
        deadline: Instant,
    ) -> impl Future<Output = Result<SearchOrdersResponse, SpApiError>> + Send;
}

impl<C, L> OrderSearch for orderseal::spapi::client::SpApiClient<C, L>
where
    C: orderseal::spapi::CredentialSource,
    L: orderseal::spapi::ratelimit::RateLimiter,
{
    async fn search(
        &self,
        seller_id: &str,
        marketplace: &str,
        after: OffsetDateTime,
        before: OffsetDateTime,
        page_size: u32,
        page: Option<&str>,
        deadline: Instant,
    ) -> Result<SearchOrdersResponse, SpApiError> {
        self.search_orders(
            seller_id,
            marketplace,
            after,
            before,
            NO_PII_INCLUDED_DATA,
            page_size,
            page,
            deadline,
        )
        .await
    }
}

/// Port: the notification path from the order in hand on ([`Ingest::store_fetched`]).
pub trait OrderPath: Sync {
    fn store_fetched(
        &self,
        seller: &str,
        order_id: &str,
        response: GetOrderResponse,
        deadline: Instant,
    ) -> impl Future<Output = Result<Outcome, Retry>> + Send;
}

impl<S, I, K, Q, O, D, R> OrderPath for Ingest<S, I, K, Q, O, D, R>
where
    R: orderseal::sellers::SellerRegistry,
    S: OrderStore,
    I: IdempotencyStore,
    K: KeyProvider,
    Q: ShipmentQueue,
    O: OrderSource,
    D: Quarantine,
{
    /// Asked without the buyer datasets, and no notification's cancel hint.
    async fn store_fetched(
        &self,
        seller: &str,
        order_id: &str,
        response: GetOrderResponse,
        deadline: Instant,
    ) -> Result<Outcome, Retry> {
        Ingest::store_fetched(self, seller, order_id, response, false, false, deadline).await
    }
}

/// Port: the sellers, the watermarks and the stored versions.
pub trait ReconcileState: Send + Sync {
    fn sellers(&self) -> impl Future<Output = Result<Vec<Seller>, StoreError>> + Send;
    fn watermark(
        &self,
        seller_id: &str,
        marketplace: &str,
    ) -> impl Future<Output = Result<Option<Watermark>, StoreError>> + Send;
    fn save(
        &self,
        seller_id: &str,
        marketplace: &str,
        watermark: Watermark,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `last_updated_ms` of the stored orders among `order_ids` (absent: not stored).
    fn stored_versions(
        &self,
        seller_id: &str,
        order_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, i64>, StoreError>> + Send;
}

/// What one run did (ids and counts only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Seller and marketplace windows searched to the end (their watermark moved).
    pub windows_completed: u32,
    /// Windows the run stopped in (their watermark stayed).
    pub windows_interrupted: u32,
    pub pages: u32,
    pub orders_seen: u32,
    /// Already stored at this version or newer: nothing done.
    pub orders_current: u32,
    /// Written by this run: orders no notification had brought (yet).
    pub orders_reconciled: u32,
    /// Of those, a shipment request sent.
    pub shipment_requests: u32,
    /// Orders that can never be stored as they are (logged with their reason).
    pub orders_failed: u32,
    /// Why the last interrupted window stopped.
    pub stopped_by: Option<&'static str>,
}

impl ReconcileReport {
    /// The run's CloudWatch metrics (EMF): `ReconciledOrders` (alarmed while it stays above 0)
    /// and `ReconcileWindowsInterrupted`.
    pub fn emf_line(&self, timestamp_ms: i64) -> String {
        serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": "orderseal",
                    "Dimensions": [[]],
                    "Metrics": [
                        {"Name": "ReconciledOrders", "Unit": "Count"},
                        {"Name": "ReconcileWindowsInterrupted", "Unit": "Count"},
                    ],
                }],
            },
            "ReconciledOrders": self.orders_reconciled,
            "ReconcileWindowsInterrupted": self.windows_interrupted,
        })
        .to_string()
    }
}

/// One reconcile run over every registered seller and marketplace, until `deadline`.
pub async fn run<P, X, W>(
    ingest: &P,
    search: &X,
    state: &W,
    config: &ReconcileConfig,
    now: OffsetDateTime,
    deadline: Instant,
) -> Result<ReconcileReport, StoreError>
where
    P: OrderPath,
    X: OrderSearch,
    W: ReconcileState,
{
    let mut report = ReconcileReport::default();
    for seller in state.sellers().await? {
        for marketplace in &seller.marketplaces {
            let span = tracing::info_span!("reconcile", seller_id = %seller.seller_id, marketplace = %marketplace);
            let _entered = span.enter();
            let stored = state.watermark(&seller.seller_id, marketplace).await?;
            let mark = stored.unwrap_or(Watermark {
                at: now - config.initial_lookback,
                window: config.max_window,
            });
            let after = mark.at - config.overlap;
            let before = (now - config.settle).min(mark.at + mark.window);
            if before <= mark.at {
                continue;
            }
            let outcome = window(
                ingest,
                search,
                state,
                config,
                &seller.seller_id,
                marketplace,
                (after, before),
                deadline,
                &mut report,
            )
            .await;
            let next = match outcome {
                Ok(()) => {
                    report.windows_completed += 1;
                    Watermark {
                        at: before,
                        window: (mark.window * 2i32).min(config.max_window),
                    }
                }
                Err(reason) => {
                    report.windows_interrupted += 1;
                    report.stopped_by = Some(reason);
                    warn!(
                        reason,
                        "reconcile window interrupted: resumes from its watermark"
                    );
                    Watermark {
                        at: mark.at,
                        window: (mark.window / 2i32).max(config.min_window),
                    }
                }
            };
            state
                .save(&seller.seller_id, marketplace, next, now)
                .await?;
        }
    }
    info!(
        pages = report.pages,
        seen = report.orders_seen,
        reconciled = report.orders_reconciled,
        interrupted = report.windows_interrupted,
        "reconcile run"
    );
    Ok(report)
}

/// Every page of one window; `Err(reason)`: stopped before the end.
#[allow(clippy::too_many_arguments)]
async fn window<P, X, W>(
    ingest: &P,
    search: &X,
    state: &W,
    config: &ReconcileConfig,
    seller: &str,
    marketplace: &str,
    (after, before): (OffsetDateTime, OffsetDateTime),
    deadline: Instant,
    report: &mut ReconcileReport,
) -> Result<(), &'static str>
where
    P: OrderPath,
    X: OrderSearch,
    W: ReconcileState,
{
    let mut page: Option<String> = None;
    loop {
        let response = search
            .search(
                seller,
                marketplace,
                after,
                before,
                config.page_size,
                page.as_deref(),
                deadline,
            )
            .await
            .map_err(|e| e.reason_code())?;
        report.pages += 1;
        let ids: Vec<String> = response.orders.iter().map(|o| o.order_id.clone()).collect();
        let stored = state
            .stored_versions(seller, &ids)
            .await
            .map_err(|_| "store_failed")?;
        for order in response.orders {
            report.orders_seen += 1;
            let order_id = order.order_id.clone();
            if stored
                .get(&order_id)
                .is_some_and(|&v| v >= unix_millis(order.last_updated_time))
            {
                report.orders_current += 1;
                continue;
            }
            let result = ingest
                .store_fetched(seller, &order_id, GetOrderResponse { order }, deadline)
                .await;
            match result {
                Ok(outcome) => {
                    let written = matches!(
                        outcome,
                        Outcome::Stored
                            | Outcome::StoredShipmentRequested
                            | Outcome::LabelVoidRequested
                    );
                    if written {
                        report.orders_reconciled += 1;
                        info!(order_id = %order_id, outcome = outcome.as_str(), "reconciled an order no notification brought");
                    } else {
                        report.orders_current += 1;
                    }
                    if matches!(
                        outcome,
                        Outcome::StoredShipmentRequested | Outcome::ShipmentRequestRepaired
                    ) {
                        report.shipment_requests += 1;
                    }
                }
                // Can never be stored as it is: its notification, if one comes, is quarantined
                // with the same reason; the window does not wait for it.
                Err(e) if e.is_permanent() => {
                    report.orders_failed += 1;
                    warn!(order_id = %order_id, reason = e.reason_code(), "reconcile cannot store this order");
                }
                Err(e) => return Err(e.reason_code()),
            }
        }
        match response.pagination.and_then(|p| p.next_token) {
            Some(next) => page = Some(next),
            None => return Ok(()),
        }
    }
}

/// The watermarks and versions in the order table: `pk = RECONCILE`, `sk =
/// <seller>#<marketplace>` (no PII: times only).
pub mod dynamo {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
    use time::format_description::well_known::Rfc3339;
    use time::{Duration, OffsetDateTime};

    use orderseal::aws::ddb::{get_n, get_s, s, store_error};
    use orderseal::layout::{ORDER_SK, PARTITION_KEY, SORT_KEY, order_pk};
    use orderseal::sellers::{DynamoSellers, Seller};
    use orderseal::store::StoreError;

    use super::{ReconcileState, Watermark};

    pub const RECONCILE_PK: &str = "RECONCILE";

    pub struct DynamoReconcileState {
        client: Client,
        table: String,
        sellers: DynamoSellers,
    }

    impl DynamoReconcileState {
        pub fn new(client: Client, table: impl Into<String>) -> Self {
            let table = table.into();
            Self {
                sellers: DynamoSellers::new(client.clone(), &table),
                client,
                table,
            }
        }

        fn key(seller: &str, marketplace: &str) -> HashMap<String, AttributeValue> {
            HashMap::from([
                (PARTITION_KEY.to_owned(), s(RECONCILE_PK)),
                (SORT_KEY.to_owned(), s(format!("{seller}#{marketplace}"))),
            ])
        }
    }

    fn text(t: OffsetDateTime) -> String {
        t.format(&Rfc3339).unwrap_or_default()
    }

    impl ReconcileState for DynamoReconcileState {
        async fn sellers(&self) -> Result<Vec<Seller>, StoreError> {
            self.sellers.list().await
        }

        async fn watermark(
            &self,
            seller: &str,
            marketplace: &str,
        ) -> Result<Option<Watermark>, StoreError> {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(seller, marketplace)))
                .projection_expression("watermark, window_secs")
                .send()
                .await
                .map_err(|e| store_error("GetItem", &e))?;
            Ok(out.item.and_then(|item| {
                Some(Watermark {
                    at: OffsetDateTime::parse(get_s(&item, "watermark")?, &Rfc3339).ok()?,
                    window: Duration::seconds(get_n(&item, "window_secs")?),
                })
            }))
        }

        async fn save(
            &self,
            seller: &str,
            marketplace: &str,
            watermark: Watermark,
            now: OffsetDateTime,
        ) -> Result<(), StoreError> {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::key(seller, marketplace)))
                .item("watermark", s(text(watermark.at)))
                .item(
                    "window_secs",
                    AttributeValue::N(watermark.window.whole_seconds().to_string()),
                )
                .item("run_at", s(text(now)))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| store_error("PutItem", &e))
        }

        async fn stored_versions(
            &self,
            seller: &str,
            order_ids: &[String],
        ) -> Result<HashMap<String, i64>, StoreError> {
            let mut out = HashMap::new();
            for chunk in order_ids.chunks(100) {
                let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
                    .iter()
                    .map(|id| {
                        HashMap::from([
                            (PARTITION_KEY.to_owned(), s(order_pk(seller, id))),
                            (SORT_KEY.to_owned(), s(ORDER_SK)),
                        ])
                    })
                    .collect();
                // Unprocessed keys are asked again (a bounded number of times).
                for _ in 0..5 {
                    if keys.is_empty() {
                        break;
                    }
                    let request = KeysAndAttributes::builder()
                        .set_keys(Some(std::mem::take(&mut keys)))
                        .projection_expression("order_id, last_updated_ms")
                        .build()
                        .map_err(|_| StoreError::Malformed("batch keys"))?;
                    let result = self
                        .client
                        .batch_get_item()
                        .request_items(&self.table, request)
                        .send()
                        .await
                        .map_err(|e| store_error("BatchGetItem", &e))?;
                    for item in result
                        .responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default()
                    {
                        if let (Some(id), Some(v)) =
                            (get_s(&item, "order_id"), get_n(&item, "last_updated_ms"))
                        {
                            out.insert(id.to_owned(), v);
                        }
                    }
                    keys = result
                        .unprocessed_keys
                        .and_then(|mut u| u.remove(&self.table))
                        .map(|k| k.keys)
                        .unwrap_or_default();
                }
                if !keys.is_empty() {
                    return Err(StoreError::Service {
                        operation: "BatchGetItem",
                        code: "unprocessed_keys".into(),
                    });
                }
            }
            Ok(out)
        }
    }
}
