//! Orders API v2026-01-01 response types (`getOrder`, `searchOrders`, `ErrorList`), hand-written
//! from the official `orders_2026-01-01.json`.
//!
//! - Deserialize only. Buyer PII is [`PiiString`] (redacted in `Debug`, not `Serialize`), so
//!   `format!("{order:?}")` is safe to log; see [`Buyer`], [`CustomerAddress`],
//!   [`DeliveryPreference`], [`GiftOption`], [`ItemCustomization`] and [`OrderTaxRegistration`].
//! - Unknown JSON fields are ignored. Optional arrays read absent or `null` as empty.
//! - Enums Amazon documents (schema `enum` or "Possible values") that drive decisions are open
//!   enums: an unknown value is kept as `Other(String)`, never an error (Amazon adds values over
//!   time, and "Possible values" lists are documentation, not a contract). Enumerated strings
//!   nothing here branches on stay `String`.
//! - Timestamps (`format: date-time`) are RFC 3339; money amounts stay decimal strings
//!   (`Decimal` in the model) so no precision is lost.
//!
//! Decode with `serde_json` and map its error to position only: its message can quote the body.

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

use crate::notification::wire_enum;
use crate::pii::PiiString;

/// Reads an optional array; absent or `null` is empty.
fn nullable_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// `getOrder` 200 response.
#[derive(Debug, Clone, Deserialize)]
pub struct GetOrderResponse {
    pub order: Order,
}

/// `searchOrders` 200 response.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchOrdersResponse {
    pub orders: Vec<Order>,
    pub pagination: Option<Pagination>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_updated_before: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_before: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// Expires after 24 hours.
    pub next_token: Option<String>,
}

/// A customer order. Which optional parts are present depends on `includedData`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: String,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub order_aliases: Vec<Alias>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_time: OffsetDateTime,
    /// The ordering guard: a stored order is only replaced by a newer one.
    #[serde(with = "time::serde::rfc3339")]
    pub last_updated_time: OffsetDateTime,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub programs: Vec<OrderProgram>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub associated_orders: Vec<AssociatedOrder>,
    pub sales_channel: SalesChannel,
    /// `includedData=BUYER`.
    pub buyer: Option<Buyer>,
    /// `includedData=RECIPIENT`.
    pub recipient: Option<Recipient>,
    /// `includedData=PROCEEDS`.
    pub proceeds: Option<OrderProceeds>,
    /// `includedData=PAYMENT`.
    pub payment: Option<OrderPayment>,
    /// `includedData=TAX`.
    pub tax: Option<OrderTax>,
    /// `includedData=FULFILLMENT`.
    pub fulfillment: Option<OrderFulfillment>,
    pub order_items: Vec<OrderItem>,
    /// `includedData=PACKAGES`; merchant-fulfilled orders only.
    #[serde(default, deserialize_with = "nullable_vec")]
    pub packages: Vec<OrderPackage>,
    /// `includedData=FULFILLMENT_ORDERS`; Easy Ship orders only.
    #[serde(default, deserialize_with = "nullable_vec")]
    pub fulfillment_orders: Vec<FulfillmentOrder>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alias {
    pub alias_id: String,
    /// e.g. `SELLER_ORDER_ID`.
    pub alias_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedOrder {
    pub order_id: Option<String>,
    /// e.g. `REPLACEMENT_ORIGINAL_ID`, `EXCHANGE_ORIGINAL_ID`.
    pub association_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SalesChannel {
    pub channel_name: ChannelName,
    pub marketplace_id: Option<String>,
    pub marketplace_name: Option<String>,
}

/// The buyer. Every field but the PO number is PII; the PO number is free text the buyer typed,
/// so it is treated as PII too.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Buyer {
    pub buyer_name: Option<PiiString>,
    /// Anonymized marketplace address; merchant-fulfilled orders only.
    pub buyer_email: Option<PiiString>,
    pub buyer_company_name: Option<PiiString>,
    pub buyer_purchase_order_number: Option<PiiString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub delivery_address: Option<CustomerAddress>,
    pub delivery_preference: Option<DeliveryPreference>,
}

/// A customer's address: everything but `country_code` and `address_type` is PII.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerAddress {
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
    /// ISO 3166-1 alpha-2.
    pub country_code: Option<String>,
    /// Suppressed for FBA orders and for shipped FBM orders past the latest delivery date.
    pub phone: Option<PiiString>,
    /// Brazil only.
    pub extended_fields: Option<AddressExtendedFields>,
    pub address_type: Option<AddressType>,
}

