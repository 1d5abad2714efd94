//! The order as orderseal keeps it: business facts in the clear, no PII. PII travels beside it
//! as sealed class blobs (see [`crate::classes`] and [`crate::seal`]).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Fulfilment statuses of Orders v2026-01-01 that drive our decisions.
pub mod status {
    pub const UNSHIPPED: &str = "UNSHIPPED";
    pub const PARTIALLY_SHIPPED: &str = "PARTIALLY_SHIPPED";
    pub const SHIPPED: &str = "SHIPPED";
    pub const CANCELLED: &str = "CANCELLED";
    pub const UNFULFILLABLE: &str = "UNFULFILLABLE";
    pub const MERCHANT: &str = "MERCHANT";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: String,
    pub currency_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub order_item_id: String,
    pub seller_sku: Option<String>,
    pub asin: Option<String>,
    pub quantity: u32,
    pub unit_price: Option<Money>,
    /// The line's `TAX` proceeds (what the buyer paid in tax on it).
    pub tax: Option<Money>,
    pub is_gift: bool,
}

/// Non-PII order facts. Safe to log by field, to show, and to keep as a business record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub seller_id: String,
    pub order_id: String,
    pub marketplace_id: String,
    /// `fulfillment.fulfillmentStatus`, e.g. `UNSHIPPED`.
    pub fulfillment_status: String,
    /// `fulfillment.fulfilledBy`: `MERCHANT` (MFN) or `AMAZON` (AFN).
    pub fulfilled_by: String,
    pub created_time: OffsetDateTime,
    /// `lastUpdatedTime` from getOrder: the ordering guard (newer wins).
    pub last_updated: OffsetDateTime,
    pub ship_by: Option<OffsetDateTime>,
    pub deliver_by: Option<OffsetDateTime>,
    /// Destination country (ISO 3166-1 alpha-2): needed to pick a carrier, not identifying.
    pub ship_country: Option<String>,
    pub programs: Vec<String>,
    pub items: Vec<OrderLine>,
    pub order_total: Option<Money>,
    /// The order's `TAX` proceeds, summed over its lines by Amazon.
    pub order_tax: Option<Money>,
    /// When the PII of this order must be gone (provisional until delivery).
    pub pii_expires_at: OffsetDateTime,
    /// The buyer asked to cancel (getOrder's item `cancellationRequest` by `BUYER`, or the
    /// notification's `IsBuyerRequestedCancel`): nothing is bought for it until the seller
    /// decides (cancels on Amazon, or declines and ships).
    pub cancel_requested: bool,
}

impl OrderRecord {
    /// MFN, waiting to be shipped, and no cancellation asked for: dispatch has work to do.
    pub fn needs_shipment(&self) -> bool {
        self.fulfilled_by == status::MERCHANT
            && self.fulfillment_status == status::UNSHIPPED
            && !self.cancel_requested
    }

    /// Whether orderseal keeps buyer PII for this order at all: only for an order it fulfils
    /// (merchant-fulfilled) that is still open. Amazon-fulfilled (FBA), canceled and
    /// unfulfillable orders need none of it; PII already held for an order that is canceled
    /// later stays only until its grace ends.
    pub fn collects_pii(&self) -> bool {
        self.fulfilled_by == status::MERCHANT
            && !matches!(
                self.fulfillment_status.as_str(),
                status::CANCELLED | status::UNFULFILLABLE
            )
    }
}

/// How long PII may live (ARCHITECTURE §4). Delivery (issue: carrier callbacks) replaces the
/// provisional expiry computed here with `delivered_at + retention`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// After (latest) delivery; the DPP maximum is 30 days.
    pub after_delivery: Duration,
    /// For canceled or unfulfillable orders, counted from the last update.
    pub canceled_grace: Duration,
}

pub const DPP_MAX_RETENTION: Duration = Duration::days(30);

