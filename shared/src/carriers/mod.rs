//! Carriers: the `Carrier` port, the minimal shipment a carrier is given, and adapters for real
//! carrier APIs (EasyPost, Shippo, a generic REST carrier) behind the `carriers-http` feature.
//!
//! The minimum: recipient name, address lines, city, region, postal code, country, and the
//! phone only when the destination or service requires it — plus parcel size and weight and
//! our own opaque reference. Never the buyer's email, prices or item titles. Each adapter
//! checks its outbound JSON against an allow-list of field paths before anything is sent.

pub mod allow;
pub mod amazon;
pub mod events;
pub mod webhooks;

#[cfg(feature = "carriers-http")]
pub mod easypost;
#[cfg(feature = "carriers-http")]
pub mod generic;
#[cfg(feature = "carriers-http")]
mod http;
#[cfg(feature = "carriers-http")]
pub mod shippo;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::classes::ShippingPii;
use crate::order::Money;
use crate::pii::PiiString;

/// Parcel size and weight (metric; adapters convert to what their API takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parcel {
    pub weight_grams: u32,
    pub length_mm: u32,
    pub width_mm: u32,
    pub height_mm: u32,
}

/// The seller's own ship-from address (business data, not buyer PII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipFrom {
    pub name: String,
    pub address_lines: Vec<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub phone: String,
}

/// Who receives the parcel: only what a label needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub name: PiiString,
    pub address_lines: Vec<PiiString>,
    pub city: PiiString,
    pub region: Option<PiiString>,
    pub postal_code: PiiString,
    pub country: String,
    /// Present only when the destination or service requires it.
    pub phone: Option<PiiString>,
}

/// Everything a carrier is told about one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinimalShipment {
    /// Our opaque reference (not the Amazon order id, not PII).
    pub reference: String,
    pub recipient: Recipient,
    pub ship_from: ShipFrom,
    pub parcel: Parcel,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MinimalError {
    #[error("the shipping address lacks {0}")]
    Missing(&'static str),
    #[error("the destination requires a phone number and the order has none")]
    PhoneRequired,
}

impl MinimalShipment {
    /// Build from the unsealed `shipping` class. `phone_required` comes from the seller rules
    /// (international destinations, express services); otherwise the phone is left out.
    pub fn from_shipping(
        shipping: &ShippingPii,
        reference: String,
        ship_from: ShipFrom,
        parcel: Parcel,
        phone_required: bool,
    ) -> Result<Self, MinimalError> {
        let need = |v: &Option<PiiString>, what| {
            v.clone()
                .filter(|s| !s.expose().trim().is_empty())
                .ok_or(MinimalError::Missing(what))
        };
        let mut lines = vec![need(&shipping.address_line1, "address line 1")?];
        lines.extend(
            [&shipping.address_line2, &shipping.address_line3]
                .into_iter()
                .flatten()
                .filter(|l| !l.expose().trim().is_empty())
                .cloned(),
        );
        let phone = if phone_required {
            Some(need(&shipping.phone, "phone").map_err(|_| MinimalError::PhoneRequired)?)
        } else {
            None
        };
        Ok(Self {
            reference,
            recipient: Recipient {
                name: need(&shipping.name, "recipient name")?,
                address_lines: lines,
                city: need(&shipping.city, "city")?,
                region: shipping.state_or_region.clone(),
                postal_code: need(&shipping.postal_code, "postal code")?,
                country: shipping
                    .country_code
                    .clone()
                    .filter(|c| c.len() == 2)
                    .ok_or(MinimalError::Missing("country"))?,
                phone,
            },
            ship_from,
            parcel,
        })
    }

    pub fn is_international(&self) -> bool {
        self.recipient.country != self.ship_from.country
    }
}

/// How to pick among the services a carrier offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServicePolicy {
    Cheapest,
    Fastest,
}

/// One offered service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    /// The carrier API's id for this rate (used to buy it).
    pub id: String,
    pub carrier: String,
    pub service: String,
    pub cost: Money,
    pub days: Option<u32>,
}

impl ServicePolicy {
    /// Cheapest: lowest cost, then fewest days; fastest: fewest days (unknown last), then cost.
    /// Ties break on carrier and service names so the choice is stable across retries.
    pub fn choose<'a>(&self, rates: &'a [Rate]) -> Option<&'a Rate> {
        let cents = |r: &Rate| money_cents(&r.cost.amount).unwrap_or(i64::MAX);
        let days = |r: &Rate| r.days.unwrap_or(u32::MAX);
        rates.iter().min_by(|a, b| {
            let key = |r: &'a Rate| match self {
                ServicePolicy::Cheapest => (cents(r), i64::from(days(r))),
                ServicePolicy::Fastest => (i64::from(days(r)), cents(r)),
            };
            key(a)
                .cmp(&key(b))
                .then_with(|| (&a.carrier, &a.service).cmp(&(&b.carrier, &b.service)))
        })
    }
}

