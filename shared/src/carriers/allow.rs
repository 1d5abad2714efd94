//! Allow-lists for outbound carrier requests: every leaf of the JSON body must sit at a path on
//! the adapter's list (`a.b[].c`), or nothing is sent.

use serde_json::Value;

use super::CarrierError;

/// Fails with the first path not on `allowed`.
pub fn check(body: &Value, allowed: &[&str]) -> Result<(), CarrierError> {
    walk(body, String::new(), allowed)
}

fn walk(v: &Value, path: String, allowed: &[&str]) -> Result<(), CarrierError> {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(child, p, allowed)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for child in items {
                walk(child, format!("{path}[]"), allowed)?;
            }
            Ok(())
        }
        _ if path.is_empty() || allowed.contains(&path.as_str()) => Ok(()),
        _ => Err(CarrierError::Disallowed(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_must_be_listed() {
        let allowed = ["a.name", "a.lines[]", "n"];
        assert!(
            check(
                &json!({"a": {"name": "x", "lines": ["1", "2"]}, "n": 1}),
                &allowed
            )
            .is_ok()
        );
        let err = check(&json!({"a": {"email": "x@y"}}), &allowed).unwrap_err();
        assert!(matches!(err, CarrierError::Disallowed(p) if p == "a.email"));
        let err = check(&json!({"items": [{"title": "t"}]}), &allowed).unwrap_err();
        assert!(matches!(err, CarrierError::Disallowed(p) if p == "items[].title"));
    }
}
