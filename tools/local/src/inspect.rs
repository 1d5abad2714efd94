//! Reading the store as DynamoDB holds it: raw items in DynamoDB JSON (binary as base64).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use orderseal::layout::{ORDER_SK, PII_SK, order_pk, pii_attribute, pii_pk};
use orderseal::seal::PiiClass;
use serde_json::{Value, json};

use crate::{AwsClients, LocalError};

pub type Item = HashMap<String, AttributeValue>;

/// DynamoDB's wire JSON for one attribute value.
pub fn attribute_json(v: &AttributeValue) -> Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b.as_ref()) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => {
            json!({ "BS": v.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::L(v) => json!({ "L": v.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item_json(m) }),
        _ => json!({ "UNKNOWN": true }),
    }
}

pub fn item_json(item: &Item) -> Value {
    let mut keys: Vec<&String> = item.keys().collect();
    keys.sort();
    Value::Object(
        keys.into_iter()
            .map(|k| (k.clone(), attribute_json(&item[k])))
            .collect(),
    )
}

pub async fn get_order(
    aws: &AwsClients,
    table: &str,
    seller_id: &str,
    order_id: &str,
) -> Result<Option<Item>, LocalError> {
    aws.dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(order_pk(seller_id, order_id)))
        .key("sk", AttributeValue::S(ORDER_SK.into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| LocalError::aws("GetItem", &e))
        .map(|o| o.item)
}

/// The order's sealed-PII item, if it holds one.
pub async fn get_pii(
    aws: &AwsClients,
    table: &str,
    seller_id: &str,
    order_id: &str,
) -> Result<Option<Item>, LocalError> {
    aws.dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pii_pk(seller_id, order_id)))
        .key("sk", AttributeValue::S(PII_SK.into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| LocalError::aws("GetItem", &e))
        .map(|o| o.item)
}

/// Every item in the table (for the demo and for raw-scan assertions in tests).
pub async fn scan_all(aws: &AwsClients, table: &str) -> Result<Vec<Item>, LocalError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = aws
            .dynamodb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| LocalError::aws("Scan", &e))?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// The sealed PII classes an item holds (a sealed-PII item; an order item holds none).
pub fn sealed_classes(item: &Item) -> Vec<PiiClass> {
    PiiClass::ALL
        .into_iter()
        .filter(|c| matches!(item.get(pii_attribute(*c)), Some(AttributeValue::B(_))))
        .collect()
}

pub fn s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}
