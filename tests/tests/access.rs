//! People's lookups through the pii-access API on the emulator: SigV4 checked by the local API
//! Gateway stand-in, the purposes' functions with their own roles (every request recorded for
//! the IAM evaluation), the audit trail read back from the table.

use std::sync::Arc;

use orderseal::access::Purpose;
use orderseal::access_client::{AccessClient, Answer, OrderView, Refusal};
use orderseal::audit::{AuditEntry, AuditLog};
use orderseal::clock::{Clock, ManualClock, SystemClock};
use orderseal::retention::Hold;
use orderseal::retention::dynamo::DynamoRetention;
use orderseal_local::{LOCAL_PEOPLE, LocalPerson, REGION, access_api, person_for, roles};
use orderseal_tests::{LogCapture, SELLER, TestStack, assert_no_canary, canary_order};
use time::{Duration, OffsetDateTime};

const SHIPPING_CANARY: &str = "CANARY-RECIPIENT-Q7Z";
const CONTACT_CANARY: &str = "CANARY-BUYER-Q7Z";

async fn api(
    stack: &TestStack,
    canaries: &[&str],
    clock: Arc<dyn Clock>,
) -> (String, tokio::task::JoinHandle<()>) {
    let functions = access_api::functions(&stack.resources, canaries, clock, |role| {
        stack.aws_as(role).clone()
    })
    .unwrap();
    access_api::serve(functions, 0).await.unwrap()
}

fn client(url: &str, person: LocalPerson) -> AccessClient {
    AccessClient::new(url, REGION, person.credentials())
}

fn operator() -> LocalPerson {
    LOCAL_PEOPLE
        .into_iter()
        .find(|p| p.role == roles::OPERATOR)
        .unwrap()
}

async fn opened(c: &AccessClient, purpose: Purpose, order: &str) -> OrderView {
    match c.get_order(purpose, SELLER, order).await.unwrap() {
        Answer::Opened(v) => *v,
        Answer::Refused(r) => panic!("{} refused: {r:?}", purpose.as_str()),
    }
}

async fn refused(c: &AccessClient, purpose: Purpose, seller: &str, order: &str) -> Refusal {
    match c.get_order(purpose, seller, order).await.unwrap() {
        Answer::Refused(r) => r,
        Answer::Opened(v) => panic!("{} was served: {:?}", purpose.as_str(), v.order_id),
    }
}

fn audit(stack: &TestStack) -> AuditLog {
    AuditLog::new(stack.aws.dynamodb.clone(), stack.table())
}

async fn trail(stack: &TestStack, order: &str) -> Vec<AuditEntry> {
    audit(stack).for_order(SELLER, order).await.unwrap()
}

