//! The subscriptions function: the app's SP-API notification destination for this deployment's
//! queue, and an ORDER_CHANGE subscription per registered seller.
//!
//! It runs behind the IAM-authorised API for the operators' role, so that people start and
//! check subscriptions without ever holding a seller's refresh token or the app's LWA secret:
//! this function reads them, the operators' role cannot.
//!
//! Routes (answers are [`SubscriptionsReport`]s: ids, statuses and reason codes):
//!
//! - `POST /ops/subscriptions` (`{"sellerId": …}` optional: one seller, else all): creates the
//!   destination once (grantless; Amazon's 409 for a queue that has one → the existing one is
//!   found by its ARN and reported `exists`) and each seller's subscription (with its token;
//!   409 → its existing one is reported `exists`, or `other_destination`).
//! - `GET /ops/subscriptions`: the destination and each seller's subscription as Amazon has
//!   them, with the time ingest last saw the seller's notifications.
//! - `DELETE /ops/subscriptions/{seller}`: deletes the seller's subscription (`seller remove`
//!   calls it before the seller's token is deleted).
//!
//! Notifications operations are 1 rps, burst 5: the function runs with reserved concurrency 1
//! and keeps to that plan with an in-process limiter, retrying Amazon's 429s.

use std::time::Instant;

use orderseal::sellers::DynamoSellers;
use orderseal::spapi::SecretsManagerCredentials;
use orderseal::spapi::client::{SpApiClient, SpApiConfig};
use orderseal::spapi::notifications::{Destination, ORDER_CHANGE};
use orderseal::spapi::ratelimit::InProcessLimiter;
use orderseal::spapi::{CredentialSource, SpApiError};
use orderseal::subscriptions::{
    DestinationReport, ROUTE, SellerSubscription, Status, SubscriptionsReport,
};
use orderseal_pii_access::{Call, is_session_of};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1}")]
    Invalid(&'static str, &'static str),
    #[error("SP-API client: {0}")]
    Client(String),
}

#[derive(Debug, Clone)]
pub struct SubscriptionsConfig {
    pub table: String,
    pub lwa_secret_id: String,
    pub seller_secret_prefix: String,
    pub spapi_endpoint: String,
    pub lwa_endpoint: String,
    /// The notifications queue's ARN: the destination's resource.
    pub queue_arn: String,
    /// The destination's name at Amazon (the stack's name).
    pub destination_name: String,
    /// IAM role ARNs whose sessions may call (the operators' role); empty: any caller IAM let in.
    pub caller_role_arns: Vec<String>,
}

