//! The sandbox's rate card and tracking numbers, shared by the three APIs.
//!
//! Rates are deterministic: a service's price is its first-pound price plus a per-pound price
//! for each further (started) pound, plus for international services a zone surcharge (zone 1:
//! Canada and Mexico; zone 2: Europe; zone 3: everywhere else), which also adds transit days.
//! A destination of `US` gets the domestic services, any other country the international ones;
//! services above their weight limit are left out. Prices are USD and fictional.
//!
//! Tracking numbers follow the carriers' formats, check digits included: USPS IMpb (22 digits,
//! `9400…`/`9405…`/`9270…`), UPU S10 for USPS international (`LX…US`, `CP…US`), UPS `1Z…` and
//! FedEx 12 digits.

/// A carrier the aggregators buy labels from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    Usps,
    Ups,
    FedEx,
}

impl Carrier {
    /// As EasyPost and Shippo name the carrier (`carrier` / `provider`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Usps => "USPS",
            Self::Ups => "UPS",
            Self::FedEx => "FedEx",
        }
    }

    /// The carrier's public tracking page for `number`.
    pub(crate) fn tracking_url(self, number: &str) -> String {
        match self {
            Self::Usps => format!("https://tools.usps.com/go/TrackConfirmAction?tLabels={number}"),
            Self::Ups => format!("https://www.ups.com/track?tracknum={number}"),
            Self::FedEx => format!("https://www.fedex.com/fedextrack/?trknbr={number}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracking {
    /// USPS IMpb with this 4-digit prefix.
    UspsImpb(&'static str),
    /// UPU S10 with this 2-letter service prefix, ending `US`.
    S10(&'static str),
    /// UPS `1Z` with this 2-digit service code.
    Ups(&'static str),
    FedEx,
}

/// One carrier service on the rate card.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Service {
    pub(crate) carrier: Carrier,
    /// EasyPost's `service` name.
    pub(crate) easypost: &'static str,
    /// Shippo's `servicelevel.token`; also the generic API's service code.
    pub(crate) token: &'static str,
    /// Human-readable name (Shippo's `servicelevel.name`, printed on the label).
    pub(crate) name: &'static str,
    international: bool,
    first_lb_cents: u64,
    per_lb_cents: u64,
    days: u32,
    max_oz: u32,
    tracking: Tracking,
}

const fn service(
    carrier: Carrier,
    names: (&'static str, &'static str, &'static str),
    international: bool,
    (first_lb_cents, per_lb_cents): (u64, u64),
    days: u32,
    max_oz: u32,
    tracking: Tracking,
) -> Service {
    Service {
        carrier,
        easypost: names.0,
        token: names.1,
        name: names.2,
        international,
        first_lb_cents,
        per_lb_cents,
        days,
        max_oz,
        tracking,
    }
}

const SERVICES: [Service; 9] = [
    service(
        Carrier::Usps,
        (
            "GroundAdvantage",
            "usps_ground_advantage",
            "Ground Advantage",
        ),
        false,
        (525, 85),
        4,
        1120,
        Tracking::UspsImpb("9400"),
    ),
    service(
        Carrier::Usps,
        ("Priority", "usps_priority", "Priority Mail"),
        false,
        (758, 105),
        2,
        1120,
        Tracking::UspsImpb("9405"),
    ),
    service(
        Carrier::Usps,
        ("Express", "usps_priority_express", "Priority Mail Express"),
        false,
        (2875, 310),
        1,
        1120,
        Tracking::UspsImpb("9270"),
    ),
    service(
        Carrier::Ups,
        ("Ground", "ups_ground", "UPS Ground"),
        false,
        (1046, 120),
        3,
        2400,
        Tracking::Ups("03"),
    ),
    service(
        Carrier::FedEx,
        ("FEDEX_GROUND", "fedex_ground", "FedEx Ground"),
        false,
        (1012, 115),
        3,
        2400,
        Tracking::FedEx,
    ),
    service(
        Carrier::Usps,
        (
            "FirstClassPackageInternationalService",
            "usps_first_class_package_international_service",
            "First-Class Package International Service",
        ),
        true,
        (1575, 380),
        10,
        64,
        Tracking::S10("LX"),
    ),
    service(
        Carrier::Usps,
        (
            "PriorityMailInternational",
            "usps_priority_mail_international",
            "Priority Mail International",
        ),
        true,
        (4595, 420),
        7,
        1056,
        Tracking::S10("CP"),
    ),
    service(
        Carrier::Ups,
        (
            "Expedited",
            "ups_worldwide_expedited",
            "UPS Worldwide Expedited",
        ),
        true,
        (6210, 590),
        4,
        2400,
        Tracking::Ups("08"),
    ),
    service(
        Carrier::FedEx,
        (
            "INTERNATIONAL_PRIORITY",
            "fedex_international_priority",
            "FedEx International Priority",
        ),
        true,
        (8940, 650),
        3,
        2400,
        Tracking::FedEx,
    ),
];

/// Countries in international zone 2 (Europe); CA and MX are zone 1, the rest zone 3.
const EUROPE: [&str; 31] = [
    "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU",
    "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI",
];

/// A priced service for one shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quote {
    pub(crate) service: &'static Service,
    pub(crate) cents: u64,
    pub(crate) days: u32,
}

impl Quote {
    /// The price as the APIs write it, e.g. `7.58`.
    pub(crate) fn amount(&self) -> String {
        format!("{}.{:02}", self.cents / 100, self.cents % 100)
    }
}

/// 0 for domestic, else the international zone 1–3.
fn zone(country: &str) -> u32 {
    let country = country.to_ascii_uppercase();
    if country == "US" {
        0
    } else if country == "CA" || country == "MX" {
        1
    } else if EUROPE.contains(&country.as_str()) {
        2
    } else {
        3
    }
}

/// The services available to `country` for a parcel of `weight_oz` ounces, cheapest first.
pub(crate) fn quotes(country: &str, weight_oz: f64) -> Vec<Quote> {
    let zone = zone(country);
    // Started pounds, at least one.
    let pounds = (weight_oz / 16.0).ceil().max(1.0) as u64;
    let mut quotes: Vec<Quote> = SERVICES
        .iter()
        .filter(|service| service.international == (zone > 0))
        .filter(|service| weight_oz <= f64::from(service.max_oz))
        .map(|service| {
            let surcharge = u64::from(zone.saturating_sub(1)) * 450;
            Quote {
                service,
                cents: service.first_lb_cents + service.per_lb_cents * (pounds - 1) + surcharge,
                days: service.days + zone.saturating_sub(1),
            }
        })
        .collect();
    quotes.sort_by_key(|quote| (quote.cents, quote.days));
    quotes
}

/// The quote for one service (by its generic/Shippo token), if it is available.
pub(crate) fn quote_for(token: &str, country: &str, weight_oz: f64) -> Option<Quote> {
    quotes(country, weight_oz)
        .into_iter()
        .find(|quote| quote.service.token == token)
}

/// Whether `token` names a service on the rate card at all.
pub(crate) fn is_known_service(token: &str) -> bool {
    SERVICES.iter().any(|service| service.token == token)
}

/// A fresh tracking number in the format of `service`'s carrier.
pub(crate) fn tracking_number(service: &Service) -> String {
    match service.tracking {
        Tracking::UspsImpb(prefix) => {
            let data = format!("{prefix}{}", random_digits(17));
            let check = mod10_check(&data);
            format!("{data}{check}")
        }
        Tracking::S10(prefix) => {
            let serial = random_digits(8);
            format!("{prefix}{serial}{}US", s10_check(&serial))
        }
        Tracking::Ups(code) => {
            // A fixed six-character shipper number for the sandbox account.
            let data = format!("9E3F71{code}{}", random_digits(7));
            format!("1Z{data}{}", ups_check(&data))
        }
        Tracking::FedEx => random_digits(12),
    }
}

fn random_digits(len: usize) -> String {
    (0..len)
        .map(|_| char::from(b'0' + fastrand::u8(..10)))
        .collect()
}

/// IMpb (GS1) mod-10 check digit: weights 3, 1, 3, … from the rightmost data digit.
fn mod10_check(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(index, byte)| {
            let digit = u32::from(byte - b'0');
            if index % 2 == 0 { digit * 3 } else { digit }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// UPU S10 check digit over an 8-digit serial number.
fn s10_check(serial: &str) -> u32 {
    const WEIGHTS: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];
    let sum: u32 = serial
        .bytes()
        .zip(WEIGHTS)
        .map(|(byte, weight)| u32::from(byte - b'0') * weight)
        .sum();
    match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        check => check,
    }
}

/// UPS `1Z` check digit over the 15 characters after `1Z`: letters count as
/// `(ASCII − 63) mod 10`, characters in even positions (1-based) double.
fn ups_check(data: &str) -> u32 {
    let sum: u32 = data
        .bytes()
        .enumerate()
        .map(|(index, byte)| {
            let value = if byte.is_ascii_digit() {
                u32::from(byte - b'0')
            } else {
                (u32::from(byte.to_ascii_uppercase()) - 63) % 10
            };
            if index % 2 == 1 { value * 2 } else { value }
        })
        .sum();
    (10 - sum % 10) % 10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(quotes: &[Quote]) -> Vec<&'static str> {
        quotes.iter().map(|quote| quote.service.token).collect()
    }

    #[test]
    fn domestic_priority_first_pound_is_7_58() {
        let quote = quote_for("usps_priority", "US", 12.0).unwrap();
        assert_eq!(quote.amount(), "7.58");
        assert_eq!(quote.days, 2);
        // Every further started pound adds the per-pound price.
        assert_eq!(
            quote_for("usps_priority", "us", 17.0).unwrap().amount(),
            "8.63"
        );
    }

    #[test]
    fn domestic_and_international_services_differ() {
        let domestic = quotes("US", 10.0);
        let international = quotes("DE", 10.0);
        assert_eq!(
            services(&domestic),
            [
                "usps_ground_advantage",
                "usps_priority",
                "fedex_ground",
                "ups_ground",
                "usps_priority_express"
            ]
        );
        assert_eq!(
            services(&international),
            [
                "usps_first_class_package_international_service",
                "usps_priority_mail_international",
                "ups_worldwide_expedited",
                "fedex_international_priority"
            ]
        );
        assert!(
            domestic
                .windows(2)
                .all(|pair| pair[0].cents <= pair[1].cents)
        );
    }

    #[test]
    fn zones_add_surcharge_and_days_and_weight_limits_apply() {
        let canada = quote_for("usps_priority_mail_international", "CA", 10.0).unwrap();
        let germany = quote_for("usps_priority_mail_international", "DE", 10.0).unwrap();
        let japan = quote_for("usps_priority_mail_international", "JP", 10.0).unwrap();
        assert!(canada.cents < germany.cents && germany.cents < japan.cents);
        assert!(canada.days < germany.days && germany.days < japan.days);
        // First-Class Package International stops at 4 lb.
        assert!(quote_for("usps_first_class_package_international_service", "DE", 64.0).is_some());
        assert!(quote_for("usps_first_class_package_international_service", "DE", 65.0).is_none());
        assert!(quotes("US", 5000.0).is_empty());
        assert!(is_known_service("ups_ground"));
        assert!(!is_known_service("teleport"));
    }

    #[test]
    fn check_digits_match_published_examples() {
        // UPS's documented sample 1Z999AA10123456784.
        assert_eq!(ups_check("999AA1012345678"), 4);
        // The UPU's sample RR123456785US.
        assert_eq!(s10_check("12345678"), 5);
        // GS1 sample: 629104150021 → check 3 (weights 3,1 from the right).
        assert_eq!(mod10_check("629104150021"), 3);
    }

    #[test]
    fn tracking_numbers_have_the_carrier_formats() {
        let by_token = |token: &str| {
            SERVICES
                .iter()
                .find(|service| service.token == token)
                .unwrap()
        };
        let usps = tracking_number(by_token("usps_priority"));
        assert_eq!(usps.len(), 22);
        assert!(usps.starts_with("9405") && usps.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            mod10_check(&usps[..21]),
            u32::from(usps.as_bytes()[21] - b'0')
        );

        let s10 = tracking_number(by_token("usps_priority_mail_international"));
        assert_eq!(s10.len(), 13);
        assert!(s10.starts_with("CP") && s10.ends_with("US"));
        assert_eq!(s10_check(&s10[2..10]), u32::from(s10.as_bytes()[10] - b'0'));

        let ups = tracking_number(by_token("ups_ground"));
        assert_eq!(ups.len(), 18);
        assert!(ups.starts_with("1Z9E3F7103"));
        assert_eq!(ups_check(&ups[2..17]), u32::from(ups.as_bytes()[17] - b'0'));

        let fedex = tracking_number(by_token("fedex_ground"));
        assert_eq!(fedex.len(), 12);
        assert!(fedex.bytes().all(|b| b.is_ascii_digit()));
    }
}
