//! orderseal audit-log: the audit log group's one writer of audit events.
//!
//! Every audit event is written to the order table first — by the pii-access functions, by
//! ingest (a fraud hold), by the operator CLI (legal holds, a buyer's erasure request) — in the
//! same transaction as what it records, as two items (`AUDIT#<seller>#<order>`, and
//! `AUDITLOG#<day>`). The table's stream carries each new `AUDITLOG#` item to this function
//! (the event source mapping filters on inserts of that prefix), which prints it as one JSON
//! line; the function logs into the dedicated, KMS-encrypted audit log group kept 400 days. So
//! no writer can leave an event out of the log group. Lambda delivers stream records at least
//! once: after a failed invocation it retries the batch (bisecting it), so an event can appear
//! twice — with the same `id` (its sort key), by which a reader dedupes — and what still fails
//! goes to the mirror's DLQ, while the table keeps the event either way.
//!
//! The line holds the event's fields — ids, names and codes; an audit event never holds a
//! value. An item that does not read as an event is printed by its key only.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use orderseal::audit::AuditEntry;
use serde::Serialize;

/// Partition prefix of the per-day audit items (what the stream filter passes).
pub const AUDIT_DAY_PREFIX: &str = "AUDITLOG#";

/// One line of the audit log group.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Line<'a> {
    /// The event, with its sort key (time, action, request id, seller, order) as its id.
    Audit {
        id: &'a str,
        #[serde(flatten)]
        entry: Box<AuditEntry>,
    },
    /// An audit item that does not read as an event: its key, for the table.
    AuditUnreadable { pk: &'a str, sk: &'a str },
}

/// What one batch produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Mirrored {
    pub lines: Vec<String>,
    /// Records that are not new audit items (the filter should pass none).
    pub skipped: usize,
    /// Audit items that did not read as events (printed by key).
    pub unreadable: usize,
}

fn key<'a>(item: &'a serde_dynamo::Item, name: &str) -> Option<&'a str> {
    match item.get(name)? {
        serde_dynamo::AttributeValue::S(s) => Some(s),
        _ => None,
    }
}

/// The lines of a batch, in stream order.
pub fn mirror(event: &Event) -> Mirrored {
    let mut out = Mirrored::default();
    for record in &event.records {
        mirror_one(record, &mut out);
    }
    out
}

fn mirror_one(record: &EventRecord, out: &mut Mirrored) {
    let keys = &record.change.keys;
    let (Some(pk), Some(sk)) = (key(keys, "pk"), key(keys, "sk")) else {
        out.skipped += 1;
        return;
    };
    if record.event_name != "INSERT" || !pk.starts_with(AUDIT_DAY_PREFIX) {
        out.skipped += 1;
        return;
    }
    let line = match serde_dynamo::from_item::<_, AuditEntry>(record.change.new_image.clone()) {
        Ok(entry) => Line::Audit {
            id: sk,
            entry: Box::new(entry),
        },
        Err(_) => {
            out.unreadable += 1;
            Line::AuditUnreadable { pk, sk }
        }
    };
    out.lines
        .push(serde_json::to_string(&line).expect("an audit line serializes"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(event_name: &str, pk: &str, image: serde_json::Value) -> serde_json::Value {
        json!({
            "eventID": "1",
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1764547200,
                "Keys": {"pk": {"S": pk}, "sk": {"S": "2026-12-01T10:00:00.000000000Z#pii-access#req-1#S1#111-1"}},
                "NewImage": image,
                "SequenceNumber": "100",
                "SizeBytes": 300,
                "StreamViewType": "NEW_IMAGE"
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:111122223333:table/t/stream/2026-12-01T00:00:00.000"
        })
    }

    fn event(records: Vec<serde_json::Value>) -> Event {
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    fn image() -> serde_json::Value {
        json!({
            "pk": {"S": "AUDITLOG#2026-12-01"},
            "sk": {"S": "2026-12-01T10:00:00.000000000Z#pii-access#req-1#S1#111-1"},
            "at": {"S": "2026-12-01T10:00:00.000000000Z"},
            "who": {"S": "arn:aws:sts::111122223333:assumed-role/CustomerServiceAgentRole/alice"},
            "action": {"S": "pii-access"},
            "purpose": {"S": "customer_service"},
            "seller_id": {"S": "S1"},
            "order_id": {"S": "111-1"},
            "classes": {"L": [{"S": "shipping"}, {"S": "contact"}]},
            "outcome": {"S": "allowed"},
            "ttl": {"N": "1800000000"}
        })
    }

    #[test]
    fn each_new_audit_item_is_one_line_with_its_fields() {
        let m = mirror(&event(vec![record(
            "INSERT",
            "AUDITLOG#2026-12-01",
            image(),
        )]));
        assert_eq!(m.lines.len(), 1);
        let line: serde_json::Value = serde_json::from_str(&m.lines[0]).unwrap();
        let audit = &line["audit"];
        assert_eq!(
            audit["id"],
            "2026-12-01T10:00:00.000000000Z#pii-access#req-1#S1#111-1"
        );
        assert_eq!(audit["action"], "pii-access");
        assert_eq!(
            audit["who"],
            "arn:aws:sts::111122223333:assumed-role/CustomerServiceAgentRole/alice"
        );
        assert_eq!(audit["classes"], json!(["shipping", "contact"]));
        assert_eq!(audit["outcome"], "allowed");
        assert!(
            audit.get("ttl").is_none(),
            "table bookkeeping stays in the table"
        );
    }

    #[test]
    fn other_records_are_skipped_and_unreadable_items_are_named_by_key() {
        let mut bad = image();
        bad.as_object_mut().unwrap().remove("who");
        let m = mirror(&event(vec![
            record("MODIFY", "AUDITLOG#2026-12-01", image()),
            record("INSERT", "AUDIT#S1#111-1", image()),
            record(
                "INSERT",
                "PII#S1#111-1",
                json!({"pii_shipping": {"B": "AAAA"}}),
            ),
            record("INSERT", "AUDITLOG#2026-12-01", bad),
        ]));
        assert_eq!((m.skipped, m.unreadable), (3, 1));
        assert_eq!(
            m.lines,
            [
                r#"{"audit_unreadable":{"pk":"AUDITLOG#2026-12-01","sk":"2026-12-01T10:00:00.000000000Z#pii-access#req-1#S1#111-1"}}"#
            ]
        );
    }
}
