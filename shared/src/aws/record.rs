//! What each AWS request asks IAM to allow: an SDK interceptor that turns every request a
//! client transmits into the authorization requests AWS evaluates for it — the IAM action, the
//! resource, and the condition context the authorizer sees — so the template's policies can be
//! evaluated offline against what the code really does (the emulator enforces no policy).
//!
//! The mapping follows what the services document:
//! * DynamoDB authorizes each item of a `TransactWriteItems` as its own `PutItem`, `UpdateItem`,
//!   `DeleteItem` or `ConditionCheckItem`, and a `TransactGetItems` item as `GetItem`;
//!   `SendMessageBatch`, `DeleteMessageBatch` and `ChangeMessageVisibilityBatch` are authorized
//!   as `SendMessage`, `DeleteMessage` and `ChangeMessageVisibility`.
//! * `dynamodb:LeadingKeys` is the partition key value of every item a table request touches;
//!   `dynamodb:Attributes` every top-level attribute name the request names (keys, item
//!   attributes, and the names in its update, condition, key-condition, filter and projection
//!   expressions); `dynamodb:Select` always has a value on reads (`SPECIFIC_ATTRIBUTES` with a
//!   projection, else `ALL_ATTRIBUTES`, or `ALL_PROJECTED_ATTRIBUTES` on an index) and
//!   `dynamodb:ReturnValues` on writes (`NONE` unless asked) — the DynamoDB developer guide,
//!   "Using IAM policy conditions for fine-grained access control". Whether AWS fills them in
//!   when a request does not send them is not documented per operation, so such values are
//!   marked `Implied` in the facts and the evaluator requires the request allowed both ways.
//! * KMS: `kms:EncryptionContext:<key>` per pair and `kms:EncryptionContextKeys`. (KMS has no
//!   condition key for a data key's spec: the request's `KeySpec` is a fact, not context.)
//!
//! Requests the services make on the caller's behalf (DynamoDB, SQS and Secrets Manager using
//! the resource's KMS key) depend on how the template configures the resource, so the policy
//! evaluator adds them; this module records what the code sends.
//!
//! Nothing here records a value that could be PII: only names, key-attribute values (which
//! never hold PII by the table layout), KMS encryption contexts (ids only) and resource ids.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::layout::{PARTITION_KEY, index_partition_key};

/// The environment variable naming the directory requests are recorded into.
pub const RECORD_DIR_ENV: &str = "ORDERSEAL_RECORD_REQUESTS";

/// The resource a request is authorized against, by the identifier the code sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Table {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        index: Option<String>,
    },
    Queue {
        url: String,
    },
    Key {
        id: String,
    },
    Secret {
        id: String,
    },
    /// An HTTP API route (`execute-api:Invoke`): the API's logical id, the stage, the method
    /// and the path as sent.
    Api {
        id: String,
        stage: String,
        method: String,
        path: String,
    },
    /// An operation whose resource the mapping does not know: the evaluator refuses it.
    Unknown {
        detail: String,
    },
}

/// One authorization AWS performs for a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthzRequest {
    /// The template's logical id of the role making the request.
    pub principal: String,
    /// `Service.Operation` as the SDK names it.
    pub call: String,
    /// The IAM action AWS checks, e.g. `dynamodb:PutItem`.
    pub action: String,
    pub resource: Resource,
    /// Condition keys and their values (a string, or a list for multi-valued keys).
    pub context: BTreeMap<String, Value>,
    /// Facts about the request IAM has no condition key for (e.g. what a failed condition
    /// returns), checked by the evaluator's own rules.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
}

/// Where recorded requests go.
#[derive(Debug, Clone)]
enum Sink {
    Off,
    File(Arc<FileSink>),
    Memory(Arc<Mutex<Vec<AuthzRequest>>>),
}

#[derive(Debug)]
struct FileSink {
    state: Mutex<(File, HashSet<String>)>,
}

