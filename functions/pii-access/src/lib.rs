//! orderseal pii-access: the people's door to sealed PII. `GET /{purpose}/orders/{seller}/{order}`
//! behind an HTTP API with IAM (SigV4) authorisation; and what people decide with it: a fraud
//! reviewer's release or cancel (`POST /fraud_review/orders/{seller}/{order}/{release|cancel}`)
//! and a returns clerk's return records (`POST /returns/orders/{seller}/{order}/returns`,
//! [`orderseal::returns`]). Purpose `returns` opens `contact`, and `shipping` only while the
//! order has a pickup return to collect.
//!
//! One function (and one role) per purpose — `customer_service`, `returns`, `fraud_review` — so
//! the KMS key policy binds each to exactly its purpose's classes (ARCHITECTURE §3): the
//! fraud-review function cannot decrypt `contact` whatever its code asks. IAM decides which
//! people may invoke which purpose's path; the function checks again that the caller — from the
//! request context API Gateway fills in, never from the request — is a session of the purpose's
//! role, so a too-broad invoke grant still gets nothing.
//!
//! Every request, allowed or refused, leaves exactly one audit event (table and audit log)
//! before any data leaves; when the event cannot be written, no data is returned.
//!
//! Statuses: 200 the purpose's classes the order holds; 400 malformed ids; 403 no identity or
//! a caller without the purpose; 404 unknown route, unknown order or no PII held; 410 PII
//! expired or erased; 423 under a legal hold (kept for that, not for service); 500 our side.

use std::collections::BTreeSet;
use std::sync::Arc;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use orderseal::access::{AccessError, PiiReader, Purpose};
use orderseal::audit::{ACCESS_AUDIT_RETENTION, AuditEvent, AuditLog, Outcome};
use orderseal::clock::Clock;
use orderseal::retention::PiiState;
use orderseal::seal::{ClassGuard, KmsKeyProvider};
use orderseal::seal::{KeyProvider, SealError};

/// The function's settings (environment variables of the template).
#[derive(Debug, Clone)]
pub struct AccessConfig {
    pub table: String,
    pub pii_key_id: String,
    /// The one purpose this function serves (`ORDERSEAL_PURPOSE`).
    pub purpose: Purpose,
    /// Roles whose sessions may use the purpose (`ORDERSEAL_CALLER_ROLE_ARNS`, comma-separated).
    pub caller_roles: Vec<String>,
    /// Orders no real person has a reason to open (`ORDERSEAL_CANARY_ORDERS`): any access to one
    /// raises the `CanaryOrderAccessed` metric.
    pub canary_orders: BTreeSet<String>,
    /// fraud_review only: where a released order's shipment request goes
    /// (`ORDERSEAL_SHIPMENTS_QUEUE_URL`).
    pub shipments_queue_url: Option<String>,
    /// returns only: how long return records are kept (`ORDERSEAL_BUSINESS_RETENTION_DAYS`).
    pub business_retention: time::Duration,
}

impl AccessConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let req = |k: &str| {
            get(k)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("missing environment variable {k}"))
        };
        let list = |k: &str| -> Vec<String> {
            get(k)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let purpose = req("ORDERSEAL_PURPOSE")?;
        let purpose = Purpose::parse(&purpose)
            .filter(|p| Purpose::PEOPLE.contains(p))
            .ok_or_else(|| format!("ORDERSEAL_PURPOSE: {purpose} is not a people's purpose"))?;
        let caller_roles = list("ORDERSEAL_CALLER_ROLE_ARNS");
        if caller_roles.is_empty() {
            return Err("missing environment variable ORDERSEAL_CALLER_ROLE_ARNS".into());
        }
        Ok(Self {
            table: req("ORDERSEAL_TABLE")?,
            pii_key_id: req("ORDERSEAL_PII_KEY_ID")?,
            purpose,
            caller_roles,
            canary_orders: list("ORDERSEAL_CANARY_ORDERS").into_iter().collect(),
            shipments_queue_url: get("ORDERSEAL_SHIPMENTS_QUEUE_URL").filter(|v| !v.is_empty()),
            business_retention: orderseal::config::business_retention(&get)
                .map_err(|(k, why)| format!("{k}: {why}"))?,
        })
    }
}

