//! Notifications API v1 as orderseal uses it: the app's SQS destination and each seller's
//! `ORDER_CHANGE` subscription. Types are the official model's (`notifications.json`):
//! `Destination`, `Subscription`, the `createDestination` and `createSubscription` requests.
//!
//! Destinations and subscriptions by id are grantless (LWA `client_credentials` with scope
//! [`SCOPE`]); `createSubscription` and `getSubscription` act for a seller. Every operation's
//! usage plan is 1 request/s, burst 5 ([`UsagePlan::NOTIFICATIONS`]).

use serde::{Deserialize, Serialize};

use super::ratelimit::UsagePlan;

/// The LWA scope of the grantless Notifications operations.
pub const SCOPE: &str = "sellingpartnerapi::notifications";
/// The notification type orderseal subscribes each seller to.
pub const ORDER_CHANGE: &str = "ORDER_CHANGE";
/// Its payload version (the official MFN sample's).
pub const ORDER_CHANGE_PAYLOAD_VERSION: &str = "1.0";

impl UsagePlan {
    /// Every Notifications API v1 operation (notifications.json).
    pub const NOTIFICATIONS: UsagePlan = UsagePlan {
        rate_per_sec: 1.0,
        burst: 5,
    };
}

/// The model's `Destination` (an SQS one).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub name: String,
    pub destination_id: String,
    #[serde(default)]
    pub resource: DestinationResource,
}

impl Destination {
    /// The queue it delivers to, if an SQS destination.
    pub fn sqs_arn(&self) -> Option<&str> {
        self.resource.sqs.as_ref().map(|sqs| sqs.arn.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs: Option<SqsResource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqsResource {
    pub arn: String,
}

/// The model's `Subscription`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub subscription_id: String,
    pub payload_version: String,
    pub destination_id: String,
}

#[cfg(any(test, feature = "spapi-http"))]
/// `createDestination` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateDestinationRequest<'a> {
    pub name: &'a str,
    pub resource_specification: DestinationResource,
}

#[cfg(any(test, feature = "spapi-http"))]
/// `createSubscription` body (no processing directive: every ORDER_CHANGE, as the official
/// sample subscribes).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateSubscriptionRequest<'a> {
    pub payload_version: &'a str,
    pub destination_id: &'a str,
}

#[cfg(any(test, feature = "spapi-http"))]
/// `{"payload": …}`, the shape of every Notifications answer with a result.
#[derive(Debug, Deserialize)]
pub(crate) struct Payload<T> {
    pub payload: T,
}

#[cfg(feature = "spapi-http")]
mod http {
    use std::time::Instant;

    use super::*;
    use crate::spapi::client::{Auth, SpApiClient, urlencode_path};
    use crate::spapi::ratelimit::RateLimiter;
    use crate::spapi::{CredentialSource, SpApiError};

    fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, SpApiError> {
        serde_json::from_slice::<Payload<T>>(bytes)
            .map(|p| p.payload)
            .map_err(|e| SpApiError::Decode {
                line: e.line(),
                column: e.column(),
            })
    }

