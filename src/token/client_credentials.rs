//! One OAuth2 client-credentials exchange with a token endpoint (Entra ID's wire format, which
//! generic OpenID providers share), and what its answer means for a retry.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::AccessToken;
use super::assertion::{self, Dialect};
use crate::credentials::Credential;
use crate::credentials::certificate::unix_now;
use crate::encoding::percent_encode;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Request, Transport};

/// Entra codes meaning "the certificate used for the assertion is not (or no longer) accepted":
/// reloading it may help. AADSTS7000215 (bad secret) is deliberately absent.
const CERTIFICATE_ERROR_CODES: &[u64] = &[700027, 700024, 7000214, 1000502, 7000274, 7000277];

/// Longest `Retry-After` waited for; a server asking for more fails the call instead of hanging it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The pause before the one quick retry on a 5xx without `Retry-After`.
const QUICK_RETRY: Duration = Duration::from_millis(200);

/// What the caller may do after a failed exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    No,
    /// Throttled or a server error: wait, then try once more.
    After(Duration),
    /// The certificate was refused: reload it and try once more.
    ReloadCertificate,
}

/// The parameters of one exchange.
pub struct Exchange<'a> {
    pub endpoint: &'a str,
    pub dialect: Dialect,
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub claims: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub send_x5c: bool,
    pub deadline: Instant,
    /// Whether a `Retry-After` may be waited for (not during a proactive refresh).
    pub may_wait: bool,
}

/// A successful exchange: the token and when to refresh it proactively.
pub struct Issued {
    pub token: AccessToken,
    pub expires_in: i64,
    pub refresh_in: Option<i64>,
}

pub type Outcome = std::result::Result<Issued, (Error, Retry)>;

/// Posts the form; transport failures are the outer error, token endpoint refusals the inner.
pub fn exchange(
    transport: &Transport,
    exchange: &Exchange,
    credential: &Credential,
) -> Result<Outcome> {
    let mut form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", exchange.client_id.to_string()),
        ("scope", exchange.scopes.join(" ")),
    ];
    match credential {
        Credential::Certificate(certificate) => {
            let jwt = assertion::sign(
                certificate,
                exchange.client_id,
                exchange.endpoint,
                exchange.dialect,
                exchange.send_x5c,
            )
            .map_err(|e| Error::new(ErrorKind::CredentialUnavailable, e))?;
            form.push(("client_assertion_type", JWT_BEARER.to_string()));
            form.push(("client_assertion", jwt));
        }
        Credential::ClientSecret(secret) => form.push(("client_secret", secret.to_string())),
        Credential::SignedAssertionFile(path) => {
            let assertion = std::fs::read_to_string(path)
                .map(|text| text.trim().to_string())
                .ok()
                .filter(|text| !text.is_empty())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::CredentialUnavailable,
                        format!("cannot read a signed assertion from '{}'", path.display()),
                    )
                })?;
            form.push(("client_assertion_type", JWT_BEARER.to_string()));
            form.push(("client_assertion", assertion));
        }
    }
    if let Some(claims) = exchange.claims {
        form.push(("claims", claims.to_string()));
    }
    let body = encode_form(&form);
    let mut headers = vec![
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("Accept".to_string(), "application/json".to_string()),
    ];
    if exchange.dialect == Dialect::Entra {
        headers.push((
            "x-ms-lib-capability".to_string(),
            "retry-after, h429".to_string(),
        ));
    }
    if let Some(id) = exchange.correlation_id {
        headers.push(("client-request-id".to_string(), id.to_string()));
    }
    let request = Request {
        method: "POST",
        url: exchange.endpoint,
        headers: &headers,
        body: body.as_bytes(),
    };
    let response = transport.send(&transport.anonymous_agent(), &request, exchange.deadline)?;
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    if (200..300).contains(&response.status) {
        return parse_token(json.as_ref()).map(Ok);
    }
    // A wait longer than MAX_RETRY_AFTER is not shortened: the server asked for it, so the call
    // fails and says how long the server asked to wait.
    let asked_wait = retry_after(response.header("retry-after"));
    let error = describe_error(
        response.status,
        json.as_ref(),
        exchange.endpoint,
        asked_wait,
    );
    let retry = match (response.status, asked_wait) {
        (429 | 500..=599, Some(wait)) if wait <= MAX_RETRY_AFTER => Retry::After(wait),
        (429 | 500..=599, Some(_)) => Retry::No,
        (429, None) => Retry::No,
        (500..=599, None) => Retry::After(QUICK_RETRY),
        _ if is_certificate_refusal(json.as_ref())
            && matches!(credential, Credential::Certificate(_)) =>
        {
            Retry::ReloadCertificate
        }
        _ => Retry::No,
    };
    Ok(Err((error, retry)))
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

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
    Ok(Issued {
        token: AccessToken {
            token: token.to_string(),
            expires_on: unix_now() + expires_in,
        },
        expires_in,
        refresh_in,
    })
}

/// Token lifetimes arrive as numbers or as strings of digits.
fn seconds(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
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

/// AADSTS codes from `error_codes` and from the description text.
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
            if let Ok(code) = digits.parse() {
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

fn encode_form(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Reads `token_endpoint` from an OpenID discovery document.
pub fn discover(transport: &Transport, url: &str, deadline: Instant) -> Result<String> {
    let headers = [("Accept".to_string(), "application/json".to_string())];
    let request = Request {
        method: "GET",
        url,
        headers: &headers,
        body: &[],
    };
    let response = transport.send(&transport.anonymous_agent(), &request, deadline)?;
    if response.status != 200 {
        return Err(Error::new(
            ErrorKind::TokenAcquisition,
            format!("HTTP {}", response.status),
        ));
    }
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|json| json.get("token_endpoint")?.as_str().map(str::to_string))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::TokenAcquisition,
                "the discovery document has no token_endpoint",
            )
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