/// Each purpose gets exactly its classes (ARCHITECTURE §3); every access leaves exactly one
/// audit event naming who, why and which classes; no value reaches a log or the table.
#[tokio::test]
async fn each_purpose_gets_exactly_its_classes_and_every_access_is_audited() {
    let stack = TestStack::new().await;
    let logs = LogCapture::start();
    let order = "113-6000001-0000001";
    stack
        .notify(
            &stack.ingest(),
            &canary_order(order, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
        )
        .await;
    let (url, server) = api(&stack, &[], Arc::new(SystemClock)).await;
    for c in roles::ALL {
        stack.aws_as(c).calls.reset();
    }

    for purpose in Purpose::PEOPLE {
        let person = person_for(purpose);
        let view = opened(&client(&url, person), purpose, order).await;
        assert_eq!(view.purpose, purpose.as_str());
        // Returns reads the address only for an open pickup (tests/tests/returns.rs).
        let shipping = view.classes.shipping.as_ref();
        if purpose == Purpose::Returns {
            assert!(
                shipping.is_none(),
                "returns got the address without a pickup"
            );
        } else {
            assert_eq!(
                shipping.and_then(|s| s.name.as_ref()).map(|n| n.expose()),
                Some(SHIPPING_CANARY)
            );
        }
        let contact = view.classes.contact.as_ref();
        match purpose {
            Purpose::FraudReview => assert!(contact.is_none(), "fraud review got contact"),
            _ => assert_eq!(
                contact
                    .and_then(|c| c.buyer_name.as_ref())
                    .map(|n| n.expose()),
                Some(CONTACT_CANARY)
            ),
        }
        // The gift class is nobody's: a response carrying it would not deserialize (the
        // client's view refuses unknown classes).

        // The function's calls for one access: one consistent read, one KMS Decrypt per class
        // opened, one audit transaction.
        let (role, _) = roles::for_purpose(purpose);
        let calls = stack.aws_as(role).calls.snapshot();
        let classes =
            view.classes.shipping.is_some() as u64 + view.classes.contact.is_some() as u64;
        assert_eq!(
            calls.get("DynamoDB.TransactGetItems"),
            Some(&1),
            "{calls:?}"
        );
        assert_eq!(calls.get("KMS.Decrypt"), Some(&classes), "{calls:?}");
        assert_eq!(
            calls.get("DynamoDB.TransactWriteItems"),
            Some(&1),
            "{calls:?}"
        );
        assert_eq!(calls.values().sum::<u64>(), 2 + classes, "{calls:?}");
    }

    let events = trail(&stack, order).await;
    assert_eq!(events.len(), 3, "one event per access: {events:?}");
    for (e, purpose) in events.iter().zip(Purpose::PEOPLE) {
        assert_eq!(e.action, "pii-access");
        assert_eq!(e.outcome, "allowed");
        assert_eq!(e.purpose.as_deref(), Some(purpose.as_str()));
        assert_eq!(e.who, person_for(purpose).caller_arn());
        let want: &[&str] = match purpose {
            Purpose::CustomerService => &["shipping", "contact"],
            Purpose::Returns => &["contact"],
            _ => &["shipping"],
        };
        assert_eq!(e.classes, want);
    }
    // The same events under their day, for the review.
    let day = audit(&stack)
        .since(
            OffsetDateTime::now_utc() - Duration::hours(1),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(day.iter().filter(|e| e.order_id == order).count(), 3);

    assert_no_canary("the table", &stack.raw_dump().await);
    logs.assert_clean();
    server.abort();
}

/// A caller whose role lacks the purpose gets nothing and leaves a refused audit event (IAM
/// refuses the same invocation: the evaluation checks the recorded request); a bad signature
/// never reaches a function; an unknown purpose, order or malformed id is a clear 4xx.
#[tokio::test]
async fn callers_without_the_purpose_and_bad_requests_get_nothing_and_are_audited() {
    let stack = TestStack::new().await;
    let logs = LogCapture::start();
    let order = "113-6000002-0000001";
    stack
        .notify(
            &stack.ingest(),
            &canary_order(order, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
        )
        .await;
    let (url, server) = api(&stack, &[], Arc::new(SystemClock)).await;
    let alice = person_for(Purpose::CustomerService);

    // The customer-service agent asks for fraud review, the operator for customer service.
    let r = refused(&client(&url, alice), Purpose::FraudReview, SELLER, order).await;
    assert_eq!((r.status, r.error.as_str()), (403, "not_permitted"));
    let r = refused(
        &client(&url, operator()),
        Purpose::CustomerService,
        SELLER,
        order,
    )
    .await;
    assert_eq!((r.status, r.error.as_str()), (403, "not_permitted"));
    let events = trail(&stack, order).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e.outcome == "refused" && e.reason.as_deref() == Some("not_permitted"))
    );
    assert_eq!(events[0].who, alice.caller_arn());
    assert_eq!(events[0].purpose.as_deref(), Some("fraud_review"));
    assert_eq!(events[1].who, operator().caller_arn());

    // A wrong secret: the gateway refuses it; no function runs, nothing is audited.
    let forged = AccessClient::new(
        &url,
        REGION,
        aws_credential_types(alice.access_key_id, "not-the-secret"),
    );
    let r = refused(&forged, Purpose::CustomerService, SELLER, order).await;
    assert_eq!(r.status, 403);
    assert_eq!(trail(&stack, order).await.len(), 2);

    // An unknown order: 404, audited; a malformed id: 400, audited without the id.
    let r = refused(
        &client(&url, alice),
        Purpose::CustomerService,
        SELLER,
        "113-0000000-0000000",
    )
    .await;
    assert_eq!((r.status, r.error.as_str()), (404, "no_such_order"));
    assert_eq!(trail(&stack, "113-0000000-0000000").await.len(), 1);
    let r = refused(
        &client(&url, alice),
        Purpose::CustomerService,
        SELLER,
        "PII%23x",
    )
    .await;
    assert_eq!((r.status, r.error.as_str()), (400, "bad_request"));

    // No purpose, or one that is not a route: API Gateway's 404.
    let http = reqwest::Client::new();
    for path in [
        format!("/orders/{SELLER}/{order}"),
        format!("/sales/orders/{SELLER}/{order}"),
    ] {
        let full = format!("{url}{path}");
        let host = full
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let mut req = http.get(&full);
        for (k, v) in orderseal::access_client::sign_headers(
            "GET",
            &full,
            &[("host", &host)],
            b"",
            &alice.credentials(),
            REGION,
            std::time::SystemTime::now(),
        )
        .unwrap()
        {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{path}");
        assert_no_canary(&path, &resp.text().await.unwrap());
    }

    assert_no_canary("the table", &stack.raw_dump().await);
    logs.assert_clean();
    server.abort();
}

fn aws_credential_types(key: &str, secret: &str) -> aws_sdk_dynamodb::config::Credentials {
    aws_sdk_dynamodb::config::Credentials::new(key, secret, None, None, "test")
}

/// Past its expiry, erased, or under a legal hold past its expiry, the PII does not exist for
/// any purpose: 410 or 423, audited.
#[tokio::test]
async fn access_after_expiry_erasure_or_under_a_legal_hold_is_refused() {
    let stack = TestStack::new().await;
    let ingest = stack.ingest();
    let [expired, erased, held] = [
        "113-6000003-0000001",
        "113-6000003-0000002",
        "113-6000003-0000003",
    ];
    for id in [expired, erased, held] {
        stack
            .notify(
                &ingest,
                &canary_order(id, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
            )
            .await;
    }
    let now = OffsetDateTime::now_utc();
    let operator = DynamoRetention::new(
        stack.aws_as(roles::OPERATOR).dynamodb.clone(),
        stack.table(),
    );
    operator
        .erase_on_request(SELLER, erased, "REQ-1", "privacy@seller.example", now)
        .await
        .unwrap();
    operator
        .add_hold(
            SELLER,
            held,
            &Hold {
                reason: "CASE-7".into(),
                by: "legal@seller.example".into(),
                until: now + Duration::days(120),
            },
            now,
        )
        .await
        .unwrap();
    // Forty days on, every order is past its expiry (the clock of the functions only).
    let clock = ManualClock::at(now + Duration::days(40));
    let (url, server) = api(&stack, &[], Arc::new(clock)).await;
    let c = client(&url, person_for(Purpose::CustomerService));
    let r = refused(&c, Purpose::CustomerService, SELLER, expired).await;
    assert_eq!((r.status, r.error.as_str()), (410, "expired"));
    let r = refused(&c, Purpose::CustomerService, SELLER, erased).await;
    assert_eq!((r.status, r.error.as_str()), (410, "erased"));
    let r = refused(&c, Purpose::CustomerService, SELLER, held).await;
    assert_eq!((r.status, r.error.as_str()), (423, "legal_hold"));
    for (id, reason) in [
        (expired, "expired"),
        (erased, "erased"),
        (held, "legal_hold"),
    ] {
        let access: Vec<AuditEntry> = trail(&stack, id)
            .await
            .into_iter()
            .filter(|e| e.action == "pii-access")
            .collect();
        assert_eq!(access.len(), 1, "{id}");
        assert_eq!(access[0].reason.as_deref(), Some(reason));
    }
    // The hold and the erasure are in the same trail.
    assert!(
        trail(&stack, held)
            .await
            .iter()
            .any(|e| e.action == "hold-add"
                && e.who == "legal@seller.example"
                && e.note.as_deref() == Some("CASE-7"))
    );
    assert!(
        trail(&stack, erased)
            .await
            .iter()
            .any(|e| e.action == "subject-erase")
    );
    server.abort();
}

/// Any access to a configured canary order is flagged in the audit trail and raises the
/// alarm metric (the function's reply asks for it; main prints the EMF line).
#[tokio::test]
async fn a_canary_order_lookup_is_flagged_and_raises_the_metric() {
    let stack = TestStack::new().await;
    let canary = "113-6000004-0000001";
    stack
        .notify(
            &stack.ingest(),
            &canary_order(canary, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
        )
        .await;
    let (url, server) = api(&stack, &[canary], Arc::new(SystemClock)).await;
    // Allowed (customer service) and refused (the operator): both are flagged.
    opened(
        &client(&url, person_for(Purpose::CustomerService)),
        Purpose::CustomerService,
        canary,
    )
    .await;
    refused(&client(&url, operator()), Purpose::Returns, SELLER, canary).await;
    let events = trail(&stack, canary).await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.canary), "{events:?}");

    // The reply the Lambda entry point turns into the CanaryOrderAccessed metric.
    let functions =
        access_api::functions(&stack.resources, &[canary], Arc::new(SystemClock), |r| {
            stack.aws_as(r).clone()
        })
        .unwrap();
    let (_, fraud) = &functions[2];
    let path = format!("/fraud_review/orders/{SELLER}/{canary}");
    let caller = person_for(Purpose::FraudReview).caller_arn();
    let reply = fraud
        .handle(orderseal_pii_access::Call {
            method: "GET",
            path: &path,
            request_id: "req-canary",
            caller: Some(&caller),
            body: b"",
        })
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.canary);
    let other = fraud
        .handle(orderseal_pii_access::Call {
            method: "GET",
            path: &format!("/fraud_review/orders/{SELLER}/113-0000000-0000009"),
            request_id: "req-other",
            caller: Some(&caller),
            body: b"",
        })
        .await;
    assert!(!other.canary);
    server.abort();
}
