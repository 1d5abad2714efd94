//! Configuration helpers shared by the functions.

/// Outbound endpoints must be HTTPS; plain HTTP is allowed only on loopback (the local stack).
pub fn is_https_or_loopback(url: &str) -> bool {
    url.starts_with("https://")
        || url.starts_with("http://127.")
        || url.starts_with("http://localhost")
        || url.starts_with("http://[::1]")
}

/// A configuration variable that is wrong: its name and why.
pub type Invalid = (&'static str, &'static str);

fn days_var(
    get: &impl Fn(&str) -> Option<String>,
    k: &'static str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
    why: &'static str,
) -> Result<time::Duration, Invalid> {
    match get(k) {
        None => Ok(time::Duration::days(default)),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|d| range.contains(d))
            .map(time::Duration::days)
            .ok_or((k, why)),
    }
}

/// The retention policy every function applies, from the template's variables:
/// `ORDERSEAL_RETENTION_DAYS` (22), `ORDERSEAL_BACKUP_WINDOW_DAYS` (7, the PITR window),
/// `ORDERSEAL_CANCELED_GRACE_DAYS` (7) and `ORDERSEAL_RETENTION_ANCHOR` (`shipment`). Refused
/// unless retention + the sweep's hour + the backup window fit the DPP's 30 days.
pub fn retention_policy(
    get: impl Fn(&str) -> Option<String>,
) -> Result<crate::order::RetentionPolicy, Invalid> {
    use crate::order::{DEFAULT_RETENTION, RetentionAnchor, RetentionPolicy};
    let why = "must be 0..=30 whole days (the DPP maximum is 30)";
    let retention = days_var(
        &get,
        "ORDERSEAL_RETENTION_DAYS",
        DEFAULT_RETENTION.whole_days(),
        0..=30,
        why,
    )?;
    let backup_window = days_var(&get, "ORDERSEAL_BACKUP_WINDOW_DAYS", 7, 0..=30, why)?;
    let grace = days_var(&get, "ORDERSEAL_CANCELED_GRACE_DAYS", 7, 0..=30, why)?;
    crate::order::check_retention_budget(retention, backup_window)
        .map_err(|why| ("ORDERSEAL_RETENTION_DAYS", why))?;
    crate::order::check_retention_budget(grace, backup_window)
        .map_err(|why| ("ORDERSEAL_CANCELED_GRACE_DAYS", why))?;
    let anchor = match get("ORDERSEAL_RETENTION_ANCHOR") {
        None => RetentionAnchor::default(),
        Some(v) => RetentionAnchor::parse(&v).ok_or((
            "ORDERSEAL_RETENTION_ANCHOR",
            "expected shipment or delivery",
        ))?,
    };
    Ok(RetentionPolicy::new(retention, grace).with_anchor(anchor))
}

/// How long de-identified business records are kept: `ORDERSEAL_BUSINESS_RETENTION_DAYS`
/// (default 18 months, the DPP's limit for non-PII Amazon data without a legal basis).
pub fn business_retention(get: impl Fn(&str) -> Option<String>) -> Result<time::Duration, Invalid> {
    days_var(
        &get,
        "ORDERSEAL_BUSINESS_RETENTION_DAYS",
        crate::retention::DEFAULT_BUSINESS_RETENTION.whole_days(),
        1..=36525,
        "expected 1..=36525 whole days",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{RetentionAnchor, RetentionPolicy};
    use std::collections::HashMap;
    use time::Duration;

    fn policy(vars: &[(&str, &str)]) -> Result<RetentionPolicy, Invalid> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        retention_policy(|k| m.get(k).cloned())
    }

    #[test]
    fn retention_the_sweep_and_the_backup_window_share_the_thirty_days() {
        let d = policy(&[]).unwrap();
        assert_eq!(d.retention, Duration::days(22));
        assert_eq!(d.canceled_grace, Duration::days(7));
        assert_eq!(d.anchor, RetentionAnchor::Shipment);
        // 23 + 7 days leave the sweep's hour outside the 30 days; 30 live, none for backups.
        assert!(policy(&[("ORDERSEAL_RETENTION_DAYS", "23")]).is_err());
        assert!(policy(&[("ORDERSEAL_RETENTION_DAYS", "30")]).is_err());
        assert!(policy(&[("ORDERSEAL_RETENTION_DAYS", "45")]).is_err());
        // The grace of a canceled order counts the same way.
        assert_eq!(
            policy(&[("ORDERSEAL_CANCELED_GRACE_DAYS", "23")])
                .unwrap_err()
                .0,
            "ORDERSEAL_CANCELED_GRACE_DAYS"
        );
        let short_backups = [
            ("ORDERSEAL_RETENTION_DAYS", "25"),
            ("ORDERSEAL_BACKUP_WINDOW_DAYS", "4"),
        ];
        assert_eq!(
            policy(&short_backups).unwrap().retention,
            Duration::days(25)
        );
        let by_delivery = policy(&[("ORDERSEAL_RETENTION_ANCHOR", "delivery")]).unwrap();
        assert_eq!(by_delivery.anchor, RetentionAnchor::Delivery);
        assert_eq!(
            policy(&[("ORDERSEAL_RETENTION_ANCHOR", "label")])
                .unwrap_err()
                .0,
            "ORDERSEAL_RETENTION_ANCHOR"
        );
    }

    #[test]
    fn only_https_or_loopback() {
        use super::is_https_or_loopback as ok;
        assert!(ok("https://sellingpartnerapi-na.amazon.com"));
        assert!(ok("http://127.0.0.1:8477") && ok("http://localhost:1") && ok("http://[::1]:2"));
        assert!(!ok("http://example.com") && !ok("http://10.0.0.1") && !ok("ftp://x"));
    }
}
