//! The operator CLI's work, apart from argument parsing: render the retention report, stream
//! the accounting export, check the notification path. Nothing here reads a sealed blob; the
//! CLI's one KMS call reads the notifications queue key's policy (`doctor`).

pub mod dlq;
pub mod doctor;

use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use orderseal::retention::dynamo::{BusinessEntry, BusinessRecords};
use orderseal::retention::{CSV_HEADER, RetentionReport};
use orderseal::store::StoreError;

/// A date (`2026-11-01`, midnight UTC) or an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| format!("{s:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time"))
}

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn age(seconds: i64) -> String {
    let (d, h) = (seconds / 86_400, (seconds % 86_400) / 3_600);
    format!("{d}d {h}h")
}

/// A subject report as a human reads it: names and dates, never a value.
pub fn render_subject(r: &orderseal::retention::SubjectReport) -> String {
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    let mut out = format!(
        "order {} (seller {}), {}\n  placed {}, last updated {}\n",
        r.order_id,
        r.seller_id,
        or_dash(r.fulfillment_status.as_deref()),
        or_dash(r.placed_at.as_deref()),
        or_dash(r.last_updated.as_deref()),
    );
    let classes = if r.classes.is_empty() {
        "none".to_owned()
    } else {
        r.classes.join(", ")
    };
    out.push_str(&format!("  buyer data held (sealed): {classes}\n"));
    match (r.erased_at, r.erased_by) {
        (Some(at), _) => out.push_str(&format!("  erased at {}\n", ts(at))),
        (None, Some(by)) => out.push_str(&format!(
            "  erased by {} at the latest ({} expiry)\n",
            ts(by),
            r.expiry_basis
        )),
        (None, None) => out.push_str("  no expiry recorded\n"),
    }
    if let Some(h) = &r.hold {
        out.push_str(&format!(
            "  legal hold until {} by {}: {}\n",
            ts(h.until),
            h.by,
            h.reason
        ));
    }
    for s in &r.shared_with {
        out.push_str(&format!(
            "  shared with {} ({}) for shipment {}: {}\n",
            s.carrier,
            s.route.as_deref().unwrap_or("-"),
            s.tracking_number.as_deref().unwrap_or("-"),
            s.classes.join(", ")
        ));
    }
    out
}

/// An index audit as a human reads it.
pub fn render_audit(a: &orderseal::retention::IndexAudit) -> String {
    let mut out = format!(
        "index audit at {}: {} items scanned\n  {:<44}{:>8}   (target 0)\n  {:<44}{:>8}   (target 0)\n  {:<44}{:>8}   (target 0)\n  {:<44}{:>8}\n",
        a.at.map(ts).unwrap_or_default(),
        a.scanned,
        "sealed PII the expiry index does not list",
        a.unindexed,
        "sealed PII of an erased or missing order",
        a.orphaned,
        "sealed-PII TTL off max(expiry, hold)",
        a.ttl_drift,
        "repaired",
        a.fixed
    );
    for f in &a.findings {
        out.push_str(&format!(
            "  {:<10} {:<16} {}\n",
            f.kind, f.seller_id, f.order_id
        ));
    }
    out
}

