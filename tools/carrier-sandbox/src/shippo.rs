//! Shippo, under `/shippo`: create a Shipment (it comes back with `rates`), then create a
//! Transaction for one rate, which buys the label.
//!
//! - Auth: `Authorization: ShippoToken <token>`; a wrong token → 401 `{"detail": "Invalid
//!   token."}`, none → 401 `{"detail": "Authentication credentials were not provided."}`.
//! - `POST /shipments` `{"address_from", "address_to", "parcels": [Parcel…], "metadata"?,
//!   "async"?}` → 201 Shipment (`status: SUCCESS`), addresses and parcels echoed with
//!   `object_id`s, `rates` for the destination and total weight. Address: `name`, `street1`,
//!   `city`, `zip`, `country` required, `state` too for US/CA/AU. Parcel: `length`, `width`,
//!   `height`, `weight` as strings holding numbers (as Shippo sends them), `distance_unit`
//!   (`cm`, `in`, `ft`, `mm`, `m`, `yd`), `mass_unit` (`g`, `oz`, `lb`, `kg`).
//! - `POST /transactions` `{"rate": "<rate object_id>", "label_file_type"?: "PDF…",
//!   "metadata"?, "async"?}` → 201 Transaction (`status: SUCCESS`, `tracking_number`,
//!   `tracking_status: UNKNOWN`, `tracking_url_provider`, `label_url`). An unknown or already
//!   purchased rate → 400 `{"detail": …}`. `async: true` is answered synchronously all the same.
//! - `POST /refunds` `{"transaction": "<transaction object_id>", "async"?}` → 201 Refund
//!   (`object_id`, `status: SUCCESS`, `transaction`); a repeat for the same transaction answers
//!   the same refund without a second one. An unknown transaction → 400 `{"detail": …}`.
//! - Validation errors: 400 in Django REST style, `{"<field path>": ["<message>"]}`.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Map, Value, json};

use crate::control::{Api, Endpoint, PurchasedLabel, SandboxControl, ShipmentRecord, State};
use crate::labels::{self, Label, ShipTo};
use crate::rates::{self, Quote};
use crate::server::{self, Ctx, Reply, detail, new_id};
use crate::validate::{Fields, join};

const OBJECT_OWNER: &str = "sandbox@carrier-sandbox.local";
const DISTANCE_UNITS: [&str; 6] = ["cm", "in", "ft", "mm", "m", "yd"];
const LABEL_FILE_TYPES: [&str; 6] = [
    "PDF",
    "PDF_4x6",
    "PDF_4x8",
    "PDF_A4",
    "PDF_A6",
    "PDF_2.3x7.5",
];
/// Shippo's limit on `metadata`.
const METADATA_MAX_CHARS: usize = 100;

/// Shippo shipments and rates held by the sandbox.
#[derive(Default)]
pub(crate) struct Store {
    shipments: HashMap<String, Shipment>,
    rates: HashMap<String, Rate>,
}

struct Shipment {
    ship_to: ShipTo,
    weight_oz: f64,
    /// The first parcel's object id (a Transaction names one parcel).
    parcel_id: String,
}

struct Rate {
    shipment_id: String,
    quote: Quote,
    /// The Transaction that bought it.
    transaction: Option<String>,
}

pub(crate) fn routes() -> Router<SandboxControl> {
    Router::new()
        .route("/shippo/shipments", post(create_shipment))
        .route("/shippo/transactions", post(create_transaction))
        .route("/shippo/refunds", post(create_refund))
}

async fn create_refund(
    AxumState(control): AxumState<SandboxControl>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    server::call(
        &control,
        Endpoint::ShippoRefund,
        uri.path(),
        &headers,
        &body,
        refund,
    )
    .await
}

