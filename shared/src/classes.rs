//! The PII of one order, split into the classes of ARCHITECTURE §3. Each class is sealed on
//! its own so a function can be allowed to open exactly the classes its purpose needs.
//!
//! These types deserialize (from a decrypted blob) but are not `Serialize`: the only way out is
//! [`ClassPayload::to_plaintext`], which writes the sealing input into a zeroizing buffer.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::pii::PiiString;
use crate::seal::PiiClass;

/// `shipping`: what a carrier may need, and what customer service and returns may look up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingPii {
    pub name: Option<PiiString>,
    pub company_name: Option<PiiString>,
    pub address_line1: Option<PiiString>,
    pub address_line2: Option<PiiString>,
    pub address_line3: Option<PiiString>,
    pub city: Option<PiiString>,
    pub district_or_county: Option<PiiString>,
    pub state_or_region: Option<PiiString>,
    pub municipality: Option<PiiString>,
    pub postal_code: Option<PiiString>,
    pub country_code: Option<String>,
    pub phone: Option<PiiString>,
    pub address_type: Option<String>,
    pub delivery_instructions: Option<PiiString>,
}

/// `contact`: the buyer, for customer service and returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPii {
    pub buyer_name: Option<PiiString>,
    /// Amazon's anonymised relay address.
    pub buyer_email: Option<PiiString>,
    pub buyer_company: Option<PiiString>,
}

/// `gift`: gift messages per order item, for the packing slip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftPii {
    pub messages: Vec<GiftMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftMessage {
    pub order_item_id: String,
    pub message: PiiString,
}

/// One class's plaintext on its way into (or out of) a sealed blob.
pub trait ClassPayload: Sized {
    const CLASS: PiiClass;

    /// The sealing input: compact JSON in a buffer wiped on drop.
    fn to_plaintext(&self) -> Zeroizing<Vec<u8>>;

    /// Whether there is anything worth sealing.
    fn is_empty(&self) -> bool;

    fn from_plaintext(bytes: &[u8]) -> Result<Self, ClassDecodeError>;
}

#[derive(Debug, thiserror::Error)]
#[error("decrypted {class} payload does not match its schema")]
pub struct ClassDecodeError {
    pub class: PiiClass,
}

fn e(p: &Option<PiiString>) -> Option<&str> {
    p.as_ref().map(PiiString::expose)
}

fn write_json<T: Serialize>(wire: &T) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(256));
    serde_json::to_writer(&mut *out, wire).expect("serializing plain strings cannot fail");
    out
}

fn decode<T: for<'de> Deserialize<'de>>(
    class: PiiClass,
    bytes: &[u8],
) -> Result<T, ClassDecodeError> {
    serde_json::from_slice(bytes).map_err(|_| ClassDecodeError { class })
}

impl ClassPayload for ShippingPii {
    const CLASS: PiiClass = PiiClass::Shipping;

    fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        #[derive(Serialize)]
        struct Wire<'a> {
            name: Option<&'a str>,
            company_name: Option<&'a str>,
            address_line1: Option<&'a str>,
            address_line2: Option<&'a str>,
            address_line3: Option<&'a str>,
            city: Option<&'a str>,
            district_or_county: Option<&'a str>,
            state_or_region: Option<&'a str>,
            municipality: Option<&'a str>,
            postal_code: Option<&'a str>,
            country_code: Option<&'a str>,
            phone: Option<&'a str>,
            address_type: Option<&'a str>,
            delivery_instructions: Option<&'a str>,
        }
        write_json(&Wire {
            name: e(&self.name),
            company_name: e(&self.company_name),
            address_line1: e(&self.address_line1),
            address_line2: e(&self.address_line2),
            address_line3: e(&self.address_line3),
            city: e(&self.city),
            district_or_county: e(&self.district_or_county),
            state_or_region: e(&self.state_or_region),
            municipality: e(&self.municipality),
            postal_code: e(&self.postal_code),
            country_code: self.country_code.as_deref(),
            phone: e(&self.phone),
            address_type: self.address_type.as_deref(),
            delivery_instructions: e(&self.delivery_instructions),
        })
    }

    fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    fn from_plaintext(bytes: &[u8]) -> Result<Self, ClassDecodeError> {
        decode(Self::CLASS, bytes)
    }
}

impl ClassPayload for ContactPii {
    const CLASS: PiiClass = PiiClass::Contact;

    fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        #[derive(Serialize)]
        struct Wire<'a> {
            buyer_name: Option<&'a str>,
            buyer_email: Option<&'a str>,
            buyer_company: Option<&'a str>,
        }
        write_json(&Wire {
            buyer_name: e(&self.buyer_name),
            buyer_email: e(&self.buyer_email),
            buyer_company: e(&self.buyer_company),
        })
    }

    fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    fn from_plaintext(bytes: &[u8]) -> Result<Self, ClassDecodeError> {
        decode(Self::CLASS, bytes)
    }
}

impl ClassPayload for GiftPii {
    const CLASS: PiiClass = PiiClass::Gift;

    fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        #[derive(Serialize)]
        struct Msg<'a> {
            order_item_id: &'a str,
            message: &'a str,
        }
        #[derive(Serialize)]
        struct Wire<'a> {
            messages: Vec<Msg<'a>>,
        }
        write_json(&Wire {
            messages: self
                .messages
                .iter()
                .map(|m| Msg {
                    order_item_id: &m.order_item_id,
                    message: m.message.expose(),
                })
                .collect(),
        })
    }

    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    fn from_plaintext(bytes: &[u8]) -> Result<Self, ClassDecodeError> {
        decode(Self::CLASS, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipping_roundtrips_through_plaintext() {
        let s = ShippingPii {
            name: Some("CANARY Jane".into()),
            address_line1: Some("1 Canary Rd".into()),
            country_code: Some("US".into()),
            phone: Some("+1 555 0100".into()),
            ..Default::default()
        };
        let bytes = s.to_plaintext();
        assert_eq!(ShippingPii::from_plaintext(&bytes).unwrap(), s);
        assert!(!format!("{s:?}").contains("CANARY"));
    }

    #[test]
    fn gift_and_contact_roundtrip_and_report_emptiness() {
        let g = GiftPii {
            messages: vec![GiftMessage {
                order_item_id: "1".into(),
                message: "Happy birthday".into(),
            }],
        };
        assert_eq!(GiftPii::from_plaintext(&g.to_plaintext()).unwrap(), g);
        assert!(GiftPii::default().is_empty() && !g.is_empty());
        let c = ContactPii {
            buyer_email: Some("x@marketplace.amazon.com".into()),
            ..Default::default()
        };
        assert_eq!(ContactPii::from_plaintext(&c.to_plaintext()).unwrap(), c);
        assert!(ContactPii::default().is_empty());
    }

    #[test]
    fn a_payload_of_another_class_does_not_decode() {
        let c = ContactPii {
            buyer_name: Some("n".into()),
            ..Default::default()
        };
        assert!(ShippingPii::from_plaintext(&c.to_plaintext()).is_err());
    }
}
