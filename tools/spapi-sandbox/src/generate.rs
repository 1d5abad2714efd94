//! Deterministic synthetic orders in the full Orders v2026-01-01 shape (every section).
//!
//! Ids, people, addresses, items and amounts depend only on the seed; timestamps are offsets
//! from an anchor (the sandbox's start, to the minute), so orders always look recent.
//!
//! The first twelve orders follow a fixed plan that covers the cases tests rely on (MFN and AFN;
//! US, DE, UK, CA and JP; multi-item; gift messages; a business order; a canceled order;
//! UNSHIPPED, PARTIALLY_SHIPPED, SHIPPED, PENDING); later ones are drawn at random.
//!
//! Data rules follow the model's notes: `buyerEmail` and the recipient's `phone` only on MFN
//! orders, `packages` only on MFN orders that shipped, buyer PII and the street address only once
//! the order is UNSHIPPED / PARTIALLY_SHIPPED / SHIPPED (PENDING and CANCELLED orders carry just
//! the city, region and country), no proceeds on canceled orders. Delivery windows of shipped
//! MFN orders are still open at the anchor, so their phone is present. Amounts add up: item
//! proceeds = item + shipping + tax − discount; the order's grand total sums its items.

use std::collections::HashSet;

use fastrand::Rng;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::macros::time;
use time::{Duration, OffsetDateTime};

use crate::confirm;
use crate::orders::static_order_ids;

pub(crate) fn orders(seed: u64, count: usize, anchor: OffsetDateTime) -> Vec<Value> {
    let mut generator = Generator {
        rng: Rng::with_seed(seed),
        anchor,
        used_ids: static_order_ids()
            .chain(confirm::static_order_ids())
            .map(str::to_owned)
            .collect(),
    };
    (0..count)
        .map(|index| {
            let plan = match PLAN.get(index) {
                Some(plan) => *plan,
                None => generator.random_plan(),
            };
            generator.order(plan)
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Unshipped,
    PartiallyShipped,
    Shipped,
    Cancelled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Unshipped => "UNSHIPPED",
            Self::PartiallyShipped => "PARTIALLY_SHIPPED",
            Self::Shipped => "SHIPPED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Buyer PII and the street address are released once the order is ready to ship.
    fn releases_pii(self) -> bool {
        matches!(
            self,
            Self::Unshipped | Self::PartiallyShipped | Self::Shipped
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    market: Country,
    afn: bool,
    status: Status,
    items: usize,
    gift: bool,
    business: bool,
    prime: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Country {
    Us,
    Ca,
    Uk,
    De,
    Jp,
}

const fn plan(
    market: Country,
    afn: bool,
    status: Status,
    items: usize,
    gift: bool,
    business: bool,
    prime: bool,
) -> Plan {
    Plan {
        market,
        afn,
        status,
        items,
        gift,
        business,
        prime,
    }
}

const MFN: bool = false;
const AFN: bool = true;

/// The first orders, so every seed covers the cases tests rely on.
const PLAN: [Plan; 12] = [
    plan(Country::Us, MFN, Status::Unshipped, 3, true, false, true),
    plan(Country::De, AFN, Status::Shipped, 2, false, false, true),
    plan(Country::Uk, MFN, Status::Unshipped, 1, false, true, false),
    plan(Country::Ca, MFN, Status::Cancelled, 1, false, false, false),
    plan(Country::Jp, MFN, Status::Shipped, 2, false, false, false),
    plan(Country::Us, AFN, Status::Shipped, 1, false, false, true),
    plan(
        Country::De,
        MFN,
        Status::PartiallyShipped,
        2,
        false,
        false,
        false,
    ),
    plan(Country::Us, MFN, Status::Shipped, 1, false, false, false),
    plan(Country::Uk, AFN, Status::Pending, 1, false, false, true),
    plan(Country::Jp, AFN, Status::Shipped, 1, true, false, true),
    plan(Country::Ca, MFN, Status::Unshipped, 2, false, false, false),
    plan(Country::Us, MFN, Status::Unshipped, 1, true, false, false),
];

// ---------------------------------------------------------------------------------------------
// Reference data (synthetic; phone numbers use ranges reserved for fiction where they exist).

struct Market {
    country_code: &'static str,
    marketplace_id: &'static str,
    marketplace_name: &'static str,
    currency: &'static str,
    /// Minor-unit digits of the currency (JPY has none).
    decimals: u32,
    /// Local price per US cent, in local minor units.
    price_factor: f64,
    order_prefixes: &'static [&'static str],
    email_domain: &'static str,
    given_names: &'static [&'static str],
    family_names: &'static [&'static str],
    cities: &'static [City],
    streets: &'static [&'static str],
    second_lines: &'static [&'static str],
    companies: &'static [&'static str],
    gift_messages: &'static [&'static str],
    /// Sales tax / VAT in basis points, added on top as in the model's examples.
    tax_bp: i64,
    /// MFN standard shipping charge (minor units); Prime and AFN ship free.
    shipping: i64,
    carriers: &'static [Carrier],
    ship_from: ShipFrom,
    /// Marketplace facilitator collecting the tax, where Amazon reports one.
    tax_collector: Option<&'static str>,
    /// Prefix of the buyer's VAT number on business orders, where VAT applies.
    vat_prefix: Option<&'static str>,
}

struct City {
    city: &'static str,
    region: &'static str,
    postal_code: &'static str,
    area_code: &'static str,
    /// Town / district names for addresses written district-first (JP); empty elsewhere.
    towns: &'static [&'static str],
}

struct Carrier {
    name: &'static str,
    service: &'static str,
    tracking: fn(&mut Rng) -> String,
}

struct ShipFrom {
    name: &'static str,
    line1: &'static str,
    city: &'static str,
    region: &'static str,
    postal_code: &'static str,
}

struct Product {
    asin: &'static str,
    title: &'static str,
    sku: &'static str,
    usd_cents: i64,
}

