//! The retention function on the local stack: its configuration, a seeder that fills the table
//! with orders whose PII is due, and the sweep benchmark (`orderseal-local retention-bench`).

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::StreamExt;
use time::{Duration, OffsetDateTime};

use orderseal::classes::{ClassPayload, ContactPii, ShippingPii};
use orderseal::clock::Clock;
use orderseal::order::{Money, OrderLine, OrderRecord};
use orderseal::pii::PiiString;
use orderseal::retention::dynamo::DynamoRetention;
use orderseal::retention::{RetentionReport, SweepReport};
use orderseal::seal::{LocalKeyProvider, PiiClass, SealContext, Sealer};
use orderseal::store::{DynamoOrderStore, OrderStore, SealedPii};
use orderseal_retention::{Retention, RetentionConfig};

use crate::provision::Resources;
use crate::{AwsClients, LocalError};

/// The retention function's configuration for resources provisioned in the emulator.
pub fn retention_config(resources: &Resources) -> Result<RetentionConfig, LocalError> {
    let table = resources.table("OrdersTable")?.to_owned();
    RetentionConfig::from_lookup(|k| (k == "ORDERSEAL_TABLE").then(|| table.clone()))
        .map_err(|e| LocalError::Stack(e.to_string()))
}

/// The retention function wired to the emulator, on `clock`.
pub fn retention<C: Clock>(
    aws: &AwsClients,
    resources: &Resources,
    clock: C,
) -> Result<Retention<DynamoRetention, C>, LocalError> {
    let config = retention_config(resources)?;
    Ok(Retention {
        store: DynamoRetention::new(aws.dynamodb.clone(), &config.table),
        clock,
        config,
    })
}

fn usd(amount: &str) -> Money {
    Money {
        amount: amount.into(),
        currency_code: "USD".into(),
    }
}

/// Which synthetic orders to write: `count` shipped orders of `seller`, placed at `created`
/// and due at `expires`.
#[derive(Debug, Clone, Copy)]
pub struct Seed<'a> {
    pub seller: &'a str,
    pub count: usize,
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
}

/// One synthetic shipped order of `seller` with sealed shipping and contact classes (synthetic
/// values, sealed under a local key: the bytes have the production layout).
async fn synthetic_order(
    sealer: &Sealer<LocalKeyProvider>,
    seed: Seed<'_>,
    i: usize,
) -> Result<(OrderRecord, SealedPii), LocalError> {
    let Seed {
        seller,
        created,
        expires,
        ..
    } = seed;
    let order_id = format!("900-{:07}-{:07}", i, created.unix_timestamp() % 10_000_000);
    let shipping = ShippingPii {
        name: Some(PiiString::new(format!("Seed Recipient {i}"))),
        address_line1: Some(PiiString::new(format!("{i} Seed Street"))),
        city: Some(PiiString::new("Seedville")),
        postal_code: Some(PiiString::new("98101")),
        country_code: Some("US".into()),
        ..ShippingPii::default()
    };
    let contact = ContactPii {
        buyer_name: Some(PiiString::new(format!("Seed Buyer {i}"))),
        buyer_email: Some(PiiString::new(format!("seed{i}@marketplace.amazon.com"))),
        buyer_company: None,
    };
    let mut sealed = SealedPii::new();
    for (class, plain) in [
        (PiiClass::Shipping, shipping.to_plaintext()),
        (PiiClass::Contact, contact.to_plaintext()),
    ] {
        let ctx = SealContext::new(seller, order_id.as_str(), class);
        let blob = sealer
            .seal(&ctx, &plain)
            .await
            .map_err(|e| LocalError::Stack(e.to_string()))?;
        sealed.insert(class, blob);
    }
    let record = OrderRecord {
        seller_id: seller.to_owned(),
        order_id,
        marketplace_id: "ATVPDKIKX0DER".into(),
        fulfillment_status: "SHIPPED".into(),
        fulfilled_by: "MERCHANT".into(),
        created_time: created,
        last_updated: created + Duration::hours(1),
        ship_by: None,
        deliver_by: None,
        ship_country: Some("US".into()),
        programs: vec![],
        items: vec![OrderLine {
            order_item_id: format!("{i}01"),
            seller_sku: Some(format!("SKU-{}", i % 7)),
            asin: Some("B0SEEDASIN".into()),
            quantity: 1 + (i % 3) as u32,
            unit_price: Some(usd("12.50")),
            tax: Some(usd("1.00")),
            is_gift: false,
        }],
        order_total: Some(usd("13.50")),
        order_tax: Some(usd("1.00")),
        pii_expires_at: expires,
        // Shipped: the shipment anchor fixed the expiry.
        anchored_expires_at: Some(expires),
        cancel_requested: false,
        blind_index: None,
    };
    Ok((record, sealed))
}

