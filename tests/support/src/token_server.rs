//! A fake token endpoint that really verifies what it receives — Entra ID v2
//! (`POST /{tenant}/oauth2/v2.0/token`) and a generic OpenID Connect provider (`/oidc/...` with
//! discovery) — plus a resource server accepting only the tokens it issued.
//!
//! Both share one [`TokenIssuer`]: the registered client (id, secret, certificate), what was
//! requested and issued, the verification failures, and programmable answers (canned failures,
//! delays, claims challenges). Everything listens on 127.0.0.1 over HTTPS (see `server.rs`).
//!
//! An mTLS token endpoint ([`TokenServer::start_mtls`], the same paths on a server asking for a
//! client certificate) issues certificate-bound tokens (`cnf.x5t#S256`): Entra's `mtls_pop`
//! (`token_type=mtls_pop`, the registered certificate in the handshake, no assertion allowed),
//! Bearer tokens for a client assertion sent over mTLS, and `tls_client_auth` (RFC 8705 §2.1: the
//! certificate's subject DN registered, nothing else sent). [`bound_resource_handler`] accepts a
//! bound token only on a connection presenting the certificate it is bound to.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

mod form;
#[cfg(test)]
mod grant_tests;
mod grants;
mod identities;
mod jwt;
mod published;

pub use form::{parse_form, percent_decode};
pub use identities::{
    JWT_BEARER_GRANT, Leg, MFA_CLAIMS_JSON, MfaPolicy, RESERVED_SCOPES, Subject,
    TOKEN_EXCHANGE_AUDIENCE, TOKEN_EXCHANGE_SCOPE, USER_CLAIMS_BASE64, USER_CLAIMS_JSON,
    USER_FIC_GRANT, UserToken, describe, identity_resource_handler,
};
pub use jwt::{Alg, FAKE_ISSUER_PREFIX, FAKE_KID, FAKE_RSA_KID, claims_of, issuer_for};
pub use published::{OIDC_KEYS_PATH, entra_discovery_path, entra_keys_path};

use super::pki::TestCa;
use super::request_log::{RequestLog, assert_no_failures, lock};
use super::server::{ClientAuth, Handler, Reply, Seen, TestServer};

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The value MSAL sends in `x-ms-lib-capability`.
pub const LIB_CAPABILITY: &str = "retry-after, h429";
/// The claims a resource demands in its challenge, as JSON ...
pub const CLAIMS_JSON: &str = r#"{"access_token":{"nbf":{"essential":true}}}"#;
/// ... and as the base64 the `WWW-Authenticate` header carries.
pub const CLAIMS_BASE64: &str = "eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZX19fQ==";
pub const DISCOVERY_PATH: &str = "/oidc/.well-known/openid-configuration";
pub const OIDC_TOKEN_PATH: &str = "/oidc/token";
pub const OIDC_MTLS_TOKEN_PATH: &str = "/oidc/mtls/token";

/// Answers returned, in order, to the next token requests instead of processing them (the request
/// is still counted and recorded).
#[derive(Clone, Debug)]
pub enum FakeAnswer {
    /// 401 invalid_client, AADSTS700027 (certificate not registered): triggers a rotation.
    InvalidClientCert,
    /// 429 with `Retry-After`.
    Throttled { retry_after_secs: u64 },
    /// 500 without `Retry-After`.
    ServerError,
    /// Anything else.
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

/// Which wire format a token request used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Entra,
    Oidc,
}

/// A token request as the endpoint saw it.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub path: String,
    pub flavor: Flavor,
    /// The `{tenant}` path segment on Entra.
    pub tenant: Option<String>,
    pub form: Vec<(String, String)>,
    /// The `x-ms-lib-capability` header, when sent.
    pub lib_capability: Option<String>,
    /// The decoded assertion header, when one was sent and could be decoded.
    pub assertion_header: Option<Value>,
    /// The decoded assertion claims, when one was sent and could be decoded.
    pub assertion_claims: Option<Value>,
    /// The status answered (0 while still being processed).
    pub status: u16,
    pub at: Instant,
    /// Which grant (and agent leg) it was, once the form was read.
    pub leg: Option<Leg>,
}

impl TokenRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A token the endpoint issued.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub scope: String,
    /// The `claims` form parameter of the request, verbatim.
    pub claims: Option<String>,
    pub tenant: Option<String>,
    pub path: String,
    pub issued_at: Instant,
    pub expires_in: u64,
    /// The `token_type` answered ("Bearer", "mtls_pop").
    pub token_type: String,
    /// `cnf.x5t#S256` of a certificate-bound token: the base64url SHA-256 of the certificate
    /// presented when it was requested.
    pub bound_to: Option<String>,
    /// Who it is for, from which grant or leg, and its refresh token (user tokens).
    pub subject: Subject,
    pub leg: Leg,
    pub refresh_token: Option<String>,
}

impl IssuedToken {
    pub fn expired(&self) -> bool {
        self.issued_at.elapsed() >= Duration::from_secs(self.expires_in)
    }
}

