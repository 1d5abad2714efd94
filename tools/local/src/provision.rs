//! Creates the template's resources in the emulator, under `<prefix>-<LogicalId>` names.
//! Idempotent: an existing resource of the same name is reused.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::{Deserialize, Serialize};

use crate::template::{TableSpec, TemplateSpec};
use crate::{AwsClients, LocalError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueRef {
    pub url: String,
    pub arn: String,
}

/// Names and addresses of what was created.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Resources {
    pub tables: BTreeMap<String, String>,
    pub queues: BTreeMap<String, QueueRef>,
    pub keys: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    /// Where sellers' refresh-token secrets are named (`<prefix><sellerId>`).
    #[serde(default)]
    pub seller_secret_prefix: String,
}

impl Resources {
    pub fn table(&self, id: &str) -> Result<&str, LocalError> {
        self.tables
            .get(id)
            .map(String::as_str)
            .ok_or(LocalError::MissingResource(id.to_owned()))
    }

    pub fn queue(&self, id: &str) -> Result<&QueueRef, LocalError> {
        self.queues
            .get(id)
            .ok_or(LocalError::MissingResource(id.to_owned()))
    }

    pub fn key(&self, id: &str) -> Result<&str, LocalError> {
        self.keys
            .get(id)
            .map(String::as_str)
            .ok_or(LocalError::MissingResource(id.to_owned()))
    }

