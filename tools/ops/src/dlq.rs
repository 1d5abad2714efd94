//! `orderseal dlq list|replay`: what is parked in the notifications and shipments DLQs, and
//! bringing it back once its cause is fixed.
//!
//! A message in a DLQ was either quarantined at once by the function (its reason in the
//! `orderseal-reason` attribute: it could never succeed as it stood) or redriven by SQS after
//! `maxReceiveCount` failed attempts (`retries_exhausted`). Listing receives every message
//! with a visibility hold (so none is counted twice), reports ids, reasons and ages — never a
//! body, which for a malformed message may hold anything — and makes them visible again.
//!
//! Replay sends each selected message, whole, to the queue it came from, then deletes it from
//! the DLQ: at least once, and the functions make a repeat harmless (ingest dedupes on the
//! NotificationId and keeps the newer order version; dispatch resumes from the order's state
//! and buys a label under one idempotency key). A shipment request re-arms the order's
//! `ship_req` first (PENDING, then SENT once sent), so a replay stopped in between is repaired
//! by the order's next notification; an order already confirmed has nothing left to ship and
//! its request is only deleted (`settled`). Sends are paced (`--rate`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName};
use serde::Serialize;
use time::OffsetDateTime;

use orderseal::notification::{self, Notification};
use orderseal::quarantine::{REASON_ATTRIBUTE, is_marker};
use orderseal::shipments::ShipmentRequestMessage;
use orderseal::store::{DynamoOrderStore, OrderStore};

/// The reason of a message SQS moved after its failed attempts (no reason attribute).
pub const RETRIES_EXHAUSTED: &str = "retries_exhausted";

/// Which DLQ, and so what its messages are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// SP-API notifications ingest could not process.
    Notifications,
    /// Shipment requests dispatch could not process.
    Shipments,
}

/// One parked message: ids and reasons, never its body.
#[derive(Clone, Serialize)]
pub struct Entry {
    pub message_id: String,
    pub reason: String,
    /// Receives so far (in the source queue and here).
    pub receives: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    pub seller_id: Option<String>,
    pub order_id: Option<String>,
    pub notification_id: Option<String>,
    /// Why it cannot be replayed, if it cannot.
    pub not_replayable: Option<&'static str>,
    #[serde(skip)]
    receipt: String,
    #[serde(skip)]
    body: String,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("message_id", &self.message_id)
            .field("reason", &self.reason)
            .field("order_id", &self.order_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("SQS {operation} failed: {code}")]
    Sqs {
        operation: &'static str,
        code: String,
    },
    #[error(transparent)]
    Store(#[from] orderseal::store::StoreError),
    #[error("not replayable: {0}")]
    NotReplayable(&'static str),
    #[error("a shipment replay needs the orders table (--table or ORDERSEAL_TABLE)")]
    NoTable,
}

fn sqs_error<E: aws_sdk_sqs::error::ProvideErrorMetadata, R>(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_sqs::error::SdkError<E, R>) -> DlqError {
    move |e| DlqError::Sqs {
        operation,
        code: orderseal::aws::error_code(&e),
    }
}

/// A DLQ and the queue its messages go back to.
pub struct Dlq {
    pub kind: Kind,
    pub client: Client,
    pub dlq_url: String,
    pub source_url: String,
}

/// The messages read by one run, held invisible until [`Dlq::release`].
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<Entry>,
}

impl Listing {
    /// Counts by reason.
    pub fn by_reason(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for e in &self.entries {
            *out.entry(e.reason.as_str()).or_default() += 1;
        }
        out
    }
}

/// What a replay did.
#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    /// Sent back to their queue and deleted from the DLQ.
    pub replayed: usize,
    /// Shipment requests for orders confirmed already (or unknown): deleted, nothing sent.
    pub settled: usize,
    /// Selected but not replayable (kept), by message id with why.
    pub kept: Vec<(String, &'static str)>,
    /// Selected, but a call failed (kept; visible again after the hold), by message id.
    pub failed: Vec<(String, String)>,
    /// Not selected by the filter (kept).
    pub unselected: usize,
    pub dry_run: bool,
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Only messages with this reason (`retries_exhausted` for those SQS redrove).
    pub reason: Option<String>,
    /// Only this order's messages.
    pub order_id: Option<String>,
    /// At most this many.
    pub max: usize,
    /// Messages sent per second.
    pub rate: f64,
    pub dry_run: bool,
}

impl ReplayOptions {
    fn selects(&self, e: &Entry) -> bool {
        self.reason.as_deref().is_none_or(|r| r == e.reason)
            && self
                .order_id
                .as_deref()
                .is_none_or(|o| e.order_id.as_deref() == Some(o))
    }
}

impl Dlq {
    /// Receive up to `max` messages, each once, holding them invisible for `hold`.
    pub async fn read(&self, max: usize, hold: Duration) -> Result<Listing, DlqError> {
        let mut listing = Listing::default();
        let mut seen: HashMap<String, usize> = HashMap::new();
        while listing.entries.len() < max {
            let batch = (max - listing.entries.len()).min(10) as i32;
            let out = self
                .client
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(batch)
                .visibility_timeout(hold.as_secs().clamp(1, 43_200) as i32)
                .wait_time_seconds(1)
                .message_attribute_names(REASON_ATTRIBUTE)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .map_err(sqs_error("ReceiveMessage"))?;
            let messages = out.messages.unwrap_or_default();
            let mut new = 0;
            for m in messages {
                let (Some(id), Some(receipt)) = (m.message_id.clone(), m.receipt_handle.clone())
                else {
                    continue;
                };
                if let Some(&at) = seen.get(&id) {
                    // The hold ran out and it came round again: keep the newest receipt.
                    listing.entries[at].receipt = receipt;
                    continue;
                }
                new += 1;
                seen.insert(id.clone(), listing.entries.len());
                listing.entries.push(self.entry(id, receipt, &m));
            }
            if new == 0 {
                break;
            }
        }
        Ok(listing)
    }

