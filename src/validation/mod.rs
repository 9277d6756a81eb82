//! Validating the access token a web API received (`Authorization: Bearer …`) as Id.Web's
//! `AddMicrosoftIdentityWebApi` does, before the API calls anything on behalf of its caller. The
//! token's signature must verify with the issuer's published key its `kid` names (RS256 or ES256;
//! `alg: none` and every other algorithm refused), then its lifetime, audience, issuer and, when
//! configured, scopes or roles must be what the `AzureAd` section accepts. The issuer and its
//! keys come from the OpenID discovery document of the configured authority.
//!
//! ```text
//! discovery   the discovery document and JWK Set: read, kept, read again on an unknown key id
//! keys        a JWK Set's RS256 and ES256 keys; a signature checked with the one a token names
//! rules       lifetime, audience, required scopes and roles
//! issuer      the issuers accepted: Entra's per tenant (v2 and v1), a generic provider's own
//! jwt         a compact JWS taken apart; the accepted algorithms
//! ```

mod discovery;
mod issuer;
mod jwt;
mod keys;
mod rules;

use serde_json::Value;

use crate::config::IdentityOptions;
use crate::encoding::quote;
use crate::error::Result;
use crate::token::{Authority, Dialect};
use crate::transport::Transport;
use discovery::KeySource;
use issuer::IssuerRule;
use keys::Verdict;
use rules::Rules;

/// Validates incoming tokens for one app registration; shared by all threads of a client.
pub struct TokenValidator {
    /// What the configuration says, or why it cannot validate (reported on each validation, so
    /// that a client that never validates tokens does not need these settings).
    setup: Result<Setup>,
}

struct Setup {
    source: KeySource,
    issuer_rule: IssuerRule,
    rules: Rules,
}

impl TokenValidator {
    pub fn new(identity: &IdentityOptions) -> TokenValidator {
        let setup = Authority::from_options(identity).and_then(|authority| {
            let issuer_rule = match authority.dialect() {
                Dialect::Entra => IssuerRule::Entra,
                Dialect::Generic => IssuerRule::Exact,
            };
            Ok(Setup {
                source: KeySource::new(authority.discovery_url()),
                issuer_rule,
                rules: Rules::from_options(identity)?,
            })
        });
        TokenValidator { setup }
    }

    /// The claims of `token` when it is valid; a [`crate::ErrorKind::TokenInvalid`] error naming
    /// the rule it breaks otherwise (never the token). Reading the issuer's keys may fail with
    /// the transport's errors or `TokenAcquisition`, naming the URL.
    pub fn validate(&self, transport: &Transport, token: &str) -> Result<Value> {
        let setup = self.setup.as_ref().map_err(Clone::clone)?;
        let jws = jwt::parse(token.trim())?;
        let algorithm = jws.algorithm()?;
        let mut published = setup.source.current(transport)?;
        if published.keys.verify(&jws, algorithm)? == Verdict::UnknownKey {
            // The issuer may have rotated its keys since they were read.
            if let Some(newer) = setup.source.refresh(transport, &published)? {
                published = newer;
            }
            if published.keys.verify(&jws, algorithm)? == Verdict::UnknownKey {
                return Err(jwt::invalid(format!(
                    "unknown key id {}: no key of the issuer's has it",
                    quote(jws.key_id().unwrap_or(""))
                )));
            }
        }
        setup.rules.check(&jws.claims, crate::clock::unix_now())?;
        issuer::check(setup.issuer_rule, &published.issuer, &jws.claims)?;
        setup.rules.check_permissions(&jws.claims)?;
        Ok(Value::Object(jws.claims))
    }
}
