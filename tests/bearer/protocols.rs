//! Which protocol sends what: a Bearer API without scopes is a configuration error, a token is
//! never sent over plain http, and one server taking both protocols sees the certificate on MTLS
//! calls and the token on Bearer calls.

use std::sync::Arc;

use downstream_api::{DownstreamApi, ErrorKind};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use test_support::credentials::client_secret;
use test_support::fixture;
use test_support::server::{ClientAuth, TestServer};
use test_support::token_server::bearer_resource_handler;

use crate::{GRAPH_SCOPE, Idp, SECRET, rsa_fixture_credential, setup};

#[test]
fn a_bearer_api_without_scopes_is_a_configuration_error() {
    let setup = setup();
    let config = setup
        .config(Idp::Entra, &client_secret(SECRET), false)
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
        .config(Idp::Entra, &rsa_fixture_credential(), false)
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