    fn entry(&self, message_id: String, receipt: String, m: &aws_sdk_sqs::types::Message) -> Entry {
        let system = m.attributes.as_ref();
        let sys = |k: MessageSystemAttributeName| system.and_then(|a| a.get(&k)).cloned();
        let reason = m
            .message_attributes
            .as_ref()
            .and_then(|a| a.get(REASON_ATTRIBUTE))
            .and_then(|v| v.string_value.clone())
            .unwrap_or_else(|| RETRIES_EXHAUSTED.to_owned());
        let body = m.body.clone().unwrap_or_default();
        let mut entry = Entry {
            message_id,
            reason,
            receives: sys(MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            sent_at: sys(MessageSystemAttributeName::SentTimestamp)
                .and_then(|v| v.parse::<i128>().ok())
                .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok()),
            seller_id: None,
            order_id: None,
            notification_id: None,
            not_replayable: None,
            receipt,
            body: String::new(),
        };
        if is_marker(&body) {
            entry.not_replayable = Some("over_size_limit_body_not_kept");
        } else {
            match self.kind {
                Kind::Notifications => {
                    if let Ok(Notification::OrderChange(n)) = notification::parse(&body) {
                        entry.notification_id = Some(n.metadata.notification_id.clone());
                        entry.seller_id = Some(n.payload.seller_id.clone());
                        entry.order_id = Some(n.payload.amazon_order_id.clone());
                    }
                }
                Kind::Shipments => match serde_json::from_str::<ShipmentRequestMessage>(&body) {
                    Ok(r) => {
                        entry.seller_id = Some(r.seller_id);
                        entry.order_id = Some(r.order_id);
                    }
                    Err(_) => entry.not_replayable = Some("not_a_shipment_request"),
                },
            }
        }
        entry.body = body;
        entry
    }

