//! The sellers a deployment serves: a registry in the order table (`pk = SELLERS`,
//! `sk = SELLER#<sellerId>`: marketplaces, when the seller authorised the app, when it was
//! added — no credential) and each seller's refresh token in a Secrets Manager secret of its
//! own (`<prefix><sellerId>`, JSON `{"refresh_token": "Atzr|…"}`, encrypted with the stack's
//! storage key). The operators' CLI writes both and can read neither token back; the functions
//! read the token, and ingest refuses a notification for a seller the registry does not list.
//!
//! Amazon's seller authorisations expire 12 months after they are given: the registry keeps
//! the date, `orderseal seller list` shows the days left and fails once any is within
//! [`REAUTHORIZE_WARNING`].

use std::future::Future;

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::store::StoreError;

/// The registry partition.
pub const SELLERS_PK: &str = "SELLERS";

/// How long an authorisation lasts (Amazon: 12 months; counted as 365 days).
pub const AUTHORIZATION_LIFETIME: Duration = Duration::days(365);

/// Re-authorise before this much of it is left.
pub const REAUTHORIZE_WARNING: Duration = Duration::days(30);

pub fn seller_sk(seller_id: &str) -> String {
    format!("SELLER#{seller_id}")
}

/// Amazon's ids (merchant tokens, marketplace ids): 8 to 20 upper-case letters and digits.
fn amazon_id(id: &str) -> bool {
    (8..=20).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A seller id as Amazon issues them (`A3TH9S8BH6GOGM`).
pub fn valid_seller_id(id: &str) -> bool {
    amazon_id(id)
}

/// A marketplace id (`ATVPDKIKX0DER`).
pub fn valid_marketplace_id(id: &str) -> bool {
    amazon_id(id)
}

/// One registry entry: ids and dates only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seller {
    pub seller_id: String,
    pub marketplaces: Vec<String>,
    /// The day the seller authorised the app (the 12 months run from it), `YYYY-MM-DD`.
    #[serde(with = "iso_date")]
    pub authorized_on: Date,
    /// RFC 3339.
    pub added_at: String,
}

impl Seller {
    /// The last day the authorisation is valid.
    pub fn reauthorize_by(&self) -> Date {
        self.authorized_on
            .checked_add(AUTHORIZATION_LIFETIME)
            .unwrap_or(Date::MAX)
    }

    /// Days until [`Self::reauthorize_by`] (negative once past).
    pub fn days_left(&self, today: Date) -> i64 {
        (self.reauthorize_by() - today).whole_days()
    }

    /// Within the warning period, or past it.
    pub fn reauthorization_due(&self, today: Date) -> bool {
        self.days_left(today) <= REAUTHORIZE_WARNING.whole_days()
    }
}

/// The re-authorisation metrics as one Embedded Metric Format line (the retention function
/// prints it hourly; `SellerReauthorizationAlarm` fires while any seller is due):
/// `SellersDueForReauthorization` and, with any seller, the fewest `SellerAuthorizationDaysLeft`.
pub fn authorization_emf_line(sellers: &[Seller], today: Date, timestamp_ms: i64) -> String {
    let due = sellers
        .iter()
        .filter(|s| s.reauthorization_due(today))
        .count();
    let fewest = sellers.iter().map(|s| s.days_left(today)).min();
    let mut metrics =
        vec![serde_json::json!({"Name": "SellersDueForReauthorization", "Unit": "Count"})];
    let mut line = serde_json::json!({
        "Function": "retention",
        "SellersDueForReauthorization": due,
        "Sellers": sellers.len(),
    });
    if let Some(days) = fewest {
        metrics.push(serde_json::json!({"Name": "SellerAuthorizationDaysLeft", "Unit": "None"}));
        line["SellerAuthorizationDaysLeft"] = serde_json::json!(days);
    }
    line["_aws"] = serde_json::json!({
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [{
            "Namespace": "orderseal",
            "Dimensions": [["Function"]],
            "Metrics": metrics,
        }],
    });
    line.to_string()
}

