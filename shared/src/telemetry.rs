//! Structured JSON logs for Lambda (CloudWatch), one object per line.
//!
//! Log fields are identifiers and outcomes only. PII cannot reach a log by accident: PII types
//! print `[redacted]`, and errors carry codes, never payload text.

use tracing_subscriber::EnvFilter;

/// Install the JSON subscriber; `RUST_LOG` sets the level (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}
