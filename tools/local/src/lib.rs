//! The local stack: moto (DynamoDB, SQS, KMS, Secrets Manager) and the SP-API sandbox on
//! loopback, resources created from `infra/template.yaml`, and the functions run as the same
//! handlers Lambda runs, wired by configuration only.
//!
//! Used by the `orderseal-local` command and by the integration tests.

pub mod access_api;
pub mod audit_stream;
pub mod callbacks;
pub mod coldstart;
pub mod inspect;
pub mod notify;
pub mod provision;
pub mod pump;
pub mod retention;
pub mod stack;
pub mod template;

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::{Credentials, Region};
use orderseal::aws::CallCounter;
use orderseal::aws::record::RequestRecorder;

pub use provision::{ProvisionOptions, Resources};

/// The emulator's default port.
pub const DEFAULT_MOTO_PORT: u16 = 4566;
/// The SP-API sandbox's default port.
pub const DEFAULT_SANDBOX_PORT: u16 = 8477;
/// The carrier sandbox's default port.
pub const DEFAULT_CARRIER_PORT: u16 = 8478;
/// The local pii-access API's default port.
pub const DEFAULT_ACCESS_PORT: u16 = 8479;
/// Region used against the emulator.
pub const REGION: &str = "us-east-1";
/// Amazon.com's marketplace id.
pub const MARKETPLACE_US: &str = "ATVPDKIKX0DER";
/// The marketplaces the SP-API sandbox's generated orders are placed in (US, CA, UK, DE, JP):
/// the local sellers are registered in all of them.
pub const SANDBOX_MARKETPLACES: [&str; 5] = [
    "ATVPDKIKX0DER",
    "A2EUQ1WTGCTBG2",
    "A1F83G8C2ARO7P",
    "A1PA6795UKMFR9",
    "A1VC38T7YXB528",
];

