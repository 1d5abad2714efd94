//! The generic REST API, under `/generic/v1`: our own documented minimal carrier API, for
//! carriers reached without an aggregator. One call creates the shipment and buys its label.
//!
//! - Auth: `Authorization: Bearer <key>`; otherwise 401 `{"detail": …}` with
//!   `WWW-Authenticate: Bearer`.
//! - Request body (both routes): `{"reference", "service"?, "recipient": {"name", "company"?,
//!   "address_lines": [1–3 strings], "city", "region"?, "postal_code", "country", "phone"?},
//!   "parcel": {"weight_grams", "length_mm", "width_mm", "height_mm"}}` (positive integers).
//!   `region` is required for US and CA; `reference` for shipments.
//! - `POST /quotes` (without `service`) → 200 `{"quotes": [{"service", "carrier", "amount",
//!   "currency", "days"}…]}`, cheapest first.
//! - `POST /shipments` → 201 `{"shipment_id", "reference", "carrier", "service",
//!   "tracking_number", "label_url", "cost": {"amount", "currency"}, "estimated_days"}`. Without
//!   `service` the cheapest available one is bought.
//! - `POST /shipments/{shipment_id}/void` (body `{}`) → 200 `{"shipment_id", "void_id",
//!   "void_status"}` (`voided`; `pending` or `rejected` are the other answers a carrier may
//!   give). A repeat answers the same void. Unknown shipment → 404.
//! - Errors: `{"detail": …}`; validation 422 `{"detail", "errors": [{"field", "message"}]}`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Map, Value, json};

use crate::control::{Api, Endpoint, PurchasedLabel, SandboxControl, ShipmentRecord, State};
use crate::labels::{self, Label, ShipTo};
use crate::rates::{self, Quote};
use crate::server::{self, Ctx, Reply, detail, new_id};
use crate::validate::Fields;

/// Grams per avoirdupois ounce.
const GRAMS_PER_OUNCE: f64 = 28.349_523_125;
/// At most this many `address_lines`.
const MAX_ADDRESS_LINES: usize = 3;

pub(crate) fn routes() -> Router<SandboxControl> {
    Router::new()
        .route("/generic/v1/quotes", post(post_quotes))
        .route("/generic/v1/shipments", post(post_shipment))
        .route("/generic/v1/shipments/{id}/void", post(post_void))
}

pub(crate) fn authenticate(headers: &HeaderMap, api_key: &str) -> Result<(), Reply> {
    match server::authorization(headers, "Bearer") {
        Some(given) if given == api_key => Ok(()),
        _ => Err(
            detail(StatusCode::UNAUTHORIZED, "Missing or invalid API key.")
                .with_header("www-authenticate", "Bearer"),
        ),
    }
}

/// 422 `{"detail", "errors": [{"field", "message"}]}`.
fn field_errors(fields: Fields) -> Reply {
    let errors: Vec<Value> = fields
        .errors
        .into_iter()
        .map(|error| {
            let message = error.invalid.unwrap_or_else(|| "is required".to_owned());
            json!({"field": error.field, "message": message})
        })
        .collect();
    Reply::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"detail": "Invalid request.", "errors": errors}),
    )
}

fn one_field_error(field: &str, message: &str) -> Reply {
    let mut fields = Fields::default();
    fields.invalid(field.to_owned(), message);
    field_errors(fields)
}

async fn post_quotes(
    AxumState(control): AxumState<SandboxControl>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = Endpoint::GenericQuote;
    server::call(&control, endpoint, uri.path(), &headers, &body, quote).await
}

async fn post_shipment(
    AxumState(control): AxumState<SandboxControl>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = Endpoint::GenericCreateShipment;
    server::call(&control, endpoint, uri.path(), &headers, &body, ship).await
}

/// A validated request.
struct Request {
    reference: Option<String>,
    service: Option<String>,
    ship_to: ShipTo,
    weight_oz: f64,
}