/// `YYYY-MM-DD` in JSON.
mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::format_description::well_known::Iso8601;

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(
            &d.format(&Iso8601::DATE)
                .map_err(serde::ser::Error::custom)?,
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text, &Iso8601::DATE).map_err(serde::de::Error::custom)
    }
}

/// The secret holding a seller's refresh token, under the deployment's prefix.
pub fn token_secret_name(prefix: &str, seller_id: &str) -> String {
    format!("{prefix}{seller_id}")
}

/// The JSON a seller's secret holds. (Only this struct writes a token out: `SecretString`
/// itself is never serializable.)
#[derive(Serialize, Deserialize)]
pub struct TokenSecret {
    #[serde(serialize_with = "expose")]
    pub refresh_token: crate::secret::SecretString,
}

fn expose<S: serde::Serializer>(
    token: &crate::secret::SecretString,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(token.expose())
}

/// Port: is this seller served here (ingest asks before fetching anything).
pub trait SellerRegistry: Send + Sync {
    fn is_known(&self, seller_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Every seller is known (unit tests; deployments without a registry).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnySeller;

impl SellerRegistry for AnySeller {
    async fn is_known(&self, _seller_id: &str) -> Result<bool, StoreError> {
        Ok(true)
    }
}

/// A registry when one is configured; without one every seller is served.
impl<R: SellerRegistry> SellerRegistry for Option<R> {
    async fn is_known(&self, seller_id: &str) -> Result<bool, StoreError> {
        match self {
            Some(r) => r.is_known(seller_id).await,
            None => Ok(true),
        }
    }
}

#[cfg(feature = "secrets")]
pub use secrets::SellerSecrets;

#[cfg(feature = "secrets")]
mod secrets {
    use aws_sdk_secretsmanager::Client;

    use super::*;
    use crate::secret::SecretString;

    /// Writes and deletes sellers' token secrets; never reads one back (the operators' role
    /// may not).
    #[derive(Debug, Clone)]
    pub struct SellerSecrets {
        pub client: Client,
        /// `<stack>/sellers/`.
        pub prefix: String,
        /// The key the secrets are encrypted with (the stack's storage key); `None`: the
        /// account's default (the local emulator).
        pub kms_key_id: Option<String>,
    }

    fn failed<E: aws_sdk_secretsmanager::error::ProvideErrorMetadata, R>(
        operation: &'static str,
    ) -> impl FnOnce(aws_sdk_secretsmanager::error::SdkError<E, R>) -> StoreError {
        move |e| StoreError::Service {
            operation,
            code: crate::aws::error_code(&e),
        }
    }

    impl SellerSecrets {
        /// Store the seller's refresh token: a new secret, or a new version of its own (a
        /// re-authorisation). Returns the secret's ARN.
        pub async fn put(
            &self,
            seller_id: &str,
            token: &SecretString,
        ) -> Result<String, StoreError> {
            let name = token_secret_name(&self.prefix, seller_id);
            let value = serde_json::to_string(&TokenSecret {
                refresh_token: token.clone(),
            })
            .expect("plain struct serializes");
            let created = self
                .client
                .create_secret()
                .name(&name)
                .description("orderseal: one seller's LWA refresh token")
                .set_kms_key_id(self.kms_key_id.clone())
                .secret_string(&value)
                .send()
                .await;
            match created {
                Ok(out) => Ok(out.arn.unwrap_or(name)),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_resource_exists_exception()) =>
                {
                    let out = self
                        .client
                        .put_secret_value()
                        .secret_id(&name)
                        .secret_string(&value)
                        .send()
                        .await
                        .map_err(failed("PutSecretValue"))?;
                    Ok(out.arn.unwrap_or(name))
                }
                Err(e) => Err(failed("CreateSecret")(e)),
            }
        }

        /// Delete the seller's secret (recoverable for 7 days, then gone). `false`: it had none
        /// (or it is already scheduled for deletion).
        pub async fn delete(&self, seller_id: &str) -> Result<bool, StoreError> {
            let result = self
                .client
                .delete_secret()
                .secret_id(token_secret_name(&self.prefix, seller_id))
                .recovery_window_in_days(7)
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error().is_some_and(|se| {
                        se.is_resource_not_found_exception() || se.is_invalid_request_exception()
                    }) =>
                {
                    Ok(false)
                }
                Err(e) => Err(failed("DeleteSecret")(e)),
            }
        }
    }
}

