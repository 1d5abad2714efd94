//! Orders API v0 `confirmShipment`: `POST /orders/v0/orders/{orderId}/shipmentConfirmation`.
//!
//! Derived from the official model (`ordersV0.json`, embedded at build time):
//! `ConfirmShipmentRequest`, `PackageDetail`, `ConfirmShipmentOrderItem`, errors as
//! `ConfirmShipmentErrorResponse` (`{"errors": [Error…]}`), 204 on success, and the
//! `x-amzn-RateLimit-Limit` header (usage plan 2 rps) on 204, 400, 404 and 429.
//!
//! # Request validation (400 `InvalidInput`, one `Error` per problem)
//!
//! Each error names the field path (`packageDetail.orderItems[1].quantity`) in `message` and
//! alone in `details`; request values are never echoed.
//!
//! - The body is a JSON object. `marketplaceId` (string) and `packageDetail` (object) are required.
//! - `codCollectionMethod`, optional: the model's enum (`DirectPayment`), and only with the JP
//!   marketplace (`A1VC38T7YXB528`), as its description says.
//! - `packageDetail` requires `packageReferenceId`, `carrierCode`, `trackingNumber`, `shipDate`
//!   and `orderItems`. Required strings must not be blank (`carrierCode` is "required for all
//!   marketplaces"). `packageReferenceId` must be a positive number written in digits ("Only
//!   positive numeric values are supported"). `shipDate` is `format: date-time`, i.e. an RFC 3339
//!   date-time (the ISO 8601 profile Swagger uses; `02/21/2022` is the model's own 400 example).
//!   `carrierName` is required (non-blank) when `carrierCode` is exactly `"Other"`; any other
//!   `carrierCode` must be one the marketplace lists (`shared/data/amazon-carrier-codes.json`,
//!   Seller Central's lists), exactly as spelled there.
//!   `shippingMethod`, `carrierName` and `shipFromSupplySourceId` are optional strings.
//! - `orderItems` is an array with at least one item (the model sets no `minItems`; a package of
//!   nothing confirms nothing, so the sandbox refuses it). Each item requires `orderItemId`
//!   (non-blank string) and `quantity` (integer ≥ 1); `transparencyCodes` is an optional array of
//!   strings. The same `orderItemId` twice in one package is refused (ambiguous).
//! - A JSON `null` counts as absent (so `"carrierName": null` is an omitted optional field).
//! - Unknown properties are accepted and ignored: none of these definitions sets
//!   `additionalProperties`, which in Swagger 2.0 / JSON Schema means additional properties are
//!   allowed. They still show in [`SandboxControl::confirmations`], so a test can assert on them.
//!
//! # Checks against the stored order (the v2026 order getOrder serves)
//!
//! In this order: unknown `orderId` → 404 `NotFound`; `marketplaceId` ≠ the order's
//! `salesChannel.marketplaceId` → 400; `fulfillment.fulfilledBy` not `MERCHANT` → 400; a
//! `CANCELLED` order, or one not yet ready to ship (`PENDING`, `PENDING_AVAILABILITY`,
//! `UNFULFILLABLE`) → 400; a `packageReferenceId` the order already has: the same tracking
//! number, carrier and items → 204 without any change (a retry), anything else **edits** that
//! package (Amazon: re-confirming a package edits it; its units count as not yet shipped while
//! the edit is checked); every `orderItemId` must be an item of the order and its `quantity` at
//! most what is left to ship (`quantityOrdered` minus the units already confirmed) → 400. Every 400 here is code `InvalidInput` (the model's error
//! vocabulary) with a message saying which rule failed.
//!
//! # Effect of a confirmation (204)
//!
//! Under one lock: each confirmed item's `fulfillment.quantityFulfilled` grows by the quantity and
//! `quantityUnfulfilled` shrinks; the order's `fulfillment.fulfillmentStatus` becomes `SHIPPED`
//! once every item is fully confirmed, else `PARTIALLY_SHIPPED`; `lastUpdatedTime` becomes the
//! sandbox's now; and an `OrderPackage` is appended to `packages`: `packageReferenceId`,
//! `createdTime` (now), `packageStatus {"status": "SHIPPED"}`, `carrier` (`carrierName` when
//! `carrierCode` is `Other`, else `carrierCode`), `shipTime` (`shipDate` in UTC),
//! `shippingService` (`shippingMethod`, if given), `trackingNumber` and `packageItems`
//! (`orderItemId`, `quantity`, `transparencyCodes` if given).
//!
//! # Static sandbox cases
//!
//! For an `orderId` of the model's `x-amzn-api-sandbox.static` cases (`902-1106328-1059050`)
//! that is not a stored order, a request whose body equals a case's body (as JSON) gets that
//! case's answer: 204, or the canned 400 `{"errors":[{"code":"Invalid Input",…}]}`. Any other
//! body for that id is validated as above, and if valid gets 400 `InvalidInput` "Could not
//! match input arguments with any defined static sandbox responses", as Amazon's static sandbox
//! answers unmatched requests.
//!
//! Every request body that reaches the operation is recorded (see
//! [`SandboxControl::confirmations`]) before faults, down mode and authorisation are applied.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::control::{Op, SandboxControl};
use crate::{orders, server};

