//! Orders API v2026-01-01 `getOrder`: `GET /orders/2026-01-01/orders/{orderId}`.
//!
//! Shapes follow the official model (`orders_2026-01-01.json`, embedded at build time). The
//! `includedData` datasets govern the optional sections; the model names the datasets and the
//! sections, and its sandbox examples pair them one to one:
//!
//! | dataset | `Order` | `OrderItem` |
//! |---|---|---|
//! | BUYER | `buyer` | |
//! | RECIPIENT | `recipient` | |
//! | PROCEEDS | `proceeds` | `proceeds` |
//! | EXPENSE | | `expense` |
//! | PROMOTION | | `promotion` |
//! | CANCELLATION | | `cancellation` |
//! | FULFILLMENT | `fulfillment` | `fulfillment` |
//! | PACKAGES | `packages` | |
//! | TAX | `tax` | `tax` |
//! | PAYMENT | `payment` | |
//! | FULFILLMENT_ORDERS | `fulfillmentOrders` | |
//!
//! Everything else is always returned: the required `orderId`, `createdTime`, `lastUpdatedTime`,
//! `salesChannel`, `orderItems` (each with `orderItemId`, `quantityOrdered`, `product`), and the
//! ungoverned `orderAliases`, `programs`, `associatedOrders`, and per item `measurement`,
//! `associatedOrderItems`, `programs`.
//!
//! The model's static sandbox cases answer as in Amazon's sandbox: `TEST_CASE_400` gives the
//! canned 400; `114-9876543-1234567`, `171-9876543-2109876` and `028-1234567-8901234` give the
//! canned order, filtered by the requested datasets (with the datasets of the model's request,
//! that is exactly the canned response).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::control::{Fault, Op, SandboxControl};
use crate::lwa::TokenCheck;
use crate::server;

/// The official Orders API v2026-01-01 model from the kit beside the checkout.
const MODEL: &str = include_str!("../../../../shared/specs/spapi/orders_2026-01-01.json");

const RATE_LIMIT_HEADER: &str = "x-amzn-RateLimit-Limit";
/// getOrder's default usage plan rate (requests per second).
const RATE_LIMIT: &str = "0.5";

/// A value of the `includedData` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum IncludedData {
    Buyer,
    Recipient,
    Proceeds,
    Expense,
    Promotion,
    Cancellation,
    Fulfillment,
    Packages,
    Tax,
    Payment,
    FulfillmentOrders,
}

impl IncludedData {
    pub(crate) const ALL: [Self; 11] = [
        Self::Buyer,
        Self::Recipient,
        Self::Proceeds,
        Self::Expense,
        Self::Promotion,
        Self::Cancellation,
        Self::Fulfillment,
        Self::Packages,
        Self::Tax,
        Self::Payment,
        Self::FulfillmentOrders,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Buyer => "BUYER",
            Self::Recipient => "RECIPIENT",
            Self::Proceeds => "PROCEEDS",
            Self::Expense => "EXPENSE",
            Self::Promotion => "PROMOTION",
            Self::Cancellation => "CANCELLATION",
            Self::Fulfillment => "FULFILLMENT",
            Self::Packages => "PACKAGES",
            Self::Tax => "TAX",
            Self::Payment => "PAYMENT",
            Self::FulfillmentOrders => "FULFILLMENT_ORDERS",
        }
    }

    /// Case-sensitive, like the API's enum.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|data| data.as_str() == value)
    }
}

/// Optional `Order` sections and the dataset that brings each into the response.
const ORDER_SECTIONS: [(&str, IncludedData); 8] = [
    ("buyer", IncludedData::Buyer),
    ("recipient", IncludedData::Recipient),
    ("proceeds", IncludedData::Proceeds),
    ("payment", IncludedData::Payment),
    ("tax", IncludedData::Tax),
    ("fulfillment", IncludedData::Fulfillment),
    ("packages", IncludedData::Packages),
    ("fulfillmentOrders", IncludedData::FulfillmentOrders),
];

