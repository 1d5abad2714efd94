//! orderseal dispatch: ship MFN orders through a carrier with the minimum data, then confirm
//! each shipment to Amazon.

pub mod config;
pub mod handler;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use orderseal::carriers::AnyCarrier;
use orderseal::carriers::easypost::EasyPost;
use orderseal::carriers::generic::GenericCarrier;
use orderseal::carriers::shippo::Shippo;
use orderseal::clock::Clock;
use orderseal::dispatch::DynamoDispatchStore;
use orderseal::quarantine::SqsQuarantine;
use orderseal::seal::{ClassGuard, KmsKeyProvider, PiiClass, Sealer};
use orderseal::secret::SecretString;
use orderseal::spapi::SecretsManagerCredentials;
use orderseal::spapi::SpApiError;
use orderseal::spapi::client::{SpApiClient, SpApiConfig};
use orderseal::spapi::model::ConfirmShipmentRequest;
use orderseal::spapi::ratelimit::DynamoRateLimiter;

pub use config::{DispatchConfig, ShippingRules};
pub use handler::{Carriers, Dispatch, Outcome, ShipmentConfirmer};

/// The classes dispatch may open: the address. (Gift messages would be opened for a packing
/// slip; orderseal prints none, so neither this guard nor the key policy lets dispatch open them.)
pub const MAY_OPEN: &[PiiClass] = &[PiiClass::Shipping];

pub type LambdaDispatch = Dispatch<
    DynamoDispatchStore,
    ClassGuard<KmsKeyProvider>,
    CarrierSet,
    SpApiClient<SecretsManagerCredentials, DynamoRateLimiter>,
    SqsQuarantine,
>;

/// The configured carrier adapters by name.
#[derive(Debug, Clone, Default)]
pub struct CarrierSet(pub BTreeMap<String, AnyCarrier>);

impl Carriers for CarrierSet {
    type C = AnyCarrier;

    fn get(&self, name: &str) -> Option<&AnyCarrier> {
        self.0.get(name)
    }
}

impl<C, L> ShipmentConfirmer for SpApiClient<C, L>
where
    C: orderseal::spapi::CredentialSource,
    L: orderseal::spapi::ratelimit::RateLimiter,
{
    async fn confirm(
        &self,
        seller_id: &str,
        order_id: &str,
        body: &ConfirmShipmentRequest,
        deadline: Instant,
    ) -> Result<(), SpApiError> {
        self.confirm_shipment(seller_id, order_id, body, deadline)
            .await
    }
}

#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub kms: aws_sdk_kms::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    pub fn from_conf(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("carrier credentials: {0}")]
    CarrierSecret(String),
    #[error(transparent)]
    SpApi(#[from] SpApiError),
}

/// Carrier credentials as the secret holds them.
#[derive(serde::Deserialize)]
struct CarrierSecrets {
    easypost: Option<SecretString>,
    shippo: Option<SecretString>,
    generic: Option<SecretString>,
}

/// Wire dispatch to AWS, SP-API and the carriers (reads the carrier secret once).
pub async fn build(
    config: DispatchConfig,
    clients: Clients,
    clock: Arc<dyn Clock>,
) -> Result<LambdaDispatch, InitError> {
    let secret = clients
        .secrets
        .get_secret_value()
        .secret_id(&config.carrier_secret_id)
        .send()
        .await
        .map_err(|e| InitError::CarrierSecret(orderseal::aws::error_code(&e)))?;
    let creds: CarrierSecrets = serde_json::from_str(secret.secret_string().unwrap_or("{}"))
        .map_err(|_| InitError::CarrierSecret("not the expected JSON".into()))?;
    let timeout = config.carrier_timeout;
    let mut carriers = BTreeMap::new();
    if let Some(k) = &creds.easypost {
        carriers.insert(
            "easypost".to_owned(),
            AnyCarrier::EasyPost(EasyPost::new(&config.easypost_url, k, timeout)),
        );
    }
    if let Some(k) = &creds.shippo {
        carriers.insert(
            "shippo".to_owned(),
            AnyCarrier::Shippo(Shippo::new(&config.shippo_url, k, timeout)),
        );
    }
    if let (Some(k), Some(url)) = (&creds.generic, &config.generic_url) {
        carriers.insert(
            "generic".to_owned(),
            AnyCarrier::Generic(GenericCarrier::new(url, k, timeout)),
        );
    }
    let amazon = SpApiClient::new(
        SpApiConfig::new(&config.spapi_endpoint, &config.lwa_endpoint),
        SecretsManagerCredentials::new(clients.secrets.clone(), &config.lwa_secret_id),
        DynamoRateLimiter::new(clients.dynamodb.clone(), &config.table, clock.clone()),
    )?;
    Ok(Dispatch {
        store: DynamoDispatchStore::new(clients.dynamodb.clone(), &config.table),
        sealer: Sealer::new(ClassGuard::new(
            KmsKeyProvider::new(clients.kms.clone(), &config.pii_key_id),
            MAY_OPEN,
            &[],
        )),
        carriers: CarrierSet(carriers),
        amazon,
        rules: config.rules,
        clock,
        retention: config.retention,
        quarantine: SqsQuarantine {
            client: clients.sqs.clone(),
            queue_url: config.quarantine_queue_url,
        },
    })
}
