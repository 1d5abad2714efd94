//! Tracking state of a shipment from carrier events that arrive late, twice and out of order.
//!
//! The state is a pure function of the *set* of events seen, so any order and any duplication
//! give the same result as the in-order sequence:
//! * the current status is that of the newest event by `(occurred_at, rank)`;
//! * `delivered_at` is the earliest DELIVERED event time, set once and only ever moved earlier;
//! * under the delivery retention anchor, the PII expiry follows delivery:
//!   `delivered_at + retention` (never above 30 days); under the shipment anchor (the default)
//!   dispatch fixed it at the ship date and delivery leaves it.
//!
//! The store applies the same rules as conditional writes (newer `(time, rank)` wins;
//! `delivered_at` only if absent or later), so concurrent callbacks converge too.

use time::{Duration, OffsetDateTime};

use crate::carriers::webhooks::CanonicalStatus;
use crate::order::DPP_MAX_RETENTION;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingEvent {
    /// The carrier's event id, or a hash of the body where the carrier has none.
    pub event_id: String,
    pub status: CanonicalStatus,
    pub occurred_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackingState {
    pub status: CanonicalStatus,
    pub status_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
}

impl TrackingState {
    pub fn from_event(e: &TrackingEvent) -> Self {
        Self {
            status: e.status,
            status_at: e.occurred_at,
            delivered_at: (e.status == CanonicalStatus::Delivered).then_some(e.occurred_at),
        }
    }

    /// Fold one event in. Returns the new state (equal to `self` when the event changes nothing).
    pub fn apply(self, e: &TrackingEvent) -> Self {
        let newer = (e.occurred_at, e.status.rank()) > (self.status_at, self.status.rank());
        let delivered_at = match (self.delivered_at, e.status == CanonicalStatus::Delivered) {
            (Some(d), true) => Some(d.min(e.occurred_at)),
            (None, true) => Some(e.occurred_at),
            (d, false) => d,
        };
        Self {
            status: if newer { e.status } else { self.status },
            status_at: if newer { e.occurred_at } else { self.status_at },
            delivered_at,
        }
    }

    /// When the PII of the order must be gone: delivery + retention, retention capped at the
    /// Data Protection Policy's 30 days. `None` before delivery (the provisional expiry stands),
    /// or for a delivery time at the end of the calendar (refused earlier by [`check_event_time`]).
    pub fn pii_expires_at(&self, retention: Duration) -> Option<OffsetDateTime> {
        self.delivered_at?
            .checked_add(retention.clamp(Duration::ZERO, DPP_MAX_RETENTION))
    }
}

/// How far ahead of our clock an event may claim to have happened (carrier clocks and time
/// zones drift; a scan a day ahead is a wrong date, and a future delivery would delay erasure).
pub const MAX_EVENT_AHEAD: Duration = Duration::days(1);
/// How long before the label's purchase an event may claim to have happened (a carrier cannot
/// scan a parcel whose label does not exist yet; a day covers clock and time-zone slips).
pub const MAX_EVENT_BEFORE_LABEL: Duration = Duration::days(1);

/// Why an event's time is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventTimeError {
    #[error("the event claims a time more than a day ahead")]
    Ahead,
    #[error("the event claims a time before the label was bought")]
    BeforeLabel,
}

impl EventTimeError {
    pub fn reason_code(self) -> &'static str {
        match self {
            EventTimeError::Ahead => "event_time_ahead",
            EventTimeError::BeforeLabel => "event_time_before_label",
        }
    }
}

/// An event's time must fall between the label's purchase (less [`MAX_EVENT_BEFORE_LABEL`]) and
/// `now` + [`MAX_EVENT_AHEAD`]. Checked arithmetic: no input time can panic it.
pub fn check_event_time(
    occurred_at: OffsetDateTime,
    labelled_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), EventTimeError> {
    if now
        .checked_add(MAX_EVENT_AHEAD)
        .is_some_and(|latest| occurred_at > latest)
    {
        return Err(EventTimeError::Ahead);
    }
    if labelled_at
        .and_then(|l| l.checked_sub(MAX_EVENT_BEFORE_LABEL))
        .is_some_and(|earliest| occurred_at < earliest)
    {
        return Err(EventTimeError::BeforeLabel);
    }
    Ok(())
}

/// The order a tracking number was bought for, through one carrier route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedOrder {
    pub seller_id: String,
    pub order_id: String,
    /// When the label was bought (absent on lookups written before it was recorded).
    pub labelled_at: Option<OffsetDateTime>,
}

