//! Sandbox state and the test-control surface: in-process ([`SandboxControl`]) and over HTTP
//! under `/_sandbox/…` (so the local demo CLI can drive a running binary).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::SandboxConfig;
use crate::generate;
use crate::lwa::TokenStore;

/// How many confirmShipment bodies [`SandboxControl::confirmations`] keeps (the most recent).
pub const CONFIRMATIONS_KEPT: usize = 100;

/// An operation faults can be injected into and requests are counted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Op {
    /// `POST /auth/o2/token` (LWA).
    Token,
    /// `GET /orders/2026-01-01/orders/{orderId}`.
    GetOrder,
    /// `POST /orders/v0/orders/{orderId}/shipmentConfirmation`.
    ConfirmShipment,
    /// Every Notifications API operation (`/notifications/v1/…`).
    Notifications,
    /// `GET /orders/2026-01-01/orders`.
    SearchOrders,
}

/// A failure the sandbox answers with instead of serving a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// 429 with `x-amzn-RateLimit-Limit`, code `QuotaExceeded`.
    Throttle,
    /// 500, code `InternalFailure`.
    ServerError,
    /// 503, code `ServiceUnavailable`.
    Unavailable,
    /// 400, code `InvalidInput`: Amazon refuses the request as sent (no retry can help).
    BadRequest,
}

/// Request counters for one operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpStats {
    /// Requests answered, whatever the status.
    pub requests: u64,
    /// Requests answered per HTTP status code.
    pub by_status: BTreeMap<u16, u64>,
}

impl OpStats {
    /// How many requests were answered with `status`.
    pub fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

/// Request counters since start or the last reset (`GET /_sandbox/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub token: OpStats,
    pub get_order: OpStats,
    #[serde(default)]
    pub confirm_shipment: OpStats,
    #[serde(default)]
    pub search_orders: OpStats,
    /// Notifications API requests per operation id (`createDestination`, …).
    #[serde(default)]
    pub notifications: BTreeMap<String, OpStats>,
    /// The `includedData` values of the last getOrder request, as sent (split on commas).
    pub last_included_data: Option<Vec<String>>,
}

impl Stats {
    /// The counters of one operation (the Notifications API's: see
    /// [`notification_op`](Self::notification_op)).
    pub fn op(&self, op: Op) -> &OpStats {
        static NONE: OpStats = OpStats {
            requests: 0,
            by_status: BTreeMap::new(),
        };
        match op {
            Op::Token => &self.token,
            Op::GetOrder => &self.get_order,
            Op::ConfirmShipment => &self.confirm_shipment,
            Op::SearchOrders => &self.search_orders,
            Op::Notifications => &NONE,
        }
    }

    /// The counters of one Notifications operation by its model id, e.g. `createSubscription`.
    pub fn notification_op(&self, operation: &str) -> OpStats {
        self.notifications
            .get(operation)
            .cloned()
            .unwrap_or_default()
    }

    fn op_mut(&mut self, op: Op) -> Option<&mut OpStats> {
        match op {
            Op::Token => Some(&mut self.token),
            Op::GetOrder => Some(&mut self.get_order),
            Op::ConfirmShipment => Some(&mut self.confirm_shipment),
            Op::SearchOrders => Some(&mut self.search_orders),
            Op::Notifications => None,
        }
    }
}

/// The identifying facts of a stored order, e.g. to build an ORDER_CHANGE notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRef {
    pub seller_id: String,
    pub order_id: String,
    pub marketplace_id: Option<String>,
    /// `MERCHANT` (MFN) or `AMAZON` (AFN), when the order has a fulfillment section.
    pub fulfilled_by: Option<String>,
    pub fulfillment_status: Option<String>,
    pub last_updated_time: String,
}

/// Why [`SandboxControl::put_order`] refused an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOrder(String);

impl fmt::Display for InvalidOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid order: {}", self.0)
    }
}

impl std::error::Error for InvalidOrder {}

