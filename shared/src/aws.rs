//! Small helpers shared by the AWS adapters: error codes without payloads, and a request
//! counter that benches and tests attach to SDK clients to count AWS calls per operation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[cfg(feature = "record")]
pub mod record;

/// A short, value-free description of an SDK failure: the service error code, or the kind of
/// transport failure. Service messages are left out: they can echo request content.
pub fn error_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(se) => se.err().code().unwrap_or("ServiceError").to_owned(),
        SdkError::TimeoutError(_) => "Timeout".to_owned(),
        SdkError::DispatchFailure(_) => "DispatchFailure".to_owned(),
        SdkError::ResponseError(_) => "ResponseError".to_owned(),
        SdkError::ConstructionFailure(_) => "ConstructionFailure".to_owned(),
        _ => "Unknown".to_owned(),
    }
}

/// Counts every request an SDK client transmits (retries included), keyed `Service.Operation`.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().expect("counter lock").clone()
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    pub fn reset(&self) {
        self.counts.lock().expect("counter lock").clear();
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown".to_owned());
        *self
            .counts
            .lock()
            .expect("counter lock")
            .entry(name)
            .or_default() += 1;
        Ok(())
    }
}

/// DynamoDB attribute shorthands shared by the table adapters.
#[cfg(feature = "dynamodb")]
pub mod ddb {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    /// What an `UpdateItem` send returns.
    pub type UpdateResult = Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::update_item::UpdateItemError,
            aws_smithy_runtime_api::http::Response,
        >,
    >;

    pub fn s(v: impl Into<String>) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    /// A string attribute of an item.
    pub fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, k: &str) -> Option<&'a str> {
        item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
    }

    /// A whole-number attribute of an item.
    pub fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> Option<i64> {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
    }

    /// A projection of `attrs` through expression attribute names (any may be a reserved
    /// word): the expression and its names.
    pub fn aliased_projection(attrs: &[&str]) -> (String, HashMap<String, String>) {
        let names = attrs
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("#p{i}"), (*a).to_owned()))
            .collect();
        let projection = (0..attrs.len())
            .map(|i| format!("#p{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        (projection, names)
    }

    pub fn n(v: impl ToString) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    /// The per-item cancellation codes of a failed transaction, in request order
    /// (`None` for an item without a code). Read from the structured reasons, or from the
    /// message's `[None, ConditionalCheckFailed]` list where a service sends only that.
    pub fn cancellation_reasons<R>(
        e: &super::SdkError<
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
            R,
        >,
    ) -> Vec<Option<String>> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        let Some(E::TransactionCanceledException(c)) = e.as_service_error() else {
            return Vec::new();
        };
        if !c.cancellation_reasons().is_empty() {
            return c
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().filter(|c| *c != "None").map(str::to_owned))
                .collect();
        }
        let message = c.message().unwrap_or_default();
        match (message.rfind('['), message.rfind(']')) {
            (Some(open), Some(close)) if open < close => message[open + 1..close]
                .split(',')
                .map(|code| Some(code.trim()).filter(|c| *c != "None" && !c.is_empty()))
                .map(|c| c.map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every item of partition `pk` (a registry such as `HOLDS`), consistently, all pages.
    pub async fn partition_items(
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        pk: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, crate::store::StoreError> {
        let mut items = Vec::new();
        let mut pages = client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(pk))
            .consistent_read(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("Query", &e))?;
            items.extend(page.items.unwrap_or_default());
        }
        Ok(items)
    }

    /// The outcome of a conditional write: `Ok(true)` applied, `Ok(false)` refused by its
    /// condition, any other failure as a [`crate::store::StoreError`].
    pub fn applied<O, E: super::ProvideErrorMetadata, R>(
        operation: &'static str,
        result: Result<O, super::SdkError<E, R>>,
    ) -> Result<bool, crate::store::StoreError> {
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .and_then(|se| se.code())
                    .is_some_and(|c| c == "ConditionalCheckFailedException") =>
            {
                Ok(false)
            }
            Err(e) => Err(store_error(operation, &e)),
        }
    }

    /// A table failure as a [`crate::store::StoreError`], code only.
    pub fn store_error<E: super::ProvideErrorMetadata, R>(
        operation: &'static str,
        e: &super::SdkError<E, R>,
    ) -> crate::store::StoreError {
        crate::store::StoreError::Service {
            operation,
            code: super::error_code(e),
        }
    }
}