fn parse(body: &Value, reference_required: bool) -> Result<Request, Reply> {
    let empty = Map::new();
    let root = body.as_object().unwrap_or(&empty);
    let mut fields = Fields::default();
    let reference = fields.string(root, "", "reference", reference_required);
    let service = fields.string(root, "", "service", false);
    let ship_to = fields
        .object(root, "", "recipient", true)
        .and_then(|recipient| parse_recipient(&mut fields, recipient));
    let weight_grams = fields
        .object(root, "", "parcel", true)
        .and_then(|parcel| parse_parcel(&mut fields, parcel));
    match (ship_to, weight_grams) {
        (Some(ship_to), Some(weight_grams)) if fields.is_empty() => Ok(Request {
            reference,
            service,
            ship_to,
            weight_oz: weight_grams as f64 / GRAMS_PER_OUNCE,
        }),
        _ => Err(field_errors(fields)),
    }
}

fn parse_recipient(fields: &mut Fields, recipient: &Map<String, Value>) -> Option<ShipTo> {
    let path = "recipient";
    let before = fields.errors.len();
    let name = fields.string(recipient, path, "name", true);
    let company = fields.string(recipient, path, "company", false);
    let lines = parse_address_lines(fields, recipient);
    let city = fields.string(recipient, path, "city", true);
    let postal_code = fields.string(recipient, path, "postal_code", true);
    let country = fields.country(recipient, path, "country");
    let needs_region = matches!(country.as_deref(), Some("US" | "CA"));
    let region = fields.string(recipient, path, "region", needs_region);
    fields.string(recipient, path, "phone", false);
    if fields.errors.len() > before {
        return None;
    }
    Some(ShipTo {
        name: Some(name?),
        company,
        lines: lines?,
        city: city?,
        region,
        postal_code: postal_code?,
        country: country?,
    })
}

fn parse_address_lines(fields: &mut Fields, recipient: &Map<String, Value>) -> Option<Vec<String>> {
    let field = "recipient.address_lines";
    let lines = match recipient.get("address_lines") {
        None | Some(Value::Null) => {
            fields.missing(field.to_owned());
            return None;
        }
        Some(Value::Array(lines)) => lines,
        Some(_) => {
            fields.invalid(field.to_owned(), "must be an array of strings");
            return None;
        }
    };
    let lines: Option<Vec<String>> = lines
        .iter()
        .map(|line| {
            line.as_str()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
        })
        .collect();
    match lines {
        Some(lines) if lines.is_empty() => {
            fields.missing(field.to_owned());
            None
        }
        Some(lines) if lines.len() <= MAX_ADDRESS_LINES => Some(lines),
        _ => {
            fields.invalid(field.to_owned(), "must hold 1 to 3 non-empty strings");
            None
        }
    }
}

/// The parcel's weight in grams; dimensions are checked, not used.
fn parse_parcel(fields: &mut Fields, parcel: &Map<String, Value>) -> Option<u64> {
    let path = "parcel";
    let weight = fields.positive_integer(parcel, path, "weight_grams");
    for dimension in ["length_mm", "width_mm", "height_mm"] {
        fields.positive_integer(parcel, path, dimension);
    }
    weight
}

fn quote_json(quote: &Quote) -> Value {
    json!({
        "service": quote.service.token,
        "carrier": quote.service.carrier.name(),
        "amount": quote.amount(),
        "currency": "USD",
        "days": quote.days,
    })
}

fn quote(_state: &mut State, body: &Value, _ctx: &Ctx<'_>) -> Reply {
    let request = match parse(body, false) {
        Ok(request) => request,
        Err(reply) => return reply,
    };
    if request.service.is_some() {
        return one_field_error("service", "is not accepted by quotes");
    }
    let quotes: Vec<Value> = rates::quotes(&request.ship_to.country, request.weight_oz)
        .iter()
        .map(quote_json)
        .collect();
    Reply::new(StatusCode::OK, json!({ "quotes": quotes }))
}

