//! Orders API v2026-01-01 `searchOrders`: `GET /orders/2026-01-01/orders`.
//!
//! The model's rules (`orders_2026-01-01.json`):
//! - exactly one of `createdAfter` and `lastUpdatedAfter`; `lastUpdatedBefore` (or
//!   `createdBefore`) goes with its own kind, is not before the "after" time and at least two
//!   minutes before the request;
//! - filters `marketplaceIds`, `fulfilledBy`, `fulfillmentStatuses`; `maxResultsPerPage` 1–100
//!   (default 100); `includedData` governs the sections as for getOrder;
//! - `pagination.nextToken` while more pages remain; the next request passes it as
//!   `paginationToken` with the same parameters except `maxResultsPerPage` and `includedData`;
//!   a token expires after 24 hours (on the sandbox clock);
//! - the usage plan is 0.0056 requests/s with a burst of 20, per seller, on the wall clock: a
//!   request over it is answered 429 `QuotaExceeded`.
//!
//! A seller sees only its own orders. Orders come sorted by `lastUpdatedTime`, then `orderId`
//! (the model documents no order; a stable one keeps pages disjoint). The response's
//! `lastUpdatedBefore` is the request's, or the request time less two minutes.

// The `Err` of these results is the HTTP answer itself, handed straight back to axum.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::control::{Fault, Op, SandboxControl};
use crate::orders::{IncludedData, error, fault_response, filter, seller_call};
use crate::plan::Plan;
use crate::server;

/// The model's usage plan.
pub(crate) const PLAN: Plan = Plan {
    rate: 0.0056,
    burst: 20.0,
};
/// A pagination token's life.
const TOKEN_LIFETIME: time::Duration = time::Duration::hours(24);

/// What a pagination token stands for.
#[derive(Debug, Clone)]
pub(crate) struct PageToken {
    seller: String,
    /// The query's filters, which a follow-up request must repeat.
    signature: String,
    offset: usize,
    issued_at: OffsetDateTime,
}

/// The filters of a request, parsed.
struct SearchQuery {
    created_after: Option<OffsetDateTime>,
    created_before: Option<OffsetDateTime>,
    updated_after: Option<OffsetDateTime>,
    updated_before: Option<OffsetDateTime>,
    marketplaces: Vec<String>,
    fulfilled_by: Vec<String>,
    statuses: Vec<String>,
    page_size: usize,
    included: BTreeSet<IncludedData>,
    token: Option<String>,
    /// The filters as text, for matching a follow-up request to its token.
    signature: String,
}

const STATUSES: [&str; 7] = [
    "PENDING_AVAILABILITY",
    "PENDING",
    "UNSHIPPED",
    "PARTIALLY_SHIPPED",
    "SHIPPED",
    "CANCELLED",
    "UNFULFILLABLE",
];

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "InvalidInput", message, "")
}

fn values(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn time_of(pairs: &[(String, String)], name: &str) -> Result<Option<OffsetDateTime>, Response> {
    match values(pairs, name).first() {
        None => Ok(None),
        Some(v) => OffsetDateTime::parse(v, &Rfc3339)
            .map(Some)
            .map_err(|_| invalid(&format!("{name} must be an ISO 8601 date-time"))),
    }
}

impl SearchQuery {
    fn parse(pairs: &[(String, String)], now: OffsetDateTime) -> Result<Self, Response> {
        let created_after = time_of(pairs, "createdAfter")?;
        let created_before = time_of(pairs, "createdBefore")?;
        let updated_after = time_of(pairs, "lastUpdatedAfter")?;
        let updated_before = time_of(pairs, "lastUpdatedBefore")?;
        match (created_after, updated_after) {
            (Some(_), None) if updated_before.is_none() => {}
            (None, Some(_)) if created_before.is_none() => {}
            _ => {
                return Err(invalid(
                    "Exactly one of createdAfter and lastUpdatedAfter is required, each with its own kind of before time.",
                ));
            }
        }
        let two_minutes_ago = now - time::Duration::minutes(2);
        for (after, before, name) in [
            (created_after, created_before, "createdBefore"),
            (updated_after, updated_before, "lastUpdatedBefore"),
        ] {
            if let (Some(after), Some(before)) = (after, before)
                && (before < after || before > two_minutes_ago)
            {
                return Err(invalid(&format!(
                    "{name} must not be before the after time and must be at least two minutes before the request."
                )));
            }
        }
        let fulfilled_by = values(pairs, "fulfilledBy");
        if fulfilled_by
            .iter()
            .any(|v| v != "MERCHANT" && v != "AMAZON")
        {
            return Err(invalid("Invalid value for fulfilledBy."));
        }
        let statuses = values(pairs, "fulfillmentStatuses");
        if statuses.iter().any(|s| !STATUSES.contains(&s.as_str())) {
            return Err(invalid("Invalid value for fulfillmentStatuses."));
        }
        let page_size = match values(pairs, "maxResultsPerPage").first() {
            None => 100,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| invalid("maxResultsPerPage must be between 1 and 100."))?,
        };
        let mut included = BTreeSet::new();
        for v in values(pairs, "includedData") {
            included.insert(
                IncludedData::parse(&v)
                    .ok_or_else(|| invalid(&format!("Invalid value for includedData: {v}")))?,
            );
        }
        let marketplaces = values(pairs, "marketplaceIds");
        let signature = format!(
            "{:?}|{:?}|{:?}|{:?}|{marketplaces:?}|{fulfilled_by:?}|{statuses:?}",
            created_after, created_before, updated_after, updated_before
        );
        Ok(Self {
            created_after,
            created_before,
            updated_after,
            updated_before,
            marketplaces,
            fulfilled_by,
            statuses,
            page_size,
            included,
            token: values(pairs, "paginationToken").into_iter().next(),
            signature,
        })
    }

    fn matches(&self, order: &Value, now: OffsetDateTime) -> bool {
        let at = |pointer: &str| {
            order
                .pointer(pointer)
                .and_then(Value::as_str)
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        };
        let text = |pointer: &str| order.pointer(pointer).and_then(Value::as_str);
        let within = |t: Option<OffsetDateTime>, after: Option<OffsetDateTime>, before| {
            t.is_some_and(|t| after.is_none_or(|a| t >= a) && t <= before)
        };
        let upper = now - time::Duration::minutes(2);
        let time_ok = match (self.created_after, self.updated_after) {
            (Some(_), _) => within(
                at("/createdTime"),
                self.created_after,
                self.created_before.unwrap_or(upper),
            ),
            _ => within(
                at("/lastUpdatedTime"),
                self.updated_after,
                self.updated_before.unwrap_or(upper),
            ),
        };
        let listed = |filter: &[String], value: Option<&str>| {
            filter.is_empty() || value.is_some_and(|v| filter.iter().any(|f| f == v))
        };
        time_ok
            && listed(&self.marketplaces, text("/salesChannel/marketplaceId"))
            && listed(&self.fulfilled_by, text("/fulfillment/fulfilledBy"))
            && listed(&self.statuses, text("/fulfillment/fulfillmentStatus"))
    }
}