/// Brazilian address components (all PII).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressExtendedFields {
    pub street_name: Option<PiiString>,
    pub street_number: Option<PiiString>,
    pub complement: Option<PiiString>,
    pub neighborhood: Option<PiiString>,
}

/// The customer's delivery instructions; the free-text ones are PII.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPreference {
    pub drop_off_location: Option<PiiString>,
    pub address_instruction: Option<PiiString>,
    pub delivery_time: Option<PreferredDeliveryTime>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub delivery_capabilities: Vec<DeliveryCapability>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreferredDeliveryTime {
    #[serde(default, deserialize_with = "nullable_vec")]
    pub business_hours: Vec<BusinessHour>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub exception_dates: Vec<ExceptionDate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BusinessHour {
    pub day_of_week: Option<DayOfWeek>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub time_windows: Vec<TimeWindow>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionDate {
    /// `YYYY-MM-DD`.
    pub exception_date: Option<String>,
    /// `OPEN` or `CLOSED`.
    pub exception_date_type: Option<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub time_windows: Vec<TimeWindow>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeWindow {
    pub start_time: Option<HourMinute>,
    pub end_time: Option<HourMinute>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct HourMinute {
    pub hour: Option<u8>,
    pub minute: Option<u8>,
}

/// An amount of money; `amount` is a decimal string (no float rounding).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    pub amount: String,
    /// ISO 4217.
    pub currency_code: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderProceeds {
    pub grand_total: Option<Money>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub breakdowns: Vec<OrderProceedsBreakdown>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderProceedsBreakdown {
    #[serde(rename = "type")]
    pub kind: ProceedsType,
    /// `PENDING` or `FINALIZED`; only for charges processed after checkout (`DELIVERY_TIP`).
    pub status: Option<String>,
    pub subtotal: Money,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPayment {
    #[serde(default, deserialize_with = "nullable_vec")]
    pub payment_executions: Vec<PaymentExecution>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentExecution {
    pub payment_method: Option<String>,
    pub payment_amount: Option<Money>,
    pub acquirer_id: Option<String>,
    pub card_brand: Option<String>,
    /// Payment data: treated as PII.
    pub authorization_code: Option<PiiString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderTax {
    #[serde(default, deserialize_with = "nullable_vec")]
    pub tax_registrations: Vec<OrderTaxRegistration>,
    pub tax_invoicing: Option<OrderTaxInvoicing>,
}

/// A tax registration. For a `BUYER` entity the name, number (e.g. a Brazilian CPF) and
/// address identify a person, so they are PII whatever the entity.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderTaxRegistration {
    /// `BUYER`, `MERCHANT` or `MARKETPLACE`.
    pub entity_type: Option<String>,
    pub legal_name: Option<PiiString>,
    /// `BUSINESS`, `VAT`, `CST`, `CPF`, `CNPJ`.
    pub tax_registration_type: Option<String>,
    pub tax_registration_number: Option<PiiString>,
    pub tax_registration_address: Option<CustomerAddress>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub tax_registration_attributes: Vec<TaxRegistrationAttribute>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TaxRegistrationAttribute {
    /// e.g. `TAX_OFFICE`.
    pub key: Option<String>,
    pub value: Option<PiiString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderTaxInvoicing {
    /// `INDIVIDUAL` or `BUSINESS` (Turkey).
    pub buyer_invoice_preference: Option<String>,
    /// `NOT_REQUIRED`, `NOT_FOUND`, `PROCESSING`, `ERRORED`, `ACCEPTED`.
    pub invoice_status: Option<String>,
}

/// How the order is fulfilled (`includedData=FULFILLMENT`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFulfillment {
    pub fulfillment_status: FulfillmentStatus,
    pub fulfilled_by: Option<FulfilledBy>,
    pub fulfillment_service_level: Option<FulfillmentServiceLevel>,
    pub ship_by_window: Option<DateTimeRange>,
    pub deliver_by_window: Option<DateTimeRange>,
    /// Only `earliest` is set; absent means printing is available at any time.
    pub label_printing_window: Option<DateTimeRange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeRange {
    #[serde(
        default,
        rename = "earliestDateTime",
        with = "time::serde::rfc3339::option"
    )]
    pub earliest: Option<OffsetDateTime>,
    #[serde(
        default,
        rename = "latestDateTime",
        with = "time::serde::rfc3339::option"
    )]
    pub latest: Option<OffsetDateTime>,
}

/// One product line of the order.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub order_item_id: String,
    pub quantity_ordered: u32,
    pub measurement: Option<Measurement>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub associated_order_items: Vec<AssociatedOrderItem>,
    /// e.g. `TRANSPARENCY`, `SUBSCRIBE_AND_SAVE`.
    #[serde(default, deserialize_with = "nullable_vec")]
    pub programs: Vec<String>,
    pub product: ItemProduct,
    pub proceeds: Option<ItemProceeds>,
    pub expense: Option<ItemExpense>,
    pub promotion: Option<ItemPromotion>,
    pub cancellation: Option<ItemCancellation>,
    pub fulfillment: Option<ItemFulfillment>,
    pub tax: Option<ItemTax>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Measurement {
    /// e.g. `COUNT`, `KILOGRAMS`.
    pub unit: String,
    pub value: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedOrderItem {
    pub order_id: Option<String>,
    pub order_item_id: Option<String>,
    /// e.g. `VALUE_ADD_SERVICE`.
    pub association_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemProduct {
    pub asin: Option<String>,
    pub title: Option<String>,
    pub seller_sku: Option<String>,
    pub condition: Option<ItemCondition>,
    pub price: Option<ItemPrice>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub serial_numbers: Vec<String>,
    pub customization: Option<ItemCustomization>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemCondition {
    /// e.g. `NEW`, `USED`.
    pub condition_type: Option<String>,
    pub condition_subtype: Option<String>,
    pub condition_note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemPrice {
    pub unit_price: Option<Money>,
    /// `BUSINESS_PRICE` for Amazon Business prices.
    pub price_designation: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemCustomization {
    /// Links to the buyer's customization: PII.
    pub customized_url: Option<PiiString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemProceeds {
    pub proceeds_total: Option<Money>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub breakdowns: Vec<ItemProceedsBreakdown>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemProceedsBreakdown {
    #[serde(rename = "type")]
    pub kind: ProceedsType,
    pub subtotal: Money,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub detailed_breakdowns: Vec<ItemProceedsDetailedBreakdown>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ItemProceedsDetailedBreakdown {
    pub subtype: Option<ProceedsType>,
    pub value: Option<Money>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemExpense {
    pub points_cost: Option<ItemPointsCost>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemPointsCost {
    pub points_granted: Option<PointsGranted>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PointsGranted {
    pub points_number: Option<i64>,
    pub points_monetary_value: Option<Money>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ItemPromotion {
    #[serde(default, deserialize_with = "nullable_vec")]
    pub breakdowns: Vec<ItemPromotionBreakdown>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemPromotionBreakdown {
    pub promotion_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemCancellation {
    pub cancellation_request: Option<ItemCancellationRequest>,
    pub cancellation_execution: Option<ItemCancellationExecution>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemCancellationRequest {
    /// `BUYER`.
    pub requester: Option<String>,
    pub cancel_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemCancellationExecution {
    /// `BUYER`, `MERCHANT` or `AMAZON`.
    pub cancelled_by: Option<String>,
    pub cancel_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFulfillment {
    pub quantity_fulfilled: Option<u32>,
    pub quantity_unfulfilled: Option<u32>,
    pub picking: Option<ItemPicking>,
    pub packing: Option<ItemPacking>,
    pub shipping: Option<ItemShipping>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemPicking {
    pub substitution_preference: Option<ItemSubstitutionPreference>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemSubstitutionPreference {
    /// `CUSTOMER_PREFERENCE`, `AMAZON_RECOMMENDED` or `DO_NOT_SUBSTITUTE`.
    pub substitution_type: String,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub substitution_options: Vec<ItemSubstitutionOption>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemSubstitutionOption {
    pub asin: Option<String>,
    pub quantity_ordered: Option<u32>,
    pub seller_sku: Option<String>,
    pub title: Option<String>,
    pub measurement: Option<Measurement>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemPacking {
    pub gift_option: Option<GiftOption>,
    pub serial_number_requirement: Option<SerialNumberRequirement>,
}

/// Gift wrapping: the message is the buyer's own words, PII.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GiftOption {
    pub gift_message: Option<PiiString>,
    pub gift_wrap_level: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SerialNumberRequirement {
    /// `REQUIRED`.
    pub requirement_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemShipping {
    pub scheduled_delivery_window: Option<DateTimeRange>,
    pub shipping_constraints: Option<ItemShippingConstraints>,
    pub international_shipping: Option<ItemInternationalShipping>,
}

/// Each constraint is `MANDATORY` when present.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemShippingConstraints {
    pub pallet_delivery: Option<String>,
    pub cash_on_delivery: Option<String>,
    pub signature_confirmation: Option<String>,
    pub recipient_identity_verification: Option<String>,
    pub recipient_age_verification: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemInternationalShipping {
    pub ioss_number: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemTax {
    #[serde(default, deserialize_with = "nullable_vec")]
    pub tax_calculation_breakdowns: Vec<ItemTaxCalculationBreakdown>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub tax_collections: Vec<ItemTaxCollection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemTaxCalculationBreakdown {
    /// `UOSS` or `IOSS`.
    pub reporting_scheme: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemTaxCollection {
    /// e.g. `MARKETPLACE_FACILITATOR`.
    pub model: Option<String>,
    pub responsible_party: Option<String>,
}

/// A shipping package (merchant-fulfilled orders).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPackage {
    pub package_reference_id: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_time: Option<OffsetDateTime>,
    pub package_status: Option<PackageStatus>,
    pub carrier: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ship_time: Option<OffsetDateTime>,
    pub shipping_service: Option<String>,
    pub tracking_number: Option<String>,
    /// The seller's own address (not buyer PII).
    pub ship_from_address: Option<MerchantAddress>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub package_items: Vec<PackageItem>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageStatus {
    pub status: PackageStatusCode,
    /// e.g. `PICKED_UP`, `OUT_FOR_DELIVERY`.
    pub detailed_status: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageItem {
    pub order_item_id: String,
    pub quantity: u32,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub transparency_codes: Vec<String>,
}

/// The seller's ship-from address.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MerchantAddress {
    pub name: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub address_line3: Option<String>,
    pub city: Option<String>,
    pub district_or_county: Option<String>,
    pub state_or_region: Option<String>,
    pub municipality: Option<String>,
    pub postal_code: Option<String>,
    pub country_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentOrder {
    pub fulfillment_order_id: String,
}

/// An Orders API error response.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorList {
    pub errors: Vec<ApiError>,
}

/// One error. `message` and `details` are Amazon's text about the request; do not log them
/// unfiltered, they may quote request input.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub details: Option<String>,
}

wire_enum! {
    /// `fulfillment.fulfillmentStatus`.
    open FulfillmentStatus {
        PendingAvailability = "PENDING_AVAILABILITY",
        Pending = "PENDING",
        Unshipped = "UNSHIPPED",
        PartiallyShipped = "PARTIALLY_SHIPPED",
        Shipped = "SHIPPED",
        Cancelled = "CANCELLED",
        Unfulfillable = "UNFULFILLABLE",
    }
}

wire_enum! {
    /// `fulfillment.fulfilledBy`.
    open FulfilledBy {
        Amazon = "AMAZON",
        Merchant = "MERCHANT",
    }
}

wire_enum! {
    /// `fulfillment.fulfillmentServiceLevel`: the shipping speed chosen at checkout.
    open FulfillmentServiceLevel {
        Expedited = "EXPEDITED",
        FreeEconomy = "FREE_ECONOMY",
        NextDay = "NEXT_DAY",
        Priority = "PRIORITY",
        SameDay = "SAME_DAY",
        SecondDay = "SECOND_DAY",
        Scheduled = "SCHEDULED",
        Standard = "STANDARD",
    }
}

wire_enum! {
    /// An entry of `order.programs`.
    open OrderProgram {
        AmazonBazaar = "AMAZON_BAZAAR",
        AmazonBusiness = "AMAZON_BUSINESS",
        AmazonEasyShip = "AMAZON_EASY_SHIP",
        AmazonHaul = "AMAZON_HAUL",
        DeliveryByAmazon = "DELIVERY_BY_AMAZON",
        FbmShipPlus = "FBM_SHIP_PLUS",
        InvoiceByAmazon = "INVOICE_BY_AMAZON",
        InStorePickUp = "IN_STORE_PICK_UP",
        Premium = "PREMIUM",
        Preorder = "PREORDER",
        Prime = "PRIME",
    }
}

wire_enum! {
    /// `salesChannel.channelName`.
    open ChannelName {
        Amazon = "AMAZON",
        NonAmazon = "NON_AMAZON",
    }
}

wire_enum! {
    /// `CustomerAddress.addressType`.
    open AddressType {
        Residential = "RESIDENTIAL",
        Commercial = "COMMERCIAL",
        PickupPoint = "PICKUP_POINT",
    }
}

wire_enum! {
    /// An entry of `deliveryPreference.deliveryCapabilities`.
    open DeliveryCapability {
        HasAccessPoint = "HAS_ACCESS_POINT",
        PalletEnabled = "PALLET_ENABLED",
        PalletDisabled = "PALLET_DISABLED",
    }
}

wire_enum! {
    /// `BusinessHour.dayOfWeek`.
    open DayOfWeek {
        Sun = "SUN",
        Mon = "MON",
        Tue = "TUE",
        Wed = "WED",
        Thu = "THU",
        Fri = "FRI",
        Sat = "SAT",
    }
}

wire_enum! {
    /// The category of a proceeds breakdown (order, item and detailed levels share it).
    open ProceedsType {
        Item = "ITEM",
        Shipping = "SHIPPING",
        GiftWrap = "GIFT_WRAP",
        CodFee = "COD_FEE",
        Tax = "TAX",
        Discount = "DISCOUNT",
        /// Order level only, charged separately.
        DeliveryTip = "DELIVERY_TIP",
        /// Amazon's own `OTHER` category (not to be confused with `Other(_)`, a value unknown here).
        OtherCharge = "OTHER",
    }
}

wire_enum! {
    /// `packageStatus.status`.
    open PackageStatusCode {
        Pending = "PENDING",
        InTransit = "IN_TRANSIT",
        Shipped = "SHIPPED",
        Delivered = "DELIVERED",
        Cancelled = "CANCELLED",
        Undeliverable = "UNDELIVERABLE",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use time::macros::datetime;

    use super::*;

    const MODEL: &str = include_str!("../../../../shared/specs/spapi/orders_2026-01-01.json");

    fn model() -> Value {
        serde_json::from_str(MODEL).unwrap()
    }

    fn responses(model: &Value, path: &str, status: &str) -> Value {
        model["paths"][path]["get"]["responses"][status].clone()
    }

    /// The `x-amzn-api-sandbox` static 200 responses of getOrder.
    fn sandbox_get_orders() -> Vec<GetOrderResponse> {
        let r = responses(&model(), "/orders/2026-01-01/orders/{orderId}", "200");
        let cases = r["x-amzn-api-sandbox"]["static"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(cases.len(), 3);
        cases
            .into_iter()
            .map(|c| serde_json::from_value(c["response"].clone()).unwrap())
            .collect()
    }

    #[test]
    fn sandbox_get_order_examples_parse() {
        let [br, tr, us] = <[GetOrderResponse; 3]>::try_from(sandbox_get_orders()).unwrap();

        let o = br.order;
        assert_eq!(o.order_id, "171-9876543-2109876");
        assert_eq!(o.created_time, datetime!(2024-12-24 20:30:00 UTC));
        assert_eq!(o.last_updated_time, datetime!(2024-12-25 08:15:00 UTC));
        assert_eq!(o.programs, [OrderProgram::Prime]);
        assert_eq!(o.sales_channel.channel_name, ChannelName::Amazon);
        assert_eq!(
            o.sales_channel.marketplace_id.as_deref(),
            Some("A2Q3Y263D00KWC")
        );
        let buyer = o.buyer.as_ref().unwrap();
        assert_eq!(
            buyer.buyer_name.as_ref().unwrap().expose(),
            "Maria Silva Santos"
        );
        let addr = o
            .recipient
            .as_ref()
            .unwrap()
            .delivery_address
            .as_ref()
            .unwrap();
        assert_eq!(addr.postal_code.as_ref().unwrap().expose(), "01234-567");
        assert_eq!(addr.country_code.as_deref(), Some("BR"));
        assert_eq!(addr.address_type, Some(AddressType::Residential));
        let ext = addr.extended_fields.as_ref().unwrap();
        assert_eq!(ext.neighborhood.as_ref().unwrap().expose(), "Vila Madalena");
        let f = o.fulfillment.as_ref().unwrap();
        assert_eq!(f.fulfillment_status, FulfillmentStatus::Unshipped);
        assert_eq!(f.fulfilled_by, Some(FulfilledBy::Merchant));
        assert_eq!(
            f.fulfillment_service_level,
            Some(FulfillmentServiceLevel::Standard)
        );
        assert_eq!(
            f.ship_by_window,
            Some(DateTimeRange {
                earliest: Some(datetime!(2024-12-26 00:00:00 UTC)),
                latest: Some(datetime!(2024-12-27 23:59:59 UTC)),
            })
        );
        assert_eq!(f.label_printing_window.unwrap().latest, None);
        let grand_total = o.proceeds.as_ref().unwrap().grand_total.as_ref().unwrap();
        assert_eq!(
            (
                grand_total.amount.as_str(),
                grand_total.currency_code.as_str()
            ),
            ("299.90", "BRL")
        );
        let [item] = o.order_items.as_slice() else {
            panic!("one item expected")
        };
        assert_eq!(item.order_item_id, "17198765432109");
        assert_eq!(item.quantity_ordered, 1);
        assert_eq!(
            item.product.seller_sku.as_deref(),
            Some("ECHO-DOT-4-BR-PRETO")
        );
        assert_eq!(item.product.asin.as_deref(), Some("B08N5WRWNW"));
        assert!(
            item.product
                .title
                .as_deref()
                .unwrap()
                .starts_with("Echo Dot")
        );
        let unit = item
            .product
            .price
            .as_ref()
            .unwrap()
            .unit_price
            .as_ref()
            .unwrap();
        assert_eq!(unit.amount, "299.90");
        let proceeds = item.proceeds.as_ref().unwrap();
        assert_eq!(proceeds.breakdowns[0].kind, ProceedsType::Item);
        let gift = item.fulfillment.as_ref().unwrap().packing.as_ref().unwrap();
        let gift = gift.gift_option.as_ref().unwrap();
        assert!(
            gift.gift_message
                .as_ref()
                .unwrap()
                .expose()
                .starts_with("Feliz Natal")
        );
        assert_eq!(gift.gift_wrap_level.as_deref(), Some("STANDARD"));

        let o = tr.order;
        assert_eq!(
            o.fulfillment.unwrap().fulfillment_status,
            FulfillmentStatus::Shipped
        );
        let tax = o.tax.unwrap();
        let reg = &tax.tax_registrations[0];
        assert_eq!(
            reg.tax_registration_number.as_ref().unwrap().expose(),
            "TR1234567890"
        );
        assert_eq!(
            reg.tax_registration_attributes[0].key.as_deref(),
            Some("TAX_OFFICE")
        );
        let item_tax = o.order_items[0].tax.as_ref().unwrap();
        assert_eq!(
            item_tax.tax_collections[0].model.as_deref(),
            Some("MARKETPLACE_FACILITATOR")
        );

        let o = us.order;
        assert_eq!(o.programs, [OrderProgram::InStorePickUp]);
        assert!(o.buyer.is_none());
        let breakdowns = &o.order_items[0].proceeds.as_ref().unwrap().breakdowns;
        assert_eq!(breakdowns[1].kind, ProceedsType::Tax);
        assert_eq!(breakdowns[1].subtotal.amount, "10.00");
        assert_eq!(o.order_items[0].associated_order_items.len(), 1);
    }

    #[test]
    fn every_order_in_the_model_examples_parses() {
        let model = model();
        let get = responses(&model, "/orders/2026-01-01/orders/{orderId}", "200");
        let search = responses(&model, "/orders/2026-01-01/orders", "200");
        let mut orders = vec![
            serde_json::from_value::<GetOrderResponse>(get["examples"]["application/json"].clone())
                .unwrap()
                .order,
        ];
        let mut searches = vec![search["examples"]["application/json"].clone()];
        searches.extend(
            search["x-amzn-api-sandbox"]["static"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["response"].clone()),
        );
        for s in searches {
            let page: SearchOrdersResponse = serde_json::from_value(s).unwrap();
            orders.extend(page.orders);
        }
        assert!(orders.len() >= 5, "{}", orders.len());

        // The richer examples exercise the remaining parts of the model.
        let all = format!("{orders:?}");
        for part in [
            "delivery_preference: Some",
            "packages: [OrderPackage",
            "payment: Some",
        ] {
            assert!(all.contains(part), "no example has {part}");
        }
        let tip = orders
            .iter()
            .flat_map(|o| o.proceeds.iter().flat_map(|p| &p.breakdowns))
            .find(|b| b.kind == ProceedsType::DeliveryTip)
            .expect("a delivery tip example");
        assert_eq!(tip.status.as_deref(), Some("FINALIZED"));
    }

    #[test]
    fn sandbox_error_list_parses() {
        let r = responses(&model(), "/orders/2026-01-01/orders/{orderId}", "400");
        let e: ErrorList =
            serde_json::from_value(r["x-amzn-api-sandbox"]["static"][0]["response"].clone())
                .unwrap();
        assert_eq!(e.errors[0].code, "InvalidInput");
        assert_eq!(e.errors[0].details, None);
    }

    #[test]
    fn unknown_enum_values_and_fields_are_tolerated_required_fields_are_not() {
        let body = r#"{"order":{"orderId":"1","createdTime":"2026-01-01T00:00:00Z",
            "programs":["PRIME","NEW_PROGRAM"],"lastUpdatedTime":"2026-01-01T00:00:00Z","salesChannel":{"channelName":"NEW_CHANNEL"},
            "fulfillment":{"fulfillmentStatus":"ON_THE_MOON"},"orderItems":[],
            "packages":null,"somethingNew":{"x":1}}}"#;
        let o = serde_json::from_str::<GetOrderResponse>(body)
            .unwrap()
            .order;
        assert_eq!(
            o.sales_channel.channel_name,
            ChannelName::Other("NEW_CHANNEL".into())
        );
        assert_eq!(
            o.programs,
            [
                OrderProgram::Prime,
                OrderProgram::Other("NEW_PROGRAM".into())
            ]
        );
        let status = o.fulfillment.unwrap().fulfillment_status;
        assert_eq!(status.as_str(), "ON_THE_MOON");
        assert!(o.packages.is_empty());

        for broken in [
            body.replace(r#""orderItems":[],"#, ""),
            body.replacen("2026-01-01T00:00:00Z", "2026-01-01 00:00", 1),
            body.replace(r#""orderId":"1""#, r#""orderId":1"#),
        ] {
            assert_ne!(broken, body);
            assert!(serde_json::from_str::<GetOrderResponse>(&broken).is_err());
        }
    }

    /// Every PII field set to a canary: `Debug` (plain and pretty) must show none of them.
    #[test]
    fn debug_never_shows_pii() {
        let address = r#"{"name":"CANARY-name","companyName":"CANARY-company",
            "addressLine1":"CANARY-l1","addressLine2":"CANARY-l2","addressLine3":"CANARY-l3",
            "city":"CANARY-city","districtOrCounty":"CANARY-district","stateOrRegion":"CANARY-state",
            "municipality":"CANARY-municipality","postalCode":"CANARY-zip","countryCode":"US",
            "phone":"CANARY-phone","addressType":"RESIDENTIAL",
            "extendedFields":{"streetName":"CANARY-street","streetNumber":"CANARY-no",
                "complement":"CANARY-complement","neighborhood":"CANARY-hood"}}"#;
        let body = format!(
            r#"{{"order":{{"orderId":"113-1234567-1234567","createdTime":"2026-05-01T11:58:00Z",
            "lastUpdatedTime":"2026-05-01T12:00:00Z","salesChannel":{{"channelName":"AMAZON"}},
            "buyer":{{"buyerName":"CANARY-buyer","buyerEmail":"CANARY@example.com",
                "buyerCompanyName":"CANARY-co","buyerPurchaseOrderNumber":"CANARY-po"}},
            "recipient":{{"deliveryAddress":{address},
                "deliveryPreference":{{"dropOffLocation":"CANARY-dropoff",
                    "addressInstruction":"CANARY-instructions","deliveryCapabilities":["PALLET_ENABLED"]}}}},
            "payment":{{"paymentExecutions":[{{"paymentMethod":"CreditCard","authorizationCode":"CANARY-auth"}}]}},
            "tax":{{"taxRegistrations":[{{"entityType":"BUYER","legalName":"CANARY-legal",
                "taxRegistrationNumber":"CANARY-cpf","taxRegistrationAddress":{address},
                "taxRegistrationAttributes":[{{"key":"TAX_OFFICE","value":"CANARY-office"}}]}}]}},
            "fulfillment":{{"fulfillmentStatus":"UNSHIPPED","fulfilledBy":"MERCHANT"}},
            "orderItems":[{{"orderItemId":"1","quantityOrdered":2,
                "product":{{"sellerSku":"SKU-1","customization":{{"customizedUrl":"https://CANARY-url"}}}},
                "fulfillment":{{"packing":{{"giftOption":{{"giftMessage":"CANARY-gift","giftWrapLevel":"STANDARD"}}}}}}}}]}}}}"#
        );
        let order = serde_json::from_str::<GetOrderResponse>(&body)
            .unwrap()
            .order;

        for shown in [format!("{order:?}"), format!("{order:#?}")] {
            assert!(!shown.contains("CANARY"), "{shown}");
            assert!(shown.contains("113-1234567-1234567") && shown.contains("SKU-1"));
        }
        let buyer = order.buyer.as_ref().unwrap();
        assert_eq!(
            buyer.buyer_email.as_ref().unwrap().expose(),
            "CANARY@example.com"
        );
        let to = order
            .recipient
            .as_ref()
            .unwrap()
            .delivery_address
            .as_ref()
            .unwrap();
        assert_eq!(to.address_line1.as_ref().unwrap().expose(), "CANARY-l1");
        assert_eq!(to.country_code.as_deref(), Some("US"));
    }

    #[test]
    fn sandbox_pii_values_do_not_reach_debug() {
        let shown = format!("{:?}", sandbox_get_orders());
        for pii in [
            "Maria Silva Santos",
            "buyer-email@",
            "Rua das Flores",
            "01234-567",
            "98765-4321",
            "Vila Madalena",
            "Feliz Natal",
            "Istiklal",
            "TR1234567890",
            "100 Main Street",
        ] {
            assert!(!shown.contains(pii), "{pii} leaked");
        }
    }
}

/// Orders v0 `ConfirmShipmentRequest` (ordersV0.json): what orderseal sends to confirm a
/// shipment. No PII: identifiers, carrier, tracking number, dates and quantities.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmShipmentRequest {
    pub marketplace_id: String,
    pub package_detail: PackageDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageDetail {
    pub package_reference_id: String,
    /// Amazon's carrier code, e.g. `USPS`, `UPS`, `FedEx`, or `Other` with `carrier_name`.
    pub carrier_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_method: Option<String>,
    pub tracking_number: String,
    /// ISO-8601 date-time.
    pub ship_date: String,
    pub order_items: Vec<ConfirmShipmentOrderItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmShipmentOrderItem {
    pub order_item_id: String,
    pub quantity: u32,
}
