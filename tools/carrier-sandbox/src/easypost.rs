//! EasyPost v2, under `/easypost/v2`: create a Shipment (it comes back rated), then buy one of
//! its rates.
//!
//! - Auth: `Authorization: Basic base64(<api key>:)` (the key is the user name, no password);
//!   otherwise 401 `UNAUTHORIZED`.
//! - `POST /shipments` `{"shipment": {"reference"?, "to_address", "from_address", "parcel",
//!   "options"?}}` → 201 Shipment: the addresses and parcel echoed with ids (`adr_…`, `prcl_…`),
//!   `rates` for the destination and weight, `tracking_code`/`postage_label` null. Address:
//!   `street1`, `city`, `zip`, `country` and one of `name`/`company` are required, `state` too
//!   for US addresses. Parcel: `weight` (oz) required, `length`/`width`/`height` (in) optional;
//!   all JSON numbers.
//! - `POST /shipments/{id}/buy` `{"rate": {"id": "rate_…"}}` → 200 the Shipment with
//!   `tracking_code`, `selected_rate`, `postage_label` (PDF URL on this server) and `tracker`.
//!   A second buy → 422 `SHIPMENT.POSTAGE.EXISTS`.
//! - `POST /shipments/{id}/refund` (body `{}`) → 200 the Shipment with `refund_status:
//!   "submitted"`; a repeat answers the same without a second refund. Unknown shipment → 404;
//!   no postage bought → 422 `SHIPMENT.REFUND.UNAVAILABLE`.
//! - Errors: `{"error": {"code", "message", "errors": [{"field", "message", "suggestion"}]}}`;
//!   missing fields `PARAMETER.REQUIRED`, malformed ones `PARAMETER.INVALID` (422).

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::control::{Api, Endpoint, PurchasedLabel, SandboxControl, ShipmentRecord, State};
use crate::labels::{self, Label, ShipTo};
use crate::rates::{self, Quote};
use crate::server::{self, Ctx, Reply, new_id};
use crate::validate::{Fields, join};

/// The error code answering an `Idempotency-Key` reused for a different request.
pub(crate) const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY.KEY.REUSED";

/// EasyPost shipments held by the sandbox.
#[derive(Default)]
pub(crate) struct Store {
    shipments: HashMap<String, Shipment>,
}

impl Store {
    /// The id of the Tracker created when the shipment's label was bought.
    pub(crate) fn tracker_id(&self, shipment_id: &str) -> Option<String> {
        let shipment = self.shipments.get(shipment_id)?;
        shipment.json["tracker"]["id"].as_str().map(str::to_owned)
    }
}

struct Shipment {
    /// The Shipment object as last returned.
    json: Value,
    /// Rate ids and what they price.
    rates: Vec<(String, Quote)>,
    ship_to: ShipTo,
    weight_oz: f64,
    bought: bool,
}

pub(crate) fn routes() -> Router<SandboxControl> {
    Router::new()
        .route("/easypost/v2/shipments", post(create_shipment))
        .route("/easypost/v2/shipments/{id}/buy", post(buy))
        .route("/easypost/v2/shipments/{id}/refund", post(refund))
}

/// An EasyPost error with no field errors.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    Reply::new(
        status,
        json!({"error": {"code": code, "message": message, "errors": []}}),
    )
}

/// 422 `PARAMETER.REQUIRED` (something is missing) or `PARAMETER.INVALID`, with field errors.
fn field_errors(fields: Fields) -> Reply {
    let (code, message) = if fields.errors.iter().any(|error| error.is_missing()) {
        ("PARAMETER.REQUIRED", "Missing required parameter.")
    } else {
        ("PARAMETER.INVALID", "Invalid parameter.")
    };
    let errors: Vec<Value> = fields
        .errors
        .into_iter()
        .map(|error| {
            let message = error
                .invalid
                .unwrap_or_else(|| "cannot be blank".to_owned());
            json!({"field": error.field, "message": message, "suggestion": null})
        })
        .collect();
    Reply::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"error": {"code": code, "message": message, "errors": errors}}),
    )
}

pub(crate) fn authenticate(headers: &HeaderMap, api_key: &str) -> Result<(), Reply> {
    let user = server::authorization(headers, "Basic")
        .and_then(|credentials| STANDARD.decode(credentials).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|decoded| {
            decoded
                .split_once(':')
                .map(|(user, _password)| user.to_owned())
        });
    if user.as_deref() == Some(api_key) {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "The API key provided is missing or not valid. Send it as the Basic auth user name.",
        ))
    }
}

