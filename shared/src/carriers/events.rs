//! Carrier webhook bodies → tracking events. Called only after the signature over the raw body
//! verified ([`super::webhooks::verify`]). Errors name the missing part, never a value.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::webhooks::{Scheme, canonical_status};
use crate::tracking::TrackingEvent;

/// One event for one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEvent {
    pub tracking_number: String,
    pub event: TrackingEvent,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("body is not JSON")]
    NotJson,
    #[error("body lacks {0}")]
    Missing(&'static str),
    #[error("{0} is not a valid value")]
    Invalid(&'static str),
}

impl EventError {
    pub fn reason_code(&self) -> &'static str {
        match self {
            EventError::NotJson => "webhook_not_json",
            EventError::Missing(_) => "webhook_field_missing",
            EventError::Invalid(_) => "webhook_field_invalid",
        }
    }
}

/// What the body says happened. `Ok(None)`: a well-formed event orderseal does not act on
/// (another event type, or a status with no canonical meaning).
pub fn parse(
    scheme: Scheme,
    raw_body: &[u8],
    header_event_id: Option<&str>,
) -> Result<Option<PackageEvent>, EventError> {
    let v: Value = serde_json::from_slice(raw_body).map_err(|_| EventError::NotJson)?;
    let body_id = || format!("sha256:{}", crate::idempotency::payload_hash(raw_body));
    let text = |v: &Value, what: &'static str| -> Result<String, EventError> {
        v.as_str()
            .filter(|s| !s.is_empty() && s.len() <= 128)
            .map(str::to_owned)
            .ok_or(EventError::Missing(what))
    };
    let when = |v: &Value, what: &'static str| -> Result<OffsetDateTime, EventError> {
        OffsetDateTime::parse(v.as_str().ok_or(EventError::Missing(what))?, &Rfc3339)
            .map_err(|_| EventError::Invalid(what))
    };
    let (tracking_number, status, occurred_at, event_id) = match scheme {
        Scheme::EasyPost => {
            if v["description"].as_str() != Some("tracker.updated") {
                return Ok(None);
            }
            let r = &v["result"];
            let last = r["tracking_details"].as_array().and_then(|d| d.last());
            let at = match last {
                Some(d) => when(&d["datetime"], "result.tracking_details[].datetime")?,
                None => when(&r["updated_at"], "result.updated_at")?,
            };
            (
                text(&r["tracking_code"], "result.tracking_code")?,
                text(&r["status"], "result.status")?,
                at,
                text(&v["id"], "id")?,
            )
        }
        Scheme::Shippo => {
            if v["event"].as_str() != Some("track_updated") {
                return Ok(None);
            }
            let d = &v["data"];
            let s = &d["tracking_status"];
            (
                text(&d["tracking_number"], "data.tracking_number")?,
                text(&s["status"], "data.tracking_status.status")?,
                when(&s["status_date"], "data.tracking_status.status_date")?,
                s["object_id"]
                    .as_str()
                    .map(|id| format!("shippo:{id}"))
                    .unwrap_or_else(body_id),
            )
        }
        Scheme::StandardWebhooks => {
            if v["type"].as_str() != Some("shipment.tracking") {
                return Ok(None);
            }
            let d = &v["data"];
            (
                text(&d["tracking_number"], "data.tracking_number")?,
                text(&d["status"], "data.status")?,
                when(&d["occurred_at"], "data.occurred_at")?,
                header_event_id
                    .map(str::to_owned)
                    .ok_or(EventError::Missing("webhook-id"))?,
            )
        }
        Scheme::FedEx => {
            let scan = v["scanEvents"]
                .as_array()
                .and_then(|e| e.first())
                .ok_or(EventError::Missing("scanEvents[0]"))?;
            (
                text(&v["trackingNumber"], "trackingNumber")?,
                text(&scan["eventType"], "scanEvents[0].eventType")?,
                when(&scan["date"], "scanEvents[0].date")?,
                // FedEx sends no per-delivery id: the body hash dedupes retries.
                body_id(),
            )
        }
    };
    let Some(status) = canonical_status(scheme, &status) else {
        return Ok(None);
    };
    Ok(Some(PackageEvent {
        tracking_number,
        event: TrackingEvent {
            event_id,
            status,
            occurred_at,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carriers::webhooks::CanonicalStatus;

    #[test]
    fn each_scheme_yields_one_package_event() {
        let ep = br#"{"id":"evt_1","object":"Event","description":"tracker.updated","result":{"object":"Tracker",
            "tracking_code":"9400100000000000000000","status":"delivered","updated_at":"2026-11-21T12:00:00Z",
            "tracking_details":[{"status":"in_transit","datetime":"2026-11-20T12:00:00Z"},{"status":"delivered","datetime":"2026-11-21T11:00:00Z"}]}}"#;
        let e = parse(Scheme::EasyPost, ep, None).unwrap().unwrap();
        assert_eq!(e.tracking_number, "9400100000000000000000");
        assert_eq!(e.event.status, CanonicalStatus::Delivered);
        assert_eq!(e.event.event_id, "evt_1");
        assert_eq!(
            e.event.occurred_at,
            time::macros::datetime!(2026-11-21 11:00 UTC)
        );

        let sh = br#"{"event":"track_updated","data":{"tracking_number":"1Z999","tracking_status":{"object_id":"abc","status":"TRANSIT","status_date":"2026-11-20T10:00:00Z"}}}"#;
        let e = parse(Scheme::Shippo, sh, None).unwrap().unwrap();
        assert_eq!(
            (e.event.status, e.event.event_id.as_str()),
            (CanonicalStatus::InTransit, "shippo:abc")
        );

        let sw = br#"{"type":"shipment.tracking","data":{"tracking_number":"LX1US","status":"OUT_FOR_DELIVERY","occurred_at":"2026-11-20T10:00:00Z"}}"#;
        assert!(
            parse(Scheme::StandardWebhooks, sw, None).is_err(),
            "needs the webhook-id"
        );
        let e = parse(Scheme::StandardWebhooks, sw, Some("msg_1"))
            .unwrap()
            .unwrap();
        assert_eq!(e.event.status, CanonicalStatus::OutForDelivery);

        let fx = br#"{"trackingNumber":"123456789012","scanEvents":[{"date":"2026-11-20T10:00:00Z","eventType":"DL"}]}"#;
        let e = parse(Scheme::FedEx, fx, None).unwrap().unwrap();
        assert!(e.event.event_id.starts_with("sha256:"));
        assert_eq!(e.event.status, CanonicalStatus::Delivered);
    }

    #[test]
    fn other_events_are_ignored_and_bad_bodies_are_typed_errors() {
        assert_eq!(
            parse(
                Scheme::EasyPost,
                br#"{"description":"batch.created"}"#,
                None
            ),
            Ok(None)
        );
        assert_eq!(
            parse(Scheme::Shippo, b"not json", None),
            Err(EventError::NotJson)
        );
        let bad_time = br#"{"event":"track_updated","data":{"tracking_number":"1","tracking_status":{"status":"TRANSIT","status_date":"CANARY"}}}"#;
        let err = parse(Scheme::Shippo, bad_time, None).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("CANARY"));
    }
}