    /// 404 → `None`.
    fn found<T>(result: Result<T, SpApiError>) -> Result<Option<T>, SpApiError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(SpApiError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    impl<C: CredentialSource, L: RateLimiter> SpApiClient<C, L> {
        /// `createDestination` for an SQS queue (grantless). 409 (one exists for the queue)
        /// is `Rejected(409)`.
        pub async fn create_destination(
            &self,
            name: &str,
            queue_arn: &str,
            deadline: Instant,
        ) -> Result<Destination, SpApiError> {
            let url = self.url("/notifications/v1/destinations");
            let body = CreateDestinationRequest {
                name,
                resource_specification: DestinationResource {
                    sqs: Some(SqsResource {
                        arn: queue_arn.to_owned(),
                    }),
                },
            };
            let bytes = self
                .call(
                    Auth::Grantless(SCOPE),
                    "createDestination",
                    UsagePlan::NOTIFICATIONS,
                    deadline,
                    |http| http.post(&url).json(&body),
                )
                .await?;
            decode(&bytes)
        }

        /// `getDestinations` (grantless).
        pub async fn get_destinations(
            &self,
            deadline: Instant,
        ) -> Result<Vec<Destination>, SpApiError> {
            let url = self.url("/notifications/v1/destinations");
            let bytes = self
                .call(
                    Auth::Grantless(SCOPE),
                    "getDestinations",
                    UsagePlan::NOTIFICATIONS,
                    deadline,
                    |http| http.get(&url),
                )
                .await?;
            decode(&bytes)
        }

        /// `createSubscription` for the seller (its token). 409 (it has one of this type) is
        /// `Rejected(409)`.
        pub async fn create_subscription(
            &self,
            seller_id: &str,
            notification_type: &str,
            destination_id: &str,
            deadline: Instant,
        ) -> Result<Subscription, SpApiError> {
            let url = self.url(&format!(
                "/notifications/v1/subscriptions/{}",
                urlencode_path(notification_type)
            ));
            let body = CreateSubscriptionRequest {
                payload_version: ORDER_CHANGE_PAYLOAD_VERSION,
                destination_id,
            };
            let bytes = self
                .call(
                    Auth::Seller(seller_id),
                    "createSubscription",
                    UsagePlan::NOTIFICATIONS,
                    deadline,
                    |http| http.post(&url).json(&body),
                )
                .await?;
            decode(&bytes)
        }

        /// `getSubscription` for the seller (its token); `None` when it has none.
        pub async fn get_subscription(
            &self,
            seller_id: &str,
            notification_type: &str,
            deadline: Instant,
        ) -> Result<Option<Subscription>, SpApiError> {
            let url = self.url(&format!(
                "/notifications/v1/subscriptions/{}",
                urlencode_path(notification_type)
            ));
            let bytes = found(
                self.call(
                    Auth::Seller(seller_id),
                    "getSubscription",
                    UsagePlan::NOTIFICATIONS,
                    deadline,
                    |http| http.get(&url),
                )
                .await,
            )?;
            bytes.map(|b| decode(&b)).transpose()
        }

        /// `deleteSubscriptionById` (grantless); `false` when there was none.
        pub async fn delete_subscription(
            &self,
            notification_type: &str,
            subscription_id: &str,
            deadline: Instant,
        ) -> Result<bool, SpApiError> {
            let url = self.url(&format!(
                "/notifications/v1/subscriptions/{}/{}",
                urlencode_path(notification_type),
                urlencode_path(subscription_id)
            ));
            let deleted = found(
                self.call(
                    Auth::Grantless(SCOPE),
                    "deleteSubscriptionById",
                    UsagePlan::NOTIFICATIONS,
                    deadline,
                    |http| http.delete(&url),
                )
                .await,
            )?;
            Ok(deleted.is_some())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_and_subscriptions_read_the_model_shapes() {
        let d: Payload<Vec<Destination>> = serde_json::from_str(
            r#"{"payload":[{"name":"n","destinationId":"d-1","resource":{"sqs":{"arn":"arn:aws:sqs:us-east-1:1:q"}}}]}"#,
        )
        .unwrap();
        assert_eq!(d.payload[0].sqs_arn(), Some("arn:aws:sqs:us-east-1:1:q"));
        let s: Payload<Subscription> = serde_json::from_str(
            r#"{"payload":{"subscriptionId":"s-1","payloadVersion":"1.0","destinationId":"d-1"}}"#,
        )
        .unwrap();
        assert_eq!(s.payload.destination_id, "d-1");
        let body = serde_json::to_value(CreateDestinationRequest {
            name: "n",
            resource_specification: DestinationResource {
                sqs: Some(SqsResource { arn: "a".into() }),
            },
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name": "n", "resourceSpecification": {"sqs": {"arn": "a"}}})
        );
    }
}
