//! What identifies a cached token, and how a caller wants the cache used.

/// Identifies a token: authority + client + tenant + sorted scopes + token type (+ thumbprint for
/// certificate-bound tokens), joined into one string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn new(
        authority: &str,
        client_id: &str,
        tenant: &str,
        scopes: &[String],
        token_type: &str,
    ) -> CacheKey {
        let mut sorted: Vec<String> = scopes.iter().map(|s| s.to_ascii_lowercase()).collect();
        sorted.sort();
        sorted.dedup();
        CacheKey(format!(
            "{}|{client_id}|{}|{}|{token_type}",
            authority.to_ascii_lowercase(),
            tenant.to_ascii_lowercase(),
            sorted.join(" ")
        ))
    }

    /// The key of a token bound to a certificate: the token type and the certificate's SHA-256
    /// thumbprint of its DER (x5t#S256, not its public key: a renewal that keeps the key must not
    /// reuse the old certificate's tokens) are part of it.
    pub fn bound(self, thumbprint_sha256: &str) -> CacheKey {
        CacheKey(format!("{}|{BOUND_MARK}{thumbprint_sha256}", self.0))
    }

    /// The key as one string (what the fleet-wide cache hashes).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn bound_to(&self, thumbprint_sha256: &str) -> bool {
        self.0
            .rsplit_once('|')
            .and_then(|(_, last)| last.strip_prefix(BOUND_MARK))
            .is_some_and(|bound| bound == thumbprint_sha256)
    }
}

const BOUND_MARK: &str = "x5t#S256=";

/// What the caller wants from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A fresh cached token if there is one.
    UseCache,
    /// Always fetch (ForceRefresh, claims); the result still replaces the cached token.
    Bypass,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_scope_order_and_case() {
        let a = CacheKey::new("https://A/", "c", "t", &["x".into(), "Y".into()], "Bearer");
        let b = CacheKey::new("https://a/", "c", "t", &["y".into(), "x".into()], "Bearer");
        assert_eq!(a, b);
    }
}
