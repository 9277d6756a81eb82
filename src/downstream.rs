//! `DownstreamApi`: resolves an API's options (configuration merged with per-call overrides), builds
//! the URL and headers, dispatches on the protocol, and retries once after a certificate rejection.

use std::borrow::Cow;
use std::sync::Arc;

use crate::config::{AcquireTokenOptions, ApiOptions, Config, Node, ProtocolScheme};
use crate::credentials::observer::{Observer, Usage};
use crate::credentials::{CredentialsProvider, Purpose};
use crate::encoding::{encode_unsafe_url_characters, percent_encode, redact_url};
use crate::error::{Error, ErrorKind, Result};
use crate::token::{AccessToken, TokenProvider};
use crate::transport::{self, Request, Response, Transport};

pub struct DownstreamApi {
    config: Config,
    credentials: CredentialsProvider,
    transport: Transport,
    tokens: TokenProvider,
}

impl DownstreamApi {
    pub fn new(config: Config) -> Result<Self> {
        let crypto = Arc::new(rustls::crypto::ring::default_provider());
        let transport = Transport::new(&config.http, crypto.clone())?;
        let credentials = CredentialsProvider::new(&config.identity.client_credentials, crypto);
        let tokens = TokenProvider::new(&config.identity);
        if let Some((name, _)) = config
            .apis
            .iter()
            .find(|(_, api)| api.protocol_scheme != ProtocolScheme::Mtls)
        {
            tokens
                .validate()
                .map_err(|e| e.context(format!("DownstreamApis.{name} needs tokens")))?;
        }
        Ok(DownstreamApi {
            config,
            credentials,
            transport,
            tokens,
        })
    }

