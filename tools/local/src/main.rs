//! `orderseal-local`: run orderseal on this machine.
//!
//! `up` starts moto and the SP-API sandbox on 127.0.0.1 and creates the template's resources;
//! `send` puts notification files on the notifications queue as SP-API would; `drain` runs the
//! ingest handler until the queue is empty; `show` prints an order's status and its stored item
//! exactly as DynamoDB holds it; `demo` does all of it with the sample notifications.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use orderseal_local::inspect::{self, sealed_classes};
use orderseal_local::pump::{self, PumpOptions};
use orderseal_local::stack::{self, StackState};
use orderseal_local::{AwsClients, LocalError, ingest_config, notify};

/// Fixtures the demo sends beside the generated order notifications: a type ingest does not
/// handle, one it does not know, a duplicate-free malformed body, and a DeliveryTipChange.
const DEMO_EXTRAS: &[&str] = &[
    "fba-outbound-shipment-status.json",
    "shipment-tracking-milestone-changed.json",
    "unknown-type.json",
    "malformed.json",
];

#[derive(Parser)]
#[command(
    name = "orderseal-local",
    about = "Run orderseal locally on moto and the SP-API sandbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start moto and the SP-API sandbox (idempotent) and create the template's resources.
    Up {
        #[command(flatten)]
        ports: PortArgs,
    },
    /// Stop what `up` started.
    Down,
    /// Send notification JSON files to the notifications queue, as SP-API would.
    Send { files: Vec<PathBuf> },
    /// Run ingest over the notifications queue, then dispatch over the shipments queue, until both are empty.
    Drain {
        /// Seconds to wait for in-flight messages (failed ones come back after the visibility timeout).
        #[arg(long, default_value_t = 0)]
        settle: u64,
    },
    /// Print an order's status and its stored item as DynamoDB holds it.
    Show {
        order_id: String,
        #[arg(long)]
        seller: Option<String>,
    },
    /// Print every order: status, sealed PII classes, PII expiry.
    Orders {
        /// Only the ids of orders whose PII is live (for scripts).
        #[arg(long)]
        ids_with_pii: bool,
        /// Only the ids of orders held for fraud review (for scripts).
        #[arg(long)]
        held: bool,
        /// With --ids-with-pii or --held: only this seller's.
        #[arg(long)]
        seller: Option<String>,
    },
    /// Messages waiting in each queue (DLQs included).
    Queues,
    /// The audit log group as it stands: every audit event the table received since the stack
    /// started, one JSON line each, as the audit-log function prints them from the table's
    /// stream. `--order` keeps one order's lines.
    AuditLog {
        #[arg(long)]
        order: Option<String>,
    },
    /// Run ingest's reconcile once (as its 15-minute schedule does): searchOrders per seller
    /// and marketplace from its watermark; every order not stored, or stored older, goes
    /// through the notification path. Prints the run's report and its metric line.
    Reconcile {
        /// A seller and marketplace without a watermark start this many days back.
        #[arg(long, default_value_t = 7)]
        lookback_days: i64,
    },
    /// Run the retention function once (erase PII past its expiry) and print its outcome.
    Sweep {
        /// Run as if it were this time (RFC 3339, or `+<days>d` from now): shows what a later
        /// hourly run will erase. Default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Print shell exports that point the `orderseal` CLI at the local stack: as the operator,
    /// or `--as <purpose>` as that purpose's local person (their own signing credentials for
    /// the pii-access API).
    Env {
        #[arg(long = "as")]
        purpose: Option<String>,
    },
    /// The pii-access API on a local listener (what `up` starts in the background).
    #[command(hide = true)]
    ServeAccess {
        #[arg(long)]
        addr: std::net::SocketAddr,
    },
    /// Seed N orders with due PII in a separate set of resources, run one sweep, count its calls
    /// and time, and take the retention report. Fails when anything is left overdue.
    RetentionBench {
        #[arg(long, default_value_t = 10_000)]
        orders: usize,
    },
    /// Time each function's init (exec to its first request for an event) against a fake
    /// Lambda Runtime API, interleaved with a bare `lambda_runtime` baseline, on the local
    /// stack's resources. Build the binaries first: `cargo build --release --bins`.
    Coldstart {
        #[arg(long, default_value_t = 20)]
        runs: usize,
        #[arg(long, default_value = "target/release")]
        bin_dir: PathBuf,
        /// The binaries to time (the baseline is always timed too).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "ingest,dispatch,carrier-callback,retention,pii-access,audit-log,subscriptions"
        )]
        bins: Vec<String>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The Python peer's init to ready, in ms (`../shared/peer/python_init.sh`; 372 there).
        #[arg(long, default_value_t = 372.0)]
        python_init_ms: f64,
        /// More environment for every binary, `KEY=VALUE` (e.g. `SSL_CERT_FILE=...` to see
        /// what loading the certificate store costs).
        #[arg(long = "env", value_parser = parse_env)]
        extra_env: Vec<(String, String)>,
    },
    /// up + send the sample notifications + drain + orders.
    Demo {
        #[arg(long, default_value = "fixtures/notifications")]
        fixtures: PathBuf,
        #[command(flatten)]
        ports: PortArgs,
    },
}

