//! The carrier-callback handler behind a local HTTP listener, as the HTTP API would invoke it:
//! `POST /webhooks/{carrier}` with the raw body and headers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use orderseal_carrier_callback::LambdaCallback;

/// Serve `callback` on 127.0.0.1 (`port` 0 = any). Returns the base URL and the server task.
pub async fn serve(
    callback: Arc<LambdaCallback>,
    port: u16,
) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/webhooks/{carrier}", post(receive))
        .with_state(callback);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{addr}"), task))
}

async fn receive(
    State(callback): State<Arc<LambdaCallback>>,
    Path(carrier): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let status = callback.handle(&carrier, &headers, &body).await;
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