/// Optional `OrderItem` sections and the dataset that brings each into the response.
const ITEM_SECTIONS: [(&str, IncludedData); 6] = [
    ("proceeds", IncludedData::Proceeds),
    ("expense", IncludedData::Expense),
    ("promotion", IncludedData::Promotion),
    ("cancellation", IncludedData::Cancellation),
    ("fulfillment", IncludedData::Fulfillment),
    ("tax", IncludedData::Tax),
];

/// The order as getOrder returns it for `included`: governed sections not asked for are removed.
pub(crate) fn filter(order: &Value, included: &BTreeSet<IncludedData>) -> Value {
    let mut order = order.clone();
    if let Some(object) = order.as_object_mut() {
        for (key, dataset) in ORDER_SECTIONS {
            if !included.contains(&dataset) {
                object.remove(key);
            }
        }
        let items = object
            .get_mut("orderItems")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten();
        for item in items.filter_map(Value::as_object_mut) {
            for (key, dataset) in ITEM_SECTIONS {
                if !included.contains(&dataset) {
                    item.remove(key);
                }
            }
        }
    }
    order
}

/// The `includedData` values of a query, accepting both `includedData=A,B` and repeated
/// `includedData=A&includedData=B`. Returned as sent (not validated).
fn included_data_values(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(name, _)| name == "includedData")
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_included_data(values: &[String]) -> Result<BTreeSet<IncludedData>, &str> {
    values
        .iter()
        .map(|value| IncludedData::parse(value).ok_or(value.as_str()))
        .collect()
}

pub(crate) async fn get_order(
    State(control): State<SandboxControl>,
    Path(order_id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let query = query.ok().map(|Query(pairs)| pairs);
    let mut response = answer(&control, &order_id, query.as_deref(), &headers);
    let status = response.status();
    control.record(Op::GetOrder, status);
    let headers = response.headers_mut();
    server::insert_request_id(headers);
    // The model documents the rate-limit header on 200, 400 and 404; throttling also reports it.
    if matches!(status.as_u16(), 200 | 400 | 404 | 429) {
        headers.insert(RATE_LIMIT_HEADER, HeaderValue::from_static(RATE_LIMIT));
    }
    response
}

fn answer(
    control: &SandboxControl,
    order_id: &str,
    query: Option<&[(String, String)]>,
    headers: &HeaderMap,
) -> Response {
    let requested = query.map(included_data_values);
    if let Some(values) = &requested {
        control.record_included_data(values.clone());
    }
    let seller = match seller_call(control, Op::GetOrder, headers) {
        Ok(seller) => seller,
        Err(response) => return *response,
    };
    let Some(values) = requested else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "The query string could not be parsed.",
            "",
        );
    };
    let static_case = static_cases().iter().find(|case| case.order_id == order_id);
    if let Some(case) = static_case.filter(|case| case.status != StatusCode::OK) {
        return (case.status, Json(case.body.clone())).into_response();
    }
    let included = match parse_included_data(&values) {
        Ok(included) => included,
        Err(bad) => {
            let allowed: Vec<&str> = IncludedData::ALL.iter().map(|d| d.as_str()).collect();
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                &format!("Invalid value for includedData: {bad}"),
                &format!("Allowed values: {}", allowed.join(", ")),
            );
        }
    };
    // Another seller's order does not exist for this one.
    if let Some(order) = control.order_of(&seller, order_id) {
        let body = json!({ "order": filter(&order, &included) });
        return (StatusCode::OK, Json(body)).into_response();
    }
    match static_case {
        // The request the model pairs with this response: answer it verbatim.
        Some(case) if case.included.as_ref() == Some(&included) => {
            (StatusCode::OK, Json(case.body.clone())).into_response()
        }
        Some(case) => {
            let body = json!({ "order": filter(&case.body["order"], &included) });
            (StatusCode::OK, Json(body)).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The resource specified does not exist.",
            "",
        ),
    }
}

/// What every seller operation checks first: the service is up, no fault is due for `op`, the
/// access token is a live seller's. Returns the seller, or the answer to give.
pub(crate) fn seller_call(
    control: &SandboxControl,
    op: Op,
    headers: &HeaderMap,
) -> Result<String, Box<Response>> {
    if control.is_down() {
        return Err(Box::new(fault_response(Fault::Unavailable)));
    }
    if let Some(fault) = control.take_fault(op) {
        return Err(Box::new(fault_response(fault)));
    }
    authorize(control, headers).map_err(|details| {
        Box::new(error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "Access to requested resource is denied.",
            details,
        ))
    })
}

