//! Exactly-once processing of SP-API notifications on an at-least-once queue, with the
//! semantics of AWS Lambda Powertools' idempotency utility:
//!
//! * a conditional put of `NOTIF#<notificationId>` with status `INPROGRESS` is the lock;
//! * the lock expires when the invocation would have timed out (from the Lambda context), so a
//!   crashed or timed-out holder does not block the redelivery;
//! * on a handler error the record is deleted, so the retry runs again;
//! * on success it becomes `COMPLETED` with an expiry (days) after which the key may be reused;
//! * expiry is checked in code — DynamoDB TTL deletes late, sometimes days late;
//! * a SHA-256 of the payload rejects a reused id that carries different content.

use std::future::Future;

use aws_lc_rs::digest::{SHA256, digest};
use time::{Duration, OffsetDateTime};

pub fn dedupe_pk(notification_id: &str) -> String {
    format!("NOTIF#{notification_id}")
}

pub const DEDUPE_SK: &str = "NOTIF";

/// Hex SHA-256 of the raw message body.
pub fn payload_hash(body: &[u8]) -> String {
    digest(&SHA256, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The outcome of trying to take the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// Ours: process, then `complete` or `release`.
    Acquired,
    /// Already processed (within the expiry window): a duplicate, acknowledge it.
    Completed { outcome: Option<String> },
    /// Another invocation holds a live lock: report the message failed so SQS retries later.
    InProgress,
    /// Same id, different payload: a reused key, can never be processed as-is.
    PayloadMismatch,
}

#[derive(Debug, Clone)]
pub struct Lease {
    pub notification_id: String,
    pub payload_hash: String,
    pub now: OffsetDateTime,
    /// When the lock may be taken over (the invocation's deadline).
    pub in_progress_until: OffsetDateTime,
    /// How long a completed record suppresses duplicates.
    pub expires_after: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("idempotency store {operation} failed: {code}")]
pub struct IdempotencyError {
    pub operation: &'static str,
    pub code: String,
}

/// Port: the idempotency records.
pub trait IdempotencyStore: Send + Sync {
    fn acquire(
        &self,
        lease: &Lease,
    ) -> impl Future<Output = Result<Acquire, IdempotencyError>> + Send;

    fn complete(
        &self,
        lease: &Lease,
        outcome: &str,
    ) -> impl Future<Output = Result<(), IdempotencyError>> + Send;

    fn release(&self, lease: &Lease) -> impl Future<Output = Result<(), IdempotencyError>> + Send;
}

#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoIdempotencyStore;

#[cfg(feature = "dynamodb")]
mod dynamo {
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

    use super::*;
    use crate::aws::ddb::{n, s};
    use crate::clock::unix_millis;

    const INPROGRESS: &str = "INPROGRESS";
    const COMPLETED: &str = "COMPLETED";

    #[derive(Debug, Clone)]
    pub struct DynamoIdempotencyStore {
        client: Client,
        table: String,
    }

    impl DynamoIdempotencyStore {
        pub fn new(client: Client, table: impl Into<String>) -> Self {
            Self {
                client,
                table: table.into(),
            }
        }
    }

    fn err<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
        operation: &'static str,
        e: &aws_sdk_dynamodb::error::SdkError<E, R>,
    ) -> IdempotencyError {
        IdempotencyError {
            operation,
            code: crate::aws::error_code(e),
        }
    }

    impl IdempotencyStore for DynamoIdempotencyStore {
        async fn acquire(&self, lease: &Lease) -> Result<Acquire, IdempotencyError> {
            let now_s = lease.now.unix_timestamp();
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(crate::layout::PARTITION_KEY, s(dedupe_pk(&lease.notification_id)))
                .item(crate::layout::SORT_KEY, s(DEDUPE_SK))
                .item("status", s(INPROGRESS))
                .item("payload_hash", s(&lease.payload_hash))
                .item("in_progress_expiry_ms", n(unix_millis(lease.in_progress_until)))
                .item(crate::layout::TTL, n((lease.now + lease.expires_after).unix_timestamp()))
                .condition_expression(
                    "attribute_not_exists(pk) OR #ttl < :now_s OR (#status = :inprogress AND in_progress_expiry_ms < :now_ms)",
                )
                .expression_attribute_names("#ttl", crate::layout::TTL)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":now_s", n(now_s))
                .expression_attribute_values(":now_ms", n(unix_millis(lease.now)))
                .expression_attribute_values(":inprogress", s(INPROGRESS))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let e = match result {
                Ok(_) => return Ok(Acquire::Acquired),
                Err(e) => e,
            };
            let Some(PutItemError::ConditionalCheckFailedException(c)) = e.as_service_error()
            else {
                return Err(err("PutItem", &e));
            };
            let old = c.item().cloned().unwrap_or_default();
            let get = |k: &str| old.get(k).and_then(|v| v.as_s().ok()).cloned();
            if get("payload_hash").as_deref() != Some(lease.payload_hash.as_str()) {
                return Ok(Acquire::PayloadMismatch);
            }
            Ok(match get("status").as_deref() {
                Some(COMPLETED) => Acquire::Completed {
                    outcome: get("outcome"),
                },
                _ => Acquire::InProgress,
            })
        }

        async fn complete(&self, lease: &Lease, outcome: &str) -> Result<(), IdempotencyError> {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    s(dedupe_pk(&lease.notification_id)),
                )
                .key(crate::layout::SORT_KEY, s(DEDUPE_SK))
                .update_expression(
                    "SET #status = :completed, outcome = :outcome REMOVE in_progress_expiry_ms",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":completed", s(COMPLETED))
                .expression_attribute_values(":outcome", s(outcome))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err("UpdateItem", &e))
        }

        async fn release(&self, lease: &Lease) -> Result<(), IdempotencyError> {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    s(dedupe_pk(&lease.notification_id)),
                )
                .key(crate::layout::SORT_KEY, s(DEDUPE_SK))
                .condition_expression("#status = :inprogress AND payload_hash = :hash")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":inprogress", s(INPROGRESS))
                .expression_attribute_values(":hash", s(&lease.payload_hash))
                .send()
                .await
                .map(|_| ())
                .or_else(|e| {
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception())
                    {
                        Ok(())
                    } else {
                        Err(err("DeleteItem", &e))
                    }
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_hash_is_hex_sha256() {
        assert_eq!(
            payload_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