const fn city(
    city: &'static str,
    region: &'static str,
    postal_code: &'static str,
    area_code: &'static str,
) -> City {
    City {
        city,
        region,
        postal_code,
        area_code,
        towns: &[],
    }
}

const fn product(
    asin: &'static str,
    title: &'static str,
    sku: &'static str,
    usd_cents: i64,
) -> Product {
    Product {
        asin,
        title,
        sku,
        usd_cents,
    }
}

const ENGLISH_GIFT_MESSAGES: &[&str] = &[
    "Happy birthday! Hope this makes your mornings brighter. Love, Sam",
    "Congratulations on the new place!",
    "Thinking of you - get well soon.",
    "Happy anniversary! Here's to many more adventures.",
    "Thank you for everything this year!",
];

const US: Market = Market {
    country_code: "US",
    marketplace_id: "ATVPDKIKX0DER",
    marketplace_name: "Amazon.com",
    currency: "USD",
    decimals: 2,
    price_factor: 1.0,
    order_prefixes: &["111", "112", "113", "114"],
    email_domain: "marketplace.amazon.com",
    given_names: &[
        "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Sophia", "Mason", "Isabella", "Lucas",
        "Mia", "Jackson", "Harper", "Aiden", "Chloe", "Caleb",
    ],
    family_names: &[
        "Carter", "Nguyen", "Patel", "Johnson", "Ramirez", "Brooks", "Kim", "Foster", "Bennett",
        "Hughes", "Morales", "Sullivan", "Reyes", "Coleman", "Price", "Hayes",
    ],
    cities: &[
        city("Seattle", "WA", "98109", "206"),
        city("Austin", "TX", "78704", "512"),
        city("Columbus", "OH", "43215", "614"),
        city("Denver", "CO", "80205", "303"),
        city("Portland", "OR", "97214", "503"),
        city("Raleigh", "NC", "27601", "919"),
    ],
    streets: &[
        "Maple Ave",
        "Oak Street",
        "Pine Ridge Rd",
        "Lakeview Dr",
        "Cedar Lane",
        "Elm Street",
        "Sunset Blvd",
        "Willow Way",
        "Park Avenue",
        "Hillcrest Dr",
    ],
    second_lines: &["Apt 4B", "Suite 210", "Unit 12", "Apt 1708"],
    companies: &["Cascade Dental Group LLC", "Brightline Robotics Inc."],
    gift_messages: ENGLISH_GIFT_MESSAGES,
    tax_bp: 875,
    shipping: 599,
    carriers: &[
        Carrier {
            name: "USPS",
            service: "USPS Ground Advantage",
            tracking: usps_tracking,
        },
        Carrier {
            name: "UPS",
            service: "UPS Ground",
            tracking: ups_tracking,
        },
    ],
    ship_from: ShipFrom {
        name: "Northwind Goods Fulfillment",
        line1: "4100 Industry Dr E",
        city: "Fife",
        region: "WA",
        postal_code: "98424",
    },
    tax_collector: Some("Amazon Services LLC"),
    vat_prefix: None,
};

const CA: Market = Market {
    country_code: "CA",
    marketplace_id: "A2EUQ1WTGCTBG2",
    marketplace_name: "Amazon.ca",
    currency: "CAD",
    decimals: 2,
    price_factor: 1.35,
    order_prefixes: &["701", "702"],
    email_domain: "marketplace.amazon.ca",
    given_names: &[
        "Émilie",
        "Jean-Philippe",
        "Gabrielle",
        "Mathieu",
        "Olivia",
        "Liam",
        "Charlotte",
        "Owen",
        "Amelia",
        "Logan",
    ],
    family_names: &[
        "Tremblay",
        "Gagnon",
        "Roy",
        "Côté",
        "Bouchard",
        "Gauthier",
        "MacDonald",
        "Campbell",
        "Wilson",
        "Martin",
    ],
    cities: &[
        city("Toronto", "ON", "M5V 2T6", "416"),
        city("Vancouver", "BC", "V6B 1A1", "604"),
        city("Montréal", "QC", "H2Y 1C6", "514"),
        city("Calgary", "AB", "T2P 1J9", "403"),
        city("Ottawa", "ON", "K1P 5G4", "613"),
    ],
    streets: &[
        "Queen St W",
        "King St E",
        "Robson St",
        "Rue Sainte-Catherine",
        "Bank St",
        "Granville St",
        "Jasper Ave",
        "Yonge St",
    ],
    second_lines: &["Unit 1203", "Apt 5", "Suite 400"],
    companies: &[
        "Maple Leaf Dental Clinic Inc.",
        "Northern Trail Outfitters Ltd.",
    ],
    gift_messages: ENGLISH_GIFT_MESSAGES,
    tax_bp: 1300,
    shipping: 799,
    carriers: &[Carrier {
        name: "Canada Post",
        service: "Expedited Parcel",
        tracking: canada_post_tracking,
    }],
    ship_from: ShipFrom {
        name: "Northwind Goods Canada",
        line1: "2250 Meadowpine Blvd",
        city: "Mississauga",
        region: "ON",
        postal_code: "L5N 6S3",
    },
    tax_collector: None,
    vat_prefix: None,
};

