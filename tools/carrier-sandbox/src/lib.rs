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
//!   per shipment (ids, tracking number, carrier, service, created time, destination country)
//!   for later webhook work.
//!
//! # Routes
//!
//! | Method and path | What |
//! |---|---|
//! | `POST /easypost/v2/shipments` | EasyPost create shipment → 201 Shipment with `rates` |
//! | `POST /easypost/v2/shipments/{id}/buy` | EasyPost buy `{"rate": {"id"}}` → 200 Shipment with label |
//! | `POST /shippo/shipments` | Shippo create shipment → 201 Shipment with `rates` |
//! | `POST /shippo/transactions` | Shippo buy `{"rate": "<rate object_id>"}` → 201 Transaction |
//! | `POST /generic/v1/quotes` | generic quotes → 200 `{"quotes": […]}` |
//! | `POST /generic/v1/shipments` | generic create shipment and buy its label → 201 |
//! | `GET /labels/{labelId}.pdf` | a purchased label (`application/pdf`) |
//! | `GET /_sandbox/received[?api=easypost]` | recorded requests ([`Received`]) |
//! | `DELETE /_sandbox/received` | forget recorded requests |
//! | `POST /_sandbox/faults` | `{"api", "route"?, "fault": "server_error"\|"rate_limited"\|"timeout", "timeout_ms"?, "times"?}` |
//! | `DELETE /_sandbox/faults` | drop pending faults |
//! | `GET` / `DELETE /_sandbox/stats` | [`Stats`] / zero them |
//! | `GET /_sandbox/shipments` | [`ShipmentRecord`]s |
//! | `POST /_sandbox/reset` | forget everything (shipments, labels, keys, records, faults, stats) |
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

mod control;
mod easypost;
mod generic;
mod idempotency;
mod labels;
mod rates;
mod server;
mod shippo;
mod validate;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use control::{Api, ApiStats, Fault, Received, Route, SandboxControl, ShipmentRecord, Stats};

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

/// The credentials each API accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct CarrierSandboxConfig {
    /// EasyPost API key, sent as the Basic-auth user name (empty password).
    pub easypost_api_key: String,
    /// Shippo API token (`Authorization: ShippoToken <token>`).
    pub shippo_token: String,
    /// Generic REST API key (`Authorization: Bearer <key>`).
    pub generic_api_key: String,
}

impl Default for CarrierSandboxConfig {
    fn default() -> Self {
        Self {
            easypost_api_key: DEFAULT_EASYPOST_API_KEY.to_owned(),
            shippo_token: DEFAULT_SHIPPO_TOKEN.to_owned(),
            generic_api_key: DEFAULT_GENERIC_API_KEY.to_owned(),
        }
    }
}

/// The keys are redacted.
impl std::fmt::Debug for CarrierSandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarrierSandboxConfig")
            .field("easypost_api_key", &"[redacted]")
            .field("shippo_token", &"[redacted]")
            .field("generic_api_key", &"[redacted]")
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
