//! A fake Azure Key Vault on 127.0.0.1 over TLS, presenting a certificate for its real host name
//! (`contoso.vault.azure.net`, made by the test CA), reached through the library's
//! `Http.Resolve`. It answers as the service does:
//! - a request without `Authorization: Bearer` gets `401` with the challenge
//!   (`WWW-Authenticate: Bearer authorization="…/{tenant}", resource="https://vault.azure.net"`);
//! - a token is verified by the [`TokenCheck`] it was given (a token the fake token endpoint
//!   issued for `https://vault.azure.net/.default` in the right tenant, or one the fake
//!   managed-identity endpoint issued for `https://vault.azure.net`); a bad one gets the challenge
//!   again;
//! - `GET /certificates/{name}?api-version=7.5` gives the current version's certificate bundle,
//!   `GET /secrets/{name}/{version}?api-version=7.5` that version's secret (a base64 PFX, or PEM);
//! - refusals on demand: 403 (no access), 503 (down).
//!
//! Every request is recorded with its time, so tests can see how requests spread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

use super::identity_endpoint::IdentityEndpoint;
use super::pki::{Issued, TestCa};
use super::request_log::{RequestLog, assert_no_failures, lock};
use super::server::{ClientAuth, Reply, Seen, TestServer};
use super::token_server::TokenIssuer;

/// The vault's host name, as configured (`https://contoso.vault.azure.net:{port}`).
pub const VAULT_HOST: &str = "contoso.vault.azure.net";
/// The resource Key Vault's challenge names (public cloud).
pub const VAULT_RESOURCE: &str = "https://vault.azure.net";

/// Decides whether a Bearer token may read the vault; the error says why not.
pub type TokenCheck = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// One version of a certificate as the vault keeps it.
#[derive(Clone)]
pub struct StoredVersion {
    pub version: String,
    /// The secret's value (base64 PFX or PEM text) and content type.
    pub secret: String,
    pub content_type: String,
    pub cert_der: Vec<u8>,
    /// Unix seconds.
    pub not_before: i64,
    pub expires: i64,
    pub exportable: bool,
}

impl StoredVersion {
    /// `issued` stored as Key Vault stores a PKCS#12 certificate: a PFX without password, base64.
    pub fn pkcs12(version: &str, issued: &Issued) -> StoredVersion {
        StoredVersion::with_secret(version, issued, pfx_base64(issued), "application/x-pkcs12")
    }

    /// `issued` stored as a PEM certificate (key and certificate in one text).
    pub fn pem(version: &str, issued: &Issued) -> StoredVersion {
        let pem = format!("{}{}", issued.key_pem, issued.cert_pem);
        StoredVersion::with_secret(version, issued, pem, "application/x-pem-file")
    }

    fn with_secret(version: &str, issued: &Issued, secret: String, kind: &str) -> StoredVersion {
        let (_, parsed) =
            x509_parser::parse_x509_certificate(&issued.cert_der).expect("certificate");
        StoredVersion {
            version: version.to_string(),
            secret,
            content_type: kind.to_string(),
            cert_der: issued.cert_der.to_vec(),
            not_before: parsed.validity().not_before.timestamp(),
            expires: parsed.validity().not_after.timestamp(),
            exportable: true,
        }
    }
}

