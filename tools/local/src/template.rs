//! Reads `infra/template.yaml` so the local stack is created from the same definitions that
//! deploy: table keys and TTL, queue timeouts and redrive, keys and secrets.

use std::collections::BTreeMap;
use std::path::Path;

use serde_norway::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub logical_id: String,
    /// (name, type) pairs from `AttributeDefinitions`.
    pub attributes: Vec<(String, String)>,
    /// (name, HASH|RANGE) pairs from `KeySchema`.
    pub key_schema: Vec<(String, String)>,
    pub ttl_attribute: Option<String>,
    /// `StreamSpecification.StreamViewType`, when the table has a stream.
    pub stream_view_type: Option<String>,
    pub global_secondary_indexes: Vec<IndexSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection: String,
    /// `INCLUDE` projections: the attributes carried beside the keys.
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub visibility_timeout: Option<i64>,
    pub message_retention: Option<i64>,
    /// (dead-letter queue logical id, maxReceiveCount)
    pub redrive: Option<(String, i64)>,
    /// `KmsMasterKeyId: !Ref <Key>`: the key's logical id.
    pub kms_key: Option<String>,
}

/// An `AWS::SQS::QueuePolicy`: the queues it applies to (logical ids) and its document, with
/// the template's intrinsics still in it ([`resolve`]).
#[derive(Debug, Clone, PartialEq)]
pub struct QueuePolicySpec {
    pub queues: Vec<String>,
    pub document: Value,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateSpec {
    pub tables: Vec<TableSpec>,
    pub queues: Vec<QueueSpec>,
    pub keys: Vec<String>,
    pub secrets: Vec<String>,
    /// Per function: the environment variables the template sets from a literal or from a
    /// parameter's default (`!Ref Parameter`), as a deployment with the defaults would have them.
    pub function_settings: BTreeMap<String, BTreeMap<String, String>>,
    pub queue_policies: Vec<QueuePolicySpec>,
    /// Per key: its `KeyPolicy`, intrinsics unresolved.
    pub key_policies: BTreeMap<String, Value>,
    /// Parameters' defaults, and `CommaDelimitedList` parameters' names.
    pub parameters: BTreeMap<String, String>,
    pub list_parameters: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template is not valid YAML: {0}")]
    Yaml(String),
    #[error("template resource {0}: {1}")]
    Resource(String, &'static str),
}

pub fn load(path: &Path) -> Result<TemplateSpec, TemplateError> {
    let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}

pub fn parse(text: &str) -> Result<TemplateSpec, TemplateError> {
    let doc: Value =
        serde_norway::from_str(text).map_err(|e| TemplateError::Yaml(e.to_string()))?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| TemplateError::Resource("Resources".into(), "missing"))?;
    let mut spec = TemplateSpec::default();
    let defaults: BTreeMap<String, String> = doc
        .get("Parameters")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(k, p)| Some((k.as_str()?.to_owned(), scalar(p.get("Default")?)?)))
        .collect();
    spec.parameters = defaults.clone();
    spec.list_parameters = doc
        .get("Parameters")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter(|(_, p)| p.get("Type").and_then(Value::as_str) == Some("CommaDelimitedList"))
        .filter_map(|(k, _)| k.as_str().map(str::to_owned))
        .collect();
    for (id, res) in resources {
        if res.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function") {
            let vars = res
                .get("Properties")
                .and_then(|p| p.get("Environment"))
                .and_then(|e| e.get("Variables"))
                .and_then(Value::as_mapping)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| {
                    let value = match v {
                        Value::Tagged(t) if t.tag == "Ref" => {
                            defaults.get(t.value.as_str()?).cloned()
                        }
                        other => scalar(other),
                    }?;
                    Some((k.as_str()?.to_owned(), value))
                })
                .collect();
            spec.function_settings
                .insert(id.as_str().unwrap_or_default().to_owned(), vars);
        }
        let id = id.as_str().unwrap_or_default().to_owned();
        let props = res.get("Properties").cloned().unwrap_or(Value::Null);
        match res.get("Type").and_then(Value::as_str) {
            Some("AWS::DynamoDB::Table") => spec.tables.push(table(&id, &props)?),
            Some("AWS::SQS::Queue") => spec.queues.push(queue(&id, &props)?),
            Some("AWS::KMS::Key") => {
                if let Some(policy) = props.get("KeyPolicy") {
                    spec.key_policies.insert(id.clone(), policy.clone());
                }
                spec.keys.push(id)
            }
            Some("AWS::SQS::QueuePolicy") => spec.queue_policies.push(QueuePolicySpec {
                queues: props
                    .get("Queues")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .filter_map(ref_target)
                    .collect(),
                document: props.get("PolicyDocument").cloned().unwrap_or(Value::Null),
            }),
            Some("AWS::SecretsManager::Secret") => spec.secrets.push(id),
            _ => {}
        }
    }
    spec.tables.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    spec.queues.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    spec.keys.sort();
    spec.secrets.sort();
    Ok(spec)
}

