//! orderseal carrier-callback: the one public door. Carriers POST tracking webhooks to
//! `/webhooks/{carrier}`; the signature over the raw body is verified (constant time, replay
//! window, rotated secrets) before anything is parsed; events are deduplicated by id, applied in
//! event-time order, and a delivery sets `pii_expires_at = delivered_at + retention`.
//!
//! Responses: 200 accepted or duplicate (or an event we do not act on), 401 for any signature
//! problem without saying which, 400 malformed or an event time outside the label's purchase
//! (less a day) .. now + a day, 413 over 256 KiB, 404 unknown carrier route,
//! 500 when our side failed (the carrier retries). A rejected request changes nothing.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use time::Duration;
use tokio::sync::RwLock;
use tracing::{info, warn};

use orderseal::carriers::events;
use orderseal::carriers::webhooks::{Headers, Scheme, VerifyError, verify};
use orderseal::clock::Clock;
use orderseal::secret::SecretString;
use orderseal::tracking::{TrackedOrder, TrackingStore, check_event_time};

/// Largest body accepted (carriers send far less).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The route segment → signing scheme.
pub fn scheme_for(carrier: &str) -> Option<Scheme> {
    match carrier {
        "easypost" => Some(Scheme::EasyPost),
        "shippo" => Some(Scheme::Shippo),
        "generic" => Some(Scheme::StandardWebhooks),
        "fedex" => Some(Scheme::FedEx),
        _ => None,
    }
}

/// Port: webhook secrets per carrier route, current first, the previous one during a rotation.
pub trait WebhookSecrets: Send + Sync {
    fn secrets(
        &self,
        carrier: &str,
        refresh: bool,
    ) -> impl Future<Output = Result<Vec<SecretString>, String>> + Send;
}

pub struct Callback<T, W> {
    pub store: T,
    pub secrets: W,
    pub clock: Arc<dyn Clock>,
    /// Under the delivery anchor, the retention after delivery (capped at 30 days by the
    /// tracking rules); `None` under the shipment anchor (dispatch fixed the expiry).
    pub delivery_retention: Option<Duration>,
}

impl<T: TrackingStore, W: WebhookSecrets> Callback<T, W> {
    /// Handle one request; returns the HTTP status.
    pub async fn handle(&self, carrier: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
        let Some(scheme) = scheme_for(carrier) else {
            return 404;
        };
        if body.len() > MAX_BODY_BYTES {
            warn!(
                carrier,
                outcome = "rejected",
                reason = "too_large",
                bytes = body.len()
            );
            return 413;
        }
        let now = self.clock.now();
        let headers = Headers::new(headers);
        let verified = match self.verify(carrier, scheme, &headers, body, now).await {
            Ok(v) => v,
            Err(Some(e)) => {
                warn!(carrier, outcome = "rejected", reason = e.reason_code());
                return 401;
            }
            Err(None) => return 500,
        };
        let event = match events::parse(scheme, body, verified.event_id.as_deref()) {
            Ok(Some(e)) => e,
            Ok(None) => {
                info!(
                    carrier,
                    outcome = "ignored",
                    "event orderseal does not act on"
                );
                return 200;
            }
            Err(e) => {
                warn!(carrier, outcome = "rejected", reason = e.reason_code());
                return 400;
            }
        };
        let order = match self.store.order_for(carrier, &event.tracking_number).await {
            Ok(Some(o)) => o,
            Ok(None) => {
                warn!(
                    carrier,
                    outcome = "ignored",
                    reason = "unknown_tracking_number"
                );
                return 200;
            }
            Err(e) => {
                warn!(carrier, outcome = "retry", error = %e);
                return 500;
            }
        };
        if let Err(e) = check_event_time(event.event.occurred_at, order.labelled_at, now) {
            warn!(carrier, order_id = %order.order_id, outcome = "rejected", reason = e.reason_code());
            return 400;
        }
        let TrackedOrder {
            seller_id,
            order_id,
            ..
        } = order;
        match self.store.seen(carrier, &event.event.event_id, now).await {
            Ok(true) => {
                info!(carrier, order_id = %order_id, outcome = "duplicate");
                return 200;
            }
            Ok(false) => {}
            Err(e) => {
                warn!(carrier, outcome = "retry", error = %e);
                return 500;
            }
        }
        // Apply first, mark second: a failure or crash in between leaves no marker, so the
        // carrier's retry applies the event again (applying is idempotent) - a delivery is
        // never lost behind a marker.
        if let Err(e) = self
            .store
            .apply(&seller_id, &order_id, &event.event, self.delivery_retention)
            .await
        {
            warn!(carrier, order_id = %order_id, outcome = "retry", error = %e);
            return 500;
        }
        if let Err(e) = self
            .store
            .record_event(carrier, &event.event.event_id, now)
            .await
        {
            warn!(carrier, order_id = %order_id, error = %e, "applied; dedupe marker not written, a retry applies again");
        }
        info!(
            carrier,
            order_id = %order_id,
            status = event.event.status.as_str(),
            outcome = "applied"
        );
        200
    }

