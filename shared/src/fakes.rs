//! In-memory fakes of the ports, with the same semantics as the real adapters (which are tested
//! against the emulator). For unit tests of handlers: no network, scripted failures.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use crate::clock::unix_millis;
use crate::idempotency::{Acquire, IdempotencyError, IdempotencyStore, Lease};
use crate::order::OrderRecord;
use crate::shipments::{QueueError, ShipmentQueue, ShipmentRequestMessage};
use crate::spapi::model::GetOrderResponse;
use crate::spapi::{OrderSource, SpApiError};
use crate::store::{OrderStore, SealedPii, ShipmentRequest, StoreError, WriteOutcome};

/// A stored order as the fake keeps it.
#[derive(Debug, Clone)]
pub struct StoredOrder {
    pub record: OrderRecord,
    pub sealed: SealedPii,
    pub shipment: Option<ShipmentRequest>,
}

/// Orders keyed by (seller, order) with the newer-wins condition of the DynamoDB adapter.
#[derive(Debug, Default)]
pub struct InMemoryOrderStore {
    pub orders: Mutex<BTreeMap<(String, String), StoredOrder>>,
}

impl OrderStore for InMemoryOrderStore {
    async fn upsert_if_newer(
        &self,
        record: &OrderRecord,
        sealed: &SealedPii,
        _now: time::OffsetDateTime,
    ) -> Result<WriteOutcome, StoreError> {
        let mut orders = self.orders.lock().unwrap();
        let key = (record.seller_id.clone(), record.order_id.clone());
        if let Some(stored) = orders.get(&key)
            && unix_millis(stored.record.last_updated) >= unix_millis(record.last_updated)
        {
            return Ok(WriteOutcome::Unchanged {
                shipment: stored.shipment,
                stored_needs_shipment: stored.record.needs_shipment(),
                label_to_void: false,
            });
        }
        let previous = orders.get(&key).and_then(|s| s.shipment);
        let shipment = if record.needs_shipment() {
            previous.or(Some(ShipmentRequest::Pending))
        } else {
            previous
        };
        orders.insert(
            key,
            StoredOrder {
                record: record.clone(),
                sealed: sealed.clone(),
                shipment,
            },
        );
        Ok(WriteOutcome::Written {
            shipment,
            label_to_void: false,
        })
    }

    async fn mark_shipment_sent(&self, seller_id: &str, order_id: &str) -> Result<(), StoreError> {
        let mut orders = self.orders.lock().unwrap();
        if let Some(o) = orders.get_mut(&(seller_id.to_owned(), order_id.to_owned()))
            && o.shipment == Some(ShipmentRequest::Pending)
        {
            o.shipment = Some(ShipmentRequest::Sent);
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Record {
    hash: String,
    completed: Option<String>,
    in_progress_until_ms: i64,
    expires_s: i64,
}

/// Idempotency records with the DynamoDB adapter's conditions.
#[derive(Debug, Default)]
pub struct InMemoryIdempotencyStore {
    records: Mutex<HashMap<String, Record>>,
}

impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn acquire(&self, lease: &Lease) -> Result<Acquire, IdempotencyError> {
        let mut records = self.records.lock().unwrap();
        let now_ms = unix_millis(lease.now);
        if let Some(r) = records.get(&lease.notification_id) {
            let expired = r.expires_s < lease.now.unix_timestamp();
            let abandoned = r.completed.is_none() && r.in_progress_until_ms < now_ms;
            if !expired && !abandoned {
                return Ok(if r.hash != lease.payload_hash {
                    Acquire::PayloadMismatch
                } else if let Some(outcome) = &r.completed {
                    Acquire::Completed {
                        outcome: Some(outcome.clone()),
                    }
                } else {
                    Acquire::InProgress
                });
            }
        }
        records.insert(
            lease.notification_id.clone(),
            Record {
                hash: lease.payload_hash.clone(),
                completed: None,
                in_progress_until_ms: unix_millis(lease.in_progress_until),
                expires_s: (lease.now + lease.expires_after).unix_timestamp(),
            },
        );
        Ok(Acquire::Acquired)
    }

    async fn complete(&self, lease: &Lease, outcome: &str) -> Result<(), IdempotencyError> {
        if let Some(r) = self.records.lock().unwrap().get_mut(&lease.notification_id) {
            r.completed = Some(outcome.to_owned());
        }
        Ok(())
    }

    async fn release(&self, lease: &Lease) -> Result<(), IdempotencyError> {
        let mut records = self.records.lock().unwrap();
        if records
            .get(&lease.notification_id)
            .is_some_and(|r| r.completed.is_none() && r.hash == lease.payload_hash)
        {
            records.remove(&lease.notification_id);
        }
        Ok(())
    }
}

/// A shipments queue that records what it was sent and fails on demand.
#[derive(Debug, Default)]
pub struct RecordingQueue {
    pub sent: Mutex<Vec<ShipmentRequestMessage>>,
    pub fail_next: Mutex<u32>,
}

impl ShipmentQueue for RecordingQueue {
    async fn send(&self, message: &ShipmentRequestMessage) -> Result<(), QueueError> {
        let mut fail = self.fail_next.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return Err(QueueError {
                code: "InjectedFailure".into(),
            });
        }
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}

/// getOrder answers scripted per order id: a queue of results, then the last one repeats.
#[derive(Debug, Default)]
pub struct ScriptedOrders {
    pub script: Mutex<HashMap<String, VecDeque<Result<String, SpApiError>>>>,
    pub calls: Mutex<u32>,
    /// The datasets each call asked for, in order.
    pub asked: Mutex<Vec<&'static [crate::spapi::IncludedData]>>,
}

impl ScriptedOrders {
    pub fn answer(&self, order_id: &str, result: Result<String, SpApiError>) {
        self.script
            .lock()
            .unwrap()
            .entry(order_id.to_owned())
            .or_default()
            .push_back(result);
    }
}

impl OrderSource for ScriptedOrders {
    async fn get_order(
        &self,
        _seller_id: &str,
        order_id: &str,
        included: &'static [crate::spapi::IncludedData],
        _deadline: Instant,
    ) -> Result<GetOrderResponse, SpApiError> {
        *self.calls.lock().unwrap() += 1;
        self.asked.lock().unwrap().push(included);
        let mut script = self.script.lock().unwrap();
        let queue = script.get_mut(order_id).ok_or(SpApiError::NotFound)?;
        let next = if queue.len() > 1 {
            queue.pop_front().expect("non-empty")
        } else {
            match queue.front().expect("scripted") {
                Ok(body) => Ok(body.clone()),
                Err(e) => Err(clone_error(e)),
            }
        };
        next.and_then(|body| {
            serde_json::from_str(&body).map_err(|e| SpApiError::Decode {
                line: e.line(),
                column: e.column(),
            })
        })
    }
}

fn clone_error(e: &SpApiError) -> SpApiError {
    match e {
        SpApiError::Throttled => SpApiError::Throttled,
        SpApiError::Server(s) => SpApiError::Server(*s),
        SpApiError::Rejected(s) => SpApiError::Rejected(*s),
        SpApiError::NotFound => SpApiError::NotFound,
        SpApiError::Forbidden => SpApiError::Forbidden,
        other => SpApiError::Transport(other.reason_code().to_owned()),
    }
}