/// The seller of the demo and of the sandbox's generated orders.
pub const DEMO_SELLER: &str = "A3TH9S8BH6GOGM";
/// The demo's second seller of the same app, with its own refresh token and orders.
pub const DEMO_SECOND_SELLER: &str = "A1DEMOSECONDSLR";
/// Its refresh token in the local sandbox (not a secret: the sandbox is local).
pub const DEMO_SECOND_TOKEN: &str = "Atzr|local-refresh-token-second-seller";
/// How many orders the sandbox generates for the second seller.
pub const DEMO_SECOND_ORDERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{0}")]
    Template(#[from] template::TemplateError),
    #[error("AWS emulator {operation} failed: {code}")]
    Aws {
        operation: &'static str,
        code: String,
    },
    #[error("resource {0} is not in the local stack")]
    MissingResource(String),
    #[error("{0}")]
    Stack(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl LocalError {
    pub fn aws<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
        operation: &'static str,
        e: &aws_sdk_dynamodb::error::SdkError<E, R>,
    ) -> Self {
        LocalError::Aws {
            operation,
            code: orderseal::aws::error_code(e),
        }
    }
}

/// The repository root (where `infra/template.yaml` lives).
pub fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

pub fn template_path() -> PathBuf {
    repo_root().join("infra/template.yaml")
}

/// The principals whose requests the IAM evaluation checks: the template's role logical ids,
/// and Amazon's SP-API account writing to the notifications queue.
pub mod roles {
    pub const INGEST: &str = "IngestFunctionRole";
    pub const DISPATCH: &str = "DispatchFunctionRole";
    pub const CALLBACK: &str = "CarrierCallbackFunctionRole";
    pub const RETENTION: &str = "RetentionFunctionRole";
    /// The operators' role the `orderseal` CLI runs as.
    pub const OPERATOR: &str = "OperatorRole";
    /// SP-API's own account (437568002678) sending notifications.
    pub const SELLING_PARTNER_API: &str = "SellingPartnerApi";
    /// The pii-access functions, one per purpose.
    pub const PII_ACCESS_CUSTOMER_SERVICE: &str = "PiiAccessCustomerServiceFunctionRole";
    pub const PII_ACCESS_RETURNS: &str = "PiiAccessReturnsFunctionRole";
    pub const PII_ACCESS_FRAUD_REVIEW: &str = "PiiAccessFraudReviewFunctionRole";
    /// People's roles, one per purpose: they invoke the pii-access API.
    pub const CUSTOMER_SERVICE_AGENT: &str = "CustomerServiceAgentRole";
    pub const RETURNS_CLERK: &str = "ReturnsClerkRole";
    pub const FRAUD_REVIEWER: &str = "FraudReviewerRole";
    /// The subscriptions function (the operators' SP-API notification setup).
    pub const SUBSCRIPTIONS: &str = "SubscriptionsFunctionRole";
    pub const ALL: [&str; 10] = [
        INGEST,
        DISPATCH,
        CALLBACK,
        RETENTION,
        OPERATOR,
        SELLING_PARTNER_API,
        PII_ACCESS_CUSTOMER_SERVICE,
        PII_ACCESS_RETURNS,
        PII_ACCESS_FRAUD_REVIEW,
        SUBSCRIPTIONS,
    ];

    /// A purpose's function role and the people's role that may use it.
    pub fn for_purpose(purpose: orderseal::access::Purpose) -> (&'static str, &'static str) {
        use orderseal::access::Purpose;
        match purpose {
            Purpose::CustomerService => (PII_ACCESS_CUSTOMER_SERVICE, CUSTOMER_SERVICE_AGENT),
            Purpose::Returns => (PII_ACCESS_RETURNS, RETURNS_CLERK),
            Purpose::FraudReview | Purpose::Fulfilment => (PII_ACCESS_FRAUD_REVIEW, FRAUD_REVIEWER),
        }
    }
}

/// The emulator's account (moto's default): the local roles' and sessions' ARNs are in it.
pub const LOCAL_ACCOUNT: &str = "123456789012";

/// The local ARN of a template role (by logical id).
pub fn local_role_arn(role: &str) -> String {
    format!("arn:aws:iam::{LOCAL_ACCOUNT}:role/{role}")
}

/// A person with local credentials for the pii-access API: the access key they sign with, the
/// role their session is of, and the session's name (who the audit trail shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalPerson {
    pub access_key_id: &'static str,
    pub role: &'static str,
    pub session: &'static str,
}

impl LocalPerson {
    /// Local only: a secret derived from the key id, known to the API Gateway stand-in.
    pub fn secret_access_key(&self) -> String {
        format!("local-secret-{}", self.access_key_id)
    }

    /// The caller ARN API Gateway puts into the request context.
    pub fn caller_arn(&self) -> String {
        format!(
            "arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/{}/{}",
            self.role, self.session
        )
    }

    pub fn credentials(&self) -> aws_sdk_dynamodb::config::Credentials {
        Credentials::new(
            self.access_key_id,
            self.secret_access_key(),
            None,
            None,
            "orderseal-local",
        )
    }
}

/// The local people: one per purpose, and an operator (whose role has no purpose).
pub const LOCAL_PEOPLE: [LocalPerson; 4] = [
    LocalPerson {
        access_key_id: "LOCALCUSTOMERSERVICE",
        role: roles::CUSTOMER_SERVICE_AGENT,
        session: "alice@seller.example",
    },
    LocalPerson {
        access_key_id: "LOCALRETURNSCLERK001",
        role: roles::RETURNS_CLERK,
        session: "rob@seller.example",
    },
    LocalPerson {
        access_key_id: "LOCALFRAUDREVIEWER01",
        role: roles::FRAUD_REVIEWER,
        session: "fran@seller.example",
    },
    LocalPerson {
        access_key_id: "local",
        role: roles::OPERATOR,
        session: "operator@seller.example",
    },
];

