//! The SP-API HTTP client: LWA tokens, the shared usage-plan bucket, and retries with backoff
//! and full jitter on 429/5xx — always within the time the invocation has left.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::sync::RwLock;

use super::lwa::{AccessToken, LwaCredentials, TokenCache, TokenError, TokenResponse};
use super::model::{ConfirmShipmentRequest, GetOrderResponse, SearchOrdersResponse};
use super::ratelimit::{RateLimitError, RateLimiter, UsagePlan};
use super::{CredentialSource, IncludedData, SpApiError};
use crate::secret::SecretString;

/// A seller not in the credentials read them again, but not sooner than this after the last read.
pub const UNKNOWN_SELLER_RELOAD: Duration = Duration::from_secs(30);

/// Where SP-API and LWA live (production hosts in Lambda; the sandbox locally).
#[derive(Debug, Clone)]
pub struct SpApiConfig {
    /// e.g. `https://sellingpartnerapi-na.amazon.com`
    pub endpoint: String,
    /// e.g. `https://api.amazon.com/auth/o2/token`
    pub lwa_endpoint: String,
    pub user_agent: String,
    /// Longest a single HTTP attempt may take.
    pub request_timeout: Duration,
    pub backoff: Backoff,
    /// How long credentials from the secret are trusted before being re-read, so a rotated
    /// LWA secret is picked up without a redeploy.
    pub credentials_ttl: Duration,
}

impl SpApiConfig {
    pub fn new(endpoint: impl Into<String>, lwa_endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            lwa_endpoint: lwa_endpoint.into(),
            user_agent: concat!("orderseal/", env!("CARGO_PKG_VERSION"), " (Language=Rust)")
                .to_owned(),
            request_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            credentials_ttl: Duration::from_secs(300),
        }
    }
}

/// Exponential backoff with full jitter: attempt `n` sleeps a random time in `[0, min(cap, base·2ⁿ)]`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(8),
            max_attempts: 6,
        }
    }
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.cap);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(if ms == 0 { 0 } else { fastrand::u64(0..=ms) })
    }
}

/// Whose access token a call carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth<'a> {
    /// The seller's (refresh-token grant).
    Seller(&'a str),
    /// The app's own (client-credentials grant with this scope), e.g. Notifications'
    /// destinations.
    Grantless(&'static str),
}

impl Auth<'_> {
    /// The token cache's and the usage plan's key.
    fn key(&self) -> String {
        match self {
            Auth::Seller(seller) => (*seller).to_owned(),
            Auth::Grantless(scope) => format!("grantless:{scope}"),
        }
    }
}

pub struct SpApiClient<C, L> {
    http: reqwest::Client,
    config: SpApiConfig,
    credentials: C,
    cached_credentials: RwLock<Option<(Arc<LwaCredentials>, Instant)>>,
    tokens: TokenCache,
    limiter: L,
}