impl FileSink {
    /// One file per process (test binaries run many tests on threads), deduplicated.
    fn for_process(dir: &Path) -> std::io::Result<Arc<FileSink>> {
        static SINKS: OnceLock<Mutex<BTreeMap<std::path::PathBuf, Arc<FileSink>>>> =
            OnceLock::new();
        let mut sinks = SINKS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(s) = sinks.get(dir) {
            return Ok(s.clone());
        }
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.jsonl", std::process::id()));
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let sink = Arc::new(FileSink {
            state: Mutex::new((file, HashSet::new())),
        });
        sinks.insert(dir.to_owned(), sink.clone());
        Ok(sink)
    }

    fn write(&self, r: &AuthzRequest) {
        let Ok(line) = serde_json::to_string(r) else {
            return;
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.1.insert(line.clone()) {
            // A lost line makes the evaluation see less, never more: it can only fail it.
            let _ = writeln!(state.0, "{line}");
        }
    }
}

/// The interceptor: attach one per client, naming the role the client's credentials are.
#[derive(Debug, Clone)]
pub struct RequestRecorder {
    principal: Arc<str>,
    sink: Sink,
}

/// What an in-memory recorder has seen.
#[derive(Debug, Clone, Default)]
pub struct Recorded(Arc<Mutex<Vec<AuthzRequest>>>);

impl Recorded {
    pub fn requests(&self) -> Vec<AuthzRequest> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl RequestRecorder {
    /// Records into `$ORDERSEAL_RECORD_REQUESTS/<pid>.jsonl` when the variable is set;
    /// otherwise records nothing.
    pub fn from_env(principal: &str) -> Self {
        let sink = match std::env::var_os(RECORD_DIR_ENV) {
            Some(dir) if !dir.is_empty() => match FileSink::for_process(Path::new(&dir)) {
                Ok(s) => Sink::File(s),
                Err(e) => {
                    tracing::warn!(error = %e, "request recording is off: the directory cannot be written");
                    Sink::Off
                }
            },
            _ => Sink::Off,
        };
        Self {
            principal: principal.into(),
            sink,
        }
    }

    /// Records into memory (for tests of the mapping).
    pub fn in_memory(principal: &str) -> (Self, Recorded) {
        let recorded = Recorded::default();
        (
            Self {
                principal: principal.into(),
                sink: Sink::Memory(recorded.0.clone()),
            },
            recorded,
        )
    }

    pub fn is_on(&self) -> bool {
        !matches!(self.sink, Sink::Off)
    }

    /// Record an authorization that no SDK request carries (an API Gateway stand-in's
    /// `execute-api:Invoke` of the caller it authenticated). The principal is the recorder's;
    /// the fact `Expect = Denied` marks one the code refused, which IAM must deny too.
    pub fn record_authz(
        &self,
        call: &str,
        action: &str,
        resource: Resource,
        context: BTreeMap<String, Value>,
        facts: BTreeMap<String, String>,
    ) {
        let r = AuthzRequest {
            principal: self.principal.to_string(),
            call: call.to_owned(),
            action: action.to_owned(),
            resource,
            context,
            facts,
        };
        match &self.sink {
            Sink::Off => {}
            Sink::File(f) => f.write(&r),
            Sink::Memory(m) => m.lock().unwrap_or_else(|p| p.into_inner()).push(r),
        }
    }

    fn record(&self, service: &str, operation: &str, body: Option<&[u8]>) {
        if !self.is_on() {
            return;
        }
        let body: Value = body
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        for r in describe(&self.principal, service, operation, &body) {
            match &self.sink {
                Sink::Off => {}
                Sink::File(f) => f.write(&r),
                Sink::Memory(m) => m.lock().unwrap_or_else(|p| p.into_inner()).push(r),
            }
        }
    }
}

impl Intercept for RequestRecorder {
    fn name(&self) -> &'static str {
        "RequestRecorder"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.record(m.service(), m.name(), ctx.request().body().bytes());
        }
        Ok(())
    }
}

