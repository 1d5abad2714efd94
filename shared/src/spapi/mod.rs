//! Selling Partner API: Orders v2026-01-01 model, LWA tokens, the shared usage-plan limiter,
//! and the HTTP client.

#[cfg(feature = "spapi-http")]
pub mod client;
pub mod lwa;
pub mod model;
pub mod notifications;
pub mod ratelimit;

use std::future::Future;

use crate::secret::SecretString;
pub use lwa::LwaCredentials;

/// The `includedData` datasets of Orders v2026-01-01 `getOrder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludedData {
    Buyer,
    Recipient,
    Proceeds,
    Expense,
    Promotion,
    Cancellation,
    Fulfillment,
    Packages,
    Tax,
    Payment,
    FulfillmentOrders,
}

impl IncludedData {
    pub fn as_str(self) -> &'static str {
        match self {
            IncludedData::Buyer => "BUYER",
            IncludedData::Recipient => "RECIPIENT",
            IncludedData::Proceeds => "PROCEEDS",
            IncludedData::Expense => "EXPENSE",
            IncludedData::Promotion => "PROMOTION",
            IncludedData::Cancellation => "CANCELLATION",
            IncludedData::Fulfillment => "FULFILLMENT",
            IncludedData::Packages => "PACKAGES",
            IncludedData::Tax => "TAX",
            IncludedData::Payment => "PAYMENT",
            IncludedData::FulfillmentOrders => "FULFILLMENT_ORDERS",
        }
    }
}

/// What ingest asks for an order it fulfils (merchant-fulfilled, not canceled), and why
/// (AUP 3.8: nothing beyond the functional need): BUYER → `contact` class for customer service;
/// RECIPIENT → `shipping` class for fulfilment; FULFILLMENT → status, ship/deliver windows,
/// gift options; PROCEEDS → amounts for accounting; CANCELLATION → a buyer's cancellation
/// request, so no label is bought for it. Not PACKAGES: orderseal confirms the shipment from
/// the label it bought itself, so Amazon's package list serves nothing.
pub const INGEST_INCLUDED_DATA: &[IncludedData] = &[
    IncludedData::Buyer,
    IncludedData::Recipient,
    IncludedData::Fulfillment,
    IncludedData::Proceeds,
    IncludedData::Cancellation,
];

/// What ingest asks for an order it does not fulfil - Amazon ships it (FBA), or it is
/// canceled: the business facts only, no buyer or recipient data (no purpose needs them;
/// customer service can fetch them within policy when a case needs it).
pub const NO_PII_INCLUDED_DATA: &[IncludedData] = &[
    IncludedData::Fulfillment,
    IncludedData::Proceeds,
    IncludedData::Cancellation,
];

#[derive(Debug, thiserror::Error)]
pub enum SpApiError {
    #[error("SP-API throttled the request (429)")]
    Throttled,
    #[error("SP-API server error {0}")]
    Server(u16),
    #[error("transport failure: {0}")]
    Transport(String),
    #[error("order not found (404)")]
    NotFound,
    #[error("access denied (403)")]
    Forbidden,
    #[error("request rejected with status {0}")]
    Rejected(u16),
    #[error("response does not match the Orders model at line {line}, column {column}")]
    Decode { line: usize, column: usize },
    #[error("LWA refused the token request: {0}")]
    LwaRejected(String),
    #[error("no refresh token configured for this seller")]
    UnknownSeller,
    #[error("credentials unavailable: {0}")]
    Credentials(String),
    #[error(transparent)]
    RateLimited(#[from] ratelimit::RateLimitError),
    #[error("the invocation ran out of time")]
    DeadlineExceeded,
}

impl SpApiError {
    /// Worth another attempt within this invocation.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SpApiError::Throttled
                | SpApiError::Server(_)
                | SpApiError::Transport(_)
                | SpApiError::RateLimited(_)
        )
    }

    /// Can never succeed on a retry of the same message as things stand: quarantined at once
    /// with its reason (replayed from the DLQ once fixed, e.g. after the seller is added).
    pub fn is_permanent(&self) -> bool {
        matches!(self, SpApiError::Rejected(400) | SpApiError::UnknownSeller)
    }

    pub fn reason_code(&self) -> &'static str {
        match self {
            SpApiError::Throttled => "spapi_throttled",
            SpApiError::Server(_) => "spapi_server_error",
            SpApiError::Transport(_) => "spapi_transport",
            SpApiError::NotFound => "spapi_not_found",
            SpApiError::Forbidden => "spapi_forbidden",
            SpApiError::Rejected(_) => "spapi_rejected",
            SpApiError::Decode { .. } => "spapi_decode",
            SpApiError::LwaRejected(_) => "lwa_rejected",
            SpApiError::UnknownSeller => "unknown_seller",
            SpApiError::Credentials(_) => "credentials_unavailable",
            SpApiError::RateLimited(_) => "usage_plan_exhausted",
            SpApiError::DeadlineExceeded => "deadline_exceeded",
        }
    }
}