    pub fn secret(&self, id: &str) -> Result<&str, LocalError> {
        self.secrets
            .get(id)
            .map(String::as_str)
            .ok_or(LocalError::MissingResource(id.to_owned()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct ProvisionOptions {
    /// Overrides every queue's visibility timeout (tests use a short one to watch redrive).
    pub visibility_timeout: Option<i64>,
}

pub async fn provision(
    aws: &AwsClients,
    spec: &TemplateSpec,
    prefix: &str,
    secret_values: &BTreeMap<String, String>,
    options: &ProvisionOptions,
) -> Result<Resources, LocalError> {
    let mut out = Resources::default();
    for t in &spec.tables {
        let name = format!("{prefix}-{}", t.logical_id);
        create_table(aws, t, &name).await?;
        out.tables.insert(t.logical_id.clone(), name);
    }
    // Dead-letter queues first: the source queues' redrive policies point at them.
    let mut queues = spec.queues.clone();
    queues.sort_by_key(|q| q.redrive.is_some());
    for q in &queues {
        let name = format!("{prefix}-{}", q.logical_id);
        let mut req = aws.sqs.create_queue().queue_name(&name);
        if let Some(v) = options.visibility_timeout.or(q.visibility_timeout) {
            req = req.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
        }
        if let Some(v) = q.message_retention {
            req = req.attributes(QueueAttributeName::MessageRetentionPeriod, v.to_string());
        }
        if let Some((target, max)) = &q.redrive {
            let dlq = out.queue(target)?;
            req = req.attributes(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": max})
                    .to_string(),
            );
        }
        let url = req
            .send()
            .await
            .map_err(|e| LocalError::aws("CreateQueue", &e))?
            .queue_url
            .ok_or(LocalError::MissingResource(name.clone()))?;
        let arn = aws
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| LocalError::aws("GetQueueAttributes", &e))?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or(LocalError::MissingResource(name.clone()))?;
        out.queues
            .insert(q.logical_id.clone(), QueueRef { url, arn });
    }
    for k in &spec.keys {
        let alias = format!("alias/{prefix}-{k}");
        let existing = aws
            .kms
            .describe_key()
            .key_id(&alias)
            .send()
            .await
            .ok()
            .and_then(|d| d.key_metadata.map(|m| m.arn.unwrap_or(m.key_id)));
        let arn = match existing {
            Some(arn) => arn,
            None => {
                let meta = aws
                    .kms
                    .create_key()
                    .description(format!("orderseal local {k}"))
                    .send()
                    .await
                    .map_err(|e| LocalError::aws("CreateKey", &e))?
                    .key_metadata
                    .ok_or(LocalError::MissingResource(k.clone()))?;
                aws.kms
                    .create_alias()
                    .alias_name(&alias)
                    .target_key_id(&meta.key_id)
                    .send()
                    .await
                    .map_err(|e| LocalError::aws("CreateAlias", &e))?;
                meta.arn.unwrap_or(meta.key_id)
            }
        };
        out.keys.insert(k.clone(), arn);
    }
    // The sellers of a `refresh_tokens` map in the LWA secret are added as `orderseal seller
    // add` adds them: a registry entry and a secret of their own each (the map is dropped).
    let mut secret_values = secret_values.clone();
    let mut sellers: Vec<(String, orderseal::secret::SecretString)> = Vec::new();
    if let Some(lwa) = secret_values.get_mut("LwaCredentialsSecret")
        && let Ok(mut json) = serde_json::from_str::<serde_json::Value>(lwa)
        && let Some(map) = json
            .as_object_mut()
            .and_then(|o| o.remove("refresh_tokens"))
    {
        for (seller, token) in map.as_object().into_iter().flatten() {
            let token = token.as_str().unwrap_or_default();
            sellers.push((seller.clone(), orderseal::secret::SecretString::new(token)));
        }
        *lwa = json.to_string();
    }
    out.seller_secret_prefix = format!("{prefix}/sellers/");
    for s in &spec.secrets {
        let name = format!("{prefix}-{s}");
        let value = secret_values.get(s).cloned().unwrap_or_else(|| "{}".into());
        let arn = match aws
            .secrets
            .create_secret()
            .name(&name)
            .secret_string(&value)
            .send()
            .await
        {
            Ok(out) => out.arn.unwrap_or(name.clone()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_exists_exception()) =>
            {
                let out = aws
                    .secrets
                    .put_secret_value()
                    .secret_id(&name)
                    .secret_string(&value)
                    .send()
                    .await
                    .map_err(|e| LocalError::aws("PutSecretValue", &e))?;
                out.arn.unwrap_or(name.clone())
            }
            Err(e) => return Err(LocalError::aws("CreateSecret", &e)),
        };
        out.secrets.insert(s.clone(), arn);
    }
    if let Ok(table) = out.table("OrdersTable") {
        add_sellers(aws, table, &out.seller_secret_prefix, &sellers).await?;
    }
    apply_policies(aws, spec, prefix, &out).await?;
    record_bindings(prefix, &out)?;
    Ok(out)
}

/// The queues' keys and the queue and key policies as the template gives them, resolved for
/// this stack (parameters without a default from `infra/policy/deployment.json`). The emulator
/// stores them but enforces none: `orderseal doctor` reads them as it reads AWS's.
async fn apply_policies(
    aws: &AwsClients,
    spec: &TemplateSpec,
    prefix: &str,
    out: &Resources,
) -> Result<(), LocalError> {
    let account = out
        .queues
        .values()
        .next()
        .and_then(|q| q.arn.split(':').nth(4))
        .unwrap_or(crate::LOCAL_ACCOUNT)
        .to_owned();
    let mut parameters = spec.parameters.clone();
    if let Ok(text) =
        std::fs::read_to_string(crate::repo_root().join("infra/policy/deployment.json"))
        && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
    {
        for (k, v) in json["parameters"].as_object().into_iter().flatten() {
            if let Some(v) = v.as_str() {
                parameters.insert(k.clone(), v.to_owned());
            }
        }
    }
    let reference = |id: &str| -> Option<String> {
        out.queues
            .get(id)
            .map(|q| q.url.clone())
            .or_else(|| out.keys.get(id).cloned())
            .or_else(|| out.tables.get(id).cloned())
            .or_else(|| out.secrets.get(id).cloned())
    };
    let table_arn =
        |name: &str| format!("arn:aws:dynamodb:{}:{account}:table/{name}", crate::REGION);
    let attribute = |id: &str, attribute: &str| -> Option<String> {
        if attribute != "Arn" {
            return None;
        }
        out.queues
            .get(id)
            .map(|q| q.arn.clone())
            .or_else(|| out.keys.get(id).cloned())
            .or_else(|| out.tables.get(id).map(|t| table_arn(t)))
            .or_else(|| id.ends_with("Role").then(|| crate::local_role_arn(id)))
    };
    let resolver = crate::template::Resolver {
        partition: "aws",
        region: crate::REGION,
        account: &account,
        stack: prefix,
        parameters: &parameters,
        list_parameters: &spec.list_parameters,
        reference: &reference,
        attribute: &attribute,
    };
    for q in &spec.queues {
        if let (Some(key), Ok(queue)) = (&q.kms_key, out.queue(&q.logical_id)) {
            aws.sqs
                .set_queue_attributes()
                .queue_url(&queue.url)
                .attributes(QueueAttributeName::KmsMasterKeyId, out.key(key)?)
                .send()
                .await
                .map_err(|e| LocalError::aws("SetQueueAttributes", &e))?;
        }
    }
    for policy in &spec.queue_policies {
        let document = crate::template::resolve(&policy.document, &resolver)
            .map_err(|why| LocalError::Stack(format!("queue policy: {why}")))?;
        for id in &policy.queues {
            aws.sqs
                .set_queue_attributes()
                .queue_url(&out.queue(id)?.url)
                .attributes(QueueAttributeName::Policy, document.to_string())
                .send()
                .await
                .map_err(|e| LocalError::aws("SetQueueAttributes", &e))?;
        }
    }
    for (id, policy) in &spec.key_policies {
        let document = crate::template::resolve(policy, &resolver)
            .map_err(|why| LocalError::Stack(format!("{id} key policy: {why}")))?;
        aws.kms
            .put_key_policy()
            .key_id(out.key(id)?)
            .policy_name("default")
            .policy(document.to_string())
            .send()
            .await
            .map_err(|e| LocalError::aws("PutKeyPolicy", &e))?;
    }
    Ok(())
}

/// The local sellers, each with its registry entry (the sandbox's marketplaces, authorised
/// today) and its refresh-token secret.
pub async fn add_sellers(
    aws: &AwsClients,
    table: &str,
    secret_prefix: &str,
    sellers: &[(String, orderseal::secret::SecretString)],
) -> Result<(), LocalError> {
    let registry = orderseal::sellers::DynamoSellers::new(aws.dynamodb.clone(), table);
    let secrets = orderseal::sellers::SellerSecrets {
        client: aws.secrets.clone(),
        prefix: secret_prefix.to_owned(),
        kms_key_id: None,
    };
    let now = time::OffsetDateTime::now_utc();
    for (seller_id, token) in sellers {
        secrets
            .put(seller_id, token)
            .await
            .map_err(|e| LocalError::Stack(e.to_string()))?;
        registry
            .put(&orderseal::sellers::Seller {
                seller_id: seller_id.clone(),
                marketplaces: crate::SANDBOX_MARKETPLACES
                    .iter()
                    .map(|m| (*m).to_owned())
                    .collect(),
                authorized_on: now.date(),
                added_at: now
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            })
            .await
            .map_err(|e| LocalError::Stack(e.to_string()))?;
    }
    Ok(())
}

/// When requests are being recorded for the IAM evaluation, the names this stack gave the
/// template's resources: the evaluator maps what the code sent back to logical ids with them.
fn record_bindings(prefix: &str, resources: &Resources) -> Result<(), LocalError> {
    let Some(dir) = std::env::var_os(orderseal::aws::record::RECORD_DIR_ENV) else {
        return Ok(());
    };
    let dir = std::path::Path::new(&dir).join("stacks");
    std::fs::create_dir_all(&dir)?;
    let text = serde_json::to_string_pretty(resources).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(format!("{prefix}.json")), text)?;
    Ok(())
}

fn key_type(k: &str) -> KeyType {
    if k == "RANGE" {
        KeyType::Range
    } else {
        KeyType::Hash
    }
}

fn key_schema(pairs: &[(String, String)]) -> Result<Vec<KeySchemaElement>, LocalError> {
    pairs
        .iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type(kind))
                .build()
                .map_err(|_| LocalError::MissingResource(name.clone()))
        })
        .collect()
}

