//! The order table's stream feeding the audit-log function, as Lambda's event source mapping
//! does it: the template's filter (inserts of `AUDITLOG#` items), batches of up to 100 in
//! stream order, each shard from where the previous run stopped. The lines the function
//! prints are what the audit log group receives.
//!
//! Lambda reads the stream with the function's role; the IAM evaluation adds those reads as
//! the platform's requests (they are not our code's), so these clients are not recorded.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{Value, json};

use crate::LocalError;

/// The event source's filter (`FilterCriteria` of `AuditLogFunction` in the template; the
/// template test checks they are the same).
pub const FILTER_PATTERN: &str =
    r#"{"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "AUDITLOG#"}]}}}}"#;

/// Whether a record passes [`FILTER_PATTERN`].
fn passes(r: &Record) -> bool {
    let pk = r
        .dynamodb()
        .and_then(|d| d.keys())
        .and_then(|k| k.get("pk"))
        .and_then(|v| v.as_s().ok());
    r.event_name().map(|e| e.as_str()) == Some("INSERT")
        && pk.is_some_and(|pk| pk.starts_with(orderseal_audit_log::AUDIT_DAY_PREFIX))
}

/// A reader of one table's stream that remembers where it stopped.
#[derive(Debug)]
pub struct AuditStream {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Shard id → the last sequence number handed to the function.
    done: HashMap<String, String>,
}

impl AuditStream {
    /// The stream of `table` on the emulator at `endpoint`.
    pub async fn open(endpoint: &str, table: &str) -> Result<Self, LocalError> {
        let sdk = crate::sdk_config(endpoint).await;
        let described = aws_sdk_dynamodb::Client::new(&sdk)
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| LocalError::aws("DescribeTable", &e))?;
        let stream_arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| LocalError::Stack(format!("table {table} has no stream")))?
            .to_owned();
        Ok(Self {
            client: aws_sdk_dynamodbstreams::Client::new(&sdk),
            stream_arn,
            done: HashMap::new(),
        })
    }

    /// Hand every new record since the last run to the function; its lines, in order.
    pub async fn mirror(&mut self) -> Result<Vec<String>, LocalError> {
        let stream = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(|e| LocalError::aws("DescribeStream", &e))?;
        let shards: Vec<String> = stream
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut lines = Vec::new();
        for shard in shards {
            let mut iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&shard);
            iterator = match self.done.get(&shard) {
                Some(seq) => iterator
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(seq),
                None => iterator.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut next = iterator
                .send()
                .await
                .map_err(|e| LocalError::aws("GetShardIterator", &e))?
                .shard_iterator;
            while let Some(it) = next.take() {
                let out = self
                    .client
                    .get_records()
                    .shard_iterator(it)
                    .limit(1000)
                    .send()
                    .await
                    .map_err(|e| LocalError::aws("GetRecords", &e))?;
                let records = out.records();
                if records.is_empty() {
                    break;
                }
                if let Some(last) = records
                    .last()
                    .and_then(|r| r.dynamodb())
                    .and_then(|d| d.sequence_number())
                {
                    self.done.insert(shard.clone(), last.to_owned());
                }
                let passed: Vec<Value> = records
                    .iter()
                    .filter(|r| passes(r))
                    .map(|r| self.lambda_record(r))
                    .collect();
                for batch in passed.chunks(100) {
                    let event: Event = serde_json::from_value(json!({ "Records": batch }))
                        .map_err(|e| {
                            LocalError::Stack(format!("a stream batch is not a Lambda event: {e}"))
                        })?;
                    lines.extend(orderseal_audit_log::mirror(&event).lines);
                }
                next = out.next_shard_iterator;
            }
        }
        Ok(lines)
    }

    /// A stream record as Lambda hands it to the function.
    fn lambda_record(&self, r: &Record) -> Value {
        let d = r.dynamodb();
        let image =
            |m: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
                serde_json::to_value(serde_dynamo::Item::from(m.cloned().unwrap_or_default()))
                    .unwrap_or(Value::Null)
            };
        json!({
            "eventID": r.event_id(),
            "eventName": r.event_name().map(|e| e.as_str()),
            "eventVersion": r.event_version(),
            "eventSource": "aws:dynamodb",
            "awsRegion": crate::REGION,
            "dynamodb": {
                "ApproximateCreationDateTime": d.and_then(|d| d.approximate_creation_date_time()).map_or(0, |t| t.secs()),
                "Keys": image(d.and_then(|d| d.keys.as_ref())),
                "NewImage": image(d.and_then(|d| d.new_image.as_ref())),
                "SequenceNumber": d.and_then(|d| d.sequence_number()),
                "SizeBytes": d.and_then(|d| d.size_bytes()).unwrap_or(0),
                "StreamViewType": "NEW_IMAGE",
            },
            "eventSourceARN": self.stream_arn,
        })
    }
}
