//! Certificate-bound tokens against the in-process fakes (`support/token_server.rs`): Entra's
//! MTLS_POP (`token_type=mtls_pop` over mTLS, no assertion), Bearer tokens over mTLS for a
//! `UseBoundCredential` entry, and RFC 8705 providers (the discovered `mtls_endpoint_aliases`,
//! `tls_client_auth`). The mTLS token endpoint verifies the certificate in the handshake, and the
//! resource accepts a bound token only on a connection presenting the certificate it is bound to.

use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use downstream_api::{CredentialEvent, DownstreamApi, ErrorKind, EventKind};
use test_support::credentials::certificate_file;
use test_support::pki::{Issued, TestCa, Validity};
use test_support::server::{ClientAuth, Reply, Seen, TestServer, subject_cn};
use test_support::token_server::{
    FakeAnswer, OIDC_MTLS_TOKEN_PATH, OIDC_TOKEN_PATH, TokenIssuer, TokenServer,
    bearer_resource_handler, bound_resource_handler, x5t_s256,
};
use test_support::{TempDir, json_str};

const CLIENT_ID: &str = "pop-app";
const TENANT: &str = "contoso-tenant";
const SCOPE: &str = "api://pop-resource/.default";

/// A CA, the app's certificate (registered) and another one, the plain and the mTLS token
/// endpoints of one issuer, and three resources: bound `mtls_pop` tokens, bound `Bearer` tokens
/// (RFC 8705) and plain Bearer tokens.
struct Setup {
    ca: TestCa,
    client: Issued,
    plain: TokenServer,
    mtls: TokenServer,
    pop_resource: TestServer,
    bound_bearer_resource: TestServer,
    bearer_resource: TestServer,
    dir: TempDir,
    ca_path: String,
    client_path: String,
}

fn setup() -> Setup {
    let ca = TestCa::new("Bound Tokens CA");
    let client = ca.client("pop-client", Validity::CURRENT);
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_certificate(Some(client.cert_der.as_ref()));
    let plain = TokenServer::start(&ca, issuer.clone());
    let mtls = TokenServer::start_mtls(&ca, issuer.clone());
    let asks_for_certificates = || ClientAuth::Optional(std::slice::from_ref(&ca.cert_der));
    let pop_resource = TestServer::start(
        ca.server(),
        asks_for_certificates(),
        bound_resource_handler(issuer.clone(), "mtls_pop"),
    );
    let bound_bearer_resource = TestServer::start(
        ca.server(),
        asks_for_certificates(),
        bound_resource_handler(issuer.clone(), "Bearer"),
    );
    // Asks for a certificate: it accepts a bound Bearer token only with its certificate.
    let bearer_resource = TestServer::start(
        ca.server(),
        asks_for_certificates(),
        bearer_resource_handler(issuer),
    );
    let dir = TempDir::new("mtls-pop");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let client_path = dir.write("client.pem", client.bundle_pem());
    Setup {
        ca,
        client,
        plain,
        mtls,
        pop_resource,
        bound_bearer_resource,
        bearer_resource,
        dir,
        ca_path,
        client_path,
    }
}

impl Setup {
    fn issuer(&self) -> &TokenIssuer {
        &self.mtls.issuer
    }

    /// An Entra configuration (the mTLS token server's instance: a test instance serves mTLS
    /// itself) with `azure_ad` extra keys, `credentials` and APIs "Pop" (MTLS_POP) and "Graph"
    /// (Bearer), both for SCOPE.
    fn entra(&self, azure_ad: &str, credentials: &str) -> String {
        self.config(
            &format!(
                r#""Instance": {}, "TenantId": "{TENANT}"{azure_ad}"#,
                json_str(&self.mtls.instance())
            ),
            credentials,
            &self.pop_resource,
        )
    }

    /// A generic OpenID provider's configuration: discovery on the plain server names the mTLS
    /// server as `mtls_endpoint_aliases.token_endpoint`. "Pop" sends bound Bearer tokens.
    fn oidc(&self, azure_ad: &str, credentials: &str) -> String {
        self.config(
            &format!(
                r#""Authority": {}{azure_ad}"#,
                json_str(&self.plain.oidc_authority())
            ),
            credentials,
            &self.bound_bearer_resource,
        )
    }

