//! Dispatch configuration: where things are (environment) and the seller's shipping rules
//! (JSON): ship-from address, which carrier and policy per destination, parcels per SKU.

use std::collections::BTreeMap;

use serde::Deserialize;

use orderseal::carriers::{Parcel, ServicePolicy, ShipFrom};
use orderseal::dispatch::{DispatchLine, PackageItem};

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The adapter: `easypost`, `shippo` or `generic`.
    pub carrier: String,
    pub policy: ServicePolicy,
    /// Whether this route's services need the recipient's phone (e.g. express services).
    #[serde(default)]
    pub phone_required: bool,
}

/// The seller's shipping rules.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ShippingRules {
    pub ship_from: ShipFrom,
    pub default_route: Route,
    /// Per destination country (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub routes: BTreeMap<String, Route>,
    pub default_parcel: Parcel,
    /// Per seller SKU: the packed size and weight of one unit, and whether it ships in
    /// packages of its own.
    #[serde(default)]
    pub skus: BTreeMap<String, SkuRule>,
}

/// How one seller SKU is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuRule {
    /// One unit's weight.
    pub weight_grams: u32,
    /// One unit's packed size; with `units_per_package`, the size of the package it ships in.
    pub length_mm: u32,
    pub width_mm: u32,
    pub height_mm: u32,
    /// The SKU ships in packages of its own, this many units each (1: every unit alone, e.g.
    /// a bulky or hazardous item); without it, it shares the order's one mixed package.
    #[serde(default)]
    pub units_per_package: Option<std::num::NonZeroU32>,
}

impl SkuRule {
    fn unit(&self) -> Parcel {
        Parcel {
            weight_grams: self.weight_grams,
            length_mm: self.length_mm,
            width_mm: self.width_mm,
            height_mm: self.height_mm,
        }
    }
}

/// The most packages one order is split into: beyond that the rules (or the order) need a
/// person, and the request is quarantined with its reason instead of buying that many labels.
pub const MAX_PACKAGES: usize = 20;

/// A package of the plan before it has a reference and key: its parcel and items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub parcel: Parcel,
    pub items: Vec<PackageItem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the order would ship as {0} packages (at most {MAX_PACKAGES})")]
pub struct TooManyPackages(pub u64);

impl ShippingRules {
    pub fn route(&self, country: Option<&str>) -> &Route {
        country
            .and_then(|c| self.routes.get(c))
            .unwrap_or(&self.default_route)
    }

    /// Carriers commonly require the recipient's phone across borders (UPS: ship-to ≠
    /// ship-from country); within the country only when the route says so.
    pub fn phone_required(&self, route: &Route, country: Option<&str>) -> bool {
        route.phone_required || country.is_some_and(|c| c != self.ship_from.country)
    }

    /// One box for `lines`: weights add up per unit; each side is the largest unit's side.
    pub fn parcel<'a>(&self, lines: impl IntoIterator<Item = (Option<&'a str>, u32)>) -> Parcel {
        let mut total: Option<Parcel> = None;
        for (sku, qty) in lines {
            let unit = sku
                .and_then(|s| self.skus.get(s))
                .map(SkuRule::unit)
                .unwrap_or(self.default_parcel);
            let t = total.get_or_insert(Parcel {
                weight_grams: 0,
                length_mm: 0,
                width_mm: 0,
                height_mm: 0,
            });
            t.weight_grams = t
                .weight_grams
                .saturating_add(unit.weight_grams.saturating_mul(qty.max(1)));
            t.length_mm = t.length_mm.max(unit.length_mm);
            t.width_mm = t.width_mm.max(unit.width_mm);
            t.height_mm = t.height_mm.max(unit.height_mm);
        }
        total.unwrap_or(self.default_parcel)
    }

    /// The order's packages, always the same for the same lines and rules: first one mixed
    /// package with every line whose SKU has no `units_per_package` (if there is any), then,
    /// line by line, the packages of SKUs that ship on their own, `units_per_package` units
    /// each (the last one takes what is left). Every ordered unit is in exactly one package.
    pub fn packages(&self, lines: &[DispatchLine]) -> Result<Vec<Package>, TooManyPackages> {
        let own = |l: &DispatchLine| {
            l.seller_sku
                .as_deref()
                .and_then(|s| self.skus.get(s))
                .and_then(|r| r.units_per_package.map(|n| (r, n.get())))
                // A line of no units has nothing to pack on its own.
                .filter(|_| l.quantity > 0)
        };
        let count: u64 = lines
            .iter()
            .map(|l| match own(l) {
                Some((_, per)) => u64::from(l.quantity.div_ceil(per)),
                None => 0,
            })
            .sum::<u64>()
            + u64::from(lines.iter().any(|l| own(l).is_none()));
        if count > MAX_PACKAGES as u64 {
            return Err(TooManyPackages(count));
        }
        let item = |l: &DispatchLine, quantity| PackageItem {
            order_item_id: l.order_item_id.clone(),
            quantity,
        };
        let mixed: Vec<&DispatchLine> = lines.iter().filter(|l| own(l).is_none()).collect();
        let mut packages = Vec::new();
        if !mixed.is_empty() {
            packages.push(Package {
                parcel: self.parcel(mixed.iter().map(|l| (l.seller_sku.as_deref(), l.quantity))),
                items: mixed.iter().map(|l| item(l, l.quantity)).collect(),
            });
        }
        for line in lines {
            let Some((rule, per)) = own(line) else {
                continue;
            };
            let mut left = line.quantity;
            while left > 0 {
                let units = left.min(per);
                let mut parcel = rule.unit();
                parcel.weight_grams = parcel.weight_grams.saturating_mul(units);
                packages.push(Package {
                    parcel,
                    items: vec![item(line, units)],
                });
                left -= units;
            }
        }
        Ok(packages)
    }
}

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    pub table: String,
    pub pii_key_id: String,
    pub lwa_secret_id: String,
    pub spapi_endpoint: String,
    pub lwa_endpoint: String,
    /// Secrets Manager secret with the carrier credentials:
    /// `{"easypost": "<api key>", "shippo": "<token>", "generic": "<key>"}`.
    pub carrier_secret_id: String,
    pub easypost_url: String,
    pub shippo_url: String,
    pub generic_url: Option<String>,
    /// Longest a single carrier request may take before it is retried with the same key.
    pub carrier_timeout: std::time::Duration,
    pub rules: ShippingRules,
    pub retention: orderseal::order::RetentionPolicy,
    /// The shipments DLQ: requests that can never succeed go there at once with their reason.
    pub quarantine_queue_url: Option<String>,
    /// Where sellers' refresh tokens live (`ORDERSEAL_SELLER_SECRET_PREFIX`).
    pub seller_secret_prefix: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1}")]
    Invalid(&'static str, String),
}

