//! A usage plan as SP-API enforces it: a token bucket of `burst` requests refilled at `rate`
//! per second, on the wall clock.

use std::time::Instant;

/// One caller's bucket for one plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    at: Instant,
}

/// An operation's rate (requests per second) and burst.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub rate: f64,
    pub burst: f64,
}

impl Plan {
    /// Takes a slot from `slot` (a full bucket the first time); `false`: over the plan.
    pub(crate) fn admit(self, slot: &mut Option<Bucket>, now: Instant) -> bool {
        let bucket = slot.get_or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
