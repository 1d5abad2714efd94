//! Quarantine: a message that can never succeed is parked in its queue's DLQ at once, whole,
//! with its reason as the `orderseal-reason` message attribute (`orderseal dlq list|replay`
//! filter on it), instead of being retried until SQS redrives it without one.

use std::future::Future;

/// The message attribute that carries the reason code.
pub const REASON_ATTRIBUTE: &str = "orderseal-reason";

/// The body parked instead of one over the SQS limit, which cannot be sent whole (the original
/// stays visible in the source queue's metrics and redrive). It is never replayed.
pub const MARKER_FIELD: &str = "orderseal_quarantine";

/// Port: where messages that can never succeed are parked with their reason (the DLQ).
pub trait Quarantine: Send + Sync {
    fn quarantine(
        &self,
        body: &str,
        reason: &'static str,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// What is sent to the DLQ for `body`: itself, or a marker when it cannot be sent whole.
pub fn parked_body(body: &str, reason: &str) -> String {
    if body.len() > crate::notification::MAX_BODY_BYTES {
        format!(
            "{{\"{MARKER_FIELD}\":\"{reason}\",\"original_bytes\":{}}}",
            body.len()
        )
    } else if body.is_empty() {
        "{}".to_owned()
    } else {
        body.to_owned()
    }
}

/// A parked marker (the original body was not kept): nothing to replay.
pub fn is_marker(body: &str) -> bool {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(body)
        .is_ok_and(|m| m.contains_key(MARKER_FIELD))
}

#[cfg(feature = "sqs")]
pub use sqs::SqsQuarantine;

#[cfg(feature = "sqs")]
mod sqs {
    use aws_sdk_sqs::types::MessageAttributeValue;

    use super::*;

    /// Sends to the DLQ with the reason attribute. Without a configured DLQ the failure is
    /// reported instead, so SQS redrive takes the message there after `maxReceiveCount` —
    /// either way nothing is dropped.
    #[derive(Debug, Clone)]
    pub struct SqsQuarantine {
        pub client: aws_sdk_sqs::Client,
        pub queue_url: Option<String>,
    }

    impl Quarantine for SqsQuarantine {
        async fn quarantine(&self, body: &str, reason: &'static str) -> Result<(), String> {
            let Some(url) = &self.queue_url else {
                return Err("no quarantine queue configured".into());
            };
            let reason_attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(reason)
                .build()
                .map_err(|_| "attribute".to_owned())?;
            self.client
                .send_message()
                .queue_url(url)
                .message_body(parked_body(body, reason))
                .message_attributes(REASON_ATTRIBUTE, reason_attr)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws::error_code(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversize_body_is_parked_as_a_marker_that_is_never_replayed() {
        let big = "x".repeat(crate::notification::MAX_BODY_BYTES + 1);
        let parked = parked_body(&big, "body_too_large");
        assert!(parked.len() < 100);
        assert!(is_marker(&parked));
        assert!(!is_marker(r#"{"NotificationType":"ORDER_CHANGE"}"#));
        assert!(!is_marker("not json"));
        assert_eq!(parked_body("", "empty"), "{}");
        assert_eq!(parked_body("{\"a\":1}", "r"), "{\"a\":1}");
    }
}
