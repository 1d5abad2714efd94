//! Sandbox state and the test-control surface: in-process ([`SandboxControl`]) and over HTTP
//! under `/_sandbox/…` (so the local demo can drive a running binary).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::idempotency::IdempotencyStore;
use crate::webhooks::Delivery;
use crate::{CarrierSandboxConfig, easypost, shippo};

/// One of the three carrier APIs the sandbox stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// EasyPost v2, under `/easypost/v2`.
    EasyPost,
    /// Shippo, under `/shippo`.
    Shippo,
    /// Our own minimal REST API, under `/generic/v1`.
    Generic,
}

impl Api {
    /// Every API, in a fixed order.
    pub const ALL: [Self; 3] = [Self::EasyPost, Self::Shippo, Self::Generic];

    /// `easypost`, `shippo` or `generic` (as in `GET /_sandbox/received?api=…`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EasyPost => "easypost",
            Self::Shippo => "shippo",
            Self::Generic => "generic",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of carrier call, to aim faults at and to label recorded requests.
///
/// | API | `CreateShipment` | `Buy` | `Quote` | `Refund` |
/// |---|---|---|---|---|
/// | EasyPost | `POST /shipments` | `POST /shipments/{id}/buy` | — | `POST /shipments/{id}/refund` |
/// | Shippo | `POST /shipments` | `POST /transactions` | — | `POST /refunds` |
/// | Generic | `POST /v1/shipments` | `POST /v1/shipments` | `POST /v1/quotes` | `POST /v1/shipments/{id}/void` |
///
/// The generic create-shipment call also buys the label, so faults aimed at either
/// `CreateShipment` or `Buy` hit it; it is recorded as `CreateShipment`. `Any` only aims faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    CreateShipment,
    Buy,
    Quote,
    /// Void and refund a bought label (EasyPost refund, Shippo refund, generic void).
    Refund,
    Any,
}

/// A failure injected into the next matching carrier request(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// 500 in the API's error shape; nothing is committed.
    ServerError,
    /// The request is committed (label bought, idempotent response stored, counters updated),
    /// then the answer is held back this long: the client sees a timeout if it waits less.
    Timeout(Duration),
    /// 429 in the API's error shape with `Retry-After: 1`; nothing is committed.
    RateLimited,
}

/// The carrier endpoints that take a `POST` with a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    EasyPostCreateShipment,
    EasyPostBuy,
    ShippoCreateShipment,
    ShippoTransaction,
    GenericQuote,
    GenericCreateShipment,
    EasyPostRefund,
    ShippoRefund,
    GenericVoid,
}

impl Endpoint {
    pub(crate) fn api(self) -> Api {
        match self {
            Self::EasyPostCreateShipment | Self::EasyPostBuy | Self::EasyPostRefund => {
                Api::EasyPost
            }
            Self::ShippoCreateShipment | Self::ShippoTransaction | Self::ShippoRefund => {
                Api::Shippo
            }
            Self::GenericQuote | Self::GenericCreateShipment | Self::GenericVoid => Api::Generic,
        }
    }

    /// The route a request to this endpoint is recorded under.
    pub(crate) fn route(self) -> Route {
        match self {
            Self::EasyPostCreateShipment
            | Self::ShippoCreateShipment
            | Self::GenericCreateShipment => Route::CreateShipment,
            Self::EasyPostBuy | Self::ShippoTransaction => Route::Buy,
            Self::GenericQuote => Route::Quote,
            Self::EasyPostRefund | Self::ShippoRefund | Self::GenericVoid => Route::Refund,
        }
    }

    /// Whether a fault aimed at `route` hits this endpoint.
    pub(crate) fn matches(self, route: Route) -> bool {
        route == Route::Any
            || route == self.route()
            || (self == Self::GenericCreateShipment && route == Route::Buy)
    }
}

