//! SQS partial batch responses, the way every orderseal function answers its event source:
//! every message is attempted in its own span; only the failed ids are reported; a failed
//! message without an id fails the whole batch (an empty item identifier would anyway); and when
//! every message failed the invocation errors, so Lambda retries the batch.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::{Instrument, info_span};

#[derive(Debug, thiserror::Error)]
#[error("all {0} messages of the batch failed")]
pub struct BatchFailed(pub usize);

pub async fn for_each_message<F, Fut, T, E>(
    event: SqsEvent,
    mut handle: F,
) -> Result<SqsBatchResponse, BatchFailed>
where
    F: FnMut(SqsMessage) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let total = event.records.len();
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let span = info_span!("message", message_id = %id);
        if handle(message).instrument(span).await.is_err() {
            if id.is_empty() {
                return Err(BatchFailed(total));
            }
            response.add_failure(id);
        }
    }
    if total > 0 && response.batch_item_failures.len() == total {
        return Err(BatchFailed(total));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ids: &[&str]) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = ids
            .iter()
            .map(|id| {
                let mut m = SqsMessage::default();
                m.message_id = Some((*id).to_owned());
                m.body = Some((*id).to_owned());
                m
            })
            .collect();
        e
    }

    async fn fail_on_b(m: SqsMessage) -> Result<(), ()> {
        if m.body.as_deref().unwrap_or("").starts_with('b') {
            Err(())
        } else {
            Ok(())
        }
    }

    #[tokio::test]
    async fn only_failed_ids_are_reported_and_all_failed_errors() {
        let r = for_each_message(event(&["a1", "b1", "a2"]), fail_on_b)
            .await
            .unwrap();
        let ids: Vec<_> = r
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["b1"]);
        assert!(matches!(
            for_each_message(event(&["b1", "b2"]), fail_on_b).await,
            Err(BatchFailed(2))
        ));
        assert!(
            for_each_message(event(&[]), fail_on_b)
                .await
                .unwrap()
                .batch_item_failures
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_failure_without_an_id_fails_the_batch() {
        let mut e = event(&["a1", "b1"]);
        e.records[1].message_id = None;
        assert!(for_each_message(e, fail_on_b).await.is_err());
    }
}