/// The official Orders API v0 model from the kit beside the checkout.
const MODEL: &str = include_str!("../../../../shared/specs/spapi/ordersV0.json");

const RATE_LIMIT_HEADER: &str = "x-amzn-RateLimit-Limit";
/// confirmShipment's default usage plan rate (requests per second).
const RATE_LIMIT: &str = "2.0";

/// The only marketplace `codCollectionMethod` is supported in (Amazon.co.jp).
const JP_MARKETPLACE: &str = "A1VC38T7YXB528";
/// Amazon's carrier codes per marketplace (`shared/data/amazon-carrier-codes.json`, from
/// Seller Central's lists): a code a marketplace does not list is refused, as Amazon refuses
/// it ("must match the options listed in Seller Central exactly").
fn carrier_codes(marketplace_id: &str) -> Vec<&'static str> {
    static CODES: OnceLock<Value> = OnceLock::new();
    let codes = CODES.get_or_init(|| {
        serde_json::from_str(include_str!(
            "../../../shared/data/amazon-carrier-codes.json"
        ))
        .expect("the carrier code list is JSON")
    });
    codes["marketplaces"]
        .get(marketplace_id)
        .unwrap_or(&codes["listed"])
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The `carrierCode` that makes `carrierName` required.
const OTHER_CARRIER: &str = "Other";

const COD_COLLECTION_METHODS: [&str; 1] = ["DirectPayment"];

pub(crate) async fn confirm_shipment(
    State(control): State<SandboxControl>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut response = answer(&control, &order_id, &headers, body);
    let status = response.status();
    control.record(Op::ConfirmShipment, status);
    let headers = response.headers_mut();
    server::insert_request_id(headers);
    // The model documents the rate-limit header on 204, 400 and 404; throttling also reports it.
    if matches!(status.as_u16(), 204 | 400 | 404 | 429) {
        headers.insert(RATE_LIMIT_HEADER, HeaderValue::from_static(RATE_LIMIT));
    }
    response
}

fn answer(
    control: &SandboxControl,
    order_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return orders::error(
                rejection.status(),
                "InvalidInput",
                "The request body could not be read.",
                "payload",
            );
        }
    };
    let payload = serde_json::from_slice::<Value>(&body);
    let recorded = match &payload {
        Ok(value) => value.clone(),
        Err(_) => Value::String(String::from_utf8_lossy(&body).into_owned()),
    };
    control.record_confirmation(order_id, recorded);

    let seller = match orders::seller_call(control, Op::ConfirmShipment, headers) {
        Ok(seller) => seller,
        Err(response) => return *response,
    };
    let Ok(payload) = payload else {
        return invalid(vec![Invalid::new("payload", "is not valid JSON")]);
    };

    let stored = control.has_order(&seller, order_id);
    let is_static = static_cases().iter().any(|case| case.order_id == order_id);
    if !stored && is_static {
        let matched = static_cases()
            .iter()
            .find(|case| case.order_id == order_id && case.body == payload);
        if let Some(case) = matched {
            return case.answer();
        }
    }

    let request = match ConfirmRequest::parse(&payload) {
        Ok(request) => request,
        Err(problems) => return invalid(problems),
    };
    let now = whole_seconds(control.now());
    if let Some(response) =
        control.with_order_mut(&seller, order_id, |order| confirm(order, &request, now))
    {
        return response;
    }
    if is_static {
        return orders::error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "Could not match input arguments with any defined static sandbox responses",
            "",
        );
    }
    orders::error(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The resource specified does not exist.",
        "orderId",
    )
}

fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at - time::Duration::nanoseconds(i64::from(at.nanosecond()))
}

fn timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The request, validated against the model

/// One problem with the request: the field path and what is wrong (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Invalid {
    path: String,
    problem: String,
}

