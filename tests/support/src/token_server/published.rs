//! What the fake publishes for web APIs that validate the tokens they receive: Entra's v2
//! discovery document per tenant (`/{tenant}/v2.0/.well-known/openid-configuration`, its `issuer`
//! the one the fake's tokens carry, with Entra's `{tenantid}` placeholder for `common` and
//! `organizations`), the keys it names (`/{tenant}/discovery/v2.0/keys`), and the generic
//! provider's keys (`/oidc/keys`, named by its discovery document). Each JWK Set holds every key
//! of the issuer: RSA (`n`, `e`) and P-256 (`x`, `y`), each with its `kid`.

use serde_json::json;

use super::jwt::{FAKE_ISSUER_PREFIX, issuer_for};
use super::{TokenIssuer, json_reply};
use crate::server::{Reply, Seen};

/// The generic provider's JWK Set.
pub const OIDC_KEYS_PATH: &str = "/oidc/keys";

/// The path of Entra's v2 discovery document of `tenant`.
pub fn entra_discovery_path(tenant: &str) -> String {
    format!("/{tenant}/v2.0/.well-known/openid-configuration")
}

/// The path of Entra's JWK Set, as its discovery document of `tenant` names it.
pub fn entra_keys_path(tenant: &str) -> String {
    format!("/{tenant}/discovery/v2.0/keys")
}

/// The one path segment before `suffix`: the tenant of an Entra path.
fn tenant_of<'p>(path: &'p str, suffix: &str) -> Option<&'p str> {
    let tenant = path.strip_prefix('/')?.strip_suffix(suffix)?;
    (!tenant.is_empty() && !tenant.contains('/')).then_some(tenant)
}

impl TokenIssuer {
    /// The answer when `path` is a published document (a GET of it), else `None`.
    pub(super) fn published(&self, seen: &Seen, path: &str) -> Option<Reply> {
        let keys = path == OIDC_KEYS_PATH || tenant_of(path, "/discovery/v2.0/keys").is_some();
        let discovery = tenant_of(path, "/v2.0/.well-known/openid-configuration");
        if !keys && discovery.is_none() {
            return None;
        }
        if seen.method != "GET" {
            return Some(json_reply(405, &json!({"error": "method not allowed"})));
        }
        if keys {
            return Some(json_reply(200, &self.state().identities.key.jwks()));
        }
        let tenant = discovery?;
        // The server asked: the plain or the mTLS one, both serve the same paths.
        let base = match seen.header("host") {
            Some(host) => format!("https://{host}"),
            None => TokenIssuer::base_url(&self.state()),
        };
        let issuer = match tenant.to_ascii_lowercase().as_str() {
            "common" | "organizations" => format!("{FAKE_ISSUER_PREFIX}{{tenantid}}/v2.0"),
            _ => issuer_for(tenant),
        };
        Some(json_reply(
            200,
            &json!({
                "issuer": issuer,
                "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
                "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
                "jwks_uri": format!("{base}{}", entra_keys_path(tenant)),
                "response_types_supported": ["code", "id_token", "code id_token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "tenant_region_scope": "EU",
            }),
        ))
    }
}
