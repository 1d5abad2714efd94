//! From an Orders API v2026-01-01 `getOrder` response to what orderseal stores: the non-PII
//! [`OrderRecord`] and the PII split by class. This is the one place that decides which field
//! is PII and which class it belongs to.

use crate::classes::{ContactPii, GiftMessage, GiftPii, ShippingPii};
use crate::order::{Money, OrderLine, OrderRecord, RetentionPolicy};
use crate::pii::PiiString;
use crate::spapi::model::{self, GetOrderResponse, ProceedsType};

/// The PII of one order by class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderPii {
    pub shipping: ShippingPii,
    pub contact: ContactPii,
    pub gift: GiftPii,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MappingError {
    #[error("getOrder returned another order than the notification named")]
    OrderIdMismatch,
    #[error("getOrder response lacks {0}")]
    Missing(&'static str),
    /// A date so near the end of the calendar that its PII expiry does not exist.
    #[error("getOrder response has a date out of range: {0}")]
    DateOutOfRange(&'static str),
}

/// The `TAX` entry of a proceeds breakdown.
fn tax<'a>(
    mut breakdowns: impl Iterator<Item = (&'a ProceedsType, &'a model::Money)>,
) -> Option<Money> {
    breakdowns
        .find(|(kind, _)| **kind == ProceedsType::Tax)
        .map(|(_, m)| money(m))
}

fn money(m: &model::Money) -> Money {
    Money {
        amount: m.amount.clone(),
        currency_code: m.currency_code.clone(),
    }
}

/// Build the record and the PII classes. `seller_id` comes from the notification (the response
/// does not carry it); `order_id` must match the response.
pub fn build(
    response: &GetOrderResponse,
    seller_id: &str,
    order_id: &str,
    retention: &RetentionPolicy,
) -> Result<(OrderRecord, OrderPii), MappingError> {
    let o = &response.order;
    if o.order_id != order_id {
        return Err(MappingError::OrderIdMismatch);
    }
    let fulfillment = o
        .fulfillment
        .as_ref()
        .ok_or(MappingError::Missing("fulfillment"))?;
    let status = fulfillment.fulfillment_status.as_str().to_owned();
    let ship_by = fulfillment.ship_by_window.and_then(|w| w.latest);
    let deliver_by = fulfillment.deliver_by_window.and_then(|w| w.latest);
    let address = o
        .recipient
        .as_ref()
        .and_then(|r| r.delivery_address.as_ref());
    let items = o
        .order_items
        .iter()
        .map(|i| OrderLine {
            order_item_id: i.order_item_id.clone(),
            seller_sku: i.product.seller_sku.clone(),
            asin: i.product.asin.clone(),
            quantity: i.quantity_ordered,
            unit_price: i
                .product
                .price
                .as_ref()
                .and_then(|p| p.unit_price.as_ref())
                .map(money),
            tax: i
                .proceeds
                .as_ref()
                .and_then(|p| tax(p.breakdowns.iter().map(|b| (&b.kind, &b.subtotal)))),
            is_gift: gift_option(i).is_some(),
        })
        .collect();
    let record = OrderRecord {
        seller_id: seller_id.to_owned(),
        order_id: o.order_id.clone(),
        marketplace_id: o.sales_channel.marketplace_id.clone().unwrap_or_default(),
        fulfilled_by: fulfillment
            .fulfilled_by
            .as_ref()
            .map(|f| f.as_str().to_owned())
            .unwrap_or_default(),
        created_time: o.created_time,
        last_updated: o.last_updated_time,
        ship_by,
        deliver_by,
        ship_country: address.and_then(|a| a.country_code.clone()),
        programs: o.programs.iter().map(|p| p.as_str().to_owned()).collect(),
        items,
        order_total: o
            .proceeds
            .as_ref()
            .and_then(|p| p.grand_total.as_ref())
            .map(money),
        order_tax: o
            .proceeds
            .as_ref()
            .and_then(|p| tax(p.breakdowns.iter().map(|b| (&b.kind, &b.subtotal)))),
        pii_expires_at: retention
            .provisional_expiry(
                &status,
                o.created_time,
                o.last_updated_time,
                ship_by,
                deliver_by,
            )
            .ok_or(MappingError::DateOutOfRange("pii expiry"))?,
        anchored_expires_at: if status == crate::order::status::SHIPPED {
            retention.shipment_expiry(o.last_updated_time)
        } else {
            None
        },
        cancel_requested: o.order_items.iter().any(|i| {
            i.cancellation
                .as_ref()
                .and_then(|c| c.cancellation_request.as_ref())
                .and_then(|r| r.requester.as_deref())
                == Some("BUYER")
        }),
        fulfillment_status: status,
        blind_index: None,
    };
    // An order orderseal does not fulfil keeps no PII, whatever the response held.
    if !record.collects_pii() {
        return Ok((record, OrderPii::default()));
    }
    let pii = OrderPii {
        shipping: shipping(o),
        contact: o
            .buyer
            .as_ref()
            .map(|b| ContactPii {
                buyer_name: b.buyer_name.clone(),
                buyer_email: b.buyer_email.clone(),
                buyer_company: b.buyer_company_name.clone(),
            })
            .unwrap_or_default(),
        gift: GiftPii {
            messages: o
                .order_items
                .iter()
                .filter_map(|i| {
                    Some(GiftMessage {
                        order_item_id: i.order_item_id.clone(),
                        message: gift_option(i)?.gift_message.clone()?,
                    })
                })
                .collect(),
        },
    };
    Ok((record, pii))
}

fn gift_option(item: &model::OrderItem) -> Option<&model::GiftOption> {
    item.fulfillment
        .as_ref()?
        .packing
        .as_ref()?
        .gift_option
        .as_ref()
}

fn shipping(o: &model::Order) -> ShippingPii {
    let Some(recipient) = &o.recipient else {
        return ShippingPii::default();
    };
    let instructions = recipient.delivery_preference.as_ref().and_then(|p| {
        let parts: Vec<&str> = [&p.address_instruction, &p.drop_off_location]
            .into_iter()
            .filter_map(|v| v.as_ref().map(PiiString::expose))
            .filter(|v| !v.is_empty())
            .collect();
        (!parts.is_empty()).then(|| PiiString::new(parts.join("\n")))
    });
    let mut s = match &recipient.delivery_address {
        Some(a) => ShippingPii {
            name: a.name.clone(),
            company_name: a.company_name.clone(),
            address_line1: a.address_line1.clone(),
            address_line2: a.address_line2.clone(),
            address_line3: a.address_line3.clone(),
            city: a.city.clone(),
            district_or_county: a.district_or_county.clone(),
            state_or_region: a.state_or_region.clone(),
            municipality: a.municipality.clone(),
            postal_code: a.postal_code.clone(),
            country_code: a.country_code.clone(),
            phone: a.phone.clone(),
            address_type: a.address_type.as_ref().map(|t| t.as_str().to_owned()),
            delivery_instructions: None,
        },
        None => ShippingPii::default(),
    };
    s.delivery_instructions = instructions;
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::ClassPayload;

    const CANARY_ORDER: &str = r#"{"order":{
      "orderId":"113-1234567-1234567","createdTime":"2026-05-01T11:58:00Z","lastUpdatedTime":"2026-05-01T12:00:00Z",
      "programs":["PRIME"],
      "salesChannel":{"channelName":"AMAZON","marketplaceId":"ATVPDKIKX0DER","marketplaceName":"Amazon.com"},
      "buyer":{"buyerName":"CANARY-BUYER-NAME","buyerEmail":"canary-relay@marketplace.amazon.com","buyerCompanyName":"CANARY-CO"},
      "recipient":{"deliveryAddress":{"name":"CANARY-RECIPIENT","addressLine1":"1 CANARY STREET","city":"CANARYVILLE",
        "stateOrRegion":"WA","postalCode":"98101","countryCode":"US","phone":"+1 206 555 0199","addressType":"RESIDENTIAL"},
        "deliveryPreference":{"addressInstruction":"CANARY-LEAVE-AT-DOOR"}},
      "proceeds":{"grandTotal":{"amount":"42.00","currencyCode":"USD"}},
      "fulfillment":{"fulfillmentStatus":"UNSHIPPED","fulfilledBy":"MERCHANT",
        "shipByWindow":{"latestDateTime":"2026-05-03T23:59:59Z"},"deliverByWindow":{"latestDateTime":"2026-05-08T23:59:59Z"}},
      "orderItems":[
        {"orderItemId":"1001","quantityOrdered":2,"product":{"asin":"B000000001","sellerSku":"SKU-1","title":"CANARY-TITLE",
          "price":{"unitPrice":{"amount":"21.00","currencyCode":"USD"}}},
         "fulfillment":{"packing":{"giftOption":{"giftMessage":"CANARY-GIFT-MESSAGE"}}}}
      ]}}"#;

    fn parse() -> GetOrderResponse {
        serde_json::from_str(CANARY_ORDER).unwrap()
    }

    #[test]
    fn record_carries_business_facts_and_no_pii() {
        let (record, pii) = build(
            &parse(),
            "A3TH9S8BH6GOGM",
            "113-1234567-1234567",
            &RetentionPolicy::default(),
        )
        .unwrap();
        assert!(record.needs_shipment());
        assert_eq!(record.items[0].quantity, 2);
        assert!(record.items[0].is_gift);
        assert_eq!(record.ship_country.as_deref(), Some("US"));
        assert_eq!(
            record.pii_expires_at,
            time::macros::datetime!(2026-05-30 23:59:59 UTC)
        );
        let dbg = format!("{record:?} {pii:?}");
        assert!(!dbg.contains("CANARY"), "{dbg}");
        assert_eq!(pii.gift.messages[0].message.expose(), "CANARY-GIFT-MESSAGE");
        assert_eq!(
            pii.shipping
                .delivery_instructions
                .as_ref()
                .unwrap()
                .expose(),
            "CANARY-LEAVE-AT-DOOR"
        );
        assert!(!pii.contact.is_empty());
    }

    #[test]
    fn another_order_id_is_refused() {
        assert_eq!(
            build(
                &parse(),
                "S",
                "999-0000000-0000000",
                &RetentionPolicy::default()
            )
            .unwrap_err(),
            MappingError::OrderIdMismatch
        );
    }

    #[test]
    fn a_delivery_window_at_the_end_of_the_calendar_is_refused_not_a_panic() {
        let response: GetOrderResponse = serde_json::from_str(
            &CANARY_ORDER.replace("2026-05-08T23:59:59Z", "9999-12-31T23:59:59Z"),
        )
        .unwrap();
        assert_eq!(
            build(
                &response,
                "S",
                "113-1234567-1234567",
                &RetentionPolicy::default()
            )
            .unwrap_err(),
            MappingError::DateOutOfRange("pii expiry")
        );
    }
}
