//! Time as a port, so retention and ordering tests can drive the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock tests set and advance by hand (millisecond resolution).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(t: OffsetDateTime) -> Self {
        Self(Arc::new(AtomicI64::new(unix_millis(t))))
    }

    pub fn advance(&self, by: time::Duration) {
        self.0
            .fetch_add(by.whole_milliseconds() as i64, Ordering::SeqCst);
    }

    pub fn set(&self, t: OffsetDateTime) {
        self.0.store(unix_millis(t), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let ms = self.0.load(Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
            .expect("clock value in range")
    }
}

pub fn unix_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The instant `margin` before a wall-clock deadline (a Lambda invocation's), for budgets
/// measured on the monotonic clock. A deadline already past gives now.
pub fn instant_before(
    deadline: std::time::SystemTime,
    margin: std::time::Duration,
) -> std::time::Instant {
    let remaining = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    std::time::Instant::now() + remaining.saturating_sub(margin)
}