    fn config(&self, authority: &str, credentials: &str, pop_resource: &TestServer) -> String {
        format!(
            r#"{{"AzureAd": {{{authority}, "ClientId": "{CLIENT_ID}", "ClientCredentials": [{credentials}]}},
                "DownstreamApis": {{
                  "Pop": {{"BaseUrl": "{pop}", "RelativePath": "orders", "ProtocolScheme": "MTLS_POP",
                           "RequestAppToken": true, "Scopes": ["{SCOPE}"]}},
                  "Graph": {{"BaseUrl": "{bearer}", "RelativePath": "me", "Scopes": ["{SCOPE}"]}}
                }},
                "Http": {{"CaBundlePath": {ca}}}}}"#,
            pop = pop_resource.url(),
            bearer = self.bearer_resource.url(),
            ca = json_str(&self.ca_path),
        )
    }
}

fn call(api: &DownstreamApi, name: &str) -> (u16, String) {
    let response = api
        .call(name, None, b"")
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

#[test]
fn entra_mtls_pop_sends_the_exact_form_over_mtls_and_the_bound_token_with_the_certificate() {
    let s = setup();
    let api = DownstreamApi::from_json(&s.entra("", &certificate_file(&s.client_path))).unwrap();
    assert_eq!(call(&api, "Pop"), (200, format!("mtls_pop {SCOPE}")));
    assert_eq!(
        call(&api, "Pop").0,
        200,
        "the second call uses the cached token"
    );
    s.issuer().assert_no_failures();
    let requests = s.issuer().token_requests();
    assert_eq!(requests.len(), 1, "one token request for two calls");
    let request = &requests[0];
    assert_eq!(request.path, format!("/{TENANT}/oauth2/v2.0/token"));
    let mut names: Vec<&str> = request.form.iter().map(|(k, _)| k.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["client_id", "grant_type", "scope", "token_type"],
        "no assertion, no secret"
    );
    assert_eq!(request.param("token_type"), Some("mtls_pop"));
    assert_eq!(request.param("grant_type"), Some("client_credentials"));
    assert_eq!(request.param("client_id"), Some(CLIENT_ID));
    assert_eq!(request.param("scope"), Some(SCOPE));
    assert_eq!(
        s.mtls.issuer.requests_at(&request.path),
        1,
        "sent to the mTLS endpoint"
    );
    let issued = s.issuer().issued();
    assert_eq!(issued[0].token_type, "mtls_pop");
    assert_eq!(
        issued[0].bound_to.as_deref(),
        Some(x5t_s256(s.client.cert_der.as_ref()).as_str()),
        "bound to the certificate of the handshake"
    );
    let header = api.authorization_header("Pop", None).unwrap();
    assert_eq!(header, format!("mtls_pop {}", issued[0].token));
}

#[test]
fn a_bound_token_presented_with_another_certificate_is_refused() {
    let s = setup();
    let api = DownstreamApi::from_json(&s.entra("", &certificate_file(&s.client_path))).unwrap();
    let header = api.authorization_header("Pop", None).unwrap();
    // Another client of the same CA presents the stolen token on its own connection.
    let other = s.dir.write(
        "other.pem",
        s.ca.client("other-client", Validity::CURRENT).bundle_pem(),
    );
    let thief = DownstreamApi::from_json(&format!(
        r#"{{"AzureAd": {{"ClientCredentials": [{}]}},
            "DownstreamApis": {{"Stolen": {{"BaseUrl": "{}", "ProtocolScheme": "MTLS",
                "ExtraHeaderParameters": {{"Authorization": {}}}}}}},
            "Http": {{"CaBundlePath": {}}}}}"#,
        certificate_file(&other),
        s.pop_resource.url(),
        json_str(&header),
        json_str(&s.ca_path)
    ))
    .unwrap();
    let (status, body) = call(&thief, "Stolen");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("bound to another certificate"), "{body}");
    // The rightful client still gets in with it.
    assert_eq!(call(&api, "Pop").0, 200);
}

