//! The pii-access API from the caller's side: requests signed with SigV4 (service
//! `execute-api`) under the caller's own AWS credentials, as API Gateway's IAM authorisation
//! checks them, and the responses read back into the redacting PII types.
//!
//! Routes: `GET /{purpose}/orders/{seller}/{order}` (the purpose is in the path so that IAM,
//! not the caller's word, decides who may use it: each purpose role may invoke its own path).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde::Deserialize;

use crate::access::Purpose;
use crate::classes::{ContactPii, ShippingPii};

/// The signing name of API Gateway's invoke API.
pub const SERVICE: &str = "execute-api";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot sign the request: {0}")]
    Sign(String),
    #[error("the pii-access API did not answer: {0}")]
    Http(String),
    #[error("the pii-access API answered {status} with a body that is not its response")]
    Malformed { status: u16 },
}

/// The SigV4 headers (`authorization`, `x-amz-date`, and the session token if any) for a
/// request of `method` to `url` with `headers` and `body`, signed at `time`.
pub fn sign_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, ClientError> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| ClientError::Sign(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| ClientError::Sign(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| ClientError::Sign(e.to_string()))?
        .into_parts();
    let (headers, _query) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect())
}

/// The path of one order's lookup for one purpose.
pub fn order_path(purpose: Purpose, seller_id: &str, order_id: &str) -> String {
    format!("/{}/orders/{seller_id}/{order_id}", purpose.as_str())
}

/// What an allowed lookup returns: the purpose's classes the order holds, nothing else.
#[derive(Debug, Deserialize)]
pub struct OrderView {
    pub seller_id: String,
    pub order_id: String,
    pub purpose: String,
    pub classes: ViewClasses,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewClasses {
    #[serde(default)]
    pub shipping: Option<ShippingPii>,
    #[serde(default)]
    pub contact: Option<ContactPii>,
}

/// A refusal: its HTTP status and stable code (never a value).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refusal {
    #[serde(skip)]
    pub status: u16,
    pub error: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug)]
pub enum Answer {
    Opened(Box<OrderView>),
    Refused(Refusal),
}

/// A client of one deployment's pii-access API.
#[derive(Debug, Clone)]
pub struct AccessClient {
    http: reqwest::Client,
    base_url: String,
    region: String,
    credentials: Credentials,
}

impl AccessClient {
    pub fn new(base_url: &str, region: &str, credentials: Credentials) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            region: region.to_owned(),
            credentials,
        }
    }

    /// Look an order up for a purpose.
    pub async fn get_order(
        &self,
        purpose: Purpose,
        seller_id: &str,
        order_id: &str,
    ) -> Result<Answer, ClientError> {
        let url = format!(
            "{}{}",
            self.base_url,
            order_path(purpose, seller_id, order_id)
        );
        let (status, body) = self.send("GET", &url, Vec::new()).await?;
        if status == 200 {
            serde_json::from_slice(&body)
                .map(|v| Answer::Opened(Box::new(v)))
                .map_err(|_| ClientError::Malformed { status })
        } else {
            Ok(Answer::Refused(refusal(status, &body)))
        }
    }

    /// One signed request; its status and body.
    async fn send(
        &self,
        method: &str,
        url: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| u.port().map_or(h.to_owned(), |p| format!("{h}:{p}")))
            })
            .ok_or_else(|| ClientError::Http(format!("not a URL: {url}")))?;
        let signed = sign_headers(
            method,
            url,
            &[("host", &host)],
            &body,
            &self.credentials,
            &self.region,
            SystemTime::now(),
        )?;
        let mut req = match method {
            "POST" => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body),
            "DELETE" => self.http.delete(url),
            _ => self.http.get(url),
        };
        for (k, v) in &signed {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Http(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Http(e.without_url().to_string()))?;
        Ok((status, body.to_vec()))
    }
}

/// A fraud reviewer's decision, as the API answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct DecisionView {
    pub order_id: String,
    pub decision: String,
    pub review_state: String,
}

impl AccessClient {
    /// `release` or `cancel` a held order (purpose fraud_review).
    pub async fn decide(
        &self,
        seller_id: &str,
        order_id: &str,
        decision: &str,
    ) -> Result<Result<DecisionView, Refusal>, ClientError> {
        let url = format!(
            "{}{}/{decision}",
            self.base_url,
            order_path(Purpose::FraudReview, seller_id, order_id)
        );
        let (status, body) = self.send("POST", &url, Vec::new()).await?;
        answer(status, &body)
    }
}

/// A recorded return, as the API answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReturnView {
    pub seller_id: String,
    pub order_id: String,
    /// False when the same record was sent again.
    pub changed: bool,
    /// Whether purpose `returns` now reads the order's address (an uncollected pickup).
    pub shipping_for_returns: bool,
    #[serde(rename = "return")]
    pub record: crate::returns::ReturnRecord,
}

