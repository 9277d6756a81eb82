//! How the app authenticates to the token endpoint: a PS256 assertion signed with its
//! certificate (verified by the fake), `SendX5C`, a client secret (right and wrong), and a signed
//! assertion read from a file (workload identity federation).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use downstream_api::{DownstreamApi, ErrorKind};
use serde_json::{Value, json};
use test_support::credentials::{client_secret, signed_assertion_file};
use test_support::token_server::{CLIENT_ASSERTION_TYPE, Flavor, LIB_CAPABILITY};

use crate::{
    CLIENT_ID, GRAPH_SCOPE, Idp, SECRET, TENANT, authorization, rsa_fixture_credential,
    rsa_fixture_der, setup, sign_rsa, unix_now,
};

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
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
    assert_eq!(setup.issuer().token_request_count(), 1);
}

#[test]
fn send_x5c_puts_the_certificate_in_the_assertion() {
    let setup = setup();
    setup.issuer().expect_x5c(true);
    let credential = rsa_fixture_credential();
    let api = DownstreamApi::from_json(&setup.config(Idp::Entra, &credential, true)).unwrap();
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
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
    let api = setup.api(Idp::Entra, &client_secret(SECRET));
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
    let api = setup.api(Idp::Entra, &client_secret(wrong));
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
    // A Rust caller matches on the refusal's data, not its text; a bad secret calls for no retry.
    assert_eq!(error.http_status(), Some(401), "{error}");
    assert_eq!(error.aadsts_codes(), [7000215], "{error}");
    assert_eq!(error.remedy(), None, "{error}");
    assert_eq!(setup.issuer().token_request_count(), 1);
    assert!(setup.resource.seen().is_empty());
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
    let api = setup.api(Idp::Entra, &signed_assertion_file(&file));
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
