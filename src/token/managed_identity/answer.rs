//! What a managed-identity endpoint's answer means. The sources share OAuth2's `access_token` but
//! not the rest: `expires_on` (Unix seconds) comes as a number or as a string of digits, some
//! send `expires_in` instead, and errors come as OAuth2's `error`/`error_description`, as
//! `{"error": {"code", "message"}}`, or as App Service's `{"statusCode", "message"}`.

use serde_json::Value;

use super::super::access_token::AccessToken;
use crate::clock::unix_now;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::Response;

/// The longest lifetime believed: an answer is not trusted to keep clock arithmetic in range.
const MAX_LIFETIME_SECONDS: i64 = 366 * 24 * 3600;

/// A token from the endpoint, with its remaining lifetime and `refresh_in` when sent.
pub struct PlatformToken {
    pub token: AccessToken,
    pub expires_in: i64,
    pub refresh_in: Option<i64>,
}

/// A whole number of seconds, sent as a number or a string of digits.
fn seconds(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads a 2xx answer; `source` names the endpoint in errors.
pub fn parse_token(response: &Response, source: &str) -> Result<PlatformToken> {
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::TokenAcquisition,
            format!("the managed identity endpoint of {source} answered without a valid {what}"),
        )
    };
    let json: Value = serde_json::from_slice(&response.body).map_err(|_| invalid("JSON body"))?;
    let token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("access_token"))?;
    let now = unix_now();
    let expires_in = match seconds(json.get("expires_on")) {
        Some(expires_on) => expires_on.saturating_sub(now),
        None => seconds(json.get("expires_in")).ok_or_else(|| invalid("expires_on"))?,
    }
    .clamp(0, MAX_LIFETIME_SECONDS);
    let refresh_in = seconds(json.get("refresh_in")).map(|s| s.clamp(0, MAX_LIFETIME_SECONDS));
    Ok(PlatformToken {
        token: AccessToken {
            token: token.to_string(),
            expires_on: now + expires_in,
        },
        expires_in,
        refresh_in,
    })
}

/// The endpoint's own words for a failed request, kept short.
pub fn describe_error(response: &Response) -> String {
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
    let from_json = json.as_ref().and_then(|json| {
        let error = json.get("error");
        let code = text(error).or_else(|| text(error.and_then(|e| e.get("code"))));
        let message = text(json.get("error_description"))
            .or_else(|| text(error.and_then(|e| e.get("message"))))
            .or_else(|| text(json.get("message")))
            .or_else(|| text(json.get("Message")));
        match (code, message) {
            (Some(code), Some(message)) => Some(format!("{code}: {message}")),
            (code, message) => code.or(message),
        }
    });
    let detail = from_json.unwrap_or_else(|| {
        String::from_utf8_lossy(&response.body)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_string()
    });
    let detail: String = detail.chars().take(300).collect();
    if detail.is_empty() {
        format!("HTTP {}", response.status)
    } else {
        format!("HTTP {}: {detail}", response.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            body: body.as_bytes().to_vec(),
            ..Response::default()
        }
    }

    #[test]
    fn expires_on_as_number_or_string_and_expires_in() {
        let now = unix_now();
        for body in [
            format!(r#"{{"access_token": "t", "expires_on": {}}}"#, now + 3600),
            format!(r#"{{"access_token": "t", "expires_on": "{}"}}"#, now + 3600),
            r#"{"access_token": "t", "expires_in": "3600"}"#.to_string(),
        ] {
            let token = parse_token(&answer(200, &body), "IMDS").unwrap();
            assert!((3598..=3600).contains(&token.expires_in), "{body}");
        }
        let missing = parse_token(&answer(200, r#"{"access_token": "t"}"#), "IMDS")
            .err()
            .unwrap()
            .to_string();
        assert!(missing.contains("expires_on"), "{missing}");
    }

    #[test]
    fn errors_in_each_shape() {
        assert_eq!(
            describe_error(&answer(
                400,
                r#"{"error": "invalid_request", "error_description": "Identity not found"}"#
            )),
            "HTTP 400: invalid_request: Identity not found"
        );
        assert_eq!(
            describe_error(&answer(
                400,
                r#"{"statusCode": 400, "message": "bad resource"}"#
            )),
            "HTTP 400: bad resource"
        );
        assert_eq!(
            describe_error(&answer(500, r#"{"error": {"code": "E", "message": "m"}}"#)),
            "HTTP 500: E: m"
        );
        assert_eq!(describe_error(&answer(503, "")), "HTTP 503");
    }
}