impl Invalid {
    fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// 400 `ConfirmShipmentErrorResponse` with one `InvalidInput` error per problem.
fn invalid(problems: Vec<Invalid>) -> Response {
    let errors: Vec<Value> = problems
        .into_iter()
        .map(|Invalid { path, problem }| {
            json!({
                "code": "InvalidInput",
                "message": format!("{path} {problem}."),
                "details": path,
            })
        })
        .collect();
    (StatusCode::BAD_REQUEST, Json(json!({ "errors": errors }))).into_response()
}

#[derive(Debug, Clone, PartialEq)]
struct ConfirmRequest {
    marketplace_id: String,
    package: PackageDetail,
}

#[derive(Debug, Clone, PartialEq)]
struct PackageDetail {
    reference_id: String,
    carrier_code: String,
    carrier_name: Option<String>,
    shipping_method: Option<String>,
    tracking_number: String,
    ship_date: OffsetDateTime,
    items: Vec<ConfirmItem>,
}

#[derive(Debug, Clone, PartialEq)]
struct ConfirmItem {
    order_item_id: String,
    quantity: u64,
    transparency_codes: Option<Vec<String>>,
}

/// Collects problems while reading one JSON object.
struct Reader<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
    problems: &'a mut Vec<Invalid>,
}

impl<'a> Reader<'a> {
    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn complain(&mut self, key: &str, problem: impl Into<String>) {
        let path = self.path(key);
        self.problems.push(Invalid::new(path, problem));
    }

    /// The value, `None` when absent or `null`.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|value| !value.is_null())
    }

    fn required_string(&mut self, key: &str) -> Option<String> {
        match self.get(key) {
            None => {
                self.complain(key, "is required");
                None
            }
            Some(Value::String(text)) if text.trim().is_empty() => {
                self.complain(key, "must not be empty");
                None
            }
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                self.complain(key, "must be a string");
                None
            }
        }
    }

    fn optional_string(&mut self, key: &str) -> Option<String> {
        match self.get(key) {
            None => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                self.complain(key, "must be a string");
                None
            }
        }
    }
}

impl ConfirmRequest {
    fn parse(payload: &Value) -> Result<Self, Vec<Invalid>> {
        let Some(object) = payload.as_object() else {
            return Err(vec![Invalid::new("payload", "must be a JSON object")]);
        };
        let mut problems = Vec::new();
        let mut reader = Reader {
            object,
            prefix: String::new(),
            problems: &mut problems,
        };
        let marketplace_id = reader.required_string("marketplaceId");
        if let Some(method) = reader.optional_string("codCollectionMethod") {
            if !COD_COLLECTION_METHODS.contains(&method.as_str()) {
                reader.complain(
                    "codCollectionMethod",
                    format!("must be one of: {}", COD_COLLECTION_METHODS.join(", ")),
                );
            } else if marketplace_id
                .as_deref()
                .is_some_and(|id| id != JP_MARKETPLACE)
            {
                reader.complain(
                    "codCollectionMethod",
                    "is only supported in the JP marketplace",
                );
            }
        }
        let package = match reader.get("packageDetail") {
            None => {
                reader.complain("packageDetail", "is required");
                None
            }
            Some(Value::Object(detail)) => PackageDetail::parse(detail, reader.problems),
            Some(_) => {
                reader.complain("packageDetail", "must be an object");
                None
            }
        };
        if let (Some(marketplace), Some(package)) = (&marketplace_id, &package)
            && package.carrier_code != OTHER_CARRIER
            && !carrier_codes(marketplace).contains(&package.carrier_code.as_str())
        {
            problems.push(Invalid::new(
                "packageDetail.carrierCode",
                "is not one of Amazon's carrier codes for this marketplace (use \"Other\" with carrierName)",
            ));
        }
        match (marketplace_id, package) {
            (Some(marketplace_id), Some(package)) if problems.is_empty() => Ok(Self {
                marketplace_id,
                package,
            }),
            _ => Err(problems),
        }
    }
}