const UK: Market = Market {
    country_code: "GB",
    marketplace_id: "A1F83G8C2ARO7P",
    marketplace_name: "Amazon.co.uk",
    currency: "GBP",
    decimals: 2,
    price_factor: 0.8,
    order_prefixes: &["202", "203", "204", "205", "206"],
    email_domain: "marketplace.amazon.co.uk",
    given_names: &[
        "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Poppy", "Charlie", "Freya",
        "Thomas", "Evie",
    ],
    family_names: &[
        "Smith", "Jones", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Roberts",
        "Walker", "Wright", "Hughes",
    ],
    cities: &[
        city("London", "Greater London", "SE1 7PB", "20"),
        city("Manchester", "Greater Manchester", "M4 1HN", "161"),
        city("Leeds", "West Yorkshire", "LS1 4DY", "113"),
        city("Bristol", "Bristol", "BS1 5TR", "117"),
        city("Edinburgh", "Midlothian", "EH1 1YZ", "131"),
    ],
    streets: &[
        "High Street",
        "Station Road",
        "Church Lane",
        "Victoria Road",
        "Mill Lane",
        "Park Road",
        "Kings Road",
        "Queensway",
        "The Crescent",
        "Manor Way",
    ],
    second_lines: &["Flat 3", "Flat 12", "Apartment 5"],
    companies: &["Wilson & Hart Architects Ltd", "Pennine Print Works Ltd"],
    gift_messages: ENGLISH_GIFT_MESSAGES,
    tax_bp: 2000,
    shipping: 399,
    carriers: &[
        Carrier {
            name: "Royal Mail",
            service: "Royal Mail Tracked 48",
            tracking: royal_mail_tracking,
        },
        Carrier {
            name: "DPD",
            service: "DPD Next Day",
            tracking: dpd_tracking,
        },
    ],
    ship_from: ShipFrom {
        name: "Northwind Goods UK",
        line1: "Unit 7, Harbour Trade Park",
        city: "Daventry",
        region: "Northamptonshire",
        postal_code: "NN11 8YL",
    },
    tax_collector: None,
    vat_prefix: Some("GB"),
};

const DE: Market = Market {
    country_code: "DE",
    marketplace_id: "A1PA6795UKMFR9",
    marketplace_name: "Amazon.de",
    currency: "EUR",
    decimals: 2,
    price_factor: 0.93,
    order_prefixes: &["302", "303", "304", "305", "306"],
    email_domain: "marketplace.amazon.de",
    given_names: &[
        "Lukas", "Hannah", "Leon", "Mia", "Finn", "Emilia", "Jonas", "Lina", "Paul", "Marie",
        "Felix", "Sophie",
    ],
    family_names: &[
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schulz",
        "Hoffmann",
        "Koch",
        "Richter",
    ],
    cities: &[
        city("Berlin", "Berlin", "10115", "30"),
        city("München", "Bayern", "80331", "89"),
        city("Hamburg", "Hamburg", "20095", "40"),
        city("Köln", "Nordrhein-Westfalen", "50667", "221"),
        city("Frankfurt am Main", "Hessen", "60311", "69"),
        city("Leipzig", "Sachsen", "04109", "341"),
    ],
    streets: &[
        "Hauptstraße",
        "Bahnhofstraße",
        "Gartenstraße",
        "Lindenallee",
        "Schillerstraße",
        "Goethestraße",
        "Bergstraße",
        "Kirchweg",
        "Am Markt",
        "Rosenweg",
    ],
    second_lines: &["2. OG", "Hinterhaus", "3. OG links"],
    companies: &["Becker Maschinenbau GmbH", "Nordlicht Design GmbH"],
    gift_messages: &[
        "Alles Gute zum Geburtstag! Viel Freude damit.",
        "Herzlichen Glückwunsch zur neuen Wohnung!",
        "Frohe Weihnachten und liebe Grüße!",
    ],
    tax_bp: 1900,
    shipping: 449,
    carriers: &[
        Carrier {
            name: "DHL",
            service: "DHL Paket",
            tracking: dhl_tracking,
        },
        Carrier {
            name: "Hermes",
            service: "Hermes Paket",
            tracking: hermes_tracking,
        },
    ],
    ship_from: ShipFrom {
        name: "Northwind Goods Lager",
        line1: "Am Logistikpark 12",
        city: "Leipzig",
        region: "Sachsen",
        postal_code: "04435",
    },
    tax_collector: None,
    vat_prefix: Some("DE"),
};

const JP: Market = Market {
    country_code: "JP",
    marketplace_id: "A1VC38T7YXB528",
    marketplace_name: "Amazon.co.jp",
    currency: "JPY",
    decimals: 0,
    price_factor: 1.5,
    order_prefixes: &["249", "250", "503"],
    email_domain: "marketplace.amazon.co.jp",
    given_names: &[
        "陽翔",
        "結衣",
        "蓮",
        "さくら",
        "大翔",
        "陽葵",
        "悠真",
        "美咲",
        "湊",
        "葵",
    ],
    family_names: &[
        "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
    ],
    cities: &[
        City {
            city: "渋谷区",
            region: "東京都",
            postal_code: "150-0041",
            area_code: "3",
            towns: &["神南", "宇田川町", "道玄坂"],
        },
        City {
            city: "大阪市北区",
            region: "大阪府",
            postal_code: "530-0001",
            area_code: "6",
            towns: &["梅田", "中之島", "曽根崎"],
        },
        City {
            city: "横浜市西区",
            region: "神奈川県",
            postal_code: "220-0012",
            area_code: "45",
            towns: &["みなとみらい", "高島", "北幸"],
        },
        City {
            city: "福岡市中央区",
            region: "福岡県",
            postal_code: "810-0001",
            area_code: "92",
            towns: &["天神", "大名", "赤坂"],
        },
    ],
    streets: &[],
    second_lines: &[
        "グランドメゾン 302",
        "サンライズハイツ 105",
        "パークタワー 1204",
    ],
    companies: &["株式会社さくらテック", "山田商事株式会社"],
    gift_messages: &[
        "お誕生日おめでとう！素敵な一年になりますように。",
        "いつもありがとう。ささやかな贈り物です。",
    ],
    tax_bp: 1000,
    shipping: 500,
    carriers: &[
        Carrier {
            name: "Yamato Transport",
            service: "宅急便",
            tracking: japanese_tracking,
        },
        Carrier {
            name: "Sagawa Express",
            service: "飛脚宅配便",
            tracking: japanese_tracking,
        },
    ],
    ship_from: ShipFrom {
        name: "ノースウィンド物流センター",
        line1: "大黒ふ頭3-2",
        city: "横浜市鶴見区",
        region: "神奈川県",
        postal_code: "230-0054",
    },
    tax_collector: None,
    vat_prefix: None,
};

