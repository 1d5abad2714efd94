//! What the subscriptions function reports to `orderseal subscribe|subscriptions|doctor` and
//! `seller remove`: the app's SQS destination and each seller's ORDER_CHANGE subscription.
//! Ids, statuses and reason codes only.

use serde::{Deserialize, Serialize};

/// The app's destination for the notifications queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationReport {
    pub destination_id: String,
    pub queue_arn: String,
    /// `created` by this run, or it already `exists`.
    pub status: Status,
}

/// One seller's ORDER_CHANGE subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SellerSubscription {
    pub seller_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_id: Option<String>,
    /// Why it `failed` (an SP-API reason code such as `lwa_rejected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When ingest last saw one of its notifications (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_notification_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created by this request.
    Created,
    /// Was there already (Amazon answered 409; the existing one is reported).
    Exists,
    /// Subscribed to this deployment's destination (a listing).
    Subscribed,
    /// No subscription (a listing, or nothing to delete).
    Missing,
    /// Subscribed, but to another destination than this deployment's queue.
    OtherDestination,
    /// Deleted by this request.
    Deleted,
    /// SP-API refused or failed; see `reason`.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Exists => "exists",
            Status::Subscribed => "subscribed",
            Status::Missing => "missing",
            Status::OtherDestination => "other_destination",
            Status::Deleted => "deleted",
            Status::Failed => "failed",
        }
    }

    /// The seller gets this deployment's notifications.
    pub fn is_subscribed(self) -> bool {
        matches!(self, Status::Created | Status::Exists | Status::Subscribed)
    }
}

/// The answer of every subscriptions route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionsReport {
    /// `None`: the app has no destination for this deployment's queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<DestinationReport>,
    #[serde(default)]
    pub sellers: Vec<SellerSubscription>,
}

/// The routes, as the template declares them on the IAM-authorised API.
pub const ROUTE: &str = "/ops/subscriptions";
