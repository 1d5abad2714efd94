//! Lambda entry point: configuration and clients once per container, then the handler per event.
#![recursion_limit = "256"]

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde::Deserialize;

use orderseal_ingest::reconcile::{self, ReconcileConfig};
use orderseal_ingest::{Clients, IngestConfig, build, reconcile_state, system_clock};

/// What invokes ingest: the notifications queue, or the reconcile schedule (its input is
/// `{"orderseal": "reconcile"}`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Event {
    Scheduled(Scheduled),
    Notifications(SqsEvent),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scheduled {
    orderseal: Job,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Job {
    Reconcile,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Response {
    Batch(SqsBatchResponse),
    Reconcile(reconcile::ReconcileReport),
}

/// Stop starting new work this long before the Lambda deadline.
const SAFETY_MARGIN: Duration = Duration::from_millis(1500);

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderseal::telemetry::init();
    let config = IngestConfig::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let clients = Clients::from_conf(&sdk);
    let state = reconcile_state(&config, &clients);
    let ingest = build(config, clients, system_clock())?;
    let (ingest, state) = (&ingest, &state);
    let reconcile_config = &ReconcileConfig::default();
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let deadline = orderseal::clock::instant_before(event.context.deadline(), SAFETY_MARGIN);
        match event.payload {
            Event::Notifications(batch) => {
                let response: SqsBatchResponse = ingest.handle_batch(batch, deadline).await?;
                Ok::<_, Error>(Response::Batch(response))
            }
            Event::Scheduled(Scheduled {
                orderseal: Job::Reconcile,
            }) => {
                let now = time::OffsetDateTime::now_utc();
                let report = reconcile::run(
                    ingest,
                    &ingest.orders,
                    state,
                    reconcile_config,
                    now,
                    deadline,
                )
                .await?;
                println!("{}", report.emf_line(orderseal::clock::unix_millis(now)));
                Ok(Response::Reconcile(report))
            }
        }
    }))
    .await
}
