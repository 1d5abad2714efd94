//! Fraud rules at ingest, per seller, over a blind index.
//!
//! The index never holds an address or a name: it holds `HMAC-SHA256(key, normalised value)`
//! under a key kept in Secrets Manager, scoped per seller (`ADDR#<seller>#<hex>`). It lives on
//! the order's sealed-PII item (the `address-index` GSI projects it), so it is erased with the
//! PII by the sweep, an on-request erasure or the TTL backstop — it can never outlive it.
//!
//! Rules (each optional, per seller, `ORDERSEAL_FRAUD_RULES`):
//! * `high_value_new_address`: the order total is at least `min_total` and no other order
//!   still holding PII went to this address;
//! * `many_names_one_address`: more than `max_names` different recipient names at one address
//!   among the orders written within `window_days` (this one included);
//! * `postal_code_mismatch`: the postal code is not one the destination country uses;
//! * `repeated_cancellations`: at least `max` other orders to this address (still holding PII)
//!   were asked by their buyer to be cancelled.
//!
//! A match puts the order on HELD_FOR_REVIEW: dispatch buys nothing for it until a fraud
//! reviewer releases it (`orderseal fraud release|cancel`, audited).

use std::collections::{BTreeMap, BTreeSet};

use aws_lc_rs::hmac;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::classes::ShippingPii;

/// The order item's review state while held.
pub const HELD_FOR_REVIEW: &str = "HELD_FOR_REVIEW";
pub const RELEASED: &str = "RELEASED";
pub const CANCELLED: &str = "CANCELLED";

/// The GSI over the sealed-PII items' address key.
pub const ADDRESS_INDEX: &str = "address-index";

