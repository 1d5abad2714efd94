//! Helpers shared by the integration tests: a sandbox with a client, and valid requests for
//! each API.

// Each test crate uses only some of these.
#![allow(dead_code)]

use carrier_sandbox::{
    Api, CarrierSandboxConfig, DEFAULT_EASYPOST_API_KEY, DEFAULT_GENERIC_API_KEY,
    DEFAULT_SHIPPO_TOKEN, Sandbox,
};
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

pub struct Harness {
    pub sandbox: Sandbox,
    pub http: Client,
}

/// A carrier's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub replayed: bool,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_config(CarrierSandboxConfig::default()).await
    }

    pub async fn with_config(config: CarrierSandboxConfig) -> Self {
        let sandbox = carrier_sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("sandbox starts");
        Self {
            sandbox,
            http: Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    pub fn authed(&self, api: Api, request: RequestBuilder) -> RequestBuilder {
        match api {
            Api::EasyPost => request.basic_auth(DEFAULT_EASYPOST_API_KEY, None::<&str>),
            Api::Shippo => {
                request.header(AUTHORIZATION, format!("ShippoToken {DEFAULT_SHIPPO_TOKEN}"))
            }
            Api::Generic => request.bearer_auth(DEFAULT_GENERIC_API_KEY),
        }
    }

    pub fn post(&self, api: Api, path: &str, key: Option<&str>, body: &Value) -> RequestBuilder {
        let mut request = self.authed(api, self.http.post(self.url(path))).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request
    }

    pub async fn call(&self, api: Api, path: &str, key: Option<&str>, body: &Value) -> Answer {
        answer(self.post(api, path, key, body).send().await.unwrap()).await
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let replayed = header("Idempotent-Replayed").as_deref() == Some("true");
    let retry_after = header("retry-after");
    Answer {
        status: response.status(),
        replayed,
        retry_after,
        body: response.json().await.unwrap(),
    }
}

pub const RECIPIENT: &str = "Canary Recipient-7731";
pub const RECIPIENT_PHONE: &str = "+1 555 0100 7731";
pub const RECIPIENT_EMAIL: &str = "canary-7731@example.com";

/// Street, city, state, postal code of a plausible address in `country`.
pub fn address_in(
    country: &str,
) -> (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
) {
    match country {
        "US" => ("1 Main St", "Springfield", Some("IL"), "62701"),
        "CA" => ("100 Queen St W", "Toronto", Some("ON"), "M5H 2N2"),
        "DE" => ("Unter den Linden 1", "Berlin", None, "10117"),
        _ => ("1-1 Chiyoda", "Tokyo", None, "100-0001"),
    }
}

pub fn from_address_easypost() -> Value {
    json!({
        "company": "Orderseal Demo Seller", "street1": "417 Montgomery St", "city": "San Francisco",
        "state": "CA", "zip": "94104", "country": "US", "phone": "4155550100"
    })
}

pub fn easypost_shipment(country: &str, weight_oz: f64) -> Value {
    let (street, city, state, zip) = address_in(country);
    json!({"shipment": {
        "reference": "os-ep-0001",
        "to_address": {
            "name": RECIPIENT, "street1": street, "city": city, "state": state, "zip": zip,
            "country": country, "phone": RECIPIENT_PHONE, "email": RECIPIENT_EMAIL,
            "residential": true
        },
        "from_address": from_address_easypost(),
        "parcel": {"length": 10.0, "width": 6.0, "height": 4.0, "weight": weight_oz}
    }})
}

pub fn shippo_shipment(country: &str, weight_oz: &str) -> Value {
    let (street, city, state, zip) = address_in(country);
    json!({
        "address_from": {
            "name": "Orderseal Demo Seller", "street1": "417 Montgomery St",
            "city": "San Francisco", "state": "CA", "zip": "94104", "country": "US"
        },
        "address_to": {
            "name": RECIPIENT, "street1": street, "city": city, "state": state, "zip": zip,
            "country": country, "is_residential": true
        },
        "parcels": [{
            "length": "10", "width": "6", "height": "4", "distance_unit": "in",
            "weight": weight_oz, "mass_unit": "oz"
        }],
        "metadata": "os-sh-0001",
        "async": false
    })
}

pub fn generic_request(country: &str, weight_grams: u64) -> Value {
    let (street, city, region, postal_code) = address_in(country);
    json!({
        "reference": "os-gen-0001",
        "recipient": {
            "name": RECIPIENT, "address_lines": [street], "city": city, "region": region,
            "postal_code": postal_code, "country": country
        },
        "parcel": {"weight_grams": weight_grams, "length_mm": 250, "width_mm": 150, "height_mm": 100}
    })
}

pub fn is_hex_id(id: &Value, prefix: &str) -> bool {
    id.as_str().is_some_and(|id| {
        id.len() == prefix.len() + 32
            && id.starts_with(prefix)
            && id[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

pub fn rate_with<'a>(rates: &'a Value, key: &str, value: &str) -> &'a Value {
    rates
        .as_array()
        .unwrap()
        .iter()
        .find(|rate| rate.pointer(key).and_then(Value::as_str) == Some(value))
        .unwrap_or_else(|| panic!("no rate with {key} = {value} in {rates}"))
}

pub async fn easypost_created(h: &Harness, country: &str, weight_oz: f64) -> Value {
    let created = h
        .call(
            Api::EasyPost,
            "/easypost/v2/shipments",
            None,
            &easypost_shipment(country, weight_oz),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body
}

pub fn buy_path(shipment: &Value) -> String {
    format!(
        "/easypost/v2/shipments/{}/buy",
        shipment["id"].as_str().unwrap()
    )
}

pub fn buy_body(shipment: &Value, service: &str) -> Value {
    let rate = rate_with(&shipment["rates"], "/service", service);
    json!({"rate": {"id": rate["id"]}})
}

pub async fn shippo_rate(h: &Harness, country: &str, token: &str) -> (Value, String) {
    let created = h
        .call(
            Api::Shippo,
            "/shippo/shipments",
            None,
            &shippo_shipment(country, "12"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let rate = rate_with(&created.body["rates"], "/servicelevel/token", token);
    let rate_id = rate["object_id"].as_str().unwrap().to_owned();
    (created.body, rate_id)
}

pub fn transaction(rate_id: &str) -> Value {
    json!({"rate": rate_id, "label_file_type": "PDF", "async": false, "metadata": "os-sh-0001"})
}
