//! orderseal retention: the hourly sweep that erases PII past its expiry and writes the
//! de-identified business record (see `orderseal::retention`).

use std::time::Instant;

use time::Duration;

use orderseal::clock::Clock;
use orderseal::order::RetentionAnchor;
use orderseal::retention::{
    RetentionStore, SweepLimits, SweepPolicy, SweepReport, sweep_with_policy,
};
use orderseal::store::StoreError;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1}")]
    Invalid(&'static str, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    pub table: String,
    /// How long business records are kept (`ORDERSEAL_BUSINESS_RETENTION_DAYS`, default 548:
    /// the DPP's 18 months).
    pub business_retention: Duration,
    /// Why (`ORDERSEAL_BUSINESS_RETENTION_BASIS`): "DPP 18 months", or the law a longer one
    /// needs (the template requires one past 18 months).
    pub business_basis: String,
    /// The deployed retention anchor (`ORDERSEAL_RETENTION_ANCHOR`), for the report.
    pub anchor: RetentionAnchor,
    /// Index page size (`ORDERSEAL_SWEEP_PAGE_SIZE`, 1–100, default 100).
    pub page_size: u32,
    /// Erasures in flight (`ORDERSEAL_SWEEP_CONCURRENCY`, 1–64, default 8).
    pub concurrency: usize,
}

impl RetentionConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let num = |k: &'static str, default: i64, range: std::ops::RangeInclusive<i64>| match get(k)
            .filter(|v| !v.is_empty())
        {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| ConfigError::Invalid(k, format!("{v:?} is not in {range:?}"))),
        };
        Ok(Self {
            table: get("ORDERSEAL_TABLE")
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing("ORDERSEAL_TABLE"))?,
            business_retention: orderseal::config::business_retention(&get)
                .map_err(|(k, why)| ConfigError::Invalid(k, why.into()))?,
            business_basis: get("ORDERSEAL_BUSINESS_RETENTION_BASIS")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "DPP 18 months".into()),
            anchor: match get("ORDERSEAL_RETENTION_ANCHOR") {
                None => RetentionAnchor::default(),
                Some(v) => RetentionAnchor::parse(&v).ok_or(ConfigError::Invalid(
                    "ORDERSEAL_RETENTION_ANCHOR",
                    "expected shipment or delivery".into(),
                ))?,
            },
            page_size: num("ORDERSEAL_SWEEP_PAGE_SIZE", 100, 1..=100)? as u32,
            concurrency: num("ORDERSEAL_SWEEP_CONCURRENCY", 8, 1..=64)? as usize,
        })
    }
}

/// The function: a store, a clock and the configuration.
pub struct Retention<S, C> {
    pub store: S,
    pub clock: C,
    pub config: RetentionConfig,
}

impl<S: RetentionStore, C: Clock> Retention<S, C> {
    /// One scheduled run, stopping to start erasures at `deadline`. The Lambda entry point
    /// prints the returned report's metrics as one Embedded Metric Format line.
    pub async fn run(&self, deadline: Option<Instant>) -> Result<SweepReport, StoreError> {
        let now = self.clock.now();
        let limits = SweepLimits {
            page_size: self.config.page_size,
            concurrency: self.config.concurrency,
            deadline,
            max_erasures: None,
        };
        let policy = SweepPolicy {
            anchor: self.config.anchor.as_str().to_owned(),
            business_retention_days: self.config.business_retention.whole_days(),
            business_retention_basis: self.config.business_basis.clone(),
        };
        let report = sweep_with_policy(
            &self.store,
            now,
            self.config.business_retention,
            limits,
            Some(policy),
        )
        .await?;
        if report.overdue > 0 {
            tracing::warn!(
                erased = report.erased,
                overdue = report.overdue,
                failed = report.failed,
                complete = report.complete,
                "PII still overdue after the sweep"
            );
        } else {
            tracing::info!(
                erased = report.erased,
                held = report.held,
                skipped = report.skipped,
                "retention sweep done"
            );
        }
        Ok(report)
    }
}

/// The re-authorisation metrics of the sellers in the registry, as one EMF line.
pub async fn authorization_line(
    sellers: &orderseal::sellers::DynamoSellers,
    now: time::OffsetDateTime,
) -> Result<String, StoreError> {
    let list = sellers.list().await?;
    Ok(orderseal::sellers::authorization_emf_line(
        &list,
        now.date(),
        orderseal::clock::unix_millis(now),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_and_bounds() {
        let c = RetentionConfig::from_lookup(env(&[("ORDERSEAL_TABLE", "t")])).unwrap();
        assert_eq!(c.business_retention, Duration::days(548));
        assert_eq!(c.business_basis, "DPP 18 months");
        assert_eq!(c.anchor, RetentionAnchor::Shipment);
        assert_eq!((c.page_size, c.concurrency), (100, 8));
        assert_eq!(
            RetentionConfig::from_lookup(env(&[])),
            Err(ConfigError::Missing("ORDERSEAL_TABLE"))
        );
        for (k, v) in [
            ("ORDERSEAL_BUSINESS_RETENTION_DAYS", "0"),
            ("ORDERSEAL_RETENTION_ANCHOR", "label"),
            ("ORDERSEAL_SWEEP_PAGE_SIZE", "500"),
            ("ORDERSEAL_SWEEP_CONCURRENCY", "x"),
        ] {
            assert!(matches!(
                RetentionConfig::from_lookup(env(&[("ORDERSEAL_TABLE", "t"), (k, v)])),
                Err(ConfigError::Invalid(name, _)) if name == k
            ));
        }
    }
}