/// How the resource server treats claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimsPolicy {
    /// Any valid token is accepted.
    Ignore,
    /// A token issued without a `claims` parameter gets a claims challenge.
    Demand,
    /// Every token gets a claims challenge (to count retries).
    AlwaysChallenge,
}

struct State {
    port: Option<u16>,
    mtls_port: Option<u16>,
    /// The subject DN registered for `tls_client_auth` (RFC 7591 `tls_client_auth_subject_dn`).
    tls_client_auth_subject: Option<String>,
    client_id: String,
    client_secret: Option<String>,
    certificate: Option<Vec<u8>>,
    expect_x5c: bool,
    expires_in: u64,
    refresh_in: Option<u64>,
    delay: Option<Duration>,
    answers: VecDeque<FakeAnswer>,
    claims_policy: ClaimsPolicy,
    counts: HashMap<String, usize>,
    /// The token requests and why the verification refused them.
    log: RequestLog<TokenRequest>,
    seen_jti: HashSet<String>,
    issued: Vec<IssuedToken>,
    /// A federated identity credential: decides whether a client assertion is a token this
    /// application trusts (a managed identity's, from the fake identity endpoint).
    federation: Option<Federation>,
    /// Users, agents and agent users (identities.rs).
    identities: identities::Identities,
}

/// Checks a client assertion of a federated credential; the error is the reason it is refused.
pub type Federation = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The registered application and everything the fake endpoint saw and did.
pub struct TokenIssuer {
    state: Mutex<State>,
}

