//! A local stand-in for Amazon's Selling Partner API (SP-API), for integration tests and the
//! local demo.
//!
//! It serves, over real HTTP on a loopback port:
//!
//! - **Login with Amazon** `POST /auth/o2/token`: the `refresh_token` grant (seller-authorised
//!   calls) and the `client_credentials` grant (grantless calls), with LWA's error shapes.
//!   Issued access tokens (`Atza|…`) are remembered and expire after an hour of sandbox time.
//! - **Orders API v2026-01-01** `GET /orders/2026-01-01/orders/{orderId}` (`getOrder`), with the
//!   shapes of the official model (`specs/spapi/orders_2026-01-01.json` in the kit): the
//!   `includedData` datasets decide which optional sections appear, errors are SP-API
//!   `ErrorList`s, and the model's static sandbox cases (`114-9876543-1234567`,
//!   `171-9876543-2109876`, `028-1234567-8901234`, `TEST_CASE_400`) answer as in Amazon's sandbox.
//! - **Orders API v2026-01-01** `GET /orders/2026-01-01/orders` (`searchOrders`): the model's
//!   filters, pagination tokens (24 h), and its 0.0056 rps / burst 20 plan per seller; see the
//!   `search` module.
//! - **Orders API v0** `POST /orders/v0/orders/{orderId}/shipmentConfirmation`
//!   (`confirmShipment`), validated against the official model (`specs/spapi/ordersV0.json`):
//!   204 records the package on the stored v2026 order (fulfillment status, item quantities,
//!   `packages[]`), so getOrder shows it; errors are `ConfirmShipmentErrorResponse`s; the model's
//!   static case (`902-1106328-1059050`) answers as in Amazon's sandbox. The rules are listed in
//!   the `confirm` module's source.
//! - **Notifications API v1** (`specs/spapi/notifications.json`): destinations (grantless,
//!   409 on a second for the same queue) and per-seller subscriptions (409 on a second of a
//!   type), within the model's 1 rps / burst 5 usage plan; see the `notifications` module.
//! - **Several sellers** ([`SandboxConfig::other_sellers`]): an access token acts for the seller
//!   whose refresh token it came from; another seller's order is 404 to it.
//! - **Test control** under `/_sandbox/…` and in-process through [`SandboxControl`]: put or
//!   remove orders (e.g. orders carrying canary PII), inject throttling and server faults, take
//!   the service down, move the sandbox clock, read request counters, read the confirmShipment
//!   bodies received, reset.
//!
//! # Routes
//!
//! | Method and path | What |
//! |---|---|
//! | `POST /auth/o2/token` | LWA token grant (form or JSON body) |
//! | `GET /orders/2026-01-01/orders/{orderId}?includedData=…` | getOrder (`x-amz-access-token`) |
//! | `GET /orders/2026-01-01/orders?lastUpdatedAfter=…` | searchOrders (`x-amz-access-token`) |
//! | `POST /orders/v0/orders/{orderId}/shipmentConfirmation` | confirmShipment (`x-amz-access-token`) → 204 |
//! | `GET /_sandbox/orders` | `{"sellerId", "orders": [OrderRef…]}` |
//! | `POST /_sandbox/orders` | add or replace a full order (body: the order) → 204 |
//! | `GET` / `DELETE /_sandbox/orders/{orderId}` | one full stored order / remove it |
//! | `POST /_sandbox/faults` | `{"op": "getOrder"\|"searchOrders"\|"confirmShipment"\|"token"\|"notifications", "after": N, "fault": "throttle"\|"server_error"\|"unavailable"\|"bad_request", "times": N}` |
//! | `DELETE /_sandbox/faults` | drop pending faults |
//! | `POST /_sandbox/down` | `{"down": true\|false}`: getOrder and confirmShipment answer 503 while down |
//! | `GET` / `DELETE /_sandbox/stats` | [`Stats`] / zero them |
//! | `POST /_sandbox/clock` | `{"advanceSecs": N}`: move the sandbox clock (token expiry) |
//! | `GET` / `DELETE /_sandbox/confirmations` | `{"confirmations": [{"orderId", "body"}…]}`: the last confirmShipment bodies received, oldest first / forget them |
//! | `POST`/`GET /notifications/v1/destinations`, `GET`/`DELETE …/{destinationId}` | destinations (grantless) |
//! | `POST`/`GET /notifications/v1/subscriptions/{type}` | a seller's subscription (seller token) |
//! | `GET`/`DELETE /notifications/v1/subscriptions/{type}/{subscriptionId}` | by id (grantless) |
//! | `GET /_sandbox/notifications` | `{"destinations", "subscriptions"}` |
//! | `POST /_sandbox/reset` | generated orders back; faults, down, clock, stats, recorded confirmations, destinations and subscriptions cleared |
//!
//! Orders are generated deterministically from a seed: MFN and AFN, five marketplaces, multi-item
//! orders, gift messages, a business order, a canceled order. All values are synthetic.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sandbox = spapi_sandbox::start(
//!     spapi_sandbox::SandboxConfig::default(),
//!     "127.0.0.1:0".parse().unwrap(),
//! )
//! .await?;
//! let base_url = sandbox.base_url(); // point the LWA and SP-API endpoints here
//! sandbox.control().inject(spapi_sandbox::Op::GetOrder, spapi_sandbox::Fault::Throttle, 1);
//! # let _ = base_url;
//! sandbox.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! The server never logs request or response bodies (confirmShipment bodies are kept in memory
//! for [`SandboxControl::confirmations`] only); the request log line carries the method,
//! the path, the names (not values) of query parameters and the status.