/// A string, number or boolean as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn pairs(v: Option<&Value>, a: &str, b: &str) -> Vec<(String, String)> {
    v.and_then(Value::as_sequence)
        .map(|seq| {
            seq.iter()
                .filter_map(|e| {
                    Some((
                        e.get(a)?.as_str()?.to_owned(),
                        e.get(b)?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn table(id: &str, p: &Value) -> Result<TableSpec, TemplateError> {
    let key_schema = pairs(p.get("KeySchema"), "AttributeName", "KeyType");
    if key_schema.is_empty() {
        return Err(TemplateError::Resource(
            id.into(),
            "table without KeySchema",
        ));
    }
    let ttl = p
        .get("TimeToLiveSpecification")
        .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
        .and_then(|t| t.get("AttributeName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let stream_view_type = p
        .get("StreamSpecification")
        .and_then(|t| t.get("StreamViewType"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let global_secondary_indexes = p
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .map(|seq| {
            seq.iter()
                .map(|g| IndexSpec {
                    name: g
                        .get("IndexName")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    key_schema: pairs(g.get("KeySchema"), "AttributeName", "KeyType"),
                    projection: g
                        .get("Projection")
                        .and_then(|p| p.get("ProjectionType"))
                        .and_then(Value::as_str)
                        .unwrap_or("ALL")
                        .to_owned(),
                    non_key_attributes: g
                        .get("Projection")
                        .and_then(|p| p.get("NonKeyAttributes"))
                        .and_then(Value::as_sequence)
                        .map(|s| {
                            s.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(TableSpec {
        logical_id: id.into(),
        attributes: pairs(
            p.get("AttributeDefinitions"),
            "AttributeName",
            "AttributeType",
        ),
        key_schema,
        ttl_attribute: ttl,
        stream_view_type,
        global_secondary_indexes,
    })
}

/// `!Ref X` → `X`.
fn ref_target(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str().map(str::to_owned),
        _ => None,
    }
}

/// What [`resolve`] substitutes for the template's intrinsics.
pub struct Resolver<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub stack: &'a str,
    /// Parameter values (defaults overlaid with the deployment's).
    pub parameters: &'a BTreeMap<String, String>,
    /// `CommaDelimitedList` parameters: `!Ref` gives a list.
    pub list_parameters: &'a [String],
    /// `!Ref <resource>`.
    pub reference: &'a dyn Fn(&str) -> Option<String>,
    /// `!GetAtt <resource>.<attribute>`.
    pub attribute: &'a dyn Fn(&str, &str) -> Option<String>,
}

impl Resolver<'_> {
    fn reference_of(&self, name: &str) -> Option<serde_json::Value> {
        let text = match name {
            "AWS::Partition" => Some(self.partition.to_owned()),
            "AWS::Region" => Some(self.region.to_owned()),
            "AWS::AccountId" => Some(self.account.to_owned()),
            "AWS::StackName" => Some(self.stack.to_owned()),
            _ => self
                .parameters
                .get(name)
                .cloned()
                .or_else(|| (self.reference)(name)),
        }?;
        if self.list_parameters.iter().any(|p| p == name) {
            return Some(serde_json::Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| serde_json::Value::String(s.to_owned()))
                    .collect(),
            ));
        }
        Some(serde_json::Value::String(text))
    }

    fn sub(&self, template: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {template:?}"))?;
            let name = &after[..end];
            let value = match name.split_once('.') {
                Some((resource, attribute)) => (self.attribute)(resource, attribute),
                None => match self.reference_of(name) {
                    Some(serde_json::Value::String(s)) => Some(s),
                    _ => None,
                },
            }
            .ok_or_else(|| format!("cannot resolve ${{{name}}}"))?;
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The template value `v` as JSON, with `!Ref`, `!Sub` and `!GetAtt` resolved; any other
/// intrinsic, or a name it cannot resolve, is an error.
pub fn resolve(v: &Value, r: &Resolver<'_>) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => serde_json::from_str(&n.to_string()).map_err(|e| e.to_string())?,
        Value::String(s) => J::String(s.clone()),
        Value::Sequence(seq) => J::Array(
            seq.iter()
                .map(|e| resolve(e, r))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, e) in m {
                let k = k.as_str().ok_or("a mapping key is not a string")?;
                out.insert(k.to_owned(), resolve(e, r)?);
            }
            J::Object(out)
        }
        Value::Tagged(t) if t.tag == "Ref" => {
            let name = t.value.as_str().ok_or("!Ref of a non-string")?;
            r.reference_of(name)
                .ok_or_else(|| format!("cannot resolve !Ref {name}"))?
        }
        Value::Tagged(t) if t.tag == "GetAtt" => {
            let target = t.value.as_str().ok_or("!GetAtt of a non-string")?;
            let (resource, attribute) = target
                .split_once('.')
                .ok_or_else(|| format!("!GetAtt {target} has no attribute"))?;
            J::String(
                (r.attribute)(resource, attribute)
                    .ok_or_else(|| format!("cannot resolve !GetAtt {target}"))?,
            )
        }
        Value::Tagged(t) if t.tag == "Sub" => {
            J::String(r.sub(t.value.as_str().ok_or("!Sub of a non-string")?)?)
        }
        Value::Tagged(t) => return Err(format!("intrinsic {} is not resolved locally", t.tag)),
    })
}

/// `!GetAtt X.Arn` (tagged scalar) or `{Fn::GetAtt: [X, Arn]}` → `X`.
fn get_att_target(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "GetAtt" => t
            .value
            .as_str()
            .and_then(|s| s.split('.').next())
            .map(str::to_owned),
        Value::Mapping(m) => m
            .get("Fn::GetAtt")
            .and_then(Value::as_sequence)
            .and_then(|s| s.first())
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

fn queue(id: &str, p: &Value) -> Result<QueueSpec, TemplateError> {
    let redrive = match p.get("RedrivePolicy") {
        None => None,
        Some(r) => {
            let target = r
                .get("deadLetterTargetArn")
                .and_then(get_att_target)
                .ok_or_else(|| {
                    TemplateError::Resource(id.into(), "redrive target is not !GetAtt <Queue>.Arn")
                })?;
            let max = r
                .get("maxReceiveCount")
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    TemplateError::Resource(id.into(), "redrive without maxReceiveCount")
                })?;
            Some((target, max))
        }
    };
    Ok(QueueSpec {
        logical_id: id.into(),
        visibility_timeout: p.get("VisibilityTimeout").and_then(Value::as_i64),
        message_retention: p.get("MessageRetentionPeriod").and_then(Value::as_i64),
        redrive,
        kms_key: p.get("KmsMasterKeyId").and_then(ref_target),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_template_defines_what_ingest_needs() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
        let spec = load(&path).unwrap();
        let table = spec
            .tables
            .iter()
            .find(|t| t.logical_id == "OrdersTable")
            .unwrap();
        assert_eq!(table.ttl_attribute.as_deref(), Some("ttl"));
        assert_eq!(table.stream_view_type.as_deref(), Some("NEW_IMAGE"));
        assert_eq!(
            table.key_schema,
            vec![("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]
        );
        let q = spec
            .queues
            .iter()
            .find(|q| q.logical_id == "NotificationsQueue")
            .unwrap();
        assert_eq!(q.redrive, Some(("NotificationsDlq".into(), 5)));
        assert!(spec.keys.contains(&"PiiSealKey".to_owned()));
        assert!(spec.secrets.contains(&"LwaCredentialsSecret".to_owned()));
    }
}
