//! Validating the access token a web API received, as Id.Web's `AddMicrosoftIdentityWebApi` does,
//! against the fake issuer (`support/token_server`): its Entra discovery documents and JWK Set
//! (an RSA key for RS256, P-256 keys for ES256) and its generic provider's. Every refusal is
//! `TokenInvalid` and its message never holds the token nor any of its parts.
//!
//! - `signatures`: good tokens (RS256 on Entra, ES256 on a generic provider), `alg: none`,
//!   tampered payloads and signatures, other keys, malformed input;
//! - `claims`: lifetime and clock skew, each accepted audience form, required scopes and roles;
//! - `issuers`: the tenant's v2 and v1 issuers, other tenants, a multi-tenant app;
//! - `keys`: discovery read once for all threads, an unknown `kid` refreshing at most once a
//!   minute, a rotated key picked up, an issuer that cannot be read.

mod claims;
mod issuers;
mod keys;
mod signatures;

use downstream_api::{DownstreamApi, ErrorKind};
use serde_json::Value;
use test_support::pki::TestCa;
use test_support::token_server::{Alg, FAKE_RSA_KID, TokenIssuer, TokenServer, UserToken};
use test_support::{TempDir, json_str};

const CLIENT_ID: &str = "validating-api";
const TENANT: &str = "contoso-tenant";

struct Setup {
    tokens: TokenServer,
    _dir: TempDir,
    ca_path: String,
}

fn setup() -> Setup {
    let ca = TestCa::new("Validation CA");
    let tokens = TokenServer::start(&ca, TokenIssuer::new(CLIENT_ID));
    let dir = TempDir::new("validation");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    Setup {
        tokens,
        _dir: dir,
        ca_path,
    }
}

impl Setup {
    fn issuer(&self) -> &TokenIssuer {
        &self.tokens.issuer
    }

    /// A web API registered in `TENANT` on the fake Entra instance; `extra` adds members to its
    /// `AzureAd` section (`, "Audience": "..."`).
    fn client_with(&self, tenant: &str, extra: &str) -> DownstreamApi {
        self.client_from(&format!(
            r#""Instance": {instance}, "TenantId": "{tenant}", "ClientId": "{CLIENT_ID}"{extra}"#,
            instance = json_str(&self.tokens.instance()),
        ))
    }

    fn client(&self) -> DownstreamApi {
        self.client_with(TENANT, "")
    }

    /// A client whose `AzureAd` section is `azure_ad` (its members).
    fn client_from(&self, azure_ad: &str) -> DownstreamApi {
        DownstreamApi::from_json(&format!(
            r#"{{"AzureAd": {{{azure_ad}}}, "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 20}}}}"#,
            ca = json_str(&self.ca_path)
        ))
        .expect("client")
    }

    /// The claims of alice's token for the web API, as the fake's Entra signs them.
    fn claims(&self) -> Value {
        self.issuer().user_token_claims(&UserToken::new(
            "alice-oid",
            "alice@contoso.example",
            TENANT,
        ))
    }

    /// `claims` signed RS256 by the fake Entra.
    fn sign(&self, claims: &Value) -> String {
        self.issuer()
            .sign_token(claims, Alg::Rs256, Some(FAKE_RSA_KID))
    }

    /// Alice's claims with `changes` applied (`null` removes a claim), signed.
    fn token_with(&self, changes: Value) -> String {
        let mut claims = self.claims();
        for (name, value) in changes.as_object().expect("an object of changes") {
            match value {
                Value::Null => claims.as_object_mut().unwrap().remove(name),
                value => claims
                    .as_object_mut()
                    .unwrap()
                    .insert(name.clone(), value.clone()),
            };
        }
        self.sign(&claims)
    }
}

/// Seconds since the Unix epoch.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The message of `client`'s refusal of `token`: `TokenInvalid`, naming no part of the token.
fn refusal(client: &DownstreamApi, token: &str) -> String {
    let error = client
        .validate_token(token)
        .expect_err("the token must be refused");
    let message = error.message().to_string();
    assert_eq!(error.kind(), ErrorKind::TokenInvalid, "{message}");
    assert_no_token_text(&message, token);
    message
}

/// Neither the token nor any of its dot-separated parts is in `message` (those of a few
/// characters could be any word).
fn assert_no_token_text(message: &str, token: &str) {
    let token = token.trim();
    assert!(
        token.len() < 8 || !message.contains(token),
        "the token is in: {message}"
    );
    for part in token.split('.').filter(|part| part.len() >= 8) {
        assert!(
            !message.contains(part),
            "a part of the token is in: {message}"
        );
    }
}