mod confirm;
mod control;
mod generate;
mod lwa;
mod notifications;
mod orders;
mod plan;
mod search;
mod server;
mod statics;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use control::{
    CONFIRMATIONS_KEPT, Fault, InvalidOrder, Op, OpStats, OrderRef, SandboxControl, Stats,
};
pub use notifications::{SandboxDestination, SandboxSubscription};

/// LWA client id the sandbox accepts unless configured otherwise.
pub const DEFAULT_CLIENT_ID: &str = "amzn1.application-oa2-client.local";
/// LWA client secret the sandbox accepts unless configured otherwise.
pub const DEFAULT_CLIENT_SECRET: &str = "local-secret";
/// The refresh token the sandbox knows unless configured otherwise.
pub const DEFAULT_REFRESH_TOKEN: &str = "Atzr|local-refresh-token";
/// The selling partner (merchant) id the generated orders belong to.
pub const DEFAULT_SELLER_ID: &str = "A3TH9S8BH6GOGM";
/// Lifetime of an issued LWA access token, as LWA reports it in `expires_in`.
pub const ACCESS_TOKEN_TTL_SECS: u64 = 3600;

/// How the sandbox behaves: accepted credentials and the generated data.
#[derive(Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// LWA client id (`amzn1.application-oa2-client.…`).
    pub client_id: String,
    /// LWA client secret.
    pub client_secret: String,
    /// Refresh tokens (`Atzr|…`) the `refresh_token` grant accepts; each is the same seller.
    pub refresh_tokens: Vec<String>,
    /// Seed for the generated orders; the same seed gives the same ids and contents.
    pub seed: u64,
    /// How many orders to generate.
    pub generated_orders: usize,
    /// The seller the orders belong to (reported in [`OrderRef`], e.g. for ORDER_CHANGE).
    pub seller_id: String,
    /// More sellers authorised for the same app, each with its own refresh token and orders: an
    /// access token acts for one seller only, and a seller sees only its own orders and
    /// subscriptions.
    pub other_sellers: Vec<SellerAccount>,
}

/// A further seller in [`SandboxConfig::other_sellers`].
#[derive(Clone, PartialEq, Eq)]
pub struct SellerAccount {
    pub seller_id: String,
    pub refresh_token: String,
    /// How many orders to generate for this seller (from the config's seed and the seller id).
    pub generated_orders: usize,
}

/// The refresh token is redacted.
impl std::fmt::Debug for SellerAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SellerAccount")
            .field("seller_id", &self.seller_id)
            .field("refresh_token", &"[redacted]")
            .field("generated_orders", &self.generated_orders)
            .finish()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            refresh_tokens: vec![DEFAULT_REFRESH_TOKEN.to_owned()],
            seed: 42,
            generated_orders: 12,
            seller_id: DEFAULT_SELLER_ID.to_owned(),
            other_sellers: Vec::new(),
        }
    }
}

/// The client secret and refresh tokens are redacted.
impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("refresh_tokens", &self.refresh_tokens.len())
            .field("seed", &self.seed)
            .field("generated_orders", &self.generated_orders)
            .field("seller_id", &self.seller_id)
            .field("other_sellers", &self.other_sellers)
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
pub async fn start(config: SandboxConfig, addr: SocketAddr) -> std::io::Result<Sandbox> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let control = SandboxControl::new(config);
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

    /// Base URL for both the LWA endpoint and the SP-API endpoint, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
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