async fn create_shipment(
    AxumState(control): AxumState<SandboxControl>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = Endpoint::EasyPostCreateShipment;
    server::call(&control, endpoint, uri.path(), &headers, &body, create).await
}

async fn buy(
    AxumState(control): AxumState<SandboxControl>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    server::call(
        &control,
        Endpoint::EasyPostBuy,
        uri.path(),
        &headers,
        &body,
        |state, body, ctx| buy_rate(state, &id, body, ctx),
    )
    .await
}

async fn refund(
    AxumState(control): AxumState<SandboxControl>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    server::call(
        &control,
        Endpoint::EasyPostRefund,
        uri.path(),
        &headers,
        &body,
        |state, _body, ctx| refund_shipment(state, &id, ctx),
    )
    .await
}

fn refund_shipment(state: &mut State, id: &str, ctx: &Ctx<'_>) -> Reply {
    match state.refund_label(Api::EasyPost, id, "rfnd_") {
        crate::control::Refund::Unknown => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource could not be found.",
        ),
        crate::control::Refund::NotBought => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "SHIPMENT.REFUND.UNAVAILABLE",
            "This shipment has no postage to refund.",
        ),
        crate::control::Refund::Done { .. } => {
            let Some(shipment) = state.easypost.shipments.get_mut(id) else {
                return error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "The requested resource could not be found.",
                );
            };
            shipment.json["refund_status"] = json!("submitted");
            shipment.json["updated_at"] = json!(ctx.timestamp());
            Reply::new(StatusCode::OK, shipment.json.clone())
        }
    }
}

/// A validated create-shipment request.
struct NewShipment {
    reference: Option<String>,
    to_address: Value,
    ship_to: ShipTo,
    from_address: Value,
    parcel: Value,
    weight_oz: f64,
    options: Value,
}

fn create(state: &mut State, body: &Value, ctx: &Ctx<'_>) -> Reply {
    let empty = Map::new();
    let root = body.as_object().unwrap_or(&empty);
    let mut fields = Fields::default();
    let parsed = fields
        .object(root, "", "shipment", true)
        .and_then(|shipment| parse_shipment(&mut fields, shipment, ctx));
    let Some(new) = parsed.filter(|_| fields.is_empty()) else {
        return field_errors(fields);
    };

    let id = new_id("shp_");
    let quotes = rates::quotes(&new.ship_to.country, new.weight_oz);
    let rates: Vec<(String, Quote)> = quotes
        .into_iter()
        .map(|quote| (new_id("rate_"), quote))
        .collect();
    let rate_objects: Vec<Value> = rates
        .iter()
        .map(|(rate_id, quote)| rate_json(rate_id, quote, &id, ctx))
        .collect();
    let messages: Vec<Value> = if rates.is_empty() {
        vec![json!({
            "carrier": null,
            "type": "rate_error",
            "message": "No service is available for this destination and weight.",
        })]
    } else {
        Vec::new()
    };
    let timestamp = ctx.timestamp();
    let json = json!({
        "id": id,
        "object": "Shipment",
        "mode": "test",
        "reference": new.reference,
        "created_at": timestamp,
        "updated_at": timestamp,
        "status": "unknown",
        "is_return": false,
        "to_address": new.to_address,
        "from_address": new.from_address,
        "parcel": new.parcel,
        "options": new.options,
        "customs_info": null,
        "rates": rate_objects,
        "messages": messages,
        "selected_rate": null,
        "postage_label": null,
        "tracking_code": null,
        "tracker": null,
        "fees": [],
    });
    state.add_shipment(ShipmentRecord {
        api: Api::EasyPost,
        shipment_id: id.clone(),
        reference: new.reference,
        tracking_number: None,
        carrier: None,
        service: None,
        label_id: None,
        created_at: ctx.now,
        to_country: new.ship_to.country.clone(),
        refund_id: None,
    });
    state.easypost.shipments.insert(
        id,
        Shipment {
            json: json.clone(),
            rates,
            ship_to: new.ship_to,
            weight_oz: new.weight_oz,
            bought: false,
        },
    );
    Reply::new(StatusCode::CREATED, json)
}

fn parse_shipment(
    fields: &mut Fields,
    shipment: &Map<String, Value>,
    ctx: &Ctx<'_>,
) -> Option<NewShipment> {
    let path = "shipment";
    let reference = fields.string(shipment, path, "reference", false);
    let to = fields
        .object(shipment, path, "to_address", true)
        .and_then(|address| parse_address(fields, address, &join(path, "to_address"), ctx));
    let from = fields
        .object(shipment, path, "from_address", true)
        .and_then(|address| parse_address(fields, address, &join(path, "from_address"), ctx));
    let parcel = fields
        .object(shipment, path, "parcel", true)
        .and_then(|parcel| parse_parcel(fields, parcel, &join(path, "parcel"), ctx));
    let options = fields
        .object(shipment, path, "options", false)
        .map_or_else(|| json!({}), |options| Value::Object(options.clone()));
    let ((to_address, ship_to), (from_address, _), (parcel, weight_oz)) = (to?, from?, parcel?);
    Some(NewShipment {
        reference,
        to_address,
        ship_to,
        from_address,
        parcel,
        weight_oz,
        options,
    })
}