impl TokenIssuer {
    /// An issuer for `client_id` with no credential registered yet; tokens last 3600 s.
    pub fn new(client_id: &str) -> Arc<TokenIssuer> {
        Arc::new(TokenIssuer {
            state: Mutex::new(State {
                port: None,
                mtls_port: None,
                tls_client_auth_subject: None,
                client_id: client_id.to_string(),
                client_secret: None,
                certificate: None,
                expect_x5c: false,
                expires_in: 3600,
                refresh_in: None,
                delay: None,
                answers: VecDeque::new(),
                claims_policy: ClaimsPolicy::Ignore,
                counts: HashMap::new(),
                log: RequestLog::new(),
                seen_jti: HashSet::new(),
                issued: Vec::new(),
                federation: None,
                identities: identities::Identities::new(),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Registers `tls_client_auth` for the client: a certificate with this subject DN (as
    /// x509-parser prints it, e.g. "O=Contoso, CN=app") authenticates it.
    pub fn set_tls_client_auth_subject(&self, subject: Option<&str>) {
        self.state().tls_client_auth_subject = subject.map(str::to_string);
    }

    /// Registers a federated identity credential: client assertions are then checked by
    /// `federation` instead of as JWTs signed by the registered certificate.
    pub fn set_federation(&self, federation: Option<Federation>) {
        self.state().federation = federation;
    }

    pub fn set_client_secret(&self, secret: Option<&str>) {
        self.state().client_secret = secret.map(str::to_string);
    }

    /// The certificate (DER) whose key must sign client assertions. Can change at any time
    /// (rotation on the identity provider's side).
    pub fn set_certificate(&self, der: Option<&[u8]>) {
        self.state().certificate = der.map(<[u8]>::to_vec);
    }

    /// Whether assertions must carry `x5c` (SendX5C) — and must not when false.
    pub fn expect_x5c(&self, expected: bool) {
        self.state().expect_x5c = expected;
    }

    pub fn set_expires_in(&self, seconds: u64) {
        self.state().expires_in = seconds;
    }

    pub fn set_refresh_in(&self, seconds: Option<u64>) {
        self.state().refresh_in = seconds;
    }

    /// A pause before answering each token request.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.state().delay = delay;
    }

    pub fn push_answer(&self, answer: FakeAnswer) {
        self.state().answers.push_back(answer);
    }

    pub fn set_claims_policy(&self, policy: ClaimsPolicy) {
        self.state().claims_policy = policy;
    }

    /// Token requests on every path.
    pub fn token_request_count(&self) -> usize {
        self.state().log.len()
    }

    /// Requests (of any kind, including discovery) on one path.
    pub fn requests_at(&self, path: &str) -> usize {
        self.state().counts.get(path).copied().unwrap_or(0)
    }

    pub fn discovery_requests(&self) -> usize {
        self.requests_at(DISCOVERY_PATH)
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.state().log.requests()
    }

    pub fn issued(&self) -> Vec<IssuedToken> {
        self.state().issued.clone()
    }

    /// Why requests were rejected by the verification (not by canned answers), in order.
    pub fn failures(&self) -> Vec<String> {
        self.state().log.failures()
    }

    /// Panics with the recorded reasons when any request failed verification.
    pub fn assert_no_failures(&self) {
        assert_no_failures("token endpoint verification", &self.failures());
    }

    fn token(&self, token: &str) -> Option<IssuedToken> {
        self.state()
            .issued
            .iter()
            .find(|t| t.token == token)
            .cloned()
    }

    fn base_url(state: &State) -> String {
        format!(
            "https://127.0.0.1:{}",
            state
                .port
                .expect("TokenIssuer used before its server started")
        )
    }

    fn mtls_base_url(state: &State) -> Option<String> {
        state
            .mtls_port
            .map(|port| format!("https://127.0.0.1:{port}"))
    }

    /// The OpenID provider's discovery document, naming the mTLS token endpoint as its alias.
    fn discovery(&self, seen: &Seen) -> Reply {
        if seen.method != "GET" {
            return json_reply(405, &json!({"error": "method not allowed"}));
        }
        let base = TokenIssuer::base_url(&self.state());
        json_reply(
            200,
            &json!({
                "issuer": format!("{base}/oidc"),
                "token_endpoint": format!("{base}{OIDC_TOKEN_PATH}"),
                "authorization_endpoint": format!("{base}/oidc/authorize"),
                "jwks_uri": format!("{base}{OIDC_KEYS_PATH}"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported":
                    ["client_secret_post", "private_key_jwt", "tls_client_auth"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
                "mtls_endpoint_aliases": {"token_endpoint": format!(
                    "{}{OIDC_MTLS_TOKEN_PATH}",
                    TokenIssuer::mtls_base_url(&self.state()).unwrap_or(base.clone())
                )},
            }),
        )
    }

    /// A request on the plain server (`over_mtls` false) or on the mTLS one.
    fn handle(&self, seen: &Seen, over_mtls: bool) -> Reply {
        let path = seen
            .target
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        *self.state().counts.entry(path.clone()).or_insert(0) += 1;
        if path == DISCOVERY_PATH {
            return self.discovery(seen);
        }
        if let Some(reply) = self.published(seen, &path) {
            return reply;
        }
        let (flavor, tenant) = match route(&path) {
            Some(route) => route,
            None => return json_reply(404, &json!({"error": "not_found", "path": path})),
        };
        if seen.method != "POST" {
            return json_reply(405, &json!({"error": "method not allowed"}));
        }
        let index = self.state().log.record(TokenRequest {
            path: path.clone(),
            flavor,
            tenant: tenant.clone(),
            form: Vec::new(),
            lib_capability: seen.header("x-ms-lib-capability").map(str::to_string),
            assertion_header: None,
            assertion_claims: None,
            status: 0,
            at: Instant::now(),
            leg: None,
        });
        let delay = self.state().delay;
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        let mut state = self.state();
        let reply = match state.answers.pop_front() {
            Some(answer) => {
                // Still parse the form, so tests can look at what was sent.
                if let Ok(form) = parse_form(&seen.body) {
                    state.log.at(index).leg = Some(grants::classify(&state, &form));
                    state.log.at(index).form = form;
                }
                canned(answer)
            }
            None => match process(
                &mut state,
                Incoming {
                    index,
                    seen,
                    path: &path,
                    flavor,
                    tenant,
                    over_mtls,
                },
            ) {
                Ok(reply) => reply,
                Err(rejection) => {
                    state.log.fail(format!(
                        "{} {}: {}",
                        rejection.status, rejection.error, rejection.description
                    ));
                    rejection.reply()
                }
            },
        };
        state.log.at(index).status = reply.status;
        reply
    }

    fn resource(&self, seen: &Seen) -> Reply {
        let invalid = |why: &str| Reply {
            status: 401,
            headers: vec![
                (
                    "WWW-Authenticate".into(),
                    r#"Bearer error="invalid_token""#.into(),
                ),
                ("Content-Type".into(), "text/plain".into()),
            ],
            body: why.as_bytes().to_vec(),
        };
        let Some(authorization) = seen.header("authorization") else {
            return invalid("no Authorization header");
        };
        let Some(token) = authorization.strip_prefix("Bearer ") else {
            return invalid("the Authorization header is not a Bearer token");
        };
        let Some(issued) = self.token(token.trim()) else {
            return invalid("unknown token");
        };
        if issued.expired() {
            return invalid("expired token");
        }
        if issued.token_type != "Bearer" {
            return invalid("not a Bearer token");
        }
        // A certificate-bound Bearer token (RFC 8705 §3) only with its certificate.
        if let Some(bound_to) = issued.bound_to.as_deref() {
            let presented = seen.client_cert.as_ref().map(|c| x5t_s256(c.as_ref()));
            if presented.as_deref() != Some(bound_to) {
                return invalid(
                    "the token is bound to a certificate this connection did not present",
                );
            }
        }
        let challenge = match self.state().claims_policy {
            ClaimsPolicy::Ignore => false,
            ClaimsPolicy::Demand => issued.claims.is_none(),
            ClaimsPolicy::AlwaysChallenge => true,
        };
        if challenge {
            return Reply {
                status: 401,
                headers: vec![
                    (
                        "WWW-Authenticate".into(),
                        format!(
                            r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="{CLAIMS_BASE64}""#
                        ),
                    ),
                    ("Content-Type".into(), "text/plain".into()),
                ],
                body: b"claims required".to_vec(),
            };
        }
        Reply::text(200, &issued.scope)
    }

    /// A resource accepting bound tokens sent as `{scheme} <token>`, only on a connection
    /// presenting the certificate the token is bound to.
    fn bound_resource(&self, seen: &Seen, scheme: &str) -> Reply {
        let invalid = |why: &str| {
            let mut reply = Reply::text(401, why);
            reply.headers.push((
                "WWW-Authenticate".into(),
                format!(r#"{scheme} error="invalid_token""#),
            ));
            reply
        };
        let Some(token) = seen
            .header("authorization")
            .and_then(|value| value.strip_prefix(&format!("{scheme} ")))
        else {
            return invalid(&format!("no '{scheme}' Authorization header"));
        };
        let Some(issued) = self.token(token.trim()) else {
            return invalid("unknown token");
        };
        if issued.expired() {
            return invalid("expired token");
        }
        let Some(bound_to) = issued.bound_to.as_deref() else {
            return invalid("the token is not bound to a certificate");
        };
        let presented = seen.client_cert.as_ref().map(|c| x5t_s256(c.as_ref()));
        if presented.as_deref() != Some(bound_to) {
            return invalid("the token is bound to another certificate than this connection's");
        }
        Reply::text(200, &format!("{} {}", issued.token_type, issued.scope))
    }
}

/// `x5t#S256` of a certificate: base64url (no padding) of the SHA-256 of its DER.
pub fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

/// A token server: the HTTPS server and the issuer it answers for.
pub struct TokenServer {
    pub server: TestServer,
    pub issuer: Arc<TokenIssuer>,
}

impl TokenServer {
    /// Starts the endpoint on 127.0.0.1 with a server certificate from `ca` (no client auth).
    pub fn start(ca: &TestCa, issuer: Arc<TokenIssuer>) -> TokenServer {
        let handler_issuer = issuer.clone();
        let server = TestServer::start(
            ca.server(),
            ClientAuth::None,
            Arc::new(move |seen: &Seen| handler_issuer.handle(seen, false)),
        );
        issuer.state().port = Some(server.port);
        TokenServer { server, issuer }
    }

    /// [`TokenServer::start`] presenting a certificate for `names` only, for clients that reach
    /// it under a name through `Http.Resolve` (its `instance()` still names 127.0.0.1).
    pub fn start_for_names(ca: &TestCa, issuer: Arc<TokenIssuer>, names: &[&str]) -> TokenServer {
        let handler_issuer = issuer.clone();
        let server = TestServer::start(
            ca.server_for(names),
            ClientAuth::None,
            Arc::new(move |seen: &Seen| handler_issuer.handle(seen, false)),
        );
        issuer.state().port = Some(server.port);
        TokenServer { server, issuer }
    }

    /// The mTLS token endpoint of an issuer: the same paths on a server that asks for a client
    /// certificate chaining to `ca` (a request without one reaches the endpoint, which refuses a
    /// bound request). Discovery, served by the plain endpoint ([`TokenServer::start`]), then names
    /// it in `mtls_endpoint_aliases`.
    pub fn start_mtls(ca: &TestCa, issuer: Arc<TokenIssuer>) -> TokenServer {
        let handler_issuer = issuer.clone();
        let server = TestServer::start(
            ca.server(),
            ClientAuth::Optional(std::slice::from_ref(&ca.cert_der)),
            Arc::new(move |seen: &Seen| handler_issuer.handle(seen, true)),
        );
        issuer.state().mtls_port = Some(server.port);
        TokenServer { server, issuer }
    }

    /// `Instance` for an Entra-style configuration: `https://127.0.0.1:PORT/`.
    pub fn instance(&self) -> String {
        format!("{}/", self.server.url())
    }

    /// `Authority` of the generic OpenID provider: `https://127.0.0.1:PORT/oidc`.
    pub fn oidc_authority(&self) -> String {
        format!("{}/oidc", self.server.url())
    }

    pub fn entra_token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.server.url())
    }

    /// `issuer` of the generic provider's discovery document: its authority.
    pub fn oidc_issuer(&self) -> String {
        self.oidc_authority()
    }

    pub fn oidc_token_url(&self) -> String {
        format!("{}{OIDC_TOKEN_PATH}", self.server.url())
    }
}

/// A resource server handler: 200 with the token's scope for a live token `issuer` issued,
/// 401 `invalid_token` otherwise, and claims challenges as [`ClaimsPolicy`] says.
pub fn bearer_resource_handler(issuer: Arc<TokenIssuer>) -> Handler {
    Arc::new(move |seen: &Seen| issuer.resource(seen))
}

/// A resource server handler for certificate-bound tokens sent as `{scheme} <token>` (`mtls_pop`
/// or `Bearer`): 200 with "{token_type} {scope}" when the connection presents the certificate the
/// token is bound to, 401 otherwise. Start it with a `ClientAuth` that asks for certificates.
pub fn bound_resource_handler(issuer: Arc<TokenIssuer>, scheme: &'static str) -> Handler {
    Arc::new(move |seen: &Seen| issuer.bound_resource(seen, scheme))
}

/// `/{tenant}/oauth2/v2.0/token` → Entra, `/oidc/token` (and its mTLS alias) → OIDC.
fn route(path: &str) -> Option<(Flavor, Option<String>)> {
    if path == OIDC_TOKEN_PATH || path == OIDC_MTLS_TOKEN_PATH {
        return Some((Flavor::Oidc, None));
    }
    let tenant = path.strip_prefix('/')?.strip_suffix("/oauth2/v2.0/token")?;
    if tenant.is_empty() || tenant.contains('/') {
        return None;
    }
    Some((Flavor::Entra, Some(tenant.to_string())))
}

fn json_reply(status: u16, body: &Value) -> Reply {
    Reply {
        status,
        headers: vec![(
            "Content-Type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: body.to_string().into_bytes(),
    }
}

fn error_body(error: &str, description: &str) -> Value {
    json!({
        "error": error,
        "error_description": description,
        "error_codes": [description
            .strip_prefix("AADSTS")
            .and_then(|rest| rest.split(':').next())
            .and_then(|code| code.parse::<u64>().ok())
            .unwrap_or(0)],
        "timestamp": "2024-01-01 00:00:00Z",
        "trace_id": "00000000-0000-0000-0000-000000000000",
        "correlation_id": "00000000-0000-0000-0000-000000000000",
    })
}

fn canned(answer: FakeAnswer) -> Reply {
    match answer {
        FakeAnswer::InvalidClientCert => json_reply(
            401,
            &error_body(
                "invalid_client",
                "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.]",
            ),
        ),
        FakeAnswer::Throttled { retry_after_secs } => {
            let mut reply = json_reply(
                429,
                &error_body(
                    "temporarily_unavailable",
                    "AADSTS50196: The server terminated an operation because it encountered a client request loop.",
                ),
            );
            reply
                .headers
                .push(("Retry-After".into(), retry_after_secs.to_string()));
            reply
        }
        FakeAnswer::ServerError => json_reply(
            500,
            &error_body(
                "server_error",
                "AADSTS90033: A transient error has occurred. Please try again.",
            ),
        ),
        FakeAnswer::Raw {
            status,
            headers,
            body,
        } => Reply {
            status,
            headers,
            body: body.into_bytes(),
        },
    }
}

/// A request the verification refused.
struct Rejection {
    status: u16,
    error: &'static str,
    description: String,
}

impl Rejection {
    fn bad_request(what: impl std::fmt::Display) -> Rejection {
        Rejection {
            status: 400,
            error: "invalid_request",
            description: format!("AADSTS900144: {what}"),
        }
    }

    /// 401 invalid_client; `code` is the AADSTS code a real Entra ID would answer.
    fn client(code: &str, what: impl std::fmt::Display) -> Rejection {
        Rejection {
            status: 401,
            error: "invalid_client",
            description: format!("{code}: {what}"),
        }
    }

    fn reply(&self) -> Reply {
        json_reply(self.status, &error_body(self.error, &self.description))
    }
}

/// A token request being processed: where it is recorded, what arrived and on which server.
struct Incoming<'a> {
    /// Its index in the request log.
    index: usize,
    seen: &'a Seen,
    path: &'a str,
    flavor: Flavor,
    tenant: Option<String>,
    over_mtls: bool,
}

/// Verifies a token request as Entra ID (or the OpenID provider) would, and issues the token.
fn process(state: &mut State, request: Incoming) -> Result<Reply, Rejection> {
    let form = checked_form(state, &request)?;
    let param = |name: &str| form_param(&form, name);
    let base = match request.over_mtls {
        true => TokenIssuer::mtls_base_url(state).expect("the mTLS server is running"),
        false => TokenIssuer::base_url(state),
    };
    let audience = format!("{base}{}", request.path);
    let grant = grants::Grant {
        request: &request,
        form: &form,
        audience: &audience,
    };
    if let Some(reply) = grants::process(state, &grant)? {
        return Ok(reply);
    }
    let pop = match param("token_type") {
        None => false,
        Some("mtls_pop") if request.flavor == Flavor::Entra && request.over_mtls => true,
        Some(other) => {
            return Err(Rejection::bad_request(format!(
                "token_type '{other}' is not supported here (mtls_pop: Entra paths over mTLS only)"
            )));
        }
    };
    authenticate(state, &request, &form, &audience, pop)?;
    Ok(issue(state, request, &form, pop))
}

/// The value of the form parameter `name`.
fn form_param<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The form of a token request, once its content type, its parameters' uniqueness, the grant, the
/// client id and the scope are checked. Recorded in the request log.
fn checked_form(state: &mut State, request: &Incoming) -> Result<Vec<(String, String)>, Rejection> {
    let content_type = request.seen.header("content-type").unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(Rejection::bad_request(format!(
            "Content-Type must be application/x-www-form-urlencoded, was '{content_type}'"
        )));
    }
    let form = parse_form(&request.seen.body).map_err(Rejection::bad_request)?;
    state.log.at(request.index).form = form.clone();
    let mut names = HashSet::new();
    for (name, _) in &form {
        if !names.insert(name.as_str()) {
            return Err(Rejection::bad_request(format!(
                "the parameter '{name}' is repeated"
            )));
        }
    }
    let param = |name: &str| form_param(&form, name);
    match param("grant_type") {
        Some(grant) => grants::check_grant_type(grant, request.flavor)?,
        None => {
            return Err(Rejection::bad_request(
                "The request body must contain the following parameter: 'grant_type'.",
            ));
        }
    }
    match param("client_id") {
        Some(id) if id == state.client_id || state.identities.is_agent(id) => {}
        Some(other) => {
            return Err(Rejection::bad_request(format!(
                "client_id '{other}' is not the registered application '{}'",
                state.client_id
            )));
        }
        None => {
            return Err(Rejection::bad_request(
                "The request body must contain the following parameter: 'client_id'.",
            ));
        }
    }
    match param("scope") {
        Some(scope) if !scope.trim().is_empty() => Ok(form),
        _ => Err(Rejection::bad_request(
            "The request body must contain the following parameter: 'scope'.",
        )),
    }
}

/// How the client proves who it is: the registered certificate in the handshake (`mtls_pop`), a
/// client secret, a client assertion (signed by the registered certificate, or a federated
/// credential's), or the certificate's subject (`tls_client_auth`).
fn authenticate(
    state: &mut State,
    request: &Incoming,
    form: &[(String, String)],
    audience: &str,
    pop: bool,
) -> Result<(), Rejection> {
    let param = |name: &str| form_param(form, name);
    let presented = request.seen.client_cert.as_ref();
    if pop {
        // MSAL's MTLS_POP: the registered certificate in the handshake is the proof; an assertion
        // or a secret alongside it is refused.
        if param("client_assertion").is_some() || param("client_secret").is_some() {
            return Err(Rejection::client(
                "AADSTS700026",
                "a client assertion or secret cannot be sent with token_type=mtls_pop",
            ));
        }
        return check_registered_certificate(state, presented);
    }
    match (param("client_secret"), param("client_assertion")) {
        (Some(_), Some(_)) => Err(Rejection::bad_request(
            "both client_secret and client_assertion were sent",
        )),
        (Some(secret), None) => {
            if state.client_secret.as_deref() != Some(secret) {
                return Err(Rejection::client(
                    "AADSTS7000215",
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
                ));
            }
            Ok(())
        }
        (None, Some(assertion)) => {
            if param("client_assertion_type") != Some(CLIENT_ASSERTION_TYPE) {
                return Err(Rejection::client(
                    "AADSTS700023",
                    format!(
                        "client_assertion_type must be '{CLIENT_ASSERTION_TYPE}', was {:?}",
                        param("client_assertion_type")
                    ),
                ));
            }
            match state.federation.clone() {
                Some(federation) => federation(assertion).map_err(|why| {
                    Rejection::client(
                        "AADSTS70021",
                        format!("No matching federated identity record found: {why}"),
                    )
                }),
                None => verify_assertion(state, request, assertion, audience),
            }
        }
        (None, None) if request.over_mtls && state.tls_client_auth_subject.is_some() => {
            check_tls_client_auth(state, presented)
        }
        (None, None) => Err(Rejection::client(
            "AADSTS7000218",
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
    }
}

/// tls_client_auth: the certificate's subject DN is the registered one.
fn check_tls_client_auth(
    state: &State,
    presented: Option<&CertificateDer<'static>>,
) -> Result<(), Rejection> {
    let subject = presented
        .and_then(|c| X509Certificate::from_der(c.as_ref()).ok())
        .map(|(_, c)| c.subject().to_string());
    if subject.as_deref() != state.tls_client_auth_subject.as_deref() {
        return Err(Rejection::client(
            "AADSTS700027",
            format!(
                "tls_client_auth: the presented certificate's subject {subject:?} is not \
                 the registered {:?}",
                state.tls_client_auth_subject
            ),
        ));
    }
    Ok(())
}

/// Issues the token `tok-N` (bound to the presented certificate over mTLS) and answers it.
fn issue(state: &mut State, request: Incoming, form: &[(String, String)], pop: bool) -> Reply {
    let param = |name: &str| form_param(form, name);
    let scope = param("scope").unwrap_or_default().to_string();
    let number = state.issued.len() + 1;
    // Over mTLS with a certificate, the token is bound to it (RFC 8705 §3): it names the
    // certificate's thumbprint in `cnf`, as a JWT access token would.
    let bound_to = (request.seen.client_cert.as_ref())
        .filter(|_| request.over_mtls)
        .map(|c| x5t_s256(c.as_ref()));
    let token = match &bound_to {
        Some(thumbprint) => format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#),
            URL_SAFE_NO_PAD.encode(
                json!({"jti": format!("tok-{number}"), "scp": scope, "cnf": {"x5t#S256": thumbprint}})
                    .to_string()
            )
        ),
        None => format!("tok-{number}"),
    };
    let token_type = if pop { "mtls_pop" } else { "Bearer" };
    state.issued.push(IssuedToken {
        token: token.clone(),
        scope,
        claims: param("claims").map(str::to_string),
        tenant: request.tenant,
        path: request.path.to_string(),
        issued_at: Instant::now(),
        expires_in: state.expires_in,
        token_type: token_type.to_string(),
        bound_to,
        subject: Subject::App {
            client_id: state.client_id.clone(),
        },
        leg: Leg::AppToken,
        refresh_token: None,
    });
    let mut body = json!({
        "token_type": token_type,
        "access_token": token,
        "expires_in": state.expires_in,
        "ext_expires_in": state.expires_in,
    });
    if let Some(refresh_in) = state.refresh_in {
        body["refresh_in"] = json!(refresh_in);
    }
    json_reply(200, &body)
}

/// The registered certificate must be the one in the handshake.
fn check_registered_certificate(
    state: &State,
    presented: Option<&CertificateDer<'static>>,
) -> Result<(), Rejection> {
    match (presented, state.certificate.as_deref()) {
        (None, _) => Err(Rejection::client(
            "AADSTS700027",
            "no client certificate was presented in the TLS handshake",
        )),
        (Some(presented), Some(registered)) if presented.as_ref() == registered => Ok(()),
        (Some(_), _) => Err(Rejection::client(
            "AADSTS700027",
            "the certificate presented in the TLS handshake is not registered on the application",
        )),
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Checks a client assertion JWT: header, thumbprints, x5c, signature with the registered
/// certificate's key, and the claims. The decoded header and claims are recorded.
fn verify_assertion(
    state: &mut State,
    request: &Incoming,
    jwt: &str,
    audience: &str,
) -> Result<(), Rejection> {
    let jwt = Jwt::decode(jwt)?;
    let recorded = state.log.at(request.index);
    recorded.assertion_header = Some(jwt.header.clone());
    recorded.assertion_claims = Some(jwt.claims.clone());
    let der = check_assertion_header(state, &jwt.header, request.flavor)?;
    check_signature(&der, &jwt, request.flavor)?;
    check_assertion_claims(state, &jwt.claims, audience)
}

/// 401 AADSTS50027: the assertion is not what Entra ID accepts.
fn malformed(what: String) -> Rejection {
    Rejection::client("AADSTS50027", format!("Invalid JWT: {what}"))
}

/// A compact JWT, decoded.
struct Jwt<'a> {
    header: Value,
    claims: Value,
    signature: Vec<u8>,
    /// `header.payload` as sent: what the signature covers.
    signing_input: &'a str,
}

impl Jwt<'_> {
    fn decode(jwt: &str) -> Result<Jwt<'_>, Rejection> {
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err(malformed(format!(
                "the assertion has {} dot-separated parts, not 3",
                parts.len()
            )));
        }
        let decode = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|e| malformed(format!("the {what} is not base64url without padding: {e}")))
        };
        let json_of = |bytes: Vec<u8>, what: &str| {
            serde_json::from_slice::<Value>(&bytes)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| malformed(format!("the {what} is not a JSON object")))
        };
        Ok(Jwt {
            header: json_of(decode(parts[0], "header")?, "header")?,
            claims: json_of(decode(parts[1], "payload")?, "payload")?,
            signature: decode(parts[2], "signature")?,
            signing_input: &jwt[..parts[0].len() + 1 + parts[1].len()],
        })
    }
}

/// The header: `typ`, no `kid`, the thumbprints of the registered certificate (`x5t#S256` on
/// Entra, `x5t` on the OpenID provider), `x5c` exactly when SendX5C is on. Returns the registered
/// certificate.
fn check_assertion_header(
    state: &State,
    header: &Value,
    flavor: Flavor,
) -> Result<Vec<u8>, Rejection> {
    if header.get("typ").and_then(Value::as_str) != Some("JWT") {
        return Err(malformed(format!(
            "header typ must be \"JWT\", was {:?}",
            header.get("typ")
        )));
    }
    if header.get("kid").is_some() {
        return Err(malformed(format!(
            "header has a kid ({}) although none is configured",
            header["kid"]
        )));
    }
    let Some(der) = state.certificate.clone() else {
        return Err(Rejection::client(
            "AADSTS700027",
            "no certificate is registered on the application",
        ));
    };
    let sha256 = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &der));
    let sha1 = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &der,
    ));
    let thumbprint = |name: &str, expected: &str, required: bool| -> Result<(), Rejection> {
        match header.get(name) {
            None if required => Err(malformed(format!("header has no {name}"))),
            None => Ok(()),
            Some(Value::String(value)) if value == expected => Ok(()),
            Some(Value::String(value)) => Err(Rejection::client(
                "AADSTS700027",
                format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., header {name} '{value}' is not the registered certificate's '{expected}']"
                ),
            )),
            Some(other) => Err(malformed(format!("header {name} is not a string: {other}"))),
        }
    };
    thumbprint("x5t#S256", &sha256, flavor == Flavor::Entra)?;
    thumbprint("x5t", &sha1, flavor == Flavor::Oidc)?;
    check_x5c(header, state.expect_x5c, &der)?;
    Ok(der)
}

