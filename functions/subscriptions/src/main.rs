//! Lambda entry point behind the IAM-authorised API: `POST|GET /ops/subscriptions`,
//! `DELETE /ops/subscriptions/{seller}` (the operators' role only).
#![recursion_limit = "256"]

use std::time::Duration;

use lambda_http::{Body, Error, Request, RequestExt, Response, run, service_fn};

use orderseal_subscriptions::{SubscriptionsConfig, build};

/// Answer this long before the Lambda deadline.
const SAFETY_MARGIN: Duration = Duration::from_millis(1500);

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderseal::telemetry::init();
    let config = SubscriptionsConfig::from_lookup(|k| std::env::var(k).ok())?;
    let sdk = aws_config::load_from_env().await;
    let subscriptions = build(
        config,
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_secretsmanager::Client::new(&sdk),
    )?;
    let subscriptions = &subscriptions;
    run(service_fn(move |req: Request| async move {
        let deadline =
            orderseal::clock::instant_before(req.lambda_context().deadline(), SAFETY_MARGIN);
        let call = orderseal_pii_access::call_of(&req);
        let reply = subscriptions.handle(call, deadline).await;
        Ok::<_, Error>(
            Response::builder()
                .status(reply.status)
                .header("content-type", "application/json")
                .header("cache-control", "no-store")
                .body(Body::Text(reply.body))?,
        )
    }))
    .await
}
