//! The `orderseal` binary against the emulator (started by `scripts/test.sh`): report exit codes
//! and JSON, holds with their refusals, the CSV export, a buyer's report and erasure, and the
//! index audit, as an operator runs them.

use std::process::{Command, Output};

use orderseal_local::AwsClients;
use orderseal_local::provision::{ProvisionOptions, provision};
use orderseal_local::retention::Seed;
use time::{Duration, OffsetDateTime};

const SELLER: &str = "A1CLITESTSELLER";

fn moto_url() -> String {
    std::env::var("ORDERSEAL_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

fn orderseal(table: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderseal"))
        .args(args)
        .env("ORDERSEAL_TABLE", table)
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_REGION", orderseal_local::REGION)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn report_holds_and_export_from_the_command_line() {
    let aws = AwsClients::for_endpoint(&moto_url()).await;
    let spec = orderseal_local::template::load(&orderseal_local::template_path()).unwrap();
    let resources = provision(
        &aws,
        &spec,
        &format!("cli{}-{:04x}", std::process::id(), fastrand::u16(..)),
        &orderseal_local::local_secrets(SELLER),
        &ProvisionOptions::default(),
    )
    .await
    .unwrap();
    let table = resources.table("OrdersTable").unwrap().to_owned();
    let now = OffsetDateTime::now_utc();
    let due = orderseal_local::retention::seed_orders(
        &aws,
        &table,
        Seed {
            seller: SELLER,
            count: 2,
            created: now - Duration::days(40),
            expires: now - Duration::hours(3),
        },
    )
    .await
    .unwrap();
    let live = orderseal_local::retention::seed_orders(
        &aws,
        &table,
        Seed {
            seller: SELLER,
            count: 1,
            created: now - Duration::days(10),
            expires: now + Duration::days(20),
        },
    )
    .await
    .unwrap();

    // Two records past due: the report lists both and --check fails with status 3.
    let out = orderseal(
        &table,
        &["retention", "report", "--format", "json", "--check"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["overdue"].as_array().unwrap().len(), 2);

    // A hold needs a reason and must come before the expiry; a valid one keeps the live order.
    let hold = |order: &str, reason: &str| {
        orderseal(
            &table,
            &[
                "hold",
                "add",
                "--seller",
                SELLER,
                "--order",
                order,
                "--reason",
                reason,
                "--by",
                "legal@seller.example",
                "--until",
                "2099-01-01",
            ],
        )
    };
    let refused = hold(&live[0], " ");
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("a hold needs a reason"));
    let late = hold(&due[0], "case 2026-16");
    assert_eq!(late.status.code(), Some(1));
    assert!(text(&late.stderr).contains("past its expiry"));
    assert!(hold(&live[0], "case 2026-17").status.success());
    let out = orderseal(&table, &["retention", "report"]);
    let table_text = text(&out.stdout);
    assert!(table_text.contains("case 2026-17"), "{table_text}");
    assert!(table_text.contains(&due[1]), "overdue orders are listed");

    // The sweep erases the due ones; the report is clean, the export has their records.
    let function =
        orderseal_local::retention::retention(&aws, &resources, orderseal::clock::SystemClock)
            .unwrap();
    let run = function.run(None).await.unwrap();
    assert_eq!((run.erased, run.held, run.overdue), (2, 0, 0));
    let out = orderseal(&table, &["retention", "report", "--check"]);
    assert!(out.status.success(), "{}", text(&out.stdout));

    let csv = std::env::temp_dir().join(format!("orderseal-cli-{}.csv", std::process::id()));
    let from = (now - Duration::days(60)).date().to_string();
    let to = (now + Duration::days(1)).date().to_string();
    let out = orderseal(
        &table,
        &[
            "export",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            csv.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The two erased and the live one (shipped: its record is written before erasure).
    assert!(text(&out.stderr).contains("exported 3 records and 0 returns (3 rows)"));
    let written = std::fs::read_to_string(&csv).unwrap();
    let _ = std::fs::remove_file(&csv);
    assert_eq!(written.lines().count(), 4, "header and three rows");
    assert!(written.contains(&due[0]) && written.contains(&due[1]) && written.contains(&live[0]));
    let bad = orderseal(&table, &["export", "--from", &to, "--to", &from]);
    assert_eq!(bad.status.code(), Some(2));

    // Lifting the hold is audited like placing it; lifting twice is refused.
    let lift = |by: &str| {
        orderseal(
            &table,
            &[
                "hold",
                "remove",
                "--seller",
                SELLER,
                "--order",
                &live[0],
                "--reason",
                "case closed",
                "--by",
                by,
            ],
        )
    };
    assert!(lift("legal@seller.example").status.success());
    let again = lift("legal@seller.example");
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("has no hold"));

    // A buyer's request: what is held (names and dates, never a value), then erasure now;
    // the index audit finds nothing amiss after it.
    let ids = ["--seller", SELLER, "--order", live[0].as_str()];
    let report = orderseal(&table, &[&["subject", "report"][..], &ids[..]].concat());
    assert!(report.status.success(), "{}", text(&report.stderr));
    let shown = text(&report.stdout);
    assert!(
        shown.contains("buyer data held (sealed): shipping, contact"),
        "{shown}"
    );
    for pii in [
        "Seed Recipient",
        "Seed Street",
        "Seed Buyer",
        "@marketplace",
    ] {
        assert!(!shown.contains(pii), "the subject report prints no value");
    }
    let erase = |reason: &str| {
        orderseal(
            &table,
            &[
                &["subject", "erase"][..],
                &ids[..],
                &["--reason", reason, "--by", "cs@seller.example"][..],
            ]
            .concat(),
        )
    };
    let erased = erase("request 7781");
    assert!(erased.status.success(), "{}", text(&erased.stderr));
    assert!(text(&erased.stderr).contains("erased the PII"));
    let twice = erase("request 7781");
    assert_eq!(twice.status.code(), Some(1));
    assert!(text(&twice.stderr).contains("already erased"));
    let json = orderseal(
        &table,
        &[
            &["subject", "report"][..],
            &ids[..],
            &["--format", "json"][..],
        ]
        .concat(),
    );
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["expiry_basis"], "request");
    assert_eq!(json["classes"].as_array().map(Vec::len), Some(0));
    let audit = orderseal(&table, &["retention", "audit"]);
    assert!(audit.status.success(), "{}", text(&audit.stdout));
}
