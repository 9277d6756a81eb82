//! What a token endpoint's answer means: a token and when to refresh it, or an error that names
//! the endpoint's `error`, description and AADSTS codes, and whether a retry may help (throttling,
//! a server error, or a certificate that is no longer accepted); and what a discovery document
//! names as the token endpoint.

use std::time::Duration;

use serde_json::Value;

use super::access_token::AccessToken;
use crate::clock::unix_now;
use crate::error::{Error, ErrorKind, Result};
use crate::remedy::Remedy;
use crate::transport::Response;

/// Entra codes meaning "the certificate used for the assertion is not (or no longer) accepted":
/// reloading it may help. AADSTS7000215 (bad secret) is deliberately absent.
const CERTIFICATE_ERROR_CODES: &[u64] = &[700027, 700024, 7000214, 1000502, 7000274, 7000277];

/// Longest `Retry-After` waited for; a server asking for more fails the call instead of hanging it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A successful exchange: the token and when to refresh it proactively.
pub struct Issued {
    pub token: AccessToken,
    /// `token_type` as answered ("Bearer", "mtls_pop"); empty when the answer had none.
    pub token_type: String,
    pub expires_in: i64,
    pub refresh_in: Option<i64>,
    /// A user grant's refresh token (kept only by a long-running session). Never logged.
    pub refresh_token: Option<String>,
}

/// Reads the endpoint's `response`: the token, or an error that names the endpoint's words and,
/// when a retry may help, the remedy it calls for (throttling or a server error: wait and ask
/// again; a certificate no longer accepted: reload it). `signed_with_certificate` says whether a
/// certificate reload could change the answer.
pub fn interpret(
    response: &Response,
    endpoint: &str,
    signed_with_certificate: bool,
) -> Result<Issued> {
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    if (200..300).contains(&response.status) {
        return parse_token(json.as_ref());
    }
    let asked_wait = retry_after(response.header("retry-after"));
    let codes = error_codes(json.as_ref());
    let error = describe_error(response.status, json.as_ref(), endpoint, asked_wait)
        .with_http_status(response.status)
        .with_aadsts_codes(
            codes
                .iter()
                .filter_map(|c| u32::try_from(*c).ok())
                .collect(),
        );
    if matches!(response.status, 429 | 500..=599) {
        return Err(match busy_remedy(response.status, asked_wait) {
            Some((remedy, wait)) => error.calling_for(remedy, wait),
            None => error,
        });
    }
    if signed_with_certificate && is_certificate_refusal(json.as_ref()) {
        return Err(error.calling_for(Remedy::RotateTokenCertificate, None));
    }
    Err(error)
}

/// Throttling or a server error: wait for `Retry-After` when it is at most [`MAX_RETRY_AFTER`]
/// (a longer wait is not shortened: the call fails and says how long the server asked for), or
/// briefly after a 5xx without one; a 429 without one is not retried.
fn busy_remedy(status: u16, asked_wait: Option<Duration>) -> Option<(Remedy, Option<Duration>)> {
    match (status, asked_wait) {
        (429 | 500..=599, Some(wait)) if wait <= MAX_RETRY_AFTER => {
            Some((Remedy::TokenEndpointBusy, Some(wait)))
        }
        (500..=599, None) => Some((Remedy::TokenEndpointBusy, None)),
        _ => None,
    }
}

fn parse_token(json: Option<&Value>) -> Result<Issued> {
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::TokenAcquisition,
            format!("the token endpoint's answer has no valid {what}"),
        )
    };
    let json = json.ok_or_else(|| invalid("JSON body"))?;
    let token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("access_token"))?;
    let expires_in = seconds(json.get("expires_in")).ok_or_else(|| invalid("expires_in"))?;
    let refresh_in = seconds(json.get("refresh_in"));
    let token_type = json.get("token_type").and_then(Value::as_str).unwrap_or("");
    let refresh_token = json
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Issued {
        token: AccessToken {
            token: token.to_string(),
            expires_on: unix_now().saturating_add(expires_in),
        },
        token_type: token_type.to_string(),
        expires_in,
        refresh_in,
        refresh_token,
    })
}

/// The longest lifetime believed: the server is not trusted to keep clock arithmetic in range.
const MAX_LIFETIME_SECONDS: i64 = 366 * 24 * 3600;

/// Token lifetimes arrive as numbers or as strings of digits; they are clamped to 0..=1 year.
fn seconds(value: Option<&Value>) -> Option<i64> {
    let seconds: i64 = match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    Some(seconds.clamp(0, MAX_LIFETIME_SECONDS))
}

fn describe_error(
    status: u16,
    json: Option<&Value>,
    endpoint: &str,
    asked_wait: Option<Duration>,
) -> Error {
    let field = |name: &str| json.and_then(|j| j.get(name)).and_then(Value::as_str);
    let mut message = format!("the token endpoint {endpoint} answered HTTP {status}");
    if let Some(error) = field("error") {
        message.push_str(&format!(": {error}"));
    }
    if let Some(description) = field("error_description") {
        // Entra descriptions carry trace and correlation ids on later lines; the first says why.
        message.push_str(&format!(
            ": {}",
            description.lines().next().unwrap_or_default()
        ));
    }
    let codes = error_codes(json);
    if !codes.is_empty() && !message.contains("AADSTS") {
        let codes: Vec<String> = codes.iter().map(|c| format!("AADSTS{c}")).collect();
        message.push_str(&format!(" ({})", codes.join(", ")));
    }
    if let Some(wait) = asked_wait {
        message.push_str(&format!(" (Retry-After: {} s)", wait.as_secs()));
    }
    Error::new(ErrorKind::TokenAcquisition, message)
}