/// The local person who uses `purpose`.
pub fn person_for(purpose: orderseal::access::Purpose) -> LocalPerson {
    let (_, role) = roles::for_purpose(purpose);
    LOCAL_PEOPLE
        .into_iter()
        .find(|p| p.role == role)
        .expect("a local person per purpose")
}

/// The pii-access configuration of `purpose`'s function for resources provisioned in the
/// emulator: its caller role is the local people's role of the purpose.
pub fn access_config(
    resources: &Resources,
    purpose: orderseal::access::Purpose,
    canary_orders: &[&str],
) -> Result<orderseal_pii_access::AccessConfig, LocalError> {
    orderseal_pii_access::AccessConfig::from_lookup(lookup(access_env(
        resources,
        purpose,
        canary_orders,
    )?))
    .map_err(LocalError::Stack)
}

fn access_env(
    resources: &Resources,
    purpose: orderseal::access::Purpose,
    canary_orders: &[&str],
) -> Result<BTreeMap<String, String>, LocalError> {
    let function = match purpose {
        orderseal::access::Purpose::CustomerService => "PiiAccessCustomerServiceFunction",
        orderseal::access::Purpose::Returns => "PiiAccessReturnsFunction",
        _ => "PiiAccessFraudReviewFunction",
    };
    let (_, people) = roles::for_purpose(purpose);
    let env: BTreeMap<&str, String> = BTreeMap::from([
        (
            "ORDERSEAL_TABLE",
            resources.table("OrdersTable")?.to_owned(),
        ),
        (
            "ORDERSEAL_PII_KEY_ID",
            resources.key("PiiSealKey")?.to_owned(),
        ),
        ("ORDERSEAL_CALLER_ROLE_ARNS", local_role_arn(people)),
        (
            "ORDERSEAL_SHIPMENTS_QUEUE_URL",
            resources.queue("ShipmentsQueue")?.url.clone(),
        ),
        ("ORDERSEAL_CANARY_ORDERS", canary_orders.join(",")),
    ]);
    Ok(overlay(template_settings(function)?, env))
}

/// The AWS configuration of the emulator at `endpoint` (region, local credentials).
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "orderseal-local",
        ))
        .load()
        .await
}

/// AWS clients pointed at the emulator, each counting its requests (and, for a principal,
/// recording what each request asks IAM to allow when `ORDERSEAL_RECORD_REQUESTS` is set).
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub kms: aws_sdk_kms::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub calls: CallCounter,
}

impl AwsClients {
    /// Clients of the harness itself (provisioning, feeding, inspecting): not recorded.
    pub async fn for_endpoint(endpoint: &str) -> Self {
        Self::build(endpoint, None).await
    }

    /// Clients acting as `principal` (one of [`roles`]): every request is recorded for the
    /// IAM evaluation.
    pub async fn for_endpoint_as(endpoint: &str, principal: &str) -> Self {
        Self::build(endpoint, Some(RequestRecorder::from_env(principal))).await
    }

    async fn build(endpoint: &str, recorder: Option<RequestRecorder>) -> Self {
        let sdk = sdk_config(endpoint).await;
        let calls = CallCounter::default();
        macro_rules! client {
            ($sdk:ident) => {{
                let mut b = $sdk::config::Builder::from(&sdk).interceptor(calls.clone());
                if let Some(r) = &recorder {
                    b = b.interceptor(r.clone());
                }
                $sdk::Client::from_conf(b.build())
            }};
        }
        Self {
            dynamodb: client!(aws_sdk_dynamodb),
            sqs: client!(aws_sdk_sqs),
            kms: client!(aws_sdk_kms),
            secrets: client!(aws_sdk_secretsmanager),
            calls,
        }
    }

    pub fn dispatch_clients(&self) -> orderseal_dispatch::Clients {
        orderseal_dispatch::Clients {
            dynamodb: self.dynamodb.clone(),
            kms: self.kms.clone(),
            secrets: self.secrets.clone(),
            sqs: self.sqs.clone(),
        }
    }