/// One seller's rules; absent rules are off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FraudRules {
    #[serde(default)]
    pub high_value_new_address: Option<HighValue>,
    #[serde(default)]
    pub many_names_one_address: Option<ManyNames>,
    #[serde(default)]
    pub postal_code_mismatch: bool,
    #[serde(default)]
    pub repeated_cancellations: Option<Repeated>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HighValue {
    /// In the order's currency, e.g. "500.00".
    pub min_total: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManyNames {
    pub max_names: u32,
    pub window_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeated {
    pub max: u32,
}

/// The rules of every seller: a default and per-seller replacements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FraudConfig {
    #[serde(default)]
    pub default: FraudRules,
    #[serde(default)]
    pub sellers: BTreeMap<String, FraudRules>,
}

impl FraudConfig {
    pub fn parse(json: &str) -> Result<Self, String> {
        let c: Self = serde_json::from_str(json).map_err(|e| format!("fraud rules: {e}"))?;
        for r in std::iter::once(&c.default).chain(c.sellers.values()) {
            if let Some(h) = &r.high_value_new_address {
                cents(&h.min_total).ok_or_else(|| {
                    format!("fraud rules: min_total {:?} is not an amount", h.min_total)
                })?;
            }
            if r.repeated_cancellations
                .as_ref()
                .is_some_and(|c| c.max == 0)
            {
                return Err(
                    "fraud rules: repeated_cancellations max >= 1 (0 would hold every order)"
                        .into(),
                );
            }
            if let Some(m) = &r.many_names_one_address
                && (m.max_names == 0 || m.window_days == 0 || m.window_days > 30)
            {
                return Err("fraud rules: max_names >= 1 and window_days 1..=30 (the index lives as long as the PII)".into());
            }
        }
        Ok(c)
    }

    pub fn for_seller(&self, seller_id: &str) -> &FraudRules {
        self.sellers.get(seller_id).unwrap_or(&self.default)
    }
}

impl FraudRules {
    pub fn any(&self) -> bool {
        self.high_value_new_address.is_some()
            || self.many_names_one_address.is_some()
            || self.postal_code_mismatch
            || self.repeated_cancellations.is_some()
    }

    /// Whether evaluating needs the address index.
    pub fn uses_index(&self) -> bool {
        self.high_value_new_address.is_some()
            || self.many_names_one_address.is_some()
            || self.repeated_cancellations.is_some()
    }
}

/// An amount in hundredths ("59.98" → 5998); `None` for anything else.
pub fn cents(amount: &str) -> Option<i64> {
    let (whole, frac) = amount.trim().split_once('.').unwrap_or((amount.trim(), ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || whole.len() > 12
    {
        return None;
    }
    let frac = format!("{frac:0<2}");
    Some(whole.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?)
}

/// Words spelled more than one way in addresses, to their one form.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("STREET", "ST"),
    ("STR", "ST"),
    ("AVENUE", "AVE"),
    ("AV", "AVE"),
    ("ROAD", "RD"),
    ("DRIVE", "DR"),
    ("BOULEVARD", "BLVD"),
    ("LANE", "LN"),
    ("COURT", "CT"),
    ("PLACE", "PL"),
    ("SQUARE", "SQ"),
    ("TERRACE", "TER"),
    ("HIGHWAY", "HWY"),
    ("PARKWAY", "PKWY"),
    ("CIRCLE", "CIR"),
    ("APARTMENT", "APT"),
    ("SUITE", "STE"),
    ("UNIT", "APT"),
    ("NUMBER", "NO"),
    ("NORTH", "N"),
    ("SOUTH", "S"),
    ("EAST", "E"),
    ("WEST", "W"),
];

/// Upper case (Unicode compatibility-folded), punctuation as spaces, one space between words,
/// the abbreviations above applied. In a wiped buffer.
pub fn normalise(text: &str) -> Zeroizing<String> {
    let folded: String = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc()
        .normalize(text)
        .to_uppercase();
    let folded = Zeroizing::new(folded);
    let spaced: Zeroizing<String> = Zeroizing::new(
        folded
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect(),
    );
    let mut out = Zeroizing::new(String::with_capacity(spaced.len()));
    for word in spaced.split_whitespace() {
        let word = ABBREVIATIONS
            .iter()
            .find(|(long, _)| *long == word)
            .map_or(word, |(_, short)| short);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The address as the index keys it: lines, city, region, postal code (US: the 5-digit ZIP),
/// country, each normalised. `None` without a first line or a postal code.
pub fn address_text(s: &ShippingPii) -> Option<Zeroizing<String>> {
    let line1 = s.address_line1.as_ref()?.expose();
    let postal = s.postal_code.as_ref()?.expose();
    let country = s.country_code.as_deref().unwrap_or("");
    let postal = normalise(postal);
    let postal: &str = if country.eq_ignore_ascii_case("US") {
        postal.get(..5).unwrap_or(&postal)
    } else {
        &postal
    };
    let e = |p: &Option<crate::pii::PiiString>| p.as_ref().map(|v| normalise(v.expose()));
    let mut out = Zeroizing::new(String::new());
    for part in [
        Some(normalise(line1)),
        e(&s.address_line2),
        e(&s.address_line3),
        e(&s.city),
        e(&s.state_or_region),
    ]
    .into_iter()
    .flatten()
    {
        out.push_str(&part);
        out.push('|');
    }
    out.push_str(postal);
    out.push('|');
    out.push_str(&country.to_ascii_uppercase());
    Some(out)
}

/// The keyed, one-way index: without the key an entry reveals nothing, not even whether two
/// sellers' customers share an address (the seller is in the MAC input).
pub struct BlindIndex {
    key: hmac::Key,
}

impl std::fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndex([key])")
    }
}

impl BlindIndex {
    /// At least 32 bytes of key material.
    pub fn new(key: &[u8]) -> Result<Self, String> {
        if key.len() < 32 {
            return Err("the blind-index key must be at least 32 bytes".into());
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        })
    }

    fn mac(&self, kind: &str, seller_id: &str, text: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        for part in [kind, seller_id, text] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        let tag = ctx.sign();
        let hex: String = tag.as_ref()[..20]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{kind}#{seller_id}#{hex}")
    }

    /// The address key (`ADDR#<seller>#<hex>`), if the address has a line and a postal code.
    pub fn address_key(&self, seller_id: &str, s: &ShippingPii) -> Option<String> {
        address_text(s).map(|t| self.mac("ADDR", seller_id, &t))
    }

    /// The recipient name's key (`NAME#<seller>#<hex>`).
    pub fn name_key(&self, seller_id: &str, s: &ShippingPii) -> Option<String> {
        let name = s.name.as_ref()?.expose();
        let n = normalise(name);
        (!n.is_empty()).then(|| self.mac("NAME", seller_id, &n))
    }
}

/// An order's blind-index keys, as its sealed-PII item carries them.
#[derive(Clone, PartialEq, Eq)]
pub struct IndexKeys {
    pub address: String,
    pub name: Option<String>,
    /// When they were written (the order version's time, epoch ms).
    pub at_ms: i64,
}

impl std::fmt::Debug for IndexKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexKeys([keyed])")
    }
}