/// One request as API Gateway hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// API Gateway's request id: the audit event's id.
    pub request_id: &'a str,
    /// `requestContext.authorizer.iam.userArn`: who SigV4 authenticated.
    pub caller: Option<&'a str>,
    /// The request body (a return record's JSON; empty otherwise).
    pub body: &'a [u8],
}

/// The response. The body holds PII only for a 200; it is wiped on drop.
pub struct Reply {
    pub status: u16,
    pub body: Zeroizing<Vec<u8>>,
    /// The request named a canary order (the caller emits the metric).
    pub canary: bool,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("canary", &self.canary)
            .finish_non_exhaustive()
    }
}

/// The request from a Lambda HTTP API (payload 2.0) event.
pub fn call_of(req: &lambda_http::Request) -> Call<'_> {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let (request_id, caller) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (
            ctx.request_id.as_deref().unwrap_or_default(),
            ctx.authorizer
                .as_ref()
                .and_then(|a| a.iam.as_ref())
                .and_then(|iam| iam.user_arn.as_deref()),
        ),
        _ => ("", None),
    };
    Call {
        method: req.method().as_str(),
        path: req.uri().path(),
        request_id,
        caller,
        body: req.body().as_ref(),
    }
}

/// Whether `caller` (an STS assumed-role ARN) is a session of `role` (an IAM role ARN, any
/// path): same partition, account and role name.
pub fn is_session_of(caller: &str, role: &str) -> bool {
    let mut c = caller.splitn(6, ':');
    let mut r = role.splitn(6, ':');
    let (Some("arn"), Some(cp), Some("sts"), Some(""), Some(ca), Some(cres)) =
        (c.next(), c.next(), c.next(), c.next(), c.next(), c.next())
    else {
        return false;
    };
    let (Some("arn"), Some(rp), Some("iam"), Some(""), Some(ra), Some(rres)) =
        (r.next(), r.next(), r.next(), r.next(), r.next(), r.next())
    else {
        return false;
    };
    let Some(session) = cres.strip_prefix("assumed-role/") else {
        return false;
    };
    let Some((role_name, _session_name)) = session.split_once('/') else {
        return false;
    };
    let Some(role_path) = rres.strip_prefix("role/") else {
        return false;
    };
    cp == rp && ca == ra && role_path.rsplit('/').next() == Some(role_name)
}

/// Seller and order ids as SP-API spells them: letters, digits and dashes, at most 64.
fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A fraud reviewer's decision on a held order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Release,
    Cancel,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Release => "release",
            Decision::Cancel => "cancel",
        }
    }

    fn state(self) -> &'static str {
        match self {
            Decision::Release => orderseal::fraud::RELEASED,
            Decision::Cancel => orderseal::fraud::CANCELLED,
        }
    }

    fn action(self) -> &'static str {
        match self {
            Decision::Release => "fraud-release",
            Decision::Cancel => "fraud-cancel",
        }
    }
}

/// What a route asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// The purpose's classes of the order.
    Lookup,
    Decide(Decision),
    /// Record a return, or a change of one (purpose returns).
    RecordReturn,
}

impl Act {
    /// The audit event's action.
    fn action(self) -> &'static str {
        match self {
            Act::Lookup => "pii-access",
            Act::Decide(d) => d.action(),
            Act::RecordReturn => "return-record",
        }
    }
}

/// The parts of a route.
type Route<'a> = (&'static str, &'a str, &'a str, Act);

/// Largest return-record body accepted.
const MAX_BODY: usize = 16 * 1024;

/// `GET /{purpose}/orders/{seller}/{order}`, `POST /fraud_review/orders/{seller}/{order}/
/// {release|cancel}` or `POST /returns/orders/{seller}/{order}/returns` → its parts.
fn route<'a>(method: &str, path: &'a str) -> Option<Route<'a>> {
    let mut parts = path.trim_start_matches('/').split('/');
    let (Some(purpose), Some("orders"), Some(seller), Some(order), decision, None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let purpose = Purpose::parse(purpose).filter(|p| Purpose::PEOPLE.contains(p))?;
    let act = match (method, decision, purpose) {
        ("GET", None, _) => Act::Lookup,
        ("POST", Some("release"), Purpose::FraudReview) => Act::Decide(Decision::Release),
        ("POST", Some("cancel"), Purpose::FraudReview) => Act::Decide(Decision::Cancel),
        ("POST", Some("returns"), Purpose::Returns) => Act::RecordReturn,
        _ => return None,
    };
    Some((purpose.as_str(), seller, order, act))
}

