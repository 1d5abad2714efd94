//! ORDER_CHANGE notifications for orders the sandbox holds, shaped exactly as
//! `OrderChangeNotification.json` (PayloadVersion 1.0) says SP-API sends them.

use serde_json::{Value, json};

fn order_status(fulfillment_status: &str) -> &'static str {
    match fulfillment_status {
        "PENDING_AVAILABILITY" => "PendingAvailability",
        "PENDING" => "Pending",
        "UNSHIPPED" => "Unshipped",
        "PARTIALLY_SHIPPED" => "PartiallyShipped",
        "SHIPPED" => "Shipped",
        "CANCELLED" => "Canceled",
        "UNFULFILLABLE" => "Unfulfillable",
        _ => "Pending",
    }
}

/// An `OrderStatusChange` notification for `order` (a full Orders v2026-01-01 order).
pub fn order_change_for(order: &Value, seller_id: &str, notification_id: &str) -> Value {
    let f = &order["fulfillment"];
    let address = &order["recipient"]["deliveryAddress"];
    let items: Vec<Value> = order["orderItems"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    let mut item = json!({
                        "OrderItemId": i["orderItemId"],
                        "SellerSKU": i["product"]["sellerSku"].as_str().unwrap_or("UNKNOWN-SKU"),
                        "SupplySourceId": null,
                        "Quantity": i["quantityOrdered"],
                    });
                    // A buyer's cancellation request shows on the item, as Amazon sends it.
                    if i["cancellation"]["cancellationRequest"]["requester"] == "BUYER" {
                        item["IsBuyerRequestedCancel"] = json!(true);
                    }
                    item
                })
                .collect()
        })
        .unwrap_or_default();
    let updated = order["lastUpdatedTime"].clone();
    json!({
        "NotificationVersion": "1.0",
        "NotificationType": "ORDER_CHANGE",
        "PayloadVersion": "1.0",
        "EventTime": updated,
        "Payload": {
            "OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": seller_id,
                "AmazonOrderId": order["orderId"],
                "OrderChangeType": "OrderStatusChange",
                "OrderChangeTrigger": { "TimeOfOrderChange": updated, "ChangeReason": "Order Status Changed" },
                "Summary": {
                    "MarketplaceId": order["salesChannel"]["marketplaceId"],
                    "OrderStatus": order_status(f["fulfillmentStatus"].as_str().unwrap_or_default()),
                    "PurchaseDate": order["createdTime"],
                    "DestinationPostalCode": address.get("postalCode").cloned().unwrap_or(Value::Null),
                    "FulfillmentType": if f["fulfilledBy"] == "AMAZON" { "AFN" } else { "MFN" },
                    "OrderType": "StandardOrder",
                    "OrderItems": items,
                }
            }
        },
        "NotificationMetadata": {
            "ApplicationId": APPLICATION_ID,
            "SubscriptionId": "00000000-0000-0000-0000-00000000cafe",
            "PublishTime": updated,
            "NotificationId": notification_id,
        }
    })
}

/// The SP-API application id of the local notifications (ingest accepts only it).
pub const APPLICATION_ID: &str = "amzn1.sellerapps.app.00000000-0000-0000-0000-000000000000";

/// A stable notification id for an order version (so a re-run of the demo is a duplicate).
pub fn notification_id_for(order: &Value) -> String {
    format!(
        "local-{}-{}",
        order["orderId"].as_str().unwrap_or_default(),
        order["lastUpdatedTime"].as_str().unwrap_or_default()
    )
}

/// The sandbox's orders, in full, each with its seller, over its control API.
pub async fn sandbox_orders(sandbox_url: &str) -> Result<Vec<(String, Value)>, crate::LocalError> {
    let http = reqwest::Client::new();
    let err = |e: reqwest::Error| crate::LocalError::Stack(format!("SP-API sandbox: {e}"));
    let list: Value = http
        .get(format!("{sandbox_url}/_sandbox/orders"))
        .send()
        .await
        .map_err(err)?
        .json()
        .await
        .map_err(err)?;
    let mut out = Vec::new();
    for r in list["orders"].as_array().cloned().unwrap_or_default() {
        let id = r["orderId"].as_str().unwrap_or_default();
        let seller = r["sellerId"]
            .as_str()
            .or_else(|| list["sellerId"].as_str())
            .unwrap_or_default()
            .to_owned();
        let order: Value = http
            .get(format!("{sandbox_url}/_sandbox/orders/{id}"))
            .send()
            .await
            .map_err(err)?
            .json()
            .await
            .map_err(err)?;
        out.push((seller, order.get("order").cloned().unwrap_or(order)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_notification_parses_as_order_change() {
        let order = json!({
            "orderId": "113-0000000-0000001", "createdTime": "2026-05-01T10:00:00Z",
            "lastUpdatedTime": "2026-05-01T11:00:00Z",
            "salesChannel": {"channelName": "AMAZON", "marketplaceId": "ATVPDKIKX0DER"},
            "recipient": {"deliveryAddress": {"postalCode": "98101", "countryCode": "US"}},
            "fulfillment": {"fulfillmentStatus": "CANCELLED", "fulfilledBy": "MERCHANT"},
            "orderItems": [{"orderItemId": "1", "quantityOrdered": 2, "product": {"sellerSku": "S-1"}}]
        });
        let n = order_change_for(&order, "A3TH9S8BH6GOGM", &notification_id_for(&order));
        let parsed = orderseal::notification::parse(&n.to_string()).unwrap();
        let orderseal::notification::Notification::OrderChange(oc) = parsed else {
            panic!("not an order change");
        };
        assert_eq!(oc.payload.amazon_order_id, "113-0000000-0000001");
        assert_eq!(oc.payload.summary.order_status.as_str(), "Canceled");
        assert_eq!(oc.payload.summary.order_items[0].quantity, 2);
    }
}