/// A handle on the shared sandbox state. Cheap to clone; every clone drives the same server.
#[derive(Clone)]
pub struct SandboxControl {
    inner: Arc<Inner>,
}

/// Counts only: the orders hold (synthetic or canary) PII and must not reach a log.
impl fmt::Debug for SandboxControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("SandboxControl")
            .field("seller_id", &self.inner.config.seller_id)
            .field("orders", &state.orders.len())
            .field("pending_faults", &state.faults.len())
            .field("down", &state.down)
            .field("confirmations", &state.confirmations.len())
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: SandboxConfig,
    /// The generated orders as at start, restored by [`SandboxControl::reset`].
    generated: Vec<Value>,
    /// The owners of generated orders that are not the primary seller's.
    generated_owners: HashMap<String, String>,
    state: Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
    /// Stored orders in insertion order, each the full v2026 `Order` with every section.
    orders: Vec<Value>,
    /// Order id → seller, for orders not the primary seller's ([`SandboxConfig::other_sellers`]).
    owners: HashMap<String, String>,
    pub(crate) notifications: crate::notifications::Registry,
    /// searchOrders: each seller's usage-plan bucket, and the pagination tokens issued.
    search_buckets: HashMap<String, Option<crate::plan::Bucket>>,
    page_tokens: HashMap<String, crate::search::PageToken>,
    pub(crate) tokens: TokenStore,
    faults: VecDeque<PendingFault>,
    down: bool,
    clock_offset: time::Duration,
    stats: Stats,
    /// The last [`CONFIRMATIONS_KEPT`] confirmShipment bodies received, oldest first.
    confirmations: VecDeque<(String, Value)>,
}

#[derive(Debug, Clone, Copy)]
struct PendingFault {
    op: Op,
    fault: Fault,
    /// Requests of `op` served normally before this fault applies.
    after: u32,
    remaining: u32,
}