impl AccessClient {
    /// Record a return, or a change of one (purpose returns).
    pub async fn record_return(
        &self,
        seller_id: &str,
        order_id: &str,
        request: &crate::returns::ReturnRequest,
    ) -> Result<Result<ReturnView, Refusal>, ClientError> {
        let url = format!(
            "{}{}/returns",
            self.base_url,
            order_path(Purpose::Returns, seller_id, order_id)
        );
        let body = serde_json::to_vec(request).map_err(|e| ClientError::Http(e.to_string()))?;
        let (status, body) = self.send("POST", &url, body).await?;
        answer(status, &body)
    }
}

impl AccessClient {
    /// `POST /ops/subscriptions`: the destination once, and the subscription of `seller` (or
    /// of every registered seller).
    pub async fn subscribe(
        &self,
        seller: Option<&str>,
    ) -> Result<Result<crate::subscriptions::SubscriptionsReport, Refusal>, ClientError> {
        let url = format!("{}{}", self.base_url, crate::subscriptions::ROUTE);
        let body = serde_json::to_vec(&serde_json::json!({ "sellerId": seller }))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let (status, body) = self.send("POST", &url, body).await?;
        answer(status, &body)
    }

    /// `GET /ops/subscriptions`: the destination and every seller's subscription.
    pub async fn subscriptions(
        &self,
    ) -> Result<Result<crate::subscriptions::SubscriptionsReport, Refusal>, ClientError> {
        let url = format!("{}{}", self.base_url, crate::subscriptions::ROUTE);
        let (status, body) = self.send("GET", &url, Vec::new()).await?;
        answer(status, &body)
    }

    /// `DELETE /ops/subscriptions/{seller}`: the seller's subscription deleted.
    pub async fn unsubscribe(
        &self,
        seller: &str,
    ) -> Result<Result<crate::subscriptions::SubscriptionsReport, Refusal>, ClientError> {
        let url = format!("{}{}/{seller}", self.base_url, crate::subscriptions::ROUTE);
        let (status, body) = self.send("DELETE", &url, Vec::new()).await?;
        answer(status, &body)
    }
}

/// A POST's answer: its view on 200, else the refusal.
fn answer<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &[u8],
) -> Result<Result<T, Refusal>, ClientError> {
    if status == 200 {
        serde_json::from_slice(body)
            .map(Ok)
            .map_err(|_| ClientError::Malformed { status })
    } else {
        Ok(Err(refusal(status, body)))
    }
}

fn refusal(status: u16, body: &[u8]) -> Refusal {
    let mut r: Refusal = serde_json::from_slice(body).unwrap_or(Refusal {
        status,
        error: "refused".into(),
        message: String::new(),
    });
    r.status = status;
    r
}

/// An allowed lookup as a person reads it: one row per field the order holds.
pub fn render(view: &OrderView) -> String {
    let mut rows: Vec<(&str, &str, String)> = Vec::new();
    let v = |p: &Option<crate::pii::PiiString>| p.as_ref().map(|s| s.expose().to_owned());
    if let Some(s) = &view.classes.shipping {
        for (field, value) in [
            ("name", v(&s.name)),
            ("company", v(&s.company_name)),
            ("address line 1", v(&s.address_line1)),
            ("address line 2", v(&s.address_line2)),
            ("address line 3", v(&s.address_line3)),
            ("city", v(&s.city)),
            ("district/county", v(&s.district_or_county)),
            ("state/region", v(&s.state_or_region)),
            ("municipality", v(&s.municipality)),
            ("postal code", v(&s.postal_code)),
            ("country", s.country_code.clone()),
            ("phone", v(&s.phone)),
            ("address type", s.address_type.clone()),
            ("delivery instructions", v(&s.delivery_instructions)),
        ] {
            if let Some(value) = value {
                rows.push(("shipping", field, value));
            }
        }
    }
    if let Some(c) = &view.classes.contact {
        for (field, value) in [
            ("buyer name", v(&c.buyer_name)),
            ("buyer email", v(&c.buyer_email)),
            ("buyer company", v(&c.buyer_company)),
        ] {
            if let Some(value) = value {
                rows.push(("contact", field, value));
            }
        }
    }
    let mut out = format!(
        "order {} (seller {}) for {}; this lookup is audited\n{:<10}{:<24}{}\n",
        view.order_id, view.seller_id, view.purpose, "class", "field", "value"
    );
    for (class, field, value) in rows {
        out.push_str(&format!("{class:<10}{field:<24}{value}\n"));
    }
    out
}
