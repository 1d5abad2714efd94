//! Signed tracking webhooks: the sandbox plays the carrier's side and POSTs tracking events for
//! the shipments it holds (those with a label) to a receiver on this machine. The formats are
//! documented in the crate docs ("Tracking webhooks"); the plan in [`DeliveryPlan`].

use std::collections::BTreeMap;
use std::error::Error as _;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use aws_lc_rs::hmac;
use axum::extract::State as AxumState;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::control::{Api, SandboxControl, control_error};
use crate::server::new_id;

/// EasyPost's signature header: `hmac-sha256-hex=<lowercase hex MAC over the body>`.
pub const EASYPOST_SIGNATURE_HEADER: &str = "X-Hmac-Signature";
/// Shippo's signature header: `t=<unix seconds>,v1=<lowercase hex MAC over "<t>.<body>">`.
pub const SHIPPO_SIGNATURE_HEADER: &str = "Shippo-Auth-Signature";
/// Standard Webhooks message id (`msg_<32 hex>`), also the event id receivers dedupe on.
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// Standard Webhooks signing time, unix seconds.
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks signature, `v1,<base64 MAC over "<id>.<timestamp>.<body>">`.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";
/// Time between two consecutive lifecycle events of a shipment.
pub const EVENT_SPACING: Duration = Duration::from_secs(3600);
/// How old the signature timestamp of a [`DeliveryKind::Stale`] delivery is.
pub const STALE_BY: Duration = Duration::from_secs(600);

/// Per-request timeout of a webhook POST.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The HMAC key of forged deliveries (for every API), unless it happens to be the real one.
const FORGED_KEY: &[u8] = b"carrier-sandbox-forged-webhook-key";
const EASYPOST_PREFIX: &str = "hmac-sha256-hex=";
const WHSEC_PREFIX: &str = "whsec_";

/// A tracking status the sandbox reports, named as EasyPost names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    InTransit,
    OutForDelivery,
    Delivered,
    /// Only in [`DeliveryKind::Forged`] and [`DeliveryKind::Stale`] deliveries: a receiver that
    /// wrongly accepts one shows a returned parcel.
    ReturnToSender,
}

impl TrackingStatus {
    /// The events every shipment goes through, in order.
    pub const LIFECYCLE: [Self; 3] = [Self::InTransit, Self::OutForDelivery, Self::Delivered];

    /// EasyPost tracker `status`.
    pub fn easypost(self) -> &'static str {
        match self {
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::ReturnToSender => "return_to_sender",
        }
    }

    /// Shippo `tracking_status.status`. Shippo has no out-for-delivery status: it reports
    /// `TRANSIT` (with the detail text saying so).
    pub fn shippo(self) -> &'static str {
        match self {
            Self::InTransit | Self::OutForDelivery => "TRANSIT",
            Self::Delivered => "DELIVERED",
            Self::ReturnToSender => "RETURNED",
        }
    }

    /// Generic `data.status` (orderseal's canonical names).
    pub fn generic(self) -> &'static str {
        match self {
            Self::InTransit => "IN_TRANSIT",
            Self::OutForDelivery => "OUT_FOR_DELIVERY",
            Self::Delivered => "DELIVERED",
            Self::ReturnToSender => "RETURN_TO_SENDER",
        }
    }

    /// The human-readable text (EasyPost `message`, Shippo `status_details`).
    fn message(self) -> &'static str {
        match self {
            Self::InTransit => "In transit to the destination facility",
            Self::OutForDelivery => "Out for delivery",
            Self::Delivered => "Delivered, front door",
            Self::ReturnToSender => "Returned to sender",
        }
    }
}

/// Why a delivery was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// A lifecycle event, correctly signed.
    Normal,
    /// The second send of a lifecycle event: same body and event id, signed again.
    Duplicate,
    /// An extra `return_to_sender` event with a fresh id, signed with a wrong secret.
    Forged,
    /// An extra `return_to_sender` event with a fresh id (Shippo and generic only), correctly
    /// signed but with a signature timestamp [`STALE_BY`] in the past.
    Stale,
}

