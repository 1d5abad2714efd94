//! Lambda entry point behind an HTTP API: `POST /webhooks/{carrier}`.
#![recursion_limit = "256"]

use lambda_http::{Body, Error, Request, RequestExt, Response, run, service_fn};

use orderseal_carrier_callback::{CallbackConfig, build};

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderseal::telemetry::init();
    let config = CallbackConfig::from_lookup(|k| std::env::var(k).ok())?;
    let sdk = aws_config::load_from_env().await;
    let callback = build(
        &config,
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_secretsmanager::Client::new(&sdk),
        std::sync::Arc::new(orderseal::clock::SystemClock),
    );
    let callback = &callback;
    run(service_fn(move |req: Request| async move {
        let carrier = req
            .path_parameters()
            .first("carrier")
            .unwrap_or_default()
            .to_owned();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let status = callback
            .handle(&carrier, &headers, req.body().as_ref())
            .await;
        Ok::<_, Error>(Response::builder().status(status).body(Body::Empty)?)
    }))
    .await
}