/// The report as a human reads it.
pub fn render_table(r: &RetentionReport) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("retention report at {}", ts(r.at)));
    line(format!(
        "  {:<34}{:>10}",
        "orders holding PII, not yet due", r.live
    ));
    line(format!(
        "  {:<34}{:>10}",
        "past due, kept by a legal hold", r.held
    ));
    line(format!(
        "  {:<34}{:>10}   (target 0)",
        "OVERDUE: PII past due, no hold",
        r.overdue.len()
    ));
    line(format!(
        "  {:<34}{:>10}",
        "erased by the sweep so far", r.erased_total
    ));
    line(format!(
        "  {:<34}{:>10}",
        "oldest PII held",
        r.oldest_pii_age_seconds
            .map(age)
            .unwrap_or_else(|| "-".into())
    ));
    match &r.last_sweep {
        Some(s) => line(format!(
            "  last sweep {}: erased {}, overdue after {}, held {}, failed {}, {}",
            s.at.map(ts).unwrap_or_default(),
            s.erased,
            s.overdue,
            s.held,
            s.failed,
            if s.complete { "complete" } else { "cut short" }
        )),
        None => line("  no sweep has run yet".into()),
    }
    match &r.last_audit {
        Some(a) => line(format!(
            "  {:<34}{:>10}   (target 0; last audit {}, {} fixed)",
            "PII the expiry index misses",
            a.unindexed,
            a.at.map(ts).unwrap_or_default(),
            a.fixed
        )),
        None => line("  no index audit has run yet (orderseal retention audit)".into()),
    }
    if let Some(p) = r.last_sweep.as_ref().and_then(|s| s.policy.as_ref()) {
        line(format!(
            "  policy: the PII clock starts at {}; business records kept {} days ({})",
            p.anchor, p.business_retention_days, p.business_retention_basis
        ));
    }
    if !r.overdue.is_empty() {
        line("overdue records:".into());
        line(format!(
            "  {:<16} {:<24} {:<22} {}",
            "seller", "order", "due", "overdue by"
        ));
        for o in &r.overdue {
            line(format!(
                "  {:<16} {:<24} {:<22} {}",
                o.seller_id,
                o.order_id,
                ts(o.due_at),
                age(o.overdue_seconds)
            ));
        }
    }
    if !r.holds.is_empty() {
        line("legal holds:".into());
        line(format!(
            "  {:<16} {:<24} {:<22} {:<20} {}",
            "seller", "order", "until", "by", "reason"
        ));
        for h in &r.holds {
            let lapsed = if h.until <= r.at { " (lapsed)" } else { "" };
            line(format!(
                "  {:<16} {:<24} {:<22} {:<20} {}{lapsed}",
                h.seller_id,
                h.order_id,
                ts(h.until),
                h.by,
                h.reason
            ));
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export failed: {0}")]
    Write(#[from] csv::Error),
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub records: u64,
    /// Returns recorded on those orders (one row each).
    pub returns: u64,
    pub rows: u64,
}

/// Stream business records as CSV, page by page (memory stays at one page). The progress bar
/// runs over the date range and draws only on a terminal.
pub async fn export_csv<W: Write>(
    mut records: BusinessRecords,
    from: OffsetDateTime,
    to: OffsetDateTime,
    out: W,
    progress: &ProgressBar,
) -> Result<Exported, ExportError> {
    let span = (to - from).whole_seconds().max(1) as u64;
    progress.set_length(span);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% of the range  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CSV_HEADER)?;
    let mut done = Exported {
        records: 0,
        returns: 0,
        rows: 0,
    };
    while let Some(page) = records.next_entries().await? {
        for entry in &page {
            let purchase = match entry {
                BusinessEntry::Order(r) => {
                    for row in r.csv_rows() {
                        writer.write_record(&row)?;
                        done.rows += 1;
                    }
                    done.records += 1;
                    r.purchase_date
                }
                BusinessEntry::Return(r) => {
                    writer.write_record(r.csv_row())?;
                    done.rows += 1;
                    done.returns += 1;
                    r.purchase_date
                }
            };
            progress.set_position(((purchase - from).whole_seconds().max(0) as u64).min(span));
        }
        progress.set_message(format!("{} records", done.records));
        writer.flush()?;
    }
    writer.flush()?;
    progress.finish_and_clear();
    Ok(done)
}

/// The orders held for review as a table, with what to do.
pub fn render_held(held: &[orderseal::store::dynamo::HeldOrder]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "{:<16} {:<22} {:<22} RULES", "SELLER", "ORDER", "HELD");
    for h in held {
        let _ = writeln!(
            out,
            "{:<16} {:<22} {:<22} {}",
            h.seller_id,
            h.order_id,
            h.held_at,
            h.rules.join(",")
        );
    }
    if !held.is_empty() {
        let _ = writeln!(
            out,
            "decide each: orderseal fraud release|cancel <order> --purpose fraud_review (the fraud reviewer's role)"
        );
    }
    out
}

