//! Lambda entry point behind the pii-access HTTP API (IAM authorisation):
//! `GET /{purpose}/orders/{seller}/{order}`. One deployment of this binary per purpose.
#![recursion_limit = "256"]

use lambda_http::{Body, Error, Request, Response, run, service_fn};

use orderseal_pii_access::{AccessConfig, build, call_of, canary_emf_line};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderseal::telemetry::init();
    let config = AccessConfig::from_lookup(|k| std::env::var(k).ok())?;
    let purpose = config.purpose;
    let sdk = aws_config::load_from_env().await;
    let access = build(
        config,
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_kms::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
        std::sync::Arc::new(orderseal::clock::SystemClock),
    );
    let access = &access;
    run(service_fn(move |req: Request| async move {
        let reply = access.handle(call_of(&req)).await;
        if reply.canary {
            let now = time::OffsetDateTime::now_utc();
            println!(
                "{}",
                canary_emf_line(purpose, (now.unix_timestamp_nanos() / 1_000_000) as i64)
            );
        }
        let body = String::from_utf8(reply.body.to_vec()).unwrap_or_default();
        Ok::<_, Error>(
            Response::builder()
                .status(reply.status)
                .header("content-type", "application/json")
                .header("cache-control", "no-store")
                .body(Body::Text(body))?,
        )
    }))
    .await
}
