//! Typed configuration from the environment, checked once at cold start: a missing or bad
//! variable fails the init with its name, never a handler later.

use time::Duration;

use orderseal::order::RetentionPolicy;

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub table: String,
    pub pii_key_id: String,
    pub shipments_queue_url: String,
    /// The notifications DLQ: messages that can never succeed are moved here at once, with
    /// their reason, instead of being retried `maxReceiveCount` times.
    pub quarantine_queue_url: Option<String>,
    pub lwa_secret_id: String,
    pub spapi_endpoint: String,
    pub lwa_endpoint: String,
    pub dedupe_window: Duration,
    pub retention: RetentionPolicy,
    /// How long the business record of an order that holds no PII is kept
    /// (`ORDERSEAL_BUSINESS_RETENTION_DAYS`, as the retention function's).
    pub business_retention: Duration,
    /// The sellers' fraud rules (`ORDERSEAL_FRAUD_RULES`, JSON; `{}` or absent: none).
    pub fraud_rules: orderseal::fraud::FraudConfig,
    /// The secret holding the blind-index key (`ORDERSEAL_FRAUD_INDEX_SECRET_ID`); required
    /// when any rule uses the address index.
    pub fraud_index_secret_id: Option<String>,
    /// The SP-API application the notifications must come from (`ORDERSEAL_APPLICATION_ID`,
    /// `amzn1.sellerapps.app.…`); a notification for another application is quarantined at
    /// once. Absent: not checked.
    pub application_id: Option<String>,
    /// Where sellers' refresh tokens live (`ORDERSEAL_SELLER_SECRET_PREFIX`, secrets
    /// `<prefix><sellerId>`); with it, the seller registry decides who is served.
    pub seller_secret_prefix: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1}")]
    Invalid(&'static str, &'static str),
}