impl PackageDetail {
    /// `None` when anything is wrong (the problems are pushed).
    fn parse(object: &Map<String, Value>, problems: &mut Vec<Invalid>) -> Option<Self> {
        let before = problems.len();
        let mut reader = Reader {
            object,
            prefix: "packageDetail.".to_owned(),
            problems,
        };
        let reference_id = reader.required_string("packageReferenceId");
        if let Some(id) = &reference_id {
            let positive_number =
                id.bytes().all(|b| b.is_ascii_digit()) && id.bytes().any(|b| b != b'0');
            if !positive_number {
                reader.complain(
                    "packageReferenceId",
                    "must be a positive number written in digits",
                );
            }
        }
        let carrier_code = reader.required_string("carrierCode");
        let carrier_name = reader.optional_string("carrierName");
        if carrier_code.as_deref() == Some(OTHER_CARRIER)
            && carrier_name
                .as_deref()
                .is_none_or(|name| name.trim().is_empty())
        {
            reader.complain(
                "carrierName",
                "is required when packageDetail.carrierCode is \"Other\"",
            );
        }
        let shipping_method = reader.optional_string("shippingMethod");
        let tracking_number = reader.required_string("trackingNumber");
        let ship_date = reader.required_string("shipDate").and_then(|text| {
            let parsed = OffsetDateTime::parse(&text, &Rfc3339).ok();
            if parsed.is_none() {
                reader.complain(
                    "shipDate",
                    "must be an ISO 8601 date-time with a time zone (RFC 3339, e.g. 2026-01-31T17:00:00Z)",
                );
            }
            parsed
        });
        reader.optional_string("shipFromSupplySourceId");
        let items = match reader.get("orderItems") {
            None => {
                reader.complain("orderItems", "is required");
                None
            }
            Some(Value::Array(items)) if items.is_empty() => {
                reader.complain("orderItems", "must list at least one item");
                None
            }
            Some(Value::Array(items)) => Some(ConfirmItem::parse_all(items, reader.problems)),
            Some(_) => {
                reader.complain("orderItems", "must be an array");
                None
            }
        };
        if problems.len() != before {
            return None;
        }
        Some(Self {
            reference_id: reference_id?,
            carrier_code: carrier_code?,
            carrier_name,
            shipping_method,
            tracking_number: tracking_number?,
            ship_date: ship_date?,
            items: items?,
        })
    }

    /// The v2026 `OrderPackage.carrier`.
    fn carrier(&self) -> &str {
        match &self.carrier_name {
            Some(name) if self.carrier_code == OTHER_CARRIER => name,
            _ => &self.carrier_code,
        }
    }
}

impl ConfirmItem {
    fn parse_all(items: &[Value], problems: &mut Vec<Invalid>) -> Vec<Self> {
        let mut parsed = Vec::new();
        let mut seen = BTreeSet::new();
        for (index, item) in items.iter().enumerate() {
            let prefix = format!("packageDetail.orderItems[{index}]");
            let Some(object) = item.as_object() else {
                problems.push(Invalid::new(prefix, "must be an object"));
                continue;
            };
            let mut reader = Reader {
                object,
                prefix: format!("{prefix}."),
                problems,
            };
            let order_item_id = reader.required_string("orderItemId");
            if let Some(id) = &order_item_id
                && !seen.insert(id.clone())
            {
                reader.complain("orderItemId", "repeats an earlier item of this package");
            }
            let quantity = match reader.get("quantity") {
                None => {
                    reader.complain("quantity", "is required");
                    None
                }
                Some(Value::Number(number)) if number.is_u64() || number.is_i64() => {
                    match number.as_u64().filter(|&quantity| quantity >= 1) {
                        Some(quantity) => Some(quantity),
                        None => {
                            reader.complain("quantity", "must be at least 1");
                            None
                        }
                    }
                }
                Some(_) => {
                    reader.complain("quantity", "must be an integer");
                    None
                }
            };
            let transparency_codes = match reader.get("transparencyCodes") {
                None => None,
                Some(Value::Array(codes)) if codes.iter().all(Value::is_string) => Some(
                    codes
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                ),
                Some(_) => {
                    reader.complain("transparencyCodes", "must be an array of strings");
                    None
                }
            };
            if let (Some(order_item_id), Some(quantity)) = (order_item_id, quantity) {
                parsed.push(Self {
                    order_item_id,
                    quantity,
                    transparency_codes,
                });
            }
        }
        parsed
    }
}

// ---------------------------------------------------------------------------------------------
// The confirmation against the stored order

/// 400 `InvalidInput` for a request that is well-formed but does not fit the order.
fn refused(message: &str, details: &str) -> Response {
    orders::error(StatusCode::BAD_REQUEST, "InvalidInput", message, details)
}

