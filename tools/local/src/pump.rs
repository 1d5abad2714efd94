//! Plays the Lambda event source mapping: receive a batch from a queue, invoke the handler
//! with it as an `SqsEvent`, delete what succeeded, leave the reported failures to reappear
//! after the visibility timeout (and, past `maxReceiveCount`, to be redriven to the DLQ).

use std::future::Future;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use crate::{AwsClients, LocalError, REGION};

#[derive(Debug, Clone)]
pub struct PumpOptions {
    pub batch_size: i32,
    /// Stop after this long in total.
    pub max_time: Duration,
    /// When only in-flight (invisible) messages remain, wait this long for them to come back.
    pub settle: Duration,
}

impl Default for PumpOptions {
    fn default() -> Self {
        Self {
            batch_size: 10,
            max_time: Duration::from_secs(120),
            settle: Duration::from_secs(0),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PumpReport {
    pub invocations: usize,
    pub received: usize,
    pub acknowledged: usize,
    pub failed: usize,
    /// Messages still in the queue (visible or in flight) when the pump stopped.
    pub left_in_queue: usize,
}

/// Drain `queue_url` through `handler` (the function's handler, given a batch and a deadline).
pub async fn drain<F, Fut, E>(
    aws: &AwsClients,
    queue_url: &str,
    queue_arn: &str,
    function_timeout: Duration,
    options: &PumpOptions,
    handler: F,
) -> Result<PumpReport, LocalError>
where
    F: Fn(SqsEvent, Instant) -> Fut,
    Fut: Future<Output = Result<SqsBatchResponse, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let mut report = PumpReport::default();
    let mut settling_since: Option<Instant> = None;
    while started.elapsed() < options.max_time {
        let out = aws
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(options.batch_size)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| LocalError::aws("ReceiveMessage", &e))?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            let (visible, in_flight) = depth(aws, queue_url).await?;
            report.left_in_queue = visible + in_flight;
            if visible + in_flight == 0 {
                break;
            }
            let since = *settling_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= options.settle {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        settling_since = None;
        report.received += messages.len();
        let mut records = Vec::with_capacity(messages.len());
        let mut receipts = Vec::with_capacity(messages.len());
        for m in messages {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(queue_arn.to_owned());
            record.aws_region = Some(REGION.into());
            if let Some(attrs) = &m.attributes {
                for (k, v) in attrs {
                    record.attributes.insert(k.as_str().to_owned(), v.clone());
                }
            }
            receipts.push((
                m.message_id.unwrap_or_default(),
                m.receipt_handle.unwrap_or_default(),
            ));
            records.push(record);
        }
        let mut event = SqsEvent::default();
        event.records = records;
        report.invocations += 1;
        let failed: Vec<String> = match handler(event, Instant::now() + function_timeout).await {
            Ok(resp) => resp
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "invocation failed: the whole batch returns to the queue");
                receipts.iter().map(|(id, _)| id.clone()).collect()
            }
        };
        for (id, receipt) in receipts {
            if failed.contains(&id) {
                report.failed += 1;
                continue;
            }
            aws.sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(receipt)
                .send()
                .await
                .map_err(|e| LocalError::aws("DeleteMessage", &e))?;
            report.acknowledged += 1;
        }
    }
    Ok(report)
}

/// (visible, in flight) message counts.
pub async fn depth(aws: &AwsClients, queue_url: &str) -> Result<(usize, usize), LocalError> {
    let attrs = aws
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| LocalError::aws("GetQueueAttributes", &e))?
        .attributes
        .unwrap_or_default();
    let get = |k: &QueueAttributeName| {
        attrs
            .get(k)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    };
    Ok((
        get(&QueueAttributeName::ApproximateNumberOfMessages),
        get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// Send a notification body as SP-API would (the body is the notification JSON itself).
pub async fn send(aws: &AwsClients, queue_url: &str, body: &str) -> Result<String, LocalError> {
    aws.sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| LocalError::aws("SendMessage", &e))
        .map(|o| o.message_id.unwrap_or_default())
}

/// Receive (and delete) every message of a queue: for inspecting the DLQ or shipments queue.
pub async fn take_all(
    aws: &AwsClients,
    queue_url: &str,
) -> Result<Vec<aws_sdk_sqs::types::Message>, LocalError> {
    let mut all = Vec::new();
    loop {
        let out = aws
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| LocalError::aws("ReceiveMessage", &e))?;
        let batch = out.messages.unwrap_or_default();
        if batch.is_empty() {
            return Ok(all);
        }
        for m in &batch {
            if let Some(r) = &m.receipt_handle {
                aws.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(r)
                    .send()
                    .await
                    .map_err(|e| LocalError::aws("DeleteMessage", &e))?;
            }
        }
        all.extend(batch);
    }
}
