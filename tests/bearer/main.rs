//! Bearer calls against the in-process fake token endpoint (Entra ID v2 and a generic OpenID
//! provider, see `support/token_server.rs`) and a resource server that accepts only the tokens it
//! issued: assertions and secrets, caching, single flight, early refresh, claims challenges,
//! throttling, 5xx retries and certificate rotation on the token path.

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use downstream_api::{CredentialEvent, EventKind};
use downstream_api::{DownstreamApi, ErrorKind};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use test_support::pki::{Issued, TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::token_server::{
    CLAIMS_JSON, CLIENT_ASSERTION_TYPE, ClaimsPolicy, FakeAnswer, Flavor, LIB_CAPABILITY,
    TokenIssuer, TokenServer, bearer_resource_handler,
};
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
        self.api(
            Idp::Entra,
            &path_credential(&fixture("rsa-client.pkcs8.pem")),
        )
    }

    fn write_credential(&self, name: &str, issued: &Issued) -> String {
        path_credential(&self.dir.write(name, issued.bundle_pem()))
    }
}

fn path_credential(path: &str) -> String {
    format!(
        r#"{{"SourceType": "Path", "CertificateDiskPath": {}}}"#,
        json_str(path)
    )
}

fn secret_credential(secret: &str) -> String {
    format!(
        r#"{{"SourceType": "ClientSecret", "ClientSecret": {}}}"#,
        json_str(secret)
    )
}

fn rsa_fixture_der() -> Vec<u8> {
    CertificateDer::from_pem_file(fixture("rsa-client.pkcs8.pem"))
        .unwrap()
        .to_vec()
}

fn rsa_fixture_key_pem() -> String {
    let text = std::fs::read_to_string(fixture("rsa-client.pkcs8.pem")).unwrap();
    let start = text
        .find("-----BEGIN PRIVATE KEY-----")
        .expect("PKCS#8 key in fixture");
    text[start..].to_string()
}

/// A new certificate for the RSA fixture's key (what a renewal with the same key gives):
/// another DER, so another thumbprint, subject `CN=rotated-client, O=Contoso`.
fn renewed_rsa_certificate() -> Issued {
    use rcgen::{CertificateParams, DnType, KeyPair};
    let key_pem = rsa_fixture_key_pem();
    let key = KeyPair::from_pem(&key_pem).expect("rcgen reads the RSA fixture key");
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Contoso");
    params
        .distinguished_name
        .push(DnType::CommonName, "rotated-client");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    let cert = params.self_signed(&key).unwrap();
    Issued {
        cert_pem: cert.pem(),
        key_pem,
        cert_der: cert.der().clone(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

type Events = Arc<Mutex<Vec<(EventKind, String, String)>>>;

/// Records (kind, subject, protocol) of every credential event.
fn record_events(api: &DownstreamApi) -> Events {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        sink.lock().unwrap().push((
            event.kind,
            event.subject.to_string(),
            event.protocol.to_string(),
        ));
    }));
    events
}

/// The Selected / Deselected events, as (kind, subject).
fn selections(events: &Events) -> Vec<(EventKind, String)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 != EventKind::SuccessfullyUsed)
        .map(|e| (e.0, e.1.clone()))
        .collect()
}

fn json_param(value: Option<&str>) -> Value {
    serde_json::from_str(value.expect("parameter present")).expect("parameter is JSON")
}

#[test]
fn a_bearer_call_sends_the_token_from_a_verified_ps256_assertion() {
    let setup = setup();
    let api = setup.entra_rsa();
    let response = api.call("Graph", None, b"").unwrap();
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.body, GRAPH_SCOPE.as_bytes());

    let seen = setup.resource.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/me");
    assert_eq!(seen[0].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(seen[0].header("accept"), Some("application/json"));
    assert!(seen[0].client_cert.is_none());

    setup.issuer().assert_no_failures();
    let requests = setup.issuer().token_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(request.flavor, Flavor::Entra);
    assert_eq!(request.status, 200);
    assert_eq!(request.param("grant_type"), Some("client_credentials"));
    assert_eq!(request.param("client_id"), Some(CLIENT_ID));
    assert_eq!(
        request.param("scope"),
        Some(GRAPH_SCOPE),
        "nothing added to the scopes"
    );
    assert_eq!(
        request.param("client_assertion_type"),
        Some(CLIENT_ASSERTION_TYPE)
    );
    assert_eq!(request.param("client_secret"), None);
    assert_eq!(request.param("claims"), None);
    assert_eq!(request.lib_capability.as_deref(), Some(LIB_CAPABILITY));
    let header = request.assertion_header.as_ref().unwrap();
    assert_eq!(header["alg"], "PS256");
    assert_eq!(header["typ"], "JWT");
    let sha256 = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        &rsa_fixture_der(),
    ));
    assert_eq!(header["x5t#S256"], sha256.as_str());
    assert!(header.get("x5c").is_none(), "{header}");
    assert!(header.get("kid").is_none(), "{header}");
    let claims = request.assertion_claims.as_ref().unwrap();
    assert_eq!(claims["aud"], setup.tokens.entra_token_url(TENANT).as_str());
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);

    // The token is cached: the header comes from the cache.
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    assert_eq!(setup.issuer().token_request_count(), 1);
}

