//! The `x-amzn-api-sandbox.static` request/response pairs an official Swagger model embeds per
//! operation: one walk, used by getOrder and confirmShipment.

use axum::http::StatusCode;
use serde_json::Value;

/// One static case: the status it answers with, the `orderId` it matches, the request's other
/// parameters and the canned response body (absent for 204).
pub(crate) struct ModelCase<'a> {
    pub status: StatusCode,
    pub order_id: &'a str,
    pub parameters: &'a Value,
    pub response: Option<&'a Value>,
}

/// The static cases under `responses_pointer` (a JSON pointer to an operation's `responses`).
pub(crate) fn model_cases<'a>(model: &'a Value, responses_pointer: &str) -> Vec<ModelCase<'a>> {
    let Some(responses) = model.pointer(responses_pointer).and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut cases = Vec::new();
    for (status, response) in responses {
        let Some(status) = status
            .parse::<u16>()
            .ok()
            .and_then(|code| StatusCode::from_u16(code).ok())
        else {
            continue;
        };
        let statics = response
            .pointer("/x-amzn-api-sandbox/static")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for case in statics {
            let Some(parameters) = case.pointer("/request/parameters") else {
                continue;
            };
            let Some(order_id) = parameters.pointer("/orderId/value").and_then(Value::as_str)
            else {
                continue;
            };
            cases.push(ModelCase {
                status,
                order_id,
                parameters,
                response: case.get("response"),
            });
        }
    }
    cases
}
