//! The issuer's keys: read once (discovery document and JWK Set) for every thread, read again
//! when a token names an unknown key id — once, then not again within a minute — so a rotated
//! key is picked up and made-up key ids cost the issuer nothing more; an issuer that cannot be
//! read is another kind of error, naming the URL.

use std::sync::Arc;

use downstream_api::ErrorKind;
use test_support::token_server::{Alg, entra_discovery_path, entra_keys_path};

use super::{TENANT, refusal, setup};

#[test]
fn discovery_is_read_once_for_all_threads() {
    let setup = setup();
    let client = Arc::new(setup.client());
    let token = Arc::new(setup.sign(&setup.claims()));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (client, token) = (client.clone(), token.clone());
            std::thread::spawn(move || client.validate_token(&token).map(|_| ()))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap().expect("valid");
    }
    assert!(client.validate_token(&token).is_ok());
    let issuer = setup.issuer();
    assert_eq!(issuer.requests_at(&entra_discovery_path(TENANT)), 1);
    assert_eq!(issuer.requests_at(&entra_keys_path(TENANT)), 1);
}

#[test]
fn an_unknown_key_id_refreshes_the_keys_at_most_once_a_minute() {
    let setup = setup();
    let client = setup.client();
    let issuer = setup.issuer();
    assert!(client.validate_token(&setup.sign(&setup.claims())).is_ok());
    let keys = || issuer.requests_at(&entra_keys_path(TENANT));
    assert_eq!(keys(), 1);
    for kid in ["made-up-1", "made-up-2", "made-up-1"] {
        let token = issuer.sign_token(&setup.claims(), Alg::Es256, Some(kid));
        let message = refusal(&client, &token);
        assert!(
            message.contains(&format!("unknown key id '{kid}'")),
            "{message}"
        );
    }
    assert_eq!(keys(), 2, "two unknown key ids in a row made one refresh");
    assert_eq!(issuer.requests_at(&entra_discovery_path(TENANT)), 2);
    // Known keys still verify without a request.
    assert!(client.validate_token(&setup.sign(&setup.claims())).is_ok());
    assert_eq!(keys(), 2);
}

#[test]
fn a_rotated_key_is_picked_up() {
    let setup = setup();
    let client = setup.client();
    let issuer = setup.issuer();
    assert!(client.validate_token(&setup.sign(&setup.claims())).is_ok());
    issuer.add_signing_key("rotated-2027");
    let token = issuer.sign_token(&setup.claims(), Alg::Es256, Some("rotated-2027"));
    let claims = client.validate_token(&token).expect("the new key was read");
    assert_eq!(claims["oid"], "alice-oid");
    assert_eq!(issuer.requests_at(&entra_keys_path(TENANT)), 2);
}

#[test]
fn an_issuer_that_cannot_be_read_is_named() {
    let setup = setup();
    let authority = format!("{}/nowhere", setup.tokens.server.url());
    let client = setup.client_from(&format!(r#""Authority": "{authority}", "ClientId": "x""#));
    let token = setup.sign(&setup.claims());
    let error = client.validate_token(&token).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    let url = format!("{authority}/.well-known/openid-configuration");
    assert!(error.message().contains(&url), "{error}");
    assert!(error.message().contains("HTTP 404"), "{error}");
    let closed = format!("https://127.0.0.1:{}/", test_support::free_port());
    let unreachable = setup.client_from(&format!(
        r#""Instance": "{closed}", "TenantId": "{TENANT}", "ClientId": "x""#
    ));
    let error = unreachable.validate_token(&token).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
    assert!(
        error
            .message()
            .contains("OpenID discovery at https://127.0.0.1:"),
        "{error}"
    );
    let insecure = setup.client_from(r#""Authority": "http://127.0.0.1:9/idp", "ClientId": "x""#);
    let error = insecure.validate_token(&token).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InsecureUrl, "{error}");
}