async fn create_table(aws: &AwsClients, t: &TableSpec, name: &str) -> Result<(), LocalError> {
    let mut req = aws
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&t.key_schema)?));
    for (attr, ty) in &t.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::from(ty.as_str()))
                .build()
                .map_err(|_| LocalError::MissingResource(attr.clone()))?,
        );
    }
    for g in &t.global_secondary_indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&g.name)
                .set_key_schema(Some(key_schema(&g.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(g.projection.as_str()))
                        .set_non_key_attributes(
                            (!g.non_key_attributes.is_empty())
                                .then(|| g.non_key_attributes.clone()),
                        )
                        .build(),
                )
                .build()
                .map_err(|_| LocalError::MissingResource(g.name.clone()))?,
        );
    }
    if let Some(view) = &t.stream_view_type {
        req = req.stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::from(view.as_str()))
                .build()
                .map_err(|_| LocalError::MissingResource(view.clone()))?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(LocalError::aws("CreateTable", &e)),
    }
    if let Some(attr) = &t.ttl_attribute {
        aws.dynamodb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()
                    .map_err(|_| LocalError::MissingResource(attr.clone()))?,
            )
            .send()
            .await
            .map_err(|e| LocalError::aws("UpdateTimeToLive", &e))?;
    }
    Ok(())
}