fn refund(state: &mut State, body: &Value, ctx: &Ctx<'_>) -> Reply {
    let empty = Map::new();
    let root = body.as_object().unwrap_or(&empty);
    let mut fields = Fields::default();
    let transaction = fields.string(root, "", "transaction", true);
    let Some(transaction) = transaction.filter(|_| fields.is_empty()) else {
        return field_errors(fields);
    };
    let Some(shipment_id) = state
        .shippo
        .rates
        .values()
        .find(|rate| rate.transaction.as_deref() == Some(transaction.as_str()))
        .map(|rate| rate.shipment_id.clone())
    else {
        return detail(
            StatusCode::BAD_REQUEST,
            &format!("Transaction with object_id '{transaction}' does not exist."),
        );
    };
    match state.refund_label(Api::Shippo, &shipment_id, "") {
        crate::control::Refund::Done { refund_id, .. } => {
            let timestamp = ctx.timestamp();
            Reply::new(
                StatusCode::CREATED,
                json!({
                    "object_created": timestamp,
                    "object_id": refund_id,
                    "object_owner": OBJECT_OWNER,
                    "object_updated": timestamp,
                    "status": "SUCCESS",
                    "test": true,
                    "transaction": transaction,
                }),
            )
        }
        crate::control::Refund::Unknown | crate::control::Refund::NotBought => detail(
            StatusCode::BAD_REQUEST,
            &format!("Transaction with object_id '{transaction}' does not exist."),
        ),
    }
}

pub(crate) fn authenticate(headers: &HeaderMap, token: &str) -> Result<(), Reply> {
    match server::authorization(headers, "ShippoToken") {
        Some(given) if given == token => Ok(()),
        Some(_) => Err(detail(StatusCode::UNAUTHORIZED, "Invalid token.")),
        None => Err(detail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        )),
    }
}

/// 400 `{"<field>": ["<message>"…]…}`.
fn field_errors(fields: Fields) -> Reply {
    let mut body = Map::new();
    for error in fields.errors {
        let message = error
            .invalid
            .unwrap_or_else(|| "This field is required.".to_owned());
        if let Value::Array(messages) = body
            .entry(error.field)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            messages.push(Value::String(message));
        }
    }
    Reply::new(StatusCode::BAD_REQUEST, Value::Object(body))
}

async fn create_shipment(
    AxumState(control): AxumState<SandboxControl>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = Endpoint::ShippoCreateShipment;
    server::call(&control, endpoint, uri.path(), &headers, &body, create).await
}

async fn create_transaction(
    AxumState(control): AxumState<SandboxControl>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = Endpoint::ShippoTransaction;
    server::call(&control, endpoint, uri.path(), &headers, &body, transact).await
}

/// `metadata` (optional, at most 100 characters) and `async` (optional boolean).
fn common_fields(fields: &mut Fields, root: &Map<String, Value>) -> Option<String> {
    let metadata = fields.string(root, "", "metadata", false);
    if metadata
        .as_ref()
        .is_some_and(|metadata| metadata.chars().count() > METADATA_MAX_CHARS)
    {
        fields.invalid(
            "metadata".to_owned(),
            "Ensure this field has no more than 100 characters.",
        );
    }
    fields.boolean(root, "", "async");
    metadata
}

