//! A local stand-in for the three carrier / shipping-aggregator APIs orderseal ships MFN orders
//! through, for integration tests (in-process) and the local demo (the `carrier-sandbox`
//! binary).
//!
//! It serves, over real HTTP on a loopback port, create-shipment and label purchase with the
//! shapes of the public APIs:
//!
//! - **EasyPost v2** ([`Api::EasyPost`], `Authorization: Basic base64(apikey:)`): create a
//!   shipment (rates are returned), then buy one of its rates. Errors use EasyPost's envelope
//!   `{"error": {"code", "message", "errors": [FieldError…]}}`.
//! - **Shippo** ([`Api::Shippo`], `Authorization: ShippoToken <token>`): create a shipment (rates
//!   are returned), then a transaction for one rate buys the label. Errors are Django-REST-style
//!   (`{"detail": …}` or `{"<field>": ["…"]}`).
//! - **Generic REST** ([`Api::Generic`], `Authorization: Bearer <key>`): our own minimal API:
//!   quotes, and a create-shipment call that buys the label at once. Errors are
//!   `{"detail": …, "errors"?: [{"field", "message"}]}`.
//!
//! Rates are deterministic: they depend on the destination country (domestic US or one of three
//! international zones) and the weight. Labels are tiny PDFs served from memory under
//! `GET /labels/{labelId}.pdf`; like a real label they show the recipient's name and address
//! (and nothing else about the buyer).
//!
//! What a test can rely on, for every API:
//!
//! - **Idempotency**: every carrier `POST` honours an `Idempotency-Key` header. The same key with
//!   the same request (path and JSON body) answers the stored first response (same status, same
//!   ids; marked `Idempotent-Replayed: true`) and buys nothing new. The same key with a different
//!   request is refused (EasyPost: 422 `IDEMPOTENCY.KEY.REUSED`; Shippo and generic: 409
//!   `{"detail": "Idempotency-Key reused with a different request"}`). Only successful (2xx)
//!   answers are stored: a request that failed leaves its key unused, so a retry runs afresh.
//! - **Recording**: every request body that reaches a carrier route is recorded unmodified (raw
//!   text and parsed JSON) with its route, path and Idempotency-Key, whatever the outcome
//!   (even 401s), so tests can prove that only the minimum of PII left orderseal.
//! - **Faults** ([`SandboxControl::inject`]): `ServerError` (500) and `RateLimited` (429) answer
//!   without committing anything; `Timeout(d)` commits the request (buys the label, stores the
//!   idempotent response) and only then sleeps `d` before answering, modelling a carrier whose
//!   answer was lost to the client's timeout.
//! - **Counters**: labels actually purchased per API, requests per status, replays; and a record
//!   per shipment (ids, tracking number, carrier, service, created time, destination country).
//! - **Tracking webhooks** ([`SandboxControl::send_tracking`]): the sandbox plays the carrier and
//!   POSTs signed tracking events (in transit → out for delivery → delivered, one hour apart) for
//!   every shipment with a label to `{base}/webhooks/{easypost|shippo|generic}` on a **loopback**
//!   receiver (anything else is refused), signed as each API signs them (EasyPost
//!   `X-Hmac-Signature`, Shippo `Shippo-Auth-Signature`, generic Standard Webhooks) with the
//!   configured webhook secrets. A [`DeliveryPlan`] adds duplicates, a shuffled order, forged
//!   and stale events, retries after 5xx, and limits the shipments or the lifecycle; every
//!   [`Delivery`] (body, headers, answer, attempts) is recorded. Formats below.
//!
//! # Routes
//!
//! | Method and path | What |
//! |---|---|
//! | `POST /easypost/v2/shipments` | EasyPost create shipment → 201 Shipment with `rates` |
//! | `POST /easypost/v2/shipments/{id}/buy` | EasyPost buy `{"rate": {"id"}}` → 200 Shipment with label |
//! | `POST /easypost/v2/shipments/{id}/refund` | EasyPost refund `{}` → 200 Shipment, `refund_status: submitted` |
//! | `POST /shippo/shipments` | Shippo create shipment → 201 Shipment with `rates` |
//! | `POST /shippo/transactions` | Shippo buy `{"rate": "<rate object_id>"}` → 201 Transaction |
//! | `POST /shippo/refunds` | Shippo refund `{"transaction"}` → 201 Refund, `status: SUCCESS` |
//! | `POST /generic/v1/quotes` | generic quotes → 200 `{"quotes": […]}` |
//! | `POST /generic/v1/shipments` | generic create shipment and buy its label → 201 |
//! | `POST /generic/v1/shipments/{id}/void` | generic void `{}` → 200 `{"void_status": "voided"}` |
//! | `GET /labels/{labelId}.pdf` | a purchased label (`application/pdf`) |
//! | `GET /_sandbox/received[?api=easypost]` | recorded requests ([`Received`]) |
//! | `DELETE /_sandbox/received` | forget recorded requests |
//! | `POST /_sandbox/faults` | `{"api", "route"?, "fault": "server_error"\|"rate_limited"\|"timeout", "timeout_ms"?, "times"?}` |
//! | `DELETE /_sandbox/faults` | drop pending faults |
//! | `GET` / `DELETE /_sandbox/stats` | [`Stats`] / zero them |
//! | `GET /_sandbox/shipments` | [`ShipmentRecord`]s |
//! | `POST /_sandbox/webhooks/send` | `{"baseUrl", "plan"?: DeliveryPlan}` → `{"deliveries": [Delivery…]}`; 400 for a non-loopback URL or a bad plan |
//! | `GET` / `DELETE /_sandbox/webhooks/deliveries` | sent [`Delivery`]s / forget them |
//! | `POST /_sandbox/reset` | forget everything (shipments, labels, keys, records, deliveries, faults, stats) |
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use carrier_sandbox::{Api, CarrierSandboxConfig, Fault, Route};
//! let sandbox =
//!     carrier_sandbox::start(CarrierSandboxConfig::default(), "127.0.0.1:0".parse().unwrap())
//!         .await?;
//! let easypost_base = format!("{}/easypost/v2", sandbox.base_url());
//! let control = sandbox.control();
//! control.inject(Api::EasyPost, Route::Buy, Fault::Timeout(std::time::Duration::from_secs(2)), 1);
//! // … drive the client under test against `easypost_base` …
//! assert!(control.labels_purchased(Api::EasyPost) <= 1);
//! # let _ = easypost_base;
//! sandbox.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! The server never logs request or response bodies; the request log line carries the method,
//! the path, the names (not values) of query parameters and the status.
//!
//! # Tracking webhooks
//!
//! Every shipment goes through the lifecycle in transit → out for delivery → delivered
//! ([`TrackingStatus::LIFECYCLE`]); event `i` happened at `base + i ×` [`EVENT_SPACING`], where
//! `base` is the shipment's creation time (whole seconds) or [`DeliveryPlan::base_time`].
//!
//! | API | `POST` to | Signature headers |
//! |---|---|---|
//! | EasyPost | `{base}/webhooks/easypost` | `X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256(secret, body)>` |
//! | Shippo | `{base}/webhooks/shippo` | `Shippo-Auth-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` |
//! | Generic | `{base}/webhooks/generic` | `webhook-id: msg_<hex>`, `webhook-timestamp: <unix s>`, `webhook-signature: v1,<base64 HMAC-SHA256(base64-decoded secret, "<id>.<ts>.<body>")>` |
//!
//! Bodies (`Content-Type: application/json`; RFC 3339 times in UTC with whole seconds):
//!
//! - EasyPost Event: `{"id": "evt_…", "object": "Event", "description": "tracker.updated",
//!   "mode": "test", "created_at", "result": {"object": "Tracker", "id": "trk_…", "mode": "test",
//!   "tracking_code", "shipment_id", "carrier", "status", "updated_at", "tracking_details":
//!   [{"object": "TrackingDetail", "status", "message", "datetime"}…]}}`. `tracking_details`
//!   lists every event up to this one; the last is the current one.
//! - Shippo: `{"event": "track_updated", "test": true, "data": {"carrier": "usps",
//!   "tracking_number", "tracking_status": {"object_id": "<32 hex>", "status", "status_details",
//!   "status_date"}, "metadata": <the shipment's metadata or null>}}` (carrier in lower case).
//!   EasyPost's `carrier` is `USPS`, `UPS` or `FedEx`.
//! - Generic: `{"type": "shipment.tracking", "data": {"tracking_number", "status", "occurred_at",
//!   "reference"}}`.
//!
//! Status values: EasyPost `in_transit`, `out_for_delivery`, `delivered`; Shippo `TRANSIT`
//! (also for out for delivery: Shippo has no such status), `DELIVERED`; generic `IN_TRANSIT`,
//! `OUT_FOR_DELIVERY`, `DELIVERED`. Forged and stale events report `return_to_sender` /
//! `RETURNED` / `RETURN_TO_SENDER` one hour after the shipment's last event, under a fresh
//! event id, so a receiver that wrongly accepts one shows it.
//!
//! Secrets: [`CarrierSandboxConfig`]'s `*_webhook_secret` fields, by default
//! [`DEFAULT_EASYPOST_WEBHOOK_SECRET`], [`DEFAULT_SHIPPO_WEBHOOK_SECRET`] and
//! [`DEFAULT_GENERIC_WEBHOOK_SECRET`]. Forged deliveries use another key.
//!
//! Signature timestamps (Shippo, generic) are the wall clock at sending time, not the event
//! time. A duplicate is the same body with the same event id, signed again when it is sent; a
//! retry after a 5xx resends the very same request (body and headers).
//!
//! Only loopback targets are accepted (`127.0.0.0/8`, `::1`, `localhost`, pinned to loopback):
//! nothing is ever sent off the machine. Redirects are not followed and proxies are not used.
//!
//! ```no_run
//! # async fn demo(sandbox: carrier_sandbox::Sandbox) -> Result<(), carrier_sandbox::WebhookError> {
//! use carrier_sandbox::{DeliveryPlan, TrackingStatus};
//! // … buy labels through the APIs, start the receiver under test on 127.0.0.1 …
//! let plan = DeliveryPlan {
//!     duplicates: true,
//!     shuffle_seed: Some(7),
//!     until: Some(TrackingStatus::OutForDelivery),
//!     ..DeliveryPlan::default()
//! };
//! let deliveries = sandbox.control().send_tracking("http://127.0.0.1:9000", plan).await?;
//! assert!(deliveries.iter().all(|d| d.http_status == Some(200)));
//! # Ok(())
//! # }
//! ```