#[test]
fn send_x5c_puts_the_certificate_in_the_assertion() {
    let setup = setup();
    setup.issuer().expect_x5c(true);
    let credential = path_credential(&fixture("rsa-client.pkcs8.pem"));
    let api = DownstreamApi::from_json(&setup.config(Idp::Entra, &credential, true)).unwrap();
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    setup.issuer().assert_no_failures();
    let header = setup.issuer().token_requests()[0]
        .assertion_header
        .clone()
        .unwrap();
    assert_eq!(
        header["x5c"][0],
        STANDARD.encode(rsa_fixture_der()).as_str()
    );
}

#[test]
fn a_client_secret_authenticates_the_app() {
    let setup = setup();
    setup.issuer().set_client_secret(Some(SECRET));
    let api = setup.api(Idp::Entra, &secret_credential(SECRET));
    let response = api.call("Graph", None, b"").unwrap();
    assert_eq!(response.status, 200);
    setup.issuer().assert_no_failures();
    let request = &setup.issuer().token_requests()[0];
    assert_eq!(
        request.param("client_secret"),
        Some(SECRET),
        "form-encoded and decoded intact"
    );
    assert_eq!(request.param("client_assertion"), None);
    assert_eq!(request.param("client_assertion_type"), None);
    assert_eq!(request.lib_capability.as_deref(), Some(LIB_CAPABILITY));
}

#[test]
fn a_wrong_secret_fails_once_and_is_never_retried() {
    let setup = setup();
    setup.issuer().set_client_secret(Some(SECRET));
    let wrong = "wrong-secret-value-42";
    let api = setup.api(Idp::Entra, &secret_credential(wrong));
    let error = api.call("Graph", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    let message = error.message();
    assert!(message.contains("invalid_client"), "{message}");
    assert!(message.contains("AADSTS7000215"), "{message}");
    assert!(
        message.contains("Invalid client secret provided"),
        "{message}"
    );
    assert!(!message.contains(wrong), "the secret leaked: {message}");
    assert_eq!(setup.issuer().token_request_count(), 1);
    assert!(setup.resource.seen().is_empty());
}

#[test]
fn cached_tokens_are_reused_and_kept_per_scope_set() {
    let setup = setup();
    let api = setup.entra_rsa();
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    assert_eq!(setup.issuer().token_request_count(), 1);

    assert_eq!(
        api.authorization_header("Other", None).unwrap(),
        "Bearer tok-2"
    );
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    assert_eq!(
        api.authorization_header("Other", None).unwrap(),
        "Bearer tok-2"
    );
    assert_eq!(setup.issuer().token_request_count(), 2);

    // Scopes are a set: the order does not make another cache entry.
    let a = "https://example.test/a";
    let b = "https://example.test/b";
    let first = api.acquire_token(&[a, b], None).unwrap();
    let second = api.acquire_token(&[b, a], None).unwrap();
    assert_eq!(first.token, "tok-3");
    assert_eq!(second.token, "tok-3");
    assert_eq!(setup.issuer().token_request_count(), 3);
    let issued = setup.issuer().issued();
    let mut sent: Vec<&str> = issued[2].scope.split(' ').collect();
    sent.sort_unstable();
    assert_eq!(
        sent,
        [a, b],
        "space-separated scopes: {:?}",
        issued[2].scope
    );

    // A per-call scope override is another token too.
    let header = api
        .authorization_header("Graph", Some(r#"{"Scopes": ["api://third/.default"]}"#))
        .unwrap();
    assert_eq!(header, "Bearer tok-4");
    assert_eq!(setup.issuer().issued()[3].scope, "api://third/.default");
    setup.issuer().assert_no_failures();
}

#[test]
fn concurrent_cold_misses_make_a_single_token_request() {
    let setup = setup();
    setup.issuer().set_delay(Some(Duration::from_millis(200)));
    let api = Arc::new(setup.entra_rsa());
    let barrier = Arc::new(Barrier::new(32));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let api = api.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                api.authorization_header("Graph", None).unwrap()
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), "Bearer tok-1");
    }
    assert_eq!(setup.issuer().token_request_count(), 1);
    setup.issuer().assert_no_failures();
}