const CATALOG: [Product; 14] = [
    product(
        "B0C2X7LK4M",
        "Insulated Stainless Steel Water Bottle, 750 ml, Matte Black",
        "NW-WB750-BLK",
        2499,
    ),
    product(
        "B09T3RQ8ZN",
        "Bamboo Cutting Board Set, 3 Pieces with Juice Groove",
        "NW-CB3-BAM",
        3299,
    ),
    product(
        "B0BK6M2YHV",
        "Braided USB-C to USB-C Cable, 2 m, 2-Pack",
        "NW-USBC2M-2PK",
        1299,
    ),
    product(
        "B0CFJ9W1QD",
        "Wireless Ergonomic Mouse, Silent Click, Graphite",
        "NW-MSE-ERG-GRA",
        2999,
    ),
    product(
        "B08ZL4T7PK",
        "Organic Cotton Bath Towel Set, 4 Pieces, Sage",
        "NW-TWL4-SAGE",
        4599,
    ),
    product(
        "B0D1HV8R5S",
        "LED Desk Lamp with Wireless Charger, Dimmable",
        "NW-LAMP-QI",
        5499,
    ),
    product(
        "B07QX5G3MT",
        "Pre-Seasoned Cast Iron Skillet, 26 cm",
        "NW-SKL26",
        3499,
    ),
    product(
        "B0B8N4P2WC",
        "Non-Slip Yoga Mat, 6 mm, Ocean Blue",
        "NW-YOGA6-BLU",
        2899,
    ),
    product(
        "B0CM7R2KXJ",
        "Noise Cancelling Wireless Earbuds, Bluetooth 5.3",
        "NW-EBUD-ANC",
        7999,
    ),
    product(
        "B09V2D6LQF",
        "Ceramic Pour-Over Coffee Dripper, Size 02, White",
        "NW-DRIP02-WHT",
        2199,
    ),
    product(
        "B0BR5T9HNA",
        "Wooden Jigsaw Puzzle Set for Kids, Animals, 4 Puzzles",
        "NW-PZL4-ANM",
        1899,
    ),
    product(
        "B0C9K3W8YE",
        "Hardcover Dotted Notebook A5, 240 Pages, Navy",
        "NW-NB-A5-NVY",
        1599,
    ),
    product(
        "B0DA4Z6FTR",
        "Memory Foam Lumbar Cushion for Office Chairs",
        "NW-CUSH-LMB",
        3999,
    ),
    product(
        "B08KTY3N1V",
        "Digital Kitchen Scale, 5 kg, Stainless Steel",
        "NW-SCALE5",
        1999,
    ),
];

fn market(country: Country) -> &'static Market {
    match country {
        Country::Us => &US,
        Country::Ca => &CA,
        Country::Uk => &UK,
        Country::De => &DE,
        Country::Jp => &JP,
    }
}

// Tracking number formats, per carrier.

fn digits(rng: &mut Rng, len: usize) -> String {
    (0..len).map(|_| rng.digit(10)).collect()
}

fn usps_tracking(rng: &mut Rng) -> String {
    format!("9400111{}", digits(rng, 15))
}

fn ups_tracking(rng: &mut Rng) -> String {
    let shipper: String = (0..6)
        .map(|_| rng.alphanumeric().to_ascii_uppercase())
        .collect();
    format!("1Z{shipper}03{}", digits(rng, 8))
}

fn canada_post_tracking(rng: &mut Rng) -> String {
    digits(rng, 16)
}

fn royal_mail_tracking(rng: &mut Rng) -> String {
    format!("TT{}GB", digits(rng, 9))
}

fn dpd_tracking(rng: &mut Rng) -> String {
    format!("15{}", digits(rng, 12))
}

fn dhl_tracking(rng: &mut Rng) -> String {
    format!("00340434{}", digits(rng, 12))
}

fn hermes_tracking(rng: &mut Rng) -> String {
    format!("H10{}", digits(rng, 17))
}

fn japanese_tracking(rng: &mut Rng) -> String {
    format!("{}-{}-{}", digits(rng, 4), digits(rng, 4), digits(rng, 4))
}

// ---------------------------------------------------------------------------------------------

struct Generator {
    rng: Rng,
    anchor: OffsetDateTime,
    used_ids: HashSet<String>,
}

/// One order line with its amounts in minor units.
struct Line {
    item_id: String,
    product: &'static Product,
    quantity: u32,
    unit_price: i64,
    shipping: i64,
    discount: i64,
    item_tax: i64,
    shipping_tax: i64,
    promotion_id: Option<String>,
    gift_message: Option<&'static str>,
    used: bool,
    subscribe_and_save: bool,
}

impl Line {
    fn subtotal(&self) -> i64 {
        self.unit_price * i64::from(self.quantity)
    }

    fn total(&self) -> i64 {
        self.subtotal() + self.shipping + self.item_tax + self.shipping_tax - self.discount
    }
}

struct Person {
    name: String,
}

struct Timeline {
    created: OffsetDateTime,
    last_updated: OffsetDateTime,
    shipped: Option<OffsetDateTime>,
    ship_by: (OffsetDateTime, OffsetDateTime),
    deliver_by: (OffsetDateTime, OffsetDateTime),
}