impl<C: CredentialSource, L: RateLimiter> SpApiClient<C, L> {
    pub fn new(config: SpApiConfig, credentials: C, limiter: L) -> Result<Self, SpApiError> {
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|_| SpApiError::Transport("http client setup".into()))?;
        Ok(Self {
            http,
            config,
            credentials,
            cached_credentials: RwLock::new(None),
            tokens: TokenCache::default(),
            limiter,
        })
    }

    /// `endpoint` + `path` (which starts with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.endpoint.trim_end_matches('/'))
    }

    /// Orders v2026-01-01 `getOrder`, asking only for `included`. Retries throttling and
    /// server errors until `deadline`; then the error is returned for the message to go back
    /// to the queue.
    pub async fn get_order(
        &self,
        seller_id: &str,
        order_id: &str,
        included: &[IncludedData],
        deadline: Instant,
    ) -> Result<GetOrderResponse, SpApiError> {
        let url = format!(
            "{}/orders/2026-01-01/orders/{}",
            self.config.endpoint.trim_end_matches('/'),
            urlencode_path(order_id)
        );
        let included = included
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let bytes = self
            .call(
                Auth::Seller(seller_id),
                "getOrder",
                UsagePlan::GET_ORDER,
                deadline,
                |http| {
                    let req = http.get(&url);
                    if included.is_empty() {
                        req
                    } else {
                        req.query(&[("includedData", included.as_str())])
                    }
                },
            )
            .await?;
        serde_json::from_slice::<GetOrderResponse>(&bytes).map_err(|e| SpApiError::Decode {
            line: e.line(),
            column: e.column(),
        })
    }

    /// Orders v2026-01-01 `searchOrders`: one page of the orders of `seller` in `marketplace`
    /// updated in `[after, before]`, with `included` only; `page` is the previous page's
    /// `nextToken`. Retried like getOrder; its own usage plan (one page every ~3 minutes).
    #[allow(clippy::too_many_arguments)]
    pub async fn search_orders(
        &self,
        seller_id: &str,
        marketplace: &str,
        after: time::OffsetDateTime,
        before: time::OffsetDateTime,
        included: &[IncludedData],
        page_size: u32,
        page: Option<&str>,
        deadline: Instant,
    ) -> Result<SearchOrdersResponse, SpApiError> {
        use time::format_description::well_known::Rfc3339;
        let url = self.url("/orders/2026-01-01/orders");
        let stamp = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        let mut query: Vec<(&str, String)> = vec![
            ("lastUpdatedAfter", stamp(after)),
            ("lastUpdatedBefore", stamp(before)),
            ("marketplaceIds", marketplace.to_owned()),
            ("maxResultsPerPage", page_size.clamp(1, 100).to_string()),
        ];
        let included = included
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(",");
        if !included.is_empty() {
            query.push(("includedData", included));
        }
        if let Some(token) = page {
            query.push(("paginationToken", token.to_owned()));
        }
        let bytes = self
            .call(
                Auth::Seller(seller_id),
                "searchOrders",
                UsagePlan::SEARCH_ORDERS,
                deadline,
                |http| http.get(&url).query(&query),
            )
            .await?;
        serde_json::from_slice::<SearchOrdersResponse>(&bytes).map_err(|e| SpApiError::Decode {
            line: e.line(),
            column: e.column(),
        })
    }

    /// Orders v0 `confirmShipment` (`POST /orders/v0/orders/{orderId}/shipmentConfirmation`,
    /// 204 on success), with the same retries.
    pub async fn confirm_shipment(
        &self,
        seller_id: &str,
        order_id: &str,
        body: &ConfirmShipmentRequest,
        deadline: Instant,
    ) -> Result<(), SpApiError> {
        let url = format!(
            "{}/orders/v0/orders/{}/shipmentConfirmation",
            self.config.endpoint.trim_end_matches('/'),
            urlencode_path(order_id)
        );
        self.call(
            Auth::Seller(seller_id),
            "confirmShipment",
            UsagePlan::CONFIRM_SHIPMENT,
            deadline,
            |http| http.post(&url).json(body),
        )
        .await
        .map(|_| ())
    }

    /// One operation with retries: token, shared usage-plan slot, request, status mapping.
    pub(crate) async fn call(
        &self,
        auth: Auth<'_>,
        operation: &str,
        plan: UsagePlan,
        deadline: Instant,
        request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, SpApiError> {
        let bucket = match auth {
            Auth::Seller(seller_id) => format!("{operation}#{seller_id}"),
            Auth::Grantless(_) => format!("{operation}#app"),
        };
        let mut attempt = 0;
        loop {
            let result = self
                .call_once(auth, &bucket, plan, deadline, &request)
                .await;
            match result {
                Err(e) if e.is_retryable() && attempt + 1 < self.config.backoff.max_attempts => {
                    let pause = match &e {
                        SpApiError::RateLimited(RateLimitError::NoSlotInTime(_)) => return Err(e),
                        _ => self.config.backoff.delay(attempt),
                    };
                    if Instant::now()
                        + pause
                        + self.config.request_timeout.min(Duration::from_secs(1))
                        >= deadline
                    {
                        return Err(e);
                    }
                    tracing::info!(operation, attempt, error = %e, pause_ms = pause.as_millis() as u64, "SP-API retry");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn call_once(
        &self,
        auth: Auth<'_>,
        bucket: &str,
        plan: UsagePlan,
        deadline: Instant,
        request: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, SpApiError> {
        let token = self.access_token(auth, deadline).await?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let wait = self
            .limiter
            .reserve(
                bucket,
                plan,
                remaining.saturating_sub(self.config.request_timeout),
            )
            .await
            .map_err(SpApiError::RateLimited)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let timeout = self
            .config
            .request_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        if timeout.is_zero() {
            return Err(SpApiError::DeadlineExceeded);
        }
        let resp = request(&self.http)
            .header("x-amz-access-token", token.expose())
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        match status {
            s if s.is_success() => resp.bytes().await.map(|b| b.to_vec()).map_err(transport),
            StatusCode::TOO_MANY_REQUESTS => Err(SpApiError::Throttled),
            StatusCode::NOT_FOUND => Err(SpApiError::NotFound),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                self.tokens.invalidate(&auth.key()).await;
                Err(SpApiError::Forbidden)
            }
            s if s.is_server_error() => Err(SpApiError::Server(s.as_u16())),
            s => Err(SpApiError::Rejected(s.as_u16())),
        }
    }

    async fn credentials_older_than(&self, age: Duration) -> bool {
        self.cached_credentials
            .read()
            .await
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() >= age)
    }

    async fn credentials(&self, force_reload: bool) -> Result<Arc<LwaCredentials>, SpApiError> {
        if !force_reload
            && let Some((c, at)) = self.cached_credentials.read().await.as_ref()
            && at.elapsed() < self.config.credentials_ttl
        {
            return Ok(c.clone());
        }
        let fresh = Arc::new(self.credentials.load().await?);
        *self.cached_credentials.write().await = Some((fresh.clone(), Instant::now()));
        Ok(fresh)
    }

    async fn access_token(
        &self,
        auth: Auth<'_>,
        deadline: Instant,
    ) -> Result<SecretString, SpApiError> {
        if let Some(t) = self.tokens.get(&auth.key(), Instant::now()).await {
            return Ok(t);
        }
        let seller_id = match auth {
            Auth::Seller(seller_id) => seller_id,
            Auth::Grantless(scope) => {
                return match self.exchange_grantless(scope, false, deadline).await {
                    Err(SpApiError::LwaRejected(_)) => {
                        self.exchange_grantless(scope, true, deadline).await
                    }
                    other => other,
                };
            }
        };
        // One retry with freshly read credentials covers an LWA secret rotated under us, and a
        // seller added since they were read (not more than once per `UNKNOWN_SELLER_RELOAD`:
        // notifications for a seller nobody added must not each read the secret).
        match self.exchange(seller_id, false, deadline).await {
            Err(SpApiError::LwaRejected(_)) => self.exchange(seller_id, true, deadline).await,
            Err(SpApiError::UnknownSeller)
                if self.credentials_older_than(UNKNOWN_SELLER_RELOAD).await =>
            {
                self.exchange(seller_id, true, deadline).await
            }
            other => other,
        }
    }

    async fn exchange(
        &self,
        seller_id: &str,
        reload: bool,
        deadline: Instant,
    ) -> Result<SecretString, SpApiError> {
        let creds = self.credentials(reload).await?;
        let own = self.credentials.refresh_token(seller_id).await?;
        let refresh = own
            .as_ref()
            .or_else(|| creds.refresh_tokens.get(seller_id))
            .ok_or(SpApiError::UnknownSeller)?;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.expose()),
        ];
        self.token_grant(seller_id, &form, deadline).await
    }

    /// The app's own token for `scope` (LWA `client_credentials`: no seller's authorisation).
    async fn exchange_grantless(
        &self,
        scope: &'static str,
        reload: bool,
        deadline: Instant,
    ) -> Result<SecretString, SpApiError> {
        let creds = self.credentials(reload).await?;
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.expose()),
        ];
        self.token_grant(&Auth::Grantless(scope).key(), &form, deadline)
            .await
    }

    /// POSTs one LWA grant and caches the access token under `key`.
    async fn token_grant(
        &self,
        key: &str,
        form: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<SecretString, SpApiError> {
        let timeout = self
            .config
            .request_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let resp = self
            .http
            .post(&self.config.lwa_endpoint)
            .form(form)
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        if status.is_success() {
            let t: TokenResponse =
                serde_json::from_slice(&bytes).map_err(|e| SpApiError::Decode {
                    line: e.line(),
                    column: e.column(),
                })?;
            let expires_at = Instant::now() + Duration::from_secs(t.expires_in);
            self.tokens
                .put(
                    key,
                    AccessToken {
                        token: t.access_token.clone(),
                        expires_at,
                    },
                )
                .await;
            return Ok(t.access_token);
        }
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(SpApiError::Server(status.as_u16()));
        }
        let code = serde_json::from_slice::<TokenError>(&bytes)
            .map(|e| e.error)
            .unwrap_or_else(|_| "unparseable".into());
        Err(SpApiError::LwaRejected(sanitize_code(&code)))
    }
}

fn transport(e: reqwest::Error) -> SpApiError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    SpApiError::Transport(kind.into())
}

/// LWA error codes are short ASCII words; anything else is not echoed.
fn sanitize_code(code: &str) -> String {
    if code.len() <= 40 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        code.to_owned()
    } else {
        "unrecognised".to_owned()
    }
}

pub(crate) fn urlencode_path(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            max_attempts: 5,
        };
        for attempt in 0..10 {
            let d = b.delay(attempt);
            let ceiling = (100u64 << attempt.min(20)).min(1000);
            assert!(
                d <= Duration::from_millis(ceiling),
                "attempt {attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(urlencode_path("113-1234567-1234567"), "113-1234567-1234567");
        assert_eq!(urlencode_path("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn lwa_codes_are_not_echoed_when_odd() {
        assert_eq!(sanitize_code("invalid_client"), "invalid_client");
        assert_eq!(sanitize_code("<script>CANARY"), "unrecognised");
    }
}