#[derive(clap::Args)]
struct PortArgs {
    #[arg(long, env = "ORDERSEAL_MOTO_PORT", default_value_t = orderseal_local::DEFAULT_MOTO_PORT)]
    moto_port: u16,
    #[arg(long, env = "ORDERSEAL_SANDBOX_PORT", default_value_t = orderseal_local::DEFAULT_SANDBOX_PORT)]
    sandbox_port: u16,
    #[arg(long, env = "ORDERSEAL_CARRIER_PORT", default_value_t = orderseal_local::DEFAULT_CARRIER_PORT)]
    carrier_port: u16,
    #[arg(long, env = "ORDERSEAL_ACCESS_PORT", default_value_t = orderseal_local::DEFAULT_ACCESS_PORT)]
    access_port: u16,
}

impl PortArgs {
    fn ports(&self) -> stack::Ports {
        stack::Ports {
            moto: self.moto_port,
            sandbox: self.sandbox_port,
            carrier: self.carrier_port,
            access: self.access_port,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber_init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orderseal-local: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tracing_subscriber_init() {
    if std::env::var_os("RUST_LOG").is_some() {
        orderseal::telemetry::init();
    }
}

async fn run(cli: Cli) -> Result<(), LocalError> {
    match cli.command {
        Cmd::Up { ports } => {
            let s = stack::up(ports.ports()).await?;
            println!("moto            {}", s.moto_url);
            println!("SP-API sandbox  {}", s.sandbox_url);
            println!("carrier sandbox {}", s.carrier_url);
            println!("pii-access API  {}", s.access_url);
            for (id, q) in &s.resources.queues {
                println!("queue {id:<20} {}", q.url);
            }
            for (id, t) in &s.resources.tables {
                println!("table {id:<20} {t}");
            }
            Ok(())
        }
        Cmd::Down => {
            for s in stack::down()? {
                println!("stopped {s}");
            }
            Ok(())
        }
        Cmd::Send { files } => {
            let (state, aws) = connect().await?;
            let url = &state.resources.queue("NotificationsQueue")?.url;
            for f in files {
                send_file(&aws, url, &f).await?;
            }
            Ok(())
        }
        Cmd::Drain { settle } => {
            let (state, aws) = connect().await?;
            drain(&state, &aws, Duration::from_secs(settle)).await
        }
        Cmd::Show { order_id, seller } => {
            let (state, aws) = connect().await?;
            let seller = seller.unwrap_or_else(|| state.seller_id.clone());
            let table = state.resources.table("OrdersTable")?;
            match inspect::get_order(&aws, table, &seller, &order_id).await? {
                None => {
                    println!("order {order_id}: not stored");
                }
                Some(item) => {
                    let pii = inspect::get_pii(&aws, table, &seller, &order_id).await?;
                    print_summary(&item, pii.as_ref());
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&inspect::item_json(&item)).expect("json")
                    );
                    if let Some(pii) = &pii {
                        // Binary values print as base64 of sealed bytes: ciphertext, never PII.
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&inspect::item_json(pii)).expect("json")
                        );
                    }
                }
            }
            Ok(())
        }
        Cmd::Sweep { at } => {
            let (state, aws) = connect().await?;
            let now = time::OffsetDateTime::now_utc();
            let at = match at.as_deref() {
                None => now,
                Some(a) => parse_at(a, now)?,
            };
            let function = orderseal_local::retention::retention(
                &aws,
                &state.resources,
                orderseal::clock::ManualClock::at(at),
            )?;
            let report = function
                .run(None)
                .await
                .map_err(|e| LocalError::Stack(e.to_string()))?;
            println!(
                "== retention sweep at {}: erased {}, held {}, skipped {}, failed {}, overdue after the run {}",
                at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                report.erased,
                report.held,
                report.skipped,
                report.failed,
                report.overdue
            );
            Ok(())
        }
        Cmd::Coldstart {
            runs,
            bin_dir,
            bins,
            seed,
            python_init_ms,
            extra_env,
        } => {
            let (state, _) = connect().await?;
            let mut targets = Vec::new();
            for bin in std::iter::once(orderseal_local::coldstart::BASELINE.to_owned()).chain(bins)
            {
                let mut env = orderseal_local::function_env(
                    &state.resources,
                    &bin,
                    &state.sandbox_url,
                    &state.carrier_url,
                )?;
                // As Lambda sets them, and the emulator for every AWS endpoint.
                for (k, v) in [
                    ("AWS_REGION", orderseal_local::REGION),
                    ("AWS_DEFAULT_REGION", orderseal_local::REGION),
                    ("AWS_ACCESS_KEY_ID", "local"),
                    ("AWS_SECRET_ACCESS_KEY", "local"),
                    ("AWS_SESSION_TOKEN", "local"),
                    ("AWS_ENDPOINT_URL", state.moto_url.as_str()),
                    ("RUST_LOG", "info"),
                ] {
                    env.insert(k.to_owned(), v.to_owned());
                }
                env.extend(extra_env.iter().cloned());
                let path = bin_dir.join(&bin);
                if !path.exists() {
                    return Err(LocalError::Stack(format!(
                        "{} is not built: cargo build --release --bins",
                        path.display()
                    )));
                }
                targets.push(orderseal_local::coldstart::Target { bin, path, env });
            }
            let summaries = orderseal_local::coldstart::measure(
                &targets,
                runs,
                std::time::Duration::from_secs(10),
                seed,
            )
            .await?;
            print!(
                "{}",
                orderseal_local::coldstart::render(&summaries, python_init_ms)
            );
            if summaries.iter().any(|s| s.failures > 0) {
                return Err(LocalError::Stack(
                    "some runs never asked for an event".into(),
                ));
            }
            Ok(())
        }
        Cmd::Reconcile { lookback_days } => {
            let (state, aws) = connect().await?;
            let mut config = ingest_config(&state.resources, &state.sandbox_url)?;
            config.fraud_rules = orderseal_local::demo_fraud_rules();
            let ingest = orderseal_ingest::build(
                config.clone(),
                aws.ingest_clients(),
                orderseal_ingest::system_clock(),
            )
            .map_err(|e| LocalError::Stack(e.to_string()))?;
            let reconcile_state = orderseal_ingest::reconcile_state(&config, &aws.ingest_clients());
            let now = time::OffsetDateTime::now_utc();
            let report = orderseal_ingest::reconcile::run(
                &ingest,
                &ingest.orders,
                &reconcile_state,
                &orderseal_ingest::reconcile::ReconcileConfig {
                    initial_lookback: time::Duration::days(lookback_days.clamp(1, 30)),
                    max_window: time::Duration::days(lookback_days.clamp(1, 30)),
                    ..Default::default()
                },
                now,
                std::time::Instant::now() + Duration::from_secs(50),
            )
            .await
            .map_err(|e| LocalError::Stack(e.to_string()))?;
            println!(
                "== reconcile: {} searchOrders pages, {} orders seen, {} already current, {} reconciled (no notification brought them), {} shipment requests, {} failed, {} windows done, {} interrupted{}",
                report.pages,
                report.orders_seen,
                report.orders_current,
                report.orders_reconciled,
                report.shipment_requests,
                report.orders_failed,
                report.windows_completed,
                report.windows_interrupted,
                report
                    .stopped_by
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            println!("{}", report.emf_line(orderseal::clock::unix_millis(now)));
            Ok(())
        }
        Cmd::Env { purpose } => {
            let state = stack::load_state()?;
            let person = match purpose.as_deref() {
                None => orderseal_local::LOCAL_PEOPLE[3],
                Some(p) => orderseal::access::Purpose::parse(p)
                    .filter(|p| orderseal::access::Purpose::PEOPLE.contains(p))
                    .map(orderseal_local::person_for)
                    .ok_or_else(|| {
                        LocalError::Stack(format!(
                            "--as {p}: one of customer_service, returns, fraud_review"
                        ))
                    })?,
            };
            println!(
                "export ORDERSEAL_TABLE={}",
                state.resources.table("OrdersTable")?
            );
            println!("export AWS_ENDPOINT_URL={}", state.moto_url);
            println!("export AWS_REGION={}", orderseal_local::REGION);
            println!("export ORDERSEAL_ACCESS_API={}", state.access_url);
            println!("export ORDERSEAL_SELLER={}", state.seller_id);
            println!(
                "export ORDERSEAL_SELLER_SECRET_PREFIX={}",
                state.resources.seller_secret_prefix
            );
            for (var, queue) in [
                ("ORDERSEAL_NOTIFICATIONS_QUEUE", "NotificationsQueue"),
                ("ORDERSEAL_NOTIFICATIONS_DLQ", "NotificationsDlq"),
                ("ORDERSEAL_SHIPMENTS_QUEUE", "ShipmentsQueue"),
                ("ORDERSEAL_SHIPMENTS_DLQ", "ShipmentsDlq"),
            ] {
                println!("export {var}={}", state.resources.queue(queue)?.url);
            }
            println!(
                "export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
                person.access_key_id,
                person.secret_access_key()
            );
            println!("# signed as {}", person.caller_arn());
            Ok(())
        }
        Cmd::ServeAccess { addr } => {
            let state = stack::load_state()?;
            let mut clients = std::collections::BTreeMap::new();
            for p in orderseal::access::Purpose::PEOPLE {
                let (role, _) = orderseal_local::roles::for_purpose(p);
                clients.insert(
                    role,
                    AwsClients::for_endpoint_as(&state.moto_url, role).await,
                );
            }
            let functions = orderseal_local::access_api::functions(
                &state.resources,
                &[],
                orderseal_ingest::system_clock(),
                |role| clients[role].clone(),
            )?;
            let subscriptions_aws =
                AwsClients::for_endpoint_as(&state.moto_url, orderseal_local::roles::SUBSCRIPTIONS)
                    .await;
            let subscriptions = orderseal_local::subscriptions_function(
                &state.resources,
                &state.sandbox_url,
                &subscriptions_aws,
            )?;
            let (url, server) = orderseal_local::access_api::serve_with(
                functions,
                Some(std::sync::Arc::new(subscriptions)),
                addr.port(),
            )
            .await?;
            println!("pii-access API on {url}");
            let _ = server.await;
            Ok(())
        }
        Cmd::RetentionBench { orders } => {
            let state = stack::load_state()?;
            let aws = AwsClients::for_endpoint(&state.moto_url).await;
            let spec = orderseal_local::template::load(&orderseal_local::template_path())?;
            let resources = orderseal_local::provision::provision(
                &aws,
                &spec,
                &format!("bench{}", std::process::id()),
                &orderseal_local::local_secrets(&state.seller_id),
                &orderseal_local::provision::ProvisionOptions::default(),
            )
            .await?;
            let r = orderseal_local::retention::bench(&state.moto_url, &resources, orders).await?;
            let per_k = |x: f64| x * 1000.0 / r.sweep.erased.max(1) as f64;
            println!(
                "seeded {} orders with due PII in {:.1} s",
                r.orders, r.seed_seconds
            );
            println!(
                "one sweep: erased {} in {:.1} s = {:.2} s per 1,000 erased; overdue after {}",
                r.sweep.erased,
                r.sweep_seconds,
                per_k(r.sweep_seconds),
                r.sweep.overdue
            );
            let total: u64 = r.calls.values().sum();
            println!(
                "AWS calls per 1,000 erased: {:.0} in all",
                per_k(total as f64)
            );
            for (op, n) in &r.calls {
                println!("  {op:<40} {:>8.1}", per_k(*n as f64));
            }
            println!(
                "report: live {}, held {}, overdue {}, erased total {}",
                r.report.live,
                r.report.held,
                r.report.overdue.len(),
                r.report.erased_total
            );
            if r.report.overdue.is_empty() && r.sweep.erased as usize == orders {
                Ok(())
            } else {
                Err(LocalError::Stack(format!(
                    "{} records still overdue, {} of {orders} erased",
                    r.report.overdue.len(),
                    r.sweep.erased
                )))
            }
        }
        Cmd::Orders {
            ids_with_pii,
            held,
            seller,
        } => {
            let (state, aws) = connect().await?;
            if ids_with_pii || held {
                print_ids(&state, &aws, held, seller.as_deref()).await
            } else {
                print_orders(&state, &aws).await
            }
        }
        Cmd::AuditLog { order } => {
            let (state, _) = connect().await?;
            let table = state.resources.table("OrdersTable")?;
            let mut stream =
                orderseal_local::audit_stream::AuditStream::open(&state.moto_url, table).await?;
            for line in stream.mirror().await? {
                let keep = order.as_ref().is_none_or(|o| {
                    serde_json::from_str::<serde_json::Value>(&line)
                        .is_ok_and(|v| v["audit"]["order_id"].as_str() == Some(o))
                });
                if keep {
                    println!("{line}");
                }
            }
            Ok(())
        }
        Cmd::Queues => {
            let (state, aws) = connect().await?;
            for (id, q) in &state.resources.queues {
                let (visible, in_flight) = pump::depth(&aws, &q.url).await?;
                println!("{id:<20} visible {visible:>4}  in flight {in_flight:>4}");
            }
            Ok(())
        }
        Cmd::Demo { fixtures, ports } => {
            let state = stack::up(ports.ports()).await?;
            let aws = AwsClients::for_endpoint(&state.moto_url).await;
            let url = state.resources.queue("NotificationsQueue")?.url.clone();
            // One ORDER_CHANGE per sandbox order, written out so they can be read and re-sent...
            let dir = stack::local_dir().join("demo-notifications");
            std::fs::create_dir_all(&dir)?;
            let mut files = Vec::new();
            let orders = notify::sandbox_orders(&state.sandbox_url).await?;
            // One notification Amazon never delivers (the second seller's oldest order still to
            // ship), for `orderseal-local reconcile` to catch up.
            let lost = orders
                .iter()
                .filter(|(seller, o)| {
                    seller == orderseal_local::DEMO_SECOND_SELLER
                        && o.pointer("/fulfillment/fulfilledBy")
                            .and_then(|v| v.as_str())
                            == Some("MERCHANT")
                        && o.pointer("/fulfillment/fulfillmentStatus")
                            .and_then(|v| v.as_str())
                            == Some("UNSHIPPED")
                })
                .min_by_key(|(_, o)| o["lastUpdatedTime"].as_str().unwrap_or_default().to_owned())
                .map(|(_, o)| o["orderId"].as_str().unwrap_or_default().to_owned());
            for (seller, order) in orders {
                if lost.as_deref() == order["orderId"].as_str() {
                    println!(
                        "(the notification of {} is lost on purpose: reconcile brings it)",
                        lost.as_deref().unwrap_or_default()
                    );
                    continue;
                }
                let n =
                    notify::order_change_for(&order, &seller, &notify::notification_id_for(&order));
                let path = dir.join(format!(
                    "{}.json",
                    order["orderId"].as_str().unwrap_or("order")
                ));
                std::fs::write(&path, serde_json::to_string_pretty(&n).expect("json"))?;
                files.push(path);
            }
            // ...plus the sample notifications that exercise the other paths.
            for name in DEMO_EXTRAS {
                files.push(fixtures.join(name));
            }
            println!(
                "== sending {} notifications ({} orders + {} other)",
                files.len(),
                files.len() - DEMO_EXTRAS.len(),
                DEMO_EXTRAS.len()
            );
            for f in &files {
                send_file(&aws, &url, f).await?;
            }
            println!("== running ingest, then dispatch, until the queues are drained");
            drain(&state, &aws, Duration::ZERO).await?;
            println!(
                "== carriers send signed tracking webhooks (in transit, out for delivery, delivered),"
            );
            println!("   twice each, shuffled, plus a forged and a stale one per shipment");
            send_webhooks(&state, &aws).await?;
            println!("== orders");
            print_orders(&state, &aws).await
        }
    }
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

async fn connect() -> Result<(StackState, AwsClients), LocalError> {
    let state = stack::load_state()?;
    let aws = AwsClients::for_endpoint(&state.moto_url).await;
    Ok((state, aws))
}

async fn send_file(aws: &AwsClients, url: &str, f: &PathBuf) -> Result<(), LocalError> {
    let body = std::fs::read_to_string(f)?;
    let id = pump::send(aws, url, &body).await?;
    println!("sent {} as message {id}", f.display());
    Ok(())
}

async fn drain(state: &StackState, aws: &AwsClients, settle: Duration) -> Result<(), LocalError> {
    let options = PumpOptions {
        settle,
        ..PumpOptions::default()
    };
    let mut config = ingest_config(&state.resources, &state.sandbox_url)?;
    // The demo seller's fraud rules (a deployment's come from the FraudRules parameter).
    config.fraud_rules = orderseal_local::demo_fraud_rules();
    let ingest = orderseal_ingest::build(
        config,
        aws.ingest_clients(),
        orderseal_ingest::system_clock(),
    )
    .map_err(|e| LocalError::Stack(e.to_string()))?;
    let q = state.resources.queue("NotificationsQueue")?;
    let report = pump::drain(
        aws,
        &q.url,
        &q.arn,
        Duration::from_secs(60),
        &options,
        |event, deadline| ingest.handle_batch(event, deadline),
    )
    .await?;
    print_report("ingest", &report);

    let config = orderseal_local::dispatch_config(
        &state.resources,
        &state.sandbox_url,
        &state.carrier_url,
        &orderseal_local::demo_shipping_rules(),
    )?;
    let dispatch = orderseal_dispatch::build(
        config,
        aws.dispatch_clients(),
        orderseal_ingest::system_clock(),
    )
    .await
    .map_err(|e| LocalError::Stack(e.to_string()))?;
    let q = state.resources.queue("ShipmentsQueue")?;
    let report = pump::drain(
        aws,
        &q.url,
        &q.arn,
        Duration::from_secs(90),
        &options,
        |event, deadline| dispatch.handle_batch(event, deadline),
    )
    .await?;
    print_report("dispatch", &report);
    Ok(())
}

/// Run the carrier-callback handler on a local listener and have the carrier sandbox deliver
/// its tracking webhooks to it.
async fn send_webhooks(state: &StackState, aws: &AwsClients) -> Result<(), LocalError> {
    let config = orderseal_local::callback_config(&state.resources)?;
    let callback = std::sync::Arc::new(orderseal_carrier_callback::build(
        &config,
        aws.dynamodb.clone(),
        aws.secrets.clone(),
        orderseal_ingest::system_clock(),
    ));
    let (url, server) = orderseal_local::callbacks::serve(callback, 0).await?;
    let base_time = time::OffsetDateTime::now_utc() - time::Duration::hours(3);
    let plan = serde_json::json!({
        "duplicates": true, "shuffle_seed": 7, "forged": true, "stale": true, "retry_on_5xx": 2,
        "base_time": base_time.format(&time::format_description::well_known::Rfc3339).expect("time formats"),
    });
    let resp: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/_sandbox/webhooks/send", state.carrier_url))
        .json(&serde_json::json!({"baseUrl": url, "plan": plan}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| LocalError::Stack(format!("carrier sandbox: {e}")))?
        .json()
        .await
        .map_err(|e| LocalError::Stack(format!("carrier sandbox: {e}")))?;
    server.abort();
    let mut tally: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for d in resp["deliveries"].as_array().cloned().unwrap_or_default() {
        let kind = d["kind"].as_str().unwrap_or("?").to_owned();
        let status = d["http_status"]
            .as_u64()
            .or_else(|| d["httpStatus"].as_u64())
            .map(|s| s.to_string())
            .unwrap_or_else(|| "error".into());
        *tally.entry((kind, status)).or_default() += 1;
    }
    for ((kind, status), count) in tally {
        println!("   {count:>3} {kind:<10} webhooks answered {status}");
    }
    Ok(())
}

fn print_report(function: &str, report: &pump::PumpReport) {
    println!(
        "{function}: {} invocations, {} messages received, {} acknowledged, {} failed (retried after the visibility timeout), {} left in queue",
        report.invocations,
        report.received,
        report.acknowledged,
        report.failed,
        report.left_in_queue
    );
}

fn print_summary(item: &inspect::Item, pii: Option<&inspect::Item>) {
    let classes: Vec<&str> = pii
        .map(sealed_classes)
        .unwrap_or_default()
        .iter()
        .map(|c| c.as_str())
        .collect();
    let g = |k| inspect::s(item, k).unwrap_or("-");
    let expiry = orderseal::aws::ddb::get_n(item, "pii_expires_at")
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|t| t.date().to_string())
        .unwrap_or_else(|| "-".into());
    println!(
        "{:<15} {:<20} {:<8} {:<18} {:<22} {:<11} {:<6} {:<23} {:<10} {:<15} {}",
        g("seller_id"),
        g("order_id"),
        g("fulfilled_by"),
        g("fulfillment_status"),
        classes.join(","),
        expiry,
        g("carrier"),
        g("tracking_number"),
        g("dispatch_state"),
        g("tracking_status"),
        g("review_state"),
    );
}

async fn print_orders(state: &StackState, aws: &AwsClients) -> Result<(), LocalError> {
    let table = state.resources.table("OrdersTable")?;
    let all = inspect::scan_all(aws, table).await?;
    let pii: std::collections::HashMap<(String, String), &inspect::Item> = all
        .iter()
        .filter(|i| inspect::s(i, "sk") == Some(orderseal::layout::PII_SK))
        .filter_map(|i| Some((orderseal::layout::ids_of_pk(inspect::s(i, "pk")?)?, i)))
        .collect();
    let mut orders: Vec<_> = all
        .iter()
        .filter(|i| inspect::s(i, "sk") == Some(orderseal::layout::ORDER_SK))
        .collect();
    orders.sort_by(|a, b| {
        (inspect::s(a, "seller_id"), inspect::s(a, "order_id"))
            .cmp(&(inspect::s(b, "seller_id"), inspect::s(b, "order_id")))
    });
    println!(
        "{:<15} {:<20} {:<8} {:<18} {:<22} {:<11} {:<6} {:<23} {:<10} {:<15} FRAUD REVIEW",
        "SELLER",
        "ORDER",
        "BY",
        "STATUS",
        "SEALED PII",
        "PII EXPIRES",
        "CARRIER",
        "TRACKING",
        "AMAZON",
        "TRACKING STATUS"
    );
    for item in &orders {
        let ids = inspect::s(item, "pk").and_then(orderseal::layout::ids_of_pk);
        print_summary(item, ids.and_then(|k| pii.get(&k).copied()));
    }
    let dlq = &state.resources.queue("NotificationsDlq")?.url;
    let (dlq_visible, _) = pump::depth(aws, dlq).await?;
    let shipments = &state.resources.queue("ShipmentsQueue")?.url;
    let (ship_visible, _) = pump::depth(aws, shipments).await?;
    println!(
        "{} orders; shipment requests queued: {ship_visible}; notifications quarantined in the DLQ: {dlq_visible}",
        orders.len()
    );
    Ok(())
}

/// The ids of the orders whose sealed PII is live (past its expiry counts as erased), sorted;
/// `held`: of those, the ones held for fraud review.
async fn print_ids(
    state: &StackState,
    aws: &AwsClients,
    held: bool,
    seller: Option<&str>,
) -> Result<(), LocalError> {
    let table = state.resources.table("OrdersTable")?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut ids: Vec<String> = inspect::scan_all(aws, table)
        .await?
        .iter()
        .filter(|i| inspect::s(i, "sk") == Some(orderseal::layout::ORDER_SK))
        .filter(|i| !i.contains_key("pii_erased_at") && i.contains_key("pii_written_ms"))
        .filter(|i| orderseal::aws::ddb::get_n(i, "pii_expires_at").is_some_and(|t| t > now))
        .filter(|i| {
            !held || inspect::s(i, "review_state") == Some(orderseal::fraud::HELD_FOR_REVIEW)
        })
        .filter(|i| seller.is_none_or(|s| inspect::s(i, "seller_id") == Some(s)))
        .filter_map(|i| inspect::s(i, "order_id").map(str::to_owned))
        .collect();
    ids.sort();
    for id in ids {
        println!("{id}");
    }
    Ok(())
}

/// `+<days>d` from `now`, or an RFC 3339 time.
fn parse_at(a: &str, now: time::OffsetDateTime) -> Result<time::OffsetDateTime, LocalError> {
    if let Some(days) = a.strip_prefix('+').and_then(|d| d.strip_suffix('d')) {
        let days: i64 = days
            .parse()
            .map_err(|_| LocalError::Stack(format!("--at {a:?}: expected +<days>d")))?;
        return Ok(now + time::Duration::days(days));
    }
    time::OffsetDateTime::parse(a, &time::format_description::well_known::Rfc3339)
        .map_err(|_| LocalError::Stack(format!("--at {a:?}: expected RFC 3339 or +<days>d")))
}