/// getOrder and confirmShipment act for a seller: they need a live access token from the
/// refresh_token grant. Returns the seller it acts for; on refusal, the `details` of the 403.
pub(crate) fn authorize(
    control: &SandboxControl,
    headers: &HeaderMap,
) -> Result<String, &'static str> {
    let token = headers
        .get("x-amz-access-token")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .ok_or("")?;
    let now = control.now();
    match control.lock().tokens.check(token, now) {
        TokenCheck::Seller(seller) => Ok(seller),
        TokenCheck::Grantless => Err(""),
        TokenCheck::Expired => Err("The access token you provided has expired."),
        TokenCheck::Unknown => {
            Err("The access token you provided is revoked, malformed or invalid.")
        }
    }
}

pub(crate) fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Throttle => error(
            StatusCode::TOO_MANY_REQUESTS,
            "QuotaExceeded",
            "You exceeded your quota for the requested resource.",
            "",
        ),
        Fault::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "We encountered an internal error. Please try again.",
            "",
        ),
        Fault::Unavailable => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service temporarily unavailable. Please try again later.",
            "",
        ),
        Fault::BadRequest => error(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "Invalid input.",
            "",
        ),
    }
}

/// An SP-API `ErrorList` with one `Error`.
pub(crate) fn error(status: StatusCode, code: &str, message: &str, details: &str) -> Response {
    let body = json!({ "errors": [{ "code": code, "message": message, "details": details }] });
    (status, Json(body)).into_response()
}

/// One `x-amzn-api-sandbox.static` request/response pair of getOrder.
#[derive(Debug)]
struct StaticCase {
    status: StatusCode,
    order_id: String,
    /// The datasets of the model's request, when it names them.
    included: Option<BTreeSet<IncludedData>>,
    body: Value,
}

fn static_cases() -> &'static [StaticCase] {
    static CASES: OnceLock<Vec<StaticCase>> = OnceLock::new();
    CASES.get_or_init(|| load_static_cases(MODEL))
}

fn load_static_cases(model: &str) -> Vec<StaticCase> {
    let model: Value =
        serde_json::from_str(model).expect("the Orders v2026-01-01 model is valid JSON");
    crate::statics::model_cases(
        &model,
        "/paths/~1orders~12026-01-01~1orders~1{orderId}/get/responses",
    )
    .into_iter()
    .filter_map(|case| {
        let included = case
            .parameters
            .pointer("/includedData/value")
            .and_then(Value::as_array)
            .map(|values| {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(IncludedData::parse)
                    .collect()
            });
        Some(StaticCase {
            status: case.status,
            order_id: case.order_id.to_owned(),
            included,
            body: case.response?.clone(),
        })
    })
    .collect()
}

