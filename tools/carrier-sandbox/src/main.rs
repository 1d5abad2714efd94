//! `carrier-sandbox`: runs the local carrier sandbox (EasyPost, Shippo, generic REST) on a
//! loopback address for the local demo.
//!
//! Prints the base URL on stdout, then logs one line per request on stderr (method, path, query
//! parameter names, status; never bodies). Stops on Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use carrier_sandbox::{
    CarrierSandboxConfig, DEFAULT_EASYPOST_API_KEY, DEFAULT_EASYPOST_WEBHOOK_SECRET,
    DEFAULT_GENERIC_API_KEY, DEFAULT_GENERIC_WEBHOOK_SECRET, DEFAULT_SHIPPO_TOKEN,
    DEFAULT_SHIPPO_WEBHOOK_SECRET,
};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Local stand-in for three carrier APIs (EasyPost v2, Shippo, a generic REST API): shipments,
/// rates and labels, signed tracking webhooks to a loopback receiver, with test controls under
/// /_sandbox.
#[derive(Parser)]
#[command(name = "carrier-sandbox", version)]
struct Args {
    /// Address to listen on; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:8478")]
    addr: SocketAddr,
    /// EasyPost API key to accept (Basic auth user name).
    #[arg(
        long,
        env = "CARRIER_SANDBOX_EASYPOST_API_KEY",
        default_value = DEFAULT_EASYPOST_API_KEY,
        hide_env_values = true,
        hide_default_value = true
    )]
    easypost_api_key: String,
    /// Shippo token to accept (`ShippoToken <token>`).
    #[arg(
        long,
        env = "CARRIER_SANDBOX_SHIPPO_TOKEN",
        default_value = DEFAULT_SHIPPO_TOKEN,
        hide_env_values = true,
        hide_default_value = true
    )]
    shippo_token: String,
    /// Generic REST API key to accept (`Bearer <key>`).
    #[arg(
        long,
        env = "CARRIER_SANDBOX_GENERIC_API_KEY",
        default_value = DEFAULT_GENERIC_API_KEY,
        hide_env_values = true,
        hide_default_value = true
    )]
    generic_api_key: String,
    /// Secret EasyPost webhooks are signed with (`X-Hmac-Signature`).
    #[arg(
        long,
        env = "CARRIER_SANDBOX_EASYPOST_WEBHOOK_SECRET",
        default_value = DEFAULT_EASYPOST_WEBHOOK_SECRET,
        hide_env_values = true,
        hide_default_value = true
    )]
    easypost_webhook_secret: String,
    /// Secret Shippo webhooks are signed with (`Shippo-Auth-Signature`).
    #[arg(
        long,
        env = "CARRIER_SANDBOX_SHIPPO_WEBHOOK_SECRET",
        default_value = DEFAULT_SHIPPO_WEBHOOK_SECRET,
        hide_env_values = true,
        hide_default_value = true
    )]
    shippo_webhook_secret: String,
    /// Standard Webhooks secret (`whsec_<base64>`) generic webhooks are signed with.
    #[arg(
        long,
        env = "CARRIER_SANDBOX_GENERIC_WEBHOOK_SECRET",
        default_value = DEFAULT_GENERIC_WEBHOOK_SECRET,
        hide_env_values = true,
        hide_default_value = true
    )]
    generic_webhook_secret: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        eprintln!(
            "carrier-sandbox: refusing to listen on {}: only loopback addresses are allowed",
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

    let config = CarrierSandboxConfig {
        easypost_api_key: args.easypost_api_key,
        shippo_token: args.shippo_token,
        generic_api_key: args.generic_api_key,
        easypost_webhook_secret: args.easypost_webhook_secret,
        shippo_webhook_secret: args.shippo_webhook_secret,
        generic_webhook_secret: args.generic_webhook_secret,
    };
    let sandbox = match carrier_sandbox::start(config, args.addr).await {
        Ok(sandbox) => sandbox,
        Err(error) => {
            eprintln!("carrier-sandbox: cannot listen on {}: {error}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    println!("{}", sandbox.base_url());
    tracing::info!(
        easypost = format!("{}/easypost/v2", sandbox.base_url()),
        shippo = format!("{}/shippo", sandbox.base_url()),
        generic = format!("{}/generic/v1", sandbox.base_url()),
        "carrier-sandbox ready"
    );
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::warn!(%error, "cannot wait for Ctrl-C; stopping");
    }
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}