/// A request body as it reached a carrier route, unmodified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub api: Api,
    /// What kind of call it was ([`Route::Any`] never appears here).
    pub route: Route,
    /// The request path, e.g. `/easypost/v2/shipments/shp_…/buy`.
    pub path: String,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
    /// The body parsed as JSON; `null` when it was not JSON.
    pub body: Value,
    /// The body as received (lossily decoded as UTF-8).
    pub raw: String,
}

/// A shipment the sandbox holds, whatever the API; what its tracking webhooks are made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRecord {
    pub api: Api,
    /// `shp_…` (EasyPost), the shipment `object_id` (Shippo) or `gshp_…` (generic).
    pub shipment_id: String,
    /// The client's own reference (EasyPost `reference`, Shippo `metadata`, generic `reference`).
    pub reference: Option<String>,
    /// Set once a label is bought.
    pub tracking_number: Option<String>,
    /// `USPS`, `UPS` or `FedEx`, once a label is bought.
    pub carrier: Option<String>,
    /// The service as the API names it (e.g. `Priority`, `usps_priority`), once bought.
    pub service: Option<String>,
    /// The id under which the label is served (`GET /labels/{label_id}.pdf`), once bought.
    pub label_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// ISO 3166-1 alpha-2 code of the recipient's country (upper case).
    pub to_country: String,
    /// Set once its label is voided (refunded): the refund's id.
    #[serde(default)]
    pub refund_id: Option<String>,
}

/// Counters for one API since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiStats {
    /// Carrier requests handled (label downloads not included), whatever the status. A request
    /// held back by a `Timeout` fault counts when it is committed, before its delayed answer.
    pub requests: u64,
    /// Carrier requests handled per HTTP status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Shipments created (EasyPost and Shippo create; generic create, which also buys).
    pub shipments_created: u64,
    /// Labels actually purchased (EasyPost buy, Shippo transaction, generic create).
    pub labels_purchased: u64,
    /// Labels voided and refunded (a repeated refund of the same label not counted).
    #[serde(default)]
    pub labels_refunded: u64,
    /// Requests answered from the idempotency store.
    pub idempotent_replays: u64,
}

impl ApiStats {
    /// How many requests were answered with `status`.
    pub fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

/// Counters since start or the last reset (`GET /_sandbox/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub easypost: ApiStats,
    pub shippo: ApiStats,
    pub generic: ApiStats,
    /// `GET /labels/…` answered with a label.
    pub label_downloads: u64,
}

impl Stats {
    /// The counters of one API.
    pub fn api(&self, api: Api) -> &ApiStats {
        match api {
            Api::EasyPost => &self.easypost,
            Api::Shippo => &self.shippo,
            Api::Generic => &self.generic,
        }
    }

    pub(crate) fn api_mut(&mut self, api: Api) -> &mut ApiStats {
        match api {
            Api::EasyPost => &mut self.easypost,
            Api::Shippo => &mut self.shippo,
            Api::Generic => &mut self.generic,
        }
    }
}

/// A handle on the shared sandbox state. Cheap to clone; every clone drives the same server.
#[derive(Clone)]
pub struct SandboxControl {
    inner: Arc<Inner>,
}

/// Counts only: recorded requests and labels hold (synthetic or canary) PII and must not reach a
/// log, and the config holds keys.
impl fmt::Debug for SandboxControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("SandboxControl")
            .field("base_url", &self.inner.base_url)
            .field("shipments", &state.shipments.len())
            .field("labels", &state.labels.len())
            .field("received", &state.received.len())
            .field("pending_faults", &state.faults.len())
            .field("deliveries", &state.deliveries.len())
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: CarrierSandboxConfig,
    base_url: String,
    state: Mutex<State>,
}

/// Everything the sandbox remembers; [`SandboxControl::reset`] puts it back to the default.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) easypost: easypost::Store,
    pub(crate) shippo: shippo::Store,
    /// Every shipment of every API, in creation order.
    pub(crate) shipments: Vec<ShipmentRecord>,
    /// Label PDFs by label id.
    pub(crate) labels: HashMap<String, Vec<u8>>,
    pub(crate) idempotency: IdempotencyStore,
    pub(crate) received: Vec<Received>,
    /// Webhook deliveries sent, in sending order.
    pub(crate) deliveries: Vec<Delivery>,
    faults: VecDeque<PendingFault>,
    pub(crate) stats: Stats,
}