    /// Make these messages visible again at once.
    pub async fn release<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a Entry>,
    ) -> Result<(), DlqError> {
        let entries: Vec<&Entry> = entries.into_iter().collect();
        for chunk in entries.chunks(10) {
            let batch = chunk
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .receipt_handle(&e.receipt)
                        .visibility_timeout(0)
                        .build()
                        .expect("id and receipt are set")
                })
                .collect::<Vec<_>>();
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.dlq_url)
                .set_entries(Some(batch))
                .send()
                .await
                .map_err(sqs_error("ChangeMessageVisibilityBatch"))?;
        }
        Ok(())
    }

    /// Replay what `listing` holds and `options` select; everything else is released.
    /// `progress` is told of every selected message done.
    pub async fn replay(
        &self,
        listing: &Listing,
        orders: Option<&DynamoOrderStore>,
        options: &ReplayOptions,
        mut progress: impl FnMut(&Entry),
    ) -> Result<ReplayReport, DlqError> {
        let mut report = ReplayReport {
            dry_run: options.dry_run,
            ..ReplayReport::default()
        };
        let mut keep: Vec<&Entry> = Vec::new();
        let mut selected = 0usize;
        let period = Duration::from_secs_f64(1.0 / options.rate.clamp(0.01, 100.0));
        let mut pace = tokio::time::interval(period);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for e in &listing.entries {
            if !options.selects(e) || selected >= options.max {
                report.unselected += 1;
                keep.push(e);
                continue;
            }
            selected += 1;
            if let Some(why) = e.not_replayable {
                report.kept.push((e.message_id.clone(), why));
                keep.push(e);
            } else if options.dry_run {
                report.replayed += 1;
                keep.push(e);
            } else {
                pace.tick().await;
                match self.replay_one(e, orders).await {
                    Ok(true) => report.replayed += 1,
                    Ok(false) => report.settled += 1,
                    Err(err) => {
                        report.failed.push((e.message_id.clone(), err.to_string()));
                        keep.push(e);
                    }
                }
            }
            progress(e);
        }
        self.release(keep).await?;
        Ok(report)
    }

    /// `true`: sent back; `false`: settled (nothing left to do), deleted only.
    async fn replay_one(
        &self,
        e: &Entry,
        orders: Option<&DynamoOrderStore>,
    ) -> Result<bool, DlqError> {
        let shipment = match self.kind {
            Kind::Notifications => None,
            Kind::Shipments => {
                let (Some(seller), Some(order)) = (&e.seller_id, &e.order_id) else {
                    return Err(DlqError::NotReplayable("not_a_shipment_request"));
                };
                let orders = orders.ok_or(DlqError::NoTable)?;
                if !orders.rearm_shipment(seller, order).await? {
                    self.delete(e).await?;
                    return Ok(false);
                }
                Some((orders, seller, order))
            }
        };
        self.client
            .send_message()
            .queue_url(&self.source_url)
            .message_body(&e.body)
            .send()
            .await
            .map_err(sqs_error("SendMessage"))?;
        if let Some((orders, seller, order)) = shipment {
            orders.mark_shipment_sent(seller, order).await?;
        }
        self.delete(e).await?;
        Ok(true)
    }

    async fn delete(&self, e: &Entry) -> Result<(), DlqError> {
        self.client
            .delete_message()
            .queue_url(&self.dlq_url)
            .receipt_handle(&e.receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(sqs_error("DeleteMessage"))
    }
}

/// `orderseal dlq list` as a table: one line per message, then the counts by reason.
pub fn render_listing(kind: Kind, listing: &Listing) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<38} {:<32} {:>8} {:<24} ORDER",
        "MESSAGE", "REASON", "RECEIVES", "SENT"
    );
    for e in &listing.entries {
        let sent = e
            .sent_at
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<38} {:<32} {:>8} {:<24} {}{}",
            e.message_id,
            e.reason,
            e.receives,
            sent,
            e.order_id.as_deref().unwrap_or("-"),
            e.not_replayable
                .map(|w| format!(" (not replayable: {w})"))
                .unwrap_or_default()
        );
    }
    let kind = match kind {
        Kind::Notifications => "notifications",
        Kind::Shipments => "shipment requests",
    };
    let _ = writeln!(out, "{} {kind} parked", listing.entries.len());
    for (reason, n) in listing.by_reason() {
        let _ = writeln!(out, "  {reason}: {n}");
    }
    out
}
