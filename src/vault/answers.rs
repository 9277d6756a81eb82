//! What the vault's answers mean: a certificate bundle (step 1: `id`, `sid`, `attributes`,
//! `policy.key_props.exportable`), a secret bundle (step 2: `value`, `contentType`), and each
//! refusal said in words an operator can act on. Nothing of a secret's value is ever put in a
//! message; the vault's own error messages (which hold none) are quoted, cut short.

use serde_json::Value;

use crate::credentials::{VaultSecret, VaultVersion};
use crate::encoding::{quote, split_url};

/// Step 1's answer.
pub fn certificate_bundle(body: &[u8]) -> Result<VaultVersion, String> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|_| "the certificate's answer is not JSON".to_string())?;
    let text = |value: &Value| value.as_str().map(str::to_string);
    let id = text(&json["id"]).ok_or("the certificate's answer has no id")?;
    let version = last_segment(&id).ok_or("the certificate's id has no version")?;
    let secret_id = text(&json["sid"]).ok_or("the certificate's answer has no sid")?;
    let attributes = &json["attributes"];
    Ok(VaultVersion {
        version,
        secret_id,
        enabled: attributes["enabled"].as_bool().unwrap_or(true),
        not_before: attributes["nbf"].as_i64(),
        expires: attributes["exp"].as_i64(),
        exportable: json["policy"]["key_props"]["exportable"].as_bool(),
    })
}

/// The secret's name and version from `sid` (`{vault}/secrets/{name}/{version}`), as Id.Web's
/// loader reads them: the request then goes to the configured vault, whatever host `sid` names.
pub fn secret_path(secret_id: &str) -> Result<(String, String), String> {
    let (_, _, path) = split_url(secret_id);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let safe = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match segments.as_slice() {
        ["secrets", name, version] if safe(name) && safe(version) => {
            Ok((name.to_string(), version.to_string()))
        }
        _ => Err(format!(
            "the certificate's sid {} is not …/secrets/NAME/VERSION",
            quote(secret_id)
        )),
    }
}

/// Step 2's answer.
pub fn secret_bundle(body: &[u8]) -> Result<VaultSecret, String> {
    let json: Value =
        serde_json::from_slice(body).map_err(|_| "the secret's answer is not JSON".to_string())?;
    let value = json["value"]
        .as_str()
        .ok_or("the secret's answer has no value")?
        .to_string();
    Ok(VaultSecret {
        content_type: json["contentType"].as_str().unwrap_or_default().to_string(),
        value,
    })
}

/// What a status other than 200 means for `what` ("certificate", "secret of version 'x'"), read by `who` (the identity); the vault's error code and message are added.
pub fn refusal(status: u16, body: &[u8], what: &str, who: &str) -> String {
    let meaning = match status {
        401 => format!("the vault refused the token of {who}"),
        403 => format!(
            "{who} may not read the {what}: it needs 'get' on certificates and secrets (access \
             policy) or the 'Key Vault Certificate User' role"
        ),
        404 => format!("there is no such {what} in the vault"),
        429 => "the vault is throttling requests".to_string(),
        500..=599 => "the vault is unavailable".to_string(),
        _ => format!("the vault answered the {what} request unexpectedly"),
    };
    let reason = http_reason(status);
    match vault_error(body) {
        Some(detail) => format!("{meaning} ({status} {reason}: {detail})"),
        None => format!("{meaning} ({status} {reason})"),
    }
}

fn http_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// Key Vault's `{"error": {"code", "message"}}`, cut to a line.
fn vault_error(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let error = &json["error"];
    let code = error["code"].as_str().unwrap_or_default();
    let message = error["message"].as_str().unwrap_or_default();
    let inner = error["innererror"]["code"].as_str();
    if code.is_empty() && message.is_empty() {
        return None;
    }
    let mut text = match inner {
        Some(inner) => format!("{code}/{inner}: {message}"),
        None => format!("{code}: {message}"),
    };
    text.retain(|c| !c.is_control());
    if text.chars().count() > 300 {
        text = text.chars().take(300).chain("…".chars()).collect();
    }
    Some(text)
}

fn last_segment(url: &str) -> Option<String> {
    let (_, _, path) = split_url(url);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.rsplit('/').find(|s| !s.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_are_read() {
        let body = br#"{"id": "https://c.vault.azure.net/certificates/orders/abc123",
            "sid": "https://c.vault.azure.net/secrets/orders/abc123",
            "attributes": {"enabled": true, "nbf": 1700000000, "exp": 1900000000},
            "policy": {"key_props": {"exportable": true, "kty": "RSA"}}}"#;
        let version = certificate_bundle(body).unwrap();
        assert_eq!(version.version, "abc123");
        assert_eq!(version.exportable, Some(true));
        assert_eq!(version.expires, Some(1_900_000_000));
        assert_eq!(
            secret_path(&version.secret_id).unwrap(),
            ("orders".into(), "abc123".into())
        );
        assert!(secret_path("https://c.vault.azure.net/secrets/orders").is_err());
        assert!(secret_path("https://c.vault.azure.net/secrets/a/b/../x").is_err());
        let secret = secret_bundle(br#"{"value": "MII", "contentType": "application/x-pkcs12"}"#);
        assert_eq!(secret.unwrap().content_type, "application/x-pkcs12");
    }

    #[test]
    fn refusals_say_what_to_do() {
        let body = br#"{"error": {"code": "Forbidden", "message": "Caller is not authorized",
            "innererror": {"code": "AccessDenied"}}}"#;
        let text = refusal(403, body, "certificate", "managed identity system-assigned");
        assert!(text.contains("may not read the certificate"), "{text}");
        assert!(
            text.contains("403 Forbidden: Forbidden/AccessDenied"),
            "{text}"
        );
        assert!(refusal(404, b"", "certificate", "x").contains("no such certificate"));
    }
}
