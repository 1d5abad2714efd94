//! What the HTTP adapters share: one POST with an idempotency key, the allow-list check before
//! sending, and error mapping that never echoes a response body.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::{CarrierError, allow};

#[derive(Debug, Clone)]
pub(crate) struct JsonApi {
    pub http: reqwest::Client,
    pub base_url: String,
    pub authorization: crate::secret::SecretString,
    /// Every field path this API may be sent.
    pub allowed: &'static [&'static str],
    /// Where this API's error responses put their code.
    pub error_code: fn(&Value) -> Option<String>,
}

pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(3))
        .user_agent(concat!("orderseal/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("TLS backend available")
}

impl JsonApi {
    /// POST `body` to `path` once. The body must pass the allow-list; the key makes a retry safe.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<Value, CarrierError> {
        allow::check(body, self.allowed)?;
        let resp = self
            .http
            .post(format!("{}{path}", self.base_url.trim_end_matches('/')))
            .header("Authorization", self.authorization.expose())
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    CarrierError::Timeout
                } else if e.is_connect() {
                    CarrierError::Transport("connect")
                } else {
                    CarrierError::Transport("request")
                }
            })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| {
            if e.is_timeout() {
                CarrierError::Timeout
            } else {
                CarrierError::Transport("body")
            }
        })?;
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match status {
            s if s.is_success() => Ok(json),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(CarrierError::Unauthorized),
            StatusCode::TOO_MANY_REQUESTS => Err(CarrierError::Throttled),
            s if s.is_server_error() => Err(CarrierError::Server(s.as_u16())),
            s => Err(CarrierError::Rejected {
                status: s.as_u16(),
                code: (self.error_code)(&json)
                    .filter(|c| {
                        c.len() <= 64
                            && c.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                    })
                    .unwrap_or_else(|| "unspecified".into()),
            }),
        }
    }
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Grams → ounces (EasyPost, Shippo) with one decimal, never zero.
pub(crate) fn ounces(grams: u32) -> f64 {
    ((f64::from(grams) / 28.349_523_125) * 10.0).ceil().max(1.0) / 10.0
}

/// Millimetres → inches with one decimal, never zero.
pub(crate) fn inches(mm: u32) -> f64 {
    ((f64::from(mm) / 25.4) * 10.0).ceil().max(1.0) / 10.0
}

/// The address shape EasyPost and Shippo share (`street1`, `zip`, ...), for the recipient.
pub(crate) fn recipient_address(r: &super::Recipient) -> Value {
    let mut to = serde_json::json!({
        "name": r.name.expose(),
        "street1": r.address_lines.first().map(|l| l.expose()),
        "city": r.city.expose(),
        "zip": r.postal_code.expose(),
        "country": r.country,
    });
    if let Some(l2) = r.address_lines.get(1) {
        to["street2"] = serde_json::json!(l2.expose());
    }
    if let Some(region) = &r.region {
        to["state"] = serde_json::json!(region.expose());
    }
    if let Some(phone) = &r.phone {
        to["phone"] = serde_json::json!(phone.expose());
    }
    to
}

/// The same shape for the seller's ship-from address.
pub(crate) fn ship_from_address(f: &super::ShipFrom) -> Value {
    serde_json::json!({
        "name": f.name, "street1": f.address_lines.first(), "street2": f.address_lines.get(1),
        "city": f.city, "state": f.region, "zip": f.postal_code, "country": f.country, "phone": f.phone,
    })
}