/// What [`SandboxControl::send_tracking`] sends. The default: every shipment with a label,
/// the whole lifecycle, each event once, in time order, no retries.
///
/// Over HTTP (`POST /_sandbox/webhooks/send`) the fields keep these names, e.g.
/// `{"duplicates": true, "shuffle_seed": 7, "retry_on_5xx": 2, "only": ["9405…"],
/// "until": "out_for_delivery", "base_time": "2026-05-01T12:00:00Z"}`; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryPlan {
    /// Send every lifecycle event twice.
    pub duplicates: bool,
    /// Send everything (duplicates, forged and stale included) in an order shuffled with this
    /// seed; the event times in the bodies do not change.
    pub shuffle_seed: Option<u64>,
    /// Also send one [`DeliveryKind::Forged`] event per shipment.
    pub forged: bool,
    /// Also send one [`DeliveryKind::Stale`] event per Shippo or generic shipment.
    pub stale: bool,
    /// Resend a request answered with a 5xx up to this many more times.
    pub retry_on_5xx: u32,
    /// Only shipments with these tracking numbers.
    pub only: Option<Vec<String>>,
    /// Stop the lifecycle after this status (a [`TrackingStatus::LIFECYCLE`] one).
    pub until: Option<TrackingStatus>,
    /// Time of every shipment's first event, instead of its creation time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub base_time: Option<OffsetDateTime>,
}

/// One webhook the sandbox sent (with all its attempts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub api: Api,
    pub tracking_number: String,
    /// The status the body reports.
    pub status: TrackingStatus,
    pub kind: DeliveryKind,
    /// When the event happened (the time in the body).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// What a receiver dedupes on: the EasyPost Event `id`, the Shippo
    /// `tracking_status.object_id`, the generic `webhook-id`.
    pub event_id: String,
    pub url: String,
    /// The request headers as sent (`Content-Type` and the signature headers).
    pub headers: BTreeMap<String, String>,
    /// The request body as sent.
    pub body: String,
    /// The status of the last answer; `None` when the last attempt got no answer.
    pub http_status: Option<u16>,
    /// Why the last attempt got no answer (connection refused, timeout…).
    pub error: Option<String>,
    /// Requests made: 1, plus one per retry after a 5xx.
    pub attempts: u32,
}

/// Why nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// The base URL does not parse, or is not a plain `http(s)://host[:port][/path]`.
    InvalidUrl(String),
    /// The base URL's host is not a loopback address.
    NotLoopback(String),
    /// The plan cannot be followed.
    InvalidPlan(&'static str),
    /// A configured webhook secret cannot be used (the generic one must be base64).
    InvalidSecret(Api),
    /// The HTTP client could not be built.
    Client(String),
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(why) => write!(f, "invalid webhook base URL: {why}"),
            Self::NotLoopback(host) => write!(
                f,
                "refusing to send webhooks to {host}: only loopback targets are allowed"
            ),
            Self::InvalidPlan(why) => write!(f, "invalid delivery plan: {why}"),
            Self::InvalidSecret(api) => write!(f, "the {api} webhook secret cannot be used"),
            Self::Client(why) => write!(f, "cannot build the HTTP client: {why}"),
        }
    }
}

impl std::error::Error for WebhookError {}

