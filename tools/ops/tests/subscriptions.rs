//! `orderseal subscribe|subscriptions|doctor` and `seller remove` as an operator runs them:
//! signed with the operators' credentials through the local API to the subscriptions function,
//! which calls the SP-API sandbox's Notifications API with tokens the operator never sees.

use std::process::{Output, Stdio};

use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use orderseal_local::{REGION, access_api, provision, roles, template};
use orderseal_tests::{LogCapture, SELLER, TestStack, canary_order, moto_url};
use serde_json::Value;
use spapi_sandbox::{SandboxConfig, SellerAccount};

const SECOND: &str = "A2SECONDSELLER1";
const SECOND_TOKEN: &str = "Atzr|second-seller-token-value";

struct Cli<'a> {
    stack: &'a TestStack,
    api: String,
}

impl Cli<'_> {
    async fn run(&self, args: &[&str], stdin: Option<&str>, queue: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orderseal"))
            .args(args)
            .env("ORDERSEAL_TABLE", self.stack.table())
            .env(
                "ORDERSEAL_SELLER_SECRET_PREFIX",
                &self.stack.resources.seller_secret_prefix,
            )
            .env("ORDERSEAL_ACCESS_API", &self.api)
            .env("ORDERSEAL_NOTIFICATIONS_QUEUE", queue)
            .env("AWS_ENDPOINT_URL", moto_url())
            .env("AWS_REGION", REGION)
            // The local operator: moto takes any key; the API stand-in checks its signature.
            .env("AWS_ACCESS_KEY_ID", operator().access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", operator().secret_access_key())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            let mut input = child.stdin.take().unwrap();
            input.write_all(text.as_bytes()).await.unwrap();
        }
        let out = child.wait_with_output().await.unwrap();
        let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        for secret in [
            spapi_sandbox::DEFAULT_REFRESH_TOKEN,
            SECOND_TOKEN,
            spapi_sandbox::DEFAULT_CLIENT_SECRET,
        ] {
            assert!(!text.contains(secret), "a secret was printed: {text}");
        }
        out
    }

    async fn ok(&self, args: &[&str]) -> Output {
        let out = self
            .run(args, None, &self.stack.queue_url("NotificationsQueue"))
            .await;
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn operator() -> orderseal_local::LocalPerson {
    orderseal_local::LOCAL_PEOPLE
        .into_iter()
        .find(|p| p.role == roles::OPERATOR)
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("not JSON: {}", stdout(out)))
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["sellers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["sellerId"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn two_seller_stack() -> TestStack {
    TestStack::with_sandbox(SandboxConfig {
        other_sellers: vec![SellerAccount {
            seller_id: SECOND.to_owned(),
            refresh_token: SECOND_TOKEN.to_owned(),
            generated_orders: 2,
        }],
        ..SandboxConfig::default()
    })
    .await
}

async fn serve(stack: &TestStack) -> (String, tokio::task::JoinHandle<()>) {
    let subscriptions = orderseal_local::subscriptions_function(
        &stack.resources,
        &stack.sandbox.base_url(),
        stack.aws_as(roles::SUBSCRIPTIONS),
    )
    .unwrap();
    access_api::serve_with(Vec::new(), Some(Arc::new(subscriptions)), 0)
        .await
        .unwrap()
}

#[tokio::test]
async fn subscribe_twice_makes_one_destination_and_one_subscription_per_seller() {
    let logs = LogCapture::start();
    let stack = two_seller_stack().await;
    let (api, server) = serve(&stack).await;
    let cli = Cli { stack: &stack, api };
    let added = cli
        .run(
            &["seller", "add", SECOND, "--marketplace", "A1PA6795UKMFR9"],
            Some(&format!("{SECOND_TOKEN}\n")),
            "",
        )
        .await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    // Nothing at Amazon yet: the listing says so and exits 3.
    let before = cli
        .run(
            &["subscriptions", "--format", "json"],
            None,
            &stack.queue_url("NotificationsQueue"),
        )
        .await;
    assert_eq!(before.status.code(), Some(3));
    let before = json(&before);
    assert!(before.get("destination").is_none(), "{before}");
    assert!(statuses(&before).iter().all(|(_, s)| s == "missing"));

    let first = json(&cli.ok(&["subscribe", "--format", "json"]).await);
    assert_eq!(first["destination"]["status"], "created");
    assert_eq!(
        first["destination"]["queueArn"],
        stack
            .resources
            .queue("NotificationsQueue")
            .unwrap()
            .arn
            .as_str()
    );
    let mut first_rows = statuses(&first);
    first_rows.sort();
    assert_eq!(
        first_rows,
        [
            (SECOND.to_owned(), "created".to_owned()),
            (SELLER.to_owned(), "created".to_owned())
        ]
    );

    let second = json(&cli.ok(&["subscribe", "--format", "json"]).await);
    assert_eq!(second["destination"]["status"], "exists");
    assert_eq!(
        second["destination"]["destinationId"],
        first["destination"]["destinationId"]
    );
    assert!(
        statuses(&second).iter().all(|(_, s)| s == "exists"),
        "{second}"
    );
    let control = stack.sandbox.control();
    assert_eq!(control.destinations().len(), 1);
    let subscriptions = control.subscriptions();
    assert_eq!(subscriptions.len(), 2);
    let mut owners: Vec<&str> = subscriptions.iter().map(|s| s.seller_id.as_str()).collect();
    owners.sort();
    assert_eq!(
        owners,
        [SECOND, SELLER],
        "each seller subscribed with its own token"
    );
    // The second run met Amazon's 409s and reported what exists.
    let stats = control.stats();
    assert_eq!(stats.notification_op("createDestination").count(409), 1);
    assert_eq!(stats.notification_op("createSubscription").count(409), 2);
    assert_eq!(stats.notification_op("createSubscription").count(200), 2);

    let listed = json(&cli.ok(&["subscriptions", "--format", "json"]).await);
    assert!(
        statuses(&listed).iter().all(|(_, s)| s == "subscribed"),
        "{listed}"
    );

    // Removing a seller deletes its subscription first, with its token.
    let removed = cli
        .run(
            &["seller", "remove", SECOND],
            None,
            &stack.queue_url("NotificationsQueue"),
        )
        .await;
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert!(stdout(&removed).contains("subscription of A2SECONDSELLER1: deleted"));
    let left = control.subscriptions();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].seller_id, SELLER);
    server.abort();
    let logged = logs.text();
    assert!(
        logged.contains("\"subscriptions\""),
        "the function's outcome lines: {logged}"
    );
    for secret in [
        spapi_sandbox::DEFAULT_REFRESH_TOKEN,
        SECOND_TOKEN,
        spapi_sandbox::DEFAULT_CLIENT_SECRET,
    ] {
        assert!(!logged.contains(secret), "a secret reached the logs");
    }
}