impl SubscriptionsConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let req = |k: &'static str| {
            get(k)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(k))
        };
        let endpoint = |k: &'static str| -> Result<String, ConfigError> {
            let v = req(k)?;
            if orderseal::config::is_https_or_loopback(&v) {
                Ok(v)
            } else {
                Err(ConfigError::Invalid(
                    k,
                    "must be https (or http on loopback)",
                ))
            }
        };
        let queue_arn = req("ORDERSEAL_NOTIFICATIONS_QUEUE_ARN")?;
        if !queue_arn.starts_with("arn:aws:sqs:") {
            return Err(ConfigError::Invalid(
                "ORDERSEAL_NOTIFICATIONS_QUEUE_ARN",
                "not an SQS queue ARN",
            ));
        }
        Ok(Self {
            table: req("ORDERSEAL_TABLE")?,
            lwa_secret_id: req("ORDERSEAL_LWA_SECRET_ID")?,
            seller_secret_prefix: req("ORDERSEAL_SELLER_SECRET_PREFIX")?,
            spapi_endpoint: endpoint("ORDERSEAL_SPAPI_ENDPOINT")?,
            lwa_endpoint: endpoint("ORDERSEAL_LWA_ENDPOINT")?,
            queue_arn,
            destination_name: req("ORDERSEAL_DESTINATION_NAME")?,
            caller_role_arns: get("ORDERSEAL_CALLER_ROLE_ARNS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

pub struct Subscriptions<C, L> {
    sellers: DynamoSellers,
    spapi: SpApiClient<C, L>,
    queue_arn: String,
    destination_name: String,
    caller_role_arns: Vec<String>,
}

pub type LambdaSubscriptions = Subscriptions<SecretsManagerCredentials, InProcessLimiter>;

pub fn build(
    config: SubscriptionsConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
) -> Result<LambdaSubscriptions, ConfigError> {
    let spapi = SpApiClient::new(
        SpApiConfig::new(&config.spapi_endpoint, &config.lwa_endpoint),
        SecretsManagerCredentials::new(secrets, &config.lwa_secret_id)
            .with_seller_secrets(Some(config.seller_secret_prefix.clone())),
        InProcessLimiter::default(),
    )
    .map_err(|e| ConfigError::Client(e.to_string()))?;
    Ok(Subscriptions {
        sellers: DynamoSellers::new(dynamodb, config.table),
        spapi,
        queue_arn: config.queue_arn,
        destination_name: config.destination_name,
        caller_role_arns: config.caller_role_arns,
    })
}

/// An answer: status and JSON body (no secret, no PII: ids, statuses, reason codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

fn reply(status: u16, body: serde_json::Value) -> Reply {
    Reply {
        status,
        body: body.to_string(),
    }
}

fn error(status: u16, code: &str) -> Reply {
    reply(status, json!({ "error": code }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubscribeBody {
    seller_id: Option<String>,
}

/// What stops a whole request (a seller's own failure is reported in its row instead).
#[derive(Debug)]
enum Failure {
    UnknownSeller,
    Registry(String),
    SpApi(SpApiError),
    /// Amazon says the queue has a destination, but does not list it.
    DestinationConflict,
}

impl Failure {
    fn reply(&self) -> Reply {
        match self {
            Failure::UnknownSeller => error(404, "unknown_seller"),
            Failure::Registry(code) => {
                tracing::error!(code, "seller registry unavailable");
                error(502, "registry_unavailable")
            }
            Failure::SpApi(e) => {
                tracing::error!(reason = e.reason_code(), error = %e, "SP-API call failed");
                error(502, e.reason_code())
            }
            Failure::DestinationConflict => error(502, "destination_conflict"),
        }
    }
}

impl<C: CredentialSource, L: orderseal::spapi::ratelimit::RateLimiter> Subscriptions<C, L> {
    pub async fn handle(&self, call: Call<'_>, deadline: Instant) -> Reply {
        if !self.caller_role_arns.is_empty()
            && !call.caller.is_some_and(|caller| {
                self.caller_role_arns
                    .iter()
                    .any(|role| is_session_of(caller, role))
            })
        {
            tracing::warn!(method = call.method, "subscriptions: caller not permitted");
            return error(403, "not_permitted");
        }
        let rest = call.path.strip_prefix(ROUTE);
        let outcome = match (call.method, rest) {
            ("POST", Some("")) => {
                let body = if call.body.iter().all(u8::is_ascii_whitespace) {
                    SubscribeBody::default()
                } else {
                    match serde_json::from_slice::<SubscribeBody>(call.body) {
                        Ok(body) => body,
                        // serde's message can quote the body: give the position only.
                        Err(e) => {
                            return reply(
                                400,
                                json!({"error": "bad_request", "line": e.line(), "column": e.column()}),
                            );
                        }
                    }
                };
                if let Some(seller) = &body.seller_id
                    && !orderseal::sellers::valid_seller_id(seller)
                {
                    return error(400, "bad_seller_id");
                }
                self.subscribe(body.seller_id.as_deref(), deadline).await
            }
            ("GET", Some("")) => self.list(deadline).await,
            ("DELETE", Some(seller)) => match seller.strip_prefix('/') {
                Some(seller) if orderseal::sellers::valid_seller_id(seller) => {
                    self.unsubscribe(seller, deadline).await
                }
                _ => return error(404, "no_such_route"),
            },
            _ => return error(404, "no_such_route"),
        };
        match outcome {
            Ok(report) => {
                tracing::info!(
                    method = call.method,
                    destination = report.destination.as_ref().map(|d| d.status.as_str()),
                    sellers = report.sellers.len(),
                    failed = report
                        .sellers
                        .iter()
                        .filter(|s| s.status == Status::Failed)
                        .count(),
                    "subscriptions"
                );
                reply(200, serde_json::to_value(&report).unwrap_or_default())
            }
            Err(failure) => failure.reply(),
        }
    }

    async fn registered(
        &self,
        only: Option<&str>,
    ) -> Result<Vec<(String, Option<String>)>, Failure> {
        let all = self
            .sellers
            .list_with_activity()
            .await
            .map_err(|e| Failure::Registry(e.to_string()))?;
        let all: Vec<(String, Option<String>)> = all
            .into_iter()
            .map(|(seller, seen)| (seller.seller_id, seen))
            .filter(|(id, _)| only.is_none_or(|o| o == id))
            .collect();
        if only.is_some() && all.is_empty() {
            return Err(Failure::UnknownSeller);
        }
        Ok(all)
    }

    /// The app's destination for this deployment's queue, if it has one.
    async fn find_destination(&self, deadline: Instant) -> Result<Option<Destination>, Failure> {
        let all = self
            .spapi
            .get_destinations(deadline)
            .await
            .map_err(Failure::SpApi)?;
        Ok(all
            .into_iter()
            .find(|d| d.sqs_arn() == Some(self.queue_arn.as_str())))
    }

    async fn subscribe(
        &self,
        only: Option<&str>,
        deadline: Instant,
    ) -> Result<SubscriptionsReport, Failure> {
        let sellers = self.registered(only).await?;
        let created = self
            .spapi
            .create_destination(&self.destination_name, &self.queue_arn, deadline)
            .await;
        let (destination, status) = match created {
            Ok(d) => (d, Status::Created),
            Err(SpApiError::Rejected(409)) => (
                self.find_destination(deadline)
                    .await?
                    .ok_or(Failure::DestinationConflict)?,
                Status::Exists,
            ),
            Err(e) => return Err(Failure::SpApi(e)),
        };
        let mut rows = Vec::with_capacity(sellers.len());
        for (seller_id, seen) in sellers {
            let mut row = SellerSubscription {
                seller_id: seller_id.clone(),
                status: Status::Failed,
                subscription_id: None,
                destination_id: None,
                reason: None,
                last_notification_at: seen,
            };
            let result = match self
                .spapi
                .create_subscription(
                    &seller_id,
                    ORDER_CHANGE,
                    &destination.destination_id,
                    deadline,
                )
                .await
            {
                Ok(s) => Ok((Some(s), Status::Created)),
                Err(SpApiError::Rejected(409)) => self
                    .spapi
                    .get_subscription(&seller_id, ORDER_CHANGE, deadline)
                    .await
                    .map(|s| (s, Status::Exists)),
                Err(e) => Err(e),
            };
            match result {
                Ok((Some(s), status)) => {
                    row.status = if s.destination_id == destination.destination_id {
                        status
                    } else {
                        Status::OtherDestination
                    };
                    row.subscription_id = Some(s.subscription_id);
                    row.destination_id = Some(s.destination_id);
                }
                // 409, yet none to be found: report it as failed, with why.
                Ok((None, _)) => row.reason = Some("subscription_conflict".to_owned()),
                Err(e) => row.reason = Some(e.reason_code().to_owned()),
            }
            rows.push(row);
        }
        Ok(SubscriptionsReport {
            destination: Some(DestinationReport {
                destination_id: destination.destination_id,
                queue_arn: self.queue_arn.clone(),
                status,
            }),
            sellers: rows,
        })
    }

    async fn list(&self, deadline: Instant) -> Result<SubscriptionsReport, Failure> {
        let sellers = self.registered(None).await?;
        let destination = self.find_destination(deadline).await?;
        let mut rows = Vec::with_capacity(sellers.len());
        for (seller_id, seen) in sellers {
            let found = self
                .spapi
                .get_subscription(&seller_id, ORDER_CHANGE, deadline)
                .await;
            let mut row = SellerSubscription {
                seller_id,
                status: Status::Missing,
                subscription_id: None,
                destination_id: None,
                reason: None,
                last_notification_at: seen,
            };
            match found {
                Ok(Some(s)) => {
                    row.status = if destination
                        .as_ref()
                        .is_some_and(|d| d.destination_id == s.destination_id)
                    {
                        Status::Subscribed
                    } else {
                        Status::OtherDestination
                    };
                    row.subscription_id = Some(s.subscription_id);
                    row.destination_id = Some(s.destination_id);
                }
                Ok(None) => {}
                Err(e) => {
                    row.status = Status::Failed;
                    row.reason = Some(e.reason_code().to_owned());
                }
            }
            rows.push(row);
        }
        Ok(SubscriptionsReport {
            destination: destination.map(|d| DestinationReport {
                destination_id: d.destination_id,
                queue_arn: self.queue_arn.clone(),
                status: Status::Exists,
            }),
            sellers: rows,
        })
    }

    async fn unsubscribe(
        &self,
        seller_id: &str,
        deadline: Instant,
    ) -> Result<SubscriptionsReport, Failure> {
        let found = self
            .spapi
            .get_subscription(seller_id, ORDER_CHANGE, deadline)
            .await
            .map_err(Failure::SpApi)?;
        let mut row = SellerSubscription {
            seller_id: seller_id.to_owned(),
            status: Status::Missing,
            subscription_id: None,
            destination_id: None,
            reason: None,
            last_notification_at: None,
        };
        if let Some(s) = found {
            let deleted = self
                .spapi
                .delete_subscription(ORDER_CHANGE, &s.subscription_id, deadline)
                .await
                .map_err(Failure::SpApi)?;
            if deleted {
                row.status = Status::Deleted;
            }
            row.subscription_id = Some(s.subscription_id);
            row.destination_id = Some(s.destination_id);
        }
        Ok(SubscriptionsReport {
            destination: None,
            sellers: vec![row],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [
            ("ORDERSEAL_TABLE", "t"),
            ("ORDERSEAL_LWA_SECRET_ID", "s"),
            ("ORDERSEAL_SELLER_SECRET_PREFIX", "stack/sellers/"),
            (
                "ORDERSEAL_SPAPI_ENDPOINT",
                "https://sellingpartnerapi-na.amazon.com",
            ),
            (
                "ORDERSEAL_LWA_ENDPOINT",
                "https://api.amazon.com/auth/o2/token",
            ),
            (
                "ORDERSEAL_NOTIFICATIONS_QUEUE_ARN",
                "arn:aws:sqs:us-east-1:111122223333:stack-notifications",
            ),
            ("ORDERSEAL_DESTINATION_NAME", "stack"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            m.insert((*k).to_owned(), (*v).to_owned());
        }
        m
    }

    #[test]
    fn config_reads_the_template_variables() {
        let e = env(&[(
            "ORDERSEAL_CALLER_ROLE_ARNS",
            "arn:aws:iam::111122223333:role/OperatorRole",
        )]);
        let c = SubscriptionsConfig::from_lookup(|k| e.get(k).cloned()).unwrap();
        assert_eq!(c.caller_role_arns.len(), 1);
        let e = env(&[("ORDERSEAL_NOTIFICATIONS_QUEUE_ARN", "https://sqs/queue")]);
        assert!(SubscriptionsConfig::from_lookup(|k| e.get(k).cloned()).is_err());
        let e = env(&[("ORDERSEAL_SPAPI_ENDPOINT", "http://example.com")]);
        assert!(SubscriptionsConfig::from_lookup(|k| e.get(k).cloned()).is_err());
    }
}
