//! Shippo: create a shipment (synchronous rates), then a transaction for the chosen rate; a
//! refund for the transaction voids it.
//! Auth: `ShippoToken <token>`.

use serde_json::{Value, json};

use super::http::{JsonApi, client, inches, ounces, recipient_address, ship_from_address, str_at};
use super::{
    Carrier, CarrierError, MinimalShipment, Rate, ServicePolicy, ShipmentCreated, VoidOutcome,
    VoidStatus,
};
use crate::order::Money;
use crate::secret::SecretString;

/// Every field orderseal may send to Shippo.
pub const ALLOWED: &[&str] = &[
    "address_to.name",
    "address_to.street1",
    "address_to.street2",
    "address_to.city",
    "address_to.state",
    "address_to.zip",
    "address_to.country",
    "address_to.phone",
    "address_from.name",
    "address_from.street1",
    "address_from.street2",
    "address_from.city",
    "address_from.state",
    "address_from.zip",
    "address_from.country",
    "address_from.phone",
    "parcels[].length",
    "parcels[].width",
    "parcels[].height",
    "parcels[].distance_unit",
    "parcels[].weight",
    "parcels[].mass_unit",
    "metadata",
    "async",
    "rate",
    "transaction",
    "label_file_type",
];

#[derive(Debug, Clone)]
pub struct Shippo {
    api: JsonApi,
}

impl Shippo {
    /// `base_url`: `https://api.goshippo.com` (or a sandbox).
    pub fn new(
        base_url: impl Into<String>,
        token: &SecretString,
        timeout: std::time::Duration,
    ) -> Self {
        Self {
            api: JsonApi {
                http: client(timeout),
                base_url: base_url.into(),
                authorization: SecretString::new(format!("ShippoToken {}", token.expose())),
                allowed: ALLOWED,
                error_code,
            },
        }
    }

    pub fn shipment_body(s: &MinimalShipment) -> Value {
        json!({
            "address_from": ship_from_address(&s.ship_from),
            "address_to": recipient_address(&s.recipient),
            "parcels": [{
                "length": format!("{:.1}", inches(s.parcel.length_mm)),
                "width": format!("{:.1}", inches(s.parcel.width_mm)),
                "height": format!("{:.1}", inches(s.parcel.height_mm)),
                "distance_unit": "in",
                "weight": format!("{:.1}", ounces(s.parcel.weight_grams)),
                "mass_unit": "oz",
            }],
            "metadata": s.reference,
            "async": false,
        })
    }
}

fn error_code(v: &Value) -> Option<String> {
    str_at(v, &["code"]).map(str::to_owned)
}

fn rates(shipment: &Value) -> Vec<Rate> {
    shipment["rates"]
        .as_array()
        .map(|rates| {
            rates
                .iter()
                .filter_map(|r| {
                    Some(Rate {
                        id: r["object_id"].as_str()?.to_owned(),
                        carrier: r["provider"].as_str()?.to_owned(),
                        service: r["servicelevel"]["token"].as_str()?.to_owned(),
                        cost: Money {
                            amount: r["amount"].as_str()?.to_owned(),
                            currency_code: r["currency"].as_str().unwrap_or("USD").to_owned(),
                        },
                        days: r["estimated_days"].as_u64().map(|d| d as u32),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Carrier for Shippo {
    fn name(&self) -> &'static str {
        "shippo"
    }

    async fn create_shipment(
        &self,
        shipment: &MinimalShipment,
        policy: ServicePolicy,
        idempotency_key: &str,
    ) -> Result<ShipmentCreated, CarrierError> {
        let created = self
            .api
            .post(
                "/shipments",
                &Self::shipment_body(shipment),
                &format!("{idempotency_key}:create"),
            )
            .await?;
        let shipment_id = created["object_id"]
            .as_str()
            .ok_or(CarrierError::Decode("object_id"))?
            .to_owned();
        let offered = rates(&created);
        let rate = policy.choose(&offered).ok_or(CarrierError::NoRates)?;
        let tx = self
            .api
            .post(
                "/transactions",
                &json!({"rate": rate.id, "label_file_type": "PDF", "async": false, "metadata": shipment.reference}),
                &format!("{idempotency_key}:buy"),
            )
            .await?;
        if str_at(&tx, &["status"]) != Some("SUCCESS") {
            return Err(CarrierError::Rejected {
                status: 200,
                code: "transaction_not_successful".into(),
            });
        }
        Ok(ShipmentCreated {
            via: self.name().into(),
            carrier: rate.carrier.clone(),
            service: rate.service.clone(),
            tracking_number: str_at(&tx, &["tracking_number"])
                .ok_or(CarrierError::Decode("tracking_number"))?
                .to_owned(),
            // The transaction id, not the label URL (a bearer link to the address).
            label_ref: str_at(&tx, &["object_id"])
                .ok_or(CarrierError::Decode("object_id"))?
                .to_owned(),
            carrier_shipment_id: shipment_id,
            cost: rate.cost.clone(),
        })
    }

    async fn void_label(
        &self,
        label: &ShipmentCreated,
        idempotency_key: &str,
    ) -> Result<VoidOutcome, CarrierError> {
        // The transaction is the label (`label_ref` holds its object id).
        let refund = self
            .api
            .post(
                "/refunds",
                &json!({"transaction": label.label_ref, "async": false}),
                &format!("{idempotency_key}:void"),
            )
            .await?;
        let status = match str_at(&refund, &["status"]) {
            Some("QUEUED" | "PENDING") => VoidStatus::Submitted,
            Some("SUCCESS") => VoidStatus::Refunded,
            Some("ERROR") => VoidStatus::Rejected,
            _ => return Err(CarrierError::Decode("status")),
        };
        Ok(VoidOutcome {
            status,
            refund_ref: str_at(&refund, &["object_id"]).map(str::to_owned),
        })
    }
}
