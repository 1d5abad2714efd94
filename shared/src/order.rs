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

    /// Cancelled, or never fulfillable: nothing of the order will ship.
    pub fn never_ships(fulfillment_status: &str) -> bool {
        matches!(fulfillment_status, CANCELLED | UNFULFILLABLE)
    }
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
    /// The expiry the retention anchor fixes, once known here: with the shipment anchor, the
    /// first version seen `SHIPPED` (an order shipped outside orderseal; dispatch anchors its
    /// own at the label's ship date first). No later version moves it.
    pub anchored_expires_at: Option<OffsetDateTime>,
    /// The buyer asked to cancel (getOrder's item `cancellationRequest` by `BUYER`, or the
    /// notification's `IsBuyerRequestedCancel`): nothing is bought for it until the seller
    /// decides (cancels on Amazon, or declines and ships).
    pub cancel_requested: bool,
    /// The blind-index keys of its address and recipient (fraud rules): written on the
    /// sealed-PII item only, so they go with the PII.
    pub blind_index: Option<crate::fraud::IndexKeys>,
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
        self.fulfilled_by == status::MERCHANT && !status::never_ships(&self.fulfillment_status)
    }
}

/// What starts an order's retention clock (ARCHITECTURE §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAnchor {
    /// The label's ship date (dispatch), or the first version seen shipped: "less than 31 days
    /// after order shipment", as Amazon's security questionnaire asks.
    #[default]
    Shipment,
    /// The first delivery scan (carrier callback); provisional dates until then.
    Delivery,
}

impl RetentionAnchor {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "shipment" => Some(Self::Shipment),
            "delivery" => Some(Self::Delivery),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shipment => "shipment",
            Self::Delivery => "delivery",
        }
    }
}

/// How long PII may live (ARCHITECTURE §4): `retention` after the anchor (shipment by
/// default); provisional dates before the anchor is known; a grace for canceled orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// After the anchor; the DPP maximum is 30 days, less the backup window and the sweep's
    /// interval ([`check_retention_budget`]).
    pub retention: Duration,
    /// For canceled or unfulfillable orders, counted from the last update.
    pub canceled_grace: Duration,
    pub anchor: RetentionAnchor,
}

pub const DPP_MAX_RETENTION: Duration = Duration::days(30);

/// How late the sweep may erase after an expiry: its schedule's interval (`rate(1 hour)`).
pub const SWEEP_INTERVAL: Duration = Duration::hours(1);

/// The default retention after the anchor: the DPP's 30 days less a 7-day backup window and a
/// day held back for the sweep's interval.
pub const DEFAULT_RETENTION: Duration = Duration::days(22);

/// PII kept `retention` after its anchor is erased by the sweep up to [`SWEEP_INTERVAL`] later
/// and stays restorable from backups for `backup_window` after its erasure: all three must stay
/// within the DPP's 30 days.
pub fn check_retention_budget(
    retention: Duration,
    backup_window: Duration,
) -> Result<(), &'static str> {
    if retention.is_negative() || backup_window.is_negative() {
        return Err("retention and backup window must not be negative");
    }
    if retention + SWEEP_INTERVAL + backup_window > DPP_MAX_RETENTION {
        return Err(
            "retention plus the sweep's hour plus the backup window exceeds the DPP's 30 days (backups count)",
        );
    }
    Ok(())
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            retention: DEFAULT_RETENTION,
            canceled_grace: Duration::days(7),
            anchor: RetentionAnchor::Shipment,
        }
    }
}

impl RetentionPolicy {
    /// A policy clamped to the DPP: retention never above 30 days after delivery.
    pub fn new(retention: Duration, canceled_grace: Duration) -> Self {
        Self {
            retention: retention.clamp(Duration::ZERO, DPP_MAX_RETENTION),
            canceled_grace: canceled_grace.clamp(Duration::ZERO, DPP_MAX_RETENTION),
            anchor: RetentionAnchor::Shipment,
        }
    }

    pub fn with_anchor(mut self, anchor: RetentionAnchor) -> Self {
        self.anchor = anchor;
        self
    }

    /// The expiry a shipment at `shipped` fixes under the shipment anchor (`None` under the
    /// delivery anchor, or past the calendar's end).
    pub fn shipment_expiry(&self, shipped: OffsetDateTime) -> Option<OffsetDateTime> {
        match self.anchor {
            RetentionAnchor::Shipment => shipped.checked_add(self.retention),
            RetentionAnchor::Delivery => None,
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
        if status::never_ships(fulfillment_status) {
            return last_updated.checked_add(self.canceled_grace);
        }
        let delivery = match (deliver_by, ship_by) {
            (Some(d), _) => d,
            (None, Some(s)) => s.checked_add(Duration::days(14))?,
            (None, None) => created.checked_add(Duration::days(30))?,
        };
        delivery.checked_add(self.retention)
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
            Some(deliver + Duration::days(22))
        );
        assert_eq!(
            p.provisional_expiry("CANCELLED", created, updated, None, Some(deliver)),
            Some(updated + Duration::days(7))
        );
        assert_eq!(
            p.provisional_expiry("UNSHIPPED", created, updated, Some(updated), None),
            Some(updated + Duration::days(36))
        );
    }

    #[test]
    fn the_shipment_anchor_fixes_the_expiry_at_the_ship_date() {
        let shipped = datetime!(2026-05-03 09:00 UTC);
        let p = RetentionPolicy::default();
        assert_eq!(p.anchor, RetentionAnchor::Shipment);
        assert_eq!(
            p.shipment_expiry(shipped),
            Some(shipped + Duration::days(22))
        );
        let by_delivery = p.with_anchor(RetentionAnchor::Delivery);
        assert_eq!(by_delivery.shipment_expiry(shipped), None);
        assert_eq!(p.shipment_expiry(datetime!(+9999-12-31 23:59 UTC)), None);
        for a in [RetentionAnchor::Shipment, RetentionAnchor::Delivery] {
            assert_eq!(RetentionAnchor::parse(a.as_str()), Some(a));
        }
        assert_eq!(RetentionAnchor::parse("label"), None);
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
        assert_eq!(p.retention, Duration::days(30));
        assert!(check_retention_budget(DEFAULT_RETENTION, Duration::days(7)).is_ok());
        // 23 + 7 leaves the sweep's hour outside the 30 days.
        assert!(check_retention_budget(Duration::days(23), Duration::days(7)).is_err());
        assert!(check_retention_budget(Duration::days(29), Duration::ZERO).is_ok());
        assert!(check_retention_budget(Duration::days(30), Duration::ZERO).is_err());
        assert!(check_retention_budget(Duration::days(24), Duration::days(7)).is_err());
        assert!(check_retention_budget(Duration::days(-1), Duration::days(7)).is_err());
        assert_eq!(p.canceled_grace, Duration::days(30));
    }
}
