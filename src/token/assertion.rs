//! The client assertion: a JWT signed with the certificate's key, proving the client's identity
//! to the token endpoint. Signed with the rustls crypto provider's signing key (no RSA crate).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SecureRandom;
use rustls::SignatureScheme;
use serde_json::json;

use crate::clock::unix_now;
use crate::credentials::Certificate;

/// Which header conventions the token endpoint expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Entra ID: PS256 and `x5t#S256`.
    Entra,
    /// Generic OpenID provider / ADFS: RS256 and `x5t` (SHA-1).
    Generic,
}

/// Assertions are valid for 10 minutes, the most Entra accepts.
const LIFETIME_SECONDS: i64 = 600;

/// Builds and signs an assertion for `client_id` addressed to `audience` (the exact token endpoint
/// URL the form is posted to). `x5c` carries the leaf certificate when `send_x5c`.
pub fn sign(
    certificate: &Certificate,
    client_id: &str,
    audience: &str,
    dialect: Dialect,
    send_x5c: bool,
) -> Result<String, String> {
    let key = certificate.signing_key();
    let preferred: &[(SignatureScheme, &str)] = match dialect {
        Dialect::Entra => &[
            (SignatureScheme::RSA_PSS_SHA256, "PS256"),
            (SignatureScheme::RSA_PKCS1_SHA256, "RS256"),
            (SignatureScheme::ECDSA_NISTP256_SHA256, "ES256"),
        ],
        Dialect::Generic => &[
            (SignatureScheme::RSA_PKCS1_SHA256, "RS256"),
            (SignatureScheme::ECDSA_NISTP256_SHA256, "ES256"),
        ],
    };
    let (signer, alg) = preferred
        .iter()
        .find_map(|(scheme, alg)| key.choose_scheme(&[*scheme]).map(|signer| (signer, *alg)))
        .ok_or("the certificate's key cannot sign with PS256, RS256 or ES256")?;

    let leaf = certificate.leaf().as_ref();
    let mut header = json!({"alg": alg, "typ": "JWT"});
    match dialect {
        Dialect::Entra => {
            header["x5t#S256"] = URL_SAFE_NO_PAD
                .encode(ring::digest::digest(&ring::digest::SHA256, leaf))
                .into();
        }
        Dialect::Generic => {
            header["x5t"] = URL_SAFE_NO_PAD
                .encode(ring::digest::digest(
                    &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                    leaf,
                ))
                .into();
        }
    }
    if send_x5c {
        header["x5c"] = json!([STANDARD.encode(leaf)]);
    }
    let now = unix_now();
    let claims = json!({
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": random_id()?,
        "nbf": now,
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer
        .sign(signing_input.as_bytes())
        .map_err(|e| format!("signing the client assertion failed: {e}"))?;
    let signature = if alg == "ES256" {
        ecdsa_der_to_fixed(&signature, 32)?
    } else {
        signature
    };
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// A random 128-bit identifier as a UUID-shaped string.
fn random_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness available for the assertion id".to_string())?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// JWS wants ECDSA signatures as `r || s`; ring produces ASN.1 `SEQUENCE { r INTEGER, s INTEGER }`.
fn ecdsa_der_to_fixed(der: &[u8], size: usize) -> Result<Vec<u8>, String> {
    let invalid = || "unexpected ECDSA signature encoding".to_string();
    let mut rest = der.strip_prefix(&[0x30]).ok_or_else(invalid)?;
    let (_, after_len) = read_length(rest).ok_or_else(invalid)?;
    rest = after_len;
    let mut out = Vec::with_capacity(2 * size);
    for _ in 0..2 {
        rest = rest.strip_prefix(&[0x02]).ok_or_else(invalid)?;
        let (len, after) = read_length(rest).ok_or_else(invalid)?;
        let integer = after.get(..len).ok_or_else(invalid)?;
        rest = &after[len..];
        let trimmed = &integer[integer.iter().take_while(|b| **b == 0).count()..];
        if trimmed.len() > size {
            return Err(invalid());
        }
        out.extend(std::iter::repeat_n(0u8, size - trimmed.len()));
        out.extend_from_slice(trimmed);
    }
    Ok(out)
}

fn read_length(input: &[u8]) -> Option<(usize, &[u8])> {
    let first = *input.first()?;
    if first < 0x80 {
        Some((first as usize, &input[1..]))
    } else if first == 0x81 {
        Some((*input.get(1)? as usize, &input[2..]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_der_ecdsa_signatures() {
        // r = 0x00ff (leading zero for sign), s = 0x01
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01];
        let fixed = ecdsa_der_to_fixed(&der, 4).unwrap();
        assert_eq!(fixed, [0, 0, 0, 0xff, 0, 0, 0, 1]);
    }

    #[test]
    fn ids_are_unique_and_uuid_shaped() {
        let a = random_id().unwrap();
        assert_eq!(a.len(), 36);
        assert_ne!(a, random_id().unwrap());
    }
}