impl Generator {
    fn pick<T>(&mut self, items: &'static [T]) -> &'static T {
        &items[self.rng.usize(..items.len())]
    }

    fn one_in(&mut self, n: u32) -> bool {
        self.rng.u32(..n) == 0
    }

    fn random_plan(&mut self) -> Plan {
        let countries = [
            Country::Us,
            Country::Ca,
            Country::Uk,
            Country::De,
            Country::Jp,
        ];
        let market = countries[self.rng.usize(..countries.len())];
        let afn = self.one_in(3);
        let items = [1, 1, 1, 2, 2, 3][self.rng.usize(..6)];
        let status = match self.rng.u32(..10) {
            0 => Status::Cancelled,
            1 if items > 1 && !afn => Status::PartiallyShipped,
            1..=4 => Status::Unshipped,
            _ => Status::Shipped,
        };
        let business = !afn && self.one_in(8);
        Plan {
            market,
            afn,
            status,
            items,
            gift: !business && self.one_in(5),
            business,
            prime: !business && self.rng.bool(),
        }
    }

    fn order_id(&mut self, market: &Market) -> String {
        loop {
            let prefix = self.pick(market.order_prefixes);
            let id = format!(
                "{prefix}-{}-{}",
                digits(&mut self.rng, 7),
                digits(&mut self.rng, 7)
            );
            if self.used_ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn person(&mut self, market: &Market) -> Person {
        let given = self.pick(market.given_names);
        let family = self.pick(market.family_names);
        let name = if market.country_code == "JP" {
            format!("{family} {given}")
        } else {
            format!("{given} {family}")
        };
        Person { name }
    }

    fn phone(&mut self, market: &Market, city: &City) -> String {
        let area = city.area_code;
        match market.country_code {
            // 555-0100..0199 is reserved for fiction in the NANP.
            "US" | "CA" => format!("+1 {area}-555-01{}", digits(&mut self.rng, 2)),
            // Ofcom's drama range for mobiles.
            "GB" => format!("+44 7700 900{}", digits(&mut self.rng, 3)),
            "DE" => format!("+49 {area} {}", digits(&mut self.rng, 7)),
            _ => format!(
                "+81 {area}-{}-{}",
                digits(&mut self.rng, 4),
                digits(&mut self.rng, 4)
            ),
        }
    }

    /// `(addressLine1, addressLine2)` in the country's usual layout.
    fn street_lines(&mut self, market: &Market, city: &City) -> (String, Option<String>) {
        let second = self
            .one_in(3)
            .then(|| self.pick(market.second_lines).to_string());
        let line1 = match market.country_code {
            "US" | "CA" => format!("{} {}", self.rng.u32(100..9999), self.pick(market.streets)),
            "GB" => format!("{} {}", self.rng.u32(1..180), self.pick(market.streets)),
            "DE" => format!("{} {}", self.pick(market.streets), self.rng.u32(1..120)),
            _ => format!(
                "{}{}-{}-{}",
                self.pick(city.towns),
                self.rng.u32(1..6),
                self.rng.u32(1..30),
                self.rng.u32(1..20)
            ),
        };
        (line1, second)
    }

    fn timeline(&mut self, status: Status, afn: bool) -> Timeline {
        let hours_ago = match status {
            Status::Pending => self.rng.i64(1..3),
            Status::Unshipped => self.rng.i64(2..30),
            Status::PartiallyShipped => self.rng.i64(34..60),
            Status::Shipped => self.rng.i64(48..100),
            Status::Cancelled => self.rng.i64(8..70),
        };
        let created = self.anchor
            - Duration::hours(hours_ago)
            - Duration::minutes(self.rng.i64(0..60))
            - Duration::seconds(self.rng.i64(0..60));
        let shipped = matches!(status, Status::Shipped | Status::PartiallyShipped).then(|| {
            created + Duration::hours(self.rng.i64(16..28)) + Duration::minutes(self.rng.i64(0..60))
        });
        let last_updated = match status {
            Status::Pending => created + Duration::minutes(self.rng.i64(1..10)),
            Status::Unshipped => created + Duration::minutes(self.rng.i64(5..90)),
            Status::Cancelled => created + Duration::hours(self.rng.i64(1..6)),
            Status::Shipped | Status::PartiallyShipped => {
                shipped.unwrap_or(created) + Duration::minutes(self.rng.i64(5..30))
            }
        }
        .min(self.anchor);
        let handling_days = if afn { 1 } else { self.rng.i64(1..3) };
        let ship_by = (
            created,
            (created + Duration::days(handling_days)).replace_time(time!(23:59:59)),
        );
        let deliver_from =
            (ship_by.1 + Duration::days(self.rng.i64(2..4))).replace_time(time!(00:00:00));
        let deliver_by = (
            deliver_from,
            (deliver_from + Duration::days(self.rng.i64(3..6))).replace_time(time!(23:59:59)),
        );
        Timeline {
            created,
            last_updated,
            shipped,
            ship_by,
            deliver_by,
        }
    }

    fn local_price(market: &Market, usd_cents: i64) -> i64 {
        let local = usd_cents as f64 * market.price_factor;
        if market.decimals == 0 {
            // Yen prices end in 80: 3748 → 3680.
            ((local / 100.0).round() as i64) * 100 - 20
        } else {
            // x.99 prices: 1999.2 → 19.99.
            ((local / 100.0).round() as i64) * 100 - 1
        }
    }

    fn lines(&mut self, plan: &Plan, market: &Market, order_id: &str) -> Vec<Line> {
        let mut catalog: Vec<usize> = (0..CATALOG.len()).collect();
        self.rng.shuffle(&mut catalog);
        let free_shipping = plan.afn || plan.prime;
        let gift_line = self.rng.usize(..plan.items);
        let item_prefix = &order_id[..3];
        (0..plan.items)
            .map(|index| {
                let product = &CATALOG[catalog[index]];
                let quantity = if self.one_in(4) {
                    self.rng.u32(2..4)
                } else {
                    1
                };
                let unit_price = Self::local_price(market, product.usd_cents);
                let subtotal = unit_price * i64::from(quantity);
                let shipping = if index == 0 && !free_shipping {
                    market.shipping
                } else {
                    0
                };
                let promotion_id = self.one_in(4).then(|| {
                    let campaign = self.pick(&["SPRING", "WELCOME", "SAVE10", "BUNDLE"]);
                    format!(
                        "{}-{campaign}-{}",
                        market.country_code,
                        digits(&mut self.rng, 4)
                    )
                });
                let discount = if promotion_id.is_some() {
                    round_div(subtotal, 10)
                } else {
                    0
                };
                Line {
                    item_id: format!("{item_prefix}{}", digits(&mut self.rng, 11)),
                    product,
                    quantity,
                    unit_price,
                    shipping,
                    discount,
                    item_tax: round_div((subtotal - discount) * market.tax_bp, 10_000),
                    shipping_tax: round_div(shipping * market.tax_bp, 10_000),
                    promotion_id,
                    gift_message: (plan.gift && index == gift_line)
                        .then(|| *self.pick(market.gift_messages)),
                    used: !plan.business && self.one_in(10),
                    subscribe_and_save: plan.afn && market.country_code == "US" && self.one_in(4),
                }
            })
            .collect()
    }

    fn order(&mut self, plan: Plan) -> Value {
        let market = market(plan.market);
        let order_id = self.order_id(market);
        let times = self.timeline(plan.status, plan.afn);
        let lines = self.lines(&plan, market, &order_id);
        let buyer = self.person(market);
        let recipient = if plan.gift {
            self.person(market)
        } else {
            Person {
                name: buyer.name.clone(),
            }
        };
        let company = plan.business.then(|| self.pick(market.companies));
        let money = |minor: i64| money(market, minor);
        let pii = plan.status.releases_pii();

        let mut order = Map::new();
        set(&mut order, "orderId", json!(order_id));
        if !plan.afn && self.one_in(3) {
            let alias = format!("NW-{}", digits(&mut self.rng, 6));
            set(
                &mut order,
                "orderAliases",
                json!([{ "aliasId": alias, "aliasType": "SELLER_ORDER_ID" }]),
            );
        }
        set(&mut order, "createdTime", json!(timestamp(times.created)));
        set(
            &mut order,
            "lastUpdatedTime",
            json!(timestamp(times.last_updated)),
        );
        let mut programs = Vec::new();
        if plan.prime {
            programs.push("PRIME");
        }
        if plan.business {
            programs.push("AMAZON_BUSINESS");
        }
        if !programs.is_empty() {
            set(&mut order, "programs", json!(programs));
        }
        set(
            &mut order,
            "salesChannel",
            json!({
                "channelName": "AMAZON",
                "marketplaceId": market.marketplace_id,
                "marketplaceName": market.marketplace_name,
            }),
        );

        // BUYER
        let mut buyer_section = Map::new();
        if pii {
            set(&mut buyer_section, "buyerName", json!(buyer.name));
            if !plan.afn {
                let local: String = (0..16).map(|_| self.rng.lowercase()).collect();
                let email = format!("{local}@{}", market.email_domain);
                set(&mut buyer_section, "buyerEmail", json!(email));
            }
        }
        if let Some(company) = company {
            set(&mut buyer_section, "buyerCompanyName", json!(company));
            let po = format!("PO-{}", digits(&mut self.rng, 6));
            set(&mut buyer_section, "buyerPurchaseOrderNumber", json!(po));
        }
        if !buyer_section.is_empty() {
            set(&mut order, "buyer", Value::Object(buyer_section));
        }

        // RECIPIENT
        let city = self.pick(market.cities);
        let mut address = Map::new();
        if pii {
            let (line1, line2) = self.street_lines(market, city);
            set(&mut address, "name", json!(recipient.name));
            if let Some(company) = company {
                set(&mut address, "companyName", json!(company));
            }
            set(&mut address, "addressLine1", json!(line1));
            if let Some(line2) = line2 {
                set(&mut address, "addressLine2", json!(line2));
            }
        }
        set(&mut address, "city", json!(city.city));
        set(&mut address, "stateOrRegion", json!(city.region));
        if pii {
            set(&mut address, "postalCode", json!(city.postal_code));
        }
        set(&mut address, "countryCode", json!(market.country_code));
        if pii && !plan.afn {
            let phone = self.phone(market, city);
            set(&mut address, "phone", json!(phone));
        }
        if pii {
            let kind = if plan.business {
                "COMMERCIAL"
            } else {
                "RESIDENTIAL"
            };
            set(&mut address, "addressType", json!(kind));
        }
        let mut recipient_section = Map::new();
        set(
            &mut recipient_section,
            "deliveryAddress",
            Value::Object(address.clone()),
        );
        if pii && plan.business {
            let weekdays: Vec<Value> = ["MON", "TUE", "WED", "THU", "FRI"]
                .iter()
                .map(|day| {
                    json!({
                        "dayOfWeek": day,
                        "timeWindows": [{
                            "startTime": {"hour": 9, "minute": 0},
                            "endTime": {"hour": 17, "minute": 0}
                        }]
                    })
                })
                .collect();
            set(
                &mut recipient_section,
                "deliveryPreference",
                json!({
                    "addressInstruction": "Deliver to reception during business hours.",
                    "deliveryTime": { "businessHours": weekdays }
                }),
            );
        } else if pii && self.one_in(4) {
            set(
                &mut recipient_section,
                "deliveryPreference",
                json!({ "dropOffLocation": "Front door", "addressInstruction": "Side gate code is at the front desk." }),
            );
        }
        set(&mut order, "recipient", Value::Object(recipient_section));

        // PROCEEDS (none once canceled)
        let cancelled = plan.status == Status::Cancelled;
        let grand_total: i64 = lines.iter().map(Line::total).sum();
        if !cancelled {
            let sum = |f: fn(&Line) -> i64| lines.iter().map(f).sum::<i64>();
            let mut breakdowns =
                vec![json!({"type": "ITEM", "subtotal": money(sum(Line::subtotal))})];
            let shipping = sum(|l| l.shipping);
            if shipping > 0 {
                breakdowns.push(json!({"type": "SHIPPING", "subtotal": money(shipping)}));
            }
            breakdowns.push(
                json!({"type": "TAX", "subtotal": money(sum(|l| l.item_tax + l.shipping_tax))}),
            );
            let discount = sum(|l| l.discount);
            if discount > 0 {
                breakdowns.push(json!({"type": "DISCOUNT", "subtotal": money(-discount)}));
            }
            set(
                &mut order,
                "proceeds",
                json!({ "grandTotal": money(grand_total), "breakdowns": breakdowns }),
            );

            // PAYMENT
            let method = if plan.business {
                "Invoice"
            } else if market.country_code == "JP" && self.one_in(2) {
                "ConvenienceStore"
            } else {
                "CreditCard"
            };
            set(
                &mut order,
                "payment",
                json!({ "paymentExecutions": [{ "paymentMethod": method, "paymentAmount": money(grand_total) }] }),
            );
        }

        // TAX (the buyer's VAT registration on business orders where VAT applies)
        if let (Some(company), Some(prefix), true) = (company, market.vat_prefix, pii) {
            let mut registration_address = address.clone();
            registration_address.remove("phone");
            set(
                &mut order,
                "tax",
                json!({ "taxRegistrations": [{
                    "entityType": "BUYER",
                    "taxRegistrationType": "VAT",
                    "taxRegistrationNumber": format!("{prefix}{}", digits(&mut self.rng, 9)),
                    "legalName": company,
                    "taxRegistrationAddress": registration_address,
                }]}),
            );
        }

        // FULFILLMENT
        let service_level = if plan.prime {
            *self.pick(&["NEXT_DAY", "SECOND_DAY"])
        } else if self.one_in(5) {
            "EXPEDITED"
        } else {
            "STANDARD"
        };
        set(
            &mut order,
            "fulfillment",
            json!({
                "fulfillmentStatus": plan.status.as_str(),
                "fulfilledBy": if plan.afn { "AMAZON" } else { "MERCHANT" },
                "fulfillmentServiceLevel": service_level,
                "shipByWindow": window(times.ship_by),
                "deliverByWindow": window(times.deliver_by),
            }),
        );

        // Lines shipped so far: all when SHIPPED, the first when PARTIALLY_SHIPPED.
        let shipped_lines = match plan.status {
            Status::Shipped => lines.len(),
            Status::PartiallyShipped => 1,
            _ => 0,
        };
        let items: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(index, line)| self.item(market, &plan, line, index < shipped_lines))
            .collect();
        set(&mut order, "orderItems", Value::Array(items));

        // PACKAGES (MFN only, once something shipped)
        if let (false, Some(ship_time)) = (plan.afn, times.shipped) {
            let package = self.package(market, ship_time, &lines[..shipped_lines]);
            set(&mut order, "packages", json!([package]));
        }
        Value::Object(order)
    }

    fn item(&mut self, market: &Market, plan: &Plan, line: &Line, shipped: bool) -> Value {
        let money = |minor: i64| money(market, minor);
        let sku = if market.country_code == "US" {
            line.product.sku.to_owned()
        } else {
            format!("{}-{}", line.product.sku, market.country_code)
        };
        let condition = if line.used {
            json!({"conditionType": "USED", "conditionSubtype": "VERY_GOOD",
                   "conditionNote": "Opened box, contents unused."})
        } else {
            json!({"conditionType": "NEW", "conditionSubtype": "NEW", "conditionNote": ""})
        };
        let mut price = Map::new();
        set(&mut price, "unitPrice", money(line.unit_price));
        if plan.business {
            set(&mut price, "priceDesignation", json!("BUSINESS_PRICE"));
        }

        let mut item = Map::new();
        set(&mut item, "orderItemId", json!(line.item_id));
        set(&mut item, "quantityOrdered", json!(line.quantity));
        if line.subscribe_and_save {
            set(&mut item, "programs", json!(["SUBSCRIBE_AND_SAVE"]));
        }
        set(
            &mut item,
            "product",
            json!({
                "asin": line.product.asin,
                "title": line.product.title,
                "sellerSku": sku,
                "condition": condition,
                "price": price,
            }),
        );

        let cancelled = plan.status == Status::Cancelled;
        if !cancelled {
            let mut breakdowns = vec![json!({"type": "ITEM", "subtotal": money(line.subtotal())})];
            if line.shipping > 0 {
                breakdowns.push(json!({"type": "SHIPPING", "subtotal": money(line.shipping)}));
            }
            let mut tax_details = vec![json!({"subtype": "ITEM", "value": money(line.item_tax)})];
            if line.shipping > 0 {
                tax_details.push(json!({"subtype": "SHIPPING", "value": money(line.shipping_tax)}));
            }
            breakdowns.push(json!({
                "type": "TAX",
                "subtotal": money(line.item_tax + line.shipping_tax),
                "detailedBreakdowns": tax_details,
            }));
            if line.discount > 0 {
                breakdowns.push(json!({"type": "DISCOUNT", "subtotal": money(-line.discount)}));
            }
            set(
                &mut item,
                "proceeds",
                json!({ "proceedsTotal": money(line.total()), "breakdowns": breakdowns }),
            );
        }

        // EXPENSE: Amazon Points (JP), 1 % of the item price.
        if market.country_code == "JP" && !cancelled {
            let points = (line.subtotal() / 100).max(1);
            set(
                &mut item,
                "expense",
                json!({"pointsCost": {"pointsGranted": {
                    "pointsNumber": points,
                    "pointsMonetaryValue": money(points),
                }}}),
            );
        }

        if let Some(promotion_id) = &line.promotion_id {
            set(
                &mut item,
                "promotion",
                json!({"breakdowns": [{"promotionId": promotion_id}]}),
            );
        }

        if cancelled {
            set(
                &mut item,
                "cancellation",
                json!({
                    "cancellationRequest": {"requester": "BUYER", "cancelReason": "Order placed by mistake"},
                    "cancellationExecution": {"cancelledBy": "MERCHANT", "cancelReason": "Buyer requested cancellation"},
                }),
            );
        }

        let (fulfilled, unfulfilled) = match (cancelled, shipped) {
            (true, _) => (0, 0),
            (false, true) => (line.quantity, 0),
            (false, false) => (0, line.quantity),
        };
        let mut fulfillment = Map::new();
        set(&mut fulfillment, "quantityFulfilled", json!(fulfilled));
        set(&mut fulfillment, "quantityUnfulfilled", json!(unfulfilled));
        if let Some(message) = line.gift_message {
            let wrap = *self.pick(&["STANDARD", "PREMIUM"]);
            set(
                &mut fulfillment,
                "packing",
                json!({"giftOption": {"giftMessage": message, "giftWrapLevel": wrap}}),
            );
        }
        // Signature on delivery for higher-value MFN lines (above roughly USD 75).
        if !plan.afn && line.product.usd_cents * i64::from(line.quantity) > 7_500 {
            set(
                &mut fulfillment,
                "shipping",
                json!({"shippingConstraints": {"signatureConfirmation": "MANDATORY"}}),
            );
        }
        set(&mut item, "fulfillment", Value::Object(fulfillment));

        if let Some(collector) = market.tax_collector {
            set(
                &mut item,
                "tax",
                json!({"taxCollections": [{"model": "MARKETPLACE_FACILITATOR", "responsibleParty": collector}]}),
            );
        }
        Value::Object(item)
    }

    fn package(&mut self, market: &Market, ship_time: OffsetDateTime, lines: &[Line]) -> Value {
        let carrier = self.pick(market.carriers);
        let tracking_number = (carrier.tracking)(&mut self.rng);
        let created = ship_time - Duration::minutes(self.rng.i64(30..180));
        let (status, detail) = if self.anchor - ship_time > Duration::hours(60) {
            ("DELIVERED", "DELIVERED")
        } else {
            (
                "IN_TRANSIT",
                *self.pick(&["PICKED_UP", "AT_DESTINATION_FC", "OUT_FOR_DELIVERY"]),
            )
        };
        let from = &market.ship_from;
        let package_items: Vec<Value> = lines
            .iter()
            .map(|line| json!({"orderItemId": line.item_id, "quantity": line.quantity}))
            .collect();
        json!({
            "packageReferenceId": digits(&mut self.rng, 6),
            "createdTime": timestamp(created),
            "packageStatus": {"status": status, "detailedStatus": detail},
            "carrier": carrier.name,
            "shipTime": timestamp(ship_time),
            "shippingService": carrier.service,
            "trackingNumber": tracking_number,
            "shipFromAddress": {
                "name": from.name,
                "addressLine1": from.line1,
                "city": from.city,
                "stateOrRegion": from.region,
                "postalCode": from.postal_code,
                "countryCode": market.country_code,
            },
            "packageItems": package_items,
        })
    }
}

fn set(map: &mut Map<String, Value>, key: &str, value: Value) {
    map.insert(key.to_owned(), value);
}

/// Rounds `numerator / denominator` half away from zero (non-negative inputs).
fn round_div(numerator: i64, denominator: i64) -> i64 {
    (numerator + denominator / 2) / denominator
}

/// A `Money` object; the amount is a decimal string in the currency's minor-unit precision.
fn money(market: &Market, minor: i64) -> Value {
    let amount = if market.decimals == 0 {
        minor.to_string()
    } else {
        let sign = if minor < 0 { "-" } else { "" };
        let minor = minor.abs();
        format!("{sign}{}.{:02}", minor / 100, minor % 100)
    };
    json!({ "amount": amount, "currencyCode": market.currency })
}

fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .expect("UTC timestamps format as RFC 3339")
}

fn window((earliest, latest): (OffsetDateTime, OffsetDateTime)) -> Value {
    json!({ "earliestDateTime": timestamp(earliest), "latestDateTime": timestamp(latest) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor() -> OffsetDateTime {
        time::macros::datetime!(2026-06-01 12:00 UTC)
    }

    fn amount(value: &Value) -> i64 {
        let text = value["amount"].as_str().unwrap();
        text.replace('.', "").parse().unwrap()
    }

    #[test]
    fn same_seed_same_orders_other_seed_other_orders() {
        let a = orders(7, 20, anchor());
        assert_eq!(a, orders(7, 20, anchor()));
        assert_ne!(a, orders(8, 20, anchor()));
        assert_eq!(a.len(), 20);
    }

    #[test]
    fn order_ids_are_unique_and_three_seven_seven_digits() {
        let generated = orders(42, 200, anchor());
        let mut seen = HashSet::new();
        for order in &generated {
            let id = order["orderId"].as_str().unwrap();
            let groups: Vec<&str> = id.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [3, 7, 7],
                "{id}"
            );
            assert!(
                groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit())),
                "{id}"
            );
            assert!(seen.insert(id.to_owned()), "duplicate {id}");
        }
    }