impl IngestConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let req = |k: &'static str| {
            get(k)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(k))
        };
        let days = |k: &'static str, default: i64| -> Result<Duration, ConfigError> {
            match get(k) {
                None => Ok(Duration::days(default)),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|d| (0..=3650).contains(d))
                    .map(Duration::days)
                    .ok_or(ConfigError::Invalid(k, "expected whole days")),
            }
        };
        let endpoint = |k: &'static str| -> Result<String, ConfigError> {
            let v = req(k)?;
            if orderseal::config::is_https_or_loopback(&v) {
                Ok(v)
            } else {
                Err(ConfigError::Invalid(
                    k,
                    "must be https (or http on loopback)",
                ))
            }
        };
        let retention = orderseal::config::retention_policy(&get)
            .map_err(|(k, why)| ConfigError::Invalid(k, why))?;
        let business_retention = orderseal::config::business_retention(&get)
            .map_err(|(k, why)| ConfigError::Invalid(k, why))?;
        let fraud_rules = match get("ORDERSEAL_FRAUD_RULES").filter(|v| !v.trim().is_empty()) {
            None => orderseal::fraud::FraudConfig::default(),
            Some(json) => orderseal::fraud::FraudConfig::parse(&json).map_err(|_| {
                ConfigError::Invalid(
                    "ORDERSEAL_FRAUD_RULES",
                    "not valid fraud rules (see shared/src/fraud.rs)",
                )
            })?,
        };
        let fraud_index_secret_id =
            get("ORDERSEAL_FRAUD_INDEX_SECRET_ID").filter(|v| !v.is_empty());
        if fraud_index_secret_id.is_none()
            && std::iter::once(&fraud_rules.default)
                .chain(fraud_rules.sellers.values())
                .any(|r| r.uses_index())
        {
            return Err(ConfigError::Missing("ORDERSEAL_FRAUD_INDEX_SECRET_ID"));
        }
        Ok(Self {
            fraud_rules,
            fraud_index_secret_id,
            table: req("ORDERSEAL_TABLE")?,
            pii_key_id: req("ORDERSEAL_PII_KEY_ID")?,
            shipments_queue_url: req("ORDERSEAL_SHIPMENTS_QUEUE_URL")?,
            quarantine_queue_url: get("ORDERSEAL_QUARANTINE_QUEUE_URL").filter(|v| !v.is_empty()),
            lwa_secret_id: req("ORDERSEAL_LWA_SECRET_ID")?,
            spapi_endpoint: endpoint("ORDERSEAL_SPAPI_ENDPOINT")?,
            lwa_endpoint: endpoint("ORDERSEAL_LWA_ENDPOINT")?,
            dedupe_window: days("ORDERSEAL_NOTIFICATION_DEDUPE_DAYS", 7)?,
            retention,
            business_retention,
            application_id: get("ORDERSEAL_APPLICATION_ID").filter(|v| !v.is_empty()),
            seller_secret_prefix: get("ORDERSEAL_SELLER_SECRET_PREFIX").filter(|v| !v.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [
            ("ORDERSEAL_TABLE", "t"),
            ("ORDERSEAL_PII_KEY_ID", "k"),
            ("ORDERSEAL_SHIPMENTS_QUEUE_URL", "q"),
            ("ORDERSEAL_LWA_SECRET_ID", "s"),
            (
                "ORDERSEAL_SPAPI_ENDPOINT",
                "https://sellingpartnerapi-na.amazon.com",
            ),
            (
                "ORDERSEAL_LWA_ENDPOINT",
                "https://api.amazon.com/auth/o2/token",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            m.insert((*k).to_owned(), (*v).to_owned());
        }
        m
    }

    #[test]
    fn defaults_and_required_variables() {
        let e = env(&[]);
        let c = IngestConfig::from_lookup(|k| e.get(k).cloned()).unwrap();
        assert_eq!(c.dedupe_window, Duration::days(7));
        assert_eq!(
            c.retention,
            RetentionPolicy::new(Duration::days(22), Duration::days(7))
        );
        assert_eq!(c.business_retention, Duration::days(548));
        let mut e = env(&[]);
        e.remove("ORDERSEAL_TABLE");
        let err = IngestConfig::from_lookup(|k| e.get(k).cloned()).unwrap_err();
        assert!(matches!(err, ConfigError::Missing("ORDERSEAL_TABLE")));
    }

    #[test]
    fn retention_above_thirty_days_is_refused_and_plain_http_only_on_loopback() {
        let e = env(&[("ORDERSEAL_RETENTION_DAYS", "45")]);
        assert!(IngestConfig::from_lookup(|k| e.get(k).cloned()).is_err());
        // Without a window given, the default 7 days count: 30 days of retention do not fit.
        let e = env(&[("ORDERSEAL_RETENTION_DAYS", "30")]);
        assert!(IngestConfig::from_lookup(|k| e.get(k).cloned()).is_err());
        // The backup window and the sweep's hour count: 22 + 7 fits the 30 days, 23 + 7 not.
        let e = env(&[
            ("ORDERSEAL_RETENTION_DAYS", "22"),
            ("ORDERSEAL_BACKUP_WINDOW_DAYS", "7"),
        ]);
        assert!(IngestConfig::from_lookup(|k| e.get(k).cloned()).is_ok());
        let e = env(&[
            ("ORDERSEAL_RETENTION_DAYS", "23"),
            ("ORDERSEAL_BACKUP_WINDOW_DAYS", "7"),
        ]);
        assert!(matches!(
            IngestConfig::from_lookup(|k| e.get(k).cloned()),
            Err(ConfigError::Invalid("ORDERSEAL_RETENTION_DAYS", _))
        ));
        let e = env(&[("ORDERSEAL_SPAPI_ENDPOINT", "http://example.com")]);
        assert!(IngestConfig::from_lookup(|k| e.get(k).cloned()).is_err());
        let e = env(&[("ORDERSEAL_SPAPI_ENDPOINT", "http://127.0.0.1:8477")]);
        assert!(IngestConfig::from_lookup(|k| e.get(k).cloned()).is_ok());
    }
}
