//! The authenticated routes: the caller's token validated as Id.Web's web API does, then the
//! call made on that user's behalf; `/Validate`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use test_support::token_server::{Alg, FAKE_RSA_KID, MFA_CLAIMS_JSON, MfaPolicy, UserToken};

use super::{Setup, TENANT, USER_SCOPE, header_claims, setup};

#[test]
fn validate_answers_the_callers_token_and_its_claims() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    let alice = setup.user_token("alice-oid");
    let bearer = format!("Bearer {alice}");
    let answer = sidecar.get("/Validate", &[("Authorization", &bearer)]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["protocol"], "Bearer");
    assert_eq!(body["token"], alice.as_str());
    assert_eq!(body["claims"]["oid"], "alice-oid");
    assert!(
        body["claims"]["exp"].is_number(),
        "claims keep their JSON types"
    );

    let twice = sidecar.get(
        "/Validate",
        &[("Authorization", &bearer), ("Authorization", &bearer)],
    );
    assert_eq!(twice.status, 401);
    assert!(
        twice
            .header("WWW-Authenticate")
            .unwrap()
            .contains("invalid_request")
    );

    let missing = sidecar.get("/Validate", &[]);
    assert_eq!((missing.status, missing.body.len()), (401, 0));
    assert_eq!(missing.header("WWW-Authenticate"), Some("Bearer"));
}

/// `token` with its payload's claims changed by `edit`, the signature kept (so it fails).
fn tampered(token: &str, edit: impl Fn(&mut serde_json::Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    edit(&mut claims);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

/// A user's token with its claims changed by `edit`, signed by the issuer's own key.
fn signed(setup: &Setup, edit: impl Fn(&mut serde_json::Value)) -> String {
    let user = UserToken::new("eve-oid", "eve@contoso.example", TENANT);
    let mut claims = setup.issuer().user_token_claims(&user);
    edit(&mut claims);
    setup
        .issuer()
        .sign_token(&claims, Alg::Rs256, Some(FAKE_RSA_KID))
}

#[test]
fn tokens_that_fail_are_refused_with_invalid_token_and_never_echoed() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    let alice = setup.user_token("alice-oid");
    let parts: Vec<&str> = alice.split('.').collect();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let mut bad_signature = alice.clone();
    bad_signature.pop();
    bad_signature.push(if alice.ends_with('A') { 'B' } else { 'A' });
    let cases = [
        (
            "expired",
            signed(&setup, |c| {
                c["exp"] = (c["iat"].as_i64().unwrap() - 3600).into()
            }),
        ),
        (
            "another audience",
            signed(&setup, |c| c["aud"] = "api://someone-else".into()),
        ),
        (
            "another issuer",
            signed(&setup, |c| c["iss"] = "https://issuer.invalid/v2.0".into()),
        ),
        ("alg none", unsigned),
        (
            "another user's claims",
            tampered(&alice, |c| c["oid"] = "mallory-oid".into()),
        ),
        ("a changed signature", bad_signature),
        ("not a JWT", "not-a-jwt".to_string()),
    ];
    for (what, token) in cases {
        for route in ["/Validate", "/AuthorizationHeader/Users"] {
            let answer = sidecar.get(route, &[("Authorization", &format!("Bearer {token}"))]);
            assert_eq!(answer.status, 401, "{what} on {route}: {}", answer.text());
            let challenge = answer.header("WWW-Authenticate").unwrap_or("");
            assert!(
                challenge.starts_with("Bearer error=\"invalid_token\""),
                "{what}: {challenge}"
            );
            assert!(!challenge.contains(&token), "{what}: the token was echoed");
        }
    }
    assert_eq!(
        setup.issuer().token_request_count(),
        0,
        "nothing was asked for a refused caller"
    );
}

#[test]
fn a_callers_token_is_exchanged_on_behalf_of_that_user() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    for user in ["alice-oid", "bob-oid"] {
        let bearer = format!("Bearer {}", setup.user_token(user));
        let header = sidecar.get("/AuthorizationHeader/Users", &[("Authorization", &bearer)]);
        assert_eq!(header.status, 200, "{}", header.text());
        assert_eq!(
            header_claims(header.json()["authorizationHeader"].as_str().unwrap())["oid"],
            user
        );
        let call = sidecar.post("/DownstreamApi/Users", &[("Authorization", &bearer)], b"");
        assert_eq!(call.json()["content"], format!("user {user} {USER_SCOPE}"));
        let raw = sidecar.post(
            "/DownstreamApiRaw/Users",
            &[("Authorization", &bearer)],
            b"",
        );
        assert_eq!(raw.text(), format!("user {user} {USER_SCOPE}"));
    }
    assert_eq!(
        setup.issuer().token_request_count(),
        2,
        "one on-behalf-of request per user"
    );
    setup.issuer().assert_no_failures();
}

#[test]
fn a_user_who_must_act_is_a_401_problem_with_the_claims_challenge() {
    let setup = setup();
    setup
        .issuer()
        .set_mfa_policy(MfaPolicy::Users(vec!["mfa-oid".into()]));
    let sidecar = setup.serve("", &[]);
    let bearer = format!("Bearer {}", setup.user_token("mfa-oid"));
    let answer = sidecar.post("/DownstreamApi/Users", &[("Authorization", &bearer)], b"");
    assert_eq!(answer.status, 401, "{}", answer.text());
    let problem = answer.json();
    assert_eq!(problem["title"], "Unauthorized");
    assert!(
        problem["detail"].as_str().unwrap().contains("AADSTS50076"),
        "{problem}"
    );
    assert_eq!(problem["claims"], MFA_CLAIMS_JSON);
}