/// Checks `request` against `order` and, if it fits, records the shipment in it.
fn confirm(order: &mut Value, request: &ConfirmRequest, now: OffsetDateTime) -> Response {
    let text = |order: &Value, pointer: &str| -> Option<String> {
        order
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if text(order, "/salesChannel/marketplaceId").as_deref()
        != Some(request.marketplace_id.as_str())
    {
        return refused(
            "marketplaceId does not match the marketplace of the order.",
            "marketplaceId",
        );
    }
    if text(order, "/fulfillment/fulfilledBy").as_deref() != Some("MERCHANT") {
        return refused(
            "The order is not merchant-fulfilled (fulfilledBy MERCHANT); only the seller can confirm its shipment.",
            "orderId",
        );
    }
    match text(order, "/fulfillment/fulfillmentStatus").as_deref() {
        Some("CANCELLED") => {
            return refused(
                "The order is cancelled; its shipment cannot be confirmed.",
                "orderId",
            );
        }
        Some(status @ ("PENDING" | "PENDING_AVAILABILITY" | "UNFULFILLABLE")) => {
            return refused(
                &format!("The order is not ready for shipment (fulfillmentStatus {status})."),
                "orderId",
            );
        }
        _ => {}
    }

    let package = &request.package;
    let packages = order
        .get("packages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let same_reference = packages.iter().position(|stored| {
        stored.get("packageReferenceId").and_then(Value::as_str)
            == Some(package.reference_id.as_str())
    });
    // A package confirmed before is edited: its units are given back before the new ones are
    // counted (an identical repeat is a retry and changes nothing).
    let previous: Vec<(String, u64)> = same_reference
        .map(|index| package_items(&packages[index]))
        .unwrap_or_default();
    if let Some(index) = same_reference {
        let stored = &packages[index];
        let unchanged = stored.get("trackingNumber").and_then(Value::as_str)
            == Some(package.tracking_number.as_str())
            && stored.get("carrier").and_then(Value::as_str) == Some(package.carrier())
            && previous
                == package
                    .items
                    .iter()
                    .map(|i| (i.order_item_id.clone(), i.quantity))
                    .collect::<Vec<_>>();
        if unchanged {
            return StatusCode::NO_CONTENT.into_response();
        }
    }
    let given_back = |item_id: &str| {
        previous
            .iter()
            .filter(|(id, _)| id == item_id)
            .map(|(_, q)| q)
            .sum::<u64>()
    };

    let mut problems = Vec::new();
    for (index, item) in package.items.iter().enumerate() {
        let path = format!("packageDetail.orderItems[{index}]");
        let Some(stored) = find_item(order, &item.order_item_id) else {
            problems.push(Invalid::new(
                format!("{path}.orderItemId"),
                "is not an item of this order",
            ));
            continue;
        };
        let (ordered, fulfilled) = quantities(stored);
        let left = ordered.saturating_sub(fulfilled) + given_back(&item.order_item_id);
        if item.quantity > left {
            problems.push(Invalid::new(
                format!("{path}.quantity"),
                format!(
                    "exceeds the quantity left to ship for this item ({left} of {ordered} ordered)"
                ),
            ));
        }
    }
    if !problems.is_empty() {
        return invalid(problems);
    }

    let mut changed: Vec<(String, i64)> = previous
        .iter()
        .map(|(id, q)| (id.clone(), -(*q as i64)))
        .collect();
    changed.extend(
        package
            .items
            .iter()
            .map(|i| (i.order_item_id.clone(), i.quantity as i64)),
    );
    for (item_id, delta) in changed {
        let Some(stored) = find_item_mut(order, &item_id) else {
            continue;
        };
        let (ordered, fulfilled) = quantities(stored);
        let fulfilled = (fulfilled as i64 + delta).max(0) as u64;
        let fulfillment = object_entry(stored, "fulfillment");
        fulfillment.insert("quantityFulfilled".to_owned(), json!(fulfilled));
        fulfillment.insert(
            "quantityUnfulfilled".to_owned(),
            json!(ordered.saturating_sub(fulfilled)),
        );
    }
    let all_shipped = order
        .get("orderItems")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|item| {
            let (ordered, fulfilled) = quantities(item);
            fulfilled >= ordered
        });
    let status = if all_shipped {
        "SHIPPED"
    } else {
        "PARTIALLY_SHIPPED"
    };
    object_entry(order, "fulfillment").insert("fulfillmentStatus".to_owned(), json!(status));
    if let Some(object) = order.as_object_mut() {
        object.insert("lastUpdatedTime".to_owned(), json!(timestamp(now)));
        let packages = object
            .entry("packages")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !packages.is_array() {
            *packages = Value::Array(Vec::new());
        }
        if let Some(packages) = packages.as_array_mut() {
            let recorded = order_package(package, now);
            match same_reference.filter(|&i| i < packages.len()) {
                Some(index) => packages[index] = recorded,
                None => packages.push(recorded),
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `(orderItemId, quantity)` of a recorded `OrderPackage`, in its order.
fn package_items(package: &Value) -> Vec<(String, u64)> {
    package
        .get("packageItems")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some((
                i.get("orderItemId")?.as_str()?.to_owned(),
                i.get("quantity")?.as_u64()?,
            ))
        })
        .collect()
}

/// The v2026 `OrderPackage` recorded for a confirmed package.
fn order_package(package: &PackageDetail, now: OffsetDateTime) -> Value {
    let items: Vec<Value> = package
        .items
        .iter()
        .map(|item| {
            let mut entry = json!({ "orderItemId": item.order_item_id, "quantity": item.quantity });
            if let Some(codes) = &item.transparency_codes {
                entry["transparencyCodes"] = json!(codes);
            }
            entry
        })
        .collect();
    let mut recorded = json!({
        "packageReferenceId": package.reference_id,
        "createdTime": timestamp(now),
        "packageStatus": { "status": "SHIPPED" },
        "carrier": package.carrier(),
        "shipTime": timestamp(package.ship_date),
        "trackingNumber": package.tracking_number,
        "packageItems": items,
    });
    if let Some(method) = &package.shipping_method {
        recorded["shippingService"] = json!(method);
    }
    recorded
}

fn find_item<'a>(order: &'a Value, order_item_id: &str) -> Option<&'a Value> {
    order
        .get("orderItems")?
        .as_array()?
        .iter()
        .find(|item| item.get("orderItemId").and_then(Value::as_str) == Some(order_item_id))
}