/// "7.58" → 758. Amounts are decimal strings in every carrier API.
pub fn money_cents(amount: &str) -> Option<i64> {
    let (whole, frac) = amount
        .trim()
        .split_once('.')
        .unwrap_or((amount.trim(), "0"));
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    Some(whole * 100 + if whole < 0 { -frac } else { frac })
}

/// A purchased label: everything we keep (no PII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentCreated {
    /// The adapter that bought it (`easypost`, `shippo`, `generic`).
    pub via: String,
    pub carrier: String,
    pub service: String,
    pub tracking_number: String,
    /// The carrier's id for the label (never the label, never its URL): the label shows the
    /// address, so it is fetched again from the carrier with our credentials when needed.
    pub label_ref: String,
    pub carrier_shipment_id: String,
    pub cost: Money,
}

#[derive(Debug, thiserror::Error)]
pub enum CarrierError {
    #[error("carrier did not answer in time")]
    Timeout,
    #[error("carrier transport failure: {0}")]
    Transport(&'static str),
    #[error("carrier throttled the request")]
    Throttled,
    #[error("carrier server error {0}")]
    Server(u16),
    #[error("carrier rejected the request ({status}): {code}")]
    Rejected { status: u16, code: String },
    #[error("carrier credentials refused")]
    Unauthorized,
    #[error("carrier offered no service for this shipment")]
    NoRates,
    #[error("carrier response does not match its API: {0}")]
    Decode(&'static str),
    #[error("outbound field {0} is not on the allow-list")]
    Disallowed(String),
}

impl CarrierError {
    /// Worth another attempt with the same idempotency key.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CarrierError::Timeout
                | CarrierError::Transport(_)
                | CarrierError::Throttled
                | CarrierError::Server(_)
        )
    }

    pub fn reason_code(&self) -> &'static str {
        match self {
            CarrierError::Timeout => "carrier_timeout",
            CarrierError::Transport(_) => "carrier_transport",
            CarrierError::Throttled => "carrier_throttled",
            CarrierError::Server(_) => "carrier_server_error",
            CarrierError::Rejected { .. } => "carrier_rejected",
            CarrierError::Unauthorized => "carrier_unauthorized",
            CarrierError::NoRates => "carrier_no_rates",
            CarrierError::Decode(_) => "carrier_decode",
            CarrierError::Disallowed(_) => "carrier_field_not_allowed",
        }
    }
}

/// The carrier port (ARCHITECTURE §5). `idempotency_key` is derived from order and package, so
/// a retry can never buy a second label.
pub trait Carrier: Send + Sync {
    /// The adapter's name (`easypost`, `shippo`, `generic`).
    fn name(&self) -> &'static str;

    fn create_shipment(
        &self,
        shipment: &MinimalShipment,
        policy: ServicePolicy,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<ShipmentCreated, CarrierError>> + Send;

    /// Void a bought label and ask for its refund (EasyPost `POST /shipments/{id}/refund`,
    /// Shippo `POST /refunds`, the generic API's `POST /shipments/{id}/void`). Nothing but the
    /// carrier's own ids is sent. Repeating it for the same label is safe: the same key, and the
    /// carriers answer a repeat with the refund already asked for.
    fn void_label(
        &self,
        label: &ShipmentCreated,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<VoidOutcome, CarrierError>> + Send;
}

/// Where a label's refund stands, as the carrier reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidStatus {
    /// Asked for; the carrier settles it later (EasyPost `submitted`, Shippo `QUEUED`/`PENDING`).
    Submitted,
    /// Voided and refunded (Shippo `SUCCESS`, EasyPost `refunded`, generic `voided`).
    Refunded,
    /// The carrier refused (e.g. the label was scanned); it may be asked again.
    Rejected,
    /// The carrier bills on scan: nothing to refund (EasyPost `not_applicable`).
    NotApplicable,
}

impl VoidStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VoidStatus::Submitted => "submitted",
            VoidStatus::Refunded => "refunded",
            VoidStatus::Rejected => "rejected",
            VoidStatus::NotApplicable => "not_applicable",
        }
    }

    /// The label is taken care of: nothing more to ask the carrier.
    pub fn settled(self) -> bool {
        self != VoidStatus::Rejected
    }
}