fn ship(state: &mut State, body: &Value, ctx: &Ctx<'_>) -> Reply {
    let request = match parse(body, true) {
        Ok(request) => request,
        Err(reply) => return reply,
    };
    let country = &request.ship_to.country;
    let quote = match &request.service {
        Some(service) if !rates::is_known_service(service) => {
            return one_field_error("service", &format!("unknown service \"{service}\""));
        }
        Some(service) => rates::quote_for(service, country, request.weight_oz),
        None => rates::quotes(country, request.weight_oz).into_iter().next(),
    };
    let Some(quote) = quote else {
        let field = if request.service.is_some() {
            "service"
        } else {
            "parcel.weight_grams"
        };
        return one_field_error(
            field,
            "no service is available for this destination and weight",
        );
    };

    let shipment_id = new_id("gshp_");
    let label_id = new_id("lbl_");
    let tracking_number = rates::tracking_number(quote.service);
    let carrier = quote.service.carrier.name();
    let pdf = labels::render(&Label {
        carrier,
        service: quote.service.name,
        tracking_number: &tracking_number,
        weight_oz: request.weight_oz,
        ship_to: &request.ship_to,
    });
    let json = json!({
        "shipment_id": shipment_id,
        "reference": request.reference,
        "carrier": carrier,
        "service": quote.service.token,
        "tracking_number": tracking_number,
        "label_url": ctx.label_url(&label_id),
        "cost": {"amount": quote.amount(), "currency": "USD"},
        "estimated_days": quote.days,
    });
    state.add_shipment(ShipmentRecord {
        api: Api::Generic,
        shipment_id: shipment_id.clone(),
        reference: request.reference,
        tracking_number: None,
        carrier: None,
        service: None,
        label_id: None,
        created_at: ctx.now,
        to_country: request.ship_to.country.clone(),
        refund_id: None,
    });
    state.add_label(
        Api::Generic,
        &shipment_id,
        PurchasedLabel {
            label_id,
            tracking_number,
            carrier,
            service: quote.service.token.to_owned(),
            pdf,
        },
    );
    Reply::new(StatusCode::CREATED, json)
}

async fn post_void(
    AxumState(control): AxumState<SandboxControl>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    server::call(
        &control,
        Endpoint::GenericVoid,
        uri.path(),
        &headers,
        &body,
        |state, _body, _ctx| match state.refund_label(Api::Generic, &id, "gvd_") {
            crate::control::Refund::Done { refund_id, .. } => Reply::new(
                StatusCode::OK,
                json!({"shipment_id": id, "void_id": refund_id, "void_status": "voided"}),
            ),
            _ => detail(StatusCode::NOT_FOUND, "No such shipment."),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        json!({
            "reference": "os-1",
            "recipient": {
                "name": "Ada", "address_lines": ["1 Main St"], "city": "Springfield",
                "region": "IL", "postal_code": "62701", "country": "US"
            },
            "parcel": {"weight_grams": 500, "length_mm": 200, "width_mm": 150, "height_mm": 50}
        })
    }

    fn error_fields(reply: &Reply) -> Vec<String> {
        reply.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|error| error["field"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_complete_request_parses() {
        let request = parse(&body(), true).unwrap_or_else(|reply| panic!("{:?}", reply.body));
        assert_eq!(request.reference.as_deref(), Some("os-1"));
        assert_eq!(request.ship_to.lines, ["1 Main St"]);
        assert!((request.weight_oz - 17.637).abs() < 0.001);
    }

    #[test]
    fn missing_and_invalid_fields_are_all_reported() {
        let mut body = body();
        body["recipient"].as_object_mut().unwrap().remove("region");
        body["recipient"]["address_lines"] = json!([]);
        body["parcel"]["weight_grams"] = json!(-5);
        let reply = parse(&body, true).err().unwrap();
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            error_fields(&reply),
            [
                "recipient.address_lines",
                "recipient.region",
                "parcel.weight_grams"
            ]
        );
        body["recipient"]["address_lines"] = json!(["a", "b", "c", "d"]);
        body["recipient"]["region"] = json!("IL");
        body["parcel"]["weight_grams"] = json!(1);
        let reply = parse(&body, true).err().unwrap();
        assert_eq!(error_fields(&reply), ["recipient.address_lines"]);
        body["recipient"]["address_lines"] = json!(["a", " "]);
        body["recipient"]["region"] = json!("IL");
        body["parcel"]["weight_grams"] = json!(1);
        let reply = parse(&body, true).err().unwrap();
        assert_eq!(error_fields(&reply), ["recipient.address_lines"]);
    }
}