fn endpoint(k: &'static str, v: String) -> Result<String, ConfigError> {
    if orderseal::config::is_https_or_loopback(&v) {
        Ok(v)
    } else {
        Err(ConfigError::Invalid(
            k,
            "must be https (or http on loopback)".into(),
        ))
    }
}

impl DispatchConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let req = |k: &'static str| {
            get(k)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(k))
        };
        let rules_json = req("ORDERSEAL_SHIPPING_RULES")?;
        let rules: ShippingRules = serde_json::from_str(&rules_json).map_err(|e| {
            ConfigError::Invalid(
                "ORDERSEAL_SHIPPING_RULES",
                format!("line {} column {}", e.line(), e.column()),
            )
        })?;
        for route in std::iter::once(&rules.default_route).chain(rules.routes.values()) {
            if !["easypost", "shippo", "generic"].contains(&route.carrier.as_str()) {
                return Err(ConfigError::Invalid(
                    "ORDERSEAL_SHIPPING_RULES",
                    format!("unknown carrier adapter {:?}", route.carrier),
                ));
            }
        }
        let retention = orderseal::config::retention_policy(&get)
            .map_err(|(k, why)| ConfigError::Invalid(k, why.into()))?;
        Ok(Self {
            retention,
            table: req("ORDERSEAL_TABLE")?,
            pii_key_id: req("ORDERSEAL_PII_KEY_ID")?,
            lwa_secret_id: req("ORDERSEAL_LWA_SECRET_ID")?,
            spapi_endpoint: endpoint("ORDERSEAL_SPAPI_ENDPOINT", req("ORDERSEAL_SPAPI_ENDPOINT")?)?,
            lwa_endpoint: endpoint("ORDERSEAL_LWA_ENDPOINT", req("ORDERSEAL_LWA_ENDPOINT")?)?,
            carrier_secret_id: req("ORDERSEAL_CARRIER_SECRET_ID")?,
            easypost_url: endpoint(
                "ORDERSEAL_EASYPOST_URL",
                get("ORDERSEAL_EASYPOST_URL").unwrap_or_else(|| "https://api.easypost.com".into()),
            )?,
            shippo_url: endpoint(
                "ORDERSEAL_SHIPPO_URL",
                get("ORDERSEAL_SHIPPO_URL").unwrap_or_else(|| "https://api.goshippo.com".into()),
            )?,
            generic_url: get("ORDERSEAL_GENERIC_CARRIER_URL")
                .filter(|v| !v.is_empty())
                .map(|v| endpoint("ORDERSEAL_GENERIC_CARRIER_URL", v))
                .transpose()?,
            carrier_timeout: std::time::Duration::from_millis(
                get("ORDERSEAL_CARRIER_TIMEOUT_MS")
                    .map(|v| {
                        v.parse::<u64>().map_err(|_| {
                            ConfigError::Invalid(
                                "ORDERSEAL_CARRIER_TIMEOUT_MS",
                                "expected milliseconds".into(),
                            )
                        })
                    })
                    .transpose()?
                    .unwrap_or(10_000),
            ),
            rules,
            quarantine_queue_url: get("ORDERSEAL_QUARANTINE_QUEUE_URL").filter(|v| !v.is_empty()),
            seller_secret_prefix: get("ORDERSEAL_SELLER_SECRET_PREFIX").filter(|v| !v.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rules() -> ShippingRules {
        serde_json::from_value(serde_json::json!({
            "ship_from": {"name": "Seller Co", "address_lines": ["2 Dock Rd"], "city": "Tacoma",
                "region": "WA", "postal_code": "98402", "country": "US", "phone": "+1 253 555 0100"},
            "default_route": {"carrier": "easypost", "policy": "cheapest"},
            "routes": {"CA": {"carrier": "shippo", "policy": "fastest"}},
            "default_parcel": {"weight_grams": 500, "length_mm": 250, "width_mm": 200, "height_mm": 100},
            "skus": {"MUG": {"weight_grams": 400, "length_mm": 150, "width_mm": 150, "height_mm": 120}}
        }))
        .unwrap()
    }

    #[test]
    fn routes_fall_back_to_the_default_and_phone_follows_the_border() {
        let r = rules();
        assert_eq!(r.route(Some("CA")).carrier, "shippo");
        assert_eq!(r.route(Some("US")).carrier, "easypost");
        assert_eq!(r.route(None).carrier, "easypost");
        assert!(!r.phone_required(r.route(Some("US")), Some("US")));
        assert!(r.phone_required(r.route(Some("CA")), Some("CA")));
    }

    fn line(id: &str, sku: &str, quantity: u32) -> DispatchLine {
        DispatchLine {
            order_item_id: id.into(),
            seller_sku: Some(sku.into()),
            quantity,
        }
    }

    fn split_rules() -> ShippingRules {
        let mut r = rules();
        let rule = |w, per| SkuRule {
            weight_grams: w,
            length_mm: 600,
            width_mm: 400,
            height_mm: 400,
            units_per_package: std::num::NonZeroU32::new(per),
        };
        r.skus.insert("LAMP".into(), rule(3000, 1));
        r.skus.insert("TILE".into(), rule(1000, 4));
        r
    }

    #[test]
    fn skus_that_ship_alone_get_packages_of_their_own_and_the_rest_share_one() {
        let r = split_rules();
        let lines = [
            line("A", "MUG", 2),
            line("B", "LAMP", 2),
            line("C", "TILE", 9),
            line("D", "UNKNOWN", 1),
        ];
        let p = r.packages(&lines).unwrap();
        let items: Vec<Vec<(&str, u32)>> = p
            .iter()
            .map(|p| {
                p.items
                    .iter()
                    .map(|i| (i.order_item_id.as_str(), i.quantity))
                    .collect()
            })
            .collect();
        assert_eq!(
            items,
            vec![
                vec![("A", 2), ("D", 1)],
                vec![("B", 1)],
                vec![("B", 1)],
                vec![("C", 4)],
                vec![("C", 4)],
                vec![("C", 1)],
            ]
        );
        assert_eq!(
            p[0].parcel,
            r.parcel([(Some("MUG"), 2), (Some("UNKNOWN"), 1)])
        );
        assert_eq!(p[1].parcel.weight_grams, 3000);
        assert_eq!(p[3].parcel.weight_grams, 4000);
        assert_eq!(p[5].parcel.weight_grams, 1000);
        assert_eq!(p[5].parcel.length_mm, 600);
        // The same lines always give the same plan (a retry recomputes nothing different).
        assert_eq!(r.packages(&lines).unwrap(), p);
        // Without rules for it, an order is one package, as before.
        assert_eq!(r.packages(&lines[..1]).unwrap().len(), 1);
        assert_eq!(r.packages(&[line("B", "LAMP", 1)]).unwrap().len(), 1);
    }

    #[test]
    fn an_order_that_would_need_too_many_packages_is_refused_and_big_numbers_do_not_overflow() {
        let r = split_rules();
        let max = u32::try_from(MAX_PACKAGES).unwrap();
        assert_eq!(
            r.packages(&[line("B", "LAMP", max)]).unwrap().len(),
            MAX_PACKAGES
        );
        assert_eq!(
            r.packages(&[line("B", "LAMP", max), line("A", "MUG", 1)]),
            Err(TooManyPackages(u64::from(max) + 1))
        );
        assert_eq!(
            r.packages(&[line("B", "LAMP", u32::MAX), line("C", "TILE", u32::MAX)]),
            Err(TooManyPackages(
                u64::from(u32::MAX) + u64::from(u32::MAX.div_ceil(4))
            ))
        );
        let heavy = r.packages(&[line("A", "MUG", u32::MAX)]).unwrap();
        assert_eq!(heavy[0].parcel.weight_grams, u32::MAX);
        // A line of no units ships in the mixed package, never in packages of its own.
        assert_eq!(r.packages(&[line("B", "LAMP", 0)]).unwrap().len(), 1);
    }

    #[test]
    fn the_parcel_adds_weights_and_takes_the_largest_sides() {
        let p = rules().parcel([(Some("MUG"), 2), (Some("UNKNOWN"), 1)]);
        assert_eq!(p.weight_grams, 400 * 2 + 500);
        assert_eq!((p.length_mm, p.width_mm, p.height_mm), (250, 200, 120));
    }
}
