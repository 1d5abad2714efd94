//! Amazon's `carrierCode` for a label's carrier in a marketplace (`shared/data/
//! amazon-carrier-codes.json`, with its sources): the carrier's code when the marketplace lists
//! it, else `Other` with the carrier's own name (`carrierName`), as Amazon asks for an unlisted
//! carrier. Names match ignoring case, spaces and punctuation, then through the aliases the
//! carrier adapters' names need (`DHLExpress` → `DHL`, `CanadaPost` → `Canada Post`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The code Amazon takes for a carrier it does not list.
pub const OTHER: &str = "Other";

const DATA: &str = include_str!("../../data/amazon-carrier-codes.json");

#[derive(Debug, Deserialize)]
struct Codes {
    listed: Vec<String>,
    #[serde(default)]
    marketplaces: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

fn codes() -> &'static Codes {
    static CODES: OnceLock<Codes> = OnceLock::new();
    CODES.get_or_init(|| serde_json::from_str(DATA).expect("the carrier code list is valid JSON"))
}

/// Lowercase letters and digits only.
fn key(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The codes `marketplace_id` lists.
pub fn listed(marketplace_id: &str) -> &'static [String] {
    let codes = codes();
    codes
        .marketplaces
        .get(marketplace_id)
        .unwrap_or(&codes.listed)
}

/// `(carrierCode, carrierName)` for `carrier` in `marketplace_id`: the listed code and no name,
/// or [`OTHER`] and the carrier's name.
pub fn carrier_code(marketplace_id: &str, carrier: &str) -> (String, Option<String>) {
    let wanted = key(carrier);
    let wanted = codes()
        .aliases
        .get(&wanted)
        .map_or(wanted, |code| key(code));
    match listed(marketplace_id)
        .iter()
        .find(|code| key(code) == wanted)
    {
        Some(code) => (code.clone(), None),
        None => (OTHER.to_owned(), Some(carrier.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: &str = "ATVPDKIKX0DER";
    const AU: &str = "A39IBJ37TRP1C6";

    #[test]
    fn listed_carriers_get_their_code_in_amazons_spelling() {
        assert_eq!(carrier_code(US, "usps"), ("USPS".into(), None));
        assert_eq!(carrier_code(US, "FEDEX"), ("FedEx".into(), None));
        assert_eq!(carrier_code(US, "DHLExpress"), ("DHL".into(), None));
        assert_eq!(carrier_code(US, "dhl_express"), ("DHL".into(), None));
        assert_eq!(carrier_code(US, "CanadaPost"), ("Canada Post".into(), None));
        assert_eq!(
            carrier_code(AU, "AustraliaPost"),
            ("Australia Post-ArticleId".into(), None)
        );
    }

    #[test]
    fn a_carrier_the_marketplace_does_not_list_is_other_with_its_name() {
        assert_eq!(
            carrier_code(US, "Acme Parcel"),
            (OTHER.into(), Some("Acme Parcel".into()))
        );
        // Royal Mail is listed in general, not in Australia's list.
        assert_eq!(carrier_code(US, "Royal Mail").0, "Royal Mail");
        assert_eq!(
            carrier_code(AU, "Royal Mail"),
            (OTHER.into(), Some("Royal Mail".into()))
        );
        assert!(listed(AU).iter().all(|c| c != OTHER));
    }
}
