//! Reading PII for a stated purpose: the one door to a sealed class outside dispatch.
//!
//! Each read names its purpose; the purpose decides which classes it may open (ARCHITECTURE §3);
//! the retention rule decides whether the PII still exists for readers ([`pii_state`]: past its
//! expiry it is erased even if the sweep has not run); every read is audited by ids only.

use crate::retention::PiiState;
use crate::seal::{PiiClass, SealError};

/// Why PII is read. Nothing else may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Pick, pack, ship, delivery confirmation.
    Fulfilment,
    CustomerService,
    Returns,
    FraudReview,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Fulfilment => "fulfilment",
            Purpose::CustomerService => "customer_service",
            Purpose::Returns => "returns",
            Purpose::FraudReview => "fraud_review",
        }
    }

    /// The purposes people use through the pii-access API (fulfilment is dispatch's own).
    pub const PEOPLE: [Purpose; 3] = [
        Purpose::CustomerService,
        Purpose::Returns,
        Purpose::FraudReview,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        [
            Purpose::Fulfilment,
            Purpose::CustomerService,
            Purpose::Returns,
            Purpose::FraudReview,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// The classes this purpose may open, in [`PiiClass::ALL`] order (ARCHITECTURE §3).
    pub fn classes(self) -> &'static [PiiClass] {
        match self {
            Purpose::Fulfilment => &[PiiClass::Shipping, PiiClass::Gift],
            Purpose::CustomerService | Purpose::Returns => &[PiiClass::Shipping, PiiClass::Contact],
            Purpose::FraudReview => &[PiiClass::Shipping],
        }
    }

    /// The classes this purpose may open.
    pub fn may_open(self, class: PiiClass) -> bool {
        match class {
            PiiClass::Shipping => true,
            PiiClass::Contact => matches!(self, Purpose::CustomerService | Purpose::Returns),
            PiiClass::Gift => self == Purpose::Fulfilment,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("purpose {purpose} may not read the {class} class")]
    NotPermitted {
        purpose: &'static str,
        class: PiiClass,
    },
    #[error("no such order")]
    NoOrder,
    /// Past its expiry, held, or erased: for readers it does not exist.
    #[error("the order's PII is {}", .0.as_str())]
    Gone(PiiState),
    #[error("the order holds no {0} data")]
    NoData(PiiClass),
    /// The order never held PII or holds none of the purpose's classes.
    #[error("the order holds no PII for this purpose")]
    NothingHeld,
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Decode(#[from] crate::classes::ClassDecodeError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Whether `purpose` may read a class whose order is in `state`.
pub fn check(purpose: Purpose, class: PiiClass, state: PiiState) -> Result<(), AccessError> {
    if !purpose.may_open(class) {
        return Err(AccessError::NotPermitted {
            purpose: purpose.as_str(),
            class,
        });
    }
    if !state.usable() {
        return Err(AccessError::Gone(state));
    }
    Ok(())
}

#[cfg(feature = "dynamodb")]
pub use dynamo::{Opened, PiiReader};

#[cfg(feature = "dynamodb")]
mod dynamo {
    use aws_sdk_dynamodb::Client;
    use time::OffsetDateTime;

    use super::*;
    use crate::aws::ddb::{get_n, s};
    use crate::classes::ClassPayload;
    use crate::layout::{ORDER_SK, PII_SK, attr, order_pk, pii_attribute, pii_pk};

    type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;
    use crate::retention::pii_state;
    use crate::seal::{KeyProvider, SealContext, SealedBlob, Sealer};

    /// Opens one class of one order for a purpose.
    #[derive(Debug, Clone)]
    pub struct PiiReader<K> {
        client: Client,
        table: String,
        sealer: Sealer<K>,
    }

    /// The classes one purpose opened for one order: each class's decrypted JSON (checked
    /// against its schema), in buffers wiped on drop. `Debug` shows the class names only.
    pub struct Opened {
        pub classes: Vec<(PiiClass, zeroize::Zeroizing<Vec<u8>>)>,
    }

    impl std::fmt::Debug for Opened {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_list()
                .entries(self.classes.iter().map(|(c, _)| c.as_str()))
                .finish()
        }
    }

    impl Opened {
        pub fn class_names(&self) -> Vec<&'static str> {
            self.classes.iter().map(|(c, _)| c.as_str()).collect()
        }
    }

    /// Purpose `returns` reads the address only for a pickup still to be collected
    /// (`crate::returns`): a seller-addressed return label needs no buyer data. (The key policy
    /// lets the returns function open `shipping`, since a pickup needs it; this rule is the
    /// reader's.)
    fn needs_pickup(purpose: Purpose, class: PiiClass) -> bool {
        purpose == Purpose::Returns && class == PiiClass::Shipping
    }

    /// The order item's attributes a purpose's read needs beside the retention state.
    fn extra_attrs(purpose: Purpose) -> &'static [&'static str] {
        if purpose == Purpose::Returns {
            &[attr::PICKUP_RMAS]
        } else {
            &[]
        }
    }

    fn pickup_open(order: &Item) -> bool {
        order
            .get(attr::PICKUP_RMAS)
            .and_then(|v| v.as_ss().ok())
            .is_some_and(|rmas| !rmas.is_empty())
    }

    fn check_schema(class: PiiClass, plain: &[u8]) -> Result<(), AccessError> {
        use crate::classes::{ContactPii, GiftPii, ShippingPii};
        match class {
            PiiClass::Shipping => ShippingPii::from_plaintext(plain).map(drop),
            PiiClass::Contact => ContactPii::from_plaintext(plain).map(drop),
            PiiClass::Gift => GiftPii::from_plaintext(plain).map(drop),
        }
        .map_err(AccessError::from)
    }

    impl<K: KeyProvider> PiiReader<K> {
        /// Every class `purpose` may open for the order, in one consistent read of the order's
        /// retention state and its sealed-PII item (one TransactGetItems, one KMS Decrypt per
        /// class held). Refused unless the PII is live; absent classes are left out.
        pub async fn open_purpose(
            &self,
            seller_id: &str,
            order_id: &str,
            purpose: Purpose,
            now: OffsetDateTime,
        ) -> Result<Opened, AccessError> {
            let wanted = purpose.classes();
            let extra = extra_attrs(purpose);
            let (order, pii) = self
                .read_live(seller_id, order_id, wanted, extra, now)
                .await?;
            let pickup_open = pickup_open(&order);
            let mut opened = Opened {
                classes: Vec::with_capacity(wanted.len()),
            };
            for &class in wanted {
                if needs_pickup(purpose, class) && !pickup_open {
                    continue;
                }
                let Some(bytes) = pii.get(pii_attribute(class)).and_then(|v| v.as_b().ok()) else {
                    continue;
                };
                let blob = SealedBlob::from_bytes(bytes.as_ref())?;
                let plain = self
                    .sealer
                    .open(&SealContext::new(seller_id, order_id, class), &blob)
                    .await?;
                check_schema(class, &plain)?;
                opened.classes.push((class, plain));
            }
            if opened.classes.is_empty() {
                return Err(AccessError::NothingHeld);
            }
            Ok(opened)
        }

        /// The order's retention state (and the order item's `extra` attributes) and the
        /// `classes`' blobs of its sealed-PII item, as one consistent snapshot (one
        /// TransactGetItems); refused unless the PII is live at `now`. Returns the order item as
        /// read and the sealed-PII item (empty when there is none).
        async fn read_live(
            &self,
            seller_id: &str,
            order_id: &str,
            classes: &[PiiClass],
            extra: &[&str],
            now: OffsetDateTime,
        ) -> Result<(Item, Item), AccessError> {
            use aws_sdk_dynamodb::types::{Get, TransactGetItem};
            let built = |_| crate::store::StoreError::Malformed("transaction request");
            let state = Get::builder()
                .table_name(&self.table)
                .key(
                    crate::layout::PARTITION_KEY,
                    s(order_pk(seller_id, order_id)),
                )
                .key(crate::layout::SORT_KEY, s(ORDER_SK))
                .projection_expression(
                    ["pk", "pii_expires_at", "hold_until", "pii_erased_at"]
                        .iter()
                        .chain(extra)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", "),
                )
                .build()
                .map_err(built)?;
            let attrs: Vec<&str> = classes.iter().map(|c| pii_attribute(*c)).collect();
            let sealed = Get::builder()
                .table_name(&self.table)
                .key(crate::layout::PARTITION_KEY, s(pii_pk(seller_id, order_id)))
                .key(crate::layout::SORT_KEY, s(PII_SK))
                .projection_expression(format!("pk, {}", attrs.join(", ")))
                .build()
                .map_err(built)?;
            let out = self
                .client
                .transact_get_items()
                .transact_items(TransactGetItem::builder().get(state).build())
                .transact_items(TransactGetItem::builder().get(sealed).build())
                .send()
                .await
                .map_err(|e| crate::aws::ddb::store_error("TransactGetItems", &e))?;
            let mut responses = out.responses.unwrap_or_default().into_iter();
            let item = responses
                .next()
                .and_then(|r| r.item)
                .ok_or(AccessError::NoOrder)?;
            let state = pii_state(
                get_n(&item, "pii_expires_at").unwrap_or(i64::MIN),
                get_n(&item, "hold_until"),
                item.contains_key("pii_erased_at"),
                now.unix_timestamp(),
            );
            if !state.usable() {
                return Err(AccessError::Gone(state));
            }
            let pii = responses.next().and_then(|r| r.item).unwrap_or_default();
            Ok((item, pii))
        }

        pub fn new(client: Client, table: impl Into<String>, keys: K) -> Self {
            Self {
                client,
                table: table.into(),
                sealer: Sealer::new(keys),
            }
        }

        pub async fn open<C: ClassPayload>(
            &self,
            seller_id: &str,
            order_id: &str,
            purpose: Purpose,
            now: OffsetDateTime,
        ) -> Result<C, AccessError> {
            if !purpose.may_open(C::CLASS) {
                return Err(AccessError::NotPermitted {
                    purpose: purpose.as_str(),
                    class: C::CLASS,
                });
            }
            let attr = pii_attribute(C::CLASS);
            let (order, pii) = self
                .read_live(seller_id, order_id, &[C::CLASS], extra_attrs(purpose), now)
                .await?;
            if needs_pickup(purpose, C::CLASS) && !pickup_open(&order) {
                return Err(AccessError::NotPermitted {
                    purpose: purpose.as_str(),
                    class: C::CLASS,
                });
            }
            let bytes = pii
                .get(attr)
                .and_then(|v| v.as_b().ok())
                .ok_or(AccessError::NoData(C::CLASS))?;
            let blob = SealedBlob::from_bytes(bytes.as_ref())?;
            let plain = self
                .sealer
                .open(&SealContext::new(seller_id, order_id, C::CLASS), &blob)
                .await?;
            tracing::info!(
                target: "audit",
                action = "pii-read",
                seller_id,
                order_id,
                class = C::CLASS.as_str(),
                purpose = purpose.as_str(),
                "PII read"
            );
            Ok(C::from_plaintext(&plain)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_open_only_their_classes() {
        use Purpose::*;
        assert!(Fulfilment.may_open(PiiClass::Shipping));
        assert!(Fulfilment.may_open(PiiClass::Gift));
        assert!(!Fulfilment.may_open(PiiClass::Contact));
        assert!(CustomerService.may_open(PiiClass::Contact));
        assert!(Returns.may_open(PiiClass::Contact));
        assert!(!FraudReview.may_open(PiiClass::Contact));
        assert!(!CustomerService.may_open(PiiClass::Gift));
    }

    #[test]
    fn expired_or_held_pii_is_gone_for_every_purpose() {
        for state in [
            PiiState::Expired,
            PiiState::Erased,
            PiiState::Held { until: 9 },
        ] {
            assert!(matches!(
                check(Purpose::CustomerService, PiiClass::Shipping, state),
                Err(AccessError::Gone(_))
            ));
        }
        assert!(check(Purpose::CustomerService, PiiClass::Shipping, PiiState::Live).is_ok());
        assert!(matches!(
            check(Purpose::FraudReview, PiiClass::Contact, PiiState::Live),
            Err(AccessError::NotPermitted { .. })
        ));
    }
}
