//! Staying inside the SP-API usage plan across every concurrent Lambda invocation.
//!
//! Orders `getOrder` allows 0.5 requests/s with a burst of 30 per application and seller. Each
//! invocation runs in its own container, so an in-memory bucket cannot see the others. We keep
//! one shared bucket per (operation, seller) as a GCRA "theoretical arrival time" (TAT) in the
//! order table and reserve a slot with one conditional `UpdateItem`:
//!
//! * `tat' = max(tat, now) + interval`; a request may go at `tat' - interval - tolerance`,
//!   with `tolerance = (burst - 1) * interval`;
//! * the write is conditional on the TAT we last saw, so two invocations never take the same slot;
//!   on a conflict DynamoDB hands back the current TAT (`ReturnValuesOnConditionCheckFailure`) and
//!   we retry with it — no extra read;
//! * if the slot is later than the invocation can wait, nothing is reserved and the message goes
//!   back to SQS for a later try.
//!
//! The ingest event source mapping also caps concurrency (template: `MaximumConcurrency`), which
//! bounds contention on the bucket item. 429s that still happen are retried with backoff.

use std::future::Future;
use std::time::Duration;

/// A usage plan: sustained rate and burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsagePlan {
    pub rate_per_sec: f64,
    pub burst: u32,
}

impl UsagePlan {
    /// Orders v2026-01-01 `getOrder` (orders_2026-01-01.json).
    pub const GET_ORDER: UsagePlan = UsagePlan {
        rate_per_sec: 0.5,
        burst: 30,
    };

    /// Orders v2026-01-01 `searchOrders` (orders_2026-01-01.json): one page every ~3 minutes.
    pub const SEARCH_ORDERS: UsagePlan = UsagePlan {
        rate_per_sec: 0.0056,
        burst: 20,
    };

    /// Orders v0 `confirmShipment` (ordersV0.json).
    pub const CONFIRM_SHIPMENT: UsagePlan = UsagePlan {
        rate_per_sec: 2.0,
        burst: 10,
    };

    pub fn interval_ms(&self) -> i64 {
        (1000.0 / self.rate_per_sec).round() as i64
    }

    pub fn tolerance_ms(&self) -> i64 {
        self.interval_ms() * (i64::from(self.burst.max(1)) - 1)
    }
}

/// The pure GCRA step: given the stored TAT (ms) and now (ms), the new TAT and how long the
/// caller must wait before sending.
pub fn gcra_reserve(plan: UsagePlan, stored_tat_ms: Option<i64>, now_ms: i64) -> (i64, Duration) {
    let tat = stored_tat_ms.unwrap_or(now_ms).max(now_ms);
    let new_tat = tat + plan.interval_ms();
    let allowed_at = new_tat - plan.interval_ms() - plan.tolerance_ms();
    let wait = (allowed_at - now_ms).max(0);
    (new_tat, Duration::from_millis(wait as u64))
}

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("usage plan exhausted: next slot in {0:?}, beyond this invocation's time")]
    NoSlotInTime(Duration),
    #[error("rate limiter store failed: {0}")]
    Store(String),
}

/// Port: reserve one request slot for `bucket`, waiting at most `max_wait`.
/// Returns how long the caller must sleep before sending.
pub trait RateLimiter: Send + Sync {
    fn reserve(
        &self,
        bucket: &str,
        plan: UsagePlan,
        max_wait: Duration,
    ) -> impl Future<Output = Result<Duration, RateLimitError>> + Send;
}

/// No shared limit (unit tests, single-process tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

impl RateLimiter for Unlimited {
    async fn reserve(
        &self,
        _bucket: &str,
        _plan: UsagePlan,
        _max_wait: Duration,
    ) -> Result<Duration, RateLimitError> {
        Ok(Duration::ZERO)
    }
}

/// One process's own GCRA buckets, in memory: exact for a function that runs one container at a
/// time (reserved concurrency 1), such as the subscriptions function.
#[derive(Debug)]
pub struct InProcessLimiter {
    tats: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    started: std::time::Instant,
}

impl Default for InProcessLimiter {
    fn default() -> Self {
        Self {
            tats: Default::default(),
            started: std::time::Instant::now(),
        }
    }
}

impl RateLimiter for InProcessLimiter {
    async fn reserve(
        &self,
        bucket: &str,
        plan: UsagePlan,
        max_wait: Duration,
    ) -> Result<Duration, RateLimitError> {
        let now_ms = self.started.elapsed().as_millis() as i64;
        let mut tats = self
            .tats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tat, wait) = gcra_reserve(plan, tats.get(bucket).copied(), now_ms);
        if wait > max_wait {
            return Err(RateLimitError::NoSlotInTime(wait));
        }
        tats.insert(bucket.to_owned(), tat);
        Ok(wait)
    }
}