    pub fn ingest_clients(&self) -> orderseal_ingest::Clients {
        orderseal_ingest::Clients {
            dynamodb: self.dynamodb.clone(),
            kms: self.kms.clone(),
            sqs: self.sqs.clone(),
            secrets: self.secrets.clone(),
        }
    }
}

/// LWA credentials matching the sandbox's defaults, as the secret holds them.
pub fn sandbox_lwa_secret(sandbox: &spapi_sandbox::SandboxConfig, seller: &str) -> String {
    serde_json::json!({
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "refresh_tokens": { seller: sandbox.refresh_tokens.first().cloned().unwrap_or_default() },
    })
    .to_string()
}

/// The settings `infra/template.yaml` gives `function` with its parameters' defaults (retention
/// days, backup window, ...), so the local functions run as a default deployment does.
pub fn template_settings(function: &str) -> Result<BTreeMap<String, String>, LocalError> {
    Ok(template::load(&template_path())?
        .function_settings
        .remove(function)
        .unwrap_or_default())
}

/// `settings` overlaid with the local resources' `env`: a function's environment.
fn overlay(
    settings: BTreeMap<String, String>,
    env: BTreeMap<&str, String>,
) -> BTreeMap<String, String> {
    let mut all = settings;
    all.extend(env.into_iter().map(|(k, v)| (k.to_owned(), v)));
    all
}

/// `env` as the lookup the configurations read.
fn lookup(env: BTreeMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |k| env.get(k).cloned()
}

/// The environment the function binary `bin` (as `cargo lambda` names it) gets on the
/// emulator's resources: the template's settings and the local resources', as Lambda would
/// set them. `lambda-hello` (the cold-start baseline) and the audit-log function need none.
pub fn function_env(
    resources: &Resources,
    bin: &str,
    sandbox_url: &str,
    carrier_url: &str,
) -> Result<BTreeMap<String, String>, LocalError> {
    Ok(match bin {
        "ingest" => ingest_env(resources, sandbox_url)?,
        "dispatch" => dispatch_env(resources, sandbox_url, carrier_url, &demo_shipping_rules())?,
        "carrier-callback" => callback_env(resources)?,
        "retention" => overlay(
            template_settings("RetentionFunction")?,
            BTreeMap::from([(
                "ORDERSEAL_TABLE",
                resources.table("OrdersTable")?.to_owned(),
            )]),
        ),
        "pii-access" => access_env(resources, orderseal::access::Purpose::CustomerService, &[])?,
        "subscriptions" => subscriptions_env(resources, sandbox_url)?,
        "audit-log" | "lambda-hello" => BTreeMap::new(),
        other => return Err(LocalError::Stack(format!("no function binary {other}"))),
    })
}

/// The ingest configuration for resources provisioned in the emulator.
pub fn ingest_config(
    resources: &Resources,
    sandbox_url: &str,
) -> Result<orderseal_ingest::IngestConfig, LocalError> {
    orderseal_ingest::IngestConfig::from_lookup(lookup(ingest_env(resources, sandbox_url)?))
        .map_err(|e| LocalError::Stack(e.to_string()))
}

fn ingest_env(
    resources: &Resources,
    sandbox_url: &str,
) -> Result<BTreeMap<String, String>, LocalError> {
    let env: BTreeMap<&str, String> = BTreeMap::from([
        (
            "ORDERSEAL_TABLE",
            resources.table("OrdersTable")?.to_owned(),
        ),
        (
            "ORDERSEAL_PII_KEY_ID",
            resources.key("PiiSealKey")?.to_owned(),
        ),
        (
            "ORDERSEAL_SHIPMENTS_QUEUE_URL",
            resources.queue("ShipmentsQueue")?.url.clone(),
        ),
        (
            "ORDERSEAL_QUARANTINE_QUEUE_URL",
            resources.queue("NotificationsDlq")?.url.clone(),
        ),
        (
            "ORDERSEAL_APPLICATION_ID",
            crate::notify::APPLICATION_ID.to_owned(),
        ),
        (
            "ORDERSEAL_SELLER_SECRET_PREFIX",
            resources.seller_secret_prefix.clone(),
        ),
        (
            "ORDERSEAL_LWA_SECRET_ID",
            resources.secret("LwaCredentialsSecret")?.to_owned(),
        ),
        (
            "ORDERSEAL_FRAUD_INDEX_SECRET_ID",
            resources.secret("FraudIndexKeySecret")?.to_owned(),
        ),
        ("ORDERSEAL_SPAPI_ENDPOINT", sandbox_url.to_owned()),
        (
            "ORDERSEAL_LWA_ENDPOINT",
            format!("{sandbox_url}/auth/o2/token"),
        ),
    ]);
    Ok(overlay(template_settings("IngestFunction")?, env))
}