mod control;
mod easypost;
mod generic;
mod idempotency;
mod labels;
mod rates;
mod server;
mod shippo;
mod validate;
mod webhooks;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use control::{Api, ApiStats, Fault, Received, Route, SandboxControl, ShipmentRecord, Stats};
pub use webhooks::{
    Delivery, DeliveryKind, DeliveryPlan, EASYPOST_SIGNATURE_HEADER, EVENT_SPACING,
    SHIPPO_SIGNATURE_HEADER, STALE_BY, TrackingStatus, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER, WebhookError,
};

/// EasyPost API key the sandbox accepts unless configured otherwise.
pub const DEFAULT_EASYPOST_API_KEY: &str = "ep-local-key";
/// Shippo API token the sandbox accepts unless configured otherwise.
pub const DEFAULT_SHIPPO_TOKEN: &str = "shippo-local-token";
/// Generic REST API key the sandbox accepts unless configured otherwise.
pub const DEFAULT_GENERIC_API_KEY: &str = "generic-local-key";
/// The header carrying a client's idempotency key on carrier `POST`s.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Set (`true`) on a response that replays a stored idempotent response.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// Secret the sandbox signs EasyPost webhooks with unless configured otherwise (the HMAC key
/// is its NFKD form, here its ASCII bytes).
pub const DEFAULT_EASYPOST_WEBHOOK_SECRET: &str = "ep-webhook-secret";
/// Secret the sandbox signs Shippo webhooks with unless configured otherwise.
pub const DEFAULT_SHIPPO_WEBHOOK_SECRET: &str = "shippo-webhook-secret";
/// Standard Webhooks secret the sandbox signs generic webhooks with unless configured
/// otherwise: `whsec_` + base64 of the 32 ASCII bytes `generic-webhook-secret-32-bytes!` (the
/// HMAC key is those 32 bytes).
pub const DEFAULT_GENERIC_WEBHOOK_SECRET: &str =
    "whsec_Z2VuZXJpYy13ZWJob29rLXNlY3JldC0zMi1ieXRlcyE=";