#[test]
fn a_rotation_gets_a_token_bound_to_the_new_certificate() {
    let s = setup();
    let rotating = s.dir.write("rotating.pem", s.client.bundle_pem());
    // The resource trusts only the current certificate: the old one gets 495 after the swap.
    let current = Arc::new(Mutex::new("pop-client".to_string()));
    let bound = bound_resource_handler(s.mtls.issuer.clone(), "mtls_pop");
    let trusted = current.clone();
    s.pop_resource.set_handler(Arc::new(move |seen: &Seen| {
        let presented = seen
            .client_cert
            .as_ref()
            .map(subject_cn)
            .unwrap_or_default();
        if presented != *trusted.lock().unwrap() {
            return Reply::text(495, "SSL Certificate Error");
        }
        bound(seen)
    }));
    let api = DownstreamApi::from_json(&s.entra("", &certificate_file(&rotating))).unwrap();
    assert_eq!(call(&api, "Pop").0, 200);
    // Refused while the file is unchanged: the reload gives the same certificate, and its cached
    // token was dropped with it, so the retry fetched a new one (and was refused again).
    *current.lock().unwrap() = "nobody".to_string();
    assert_eq!(call(&api, "Pop").0, 495);
    assert_eq!(
        s.issuer().token_request_count(),
        2,
        "the reload dropped the bound token"
    );

    let renewed = s.ca.client("pop-client-renewed", Validity::CURRENT);
    let staged = s.dir.write("rotating.pem.new", renewed.bundle_pem());
    std::fs::rename(&staged, &rotating).unwrap();
    s.issuer().set_certificate(Some(renewed.cert_der.as_ref()));
    *current.lock().unwrap() = "pop-client-renewed".to_string();

    assert_eq!(call(&api, "Pop"), (200, format!("mtls_pop {SCOPE}")));
    s.issuer().assert_no_failures();
    let issued = s.issuer().issued();
    assert_eq!(issued.len(), 3, "a new token after the rotation");
    assert_eq!(
        issued[2].bound_to.as_deref(),
        Some(x5t_s256(renewed.cert_der.as_ref()).as_str())
    );
    assert_ne!(issued[1].bound_to, issued[2].bound_to);
    // Later calls use the new token: no further request.
    assert_eq!(call(&api, "Pop").0, 200);
    assert_eq!(s.issuer().token_request_count(), 3);
}

#[test]
fn a_refused_token_gets_a_fresh_one_and_keeps_the_certificate() {
    let s = setup();
    let bound = bound_resource_handler(s.mtls.issuer.clone(), "mtls_pop");
    let refusals = Arc::new(Mutex::new(1));
    let left = refusals.clone();
    s.pop_resource.set_handler(Arc::new(move |seen: &Seen| {
        let mut left = left.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return Reply::text(401, "token revoked");
        }
        bound(seen)
    }));
    let api = DownstreamApi::from_json(&s.entra("", &certificate_file(&s.client_path))).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen_events = events.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        seen_events.lock().unwrap().push(event.kind);
    }));
    assert_eq!(call(&api, "Pop").0, 200);
    assert_eq!(*refusals.lock().unwrap(), 0, "the first token was refused");
    assert_eq!(
        s.issuer().token_request_count(),
        2,
        "a fresh token for the resend"
    );
    assert!(
        !events.lock().unwrap().contains(&EventKind::Deselected),
        "the certificate was not dropped for a refused token"
    );
}

#[test]
fn bearer_and_bound_tokens_for_one_scope_are_never_mixed() {
    let s = setup();
    let api = DownstreamApi::from_json(&s.entra("", &certificate_file(&s.client_path))).unwrap();
    for _ in 0..2 {
        assert_eq!(call(&api, "Graph"), (200, SCOPE.to_string()));
        assert_eq!(call(&api, "Pop"), (200, format!("mtls_pop {SCOPE}")));
    }
    s.issuer().assert_no_failures();
    let requests = s.issuer().token_requests();
    assert_eq!(requests.len(), 2, "one token of each kind");
    assert!(
        requests[0].param("client_assertion").is_some()
            && requests[0].param("token_type").is_none()
    );
    assert_eq!(requests[1].param("token_type"), Some("mtls_pop"));
    let bearer = api.authorization_header("Graph", None).unwrap();
    let pop = api.authorization_header("Pop", None).unwrap();
    assert!(bearer.starts_with("Bearer ") && pop.starts_with("mtls_pop "));
    assert_ne!(bearer[7..], pop[9..]);
}