    pub fn from_json(json: &str) -> Result<Self> {
        DownstreamApi::new(Config::parse(json)?)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn add_observer(&self, observer: Observer) {
        self.credentials.add_observer(observer);
    }

    /// Calls the API named `api_name` in `DownstreamApis`. Any HTTP status is a successful call;
    /// an error means no response could be had.
    pub fn call(
        &self,
        api_name: &str,
        overrides_json: Option<&str>,
        body: &[u8],
    ) -> Result<Response> {
        let options = self.options_for(api_name, overrides_json)?;
        let url = build_url(&options);
        match options.protocol_scheme {
            ProtocolScheme::Mtls => self.call_mtls(&options, &url, body),
            ProtocolScheme::Bearer => self.call_bearer(&options, &url, body),
            ProtocolScheme::MtlsPop => Err(mtls_pop_unsupported()),
        }
        .map_err(|e| e.context(format!("calling API '{api_name}' ({})", redact_url(&url))))
    }

    /// The `Authorization` header value a call to `api_name` would carry, for hosts that send
    /// requests with their own HTTP stack (Id.Web's `IAuthorizationHeaderProvider`).
    pub fn authorization_header(
        &self,
        api_name: &str,
        overrides_json: Option<&str>,
    ) -> Result<String> {
        let options = self.options_for(api_name, overrides_json)?;
        match options.protocol_scheme {
            ProtocolScheme::Bearer => {
                let deadline = transport::deadline_after(self.transport.options().timeout);
                let token =
                    self.token(&options.scopes, &options.acquire_token_options, deadline)?;
                Ok(format!("Bearer {}", token.token))
            }
            ProtocolScheme::Mtls => Err(Error::new(
                ErrorKind::Unsupported,
                "an MTLS API has no Authorization header: the client certificate authenticates",
            )),
            ProtocolScheme::MtlsPop => Err(mtls_pop_unsupported()),
        }
        .map_err(|e| e.context(format!("authorization header for API '{api_name}'")))
    }

    /// An app token for explicit scopes; `options_json` is an `AcquireTokenOptions` object.
    pub fn acquire_token(
        &self,
        scopes: &[&str],
        options_json: Option<&str>,
    ) -> Result<AccessToken> {
        let options = match options_json {
            None => AcquireTokenOptions::default(),
            Some(json) => {
                let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
                    Error::new(
                        ErrorKind::Config,
                        format!("options are not valid JSON: {e}"),
                    )
                })?;
                AcquireTokenOptions::read(
                    &Node::named(&value, "options"),
                    &AcquireTokenOptions::default(),
                )?
            }
        };
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let deadline = transport::deadline_after(self.transport.options().timeout);
        self.token(&scopes, &options, deadline)
    }

    fn token(
        &self,
        scopes: &[String],
        options: &AcquireTokenOptions,
        deadline: std::time::Instant,
    ) -> Result<AccessToken> {
        self.tokens.acquire(
            &self.credentials,
            &self.transport,
            scopes,
            options,
            deadline,
        )
    }

    /// Bearer: an app token in `Authorization`, no client certificate. A claims challenge (401
    /// with `error="insufficient_claims"`) gets a token with those claims and one resend.
    fn call_bearer(&self, options: &ApiOptions, url: &str, body: &[u8]) -> Result<Response> {
        if !url.starts_with("https://") {
            return Err(Error::new(
                ErrorKind::InsecureUrl,
                "refusing to send a token over plain http://",
            ));
        }
        let deadline = transport::deadline_after(self.transport.options().timeout);
        let token = self.token(&options.scopes, &options.acquire_token_options, deadline)?;
        let mut headers = request_headers(options, body);
        headers.push((
            "Authorization".to_string(),
            format!("Bearer {}", token.token),
        ));
        let agent = self.transport.anonymous_agent();
        let send = |headers: &[(String, String)]| {
            let request = Request {
                method: &options.http_method,
                url,
                headers,
                body,
            };
            self.transport.send(&agent, &request, deadline)
        };
        let response = send(&headers)?;
        let Some(claims) = claims_challenge(&response) else {
            return Ok(response);
        };
        crate::log::info(|| {
            format!(
                "{} asked for claims; acquiring a new token and resending once",
                redact_url(url)
            )
        });
        let with_claims = AcquireTokenOptions {
            claims: Some(claims),
            ..options.acquire_token_options.clone()
        };
        let token = self.token(&options.scopes, &with_claims, deadline)?;
        if let Some(header) = headers.last_mut() {
            header.1 = format!("Bearer {}", token.token);
        }
        send(&headers)
    }

    fn options_for(
        &self,
        api_name: &str,
        overrides_json: Option<&str>,
    ) -> Result<Cow<'_, ApiOptions>> {
        let base = self.config.api(api_name).ok_or_else(|| {
            let known: Vec<&str> = self
                .config
                .apis
                .iter()
                .map(|(name, _)| name.as_str())
                .collect();
            Error::new(
                ErrorKind::UnknownApi,
                format!(
                    "no API named '{api_name}' in DownstreamApis (configured: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })?;
        let Some(json) = overrides_json else {
            return Ok(Cow::Borrowed(base));
        };
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("overrides are not valid JSON: {e}"),
            )
        })?;
        let merged = ApiOptions::read(&Node::named(&value, "overrides"), base)?;
        merged.validate("overrides")?;
        Ok(Cow::Owned(merged))
    }

    /// MTLS: the selected certificate in the handshake, no token. A certificate rejection deselects
    /// it, reloads it from its source and resends the same request once.
    fn call_mtls(&self, options: &ApiOptions, url: &str, body: &[u8]) -> Result<Response> {
        if !url.starts_with("https://") {
            return Err(Error::new(
                ErrorKind::InsecureUrl,
                "refusing to present a client certificate over plain http://",
            ));
        }
        let usage = Usage {
            protocol: ProtocolScheme::Mtls.name(),
            api_url: url,
        };
        let headers = request_headers(options, body);
        let request = Request {
            method: &options.http_method,
            url,
            headers: &headers,
            body,
        };
        let deadline = transport::deadline_after(self.transport.options().timeout);
        let mut selection = self.credentials.select(Purpose::Mtls, &usage)?;
        let mut retried = false;
        loop {
            let certificate = selection.certificate().cloned().ok_or_else(|| {
                Error::new(
                    ErrorKind::CredentialUnavailable,
                    "the MTLS selection is not a certificate",
                )
            })?;
            let agent = self.transport.agent_for(&certificate);
            let outcome = self.transport.send(&agent, &request, deadline);
            let rejection = match &outcome {
                Ok(response) => response_rejects_certificate(response),
                Err(error) if error.kind() == ErrorKind::CertificateRejected => {
                    Some(error.message().to_string())
                }
                Err(_) => None,
            };
            match rejection {
                None => {
                    if outcome.is_ok() {
                        self.credentials.used(&selection, &usage);
                    }
                    return outcome;
                }
                Some(reason) if !retried => {
                    retried = true;
                    // No pooled connection or TLS session of the rejected certificate is reused,
                    // now or by a thread that was still using it during the reload.
                    self.transport.forget(&certificate);
                    selection = self
                        .credentials
                        .rotate(Purpose::Mtls, &selection, &usage, &reason)
                        .map_err(|e| e.context(&reason))?;
                    if selection
                        .certificate()
                        .is_none_or(|c| !Arc::ptr_eq(c, &certificate))
                    {
                        self.transport.forget(&certificate);
                    }
                    crate::log::info(|| {
                        format!(
                            "retrying {} once after reloading the certificate",
                            redact_url(url)
                        )
                    });
                }
                // The retry was rejected too: a response is returned as is, an error says so.
                Some(_) => {
                    return outcome.map_err(|e| {
                        e.context(format!(
                            "certificate {} rejected again after reloading it",
                            certificate.thumbprint
                        ))
                    });
                }
            }
        }
    }
}

