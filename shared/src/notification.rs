//! Parsing of an SQS message body (an SP-API Notifications v1 notification) into a typed value.
//!
//! The body is the notification JSON itself (no SNS envelope). ORDER_CHANGE is parsed in full per
//! the official `OrderChangeNotification.json` schema (PayloadVersion `1.0`); other types the
//! project knows are only acknowledged ([`Notification::Known`]), anything else is
//! [`Notification::Unknown`].
//!
//! # Envelope casing
//! ORDER_CHANGE and FBA_OUTBOUND_SHIPMENT_STATUS use PascalCase envelope keys (`NotificationType`,
//! `NotificationMetadata.NotificationId`, …); newer types use camelCase (`notificationType`,
//! `notificationMetadata.notificationId`, …). Both are accepted, but one object must use one
//! casing: an envelope or metadata object holding keys of both is [`NotificationError::MixedCase`].
//! The ORDER_CHANGE payload itself (`OrderChangeNotification` and below) is PascalCase only, as
//! in its schema.
//!
//! # Strictness (a tolerant reader that is strict where it matters)
//! - Every key in a schema `required` list must be present; a key the schema allows to be `null`
//!   (`TimeOfOrderChange`, `PurchaseDate`, `DestinationPostalCode`, `SupplySourceId`) may be null.
//! - Optional keys may be absent or `null`; unknown keys are ignored.
//! - Timestamps must be RFC 3339 (every Amazon sample is); ids used as keys (`NotificationId`,
//!   `SellerId`, `AmazonOrderId`, `MarketplaceId`, `OrderItemId`) must be non-empty and at most
//!   [`MAX_ID_BYTES`] long; counts must fit a `u32`.
//! - Enums: [`FulfillmentType`] and [`NotificationLevel`] are closed — an unknown value is an
//!   [`NotificationError::InvalidValue`] (the first decides whether we fetch buyer PII at all, the
//!   second what the item list means; a new value needs a code change, so the message goes to
//!   the DLQ, loudly). Every other enum is open: an unknown value is kept as `Other(String)`,
//!   because Amazon adds values over time (`DeliveryTipChange` arrived 2026-05-27) and the
//!   notification is only a hint — ingest re-reads the order with getOrder, which is authoritative.
//!   This includes [`OrderStatus`]: the handler treats `Other` as "re-fetch and decide on the
//!   v2026 `fulfillmentStatus`".
//!
//! # Errors never echo the body
//! [`NotificationError`] carries field paths built only from the schema's own key names and array
//! indexes, JSON type names, sizes and positions — never a value or an unknown key from the body.
//! The one exception is a version string, shown only when it looks like a version (digits, `.`,
//! `-`, at most 16 characters).

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::pii::PiiString;

/// Largest SQS message body (256 KiB); bigger bodies are rejected before parsing.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Longest accepted identifier (`NotificationId`, `AmazonOrderId`, …); they become store keys.
pub const MAX_ID_BYTES: usize = 256;

/// The only notification type parsed in full.
pub const ORDER_CHANGE: &str = "ORDER_CHANGE";

/// Notification types the project knows but does not process: acknowledged and counted.
///
/// `notifications.json` has no `NotificationType` enum (types are free strings there); this list
/// is the types with an official schema in the kit (FBA_OUTBOUND_SHIPMENT_STATUS,
/// SHIPMENT_TRACKING_MILESTONE_CHANGED), those in its `eventFilterType` enum (ANY_OFFER_CHANGED),
/// and the SQS-delivered or removed types named in the domain notes (§1.1, §1.5, §1.7).
pub const KNOWN_TYPES: &[&str] = &[
    "ACCOUNT_STATUS_CHANGED",
    "ANY_OFFER_CHANGED",
    "FBA_OUTBOUND_SHIPMENT_STATUS",
    "FULFILLMENT_ORDER_STATUS",
    "MFN_ORDER_STATUS_CHANGE",
    "ORDER_STATUS_CHANGE",
    "REPORT_PROCESSING_FINISHED",
    "SHIPMENT_TRACKING_MILESTONE_CHANGED",
];

const MAX_KIND_BYTES: usize = 64;

/// Defines a string enum mapped to wire values.
///
/// `open` enums gain an `Other(String)` variant for values this build does not know and a serde
/// `Deserialize` that never fails on a string; `closed` enums map unknown values to `None`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        open $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this build does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as sent by Amazon.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(other) => other,
                }
            }

            /// Maps a wire value; a value this build does not know becomes `Other`.
            pub fn from_wire(value: &str) -> Self {
                match value {
                    $($wire => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }

            /// False for `Other`.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <String as ::serde::Deserialize>::deserialize(deserializer)
                    .map(|value| Self::from_wire(&value))
            }
        }
    };
    (
        $(#[$meta:meta])*
        closed $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every wire value, for error messages.
            const EXPECTED: &'static str = concat!("one of", $(" ", $wire,)+);

            /// The value as sent by Amazon.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            /// Maps a wire value; `None` for a value this build does not know.
            pub fn from_wire(value: &str) -> Option<Self> {
                match value {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/// A parsed SQS message body.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// ORDER_CHANGE, PayloadVersion `1.0`, fully parsed.
    OrderChange(Box<OrderChangeNotification>),
    /// A type in [`KNOWN_TYPES`]: acknowledge and count; the payload is not read.
    Known {
        kind: String,
        metadata: NotificationMetadata,
    },
    /// Any other type. `metadata` is `None` when absent or not well-formed (nothing is done with
    /// such a message beyond acknowledging and counting it, so it is not rejected for that).
    Unknown {
        kind: String,
        metadata: Option<NotificationMetadata>,
    },
}

impl Notification {
    /// The idempotency key (`NotificationMetadata.NotificationId`), when there is one.
    pub fn notification_id(&self) -> Option<&str> {
        self.metadata().map(|m| m.notification_id.as_str())
    }

    /// The `NotificationType`.
    pub fn kind(&self) -> &str {
        match self {
            Notification::OrderChange(_) => ORDER_CHANGE,
            Notification::Known { kind, .. } | Notification::Unknown { kind, .. } => kind,
        }
    }

    pub fn metadata(&self) -> Option<&NotificationMetadata> {
        match self {
            Notification::OrderChange(n) => Some(&n.metadata),
            Notification::Known { metadata, .. } => Some(metadata),
            Notification::Unknown { metadata, .. } => metadata.as_ref(),
        }
    }
}

/// `NotificationMetadata` (all four keys required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationMetadata {
    pub application_id: String,
    pub subscription_id: String,
    pub publish_time: OffsetDateTime,
    /// Unique per notification instance: the dedupe key.
    pub notification_id: String,
}

/// An ORDER_CHANGE notification (NotificationVersion `1.0`, PayloadVersion `1.0`; both checked).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderChangeNotification {
    pub event_time: OffsetDateTime,
    pub metadata: NotificationMetadata,
    /// `Payload.OrderChangeNotification`.
    pub payload: OrderChange,
}

/// `Payload.OrderChangeNotification`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderChange {
    pub notification_level: NotificationLevel,
    pub seller_id: String,
    pub amazon_order_id: String,
    pub order_change_type: OrderChangeType,
    pub order_change_trigger: OrderChangeTrigger,
    pub summary: OrderChangeSummary,
}

