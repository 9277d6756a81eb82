//! The fake issuer's signing key and the JWTs it signs: the users' incoming access tokens a web
//! API receives ([`super::UserToken`]), and the tokens the user and agent grants answer (access
//! tokens, ID tokens, T1 and T2 of the agent legs). ES256 (P-256) with ring; `kid` names the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde_json::{Value, json};

use super::Jwt;

/// The `kid` of the fake issuer's key in the header of every token it signs.
pub const FAKE_KID: &str = "fake-entra-signing-key";

/// `iss` of the tokens the fake signs: `{FAKE_ISSUER_PREFIX}{tenant}/v2.0`, as Entra's v2 tokens
/// name their tenant (the port of the server is not known when a test mints a user's token).
pub const FAKE_ISSUER_PREFIX: &str = "https://fake-entra.invalid/";

/// The issuer URL of tokens for `tenant`.
pub fn issuer_for(tenant: &str) -> String {
    format!("{FAKE_ISSUER_PREFIX}{tenant}/v2.0")
}

/// An ES256 key pair made when the issuer is made.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl SigningKey {
    pub fn generate() -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generate a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("load the P-256 key");
        SigningKey { pair, rng }
    }

    /// A compact JWS of `claims`: header `{"alg":"ES256","typ":"JWT","kid":FAKE_KID}`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": FAKE_KID});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .expect("sign with the P-256 key");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// Whether `jwt` is ES256 with this key's `kid` and its signature verifies with this key.
    pub fn verifies(&self, jwt: &Jwt) -> bool {
        let header = |name: &str| jwt.header.get(name).and_then(Value::as_str);
        header("alg") == Some("ES256")
            && header("kid") == Some(FAKE_KID)
            && UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref())
                .verify(jwt.signing_input.as_bytes(), &jwt.signature)
                .is_ok()
    }
}

/// The claims of a compact JWT, without checking anything (for tests reading what a token says).
pub fn claims_of(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}
