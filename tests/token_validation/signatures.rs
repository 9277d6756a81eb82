//! Signatures: RS256 on Entra and ES256 on a generic provider verify; `alg: none`, other
//! algorithms, tampered payloads and signatures, and another key's signatures do not; malformed
//! input is named as such.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use test_support::token_server::{Alg, FAKE_KID, FAKE_RSA_KID, UserToken};

use super::{CLIENT_ID, TENANT, refusal, setup};

#[test]
fn a_good_token_gives_its_claims() {
    let setup = setup();
    let client = setup.client();
    let token = setup.issuer().mint_user_token(&UserToken::new(
        "alice-oid",
        "alice@contoso.example",
        TENANT,
    ));
    let claims = client.validate_token(&token).expect("valid");
    assert_eq!(claims["oid"], "alice-oid");
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["scp"], "access_as_user");
    assert_eq!(claims["tid"], TENANT);
    // Surrounding blanks (a header value as received) do not matter.
    assert!(client.validate_token(&format!(" {token}\n")).is_ok());
}

#[test]
fn es256_tokens_of_a_generic_provider_verify() {
    let setup = setup();
    let client = setup.client_from(&format!(
        r#""Authority": "{}", "ClientId": "{CLIENT_ID}""#,
        setup.tokens.oidc_authority()
    ));
    let mut claims = setup.claims();
    claims["iss"] = json!(setup.tokens.oidc_issuer());
    let token = setup
        .issuer()
        .sign_token(&claims, Alg::Es256, Some(FAKE_KID));
    let valid = client.validate_token(&token).expect("valid");
    assert_eq!(valid["oid"], "alice-oid");
    // Its issuer is exactly the provider's: Entra's form is not.
    let entra = setup.sign(&setup.claims());
    let message = refusal(&client, &entra);
    assert!(message.contains("issuer"), "{message}");
    assert!(message.contains("not accepted"), "{message}");
}

#[test]
fn unsigned_tokens_and_other_algorithms_are_refused() {
    let setup = setup();
    let client = setup.client();
    let unsigned = setup
        .issuer()
        .sign_token(&setup.claims(), Alg::None, Some(FAKE_RSA_KID));
    assert!(refusal(&client, &unsigned).contains("alg none refused"));
    let no_kid = setup.issuer().sign_token(&setup.claims(), Alg::None, None);
    assert!(refusal(&client, &no_kid).contains("alg none refused"));
    // HS256 with the public key as the secret is the classic confusion attack.
    let good = setup.sign(&setup.claims());
    let (_, rest) = good.split_once('.').unwrap();
    let hs256 = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"fake-entra-rsa-key"}"#)
    );
    assert!(refusal(&client, &hs256).contains("alg 'HS256' refused"));
    // An ES256 header on the RSA key's id: the key says which algorithm it signs with.
    let es256_on_rsa = setup
        .issuer()
        .sign_token(&setup.claims(), Alg::Es256, Some(FAKE_RSA_KID));
    let message = refusal(&client, &es256_on_rsa);
    assert!(message.contains("alg ES256"), "{message}");
}

#[test]
fn tampered_payloads_and_signatures_do_not_verify() {
    let setup = setup();
    let client = setup.client();
    let good = setup.sign(&setup.claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut elevated = setup.claims();
    elevated["roles"] = json!(["Admin"]);
    let payload = URL_SAFE_NO_PAD.encode(elevated.to_string());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert!(refusal(&client, &tampered).contains("signature does not verify"));
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[10] ^= 1;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    assert!(refusal(&client, &flipped).contains("signature does not verify"));
    let empty = format!("{}.{}.", parts[0], parts[1]);
    assert!(refusal(&client, &empty).contains("signature does not verify"));
    // Signed by a key the issuer never published, under its key id.
    let user = UserToken::new("mallory-oid", "mallory@contoso.example", TENANT);
    let forged = setup.issuer().forge_user_token(&user);
    assert!(refusal(&client, &forged).contains("signature does not verify"));
    assert!(
        client.validate_token(&good).is_ok(),
        "the original still is"
    );
}

#[test]
fn malformed_input_is_named() {
    let setup = setup();
    let client = setup.client();
    let b64 = |text: &str| URL_SAFE_NO_PAD.encode(text);
    let header = b64(r#"{"alg":"RS256","kid":"fake-entra-rsa-key"}"#);
    for (token, why) in [
        ("", "1 dot-separated parts"),
        ("not-a-jwt", "1 dot-separated parts"),
        ("a.b", "2 dot-separated parts"),
        ("a.b.c.d.e", "5 dot-separated parts"),
        (
            &format!("{header}.*not-base64*.c2ln"),
            "payload is not base64url",
        ),
        (
            &format!("{header}.{}.c2ln", b64("not json")),
            "payload is not a JSON object",
        ),
        (
            &format!("{}.{}.c2ln", b64("[]"), b64("{}")),
            "header is not a JSON object",
        ),
        (
            &format!("{header}.{}.***", b64("{}")),
            "signature is not base64url",
        ),
    ] {
        let message = refusal(&client, token);
        assert!(message.contains("malformed token"), "{message}");
        assert!(message.contains(why), "{why}: {message}");
    }
    assert_eq!(
        setup
            .issuer()
            .requests_at("/contoso-tenant/v2.0/.well-known/openid-configuration"),
        0,
        "a malformed token costs no request"
    );
}
