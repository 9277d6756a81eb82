//! Bearer calls against the in-process fake token endpoint (Entra ID v2 and a generic OpenID
//! provider, see `support/token_server.rs`) and a resource server that accepts only the tokens it
//! issued. One test binary, one file per topic:
//!
//! - `assertions`: how the app authenticates (PS256 assertions, `SendX5C`, client secrets, a
//!   signed assertion file);
//! - `cache`: reuse per scope set, single flight, early refresh, `refresh_in`, `ForceRefresh`,
//!   tenants, the debug log;
//! - `claims`: claims challenges from the resource;
//! - `throttling`: 429 with `Retry-After` and 5xx retries;
//! - `rotation`: certificate rotation on the token path (AADSTS700027);
//! - `discovery`: the generic OpenID provider (discovery, RS256 and ES256 assertions);
//! - `protocols`: what is refused (no scopes, plain http) and MTLS beside Bearer on one server;
//! - `observers`: observers calling back into the client;
//! - `fake_endpoint`: the fake itself refuses what Entra ID would refuse.
//!
//! This file holds what they share: the servers, the configuration and the RSA fixture.

mod assertions;
mod cache;
mod claims;
mod discovery;
mod fake_endpoint;
mod observers;
mod protocols;
mod rotation;
mod throttling;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use downstream_api::DownstreamApi;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use test_support::credentials::certificate_file;
use test_support::pki::{Issued, TestCa};
use test_support::server::{ClientAuth, TestServer};
use test_support::token_server::{TokenIssuer, TokenServer, bearer_resource_handler};
use test_support::{TempDir, fixture, json_str};

const CLIENT_ID: &str = "app-client-id";
const TENANT: &str = "contoso-tenant";
const GRAPH_SCOPE: &str = "api://resource/.default";
const OTHER_SCOPE: &str = "api://other/.default";
const SECRET: &str = "s3cret-Value~with+odd&chars=";

/// A test CA, the token endpoint and a resource server (both with server certificates from the
/// CA, neither asking for a client certificate), and a temp dir holding the CA file.
struct Setup {
    ca: TestCa,
    tokens: TokenServer,
    resource: TestServer,
    dir: TempDir,
    ca_path: String,
}

/// Which token endpoint a configuration points at.
#[derive(Clone, Copy)]
enum Idp {
    /// `Instance` + `TenantId`.
    Entra,
    /// `Authority` of the generic OpenID provider.
    Oidc,
}

fn setup() -> Setup {
    let ca = TestCa::new("Test CA");
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_certificate(Some(&rsa_fixture_der()));
    let tokens = TokenServer::start(&ca, issuer.clone());
    let resource = TestServer::start(
        ca.server(),
        ClientAuth::None,
        bearer_resource_handler(issuer),
    );
    let dir = TempDir::new("bearer");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    Setup {
        ca,
        tokens,
        resource,
        dir,
        ca_path,
    }
}

impl Setup {
    fn issuer(&self) -> &TokenIssuer {
        &self.tokens.issuer
    }

    /// A configuration with these `ClientCredentials` and two Bearer APIs on the resource
    /// server: "Graph" (`/me`, GRAPH_SCOPE) and "Other" (`/other`, OTHER_SCOPE).
    fn config(&self, idp: Idp, credential: &str, send_x5c: bool) -> String {
        let authority = match idp {
            Idp::Entra => format!(
                r#""Instance": {}, "TenantId": "{TENANT}""#,
                json_str(&self.tokens.instance())
            ),
            Idp::Oidc => format!(
                r#""Authority": {}"#,
                json_str(&self.tokens.oidc_authority())
            ),
        };
        format!(
            r#"{{"AzureAd": {{{authority}, "ClientId": "{CLIENT_ID}", "SendX5C": {send_x5c},
                             "ClientCredentials": [{credential}]}},
                "DownstreamApis": {{
                    "Graph": {{"BaseUrl": "{resource}", "RelativePath": "me", "Scopes": ["{GRAPH_SCOPE}"]}},
                    "Other": {{"BaseUrl": "{resource}/", "RelativePath": "/other", "Scopes": "{OTHER_SCOPE}"}}}},
                "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 10}}}}"#,
            resource = self.resource.url(),
            ca = json_str(&self.ca_path),
        )
    }

    fn api(&self, idp: Idp, credential: &str) -> DownstreamApi {
        DownstreamApi::from_json(&self.config(idp, credential, false)).unwrap()
    }

    /// The Entra API with the committed RSA fixture as its certificate.
    fn entra_rsa(&self) -> DownstreamApi {
        self.api(Idp::Entra, &rsa_fixture_credential())
    }

    fn write_credential(&self, name: &str, issued: &Issued) -> String {
        certificate_file(&self.dir.write(name, issued.bundle_pem()))
    }
}

/// The `Authorization` header value for the API `name` (from the cache or a new token).
fn authorization(api: &DownstreamApi, name: &str) -> String {
    api.authorization_header(name, None).unwrap()
}

/// The committed RSA fixture (certificate and key) as a credential entry.
fn rsa_fixture_credential() -> String {
    certificate_file(&fixture("rsa-client.pkcs8.pem"))
}

fn rsa_fixture_der() -> Vec<u8> {
    CertificateDer::from_pem_file(fixture("rsa-client.pkcs8.pem"))
        .unwrap()
        .to_vec()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Signs an assertion with the RSA fixture key: PS256, or RS256 when `pkcs1`.
fn sign_rsa(header: &Value, claims: &Value, pkcs1: bool) -> String {
    use rustls::pki_types::PrivateKeyDer;
    let key = PrivateKeyDer::from_pem_file(fixture("rsa-client.pkcs8.pem")).unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(key.secret_der()).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public().modulus_len()];
    let padding: &dyn ring::signature::RsaEncoding = if pkcs1 {
        &ring::signature::RSA_PKCS1_SHA256
    } else {
        &ring::signature::RSA_PSS_SHA256
    };
    key.sign(
        padding,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}
