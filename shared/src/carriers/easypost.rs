//! EasyPost (API v2): create a shipment (which returns rates), choose one, buy it; refund it.
//! Auth: HTTP Basic with the API key as user name.

use base64::Engine;
use serde_json::{Value, json};

use super::http::{JsonApi, client, inches, ounces, recipient_address, ship_from_address, str_at};
use super::{
    Carrier, CarrierError, MinimalShipment, Rate, ServicePolicy, ShipmentCreated, VoidOutcome,
    VoidStatus,
};
use crate::order::Money;
use crate::secret::SecretString;

/// Every field orderseal may send to EasyPost.
pub const ALLOWED: &[&str] = &[
    "shipment.reference",
    "shipment.to_address.name",
    "shipment.to_address.street1",
    "shipment.to_address.street2",
    "shipment.to_address.city",
    "shipment.to_address.state",
    "shipment.to_address.zip",
    "shipment.to_address.country",
    "shipment.to_address.phone",
    "shipment.from_address.name",
    "shipment.from_address.street1",
    "shipment.from_address.street2",
    "shipment.from_address.city",
    "shipment.from_address.state",
    "shipment.from_address.zip",
    "shipment.from_address.country",
    "shipment.from_address.phone",
    "shipment.parcel.length",
    "shipment.parcel.width",
    "shipment.parcel.height",
    "shipment.parcel.weight",
    "rate.id",
];

#[derive(Debug, Clone)]
pub struct EasyPost {
    api: JsonApi,
}

impl EasyPost {
    /// `base_url`: `https://api.easypost.com` (or a sandbox).
    pub fn new(
        base_url: impl Into<String>,
        api_key: &SecretString,
        timeout: std::time::Duration,
    ) -> Self {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:", api_key.expose()));
        Self {
            api: JsonApi {
                http: client(timeout),
                base_url: base_url.into(),
                authorization: SecretString::new(format!("Basic {basic}")),
                allowed: ALLOWED,
                error_code,
            },
        }
    }

    /// The create-shipment body.
    pub fn shipment_body(s: &MinimalShipment) -> Value {
        json!({"shipment": {
            "reference": s.reference,
            "to_address": recipient_address(&s.recipient),
            "from_address": ship_from_address(&s.ship_from),
            "parcel": {
                "length": inches(s.parcel.length_mm), "width": inches(s.parcel.width_mm),
                "height": inches(s.parcel.height_mm), "weight": ounces(s.parcel.weight_grams),
            },
        }})
    }
}

fn error_code(v: &Value) -> Option<String> {
    str_at(v, &["error", "code"]).map(str::to_owned)
}

fn rates(shipment: &Value) -> Vec<Rate> {
    shipment["rates"]
        .as_array()
        .map(|rates| {
            rates
                .iter()
                .filter_map(|r| {
                    Some(Rate {
                        id: r["id"].as_str()?.to_owned(),
                        carrier: r["carrier"].as_str()?.to_owned(),
                        service: r["service"].as_str()?.to_owned(),
                        cost: Money {
                            amount: r["rate"].as_str()?.to_owned(),
                            currency_code: r["currency"].as_str().unwrap_or("USD").to_owned(),
                        },
                        days: r["delivery_days"].as_u64().map(|d| d as u32),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Carrier for EasyPost {
    fn name(&self) -> &'static str {
        "easypost"
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
                "/v2/shipments",
                &Self::shipment_body(shipment),
                &format!("{idempotency_key}:create"),
            )
            .await?;
        let shipment_id = created["id"]
            .as_str()
            .ok_or(CarrierError::Decode("shipment id"))?
            .to_owned();
        let offered = rates(&created);
        let rate = policy.choose(&offered).ok_or(CarrierError::NoRates)?;
        let bought = self
            .api
            .post(
                &format!("/v2/shipments/{shipment_id}/buy"),
                &json!({"rate": {"id": rate.id}}),
                &format!("{idempotency_key}:buy"),
            )
            .await?;
        Ok(ShipmentCreated {
            via: self.name().into(),
            carrier: rate.carrier.clone(),
            service: rate.service.clone(),
            tracking_number: str_at(&bought, &["tracking_code"])
                .ok_or(CarrierError::Decode("tracking_code"))?
                .to_owned(),
            // The label's id, not its URL: a label URL is a bearer link to the address; the id
            // needs our credentials to become a label again.
            label_ref: str_at(&bought, &["postage_label", "id"])
                .unwrap_or(&shipment_id)
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
        let shipment = self
            .api
            .post(
                &format!("/v2/shipments/{}/refund", label.carrier_shipment_id),
                &json!({}),
                &format!("{idempotency_key}:void"),
            )
            .await?;
        let status = match str_at(&shipment, &["refund_status"]) {
            Some("submitted") => VoidStatus::Submitted,
            Some("refunded") => VoidStatus::Refunded,
            Some("rejected") => VoidStatus::Rejected,
            Some("not_applicable") => VoidStatus::NotApplicable,
            _ => return Err(CarrierError::Decode("refund_status")),
        };
        Ok(VoidOutcome {
            status,
            refund_ref: None,
        })
    }
}
