//! Reading a claim of a JWT access token without verifying it: to check that a token another
//! process shared is for the identity asking (the platform issued it; we only compare names).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The string claim `name` of a JWT's payload; `None` for an opaque token or a missing claim.
pub fn claim(token: &str, name: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let json: Value = serde_json::from_slice(&bytes).ok()?;
    json.get(name)?.as_str().map(str::to_string)
}

/// Whether one of `claims` of `token` is `value` (compared ignoring ASCII case: resource ids and
/// GUIDs are case-insensitive).
pub fn names(token: &str, claims: &[&str], value: &str) -> bool {
    claims
        .iter()
        .filter_map(|name| claim(token, name))
        .any(|found| found.eq_ignore_ascii_case(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!(
            "eyJhbGciOiJub25lIn0.{}.sig",
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let token = jwt(r#"{"oid": "AB-12", "xms_mirid": "/subscriptions/x"}"#);
        assert_eq!(claim(&token, "oid").as_deref(), Some("AB-12"));
        assert!(names(&token, &["oid"], "ab-12"));
        assert!(!names(&token, &["oid"], "other"));
        assert!(names(&token, &["appid", "xms_mirid"], "/SUBSCRIPTIONS/X"));
        assert_eq!(claim("opaque-token", "oid"), None);
        assert_eq!(claim("a.!!!.c", "oid"), None);
    }
}