/// The cancellation requests as a table: what the seller still has to do for each.
pub fn render_cancel_requests(requests: &[orderseal::store::dynamo::CancelRequest]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<22} {:<22} {:<18} {:<16} TO DO",
        "SELLER", "ORDER", "REQUESTED", "STATUS", "LABEL"
    );
    for r in requests {
        let label = match (&r.via, &r.tracking_number) {
            (Some(via), Some(t)) => format!("{via} {t}"),
            _ => "-".to_owned(),
        };
        let cancelled = r.fulfillment_status.as_deref() == Some("CANCELLED");
        let todo = match (r.resolved(), r.label_void.as_deref()) {
            (true, Some(void)) => format!("resolved; label voided ({void})"),
            (true, None) => "resolved".to_owned(),
            (false, Some("rejected")) => {
                "the carrier refused to void the label: take it up with the carrier".to_owned()
            }
            (false, _) if cancelled => {
                "dispatch voids the label (drain the shipments queue)".to_owned()
            }
            (false, _) if r.label_to_void() => {
                "cancel on Amazon; orderseal then voids the label".to_owned()
            }
            (false, _) => "cancel on Amazon".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<16} {:<22} {:<22} {:<18} {:<16} {todo}",
            r.seller_id,
            r.order_id,
            r.requested_at,
            r.fulfillment_status.as_deref().unwrap_or("-"),
            label,
        );
    }
    let open = requests.iter().filter(|r| !r.resolved()).count();
    let _ = writeln!(out, "{open} open, {} resolved", requests.len() - open);
    out
}

/// An order's audit trail as a human reads it.
pub fn render_audit_trail(entries: &[orderseal::audit::AuditEntry]) -> String {
    if entries.is_empty() {
        return "no audit events for this order\n".into();
    }
    let mut out = format!(
        "{:<21}{:<15}{:<18}{:<18}{:<10}{}\n",
        "at", "action", "purpose", "classes", "outcome", "who (reason)"
    );
    for e in entries {
        let at = e.at.get(..19).unwrap_or(&e.at);
        let why = e.reason.as_deref().or(e.note.as_deref());
        out.push_str(&format!(
            "{:<21}{:<15}{:<18}{:<18}{:<10}{}{}{}\n",
            at,
            e.action,
            e.purpose.as_deref().unwrap_or("-"),
            if e.classes.is_empty() {
                "-".to_owned()
            } else {
                e.classes.join(",")
            },
            e.outcome,
            e.who,
            why.map(|w| format!(" ({w})")).unwrap_or_default(),
            if e.canary { "  [CANARY ORDER]" } else { "" },
        ));
    }
    out
}

/// The access review: per identity and purpose since `since`.
pub fn render_access_review(
    summary: &[orderseal::audit::AccessSummary],
    since: OffsetDateTime,
    now: OffsetDateTime,
) -> String {
    let day = |t: OffsetDateTime| t.date().to_string();
    let mut out = format!(
        "access review {} .. {}: {} identity/purpose pairs\n",
        day(since),
        day(now),
        summary.len()
    );
    if summary.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "{:<20}{:>8}{:>8}{:>8}{:>8}  {:<21}{}\n",
        "purpose", "allowed", "refused", "orders", "canary", "last", "who"
    ));
    for s in summary {
        out.push_str(&format!(
            "{:<20}{:>8}{:>8}{:>8}{:>8}  {:<21}{}\n",
            s.purpose,
            s.allowed,
            s.refused,
            s.orders,
            s.canary,
            s.last.get(..19).unwrap_or(&s.last),
            s.who,
        ));
    }
    out
}

/// The seller registry as a table: what each seller sells where, and when it must authorise
/// the app again.
pub fn render_sellers(sellers: &[orderseal::sellers::Seller], today: time::Date) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<32} {:<12} {:<14} DAYS LEFT",
        "SELLER", "MARKETPLACES", "AUTHORISED", "REAUTHORISE BY"
    );
    for s in sellers {
        let _ = writeln!(
            out,
            "{:<20} {:<32} {:<12} {:<14} {}{}",
            s.seller_id,
            s.marketplaces.join(","),
            s.authorized_on,
            s.reauthorize_by(),
            s.days_left(today),
            if s.reauthorization_due(today) {
                "  (authorise again now)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(out, "{} sellers", sellers.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_dates_or_rfc3339() {
        assert_eq!(
            parse_time("2026-11-01").unwrap(),
            datetime!(2026-11-01 00:00 UTC)
        );
        assert_eq!(
            parse_time("2026-11-01T12:30:00+01:00").unwrap(),
            datetime!(2026-11-01 11:30 UTC)
        );
        assert!(parse_time("11/01/2026").unwrap_err().contains("YYYY-MM-DD"));
    }

    #[test]
    fn ages_read_in_days_and_hours() {
        assert_eq!(age(3 * 86_400 + 5 * 3_600 + 59), "3d 5h");
        assert_eq!(age(0), "0d 0h");
    }
}