/// What triggered the notification.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderChangeTrigger {
    /// Required key; `null` when there is no related timestamp.
    pub time_of_order_change: Option<OffsetDateTime>,
    /// Free text such as "Buyer Requested Cancel".
    pub change_reason: String,
}

/// `Summary`: the order and the items that had the change.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderChangeSummary {
    pub marketplace_id: String,
    pub order_status: OrderStatus,
    /// Required key; may be `null`.
    pub purchase_date: Option<OffsetDateTime>,
    /// Required key; may be `null`. Location data: redacted in `Debug`, never logged.
    pub destination_postal_code: Option<PiiString>,
    pub fulfillment_type: FulfillmentType,
    pub order_type: OrderType,
    pub number_of_items_shipped: Option<u32>,
    pub number_of_items_unshipped: Option<u32>,
    pub earliest_delivery_date: Option<OffsetDateTime>,
    pub latest_delivery_date: Option<OffsetDateTime>,
    pub earliest_ship_date: Option<OffsetDateTime>,
    pub latest_ship_date: Option<OffsetDateTime>,
    pub cancel_notify_date: Option<OffsetDateTime>,
    /// Empty when absent.
    pub order_programs: Vec<OrderProgram>,
    /// Empty when absent.
    pub shipping_programs: Vec<ShippingProgram>,
    pub easy_ship_shipment_status: Option<EasyShipShipmentStatus>,
    pub electronic_invoice_status: Option<ElectronicInvoiceStatus>,
    /// All items for `OrderLevel`, one item for `OrderItemLevel`.
    pub order_items: Vec<OrderChangeItem>,
}

/// One entry of `Summary.OrderItems`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderChangeItem {
    pub order_item_id: String,
    pub seller_sku: String,
    /// Required key; may be `null`.
    pub supply_source_id: Option<String>,
    pub order_item_status: Option<OrderItemStatus>,
    pub quantity: u32,
    pub quantity_shipped: Option<u32>,
    pub is_buyer_requested_cancel: Option<bool>,
    pub item_earliest_delivery_date: Option<OffsetDateTime>,
    pub item_latest_delivery_date: Option<OffsetDateTime>,
}

wire_enum! {
    /// `NotificationLevel` (closed: it defines what `OrderItems` holds).
    closed NotificationLevel {
        /// The payload carries all items of the order.
        OrderLevel = "OrderLevel",
        /// The payload carries one item.
        OrderItemLevel = "OrderItemLevel",
    }
}

wire_enum! {
    /// `FulfillmentType` (closed: it decides whether buyer PII is fetched at all).
    closed FulfillmentType {
        /// Fulfilled by Amazon.
        Afn = "AFN",
        /// Fulfilled by the merchant.
        Mfn = "MFN",
    }
}

wire_enum! {
    /// `OrderChangeType`.
    open OrderChangeType {
        BuyerRequestedChange = "BuyerRequestedChange",
        /// Added 2026-05-27.
        DeliveryTipChange = "DeliveryTipChange",
        OrderStatusChange = "OrderStatusChange",
    }
}

wire_enum! {
    /// `Summary.OrderStatus` (note Amazon's spelling "Canceled").
    open OrderStatus {
        Pending = "Pending",
        Unshipped = "Unshipped",
        PartiallyShipped = "PartiallyShipped",
        Shipped = "Shipped",
        Canceled = "Canceled",
        Unfulfillable = "Unfulfillable",
        InvoiceUnconfirmed = "InvoiceUnconfirmed",
        PendingAvailability = "PendingAvailability",
    }
}

wire_enum! {
    /// `Summary.OrderType`.
    open OrderType {
        StandardOrder = "StandardOrder",
        LongLeadTimeOrder = "LongLeadTimeOrder",
        Preorder = "Preorder",
        BackOrder = "BackOrder",
        SourcingOnDemandOrder = "SourcingOnDemandOrder",
    }
}

wire_enum! {
    /// An entry of `Summary.OrderPrograms`.
    open OrderProgram {
        Business = "Business",
        Prime = "Prime",
        Premium = "Premium",
        Iba = "IBA",
        Replacement = "Replacement",
    }
}

wire_enum! {
    /// An entry of `Summary.ShippingPrograms`.
    open ShippingProgram {
        ShipDateSet = "ShipDateSet",
        GlobalExpress = "GlobalExpress",
        Ispu = "ISPU",
        AccessPoint = "AccessPoint",
        Tfm = "TFM",
        EasyShip = "EasyShip",
    }
}

wire_enum! {
    /// `Summary.EasyShipShipmentStatus` (Easy Ship orders only).
    open EasyShipShipmentStatus {
        PendingSchedule = "PendingSchedule",
        PendingPickUp = "PendingPickUp",
        PendingDropOff = "PendingDropOff",
        LabelCanceled = "LabelCanceled",
        PickedUp = "PickedUp",
        DroppedOff = "DroppedOff",
        AtOriginFc = "AtOriginFC",
        AtDestinationFc = "AtDestinationFC",
        Delivered = "Delivered",
        RejectedByBuyer = "RejectedByBuyer",
        Undeliverable = "Undeliverable",
        ReturningToSeller = "ReturningToSeller",
        ReturnedToSeller = "ReturnedToSeller",
        Lost = "Lost",
        OutForDelivery = "OutForDelivery",
        Damaged = "Damaged",
    }
}

wire_enum! {
    /// `Summary.ElectronicInvoiceStatus`.
    open ElectronicInvoiceStatus {
        NotRequired = "NotRequired",
        NotFound = "NotFound",
        Processing = "Processing",
        Errored = "Errored",
        Accepted = "Accepted",
    }
}

wire_enum! {
    /// `OrderItems[].OrderItemStatus` (present when item statuses differ).
    open OrderItemStatus {
        Unshipped = "Unshipped",
        Shipped = "Shipped",
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a body was rejected. Never contains a value from the body (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("notification body is {bytes} bytes, over the {max}-byte limit", max = MAX_BODY_BYTES)]
    TooLarge { bytes: usize },
    #[error(
        "notification body is not valid JSON ({category} error at line {line}, column {column})"
    )]
    Malformed {
        /// `syntax`, `eof`, `data` or `io` (serde_json's classification; its message is dropped).
        category: &'static str,
        line: usize,
        column: usize,
    },
    #[error("`{field}` mixes PascalCase and camelCase envelope keys")]
    MixedCase { field: String },
    #[error("required field `{field}` is missing")]
    MissingField { field: String },
    #[error("field `{field}` has the wrong JSON type (expected {expected})")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("field `{field}` has an unacceptable value (expected {expected})")]
    InvalidValue {
        field: String,
        expected: &'static str,
    },
    #[error("unsupported NotificationVersion `{version}`")]
    UnsupportedNotificationVersion { version: String },
    #[error("unsupported ORDER_CHANGE PayloadVersion `{version}`")]
    UnsupportedPayloadVersion { version: String },
}