#[test]
fn thirty_two_threads_on_a_cold_cache_make_one_bound_token_request() {
    let s = setup();
    s.issuer().set_delay(Some(Duration::from_millis(300)));
    let api = Arc::new(
        DownstreamApi::from_json(&s.entra("", &certificate_file(&s.client_path))).unwrap(),
    );
    let barrier = Arc::new(Barrier::new(32));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let api = api.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                call(&api, "Pop").0
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 200);
    }
    assert_eq!(s.issuer().token_request_count(), 1);
    s.issuer().assert_no_failures();
}

#[test]
fn misconfigurations_name_the_field() {
    let s = setup();
    let error_of = |json: &str| {
        DownstreamApi::from_json(json)
            .err()
            .unwrap_or_else(|| panic!("accepted: {json}"))
    };
    let certificate = certificate_file(&s.client_path);
    let no_app_token = s
        .entra("", &certificate)
        .replace(r#""RequestAppToken": true"#, r#""RequestAppToken": false"#);
    let error = error_of(&no_app_token);
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error
            .message()
            .contains("DownstreamApis.Pop.RequestAppToken"),
        "{error}"
    );

    let secret_only = s.entra("", r#"{"SourceType": "ClientSecret", "ClientSecret": "s"}"#);
    let error = error_of(&secret_only);
    assert!(
        error.message().contains("AzureAd.ClientCredentials"),
        "{error}"
    );
    assert!(
        error.message().contains("MTLS_POP needs a certificate"),
        "{error}"
    );

    let common = s.entra("", &certificate).replace(
        &format!(r#""TenantId": "{TENANT}""#),
        r#""TenantId": "common""#,
    );
    let error = error_of(&common);
    assert!(error.message().contains("AzureAd.TenantId"), "{error}");
    assert!(error.message().contains("'common'"), "{error}");

    // tls_client_auth is RFC 8705's, not Entra's.
    let error = error_of(&s.entra(
        r#", "TokenEndpointAuthMethod": "tls_client_auth""#,
        &certificate,
    ));
    assert!(
        error
            .message()
            .contains("AzureAd.TokenEndpointAuthMethod: tls_client_auth is for generic"),
        "{error}"
    );
    let error = error_of(&s.entra(r#", "TokenEndpointAuthMethod": "mutual""#, &certificate));
    assert!(
        error.message().contains("AzureAd.TokenEndpointAuthMethod"),
        "{error}"
    );
    per_call_misconfigurations_name_the_field(&s, &certificate);
}

/// A per-call override to MTLS_POP is checked as the configuration is, and an answer of another
/// token type than asked for is an error.
fn per_call_misconfigurations_name_the_field(s: &Setup, certificate: &str) {
    let api = DownstreamApi::from_json(&s.entra("", certificate)).unwrap();
    let error = api
        .call("Graph", Some(r#"{"ProtocolScheme": "MTLS_POP"}"#), b"")
        .unwrap_err();
    assert!(
        error.message().contains("overrides.RequestAppToken"),
        "{error}"
    );
    let error = api
        .call(
            "Pop",
            Some(r#"{"AcquireTokenOptions": {"Tenant": "organizations"}}"#),
            b"",
        )
        .unwrap_err();
    assert!(
        error
            .message()
            .contains("AcquireTokenOptions.Tenant: 'organizations'"),
        "{error}"
    );

    // An answer of another token type than asked for.
    s.issuer().push_answer(FakeAnswer::Raw {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: r#"{"token_type": "Bearer", "access_token": "t", "expires_in": 3600}"#.into(),
    });
    let error = api.call("Pop", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition);
    assert!(
        error
            .message()
            .contains("token_type 'Bearer', not the 'mtls_pop' asked for"),
        "{error}"
    );
}

#[test]
fn a_bound_credential_gets_bearer_tokens_over_mtls_with_x5c() {
    let s = setup();
    let bound = format!(
        r#"{{"SourceType": "Path", "CertificateDiskPath": {}, "UseBoundCredential": true}}"#,
        json_str(&s.client_path)
    );
    s.issuer().expect_x5c(true);
    let api = DownstreamApi::from_json(&s.entra("", &bound)).unwrap();
    assert_eq!(call(&api, "Graph"), (200, SCOPE.to_string()));
    s.issuer().assert_no_failures();
    let request = &s.issuer().token_requests()[0];
    assert!(
        request.param("client_assertion").is_some(),
        "the assertion is sent"
    );
    assert!(request.param("token_type").is_none());
    let x5c = request.assertion_header.as_ref().and_then(|h| h.get("x5c"));
    assert!(
        x5c.is_some(),
        "x5c in the assertion: {:?}",
        request.assertion_header
    );
    let issued = &s.issuer().issued()[0];
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(
        issued.bound_to.as_deref(),
        Some(x5t_s256(s.client.cert_der.as_ref()).as_str()),
        "requested over mTLS with the certificate"
    );
}

#[test]
fn rfc8705_providers_get_tokens_at_the_mtls_alias_and_bound_tokens_as_bearer() {
    let s = setup();
    let api = DownstreamApi::from_json(&s.oidc("", &certificate_file(&s.client_path))).unwrap();
    assert_eq!(call(&api, "Pop"), (200, format!("Bearer {SCOPE}")));
    assert_eq!(call(&api, "Graph"), (200, SCOPE.to_string()));
    s.issuer().assert_no_failures();
    let requests = s.issuer().token_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].path, OIDC_MTLS_TOKEN_PATH,
        "the bound token at the mTLS alias"
    );
    assert_eq!(s.mtls.issuer.requests_at(OIDC_MTLS_TOKEN_PATH), 1);
    assert!(
        requests[0].param("client_assertion").is_some(),
        "private_key_jwt"
    );
    assert!(requests[0].param("token_type").is_none());
    assert_eq!(
        requests[1].path, OIDC_TOKEN_PATH,
        "a plain token at token_endpoint"
    );
    let issued = s.issuer().issued();
    assert!(issued[0].bound_to.is_some() && issued[1].bound_to.is_none());
}

#[test]
fn tls_client_auth_authenticates_with_the_certificate_alone() {
    let s = setup();
    s.issuer()
        .set_tls_client_auth_subject(Some("O=Contoso, CN=pop-client"));
    let config = s.oidc(
        r#", "TokenEndpointAuthMethod": "tls_client_auth""#,
        &certificate_file(&s.client_path),
    );
    let api = DownstreamApi::from_json(&config).unwrap();
    assert_eq!(call(&api, "Pop"), (200, format!("Bearer {SCOPE}")));
    // A Bearer API's token goes over mTLS too, authenticated the same way.
    assert_eq!(call(&api, "Graph"), (200, SCOPE.to_string()));
    s.issuer().assert_no_failures();
    for request in s.issuer().token_requests() {
        let mut names: Vec<&str> = request.form.iter().map(|(k, _)| k.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            ["client_id", "grant_type", "scope"],
            "{}",
            request.path
        );
        assert_eq!(request.path, OIDC_MTLS_TOKEN_PATH);
    }
    // tls_client_auth needs a certificate: with a secret, a Bearer call says which entry is wrong.
    let secret_only = DownstreamApi::from_json(&format!(
        r#"{{"AzureAd": {{"Authority": {}, "ClientId": "{CLIENT_ID}",
                         "TokenEndpointAuthMethod": "tls_client_auth",
                         "ClientCredentials": [{{"SourceType": "ClientSecret", "ClientSecret": "s"}}]}},
            "DownstreamApis": {{"Graph": {{"BaseUrl": "{}", "Scopes": ["{SCOPE}"]}}}},
            "Http": {{"CaBundlePath": {}}}}}"#,
        json_str(&s.plain.oidc_authority()),
        s.bearer_resource.url(),
        json_str(&s.ca_path)
    ))
    .unwrap();
    let error = secret_only.call("Graph", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(
        error
            .message()
            .contains("AzureAd.ClientCredentials[0]: token requests over mTLS"),
        "{error}"
    );
    // Another registered subject: the endpoint refuses the certificate.
    s.issuer()
        .set_tls_client_auth_subject(Some("O=Contoso, CN=someone-else"));
    let fresh = DownstreamApi::from_json(&config).unwrap();
    let error = fresh.call("Pop", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CertificateRejected, "{error}");
    assert!(error.message().contains("tls_client_auth"), "{error}");
}
