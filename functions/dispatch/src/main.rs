//! Lambda entry point: configuration and clients once per container, then the handler per event.
#![recursion_limit = "256"]

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

use orderseal_dispatch::{Clients, DispatchConfig, build};

const SAFETY_MARGIN: Duration = Duration::from_millis(1500);

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderseal::telemetry::init();
    let config = DispatchConfig::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let dispatch = build(
        config,
        Clients::from_conf(&sdk),
        std::sync::Arc::new(orderseal::clock::SystemClock),
    )
    .await?;
    let dispatch = &dispatch;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = orderseal::clock::instant_before(event.context.deadline(), SAFETY_MARGIN);
        let response: SqsBatchResponse = dispatch.handle_batch(event.payload, deadline).await?;
        Ok::<_, Error>(response)
    }))
    .await
}