/// The state after `events`, in whatever order they came, duplicates included.
pub fn fold(events: &[TrackingEvent]) -> Option<TrackingState> {
    let (first, rest) = events.split_first()?;
    Some(
        rest.iter()
            .fold(TrackingState::from_event(first), |s, e| s.apply(e)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn ev(id: u32, status: CanonicalStatus, minute: i64) -> TrackingEvent {
        TrackingEvent {
            event_id: format!("e{id}"),
            status,
            occurred_at: datetime!(2026-11-21 08:00 UTC) + Duration::minutes(minute),
        }
    }

    #[test]
    fn a_late_in_transit_scan_does_not_undo_delivery() {
        let events = [
            ev(1, CanonicalStatus::PreTransit, 0),
            ev(2, CanonicalStatus::InTransit, 60),
            ev(3, CanonicalStatus::OutForDelivery, 120),
            ev(4, CanonicalStatus::Delivered, 180),
        ];
        let in_order = fold(&events).unwrap();
        assert_eq!(in_order.status, CanonicalStatus::Delivered);
        let late = fold(&[events[3].clone(), events[1].clone()]).unwrap();
        assert_eq!(late.status, CanonicalStatus::Delivered);
        assert_eq!(
            in_order.pii_expires_at(Duration::days(30)),
            Some(events[3].occurred_at + Duration::days(30))
        );
        assert_eq!(
            in_order.pii_expires_at(Duration::days(90)),
            Some(events[3].occurred_at + Duration::days(30)),
            "retention is never above 30 days"
        );
    }

    #[test]
    fn delivered_at_is_the_earliest_delivery_scan() {
        let s = fold(&[
            ev(1, CanonicalStatus::Delivered, 200),
            ev(2, CanonicalStatus::Delivered, 180),
        ])
        .unwrap();
        assert_eq!(
            s.delivered_at,
            Some(ev(0, CanonicalStatus::Delivered, 180).occurred_at)
        );
    }

    #[test]
    fn event_times_must_fall_between_the_label_and_a_day_ahead() {
        let now = datetime!(2026-11-21 08:00 UTC);
        let label = Some(datetime!(2026-11-20 08:00 UTC));
        assert_eq!(check_event_time(now, label, now), Ok(()));
        assert_eq!(
            check_event_time(now + Duration::hours(23), label, now),
            Ok(())
        );
        assert_eq!(
            check_event_time(now + Duration::hours(25), label, now),
            Err(EventTimeError::Ahead)
        );
        assert_eq!(
            check_event_time(datetime!(2026-11-19 09:00 UTC), label, now),
            Ok(()),
            "a day of slack before the label"
        );
        assert_eq!(
            check_event_time(datetime!(2026-11-19 07:00 UTC), label, now),
            Err(EventTimeError::BeforeLabel)
        );
        assert_eq!(
            check_event_time(datetime!(2000-01-01 00:00 UTC), None, now),
            Ok(())
        );
        // The ends of the calendar neither panic nor pass.
        let (min, max) = (
            datetime!(-9999-01-01 00:00 UTC),
            datetime!(+9999-12-31 23:59:59.999999999 UTC),
        );
        assert_eq!(
            check_event_time(max, label, now),
            Err(EventTimeError::Ahead)
        );
        assert_eq!(
            check_event_time(min, label, now),
            Err(EventTimeError::BeforeLabel)
        );
        assert_eq!(check_event_time(max, Some(min), max), Ok(()));
        assert_eq!(check_event_time(min, Some(min), now), Ok(()));
        let late = TrackingState::from_event(&TrackingEvent {
            event_id: "e".into(),
            status: CanonicalStatus::Delivered,
            occurred_at: max,
        });
        assert_eq!(late.pii_expires_at(Duration::days(23)), None);
    }

    fn status() -> impl Strategy<Value = CanonicalStatus> {
        proptest::sample::select(CanonicalStatus::ALL.to_vec())
    }

    proptest! {
        /// Shuffled and duplicated deliveries of a sequence end where the in-order sequence ends.
        #[test]
        fn any_order_and_duplication_gives_the_in_order_state(
            steps in proptest::collection::vec((status(), 0i64..600), 1..12),
            dupes in proptest::collection::vec(0usize..12, 0..12),
            seed in any::<u64>(),
        ) {
            let mut events: Vec<TrackingEvent> = steps
                .iter()
                .enumerate()
                .map(|(i, (s, m))| ev(i as u32, *s, *m))
                .collect();
            events.sort_by_key(|e| (e.occurred_at, e.status.rank()));
            let expected = fold(&events);
            let mut delivered: Vec<TrackingEvent> = events.clone();
            for d in dupes {
                delivered.push(events[d % events.len()].clone());
            }
            let mut rng = fastrand::Rng::with_seed(seed);
            rng.shuffle(&mut delivered);
            prop_assert_eq!(fold(&delivered), expected);
        }
    }
}

/// Port: tracking on the order record.
pub trait TrackingStore: Send + Sync {
    /// The order a tracking number was bought for through carrier route `route` (written by
    /// dispatch when the label is bought). A number bought through another route is unknown
    /// here: a webhook can only move orders whose label its own carrier sold.
    fn order_for(
        &self,
        route: &str,
        tracking_number: &str,
    ) -> impl std::future::Future<Output = Result<Option<TrackedOrder>, crate::store::StoreError>> + Send;

    /// Whether the dedupe marker `CARRIEREVENT#<carrier>#<eventId>` of an applied event is
    /// there (and not past its 30 days).
    fn seen(
        &self,
        carrier: &str,
        event_id: &str,
        now: OffsetDateTime,
    ) -> impl std::future::Future<Output = Result<bool, crate::store::StoreError>> + Send;

    /// Write the dedupe marker, once the event is applied. Applying is idempotent (the
    /// conditional writes of [`TrackingStore::apply`]), so a crash before the marker only
    /// makes the carrier's retry apply it again; the marker spares duplicates the writes.
    fn record_event(
        &self,
        carrier: &str,
        event_id: &str,
        now: OffsetDateTime,
    ) -> impl std::future::Future<Output = Result<(), crate::store::StoreError>> + Send;

    /// Apply with the rules of [`TrackingState::apply`] as conditional writes. With
    /// `delivery_retention` (the delivery anchor) a delivery fixes the PII expiry.
    fn apply(
        &self,
        seller_id: &str,
        order_id: &str,
        event: &TrackingEvent,
        delivery_retention: Option<Duration>,
    ) -> impl std::future::Future<Output = Result<(), crate::store::StoreError>> + Send;
}

/// The tracking lookup's key: `TRACKING#<route>#<number>`, the route being the carrier adapter
/// that bought the label (`easypost`, `shippo`, `generic`), which is also its webhook route.
pub use crate::layout::{carrier_event_pk, tracking_pk};

#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoTrackingStore;

#[cfg(feature = "dynamodb")]
mod dynamo {
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_sdk_dynamodb::types::ReturnValue;
    use time::format_description::well_known::Rfc3339;

    use super::*;
    use crate::aws::ddb::{get_n, n, s, store_error as err};
    use crate::clock::unix_millis;
    use crate::layout::{ORDER_SK, order_pk};
    use crate::store::StoreError;

    #[derive(Debug, Clone)]
    pub struct DynamoTrackingStore {
        client: Client,
        table: String,
        business_retention: Duration,
    }

    impl DynamoTrackingStore {
        pub fn new(client: Client, table: impl Into<String>) -> Self {
            Self {
                client,
                table: table.into(),
                business_retention: crate::retention::DEFAULT_BUSINESS_RETENTION,
            }
        }

        /// How long the business record refreshed at delivery is kept.
        pub fn with_business_retention(mut self, retention: Duration) -> Self {
            self.business_retention = retention;
            self
        }

        /// An update of the order item.
        fn order_update(
            &self,
            seller_id: &str,
            order_id: &str,
        ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    s(order_pk(seller_id, order_id)),
                )
                .key(crate::layout::SORT_KEY, s(ORDER_SK))
        }

        /// Record the delivery and, under the delivery anchor, the expiry it implies (an
        /// earlier delivery scan moves both earlier; an erased order is left as it is).
        async fn deliver(
            &self,
            seller_id: &str,
            order_id: &str,
            iso: &str,
            t: i64,
            expires: Option<i64>,
        ) -> crate::aws::ddb::UpdateResult {
            let mut update = self.order_update(seller_id, order_id);
            update = match expires {
                Some(exp) => update
                    .update_expression(
                        "SET delivered_at = :iso, delivered_at_ms = :t, anchored_expires_at = :exp, \
                         pii_expires_at = :exp",
                    )
                    .expression_attribute_values(":exp", n(exp)),
                None => update.update_expression("SET delivered_at = :iso, delivered_at_ms = :t"),
            };
            update
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(pii_erased_at) \
                     AND (attribute_not_exists(delivered_at_ms) OR delivered_at_ms > :t)",
                )
                .expression_attribute_values(":iso", s(iso))
                .expression_attribute_values(":t", n(t))
                .return_values(ReturnValue::None)
                .send()
                .await
        }
    }

    impl TrackingStore for DynamoTrackingStore {
        async fn order_for(
            &self,
            route: &str,
            tracking_number: &str,
        ) -> Result<Option<TrackedOrder>, StoreError> {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    s(tracking_pk(route, tracking_number)),
                )
                .key(crate::layout::SORT_KEY, s("TRACKING"))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| err("GetItem", &e))?;
            Ok(out.item.and_then(|i| {
                let get = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
                Some(TrackedOrder {
                    seller_id: get("seller_id")?,
                    order_id: get("order_id")?,
                    labelled_at: get_n(&i, "labelled_at")
                        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
                })
            }))
        }

        async fn seen(
            &self,
            carrier: &str,
            event_id: &str,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError> {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    s(carrier_event_pk(carrier, event_id)),
                )
                .key(crate::layout::SORT_KEY, s("CARRIEREVENT"))
                .projection_expression("#ttl")
                .expression_attribute_names("#ttl", crate::layout::TTL)
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| err("GetItem", &e))?;
            // Expiry checked here, not left to TTL's timing.
            Ok(out
                .item
                .and_then(|i| get_n(&i, crate::layout::TTL))
                .is_some_and(|ttl| ttl >= now.unix_timestamp()))
        }

        async fn record_event(
            &self,
            carrier: &str,
            event_id: &str,
            now: OffsetDateTime,
        ) -> Result<(), StoreError> {
            self.client
                .put_item()
                .table_name(&self.table)
                .item(
                    crate::layout::PARTITION_KEY,
                    s(carrier_event_pk(carrier, event_id)),
                )
                .item(crate::layout::SORT_KEY, s("CARRIEREVENT"))
                .item(
                    crate::layout::TTL,
                    n((now + Duration::days(30)).unix_timestamp()),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err("PutItem", &e))
        }

        async fn apply(
            &self,
            seller_id: &str,
            order_id: &str,
            event: &TrackingEvent,
            delivery_retention: Option<Duration>,
        ) -> Result<(), StoreError> {
            let t = unix_millis(event.occurred_at);
            let not_newer = |e: &aws_sdk_dynamodb::error::SdkError<UpdateItemError, _>| {
                matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                )
            };
            let result = self
                .order_update(seller_id, order_id)
                .update_expression("SET tracking_status = :s, tracking_at_ms = :t, tracking_rank = :r")
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(tracking_at_ms) OR tracking_at_ms < :t \
                     OR (tracking_at_ms = :t AND tracking_rank < :r))",
                )
                .expression_attribute_values(":s", s(event.status.as_str()))
                .expression_attribute_values(":t", n(t))
                .expression_attribute_values(":r", n(event.status.rank()))
                .return_values(ReturnValue::None)
                .send()
                .await;
            if let Err(e) = result
                && !not_newer(&e)
            {
                return Err(err("UpdateItem", &e));
            }
            let state = TrackingState::from_event(event);
            if state.delivered_at.is_none() {
                return Ok(());
            }
            let expires = match delivery_retention {
                Some(retention) => Some(
                    state
                        .pii_expires_at(retention)
                        .ok_or(StoreError::Malformed("delivery date out of range"))?
                        .unix_timestamp(),
                ),
                None => None,
            };
            let iso = event.occurred_at.format(&Rfc3339).unwrap_or_default();
            match self.deliver(seller_id, order_id, &iso, t, expires).await {
                // Not newer (a retry, or a later scan): the TTL step still runs, from the item.
                Ok(_) => {}
                Err(e) if not_newer(&e) => {}
                Err(e) => return Err(err("UpdateItem", &e)),
            }
            if expires.is_some() {
                // The sealed-PII item's TTL follows the expiry (down as well as up).
                crate::store::ttl::sync_pii_ttl(&self.client, &self.table, seller_id, order_id)
                    .await?;
            }
            // Delivered: the business record (no PII) shows it now, not only after erasure.
            crate::retention::dynamo::refresh_business_record(
                &self.client,
                &self.table,
                seller_id,
                order_id,
                OffsetDateTime::now_utc() + self.business_retention,
            )
            .await
        }
    }
}
