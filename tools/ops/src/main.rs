//! `orderseal`: the operator CLI (retention report, legal holds, buyers' cancellation requests,
//! accounting export, the audit trail) and people's purpose-bound lookups (`order show`).
//!
//! Talks to the order table with the ambient AWS configuration (profile, region, and
//! `AWS_ENDPOINT_URL` for the local stack). It never reads PII from the table: `order show`
//! asks the pii-access API, signed with the caller's own credentials, which IAM binds to a
//! purpose.
//!
//! With `ORDERSEAL_RECORD_REQUESTS=<dir>` it also writes, for every AWS request, what the
//! request asks IAM to allow (action, resource, condition keys; never a value) into that
//! directory: the test run evaluates those against the template's `OperatorRole`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget};
use time::OffsetDateTime;

use orderseal::retention::Hold;
use orderseal::retention::dynamo::DynamoRetention;
use orderseal::returns::{ReturnMethod, ReturnReason, ReturnStatus};
use orderseal::store::DynamoOrderStore;
use orderseal_ops::{export_csv, parse_time, render_cancel_requests, render_table};

#[derive(Parser)]
#[command(name = "orderseal", version, about = "orderseal operator tools")]
struct Cli {
    /// The orders table (the stack's `OrdersTable`).
    #[arg(long, env = "ORDERSEAL_TABLE", global = true)]
    table: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Retention state of the stored PII.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Legal holds: the only way to keep PII past its expiry. Every change is audited.
    Hold {
        #[command(subcommand)]
        command: HoldCommand,
    },
    /// Orders whose buyer asked to cancel: nothing is bought or confirmed for them. Cancel each
    /// on Amazon (Seller Central: Orders > Manage Orders > Cancel order, reason "Buyer
    /// canceled"; orderseal then voids a label already bought), or ship it yourself if you
    /// decline. Exits 3 while any is unresolved.
    CancelRequests {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Drop entries whose order is cancelled, shipped or no longer asked to cancel.
        #[arg(long)]
        prune: bool,
    },
    /// Requests from an order's buyer (the policy's "your questions" contact): what is held, and
    /// erasure now.
    Subject {
        #[command(subcommand)]
        command: SubjectCommand,
    },
    /// Bring items written before the current layout to it: sealed blobs on an order item move
    /// (byte for byte, never decrypted) into its sealed-PII item, and `TRACKING#<number>`
    /// lookups are rebound to `TRACKING#<route>#<number>`. Repeatable. It reads sealed blobs
    /// to move them, so run it with table-administrator credentials: the OperatorRole cannot.
    Migrate {
        /// Count what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The deployment's business retention (`BusinessRetentionDays`, or
        /// `LegalBasisRetentionDays`): the order items' own TTL after their PII expiry.
        #[arg(long, default_value_t = 548)]
        business_retention_days: i64,
    },
    /// One order: its PII for a stated purpose (through the pii-access API, signed with your
    /// own AWS credentials: the purpose's role), and who accessed it.
    Order {
        #[command(subcommand)]
        command: OrderCommand,
    },
    /// Orders a fraud rule held for review (HELD_FOR_REVIEW): release one to be shipped, or
    /// cancel it. Signed with your own credentials (the fraud reviewer's role); audited.
    Fraud {
        #[command(subcommand)]
        command: FraudCommand,
    },
    /// Returns and refunds, recorded by the returns clerk's role through the pii-access API
    /// (signed with your own credentials; audited). No buyer data is entered: the reason is a
    /// code, the items are the order's SKUs or item ids, the refund an amount in the order's
    /// currency. Returns appear in the accounting export (`row_type` return).
    Return {
        #[command(subcommand)]
        command: ReturnCommand,
    },
    /// The audit trail across orders.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The sellers this deployment serves: the registry (marketplaces, authorisation dates) and
    /// each seller's refresh token in a secret of its own, which this CLI writes and can never
    /// read back.
    Seller {
        #[command(subcommand)]
        command: SellerCommand,
    },
    /// Start SP-API notifications: the app's destination for the notifications queue (once) and
    /// an ORDER_CHANGE subscription for each registered seller (or `--seller`). Repeatable:
    /// what exists is reported `exists`. Done by the subscriptions function through the
    /// stack's API, signed with your credentials (the operators' role): the sellers' tokens
    /// and the app's LWA secret stay out of your hands. Exits 3 when any seller failed.
    Subscribe {
        /// Only this seller.
        #[arg(long)]
        seller: Option<String>,
        #[command(flatten)]
        api: OpsApi,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The destination and every registered seller's subscription as Amazon has them, with
    /// when each seller's notifications last arrived. Exits 3 when any seller is not subscribed
    /// to this deployment's queue.
    Subscriptions {
        #[command(flatten)]
        api: OpsApi,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Will notifications arrive? The queue policy grants SP-API's account what it needs, the
    /// queue's key lets it encrypt, every seller is subscribed to this queue; and how long ago
    /// each seller's notifications last arrived. Exits 3 when a check fails.
    Doctor {
        #[command(flatten)]
        api: OpsApi,
        /// The stack's `NotificationsQueueUrl`.
        #[arg(long, env = "ORDERSEAL_NOTIFICATIONS_QUEUE")]
        notifications_queue: String,
    },
    /// The notifications and shipments DLQs: what is parked there and why (ids and reason
    /// codes, never a body), and replaying it to its queue once the cause is fixed.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
        #[command(flatten)]
        queues: DlqQueues,
    },
    /// Accounting export: business records (no PII) purchased in [--from, --to) as CSV.
    ///
    /// A business record is written when Amazon reports the order shipped or canceled (or with
    /// the order, for one that never holds PII), refreshed at delivery, and written for the
    /// last time when the order's PII is erased: a closed month's export is complete without
    /// waiting for erasure.
    Export {
        #[arg(long, value_parser = parse_time)]
        from: OffsetDateTime,
        #[arg(long, value_parser = parse_time)]
        to: OffsetDateTime,
        /// Only this seller's orders.
        #[arg(long)]
        seller: Option<String>,
        /// Output file; standard output when absent.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum SellerCommand {
    /// Add a seller, or renew its authorisation: its registry entry and its LWA refresh token
    /// (`Atzr|…`, read from standard input so it stays out of shell history and process lists).
    Add {
        seller: String,
        /// A marketplace it sells in (e.g. ATVPDKIKX0DER); repeat for each.
        #[arg(long = "marketplace", required = true)]
        marketplaces: Vec<String>,
        /// The day the seller authorised the app (YYYY-MM-DD; default today): it must
        /// authorise again within 12 months.
        #[arg(long)]
        authorized_on: Option<String>,
        #[command(flatten)]
        secrets: SellerSecretArgs,
    },
    /// Every seller: marketplaces, when it authorised the app, by when it must again. Exits 3
    /// when any authorisation ends within 30 days (or has ended).
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Stop serving a seller: its ORDER_CHANGE subscription is deleted at Amazon (through the
    /// subscriptions function, while its token still exists), its registry entry goes and its
    /// token secret is deleted (recoverable for 7 days). Its orders, records and audit trail
    /// stay under the retention rules; a notification still in flight is quarantined as
    /// `unknown_seller`.
    Remove {
        seller: String,
        #[command(flatten)]
        secrets: SellerSecretArgs,
        /// The stack's `PiiAccessApiUrl` (the subscription is deleted through it).
        #[arg(long, env = "ORDERSEAL_ACCESS_API")]
        api_url: Option<String>,
        /// Leave the subscription alone (e.g. the seller already revoked the app).
        #[arg(long)]
        keep_subscription: bool,
    },
}

/// The stack's API (output `PiiAccessApiUrl`): its `/ops/subscriptions` routes.
#[derive(clap::Args)]
struct OpsApi {
    #[arg(long, env = "ORDERSEAL_ACCESS_API")]
    api_url: String,
}

/// Where sellers' token secrets go (outputs `SellerSecretPrefix`, `StorageKeyArn`).
#[derive(clap::Args)]
struct SellerSecretArgs {
    #[arg(long, env = "ORDERSEAL_SELLER_SECRET_PREFIX")]
    secret_prefix: String,
    /// The key the secrets are encrypted with; the account's default key when absent.
    #[arg(long, env = "ORDERSEAL_SECRETS_KEY")]
    kms_key: Option<String>,
}

/// The stack's queue URLs (outputs `NotificationsDlqUrl`, `NotificationsQueueUrl`,
/// `ShipmentsDlqUrl`, `ShipmentsQueueUrl`).
#[derive(clap::Args)]
struct DlqQueues {
    #[arg(long, env = "ORDERSEAL_NOTIFICATIONS_DLQ", global = true)]
    notifications_dlq: Option<String>,
    #[arg(long, env = "ORDERSEAL_NOTIFICATIONS_QUEUE", global = true)]
    notifications_queue: Option<String>,
    #[arg(long, env = "ORDERSEAL_SHIPMENTS_DLQ", global = true)]
    shipments_dlq: Option<String>,
    #[arg(long, env = "ORDERSEAL_SHIPMENTS_QUEUE", global = true)]
    shipments_queue: Option<String>,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Every parked message: id, reason (`orderseal-reason`, or `retries_exhausted` when SQS
    /// redrove it), receives, when it was sent, its order. They stay in the DLQ.
    List {
        #[arg(value_enum)]
        queue: orderseal_ops::dlq::Kind,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Read at most this many.
        #[arg(long, default_value_t = 10_000)]
        max: usize,
    },
    /// Send parked messages back to their queue (whole, as parked) and delete them from the
    /// DLQ. A shipment request re-arms its order's shipment state first; one for an order
    /// already confirmed is only deleted. Exits 1 if any could not be replayed.
    Replay {
        #[arg(value_enum)]
        queue: orderseal_ops::dlq::Kind,
        /// Only messages parked with this reason.
        #[arg(long)]
        reason: Option<String>,
        /// Only this order's messages.
        #[arg(long)]
        order: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 1_000)]
        max: usize,
        /// Messages sent per second (the functions' own limits still apply downstream).
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// Report what would be replayed; send and delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Counts by state, every record holding PII past due (target 0), oldest PII, active holds.
    Report {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Exit with status 3 when any record is overdue.
        #[arg(long)]
        check: bool,
    },
    /// Find every item holding sealed PII that the expiry index does not list (the sweep and
    /// the overdue alarm cannot see it), sealed PII of erased orders, and TTLs off the layout's
    /// rule: a paginated scan of keys and retention attributes, never a blob. Exits 3 while any
    /// is left unrepaired; the report shows the last result.
    Audit {
        /// Repair what is found: back into the index, orphan deleted, TTL set from the order.
        #[arg(long)]
        fix: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Which order, why, and who: every hold change and erasure request names all four (they are
/// audited).
#[derive(clap::Args)]
struct OrderChange {
    #[arg(long)]
    seller: String,
    #[arg(long)]
    order: String,
    /// Case or request reference (no buyer data).
    #[arg(long)]
    reason: String,
    /// Who places or lifts the hold.
    #[arg(long)]
    by: String,
}

#[derive(Subcommand)]
enum SubjectCommand {
    /// What orderseal holds for the order's buyer: classes, dates, when it is erased, holds, and
    /// where it was shared. Names and dates only, never a value.
    Report {
        #[arg(long)]
        seller: String,
        #[arg(long)]
        order: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Erase the order's PII now, as the sweep does (business record kept, tombstone), audited
    /// with the reason and who asks. Refused while a legal hold applies (its reason is shown).
    Erase {
        #[command(flatten)]
        change: OrderChange,
    },
}

#[derive(Subcommand)]
enum OrderCommand {
    /// The order's data for one purpose: exactly that purpose's classes, nothing else. No
    /// purpose, no data. The lookup is audited (who, purpose, classes; never a value).
    Show {
        order: String,
        #[arg(long, env = "ORDERSEAL_SELLER")]
        seller: String,
        #[arg(long, value_enum)]
        purpose: PeoplePurpose,
        /// The stack's `PiiAccessApiUrl` output.
        #[arg(long, env = "ORDERSEAL_ACCESS_API")]
        api_url: String,
    },
    /// Who accessed the order's PII, why, when, and with what outcome; holds and erasures too.
    Audit {
        order: String,
        #[arg(long, env = "ORDERSEAL_SELLER")]
        seller: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum FraudCommand {
    /// Orders held for review and not decided yet: ids, the rules that matched, since when (no
    /// buyer data). Runs with the operators' table credentials; exits 3 while any is held.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Release a held order: dispatch buys its label and confirms it.
    Release {
        #[command(flatten)]
        decision: FraudDecision,
    },
    /// Cancel a held order: nothing is ever bought for it. Then cancel it on Amazon (Seller
    /// Central: Orders > Manage Orders > Cancel order).
    Cancel {
        #[command(flatten)]
        decision: FraudDecision,
    },
}

#[derive(clap::Args)]
struct FraudDecision {
    order: String,
    #[arg(long, env = "ORDERSEAL_SELLER")]
    seller: String,
    /// Decisions are made for fraud review only.
    #[arg(long, value_enum)]
    purpose: ReviewPurpose,
    #[arg(long, env = "ORDERSEAL_ACCESS_API")]
    api_url: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReviewPurpose {
    #[value(name = "fraud_review")]
    FraudReview,
}

#[derive(Subcommand)]
enum ReturnCommand {
    /// Record a new return. A pickup (`--method pickup`) lets purpose returns read the order's
    /// address until the return is received; a seller-addressed label (the default) needs none.
    Record {
        #[command(flatten)]
        target: ReturnTarget,
        /// damaged, defective, wrong_item, not_as_described, no_longer_needed, arrived_late,
        /// missing_parts or other.
        #[arg(long, value_parser = code::<ReturnReason>)]
        reason: ReturnReason,
        /// `SKU:quantity` (or `<order item id>:quantity`); repeat for each line.
        #[arg(long = "item", value_parser = parse_item, required = true)]
        items: Vec<orderseal::returns::ItemRef>,
        /// seller_label or pickup.
        #[arg(long, value_parser = code::<ReturnMethod>, default_value = "seller_label")]
        method: ReturnMethod,
        /// requested (default), received, refunded (with --refund) or rejected.
        #[arg(long, value_parser = code::<ReturnStatus>)]
        status: Option<ReturnStatus>,
        /// The amount refunded, in the order's currency (e.g. 12.34).
        #[arg(long)]
        refund: Option<String>,
    },
    /// Move a recorded return on: received, refunded (with --refund) or rejected.
    Update {
        #[command(flatten)]
        target: ReturnTarget,
        #[arg(long, value_parser = code::<ReturnStatus>)]
        status: ReturnStatus,
        #[arg(long)]
        refund: Option<String>,
    },
}

#[derive(clap::Args)]
struct ReturnTarget {
    order: String,
    #[arg(long, env = "ORDERSEAL_SELLER")]
    seller: String,
    /// The return's RMA id (letters, digits, dashes, underscores; at most 40).
    #[arg(long)]
    rma: String,
    /// Returns are recorded for purpose returns only.
    #[arg(long, value_enum)]
    purpose: ReturnsPurpose,
    #[arg(long, env = "ORDERSEAL_ACCESS_API")]
    api_url: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReturnsPurpose {
    #[value(name = "returns")]
    Returns,
}

/// A code of one of the returns enums, by its snake_case name.
fn code<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("not a known code: {s}"))
}

/// `SKU:quantity`.
fn parse_item(s: &str) -> Result<orderseal::returns::ItemRef, String> {
    let (item, quantity) = s
        .rsplit_once(':')
        .ok_or_else(|| "expected SKU:quantity".to_owned())?;
    let quantity = quantity
        .parse::<u32>()
        .map_err(|_| "the quantity is a whole number".to_owned())?;
    if item.is_empty() {
        return Err("expected SKU:quantity".into());
    }
    Ok(orderseal::returns::ItemRef {
        item: item.to_owned(),
        quantity,
    })
}

/// `orderseal return record|update`.
async fn record_return(
    sdk: &aws_config::SdkConfig,
    target: &ReturnTarget,
    request: orderseal::returns::ReturnRequest,
) -> ExitCode {
    let ReturnsPurpose::Returns = target.purpose;
    let client = match access_client(sdk, &target.api_url).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client
        .record_return(&target.seller, &target.order, &request)
        .await
    {
        Ok(Ok(v)) => {
            let r = &v.record;
            let refund = r
                .refund
                .as_ref()
                .map(|m| format!(", refund {} {}", m.amount, m.currency_code))
                .unwrap_or_default();
            println!(
                "{} return {}: {} ({}, {}{refund}){}; audited",
                v.order_id,
                r.rma_id,
                r.status.as_str(),
                r.method.as_str(),
                r.reason.as_str(),
                if v.changed { "" } else { ", unchanged" }
            );
            if v.shipping_for_returns {
                println!(
                    "purpose returns may read the order's address until the pickup is received"
                );
            }
            ExitCode::SUCCESS
        }
        Ok(Err(r)) => {
            eprintln!("refused ({} {}): {}", r.status, r.error, r.message);
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Accesses per identity and purpose since a time: what the periodic access review reads.
    Report {
        /// RFC 3339, or `<n>d` for that many days ago (e.g. 14d).
        #[arg(long, value_parser = parse_since)]
        since: OffsetDateTime,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// The purposes people read PII for.
#[derive(Clone, Copy, ValueEnum)]
enum PeoplePurpose {
    #[value(name = "customer_service")]
    CustomerService,
    #[value(name = "returns")]
    Returns,
    #[value(name = "fraud_review")]
    FraudReview,
}

impl PeoplePurpose {
    fn purpose(self) -> orderseal::access::Purpose {
        use orderseal::access::Purpose;
        match self {
            PeoplePurpose::CustomerService => Purpose::CustomerService,
            PeoplePurpose::Returns => Purpose::Returns,
            PeoplePurpose::FraudReview => Purpose::FraudReview,
        }
    }
}

fn parse_since(s: &str) -> Result<OffsetDateTime, String> {
    match s.strip_suffix('d').map(str::parse::<i64>) {
        Some(Ok(days)) if (0..=3653).contains(&days) => {
            Ok(OffsetDateTime::now_utc() - time::Duration::days(days))
        }
        Some(_) => Err("days must be 0..3653".into()),
        None => parse_time(s),
    }
}

/// A client of the pii-access API at `api_url`, signing with the caller's own credentials
/// (their purpose's role).
async fn access_client(
    sdk: &aws_config::SdkConfig,
    api_url: &str,
) -> Result<orderseal::access_client::AccessClient, ExitCode> {
    use aws_credential_types::provider::ProvideCredentials;
    let Some(provider) = sdk.credentials_provider() else {
        eprintln!("error: no AWS credentials: sign in as your purpose's role");
        return Err(ExitCode::from(2));
    };
    let credentials = provider.provide_credentials().await.map_err(|e| {
        eprintln!("error: no AWS credentials: {e}");
        ExitCode::from(2)
    })?;
    let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
    Ok(orderseal::access_client::AccessClient::new(
        api_url,
        region,
        credentials,
    ))
}

fn render_subscriptions(report: &orderseal::subscriptions::SubscriptionsReport) -> String {
    let mut out = match &report.destination {
        Some(d) => format!(
            "destination {} for {}: {}\n",
            d.destination_id,
            d.queue_arn,
            d.status.as_str()
        ),
        None => {
            "no destination for this deployment's queue: run `orderseal subscribe`\n".to_owned()
        }
    };
    out.push_str(&format!(
        "{:<16} {:<18} {:<38} {}\n",
        "seller", "subscription", "id", "last notification"
    ));
    for row in &report.sellers {
        let status = match &row.reason {
            Some(reason) => format!("{} ({reason})", row.status.as_str()),
            None => row.status.as_str().to_owned(),
        };
        out.push_str(&format!(
            "{:<16} {:<18} {:<38} {}\n",
            row.seller_id,
            status,
            row.subscription_id.as_deref().unwrap_or("-"),
            row.last_notification_at.as_deref().unwrap_or("-")
        ));
    }
    out
}

/// `orderseal subscribe`: exits 3 when any seller failed.
async fn subscribe(
    sdk: &aws_config::SdkConfig,
    seller: Option<&str>,
    api_url: &str,
    format: Format,
) -> ExitCode {
    let client = match access_client(sdk, api_url).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    report_subscriptions(client.subscribe(seller).await, format, |r| {
        r.sellers.iter().all(|s| s.status.is_subscribed())
    })
}

/// `orderseal subscriptions`: exits 3 unless the destination exists and every seller is
/// subscribed to it.
async fn subscriptions(sdk: &aws_config::SdkConfig, api_url: &str, format: Format) -> ExitCode {
    let client = match access_client(sdk, api_url).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    report_subscriptions(client.subscriptions().await, format, |r| {
        r.destination.is_some() && r.sellers.iter().all(|s| s.status.is_subscribed())
    })
}

/// Prints what the subscriptions API answered; exit 0 when `healthy`, 3 when not, 4 on a
/// refusal.
fn report_subscriptions(
    answer: Result<
        Result<orderseal::subscriptions::SubscriptionsReport, orderseal::access_client::Refusal>,
        orderseal::access_client::ClientError,
    >,
    format: Format,
    healthy: impl Fn(&orderseal::subscriptions::SubscriptionsReport) -> bool,
) -> ExitCode {
    match answer {
        Ok(Ok(report)) => {
            print_as(format, &report, render_subscriptions);
            if healthy(&report) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Ok(Err(refusal)) => {
            eprintln!("error: {} {}", refusal.status, refusal.error);
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `orderseal doctor`.
async fn doctor(sdk: &aws_config::SdkConfig, api_url: &str, queue_url: &str) -> ExitCode {
    use aws_sdk_sqs::types::QueueAttributeName;
    use orderseal_ops::doctor::{Check, check_key_policy, check_queue_policy};
    let recorder = orderseal::aws::record::RequestRecorder::from_env("OperatorRole");
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(recorder.clone())
            .build(),
    );
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(sdk)
            .interceptor(recorder)
            .build(),
    );
    let mut checks: Vec<Check> = Vec::new();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::Policy)
        .attribute_names(QueueAttributeName::KmsMasterKeyId)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await;
    let mut queue_arn = None;
    match attributes {
        Err(e) => checks.push(Check::fail(
            "queue policy lets SP-API send",
            format!(
                "cannot read the queue's attributes: {}",
                orderseal::aws::error_code(&e)
            ),
        )),
        Ok(out) => {
            let attrs = out.attributes.unwrap_or_default();
            let arn = attrs
                .get(&QueueAttributeName::QueueArn)
                .cloned()
                .unwrap_or_default();
            checks.push(check_queue_policy(
                attrs.get(&QueueAttributeName::Policy).map(String::as_str),
                &arn,
            ));
            match attrs.get(&QueueAttributeName::KmsMasterKeyId) {
                // SSE-SQS (or none): nothing more is documented for Amazon.
                None => checks.push(Check::pass(
                    "queue key lets SP-API encrypt",
                    Some("no customer key on the queue".to_owned()),
                )),
                Some(key) if key.starts_with("alias/aws/") => checks.push(Check::fail(
                    "queue key lets SP-API encrypt",
                    "the queue uses the AWS managed key, whose policy cannot let SP-API's account in",
                )),
                Some(key) => match kms
                    .get_key_policy()
                    .key_id(key)
                    .policy_name("default")
                    .send()
                    .await
                {
                    Ok(out) => checks.push(check_key_policy(
                        out.policy.as_deref().unwrap_or("{}"),
                        key,
                    )),
                    Err(e) => checks.push(Check::fail(
                        "queue key lets SP-API encrypt",
                        format!(
                            "cannot read the key's policy: {}",
                            orderseal::aws::error_code(&e)
                        ),
                    )),
                },
            }
            queue_arn = Some(arn);
        }
    }
    match access_client(sdk, api_url).await {
        Err(code) => return code,
        Ok(client) => match client.subscriptions().await {
            Ok(Ok(report)) => {
                match (&report.destination, &queue_arn) {
                    (Some(d), Some(arn)) if &d.queue_arn == arn => checks.push(Check::pass(
                        "destination for the queue",
                        Some(d.destination_id.clone()),
                    )),
                    (Some(d), _) => checks.push(Check::fail(
                        "destination for the queue",
                        format!("the destination is for {}, not this queue", d.queue_arn),
                    )),
                    (None, _) => checks.push(Check::fail(
                        "destination for the queue",
                        "the app has no destination for this queue: run `orderseal subscribe`",
                    )),
                }
                if report.sellers.is_empty() {
                    checks.push(Check::fail(
                        "sellers subscribed",
                        "no seller is registered: `orderseal seller add`",
                    ));
                }
                let now = OffsetDateTime::now_utc();
                for row in &report.sellers {
                    let name = format!("seller {} subscribed", row.seller_id);
                    let seen = row
                        .last_notification_at
                        .as_deref()
                        .and_then(|t| {
                            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                                .ok()
                        })
                        .map(|t| {
                            let age = (now - t).whole_minutes().max(0);
                            format!("last notification {}h {}m ago", age / 60, age % 60)
                        })
                        .unwrap_or_else(|| "no notification seen yet".to_owned());
                    checks.push(if row.status.is_subscribed() {
                        Check::pass(name, Some(seen))
                    } else {
                        Check::fail(
                            name,
                            format!(
                                "{}{}; {seen}",
                                row.status.as_str(),
                                row.reason
                                    .as_deref()
                                    .map(|r| format!(" ({r})"))
                                    .unwrap_or_default()
                            ),
                        )
                    });
                }
            }
            Ok(Err(refusal)) => checks.push(Check::fail(
                "destination for the queue",
                format!(
                    "the subscriptions API refused ({} {})",
                    refusal.status, refusal.error
                ),
            )),
            Err(e) => checks.push(Check::fail(
                "destination for the queue",
                format!("the subscriptions API did not answer: {e}"),
            )),
        },
    }
    let mut failed = 0;
    for c in &checks {
        match (&c.problem, &c.detail) {
            (Some(problem), _) => {
                failed += 1;
                println!("FAIL {}: {problem}", c.name);
            }
            (None, Some(detail)) => println!("ok   {} ({detail})", c.name),
            (None, None) => println!("ok   {}", c.name),
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{failed} check(s) failed");
        ExitCode::from(3)
    }
}

/// `orderseal fraud release|cancel`.
async fn decide(sdk: &aws_config::SdkConfig, d: &FraudDecision, decision: &str) -> ExitCode {
    let ReviewPurpose::FraudReview = d.purpose;
    let client = match access_client(sdk, &d.api_url).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client.decide(&d.seller, &d.order, decision).await {
        Ok(Ok(v)) if decision == "release" => {
            println!(
                "{} released ({}): dispatch will ship it; this decision is audited",
                v.order_id, v.review_state
            );
            ExitCode::SUCCESS
        }
        Ok(Ok(v)) => {
            println!(
                "{} cancelled after review ({}): nothing will be bought for it; now cancel it on Amazon (Seller Central: Orders > Manage Orders > Cancel order); this decision is audited",
                v.order_id, v.review_state
            );
            ExitCode::SUCCESS
        }
        Ok(Err(r)) => {
            eprintln!("refused ({} {}): {}", r.status, r.error, r.message);
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `orderseal order show`: sign with the caller's own credentials, print what the purpose allows.
async fn show_order(
    sdk: &aws_config::SdkConfig,
    api_url: &str,
    seller: &str,
    order: &str,
    purpose: orderseal::access::Purpose,
) -> ExitCode {
    use orderseal::access_client::{Answer, render};
    let client = match access_client(sdk, api_url).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client.get_order(purpose, seller, order).await {
        Ok(Answer::Opened(view)) => {
            print!("{}", render(&view));
            ExitCode::SUCCESS
        }
        Ok(Answer::Refused(r)) => {
            eprintln!("refused ({} {}): {}", r.status, r.error, r.message);
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Subcommand)]
enum HoldCommand {
    /// Keep an order's PII until --until, past its expiry.
    Add {
        #[command(flatten)]
        change: OrderChange,
        #[arg(long, value_parser = parse_time)]
        until: OffsetDateTime,
    },
    /// Lift a hold: the order's own expiry applies again.
    Remove {
        #[command(flatten)]
        change: OrderChange,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Print `value` as the operator asked: the human table, or pretty JSON.
fn print_as<T: serde::Serialize + ?Sized>(format: Format, value: &T, table: impl Fn(&T) -> String) {
    match format {
        Format::Table => print!("{}", table(value)),
        Format::Json => match serde_json::to_string_pretty(value) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("error: the output does not serialize: {e}"),
        },
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Order {
        command:
            OrderCommand::Show {
                order,
                seller,
                purpose,
                api_url,
            },
    } = &cli.command
    {
        let sdk = aws_config::load_from_env().await;
        return show_order(&sdk, api_url, seller, order, purpose.purpose()).await;
    }
    if let Command::Return { command } = cli.command {
        let sdk = aws_config::load_from_env().await;
        use orderseal::returns::ReturnRequest;
        return match command {
            ReturnCommand::Record {
                target,
                reason,
                items,
                method,
                status,
                refund,
            } => {
                let request = ReturnRequest {
                    rma_id: target.rma.clone(),
                    status,
                    reason: Some(reason),
                    method: Some(method),
                    items: Some(items),
                    refund,
                };
                record_return(&sdk, &target, request).await
            }
            ReturnCommand::Update {
                target,
                status,
                refund,
            } => {
                let request = ReturnRequest {
                    rma_id: target.rma.clone(),
                    status: Some(status),
                    refund,
                    ..Default::default()
                };
                record_return(&sdk, &target, request).await
            }
        };
    }
    if let Command::Fraud {
        command: command @ (FraudCommand::Release { .. } | FraudCommand::Cancel { .. }),
    } = &cli.command
    {
        let sdk = aws_config::load_from_env().await;
        return match command {
            FraudCommand::Release { decision } => decide(&sdk, decision, "release").await,
            FraudCommand::Cancel { decision } => decide(&sdk, decision, "cancel").await,
            FraudCommand::List { .. } => unreachable!("matched above"),
        };
    }
    match &cli.command {
        Command::Subscribe {
            seller,
            api,
            format,
        } => {
            let sdk = aws_config::load_from_env().await;
            return subscribe(&sdk, seller.as_deref(), &api.api_url, *format).await;
        }
        Command::Subscriptions { api, format } => {
            let sdk = aws_config::load_from_env().await;
            return subscriptions(&sdk, &api.api_url, *format).await;
        }
        Command::Doctor {
            api,
            notifications_queue,
        } => {
            let sdk = aws_config::load_from_env().await;
            return doctor(&sdk, &api.api_url, notifications_queue).await;
        }
        _ => {}
    }
    if let Command::Seller { command } = cli.command {
        let Some(table) = cli.table else {
            eprintln!("error: no table: pass --table or set ORDERSEAL_TABLE");
            return ExitCode::from(2);
        };
        let sdk = aws_config::load_from_env().await;
        return seller(&sdk, &table, command).await;
    }
    if let Command::Dlq { command, queues } = cli.command {
        let sdk = aws_config::load_from_env().await;
        return dlq(&sdk, cli.table.as_deref(), command, queues).await;
    }
    let Some(table) = cli.table else {
        eprintln!("error: no table: pass --table or set ORDERSEAL_TABLE");
        return ExitCode::from(2);
    };
    let sdk = aws_config::load_from_env().await;
    if let Command::Migrate {
        dry_run,
        business_retention_days,
    } = cli.command
    {
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let retention = time::Duration::days(business_retention_days.clamp(1, 36_525));
        return match orderseal::migrate::migrate_layout(&client, &table, retention, dry_run).await {
            Ok(report) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("the report serializes")
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let recorder = orderseal::aws::record::RequestRecorder::from_env("OperatorRole");
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(recorder);
    let client = aws_sdk_dynamodb::Client::from_conf(dynamodb.build());
    let audit_log = orderseal::audit::AuditLog::new(client.clone(), &table);
    let orders = DynamoOrderStore::new(client.clone(), &table);
    let store = DynamoRetention::new(client, table);
    let now = OffsetDateTime::now_utc();
    let result: Result<ExitCode, String> = match cli.command {
        Command::Retention {
            command: RetentionCommand::Report { format, check },
        } => match store.report(now).await {
            Ok(report) => {
                print_as(format, &report, render_table);
                Ok(if check && !report.overdue.is_empty() {
                    ExitCode::from(3)
                } else {
                    ExitCode::SUCCESS
                })
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Retention {
            command: RetentionCommand::Audit { fix, format },
        } => match store.audit_index(fix, now).await {
            Ok(audit) => {
                print_as(format, &audit, orderseal_ops::render_audit);
                Ok(if audit.problems() > audit.fixed {
                    ExitCode::from(3)
                } else {
                    ExitCode::SUCCESS
                })
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Hold {
            command: HoldCommand::Add { change, until },
        } => {
            let hold = Hold {
                reason: change.reason,
                by: change.by,
                until,
            };
            store
                .add_hold(&change.seller, &change.order, &hold, now)
                .await
                .map(|()| {
                    eprintln!("hold placed on {} {}", change.seller, change.order);
                    ExitCode::SUCCESS
                })
                .map_err(|e| e.to_string())
        }
        Command::Hold {
            command: HoldCommand::Remove { change },
        } => store
            .remove_hold(
                &change.seller,
                &change.order,
                &change.reason,
                &change.by,
                now,
            )
            .await
            .map(|()| {
                eprintln!("hold lifted on {} {}", change.seller, change.order);
                ExitCode::SUCCESS
            })
            .map_err(|e| e.to_string()),
        Command::CancelRequests { format, prune } => match orders.cancel_requests().await {
            Ok(requests) => {
                print_as(format, requests.as_slice(), render_cancel_requests);
                let mut failed = None;
                if prune {
                    for r in requests.iter().filter(|r| r.resolved()) {
                        if let Err(e) = orders
                            .forget_cancel_request(&r.seller_id, &r.order_id)
                            .await
                        {
                            failed = Some(e.to_string());
                        }
                    }
                }
                match failed {
                    Some(e) => Err(e),
                    None if requests.iter().any(|r| !r.resolved()) => Ok(ExitCode::from(3)),
                    None => Ok(ExitCode::SUCCESS),
                }
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Subject {
            command:
                SubjectCommand::Report {
                    seller,
                    order,
                    format,
                },
        } => match store.subject_report(&seller, &order).await {
            Ok(report) => {
                print_as(format, &report, orderseal_ops::render_subject);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Subject {
            command:
                SubjectCommand::Erase {
                    change:
                        OrderChange {
                            seller,
                            order,
                            reason,
                            by,
                        },
                },
        } => match store
            .erase_on_request(&seller, &order, &reason, &by, now)
            .await
        {
            Ok(orderseal::retention::Erasure::Erased) => {
                eprintln!("erased the PII of {seller} {order}; its business record is kept");
                Ok(ExitCode::SUCCESS)
            }
            Ok(orderseal::retention::Erasure::Skipped) => {
                eprintln!("{seller} {order} holds no PII to erase (its expiry is now)");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Fraud {
            command: FraudCommand::List { format },
        } => match orders.held_for_review().await {
            Ok(held) => {
                print_as(format, held.as_slice(), orderseal_ops::render_held);
                Ok(if held.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(3)
                })
            }
            Err(e) => Err(e.to_string()),
        },
        // Handled above, with their own clients.
        Command::Migrate { .. }
        | Command::Subscribe { .. }
        | Command::Subscriptions { .. }
        | Command::Doctor { .. }
        | Command::Dlq { .. }
        | Command::Seller { .. }
        | Command::Fraud { .. }
        | Command::Return { .. }
        | Command::Order {
            command: OrderCommand::Show { .. },
        } => Ok(ExitCode::SUCCESS),
        Command::Order {
            command:
                OrderCommand::Audit {
                    order,
                    seller,
                    format,
                },
        } => match audit_log.for_order(&seller, &order).await {
            Ok(entries) => {
                print_as(
                    format,
                    entries.as_slice(),
                    orderseal_ops::render_audit_trail,
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Audit {
            command: AuditCommand::Report { since, format },
        } => match audit_log.since(since, now).await {
            Ok(entries) => {
                let summary = orderseal::audit::summarise(&entries);
                print_as(format, summary.as_slice(), |s| {
                    orderseal_ops::render_access_review(s, since, now)
                });
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Export {
            from,
            to,
            seller,
            out,
        } => {
            if from >= to {
                return {
                    eprintln!("error: --from must be before --to");
                    ExitCode::from(2)
                };
            }
            let records = store.business_records(from, to, seller);
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let written = match out {
                Some(path) => match std::fs::File::create(&path) {
                    Ok(f) => export_csv(records, from, to, std::io::BufWriter::new(f), &bar).await,
                    Err(e) => {
                        eprintln!("error: cannot create {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                },
                None => export_csv(records, from, to, std::io::stdout().lock(), &bar).await,
            };
            written
                .map(|n| {
                    eprintln!(
                        "exported {} records and {} returns ({} rows)",
                        n.records, n.returns, n.rows
                    );
                    let _ = std::io::stderr().flush();
                    ExitCode::SUCCESS
                })
                .map_err(|e| e.to_string())
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })
}

/// `orderseal dlq list|replay`.
async fn dlq(
    sdk: &aws_config::SdkConfig,
    table: Option<&str>,
    command: DlqCommand,
    queues: DlqQueues,
) -> ExitCode {
    use orderseal_ops::dlq::{Dlq, Kind, ReplayOptions, render_listing};
    let kind = match &command {
        DlqCommand::List { queue, .. } | DlqCommand::Replay { queue, .. } => *queue,
    };
    let (dlq_url, source_url, names) = match kind {
        Kind::Notifications => (
            queues.notifications_dlq,
            queues.notifications_queue,
            "--notifications-dlq and --notifications-queue (ORDERSEAL_NOTIFICATIONS_DLQ, ORDERSEAL_NOTIFICATIONS_QUEUE)",
        ),
        Kind::Shipments => (
            queues.shipments_dlq,
            queues.shipments_queue,
            "--shipments-dlq and --shipments-queue (ORDERSEAL_SHIPMENTS_DLQ, ORDERSEAL_SHIPMENTS_QUEUE)",
        ),
    };
    let (Some(dlq_url), Some(source_url)) = (dlq_url, source_url) else {
        eprintln!("error: pass {names}");
        return ExitCode::from(2);
    };
    let recorder = orderseal::aws::record::RequestRecorder::from_env("OperatorRole");
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(recorder.clone())
            .build(),
    );
    let dlq = Dlq {
        kind,
        client: sqs,
        dlq_url,
        source_url,
    };
    match command {
        DlqCommand::List { format, max, .. } => {
            let listing = match dlq.read(max, std::time::Duration::from_secs(120)).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let released = dlq.release(&listing.entries).await;
            print_as(format, &listing.entries, |_| render_listing(kind, &listing));
            if let Err(e) = released {
                eprintln!("warning: the messages stay hidden until their hold ends: {e}");
            }
            ExitCode::SUCCESS
        }
        DlqCommand::Replay {
            reason,
            order,
            max,
            rate,
            dry_run,
            ..
        } => {
            if kind == Kind::Shipments && table.is_none() {
                eprintln!(
                    "error: a shipment replay re-arms the order: pass --table or set ORDERSEAL_TABLE"
                );
                return ExitCode::from(2);
            }
            if !(rate > 0.0 && rate.is_finite()) {
                eprintln!("error: --rate must be a positive number of messages per second");
                return ExitCode::from(2);
            }
            let orders = table.map(|t| {
                let client = aws_sdk_dynamodb::Client::from_conf(
                    aws_sdk_dynamodb::config::Builder::from(sdk)
                        .interceptor(recorder.clone())
                        .build(),
                );
                DynamoOrderStore::new(client, t)
            });
            // Held for the whole run at the paced rate, with a margin.
            let hold = std::time::Duration::from_secs_f64(max as f64 / rate + 120.0);
            let listing = match dlq.read(max.saturating_mul(4), hold).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let options = ReplayOptions {
                reason,
                order_id: order,
                max,
                rate,
                dry_run,
            };
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let report = dlq
                .replay(&listing, orders.as_ref(), &options, |_| bar.inc(1))
                .await;
            bar.finish_and_clear();
            match report {
                Ok(report) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&report).expect("the report serializes")
                    );
                    eprintln!(
                        "{} {}, {} settled, {} kept, {} failed, {} not selected",
                        report.replayed,
                        if dry_run {
                            "would be replayed"
                        } else {
                            "replayed"
                        },
                        report.settled,
                        report.kept.len(),
                        report.failed.len(),
                        report.unselected
                    );
                    if report.failed.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `orderseal seller add|list|remove`.
async fn seller(sdk: &aws_config::SdkConfig, table: &str, command: SellerCommand) -> ExitCode {
    use orderseal::sellers::{DynamoSellers, Seller, SellerSecrets};
    let recorder = orderseal::aws::record::RequestRecorder::from_env("OperatorRole");
    let registry = DynamoSellers::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .interceptor(recorder.clone())
                .build(),
        ),
        table,
    );
    let secrets = |args: &SellerSecretArgs| SellerSecrets {
        client: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(sdk)
                .interceptor(recorder.clone())
                .build(),
        ),
        prefix: args.secret_prefix.clone(),
        kms_key_id: args.kms_key.clone(),
    };
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    };
    let now = OffsetDateTime::now_utc();
    match command {
        SellerCommand::Add {
            seller,
            marketplaces,
            authorized_on,
            secrets: args,
        } => {
            if !orderseal::sellers::valid_seller_id(&seller) {
                eprintln!("error: {seller:?} is not a seller id (upper-case letters and digits)");
                return ExitCode::from(2);
            }
            if let Some(bad) = marketplaces
                .iter()
                .find(|m| !orderseal::sellers::valid_marketplace_id(m))
            {
                eprintln!("error: {bad:?} is not a marketplace id");
                return ExitCode::from(2);
            }
            let authorized_on = match authorized_on
                .as_deref()
                .map(|d| time::Date::parse(d, &time::format_description::well_known::Iso8601::DATE))
            {
                None => now.date(),
                Some(Ok(d)) if d <= now.date() => d,
                Some(_) => {
                    eprintln!("error: --authorized-on is a past or present date, YYYY-MM-DD");
                    return ExitCode::from(2);
                }
            };
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line).is_err() {
                eprintln!("error: the refresh token is read from standard input");
                return ExitCode::from(2);
            }
            let token = orderseal::secret::SecretString::new(line.trim());
            if !token.expose().starts_with("Atzr|") || token.expose().len() < 10 {
                eprintln!("error: standard input is not an LWA refresh token (Atzr|...)");
                return ExitCode::from(2);
            }
            if let Err(e) = secrets(&args).put(&seller, &token).await {
                return fail(&e);
            }
            drop(token);
            let entry = Seller {
                seller_id: seller.clone(),
                marketplaces,
                authorized_on,
                added_at: now
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            };
            if let Err(e) = registry.put(&entry).await {
                return fail(&e);
            }
            println!(
                "seller {seller} added: served from now on; authorise again by {}",
                entry.reauthorize_by()
            );
            ExitCode::SUCCESS
        }
        SellerCommand::List { format } => match registry.list().await {
            Ok(sellers) => {
                let today = now.date();
                print_as(format, &sellers, |s| {
                    orderseal_ops::render_sellers(s, today)
                });
                if sellers.iter().any(|s| s.reauthorization_due(today)) {
                    ExitCode::from(3)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => fail(&e),
        },
        SellerCommand::Remove {
            seller,
            secrets: args,
            api_url,
            keep_subscription,
        } => {
            if !keep_subscription {
                let Some(api_url) = api_url else {
                    eprintln!(
                        "error: pass --api-url (ORDERSEAL_ACCESS_API, the stack's PiiAccessApiUrl) so the seller's subscription is deleted, or --keep-subscription"
                    );
                    return ExitCode::from(2);
                };
                let client = match access_client(sdk, &api_url).await {
                    Ok(c) => c,
                    Err(code) => return code,
                };
                match client.unsubscribe(&seller).await {
                    Ok(Ok(report)) => {
                        for row in &report.sellers {
                            println!("subscription of {}: {}", row.seller_id, row.status.as_str());
                        }
                    }
                    Ok(Err(refusal)) => {
                        eprintln!(
                            "error: the subscription was not deleted ({} {}); nothing was removed (--keep-subscription removes the seller anyway)",
                            refusal.status, refusal.error
                        );
                        return ExitCode::from(4);
                    }
                    Err(e) => return fail(&e),
                }
            }
            let listed = match registry.remove(&seller).await {
                Ok(listed) => listed,
                Err(e) => return fail(&e),
            };
            let had_secret = match secrets(&args).delete(&seller).await {
                Ok(had) => had,
                Err(e) => return fail(&e),
            };
            if !listed && !had_secret {
                eprintln!("error: no seller {seller} here");
                return ExitCode::from(4);
            }
            println!(
                "seller {seller} removed: its notifications are quarantined from now on; its orders stay under the retention rules"
            );
            ExitCode::SUCCESS
        }
    }
}