fn create(state: &mut State, body: &Value, ctx: &Ctx<'_>) -> Reply {
    let empty = Map::new();
    let root = body.as_object().unwrap_or(&empty);
    let mut fields = Fields::default();
    let from = fields
        .object(root, "", "address_from", true)
        .and_then(|address| parse_address(&mut fields, address, "address_from", ctx));
    let to = fields
        .object(root, "", "address_to", true)
        .and_then(|address| parse_address(&mut fields, address, "address_to", ctx));
    let parcels = parse_parcels(&mut fields, root, ctx);
    let metadata = common_fields(&mut fields, root);
    let (Some((address_from, _)), Some((address_to, ship_to)), Some((parcels, weight_oz))) =
        (from, to, parcels)
    else {
        return field_errors(fields);
    };
    if !fields.is_empty() {
        return field_errors(fields);
    }

    let id = new_id("");
    let quotes = rates::quotes(&ship_to.country, weight_oz);
    let fastest = quotes
        .iter()
        .enumerate()
        .min_by_key(|(_, quote)| quote.days)
        .map(|(index, _)| index);
    let mut rate_objects = Vec::with_capacity(quotes.len());
    for (index, quote) in quotes.into_iter().enumerate() {
        let rate_id = new_id("");
        let mut attributes = Vec::new();
        if index == 0 {
            attributes.push("CHEAPEST");
        }
        if Some(index) == fastest {
            attributes.push("FASTEST");
        }
        rate_objects.push(rate_json(&rate_id, &quote, &id, &attributes, ctx));
        state.shippo.rates.insert(
            rate_id,
            Rate {
                shipment_id: id.clone(),
                quote,
                transaction: None,
            },
        );
    }
    let parcel_id = parcels
        .first()
        .and_then(|parcel| parcel["object_id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let timestamp = ctx.timestamp();
    let json = json!({
        "object_id": id,
        "object_created": timestamp,
        "object_updated": timestamp,
        "object_owner": OBJECT_OWNER,
        "status": "SUCCESS",
        "address_from": address_from,
        "address_to": address_to,
        "address_return": address_from,
        "parcels": parcels,
        "shipment_date": timestamp,
        "extra": {},
        "customs_declaration": null,
        "carrier_accounts": [],
        "rates": rate_objects,
        "messages": [],
        "metadata": metadata.clone().unwrap_or_default(),
        "test": true,
    });
    state.add_shipment(ShipmentRecord {
        api: Api::Shippo,
        shipment_id: id.clone(),
        reference: metadata,
        tracking_number: None,
        carrier: None,
        service: None,
        label_id: None,
        created_at: ctx.now,
        to_country: ship_to.country.clone(),
        refund_id: None,
    });
    state.shippo.shipments.insert(
        id,
        Shipment {
            ship_to,
            weight_oz,
            parcel_id,
        },
    );
    Reply::new(StatusCode::CREATED, json)
}

/// An Address: the echo (with `object_id`) and what a label prints. `None` if it has errors.
fn parse_address(
    fields: &mut Fields,
    address: &Map<String, Value>,
    path: &str,
    ctx: &Ctx<'_>,
) -> Option<(Value, ShipTo)> {
    let before = fields.errors.len();
    let name = fields.string(address, path, "name", true);
    let company = fields.string(address, path, "company", false);
    let street1 = fields.string(address, path, "street1", true);
    let street2 = fields.string(address, path, "street2", false);
    let street3 = fields.string(address, path, "street3", false);
    let city = fields.string(address, path, "city", true);
    let zip = fields.string(address, path, "zip", true);
    let country = fields.country(address, path, "country");
    let needs_state = matches!(country.as_deref(), Some("US" | "CA" | "AU"));
    let state = fields.string(address, path, "state", needs_state);
    let phone = fields.string(address, path, "phone", false);
    let email = fields.string(address, path, "email", false);
    let is_residential = fields.boolean(address, path, "is_residential");
    if fields.errors.len() > before {
        return None;
    }
    let (name, street1, city, zip, country) = (name?, street1?, city?, zip?, country?);
    let timestamp = ctx.timestamp();
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let echo = json!({
        "object_id": new_id(""),
        "object_created": timestamp,
        "object_updated": timestamp,
        "object_owner": OBJECT_OWNER,
        "is_complete": true,
        "name": name,
        "company": text(&company),
        "street1": street1,
        "street2": text(&street2),
        "street3": text(&street3),
        "city": city,
        "state": text(&state),
        "zip": zip,
        "country": country,
        "phone": text(&phone),
        "email": text(&email),
        "is_residential": is_residential,
        "validation_results": {},
        "test": true,
    });
    let ship_to = ShipTo {
        name: Some(name),
        company,
        lines: [Some(street1), street2, street3]
            .into_iter()
            .flatten()
            .collect(),
        city,
        region: state,
        postal_code: zip,
        country,
    };
    Some((echo, ship_to))
}

/// The `parcels` array: the echoes (with `object_id`s) and the total weight in ounces.
fn parse_parcels(
    fields: &mut Fields,
    root: &Map<String, Value>,
    ctx: &Ctx<'_>,
) -> Option<(Vec<Value>, f64)> {
    let parcels = match root.get("parcels") {
        None | Some(Value::Null) => {
            fields.missing("parcels".to_owned());
            return None;
        }
        Some(Value::Array(parcels)) if !parcels.is_empty() => parcels,
        Some(Value::Array(_)) => {
            fields.invalid("parcels".to_owned(), "This list may not be empty.");
            return None;
        }
        Some(_) => {
            fields.invalid("parcels".to_owned(), "Expected a list of parcels.");
            return None;
        }
    };
    let before = fields.errors.len();
    let mut echoes = Vec::with_capacity(parcels.len());
    let mut total_oz = 0.0;
    for (index, parcel) in parcels.iter().enumerate() {
        let path = join("parcels", &index.to_string());
        let Some(parcel) = parcel.as_object() else {
            fields.invalid(path, "Expected a parcel object.");
            continue;
        };
        if let Some((echo, weight_oz)) = parse_parcel(fields, parcel, &path, ctx) {
            echoes.push(echo);
            total_oz += weight_oz;
        }
    }
    (fields.errors.len() == before).then_some((echoes, total_oz))
}

fn parse_parcel(
    fields: &mut Fields,
    parcel: &Map<String, Value>,
    path: &str,
    ctx: &Ctx<'_>,
) -> Option<(Value, f64)> {
    let before = fields.errors.len();
    for dimension in ["length", "width", "height"] {
        fields.decimal_string(parcel, path, dimension);
    }
    let weight = fields.decimal_string(parcel, path, "weight");
    let distance_unit = fields.string(parcel, path, "distance_unit", true);
    if let Some(unit) = &distance_unit
        && !DISTANCE_UNITS.contains(&unit.as_str())
    {
        fields.invalid(
            join(path, "distance_unit"),
            format!("\"{unit}\" is not a valid choice."),
        );
    }
    let mass_unit = fields.string(parcel, path, "mass_unit", true);
    let ounces_per_unit = match mass_unit.as_deref() {
        Some("oz") => Some(1.0),
        Some("lb") => Some(16.0),
        Some("g") => Some(1.0 / 28.349_523_125),
        Some("kg") => Some(1000.0 / 28.349_523_125),
        Some(unit) => {
            fields.invalid(
                join(path, "mass_unit"),
                format!("\"{unit}\" is not a valid choice."),
            );
            None
        }
        None => None,
    };
    if fields.errors.len() > before {
        return None;
    }
    let weight_oz = weight? * ounces_per_unit?;
    let timestamp = ctx.timestamp();
    let echo = json!({
        "object_id": new_id(""),
        "object_state": "VALID",
        "object_created": timestamp,
        "object_updated": timestamp,
        "object_owner": OBJECT_OWNER,
        "template": null,
        "length": parcel["length"],
        "width": parcel["width"],
        "height": parcel["height"],
        "distance_unit": distance_unit,
        "weight": parcel["weight"],
        "mass_unit": mass_unit,
        "metadata": "",
        "test": true,
    });
    Some((echo, weight_oz))
}

/// A fixed carrier-account object id per carrier for the sandbox account.
fn carrier_account(quote: &Quote) -> &'static str {
    match quote.service.carrier {
        rates::Carrier::Usps => "b741b99f95e841639b54272834bc478c",
        rates::Carrier::Ups => "c8a5d3f2e1b04a7d9c6e5f4a3b2c1d0e",
        rates::Carrier::FedEx => "d9b6e4a3f2c15b8e0d7f6a5b4c3d2e1f",
    }
}

fn rate_json(
    rate_id: &str,
    quote: &Quote,
    shipment_id: &str,
    attributes: &[&str],
    ctx: &Ctx<'_>,
) -> Value {
    json!({
        "object_id": rate_id,
        "object_created": ctx.timestamp(),
        "object_owner": OBJECT_OWNER,
        "shipment": shipment_id,
        "attributes": attributes,
        "amount": quote.amount(),
        "currency": "USD",
        "amount_local": quote.amount(),
        "currency_local": "USD",
        "provider": quote.service.carrier.name(),
        "servicelevel": {
            "token": quote.service.token,
            "name": quote.service.name,
            "terms": "",
        },
        "estimated_days": quote.days,
        "arrives_by": null,
        "duration_terms": "",
        "messages": [],
        "carrier_account": carrier_account(quote),
        "test": true,
    })
}

fn transact(state: &mut State, body: &Value, ctx: &Ctx<'_>) -> Reply {
    let empty = Map::new();
    let root = body.as_object().unwrap_or(&empty);
    let mut fields = Fields::default();
    let rate_id = fields.string(root, "", "rate", true);
    let label_file_type = fields.string(root, "", "label_file_type", false);
    if let Some(file_type) = &label_file_type
        && !LABEL_FILE_TYPES.contains(&file_type.as_str())
    {
        fields.invalid(
            "label_file_type".to_owned(),
            format!("\"{file_type}\" is not supported by the sandbox (PDF label types only)."),
        );
    }
    let metadata = common_fields(&mut fields, root);
    let Some(rate_id) = rate_id.filter(|_| fields.is_empty()) else {
        return field_errors(fields);
    };
    let Some(rate) = state.shippo.rates.get_mut(&rate_id) else {
        return detail(
            StatusCode::BAD_REQUEST,
            &format!("Rate with object_id '{rate_id}' does not exist."),
        );
    };
    if let Some(transaction) = &rate.transaction {
        return detail(
            StatusCode::BAD_REQUEST,
            &format!("Rate '{rate_id}' has already been purchased (transaction {transaction})."),
        );
    }
    let Some(shipment) = state.shippo.shipments.get(&rate.shipment_id) else {
        return detail(
            StatusCode::BAD_REQUEST,
            "The rate's shipment does not exist.",
        );
    };
    let quote = rate.quote;
    let shipment_id = rate.shipment_id.clone();
    let transaction_id = new_id("");
    rate.transaction = Some(transaction_id.clone());

    let tracking_number = rates::tracking_number(quote.service);
    let carrier = quote.service.carrier.name();
    let pdf = labels::render(&Label {
        carrier,
        service: quote.service.name,
        tracking_number: &tracking_number,
        weight_oz: shipment.weight_oz,
        ship_to: &shipment.ship_to,
    });
    let timestamp = ctx.timestamp();
    let json = json!({
        "object_id": transaction_id,
        "object_state": "VALID",
        "status": "SUCCESS",
        "object_created": timestamp,
        "object_updated": timestamp,
        "object_owner": OBJECT_OWNER,
        "test": true,
        "rate": rate_id,
        "parcel": shipment.parcel_id,
        "tracking_number": tracking_number,
        "tracking_status": "UNKNOWN",
        "tracking_history": [],
        "tracking_url_provider": quote.service.carrier.tracking_url(&tracking_number),
        "eta": null,
        "label_url": ctx.label_url(&transaction_id),
        "label_file_type": label_file_type.unwrap_or_else(|| "PDF".to_owned()),
        "commercial_invoice_url": null,
        "qr_code_url": null,
        "messages": [],
        "metadata": metadata.unwrap_or_default(),
    });
    state.add_label(
        Api::Shippo,
        &shipment_id,
        PurchasedLabel {
            label_id: transaction_id,
            tracking_number,
            carrier,
            service: quote.service.token.to_owned(),
            pdf,
        },
    );
    Reply::new(StatusCode::CREATED, json)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use axum::http::header::AUTHORIZATION;

    use super::*;

    #[test]
    fn token_auth_distinguishes_missing_and_invalid() {
        let mut headers = HeaderMap::new();
        let missing = authenticate(&headers, "tok").unwrap_err();
        assert_eq!(
            missing.body,
            json!({"detail": "Authentication credentials were not provided."})
        );
        headers.insert(AUTHORIZATION, HeaderValue::from_static("ShippoToken nope"));
        let invalid = authenticate(&headers, "tok").unwrap_err();
        assert_eq!(invalid.status, StatusCode::UNAUTHORIZED);
        assert_eq!(invalid.body, json!({"detail": "Invalid token."}));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("ShippoToken tok"));
        assert!(authenticate(&headers, "tok").is_ok());
    }

    #[test]
    fn field_errors_group_messages_per_field() {
        let mut fields = Fields::default();
        fields.missing("address_to.zip".to_owned());
        fields.invalid(
            "parcels.0.mass_unit".to_owned(),
            "\"st\" is not a valid choice.",
        );
        let reply = field_errors(fields);
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            reply.body,
            json!({
                "address_to.zip": ["This field is required."],
                "parcels.0.mass_unit": ["\"st\" is not a valid choice."],
            })
        );
    }
}