/// A proptest corpus run over callback verification and parsing (the fuzz target of the
/// carrier-callback issue): arbitrary bodies and header values, including near-valid ones,
/// never panic, never verify without the secret, and a verified body with any single byte
/// changed is refused.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::carriers::webhooks::{Headers, verify};
    use crate::secret::SecretString;

    fn header_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,80}",
            "t=[0-9]{0,12},v1=[0-9a-f]{0,64}",
            "hmac-sha256-hex=[0-9a-f]{0,70}",
            "(v1,[A-Za-z0-9+/=]{0,50} ?){0,4}",
            "[0-9]{0,12}",
        ]
    }

    fn schemes() -> impl Strategy<Value = Scheme> {
        proptest::sample::select(vec![
            Scheme::EasyPost,
            Scheme::Shippo,
            Scheme::StandardWebhooks,
            Scheme::FedEx,
        ])
    }

    const NAMES: [&str; 6] = [
        "X-Hmac-Signature",
        "Shippo-Auth-Signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "fdx-signature",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
        ))]

        #[test]
        fn arbitrary_requests_never_panic_and_never_verify(
            scheme in schemes(),
            values in proptest::collection::vec(header_value(), 6),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let pairs: Vec<(String, String)> = NAMES
                .iter()
                .zip(values)
                .map(|(n, v)| ((*n).to_owned(), v))
                .collect();
            let secrets = [SecretString::new("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==")];
            let now = time::OffsetDateTime::now_utc();
            prop_assert!(verify(scheme, &Headers::new(&pairs), &body, &secrets, now).is_err());
            let _ = parse(scheme, &body, Some("msg_1"));
        }

        #[test]
        fn a_signed_body_with_any_byte_changed_is_refused(
            body in proptest::collection::vec(any::<u8>(), 1..256),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let secret = "fuzz-secret";
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
            let sig: String = aws_lc_rs::hmac::sign(&key, &body)
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let pairs = vec![("X-Hmac-Signature".to_owned(), format!("hmac-sha256-hex={sig}"))];
            let secrets = [SecretString::new(secret)];
            let now = time::OffsetDateTime::now_utc();
            prop_assert!(verify(Scheme::EasyPost, &Headers::new(&pairs), &body, &secrets, now).is_ok());
            let mut changed = body.clone();
            let i = at.index(changed.len());
            changed[i] ^= flip;
            prop_assert!(verify(Scheme::EasyPost, &Headers::new(&pairs), &changed, &secrets, now).is_err());
        }
    }
}