impl SandboxControl {
    pub(crate) fn new(config: SandboxConfig) -> Self {
        let now = OffsetDateTime::now_utc();
        // Whole minutes, so timestamps carry no fractional seconds.
        let anchor = now
            - time::Duration::nanoseconds(i64::from(now.nanosecond()))
            - time::Duration::seconds(i64::from(now.second()));
        let mut generated = generate::orders(config.seed, config.generated_orders, anchor);
        let mut generated_owners = HashMap::new();
        for account in &config.other_sellers {
            let seed = account
                .seller_id
                .bytes()
                .fold(config.seed, |seed, b| seed.rotate_left(5) ^ u64::from(b));
            for order in generate::orders(seed, account.generated_orders, anchor) {
                let Some(id) = order_id_of(&order).map(str::to_owned) else {
                    continue;
                };
                if generated
                    .iter()
                    .all(|o| order_id_of(o) != Some(id.as_str()))
                {
                    generated_owners.insert(id, account.seller_id.clone());
                    generated.push(order);
                }
            }
        }
        let state = State {
            orders: generated.clone(),
            owners: generated_owners.clone(),
            ..State::default()
        };
        Self {
            inner: Arc::new(Inner {
                config,
                generated,
                generated_owners,
                state: Mutex::new(state),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters for a test double; keep serving.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The configuration the sandbox was started with.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The seller id the stored orders belong to.
    pub fn seller_id(&self) -> &str {
        &self.inner.config.seller_id
    }

    /// The sandbox's clock: wall-clock time plus any [`advance_clock`](Self::advance_clock).
    pub fn now(&self) -> OffsetDateTime {
        let offset = self.lock().clock_offset;
        OffsetDateTime::now_utc() + offset
    }

    /// Moves the sandbox clock forward (token expiry is judged by this clock).
    pub fn advance_clock(&self, by: std::time::Duration) {
        let by = time::Duration::try_from(by).unwrap_or(time::Duration::MAX);
        let mut state = self.lock();
        state.clock_offset = state.clock_offset.saturating_add(by);
    }

    /// Every stored order, full (all sections), in insertion order. The model's static sandbox
    /// cases are not stored orders and are not listed.
    pub fn orders(&self) -> Vec<Value> {
        self.lock().orders.clone()
    }

    /// One stored order, full.
    pub fn order(&self, order_id: &str) -> Option<Value> {
        self.lock()
            .orders
            .iter()
            .find(|order| order_id_of(order) == Some(order_id))
            .cloned()
    }

    /// One stored order of `seller`, full; another seller's order is `None`.
    pub fn order_of(&self, seller: &str, order_id: &str) -> Option<Value> {
        let state = self.lock();
        if state.owner(self.seller_id(), order_id) != seller {
            return None;
        }
        state
            .orders
            .iter()
            .find(|order| order_id_of(order) == Some(order_id))
            .cloned()
    }

    pub(crate) fn has_order(&self, seller: &str, order_id: &str) -> bool {
        let state = self.lock();
        state.owner(self.seller_id(), order_id) == seller
            && state
                .orders
                .iter()
                .any(|order| order_id_of(order) == Some(order_id))
    }

    /// `seller`'s stored orders, full.
    pub(crate) fn orders_of(&self, seller: &str) -> Vec<Value> {
        let state = self.lock();
        state
            .orders
            .iter()
            .filter(|o| state.owner(self.seller_id(), order_id_of(o).unwrap_or_default()) == seller)
            .cloned()
            .collect()
    }

    /// One searchOrders slot of `seller`'s usage plan; `false`: over it.
    pub(crate) fn admit_search(&self, seller: &str, now: std::time::Instant) -> bool {
        let mut state = self.lock();
        let slot = state.search_buckets.entry(seller.to_owned()).or_default();
        crate::search::PLAN.admit(slot, now)
    }

    pub(crate) fn page_token(&self, token: &str) -> Option<crate::search::PageToken> {
        self.lock().page_tokens.get(token).cloned()
    }

    pub(crate) fn issue_page_token(&self, page: crate::search::PageToken) -> String {
        let token: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(48)
            .collect();
        self.lock().page_tokens.insert(token.clone(), page);
        token
    }

    /// Every seller the sandbox knows: the primary one first.
    pub fn seller_ids(&self) -> Vec<String> {
        std::iter::once(self.seller_id().to_owned())
            .chain(
                self.config()
                    .other_sellers
                    .iter()
                    .map(|account| account.seller_id.clone()),
            )
            .collect()
    }

    /// The ids of the stored orders, in insertion order.
    pub fn order_ids(&self) -> Vec<String> {
        self.lock()
            .orders
            .iter()
            .filter_map(|order| order_id_of(order).map(str::to_owned))
            .collect()
    }

    /// Seller id, order id, marketplace and status of each stored order.
    pub fn order_refs(&self) -> Vec<OrderRef> {
        let primary = self.seller_id();
        let state = self.lock();
        state
            .orders
            .iter()
            .map(|order| {
                let id = order_id_of(order).unwrap_or_default();
                order_ref(state.owner(primary, id), order)
            })
            .collect()
    }

    /// Adds an order of the primary seller, or replaces the stored order with the same
    /// `orderId`. The order is the full v2026 `Order` with every section; getOrder filters it
    /// by `includedData` when it answers. The model's required fields must be present.
    pub fn put_order(&self, order: Value) -> Result<(), InvalidOrder> {
        let primary = self.seller_id().to_owned();
        self.put_order_for(&primary, order)
    }

    /// [`put_order`](Self::put_order) for one of the sandbox's sellers.
    pub fn put_order_for(&self, seller: &str, order: Value) -> Result<(), InvalidOrder> {
        if !self.seller_ids().iter().any(|known| known == seller) {
            return Err(InvalidOrder(format!(
                "seller {seller} is not one of the sandbox's sellers"
            )));
        }
        let order_id = validate_order(&order)?.to_owned();
        let mut state = self.lock();
        if seller == self.seller_id() {
            state.owners.remove(&order_id);
        } else {
            state.owners.insert(order_id.clone(), seller.to_owned());
        }
        match state
            .orders
            .iter_mut()
            .find(|stored| order_id_of(stored) == Some(order_id.as_str()))
        {
            Some(stored) => *stored = order,
            None => state.orders.push(order),
        }
        Ok(())
    }

    /// Removes a stored order; `false` if there was none.
    pub fn remove_order(&self, order_id: &str) -> bool {
        let mut state = self.lock();
        let before = state.orders.len();
        state
            .orders
            .retain(|order| order_id_of(order) != Some(order_id));
        state.owners.remove(order_id);
        state.orders.len() != before
    }

    /// The next `times` requests of `op` fail with `fault`. Injections queue up in order.
    pub fn inject(&self, op: Op, fault: Fault, times: u32) {
        self.inject_after(op, fault, 0, times);
    }

    /// As [`inject`](Self::inject), once `after` requests of `op` have been served (e.g. the
    /// second page of a search fails).
    pub fn inject_after(&self, op: Op, fault: Fault, after: u32, times: u32) {
        if times > 0 {
            self.lock().faults.push_back(PendingFault {
                op,
                fault,
                after,
                remaining: times,
            });
        }
    }

    /// Drops every pending injected fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// While down, every SP-API request (getOrder, confirmShipment) is answered 503
    /// `ServiceUnavailable`. The LWA token endpoint keeps working.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Request counters since start or the last reset.
    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        self.lock().stats = Stats::default();
    }

    /// The confirmShipment request bodies received (the last [`CONFIRMATIONS_KEPT`]), oldest
    /// first, each with the `orderId` of its path: every request that reached the operation,
    /// whatever the answer (faults, 403, 400 and 404 included), so a test sees exactly what the
    /// client sent, retries included. A body that is not JSON is kept as a JSON string of its
    /// text (lossy UTF-8).
    pub fn confirmations(&self) -> Vec<(String, Value)> {
        self.lock().confirmations.iter().cloned().collect()
    }

    /// Forgets the recorded confirmShipment bodies.
    pub fn clear_confirmations(&self) {
        self.lock().confirmations.clear();
    }

    /// Restores the generated orders and clears faults, down mode, the clock offset, the
    /// counters and the recorded confirmShipment bodies. Issued access tokens stay valid.
    pub fn reset(&self) {
        let mut state = self.lock();
        state.orders = self.inner.generated.clone();
        state.owners = self.inner.generated_owners.clone();
        state.notifications = Default::default();
        state.search_buckets.clear();
        state.page_tokens.clear();
        state.faults.clear();
        state.down = false;
        state.clock_offset = time::Duration::ZERO;
        state.stats = Stats::default();
        state.confirmations.clear();
    }

    pub(crate) fn is_down(&self) -> bool {
        self.lock().down
    }

    /// Consumes one pending fault for `op`, if any.
    pub(crate) fn take_fault(&self, op: Op) -> Option<Fault> {
        let mut state = self.lock();
        let index = state.faults.iter().position(|pending| pending.op == op)?;
        let pending = &mut state.faults[index];
        if pending.after > 0 {
            pending.after -= 1;
            return None;
        }
        let fault = pending.fault;
        pending.remaining -= 1;
        if pending.remaining == 0 {
            state.faults.remove(index);
        }
        Some(fault)
    }

    pub(crate) fn record(&self, op: Op, status: StatusCode) {
        let mut state = self.lock();
        if let Some(stats) = state.stats.op_mut(op) {
            stats.requests += 1;
            *stats.by_status.entry(status.as_u16()).or_default() += 1;
        }
    }

    pub(crate) fn record_notifications(&self, operation: &str, status: StatusCode) {
        let mut state = self.lock();
        let stats = state
            .stats
            .notifications
            .entry(operation.to_owned())
            .or_default();
        stats.requests += 1;
        *stats.by_status.entry(status.as_u16()).or_default() += 1;
    }

    /// The app's notification destinations, oldest first.
    pub fn destinations(&self) -> Vec<crate::SandboxDestination> {
        self.lock().notifications.destinations.clone()
    }

    /// Every seller's subscriptions, oldest first.
    pub fn subscriptions(&self) -> Vec<crate::SandboxSubscription> {
        self.lock().notifications.subscriptions.clone()
    }

    pub(crate) fn record_included_data(&self, values: Vec<String>) {
        self.lock().stats.last_included_data = Some(values);
    }

    pub(crate) fn record_confirmation(&self, order_id: &str, body: Value) {
        let mut state = self.lock();
        if state.confirmations.len() >= CONFIRMATIONS_KEPT {
            state.confirmations.pop_front();
        }
        state.confirmations.push_back((order_id.to_owned(), body));
    }

    /// Runs `change` on `seller`'s stored order under the state lock (so a check-then-update
    /// is atomic); `None` if it has no such order. `change` must not call back into `self`.
    pub(crate) fn with_order_mut<R>(
        &self,
        seller: &str,
        order_id: &str,
        change: impl FnOnce(&mut Value) -> R,
    ) -> Option<R> {
        let mut state = self.lock();
        if state.owner(self.seller_id(), order_id) != seller {
            return None;
        }
        let order = state
            .orders
            .iter_mut()
            .find(|order| order_id_of(order) == Some(order_id))?;
        Some(change(order))
    }
}

impl State {
    /// The seller an order id belongs to (`primary` unless recorded otherwise).
    fn owner<'a>(&'a self, primary: &'a str, order_id: &str) -> &'a str {
        self.owners.get(order_id).map_or(primary, String::as_str)
    }
}

fn order_id_of(order: &Value) -> Option<&str> {
    order.get("orderId").and_then(Value::as_str)
}

fn order_ref(seller_id: &str, order: &Value) -> OrderRef {
    let text = |pointer: &str| {
        order
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    OrderRef {
        seller_id: seller_id.to_owned(),
        order_id: text("/orderId").unwrap_or_default(),
        marketplace_id: text("/salesChannel/marketplaceId"),
        fulfilled_by: text("/fulfillment/fulfilledBy"),
        fulfillment_status: text("/fulfillment/fulfillmentStatus"),
        last_updated_time: text("/lastUpdatedTime").unwrap_or_default(),
    }
}

/// Checks the fields the model marks required on `Order` and `OrderItem`, so every answer the
/// sandbox gives stays valid against the model. Returns the order id.
fn validate_order(order: &Value) -> Result<&str, InvalidOrder> {
    let invalid = |why: &str| InvalidOrder(why.to_owned());
    let object = order
        .as_object()
        .ok_or_else(|| invalid("not a JSON object"))?;
    let order_id = object
        .get("orderId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid("orderId must be a non-empty string"))?;
    for field in ["createdTime", "lastUpdatedTime"] {
        let text = object
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| InvalidOrder(format!("{field} must be a string")))?;
        OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|_| InvalidOrder(format!("{field} must be an ISO 8601 date-time")))?;
    }
    object
        .get("salesChannel")
        .and_then(|channel| channel.get("channelName"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("salesChannel.channelName is required"))?;
    let items = object
        .get("orderItems")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("orderItems must be an array"))?;
    for (index, item) in items.iter().enumerate() {
        let ok = item.get("orderItemId").is_some_and(Value::is_string)
            && item.get("quantityOrdered").is_some_and(Value::is_u64)
            && item.get("product").is_some_and(Value::is_object);
        if !ok {
            return Err(InvalidOrder(format!(
                "orderItems[{index}] needs orderItemId (string), quantityOrdered (integer) and product (object)"
            )));
        }
    }
    Ok(order_id)
}

// ---------------------------------------------------------------------------------------------
// HTTP: /_sandbox/…

pub(crate) fn routes() -> Router<SandboxControl> {
    Router::new()
        .route("/_sandbox/orders", get(list_orders).post(post_order))
        .route(
            "/_sandbox/orders/{order_id}",
            get(get_stored_order).delete(delete_order),
        )
        .route("/_sandbox/faults", post(post_fault).delete(delete_faults))
        .route("/_sandbox/down", post(post_down))
        .route("/_sandbox/stats", get(get_stats).delete(delete_stats))
        .route("/_sandbox/clock", post(post_clock))
        .route("/_sandbox/reset", post(post_reset))
        .route("/_sandbox/notifications", get(get_notifications))
        .route(
            "/_sandbox/confirmations",
            get(get_confirmations).delete(delete_confirmations),
        )
}

type Control = AxumState<SandboxControl>;

fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn bad_body(rejection: JsonRejection) -> Response {
    control_error(StatusCode::BAD_REQUEST, rejection.body_text())
}

async fn list_orders(AxumState(control): Control) -> Json<Value> {
    Json(json!({
        "sellerId": control.seller_id(),
        "sellers": control.seller_ids(),
        "orders": control.order_refs(),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderOwner {
    seller_id: Option<String>,
}

/// `POST /_sandbox/orders[?sellerId=…]`: the primary seller's unless named.
async fn post_order(
    AxumState(control): Control,
    Query(owner): Query<OrderOwner>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let Json(order) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_body(rejection),
    };
    let seller = owner
        .seller_id
        .unwrap_or_else(|| control.seller_id().to_owned());
    match control.put_order_for(&seller, order) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => control_error(StatusCode::BAD_REQUEST, error.to_string()),
    }
}

async fn get_stored_order(AxumState(control): Control, Path(order_id): Path<String>) -> Response {
    match control.order(&order_id) {
        Some(order) => Json(order).into_response(),
        None => control_error(StatusCode::NOT_FOUND, "no such order"),
    }
}

async fn delete_order(AxumState(control): Control, Path(order_id): Path<String>) -> Response {
    if control.remove_order(&order_id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        control_error(StatusCode::NOT_FOUND, "no such order")
    }
}

#[derive(Deserialize)]
struct FaultRequest {
    op: Op,
    fault: Fault,
    #[serde(default = "one")]
    times: u32,
    #[serde(default)]
    after: u32,
}

fn one() -> u32 {
    1
}

async fn post_fault(
    AxumState(control): Control,
    body: Result<Json<FaultRequest>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(request)) => {
            control.inject_after(request.op, request.fault, request.after, request.times);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(rejection) => bad_body(rejection),
    }
}

async fn delete_faults(AxumState(control): Control) -> StatusCode {
    control.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct DownRequest {
    down: bool,
}

async fn post_down(
    AxumState(control): Control,
    body: Result<Json<DownRequest>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(request)) => {
            control.set_down(request.down);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(rejection) => bad_body(rejection),
    }
}

async fn get_stats(AxumState(control): Control) -> Json<Stats> {
    Json(control.stats())
}

async fn delete_stats(AxumState(control): Control) -> StatusCode {
    control.reset_stats();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockRequest {
    advance_secs: u64,
}

async fn post_clock(
    AxumState(control): Control,
    body: Result<Json<ClockRequest>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(request)) => {
            control.advance_clock(std::time::Duration::from_secs(request.advance_secs));
            let now = control.now().format(&Rfc3339).unwrap_or_default();
            Json(json!({ "now": now })).into_response()
        }
        Err(rejection) => bad_body(rejection),
    }
}

/// `{"destinations": [...], "subscriptions": [...]}`.
async fn get_notifications(AxumState(control): Control) -> Json<Value> {
    Json(json!({
        "destinations": control.destinations(),
        "subscriptions": control.subscriptions(),
    }))
}

async fn post_reset(AxumState(control): Control) -> StatusCode {
    control.reset();
    StatusCode::NO_CONTENT
}

/// `{"confirmations": [{"orderId": …, "body": …}, …]}`, oldest first.
async fn get_confirmations(AxumState(control): Control) -> Json<Value> {
    let confirmations: Vec<Value> = control
        .confirmations()
        .into_iter()
        .map(|(order_id, body)| json!({ "orderId": order_id, "body": body }))
        .collect();
    Json(json!({ "confirmations": confirmations }))
}

async fn delete_confirmations(AxumState(control): Control) -> StatusCode {
    control.clear_confirmations();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control() -> SandboxControl {
        SandboxControl::new(SandboxConfig {
            generated_orders: 3,
            ..SandboxConfig::default()
        })
    }

    #[test]
    fn faults_are_consumed_in_order_per_op() {
        let control = control();
        control.inject(Op::GetOrder, Fault::Throttle, 2);
        control.inject(Op::Token, Fault::ServerError, 1);
        control.inject(Op::GetOrder, Fault::Unavailable, 1);
        assert_eq!(control.take_fault(Op::Token), Some(Fault::ServerError));
        assert_eq!(control.take_fault(Op::Token), None);
        assert_eq!(control.take_fault(Op::GetOrder), Some(Fault::Throttle));
        assert_eq!(control.take_fault(Op::GetOrder), Some(Fault::Throttle));
        assert_eq!(control.take_fault(Op::GetOrder), Some(Fault::Unavailable));
        assert_eq!(control.take_fault(Op::GetOrder), None);
    }

    #[test]
    fn put_order_rejects_orders_missing_required_fields() {
        let control = control();
        let missing_items = json!({
            "orderId": "111-0000000-0000001",
            "createdTime": "2026-01-01T00:00:00Z",
            "lastUpdatedTime": "2026-01-01T00:00:00Z",
            "salesChannel": {"channelName": "AMAZON"}
        });
        assert!(control.put_order(missing_items).is_err());
        let bad_time = json!({
            "orderId": "111-0000000-0000001",
            "createdTime": "yesterday",
            "lastUpdatedTime": "2026-01-01T00:00:00Z",
            "salesChannel": {"channelName": "AMAZON"},
            "orderItems": []
        });
        assert!(control.put_order(bad_time).is_err());
        assert_eq!(control.orders().len(), 3);
    }

    #[test]
    fn debug_output_carries_no_order_contents_or_secrets() {
        let control = control();
        let mut order = control.orders().remove(0);
        order["buyer"]["buyerName"] = json!("CANARY-Debug-4411");
        control.put_order(order).unwrap();
        let shown = format!("{control:?} {:?}", control.config());
        assert!(!shown.contains("CANARY-Debug-4411"), "{shown}");
        assert!(!shown.contains(crate::DEFAULT_CLIENT_SECRET), "{shown}");
        assert!(!shown.contains(crate::DEFAULT_REFRESH_TOKEN), "{shown}");
        assert!(shown.contains("orders: 3"), "{shown}");
    }

    #[test]
    fn confirmations_keep_the_most_recent() {
        let control = control();
        for n in 0..CONFIRMATIONS_KEPT + 3 {
            control.record_confirmation("111-0000000-0000001", json!({ "n": n }));
        }
        let kept = control.confirmations();
        assert_eq!(kept.len(), CONFIRMATIONS_KEPT);
        assert_eq!(kept[0].1, json!({ "n": 3 }));
        assert_eq!(
            kept[CONFIRMATIONS_KEPT - 1].1,
            json!({ "n": CONFIRMATIONS_KEPT + 2 })
        );
        control.reset();
        assert!(control.confirmations().is_empty());
    }

    #[test]
    fn op_names_in_json() {
        assert_eq!(
            serde_json::to_value(Op::ConfirmShipment).unwrap(),
            json!("confirmShipment")
        );
        let stats = serde_json::to_value(Stats::default()).unwrap();
        assert!(stats.get("confirmShipment").is_some(), "{stats}");
    }

    #[test]
    fn reset_restores_generated_orders() {
        let control = control();
        let ids = control.order_ids();
        assert!(control.remove_order(&ids[0]));
        assert!(!control.remove_order(&ids[0]));
        control.set_down(true);
        control.reset();
        assert_eq!(control.order_ids(), ids);
        assert!(!control.is_down());
    }
}
