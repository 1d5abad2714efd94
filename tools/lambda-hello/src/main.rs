//! The baseline of `orderseal-local coldstart`: the least a Rust Lambda on `lambda_runtime`
//! does before it asks for its first event (a tokio runtime, the runtime client), so that a
//! function's init is reported as a ratio to it.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
