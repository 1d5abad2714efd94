//! Types that hold buyer PII.
//!
//! A [`PiiString`] can be deserialized (from an Orders API response) but never serialized,
//! and its `Debug`/`Display` print `[redacted]`. The only way to read it is [`PiiString::expose`],
//! which the sealing path and the purpose-checked access path call; grep for `expose(` to audit.
//! The buffer is zeroized on drop.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroize;

/// The text shown wherever a PII value would otherwise be formatted.
pub const REDACTED: &str = "[redacted]";

/// A string that is PII. Redacts in `Debug`/`Display`, is not `Serialize`, zeroized on drop.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PiiString(String);

impl PiiString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plaintext value. Only the sealing path and purpose-checked readers call this.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for PiiString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for PiiString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for PiiString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for PiiString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(PiiString)
    }
}

impl From<&str> for PiiString {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let canary = PiiString::new("CANARY-Jane-Roe-77");
        assert_eq!(format!("{canary:?}"), REDACTED);
        assert_eq!(format!("{canary}"), REDACTED);
        assert_eq!(
            format!("{:#?}", Some(canary.clone())),
            format!("Some(\n    {REDACTED},\n)")
        );
        assert_eq!(canary.expose(), "CANARY-Jane-Roe-77");
    }

    #[test]
    fn deserializes_from_a_json_string() {
        let v: PiiString = serde_json::from_str("\"1 Canary Way\"").unwrap();
        assert_eq!(v.expose(), "1 Canary Way");
        assert!(serde_json::from_str::<PiiString>("42").is_err());
    }
}