pub(crate) async fn search_orders(
    State(control): State<SandboxControl>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let mut response = answer(&control, query.ok().map(|Query(p)| p), &headers);
    control.record(Op::SearchOrders, response.status());
    let headers = response.headers_mut();
    server::insert_request_id(headers);
    headers.insert("x-amzn-RateLimit-Limit", HeaderValue::from_static("0.0056"));
    response
}

fn answer(
    control: &SandboxControl,
    pairs: Option<Vec<(String, String)>>,
    headers: &HeaderMap,
) -> Response {
    let seller = match seller_call(control, Op::SearchOrders, headers) {
        Ok(seller) => seller,
        Err(response) => return *response,
    };
    if !control.admit_search(&seller, Instant::now()) {
        return fault_response(Fault::Throttle);
    }
    let Some(pairs) = pairs else {
        return invalid("The query string could not be parsed.");
    };
    let now = control.now();
    let query = match SearchQuery::parse(&pairs, now) {
        Ok(q) => q,
        Err(response) => return response,
    };
    let offset = match &query.token {
        None => 0,
        Some(token) => match control.page_token(token) {
            Some(t) if now - t.issued_at >= TOKEN_LIFETIME => {
                return invalid("The paginationToken has expired.");
            }
            Some(t) if t.seller == seller && t.signature == query.signature => t.offset,
            Some(_) => {
                return invalid(
                    "The paginationToken was issued for other parameters than this request's.",
                );
            }
            None => return invalid("Invalid paginationToken."),
        },
    };
    let mut matching: Vec<Value> = control
        .orders_of(&seller)
        .into_iter()
        .filter(|order| query.matches(order, now))
        .collect();
    matching.sort_by(|a, b| {
        let key = |o: &Value| {
            (
                o["lastUpdatedTime"].as_str().unwrap_or_default().to_owned(),
                o["orderId"].as_str().unwrap_or_default().to_owned(),
            )
        };
        key(a).cmp(&key(b))
    });
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(query.page_size)
        .map(|order| filter(order, &query.included))
        .collect();
    let next = offset + page.len();
    let mut body = json!({ "orders": page });
    if next < matching.len() {
        let token = control.issue_page_token(PageToken {
            seller,
            signature: query.signature.clone(),
            offset: next,
            issued_at: now,
        });
        body["pagination"] = json!({ "nextToken": token });
    }
    if query.updated_after.is_some() {
        let before = query
            .updated_before
            .unwrap_or(now - time::Duration::minutes(2));
        body["lastUpdatedBefore"] = json!(before.format(&Rfc3339).unwrap_or_default());
    } else {
        let before = query
            .created_before
            .unwrap_or(now - time::Duration::minutes(2));
        body["createdBefore"] = json!(before.format(&Rfc3339).unwrap_or_default());
    }
    (StatusCode::OK, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_plan_is_a_burst_of_twenty_then_one_every_three_minutes() {
        let mut slot = None;
        let t0 = Instant::now();
        for _ in 0..20 {
            assert!(PLAN.admit(&mut slot, t0));
        }
        assert!(!PLAN.admit(&mut slot, t0 + Duration::from_secs(100)));
        assert!(PLAN.admit(&mut slot, t0 + Duration::from_secs(180)));
    }
}
