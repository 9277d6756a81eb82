//! A compact JWS (RFC 7515) taken apart: header, claims, signature, and the bytes the signature
//! covers. Nothing in it is trusted yet: the signature is checked against the issuer's keys, the
//! claims against the rules, by the parts above. Messages describe the token's shape, never its
//! text: a caller may log them, and a token is a credential.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};

/// Longest token read: Entra's access tokens are a few kilobytes, and a larger input is refused
/// before any decoding work is spent on it.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The signature algorithms accepted: Entra ID signs with RS256, generic OpenID providers often
/// with ES256. Anything else, `none` above all, is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rs256,
    Es256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
        }
    }
}

/// A token split into its parts and decoded.
pub struct Jws<'a> {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    pub signature: Vec<u8>,
    /// `header.payload` as received: what the signature covers.
    pub signing_input: &'a str,
}

/// A refusal of the token, of kind [`ErrorKind::TokenInvalid`].
pub fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::TokenInvalid, message)
}

/// Splits and decodes a compact JWS: three base64url parts without padding, the first two JSON
/// objects.
pub fn parse(token: &str) -> Result<Jws<'_>> {
    let malformed = |why: &str| invalid(format!("malformed token: {why}"));
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed(&format!(
            "longer than {MAX_TOKEN_BYTES} bytes ({} bytes)",
            token.len()
        )));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(malformed(&format!(
            "{} dot-separated parts, not 3 (a compact JWS)",
            parts.len()
        )));
    };
    // The decoder's own error would quote a character of the token: say which part instead.
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| malformed(&format!("the {what} is not base64url without padding")))
    };
    let object = |bytes: Vec<u8>, what: &str| match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(&format!("the {what} is not a JSON object"))),
    };
    Ok(Jws {
        header: object(decode(header, "header")?, "header")?,
        claims: object(decode(payload, "payload")?, "payload")?,
        signature: decode(signature, "signature")?,
        signing_input: &token[..header.len() + 1 + payload.len()],
    })
}

impl Jws<'_> {
    /// The header's `alg`, when it is one accepted. `none` is refused by name: an unsigned token
    /// claims whatever its author wants.
    pub fn algorithm(&self) -> Result<Algorithm> {
        if self.header.contains_key("crit") {
            // RFC 7515 §4.1.11: extensions the recipient does not understand make it invalid.
            return Err(invalid(
                "the token's header has 'crit' extensions, not supported",
            ));
        }
        match self.header.get("alg").and_then(Value::as_str) {
            Some("RS256") => Ok(Algorithm::Rs256),
            Some("ES256") => Ok(Algorithm::Es256),
            Some(none) if none.eq_ignore_ascii_case("none") => {
                Err(invalid("alg none refused: the token is not signed"))
            }
            Some(other) => Err(invalid(format!(
                "alg {} refused (RS256 and ES256 are accepted)",
                quote(other)
            ))),
            None => Err(invalid("malformed token: the header has no alg")),
        }
    }

    /// The header's `kid`: which of the issuer's keys signed the token.
    pub fn key_id(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn error_of(token: &str) -> String {
        match parse(token) {
            Ok(_) => panic!("parsed"),
            Err(error) => error.message().to_string(),
        }
    }

    #[test]
    fn parts_are_decoded_and_the_signing_input_kept() {
        let token = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","kid":"k"}"#),
            b64("{}"),
            b64("s")
        );
        let jws = parse(&token).unwrap();
        assert_eq!(jws.algorithm().unwrap(), Algorithm::Rs256);
        assert_eq!(jws.key_id(), Some("k"));
        assert_eq!(jws.signature, b"s");
        assert_eq!(jws.signing_input, token.rsplit_once('.').unwrap().0);
    }

    #[test]
    fn malformed_tokens_are_described_without_their_text() {
        let secretive = "c2VjcmV0LXBhcnQ";
        assert!(error_of("abc").contains("1 dot-separated parts"));
        assert!(error_of("a.b.c.d").contains("4 dot-separated parts"));
        let bad = format!("{secretive}!.{}.x", b64("{}"));
        assert!(error_of(&bad).contains("header is not base64url"));
        assert!(!error_of(&bad).contains(secretive));
        let not_json = format!("{}.{}.x", b64("{}"), b64("[1]"));
        assert!(error_of(&not_json).contains("payload is not a JSON object"));
        let padded = format!("{}.{}=.x", b64("{}"), b64("{}"));
        assert!(error_of(&padded).contains("payload is not base64url"));
        assert!(error_of(&"a".repeat(MAX_TOKEN_BYTES + 1)).contains("longer than"));
    }

    #[test]
    fn only_rs256_and_es256_are_accepted() {
        let with = |header: &str| {
            let token = format!("{}.{}.", b64(header), b64("{}"));
            parse(&token)
                .unwrap()
                .algorithm()
                .map_err(|e| e.message().to_string())
        };
        assert_eq!(with(r#"{"alg":"ES256"}"#), Ok(Algorithm::Es256));
        assert!(
            with(r#"{"alg":"none"}"#)
                .unwrap_err()
                .contains("alg none refused")
        );
        assert!(
            with(r#"{"alg":"NONE"}"#)
                .unwrap_err()
                .contains("alg none refused")
        );
        assert!(
            with(r#"{"alg":"HS256"}"#)
                .unwrap_err()
                .contains("'HS256' refused")
        );
        assert!(with(r#"{}"#).unwrap_err().contains("no alg"));
        assert!(
            with(r#"{"alg":"RS256","crit":["b64"]}"#)
                .unwrap_err()
                .contains("crit")
        );
    }
}