/// An Address: the echo (with id) and what a label prints. `None` if it has errors.
fn parse_address(
    fields: &mut Fields,
    address: &Map<String, Value>,
    path: &str,
    ctx: &Ctx<'_>,
) -> Option<(Value, ShipTo)> {
    let before = fields.errors.len();
    let name = fields.string(address, path, "name", false);
    let company = fields.string(address, path, "company", false);
    // One of name and company is needed (a wrongly typed name is reported as such already).
    let name_mistyped = address
        .get("name")
        .is_some_and(|name| !name.is_null() && !name.is_string());
    if name.is_none() && company.is_none() && !name_mistyped {
        fields.missing(join(path, "name"));
    }
    let street1 = fields.string(address, path, "street1", true);
    let street2 = fields.string(address, path, "street2", false);
    let city = fields.string(address, path, "city", true);
    let zip = fields.string(address, path, "zip", true);
    let country = fields.country(address, path, "country");
    let state = fields.string(address, path, "state", country.as_deref() == Some("US"));
    let phone = fields.string(address, path, "phone", false);
    let email = fields.string(address, path, "email", false);
    let residential = fields.boolean(address, path, "residential");
    if fields.errors.len() > before {
        return None;
    }
    let (street1, city, zip, country) = (street1?, city?, zip?, country?);
    let timestamp = ctx.timestamp();
    let echo = json!({
        "id": new_id("adr_"),
        "object": "Address",
        "mode": "test",
        "created_at": timestamp,
        "updated_at": timestamp,
        "name": name,
        "company": company,
        "street1": street1,
        "street2": street2,
        "city": city,
        "state": state,
        "zip": zip,
        "country": country,
        "phone": phone,
        "email": email,
        "residential": residential,
    });
    let ship_to = ShipTo {
        name,
        company,
        lines: [Some(street1), street2].into_iter().flatten().collect(),
        city,
        region: state,
        postal_code: zip,
        country,
    };
    Some((echo, ship_to))
}

/// A Parcel: the echo (with id) and its weight in ounces. `None` if it has errors.
fn parse_parcel(
    fields: &mut Fields,
    parcel: &Map<String, Value>,
    path: &str,
    ctx: &Ctx<'_>,
) -> Option<(Value, f64)> {
    let before = fields.errors.len();
    let length = fields.positive_number(parcel, path, "length", false);
    let width = fields.positive_number(parcel, path, "width", false);
    let height = fields.positive_number(parcel, path, "height", false);
    let weight = fields.positive_number(parcel, path, "weight", true);
    if fields.errors.len() > before {
        return None;
    }
    let weight = weight?;
    let timestamp = ctx.timestamp();
    let echo = json!({
        "id": new_id("prcl_"),
        "object": "Parcel",
        "mode": "test",
        "created_at": timestamp,
        "updated_at": timestamp,
        "length": length,
        "width": width,
        "height": height,
        "weight": weight,
        "predefined_package": null,
    });
    Some((echo, weight))
}

/// A fixed carrier-account id per carrier for the sandbox account.
fn carrier_account(quote: &Quote) -> &'static str {
    match quote.service.carrier {
        rates::Carrier::Usps => "ca_0a1b2c3d4e5f40718293a4b5c6d7e8f9",
        rates::Carrier::Ups => "ca_1b2c3d4e5f6a41829304b5c6d7e8f9a0",
        rates::Carrier::FedEx => "ca_2c3d4e5f6a7b4293a415c6d7e8f9a0b1",
    }
}

fn rate_json(rate_id: &str, quote: &Quote, shipment_id: &str, ctx: &Ctx<'_>) -> Value {
    let timestamp = ctx.timestamp();
    json!({
        "id": rate_id,
        "object": "Rate",
        "mode": "test",
        "created_at": timestamp,
        "updated_at": timestamp,
        "carrier": quote.service.carrier.name(),
        "carrier_account_id": carrier_account(quote),
        "service": quote.service.easypost,
        "rate": quote.amount(),
        "currency": "USD",
        "delivery_days": quote.days,
        "est_delivery_days": quote.days,
        "delivery_date": null,
        "delivery_date_guaranteed": false,
        "shipment_id": shipment_id,
    })
}