fn find_item_mut<'a>(order: &'a mut Value, order_item_id: &str) -> Option<&'a mut Value> {
    order
        .get_mut("orderItems")?
        .as_array_mut()?
        .iter_mut()
        .find(|item| item.get("orderItemId").and_then(Value::as_str) == Some(order_item_id))
}

/// `(quantityOrdered, quantityFulfilled)` of a stored item; a missing count is 0.
fn quantities(item: &Value) -> (u64, u64) {
    let count = |pointer: &str| item.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    (
        count("/quantityOrdered"),
        count("/fulfillment/quantityFulfilled"),
    )
}

/// `value[key]` as an object, created (or replaced if not an object) when needed.
fn object_entry<'a>(value: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    let Value::Object(object) = value else {
        unreachable!("just made an object")
    };
    let entry = object
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    let Value::Object(entry) = entry else {
        unreachable!("just made an object")
    };
    entry
}

// ---------------------------------------------------------------------------------------------
// Static sandbox cases

/// One `x-amzn-api-sandbox.static` request/response pair of confirmShipment.
#[derive(Debug)]
struct StaticCase {
    status: StatusCode,
    order_id: String,
    /// The request body the case matches.
    body: Value,
    response: Value,
}

impl StaticCase {
    fn answer(&self) -> Response {
        if self.status == StatusCode::NO_CONTENT {
            StatusCode::NO_CONTENT.into_response()
        } else {
            (self.status, Json(self.response.clone())).into_response()
        }
    }
}

fn static_cases() -> &'static [StaticCase] {
    static CASES: OnceLock<Vec<StaticCase>> = OnceLock::new();
    CASES.get_or_init(|| load_static_cases(MODEL))
}

fn load_static_cases(model: &str) -> Vec<StaticCase> {
    let model: Value = serde_json::from_str(model).expect("the Orders v0 model is valid JSON");
    crate::statics::model_cases(
        &model,
        "/paths/~1orders~1v0~1orders~1{orderId}~1shipmentConfirmation/post/responses",
    )
    .into_iter()
    .filter_map(|case| {
        Some(StaticCase {
            status: case.status,
            order_id: case.order_id.to_owned(),
            body: case.parameters.pointer("/body/value")?.clone(),
            response: case.response?.clone(),
        })
    })
    .collect()
}