/// The subscriptions function's configuration for resources provisioned in the emulator: its
/// caller is the local operator's role; the destination is named after the stack.
pub fn subscriptions_config(
    resources: &Resources,
    sandbox_url: &str,
) -> Result<orderseal_subscriptions::SubscriptionsConfig, LocalError> {
    orderseal_subscriptions::SubscriptionsConfig::from_lookup(lookup(subscriptions_env(
        resources,
        sandbox_url,
    )?))
    .map_err(|e| LocalError::Stack(e.to_string()))
}

fn subscriptions_env(
    resources: &Resources,
    sandbox_url: &str,
) -> Result<BTreeMap<String, String>, LocalError> {
    let env: BTreeMap<&str, String> = BTreeMap::from([
        (
            "ORDERSEAL_TABLE",
            resources.table("OrdersTable")?.to_owned(),
        ),
        (
            "ORDERSEAL_LWA_SECRET_ID",
            resources.secret("LwaCredentialsSecret")?.to_owned(),
        ),
        (
            "ORDERSEAL_SELLER_SECRET_PREFIX",
            resources.seller_secret_prefix.clone(),
        ),
        ("ORDERSEAL_SPAPI_ENDPOINT", sandbox_url.to_owned()),
        (
            "ORDERSEAL_LWA_ENDPOINT",
            format!("{sandbox_url}/auth/o2/token"),
        ),
        (
            "ORDERSEAL_NOTIFICATIONS_QUEUE_ARN",
            resources.queue("NotificationsQueue")?.arn.clone(),
        ),
        (
            "ORDERSEAL_DESTINATION_NAME",
            resources
                .seller_secret_prefix
                .trim_end_matches("/sellers/")
                .to_owned(),
        ),
        (
            "ORDERSEAL_CALLER_ROLE_ARNS",
            local_role_arn(roles::OPERATOR),
        ),
    ]);
    Ok(overlay(template_settings("SubscriptionsFunction")?, env))
}

/// The subscriptions function on the emulator's resources, with the clients of its own role.
pub fn subscriptions_function(
    resources: &Resources,
    sandbox_url: &str,
    aws: &AwsClients,
) -> Result<orderseal_subscriptions::LambdaSubscriptions, LocalError> {
    orderseal_subscriptions::build(
        subscriptions_config(resources, sandbox_url)?,
        aws.dynamodb.clone(),
        aws.secrets.clone(),
    )
    .map_err(|e| LocalError::Stack(e.to_string()))
}

/// Carrier credentials matching the carrier sandbox's defaults, as the secret holds them.
pub fn carrier_secret(carriers: &carrier_sandbox::CarrierSandboxConfig) -> String {
    serde_json::json!({
        "easypost": carriers.easypost_api_key,
        "shippo": carriers.shippo_token,
        "generic": carriers.generic_api_key,
    })
    .to_string()
}

/// The secrets the local stack provisions: LWA for the SP-API sandbox, carrier keys for the
/// carrier sandbox.
pub fn local_secrets(seller: &str) -> BTreeMap<String, String> {
    let mut secrets = non_lwa_secrets();
    secrets.insert(
        "LwaCredentialsSecret".to_owned(),
        sandbox_lwa_secret(&spapi_sandbox::SandboxConfig::default(), seller),
    );
    secrets
}

