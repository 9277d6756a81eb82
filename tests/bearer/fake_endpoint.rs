//! The fake endpoint itself: it must refuse what Entra ID would refuse, or the other tests prove
//! nothing. Talks to it with a plain HTTPS client, without the library.

use std::cell::Cell;
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

/// Assertions for the Entra token URL, signed with the RSA fixture key: the header the fake
/// accepts, and claims with a fresh `jti` each time.
struct Assertions {
    url: String,
    good_header: Value,
    now: i64,
    jti: Cell<u32>,
}

impl Assertions {
    fn new(setup: &Setup) -> Assertions {
        let sha256 = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            &rsa_fixture_der(),
        ));
        Assertions {
            url: setup.tokens.entra_token_url(TENANT),
            good_header: json!({"alg": "PS256", "typ": "JWT", "x5t#S256": sha256}),
            now: unix_now(),
            jti: Cell::new(0),
        }
    }

    fn claims(&self, aud: &str, exp: i64) -> Value {
        self.jti.set(self.jti.get() + 1);
        let now = self.now;
        json!({"aud": aud, "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": format!("jti-{}", self.jti.get()),
               "nbf": now, "iat": now, "exp": exp})
    }

    /// The good header with one change.
    fn header_with(&self, name: &str, value: Value) -> Value {
        let mut header = self.good_header.clone();
        header[name] = value;
        header
    }

    /// A PS256 assertion (RS256 when `pkcs1`) with `header`, for `aud`, expiring at `exp`.
    fn signed(&self, header: &Value, aud: &str, exp: i64, pkcs1: bool) -> String {
        sign_rsa(header, &self.claims(aud, exp), pkcs1)
    }

    /// The good assertion with the payload of another one: the signature no longer matches.
    fn tampered(&self, good: &str) -> String {
        let other = self.signed(&self.good_header, &self.url, self.now + 300, false);
        let mut parts: Vec<&str> = good.split('.').collect();
        parts[1] = other.split('.').nth(1).unwrap();
        parts.join(".")
    }

    /// The token request form carrying `assertion`.
    fn form(assertion: &str) -> String {
        form_encode(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("scope", "api://resource/.default"),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
    }
}

/// A request the fake must refuse: where it is posted, the form, and what the refusal names.
type Refused = (String, String, &'static str);

#[test]
fn the_fake_endpoint_verifies_what_it_receives() {
    let setup = setup();
    let assertions = Assertions::new(&setup);
    let (url, now) = (assertions.url.clone(), assertions.now);
    let good = assertions.signed(&assertions.good_header, &url, now + 600, false);
    let (status, body) = post_form(&setup, &url, &Assertions::form(&good));
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["access_token"], "tok-1");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    setup.issuer().assert_no_failures();
    assert_eq!(setup.issuer().issued()[0].scope, "api://resource/.default");

    let mut cases = unauthorized_requests(&setup, &assertions, &good);
    let unauthorized = cases.len();
    cases.extend(bad_requests(&url));
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

    the_resource_takes_only_live_tokens_the_issuer_issued(&setup);
}

/// Requests Entra ID answers 401 `invalid_client`: a replayed, tampered, mis-addressed, too long
/// or expired assertion, a header it does not accept, another provider's URL, a wrong secret.
fn unauthorized_requests(setup: &Setup, assertions: &Assertions, good: &str) -> Vec<Refused> {
    let (url, now, header) = (&assertions.url, assertions.now, &assertions.good_header);
    let signed = |header: &Value, aud: &str, exp: i64| {
        Assertions::form(&assertions.signed(header, aud, exp, false))
    };
    let oidc_url = setup.tokens.oidc_token_url();
    let with_kid = assertions.header_with("kid", json!("abc"));
    let with_x5c = assertions.header_with("x5c", json!([STANDARD.encode(rsa_fixture_der())]));
    let rs256 = assertions.header_with("alg", json!("RS256"));
    let wrong_thumbprint =
        assertions.header_with("x5t#S256", json!(URL_SAFE_NO_PAD.encode([0u8; 32])));
    let tampered = assertions.tampered(good);
    vec![
        (url.clone(), Assertions::form(good), "already used"),
        (url.clone(), Assertions::form(&tampered), "signature"),
        (
            url.clone(),
            signed(header, "https://elsewhere/token", now + 600),
            "claim aud",
        ),
        (
            url.clone(),
            signed(header, url, now + 3600),
            "more than 10 minutes",
        ),
        (
            url.clone(),
            signed(header, url, now - 10),
            "not in the future",
        ),
        (url.clone(), signed(&with_kid, url, now + 600), "kid"),
        (url.clone(), signed(&with_x5c, url, now + 600), "x5c"),
        (
            url.clone(),
            Assertions::form(&assertions.signed(&rs256, url, now + 600, true)),
            "alg must be PS256",
        ),
        (
            url.clone(),
            signed(&wrong_thumbprint, url, now + 600),
            "AADSTS700027",
        ),
        (
            oidc_url.clone(),
            signed(header, &oidc_url, now + 600),
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
    ]
}

/// Requests Entra ID answers 400 `invalid_request`: another grant, no scope, another client.
fn bad_requests(url: &str) -> Vec<Refused> {
    vec![
        (
            url.to_string(),
            form_encode(&[
                ("grant_type", "password"),
                ("client_id", CLIENT_ID),
                ("scope", "x"),
            ]),
            "grant_type",
        ),
        (
            url.to_string(),
            form_encode(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
            ]),
            "'scope'",
        ),
        (
            url.to_string(),
            form_encode(&[
                ("grant_type", "client_credentials"),
                ("client_id", "someone-else"),
                ("scope", "x"),
            ]),
            "client_id",
        ),
    ]
}

/// The resource server: only live tokens the issuer issued (here tok-1), and a claims challenge
/// when the issuer demands claims.
fn the_resource_takes_only_live_tokens_the_issuer_issued(setup: &Setup) {
    let resource = |authorization: Option<&str>| {
        let agent = raw_agent(setup);
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
