//! Dispatch configuration: where things are (environment) and the seller's shipping rules
//! (JSON): ship-from address, which carrier and policy per destination, parcels per SKU.

use std::collections::BTreeMap;

use serde::Deserialize;

use orderseal::carriers::{Parcel, ServicePolicy, ShipFrom};

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
    /// Per seller SKU: the packed size and weight of one unit.
    #[serde(default)]
    pub skus: BTreeMap<String, Parcel>,
}

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

    /// One box for the order: weights add up per unit; each side is the largest unit's side.
    pub fn parcel<'a>(&self, lines: impl IntoIterator<Item = (Option<&'a str>, u32)>) -> Parcel {
        let mut total: Option<Parcel> = None;
        for (sku, qty) in lines {
            let unit = sku
                .and_then(|s| self.skus.get(s))
                .unwrap_or(&self.default_parcel);
            let t = total.get_or_insert(Parcel {
                weight_grams: 0,
                length_mm: 0,
                width_mm: 0,
                height_mm: 0,
            });
            t.weight_grams += unit.weight_grams * qty.max(1);
            t.length_mm = t.length_mm.max(unit.length_mm);
            t.width_mm = t.width_mm.max(unit.width_mm);
            t.height_mm = t.height_mm.max(unit.height_mm);
        }
        total.unwrap_or(self.default_parcel)
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

    #[test]
    fn the_parcel_adds_weights_and_takes_the_largest_sides() {
        let p = rules().parcel([(Some("MUG"), 2), (Some("UNKNOWN"), 1)]);
        assert_eq!(p.weight_grams, 400 * 2 + 500);
        assert_eq!((p.length_mm, p.width_mm, p.height_mm), (250, 200, 120));
    }
}