impl NotificationError {
    /// A stable code for metrics and log fields.
    pub fn reason_code(&self) -> &'static str {
        match self {
            NotificationError::TooLarge { .. } => "too_large",
            NotificationError::Malformed { .. } => "malformed_json",
            NotificationError::MixedCase { .. } => "mixed_case_envelope",
            NotificationError::MissingField { .. } => "missing_field",
            NotificationError::WrongType { .. } => "wrong_type",
            NotificationError::InvalidValue { .. } => "invalid_value",
            NotificationError::UnsupportedNotificationVersion { .. } => {
                "unsupported_notification_version"
            }
            NotificationError::UnsupportedPayloadVersion { .. } => "unsupported_payload_version",
        }
    }
}

impl From<serde_json::Error> for NotificationError {
    /// Keeps only the category and position: serde_json's message can quote the input.
    fn from(e: serde_json::Error) -> Self {
        NotificationError::Malformed {
            category: json_error_category(&e),
            line: e.line(),
            column: e.column(),
        }
    }
}

/// serde_json's error category as a static word (its message text can echo input).
pub(crate) fn json_error_category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "io",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "eof",
    }
}

/// A version string fit for an error message: shown only when it looks like a version.
fn shown_version(version: &str) -> String {
    let looks_like_version = !version.is_empty()
        && version.len() <= 16
        && version
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    if looks_like_version {
        version.to_owned()
    } else {
        format!("<{} bytes, not shown>", version.len())
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Parses an SQS message body.
pub fn parse(body: &str) -> Result<Notification, NotificationError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(NotificationError::TooLarge { bytes: body.len() });
    }
    let root: Value = serde_json::from_str(body)?;
    let envelope = Obj::of(&root, String::new())?;
    let casing = envelope.casing(&ENVELOPE_KEYS, None)?;

    let kind = envelope.req(casing.key(&NOTIFICATION_TYPE), notification_kind)?;
    if kind == ORDER_CHANGE {
        return order_change(&envelope, casing).map(|n| Notification::OrderChange(Box::new(n)));
    }
    let kind = kind.to_owned();
    if KNOWN_TYPES.contains(&kind.as_str()) {
        let metadata = metadata(&envelope, casing)?;
        Ok(Notification::Known { kind, metadata })
    } else {
        let metadata = metadata(&envelope, casing).ok();
        Ok(Notification::Unknown { kind, metadata })
    }
}

/// A PascalCase envelope key and its camelCase twin.
struct Key {
    pascal: &'static str,
    camel: &'static str,
}

const NOTIFICATION_VERSION: Key = Key {
    pascal: "NotificationVersion",
    camel: "notificationVersion",
};
const NOTIFICATION_TYPE: Key = Key {
    pascal: "NotificationType",
    camel: "notificationType",
};
const PAYLOAD_VERSION: Key = Key {
    pascal: "PayloadVersion",
    camel: "payloadVersion",
};
const EVENT_TIME: Key = Key {
    pascal: "EventTime",
    camel: "eventTime",
};
const PAYLOAD: Key = Key {
    pascal: "Payload",
    camel: "payload",
};
const NOTIFICATION_METADATA: Key = Key {
    pascal: "NotificationMetadata",
    camel: "notificationMetadata",
};
const ENVELOPE_KEYS: [Key; 6] = [
    NOTIFICATION_VERSION,
    NOTIFICATION_TYPE,
    PAYLOAD_VERSION,
    EVENT_TIME,
    PAYLOAD,
    NOTIFICATION_METADATA,
];

const APPLICATION_ID: Key = Key {
    pascal: "ApplicationId",
    camel: "applicationId",
};
const SUBSCRIPTION_ID: Key = Key {
    pascal: "SubscriptionId",
    camel: "subscriptionId",
};
const PUBLISH_TIME: Key = Key {
    pascal: "PublishTime",
    camel: "publishTime",
};
const NOTIFICATION_ID: Key = Key {
    pascal: "NotificationId",
    camel: "notificationId",
};
const METADATA_KEYS: [Key; 4] = [
    APPLICATION_ID,
    SUBSCRIPTION_ID,
    PUBLISH_TIME,
    NOTIFICATION_ID,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Casing {
    Pascal,
    Camel,
}

impl Casing {
    fn key(self, key: &Key) -> &'static str {
        match self {
            Casing::Pascal => key.pascal,
            Casing::Camel => key.camel,
        }
    }
}

fn metadata(envelope: &Obj<'_>, casing: Casing) -> Result<NotificationMetadata, NotificationError> {
    let m = envelope.obj(casing.key(&NOTIFICATION_METADATA))?;
    m.casing(&METADATA_KEYS, Some(casing))?;
    Ok(NotificationMetadata {
        application_id: m.req(casing.key(&APPLICATION_ID), string)?.to_owned(),
        subscription_id: m.req(casing.key(&SUBSCRIPTION_ID), string)?.to_owned(),
        publish_time: m.req(casing.key(&PUBLISH_TIME), timestamp)?,
        notification_id: m.req(casing.key(&NOTIFICATION_ID), identifier)?,
    })
}

