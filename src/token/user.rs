//! Tokens on behalf of a user (on-behalf-of, OBO): the user's incoming token is the assertion;
//! the token is kept under a hash of it, so that it is never served for another user's token. A
//! long-running session (`LongRunningWebApiSessionKey`) keeps the user's refresh token and later
//! calls without the user's token renew with it. Entra ID only (docs/design/users-and-agents.md:
//! neither MSAL uses RFC 8693 token exchange).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::key::{CacheKey, Sharing};
use super::plan::{Plan, PlanGrant};
use crate::config::ALLOCATE_FOR_ME;

/// base64url(SHA-256(token)): how MSAL.NET names a user's assertion in its cache, and the key
/// `AllocateForMe` allocates for a session.
pub fn assertion_hash(assertion: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, assertion.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The session key a call names: its own, or for `AllocateForMe` the hash of the user's token.
pub fn session_key(requested: &str, assertion: Option<&str>) -> Option<String> {
    match (requested, assertion) {
        (ALLOCATE_FOR_ME, Some(assertion)) => Some(assertion_hash(assertion)),
        (ALLOCATE_FOR_ME, None) => None,
        (key, _) => Some(key.to_string()),
    }
}

/// An OBO request for the holder of `assertion`, kept under its hash (or, for a session, under
/// the session's key, whose refresh token the answer renews).
pub fn on_behalf_of(
    key: CacheKey,
    assertion: &str,
    session: Option<String>,
    send_x5c: bool,
) -> Plan {
    let key = match &session {
        Some(session) => session_key_of(key, session),
        None => key.for_user("user", &assertion_hash(assertion)),
    };
    let grant = PlanGrant::OnBehalfOf {
        assertion: assertion.to_string(),
    };
    Plan {
        session,
        ..Plan::for_grant(key, grant, send_x5c)
    }
}

/// Where a session's access token is kept: in this process only. Its key is the caller's name
/// for the session, which another process may give to another user's session.
pub fn session_key_of(key: CacheKey, session: &str) -> CacheKey {
    key.for_user("session", &assertion_hash(session))
        .with_sharing(Sharing::No)
}

/// A session's renewal: its refresh token, the access token kept under the session's key.
pub fn renewal(key: CacheKey, session: String, refresh_token: String, send_x5c: bool) -> Plan {
    let key = session_key_of(key, &session);
    Plan {
        session: Some(session),
        ..Plan::for_grant(key, PlanGrant::RefreshToken { refresh_token }, send_x5c)
    }
}