/// The credentials each API accepts, and the secrets its webhooks are signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct CarrierSandboxConfig {
    /// EasyPost API key, sent as the Basic-auth user name (empty password).
    pub easypost_api_key: String,
    /// Shippo API token (`Authorization: ShippoToken <token>`).
    pub shippo_token: String,
    /// Generic REST API key (`Authorization: Bearer <key>`).
    pub generic_api_key: String,
    /// EasyPost webhook secret: `X-Hmac-Signature` is keyed with the UTF-8 bytes of its NFKD
    /// form, as EasyPost does (for ASCII, the bytes themselves).
    pub easypost_webhook_secret: String,
    /// Shippo webhook secret: `Shippo-Auth-Signature` is keyed with its bytes.
    pub shippo_webhook_secret: String,
    /// Standard Webhooks secret of the generic API, `whsec_<base64 key>` (the prefix is
    /// optional); `webhook-signature` is keyed with the decoded bytes.
    pub generic_webhook_secret: String,
}

impl Default for CarrierSandboxConfig {
    fn default() -> Self {
        Self {
            easypost_api_key: DEFAULT_EASYPOST_API_KEY.to_owned(),
            shippo_token: DEFAULT_SHIPPO_TOKEN.to_owned(),
            generic_api_key: DEFAULT_GENERIC_API_KEY.to_owned(),
            easypost_webhook_secret: DEFAULT_EASYPOST_WEBHOOK_SECRET.to_owned(),
            shippo_webhook_secret: DEFAULT_SHIPPO_WEBHOOK_SECRET.to_owned(),
            generic_webhook_secret: DEFAULT_GENERIC_WEBHOOK_SECRET.to_owned(),
        }
    }
}