#[test]
fn a_token_inside_the_early_expiry_window_is_refreshed() {
    let setup = setup();
    // 300 s left is already within the 5-minute margin: never served from the cache.
    setup.issuer().set_expires_in(300);
    let api = setup.entra_rsa();
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-2"
    );
    assert_eq!(setup.issuer().token_request_count(), 2);
    setup.issuer().assert_no_failures();
}

#[test]
fn refresh_in_is_honoured() {
    let setup = setup();
    setup.issuer().set_expires_in(3600);
    setup.issuer().set_refresh_in(Some(1));
    let api = setup.entra_rsa();
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    assert_eq!(
        setup.issuer().token_request_count(),
        1,
        "before refresh_in: cached"
    );
    std::thread::sleep(Duration::from_millis(1300));
    api.authorization_header("Graph", None).unwrap();
    // A refresh may happen in the background while the still-valid token is returned.
    let deadline = Instant::now() + Duration::from_secs(3);
    while setup.issuer().token_request_count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        setup.issuer().token_request_count(),
        2,
        "after refresh_in: refreshed"
    );
    setup.issuer().assert_no_failures();
}

#[test]
fn force_refresh_bypasses_the_cache() {
    let setup = setup();
    let api = setup.entra_rsa();
    assert_eq!(
        api.acquire_token(&[GRAPH_SCOPE], None).unwrap().token,
        "tok-1"
    );
    let forced = api
        .acquire_token(&[GRAPH_SCOPE], Some(r#"{"ForceRefresh": true}"#))
        .unwrap();
    assert_eq!(forced.token, "tok-2");
    assert_eq!(setup.issuer().token_request_count(), 2);
    // Also through the API's AcquireTokenOptions override.
    let header = api
        .authorization_header(
            "Graph",
            Some(r#"{"AcquireTokenOptions": {"ForceRefresh": true}}"#),
        )
        .unwrap();
    assert_eq!(header, "Bearer tok-3");
    assert_eq!(setup.issuer().token_request_count(), 3);
    setup.issuer().assert_no_failures();
}

#[test]
fn acquire_token_reports_the_expiry_and_honours_the_tenant_option() {
    let setup = setup();
    setup.issuer().set_expires_in(7200);
    let api = setup.entra_rsa();
    let before = unix_now();
    let token = api.acquire_token(&[GRAPH_SCOPE], None).unwrap();
    let after = unix_now();
    assert_eq!(token.token, "tok-1");
    assert!(
        token.expires_on >= before + 7200 - 2 && token.expires_on <= after + 7200 + 2,
        "expires_on {} is not now + 7200 ({before}..{after})",
        token.expires_on
    );

    // Another tenant: another endpoint (and audience), another cache entry.
    let other = api
        .acquire_token(&[GRAPH_SCOPE], Some(r#"{"Tenant": "fabrikam-tenant"}"#))
        .unwrap();
    assert_eq!(other.token, "tok-2");
    let issued = setup.issuer().issued();
    assert_eq!(issued[0].tenant.as_deref(), Some(TENANT));
    assert_eq!(issued[1].tenant.as_deref(), Some("fabrikam-tenant"));
    assert_eq!(issued[1].path, "/fabrikam-tenant/oauth2/v2.0/token");
    setup.issuer().assert_no_failures();
}

#[test]
fn a_claims_challenge_is_answered_with_a_new_token_once() {
    let setup = setup();
    setup.issuer().set_claims_policy(ClaimsPolicy::Demand);
    let api = setup.entra_rsa();
    let response = api
        .call("Graph", Some(r#"{"HttpMethod": "POST"}"#), b"payload")
        .unwrap();
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );

    let seen = setup.resource.seen();
    assert_eq!(seen.len(), 2, "one retry after the challenge");
    assert_eq!(seen[0].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(seen[1].header("authorization"), Some("Bearer tok-2"));
    assert!(seen.iter().all(|s| s.body == b"payload"));

    let issued = setup.issuer().issued();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[0].claims, None);
    assert_eq!(
        json_param(issued[1].claims.as_deref()),
        serde_json::from_str::<Value>(CLAIMS_JSON).unwrap(),
        "the token request carries the challenge's claims, base64-decoded"
    );
    setup.issuer().assert_no_failures();
}

#[test]
fn a_persistent_claims_challenge_is_retried_only_once() {
    let setup = setup();
    setup
        .issuer()
        .set_claims_policy(ClaimsPolicy::AlwaysChallenge);
    let api = setup.entra_rsa();
    let response = api.call("Graph", None, b"").unwrap();
    assert_eq!(response.status, 401);
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(challenge.contains("insufficient_claims"), "{challenge}");
    assert_eq!(setup.resource.seen().len(), 2);
    assert_eq!(setup.issuer().token_request_count(), 2);
    setup.issuer().assert_no_failures();
}

#[test]
fn a_rejected_token_without_a_claims_challenge_is_returned_as_is() {
    let setup = setup();
    let api = setup.entra_rsa();
    // Expired on arrival: the resource answers invalid_token, which is the caller's business.
    setup.issuer().set_expires_in(0);
    let response = api.call("Graph", None, b"").unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(setup.resource.seen().len(), 1);
    setup.issuer().assert_no_failures();
}

#[test]
fn throttling_waits_for_retry_after() {
    let setup = setup();
    setup.issuer().push_answer(FakeAnswer::Throttled {
        retry_after_secs: 1,
    });
    let api = setup.entra_rsa();
    let started = Instant::now();
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "retried after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let requests = setup.issuer().token_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].status, 429);
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(900));
    // A fresh assertion for the retry (the endpoint refuses a replayed jti).
    setup.issuer().assert_no_failures();
}

#[test]
fn a_server_error_is_retried_once_quickly() {
    let setup = setup();
    setup.issuer().push_answer(FakeAnswer::ServerError);
    let api = setup.entra_rsa();
    let started = Instant::now();
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let requests = setup.issuer().token_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].status, 500);
    setup.issuer().assert_no_failures();

    // Persistent 5xx: one retry, then the error.
    for _ in 0..3 {
        setup.issuer().push_answer(FakeAnswer::ServerError);
    }
    let error = api.authorization_header("Other", None).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    assert!(error.message().contains("server_error"), "{error}");
    assert!(error.message().contains("AADSTS90033"), "{error}");
    assert_eq!(setup.issuer().token_request_count(), 4);
}

#[test]
fn a_certificate_rotated_at_the_identity_provider_is_reloaded_and_retried_once() {
    let setup = setup();
    let cert_path = setup.dir.write(
        "client.pem",
        std::fs::read(fixture("rsa-client.pkcs8.pem")).unwrap(),
    );
    let api = setup.api(Idp::Entra, &path_credential(&cert_path));
    let events = record_events(&api);
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );

    // The app registration now holds the renewed certificate, and the file on disk is replaced.
    let renewed = renewed_rsa_certificate();
    setup.issuer().set_certificate(Some(&renewed.cert_der));
    std::fs::write(&cert_path, renewed.bundle_pem()).unwrap();

    let response = api.call("Other", None, b"").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, OTHER_SCOPE.as_bytes());
    let requests = setup.issuer().token_requests();
    assert_eq!(requests.len(), 3, "one request, one rejected, one retried");
    assert_eq!(requests[1].status, 401);
    assert_eq!(requests[2].status, 200);
    let failures = setup.issuer().failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("AADSTS700027"), "{failures:?}");

    let selections = selections(&events);
    let expected = [
        (EventKind::Selected, "CN=rsa-fixture-client"),
        (EventKind::Deselected, "CN=rsa-fixture-client"),
        (EventKind::Selected, "CN=rotated-client"),
    ];
    assert_eq!(selections.len(), expected.len(), "{selections:?}");
    for ((kind, subject), (expected_kind, cn)) in selections.iter().zip(expected) {
        assert_eq!(*kind, expected_kind, "{selections:?}");
        assert!(subject.contains(cn), "{selections:?}");
    }
    let events = events.lock().unwrap();
    assert!(events.iter().all(|e| e.2 == "Bearer"), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e.0 == EventKind::SuccessfullyUsed && e.1.contains("CN=rotated-client")),
        "{events:?}"
    );
}

