//! Shipment requests: what ingest hands to dispatch. Identifiers only, never PII — dispatch
//! loads the order and unseals what it may.

use std::future::Future;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentRequestMessage {
    pub version: u8,
    pub seller_id: String,
    pub order_id: String,
    /// The order's `lastUpdatedTime` when the request was made (RFC 3339).
    pub order_last_updated: String,
}

impl ShipmentRequestMessage {
    pub const VERSION: u8 = 1;
}

#[derive(Debug, thiserror::Error)]
#[error("shipment queue send failed: {code}")]
pub struct QueueError {
    pub code: String,
}

/// Port: the shipments queue.
pub trait ShipmentQueue: Send + Sync {
    fn send(
        &self,
        message: &ShipmentRequestMessage,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[cfg(feature = "sqs")]
pub use sqs::SqsShipmentQueue;

#[cfg(feature = "sqs")]
mod sqs {
    use aws_sdk_sqs::Client;

    use super::*;

    #[derive(Debug, Clone)]
    pub struct SqsShipmentQueue {
        client: Client,
        queue_url: String,
    }

    impl SqsShipmentQueue {
        pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
            Self {
                client,
                queue_url: queue_url.into(),
            }
        }
    }

    impl ShipmentQueue for SqsShipmentQueue {
        async fn send(&self, message: &ShipmentRequestMessage) -> Result<(), QueueError> {
            let body = serde_json::to_string(message).expect("plain struct serializes");
            self.client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| QueueError {
                    code: crate::aws::error_code(&e),
                })
        }
    }
}
