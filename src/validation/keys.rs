//! The issuer's signing keys: a JWK Set (RFC 7517) read into RSA and P-256 public keys, and a
//! token's signature checked with the key its `kid` names. Keys this library cannot use (other
//! curves, symmetric keys, encryption keys) are skipped: a JWK Set may publish them for others.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use serde_json::Value;

use super::jwt::{Algorithm, Jws, invalid};
use crate::encoding::quote;
use crate::error::Result;

/// One public key of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKey {
    /// Modulus and exponent, big-endian, without leading zero bytes.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed point `04 || x || y`.
    P256 { point: Vec<u8> },
}

impl PublicKey {
    /// The key of one JWK, or `None` when it is not an RS256 or ES256 signing key.
    fn from_jwk(jwk: &Value) -> Option<PublicKey> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        let bytes = |name: &str| URL_SAFE_NO_PAD.decode(text(name)?).ok();
        if text("use").is_some_and(|usage| usage != "sig") {
            return None;
        }
        match (text("kty")?, text("alg")) {
            ("RSA", None | Some("RS256")) => {
                // ring takes the integers without leading zeros; some issuers pad the modulus.
                let trimmed = |v: Vec<u8>| -> Vec<u8> {
                    v.iter().skip_while(|b| **b == 0).copied().collect()
                };
                let (n, e) = (trimmed(bytes("n")?), trimmed(bytes("e")?));
                (!n.is_empty() && !e.is_empty()).then_some(PublicKey::Rsa { n, e })
            }
            ("EC", None | Some("ES256")) if text("crv") == Some("P-256") => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = vec![0x04];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Some(PublicKey::P256 { point })
            }
            _ => None,
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Rsa { .. } => Algorithm::Rs256,
            PublicKey::P256 { .. } => Algorithm::Es256,
        }
    }

    fn verifies(&self, jws: &Jws) -> bool {
        let message = jws.signing_input.as_bytes();
        match self {
            PublicKey::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, message, &jws.signature)
                .is_ok(),
            PublicKey::P256 { point } => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message, &jws.signature)
                .is_ok(),
        }
    }
}

/// What checking a signature found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    /// No key of the set has the token's `kid`: the issuer may have rotated its keys since they
    /// were read.
    UnknownKey,
}

/// The usable keys of an issuer's JWK Set, with their `kid`s.
#[derive(Debug, Default)]
pub struct SigningKeys {
    keys: Vec<(Option<String>, PublicKey)>,
}

impl SigningKeys {
    /// The RS256 and ES256 signing keys of a JWK Set document; an error (the reason, for the
    /// caller to name the document) when it is not one or holds none.
    pub fn from_jwks(document: &Value) -> std::result::Result<SigningKeys, String> {
        let entries = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("not a JWK Set (no 'keys' array)")?;
        let keys: Vec<_> = entries
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_string);
                Some((kid, PublicKey::from_jwk(jwk)?))
            })
            .collect();
        if keys.is_empty() {
            return Err(format!(
                "none of its {} keys is an RS256 (RSA) or ES256 (P-256) signing key",
                entries.len()
            ));
        }
        Ok(SigningKeys { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Checks the signature of `jws` (made with `algorithm`) with the key its `kid` names; a token
    /// without a `kid` is tried with every key of the algorithm's type, as IdentityModel does.
    pub fn verify(&self, jws: &Jws, algorithm: Algorithm) -> Result<Verdict> {
        let kid = jws.key_id();
        let candidates: Vec<&PublicKey> = self
            .keys
            .iter()
            .filter(|(key_id, _)| kid.is_none() || key_id.as_deref() == kid)
            .map(|(_, key)| key)
            .collect();
        if candidates.is_empty() {
            return Ok(Verdict::UnknownKey);
        }
        let fitting: Vec<&&PublicKey> = candidates
            .iter()
            .filter(|key| key.algorithm() == algorithm)
            .collect();
        if fitting.is_empty() {
            return Err(invalid(format!(
                "the token says alg {} but key id {} is a {} key",
                algorithm.name(),
                quote(kid.unwrap_or("")),
                candidates[0].algorithm().name()
            )));
        }
        if fitting.iter().any(|key| key.verifies(jws)) {
            return Ok(Verdict::Verified);
        }
        Err(invalid(format!(
            "signature does not verify with key id {}",
            quote(kid.unwrap_or("(none: every key tried)"))
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unusable_keys_are_skipped() {
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let document = json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": "AAEC", "e": "AQAB"},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": x, "y": x},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": x, "y": x},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQ", "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "no-n", "e": "AQAB"},
        ]});
        let keys = SigningKeys::from_jwks(&document).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys.keys[0].1,
            PublicKey::Rsa {
                n: vec![1, 2],
                e: vec![1, 0, 1]
            },
            "leading zeros trimmed"
        );
        assert!(SigningKeys::from_jwks(&json!({"keys": [{"kty": "oct"}]})).is_err());
        assert!(SigningKeys::from_jwks(&json!({"issuer": "x"})).is_err());
    }
}
