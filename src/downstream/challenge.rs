//! `WWW-Authenticate` challenges: the claims a resource demands before it accepts a token.

use base64::Engine;

use crate::transport::Response;

/// The claims of a 401 `WWW-Authenticate: Bearer ... error="insufficient_claims", claims="..."`
/// challenge, decoded from base64 when they are encoded (as Entra sends them).
pub(crate) fn claims_challenge(response: &Response) -> Option<String> {
    if response.status != 401 {
        return None;
    }
    let claims = response
        .headers_named("www-authenticate")
        .find_map(|challenge| {
            let error = challenge_parameter(challenge, "error")?;
            let claims = challenge_parameter(challenge, "claims")?;
            (error == "insufficient_claims" && !claims.is_empty()).then_some(claims)
        })?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&claims)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&claims))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|text| text.trim_start().starts_with('{'));
    Some(decoded.unwrap_or(claims))
}

/// The quoted value of `name="..."` in a `WWW-Authenticate` value; names ignore case.
fn challenge_parameter(challenge: &str, name: &str) -> Option<String> {
    let lower = challenge.to_ascii_lowercase();
    let needle = format!("{name}=\"");
    let mut from = 0;
    while let Some(found) = lower[from..].find(&needle) {
        let at = from + found;
        let start = at + needle.len();
        if at == 0 || matches!(lower.as_bytes()[at - 1], b' ' | b',' | b'\t') {
            let end = challenge[start..].find('"')? + start;
            return Some(challenge[start..end].to_string());
        }
        from = start;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_claims_challenges() {
        let challenge = |value: &str| {
            Response::new(401, Default::default(), Vec::new())
                .with_header("www-authenticate", value)
        };
        let encoded = challenge(
            r#"Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ==""#,
        );
        assert_eq!(
            claims_challenge(&encoded).as_deref(),
            Some(r#"{"access_token":{}}"#)
        );
        let other = challenge(r#"Bearer error="invalid_token""#);
        assert_eq!(claims_challenge(&other), None);
        let two = challenge(r#"PoP realm="""#).with_header(
            "WWW-Authenticate",
            r#"Bearer Error="insufficient_claims", Claims="eyJhIjoxfQ==""#,
        );
        assert_eq!(claims_challenge(&two).as_deref(), Some(r#"{"a":1}"#));
    }
}