impl SandboxControl {
    /// Sends the tracking webhooks `plan` asks for, for every shipment with a label (in
    /// creation order), to `{base_url}/webhooks/{easypost|shippo|generic}`, one at a time, and
    /// returns what was sent in sending order (also kept: [`deliveries`](Self::deliveries)).
    /// A receiver that refuses or cannot be reached does not stop the run: its answer is
    /// recorded in the [`Delivery`].
    ///
    /// Refused before anything is sent: a base URL that is not loopback `http(s)` without query
    /// or fragment, a plan with `until: return_to_sender`, a generic secret that is not base64.
    pub async fn send_tracking(
        &self,
        base_url: &str,
        plan: DeliveryPlan,
    ) -> Result<Vec<Delivery>, WebhookError> {
        let base = loopback_base(base_url)?;
        if plan.until == Some(TrackingStatus::ReturnToSender) {
            return Err(WebhookError::InvalidPlan(
                "until must be in_transit, out_for_delivery or delivered",
            ));
        }
        let keys = Keys::new(self.config())?;
        let client = client()?;
        let targets = self.targets(plan.only.as_deref());
        let outgoing = outgoing(&targets, &plan, &base);

        let mut sent = Vec::with_capacity(outgoing.len());
        for message in outgoing {
            let headers = keys.sign(&message, OffsetDateTime::now_utc());
            let delivery = deliver(&client, message, headers, plan.retry_on_5xx).await;
            tracing::info!(
                target: "carrier_sandbox",
                api = %delivery.api,
                kind = ?delivery.kind,
                status = ?delivery.status,
                http_status = delivery.http_status,
                attempts = delivery.attempts,
                "webhook sent"
            );
            self.lock().deliveries.push(delivery.clone());
            sent.push(delivery);
        }
        Ok(sent)
    }

    /// Every webhook delivery sent since start or the last reset, in sending order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    /// Forgets the recorded webhook deliveries.
    pub fn clear_deliveries(&self) {
        self.lock().deliveries.clear();
    }

    /// The shipments with a label, optionally only those with one of `only`'s tracking numbers.
    fn targets(&self, only: Option<&[String]>) -> Vec<Target> {
        let state = self.lock();
        state
            .shipments
            .iter()
            .filter_map(|record| {
                let tracking_number = record.tracking_number.clone()?;
                if only.is_some_and(|only| !only.contains(&tracking_number)) {
                    return None;
                }
                let tracker_id = match record.api {
                    Api::EasyPost => state.easypost.tracker_id(&record.shipment_id),
                    Api::Shippo | Api::Generic => None,
                };
                Some(Target {
                    api: record.api,
                    shipment_id: record.shipment_id.clone(),
                    tracking_number,
                    carrier: record.carrier.clone().unwrap_or_default(),
                    reference: record.reference.clone(),
                    created_at: record.created_at,
                    tracker_id,
                })
            })
            .collect()
    }
}

/// A shipment to report on.
struct Target {
    api: Api,
    shipment_id: String,
    tracking_number: String,
    /// `USPS`, `UPS` or `FedEx`.
    carrier: String,
    reference: Option<String>,
    created_at: OffsetDateTime,
    /// EasyPost only.
    tracker_id: Option<String>,
}

/// One tracking event: a status and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Event {
    status: TrackingStatus,
    at: OffsetDateTime,
}

/// A webhook ready to be signed and sent.
#[derive(Debug, Clone)]
struct Message {
    api: Api,
    tracking_number: String,
    kind: DeliveryKind,
    event: Event,
    event_id: String,
    url: String,
    body: String,
}