/// The authorization requests of one SDK request (`service` and `operation` as the SDK names
/// them, `body` the JSON it sends).
pub fn describe(
    principal: &str,
    service: &str,
    operation: &str,
    body: &Value,
) -> Vec<AuthzRequest> {
    let call = format!("{service}.{operation}");
    let mut out = Vec::new();
    let mut push = |action: String, resource: Resource, context, facts| {
        out.push(AuthzRequest {
            principal: principal.to_owned(),
            call: call.clone(),
            action,
            resource,
            context,
            facts,
        })
    };
    match service {
        "DynamoDB" => {
            for (op, table, index, ctx, facts) in dynamodb(operation, body) {
                push(
                    format!("dynamodb:{op}"),
                    Resource::Table { name: table, index },
                    ctx,
                    facts,
                );
            }
        }
        "KMS" => {
            let resource = str_at(body, "KeyId")
                .map(|id| Resource::Key { id: id.to_owned() })
                .unwrap_or_else(|| unknown(&call));
            let facts = str_at(body, "KeySpec")
                .map(|spec| BTreeMap::from([("KeySpec".to_owned(), spec.to_owned())]))
                .unwrap_or_default();
            push(
                format!("kms:{operation}"),
                resource,
                kms_context(body),
                facts,
            );
        }
        "SQS" => {
            let action = match operation {
                "SendMessageBatch" => "SendMessage",
                "DeleteMessageBatch" => "DeleteMessage",
                "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
                other => other,
            };
            let resource = str_at(body, "QueueUrl")
                .map(|url| Resource::Queue {
                    url: url.to_owned(),
                })
                .unwrap_or_else(|| unknown(&call));
            push(
                format!("sqs:{action}"),
                resource,
                BTreeMap::new(),
                BTreeMap::new(),
            );
        }
        "Secrets Manager" => {
            // CreateSecret names the secret it makes; every other call names one by its id.
            let resource = str_at(body, "SecretId")
                .or_else(|| str_at(body, "Name"))
                .map(|id| Resource::Secret { id: id.to_owned() })
                .unwrap_or_else(|| unknown(&call));
            push(
                format!("secretsmanager:{operation}"),
                resource,
                BTreeMap::new(),
                BTreeMap::new(),
            );
        }
        other => push(
            format!("{}:{operation}", other.to_lowercase().replace(' ', "")),
            unknown(&call),
            BTreeMap::new(),
            BTreeMap::new(),
        ),
    }
    out
}

fn unknown(call: &str) -> Resource {
    Resource::Unknown {
        detail: format!("{call}: no resource in the request"),
    }
}

fn str_at<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn kms_context(body: &Value) -> BTreeMap<String, Value> {
    let mut ctx = BTreeMap::new();
    if let Some(ec) = body.get("EncryptionContext").and_then(Value::as_object) {
        let mut keys: Vec<&String> = ec.keys().collect();
        keys.sort();
        for (k, v) in ec {
            if let Some(v) = v.as_str() {
                ctx.insert(format!("kms:EncryptionContext:{k}"), Value::from(v));
            }
        }
        ctx.insert(
            "kms:EncryptionContextKeys".into(),
            Value::from(keys.into_iter().cloned().collect::<Vec<_>>()),
        );
    }
    if let Some(id) = str_at(body, "KeyId").filter(|id| id.starts_with("alias/")) {
        ctx.insert("kms:RequestAlias".into(), Value::from(id));
    }
    ctx
}

type DdbAuthz = (
    String,
    String,
    Option<String>,
    BTreeMap<String, Value>,
    BTreeMap<String, String>,
);