/// The keys and secrets are redacted.
impl std::fmt::Debug for CarrierSandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarrierSandboxConfig")
            .field("easypost_api_key", &"[redacted]")
            .field("shippo_token", &"[redacted]")
            .field("generic_api_key", &"[redacted]")
            .field("easypost_webhook_secret", &"[redacted]")
            .field("shippo_webhook_secret", &"[redacted]")
            .field("generic_webhook_secret", &"[redacted]")
            .finish()
    }
}

/// A running sandbox server. Dropping it stops the server; [`Sandbox::shutdown`] also waits.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    control: SandboxControl,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Binds `addr` (use `127.0.0.1:0` in tests) and serves the sandbox on a spawned task.
pub async fn start(config: CarrierSandboxConfig, addr: SocketAddr) -> std::io::Result<Sandbox> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let control = SandboxControl::new(config, format!("http://{addr}"));
    let app = server::router(control.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // A dropped sender means the same as an explicit stop.
                let _ = stopped.await;
            })
            .await
    });
    Ok(Sandbox {
        addr,
        control,
        stop: Some(stop),
        task: Some(task),
    })
}

impl Sandbox {
    /// The socket address the server is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the server, e.g. `http://127.0.0.1:40123`. The APIs live under
    /// `/easypost/v2`, `/shippo` and `/generic/v1`.
    pub fn base_url(&self) -> String {
        self.control.base_url().to_owned()
    }

    /// A handle on the sandbox state, for driving it from a test.
    pub fn control(&self) -> SandboxControl {
        self.control.clone()
    }

    /// Stops accepting connections and waits (up to five seconds) for open ones to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(5), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => tracing::warn!(%error, "sandbox server ended with an error"),
                Ok(Err(error)) => tracing::warn!(%error, "sandbox server task failed"),
                Err(_) => tracing::warn!("sandbox server did not stop within 5 s"),
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
