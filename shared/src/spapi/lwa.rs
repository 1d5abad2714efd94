//! Login with Amazon: refresh-token grant, access tokens cached per seller until shortly before
//! they expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

use crate::secret::SecretString;

/// Renew this long before `expires_in` runs out, so a token never expires mid-request.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// The app's LWA client, as stored in Secrets Manager: `{"client_id": "...", "client_secret":
/// "..."}`. Sellers' refresh tokens live in secrets of their own (`orderseal seller add`); a
/// `"refresh_tokens": {"<sellerId>": "Atzr|..."}` map here is still read for a seller without one.
#[derive(Debug, Clone, Deserialize)]
pub struct LwaCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
    #[serde(default)]
    pub refresh_tokens: HashMap<String, SecretString>,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub expires_at: Instant,
}

#[cfg(feature = "spapi-http")]
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: SecretString,
    pub expires_in: u64,
}

#[cfg(feature = "spapi-http")]
#[derive(Debug, Deserialize)]
pub(crate) struct TokenError {
    pub error: String,
}

/// Per-seller access-token cache, shared by every message of every invocation in a container.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, AccessToken>>,
}

impl TokenCache {
    pub async fn get(&self, seller_id: &str, now: Instant) -> Option<SecretString> {
        let tokens = self.tokens.lock().await;
        tokens
            .get(seller_id)
            .filter(|t| now + REFRESH_MARGIN < t.expires_at)
            .map(|t| t.token.clone())
    }

    pub async fn put(&self, seller_id: &str, token: AccessToken) {
        self.tokens.lock().await.insert(seller_id.to_owned(), token);
    }

    pub async fn invalidate(&self, seller_id: &str) {
        self.tokens.lock().await.remove(seller_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_is_reused_until_shortly_before_expiry() {
        let cache = TokenCache::default();
        let t0 = Instant::now();
        cache
            .put(
                "S1",
                AccessToken {
                    token: SecretString::new("Atza|one"),
                    expires_at: t0 + Duration::from_secs(3600),
                },
            )
            .await;
        assert!(cache.get("S1", t0).await.is_some());
        assert!(cache.get("S2", t0).await.is_none());
        let late = t0 + Duration::from_secs(3600) - REFRESH_MARGIN;
        assert!(cache.get("S1", late).await.is_none());
    }

    #[test]
    fn credentials_parse_and_redact() {
        let c: LwaCredentials = serde_json::from_str(
            r#"{"client_id":"amzn1.app","client_secret":"shh-CANARY","refresh_tokens":{"S1":"Atzr|CANARY"}}"#,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("CANARY"));
        assert_eq!(c.refresh_tokens["S1"].expose(), "Atzr|CANARY");
    }
}