/// [`local_secrets`] for the demo's sellers: the default one and `others` (`(seller, refresh
/// token)`), each registered with its own token secret at provisioning.
pub fn local_demo_secrets(seller: &str, others: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut secrets = local_secrets(seller);
    if let Some(lwa) = secrets.get_mut("LwaCredentialsSecret")
        && let Ok(mut json) = serde_json::from_str::<serde_json::Value>(lwa)
    {
        for (other, token) in others {
            json["refresh_tokens"][*other] = serde_json::Value::from(*token);
        }
        *lwa = json.to_string();
    }
    secrets
}

/// The local secrets other than LWA's.
fn non_lwa_secrets() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "CarrierCredentialsSecret".to_owned(),
            carrier_secret(&carrier_sandbox::CarrierSandboxConfig::default()),
        ),
        (
            "WebhookSecretsSecret".to_owned(),
            webhook_secrets().to_string(),
        ),
        // As the template's GenerateSecretString makes it: 64 letters and digits.
        (
            "FraudIndexKeySecret".to_owned(),
            std::iter::repeat_with(fastrand::alphanumeric)
                .take(64)
                .collect(),
        ),
    ])
}

/// The webhook signing secrets of the local carriers (current first, then the previous one).
pub fn webhook_secrets() -> serde_json::Value {
    serde_json::json!({
        "easypost": [LOCAL_WEBHOOK_SECRETS[0], "ep-webhook-secret-previous"],
        "shippo": [LOCAL_WEBHOOK_SECRETS[1]],
        "generic": [LOCAL_WEBHOOK_SECRETS[2]],
        "fedex": [LOCAL_WEBHOOK_SECRETS[3]],
    })
}

/// Current secrets for easypost, shippo, generic (Standard Webhooks `whsec_` + base64 key), fedex.
pub const LOCAL_WEBHOOK_SECRETS: [&str; 4] = [
    "ep-webhook-secret",
    "shippo-webhook-secret",
    "whsec_Z2VuZXJpYy13ZWJob29rLXNlY3JldC0zMi1ieXRlcyE=",
    "FedexSecurityToken0123456789abcdef",
];

/// The carrier-callback configuration for resources provisioned in the emulator.
pub fn callback_config(
    resources: &Resources,
) -> Result<orderseal_carrier_callback::CallbackConfig, LocalError> {
    orderseal_carrier_callback::CallbackConfig::from_lookup(lookup(callback_env(resources)?))
        .map_err(LocalError::Stack)
}

fn callback_env(resources: &Resources) -> Result<BTreeMap<String, String>, LocalError> {
    let env: BTreeMap<&str, String> = BTreeMap::from([
        (
            "ORDERSEAL_TABLE",
            resources.table("OrdersTable")?.to_owned(),
        ),
        (
            "ORDERSEAL_WEBHOOK_SECRET_ID",
            resources.secret("WebhookSecretsSecret")?.to_owned(),
        ),
    ]);
    Ok(overlay(template_settings("CarrierCallbackFunction")?, env))
}

/// The demo seller's fraud rules: an order of 100.00 or more to an address no other order
/// holding PII went to, a postal code the destination does not use, or more than two names at
/// one address within 30 days is held for review.
pub fn demo_fraud_rules() -> orderseal::fraud::FraudConfig {
    orderseal::fraud::FraudConfig::parse(
        r#"{"default":{"high_value_new_address":{"min_total":"100.00"},"postal_code_mismatch":true,"many_names_one_address":{"max_names":2,"window_days":30}}}"#,
    )
    .expect("the demo's rules parse")
}

