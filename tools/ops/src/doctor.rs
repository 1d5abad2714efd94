//! `orderseal doctor`: what can be checked without Amazon's help that notifications will
//! arrive. Amazon sends no test message and a wrong queue policy fails silently, so:
//!
//! - the notifications queue's policy lets SP-API's account (`437568002678`) `sqs:SendMessage`
//!   and `sqs:GetQueueAttributes` on the queue, and no statement denies it;
//! - when the queue is encrypted with a customer key, that key's policy lets the same account
//!   `kms:GenerateDataKey` and `kms:Decrypt` (through SQS);
//! - the app has a destination for this queue and every registered seller an ORDER_CHANGE
//!   subscription to it (from the subscriptions function);
//! - when each seller's notifications last arrived.
//!
//! The policy checks read the statements the way IAM would for these requests and accept only
//! conditions whose outcome they know for Amazon's delivery (TLS; `kms:ViaService` SQS); any
//! other condition is reported as one doctor cannot vouch for.

use serde_json::Value;

/// SP-API's AWS account, the sender of every notification (domain notes §1.2).
pub const SELLING_PARTNER_API_ACCOUNT: &str = "437568002678";

/// One check's outcome: its name, and what is wrong (`None`: passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub problem: Option<String>,
    /// Facts worth showing when it passed (ids, ages).
    pub detail: Option<String>,
}

impl Check {
    pub fn pass(name: impl Into<String>, detail: Option<String>) -> Self {
        Self {
            name: name.into(),
            problem: None,
            detail,
        }
    }

    pub fn fail(name: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            problem: Some(problem.into()),
            detail: None,
        }
    }
}

/// A string or a list of strings (IAM's `Action`, `Resource`, `Principal.AWS`).
fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's wildcard match: `*` any run, `?` one character; case-insensitive when asked (actions).
fn glob(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The statement names SP-API's account (or everyone).
fn names_amazon(statement: &Value) -> bool {
    match statement.get("Principal") {
        Some(Value::String(s)) => s == "*",
        Some(p) => strings(p.get("AWS")).iter().any(|principal| {
            *principal == "*"
                || *principal == SELLING_PARTNER_API_ACCOUNT
                || principal
                    .strip_prefix("arn:")
                    .and_then(|rest| rest.split_once(":iam::"))
                    .is_some_and(|(_, account)| {
                        account == format!("{SELLING_PARTNER_API_ACCOUNT}:root")
                    })
        }),
        None => false,
    }
}

fn covers(statement: &Value, action: &str, resource: &str) -> bool {
    strings(statement.get("Action"))
        .iter()
        .any(|a| glob(a, action, true))
        && strings(statement.get("Resource"))
            .iter()
            .any(|r| glob(r, resource, false))
}

/// Whether a statement's condition holds for Amazon's delivery: `None` when doctor cannot
/// tell.
fn condition_holds(statement: &Value) -> Option<bool> {
    let Some(condition) = statement.get("Condition") else {
        return Some(true);
    };
    let mut holds = true;
    for (operator, block) in condition.as_object()? {
        for (key, value) in block.as_object()? {
            let values = strings(Some(value));
            let outcome = match (operator.as_str(), key.as_str()) {
                // SP-API writes over TLS.
                ("Bool", "aws:SecureTransport") => values.contains(&"true"),
                // Amazon's use of the queue's key is through SQS.
                ("StringEquals" | "StringLike", "kms:ViaService") => values
                    .iter()
                    .any(|v| glob(v, "sqs.*.amazonaws.com", true) || v.starts_with("sqs.")),
                _ => return None,
            };
            holds &= outcome;
        }
    }
    Some(holds)
}

/// Whether `policy` lets SP-API's account do every one of `actions` on `resource`.
fn allows_amazon(policy: &str, actions: &[&str], resource: &str) -> Result<(), String> {
    let doc: Value =
        serde_json::from_str(policy).map_err(|_| "the policy is not JSON".to_owned())?;
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(s)) => s.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return Err("the policy has no statements".to_owned()),
    };
    let sid = |s: &Value| {
        s.get("Sid")
            .and_then(Value::as_str)
            .unwrap_or("(no Sid)")
            .to_owned()
    };
    for action in actions {
        let mut allowed = false;
        let mut unsure = Vec::new();
        for statement in &statements {
            let unusual = ["NotPrincipal", "NotAction", "NotResource"]
                .iter()
                .any(|k| statement.get(*k).is_some());
            let effect = statement.get("Effect").and_then(Value::as_str);
            if unusual {
                if effect == Some("Deny") {
                    return Err(format!(
                        "statement {} denies with NotPrincipal/NotAction/NotResource: doctor cannot tell whether it denies Amazon {action}",
                        sid(statement)
                    ));
                }
                continue;
            }
            if !names_amazon(statement) || !covers(statement, action, resource) {
                continue;
            }
            match (effect, condition_holds(statement)) {
                (Some("Deny"), Some(true)) => {
                    return Err(format!(
                        "statement {} denies SP-API's account {action}",
                        sid(statement)
                    ));
                }
                (Some("Deny"), None) => {
                    return Err(format!(
                        "statement {} may deny SP-API's account {action} under a condition doctor cannot evaluate",
                        sid(statement)
                    ));
                }
                (Some("Allow"), Some(true)) => allowed = true,
                (Some("Allow"), None) => unsure.push(sid(statement)),
                _ => {}
            }
        }
        if !allowed {
            return Err(if unsure.is_empty() {
                format!(
                    "no statement allows SP-API's account ({SELLING_PARTNER_API_ACCOUNT}) {action}"
                )
            } else {
                format!(
                    "only statements with conditions doctor cannot evaluate ({}) allow SP-API's account {action}",
                    unsure.join(", ")
                )
            });
        }
    }
    Ok(())
}

