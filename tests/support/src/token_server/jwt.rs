//! The fake issuer's signing keys and the JWTs it signs: the users' incoming access tokens a web
//! API receives ([`super::UserToken`]), signed RS256 as Entra ID signs them (the RSA key of
//! `tests/fixtures/rsa-client.pkcs8.pem`: `rcgen` cannot make RSA keys), and the tokens the user
//! and agent grants answer (access tokens, ID tokens, T1 and T2 of the agent legs), signed ES256
//! with a P-256 key made per issuer. `kid` names the key; both are published as a JWK Set
//! ([`SigningKey::jwks`]), with any keys a test adds later (a rotation).

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

use super::Jwt;

/// The `kid` of the fake issuer's P-256 key (ES256: the grants' tokens).
pub const FAKE_KID: &str = "fake-entra-signing-key";
/// The `kid` of its RSA key (RS256: the users' incoming tokens, as Entra signs them).
pub const FAKE_RSA_KID: &str = "fake-entra-rsa-key";

/// `iss` of the tokens the fake signs: `{FAKE_ISSUER_PREFIX}{tenant}/v2.0`, as Entra's v2 tokens
/// name their tenant (the port of the server is not known when a test mints a user's token). The
/// Entra discovery documents the fake serves name the same issuer.
pub const FAKE_ISSUER_PREFIX: &str = "https://fake-entra.invalid/";

/// The issuer URL of tokens for `tenant`.
pub fn issuer_for(tenant: &str) -> String {
    format!("{FAKE_ISSUER_PREFIX}{tenant}/v2.0")
}

/// How a token is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
    /// An unsecured JWS (`alg: none`, empty signature): what an attacker would send.
    None,
}

/// The RSA fixture key, parsed once per process (ring's check of an RSA key is slow).
fn rsa_fixture() -> Arc<RsaKeyPair> {
    static KEY: OnceLock<Arc<RsaKeyPair>> = OnceLock::new();
    KEY.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/rsa-client.pkcs8.pem"
        );
        let der = PrivatePkcs8KeyDer::from_pem_file(path).expect("the RSA fixture key");
        Arc::new(RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("an RSA PKCS#8 key"))
    })
    .clone()
}

fn generate_p256(rng: &SystemRandom) -> EcdsaKeyPair {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng)
        .expect("generate a P-256 key");
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), rng)
        .expect("load the P-256 key")
}

/// The issuer's keys: a P-256 key made when the issuer is made, the RSA fixture key, and P-256
/// keys added later under their own `kid`.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    rsa: Arc<RsaKeyPair>,
    added: Vec<(String, EcdsaKeyPair)>,
    rng: SystemRandom,
}

impl SigningKey {
    pub fn generate() -> SigningKey {
        let rng = SystemRandom::new();
        SigningKey {
            pair: generate_p256(&rng),
            rsa: rsa_fixture(),
            added: Vec::new(),
            rng,
        }
    }

    /// A compact JWS of `claims`: header `{"alg":"ES256","typ":"JWT","kid":FAKE_KID}`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, Alg::Es256, Some(FAKE_KID))
    }

    /// A compact JWS of `claims` signed as `alg` with the key of `kid` (the P-256 key for any
    /// `kid` not added, the RSA key for RS256), naming `kid` in the header when given.
    pub fn sign_as(&self, claims: &Value, alg: Alg, kid: Option<&str>) -> String {
        let mut header = json!({"alg": "none", "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        header["alg"] = json!(match alg {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::None => "none",
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match alg {
            Alg::None => Vec::new(),
            Alg::Es256 => {
                let pair = (self.added.iter())
                    .find(|(added, _)| Some(added.as_str()) == kid)
                    .map_or(&self.pair, |(_, pair)| pair);
                let signature = pair.sign(&self.rng, input.as_bytes());
                signature
                    .expect("sign with the P-256 key")
                    .as_ref()
                    .to_vec()
            }
            Alg::Rs256 => {
                let mut signature = vec![0; self.rsa.public().modulus_len()];
                (self.rsa)
                    .sign(
                        &RSA_PKCS1_SHA256,
                        &self.rng,
                        input.as_bytes(),
                        &mut signature,
                    )
                    .expect("sign with the RSA key");
                signature
            }
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Makes a P-256 key published under `kid` from now on (the issuer rotating its keys).
    pub fn add(&mut self, kid: &str) {
        let pair = generate_p256(&self.rng);
        self.added.push((kid.to_string(), pair));
    }

    /// Whether `jwt` is signed by this issuer's key its `kid` names: ES256 with [`FAKE_KID`] or
    /// RS256 with [`FAKE_RSA_KID`].
    pub fn verifies(&self, jwt: &Jwt) -> bool {
        let header = |name: &str| jwt.header.get(name).and_then(Value::as_str);
        let message = jwt.signing_input.as_bytes();
        match (header("alg"), header("kid")) {
            (Some("ES256"), Some(FAKE_KID)) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref())
                    .verify(message, &jwt.signature)
                    .is_ok()
            }
            (Some("RS256"), Some(FAKE_RSA_KID)) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, self.rsa.public().as_ref())
                    .verify(message, &jwt.signature)
                    .is_ok()
            }
            _ => false,
        }
    }

    /// The JWK Set of every key: `n`/`e` for RSA, `x`/`y` for P-256, each with its `kid`.
    pub fn jwks(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let ec = |kid: &str, pair: &EcdsaKeyPair| {
            // The public key is the uncompressed point 04 || x || y.
            let point = pair.public_key().as_ref();
            json!({"kty": "EC", "use": "sig", "crv": "P-256", "kid": kid,
                   "x": b64(&point[1..33]), "y": b64(&point[33..65])})
        };
        let rsa = RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public());
        let mut keys = vec![
            json!({"kty": "RSA", "use": "sig", "kid": FAKE_RSA_KID, "n": b64(&rsa.n),
                   "e": b64(&rsa.e)}),
            ec(FAKE_KID, &self.pair),
        ];
        keys.extend(self.added.iter().map(|(kid, pair)| ec(kid, pair)));
        json!({ "keys": keys })
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