#[test]
fn an_aadsts700027_answer_costs_one_reload_and_one_retry() {
    let setup = setup();
    setup.issuer().push_answer(FakeAnswer::InvalidClientCert);
    let api = setup.entra_rsa();
    let events = record_events(&api);
    assert_eq!(
        api.authorization_header("Graph", None).unwrap(),
        "Bearer tok-1"
    );
    assert_eq!(setup.issuer().token_request_count(), 2);
    let kinds: Vec<EventKind> = selections(&events).into_iter().map(|e| e.0).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Selected,
            EventKind::Deselected,
            EventKind::Selected
        ]
    );
    setup.issuer().assert_no_failures();
}

#[test]
fn a_certificate_the_identity_provider_never_accepts_costs_exactly_two_requests() {
    let setup = setup();
    let stranger = setup.ca.client("stranger", Validity::CURRENT);
    setup.issuer().set_certificate(Some(&stranger.cert_der));
    let api = setup.entra_rsa();
    let events = record_events(&api);
    let error = api.call("Graph", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    assert!(error.message().contains("invalid_client"), "{error}");
    assert!(error.message().contains("AADSTS700027"), "{error}");
    assert_eq!(setup.issuer().token_request_count(), 2);
    assert!(setup.resource.seen().is_empty());
    let deselected = selections(&events)
        .iter()
        .filter(|e| e.0 == EventKind::Deselected)
        .count();
    assert_eq!(deselected, 1);
}

#[test]
fn a_generic_openid_provider_is_discovered_once_and_gets_rs256_assertions() {
    let setup = setup();
    let api = setup.api(
        Idp::Oidc,
        &path_credential(&fixture("rsa-client.pkcs8.pem")),
    );
    assert_eq!(api.call("Graph", None, b"").unwrap().status, 200);
    assert_eq!(api.call("Other", None, b"").unwrap().status, 200);
    let token = api
        .acquire_token(&["https://example.test/x"], None)
        .unwrap();
    assert_eq!(token.token, "tok-3");
    setup.issuer().assert_no_failures();
    assert_eq!(setup.issuer().discovery_requests(), 1);
    assert_eq!(setup.issuer().requests_at("/oidc/token"), 3);
    assert_eq!(setup.issuer().requests_at("/oidc/mtls/token"), 0);
    let request = &setup.issuer().token_requests()[0];
    assert_eq!(request.flavor, Flavor::Oidc);
    let header = request.assertion_header.as_ref().unwrap();
    assert_eq!(header["alg"], "RS256");
    let sha1 = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &rsa_fixture_der(),
    ));
    assert_eq!(header["x5t"], sha1.as_str());
    assert!(header.get("kid").is_none(), "{header}");
    let claims = request.assertion_claims.as_ref().unwrap();
    assert_eq!(claims["aud"], setup.tokens.oidc_token_url().as_str());
}

