//! Request-body checks shared by the three APIs. Each API renders the collected
//! [`FieldError`]s in its own error shape. `null` counts as absent; unknown members are ignored
//! (as the real APIs do), and recorded anyway.

use serde_json::{Map, Value};

/// One problem with one request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// Dotted path, e.g. `shipment.to_address.zip` or `parcels.0.weight`.
    pub(crate) field: String,
    /// `None` when the field is missing (each API words that itself), else what is wrong.
    pub(crate) invalid: Option<String>,
}

impl FieldError {
    pub(crate) fn is_missing(&self) -> bool {
        self.invalid.is_none()
    }
}

/// Collects field errors while reading a request body.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    pub(crate) errors: Vec<FieldError>,
}

/// `path.key`, or `key` at the top level.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

impl Fields {
    pub(crate) fn missing(&mut self, field: String) {
        self.errors.push(FieldError {
            field,
            invalid: None,
        });
    }

    pub(crate) fn invalid(&mut self, field: String, message: impl Into<String>) {
        self.errors.push(FieldError {
            field,
            invalid: Some(message.into()),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// A member that must be a JSON object.
    pub(crate) fn object<'a>(
        &mut self,
        object: &'a Map<String, Value>,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a Map<String, Value>> {
        match present(object, key) {
            None => {
                if required {
                    self.missing(join(path, key));
                }
                None
            }
            Some(Value::Object(inner)) => Some(inner),
            Some(_) => {
                self.invalid(join(path, key), "must be an object");
                None
            }
        }
    }

    /// A member that must be a JSON string; a required one must not be blank.
    pub(crate) fn string(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<String> {
        match present(object, key) {
            None => {
                if required {
                    self.missing(join(path, key));
                }
                None
            }
            Some(Value::String(text)) if text.trim().is_empty() => {
                if required {
                    self.missing(join(path, key));
                }
                None
            }
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                self.invalid(join(path, key), "must be a string");
                None
            }
        }
    }

    /// An optional member that must be a JSON boolean.
    pub(crate) fn boolean(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<bool> {
        match present(object, key) {
            None => None,
            Some(Value::Bool(flag)) => Some(*flag),
            Some(_) => {
                self.invalid(join(path, key), "must be a boolean");
                None
            }
        }
    }

    /// A member that must be a JSON number greater than zero.
    pub(crate) fn positive_number(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<f64> {
        match present(object, key) {
            None => {
                if required {
                    self.missing(join(path, key));
                }
                None
            }
            Some(value) => match value.as_f64() {
                Some(number) if number > 0.0 && number.is_finite() => Some(number),
                _ => {
                    self.invalid(join(path, key), "must be a number greater than 0");
                    None
                }
            },
        }
    }

    /// A required member that must be a JSON integer greater than zero.
    pub(crate) fn positive_integer(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<u64> {
        match present(object, key) {
            None => {
                self.missing(join(path, key));
                None
            }
            Some(value) => match value.as_u64() {
                Some(number) if number > 0 => Some(number),
                _ => {
                    self.invalid(join(path, key), "must be an integer greater than 0");
                    None
                }
            },
        }
    }

    /// A required member that must be a string holding a decimal number greater than zero (the
    /// way Shippo sends dimensions and weights).
    pub(crate) fn decimal_string(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<f64> {
        let text = self.string(object, path, key, true)?;
        match text.trim().parse::<f64>() {
            Ok(number) if number > 0.0 && number.is_finite() => Some(number),
            _ => {
                self.invalid(
                    join(path, key),
                    "must be a string holding a number greater than 0",
                );
                None
            }
        }
    }

    /// A required ISO 3166-1 alpha-2 country code; returned upper case.
    pub(crate) fn country(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        let code = self.string(object, path, key, true)?;
        let code = code.trim();
        if code.len() == 2 && code.bytes().all(|byte| byte.is_ascii_alphabetic()) {
            Some(code.to_ascii_uppercase())
        } else {
            self.invalid(
                join(path, key),
                "must be an ISO 3166-1 alpha-2 country code",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn strings_numbers_and_countries_are_checked() {
        let object = map(json!({
            "name": "A", "blank": "  ", "number": 3, "weight": 12.5, "zero": 0,
            "country": "us", "bad_country": "USA", "dims": "4.5", "bad_dims": "x", "nothing": null
        }));
        let mut fields = Fields::default();
        assert_eq!(
            fields.string(&object, "to", "name", true).as_deref(),
            Some("A")
        );
        assert_eq!(fields.string(&object, "to", "blank", true), None);
        assert_eq!(fields.string(&object, "to", "number", false), None);
        assert_eq!(fields.string(&object, "to", "nothing", false), None);
        assert_eq!(
            fields.positive_number(&object, "", "weight", true),
            Some(12.5)
        );
        assert_eq!(fields.positive_number(&object, "", "zero", true), None);
        assert_eq!(
            fields.country(&object, "to", "country").as_deref(),
            Some("US")
        );
        assert_eq!(fields.country(&object, "to", "bad_country"), None);
        assert_eq!(fields.decimal_string(&object, "p", "dims"), Some(4.5));
        assert_eq!(fields.decimal_string(&object, "p", "bad_dims"), None);
        let summary: Vec<(&str, bool)> = fields
            .errors
            .iter()
            .map(|error| (error.field.as_str(), error.is_missing()))
            .collect();
        assert_eq!(
            summary,
            [
                ("to.blank", true),
                ("to.number", false),
                ("zero", false),
                ("to.bad_country", false),
                ("p.bad_dims", false),
            ]
        );
    }
}