    /// `Err(Some)`: the request is refused; `Err(None)`: secrets unavailable (our fault).
    async fn verify(
        &self,
        carrier: &str,
        scheme: Scheme,
        headers: &Headers<'_>,
        body: &[u8],
        now: time::OffsetDateTime,
    ) -> Result<orderseal::carriers::webhooks::Verified, Option<VerifyError>> {
        let secrets = self.secrets.secrets(carrier, false).await.map_err(|e| {
            warn!(carrier, outcome = "retry", error = %e, "webhook secrets unavailable");
            None
        })?;
        match verify(scheme, headers, body, &secrets, now) {
            // A secret rotated since we cached it: read it again once.
            Err(VerifyError::Mismatch) => {
                let fresh = self
                    .secrets
                    .secrets(carrier, true)
                    .await
                    .map_err(|_| None)?;
                verify(scheme, headers, body, &fresh, now).map_err(Some)
            }
            other => other.map_err(Some),
        }
    }
}

type SecretsByCarrier = HashMap<String, Vec<SecretString>>;

/// Webhook secrets from one Secrets Manager secret:
/// `{"easypost": ["<current>", "<previous>"], "shippo": [...], "generic": ["whsec_..."], "fedex": [...]}`,
/// cached for a few minutes and re-read on a signature mismatch (at most once a minute).
pub struct SecretsManagerWebhookSecrets {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    ttl: StdDuration,
    cache: RwLock<Option<(SecretsByCarrier, Instant)>>,
}

impl SecretsManagerWebhookSecrets {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            ttl: StdDuration::from_secs(300),
            cache: RwLock::new(None),
        }
    }
}

impl WebhookSecrets for SecretsManagerWebhookSecrets {
    async fn secrets(&self, carrier: &str, refresh: bool) -> Result<Vec<SecretString>, String> {
        if let Some((map, at)) = self.cache.read().await.as_ref() {
            let fresh_enough = if refresh {
                at.elapsed() < StdDuration::from_secs(60)
            } else {
                at.elapsed() < self.ttl
            };
            if fresh_enough {
                return Ok(map.get(carrier).cloned().unwrap_or_default());
            }
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| orderseal::aws::error_code(&e))?;
        let map: SecretsByCarrier = serde_json::from_str(out.secret_string().unwrap_or("{}"))
            .map_err(|_| "webhook secret is not the expected JSON".to_owned())?;
        let list = map.get(carrier).cloned().unwrap_or_default();
        *self.cache.write().await = Some((map, Instant::now()));
        Ok(list)
    }
}

#[derive(Debug, Clone)]
pub struct CallbackConfig {
    pub table: String,
    pub webhook_secret_id: String,
    pub retention: orderseal::order::RetentionPolicy,
    /// How long the business record refreshed at delivery is kept.
    pub business_retention: Duration,
}

impl CallbackConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let req = |k: &str| {
            get(k)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("missing environment variable {k}"))
        };
        let retention =
            orderseal::config::retention_policy(&get).map_err(|(k, why)| format!("{k}: {why}"))?;
        Ok(Self {
            table: req("ORDERSEAL_TABLE")?,
            webhook_secret_id: req("ORDERSEAL_WEBHOOK_SECRET_ID")?,
            retention,
            business_retention: orderseal::config::business_retention(&get)
                .map_err(|(k, why)| format!("{k}: {why}"))?,
        })
    }

    /// The retention a delivery starts, under the delivery anchor only.
    pub fn delivery_retention(&self) -> Option<Duration> {
        (self.retention.anchor == orderseal::order::RetentionAnchor::Delivery)
            .then_some(self.retention.retention)
    }
}

pub type LambdaCallback =
    Callback<orderseal::tracking::DynamoTrackingStore, SecretsManagerWebhookSecrets>;

pub fn build(
    config: &CallbackConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
    clock: Arc<dyn Clock>,
) -> LambdaCallback {
    Callback {
        store: orderseal::tracking::DynamoTrackingStore::new(dynamodb, &config.table)
            .with_business_retention(config.business_retention),
        secrets: SecretsManagerWebhookSecrets::new(secrets, &config.webhook_secret_id),
        clock,
        delivery_retention: config.delivery_retention(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> Result<CallbackConfig, String> {
        let mut env: HashMap<String, String> = [
            ("ORDERSEAL_TABLE", "t"),
            ("ORDERSEAL_WEBHOOK_SECRET_ID", "s"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        CallbackConfig::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn only_the_delivery_anchor_lets_a_delivery_fix_the_expiry() {
        let c = config(&[]).unwrap();
        assert_eq!(c.delivery_retention(), None, "shipment anchor by default");
        let c = config(&[("ORDERSEAL_RETENTION_ANCHOR", "delivery")]).unwrap();
        assert_eq!(c.delivery_retention(), Some(Duration::days(22)));
        // The shared budget check applies here too (23 + 7 days + the sweep's hour > 30).
        assert!(config(&[("ORDERSEAL_RETENTION_DAYS", "23")]).is_err());
    }
}