/// A void as recorded on the order (no PII: the carrier's refund id and status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidOutcome {
    pub status: VoidStatus,
    /// The carrier's id for the refund, if it gave one.
    pub refund_ref: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipping() -> ShippingPii {
        ShippingPii {
            name: Some("Jane".into()),
            company_name: Some("ACME".into()),
            address_line1: Some("1 Main St".into()),
            address_line2: Some("".into()),
            city: Some("Seattle".into()),
            state_or_region: Some("WA".into()),
            postal_code: Some("98101".into()),
            country_code: Some("US".into()),
            phone: Some("+1 206 555 0100".into()),
            delivery_instructions: Some("gate code".into()),
            ..Default::default()
        }
    }

    fn from() -> ShipFrom {
        ShipFrom {
            name: "Seller".into(),
            address_lines: vec!["2 Dock Rd".into()],
            city: "Tacoma".into(),
            region: Some("WA".into()),
            postal_code: "98402".into(),
            country: "US".into(),
            phone: "+1 253 555 0100".into(),
        }
    }

    fn parcel() -> Parcel {
        Parcel {
            weight_grams: 500,
            length_mm: 200,
            width_mm: 150,
            height_mm: 100,
        }
    }

    #[test]
    fn the_minimum_leaves_out_phone_company_and_instructions_unless_required() {
        let m = MinimalShipment::from_shipping(&shipping(), "os-1".into(), from(), parcel(), false)
            .unwrap();
        assert_eq!(m.recipient.phone, None);
        assert_eq!(
            m.recipient.address_lines.len(),
            1,
            "empty lines are dropped"
        );
        let m = MinimalShipment::from_shipping(&shipping(), "os-1".into(), from(), parcel(), true)
            .unwrap();
        assert_eq!(m.recipient.phone.unwrap().expose(), "+1 206 555 0100");
    }

    #[test]
    fn a_required_phone_that_is_missing_is_an_error() {
        let mut s = shipping();
        s.phone = None;
        assert_eq!(
            MinimalShipment::from_shipping(&s, "r".into(), from(), parcel(), true).unwrap_err(),
            MinimalError::PhoneRequired
        );
        s.city = None;
        assert_eq!(
            MinimalShipment::from_shipping(&s, "r".into(), from(), parcel(), false).unwrap_err(),
            MinimalError::Missing("city")
        );
    }

    fn rate(carrier: &str, service: &str, amount: &str, days: Option<u32>) -> Rate {
        Rate {
            id: format!("{carrier}-{service}"),
            carrier: carrier.into(),
            service: service.into(),
            cost: Money {
                amount: amount.into(),
                currency_code: "USD".into(),
            },
            days,
        }
    }

    #[test]
    fn policies_pick_the_cheapest_or_the_fastest_deterministically() {
        let rates = vec![
            rate("UPS", "Ground", "9.10", Some(4)),
            rate("USPS", "Priority", "7.58", Some(2)),
            rate("FedEx", "Express", "31.00", Some(1)),
            rate("USPS", "GroundAdvantage", "7.58", Some(5)),
        ];
        assert_eq!(
            ServicePolicy::Cheapest.choose(&rates).unwrap().service,
            "Priority"
        );
        assert_eq!(
            ServicePolicy::Fastest.choose(&rates).unwrap().service,
            "Express"
        );
        assert!(ServicePolicy::Cheapest.choose(&[]).is_none());
    }

    #[test]
    fn money_parses_decimal_strings() {
        assert_eq!(money_cents("7.58"), Some(758));
        assert_eq!(money_cents("12"), Some(1200));
        assert_eq!(money_cents("0.5"), Some(50));
        assert_eq!(money_cents("1.234"), None);
        assert_eq!(money_cents("abc"), None);
    }
}

#[cfg(feature = "carriers-http")]
pub use any::AnyCarrier;

#[cfg(feature = "carriers-http")]
mod any {
    use super::*;

    /// One of the HTTP adapters, chosen at run time by the seller's rules.
    #[derive(Debug, Clone)]
    pub enum AnyCarrier {
        EasyPost(easypost::EasyPost),
        Shippo(shippo::Shippo),
        Generic(generic::GenericCarrier),
    }

    impl Carrier for AnyCarrier {
        fn name(&self) -> &'static str {
            match self {
                AnyCarrier::EasyPost(c) => c.name(),
                AnyCarrier::Shippo(c) => c.name(),
                AnyCarrier::Generic(c) => c.name(),
            }
        }

        async fn create_shipment(
            &self,
            shipment: &MinimalShipment,
            policy: ServicePolicy,
            idempotency_key: &str,
        ) -> Result<ShipmentCreated, CarrierError> {
            match self {
                AnyCarrier::EasyPost(c) => {
                    c.create_shipment(shipment, policy, idempotency_key).await
                }
                AnyCarrier::Shippo(c) => c.create_shipment(shipment, policy, idempotency_key).await,
                AnyCarrier::Generic(c) => {
                    c.create_shipment(shipment, policy, idempotency_key).await
                }
            }
        }

        async fn void_label(
            &self,
            label: &ShipmentCreated,
            idempotency_key: &str,
        ) -> Result<VoidOutcome, CarrierError> {
            match self {
                AnyCarrier::EasyPost(c) => c.void_label(label, idempotency_key).await,
                AnyCarrier::Shippo(c) => c.void_label(label, idempotency_key).await,
                AnyCarrier::Generic(c) => c.void_label(label, idempotency_key).await,
            }
        }
    }
}