/// The checked base URL, without a trailing `/`.
fn loopback_base(base_url: &str) -> Result<String, WebhookError> {
    let invalid = |why: &str| WebhookError::InvalidUrl(why.to_owned());
    let url = reqwest::Url::parse(base_url.trim()).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL takes no query or fragment"));
    }
    // The URL parser has normalised IP literals (`127.1`, `0x7f.0.0.1` → `127.0.0.1`).
    let host = url.host_str().ok_or_else(|| invalid("no host"))?;
    let ip = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host)
        .parse::<IpAddr>();
    let loopback = match ip {
        Ok(ip) => ip.to_canonical().is_loopback(),
        // Resolved by the client to loopback only, whatever the resolver says.
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    if !loopback {
        return Err(WebhookError::NotLoopback(host.to_owned()));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A client that stays on this machine: `localhost` pinned to loopback, no proxy, no redirects.
fn client() -> Result<reqwest::Client, WebhookError> {
    let loopback = [
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
    ];
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(SEND_TIMEOUT)
        .resolve_to_addrs("localhost", &loopback)
        .build()
        .map_err(|error| WebhookError::Client(error.to_string()))
}

/// The HMAC keys, from the configured secrets.
struct Keys {
    easypost: hmac::Key,
    shippo: hmac::Key,
    generic: hmac::Key,
    /// `FORGED_KEY` for each API, or a variant of it should it equal the real secret.
    forged: [hmac::Key; 3],
}

impl Keys {
    fn new(config: &crate::CarrierSandboxConfig) -> Result<Self, WebhookError> {
        let easypost = icu_normalizer::DecomposingNormalizerBorrowed::new_nfkd()
            .normalize(&config.easypost_webhook_secret)
            .as_bytes()
            .to_vec();
        let shippo = config.shippo_webhook_secret.as_bytes().to_vec();
        let generic = decode_whsec(&config.generic_webhook_secret)
            .ok_or(WebhookError::InvalidSecret(Api::Generic))?;
        let forged = |real: &[u8]| {
            let mut key = FORGED_KEY.to_vec();
            if key == real {
                key.push(b'!');
            }
            hmac::Key::new(hmac::HMAC_SHA256, &key)
        };
        Ok(Self {
            forged: [forged(&easypost), forged(&shippo), forged(&generic)],
            easypost: hmac::Key::new(hmac::HMAC_SHA256, &easypost),
            shippo: hmac::Key::new(hmac::HMAC_SHA256, &shippo),
            generic: hmac::Key::new(hmac::HMAC_SHA256, &generic),
        })
    }

    fn key(&self, api: Api, kind: DeliveryKind) -> &hmac::Key {
        match (api, kind) {
            (Api::EasyPost, DeliveryKind::Forged) => &self.forged[0],
            (Api::Shippo, DeliveryKind::Forged) => &self.forged[1],
            (Api::Generic, DeliveryKind::Forged) => &self.forged[2],
            (Api::EasyPost, _) => &self.easypost,
            (Api::Shippo, _) => &self.shippo,
            (Api::Generic, _) => &self.generic,
        }
    }

    /// The headers of `message` signed at `now` (a stale one [`STALE_BY`] earlier).
    fn sign(&self, message: &Message, now: OffsetDateTime) -> BTreeMap<String, String> {
        let key = self.key(message.api, message.kind);
        let mut timestamp = now.unix_timestamp();
        if message.kind == DeliveryKind::Stale {
            timestamp -= STALE_BY.as_secs() as i64;
        }
        let body = message.body.as_bytes();
        let mut headers = BTreeMap::new();
        headers.insert("Content-Type".to_owned(), "application/json".to_owned());
        match message.api {
            Api::EasyPost => {
                let mac = hmac::sign(key, body);
                let value = format!("{EASYPOST_PREFIX}{}", hex(mac.as_ref()));
                headers.insert(EASYPOST_SIGNATURE_HEADER.to_owned(), value);
            }
            Api::Shippo => {
                let mut ctx = hmac::Context::with_key(key);
                ctx.update(timestamp.to_string().as_bytes());
                ctx.update(b".");
                ctx.update(body);
                let value = format!("t={timestamp},v1={}", hex(ctx.sign().as_ref()));
                headers.insert(SHIPPO_SIGNATURE_HEADER.to_owned(), value);
            }
            Api::Generic => {
                let mut ctx = hmac::Context::with_key(key);
                ctx.update(message.event_id.as_bytes());
                ctx.update(b".");
                ctx.update(timestamp.to_string().as_bytes());
                ctx.update(b".");
                ctx.update(body);
                let value = format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()));
                headers.insert(WEBHOOK_ID_HEADER.to_owned(), message.event_id.clone());
                headers.insert(WEBHOOK_TIMESTAMP_HEADER.to_owned(), timestamp.to_string());
                headers.insert(WEBHOOK_SIGNATURE_HEADER.to_owned(), value);
            }
        }
        headers
    }
}

