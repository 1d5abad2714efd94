//! The deployment template says what the code assumes: who may open which PII class, who may
//! write to the notifications queue, partial batch failures, TTL, PITR and SSE with the
//! customer key. (moto does not enforce key policies, so this is where they are checked.)

use serde_norway::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(orderseal_local::template_path()).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    &t["Resources"][id]
}

/// The logical id behind `!GetAtt X.Arn`.
fn get_att(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "GetAtt" => t
            .value
            .as_str()
            .map(|s| s.split('.').next().unwrap().to_owned()),
        _ => None,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(seq) => seq
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

fn key_statements(t: &Value) -> Vec<Value> {
    resource(t, "PiiSealKey")["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .unwrap()
        .clone()
}

fn allowed_for(t: &Value, role: &str) -> Vec<Value> {
    key_statements(t)
        .into_iter()
        .filter(|s| {
            s["Effect"] == "Allow" && get_att(&s["Principal"]["AWS"]).as_deref() == Some(role)
        })
        .collect()
}

#[test]
fn ingest_may_seal_every_class_and_open_none() {
    let t = template();
    let stmts = allowed_for(&t, "IngestFunctionRole");
    assert_eq!(stmts.len(), 1);
    assert_eq!(strings(&stmts[0]["Action"]), ["kms:GenerateDataKey"]);
    let cond = &stmts[0]["Condition"]["StringEquals"];
    assert_eq!(
        strings(&cond["kms:EncryptionContext:class"]),
        ["shipping", "contact", "gift"]
    );
    assert_eq!(strings(&cond["kms:EncryptionContext:app"]), ["orderseal"]);
}

#[test]
fn dispatch_may_open_shipping_but_not_contact_or_gift() {
    let t = template();
    let stmts = allowed_for(&t, "DispatchFunctionRole");
    assert_eq!(stmts.len(), 1);
    assert_eq!(strings(&stmts[0]["Action"]), ["kms:Decrypt"]);
    let classes = strings(&stmts[0]["Condition"]["StringEquals"]["kms:EncryptionContext:class"]);
    assert_eq!(classes, ["shipping"]);
    // And no role policy of dispatch grants the seal key another way (the key delegates
    // nothing to IAM, so it could not anyway).
    let policies =
        serde_norway::to_string(&resource(&t, "DispatchFunctionRole")["Properties"]).unwrap();
    assert!(
        policies.contains("ReadOrderForShipping"),
        "the role is read"
    );
    assert!(!policies.contains("PiiSealKey"));
}

#[test]
fn only_amazon_may_send_notifications_and_functions_report_partial_failures() {
    let t = template();
    let policy =
        &resource(&t, "NotificationsQueuePolicy")["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Principal"]["AWS"], "437568002678");
    assert_eq!(
        strings(&policy["Action"]),
        ["sqs:SendMessage", "sqs:GetQueueAttributes"]
    );
    for (function, queue) in [
        ("IngestFunction", "NotificationsQueue"),
        ("DispatchFunction", "ShipmentsQueue"),
    ] {
        let events = resource(&t, function)["Properties"]["Events"]
            .as_mapping()
            .unwrap();
        let (_, event) = events.iter().next().unwrap();
        assert_eq!(
            get_att(&event["Properties"]["Queue"]).as_deref(),
            Some(queue)
        );
        assert_eq!(
            strings(&event["Properties"]["FunctionResponseTypes"]),
            ["ReportBatchItemFailures"]
        );
    }
}

#[test]
fn the_table_has_ttl_pitr_and_sse_with_the_customer_key() {
    let t = template();
    let p = &resource(&t, "OrdersTable")["Properties"];
    assert_eq!(p["TimeToLiveSpecification"]["AttributeName"], "ttl");
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEType"], "KMS");
    assert!(matches!(&p["SSESpecification"]["KMSMasterKeyId"], Value::Tagged(t) if t.tag == "Ref"));
}

#[test]
fn ingest_quarantines_into_the_notifications_dlq() {
    let t = template();
    let env = &resource(&t, "IngestFunction")["Properties"]["Environment"]["Variables"];
    assert!(
        matches!(&env["ORDERSEAL_QUARANTINE_QUEUE_URL"], Value::Tagged(x) if x.tag == "Ref" && x.value == "NotificationsDlq")
    );
    let redrive = &resource(&t, "NotificationsQueue")["Properties"]["RedrivePolicy"];
    assert_eq!(
        get_att(&redrive["deadLetterTargetArn"]).as_deref(),
        Some("NotificationsDlq")
    );
}

#[test]
fn the_retention_sweep_reads_a_sparse_expiry_index_without_pii_and_cannot_decrypt() {
    let t = template();
    let table = &resource(&t, "OrdersTable")["Properties"];
    let gsi = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(gsi["IndexName"], "pii-expiry");
    assert_eq!(gsi["KeySchema"][0]["AttributeName"], "pii_shard");
    assert_eq!(gsi["KeySchema"][1]["AttributeName"], "pii_expires_at");
    // Never ALL: the index must not copy a sealed blob.
    assert_eq!(gsi["Projection"]["ProjectionType"], "INCLUDE");
    let carried = strings(&gsi["Projection"]["NonKeyAttributes"]);
    assert_eq!(carried, ["hold_until", "created_time"]);

    // The sweep has no grant on the PII key, in the key policy or in its own role.
    assert!(allowed_for(&t, "RetentionFunctionRole").is_empty());
    let f = &resource(&t, "RetentionFunction")["Properties"];
    let text =
        serde_norway::to_string(&resource(&t, "RetentionFunctionRole")["Properties"]).unwrap();
    assert!(text.contains("EraseSealedPii"), "the role is read");
    assert!(!text.contains("PiiSealKey"));
    assert!(!text.contains("dynamodb:Scan"), "no full-table scan");
    assert_eq!(
        f["Events"]["Hourly"]["Properties"]["ScheduleExpression"],
        "rate(1 hour)"
    );
    let alarm = &resource(&t, "PiiOverdueAlarm")["Properties"];
    assert_eq!(alarm["MetricName"], "PiiOverdue");
    assert_eq!(alarm["Threshold"], 0);
    assert_eq!(
        alarm["TreatMissingData"], "breaching",
        "a sweep that stops reporting alarms"
    );
}

/// The DPP's 30 days count backups and the sweep's lateness: erased PII stays restorable for
/// the point-in-time recovery window, and the hourly sweep erases up to an hour after the
/// expiry. So the most the parameters allow for the retention, plus the sweep's interval (read
/// from its schedule), plus the window, is at most 30 days; the table uses that window, and every
/// function that sets an expiry is told retention, window and anchor (and refuses a
/// configuration over the budget at start).
#[test]
fn retention_the_sweep_and_the_backup_window_fit_the_thirty_days() {
    let t = template();
    let max = |p: &str| t["Parameters"][p]["MaxValue"].as_i64().unwrap();
    let retention_h = max("RetentionDays") * 24;
    let window_h = max("BackupWindowDays") * 24;
    let schedule = &resource(&t, "RetentionFunction")["Properties"]["Events"]["Hourly"]["Properties"]
        ["ScheduleExpression"];
    let sweep_h = match schedule.as_str() {
        Some("rate(1 hour)") => 1,
        other => panic!("the sweep's schedule {other:?} is not the hour the budget assumes"),
    };
    assert!(
        retention_h + sweep_h + window_h <= 30 * 24,
        "{retention_h} h + {sweep_h} h + {window_h} h exceed the DPP's 30 days"
    );
    assert_eq!(
        orderseal::order::SWEEP_INTERVAL.whole_hours(),
        sweep_h,
        "the functions' budget check assumes the same interval"
    );
    let pitr = &resource(&t, "OrdersTable")["Properties"]["PointInTimeRecoverySpecification"];
    assert_eq!(pitr["PointInTimeRecoveryEnabled"], true);
    let is_ref =
        |v: &Value, p: &str| matches!(v, Value::Tagged(x) if x.tag == "Ref" && x.value == p);
    assert!(
        is_ref(&pitr["RecoveryPeriodInDays"], "BackupWindowDays"),
        "an explicit window, never the 35-day default"
    );
    for f in [
        "IngestFunction",
        "DispatchFunction",
        "CarrierCallbackFunction",
    ] {
        let env = &resource(&t, f)["Properties"]["Environment"]["Variables"];
        assert!(
            is_ref(&env["ORDERSEAL_BACKUP_WINDOW_DAYS"], "BackupWindowDays"),
            "{f} knows the window"
        );
        assert!(
            is_ref(&env["ORDERSEAL_RETENTION_DAYS"], "RetentionDays"),
            "{f} knows the retention"
        );
        assert!(
            is_ref(&env["ORDERSEAL_RETENTION_ANCHOR"], "RetentionAnchor"),
            "{f} knows the anchor"
        );
    }
    assert_eq!(t["Parameters"]["RetentionAnchor"]["Default"], "shipment");
}

/// Business records: 18 months by default and at most, unless a legal basis is named.
#[test]
fn business_records_keep_eighteen_months_unless_a_law_needs_longer() {
    let t = template();
    let p = &t["Parameters"];
    assert_eq!(p["BusinessRetentionDays"]["Default"].as_i64(), Some(548));
    assert_eq!(p["BusinessRetentionDays"]["MaxValue"].as_i64(), Some(548));
    assert_eq!(p["LegalBasisRetentionDays"]["Default"].as_i64(), Some(0));
    let rule = &t["Rules"]["LongerBusinessRetentionNeedsALegalBasis"];
    let text = serde_norway::to_string(rule).unwrap();
    assert!(
        text.contains("LegalBasisRetentionDays") && text.contains("LegalBasis"),
        "the rule ties the longer retention to its basis: {text}"
    );
    for f in ["IngestFunction", "RetentionFunction"] {
        let env = serde_norway::to_string(
            &resource(&t, f)["Properties"]["Environment"]["Variables"]["ORDERSEAL_BUSINESS_RETENTION_DAYS"],
        )
        .unwrap();
        assert!(
            env.contains("HasLegalBasisRetention") && env.contains("LegalBasisRetentionDays"),
            "{f}: {env}"
        );
    }
}

#[test]
fn the_audit_log_function_reads_only_new_audit_items_from_the_stream_the_local_stack_replays() {
    let t = template();
    let events = &resource(&t, "AuditLogFunction")["Properties"]["Events"]["AuditEvents"];
    assert_eq!(events["Type"].as_str(), Some("DynamoDB"));
    let pattern = events["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]
        .as_str()
        .unwrap();
    // The local event source applies the same filter (orderseal_local::audit_stream).
    let parsed: serde_json::Value = serde_json::from_str(pattern).unwrap();
    let local: serde_json::Value =
        serde_json::from_str(orderseal_local::audit_stream::FILTER_PATTERN).unwrap();
    assert_eq!(parsed, local);
    assert_eq!(
        parsed["dynamodb"]["Keys"]["pk"]["S"][0]["prefix"].as_str(),
        Some(orderseal_audit_log::AUDIT_DAY_PREFIX)
    );
    // The audit log group's writers: this function (and the API's access log), nobody else.
    let log_group = |id: &str| match &resource(&t, id)["Properties"]["LoggingConfig"]["LogGroup"] {
        Value::Tagged(r) if r.tag == "Ref" => r.value.as_str().map(str::to_owned),
        _ => None,
    };
    let functions: Vec<String> = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter_map(|(id, _)| id.as_str().map(str::to_owned))
        .collect();
    let writers: Vec<&String> = functions
        .iter()
        .filter(|f| log_group(f).as_deref() == Some("AuditLogGroup"))
        .collect();
    assert_eq!(writers, ["AuditLogFunction"]);
    let destination = &events["Properties"]["DestinationConfig"]["OnFailure"]["Destination"];
    assert_eq!(
        get_att(destination).as_deref(),
        Some("AuditLogDlq"),
        "{destination:?}"
    );
}
