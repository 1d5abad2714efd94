//! orderseal ingest: SP-API `ORDER_CHANGE` notifications (SQS) become sealed order records.
//!
//! `main.rs` reads the configuration and builds the clients once per container; [`handler`]
//! is pure over ports, so the same code runs in Lambda, under the local stack, and in tests.
#![recursion_limit = "256"]

pub mod config;
pub mod handler;
pub mod reconcile;

use std::sync::Arc;

use orderseal::clock::{Clock, SystemClock};
use orderseal::idempotency::DynamoIdempotencyStore;
pub use orderseal::quarantine::{Quarantine, SqsQuarantine};
use orderseal::seal::{KmsKeyProvider, Sealer};
use orderseal::shipments::SqsShipmentQueue;
use orderseal::spapi::SecretsManagerCredentials;
use orderseal::spapi::client::{SpApiClient, SpApiConfig};
use orderseal::spapi::ratelimit::DynamoRateLimiter;
use orderseal::store::DynamoOrderStore;

pub use config::IngestConfig;
pub use handler::{Ingest, Outcome};

/// The production wiring.
pub type LambdaIngest = Ingest<
    DynamoOrderStore,
    DynamoIdempotencyStore,
    KmsKeyProvider,
    SqsShipmentQueue,
    SpApiClient<SecretsManagerCredentials, DynamoRateLimiter>,
    SqsQuarantine,
    Option<orderseal::sellers::DynamoSellers>,
>;

/// The AWS clients ingest uses (built once per container from one `SdkConfig`).
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
    pub fn from_conf(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

/// Wire the handler to AWS and SP-API.
pub fn build(
    config: IngestConfig,
    clients: Clients,
    clock: Arc<dyn Clock>,
) -> Result<LambdaIngest, orderseal::spapi::SpApiError> {
    let orders = SpApiClient::new(
        SpApiConfig::new(&config.spapi_endpoint, &config.lwa_endpoint),
        SecretsManagerCredentials::new(clients.secrets.clone(), &config.lwa_secret_id)
            .with_seller_secrets(config.seller_secret_prefix.clone()),
        DynamoRateLimiter::new(clients.dynamodb.clone(), &config.table, clock.clone()),
    )?;
    // With sellers' own secrets the registry says who is served.
    let sellers = config
        .seller_secret_prefix
        .as_ref()
        .map(|_| orderseal::sellers::DynamoSellers::new(clients.dynamodb.clone(), &config.table));
    Ok(Ingest {
        sellers,
        store: DynamoOrderStore::new(clients.dynamodb.clone(), &config.table)
            .with_business_retention(config.business_retention),
        idempotency: DynamoIdempotencyStore::new(clients.dynamodb.clone(), &config.table),
        sealer: Sealer::new(KmsKeyProvider::new(clients.kms.clone(), &config.pii_key_id)),
        shipments: SqsShipmentQueue::new(clients.sqs.clone(), &config.shipments_queue_url),
        orders,
        quarantine: SqsQuarantine {
            client: clients.sqs,
            queue_url: config.quarantine_queue_url.clone(),
        },
        fraud: fraud_check(&config, &clients.secrets),
        clock,
        config,
    })
}

/// The configured fraud rules with the blind-index key from Secrets Manager (read on first use).
fn fraud_check(
    config: &IngestConfig,
    secrets: &aws_sdk_secretsmanager::Client,
) -> Option<orderseal::fraud::FraudCheck> {
    let rules = &config.fraud_rules;
    let any = std::iter::once(&rules.default)
        .chain(rules.sellers.values())
        .any(|r| r.any());
    any.then(|| {
        let source = match &config.fraud_index_secret_id {
            Some(id) => orderseal::fraud::KeySource::SecretsManager {
                client: secrets.clone(),
                secret_id: id.clone(),
            },
            // No rule reads the index (checked at configuration): no key is ever asked for.
            None => orderseal::fraud::KeySource::Given(Vec::new()),
        };
        orderseal::fraud::FraudCheck::new(rules.clone(), source)
    })
}

/// The reconcile run's state (the registry, the watermarks, the stored versions) in the table.
pub fn reconcile_state(
    config: &IngestConfig,
    clients: &Clients,
) -> reconcile::dynamo::DynamoReconcileState {
    reconcile::dynamo::DynamoReconcileState::new(clients.dynamodb.clone(), &config.table)
}

pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}
