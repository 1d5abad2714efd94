//! `orderseal order show|audit` and `orderseal audit report` as people run them: the lookup
//! signed with the person's own credentials through the local pii-access API (SigV4 checked),
//! the audit trail read by the operator. Values appear only in an allowed lookup's output.

use std::process::Output;
use std::sync::Arc;

use orderseal::access::Purpose;
use orderseal_local::{LocalPerson, REGION, access_api, person_for};
use orderseal_tests::{SELLER, TestStack, assert_no_canary, canary_order, moto_url};

async fn orderseal(table: &str, person: LocalPerson, api: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orderseal"))
        .args(args)
        .env("ORDERSEAL_TABLE", table)
        .env("ORDERSEAL_ACCESS_API", api)
        .env("ORDERSEAL_SELLER", SELLER)
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", person.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", person.secret_access_key())
        .output()
        .await
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn people_look_orders_up_for_a_purpose_and_the_operator_reviews_who_did() {
    let stack = TestStack::new().await;
    let order = "113-7000001-0000001";
    stack
        .notify(
            &stack.ingest(),
            &canary_order(order, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
        )
        .await;
    let functions = access_api::functions(
        &stack.resources,
        &[],
        Arc::new(orderseal::clock::SystemClock),
        |r| stack.aws_as(r).clone(),
    )
    .unwrap();
    let (api, server) = access_api::serve(functions, 0).await.unwrap();
    let table = stack.table().to_owned();
    let alice = person_for(Purpose::CustomerService);
    let fran = person_for(Purpose::FraudReview);

    // Customer service: the shipping and contact values, as a table.
    let out = orderseal(
        &table,
        alice,
        &api,
        &["order", "show", order, "--purpose", "customer_service"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("CANARY-RECIPIENT-Q7Z") && shown.contains("CANARY-BUYER-Q7Z"),
        "{shown}"
    );
    assert!(shown.contains("this lookup is audited"));
    assert!(!shown.contains("CANARY-GIFT-Q7Z"), "gift is no purpose's");
    assert_no_canary("stderr", &text(&out.stderr));

    // Fraud review: shipping only.
    let out = orderseal(
        &table,
        fran,
        &api,
        &["order", "show", order, "--purpose", "fraud_review"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("CANARY-RECIPIENT-Q7Z"), "{shown}");
    assert!(
        !shown.contains("CANARY-BUYER-Q7Z") && !shown.contains("canary-q7z@"),
        "{shown}"
    );

    // No purpose, no data; a purpose the caller's role lacks: refused (exit 4), no data.
    let out = orderseal(&table, alice, &api, &["order", "show", order]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--purpose"));
    let out = orderseal(
        &table,
        alice,
        &api,
        &["order", "show", order, "--purpose", "fraud_review"],
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("403 not_permitted"));
    for o in [&out.stdout, &out.stderr] {
        assert_no_canary("a refused lookup", &text(o));
    }

    // The operator's review: the order's trail, then the summary per identity and purpose.
    let operator = orderseal_local::LOCAL_PEOPLE[3];
    let out = orderseal(&table, operator, &api, &["order", "audit", order]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let trail = text(&out.stdout);
    assert_eq!(
        trail.lines().filter(|l| l.contains("pii-access")).count(),
        3,
        "{trail}"
    );
    assert!(trail.contains(&alice.caller_arn()) && trail.contains(&fran.caller_arn()));
    assert!(trail.contains("not_permitted"));
    assert_no_canary("the audit trail", &trail);

    let out = orderseal(
        &table,
        operator,
        &api,
        &["audit", "report", "--since", "1d", "--format", "json"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let review: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |who: &str, purpose: &str| {
        review
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["who"] == who && r["purpose"] == purpose)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {who} {purpose}: {review}"))
    };
    let cs = row(&alice.caller_arn(), "customer_service");
    assert_eq!(
        (cs["allowed"].as_u64(), cs["refused"].as_u64()),
        (Some(1), Some(0))
    );
    let wrong = row(&alice.caller_arn(), "fraud_review");
    assert_eq!(
        (wrong["allowed"].as_u64(), wrong["refused"].as_u64()),
        (Some(0), Some(1))
    );
    assert_no_canary("the review", &text(&out.stdout));
    let out = orderseal(
        &table,
        operator,
        &api,
        &["audit", "report", "--since", "1d"],
    )
    .await;
    assert!(
        text(&out.stdout).contains("access review"),
        "{}",
        text(&out.stdout)
    );
    server.abort();
}

/// `orderseal fraud release|cancel`: only the fraud reviewer decides, for the fraud_review
/// purpose; the decision is audited.
#[tokio::test]
async fn a_fraud_reviewer_releases_a_held_order_from_the_command_line() {
    let stack = TestStack::new().await;
    let ingest = stack.ingest_with_fraud_rules(r#"{"default":{"postal_code_mismatch":true}}"#);
    let held = "113-7000002-0000001";
    stack
        .notify(
            &ingest,
            &canary_order(held, "UNSHIPPED", "MERCHANT", "2026-11-21T10:00:00Z"),
        )
        .await;
    let functions = access_api::functions(
        &stack.resources,
        &[],
        Arc::new(orderseal::clock::SystemClock),
        |r| stack.aws_as(r).clone(),
    )
    .unwrap();
    let (api, server) = access_api::serve(functions, 0).await.unwrap();
    let table = stack.table().to_owned();
    let alice = person_for(Purpose::CustomerService);
    let fran = person_for(Purpose::FraudReview);

    // The operators list what is held (exit 3 while any is).
    let operator = orderseal_local::LOCAL_PEOPLE[3];
    let out = orderseal(&table, operator, &api, &["fraud", "list"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(
        listed.contains(held) && listed.contains("postal_code_mismatch"),
        "{listed}"
    );
    assert_no_canary("the held list", &listed);

    let out = orderseal(&table, fran, &api, &["fraud", "release", held]).await;
    assert_eq!(out.status.code(), Some(2), "no purpose, no decision");
    let out = orderseal(
        &table,
        alice,
        &api,
        &["fraud", "release", held, "--purpose", "fraud_review"],
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let out = orderseal(
        &table,
        fran,
        &api,
        &["fraud", "release", held, "--purpose", "fraud_review"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("released"));
    let out = orderseal(
        &table,
        fran,
        &api,
        &["fraud", "cancel", held, "--purpose", "fraud_review"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "a released order cannot be cancelled after review"
    );
    assert!(text(&out.stderr).contains("409 not_held"));

    let out = orderseal(&table, operator, &api, &["fraud", "list"]).await;
    assert!(out.status.success(), "decided: nothing held");
    let out = orderseal(&table, operator, &api, &["order", "audit", held]).await;
    let trail = text(&out.stdout);
    for action in ["fraud-hold", "fraud-release", "fraud-cancel"] {
        assert!(trail.contains(action), "{trail}");
    }
    assert!(trail.contains(&fran.caller_arn()));
    assert_no_canary("the trail", &trail);
    server.abort();
}

/// `orderseal return record|update` as the returns clerk, then `orderseal export` as the
/// operator: the return and its refund are a `return` row of the export; a pickup opens the
/// address for `order show --purpose returns` until it is received.
#[tokio::test]
async fn a_returns_clerk_records_a_return_and_its_refund_reaches_the_export() {
    let stack = TestStack::new().await;
    let order = "113-7000003-0000001";
    stack.ship(order, "US", "WA").await;
    stack
        .notify(
            &stack.ingest(),
            &canary_order(order, "SHIPPED", "MERCHANT", "2026-11-22T10:00:00Z"),
        )
        .await;
    let functions = access_api::functions(
        &stack.resources,
        &[],
        Arc::new(orderseal::clock::SystemClock),
        |r| stack.aws_as(r).clone(),
    )
    .unwrap();
    let (api, server) = access_api::serve(functions, 0).await.unwrap();
    let table = stack.table().to_owned();
    let rob = person_for(Purpose::Returns);

    let out = orderseal(
        &table,
        rob,
        &api,
        &[
            "return",
            "record",
            order,
            "--purpose",
            "returns",
            "--rma",
            "RMA-77",
            "--reason",
            "defective",
            "--item",
            "SKU-MUG-1:1",
            "--method",
            "pickup",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("RMA-77: requested (pickup, defective)"),
        "{said}"
    );
    assert!(said.contains("may read the order's address until the pickup is received"));
    let show = ["order", "show", order, "--purpose", "returns"];
    let out = orderseal(&table, rob, &api, &show).await;
    assert!(
        text(&out.stdout).contains("CANARY-RECIPIENT-Q7Z"),
        "pickup: the address"
    );

    for args in [
        ["--status", "received"].as_slice(),
        ["--status", "refunded", "--refund", "29.99"].as_slice(),
    ] {
        let mut all = vec![
            "return",
            "update",
            order,
            "--purpose",
            "returns",
            "--rma",
            "RMA-77",
        ];
        all.extend_from_slice(args);
        let out = orderseal(&table, rob, &api, &all).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = orderseal(&table, rob, &api, &show).await;
    let shown = text(&out.stdout);
    assert!(
        !shown.contains("CANARY-RECIPIENT-Q7Z") && shown.contains("CANARY-BUYER-Q7Z"),
        "{shown}"
    );

    // Refused with the reason, exit 4: refunds beyond the order's total; a free-text reason
    // does not even parse.
    let out = orderseal(
        &table,
        rob,
        &api,
        &[
            "return",
            "record",
            order,
            "--purpose",
            "returns",
            "--rma",
            "RMA-78",
            "--reason",
            "damaged",
            "--item",
            "SKU-MUG-1:1",
            "--status",
            "refunded",
            "--refund",
            "30.00",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("refund_over_total"));
    let out = orderseal(
        &table,
        rob,
        &api,
        &[
            "return",
            "record",
            order,
            "--purpose",
            "returns",
            "--rma",
            "RMA-79",
            "--reason",
            "call me at home",
            "--item",
            "SKU-MUG-1:1",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));

    // The operator's export: the sale row and the return row.
    let operator = orderseal_local::LOCAL_PEOPLE
        .into_iter()
        .find(|p| p.role == orderseal_local::roles::OPERATOR)
        .unwrap();
    let out = orderseal(
        &table,
        operator,
        &api,
        &[
            "export",
            "--from",
            "2026-11-01T00:00:00Z",
            "--to",
            "2026-12-01T00:00:00Z",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert_eq!(&rows[0][col("row_type")], "sale");
    assert_eq!(&rows[1][col("row_type")], "return");
    assert_eq!(&rows[1][col("rma_id")], "RMA-77");
    assert_eq!(&rows[1][col("return_status")], "refunded");
    assert_eq!(&rows[1][col("returned_items")], "SKU-MUG-1:1");
    assert_eq!(&rows[1][col("refund_amount")], "29.99");
    assert_eq!(&rows[1][col("currency")], "USD");
    assert!(text(&out.stderr).contains("1 records and 1 returns"));
    assert_no_canary("the export", &csv);
    server.abort();
}