fn error_body(code: &str, message: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        serde_json::json!({ "error": code, "message": message })
            .to_string()
            .into_bytes(),
    )
}

/// The refusal for an access error: status, stable code, message (no values).
fn refusal(e: &AccessError) -> (u16, &'static str, &'static str) {
    match e {
        AccessError::NoOrder => (404, "no_such_order", "no such order"),
        AccessError::NothingHeld => (
            404,
            "no_pii_held",
            "the order holds no PII for this purpose",
        ),
        AccessError::Gone(PiiState::Erased) => (410, "erased", "the order's PII has been erased"),
        AccessError::Gone(PiiState::Expired) | AccessError::Gone(PiiState::Live) => (
            410,
            "expired",
            "the order's PII is past its retention and is treated as erased",
        ),
        AccessError::Gone(PiiState::Held { .. }) => (
            423,
            "legal_hold",
            "the order's PII is kept under a legal hold, for that purpose only",
        ),
        // Not the caller's doing (the function's own guard): a code of its own, so that
        // `not_permitted` stays the refusal of a caller without the purpose (the one IAM must
        // refuse too; the local gateway records it for the IAM evaluation).
        AccessError::NotPermitted { .. }
        | AccessError::Seal(SealError::ClassNotPermitted { .. }) => (
            403,
            "class_not_permitted",
            "this purpose may not open the order's data",
        ),
        _ => (
            500,
            "internal_error",
            "the order could not be read; try again",
        ),
    }
}

pub struct Access<K> {
    reader: PiiReader<K>,
    audit: AuditLog,
    config: AccessConfig,
    clock: Arc<dyn Clock>,
    dynamodb: aws_sdk_dynamodb::Client,
    /// fraud_review only: a released order's shipment request.
    shipments: Option<orderseal::shipments::SqsShipmentQueue>,
    /// returns only: the order's return records.
    returns: Option<orderseal::returns::DynamoReturns>,
}

pub type LambdaAccess = Access<ClassGuard<KmsKeyProvider>>;

/// The function as Lambda runs it: the KMS key provider may open exactly the purpose's classes
/// (the key policy says the same to AWS) and seal none.
pub fn build(
    config: AccessConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    kms: aws_sdk_kms::Client,
    sqs: aws_sdk_sqs::Client,
    clock: Arc<dyn Clock>,
) -> LambdaAccess {
    let keys = ClassGuard::new(
        KmsKeyProvider::new(kms, config.pii_key_id.clone()),
        config.purpose.classes(),
        &[],
    );
    let shipments = config
        .shipments_queue_url
        .as_ref()
        .filter(|_| config.purpose == Purpose::FraudReview)
        .map(|url| orderseal::shipments::SqsShipmentQueue::new(sqs, url));
    let mut access = Access::new(config, dynamodb, keys, clock);
    access.shipments = shipments;
    access
}

