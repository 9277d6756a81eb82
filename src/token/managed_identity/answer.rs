//! What a managed-identity endpoint's answer means. The sources share OAuth2's `access_token` but
//! not the rest: `expires_on` (Unix seconds) comes as a number or as a string of digits, some
//! send `expires_in` instead, and errors come as OAuth2's `error`/`error_description`, as
//! `{"error": {"code", "message"}}`, or as App Service's `{"statusCode", "message"}`.
//!
//! The expiry is not believed blindly: an `expires_on` beyond the year 5000 in seconds is taken
//! as milliseconds; a token already expired or expiring within the 5-minute margin in which the
//! cache no longer hands tokens out is an error naming the endpoint and the value (it could only
//! be refused by the API); a lifetime above 24 h (managed-identity tokens live about 24 h) is
//! shortened to 24 h, so a wrong unit or clock never keeps a token cached for longer.

use serde_json::Value;

use super::super::access_token::{AccessToken, EXPIRY_MARGIN_SECONDS};
use crate::clock::unix_now;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::Response;

/// The longest lifetime believed: managed-identity tokens live about 24 h.
const MAX_LIFETIME_SECONDS: i64 = 24 * 3600;

/// An `expires_on` at or beyond this (5000-01-01 in Unix seconds) is in Unix milliseconds.
const MILLISECONDS_FROM: i64 = 95_617_584_000;

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
    let expires_in = lifetime(&json, now, source)?.ok_or_else(|| invalid("expires_on"))?;
    let refresh_in = seconds(json.get("refresh_in")).map(|s| s.clamp(0, expires_in));
    Ok(PlatformToken {
        token: AccessToken {
            token: token.to_string(),
            expires_on: now + expires_in,
        },
        expires_in,
        refresh_in,
    })
}

/// The token's lifetime from `now` as the answer states it (`expires_on`, else `expires_in`), at
/// most [`MAX_LIFETIME_SECONDS`]; `None` when it states none; an error when the token is already
/// expired or inside the [`EXPIRY_MARGIN_SECONDS`] margin.
fn lifetime(json: &Value, now: i64, source: &str) -> Result<Option<i64>> {
    let (lifetime, stated) = match seconds(json.get("expires_on")) {
        Some(on) if on >= MILLISECONDS_FROM => (
            (on / 1000).saturating_sub(now),
            format!("expires_on {on} (Unix milliseconds)"),
        ),
        Some(on) => (on.saturating_sub(now), format!("expires_on {on}")),
        None => match seconds(json.get("expires_in")) {
            Some(lifetime) => (lifetime, format!("expires_in {lifetime}")),
            None => return Ok(None),
        },
    };
    if lifetime <= EXPIRY_MARGIN_SECONDS {
        let when = match lifetime {
            ..=0 => format!("expired {} s ago", lifetime.saturating_neg()),
            _ => format!("expires in {lifetime} s"),
        };
        return Err(Error::new(
            ErrorKind::TokenAcquisition,
            format!(
                "the managed identity endpoint of {source} answered a token that {when} \
                 ({stated}): tokens are not used within the {}-minute margin before they expire",
                EXPIRY_MARGIN_SECONDS / 60
            ),
        ));
    }
    Ok(Some(lifetime.min(MAX_LIFETIME_SECONDS)))
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
        Response::new(status, Default::default(), body.as_bytes().to_vec())
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
    fn milliseconds_are_recognised_long_lifetimes_shortened_and_short_ones_refused() {
        let now = unix_now();
        let lifetime = |body: String| parse_token(&answer(200, &body), "IMDS at http://x");
        for (body, expected) in [
            (
                format!(
                    r#"{{"access_token": "t", "expires_on": {}}}"#,
                    (now + 3600) * 1000
                ),
                3600,
            ),
            (
                format!(
                    r#"{{"access_token": "t", "expires_on": {}}}"#,
                    now + 400 * 86400
                ),
                86400,
            ),
            (
                r#"{"access_token": "t", "expires_in": 3600000}"#.to_string(),
                86400,
            ),
            (
                format!(
                    r#"{{"access_token": "t", "expires_on": "{}", "refresh_in": 99999}}"#,
                    now + 3600
                ),
                3600,
            ),
        ] {
            let token = lifetime(body.clone()).unwrap();
            assert!(
                (expected - 2..=expected).contains(&token.expires_in),
                "{body}"
            );
            assert!(
                token.refresh_in.is_none_or(|r| r <= token.expires_in),
                "{body}"
            );
        }
        for (body, part) in [
            (
                format!(r#"{{"access_token": "t", "expires_on": {}}}"#, now - 60),
                "expired 60 s ago",
            ),
            (
                format!(r#"{{"access_token": "t", "expires_on": {}}}"#, now + 100),
                "expires in 100 s",
            ),
            (
                r#"{"access_token": "t", "expires_in": "-5"}"#.to_string(),
                "(expires_in -5)",
            ),
        ] {
            let error = lifetime(body.clone()).err().unwrap().to_string();
            assert!(
                error.contains(part) && error.contains("http://x"),
                "{error}"
            );
        }
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