/// The key bytes of a Standard Webhooks secret (`whsec_` optional); `None` if unusable.
fn decode_whsec(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(WHSEC_PREFIX).unwrap_or(secret);
    STANDARD.decode(encoded).ok().filter(|key| !key.is_empty())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// RFC 3339, UTC, whole seconds: `2026-05-02T10:35:00Z`.
fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Everything `plan` sends for `targets`, in sending order (unsigned).
fn outgoing(targets: &[Target], plan: &DeliveryPlan, base_url: &str) -> Vec<Message> {
    let spacing = time::Duration::try_from(EVENT_SPACING).unwrap_or(time::Duration::HOUR);
    let mut messages = Vec::new();
    for target in targets {
        let base = plan.base_time.unwrap_or(target.created_at);
        let base = base.to_offset(UtcOffset::UTC);
        let base = base.replace_nanosecond(0).unwrap_or(base);
        let mut history: Vec<Event> = Vec::new();
        for (i, status) in (0i32..).zip(TrackingStatus::LIFECYCLE) {
            history.push(Event {
                status,
                at: base + spacing * i,
            });
            if plan.until == Some(status) {
                break;
            }
        }
        let url = format!("{base_url}/webhooks/{}", target.api);
        let message = |kind, history: &[Event]| {
            let event = *history.last().expect("at least one event");
            let (event_id, body) = body(target, history);
            Message {
                api: target.api,
                tracking_number: target.tracking_number.clone(),
                kind,
                event,
                event_id,
                url: url.clone(),
                body,
            }
        };
        for end in 1..=history.len() {
            let normal = message(DeliveryKind::Normal, &history[..end]);
            if plan.duplicates {
                let mut duplicate = normal.clone();
                duplicate.kind = DeliveryKind::Duplicate;
                messages.extend([normal, duplicate]);
            } else {
                messages.push(normal);
            }
        }
        // One event after the last one sent, that no honest carrier sent.
        let last = history.last().map_or(base, |event| event.at);
        let mut bogus = history.clone();
        bogus.push(Event {
            status: TrackingStatus::ReturnToSender,
            at: last + spacing,
        });
        if plan.forged {
            messages.push(message(DeliveryKind::Forged, &bogus));
        }
        if plan.stale && target.api != Api::EasyPost {
            messages.push(message(DeliveryKind::Stale, &bogus));
        }
    }
    if let Some(seed) = plan.shuffle_seed {
        fastrand::Rng::with_seed(seed).shuffle(&mut messages);
    }
    messages
}

/// A fresh event id and the body reporting the last of `history` (EasyPost lists all of it).
fn body(target: &Target, history: &[Event]) -> (String, String) {
    let event = *history.last().expect("at least one event");
    let at = rfc3339(event.at);
    let (id, body) = match target.api {
        Api::EasyPost => {
            let id = new_id("evt_");
            let details: Vec<Value> = history
                .iter()
                .map(|event| {
                    json!({
                        "object": "TrackingDetail",
                        "status": event.status.easypost(),
                        "message": event.status.message(),
                        "datetime": rfc3339(event.at),
                    })
                })
                .collect();
            let tracker_id = target.tracker_id.clone().unwrap_or_else(|| new_id("trk_"));
            let body = json!({
                "id": id,
                "object": "Event",
                "description": "tracker.updated",
                "mode": "test",
                "created_at": at,
                "result": {
                    "object": "Tracker",
                    "id": tracker_id,
                    "mode": "test",
                    "tracking_code": target.tracking_number,
                    "shipment_id": target.shipment_id,
                    "carrier": target.carrier,
                    "status": event.status.easypost(),
                    "updated_at": at,
                    "tracking_details": details,
                },
            });
            (id, body)
        }
        Api::Shippo => {
            let id = new_id("");
            let body = json!({
                "event": "track_updated",
                "test": true,
                "data": {
                    "carrier": target.carrier.to_ascii_lowercase(),
                    "tracking_number": target.tracking_number,
                    "tracking_status": {
                        "object_id": id,
                        "status": event.status.shippo(),
                        "status_details": event.status.message(),
                        "status_date": at,
                    },
                    "metadata": target.reference,
                },
            });
            (id, body)
        }
        Api::Generic => {
            let id = new_id("msg_");
            let body = json!({
                "type": "shipment.tracking",
                "data": {
                    "tracking_number": target.tracking_number,
                    "status": event.status.generic(),
                    "occurred_at": at,
                    "reference": target.reference,
                },
            });
            (id, body)
        }
    };
    (id, body.to_string())
}

/// POSTs `message`, again (the same request) after a 5xx up to `retries` times.
async fn deliver(
    client: &reqwest::Client,
    message: Message,
    headers: BTreeMap<String, String>,
    retries: u32,
) -> Delivery {
    let mut attempts = 0;
    let (http_status, error) = loop {
        attempts += 1;
        let mut request = client.post(&message.url).body(message.body.clone());
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                // Read the answer out so the connection can be reused.
                let _ = response.bytes().await;
                if status.is_server_error() && attempts <= retries {
                    continue;
                }
                break (Some(status.as_u16()), None);
            }
            Err(error) => break (None, Some(error_chain(&error))),
        }
    };
    Delivery {
        api: message.api,
        tracking_number: message.tracking_number,
        status: message.event.status,
        kind: message.kind,
        occurred_at: message.event.at,
        event_id: message.event_id,
        url: message.url,
        headers,
        body: message.body,
        http_status,
        error,
        attempts,
    }
}

