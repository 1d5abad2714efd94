//! Lambda entry point on the order table's stream (filtered to new `AUDITLOG#` items): one
//! line per audit event into the audit log group.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Event>| async move {
        let mirrored = orderseal_audit_log::mirror(&event.payload);
        let mut out = std::io::stdout().lock();
        for line in &mirrored.lines {
            use std::io::Write;
            writeln!(out, "{line}")?;
        }
        Ok::<_, Error>(serde_json::json!({
            "lines": mirrored.lines.len(),
            "skipped": mirrored.skipped,
            "unreadable": mirrored.unreadable,
        }))
    }))
    .await
}