/// One DynamoDB request as (action, table, index, context, facts) per authorization.
fn dynamodb(operation: &str, body: &Value) -> Vec<DdbAuthz> {
    let table = || str_at(body, "TableName").unwrap_or_default().to_owned();
    match operation {
        "GetItem" => vec![read_item("GetItem", table(), body)],
        "PutItem" | "UpdateItem" | "DeleteItem" => vec![write_item(operation, table(), body, true)],
        "Query" | "Scan" => vec![query(operation, body)],
        "BatchGetItem" => object_at(body, "RequestItems")
            .map(|tables| {
                tables
                    .iter()
                    .map(|(name, req)| {
                        let keys: Vec<&Value> = array_at(req, "Keys").collect();
                        let mut access = Access::new(req);
                        for k in &keys {
                            access.item_names(k);
                        }
                        access.expression(req, "ProjectionExpression");
                        let select = select_of(req, false);
                        let mut ctx = access.context(keys.iter().copied());
                        ctx.insert("dynamodb:Select".into(), Value::from(select));
                        implied_unless_sent(&mut access.facts, req, "Select", "dynamodb:Select");
                        ("BatchGetItem".into(), name.clone(), None, ctx, access.facts)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "BatchWriteItem" => object_at(body, "RequestItems")
            .map(|tables| {
                tables
                    .iter()
                    .map(|(name, reqs)| {
                        let mut access = Access::default();
                        let mut items = Vec::new();
                        for r in reqs.as_array().into_iter().flatten() {
                            let item = r
                                .pointer("/PutRequest/Item")
                                .or_else(|| r.pointer("/DeleteRequest/Key"));
                            if let Some(item) = item {
                                access.item_names(item);
                                items.push(item);
                            }
                        }
                        let ctx = access.context(items.into_iter());
                        (
                            "BatchWriteItem".into(),
                            name.clone(),
                            None,
                            ctx,
                            access.facts,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "TransactWriteItems" | "TransactGetItems" => array_at(body, "TransactItems")
            .filter_map(|t| {
                let (op, inner) = [
                    ("Put", "PutItem"),
                    ("Update", "UpdateItem"),
                    ("Delete", "DeleteItem"),
                    ("ConditionCheck", "ConditionCheckItem"),
                    ("Get", "GetItem"),
                ]
                .into_iter()
                .find_map(|(k, op)| t.get(k).map(|v| (op, v)))?;
                let name = str_at(inner, "TableName").unwrap_or_default().to_owned();
                Some(if op == "GetItem" {
                    read_item(op, name, inner)
                } else {
                    write_item(op, name, inner, false)
                })
            })
            .collect(),
        other => vec![(
            other.to_owned(),
            table(),
            None,
            BTreeMap::new(),
            BTreeMap::new(),
        )],
    }
}

fn object_at<'a>(v: &'a Value, k: &str) -> Option<&'a Map<String, Value>> {
    v.get(k).and_then(Value::as_object)
}

fn array_at<'a>(v: &'a Value, k: &str) -> impl Iterator<Item = &'a Value> {
    v.get(k).and_then(Value::as_array).into_iter().flatten()
}

fn read_item(op: &str, table: String, req: &Value) -> DdbAuthz {
    let mut access = Access::new(req);
    let key = req.get("Key");
    if let Some(k) = key {
        access.item_names(k);
    }
    access.expression(req, "ProjectionExpression");
    let mut ctx = access.context(key.into_iter());
    ctx.insert("dynamodb:Select".into(), Value::from(select_of(req, false)));
    implied_unless_sent(&mut access.facts, req, "Select", "dynamodb:Select");
    (op.to_owned(), table, None, ctx, access.facts)
}

/// Mark `key` as filled in by the documented default unless the request sent `field`.
fn implied_unless_sent(facts: &mut BTreeMap<String, String>, req: &Value, field: &str, key: &str) {
    if req.get(field).is_none() {
        let entry = facts.entry("Implied".to_owned()).or_default();
        if !entry.is_empty() {
            entry.push(',');
        }
        entry.push_str(key);
    }
}

fn write_item(op: &str, table: String, req: &Value, with_return_values: bool) -> DdbAuthz {
    let mut access = Access::new(req);
    let item = req.get("Item").or_else(|| req.get("Key"));
    if let Some(i) = item {
        access.item_names(i);
    }
    access.expression(req, "UpdateExpression");
    access.expression(req, "ConditionExpression");
    let mut ctx = access.context(item.into_iter());
    if with_return_values {
        ctx.insert(
            "dynamodb:ReturnValues".into(),
            Value::from(str_at(req, "ReturnValues").unwrap_or("NONE")),
        );
        implied_unless_sent(
            &mut access.facts,
            req,
            "ReturnValues",
            "dynamodb:ReturnValues",
        );
    }
    if let Some(v) = str_at(req, "ReturnValuesOnConditionCheckFailure") {
        access
            .facts
            .insert("ReturnValuesOnConditionCheckFailure".into(), v.to_owned());
    }
    (op.to_owned(), table, None, ctx, access.facts)
}

fn query(operation: &str, body: &Value) -> DdbAuthz {
    let table = str_at(body, "TableName").unwrap_or_default().to_owned();
    let index = str_at(body, "IndexName").map(str::to_owned);
    let mut access = Access::new(body);
    for e in [
        "KeyConditionExpression",
        "FilterExpression",
        "ProjectionExpression",
    ] {
        access.expression(body, e);
    }
    let op = operation.to_owned();
    let mut ctx = access.context(std::iter::empty());
    // The partition the query reads: `<partition key> = :v` in the key condition.
    let partition = match &index {
        None => Some(PARTITION_KEY),
        Some(i) => index_partition_key(i),
    };
    if let (Some(attr), Some(cond)) = (partition, str_at(body, "KeyConditionExpression")) {
        let values: Vec<Value> = equality_value(cond, attr, body)
            .into_iter()
            .map(Value::from)
            .collect();
        let key = if index.is_none() {
            "dynamodb:LeadingKeys"
        } else {
            // For an index the table's partition key is not in the request; the evaluator
            // keeps this as a fact (policies do not key index queries on it).
            "orderseal:IndexPartition"
        };
        if !values.is_empty() {
            ctx.insert(key.into(), Value::from(values));
        }
    }
    ctx.insert(
        "dynamodb:Select".into(),
        Value::from(select_of(body, index.is_some())),
    );
    implied_unless_sent(&mut access.facts, body, "Select", "dynamodb:Select");
    (op, table, index, ctx, access.facts)
}

/// `Select` as IAM sees it: always present on reads.
fn select_of(req: &Value, index: bool) -> &str {
    if let Some(s) = str_at(req, "Select") {
        return s;
    }
    if req.get("ProjectionExpression").is_some() || req.get("AttributesToGet").is_some() {
        "SPECIFIC_ATTRIBUTES"
    } else if index {
        "ALL_PROJECTED_ATTRIBUTES"
    } else {
        "ALL_ATTRIBUTES"
    }
}

/// The string value compared with `attr` by `=` in a key condition, if any.
fn equality_value(cond: &str, attr: &str, body: &Value) -> Option<String> {
    let names = object_at(body, "ExpressionAttributeNames");
    let tokens = tokens(cond);
    tokens.windows(3).find_map(|w| match w {
        [Token::Name(a), Token::Op('='), Token::Value(v)]
        | [Token::Value(v), Token::Op('='), Token::Name(a)]
            if resolve(a, names).as_deref() == Some(attr) =>
        {
            body.pointer(&format!("/ExpressionAttributeValues/{v}/S"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        }
        _ => None,
    })
}

/// Attribute names and leading keys of one request.
#[derive(Default)]
struct Access {
    attributes: BTreeSet<String>,
    names: Map<String, Value>,
    facts: BTreeMap<String, String>,
}

impl Access {
    fn new(req: &Value) -> Self {
        Self {
            names: object_at(req, "ExpressionAttributeNames")
                .cloned()
                .unwrap_or_default(),
            ..Self::default()
        }
    }

    fn item_names(&mut self, item: &Value) {
        if let Some(m) = item.as_object() {
            self.attributes.extend(m.keys().cloned());
        }
    }

    fn expression(&mut self, req: &Value, field: &str) {
        let Some(expr) = str_at(req, field) else {
            return;
        };
        for t in tokens(expr) {
            if let Token::Name(n) = t {
                match resolve(&n, Some(&self.names)) {
                    Some(name) => {
                        self.attributes.insert(name);
                    }
                    None => {
                        self.facts
                            .insert("UnresolvedName".into(), format!("{field}: {n}"));
                    }
                }
            }
        }
    }

    /// The condition context, with the partition key of every item in `items`.
    fn context<'a>(&self, items: impl Iterator<Item = &'a Value>) -> BTreeMap<String, Value> {
        let mut ctx = BTreeMap::new();
        let leading: BTreeSet<String> = items
            .filter_map(|i| i.pointer(&format!("/{PARTITION_KEY}/S")))
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        if !leading.is_empty() {
            ctx.insert(
                "dynamodb:LeadingKeys".into(),
                Value::from(leading.into_iter().collect::<Vec<_>>()),
            );
        }
        if !self.attributes.is_empty() {
            ctx.insert(
                "dynamodb:Attributes".into(),
                Value::from(self.attributes.iter().cloned().collect::<Vec<_>>()),
            );
        }
        ctx
    }
}

fn resolve(name: &str, names: Option<&Map<String, Value>>) -> Option<String> {
    if name.starts_with('#') {
        names?.get(name)?.as_str().map(str::to_owned)
    } else {
        Some(name.to_owned())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// The top-level attribute of a path (`a` of `a.b[0]`), or a `#name` placeholder.
    Name(String),
    /// A `:value` placeholder (without the colon's meaning lost: kept with it).
    Value(String),
    Op(char),
}

/// DynamoDB expression words that are not attribute names.
const KEYWORDS: &[&str] = &[
    "SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "BETWEEN", "IN",
];

/// Tokens of a DynamoDB expression: top-level attribute names, value placeholders and
/// single-character operators. Function names (`attribute_exists(`, `if_not_exists(`, ...),
/// keywords and nested path elements are not names.
fn tokens(expr: &str) -> Vec<Token> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    // Whether the previous token ended a path element (so `.x` and `[0]` continue it).
    let mut in_path = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if c == '#' || c == ':' || word_char(c) {
            let start = i;
            i += 1;
            while i < chars.len() && word_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let is_call = j < chars.len() && chars[j] == '(';
            if c == ':' {
                out.push(Token::Value(word));
                in_path = false;
            } else if is_call
                || KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&word))
                || word.chars().all(|c| c.is_ascii_digit())
            {
                in_path = false;
            } else {
                out.push(Token::Name(word));
                in_path = true;
            }
            continue;
        }
        if c == '.' && in_path {
            // A nested element: skip it (and any further ones).
            i += 1;
            while i < chars.len() && (word_char(chars[i]) || chars[i] == '#') {
                i += 1;
            }
            continue;
        }
        if c == '[' && in_path {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
            continue;
        }
        in_path = false;
        out.push(Token::Op(c));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(expr: &str, n: Value) -> BTreeSet<String> {
        let mut a = Access::new(&json!({"ExpressionAttributeNames": n}));
        a.expression(&json!({"E": expr}), "E");
        a.attributes
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn expressions_name_their_top_level_attributes_only() {
        assert_eq!(
            names(
                "SET #ttl = :t, a.b[2].c = if_not_exists(d, :z) REMOVE pii_shipping, e[0] ADD n :one",
                json!({"#ttl": "ttl"})
            ),
            set(&["a", "d", "e", "n", "pii_shipping", "ttl"])
        );
        assert_eq!(
            names(
                "attribute_exists(pk) AND (attribute_not_exists(x) OR size(y) < :n) AND NOT z IN (:a, :b) AND w BETWEEN :l AND :h",
                json!({})
            ),
            set(&["pk", "w", "x", "y", "z"])
        );
    }

    #[test]
    fn an_unknown_placeholder_is_a_fact_not_a_guess() {
        let mut a = Access::new(&json!({}));
        a.expression(&json!({"E": "SET #x = :v"}), "E");
        assert!(a.attributes.is_empty());
        assert_eq!(a.facts["UnresolvedName"], "E: #x");
    }

    #[test]
    fn a_transaction_is_authorized_item_by_item() {
        let body = json!({"TransactItems": [
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "ORDER#A#1"}, "sk": {"S": "ORDER"}},
                        "UpdateExpression": "SET label = :l", "ConditionExpression": "dispatch_state = :p"}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "TRACKING#9"}, "sk": {"S": "TRACKING"}, "order_id": {"S": "1"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "HOLDS"}, "sk": {"S": "x"}}, "ConditionExpression": "attribute_exists(pk)"}}
        ]});
        let r = describe(
            "DispatchFunctionRole",
            "DynamoDB",
            "TransactWriteItems",
            &body,
        );
        let actions: Vec<&str> = r.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "dynamodb:UpdateItem",
                "dynamodb:PutItem",
                "dynamodb:ConditionCheckItem"
            ]
        );
        assert_eq!(r[1].context["dynamodb:LeadingKeys"], json!(["TRACKING#9"]));
        assert_eq!(
            r[1].context["dynamodb:Attributes"],
            json!(["order_id", "pk", "sk"])
        );
        assert_eq!(
            r[0].context["dynamodb:Attributes"],
            json!(["dispatch_state", "label", "pk", "sk"])
        );
        // Transaction items carry no ReturnValues of their own.
        assert!(!r[0].context.contains_key("dynamodb:ReturnValues"));
        assert!(r.iter().all(|r| r.call == "DynamoDB.TransactWriteItems"));
    }

    #[test]
    fn reads_always_have_a_select_and_writes_a_return_values() {
        let get = describe(
            "R",
            "DynamoDB",
            "GetItem",
            &json!({"TableName": "t", "Key": {"pk": {"S": "STATS"}, "sk": {"S": "RETENTION"}}}),
        );
        assert_eq!(get[0].context["dynamodb:Select"], "ALL_ATTRIBUTES");
        assert_eq!(get[0].facts["Implied"], "dynamodb:Select");
        let projected = describe(
            "R",
            "DynamoDB",
            "GetItem",
            &json!({"TableName": "t", "Key": {"pk": {"S": "ORDER#A#1"}, "sk": {"S": "ORDER"}},
                    "ProjectionExpression": "pk, #h", "ExpressionAttributeNames": {"#h": "hold_until"}}),
        );
        assert_eq!(
            projected[0].context["dynamodb:Select"],
            "SPECIFIC_ATTRIBUTES"
        );
        assert_eq!(
            projected[0].context["dynamodb:Attributes"],
            json!(["hold_until", "pk", "sk"])
        );
        let update = describe(
            "R",
            "DynamoDB",
            "UpdateItem",
            &json!({"TableName": "t", "Key": {"pk": {"S": "ORDER#A#1"}, "sk": {"S": "ORDER"}},
                    "UpdateExpression": "SET a = :a", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
        );
        assert_eq!(update[0].context["dynamodb:ReturnValues"], "NONE");
        assert_eq!(update[0].facts["Implied"], "dynamodb:ReturnValues");
        assert_eq!(
            update[0].facts["ReturnValuesOnConditionCheckFailure"],
            "ALL_OLD"
        );
    }

    #[test]
    fn queries_read_their_partition_and_index_queries_say_which() {
        let table = describe(
            "R",
            "DynamoDB",
            "Query",
            &json!({"TableName": "t", "KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
                    "ExpressionAttributeValues": {":p": {"S": "BUSINESS#2026-11"}}}),
        );
        assert_eq!(
            table[0].context["dynamodb:LeadingKeys"],
            json!(["BUSINESS#2026-11"])
        );
        assert_eq!(table[0].context["dynamodb:Select"], "ALL_ATTRIBUTES");
        let index = describe(
            "R",
            "DynamoDB",
            "Query",
            &json!({"TableName": "t", "IndexName": "pii-expiry",
                    "KeyConditionExpression": "pii_shard = :s AND pii_expires_at <= :now",
                    "ExpressionAttributeValues": {":s": {"S": "3"}, ":now": {"N": "1"}}}),
        );
        assert_eq!(
            index[0].resource,
            Resource::Table {
                name: "t".into(),
                index: Some("pii-expiry".into())
            }
        );
        assert!(!index[0].context.contains_key("dynamodb:LeadingKeys"));
        assert_eq!(index[0].context["orderseal:IndexPartition"], json!(["3"]));
        assert_eq!(
            index[0].context["dynamodb:Select"],
            "ALL_PROJECTED_ATTRIBUTES"
        );
    }

    #[test]
    fn kms_requests_carry_their_encryption_context() {
        let r = describe(
            "IngestFunctionRole",
            "KMS",
            "GenerateDataKey",
            &json!({"KeyId": "arn:aws:kms:us-east-1:1:key/k", "KeySpec": "AES_256",
                    "EncryptionContext": {"app": "orderseal", "class": "shipping", "order": "1", "seller": "A"}}),
        );
        assert_eq!(r[0].action, "kms:GenerateDataKey");
        assert_eq!(r[0].context["kms:EncryptionContext:class"], "shipping");
        assert_eq!(
            r[0].context["kms:EncryptionContextKeys"],
            json!(["app", "class", "order", "seller"])
        );
        assert_eq!(r[0].facts["KeySpec"], "AES_256");
        assert!(
            !r[0].context.contains_key("kms:DataKeySpec"),
            "no such IAM key"
        );
    }

    #[test]
    fn batches_and_queues_map_to_the_actions_iam_checks() {
        let r = describe(
            "X",
            "SQS",
            "DeleteMessageBatch",
            &json!({"QueueUrl": "https://sqs/1/q", "Entries": []}),
        );
        assert_eq!(r[0].action, "sqs:DeleteMessage");
        let w = describe(
            "X",
            "DynamoDB",
            "BatchWriteItem",
            &json!({"RequestItems": {"t": [
                {"PutRequest": {"Item": {"pk": {"S": "BUSINESS#2026-11"}, "sk": {"S": "x"}, "sku": {"S": "s"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "HOLDS"}, "sk": {"S": "y"}}}}
            ]}}),
        );
        assert_eq!(w[0].action, "dynamodb:BatchWriteItem");
        assert_eq!(
            w[0].context["dynamodb:LeadingKeys"],
            json!(["BUSINESS#2026-11", "HOLDS"])
        );
    }

    #[test]
    fn no_body_or_no_resource_is_recorded_as_unknown() {
        let r = describe("X", "Secrets Manager", "GetSecretValue", &Value::Null);
        assert!(matches!(r[0].resource, Resource::Unknown { .. }));
        let r = describe("X", "STS", "GetCallerIdentity", &Value::Null);
        assert_eq!(r[0].action, "sts:GetCallerIdentity");
        assert!(matches!(r[0].resource, Resource::Unknown { .. }));
    }

    #[test]
    fn an_in_memory_recorder_sees_nothing_of_values() {
        let (rec, seen) = RequestRecorder::in_memory("IngestFunctionRole");
        let body = json!({"TableName": "t", "Key": {"pk": {"S": "ORDER#A#1"}, "sk": {"S": "ORDER"}},
            "UpdateExpression": "SET name_blob = :v", "ExpressionAttributeValues": {":v": {"S": "CANARY-NAME"}}});
        rec.record("DynamoDB", "UpdateItem", Some(body.to_string().as_bytes()));
        let text = serde_json::to_string(&seen.requests()).unwrap();
        assert!(text.contains("name_blob"));
        assert!(!text.contains("CANARY-NAME"));
    }
}