/// Order ids the model's static confirmShipment cases answer to; generated ids avoid them.
pub(crate) fn static_order_ids() -> impl Iterator<Item = &'static str> {
    static_cases().iter().map(|case| case.order_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Properties of `ConfirmShipmentRequest`, `PackageDetail` and `ConfirmShipmentOrderItem` the
    /// parsers above read, and the ones they require; kept equal to the model's below.
    const REQUEST_PROPERTIES: [&str; 3] = ["packageDetail", "codCollectionMethod", "marketplaceId"];
    const REQUEST_REQUIRED: [&str; 2] = ["marketplaceId", "packageDetail"];
    const PACKAGE_PROPERTIES: [&str; 8] = [
        "packageReferenceId",
        "carrierCode",
        "carrierName",
        "shippingMethod",
        "trackingNumber",
        "shipDate",
        "shipFromSupplySourceId",
        "orderItems",
    ];
    const PACKAGE_REQUIRED: [&str; 5] = [
        "packageReferenceId",
        "carrierCode",
        "trackingNumber",
        "shipDate",
        "orderItems",
    ];
    const ITEM_PROPERTIES: [&str; 3] = ["orderItemId", "quantity", "transparencyCodes"];
    const ITEM_REQUIRED: [&str; 2] = ["orderItemId", "quantity"];

    fn model() -> Value {
        serde_json::from_str(MODEL).unwrap()
    }

    fn names(value: &Value) -> BTreeSet<String> {
        match value {
            Value::Object(object) => object.keys().cloned().collect(),
            Value::Array(array) => array
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect(),
            _ => panic!("not a list of names: {value}"),
        }
    }

    fn set(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The properties and required lists validated here are the model's; a change in the model
    /// fails this test.
    #[test]
    fn validated_fields_match_the_model() {
        let model = model();
        let definitions = &model["definitions"];
        for (name, properties, required) in [
            (
                "ConfirmShipmentRequest",
                &REQUEST_PROPERTIES[..],
                &REQUEST_REQUIRED[..],
            ),
            (
                "PackageDetail",
                &PACKAGE_PROPERTIES[..],
                &PACKAGE_REQUIRED[..],
            ),
            (
                "ConfirmShipmentOrderItem",
                &ITEM_PROPERTIES[..],
                &ITEM_REQUIRED[..],
            ),
        ] {
            let definition = &definitions[name];
            assert_eq!(names(&definition["properties"]), set(properties), "{name}");
            assert_eq!(names(&definition["required"]), set(required), "{name}");
            assert!(
                definition.get("additionalProperties").is_none(),
                "{name}: additionalProperties now set; revisit unknown-field handling"
            );
        }
        assert_eq!(
            names(
                &definitions["ConfirmShipmentRequest"]["properties"]["codCollectionMethod"]["enum"]
            ),
            set(&COD_COLLECTION_METHODS)
        );
        assert_eq!(
            definitions["PackageDetail"]["properties"]["shipDate"]["format"],
            "date-time"
        );
        assert_eq!(
            definitions["ConfirmShipmentOrderItem"]["properties"]["quantity"]["type"],
            "integer"
        );
        let carrier_name = definitions["PackageDetail"]["properties"]["carrierName"]["description"]
            .as_str()
            .unwrap();
        assert!(carrier_name.contains("\"Other\""), "{carrier_name}");
    }

    #[test]
    fn static_cases_load_from_the_model() {
        let mut cases: Vec<(u16, &str)> = static_cases()
            .iter()
            .map(|case| (case.status.as_u16(), case.order_id.as_str()))
            .collect();
        cases.sort();
        assert_eq!(
            cases,
            [(204, "902-1106328-1059050"), (400, "902-1106328-1059050")]
        );
        // The model's 204 body is valid by these rules; its 400 body is not (shipDate).
        for case in static_cases() {
            let parsed = ConfirmRequest::parse(&case.body);
            assert_eq!(
                parsed.is_ok(),
                case.status == StatusCode::NO_CONTENT,
                "{case:?}"
            );
        }
    }

    fn valid() -> Value {
        json!({
            "marketplaceId": "ATVPDKIKX0DER",
            "packageDetail": {
                "packageReferenceId": "1",
                "carrierCode": "UPS",
                "trackingNumber": "1Z999AA10123456784",
                "shipDate": "2026-01-31T17:00:00.000Z",
                "orderItems": [{"orderItemId": "12345678901234", "quantity": 1}]
            }
        })
    }

    fn problems(body: &Value) -> Vec<(String, String)> {
        ConfirmRequest::parse(body)
            .unwrap_err()
            .into_iter()
            .map(|p| (p.path, p.problem))
            .collect()
    }

    #[test]
    fn parse_reads_a_valid_request() {
        let mut body = valid();
        body["packageDetail"]["shippingMethod"] = json!("UPS Ground");
        body["packageDetail"]["carrierName"] = Value::Null;
        body["packageDetail"]["orderItems"][0]["transparencyCodes"] = json!(["AZ1"]);
        body["unknownField"] = json!(true);
        let request = ConfirmRequest::parse(&body).unwrap();
        assert_eq!(request.marketplace_id, "ATVPDKIKX0DER");
        assert_eq!(request.package.carrier(), "UPS");
        assert_eq!(
            request.package.shipping_method.as_deref(),
            Some("UPS Ground")
        );
        assert_eq!(timestamp(request.package.ship_date), "2026-01-31T17:00:00Z");
        assert_eq!(
            request.package.items,
            [ConfirmItem {
                order_item_id: "12345678901234".to_owned(),
                quantity: 1,
                transparency_codes: Some(vec!["AZ1".to_owned()]),
            }]
        );
    }

    #[test]
    fn parse_reports_every_problem_by_path() {
        let body = json!({
            "marketplaceId": 7,
            "codCollectionMethod": "Cash",
            "packageDetail": {
                "packageReferenceId": "PKG-1",
                "carrierCode": " ",
                "shipDate": "02/21/2022",
                "shippingMethod": 3,
                "orderItems": [
                    {"orderItemId": "A", "quantity": 0},
                    {"orderItemId": "A", "quantity": 1.5},
                    "B",
                    {"quantity": -1, "transparencyCodes": [1]}
                ]
            }
        });
        let found = problems(&body);
        let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "marketplaceId",
                "codCollectionMethod",
                "packageDetail.packageReferenceId",
                "packageDetail.carrierCode",
                "packageDetail.shippingMethod",
                "packageDetail.trackingNumber",
                "packageDetail.shipDate",
                "packageDetail.orderItems[0].quantity",
                "packageDetail.orderItems[1].orderItemId",
                "packageDetail.orderItems[1].quantity",
                "packageDetail.orderItems[2]",
                "packageDetail.orderItems[3].orderItemId",
                "packageDetail.orderItems[3].quantity",
                "packageDetail.orderItems[3].transparencyCodes",
            ]
        );
        for (_, problem) in &found {
            for value in ["PKG-1", "02/21/2022", "Cash"] {
                assert!(!problem.contains(value), "{problem} echoes {value}");
            }
        }
    }

    #[test]
    fn carrier_other_needs_a_carrier_name() {
        let mut body = valid();
        body["packageDetail"]["carrierCode"] = json!("Other");
        assert_eq!(
            problems(&body),
            [(
                "packageDetail.carrierName".to_owned(),
                "is required when packageDetail.carrierCode is \"Other\"".to_owned()
            )]
        );
        body["packageDetail"]["carrierName"] = json!("Local Courier Co");
        let request = ConfirmRequest::parse(&body).unwrap();
        assert_eq!(request.package.carrier(), "Local Courier Co");
    }

    #[test]
    fn cod_only_in_japan_and_package_reference_positive() {
        let mut body = valid();
        body["codCollectionMethod"] = json!("DirectPayment");
        assert_eq!(problems(&body)[0].0, "codCollectionMethod");
        body["marketplaceId"] = json!(JP_MARKETPLACE);
        assert!(ConfirmRequest::parse(&body).is_ok());
        for bad in ["0", "000", "-1", "1.5", "1e3", ""] {
            let mut body = valid();
            body["packageDetail"]["packageReferenceId"] = json!(bad);
            assert_eq!(
                problems(&body)[0].0,
                "packageDetail.packageReferenceId",
                "{bad}"
            );
        }
        let mut body = valid();
        body["packageDetail"]["packageReferenceId"] = json!(1);
        assert_eq!(
            problems(&body),
            [(
                "packageDetail.packageReferenceId".to_owned(),
                "must be a string".to_owned()
            )]
        );
    }

    /// Leaving out any field the model requires is reported as required, at its path.
    #[test]
    fn every_required_field_of_the_model_is_enforced() {
        for key in REQUEST_REQUIRED {
            let mut body = valid();
            body.as_object_mut().unwrap().remove(key);
            assert_eq!(
                problems(&body),
                [(key.to_owned(), "is required".to_owned())]
            );
        }
        for key in PACKAGE_REQUIRED {
            let mut body = valid();
            body["packageDetail"].as_object_mut().unwrap().remove(key);
            assert_eq!(
                problems(&body),
                [(format!("packageDetail.{key}"), "is required".to_owned())]
            );
        }
        for key in ITEM_REQUIRED {
            let mut body = valid();
            body["packageDetail"]["orderItems"][0]
                .as_object_mut()
                .unwrap()
                .remove(key);
            assert_eq!(
                problems(&body),
                [(
                    format!("packageDetail.orderItems[0].{key}"),
                    "is required".to_owned()
                )]
            );
        }
        // Every optional property is read and type-checked.
        let optional = [
            ("", "codCollectionMethod"),
            ("packageDetail", "carrierName"),
            ("packageDetail", "shippingMethod"),
            ("packageDetail", "shipFromSupplySourceId"),
        ];
        for (parent, key) in optional {
            let mut body = valid();
            let target = if parent.is_empty() {
                &mut body
            } else {
                &mut body[parent]
            };
            target[key] = json!(42);
            let path = if parent.is_empty() {
                key.to_owned()
            } else {
                format!("{parent}.{key}")
            };
            assert_eq!(problems(&body), [(path, "must be a string".to_owned())]);
        }
        let mut body = valid();
        body["packageDetail"]["orderItems"][0]["transparencyCodes"] = json!("AZ1");
        assert_eq!(
            problems(&body)[0].0,
            "packageDetail.orderItems[0].transparencyCodes"
        );
    }

    #[test]
    fn required_containers() {
        assert_eq!(problems(&json!([]))[0].0, "payload");
        let found = problems(&json!({}));
        assert_eq!(
            found,
            [
                ("marketplaceId".to_owned(), "is required".to_owned()),
                ("packageDetail".to_owned(), "is required".to_owned()),
            ]
        );
        let mut body = valid();
        body["packageDetail"]["orderItems"] = json!([]);
        assert_eq!(
            problems(&body),
            [(
                "packageDetail.orderItems".to_owned(),
                "must list at least one item".to_owned()
            )]
        );
    }
}