/// Where the blind-index key comes from: Secrets Manager in a deployment (read once per
/// container, on the first order a rule needs it for), or given (tests, benches).
pub enum KeySource {
    Given(Vec<u8>),
    #[cfg(feature = "secrets")]
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
    },
}

/// The rules of a deployment and the key of its index.
pub struct FraudCheck {
    pub config: FraudConfig,
    source: KeySource,
    index: tokio::sync::OnceCell<BlindIndex>,
}

impl std::fmt::Debug for FraudCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FraudCheck")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the blind-index key is unavailable: {0}")]
pub struct KeyUnavailable(pub String);

impl FraudCheck {
    pub fn new(config: FraudConfig, source: KeySource) -> Self {
        Self {
            config,
            source,
            index: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn index(&self) -> Result<&BlindIndex, KeyUnavailable> {
        self.index
            .get_or_try_init(|| async {
                match &self.source {
                    KeySource::Given(k) => BlindIndex::new(k).map_err(KeyUnavailable),
                    #[cfg(feature = "secrets")]
                    KeySource::SecretsManager { client, secret_id } => {
                        let out = client
                            .get_secret_value()
                            .secret_id(secret_id)
                            .send()
                            .await
                            .map_err(|e| KeyUnavailable(crate::aws::error_code(&e)))?;
                        let key = Zeroizing::new(
                            out.secret_string()
                                .ok_or_else(|| KeyUnavailable("no secret string".into()))?
                                .as_bytes()
                                .to_vec(),
                        );
                        BlindIndex::new(&key).map_err(KeyUnavailable)
                    }
                }
            })
            .await
    }
}

/// Whether `postal` is a postal code `country` uses (format only; countries without a rule
/// here pass).
pub fn postal_code_fits(country: &str, postal: &str) -> bool {
    let p = postal.trim().to_ascii_uppercase();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match country.to_ascii_uppercase().as_str() {
        "US" => match p.split_once('-') {
            Some((zip, plus4)) => digits(zip, 5) && digits(plus4, 4),
            None => digits(&p, 5) || digits(&p, 9),
        },
        "DE" | "FR" | "ES" | "IT" | "MX" => digits(&p, 5),
        "AT" | "BE" | "DK" | "AU" | "CH" | "NO" => digits(&p, 4),
        "JP" => {
            let compact: String = p.chars().filter(|c| *c != '-').collect();
            digits(&compact, 7)
        }
        "CA" => {
            let c: Vec<u8> = p.bytes().filter(|b| *b != b' ').collect();
            c.len() == 6
                && c.iter().enumerate().all(|(i, b)| {
                    if i % 2 == 0 {
                        b.is_ascii_uppercase()
                    } else {
                        b.is_ascii_digit()
                    }
                })
        }
        "GB" => {
            let c: Vec<u8> = p.bytes().filter(|b| *b != b' ').collect();
            (5..=7).contains(&c.len())
                && c[0].is_ascii_uppercase()
                && c[c.len() - 3].is_ascii_digit()
                && c[c.len() - 2..].iter().all(u8::is_ascii_uppercase)
                && c.iter().all(u8::is_ascii_alphanumeric)
        }
        _ => true,
    }
}

/// Another order at the same address, as the index returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prior {
    pub order_id: String,
    pub name_key: Option<String>,
    /// When its PII was written (epoch ms).
    pub written_ms: i64,
    pub cancel_requested: bool,
}

/// What the rules see of the order being ingested.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub order_id: &'a str,
    pub total: Option<&'a crate::order::Money>,
    pub name_key: Option<&'a str>,
    pub country: Option<&'a str>,
    pub postal_code: Option<&'a str>,
}