#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoRateLimiter;

#[cfg(feature = "dynamodb")]
mod dynamo {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;

    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
    use tokio::sync::Mutex;

    use super::{RateLimitError, RateLimiter, UsagePlan, gcra_reserve};
    use crate::clock::{Clock, unix_millis};

    const MAX_CONFLICTS: usize = 8;

    /// GCRA bucket items in the order table: `pk = RATE#<bucket>`, `sk = RATE`, `tat` (ms).
    pub struct DynamoRateLimiter {
        client: Client,
        table: String,
        clock: Arc<dyn Clock>,
        last_seen: Mutex<HashMap<String, Option<i64>>>,
    }

    impl DynamoRateLimiter {
        pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
            Self {
                client,
                table: table.into(),
                clock,
                last_seen: Mutex::new(HashMap::new()),
            }
        }
    }

    impl RateLimiter for DynamoRateLimiter {
        async fn reserve(
            &self,
            bucket: &str,
            plan: UsagePlan,
            max_wait: Duration,
        ) -> Result<Duration, RateLimitError> {
            let pk = format!("RATE#{bucket}");
            let mut seen = self.last_seen.lock().await.get(bucket).copied().flatten();
            for _ in 0..MAX_CONFLICTS {
                let now = unix_millis(self.clock.now());
                let (new_tat, wait) = gcra_reserve(plan, seen, now);
                if wait > max_wait {
                    return Err(RateLimitError::NoSlotInTime(wait));
                }
                let mut req = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key(crate::layout::PARTITION_KEY, AttributeValue::S(pk.clone()))
                    .key(crate::layout::SORT_KEY, AttributeValue::S("RATE".into()))
                    .update_expression("SET tat = :new")
                    .expression_attribute_values(":new", AttributeValue::N(new_tat.to_string()))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    );
                req = match seen {
                    Some(old) => req
                        .condition_expression("tat = :old")
                        .expression_attribute_values(":old", AttributeValue::N(old.to_string())),
                    None => req.condition_expression("attribute_not_exists(tat)"),
                };
                match req.send().await {
                    Ok(_) => {
                        self.last_seen
                            .lock()
                            .await
                            .insert(bucket.to_owned(), Some(new_tat));
                        return Ok(wait);
                    }
                    Err(e) => match e.as_service_error() {
                        Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                            seen = c.item().and_then(|i| crate::aws::ddb::get_n(i, "tat"));
                        }
                        _ => {
                            return Err(RateLimitError::Store(crate::aws::error_code(&e)));
                        }
                    },
                }
            }
            Err(RateLimitError::Store(
                "too many concurrent reservations".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_in_process_limiter_spends_the_burst_then_spaces_requests() {
        let limiter = InProcessLimiter::default();
        let plan = UsagePlan {
            rate_per_sec: 1.0,
            burst: 5,
        };
        let long = Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(
                limiter.reserve("op#app", plan, long).await.unwrap(),
                Duration::ZERO
            );
        }
        let sixth = limiter.reserve("op#app", plan, long).await.unwrap();
        assert!(sixth > Duration::from_millis(900), "{sixth:?}");
        // Another bucket is untouched; a wait beyond max_wait reserves nothing.
        assert_eq!(
            limiter.reserve("op#S1", plan, long).await.unwrap(),
            Duration::ZERO
        );
        assert!(
            limiter
                .reserve("op#app", plan, Duration::from_millis(10))
                .await
                .is_err()
        );
    }

    #[test]
    fn a_burst_of_thirty_goes_at_once_then_one_every_two_seconds() {
        let plan = UsagePlan::GET_ORDER;
        let now = 1_000_000;
        let mut tat = None;
        for i in 0..30 {
            let (t, wait) = gcra_reserve(plan, tat, now);
            assert_eq!(wait, Duration::ZERO, "request {i} of the burst waited");
            tat = Some(t);
        }
        let (t, wait) = gcra_reserve(plan, tat, now);
        assert_eq!(wait, Duration::from_secs(2));
        let (_, wait) = gcra_reserve(plan, Some(t), now);
        assert_eq!(wait, Duration::from_secs(4));
    }

    #[test]
    fn an_idle_bucket_refills() {
        let plan = UsagePlan::GET_ORDER;
        let (tat, _) = gcra_reserve(plan, Some(10_000_000), 10_000_000);
        let (_, wait) = gcra_reserve(plan, Some(tat), 10_000_000 + 3_600_000);
        assert_eq!(wait, Duration::ZERO);
    }
}