#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoSellers;

#[cfg(feature = "dynamodb")]
mod dynamo {
    use std::collections::HashMap;
    use std::time::{Duration as StdDuration, Instant};

    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::types::AttributeValue;
    use time::format_description::well_known::Iso8601;

    use super::*;
    use crate::aws::ddb::{get_s, partition_items, s, store_error};
    use crate::layout::{PARTITION_KEY, SORT_KEY};

    /// How long ingest trusts what it read about a seller: a known one for minutes, an unknown
    /// one briefly (a seller just added is served soon, a stranger's flood reads little).
    const KNOWN_FOR: StdDuration = StdDuration::from_secs(300);
    const UNKNOWN_FOR: StdDuration = StdDuration::from_secs(30);
    /// The registry attribute ingest stamps when a seller's notification arrives.
    const LAST_NOTIFICATION: &str = "last_notification_at";

    /// The registry in the order table, with a per-container cache of lookups.
    #[derive(Debug)]
    pub struct DynamoSellers {
        client: Client,
        table: String,
        cache: tokio::sync::Mutex<HashMap<String, (bool, Instant)>>,
    }

    fn entry_of(item: &HashMap<String, AttributeValue>) -> Option<Seller> {
        Some(Seller {
            seller_id: get_s(item, "seller_id")?.to_owned(),
            marketplaces: item
                .get("marketplaces")
                .and_then(|v| v.as_l().ok())
                .map(|l| l.iter().filter_map(|m| m.as_s().ok().cloned()).collect())
                .unwrap_or_default(),
            authorized_on: Date::parse(get_s(item, "authorized_on")?, &Iso8601::DATE).ok()?,
            added_at: get_s(item, "added_at").unwrap_or_default().to_owned(),
        })
    }

    impl DynamoSellers {
        pub fn new(client: Client, table: impl Into<String>) -> Self {
            Self {
                client,
                table: table.into(),
                cache: Default::default(),
            }
        }

        fn key(seller_id: &str) -> HashMap<String, AttributeValue> {
            HashMap::from([
                (PARTITION_KEY.to_owned(), s(SELLERS_PK)),
                (SORT_KEY.to_owned(), s(seller_sk(seller_id))),
            ])
        }

