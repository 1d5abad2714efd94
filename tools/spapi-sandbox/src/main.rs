//! `spapi-sandbox`: runs the local SP-API sandbox on a loopback address for the local demo.
//!
//! Prints the base URL on stdout, then logs one line per request on stderr (method, path, query
//! parameter names, status; never bodies). Stops on Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use spapi_sandbox::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, DEFAULT_SELLER_ID,
    SandboxConfig, SellerAccount,
};
use tracing_subscriber::EnvFilter;

/// Local stand-in for Amazon's Selling Partner API: LWA tokens, Orders v2026-01-01 getOrder and
/// Orders v0 confirmShipment, with generated orders and test controls under /_sandbox.
#[derive(Parser)]
#[command(name = "spapi-sandbox", version)]
struct Args {
    /// Address to listen on; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:8477")]
    addr: SocketAddr,
    /// Seed for the generated orders.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of orders to generate.
    #[arg(long, default_value_t = 12)]
    orders: usize,
    /// Seller id the orders belong to.
    #[arg(long, default_value = DEFAULT_SELLER_ID)]
    seller_id: String,
    /// LWA client id to accept.
    #[arg(long, env = "SPAPI_SANDBOX_CLIENT_ID", default_value = DEFAULT_CLIENT_ID)]
    client_id: String,
    /// LWA client secret to accept.
    #[arg(
        long,
        env = "SPAPI_SANDBOX_CLIENT_SECRET",
        default_value = DEFAULT_CLIENT_SECRET,
        hide_env_values = true,
        hide_default_value = true
    )]
    client_secret: String,
    /// Refresh token to accept (repeatable).
    #[arg(long = "refresh-token", default_value = DEFAULT_REFRESH_TOKEN, hide_default_value = true)]
    refresh_tokens: Vec<String>,
    /// A further seller, `SELLER_ID=REFRESH_TOKEN`, with `--seller-orders` generated orders of
    /// its own (repeatable).
    #[arg(long = "seller", value_parser = parse_seller)]
    other_sellers: Vec<(String, String)>,
    /// Orders to generate for each `--seller`.
    #[arg(long, default_value_t = 4)]
    seller_orders: usize,
}

fn parse_seller(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((id, token)) if !id.is_empty() && !token.is_empty() => {
            Ok((id.to_owned(), token.to_owned()))
        }
        _ => Err("expected SELLER_ID=REFRESH_TOKEN".to_owned()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        eprintln!(
            "spapi-sandbox: refusing to listen on {}: only loopback addresses are allowed",
            args.addr
        );
        return ExitCode::from(2);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false)
        .init();

    let config = SandboxConfig {
        client_id: args.client_id,
        client_secret: args.client_secret,
        refresh_tokens: args.refresh_tokens,
        seed: args.seed,
        generated_orders: args.orders,
        seller_id: args.seller_id,
        other_sellers: args
            .other_sellers
            .into_iter()
            .map(|(seller_id, refresh_token)| SellerAccount {
                seller_id,
                refresh_token,
                generated_orders: args.seller_orders,
            })
            .collect(),
    };
    let sandbox = match spapi_sandbox::start(config, args.addr).await {
        Ok(sandbox) => sandbox,
        Err(error) => {
            eprintln!("spapi-sandbox: cannot listen on {}: {error}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    println!("{}", sandbox.base_url());
    tracing::info!(
        seller_id = sandbox.control().seller_id(),
        orders = sandbox.control().order_ids().len(),
        "spapi-sandbox ready"
    );
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::warn!(%error, "cannot wait for Ctrl-C; stopping");
    }
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}