impl<K: KeyProvider> Access<K> {
    pub fn new(
        config: AccessConfig,
        dynamodb: aws_sdk_dynamodb::Client,
        keys: K,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            reader: PiiReader::new(dynamodb.clone(), config.table.clone(), keys),
            audit: AuditLog::new(dynamodb.clone(), config.table.clone()),
            returns: (config.purpose == Purpose::Returns).then(|| {
                orderseal::returns::DynamoReturns::new(
                    dynamodb.clone(),
                    config.table.clone(),
                    config.business_retention,
                )
            }),
            config,
            clock,
            dynamodb,
            shipments: None,
        }
    }

    pub async fn handle(&self, call: Call<'_>) -> Reply {
        let now = self.clock.now();
        let purpose = self.config.purpose;
        let Some((asked, seller_id, order_id, act)) = route(call.method, call.path) else {
            return self
                .refuse(call, None, ("-", "-"), now, 404, "unknown_route", "GET /{purpose}/orders/{seller}/{order}; purpose: customer_service, returns or fraud_review")
                .await;
        };
        if asked != purpose.as_str() {
            // Another purpose's function serves that path.
            return self
                .refuse(
                    call,
                    None,
                    ("-", "-"),
                    now,
                    404,
                    "unknown_route",
                    "this function serves another purpose",
                )
                .await;
        }
        if !valid_id(seller_id) || !valid_id(order_id) {
            // The ids are not logged: they could be anything.
            return self
                .refuse(
                    call,
                    Some(purpose),
                    ("-", "-"),
                    now,
                    400,
                    "bad_request",
                    "seller and order ids are letters, digits and dashes",
                )
                .await;
        }
        let ids = (seller_id, order_id);
        let Some(caller) = call.caller else {
            return self
                .refuse(
                    call,
                    Some(purpose),
                    ids,
                    now,
                    403,
                    "no_identity",
                    "the request carries no authenticated caller",
                )
                .await;
        };
        if !self
            .config
            .caller_roles
            .iter()
            .any(|r| is_session_of(caller, r))
        {
            return self
                .refuse(
                    call,
                    Some(purpose),
                    ids,
                    now,
                    403,
                    "not_permitted",
                    "the caller's role does not have this purpose",
                )
                .await;
        }
        match act {
            Act::Decide(decision) => return self.decide(call, caller, ids, decision, now).await,
            Act::RecordReturn => return self.record_return(call, caller, ids, now).await,
            Act::Lookup => {}
        }
        let opened = match self
            .reader
            .open_purpose(seller_id, order_id, purpose, now)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let (status, code, message) = refusal(&e);
                if status == 500 {
                    tracing::warn!(error = %e, order_id, "pii-access read failed");
                }
                return self
                    .refuse(call, Some(purpose), ids, now, status, code, message)
                    .await;
            }
        };
        let classes = opened.class_names();
        let canary = self.config.canary_orders.contains(order_id);
        let event = AuditEvent {
            id: call.request_id,
            at: now,
            who: caller,
            action: "pii-access",
            purpose: Some(purpose.as_str()),
            seller_id,
            order_id,
            classes,
            outcome: Outcome::Allowed,
            note: None,
            canary,
            until: None,
            retention: ACCESS_AUDIT_RETENTION,
        };
        if let Err(e) = self.audit.record(&event).await {
            tracing::error!(error = %e, order_id, "audit event not written: no data returned");
            return Reply {
                status: 500,
                body: error_body(
                    "audit_unavailable",
                    "the access could not be audited, so nothing is returned; try again",
                ),
                canary,
            };
        }
        let mut body = Zeroizing::new(Vec::with_capacity(1024));
        let json = |v: &str| serde_json::Value::from(v).to_string();
        body.extend_from_slice(
            format!(
                "{{\"seller_id\":{},\"order_id\":{},\"purpose\":{},\"classes\":{{",
                json(seller_id),
                json(order_id),
                json(purpose.as_str())
            )
            .as_bytes(),
        );
        for (i, (class, plain)) in opened.classes.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(json(class.as_str()).as_bytes());
            body.push(b':');
            // Schema-checked JSON of the class (PiiReader::open_purpose).
            body.extend_from_slice(plain);
        }
        body.extend_from_slice(b"}}");
        Reply {
            status: 200,
            body,
            canary,
        }
    }

    /// A fraud reviewer's decision on a held order: release (dispatch may ship it; a shipment
    /// request is sent) or cancel (nothing is ever bought; cancel it on Amazon). Repeating a
    /// decision is harmless (a release re-sends the request); an order not held is refused
    /// with 409. Audited.
    async fn decide(
        &self,
        call: Call<'_>,
        caller: &str,
        (seller_id, order_id): (&str, &str),
        decision: Decision,
        now: OffsetDateTime,
    ) -> Reply {
        use orderseal::aws::ddb::{n, s};
        use orderseal::layout::{ORDER_SK, PARTITION_KEY, SORT_KEY, order_pk};
        let canary = self.config.canary_orders.contains(order_id);
        let purpose = Some(Purpose::FraudReview);
        let ids = (seller_id, order_id);
        let event = AuditEvent {
            id: call.request_id,
            at: now,
            who: caller,
            action: decision.action(),
            purpose: purpose.map(Purpose::as_str),
            seller_id,
            order_id,
            classes: Vec::new(),
            outcome: Outcome::Allowed,
            note: None,
            canary,
            until: None,
            retention: ACCESS_AUDIT_RETENTION,
        };
        // The decision and its audit event: one transaction, so no decision stands unaudited.
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.config.table)
            .key(PARTITION_KEY, s(order_pk(seller_id, order_id)))
            .key(SORT_KEY, s(ORDER_SK))
            .update_expression("SET review_state = :to, review_by = :who, review_at = :now")
            .condition_expression("review_state IN (:held, :to)")
            .expression_attribute_values(":to", s(decision.state()))
            .expression_attribute_values(":held", s(orderseal::fraud::HELD_FOR_REVIEW))
            .expression_attribute_values(":who", s(caller))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .build()
            .expect("table, key and expression are set");
        let [by_order, by_day] = orderseal::audit::puts(&self.config.table, &event);
        // Decided: off the reviewers' list (`orderseal fraud list`).
        let unlisted = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.config.table)
            .key(PARTITION_KEY, s(orderseal::layout::FRAUD_HOLDS_PK))
            .key(
                SORT_KEY,
                s(orderseal::layout::registry_sk(seller_id, order_id)),
            )
            .build()
            .expect("table and key are set");
        let result = self
            .dynamodb
            .transact_write_items()
            .transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .update(update)
                    .build(),
            )
            .transact_items(by_order)
            .transact_items(by_day)
            .transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .delete(unlisted)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => event.emit(),
            Err(e)
                if orderseal::aws::ddb::cancellation_reasons(&e)
                    .first()
                    .is_some_and(|r| r.as_deref() == Some("ConditionalCheckFailed")) =>
            {
                return self
                    .refuse_as(
                        call,
                        decision.action(),
                        purpose,
                        ids,
                        now,
                        409,
                        "not_held",
                        "the order is not held for review (or was decided otherwise)",
                    )
                    .await;
            }
            Err(e) => {
                tracing::warn!(error = %orderseal::aws::error_code(&e), order_id, "review decision not written");
                return self
                    .refuse_as(
                        call,
                        decision.action(),
                        purpose,
                        ids,
                        now,
                        500,
                        "internal_error",
                        "the decision could not be written; try again",
                    )
                    .await;
            }
        }
        if decision == Decision::Release {
            use orderseal::shipments::{ShipmentQueue, ShipmentRequestMessage};
            let sent = match &self.shipments {
                Some(q) => q
                    .send(&ShipmentRequestMessage {
                        version: ShipmentRequestMessage::VERSION,
                        seller_id: seller_id.to_owned(),
                        order_id: order_id.to_owned(),
                        order_last_updated: String::new(),
                    })
                    .await
                    .map_err(|e| e.to_string()),
                None => Err("no shipments queue configured".to_owned()),
            };
            if let Err(e) = sent {
                tracing::warn!(error = %e, order_id, "released, but the shipment request was not sent");
                return Reply {
                    status: 502,
                    body: error_body(
                        "shipment_request_failed",
                        "released, but dispatch was not told: repeat the release",
                    ),
                    canary,
                };
            }
        }
        let body = serde_json::json!({
            "seller_id": seller_id,
            "order_id": order_id,
            "decision": decision.as_str(),
            "review_state": decision.state(),
        });
        Reply {
            status: 200,
            body: Zeroizing::new(body.to_string().into_bytes()),
            canary,
        }
    }

    /// A returns clerk's return record: a new return, or its next status (and refund).
    /// Validated against the order's lines, total and other returns (422 when it can never
    /// apply, 409 when it conflicts with what is recorded); written in one transaction with its
    /// audit event and, for a pickup, the order's open pickups; repeating it changes nothing.
    async fn record_return(
        &self,
        call: Call<'_>,
        caller: &str,
        ids: (&str, &str),
        now: OffsetDateTime,
    ) -> Reply {
        use orderseal::returns::{ReturnRequest, WriteError, apply};
        let (seller_id, order_id) = ids;
        let purpose = Some(Purpose::Returns);
        let action = Act::RecordReturn.action();
        let refuse = async |status: u16, code: &'static str, message: &str| {
            self.refuse_as(call, action, purpose, ids, now, status, code, message)
                .await
        };
        let Some(returns) = &self.returns else {
            return refuse(500, "internal_error", "returns are not configured").await;
        };
        if call.body.len() > MAX_BODY {
            return refuse(
                413,
                "bad_request",
                "the return record is larger than 16 KiB",
            )
            .await;
        }
        // serde's messages can quote the input: only its position is answered.
        let req: ReturnRequest = match serde_json::from_slice(call.body) {
            Ok(r) => r,
            Err(e) => {
                let message = format!(
                    "the body is not a return record (line {}, column {}): rma_id, and for a new return reason and items; status, refund",
                    e.line(),
                    e.column()
                );
                return refuse(400, "bad_request", &message).await;
            }
        };
        let failed = |e: &dyn std::fmt::Display| {
            tracing::warn!(error = %e, order_id, "return record failed");
        };
        let canary = self.config.canary_orders.contains(order_id);
        // Two writers of one order's returns: the loser reads again (a few times).
        for _ in 0..3 {
            let facts = match returns.order_facts(seller_id, order_id, now).await {
                Ok(Some(f)) => f,
                Ok(None) => {
                    return refuse(404, "no_such_order", "no such order").await;
                }
                Err(e) => {
                    failed(&e);
                    break;
                }
            };
            let existing = match returns.returns_of(&facts).await {
                Ok(r) => r,
                Err(e) => {
                    failed(&e);
                    break;
                }
            };
            let records: Vec<_> = existing.iter().map(|(r, _)| r.clone()).collect();
            let change = match apply(&facts, &records, &req, now) {
                Ok(c) => c,
                Err(e) => {
                    let status = if e.is_conflict() { 409 } else { 422 };
                    return refuse(status, e.code(), &e.to_string()).await;
                }
            };
            let version = existing
                .iter()
                .find(|(r, _)| r.rma_id == req.rma_id)
                .map_or(0, |(_, v)| *v);
            let event = AuditEvent {
                id: call.request_id,
                at: now,
                who: caller,
                action,
                purpose: purpose.map(Purpose::as_str),
                seller_id,
                order_id,
                classes: Vec::new(),
                outcome: Outcome::Allowed,
                note: Some(&req.rma_id),
                canary,
                until: None,
                retention: ACCESS_AUDIT_RETENTION,
            };
            match returns
                .write(
                    &change,
                    version,
                    facts.returns_rev,
                    orderseal::audit::puts(&self.config.table, &event),
                )
                .await
            {
                Ok(()) => {
                    event.emit();
                    let record = change.record();
                    let body = serde_json::json!({
                        "seller_id": seller_id,
                        "order_id": order_id,
                        "changed": !matches!(change, orderseal::returns::Change::Unchanged(_)),
                        "shipping_for_returns": record.pickup_open() && !facts.pii_gone,
                        "return": record,
                    });
                    return Reply {
                        status: 200,
                        body: Zeroizing::new(body.to_string().into_bytes()),
                        canary,
                    };
                }
                Err(WriteError::Concurrent) => continue,
                Err(e) => {
                    failed(&e);
                    break;
                }
            }
        }
        refuse(
            500,
            "internal_error",
            "the return could not be recorded; try again",
        )
        .await
    }

    /// Audit a refusal (one event), then answer it. Without the event, a 500.
    #[allow(clippy::too_many_arguments)]
    async fn refuse(
        &self,
        call: Call<'_>,
        purpose: Option<Purpose>,
        ids: (&str, &str),
        now: OffsetDateTime,
        status: u16,
        code: &'static str,
        message: &str,
    ) -> Reply {
        // A refused decision or return record is audited as that.
        let action = route(call.method, call.path).map_or("pii-access", |r| r.3.action());
        self.refuse_as(call, action, purpose, ids, now, status, code, message)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn refuse_as(
        &self,
        call: Call<'_>,
        action: &'static str,
        purpose: Option<Purpose>,
        (seller_id, order_id): (&str, &str),
        now: OffsetDateTime,
        status: u16,
        code: &'static str,
        message: &str,
    ) -> Reply {
        let canary = self.config.canary_orders.contains(order_id);
        let event = AuditEvent {
            id: call.request_id,
            at: now,
            who: call.caller.unwrap_or("unauthenticated"),
            action,
            purpose: purpose.map(Purpose::as_str),
            seller_id,
            order_id,
            classes: purpose
                .filter(|_| action == "pii-access")
                .map(|p| p.classes().iter().map(|c| c.as_str()).collect())
                .unwrap_or_default(),
            outcome: Outcome::Refused(code),
            note: None,
            canary,
            until: None,
            retention: ACCESS_AUDIT_RETENTION,
        };
        if let Err(e) = self.audit.record(&event).await {
            tracing::error!(error = %e, "audit event not written");
            return Reply {
                status: 500,
                body: error_body(
                    "audit_unavailable",
                    "the request could not be audited; try again",
                ),
                canary,
            };
        }
        Reply {
            status,
            body: error_body(code, message),
            canary,
        }
    }
}