        /// Add the seller, or replace its entry (a re-authorisation).
        pub async fn put(&self, seller: &Seller) -> Result<(), StoreError> {
            let date = seller
                .authorized_on
                .format(&Iso8601::DATE)
                .map_err(|_| StoreError::Malformed("authorized_on"))?;
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::key(&seller.seller_id)))
                .item("seller_id", s(&seller.seller_id))
                .item(
                    "marketplaces",
                    AttributeValue::L(seller.marketplaces.iter().map(s).collect()),
                )
                .item("authorized_on", s(date))
                .item("added_at", s(&seller.added_at))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| store_error("PutItem", &e))
        }

        /// Every seller, by id.
        pub async fn list(&self) -> Result<Vec<Seller>, StoreError> {
            Ok(self
                .list_with_activity()
                .await?
                .into_iter()
                .map(|(seller, _)| seller)
                .collect())
        }

        /// Every seller, by id, with the time ingest last saw a notification of it (RFC 3339,
        /// to within [`KNOWN_FOR`] per container; `None`: none since it was added).
        pub async fn list_with_activity(
            &self,
        ) -> Result<Vec<(Seller, Option<String>)>, StoreError> {
            Ok(partition_items(&self.client, &self.table, SELLERS_PK)
                .await?
                .iter()
                .filter_map(|item| {
                    let seen = get_s(item, LAST_NOTIFICATION).map(str::to_owned);
                    entry_of(item).map(|seller| (seller, seen))
                })
                .collect())
        }

        /// Remove the entry. `false`: there was none.
        pub async fn remove(&self, seller_id: &str) -> Result<bool, StoreError> {
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(seller_id)))
                .condition_expression("attribute_exists(pk)")
                .send()
                .await;
            crate::aws::ddb::applied("DeleteItem", result)
        }
    }

    impl SellerRegistry for DynamoSellers {
        async fn is_known(&self, seller_id: &str) -> Result<bool, StoreError> {
            if let Some((known, at)) = self.cache.lock().await.get(seller_id).copied() {
                let ttl = if known { KNOWN_FOR } else { UNKNOWN_FOR };
                if at.elapsed() < ttl {
                    return Ok(known);
                }
            }
            // One write both asks and notes the notification's arrival (for `orderseal
            // doctor`): it applies only to a registered seller.
            let now = time::OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(seller_id)))
                .update_expression("SET #seen = :now")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#seen", LAST_NOTIFICATION)
                .expression_attribute_values(":now", s(now))
                .send()
                .await;
            let known = crate::aws::ddb::applied("UpdateItem", result)?;
            self.cache
                .lock()
                .await
                .insert(seller_id.to_owned(), (known, Instant::now()));
            Ok(known)
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn seller(on: Date) -> Seller {
        Seller {
            seller_id: "A3TH9S8BH6GOGM".into(),
            marketplaces: vec!["ATVPDKIKX0DER".into()],
            authorized_on: on,
            added_at: String::new(),
        }
    }

    #[test]
    fn the_authorisation_runs_a_year_and_is_due_in_its_last_thirty_days() {
        let s = seller(date!(2026 - 01 - 15));
        assert_eq!(s.reauthorize_by(), date!(2027 - 01 - 15));
        assert_eq!(s.days_left(date!(2026 - 12 - 02)), 44);
        assert!(!s.reauthorization_due(date!(2026 - 12 - 02)));
        assert!(s.reauthorization_due(date!(2026 - 12 - 16)));
        assert!(s.reauthorization_due(date!(2027 - 02 - 01)));
        assert!(seller(Date::MAX).days_left(date!(2026 - 12 - 02)) > 0);
    }

    #[test]
    fn the_metric_line_counts_the_due_and_names_the_fewest_days_left() {
        let today = date!(2026 - 12 - 02);
        let line: serde_json::Value = serde_json::from_str(&authorization_emf_line(
            &[seller(date!(2026 - 11 - 30)), seller(date!(2026 - 01 - 01))],
            today,
            1,
        ))
        .unwrap();
        assert_eq!(line["SellersDueForReauthorization"], 1);
        assert_eq!(line["SellerAuthorizationDaysLeft"], 30);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let none: serde_json::Value =
            serde_json::from_str(&authorization_emf_line(&[], today, 1)).unwrap();
        assert_eq!(none["SellersDueForReauthorization"], 0);
        assert!(none.get("SellerAuthorizationDaysLeft").is_none());
    }

    #[test]
    fn ids_are_amazon_shaped() {
        assert!(valid_seller_id("A3TH9S8BH6GOGM"));
        assert!(!valid_seller_id("a3th9s8bh6gogm"));
        assert!(!valid_seller_id("A3TH/../GOGM"));
        assert!(!valid_seller_id("SHORT"));
        assert!(valid_marketplace_id("ATVPDKIKX0DER"));
        assert!(!valid_marketplace_id("ATVPDKIKX0DER,X"));
    }

    #[test]
    fn the_token_secret_serializes_its_value_and_debug_never_shows_it() {
        let t = TokenSecret {
            refresh_token: crate::secret::SecretString::new("Atzr|CANARY"),
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"refresh_token":"Atzr|CANARY"}"#
        );
        assert!(!format!("{:?}", t.refresh_token).contains("CANARY"));
    }
}