fn order_change(
    envelope: &Obj<'_>,
    casing: Casing,
) -> Result<OrderChangeNotification, NotificationError> {
    let version = envelope.req(casing.key(&NOTIFICATION_VERSION), string)?;
    if version != "1.0" {
        return Err(NotificationError::UnsupportedNotificationVersion {
            version: shown_version(version),
        });
    }
    let version = envelope.req(casing.key(&PAYLOAD_VERSION), string)?;
    if version != "1.0" {
        return Err(NotificationError::UnsupportedPayloadVersion {
            version: shown_version(version),
        });
    }
    let event_time = envelope.req(casing.key(&EVENT_TIME), timestamp)?;
    let metadata = metadata(envelope, casing)?;
    let p = envelope
        .obj(casing.key(&PAYLOAD))?
        .obj("OrderChangeNotification")?;

    let t = p.obj("OrderChangeTrigger")?;
    let order_change_trigger = OrderChangeTrigger {
        time_of_order_change: t.nullable("TimeOfOrderChange", timestamp)?,
        change_reason: t.req("ChangeReason", string)?.to_owned(),
    };

    let s = p.obj("Summary")?;
    let summary = OrderChangeSummary {
        marketplace_id: s.req("MarketplaceId", identifier)?,
        order_status: s.req("OrderStatus", open(OrderStatus::from_wire))?,
        purchase_date: s.nullable("PurchaseDate", timestamp)?,
        destination_postal_code: s
            .nullable("DestinationPostalCode", |v| string(v).map(PiiString::new))?,
        fulfillment_type: s.req("FulfillmentType", |v| {
            closed(v, FulfillmentType::from_wire, FulfillmentType::EXPECTED)
        })?,
        order_type: s.req("OrderType", open(OrderType::from_wire))?,
        number_of_items_shipped: s.opt("NumberOfItemsShipped", count)?,
        number_of_items_unshipped: s.opt("NumberOfItemsUnshipped", count)?,
        earliest_delivery_date: s.opt("EarliestDeliveryDate", timestamp)?,
        latest_delivery_date: s.opt("LatestDeliveryDate", timestamp)?,
        earliest_ship_date: s.opt("EarliestShipDate", timestamp)?,
        latest_ship_date: s.opt("LatestShipDate", timestamp)?,
        cancel_notify_date: s.opt("CancelNotifyDate", timestamp)?,
        order_programs: s.list("OrderPrograms", open(OrderProgram::from_wire))?,
        shipping_programs: s.list("ShippingPrograms", open(ShippingProgram::from_wire))?,
        easy_ship_shipment_status: s.opt(
            "EasyShipShipmentStatus",
            open(EasyShipShipmentStatus::from_wire),
        )?,
        electronic_invoice_status: s.opt(
            "ElectronicInvoiceStatus",
            open(ElectronicInvoiceStatus::from_wire),
        )?,
        order_items: s
            .objects("OrderItems")?
            .iter()
            .map(order_item)
            .collect::<Result<_, _>>()?,
    };

    Ok(OrderChangeNotification {
        event_time,
        metadata,
        payload: OrderChange {
            notification_level: p.req("NotificationLevel", |v| {
                closed(v, NotificationLevel::from_wire, NotificationLevel::EXPECTED)
            })?,
            seller_id: p.req("SellerId", identifier)?,
            amazon_order_id: p.req("AmazonOrderId", identifier)?,
            order_change_type: p.req("OrderChangeType", open(OrderChangeType::from_wire))?,
            order_change_trigger,
            summary,
        },
    })
}

fn order_item(i: &Obj<'_>) -> Result<OrderChangeItem, NotificationError> {
    Ok(OrderChangeItem {
        order_item_id: i.req("OrderItemId", identifier)?,
        seller_sku: i.req("SellerSKU", string)?.to_owned(),
        supply_source_id: i.nullable("SupplySourceId", string)?.map(str::to_owned),
        order_item_status: i.opt("OrderItemStatus", open(OrderItemStatus::from_wire))?,
        quantity: i.req("Quantity", count)?,
        quantity_shipped: i.opt("QuantityShipped", count)?,
        is_buyer_requested_cancel: i.opt("IsBuyerRequestedCancel", boolean)?,
        item_earliest_delivery_date: i.opt("ItemEarliestDeliveryDate", timestamp)?,
        item_latest_delivery_date: i.opt("ItemLatestDeliveryDate", timestamp)?,
    })
}

// ---------------------------------------------------------------------------------------------
// A JSON object being read, with its path for error messages
// ---------------------------------------------------------------------------------------------

/// Why a value was refused, before the path is attached.
enum Problem {
    Type(&'static str),
    Value(&'static str),
}

/// A JSON object and its path (schema key names and indexes only, e.g.
/// `Payload.OrderChangeNotification.Summary.OrderItems[0]`; empty for the root).
struct Obj<'v> {
    map: &'v Map<String, Value>,
    path: String,
}

impl<'v> Obj<'v> {
    fn of(value: &'v Value, path: String) -> Result<Self, NotificationError> {
        match value.as_object() {
            Some(map) => Ok(Self { map, path }),
            None => Err(NotificationError::WrongType {
                field: if path.is_empty() { "$".into() } else { path },
                expected: "object",
            }),
        }
    }

    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn problem(&self, key: &str, problem: Problem) -> NotificationError {
        let field = self.at(key);
        match problem {
            Problem::Type(expected) => NotificationError::WrongType { field, expected },
            Problem::Value(expected) => NotificationError::InvalidValue { field, expected },
        }
    }

    fn missing(&self, key: &str) -> NotificationError {
        NotificationError::MissingField {
            field: self.at(key),
        }
    }

    /// Which casing this object's `keys` use; an error if both appear, or if `expected` is given
    /// and the other casing appears.
    fn casing(&self, keys: &[Key], expected: Option<Casing>) -> Result<Casing, NotificationError> {
        let pascal = keys.iter().any(|k| self.map.contains_key(k.pascal));
        let camel = keys.iter().any(|k| self.map.contains_key(k.camel));
        let found = match (pascal, camel) {
            (true, true) => None,
            (false, true) => Some(Casing::Camel),
            (true, false) => Some(Casing::Pascal),
            (false, false) => expected.or(Some(Casing::Pascal)),
        };
        match (found, expected) {
            (Some(found), None) => Ok(found),
            (Some(found), Some(expected)) if found == expected => Ok(found),
            _ => Err(NotificationError::MixedCase {
                field: if self.path.is_empty() {
                    "$".into()
                } else {
                    self.path.clone()
                },
            }),
        }
    }

    /// A required key whose value must not be null.
    fn req<T>(
        &self,
        key: &str,
        read: impl FnOnce(&'v Value) -> Result<T, Problem>,
    ) -> Result<T, NotificationError> {
        let value = self.map.get(key).ok_or_else(|| self.missing(key))?;
        read(value).map_err(|p| self.problem(key, p))
    }

    /// A required key whose value may be null.
    fn nullable<T>(
        &self,
        key: &str,
        read: impl FnOnce(&'v Value) -> Result<T, Problem>,
    ) -> Result<Option<T>, NotificationError> {
        match self.map.get(key) {
            None => Err(self.missing(key)),
            Some(Value::Null) => Ok(None),
            Some(value) => read(value).map(Some).map_err(|p| self.problem(key, p)),
        }
    }

    /// An optional key; absent and null both read as `None`.
    fn opt<T>(
        &self,
        key: &str,
        read: impl FnOnce(&'v Value) -> Result<T, Problem>,
    ) -> Result<Option<T>, NotificationError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => read(value).map(Some).map_err(|p| self.problem(key, p)),
        }
    }

    /// A required object.
    fn obj(&self, key: &str) -> Result<Obj<'v>, NotificationError> {
        let value = self.map.get(key).ok_or_else(|| self.missing(key))?;
        Obj::of(value, self.at(key))
    }