fn buy_rate(state: &mut State, id: &str, body: &Value, ctx: &Ctx<'_>) -> Reply {
    let Some(shipment) = state.easypost.shipments.get_mut(id) else {
        return error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource could not be found.",
        );
    };
    let empty = Map::new();
    let root = body.as_object().unwrap_or(&empty);
    let mut fields = Fields::default();
    let rate_id = fields
        .object(root, "", "rate", true)
        .and_then(|rate| fields.string(rate, "rate", "id", true));
    let Some(rate_id) = rate_id.filter(|_| fields.is_empty()) else {
        return field_errors(fields);
    };
    if shipment.bought {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "SHIPMENT.POSTAGE.EXISTS",
            "Postage already exists for this shipment.",
        );
    }
    let Some(quote) = shipment
        .rates
        .iter()
        .find_map(|(candidate, quote)| (*candidate == rate_id).then_some(*quote))
    else {
        let mut fields = Fields::default();
        fields.invalid("rate.id".to_owned(), "is not a rate of this shipment");
        return field_errors(fields);
    };

    let tracking_code = rates::tracking_number(quote.service);
    let label_id = new_id("pl_");
    let carrier = quote.service.carrier.name();
    let pdf = labels::render(&Label {
        carrier,
        service: quote.service.name,
        tracking_number: &tracking_code,
        weight_oz: shipment.weight_oz,
        ship_to: &shipment.ship_to,
    });
    let timestamp = ctx.timestamp();
    let selected_rate = rate_json(&rate_id, &quote, id, ctx);
    let json = &mut shipment.json;
    json["updated_at"] = json!(timestamp);
    json["tracking_code"] = json!(tracking_code);
    json["selected_rate"] = selected_rate;
    json["postage_label"] = json!({
        "id": label_id,
        "object": "PostageLabel",
        "created_at": timestamp,
        "updated_at": timestamp,
        "date_advance": 0,
        "label_date": timestamp,
        "label_resolution": 300,
        "label_size": "4x6",
        "label_type": "default",
        "label_file_type": "application/pdf",
        "label_url": ctx.label_url(&label_id),
    });
    json["tracker"] = json!({
        "id": new_id("trk_"),
        "object": "Tracker",
        "mode": "test",
        "tracking_code": tracking_code,
        "status": "pre_transit",
        "carrier": carrier,
        "shipment_id": id,
        "public_url": quote.service.carrier.tracking_url(&tracking_code),
        "created_at": timestamp,
        "updated_at": timestamp,
    });
    shipment.bought = true;
    let json = json.clone();
    state.add_label(
        Api::EasyPost,
        id,
        PurchasedLabel {
            label_id,
            tracking_number: tracking_code,
            carrier,
            service: quote.service.easypost.to_owned(),
            pdf,
        },
    );
    Reply::new(StatusCode::OK, json)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use axum::http::header::AUTHORIZATION;

    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    #[test]
    fn basic_auth_takes_the_key_as_user_name() {
        let good = format!("Basic {}", STANDARD.encode("ep-key:"));
        assert!(authenticate(&headers(&good), "ep-key").is_ok());
        let wrong = format!("Basic {}", STANDARD.encode("other:"));
        let rejected = authenticate(&headers(&wrong), "ep-key").unwrap_err();
        assert_eq!(rejected.status, StatusCode::UNAUTHORIZED);
        assert_eq!(rejected.body["error"]["code"], "UNAUTHORIZED");
        assert!(authenticate(&headers("Bearer ep-key"), "ep-key").is_err());
        assert!(authenticate(&headers("Basic !!!"), "ep-key").is_err());
        assert!(authenticate(&HeaderMap::new(), "ep-key").is_err());
    }

    #[test]
    fn missing_fields_are_parameter_required_invalid_ones_parameter_invalid() {
        let mut fields = Fields::default();
        fields.missing("shipment.to_address.zip".to_owned());
        fields.invalid("shipment.parcel.weight".to_owned(), "must be a number");
        let reply = field_errors(fields);
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.body["error"]["code"], "PARAMETER.REQUIRED");
        assert_eq!(
            reply.body["error"]["errors"][0],
            json!({"field": "shipment.to_address.zip", "message": "cannot be blank", "suggestion": null})
        );
        let mut fields = Fields::default();
        fields.invalid("shipment.parcel.weight".to_owned(), "must be a number");
        assert_eq!(
            field_errors(fields).body["error"]["code"],
            "PARAMETER.INVALID"
        );
    }
}