/// `x5c` is there exactly when SendX5C is on, and starts with the registered certificate.
fn check_x5c(header: &Value, expected: bool, der: &[u8]) -> Result<(), Rejection> {
    match (header.get("x5c"), expected) {
        (None, false) => {}
        (None, true) => return Err(malformed("header has no x5c although SendX5C is on".into())),
        (Some(_), false) => {
            return Err(malformed(
                "header has an x5c although SendX5C is off".into(),
            ));
        }
        (Some(x5c), true) => {
            let first = x5c
                .as_array()
                .and_then(|chain| chain.first())
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    malformed(format!(
                        "header x5c must be a JSON array of base64 strings (RFC 7515), was {x5c}"
                    ))
                })?;
            let leaf = STANDARD
                .decode(first)
                .map_err(|e| malformed(format!("header x5c[0] is not standard base64: {e}")))?;
            if leaf != der {
                return Err(malformed(
                    "header x5c[0] is not the registered certificate".into(),
                ));
            }
        }
    }
    Ok(())
}

/// `alg` fits the registered key (PS256 for RSA on Entra, RS256 on the OpenID provider, ES256 for
/// EC) and the signature verifies with it.
fn check_signature(der: &[u8], jwt: &Jwt, flavor: Flavor) -> Result<(), Rejection> {
    let header = &jwt.header;
    let (_, certificate) = X509Certificate::from_der(der)
        .map_err(|e| malformed(format!("the registered certificate does not parse: {e}")))?;
    let spki = certificate.public_key();
    let expected_alg = match spki.parsed() {
        Ok(PublicKey::RSA(_)) if flavor == Flavor::Entra => "PS256",
        Ok(PublicKey::RSA(_)) => "RS256",
        Ok(PublicKey::EC(_)) => "ES256",
        _ => {
            return Err(malformed(
                "the registered certificate has neither an RSA nor an EC key".into(),
            ));
        }
    };
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if alg != expected_alg {
        return Err(malformed(format!(
            "header alg must be {expected_alg} ({flavor:?}, registered key), was {:?}",
            header.get("alg")
        )));
    }
    let algorithm: &dyn ring::signature::VerificationAlgorithm = match alg {
        "PS256" => &ring::signature::RSA_PSS_2048_8192_SHA256,
        "RS256" => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        _ => &ring::signature::ECDSA_P256_SHA256_FIXED,
    };
    ring::signature::UnparsedPublicKey::new(algorithm, &spki.subject_public_key.data)
        .verify(jwt.signing_input.as_bytes(), &jwt.signature)
        .map_err(|_| {
            Rejection::client(
                "AADSTS700027",
                format!(
                    "Client assertion failed signature validation: the {alg} signature does not verify with the registered certificate's public key"
                ),
            )
        })
}