/// The rules `c` matches, by name, given the other orders at its address (itself excluded).
pub fn evaluate(
    rules: &FraudRules,
    c: &Candidate<'_>,
    priors: &[Prior],
    now_ms: i64,
) -> Vec<&'static str> {
    let others: Vec<&Prior> = priors.iter().filter(|p| p.order_id != c.order_id).collect();
    let mut hits = Vec::new();
    if let Some(h) = &rules.high_value_new_address
        && let (Some(min), Some(total)) =
            (cents(&h.min_total), c.total.and_then(|t| cents(&t.amount)))
        && total >= min
        && others.is_empty()
    {
        hits.push("high_value_new_address");
    }
    if let Some(m) = &rules.many_names_one_address {
        let since = now_ms - i64::from(m.window_days) * 86_400_000;
        let names: BTreeSet<&str> = others
            .iter()
            .filter(|p| p.written_ms >= since)
            .filter_map(|p| p.name_key.as_deref())
            .chain(c.name_key)
            .collect();
        if names.len() > m.max_names as usize {
            hits.push("many_names_one_address");
        }
    }
    if rules.postal_code_mismatch
        && let (Some(country), Some(postal)) = (c.country, c.postal_code)
        && !postal_code_fits(country, postal)
    {
        hits.push("postal_code_mismatch");
    }
    if let Some(r) = &rules.repeated_cancellations
        && others.iter().filter(|p| p.cancel_requested).count() >= r.max as usize
    {
        hits.push("repeated_cancellations");
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pii::PiiString;

    fn address(line1: &str, line2: Option<&str>, city: &str, postal: &str) -> ShippingPii {
        ShippingPii {
            name: Some(PiiString::new("Jane Doe")),
            address_line1: Some(PiiString::new(line1)),
            address_line2: line2.map(PiiString::new),
            city: Some(PiiString::new(city)),
            state_or_region: Some(PiiString::new("WA")),
            postal_code: Some(PiiString::new(postal)),
            country_code: Some("US".into()),
            ..Default::default()
        }
    }

    fn index() -> BlindIndex {
        BlindIndex::new(&[7u8; 32]).unwrap()
    }

    #[test]
    fn spellings_of_one_address_share_a_key_and_other_addresses_do_not() {
        let ix = index();
        let key = |s: &ShippingPii| ix.address_key("S1", s).unwrap();
        let base = key(&address(
            "123 Main Street",
            Some("Apartment 4"),
            "Seattle",
            "98101",
        ));
        for same in [
            address("123 MAIN ST", Some("Apt 4"), "SEATTLE", "98101"),
            address(
                "  123  main   st. ",
                Some("apt. 4"),
                "seattle",
                "98101-1234",
            ),
            address("１２３ Main Street", Some("Unit 4"), "Seattle", "98101"),
            address("123 Main St,", Some("#  APT 4"), "Seattle ", "98101"),
        ] {
            assert_eq!(key(&same), base);
        }
        for other in [
            address("124 Main Street", Some("Apartment 4"), "Seattle", "98101"),
            address("123 Main Street", Some("Apartment 5"), "Seattle", "98101"),
            address("123 Main Street", Some("Apartment 4"), "Tacoma", "98101"),
            address("123 Main Street", Some("Apartment 4"), "Seattle", "98102"),
            address("123 Main Avenue", Some("Apartment 4"), "Seattle", "98101"),
        ] {
            assert_ne!(key(&other), base);
        }
        // Another seller's index never matches this one's.
        assert_ne!(
            ix.address_key(
                "S2",
                &address("123 Main Street", Some("Apartment 4"), "Seattle", "98101")
            ),
            Some(base)
        );
    }

    #[test]
    fn the_index_reveals_nothing_without_the_key() {
        let a = address("123 Main Street", None, "Seattle", "98101");
        let k = index().address_key("S1", &a).unwrap();
        for word in ["123", "MAIN", "Main", "SEATTLE", "98101", "Jane", "JANE"] {
            assert!(!k.contains(word), "{k} shows {word}");
        }
        // The same address under another key: unrelated.
        let other = BlindIndex::new(&[8u8; 32])
            .unwrap()
            .address_key("S1", &a)
            .unwrap();
        assert_ne!(k, other);
        assert_eq!(k.len(), "ADDR#S1#".len() + 40);
        assert!(BlindIndex::new(&[0u8; 16]).is_err());
        assert!(!format!("{:?}", index()).contains('7'));
    }

    #[test]
    fn names_fold_case_spacing_and_punctuation() {
        let ix = index();
        let named = |n: &str| {
            let mut s = address("1 A St", None, "X", "98101");
            s.name = Some(PiiString::new(n));
            ix.name_key("S1", &s).unwrap()
        };
        assert_eq!(named("Jane Doe"), named("  JANE   doe."));
        assert_ne!(named("Jane Doe"), named("John Doe"));
    }

    #[test]
    fn postal_codes_are_checked_against_the_destination() {
        for (country, ok) in [
            ("US", "98101"),
            ("US", "98101-1234"),
            ("CA", "K1A 0B1"),
            ("GB", "SW1A 1AA"),
            ("DE", "10115"),
            ("JP", "100-0001"),
        ] {
            assert!(postal_code_fits(country, ok), "{country} {ok}");
        }
        for (country, bad) in [
            ("US", "K1A 0B1"),
            ("US", "9810"),
            ("CA", "98101"),
            ("GB", "98101"),
            ("DE", "1011"),
            ("JP", "98101"),
        ] {
            assert!(!postal_code_fits(country, bad), "{country} {bad}");
        }
        assert!(postal_code_fits("ZZ", "anything"));
    }

    fn money(a: &str) -> crate::order::Money {
        crate::order::Money {
            amount: a.into(),
            currency_code: "USD".into(),
        }
    }

    #[test]
    fn each_rule_matches_only_its_case() {
        let rules = FraudConfig::parse(
            r#"{"default":{"high_value_new_address":{"min_total":"500.00"},"many_names_one_address":{"max_names":2,"window_days":30},"postal_code_mismatch":true,"repeated_cancellations":{"max":2}}}"#,
        )
        .unwrap()
        .default;
        let now = 100 * 86_400_000;
        let total = money("750.00");
        let small = money("499.99");
        let c = |order_id, total, name_key, _cancel: bool| Candidate {
            order_id,
            total,
            name_key,
            country: Some("US"),
            postal_code: Some("98101"),
        };
        let prior = |id: &str, name: &str, days_ago: i64, cancel: bool| Prior {
            order_id: id.into(),
            name_key: Some(name.into()),
            written_ms: now - days_ago * 86_400_000,
            cancel_requested: cancel,
        };
        assert_eq!(
            evaluate(&rules, &c("o", Some(&total), Some("n1"), false), &[], now),
            ["high_value_new_address"]
        );
        assert!(evaluate(&rules, &c("o", Some(&small), Some("n1"), false), &[], now).is_empty());
        // Its own index entry (a re-delivered notification) does not make the address known.
        assert_eq!(
            evaluate(
                &rules,
                &c("o", Some(&total), Some("n1"), false),
                &[prior("o", "n1", 0, false)],
                now
            ),
            ["high_value_new_address"]
        );
        assert!(
            evaluate(
                &rules,
                &c("o", Some(&total), Some("n1"), false),
                &[prior("p", "n1", 1, false)],
                now
            )
            .is_empty()
        );
        // Three names at one address within 30 days; the fourth name 40 days ago does not count.
        let priors = [
            prior("p", "n2", 1, false),
            prior("q", "n3", 2, false),
            prior("r", "n4", 40, false),
        ];
        assert_eq!(
            evaluate(
                &rules,
                &c("o", Some(&small), Some("n1"), false),
                &priors,
                now
            ),
            ["many_names_one_address"]
        );
        assert!(
            evaluate(
                &rules,
                &c("o", Some(&small), Some("n2"), false),
                &priors[..2],
                now
            )
            .is_empty()
        );
        let mut bad = c("o", Some(&small), Some("n1"), false);
        bad.postal_code = Some("K1A 0B1");
        assert_eq!(
            evaluate(&rules, &bad, &[prior("p", "n1", 1, false)], now),
            ["postal_code_mismatch"]
        );
        let cancels = [prior("p", "n1", 1, true), prior("q", "n1", 2, true)];
        assert_eq!(
            evaluate(
                &rules,
                &c("o", Some(&small), Some("n1"), true),
                &cancels,
                now
            ),
            ["repeated_cancellations"]
        );
        assert!(
            evaluate(
                &rules,
                &c("o", Some(&small), Some("n1"), true),
                &cancels[..1],
                now
            )
            .is_empty()
        );
        assert!(evaluate(&FraudRules::default(), &bad, &[], now).is_empty());
    }

    #[test]
    fn configuration_is_checked() {
        assert!(
            FraudConfig::parse(r#"{"default":{"high_value_new_address":{"min_total":"lots"}}}"#)
                .is_err()
        );
        assert!(
            FraudConfig::parse(
                r#"{"default":{"many_names_one_address":{"max_names":2,"window_days":90}}}"#
            )
            .is_err()
        );
        assert!(FraudConfig::parse(r#"{"default":{"unknown_rule":true}}"#).is_err());
        assert!(FraudConfig::parse(r#"{"default":{"repeated_cancellations":{"max":0}}}"#).is_err());
        let c = FraudConfig::parse(r#"{"sellers":{"S9":{"postal_code_mismatch":true}}}"#).unwrap();
        assert!(c.for_seller("S9").postal_code_mismatch);
        assert!(!c.for_seller("S1").any());
        assert_eq!(cents("59.98"), Some(5998));
        assert_eq!(cents("7"), Some(700));
        assert_eq!(cents("7.5"), Some(750));
        assert_eq!(cents("-1"), None);
        assert_eq!(cents("1.234"), None);
    }
}