/// Port: the Orders API as ingest uses it (the SP-API client in Lambda, fakes in unit tests).
pub trait OrderSource: Send + Sync {
    /// `getOrder` asking for `included` only (one of [`INGEST_INCLUDED_DATA`] and
    /// [`NO_PII_INCLUDED_DATA`]), retried within `deadline`.
    fn get_order(
        &self,
        seller_id: &str,
        order_id: &str,
        included: &'static [IncludedData],
        deadline: std::time::Instant,
    ) -> impl Future<Output = Result<model::GetOrderResponse, SpApiError>> + Send;
}

#[cfg(feature = "spapi-http")]
impl<C: CredentialSource, L: ratelimit::RateLimiter> OrderSource for client::SpApiClient<C, L> {
    fn get_order(
        &self,
        seller_id: &str,
        order_id: &str,
        included: &'static [IncludedData],
        deadline: std::time::Instant,
    ) -> impl Future<Output = Result<model::GetOrderResponse, SpApiError>> + Send {
        client::SpApiClient::get_order(self, seller_id, order_id, included, deadline)
    }
}

/// Port: where LWA credentials come from (Secrets Manager in Lambda).
pub trait CredentialSource: Send + Sync {
    /// The app's client id and secret (and the legacy per-seller map, if the secret has one).
    fn load(&self) -> impl Future<Output = Result<LwaCredentials, SpApiError>> + Send;

    /// The seller's refresh token from its own secret ([`crate::sellers`]); `None`: it has
    /// none (the legacy map is asked next).
    fn refresh_token(
        &self,
        _seller_id: &str,
    ) -> impl Future<Output = Result<Option<SecretString>, SpApiError>> + Send {
        async { Ok(None) }
    }
}

/// Fixed credentials (unit tests).
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub LwaCredentials);

impl CredentialSource for StaticCredentials {
    async fn load(&self) -> Result<LwaCredentials, SpApiError> {
        Ok(self.0.clone())
    }
}

#[cfg(feature = "secrets")]
pub use secrets::SecretsManagerCredentials;

#[cfg(feature = "secrets")]
mod secrets {
    use aws_sdk_secretsmanager::Client;

    use super::{CredentialSource, LwaCredentials, SecretString, SpApiError};

    /// LWA credentials from one Secrets Manager secret (JSON, see [`LwaCredentials`]), and
    /// each seller's refresh token from its own secret under a prefix.
    #[derive(Debug, Clone)]
    pub struct SecretsManagerCredentials {
        client: Client,
        secret_id: String,
        seller_prefix: Option<String>,
    }

    impl SecretsManagerCredentials {
        pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
            Self {
                client,
                secret_id: secret_id.into(),
                seller_prefix: None,
            }
        }

        /// Sellers' refresh tokens in `<prefix><sellerId>` secrets ([`crate::sellers`]).
        pub fn with_seller_secrets(mut self, prefix: Option<String>) -> Self {
            self.seller_prefix = prefix.filter(|p| !p.is_empty());
            self
        }
    }

    impl CredentialSource for SecretsManagerCredentials {
        async fn load(&self) -> Result<LwaCredentials, SpApiError> {
            let out = self
                .client
                .get_secret_value()
                .secret_id(&self.secret_id)
                .send()
                .await
                .map_err(|e| SpApiError::Credentials(crate::aws::error_code(&e)))?;
            let text = out
                .secret_string()
                .ok_or_else(|| SpApiError::Credentials("secret has no string value".into()))?;
            serde_json::from_str(text)
                .map_err(|_| SpApiError::Credentials("secret is not LWA credentials JSON".into()))
        }

        async fn refresh_token(&self, seller_id: &str) -> Result<Option<SecretString>, SpApiError> {
            let Some(prefix) = &self.seller_prefix else {
                return Ok(None);
            };
            let out = self
                .client
                .get_secret_value()
                .secret_id(crate::sellers::token_secret_name(prefix, seller_id))
                .send()
                .await;
            let out = match out {
                Ok(out) => out,
                // No secret, or one scheduled for deletion (`seller remove`): not a seller here.
                Err(e)
                    if e.as_service_error().is_some_and(|se| {
                        se.is_resource_not_found_exception() || se.is_invalid_request_exception()
                    }) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(SpApiError::Credentials(crate::aws::error_code(&e))),
            };
            let text = out.secret_string().ok_or_else(|| {
                SpApiError::Credentials("seller secret has no string value".into())
            })?;
            serde_json::from_str::<crate::sellers::TokenSecret>(text)
                .map(|t| Some(t.refresh_token))
                .map_err(|_| {
                    SpApiError::Credentials("seller secret is not {\"refresh_token\"}".into())
                })
        }
    }
}
