//! The ingest hot path without the network: parse the notification, parse the getOrder
//! response, build the record and the PII classes, seal each class with a local data key
//! (standing in for KMS GenerateDataKey), and marshal the DynamoDB item.
//!
//! `cargo bench -p orderseal --bench hot_path --features dynamodb`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use orderseal::classes::ClassPayload;
use orderseal::layout::pii_attribute;
use orderseal::mapping::{self, OrderPii};
use orderseal::notification;
use orderseal::order::RetentionPolicy;
use orderseal::seal::{LocalKeyProvider, PiiClass, SealContext, seal_with_key};
use orderseal::spapi::model::GetOrderResponse;
use orderseal::store::{SealedPii, dynamo::record_attributes};

const NOTIFICATION: &str =
    include_str!("../../fixtures/notifications/order-change-mfn-unshipped.json");
const SELLER: &str = "A3TH9S8BH6GOGM";
const ORDER_ID: &str = "113-1234567-1234567";

/// A typical MFN order: two items, one a gift, every section ingest asks for.
const GET_ORDER: &str = r#"{"order":{
  "orderId":"113-1234567-1234567","createdTime":"2026-05-01T11:58:00Z","lastUpdatedTime":"2026-05-01T12:00:00Z",
  "programs":["PRIME"],
  "salesChannel":{"channelName":"AMAZON","marketplaceId":"ATVPDKIKX0DER","marketplaceName":"Amazon.com"},
  "buyer":{"buyerName":"Jane Roe","buyerEmail":"abc123@marketplace.amazon.com"},
  "recipient":{"deliveryAddress":{"name":"Jane Roe","addressLine1":"100 Main Street","addressLine2":"Apt 4",
    "city":"Seattle","stateOrRegion":"WA","postalCode":"98101","countryCode":"US","phone":"+1 206 555 0100",
    "addressType":"RESIDENTIAL"},"deliveryPreference":{"addressInstruction":"Leave at the front desk"}},
  "proceeds":{"grandTotal":{"amount":"64.97","currencyCode":"USD"}},
  "fulfillment":{"fulfillmentStatus":"UNSHIPPED","fulfilledBy":"MERCHANT","fulfillmentServiceLevel":"STANDARD",
    "shipByWindow":{"latestDateTime":"2026-05-03T23:59:59Z"},
    "deliverByWindow":{"earliestDateTime":"2026-05-05T00:00:00Z","latestDateTime":"2026-05-08T23:59:59Z"}},
  "orderItems":[
    {"orderItemId":"10000000000001","quantityOrdered":2,"product":{"asin":"B000000001","sellerSku":"MUG-1",
      "title":"Ceramic mug","price":{"unitPrice":{"amount":"19.99","currencyCode":"USD"}}},
     "fulfillment":{"packing":{"giftOption":{"giftMessage":"Happy birthday!","giftWrapLevel":"ITEM"}}}},
    {"orderItemId":"10000000000002","quantityOrdered":1,"product":{"asin":"B000000002","sellerSku":"TEA-1",
      "title":"Loose tea","price":{"unitPrice":{"amount":"24.99","currencyCode":"USD"}}}}
  ]}}"#;

fn seal_all(keys: &LocalKeyProvider, pii: &OrderPii) -> SealedPii {
    let mut sealed = SealedPii::new();
    let inputs = [
        (PiiClass::Shipping, pii.shipping.to_plaintext()),
        (PiiClass::Contact, pii.contact.to_plaintext()),
        (PiiClass::Gift, pii.gift.to_plaintext()),
    ];
    for (class, plaintext) in inputs {
        let ctx = SealContext::new(SELLER, ORDER_ID, class);
        let key = keys.generate(&ctx).unwrap();
        sealed.insert(class, seal_with_key(&key, &ctx, &plaintext).unwrap());
    }
    sealed
}

fn marshal(record: &orderseal::order::OrderRecord, sealed: &SealedPii) -> usize {
    let mut attrs = record_attributes(record);
    for (class, blob) in sealed {
        attrs.push((
            pii_attribute(*class),
            aws_sdk_dynamodb::types::AttributeValue::B(blob.to_bytes().into()),
        ));
    }
    attrs.len()
}

fn bench(c: &mut Criterion) {
    let keys = LocalKeyProvider::random();
    let policy = RetentionPolicy::default();
    let response: GetOrderResponse = serde_json::from_str(GET_ORDER).unwrap();
    let (record, pii) = mapping::build(&response, SELLER, ORDER_ID, &policy).unwrap();
    let sealed = seal_all(&keys, &pii);

    let mut g = c.benchmark_group("ingest");
    g.bench_function("hot_path", |b| {
        b.iter(|| {
            let n = notification::parse(black_box(NOTIFICATION)).unwrap();
            black_box(&n);
            let response: GetOrderResponse = serde_json::from_str(black_box(GET_ORDER)).unwrap();
            let (record, pii) = mapping::build(&response, SELLER, ORDER_ID, &policy).unwrap();
            let sealed = seal_all(&keys, &pii);
            black_box(marshal(&record, &sealed))
        })
    });
    g.bench_function("1_parse_notification", |b| {
        b.iter(|| notification::parse(black_box(NOTIFICATION)).unwrap())
    });
    g.bench_function("2_parse_get_order", |b| {
        b.iter(|| serde_json::from_str::<GetOrderResponse>(black_box(GET_ORDER)).unwrap())
    });
    g.bench_function("3_build_record", |b| {
        b.iter(|| mapping::build(black_box(&response), SELLER, ORDER_ID, &policy).unwrap())
    });
    g.bench_function("4_seal_three_classes", |b| {
        b.iter(|| seal_all(&keys, black_box(&pii)))
    });
    g.bench_function("5_marshal_item", |b| {
        b.iter(|| marshal(black_box(&record), &sealed))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