#[test]
fn a_generic_openid_provider_gets_es256_assertions_from_an_ec_certificate() {
    let setup = setup();
    let client = setup.ca.client("ec-oidc-client", Validity::CURRENT);
    setup.issuer().set_certificate(Some(&client.cert_der));
    let api = setup.api(Idp::Oidc, &setup.write_credential("ec.pem", &client));
    assert_eq!(api.call("Graph", None, b"").unwrap().status, 200);
    setup.issuer().assert_no_failures();
    let request = &setup.issuer().token_requests()[0];
    assert_eq!(request.assertion_header.as_ref().unwrap()["alg"], "ES256");
}

#[test]
fn a_bearer_api_without_scopes_is_a_configuration_error() {
    let setup = setup();
    let config = setup
        .config(Idp::Entra, &secret_credential(SECRET), false)
        .replace(&format!(r#", "Scopes": ["{GRAPH_SCOPE}"]"#), "");
    assert!(!config.contains(GRAPH_SCOPE), "{config}");
    let error = DownstreamApi::from_json(&config)
        .err()
        .expect("a config error");
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(
        error.message().contains("DownstreamApis.Graph.Scopes"),
        "{error}"
    );
}

#[test]
fn a_token_is_never_sent_over_plain_http() {
    let setup = setup();
    let api = setup.entra_rsa();
    let error = api
        .call("Graph", Some(r#"{"BaseUrl": "http://127.0.0.1:9"}"#), b"")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InsecureUrl, "{error}");
    // Refused before a token is even acquired.
    assert_eq!(setup.issuer().token_request_count(), 0);
}

// ---- The fake endpoint itself: it must refuse what Entra ID would refuse, or the tests above
// ---- prove nothing.

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A plain HTTPS client trusting the test CA, to talk to the fakes without the library.
fn raw_agent(setup: &Setup) -> ureq::Agent {
    let roots = ureq::tls::RootCerts::new_with_certs(&[ureq::tls::Certificate::from_der(
        setup.ca.cert_der.as_ref(),
    )
    .to_owned()]);
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(roots)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn post_form(setup: &Setup, url: &str, body: &str) -> (u16, String) {
    let agent = raw_agent(setup);
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
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

#[test]
fn the_fake_endpoint_verifies_what_it_receives() {
    let setup = setup();
    let url = setup.tokens.entra_token_url(TENANT);
    let sha256 = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        &rsa_fixture_der(),
    ));
    let good_header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": sha256});
    let now = unix_now();
    let jti = std::cell::Cell::new(0);
    let claims = |aud: &str, exp: i64| {
        jti.set(jti.get() + 1);
        json!({"aud": aud, "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": format!("jti-{}", jti.get()),
               "nbf": now, "iat": now, "exp": exp})
    };
    let form = |assertion: &str| {
        form_encode(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("scope", "api://resource/.default"),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
    };

    let good = sign_rsa(&good_header, &claims(&url, now + 600), false);
    let (status, body) = post_form(&setup, &url, &form(&good));
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["access_token"], "tok-1");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    setup.issuer().assert_no_failures();
    assert_eq!(setup.issuer().issued()[0].scope, "api://resource/.default");

    let mut with_kid = good_header.clone();
    with_kid["kid"] = json!("abc");
    let mut with_x5c = good_header.clone();
    with_x5c["x5c"] = json!([STANDARD.encode(rsa_fixture_der())]);
    let mut rs256 = good_header.clone();
    rs256["alg"] = json!("RS256");
    let mut wrong_thumbprint = good_header.clone();
    wrong_thumbprint["x5t#S256"] = json!(URL_SAFE_NO_PAD.encode([0u8; 32]));
    let tampered = {
        let other = sign_rsa(&good_header, &claims(&url, now + 300), false);
        let mut parts: Vec<&str> = good.split('.').collect();
        parts[1] = other.split('.').nth(1).unwrap();
        parts.join(".")
    };
    let mut cases: Vec<(String, String, &str)> = vec![
        (url.clone(), form(&good), "already used"),
        (url.clone(), form(&tampered), "signature"),
        (
            url.clone(),
            form(&sign_rsa(
                &good_header,
                &claims("https://elsewhere/token", now + 600),
                false,
            )),
            "claim aud",
        ),
        (
            url.clone(),
            form(&sign_rsa(&good_header, &claims(&url, now + 3600), false)),
            "more than 10 minutes",
        ),
        (
            url.clone(),
            form(&sign_rsa(&good_header, &claims(&url, now - 10), false)),
            "not in the future",
        ),
        (
            url.clone(),
            form(&sign_rsa(&with_kid, &claims(&url, now + 600), false)),
            "kid",
        ),
        (
            url.clone(),
            form(&sign_rsa(&with_x5c, &claims(&url, now + 600), false)),
            "x5c",
        ),
        (
            url.clone(),
            form(&sign_rsa(&rs256, &claims(&url, now + 600), true)),
            "alg must be PS256",
        ),
        (
            url.clone(),
            form(&sign_rsa(
                &wrong_thumbprint,
                &claims(&url, now + 600),
                false,
            )),
            "AADSTS700027",
        ),
        (
            setup.tokens.oidc_token_url(),
            form(&sign_rsa(
                &good_header,
                &claims(&setup.tokens.oidc_token_url(), now + 600),
                false,
            )),
            "header has no x5t",
        ),
        (
            url.clone(),
            form_encode(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("scope", GRAPH_SCOPE),
                ("client_secret", "guess"),
            ]),
            "AADSTS7000215",
        ),
    ];
    let unauthorized = cases.len();
    cases.extend([
        (
            url.clone(),
            form_encode(&[
                ("grant_type", "password"),
                ("client_id", CLIENT_ID),
                ("scope", "x"),
            ]),
            "grant_type",
        ),
        (
            url.clone(),
            form_encode(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
            ]),
            "'scope'",
        ),
        (
            url.clone(),
            form_encode(&[
                ("grant_type", "client_credentials"),
                ("client_id", "someone-else"),
                ("scope", "x"),
            ]),
            "client_id",
        ),
    ]);
    for (index, (target, body, expected)) in cases.iter().enumerate() {
        let (status, answer) = post_form(&setup, target, body);
        let expected_status = if index < unauthorized { 401 } else { 400 };
        assert_eq!(
            status, expected_status,
            "case {index} ({expected}): {answer}"
        );
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let description = answer["error_description"].as_str().unwrap();
        assert!(
            description.contains(expected),
            "case {index}: {description}"
        );
        let error = if index < unauthorized {
            "invalid_client"
        } else {
            "invalid_request"
        };
        assert_eq!(answer["error"], error, "case {index}");
    }
    assert_eq!(setup.issuer().failures().len(), cases.len());
    assert_eq!(setup.issuer().issued().len(), 1);
    assert!(
        setup
            .issuer()
            .token_requests()
            .iter()
            .all(|r| r.lib_capability.is_none())
    );

    // The resource server: only live tokens the issuer issued.
    let resource = |authorization: Option<&str>| {
        let agent = raw_agent(&setup);
        let mut request = agent.get(format!("{}/me", setup.resource.url()));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let response = request.call().unwrap();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        (response.status().as_u16(), challenge)
    };
    assert_eq!(resource(Some("Bearer tok-1")), (200, None));
    let invalid = Some(r#"Bearer error="invalid_token""#.to_string());
    assert_eq!(resource(Some("Bearer tok-999")), (401, invalid.clone()));
    assert_eq!(resource(None), (401, invalid));
    setup.issuer().set_claims_policy(ClaimsPolicy::Demand);
    let (status, challenge) = resource(Some("Bearer tok-1"));
    assert_eq!(status, 401);
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_claims""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(r#"claims="{}""#, STANDARD.encode(CLAIMS_JSON))),
        "{challenge}"
    );
}

/// Observers run without the library's internal locks: a `Selected` observer fired by an MTLS
/// selection may ask the same client for a token (which selects the credential for tokens).
#[test]
fn an_observer_may_call_back_into_the_same_client() {
    let setup = setup();
    let api = Arc::new(setup.entra_rsa());
    let nested = Arc::new(Mutex::new(Vec::new()));
    let weak = Arc::downgrade(&api);
    let results = nested.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        if event.kind == EventKind::Selected
            && event.protocol == "MTLS"
            && let Some(api) = weak.upgrade()
        {
            let header = api.authorization_header("Graph", None);
            results
                .lock()
                .unwrap()
                .push(header.map(|h| h.starts_with("Bearer ")));
        }
    }));
    let caller = api.clone();
    finishes_without_deadlock(move || {
        // An MTLS call selects the certificate for the handshake; the answer does not matter.
        let _ = caller.call("Graph", Some(r#"{"ProtocolScheme": "MTLS"}"#), b"");
    });
    // The resource answers 401 to a call without a token, which on MTLS means "reload the
    // certificate and retry": two selections, each asking for a token from inside the observer.
    let nested = nested.lock().unwrap();
    assert!(!nested.is_empty(), "the observer ran");
    assert!(nested.iter().all(|r| *r == Ok(true)), "{nested:?}");
}

/// Workload identity federation: the assertion comes from a file (as Kubernetes projects it) and
/// is re-read for each token request, so a rotated file is picked up.
#[test]
fn a_signed_assertion_file_is_sent_and_reread_when_it_changes() {
    let setup = setup();
    let url = setup.tokens.entra_token_url(TENANT);
    let header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": URL_SAFE_NO_PAD.encode(
        ring::digest::digest(&ring::digest::SHA256, &rsa_fixture_der()))});
    let assertion = |jti: &str| {
        let now = unix_now();
        let claims = json!({"aud": url, "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": jti,
                            "nbf": now, "iat": now, "exp": now + 600});
        sign_rsa(&header, &claims, false)
    };
    let file = setup
        .dir
        .write("federated-token", format!("{}\n", assertion("file-1")));
    let credential = format!(
        r#"{{"SourceType": "SignedAssertionFilePath", "SignedAssertionFileDiskPath": {}}}"#,
        json_str(&file)
    );
    let api = setup.api(Idp::Entra, &credential);
    api.acquire_token(&[GRAPH_SCOPE], None).unwrap();

    std::fs::write(&file, assertion("file-2")).unwrap();
    api.acquire_token(&[GRAPH_SCOPE], Some(r#"{"ForceRefresh": true}"#))
        .unwrap();

    setup.issuer().assert_no_failures();
    let sent: Vec<String> = setup
        .issuer()
        .token_requests()
        .iter()
        .map(|r| r.param("client_assertion").unwrap_or_default().to_string())
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(jti_of(&sent[0]), "file-1");
    assert_eq!(jti_of(&sent[1]), "file-2");
}

fn jti_of(jwt: &str) -> String {
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["jti"].as_str().unwrap_or_default().to_string()
}

/// One resource server taking both protocols (client certificates optional): the MTLS API gets
/// the certificate and no token, the Bearer API a verified token and no certificate.
#[test]
fn one_server_sees_mtls_calls_with_the_certificate_and_bearer_calls_with_the_token() {
    let setup = setup();
    let fixture_ca = CertificateDer::from_pem_file(fixture("ca.pem")).unwrap();
    let tokens_only = bearer_resource_handler(setup.tokens.issuer.clone());
    let both = TestServer::start(
        setup.ca.server(),
        ClientAuth::Optional(std::slice::from_ref(&fixture_ca)),
        Arc::new(
            move |seen: &test_support::server::Seen| match &seen.client_cert {
                Some(cert) if seen.target.starts_with("/mtls") => {
                    test_support::server::Reply::text(
                        200,
                        &format!("certificate {}", test_support::server::subject_cn(cert)),
                    )
                }
                _ => tokens_only(seen),
            },
        ),
    );
    let config = setup
        .config(
            Idp::Entra,
            &path_credential(&fixture("rsa-client.pkcs8.pem")),
            false,
        )
        .replace(&setup.resource.url(), &both.url());
    let api = DownstreamApi::from_json(&config).unwrap();

    let mtls = api
        .call(
            "Graph",
            Some(r#"{"ProtocolScheme": "MTLS", "RelativePath": "mtls"}"#),
            b"",
        )
        .unwrap();
    assert_eq!(mtls.status, 200);
    assert_eq!(mtls.body, b"certificate rsa-fixture-client");
    let bearer = api.call("Graph", None, b"").unwrap();
    assert_eq!(
        bearer.status,
        200,
        "{}",
        String::from_utf8_lossy(&bearer.body)
    );

    let seen = both.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].client_cert.is_some() && seen[0].header("authorization").is_none());
    assert!(seen[1].client_cert.is_none());
    assert!(
        seen[1]
            .header("authorization")
            .unwrap()
            .starts_with("Bearer tok-")
    );
    setup.issuer().assert_no_failures();
}