/// PII kept `retention` after delivery stays restorable from backups for `backup_window`
/// after its erasure: together they must stay within the DPP's 30 days.
pub fn check_retention_budget(
    retention: Duration,
    backup_window: Duration,
) -> Result<(), &'static str> {
    if retention.is_negative() || backup_window.is_negative() {
        return Err("retention and backup window must not be negative");
    }
    if retention + backup_window > DPP_MAX_RETENTION {
        return Err("retention plus the backup window exceeds the DPP's 30 days (backups count)");
    }
    Ok(())
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            after_delivery: DPP_MAX_RETENTION,
            canceled_grace: Duration::days(7),
        }
    }
}

impl RetentionPolicy {
    /// A policy clamped to the DPP: retention never above 30 days after delivery.
    pub fn new(after_delivery: Duration, canceled_grace: Duration) -> Self {
        Self {
            after_delivery: after_delivery.clamp(Duration::ZERO, DPP_MAX_RETENTION),
            canceled_grace: canceled_grace.clamp(Duration::ZERO, DPP_MAX_RETENTION),
        }
    }

    /// Provisional expiry before delivery is known:
    /// canceled/unfulfillable → last update + grace; otherwise latest delivery date + retention;
    /// without a delivery window → latest ship date + 14 days transit + retention; without
    /// either → creation + 30 days + retention. `None` when a date is so near the end of the
    /// calendar that the sum does not exist (checked arithmetic: no response can panic it).
    pub fn provisional_expiry(
        &self,
        fulfillment_status: &str,
        created: OffsetDateTime,
        last_updated: OffsetDateTime,
        ship_by: Option<OffsetDateTime>,
        deliver_by: Option<OffsetDateTime>,
    ) -> Option<OffsetDateTime> {
        if matches!(
            fulfillment_status,
            status::CANCELLED | status::UNFULFILLABLE
        ) {
            return last_updated.checked_add(self.canceled_grace);
        }
        let delivery = match (deliver_by, ship_by) {
            (Some(d), _) => d,
            (None, Some(s)) => s.checked_add(Duration::days(14))?,
            (None, None) => created.checked_add(Duration::days(30))?,
        };
        delivery.checked_add(self.after_delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn provisional_expiry_follows_the_policy() {
        let p = RetentionPolicy::default();
        let created = datetime!(2026-05-01 10:00 UTC);
        let updated = datetime!(2026-05-02 10:00 UTC);
        let deliver = datetime!(2026-05-08 23:59 UTC);
        assert_eq!(
            p.provisional_expiry("UNSHIPPED", created, updated, None, Some(deliver)),
            Some(deliver + Duration::days(30))
        );
        assert_eq!(
            p.provisional_expiry("CANCELLED", created, updated, None, Some(deliver)),
            Some(updated + Duration::days(7))
        );
        assert_eq!(
            p.provisional_expiry("UNSHIPPED", created, updated, Some(updated), None),
            Some(updated + Duration::days(44))
        );
    }

    #[test]
    fn dates_at_the_end_of_the_calendar_give_no_expiry_instead_of_a_panic() {
        let p = RetentionPolicy::default();
        let end = datetime!(+9999-12-31 23:59 UTC);
        let created = datetime!(2026-05-01 10:00 UTC);
        assert_eq!(
            p.provisional_expiry("UNSHIPPED", created, created, None, Some(end)),
            None
        );
        assert_eq!(
            p.provisional_expiry("UNSHIPPED", created, created, Some(end), None),
            None
        );
        assert_eq!(
            p.provisional_expiry("UNSHIPPED", end, end, None, None),
            None
        );
        assert_eq!(
            p.provisional_expiry("CANCELLED", created, end, None, None),
            None
        );
    }

    #[test]
    fn retention_is_never_above_the_dpp_maximum() {
        let p = RetentionPolicy::new(Duration::days(90), Duration::days(60));
        assert_eq!(p.after_delivery, Duration::days(30));
        assert!(check_retention_budget(Duration::days(23), Duration::days(7)).is_ok());
        assert!(check_retention_budget(Duration::days(30), Duration::ZERO).is_ok());
        assert!(check_retention_budget(Duration::days(24), Duration::days(7)).is_err());
        assert!(check_retention_budget(Duration::days(-1), Duration::days(7)).is_err());
        assert_eq!(p.canceled_grace, Duration::days(30));
    }
}