    /// A required array of objects.
    fn objects(&self, key: &str) -> Result<Vec<Obj<'v>>, NotificationError> {
        let items = self.req(key, array)?;
        let path = self.at(key);
        items
            .iter()
            .enumerate()
            .map(|(i, item)| Obj::of(item, format!("{path}[{i}]")))
            .collect()
    }

    /// An optional array of scalars; absent and null both read as empty.
    fn list<T>(
        &self,
        key: &str,
        read: impl Fn(&'v Value) -> Result<T, Problem>,
    ) -> Result<Vec<T>, NotificationError> {
        let Some(items) = self.opt(key, array)? else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| read(item).map_err(|p| self.problem(&format!("{key}[{i}]"), p)))
            .collect()
    }
}

fn string(v: &Value) -> Result<&str, Problem> {
    v.as_str().ok_or(Problem::Type("string"))
}

fn identifier(v: &Value) -> Result<String, Problem> {
    let id = string(v)?;
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(Problem::Value(
            "a non-empty identifier of at most 256 bytes",
        ));
    }
    Ok(id.to_owned())
}

fn notification_kind(v: &Value) -> Result<&str, Problem> {
    let kind = string(v)?;
    let well_formed = !kind.is_empty()
        && kind.len() <= MAX_KIND_BYTES
        && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if well_formed {
        Ok(kind)
    } else {
        Err(Problem::Value(
            "1 to 64 ASCII letters, digits or underscores",
        ))
    }
}

fn timestamp(v: &Value) -> Result<OffsetDateTime, Problem> {
    OffsetDateTime::parse(string(v)?, &Rfc3339).map_err(|_| Problem::Value("an RFC 3339 date-time"))
}

fn count(v: &Value) -> Result<u32, Problem> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(Problem::Type("a non-negative 32-bit integer"))
}

fn boolean(v: &Value) -> Result<bool, Problem> {
    v.as_bool().ok_or(Problem::Type("boolean"))
}

fn array(v: &Value) -> Result<&Vec<Value>, Problem> {
    v.as_array().ok_or(Problem::Type("array"))
}

/// Reads an open enum: any string is accepted.
fn open<T>(from_wire: fn(&str) -> T) -> impl Fn(&Value) -> Result<T, Problem> {
    move |v| string(v).map(from_wire)
}