/// The demo seller's shipping rules: ships from Seattle; cheapest via EasyPost by default,
/// fastest via Shippo to Canada, the generic carrier to the UK and Germany; a floor lamp
/// (`SKU-LAMP-1`) ships in a box of its own per unit.
pub fn demo_shipping_rules() -> serde_json::Value {
    serde_json::json!({
        "ship_from": {"name": "Orderseal Demo Seller", "address_lines": ["1 Warehouse Way"], "city": "Seattle",
            "region": "WA", "postal_code": "98101", "country": "US", "phone": "+1 206 555 0100"},
        "default_route": {"carrier": "easypost", "policy": "cheapest"},
        "routes": {
            "CA": {"carrier": "shippo", "policy": "fastest"},
            "GB": {"carrier": "generic", "policy": "cheapest"},
            "DE": {"carrier": "generic", "policy": "cheapest"},
            "JP": {"carrier": "easypost", "policy": "fastest"}
        },
        "default_parcel": {"weight_grams": 500, "length_mm": 250, "width_mm": 200, "height_mm": 100},
        "skus": {
            "SKU-MUG-1": {"weight_grams": 450, "length_mm": 160, "width_mm": 160, "height_mm": 130},
            "SKU-LAMP-1": {"weight_grams": 2800, "length_mm": 600, "width_mm": 300, "height_mm": 300,
                "units_per_package": 1}
        }
    })
}

/// The dispatch configuration for resources provisioned in the emulator.
pub fn dispatch_config(
    resources: &Resources,
    sandbox_url: &str,
    carrier_url: &str,
    rules: &serde_json::Value,
) -> Result<orderseal_dispatch::DispatchConfig, LocalError> {
    orderseal_dispatch::DispatchConfig::from_lookup(lookup(dispatch_env(
        resources,
        sandbox_url,
        carrier_url,
        rules,
    )?))
    .map_err(|e| LocalError::Stack(e.to_string()))
}

fn dispatch_env(
    resources: &Resources,
    sandbox_url: &str,
    carrier_url: &str,
    rules: &serde_json::Value,
) -> Result<BTreeMap<String, String>, LocalError> {
    let env: BTreeMap<&str, String> = BTreeMap::from([
        (
            "ORDERSEAL_TABLE",
            resources.table("OrdersTable")?.to_owned(),
        ),
        (
            "ORDERSEAL_PII_KEY_ID",
            resources.key("PiiSealKey")?.to_owned(),
        ),
        (
            "ORDERSEAL_LWA_SECRET_ID",
            resources.secret("LwaCredentialsSecret")?.to_owned(),
        ),
        (
            "ORDERSEAL_FRAUD_INDEX_SECRET_ID",
            resources.secret("FraudIndexKeySecret")?.to_owned(),
        ),
        (
            "ORDERSEAL_CARRIER_SECRET_ID",
            resources.secret("CarrierCredentialsSecret")?.to_owned(),
        ),
        ("ORDERSEAL_SPAPI_ENDPOINT", sandbox_url.to_owned()),
        (
            "ORDERSEAL_LWA_ENDPOINT",
            format!("{sandbox_url}/auth/o2/token"),
        ),
        ("ORDERSEAL_EASYPOST_URL", format!("{carrier_url}/easypost")),
        ("ORDERSEAL_SHIPPO_URL", format!("{carrier_url}/shippo")),
        (
            "ORDERSEAL_GENERIC_CARRIER_URL",
            format!("{carrier_url}/generic"),
        ),
        ("ORDERSEAL_SHIPPING_RULES", rules.to_string()),
        (
            "ORDERSEAL_QUARANTINE_QUEUE_URL",
            resources.queue("ShipmentsDlq")?.url.clone(),
        ),
        (
            "ORDERSEAL_SELLER_SECRET_PREFIX",
            resources.seller_secret_prefix.clone(),
        ),
        (
            "ORDERSEAL_CARRIER_TIMEOUT_MS",
            std::env::var("ORDERSEAL_CARRIER_TIMEOUT_MS").unwrap_or_else(|_| "10000".into()),
        ),
    ]);
    // Dispatch locally runs on these alone, as it always has (no template settings).
    Ok(overlay(BTreeMap::new(), env))
}
