//! Lambda entry point: configuration and client once per container, then one sweep per
//! scheduled event (the event's body is not used).

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};

use orderseal::clock::SystemClock;
use orderseal::retention::dynamo::DynamoRetention;
use orderseal::retention::emf_line;
use orderseal_retention::{Retention, RetentionConfig};

/// Stop starting erasures this long before the Lambda deadline; the rest waits an hour.
const SAFETY_MARGIN: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderseal::telemetry::init();
    let config = RetentionConfig::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sellers = orderseal::sellers::DynamoSellers::new(dynamodb.clone(), &config.table);
    let retention = Retention {
        store: DynamoRetention::new(dynamodb, &config.table),
        clock: SystemClock,
        config,
    };
    let sellers = &sellers;
    let retention = &retention;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline =
                orderseal::clock::instant_before(event.context.deadline(), SAFETY_MARGIN);
            let report = retention.run(Some(deadline)).await?;
            // Metrics without an API call: CloudWatch reads this line from the log.
            println!(
                "{}",
                emf_line(
                    &report,
                    orderseal::clock::unix_millis(time::OffsetDateTime::now_utc())
                )
            );
            // The sellers' 12-month authorisations, checked with the sweep (the alarm's metric).
            match orderseal_retention::authorization_line(sellers, time::OffsetDateTime::now_utc())
                .await
            {
                Ok(line) => println!("{line}"),
                Err(e) => tracing::warn!(error = %e, "seller registry not read: no authorisation metric this hour"),
            }
            if let Some(error) = &report.aborted {
                // Counted and recorded above; failing the invocation raises the error alarm and
                // has the scheduler retry.
                return Err(Error::from(format!("retention sweep ended early: {error}")));
            }
            Ok::<_, Error>(serde_json::json!({
                "erased": report.erased,
                "overdue": report.overdue,
                "complete": report.complete,
            }))
        },
    ))
    .await
}