/// AADSTS codes from `error_codes` and from the description text, each once.
fn error_codes(json: Option<&Value>) -> Vec<u64> {
    let mut codes: Vec<u64> = json
        .and_then(|j| j.get("error_codes"))
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if let Some(description) = json
        .and_then(|j| j.get("error_description"))
        .and_then(Value::as_str)
    {
        for piece in description.split("AADSTS").skip(1) {
            let digits: String = piece.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(code) = digits.parse()
                && !codes.contains(&code)
            {
                codes.push(code);
            }
        }
    }
    codes
}

fn is_certificate_refusal(json: Option<&Value>) -> bool {
    let is_invalid_client = json
        .and_then(|j| j.get("error"))
        .and_then(Value::as_str)
        .is_some_and(|e| e == "invalid_client");
    is_invalid_client
        && error_codes(json)
            .iter()
            .any(|c| CERTIFICATE_ERROR_CODES.contains(c))
}

/// `Retry-After` in seconds; HTTP dates are not honoured (Entra sends seconds).
fn retry_after(header: Option<&str>) -> Option<Duration> {
    let seconds: u64 = header?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// The token endpoints an OpenID discovery document names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub token_endpoint: String,
    /// `mtls_endpoint_aliases.token_endpoint` (RFC 8705 §5): where token requests made over mTLS
    /// go, when the provider has a separate one.
    pub mtls_token_endpoint: Option<String>,
}

/// The `token_endpoint` (and its mTLS alias) of an OpenID discovery document; a busy server's
/// answer calls for the same wait as the token endpoint's.
pub fn discovered_token_endpoint(response: &Response) -> Result<Discovered> {
    if response.status != 200 {
        let asked_wait = retry_after(response.header("retry-after"));
        let error = Error::new(
            ErrorKind::TokenAcquisition,
            format!("HTTP {}", response.status),
        )
        .with_http_status(response.status);
        return Err(match busy_remedy(response.status, asked_wait) {
            Some((remedy, wait)) => error.calling_for(remedy, wait),
            None => error,
        });
    }
    let json = serde_json::from_slice::<Value>(&response.body).ok();
    let text = |value: Option<&Value>| value?.as_str().map(str::to_string);
    let token_endpoint =
        text(json.as_ref().and_then(|j| j.get("token_endpoint"))).ok_or_else(|| {
            Error::new(
                ErrorKind::TokenAcquisition,
                "the discovery document has no token_endpoint",
            )
        })?;
    let mtls_token_endpoint = text(
        json.as_ref()
            .and_then(|j| j.get("mtls_endpoint_aliases")?.get("token_endpoint")),
    );
    Ok(Discovered {
        token_endpoint,
        mtls_token_endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn certificate_refusals_match_whole_codes_only() {
        let refused =
            json!({"error": "invalid_client", "error_description": "AADSTS700027: not registered"});
        assert!(is_certificate_refusal(Some(&refused)));
        let bad_secret = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret"});
        assert!(!is_certificate_refusal(Some(&bad_secret)));
        let by_list = json!({"error": "invalid_client", "error_codes": [7000274]});
        assert!(is_certificate_refusal(Some(&by_list)));
        let other_error = json!({"error": "invalid_grant", "error_codes": [700027]});
        assert!(!is_certificate_refusal(Some(&other_error)));
    }

    #[test]
    fn messages_keep_the_first_line_of_the_description() {
        let body = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret.\r\nTrace ID: 1"});
        let error = describe_error(401, Some(&body), "https://x/token", None);
        assert_eq!(
            error.message(),
            "the token endpoint https://x/token answered HTTP 401: invalid_client: AADSTS7000215: Invalid client secret."
        );
    }

    #[test]
    fn lifetimes_out_of_range_are_clamped() {
        assert_eq!(seconds(Some(&json!(i64::MAX))), Some(MAX_LIFETIME_SECONDS));
        assert_eq!(seconds(Some(&json!("-5"))), Some(0));
        let body = br#"{"access_token": "t", "expires_in": 9223372036854775807, "refresh_in": 9223372036854775807}"#;
        let answer = Response::new(200, Default::default(), body.to_vec());
        let issued = interpret(&answer, "https://x/token", false).unwrap();
        assert!(issued.token.expires_on > unix_now());
    }

    #[test]
    fn lifetimes_may_be_strings() {
        assert_eq!(seconds(Some(&json!("3599"))), Some(3599));
        assert_eq!(seconds(Some(&json!(60))), Some(60));
        assert_eq!(retry_after(Some("7")), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(Some("100000")),
            Some(Duration::from_secs(100_000))
        );
    }
}
