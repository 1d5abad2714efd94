//! A generic REST carrier (our documented minimal API, `tools/carrier-sandbox/src/generic.rs`):
//! quotes, then one create call that buys the label; `POST /v1/shipments/{id}/void` voids it.
//! Auth: `Bearer <key>`.

use serde_json::{Value, json};

use super::http::{JsonApi, client, str_at};
use super::{
    Carrier, CarrierError, MinimalShipment, Rate, ServicePolicy, ShipmentCreated, VoidOutcome,
    VoidStatus,
};
use crate::order::Money;
use crate::secret::SecretString;

/// Every field orderseal may send to the generic carrier.
pub const ALLOWED: &[&str] = &[
    "reference",
    "service",
    "recipient.name",
    "recipient.address_lines[]",
    "recipient.city",
    "recipient.region",
    "recipient.postal_code",
    "recipient.country",
    "recipient.phone",
    "parcel.weight_grams",
    "parcel.length_mm",
    "parcel.width_mm",
    "parcel.height_mm",
];

#[derive(Debug, Clone)]
pub struct GenericCarrier {
    api: JsonApi,
}

impl GenericCarrier {
    pub fn new(
        base_url: impl Into<String>,
        key: &SecretString,
        timeout: std::time::Duration,
    ) -> Self {
        Self {
            api: JsonApi {
                http: client(timeout),
                base_url: base_url.into(),
                authorization: SecretString::new(format!("Bearer {}", key.expose())),
                allowed: ALLOWED,
                error_code,
            },
        }
    }

    pub fn shipment_body(s: &MinimalShipment, service: Option<&str>) -> Value {
        let r = &s.recipient;
        let mut recipient = json!({
            "name": r.name.expose(),
            "address_lines": r.address_lines.iter().map(|l| l.expose()).collect::<Vec<_>>(),
            "city": r.city.expose(),
            "postal_code": r.postal_code.expose(),
            "country": r.country,
        });
        if let Some(region) = &r.region {
            recipient["region"] = json!(region.expose());
        }
        if let Some(phone) = &r.phone {
            recipient["phone"] = json!(phone.expose());
        }
        let mut body = json!({
            "reference": s.reference,
            "recipient": recipient,
            "parcel": {
                "weight_grams": s.parcel.weight_grams, "length_mm": s.parcel.length_mm,
                "width_mm": s.parcel.width_mm, "height_mm": s.parcel.height_mm,
            },
        });
        if let Some(service) = service {
            body["service"] = json!(service);
        }
        body
    }
}

fn error_code(v: &Value) -> Option<String> {
    str_at(v, &["code"])
        .or_else(|| str_at(v, &["error"]))
        .map(str::to_owned)
}

impl Carrier for GenericCarrier {
    fn name(&self) -> &'static str {
        "generic"
    }

    async fn create_shipment(
        &self,
        shipment: &MinimalShipment,
        policy: ServicePolicy,
        idempotency_key: &str,
    ) -> Result<ShipmentCreated, CarrierError> {
        let quotes = self
            .api
            .post(
                "/v1/quotes",
                &Self::shipment_body(shipment, None),
                &format!("{idempotency_key}:quote"),
            )
            .await?;
        let offered: Vec<Rate> = quotes["quotes"]
            .as_array()
            .map(|qs| {
                qs.iter()
                    .filter_map(|q| {
                        Some(Rate {
                            id: q["service"].as_str()?.to_owned(),
                            carrier: "generic".into(),
                            service: q["service"].as_str()?.to_owned(),
                            cost: Money {
                                amount: q["amount"].as_str()?.to_owned(),
                                currency_code: q["currency"].as_str().unwrap_or("USD").to_owned(),
                            },
                            days: q["days"].as_u64().map(|d| d as u32),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rate = policy.choose(&offered).ok_or(CarrierError::NoRates)?;
        let created = self
            .api
            .post(
                "/v1/shipments",
                &Self::shipment_body(shipment, Some(&rate.service)),
                &format!("{idempotency_key}:buy"),
            )
            .await?;
        let text = |k: &'static str| {
            str_at(&created, &[k])
                .map(str::to_owned)
                .ok_or(CarrierError::Decode(k))
        };
        Ok(ShipmentCreated {
            via: self.name().into(),
            carrier: text("carrier")?,
            service: text("service")?,
            tracking_number: text("tracking_number")?,
            // The shipment id, not the label URL (a bearer link to the address).
            label_ref: text("shipment_id")?,
            carrier_shipment_id: text("shipment_id")?,
            cost: Money {
                amount: str_at(&created, &["cost", "amount"])
                    .unwrap_or(&rate.cost.amount)
                    .to_owned(),
                currency_code: str_at(&created, &["cost", "currency"])
                    .unwrap_or(&rate.cost.currency_code)
                    .to_owned(),
            },
        })
    }

    async fn void_label(
        &self,
        label: &ShipmentCreated,
        idempotency_key: &str,
    ) -> Result<VoidOutcome, CarrierError> {
        let voided = self
            .api
            .post(
                &format!("/v1/shipments/{}/void", label.carrier_shipment_id),
                &json!({}),
                &format!("{idempotency_key}:void"),
            )
            .await?;
        let status = match str_at(&voided, &["void_status"]) {
            Some("voided") => VoidStatus::Refunded,
            Some("pending") => VoidStatus::Submitted,
            Some("rejected") => VoidStatus::Rejected,
            _ => return Err(CarrierError::Decode("void_status")),
        };
        Ok(VoidOutcome {
            status,
            refund_ref: str_at(&voided, &["void_id"]).map(str::to_owned),
        })
    }
}
