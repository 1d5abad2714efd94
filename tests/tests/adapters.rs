//! The DynamoDB adapters against the emulator, with the clock driven by the test: the
//! idempotency lock (Powertools semantics) and the shared usage-plan bucket.

use std::sync::Arc;
use std::time::Duration;

use orderseal::clock::ManualClock;
use orderseal::idempotency::{Acquire, DynamoIdempotencyStore, IdempotencyStore, Lease};
use orderseal::spapi::ratelimit::{DynamoRateLimiter, RateLimitError, RateLimiter, UsagePlan};
use orderseal_tests::TestStack;
use time::macros::datetime;

fn lease(id: &str, hash: &str, now: time::OffsetDateTime) -> Lease {
    Lease {
        notification_id: id.into(),
        payload_hash: hash.into(),
        now,
        in_progress_until: now + time::Duration::seconds(60),
        expires_after: time::Duration::days(7),
    }
}

#[tokio::test]
async fn the_idempotency_lock_behaves_like_powertools() {
    let stack = TestStack::new().await;
    let store = DynamoIdempotencyStore::new(
        stack
            .aws_as(orderseal_local::roles::INGEST)
            .dynamodb
            .clone(),
        stack.table(),
    );
    let t0 = datetime!(2026-11-21 10:00 UTC);

    // First taker wins; a concurrent second sees it in progress.
    assert_eq!(
        store.acquire(&lease("n1", "h", t0)).await.unwrap(),
        Acquire::Acquired
    );
    let t1 = t0 + time::Duration::seconds(10);
    assert_eq!(
        store.acquire(&lease("n1", "h", t1)).await.unwrap(),
        Acquire::InProgress
    );
    // Same id, other content: a reused key.
    assert_eq!(
        store.acquire(&lease("n1", "other", t1)).await.unwrap(),
        Acquire::PayloadMismatch
    );
    // The holder died: past its invocation deadline the lock can be taken over.
    let t2 = t0 + time::Duration::seconds(61);
    assert_eq!(
        store.acquire(&lease("n1", "h", t2)).await.unwrap(),
        Acquire::Acquired
    );
    // Completed: a duplicate, with the stored outcome.
    store
        .complete(&lease("n1", "h", t2), "stored")
        .await
        .unwrap();
    assert_eq!(
        store.acquire(&lease("n1", "h", t2)).await.unwrap(),
        Acquire::Completed {
            outcome: Some("stored".into())
        }
    );
    // Past the expiry window (checked in code, not left to TTL) the key may be used again.
    let t3 = t2 + time::Duration::days(8);
    assert_eq!(
        store.acquire(&lease("n1", "h", t3)).await.unwrap(),
        Acquire::Acquired
    );
    // Released on failure: the retry runs again at once.
    store.release(&lease("n1", "h", t3)).await.unwrap();
    assert_eq!(
        store.acquire(&lease("n1", "h", t3)).await.unwrap(),
        Acquire::Acquired
    );
}

#[tokio::test]
async fn the_usage_plan_bucket_is_shared_by_every_invocation() {
    let stack = TestStack::new().await;
    let clock = ManualClock::at(datetime!(2026-11-21 10:00 UTC));
    // Two containers: separate limiter instances over the same table item.
    let a = DynamoRateLimiter::new(
        stack
            .aws_as(orderseal_local::roles::INGEST)
            .dynamodb
            .clone(),
        stack.table(),
        Arc::new(clock.clone()),
    );
    let b = DynamoRateLimiter::new(
        stack
            .aws_as(orderseal_local::roles::DISPATCH)
            .dynamodb
            .clone(),
        stack.table(),
        Arc::new(clock.clone()),
    );
    let plan = UsagePlan::GET_ORDER;
    let max_wait = Duration::from_secs(30);

    // The burst of 30 is shared: 15 each, interleaved, go at once.
    for _ in 0..15 {
        assert_eq!(
            a.reserve("getOrder#S1", plan, max_wait).await.unwrap(),
            Duration::ZERO
        );
        assert_eq!(
            b.reserve("getOrder#S1", plan, max_wait).await.unwrap(),
            Duration::ZERO
        );
    }
    // Then one every two seconds, whoever asks; concurrent askers get distinct slots.
    let (wa, wb) = tokio::join!(
        a.reserve("getOrder#S1", plan, max_wait),
        b.reserve("getOrder#S1", plan, max_wait)
    );
    let mut waits = [wa.unwrap(), wb.unwrap()];
    waits.sort();
    assert_eq!(waits, [Duration::from_secs(2), Duration::from_secs(4)]);
    // A slot later than the invocation can wait is refused, and nothing is reserved.
    let err = a
        .reserve("getOrder#S1", plan, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, RateLimitError::NoSlotInTime(w) if w == Duration::from_secs(6)));
    assert_eq!(
        b.reserve("getOrder#S1", plan, max_wait).await.unwrap(),
        Duration::from_secs(6)
    );
    // Another seller has its own bucket.
    assert_eq!(
        a.reserve("getOrder#S2", plan, max_wait).await.unwrap(),
        Duration::ZERO
    );
    // An idle bucket refills.
    clock.advance(time::Duration::minutes(2));
    assert_eq!(
        a.reserve("getOrder#S1", plan, max_wait).await.unwrap(),
        Duration::ZERO
    );
}
