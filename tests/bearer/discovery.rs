//! The generic OpenID provider: discovered once, RS256 assertions with `x5t` for an RSA
//! certificate, ES256 for an EC one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use test_support::pki::Validity;
use test_support::token_server::Flavor;

use crate::{Idp, rsa_fixture_credential, rsa_fixture_der, setup};

#[test]
fn a_generic_openid_provider_is_discovered_once_and_gets_rs256_assertions() {
    let setup = setup();
    let api = setup.api(Idp::Oidc, &rsa_fixture_credential());
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