/// The claims: `aud` the URL posted to, `iss` and `sub` the client id, `exp` within 10 minutes,
/// `nbf` not ahead, `iat` a number, `jti` never seen before.
fn check_assertion_claims(
    state: &mut State,
    claims: &Value,
    audience: &str,
) -> Result<(), Rejection> {
    let claim_str = |name: &str| claims.get(name).and_then(Value::as_str);
    if claim_str("aud") != Some(audience) {
        return Err(malformed(format!(
            "claim aud must be \"{audience}\" (the URL posted to), was {:?}",
            claims.get("aud")
        )));
    }
    for name in ["iss", "sub"] {
        if claim_str(name) != Some(state.client_id.as_str()) {
            return Err(malformed(format!(
                "claim {name} must be the client id \"{}\", was {:?}",
                state.client_id,
                claims.get(name)
            )));
        }
    }
    let now = now_secs();
    let number = |name: &str| {
        claims
            .get(name)
            .filter(|v| v.is_number())
            .and_then(Value::as_f64)
            .ok_or_else(|| {
                malformed(format!(
                    "claim {name} must be a number, was {:?}",
                    claims.get(name)
                ))
            })
    };
    let exp = number("exp")?;
    if exp <= now {
        return Err(malformed(format!(
            "claim exp {exp} is not in the future (now {now:.0})"
        )));
    }
    if exp - now > 600.0 {
        return Err(malformed(format!(
            "claim exp {exp} is {:.0} s away, more than 10 minutes",
            exp - now
        )));
    }
    let nbf = number("nbf")?;
    if nbf > now + 60.0 {
        return Err(malformed(format!(
            "claim nbf {nbf} is more than 60 s in the future (now {now:.0})"
        )));
    }
    if claims.get("iat").is_some() {
        number("iat")?;
    }
    let jti = match claim_str("jti") {
        Some(jti) if !jti.is_empty() => jti.to_string(),
        _ => {
            return Err(malformed(format!(
                "claim jti must be a non-empty string, was {:?}",
                claims.get("jti")
            )));
        }
    };
    if !state.seen_jti.insert(jti.clone()) {
        return Err(malformed(format!(
            "claim jti '{jti}' was already used (replayed assertion)"
        )));
    }
    Ok(())
}