/// `error: cause: cause…`.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

// ---------------------------------------------------------------------------------------------
// HTTP: /_sandbox/webhooks/…

pub(crate) fn routes() -> Router<SandboxControl> {
    Router::new()
        .route("/_sandbox/webhooks/send", post(post_send))
        .route(
            "/_sandbox/webhooks/deliveries",
            get(get_deliveries).delete(delete_deliveries),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    #[serde(rename = "baseUrl", alias = "base_url")]
    base_url: String,
    #[serde(default)]
    plan: DeliveryPlan,
}

async fn post_send(
    AxumState(control): AxumState<SandboxControl>,
    body: Result<Json<SendRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => return control_error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    match control.send_tracking(&request.base_url, request.plan).await {
        Ok(deliveries) => Json(json!({ "deliveries": deliveries })).into_response(),
        Err(error @ WebhookError::Client(_)) => {
            control_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
        }
        Err(error) => control_error(StatusCode::BAD_REQUEST, error.to_string()),
    }
}

async fn get_deliveries(AxumState(control): AxumState<SandboxControl>) -> Json<Value> {
    Json(json!({ "deliveries": control.deliveries() }))
}

async fn delete_deliveries(AxumState(control): AxumState<SandboxControl>) -> StatusCode {
    control.clear_deliveries();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::CarrierSandboxConfig;

    fn target(api: Api, tracking_number: &str) -> Target {
        Target {
            api,
            shipment_id: new_id("shp_"),
            tracking_number: tracking_number.to_owned(),
            carrier: "USPS".to_owned(),
            reference: Some("os-1".to_owned()),
            created_at: datetime!(2026-05-01 10:00:00.75 UTC),
            tracker_id: Some(new_id("trk_")),
        }
    }

    fn summary(messages: &[Message]) -> Vec<(Api, TrackingStatus, DeliveryKind, String)> {
        messages
            .iter()
            .map(|m| (m.api, m.event.status, m.kind, rfc3339(m.event.at)))
            .collect()
    }

    #[test]
    fn loopback_targets_only() {
        for good in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "https://127.5.6.7/hooks/",
            "http://[::1]:9000",
            "http://[::ffff:127.0.0.1]:9000",
            "http://localhost:1234",
            "http://LOCALHOST:1234",
            "http://127.1:80",
        ] {
            assert!(loopback_base(good).is_ok(), "{good}");
        }
        assert_eq!(
            loopback_base("http://127.0.0.1:8080/hooks/").unwrap(),
            "http://127.0.0.1:8080/hooks"
        );
        for (bad, not_loopback) in [
            ("http://10.0.0.1:8080", true),
            ("http://example.com", true),
            ("http://localhost.example.com", true),
            ("http://[::2]:80", true),
            ("http://0.0.0.0:80", true),
            ("http://169.254.169.254/latest", true),
            ("ftp://127.0.0.1/", false),
            ("http://127.0.0.1/?x=1", false),
            ("http://127.0.0.1/#x", false),
            ("not a url", false),
        ] {
            let error = loopback_base(bad).unwrap_err();
            assert_eq!(
                matches!(error, WebhookError::NotLoopback(_)),
                not_loopback,
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn lifecycle_events_are_an_hour_apart_from_the_creation_time() {
        let targets = [target(Api::EasyPost, "9405A"), target(Api::Generic, "LX1")];
        let sent = outgoing(&targets, &DeliveryPlan::default(), "http://127.0.0.1:1");
        use TrackingStatus::*;
        let normal = DeliveryKind::Normal;
        let expected = |api| {
            [
                (api, InTransit, normal, "2026-05-01T10:00:00Z".to_owned()),
                (
                    api,
                    OutForDelivery,
                    normal,
                    "2026-05-01T11:00:00Z".to_owned(),
                ),
                (api, Delivered, normal, "2026-05-01T12:00:00Z".to_owned()),
            ]
        };
        let mut all = expected(Api::EasyPost).to_vec();
        all.extend(expected(Api::Generic));
        assert_eq!(summary(&sent), all);
        assert_eq!(sent[0].url, "http://127.0.0.1:1/webhooks/easypost");
        assert_eq!(sent[5].url, "http://127.0.0.1:1/webhooks/generic");
        // EasyPost lists the history so far.
        let body: Value = serde_json::from_str(&sent[1].body).unwrap();
        assert_eq!(
            body["result"]["tracking_details"].as_array().unwrap().len(),
            2
        );
        assert_eq!(body["id"], sent[1].event_id.as_str());
    }

    #[test]
    fn plans_add_duplicates_forgeries_and_stale_events_and_stop_early() {
        let targets = [target(Api::EasyPost, "A"), target(Api::Shippo, "B")];
        let plan = DeliveryPlan {
            duplicates: true,
            forged: true,
            stale: true,
            until: Some(TrackingStatus::OutForDelivery),
            base_time: Some(datetime!(2026-01-01 00:00 +02:00)),
            ..DeliveryPlan::default()
        };
        let sent = outgoing(&targets, &plan, "http://127.0.0.1:1");
        use DeliveryKind::*;
        use TrackingStatus::*;
        let kinds = summary(&sent);
        let t = |h: u8| format!("2025-12-31T{h:02}:00:00Z");
        let per = |api| {
            vec![
                (api, InTransit, Normal, t(22)),
                (api, InTransit, Duplicate, t(22)),
                (api, OutForDelivery, Normal, t(23)),
                (api, OutForDelivery, Duplicate, t(23)),
                (
                    api,
                    ReturnToSender,
                    Forged,
                    "2026-01-01T00:00:00Z".to_owned(),
                ),
            ]
        };
        let mut expected = per(Api::EasyPost);
        expected.extend(per(Api::Shippo));
        expected.push((
            Api::Shippo,
            ReturnToSender,
            Stale,
            "2026-01-01T00:00:00Z".to_owned(),
        ));
        assert_eq!(kinds, expected);
        assert_eq!(sent[0].body, sent[1].body);
        assert_eq!(sent[0].event_id, sent[1].event_id);
        assert_ne!(sent[0].event_id, sent[2].event_id);

        let shuffled = outgoing(
            &targets,
            &DeliveryPlan {
                shuffle_seed: Some(3),
                ..plan.clone()
            },
            "http://127.0.0.1:1",
        );
        let mut a = summary(&shuffled);
        assert_ne!(a, expected);
        a.sort_by_key(|entry| (entry.0, entry.3.clone(), entry.1, entry.2 as u8));
        let mut b = expected.clone();
        b.sort_by_key(|entry| (entry.0, entry.3.clone(), entry.1, entry.2 as u8));
        assert_eq!(a, b, "same deliveries, other order");
    }

    #[test]
    fn signatures_match_independently_computed_vectors() {
        let keys = Keys::new(&CarrierSandboxConfig::default()).unwrap();
        let message = |api, kind, event_id: &str| Message {
            api,
            tracking_number: "T".to_owned(),
            kind,
            event: Event {
                status: TrackingStatus::Delivered,
                at: datetime!(2026-05-01 12:00 UTC),
            },
            event_id: event_id.to_owned(),
            url: String::new(),
            body: r#"{"a":1}"#.to_owned(),
        };
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"ep-webhook-secret", b"{\"a\":1}", hashlib.sha256).hexdigest())'
        let ep = keys.sign(&message(Api::EasyPost, DeliveryKind::Normal, "evt_1"), now);
        assert_eq!(
            ep[EASYPOST_SIGNATURE_HEADER],
            "hmac-sha256-hex=545a03cf76fdaf7a82de84e6de4f776bf75093fb198cc9c48ed29ea05329a7ac"
        );
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"shippo-webhook-secret", b"1700000000.{\"a\":1}", hashlib.sha256).hexdigest())'
        let sh = keys.sign(&message(Api::Shippo, DeliveryKind::Normal, "x"), now);
        assert_eq!(
            sh[SHIPPO_SIGNATURE_HEADER],
            "t=1700000000,v1=f11dd286e996527023dd077bf2c0cedd6d75de5b2a3a5b6fd37b0afe50e2c68e"
        );
        // python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b"generic-webhook-secret-32-bytes!", b"msg_1.1699999400.{\"a\":1}", hashlib.sha256).digest()).decode())'
        let sw = keys.sign(&message(Api::Generic, DeliveryKind::Stale, "msg_1"), now);
        assert_eq!(sw[WEBHOOK_ID_HEADER], "msg_1");
        assert_eq!(sw[WEBHOOK_TIMESTAMP_HEADER], "1699999400");
        assert_eq!(
            sw[WEBHOOK_SIGNATURE_HEADER],
            "v1,TWdLjcMaxrzbk5rrZN/hcv2aGvbCXcSGQUEHhxtHPaM="
        );
        assert_eq!(sw["Content-Type"], "application/json");

        let forged = keys.sign(&message(Api::EasyPost, DeliveryKind::Forged, "evt_1"), now);
        assert_ne!(
            forged[EASYPOST_SIGNATURE_HEADER],
            ep[EASYPOST_SIGNATURE_HEADER]
        );
    }

    #[test]
    fn the_default_generic_secret_is_the_documented_key() {
        let key = decode_whsec(crate::DEFAULT_GENERIC_WEBHOOK_SECRET).unwrap();
        assert_eq!(key, b"generic-webhook-secret-32-bytes!");
        assert_eq!(decode_whsec("whsec_"), None);
        assert_eq!(decode_whsec("whsec_!!"), None);
        let config = CarrierSandboxConfig {
            generic_webhook_secret: "not base64!".to_owned(),
            ..CarrierSandboxConfig::default()
        };
        assert!(matches!(
            Keys::new(&config),
            Err(WebhookError::InvalidSecret(Api::Generic))
        ));
    }

    #[test]
    fn plans_parse_from_json_with_defaults() {
        let plan: DeliveryPlan = serde_json::from_value(json!({
            "duplicates": true, "until": "out_for_delivery", "base_time": "2026-05-01T12:00:00Z",
            "only": ["A"], "retry_on_5xx": 2, "shuffle_seed": 9
        }))
        .unwrap();
        assert_eq!(plan.until, Some(TrackingStatus::OutForDelivery));
        assert_eq!(plan.base_time, Some(datetime!(2026-05-01 12:00 UTC)));
        assert!(!plan.forged);
        assert_eq!(
            serde_json::from_value::<DeliveryPlan>(json!({})).unwrap(),
            DeliveryPlan::default()
        );
        assert!(serde_json::from_value::<DeliveryPlan>(json!({"dupes": true})).is_err());
    }
}