#[tokio::test]
async fn doctor_passes_on_the_template_and_fails_on_a_broken_queue_policy() {
    // Captured here too: a thread without a subscriber that meets a log callsite first can
    // leave it switched off for the other test's capture.
    let _logs = LogCapture::start();
    let stack = two_seller_stack().await;
    let (api, server) = serve(&stack).await;
    let cli = Cli { stack: &stack, api };
    let queue = stack.queue_url("NotificationsQueue");

    // Before subscribing: the policies are right, the destination is missing.
    let early = cli.run(&["doctor"], None, &queue).await;
    assert_eq!(early.status.code(), Some(3));
    let text = stdout(&early);
    assert!(
        text.contains("ok   queue policy lets SP-API send"),
        "{text}"
    );
    assert!(
        text.contains("ok   queue key lets SP-API encrypt"),
        "{text}"
    );
    assert!(text.contains("FAIL destination for the queue"), "{text}");

    cli.ok(&["subscribe"]).await;
    // A notification arrives for the seller: its age is reported.
    stack
        .notify(
            &stack.ingest(),
            &canary_order(
                "113-8100001-0000001",
                "UNSHIPPED",
                "MERCHANT",
                "2026-11-30T10:00:00Z",
            ),
        )
        .await;
    let healthy = cli.ok(&["doctor"]).await;
    let text = stdout(&healthy);
    assert!(
        text.contains(&format!(
            "ok   seller {SELLER} subscribed (last notification 0h"
        )),
        "{text}"
    );

    // The same template with the queue policy naming the seller's own account instead of
    // SP-API's: provisioned as a stack of its own, doctor fails on its queue.
    let broken_text = std::fs::read_to_string(orderseal_local::template_path())
        .unwrap()
        .replace(
            "Principal: { AWS: \"437568002678\" }",
            "Principal: { AWS: !Ref AWS::AccountId }",
        );
    let spec = template::parse(&broken_text).unwrap();
    let prefix = format!("broken{}", std::process::id());
    let broken = provision::provision(
        &stack.aws,
        &spec,
        &prefix,
        &orderseal_local::local_secrets(SELLER),
        &Default::default(),
    )
    .await
    .unwrap();
    let failing = cli
        .run(
            &["doctor"],
            None,
            &broken.queue("NotificationsQueue").unwrap().url,
        )
        .await;
    assert_eq!(failing.status.code(), Some(3));
    let text = stdout(&failing);
    assert!(
        text.contains("FAIL queue policy lets SP-API send: no statement allows SP-API's account (437568002678) sqs:SendMessage"),
        "{text}"
    );
    // Its destination is this deployment's, not the broken queue's.
    assert!(text.contains("FAIL destination for the queue"), "{text}");
    tokio::time::sleep(Duration::from_millis(10)).await;
    server.abort();
}
