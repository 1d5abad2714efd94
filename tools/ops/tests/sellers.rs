//! `orderseal seller add|list|remove` against the emulator, as an operator runs it: the
//! registry and the token secrets it writes, the token never shown or stored anywhere else, a
//! new seller served at once with its own token, and a removed one's notifications quarantined.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use orderseal_local::{notify, pump};
use orderseal_tests::{LogCapture, SELLER, TestStack, canary_order, moto_url};
use serde_json::Value;

const NEW_SELLER: &str = "A2NEWSELLER0001";

fn orderseal(stack: &TestStack, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orderseal"))
        .args(args)
        .env("ORDERSEAL_TABLE", stack.table())
        .env(
            "ORDERSEAL_SELLER_SECRET_PREFIX",
            &stack.resources.seller_secret_prefix,
        )
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_REGION", orderseal_local::REGION)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains(spapi_sandbox::DEFAULT_REFRESH_TOKEN),
        "a refresh token was printed"
    );
    out
}

/// `orderseal seller add <seller> --marketplace ATVPDKIKX0DER <extra…>` with `stdin`.
fn add(stack: &TestStack, seller: &str, extra: &[&str], stdin: &str) -> Output {
    let mut args = vec!["seller", "add", seller, "--marketplace", "ATVPDKIKX0DER"];
    args.extend_from_slice(extra);
    orderseal(stack, &args, Some(stdin))
}

/// The sandbox's refresh token, as `seller add` reads it.
fn token() -> String {
    format!("{}\n", spapi_sandbox::DEFAULT_REFRESH_TOKEN)
}

fn listed(stack: &TestStack) -> (Option<i32>, Vec<Value>) {
    let out = orderseal(stack, &["seller", "list", "--format", "json"], None);
    let sellers: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code(), sellers)
}

#[tokio::test]
async fn sellers_are_added_served_with_their_own_token_and_removed() {
    let logs = LogCapture::start();
    let stack = TestStack::new().await;
    // The stack's own seller, as provisioning added it.
    let (code, sellers) = listed(&stack);
    assert_eq!(code, Some(0));
    assert_eq!(sellers.len(), 1);
    assert_eq!(sellers[0]["seller_id"], SELLER);
    assert_eq!(
        sellers[0]["marketplaces"],
        serde_json::json!(orderseal_local::SANDBOX_MARKETPLACES)
    );

    // Refused: a bad id, a token that is not one, a future authorisation date.
    let bad = add(&stack, "bad/../id", &[], "Atzr|x-token-value\n");
    assert_eq!(bad.status.code(), Some(2));
    let not_a_token = add(&stack, NEW_SELLER, &[], "hello\n");
    assert_eq!(not_a_token.status.code(), Some(2));
    let future = add(
        &stack,
        NEW_SELLER,
        &["--authorized-on", "2999-01-01"],
        &token(),
    );
    assert_eq!(future.status.code(), Some(2));
    assert_eq!(
        listed(&stack).1.len(),
        1,
        "nothing was added by a refused command"
    );

    // Added, authorised 340 days ago: 25 days left, so the list fails until it is renewed.
    let authorized = (time::OffsetDateTime::now_utc() - time::Duration::days(340)).date();
    let added = add(
        &stack,
        NEW_SELLER,
        &[
            "--marketplace",
            "A2EUQ1WTGCTBG2",
            "--authorized-on",
            &authorized.to_string(),
        ],
        &token(),
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let (code, sellers) = listed(&stack);
    assert_eq!(code, Some(3), "an authorisation ends within 30 days");
    let new = sellers
        .iter()
        .find(|s| s["seller_id"] == NEW_SELLER)
        .unwrap();
    assert_eq!(new["authorized_on"], authorized.to_string());
    let table = String::from_utf8(orderseal(&stack, &["seller", "list"], None).stdout).unwrap();
    assert!(table.contains("authorise again now"), "{table}");
    // Renewed (authorised today): a new secret version, the list passes again.
    let renewed = add(&stack, NEW_SELLER, &[], &token());
    assert!(renewed.status.success());
    assert_eq!(listed(&stack).0, Some(0));
    // The token is in the seller's secret and nowhere in the table.
    assert!(
        !stack.raw_dump().await.contains("Atzr|"),
        "a refresh token reached the table"
    );

    // Served at once, with its own token (the LWA secret holds no per-seller tokens).
    let ingest = stack.ingest();
    let order = canary_order(
        "113-0000041-0000001",
        "SHIPPED",
        "MERCHANT",
        "2026-11-21T10:00:00Z",
    );
    stack.sandbox.control().put_order(order.clone()).unwrap();
    let body = notify::order_change_for(&order, NEW_SELLER, "n-new-seller").to_string();
    stack.send(&body).await;
    let report = stack
        .drain(&ingest, Duration::from_secs(30), Duration::ZERO)
        .await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));
    let item = orderseal_local::inspect::get_order(
        &stack.aws,
        stack.table(),
        NEW_SELLER,
        "113-0000041-0000001",
    )
    .await
    .unwrap();
    assert!(item.is_some(), "the new seller's order was stored");

    // Removed: the registry entry and the secret go; its next notification is quarantined.
    // Without the API (its subscription is deleted through it: tests/subscriptions.rs) only
    // when told to keep the subscription.
    let refused = orderseal(&stack, &["seller", "remove", NEW_SELLER], None);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        listed(&stack).1.len(),
        2,
        "nothing removed without --api-url"
    );
    let removed = orderseal(
        &stack,
        &["seller", "remove", NEW_SELLER, "--keep-subscription"],
        None,
    );
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert_eq!(listed(&stack).1.len(), 1);
    let again = orderseal(
        &stack,
        &["seller", "remove", NEW_SELLER, "--keep-subscription"],
        None,
    );
    assert_eq!(again.status.code(), Some(4));
    let later = notify::order_change_for(&order, NEW_SELLER, "n-after-removal").to_string();
    stack.send(&later).await;
    let ingest = stack.ingest();
    let report = stack
        .drain(&ingest, Duration::from_secs(30), Duration::ZERO)
        .await;
    assert_eq!((report.acknowledged, report.failed), (1, 0));
    let parked = pump::take_all(&stack.aws, &stack.queue_url("NotificationsDlq"))
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(
        parked[0].message_attributes().unwrap()[orderseal::quarantine::REASON_ATTRIBUTE]
            .string_value(),
        Some("unknown_seller")
    );
    logs.assert_clean();
}
