//! Configuration helpers shared by the functions.

/// Outbound endpoints must be HTTPS; plain HTTP is allowed only on loopback (the local stack).
pub fn is_https_or_loopback(url: &str) -> bool {
    url.starts_with("https://")
        || url.starts_with("http://127.")
        || url.starts_with("http://localhost")
        || url.starts_with("http://[::1]")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_https_or_loopback() {
        use super::is_https_or_loopback as ok;
        assert!(ok("https://sellingpartnerapi-na.amazon.com"));
        assert!(ok("http://127.0.0.1:8477") && ok("http://localhost:1") && ok("http://[::1]:2"));
        assert!(!ok("http://example.com") && !ok("http://10.0.0.1") && !ok("ftp://x"));
    }
}