    #[test]
    fn amounts_add_up() {
        for order in orders(3, 40, anchor()) {
            let Some(proceeds) = order.get("proceeds") else {
                assert_eq!(order["fulfillment"]["fulfillmentStatus"], "CANCELLED");
                continue;
            };
            let items: i64 = order["orderItems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| amount(&item["proceeds"]["proceedsTotal"]))
                .sum();
            assert_eq!(amount(&proceeds["grandTotal"]), items);
            let parts: i64 = proceeds["breakdowns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| amount(&b["subtotal"]))
                .sum();
            assert_eq!(parts, items);
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_and_ordered() {
        for order in orders(5, 30, anchor()) {
            let created = order["createdTime"].as_str().unwrap();
            let updated = order["lastUpdatedTime"].as_str().unwrap();
            assert!(
                created.ends_with('Z') && updated.ends_with('Z'),
                "{created} {updated}"
            );
            let created = OffsetDateTime::parse(created, &Rfc3339).unwrap();
            let updated = OffsetDateTime::parse(updated, &Rfc3339).unwrap();
            assert!(created <= updated && updated <= anchor());
        }
    }

    #[test]
    fn afn_orders_carry_no_phone_email_or_packages() {
        for order in orders(9, 60, anchor()) {
            if order["fulfillment"]["fulfilledBy"] == "AMAZON" {
                assert!(order["recipient"]["deliveryAddress"].get("phone").is_none());
                assert!(order.pointer("/buyer/buyerEmail").is_none());
                assert!(order.get("packages").is_none());
            }
        }
    }

    #[test]
    fn money_formats_minor_units() {
        assert_eq!(money(&US, 1999)["amount"], "19.99");
        assert_eq!(money(&US, -5)["amount"], "-0.05");
        assert_eq!(money(&JP, 3680)["amount"], "3680");
        assert_eq!(Generator::local_price(&JP, 2499), 3680);
        assert_eq!(Generator::local_price(&UK, 2499), 1999);
    }
}