/// The `CanaryOrderAccessed` metric as a CloudWatch Embedded Metric Format line (namespace
/// `orderseal`, dimension `Function=pii-access`): the alarm on it fires on any access.
pub fn canary_emf_line(purpose: Purpose, timestamp_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "orderseal",
                "Dimensions": [["Function"]],
                "Metrics": [{"Name": "CanaryOrderAccessed", "Unit": "Count"}],
            }],
        },
        "Function": "pii-access",
        "purpose": purpose.as_str(),
        "CanaryOrderAccessed": 1,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_is_a_session_of_its_role_only() {
        let role = "arn:aws:iam::111122223333:role/orderseal/CustomerServiceAgentRole";
        assert!(is_session_of(
            "arn:aws:sts::111122223333:assumed-role/CustomerServiceAgentRole/alice@seller.example",
            role
        ));
        for other in [
            "arn:aws:sts::444455556666:assumed-role/CustomerServiceAgentRole/alice",
            "arn:aws:sts::111122223333:assumed-role/FraudReviewerRole/alice",
            "arn:aws:sts::111122223333:assumed-role/CustomerServiceAgentRoleX/alice",
            "arn:aws:iam::111122223333:user/CustomerServiceAgentRole",
            "arn:aws-cn:sts::111122223333:assumed-role/CustomerServiceAgentRole/alice",
            "arn:aws:sts::111122223333:assumed-role/CustomerServiceAgentRole",
            "",
        ] {
            assert!(!is_session_of(other, role), "{other}");
        }
    }

    #[test]
    fn routes_name_a_people_purpose_and_two_ids() {
        assert_eq!(
            route("GET", "/returns/orders/S1/111-2222222-3333333"),
            Some(("returns", "S1", "111-2222222-3333333", Act::Lookup))
        );
        assert_eq!(
            route("POST", "/fraud_review/orders/S1/O1/release"),
            Some(("fraud_review", "S1", "O1", Act::Decide(Decision::Release)))
        );
        assert_eq!(
            route("POST", "/returns/orders/S1/O1/returns"),
            Some(("returns", "S1", "O1", Act::RecordReturn))
        );
        for (m, p) in [
            ("GET", "/orders/S1/O1"),
            ("GET", "/fulfilment/orders/S1/O1"),
            ("GET", "/sales/orders/S1/O1"),
            ("GET", "/returns/orders/S1/O1/extra"),
            ("POST", "/returns/orders/S1/O1"),
            ("GET", "/returns/order/S1/O1"),
            ("POST", "/returns/orders/S1/O1/release"),
            ("POST", "/fraud_review/orders/S1/O1/ship"),
            ("GET", "/fraud_review/orders/S1/O1/release"),
            ("POST", "/customer_service/orders/S1/O1/returns"),
            ("GET", "/returns/orders/S1/O1/returns"),
        ] {
            assert_eq!(route(m, p), None, "{m} {p}");
        }
        assert!(valid_id("111-2222222-3333333"));
        assert!(!valid_id("S1#PII"));
        assert!(!valid_id(""));
    }

    #[test]
    fn configuration_refuses_a_purpose_people_do_not_have() {
        let env = |purpose: &'static str| {
            move |k: &str| {
                Some(match k {
                    "ORDERSEAL_PURPOSE" => purpose.to_owned(),
                    "ORDERSEAL_CALLER_ROLE_ARNS" => "arn:aws:iam::1:role/R".to_owned(),
                    "ORDERSEAL_BUSINESS_RETENTION_DAYS" => "548".to_owned(),
                    _ => "x".to_owned(),
                })
            }
        };
        assert!(AccessConfig::from_lookup(env("fulfilment")).is_err());
        assert!(AccessConfig::from_lookup(env("sales")).is_err());
        let ok = AccessConfig::from_lookup(env("fraud_review")).unwrap();
        assert_eq!(ok.purpose, Purpose::FraudReview);
    }
}
