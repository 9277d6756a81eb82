//! Claims challenges: a resource answering 401 `insufficient_claims` gets one retry with a token
//! carrying the claims; a persistent challenge is retried once only; a 401 without a challenge is
//! returned as it is.

use serde_json::Value;
use test_support::token_server::{CLAIMS_JSON, ClaimsPolicy};

use crate::setup;

fn json_param(value: Option<&str>) -> Value {
    serde_json::from_str(value.expect("parameter present")).expect("parameter is JSON")
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