/// Order ids the model's static sandbox cases answer to; generated ids avoid them.
pub(crate) fn static_order_ids() -> impl Iterator<Item = &'static str> {
    static_cases().iter().map(|case| case.order_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Value {
        serde_json::from_str(MODEL).unwrap()
    }

    #[test]
    fn included_data_values_match_the_model_enum() {
        let model = model();
        let parameters = model
            .pointer("/paths/~1orders~12026-01-01~1orders~1{orderId}/get/parameters")
            .and_then(Value::as_array)
            .unwrap();
        let included = parameters
            .iter()
            .find(|p| p["name"] == "includedData")
            .unwrap();
        let from_model: Vec<&str> = included["items"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = IncludedData::ALL.iter().map(|d| d.as_str()).collect();
        assert_eq!(ours, from_model);
    }

    /// Every optional property of `Order`/`OrderItem` in the model is either governed by a
    /// dataset here or deliberately always returned; a new property in the model fails this.
    #[test]
    fn every_optional_section_in_the_model_is_classified() {
        let model = model();
        let check = |definition: &str, governed: &[&str], always: &[&str]| {
            let def = &model["definitions"][definition];
            let required: Vec<&str> = def["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let mut unclassified = Vec::new();
            for name in def["properties"].as_object().unwrap().keys() {
                let name = name.as_str();
                if !required.contains(&name) && !governed.contains(&name) && !always.contains(&name)
                {
                    unclassified.push(name.to_owned());
                }
            }
            assert!(
                unclassified.is_empty(),
                "{definition}: unclassified {unclassified:?}"
            );
            for name in governed {
                assert!(def["properties"].get(name).is_some(), "{definition}.{name}");
            }
        };
        let order: Vec<&str> = ORDER_SECTIONS.iter().map(|(k, _)| *k).collect();
        check(
            "Order",
            &order,
            &["orderAliases", "programs", "associatedOrders"],
        );
        let item: Vec<&str> = ITEM_SECTIONS.iter().map(|(k, _)| *k).collect();
        check(
            "OrderItem",
            &item,
            &["measurement", "associatedOrderItems", "programs"],
        );
    }

    #[test]
    fn static_cases_load_from_the_model() {
        let mut ids: Vec<(u16, &str)> = static_cases()
            .iter()
            .map(|case| (case.status.as_u16(), case.order_id.as_str()))
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                (200, "028-1234567-8901234"),
                (200, "114-9876543-1234567"),
                (200, "171-9876543-2109876"),
                (400, "TEST_CASE_400"),
            ]
        );
    }

    /// Filtering a canned order by the datasets of the model's own request gives back the canned
    /// response unchanged, which confirms the dataset ↔ section table against Amazon's examples.
    #[test]
    fn static_cases_are_fixed_points_of_the_filter() {
        for case in static_cases().iter().filter(|c| c.status == StatusCode::OK) {
            let included = case
                .included
                .clone()
                .expect("static 200 cases name datasets");
            let order = &case.body["order"];
            assert_eq!(&filter(order, &included), order, "{}", case.order_id);
        }
    }

    #[test]
    fn filter_keeps_required_fields_and_drops_unrequested_sections() {
        let order = json!({
            "orderId": "111-1111111-1111111",
            "createdTime": "2026-01-01T00:00:00Z",
            "lastUpdatedTime": "2026-01-01T00:00:00Z",
            "programs": ["PRIME"],
            "salesChannel": {"channelName": "AMAZON"},
            "buyer": {"buyerName": "A"},
            "recipient": {"deliveryAddress": {"name": "B"}},
            "proceeds": {},
            "fulfillment": {"fulfillmentStatus": "UNSHIPPED"},
            "orderItems": [{
                "orderItemId": "1", "quantityOrdered": 1, "product": {},
                "proceeds": {}, "fulfillment": {}, "promotion": {}
            }]
        });
        let only_recipient = BTreeSet::from([IncludedData::Recipient]);
        let filtered = filter(&order, &only_recipient);
        assert!(filtered.get("buyer").is_none());
        assert!(filtered.get("proceeds").is_none());
        assert!(filtered.get("fulfillment").is_none());
        assert_eq!(filtered["recipient"], order["recipient"]);
        assert_eq!(filtered["programs"], json!(["PRIME"]));
        assert_eq!(
            filtered["orderItems"][0],
            json!({"orderItemId": "1", "quantityOrdered": 1, "product": {}})
        );
        let everything: BTreeSet<_> = IncludedData::ALL.into_iter().collect();
        assert_eq!(filter(&order, &everything), order);
    }

    #[test]
    fn included_data_accepts_comma_lists_and_repeats() {
        let pairs = vec![
            ("includedData".to_owned(), "BUYER,RECIPIENT".to_owned()),
            ("other".to_owned(), "X".to_owned()),
            ("includedData".to_owned(), "PACKAGES".to_owned()),
        ];
        let values = included_data_values(&pairs);
        assert_eq!(values, ["BUYER", "RECIPIENT", "PACKAGES"]);
        assert_eq!(parse_included_data(&values).unwrap().len(), 3);
        assert_eq!(
            parse_included_data(&["buyer".to_owned()]).unwrap_err(),
            "buyer"
        );
    }
}