fn mtls_pop_unsupported() -> Error {
    Error::new(
        ErrorKind::Unsupported,
        "ProtocolScheme MTLS_POP is not supported yet; use MTLS or Bearer",
    )
}

/// The claims of a 401 `WWW-Authenticate: Bearer ... error="insufficient_claims", claims="..."`
/// challenge, decoded from base64 when they are encoded (as Entra sends them).
fn claims_challenge(response: &Response) -> Option<String> {
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
    use base64::Engine;
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

/// HTTP answers that mean "your client certificate is not accepted" on an MTLS call: nginx's
/// 495/496, a 401, and nginx's `ssl_verify_client on` answer — a 400 whose body names the SSL
/// certificate. Other 400s and all 403s are the API's own answers and are not retried.
fn response_rejects_certificate(response: &Response) -> Option<String> {
    match response.status {
        495 | 496 | 401 => Some(format!("the server answered HTTP {}", response.status)),
        400 if contains(&response.body, b"SSL certificate") => Some(
            "the server answered HTTP 400 about the SSL certificate (nginx ssl_verify_client)"
                .to_string(),
        ),
        _ => None,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn request_headers(options: &ApiOptions, body: &[u8]) -> Vec<(String, String)> {
    let mut headers = vec![("Accept".to_string(), options.accept_header.clone())];
    if !body.is_empty() {
        headers.push(("Content-Type".to_string(), options.content_type.clone()));
    }
    headers.extend(options.extra_headers.iter().cloned());
    headers
}

/// `BaseUrl` without trailing `/` + `/` + `RelativePath` without leading `/`, then
/// `ExtraQueryParameters` percent-encoded.
pub fn build_url(options: &ApiOptions) -> String {
    let base = options
        .base_url
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('/');
    let relative = options.relative_path.trim_start_matches('/');
    let mut url = encode_unsafe_url_characters(&format!("{base}/{relative}"));
    for (name, value) in &options.extra_query {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&percent_encode(name));
        url.push('=');
        url.push_str(&percent_encode(value));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_urls_like_id_web() {
        let options = ApiOptions {
            base_url: Some("https://host/api/".into()),
            relative_path: "/v1/items".into(),
            extra_query: vec![("q".into(), "a b&c".into()), ("n".into(), "1".into())],
            ..ApiOptions::default()
        };
        assert_eq!(
            build_url(&options),
            "https://host/api/v1/items?q=a%20b%26c&n=1"
        );
        let spaced = ApiOptions {
            base_url: Some("https://host".into()),
            relative_path: "files/my report é.txt".into(),
            ..ApiOptions::default()
        };
        assert_eq!(
            build_url(&spaced),
            "https://host/files/my%20report%20%C3%A9.txt"
        );
        let bare = ApiOptions {
            base_url: Some("https://host/".into()),
            ..ApiOptions::default()
        };
        assert_eq!(build_url(&bare), "https://host/");
    }

    #[test]
    fn reads_claims_challenges() {
        let challenge = |value: &str| Response {
            status: 401,
            headers: vec![("www-authenticate".into(), value.into())],
            body: Vec::new(),
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
        let mut two = challenge(r#"PoP realm="""#);
        two.headers.push((
            "WWW-Authenticate".into(),
            r#"Bearer Error="insufficient_claims", Claims="eyJhIjoxfQ==""#.into(),
        ));
        assert_eq!(claims_challenge(&two).as_deref(), Some(r#"{"a":1}"#));
    }

    #[test]
    fn recognises_certificate_rejections_in_responses() {
        let response = |status, body: &[u8]| Response {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
        };
        assert!(response_rejects_certificate(&response(495, b"")).is_some());
        assert!(
            response_rejects_certificate(&response(400, b"<h1>400 The SSL certificate error</h1>"))
                .is_some()
        );
        assert!(response_rejects_certificate(&response(400, b"bad json")).is_none());
        assert!(response_rejects_certificate(&response(403, b"")).is_none());
    }
}