/// A base64 PFX (no password, AES as Key Vault's) of `issued`'s certificate and key.
pub fn pfx_base64(issued: &Issued) -> String {
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).expect("key");
    let key = p12_keystore::PrivateKey::from_der(key.secret_der()).expect("PKCS#8 key");
    let certificate = p12_keystore::Certificate::from_der(&issued.cert_der).expect("certificate");
    let chain = p12_keystore::PrivateKeyChain::new(b"1".as_slice(), key, [certificate]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("1", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    STANDARD.encode(store.writer("").write().expect("write PFX"))
}

/// A request the vault saw.
#[derive(Clone, Debug)]
pub struct VaultRequest {
    pub at: Instant,
    pub path: String,
    /// "certificate", "secret" or "other".
    pub kind: &'static str,
    /// Whether it carried a token the vault accepted.
    pub authorized: bool,
    pub status: u16,
}

struct State {
    versions: HashMap<String, Vec<StoredVersion>>,
    check: TokenCheck,
    /// The challenge's `authorization` and `resource`.
    authorization: String,
    resource: String,
    deny: bool,
    down: bool,
    log: RequestLog<VaultRequest>,
    /// Tokens refused (a wrong tenant's, another resource's).
    refused_tokens: Vec<String>,
}

pub struct FakeKeyVault {
    pub server: TestServer,
    state: Arc<Mutex<State>>,
}

impl FakeKeyVault {
    /// A vault in `tenant` presenting a certificate for [`VAULT_HOST`] from `ca`, accepting the
    /// tokens `check` accepts.
    pub fn start(ca: &TestCa, tenant: &str, check: TokenCheck) -> FakeKeyVault {
        let state = Arc::new(Mutex::new(State {
            versions: HashMap::new(),
            check,
            authorization: format!("https://login.microsoftonline.com/{tenant}"),
            resource: VAULT_RESOURCE.to_string(),
            deny: false,
            down: false,
            log: RequestLog::new(),
            refused_tokens: Vec::new(),
        }));
        let handler = {
            let state = state.clone();
            Arc::new(move |seen: &Seen| answer(&state, seen))
        };
        let server = TestServer::start(ca.server_for(&[VAULT_HOST]), ClientAuth::None, handler);
        FakeKeyVault { server, state }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// `https://contoso.vault.azure.net:{port}`, the `KeyVaultUrl` to configure.
    pub fn url(&self) -> String {
        format!("https://{VAULT_HOST}:{}", self.server.port)
    }

    /// The `Http.Resolve` entry mapping the vault's name to 127.0.0.1.
    pub fn resolve_entry(&self) -> String {
        format!("{VAULT_HOST}:{}:127.0.0.1", self.server.port)
    }

    /// Makes `version` the current version of certificate `name`.
    pub fn add_version(&self, name: &str, version: StoredVersion) {
        self.state()
            .versions
            .entry(name.to_string())
            .or_default()
            .push(version);
    }

    /// The challenge names this resource instead of `https://vault.azure.net`.
    pub fn set_challenge_resource(&self, resource: &str) {
        self.state().resource = resource.to_string();
    }

    /// Every request is refused with 403 (the identity has no access).
    pub fn set_deny(&self, deny: bool) {
        self.state().deny = deny;
    }

    /// Every request is answered 503 (the vault is down).
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    pub fn requests(&self) -> Vec<VaultRequest> {
        self.state().log.requests()
    }

    /// How many authorized requests of `kind` ("certificate", "secret") were answered 200.
    pub fn served(&self, kind: &str) -> usize {
        let requests = self.requests();
        requests
            .iter()
            .filter(|r| r.kind == kind && r.authorized && r.status == 200)
            .count()
    }

    pub fn refused_tokens(&self) -> Vec<String> {
        self.state().refused_tokens.clone()
    }

    pub fn assert_no_failures(&self) {
        assert_no_failures("key vault", &self.state().log.failures());
    }

    /// Accepts the tokens `issuer` issued for `https://vault.azure.net/.default` in `tenant`.
    pub fn tokens_of(issuer: Arc<TokenIssuer>, tenant: &str) -> TokenCheck {
        let tenant = tenant.to_string();
        Arc::new(move |token: &str| {
            let issued = issuer
                .issued()
                .into_iter()
                .find(|t| t.token == token)
                .ok_or("not a token of the token endpoint")?;
            if issued.scope != format!("{VAULT_RESOURCE}/.default") {
                return Err(format!("a token for '{}', not the vault", issued.scope));
            }
            if issued.tenant.as_deref() != Some(tenant.as_str()) {
                return Err(format!(
                    "a token of tenant {:?}, not {tenant}",
                    issued.tenant
                ));
            }
            if issued.expired() {
                return Err("an expired token".to_string());
            }
            Ok(())
        })
    }

    /// Accepts the tokens `endpoint` issued for `https://vault.azure.net`.
    pub fn tokens_of_managed_identity(endpoint: Arc<IdentityEndpoint>) -> TokenCheck {
        Arc::new(move |token: &str| endpoint.check_token(token, VAULT_RESOURCE).map(drop))
    }
}

fn json_reply(status: u16, body: serde_json::Value) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn error_reply(status: u16, code: &str, message: &str) -> Reply {
    json_reply(status, json!({"error": {"code": code, "message": message}}))
}

fn challenge(state: &State) -> Reply {
    let mut reply = error_reply(
        401,
        "Unauthorized",
        "AKV10000: Request is missing a Bearer token.",
    );
    reply.headers.push((
        "WWW-Authenticate".into(),
        format!(
            "Bearer authorization=\"{}\", resource=\"{}\"",
            state.authorization, state.resource
        ),
    ));
    reply
}

fn answer(state: &Arc<Mutex<State>>, seen: &Seen) -> Reply {
    let mut state = lock(state);
    let (path, query) = seen.target.split_once('?').unwrap_or((&seen.target, ""));
    let path = path.to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let kind = match segments.first() {
        Some(&"certificates") => "certificate",
        Some(&"secrets") => "secret",
        _ => "other",
    };
    let token = seen
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let verdict = token.map(|t| (state.check)(t));
    if let Some(Err(why)) = &verdict {
        state.refused_tokens.push(why.clone());
    }
    let authorized = matches!(verdict, Some(Ok(())));
    let reply = if seen.method != "GET" || !query.split('&').any(|p| p == "api-version=7.5") {
        state.log.fail(format!(
            "{} {}: not a GET with api-version=7.5",
            seen.method, seen.target
        ));
        error_reply(400, "BadParameter", "api-version")
    } else if state.down {
        error_reply(503, "ServiceUnavailable", "The service is unavailable.")
    } else if !authorized {
        challenge(&state)
    } else if state.deny {
        error_reply(
            403,
            "Forbidden",
            "The user, group or application does not have certificates get permission.",
        )
    } else {
        serve(&mut state, &segments)
    };
    let status = reply.status;
    state.log.record(VaultRequest {
        at: Instant::now(),
        path,
        kind,
        authorized,
        status,
    });
    reply
}

fn serve(state: &mut State, segments: &[&str]) -> Reply {
    let host = format!("https://{VAULT_HOST}");
    match segments {
        ["certificates", name] => match state.versions.get(*name).and_then(|v| v.last()) {
            Some(current) => json_reply(200, certificate_bundle(&host, name, current)),
            None => error_reply(
                404,
                "CertificateNotFound",
                "A certificate with (name/id) was not found in this key vault.",
            ),
        },
        ["secrets", name, version] => {
            let found = state
                .versions
                .get(*name)
                .and_then(|all| all.iter().find(|v| v.version == *version));
            match found {
                Some(stored) if stored.exportable => json_reply(
                    200,
                    json!({
                        "value": stored.secret,
                        "contentType": stored.content_type,
                        "id": format!("{host}/secrets/{name}/{version}"),
                        "managed": true,
                        "kid": format!("{host}/keys/{name}/{version}"),
                        "attributes": {"enabled": true, "nbf": stored.not_before, "exp": stored.expires},
                    }),
                ),
                _ => error_reply(
                    404,
                    "SecretNotFound",
                    "A secret with (name/id) was not found in this key vault.",
                ),
            }
        }
        _ => {
            state
                .log
                .fail(format!("unexpected path /{}", segments.join("/")));
            error_reply(404, "NotFound", "no such path")
        }
    }
}

fn certificate_bundle(host: &str, name: &str, stored: &StoredVersion) -> serde_json::Value {
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &stored.cert_der);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({
        "id": format!("{host}/certificates/{name}/{}", stored.version),
        "kid": format!("{host}/keys/{name}/{}", stored.version),
        "sid": format!("{host}/secrets/{name}/{}", stored.version),
        "x5t": URL_SAFE_NO_PAD.encode(sha1.as_ref()),
        "cer": STANDARD.encode(&stored.cert_der),
        "attributes": {
            "enabled": true, "nbf": stored.not_before, "exp": stored.expires,
            "created": now, "updated": now, "recoveryLevel": "Recoverable+Purgeable"
        },
        "policy": {
            "id": format!("{host}/certificates/{name}/policy"),
            "key_props": {"exportable": stored.exportable, "kty": "EC", "reuse_key": false},
            "secret_props": {"contentType": stored.content_type},
        }
    })
}
