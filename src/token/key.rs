//! What identifies a cached token, and how a caller wants the cache used.

/// Identifies a token: authority + client + tenant + sorted scopes + token type (+ thumbprint for
/// certificate-bound tokens), joined into one string; and whether the fleet may share it.
#[derive(Debug, Clone)]
pub struct CacheKey {
    text: String,
    sharing: Sharing,
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &CacheKey) -> bool {
        self.text == other.text
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

/// Whether the fleet-wide cache may hand this token to another process, and how that process
/// checks it is its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sharing {
    /// The key names everything that identifies whom the token is for: an app token names the
    /// authority, client and tenant; a bound token the certificate too. The same key is the same
    /// identity in every process.
    ByKey,
    /// A managed identity: shared under its owner's name (learnt or configured), and a shared
    /// token is used only when one of its `claims` names that owner.
    Owner {
        claims: &'static [&'static str],
        value: String,
    },
    /// Not shared: nothing names whom the token is for (a system-assigned managed identity
    /// before this process has seen a token of its own: every host asks the same address).
    No,
}

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
        let text = format!(
            "{}|{client_id}|{}|{}|{token_type}",
            authority.to_ascii_lowercase(),
            tenant.to_ascii_lowercase(),
            sorted.join(" ")
        );
        CacheKey {
            text,
            sharing: Sharing::ByKey,
        }
    }

    /// The same key, shared (or not) as `sharing` says.
    pub fn with_sharing(self, sharing: Sharing) -> CacheKey {
        CacheKey { sharing, ..self }
    }

    pub fn sharing(&self) -> &Sharing {
        &self.sharing
    }

    /// The key of a token bound to a certificate: the token type and the certificate's SHA-256
    /// thumbprint of its DER (x5t#S256, not its public key: a renewal that keeps the key must not
    /// reuse the old certificate's tokens) are part of it.
    pub fn bound(self, thumbprint_sha256: &str) -> CacheKey {
        CacheKey {
            text: format!("{}|{BOUND_MARK}{thumbprint_sha256}", self.text),
            ..self
        }
    }

    /// The key as one string (what the fleet-wide cache hashes).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn bound_to(&self, thumbprint_sha256: &str) -> bool {
        self.text
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
