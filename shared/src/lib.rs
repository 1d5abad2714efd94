//! orderseal core crate.
//!
//! Everything a function needs that is not wiring: the domain (orders, PII classes),
//! parsing of SP-API notifications and Orders API responses, envelope sealing of PII,
//! the order store, idempotency, and the SP-API client. Ports are traits; the AWS and HTTP
//! adapters sit behind cargo features so each function compiles only the clients it uses.

pub mod access;
#[cfg(feature = "access-client")]
pub mod access_client;
pub mod audit;
#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "lambda")]
pub mod batch;
pub mod carriers;
pub mod classes;
pub mod clock;
pub mod config;
pub mod dispatch;
#[cfg(feature = "fakes")]
pub mod fakes;
pub mod fraud;
pub mod idempotency;
pub mod layout;
pub mod mapping;
#[cfg(feature = "dynamodb")]
pub mod migrate;
pub mod notification;
pub mod order;
pub mod pii;
pub mod quarantine;
pub mod retention;
pub mod returns;
pub mod seal;
pub mod secret;
pub mod sellers;
pub mod shipments;
pub mod spapi;
pub mod store;
pub mod subscriptions;
#[cfg(feature = "telemetry")]
pub mod telemetry;
pub mod tracking;