/// The notifications queue's policy (`GetQueueAttributes` `Policy`) against `queue_arn`.
pub fn check_queue_policy(policy: Option<&str>, queue_arn: &str) -> Check {
    const NAME: &str = "queue policy lets SP-API send";
    let Some(policy) = policy else {
        return Check::fail(
            NAME,
            "the queue has no policy: SP-API's account cannot send to it",
        );
    };
    match allows_amazon(
        policy,
        &["sqs:SendMessage", "sqs:GetQueueAttributes"],
        queue_arn,
    ) {
        Ok(()) => Check::pass(NAME, None),
        Err(problem) => Check::fail(NAME, problem),
    }
}

/// The queue key's policy (`GetKeyPolicy` `default`) for SQS-encrypted delivery.
pub fn check_key_policy(policy: &str, key_arn: &str) -> Check {
    const NAME: &str = "queue key lets SP-API encrypt";
    match allows_amazon(policy, &["kms:GenerateDataKey", "kms:Decrypt"], key_arn) {
        Ok(()) => Check::pass(NAME, None),
        Err(problem) => Check::fail(NAME, problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const QUEUE: &str = "arn:aws:sqs:us-east-1:111122223333:orderseal-NotificationsQueue";

    fn policy(statements: Value) -> String {
        json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    }

    #[test]
    fn the_templates_queue_policy_passes() {
        let p = policy(json!([
            {"Sid": "SellingPartnerApiNotifications", "Effect": "Allow", "Principal": {"AWS": "437568002678"},
             "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"], "Resource": QUEUE},
            {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": QUEUE,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]));
        assert_eq!(check_queue_policy(Some(&p), QUEUE).problem, None);
        let root = policy(
            json!([{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::437568002678:root"]},
            "Action": "SQS:*", "Resource": "*"}]),
        );
        assert_eq!(check_queue_policy(Some(&root), QUEUE).problem, None);
    }

    #[test]
    fn broken_queue_policies_fail_with_the_reason() {
        let own_account = policy(
            json!([{"Sid": "Mine", "Effect": "Allow", "Principal": {"AWS": "111122223333"},
            "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"], "Resource": QUEUE}]),
        );
        let c = check_queue_policy(Some(&own_account), QUEUE);
        assert!(c.problem.unwrap().contains("no statement allows"));
        let send_only = policy(
            json!([{"Effect": "Allow", "Principal": {"AWS": "437568002678"},
            "Action": "sqs:SendMessage", "Resource": QUEUE}]),
        );
        assert!(
            check_queue_policy(Some(&send_only), QUEUE)
                .problem
                .unwrap()
                .contains("sqs:GetQueueAttributes")
        );
        let other_queue = policy(
            json!([{"Effect": "Allow", "Principal": {"AWS": "437568002678"},
            "Action": "sqs:*", "Resource": "arn:aws:sqs:us-east-1:111122223333:other"}]),
        );
        assert!(
            check_queue_policy(Some(&other_queue), QUEUE)
                .problem
                .is_some()
        );
        let denied = policy(json!([
            {"Effect": "Allow", "Principal": {"AWS": "437568002678"}, "Action": "sqs:*", "Resource": QUEUE},
            {"Sid": "NoOne", "Effect": "Deny", "Principal": "*", "Action": "sqs:SendMessage", "Resource": QUEUE}
        ]));
        assert!(
            check_queue_policy(Some(&denied), QUEUE)
                .problem
                .unwrap()
                .contains("NoOne")
        );
        let conditional = policy(
            json!([{"Sid": "Src", "Effect": "Allow", "Principal": {"AWS": "437568002678"},
            "Action": "sqs:*", "Resource": QUEUE, "Condition": {"ArnEquals": {"aws:SourceArn": "x"}}}]),
        );
        assert!(
            check_queue_policy(Some(&conditional), QUEUE)
                .problem
                .unwrap()
                .contains("cannot evaluate")
        );
        assert!(check_queue_policy(None, QUEUE).problem.is_some());
        assert!(
            check_queue_policy(Some("not json"), QUEUE)
                .problem
                .is_some()
        );
    }

    #[test]
    fn the_key_policy_needs_generate_data_key_and_decrypt_through_sqs() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/k";
        let ok = policy(
            json!([{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::437568002678:root"},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}}}]),
        );
        assert_eq!(check_key_policy(&ok, key).problem, None);
        let decrypt_only = policy(
            json!([{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::437568002678:root"},
            "Action": "kms:Decrypt", "Resource": "*"}]),
        );
        assert!(
            check_key_policy(&decrypt_only, key)
                .problem
                .unwrap()
                .contains("kms:GenerateDataKey")
        );
        let via_dynamodb = policy(
            json!([{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::437568002678:root"},
            "Action": "kms:*", "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}}}]),
        );
        assert!(check_key_policy(&via_dynamodb, key).problem.is_some());
    }

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(glob("sqs:Send*", "sqs:SendMessage", true));
        assert!(glob("arn:aws:sqs:*:*:orderseal-*", QUEUE, false));
        assert!(!glob("arn:aws:sqs:*:*:other", QUEUE, false));
        assert!(glob("sqs:?endMessage", "SQS:SENDMESSAGE", true));
    }
}