/// Write `n` shipped orders of `seller` through the order store (the ingest write), placed at
/// `created` and due at `expires`. Returns their order ids.
pub async fn seed_orders(
    aws: &AwsClients,
    table: &str,
    seed: Seed<'_>,
) -> Result<Vec<String>, LocalError> {
    let store = DynamoOrderStore::new(aws.dynamodb.clone(), table);
    let sealer = Sealer::new(LocalKeyProvider::random());
    let mut writes = futures_util::stream::iter(0..seed.count)
        .map(|i| {
            let (store, sealer) = (&store, &sealer);
            async move {
                let (record, sealed) = synthetic_order(sealer, seed, i).await?;
                store
                    .upsert_if_newer(&record, &sealed, time::OffsetDateTime::now_utc())
                    .await
                    .map_err(|e| LocalError::Stack(e.to_string()))?;
                Ok::<_, LocalError>(record.order_id)
            }
        })
        .buffered(16);
    let mut ids = Vec::with_capacity(seed.count);
    while let Some(id) = writes.next().await {
        ids.push(id?);
    }
    Ok(ids)
}

/// The same orders as [`seed_orders`], written 25 at a time with BatchWriteItem (the items the
/// first ingest write would create): a fast load for the benchmark.
pub async fn bulk_seed_orders(
    aws: &AwsClients,
    table: &str,
    seed: Seed<'_>,
) -> Result<(), LocalError> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let sealer = Sealer::new(LocalKeyProvider::random());
    let mut requests = Vec::with_capacity(seed.count);
    for i in 0..seed.count {
        let (record, sealed) = synthetic_order(&sealer, seed, i).await?;
        let (order, pii) = orderseal::store::dynamo::new_order_items(
            &record,
            &sealed,
            orderseal::retention::DEFAULT_BUSINESS_RETENTION,
        );
        for item in std::iter::once(order).chain(pii) {
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| LocalError::Stack(e.to_string()))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
    }
    let chunks: Vec<Vec<WriteRequest>> = requests.chunks(25).map(<[_]>::to_vec).collect();
    let mut writes = futures_util::stream::iter(chunks)
        .map(|mut chunk| async move {
            while !chunk.is_empty() {
                let out = aws
                    .dynamodb
                    .batch_write_item()
                    .request_items(table, chunk)
                    .send()
                    .await
                    .map_err(|e| LocalError::aws("BatchWriteItem", &e))?;
                chunk = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(table))
                    .unwrap_or_default();
            }
            Ok::<_, LocalError>(())
        })
        .buffer_unordered(4);
    while let Some(written) = writes.next().await {
        written?;
    }
    Ok(())
}

/// What one measured sweep did.
#[derive(Debug)]
pub struct BenchResult {
    pub orders: usize,
    pub seed_seconds: f64,
    pub sweep_seconds: f64,
    pub sweep: SweepReport,
    /// AWS calls the sweep made, by operation.
    pub calls: BTreeMap<String, u64>,
    pub report: RetentionReport,
}

/// Seed `orders` due orders (delivered 31 days before now), run one sweep with the
/// function's default limits and count its calls, then take the report.
pub async fn bench(
    endpoint: &str,
    resources: &Resources,
    orders: usize,
) -> Result<BenchResult, LocalError> {
    let aws = &AwsClients::for_endpoint(endpoint).await;
    let table = resources.table("OrdersTable")?;
    let now = OffsetDateTime::now_utc();
    let started = Instant::now();
    bulk_seed_orders(
        aws,
        table,
        Seed {
            seller: "A1BENCHSELLER",
            count: orders,
            created: now - Duration::days(40),
            expires: now - Duration::days(1),
        },
    )
    .await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    let function_aws = AwsClients::for_endpoint(endpoint).await;
    let function = retention(&function_aws, resources, orderseal::clock::SystemClock)?;
    let started = Instant::now();
    let sweep = function
        .run(None)
        .await
        .map_err(|e| LocalError::Stack(e.to_string()))?;
    let sweep_seconds = started.elapsed().as_secs_f64();
    let calls = function_aws.calls.snapshot();
    let report = DynamoRetention::new(aws.dynamodb.clone(), table)
        .report(OffsetDateTime::now_utc())
        .await
        .map_err(|e| LocalError::Stack(e.to_string()))?;
    Ok(BenchResult {
        orders,
        seed_seconds,
        sweep_seconds,
        sweep,
        calls,
        report,
    })
}