/// Reads a closed enum: a string outside the known set is refused.
fn closed<T>(
    v: &Value,
    from_wire: fn(&str) -> Option<T>,
    expected: &'static str,
) -> Result<T, Problem> {
    from_wire(string(v)?).ok_or(Problem::Value(expected))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const ORDER_CHANGE_SCHEMA: &str =
        include_str!("../../../shared/specs/spapi/OrderChangeNotification.json");
    const FBA_SCHEMA: &str =
        include_str!("../../../shared/specs/spapi/FBAOutboundShipmentStatusNotification.json");
    const TRACKING_SCHEMA: &str = include_str!(
        "../../../shared/specs/spapi/ShipmentTrackingMilestoneChangedNotification.json"
    );

    const MFN_UNSHIPPED: &str =
        include_str!("../../fixtures/notifications/order-change-mfn-unshipped.json");
    const CANCELED: &str = include_str!("../../fixtures/notifications/order-change-canceled.json");
    const ITEM_LEVEL: &str =
        include_str!("../../fixtures/notifications/order-change-item-level.json");
    const DELIVERY_TIP: &str =
        include_str!("../../fixtures/notifications/delivery-tip-change.json");
    const FBA_OUTBOUND: &str =
        include_str!("../../fixtures/notifications/fba-outbound-shipment-status.json");
    const TRACKING: &str =
        include_str!("../../fixtures/notifications/shipment-tracking-milestone-changed.json");
    const UNKNOWN_TYPE: &str = include_str!("../../fixtures/notifications/unknown-type.json");
    const MALFORMED: &str = include_str!("../../fixtures/notifications/malformed.json");

    /// `examples[0]` of an official schema file, as a body.
    fn schema_example(schema: &str) -> String {
        let schema: Value = serde_json::from_str(schema).unwrap();
        serde_json::to_string(&schema["examples"][0]).unwrap()
    }

    fn order_change(body: &str) -> OrderChangeNotification {
        match parse(body) {
            Ok(Notification::OrderChange(n)) => *n,
            other => panic!("expected ORDER_CHANGE, got {other:?}"),
        }
    }

    /// The doc's minimal OrderStatusChange sample as a `Value`, for tests that break it.
    fn minimal() -> Value {
        serde_json::from_str(MFN_UNSHIPPED).unwrap()
    }

    /// `Payload.OrderChangeNotification` of a body being edited.
    fn oc(v: &mut Value) -> &mut Value {
        &mut v["Payload"]["OrderChangeNotification"]
    }

    fn parse_value(v: &Value) -> Result<Notification, NotificationError> {
        parse(&serde_json::to_string(v).unwrap())
    }

    #[test]
    fn official_order_change_example_parses_every_field() {
        let n = order_change(&schema_example(ORDER_CHANGE_SCHEMA));
        assert_eq!(n.event_time, datetime!(2020-01-11 00:09:53.109 UTC));
        assert_eq!(
            n.metadata,
            NotificationMetadata {
                application_id: "app-id-d0e9e693-c3ad-4373-979f-ed4ec98dd746".into(),
                subscription_id: "subscription-id-d0e9e693-c3ad-4373-979f-ed4ec98dd746".into(),
                publish_time: datetime!(2020-07-13 19:42:04.284 UTC),
                notification_id: "d0e9e693-c3ad-4373-979f-ed4ec98dd746".into(),
            }
        );
        let p = &n.payload;
        assert_eq!(p.notification_level, NotificationLevel::OrderLevel);
        assert_eq!(p.seller_id, "A3TH9S8BH6GOGM");
        assert_eq!(p.amazon_order_id, "903-8868176-2219830");
        assert_eq!(p.order_change_type, OrderChangeType::BuyerRequestedChange);
        assert_eq!(
            p.order_change_trigger,
            OrderChangeTrigger {
                time_of_order_change: Some(datetime!(2022-11-29 19:42:04.284 UTC)),
                change_reason: "Buyer Requested Cancel".into(),
            }
        );
        let s = &p.summary;
        assert_eq!(s.marketplace_id, "ATVPDKIKX0DER");
        assert_eq!(s.order_status, OrderStatus::Unshipped);
        assert_eq!(
            s.purchase_date,
            Some(datetime!(2022-07-13 19:42:04.284 UTC))
        );
        assert_eq!(
            s.destination_postal_code.as_ref().unwrap().expose(),
            "48110"
        );
        assert_eq!(s.fulfillment_type, FulfillmentType::Mfn);
        assert_eq!(s.order_type, OrderType::StandardOrder);
        assert_eq!(s.number_of_items_shipped, Some(0));
        assert_eq!(s.number_of_items_unshipped, Some(10));
        assert_eq!(
            s.earliest_delivery_date,
            Some(datetime!(2022-11-07 19:42:04.284 UTC))
        );
        assert_eq!(
            s.latest_delivery_date,
            Some(datetime!(2022-12-07 19:42:04.284 UTC))
        );
        assert_eq!(
            s.earliest_ship_date,
            Some(datetime!(2022-11-07 19:42:04.284 UTC))
        );
        assert_eq!(
            s.latest_ship_date,
            Some(datetime!(2022-12-07 19:42:04.284 UTC))
        );
        assert_eq!(
            s.cancel_notify_date,
            Some(datetime!(2022-12-07 19:42:04.284 UTC))
        );
        assert_eq!(s.order_programs, [OrderProgram::Business]);
        assert_eq!(s.shipping_programs, [ShippingProgram::EasyShip]);
        assert_eq!(
            s.easy_ship_shipment_status,
            Some(EasyShipShipmentStatus::Delivered)
        );
        assert_eq!(
            s.electronic_invoice_status,
            Some(ElectronicInvoiceStatus::NotFound)
        );
        assert_eq!(
            s.order_items,
            [OrderChangeItem {
                order_item_id: "OIID34853450".into(),
                seller_sku: "SellerSKUID1".into(),
                supply_source_id: Some("d7679e14-031b-4ab3-a81b-ec4fc7a460b3".into()),
                order_item_status: Some(OrderItemStatus::Unshipped),
                quantity: 10,
                quantity_shipped: Some(0),
                is_buyer_requested_cancel: Some(true),
                item_earliest_delivery_date: Some(datetime!(2022-11-07 19:42:04.284 UTC)),
                item_latest_delivery_date: Some(datetime!(2022-12-07 19:42:04.284 UTC)),
            }]
        );
        let n = Notification::OrderChange(Box::new(n));
        assert_eq!(n.kind(), "ORDER_CHANGE");
        assert_eq!(
            n.notification_id(),
            Some("d0e9e693-c3ad-4373-979f-ed4ec98dd746")
        );
        assert!(
            !format!("{n:?}").contains("48110"),
            "postal code must be redacted"
        );
    }

    #[test]
    fn doc_minimal_order_status_change_with_null_trigger_time_parses() {
        let n = order_change(MFN_UNSHIPPED);
        let p = &n.payload;
        assert_eq!(
            n.metadata.notification_id,
            "00000000-0000-0000-0000-000000000002"
        );
        assert_eq!(p.seller_id, "A3TH9S8BH6GOGM");
        assert_eq!(p.amazon_order_id, "113-1234567-1234567");
        assert_eq!(p.order_change_type, OrderChangeType::OrderStatusChange);
        assert_eq!(p.order_change_trigger.time_of_order_change, None);
        assert_eq!(p.summary.order_status, OrderStatus::Unshipped);
        assert_eq!(p.summary.fulfillment_type, FulfillmentType::Mfn);
        assert_eq!(p.summary.order_programs, []);
        assert_eq!(p.summary.number_of_items_shipped, None);
        let item = &p.summary.order_items[0];
        assert_eq!(
            (item.order_item_id.as_str(), item.quantity),
            ("12345678901234", 1)
        );
        assert_eq!(item.supply_source_id, None);
    }

    #[test]
    fn canceled_fixture_parses() {
        let n = order_change(CANCELED);
        assert_eq!(n.payload.summary.order_status, OrderStatus::Canceled);
        assert_eq!(n.payload.summary.latest_delivery_date, None);
        assert!(
            n.payload
                .order_change_trigger
                .time_of_order_change
                .is_some()
        );
    }

    #[test]
    fn delivery_tip_change_parses() {
        let n = order_change(DELIVERY_TIP);
        assert_eq!(
            n.payload.order_change_type,
            OrderChangeType::DeliveryTipChange
        );
        assert_eq!(n.payload.summary.order_status, OrderStatus::Shipped);
    }

    #[test]
    fn order_item_level_carries_one_item() {
        let n = order_change(ITEM_LEVEL);
        assert_eq!(
            n.payload.notification_level,
            NotificationLevel::OrderItemLevel
        );
        assert_eq!(
            n.payload.summary.order_status,
            OrderStatus::PartiallyShipped
        );
        let [item] = n.payload.summary.order_items.as_slice() else {
            panic!("one item expected");
        };
        assert_eq!(item.order_item_status, Some(OrderItemStatus::Shipped));
    }

    #[test]
    fn camel_case_shipment_tracking_milestone_is_known() {
        for body in [schema_example(TRACKING_SCHEMA), TRACKING.to_owned()] {
            let n = parse(&body).unwrap();
            let Notification::Known { kind, metadata } = &n else {
                panic!("expected Known, got {n:?}");
            };
            assert_eq!(kind, "SHIPMENT_TRACKING_MILESTONE_CHANGED");
            assert_eq!(
                metadata.notification_id,
                "6712e8e5-b365-4cb1-9fd8-be9dfc6d5bda"
            );
            assert_eq!(
                metadata.publish_time,
                datetime!(2025-08-08 12:47:50.501 UTC)
            );
            assert_eq!(
                n.notification_id(),
                Some("6712e8e5-b365-4cb1-9fd8-be9dfc6d5bda")
            );
        }
    }

    #[test]
    fn fba_outbound_shipment_status_is_known() {
        for body in [schema_example(FBA_SCHEMA), FBA_OUTBOUND.to_owned()] {
            let n = parse(&body).unwrap();
            assert!(matches!(n, Notification::Known { .. }), "{n:?}");
            assert_eq!(n.kind(), "FBA_OUTBOUND_SHIPMENT_STATUS");
            assert_eq!(n.notification_id(), Some("requestId"));
        }
    }

    #[test]
    fn unknown_type_is_unknown_with_or_without_metadata() {
        let n = parse(UNKNOWN_TYPE).unwrap();
        assert!(
            matches!(
                n,
                Notification::Unknown {
                    metadata: Some(_),
                    ..
                }
            ),
            "{n:?}"
        );
        assert_eq!(n.kind(), "FUTURE_NOTIFICATION_TYPE");
        assert!(n.notification_id().is_some());

        let n = parse(r#"{"NotificationType":"SOMETHING_NEW"}"#).unwrap();
        assert_eq!(
            n,
            Notification::Unknown {
                kind: "SOMETHING_NEW".into(),
                metadata: None
            }
        );
        assert_eq!(n.notification_id(), None);
    }

    #[test]
    fn missing_notification_id_is_missing_field() {
        let mut v = minimal();
        v["NotificationMetadata"]
            .as_object_mut()
            .unwrap()
            .remove("NotificationId");
        let err = parse_value(&v).unwrap_err();
        assert_eq!(
            err,
            NotificationError::MissingField {
                field: "NotificationMetadata.NotificationId".into()
            }
        );
        assert_eq!(err.reason_code(), "missing_field");

        // A known type needs it too; an unknown type merely loses its metadata.
        let mut v: Value = serde_json::from_str(FBA_OUTBOUND).unwrap();
        v["NotificationMetadata"]
            .as_object_mut()
            .unwrap()
            .remove("NotificationId");
        assert_eq!(parse_value(&v).unwrap_err().reason_code(), "missing_field");
    }

    #[test]
    fn required_nullable_keys_must_be_present_but_may_be_null() {
        let item = "Payload.OrderChangeNotification.Summary.OrderItems[0]";
        let mut v = minimal();
        v["Payload"]["OrderChangeNotification"]["Summary"]["OrderItems"][0]
            .as_object_mut()
            .unwrap()
            .remove("SupplySourceId");
        assert_eq!(
            parse_value(&v).unwrap_err(),
            NotificationError::MissingField {
                field: format!("{item}.SupplySourceId")
            }
        );

        let mut v = minimal();
        v["Payload"]["OrderChangeNotification"]["OrderChangeTrigger"]
            .as_object_mut()
            .unwrap()
            .remove("TimeOfOrderChange");
        assert_eq!(parse_value(&v).unwrap_err().reason_code(), "missing_field");

        let mut v = minimal();
        let summary = &mut v["Payload"]["OrderChangeNotification"]["Summary"];
        summary["PurchaseDate"] = Value::Null;
        summary["DestinationPostalCode"] = Value::Null;
        summary["NumberOfItemsShipped"] = Value::Null; // optional: null reads as absent
        let n = order_change(&serde_json::to_string(&v).unwrap());
        assert_eq!(n.payload.summary.purchase_date, None);
        assert_eq!(n.payload.summary.destination_postal_code, None);
    }

    #[test]
    fn quantity_as_string_is_wrong_type_with_its_path() {
        let mut v = minimal();
        v["Payload"]["OrderChangeNotification"]["Summary"]["OrderItems"][0]["Quantity"] =
            "1".into();
        let err = parse_value(&v).unwrap_err();
        assert_eq!(
            err,
            NotificationError::WrongType {
                field: "Payload.OrderChangeNotification.Summary.OrderItems[0].Quantity".into(),
                expected: "a non-negative 32-bit integer",
            }
        );
        assert_eq!(err.reason_code(), "wrong_type");
        assert!(err.to_string().contains("OrderItems[0].Quantity"));
    }

    #[test]
    fn null_in_a_required_non_nullable_key_is_wrong_type() {
        let mut v = minimal();
        v["Payload"]["OrderChangeNotification"]["SellerId"] = Value::Null;
        assert_eq!(
            parse_value(&v).unwrap_err(),
            NotificationError::WrongType {
                field: "Payload.OrderChangeNotification.SellerId".into(),
                expected: "string",
            }
        );
    }

    #[test]
    fn open_enums_keep_unknown_values_closed_enums_refuse_them() {
        let mut v = minimal();
        let p = &mut v["Payload"]["OrderChangeNotification"];
        p["OrderChangeType"] = "SomeFutureChange".into();
        p["Summary"]["OrderStatus"] = "SomeFutureStatus".into();
        p["Summary"]["ShippingPrograms"] = serde_json::json!(["EasyShip", "NewProgram"]);
        let n = order_change(&serde_json::to_string(&v).unwrap());
        let change_type = &n.payload.order_change_type;
        assert_eq!(
            *change_type,
            OrderChangeType::Other("SomeFutureChange".into())
        );
        assert!(!change_type.is_known());
        assert_eq!(change_type.as_str(), "SomeFutureChange");
        assert_eq!(
            n.payload.summary.order_status.to_string(),
            "SomeFutureStatus"
        );
        assert_eq!(
            n.payload.summary.shipping_programs,
            [
                ShippingProgram::EasyShip,
                ShippingProgram::Other("NewProgram".into())
            ]
        );

        let mut v = minimal();
        v["Payload"]["OrderChangeNotification"]["Summary"]["FulfillmentType"] = "SFP".into();
        assert_eq!(
            parse_value(&v).unwrap_err(),
            NotificationError::InvalidValue {
                field: "Payload.OrderChangeNotification.Summary.FulfillmentType".into(),
                expected: "one of AFN MFN",
            }
        );
        let mut v = minimal();
        v["Payload"]["OrderChangeNotification"]["NotificationLevel"] = "ShipmentLevel".into();
        assert_eq!(parse_value(&v).unwrap_err().reason_code(), "invalid_value");

        let mut v = minimal();
        v["Payload"]["OrderChangeNotification"]["Summary"]["OrderPrograms"] =
            serde_json::json!(["Prime", 7]);
        assert_eq!(
            parse_value(&v).unwrap_err(),
            NotificationError::WrongType {
                field: "Payload.OrderChangeNotification.Summary.OrderPrograms[1]".into(),
                expected: "string",
            }
        );
    }

    #[test]
    fn invalid_timestamp_is_invalid_value() {
        let mut v = minimal();
        v["EventTime"] = "yesterday".into();
        assert_eq!(
            parse_value(&v).unwrap_err(),
            NotificationError::InvalidValue {
                field: "EventTime".into(),
                expected: "an RFC 3339 date-time",
            }
        );
    }

    #[test]
    fn unsupported_versions_are_refused() {
        let mut v = minimal();
        v["PayloadVersion"] = "2.0".into();
        let err = parse_value(&v).unwrap_err();
        assert_eq!(
            err,
            NotificationError::UnsupportedPayloadVersion {
                version: "2.0".into()
            }
        );
        assert_eq!(err.reason_code(), "unsupported_payload_version");

        v["PayloadVersion"] = "x".repeat(10_000).into();
        let err = parse_value(&v).unwrap_err();
        assert!(err.to_string().len() < 100, "{err}");

        let mut v = minimal();
        v["NotificationVersion"] = "2.0".into();
        assert_eq!(
            parse_value(&v).unwrap_err().reason_code(),
            "unsupported_notification_version"
        );
    }

    #[test]
    fn mixed_casing_is_refused() {
        let mut v = minimal();
        v["notificationId"] = "x".into(); // not an envelope key: ignored
        assert!(parse_value(&v).is_ok());

        v["eventTime"] = "2026-05-01T12:00:01.000Z".into();
        assert_eq!(
            parse_value(&v).unwrap_err(),
            NotificationError::MixedCase { field: "$".into() }
        );

        let mut v = minimal();
        let meta = v["NotificationMetadata"].as_object_mut().unwrap();
        let id = meta.remove("NotificationId").unwrap();
        meta.insert("notificationId".into(), id);
        let err = parse_value(&v).unwrap_err();
        assert_eq!(
            err,
            NotificationError::MixedCase {
                field: "NotificationMetadata".into()
            }
        );
        assert_eq!(err.reason_code(), "mixed_case_envelope");
    }

    #[test]
    fn malformed_json_reports_position_only() {
        let err = parse(MALFORMED).unwrap_err();
        assert!(
            matches!(err, NotificationError::Malformed { category: "eof", line, .. } if line > 1),
            "{err:?}"
        );
        assert_eq!(err.reason_code(), "malformed_json");

        let err = parse("{\"NotificationType\": ORDER_CHANGE}").unwrap_err();
        assert_eq!(
            err,
            NotificationError::Malformed {
                category: "syntax",
                line: 1,
                column: 22
            }
        );
        assert_eq!(
            parse("[1, 2]").unwrap_err(),
            NotificationError::WrongType {
                field: "$".into(),
                expected: "object"
            }
        );
    }

    #[test]
    fn oversized_body_is_refused_before_parsing() {
        let body = format!("{{\"pad\":\"{}\"}}", "a".repeat(MAX_BODY_BYTES));
        let err = parse(&body).unwrap_err();
        assert_eq!(err, NotificationError::TooLarge { bytes: body.len() });
        assert_eq!(err.reason_code(), "too_large");

        // Exactly at the limit is parsed (and here fails for a different reason).
        let body = format!("{{\"pad\":\"{}\"}}", "a".repeat(MAX_BODY_BYTES - 10));
        assert_eq!(body.len(), MAX_BODY_BYTES);
        assert_eq!(parse(&body).unwrap_err().reason_code(), "missing_field");
    }

    #[test]
    fn empty_or_overlong_ids_and_bad_types_are_refused() {
        let mut v = minimal();
        v["NotificationMetadata"]["NotificationId"] = "".into();
        assert_eq!(parse_value(&v).unwrap_err().reason_code(), "invalid_value");
        v["NotificationMetadata"]["NotificationId"] = "a".repeat(MAX_ID_BYTES + 1).into();
        assert_eq!(parse_value(&v).unwrap_err().reason_code(), "invalid_value");

        assert_eq!(
            parse(r#"{"NotificationType":"ORDER CHANGE"}"#).unwrap_err(),
            NotificationError::InvalidValue {
                field: "NotificationType".into(),
                expected: "1 to 64 ASCII letters, digits or underscores",
            }
        );
    }

    #[test]
    fn every_fixture_parses_as_expected() {
        let cases: [(&str, Result<&str, &str>); 8] = [
            (MFN_UNSHIPPED, Ok("ORDER_CHANGE")),
            (CANCELED, Ok("ORDER_CHANGE")),
            (ITEM_LEVEL, Ok("ORDER_CHANGE")),
            (DELIVERY_TIP, Ok("ORDER_CHANGE")),
            (FBA_OUTBOUND, Ok("FBA_OUTBOUND_SHIPMENT_STATUS")),
            (TRACKING, Ok("SHIPMENT_TRACKING_MILESTONE_CHANGED")),
            (UNKNOWN_TYPE, Ok("FUTURE_NOTIFICATION_TYPE")),
            (MALFORMED, Err("malformed_json")),
        ];
        let mut ids = std::collections::HashSet::new();
        for (body, expected) in cases {
            match (parse(body), expected) {
                (Ok(n), Ok(kind)) => {
                    assert_eq!(n.kind(), kind);
                    assert!(
                        ids.insert(n.notification_id().unwrap().to_owned()),
                        "ids unique"
                    );
                }
                (Err(e), Err(code)) => assert_eq!(e.reason_code(), code),
                (got, want) => panic!("{got:?} vs {want:?}"),
            }
        }
    }

    /// Bodies full of "CANARY" values, each invalid in a different way: no error may echo them.
    #[test]
    fn errors_never_echo_body_values() {
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut v = minimal();
            edit(&mut v);
            serde_json::to_string(&v).unwrap()
        };
        let bodies = vec![
            with(&|v| oc(v)["Summary"]["OrderItems"][0]["Quantity"] = "CANARY-qty".into()),
            with(&|v| oc(v)["Summary"]["FulfillmentType"] = "CANARY-ft".into()),
            with(&|v| oc(v)["NotificationLevel"] = "CANARY-level".into()),
            with(&|v| {
                oc(v)["Summary"]["DestinationPostalCode"] = serde_json::json!(["CANARY-zip"])
            }),
            with(&|v| oc(v)["Summary"]["OrderItems"] = "CANARY-items".into()),
            with(&|v| oc(v)["OrderChangeTrigger"]["TimeOfOrderChange"] = "CANARY-time".into()),
            with(&|v| {
                oc(v)["Summary"]["OrderPrograms"] = serde_json::json!(["Prime", {"CANARY": 1}])
            }),
            with(&|v| v["EventTime"] = "CANARY-event".into()),
            with(&|v| v["PayloadVersion"] = "CANARY-1.0".into()),
            with(&|v| v["NotificationVersion"] = "CANARY".into()),
            with(&|v| v["NotificationType"] = "CANARY type".into()),
            with(&|v| v["NotificationMetadata"]["NotificationId"] = "CANARY".repeat(100).into()),
            with(&|v| v["NotificationMetadata"]["PublishTime"] = 1234.into()),
            with(&|v| v["Payload"] = "CANARY-payload".into()),
            with(&|v| {
                v["CANARY-key"] = "CANARY".into();
                v["payload"] = "CANARY".into();
            }),
            r#""CANARY""#.to_owned(),
            r#"{"NotificationType": "CANARY"#.to_owned(),
            r#"{"NotificationType": CANARY}"#.to_owned(),
            r#"{"NotificationType": "\uZZZZ CANARY"}"#.to_owned(),
            format!("{{\"CANARY\":\"{}\"}}", "CANARY".repeat(MAX_BODY_BYTES / 6)),
        ];
        for body in &bodies {
            let err = parse(body).expect_err(body);
            for shown in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
                assert!(!shown.contains("CANARY"), "{shown}");
            }
        }
    }

    #[test]
    fn reason_codes_are_distinct() {
        let errors = [
            NotificationError::TooLarge { bytes: 0 },
            NotificationError::Malformed {
                category: "eof",
                line: 1,
                column: 1,
            },
            NotificationError::MixedCase { field: "$".into() },
            NotificationError::MissingField { field: "x".into() },
            NotificationError::WrongType {
                field: "x".into(),
                expected: "string",
            },
            NotificationError::InvalidValue {
                field: "x".into(),
                expected: "x",
            },
            NotificationError::UnsupportedNotificationVersion {
                version: "2".into(),
            },
            NotificationError::UnsupportedPayloadVersion {
                version: "2".into(),
            },
        ];
        let codes: std::collections::HashSet<_> = errors.iter().map(|e| e.reason_code()).collect();
        assert_eq!(codes.len(), errors.len());
    }
}
