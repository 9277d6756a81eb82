//! What identifies a cached token, and how a caller wants the cache used.

/// Identifies a token: authority + client + tenant + sorted scopes + token type (+ thumbprint for
/// certificate-bound tokens), joined into one string; and whether the fleet may share it.
#[derive(Debug, Clone)]
pub struct CacheKey {
    text: String,
    sharing: Sharing,
    /// A user's token (or an agent user's): these are bounded in number in the process.
    per_user: bool,
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
        // Built in one allocation: a cache hit makes a key, and this is most of what a hit costs.
        let scopes_len: usize = scopes.iter().map(|s| s.len() + 1).sum();
        let mut text = String::with_capacity(
            authority.len() + client_id.len() + tenant.len() + scopes_len + token_type.len() + 4,
        );
        push_lowercase(&mut text, authority);
        text.push('|');
        text.push_str(client_id);
        text.push('|');
        push_lowercase(&mut text, tenant);
        text.push('|');
        match scopes {
            [] => {}
            [scope] => push_lowercase(&mut text, scope),
            _ => {
                let mut sorted: Vec<String> =
                    scopes.iter().map(|s| s.to_ascii_lowercase()).collect();
                sorted.sort();
                sorted.dedup();
                for (index, scope) in sorted.iter().enumerate() {
                    if index > 0 {
                        text.push(' ');
                    }
                    text.push_str(scope);
                }
            }
        }
        text.push('|');
        text.push_str(token_type);
        CacheKey {
            text,
            sharing: Sharing::ByKey,
            per_user: false,
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

    /// The key of a token for someone besides the client (an agent's path): `name=value` joins
    /// the key.
    pub fn qualified(self, name: &str, value: &str) -> CacheKey {
        CacheKey {
            text: format!("{}|{name}={value}", self.text),
            ..self
        }
    }

    /// The key of a user's token (a hash of their token, a session, an agent's user): as
    /// [`CacheKey::qualified`], and counted among the user tokens the process keeps.
    pub fn for_user(self, name: &str, value: &str) -> CacheKey {
        CacheKey {
            per_user: true,
            ..self.qualified(name, value)
        }
    }

    pub fn is_per_user(&self) -> bool {
        self.per_user
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

fn push_lowercase(text: &mut String, part: &str) {
    let start = text.len();
    text.push_str(part);
    // Most parts are lower case already: only a part with an upper-case letter is rewritten.
    if part.bytes().any(|b| b.is_ascii_uppercase()) {
        text[start..].make_ascii_lowercase();
    }
}

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

    #[test]
    fn the_text_is_what_the_fleet_hashes_and_stays_as_it_was() {
        let one = CacheKey::new("https://A/", "Cl", "T", &["S/.default".into()], "Bearer");
        assert_eq!(one.as_str(), "https://a/|Cl|t|s/.default|Bearer");
        let scopes = ["b".into(), "A".into(), "a".into()];
        let many = CacheKey::new("x", "c", "", &scopes, "mtls_pop");
        assert_eq!(many.as_str(), "x|c||a b|mtls_pop");
        assert_eq!(
            CacheKey::new("x", "c", "t", &[], "Bearer").as_str(),
            "x|c|t||Bearer"
        );
    }
}