impl State {
    /// Consumes one pending fault aimed at `endpoint`, if any. Faults are taken in injection
    /// order.
    pub(crate) fn take_fault(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|pending| pending.api == endpoint.api() && endpoint.matches(pending.route))?;
        let pending = &mut self.faults[index];
        let fault = pending.fault;
        pending.remaining -= 1;
        if pending.remaining == 0 {
            self.faults.remove(index);
        }
        Some(fault)
    }

    /// Stores a new shipment record and counts it.
    pub(crate) fn add_shipment(&mut self, record: ShipmentRecord) {
        self.stats.api_mut(record.api).shipments_created += 1;
        self.shipments.push(record);
    }

    /// Records a purchased label: stores the PDF, fills in the shipment record, counts it.
    pub(crate) fn add_label(&mut self, api: Api, shipment_id: &str, label: PurchasedLabel) {
        if let Some(record) = self
            .shipments
            .iter_mut()
            .find(|record| record.api == api && record.shipment_id == shipment_id)
        {
            record.tracking_number = Some(label.tracking_number);
            record.carrier = Some(label.carrier.to_owned());
            record.service = Some(label.service);
            record.label_id = Some(label.label_id.clone());
        }
        self.labels.insert(label.label_id, label.pdf);
        self.stats.api_mut(api).labels_purchased += 1;
    }
}

/// What [`State::refund_label`] found.
pub(crate) enum Refund {
    /// No shipment of that API with that id.
    Unknown,
    /// The shipment has no label to refund.
    NotBought,
    /// Refunded, now or by an earlier request (counted once), under this refund id.
    Done { refund_id: String },
}

impl State {
    /// Voids a shipment's label once: a repeat answers with the first refund's id.
    pub(crate) fn refund_label(&mut self, api: Api, shipment_id: &str, prefix: &str) -> Refund {
        let Some(record) = self
            .shipments
            .iter_mut()
            .find(|record| record.api == api && record.shipment_id == shipment_id)
        else {
            return Refund::Unknown;
        };
        if record.label_id.is_none() {
            return Refund::NotBought;
        }
        if let Some(refund_id) = &record.refund_id {
            return Refund::Done {
                refund_id: refund_id.clone(),
            };
        }
        let refund_id = crate::server::new_id(prefix);
        record.refund_id = Some(refund_id.clone());
        self.stats.api_mut(api).labels_refunded += 1;
        Refund::Done { refund_id }
    }
}