/// A server asking to wait longer than the library's cap (60 s) is not hammered early: the call
/// fails at once with the wait it asked for.
#[test]
fn a_retry_after_beyond_the_cap_fails_without_waiting() {
    let setup = setup();
    setup.issuer().push_answer(FakeAnswer::Throttled {
        retry_after_secs: 3600,
    });
    let api = setup.entra_rsa();
    let started = Instant::now();
    let error = api.authorization_header("Graph", None).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    assert!(error.message().contains("Retry-After: 3600 s"), "{error}");
    assert_eq!(setup.issuer().token_request_count(), 1);
}

/// Observer events of a token request arrive after the request's single flight has ended: an
/// observer asking the same client for the same token gets it (from the cache) instead of
/// waiting for itself.
#[test]
fn an_observer_of_a_token_request_may_ask_for_the_same_token() {
    let setup = setup();
    let api = Arc::new(setup.entra_rsa());
    let weak = Arc::downgrade(&api);
    let nested = Arc::new(Mutex::new(Vec::new()));
    let results = nested.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        if event.kind == EventKind::SuccessfullyUsed
            && let Some(api) = weak.upgrade()
        {
            results
                .lock()
                .unwrap()
                .push(api.authorization_header("Graph", None));
        }
    }));
    let caller = api.clone();
    let outer = finishes_without_deadlock(move || caller.authorization_header("Graph", None));
    assert_eq!(outer.unwrap(), "Bearer tok-1");
    assert_eq!(
        *nested.lock().unwrap(),
        vec![Ok("Bearer tok-1".to_string())]
    );
    assert_eq!(setup.issuer().token_request_count(), 1);
}

/// Runs `work` on its own thread and returns its result; fails the test if it has not finished
/// after 20 s (a deadlock would otherwise hang the test run).
fn finishes_without_deadlock<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the work finished: no deadlock")
}

#[test]
fn the_debug_log_tells_a_fetched_token_from_a_cached_one() {
    use downstream_api::log::{Level, set_sink};
    let setup = setup();
    let api = setup.entra_rsa();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    set_sink(
        Some(Arc::new(move |_: Level, message: &str| {
            sink.lock().unwrap().push(message.to_string())
        })),
        Level::Debug,
    );
    // A scope of this test only: other tests of this binary may log at the same time.
    let scope = "api://debug-log-test/.default";
    let first = api.acquire_token(&[scope], None);
    let second = api.acquire_token(&[scope], None);
    set_sink(None, Level::Debug);
    assert_eq!(first.unwrap(), second.unwrap());
    let ours: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains(scope))
        .cloned()
        .collect();
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert!(
        ours[0].contains(&setup.tokens.entra_token_url(TENANT)),
        "{ours:?}"
    );
    assert!(ours[1].contains("from the cache (expires in 3"), "{ours:?}");
}
