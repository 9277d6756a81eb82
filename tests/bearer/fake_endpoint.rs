//! The fake endpoint itself: it must refuse what Entra ID would refuse, or the other tests prove
//! nothing. Talks to it with a plain HTTPS client, without the library.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use test_support::token_server::{CLAIMS_JSON, CLIENT_ASSERTION_TYPE, ClaimsPolicy};

use crate::{CLIENT_ID, GRAPH_SCOPE, Setup, TENANT, rsa_fixture_der, setup, sign_rsa, unix_now};

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