/// What [`State::add_label`] stores.
pub(crate) struct PurchasedLabel {
    pub(crate) label_id: String,
    pub(crate) tracking_number: String,
    pub(crate) carrier: &'static str,
    pub(crate) service: String,
    pub(crate) pdf: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct PendingFault {
    api: Api,
    route: Route,
    fault: Fault,
    remaining: u32,
}

impl SandboxControl {
    pub(crate) fn new(config: CarrierSandboxConfig, base_url: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                base_url,
                state: Mutex::new(State::default()),
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
    pub fn config(&self) -> &CarrierSandboxConfig {
        &self.inner.config
    }

    /// Base URL of the server, e.g. `http://127.0.0.1:40123` (label URLs start with it).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The next `times` requests of `api` matching `route` fail with `fault`. Injections queue
    /// up in order.
    pub fn inject(&self, api: Api, route: Route, fault: Fault, times: u32) {
        if times > 0 {
            self.lock().faults.push_back(PendingFault {
                api,
                route,
                fault,
                remaining: times,
            });
        }
    }

    /// Drops every pending injected fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Every request body received by `api`'s carrier routes, in arrival order.
    pub fn received(&self, api: Api) -> Vec<Received> {
        self.lock()
            .received
            .iter()
            .filter(|received| received.api == api)
            .cloned()
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_received(&self) {
        self.lock().received.clear();
    }

    /// Labels actually purchased from `api` since start or the last reset.
    pub fn labels_purchased(&self, api: Api) -> u64 {
        self.lock().stats.api(api).labels_purchased
    }

    /// Labels voided (refunded) at `api` since start or the last reset, each counted once.
    pub fn labels_refunded(&self, api: Api) -> u64 {
        self.lock().stats.api(api).labels_refunded
    }

    /// Every shipment of every API, in creation order.
    pub fn shipments(&self) -> Vec<ShipmentRecord> {
        self.lock().shipments.clone()
    }

    /// The PDF of a purchased label.
    pub fn label_pdf(&self, label_id: &str) -> Option<Vec<u8>> {
        self.lock().labels.get(label_id).cloned()
    }

    /// Counters since start or the last reset.
    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Zeroes the counters (including [`labels_purchased`](Self::labels_purchased)).
    pub fn reset_stats(&self) {
        self.lock().stats = Stats::default();
    }

    /// Forgets everything: shipments, rates, labels, idempotency keys, recorded requests,
    /// webhook deliveries, pending faults and counters.
    pub fn reset(&self) {
        *self.lock() = State::default();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP: /_sandbox/…

pub(crate) fn routes() -> Router<SandboxControl> {
    Router::new()
        .route(
            "/_sandbox/received",
            get(get_received).delete(delete_received),
        )
        .route("/_sandbox/faults", post(post_fault).delete(delete_faults))
        .route("/_sandbox/stats", get(get_stats).delete(delete_stats))
        .route("/_sandbox/shipments", get(get_shipments))
        .route("/_sandbox/reset", post(post_reset))
}

type Control = AxumState<SandboxControl>;

pub(crate) fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

#[derive(Deserialize)]
struct ReceivedQuery {
    api: Option<Api>,
}

async fn get_received(
    AxumState(control): Control,
    query: Result<Query<ReceivedQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return control_error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let received: Vec<Received> = match query.api {
        Some(api) => control.received(api),
        None => control.lock().received.clone(),
    };
    Json(json!({ "received": received })).into_response()
}

async fn delete_received(AxumState(control): Control) -> StatusCode {
    control.clear_received();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultKind {
    ServerError,
    Timeout,
    RateLimited,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    api: Api,
    #[serde(default = "any_route")]
    route: Route,
    fault: FaultKind,
    /// Required with `"fault": "timeout"`.
    timeout_ms: Option<u64>,
    #[serde(default = "one")]
    times: u32,
}

fn any_route() -> Route {
    Route::Any
}

fn one() -> u32 {
    1
}

impl FaultRequest {
    fn fault(&self) -> Result<Fault, &'static str> {
        match (self.fault, self.timeout_ms) {
            (FaultKind::ServerError, None) => Ok(Fault::ServerError),
            (FaultKind::RateLimited, None) => Ok(Fault::RateLimited),
            (FaultKind::Timeout, Some(ms)) => Ok(Fault::Timeout(Duration::from_millis(ms))),
            (FaultKind::Timeout, None) => Err("timeout_ms is required with \"fault\": \"timeout\""),
            (_, Some(_)) => Err("timeout_ms only goes with \"fault\": \"timeout\""),
        }
    }
}

async fn post_fault(
    AxumState(control): Control,
    body: Result<Json<FaultRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => return control_error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    match request.fault() {
        Ok(fault) => {
            control.inject(request.api, request.route, fault, request.times);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(message) => control_error(StatusCode::BAD_REQUEST, message),
    }
}

async fn delete_faults(AxumState(control): Control) -> StatusCode {
    control.clear_faults();
    StatusCode::NO_CONTENT
}

async fn get_stats(AxumState(control): Control) -> Json<Stats> {
    Json(control.stats())
}

async fn delete_stats(AxumState(control): Control) -> StatusCode {
    control.reset_stats();
    StatusCode::NO_CONTENT
}

async fn get_shipments(AxumState(control): Control) -> Json<Value> {
    Json(json!({ "shipments": control.shipments() }))
}

async fn post_reset(AxumState(control): Control) -> StatusCode {
    control.reset();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control() -> SandboxControl {
        SandboxControl::new(
            CarrierSandboxConfig::default(),
            "http://127.0.0.1:1".to_owned(),
        )
    }

    #[test]
    fn faults_are_consumed_in_order_per_api_and_route() {
        let control = control();
        control.inject(Api::EasyPost, Route::Buy, Fault::RateLimited, 2);
        control.inject(Api::Shippo, Route::Any, Fault::ServerError, 1);
        control.inject(Api::EasyPost, Route::Any, Fault::ServerError, 1);
        let mut state = control.lock();
        assert_eq!(state.take_fault(Endpoint::GenericQuote), None);
        assert_eq!(
            state.take_fault(Endpoint::ShippoTransaction),
            Some(Fault::ServerError)
        );
        assert_eq!(state.take_fault(Endpoint::ShippoCreateShipment), None);
        // The Buy fault was injected first but does not match a create-shipment call.
        assert_eq!(
            state.take_fault(Endpoint::EasyPostCreateShipment),
            Some(Fault::ServerError)
        );
        assert_eq!(
            state.take_fault(Endpoint::EasyPostBuy),
            Some(Fault::RateLimited)
        );
        assert_eq!(
            state.take_fault(Endpoint::EasyPostBuy),
            Some(Fault::RateLimited)
        );
        assert_eq!(state.take_fault(Endpoint::EasyPostBuy), None);
    }

    #[test]
    fn generic_create_shipment_is_both_create_and_buy() {
        let endpoint = Endpoint::GenericCreateShipment;
        assert!(endpoint.matches(Route::CreateShipment));
        assert!(endpoint.matches(Route::Buy));
        assert!(endpoint.matches(Route::Any));
        assert!(!endpoint.matches(Route::Quote));
        assert_eq!(endpoint.route(), Route::CreateShipment);
        assert!(!Endpoint::GenericQuote.matches(Route::Buy));
        assert!(!Endpoint::EasyPostBuy.matches(Route::CreateShipment));
    }

    #[test]
    fn fault_requests_need_a_timeout_exactly_for_timeouts() {
        let parse = |value: Value| serde_json::from_value::<FaultRequest>(value).unwrap();
        let timeout = parse(json!({"api": "shippo", "fault": "timeout", "timeout_ms": 1500}));
        assert_eq!(
            timeout.fault(),
            Ok(Fault::Timeout(Duration::from_millis(1500)))
        );
        assert_eq!(timeout.route, Route::Any);
        assert_eq!(timeout.times, 1);
        assert!(
            parse(json!({"api": "easypost", "fault": "timeout"}))
                .fault()
                .is_err()
        );
        assert!(
            parse(json!({"api": "generic", "fault": "server_error", "timeout_ms": 5}))
                .fault()
                .is_err()
        );
        let rate_limited = parse(json!({
            "api": "generic", "route": "create_shipment", "fault": "rate_limited", "times": 3
        }));
        assert_eq!(rate_limited.fault(), Ok(Fault::RateLimited));
        assert_eq!(rate_limited.route, Route::CreateShipment);
    }

    #[test]
    fn debug_output_carries_no_keys() {
        let control = control();
        let shown = format!("{control:?} {:?}", control.config());
        for key in [
            crate::DEFAULT_EASYPOST_API_KEY,
            crate::DEFAULT_SHIPPO_TOKEN,
            crate::DEFAULT_GENERIC_API_KEY,
            crate::DEFAULT_EASYPOST_WEBHOOK_SECRET,
            crate::DEFAULT_SHIPPO_WEBHOOK_SECRET,
            crate::DEFAULT_GENERIC_WEBHOOK_SECRET,
        ] {
            assert!(!shown.contains(key), "{shown}");
        }
    }
}
