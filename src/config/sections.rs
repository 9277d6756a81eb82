//! Section readers: each option type read from its JSON object through a [`Node`], so that every
//! error names the JSON path of the value at fault. Per-call overrides use the same readers on top
//! of the configured values.

use std::time::Duration;

use serde_json::Value;

use super::node::Node;
use super::options::{
    AcquireTokenOptions, Agent, AgentUser, ApiOptions, HttpOptions, ManagedIdentityId,
    ProtocolScheme,
};
use crate::encoding::{quote, split_url};
use crate::error::{Error, ErrorKind, Result};

/// Timeouts above a day are configuration mistakes (and far larger ones overflow clocks).
pub(super) const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;

impl AcquireTokenOptions {
    /// Per-call token options: the JSON text of an `AcquireTokenOptions` object.
    pub fn from_json(json: &str) -> Result<Self> {
        let value = parse_json(json, "options are")?;
        AcquireTokenOptions::read(
            &Node::named(&value, "options"),
            &AcquireTokenOptions::default(),
        )
    }

    /// Reads an `AcquireTokenOptions` object on top of `base`.
    pub(super) fn read(node: &Node, base: &AcquireTokenOptions) -> Result<Self> {
        node.expect_object()?;
        let mut options = base.clone();
        if let Some(value) = node.string("Tenant")? {
            options.tenant = Some(value);
        }
        if let Some(value) = node.boolean("ForceRefresh")? {
            options.force_refresh = value;
        }
        if let Some(value) = node.string("Claims")? {
            options.claims = Some(value);
        }
        if let Some(value) = node.string("CorrelationId")? {
            options.correlation_id = Some(value);
        }
        if let Some(identity) = node.child("ManagedIdentity") {
            options.managed_identity = Some(ManagedIdentityId::read(&identity)?);
        } else if node.is_null("ManagedIdentity") {
            // An override's null: the app's own token again.
            options.managed_identity = None;
        }
        if let Some(value) = node.string("UserAssertion")? {
            options.user_assertion = Some(value).filter(|v| !v.trim().is_empty());
        }
        if let Some(value) = node.string("LongRunningWebApiSessionKey")? {
            options.long_running_session_key = Some(value).filter(|v| !v.trim().is_empty());
        }
        read_agent(node, &mut options)?;
        Ok(options)
    }
}

/// `AgentIdentity` with at most one of `AgentUsername` and `AgentUserId` (the sidecar's names).
fn read_agent(node: &Node, options: &mut AcquireTokenOptions) -> Result<()> {
    let app_id = node.string("AgentIdentity")?;
    let username = node.string("AgentUsername")?;
    let user_id = node.string("AgentUserId")?;
    let user = match (username, user_id) {
        (Some(_), Some(_)) => {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{}: AgentUsername and AgentUserId name the same user: give one",
                    node.join("AgentUsername")
                ),
            ));
        }
        (Some(upn), None) => Some(AgentUser::Username(upn)),
        (None, Some(oid)) => Some(AgentUser::ObjectId(oid)),
        (None, None) => None,
    };
    match (app_id, user) {
        (Some(app_id), user) if !app_id.trim().is_empty() => {
            options.agent = Some(Agent { app_id, user });
        }
        (_, Some(_)) => {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{}: an agent's user (AgentUsername, AgentUserId) needs AgentIdentity",
                    node.join("AgentIdentity")
                ),
            ));
        }
        _ => {}
    }
    Ok(())
}

impl ApiOptions {
    /// These options with per-call overrides applied: `json` is an object of `DownstreamApis` keys,
    /// and messages name its fields `overrides.Key`.
    pub fn with_overrides(&self, json: &str) -> Result<Self> {
        let value = parse_json(json, "overrides are")?;
        let merged = ApiOptions::read(&Node::named(&value, "overrides"), self)?;
        merged.validate("overrides")?;
        Ok(merged)
    }

    /// Reads an API entry, or per-call overrides, on top of `base`: keys present replace the base's
    /// values, extra headers and query parameters are merged key by key.
    pub(super) fn read(node: &Node, base: &ApiOptions) -> Result<Self> {
        node.expect_object()?;
        let mut options = base.clone();
        if let Some(value) = node.string("BaseUrl")? {
            options.base_url = Some(checked_url(&node.join("BaseUrl"), &value)?);
        }
        if let Some(value) = node.string("RelativePath")? {
            options.relative_path = value;
        }
        if let Some(value) = node.string("HttpMethod")? {
            options.http_method = value.to_ascii_uppercase();
        }
        if let Some(scopes) = node.child("Scopes") {
            options.scopes = scopes.string_list()?;
        }
        if let Some(value) = node.boolean("RequestAppToken")? {
            options.request_app_token = value;
        }
        if let Some(value) = node.string("ProtocolScheme")? {
            options.protocol_scheme = match value.to_ascii_uppercase().as_str() {
                "" | "BEARER" => ProtocolScheme::Bearer,
                "MTLS" => ProtocolScheme::Mtls,
                "MTLS_POP" => ProtocolScheme::MtlsPop,
                _ => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "{}.ProtocolScheme: {} is not one of Bearer, MTLS, MTLS_POP",
                            node.path,
                            quote(&value)
                        ),
                    ));
                }
            };
        }
        if let Some(value) = node.string("AcceptHeader")? {
            options.accept_header = value;
        }
        if let Some(value) = node.string("ContentType")? {
            options.content_type = value;
        }
        if let Some(headers) = node.child("ExtraHeaderParameters") {
            merge_pairs(&mut options.extra_headers, &headers, true)?;
        }
        if let Some(query) = node.child("ExtraQueryParameters") {
            merge_pairs(&mut options.extra_query, &query, false)?;
        }
        if let Some(timeout) = timeout_seconds(node, "TimeoutSeconds")? {
            options.timeout = Some(timeout);
        }
        if let Some(token) = node.child("AcquireTokenOptions") {
            options.acquire_token_options =
                AcquireTokenOptions::read(&token, &options.acquire_token_options)?;
        }
        Ok(options)
    }

    /// Checks what a call will need, naming the field at `path` when it is missing or wrong.
    pub(super) fn validate(&self, path: &str) -> Result<()> {
        let base_url = self
            .base_url
            .as_deref()
            .ok_or_else(|| Error::new(ErrorKind::Config, format!("{path}.BaseUrl: missing")))?;
        // Read through checked_url, except in options built in code.
        checked_url(&format!("{path}.BaseUrl"), base_url)?;
        if !is_token(&self.http_method) || REFUSED_METHODS.contains(&self.http_method.as_str()) {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{path}.HttpMethod: {} is not a method an API call can use",
                    quote(&self.http_method)
                ),
            ));
        }
        for (name, value) in &self.extra_headers {
            check_header(&format!("{path}.ExtraHeaderParameters"), name, value)?;
        }
        if self.protocol_scheme != ProtocolScheme::Mtls && self.scopes.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{path}.Scopes: missing; a {} API needs the scopes of its token",
                    self.protocol_scheme.name()
                ),
            ));
        }
        Ok(())
    }
}

/// Merges a JSON object of string values into `pairs` as a JSON merge patch (RFC 7386) does: a
/// null value removes the name (how a .NET override delegate's removal reaches the library).
/// Header names compare case-insensitively, query parameter names exactly.
fn merge_pairs(
    pairs: &mut Vec<(String, String)>,
    node: &Node,
    case_insensitive: bool,
) -> Result<()> {
    for (key, value) in node.entries()? {
        let same = |existing: &String| {
            if case_insensitive {
                existing.eq_ignore_ascii_case(key)
            } else {
                existing == key
            }
        };
        if value.value().is_null() {
            pairs.retain(|(existing, _)| !same(existing));
            continue;
        }
        let value = value
            .as_scalar_string()
            .ok_or_else(|| value.type_error("a string"))?;
        match pairs.iter_mut().find(|(existing, _)| same(existing)) {
            Some(pair) => pair.1 = value,
            None => pairs.push((key.to_string(), value)),
        }
    }
    Ok(())
}

/// A timeout under `key`: a positive number of seconds, at most a day.
fn timeout_seconds(node: &Node, key: &str) -> Result<Option<Duration>> {
    match node.number(key)? {
        None => Ok(None),
        Some(value) if value > 0.0 && value <= MAX_TIMEOUT_SECONDS => {
            Ok(Some(Duration::from_secs_f64(value)))
        }
        Some(_) => Err(Error::new(
            ErrorKind::Config,
            format!(
                "{}.{key}: must be a positive number of seconds, at most {MAX_TIMEOUT_SECONDS}",
                node.path
            ),
        )),
    }
}

impl HttpOptions {
    pub(super) fn read(node: &Node) -> Result<Self> {
        let defaults = HttpOptions::default();
        let seconds = |key: &str, default: Duration| -> Result<Duration> {
            Ok(timeout_seconds(node, key)?.unwrap_or(default))
        };
        Ok(HttpOptions {
            ca_bundle_path: node.string("CaBundlePath")?,
            connect_timeout: seconds("ConnectTimeoutSeconds", defaults.connect_timeout)?,
            timeout: seconds("TimeoutSeconds", defaults.timeout)?,
            max_response_bytes: match node.number("MaxResponseBytes")? {
                Some(value) if value >= 1.0 => value as u64,
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("{}.MaxResponseBytes: must be at least 1", node.path),
                    ));
                }
                None => defaults.max_response_bytes,
            },
            // Read with the environment's proxy variables by the caller.
            proxy: None,
            resolve: super::resolve::read_resolve(node)?,
        })
    }
}

/// `CONNECT` opens a tunnel, which no API call means; every other token is a method (`PROPFIND`
/// and other extension methods included), sent in upper case.
const REFUSED_METHODS: &[&str] = &["CONNECT"];

/// RFC 9110 `tchar`: what method and header names are made of.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Headers the library writes itself to frame the body: a caller's value could only contradict it.
const FRAMING_HEADERS: &[&str] = &["Content-Length", "Transfer-Encoding"];

/// A configured URL: absolute, `http` or `https` in any case (returned in lower case), with a host
/// and a valid port, without a fragment, and without user information — refused without being
/// echoed, since it holds a password. A URL with `@` anywhere is never quoted in a message.
pub(super) fn checked_url(field: &str, url: &str) -> Result<String> {
    let error = |why: String| Error::new(ErrorKind::Config, format!("{field}: {why}"));
    // `@` may stand in a path or query, but a malformed URL gives no way to tell where it stands.
    let shown = if url.contains('@') {
        "the URL (not shown: it holds '@')".to_string()
    } else {
        quote(url)
    };
    let not_http = || error(format!("{shown} is not an absolute http(s) URL"));
    let (scheme, authority, rest) = split_url(url);
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(not_http());
    }
    if url.contains('#') {
        // The URL builder percent-encodes `#`, which would move the end of the host.
        return Err(error(format!(
            "{shown} has a fragment (#), which an API URL cannot use"
        )));
    }
    if authority.contains('@') {
        return Err(error(
            "must not contain user information (user:password@); credentials belong in \
             ClientCredentials or ExtraHeaderParameters"
                .to_string(),
        ));
    }
    let (host, port) = split_host_port(authority);
    if host.is_empty() || host == "[]" {
        return Err(error(format!("{shown} has no host")));
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(error(format!("{shown} has an invalid port")));
    }
    Ok(format!("{scheme}://{authority}{rest}"))
}

/// Splits `host:port`, `[v6]:port`, `host` and `[v6]`; a malformed bracket leaves no host.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => {
                let after = &authority[end + 1..];
                match after.strip_prefix(':') {
                    Some(port) => (&authority[..=end], Some(port)),
                    None if after.is_empty() => (&authority[..=end], None),
                    None => ("", None),
                }
            }
            None => ("", None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

pub(super) fn optional_url(node: &Node, key: &str) -> Result<Option<String>> {
    match node.string(key)? {
        Some(url) if !url.trim().is_empty() => checked_url(&node.join(key), url.trim()).map(Some),
        other => Ok(other),
    }
}

/// A header the request can carry: a token for a name, a value without control characters, and
/// not one of the framing headers.
fn check_header(field: &str, name: &str, value: &str) -> Result<()> {
    let error = |why: String| Error::new(ErrorKind::Config, format!("{field}.{name}: {why}"));
    if !is_token(name) {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{field}: {} is not a header name", quote(name)),
        ));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(error("the value holds control characters".to_string()));
    }
    if FRAMING_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return Err(error(
            "is set by the library from the body; it cannot be configured".to_string(),
        ));
    }
    Ok(())
}

/// Parses JSON text as .NET's JSON configuration provider reads it: a UTF-8 byte-order mark,
/// `//` and `/* */` comments and trailing commas are accepted (Visual Studio writes the first, the
/// Id.Web templates have the others). Comments become spaces, so error positions stay true. `what`
/// starts the message ("overrides are", "configuration is").
pub(super) fn parse_json(json: &str, what: &str) -> Result<Value> {
    let invalid =
        |why: String| Error::new(ErrorKind::Config, format!("{what} not valid JSON: {why}"));
    let mut text = json.strip_prefix('\u{feff}').unwrap_or(json).to_string();
    json_strip_comments::strip(&mut text).map_err(|e| invalid(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_and_merge() {
        let base = ApiOptions {
            extra_headers: vec![("X-A".into(), "1".into())],
            ..ApiOptions::default()
        };
        let json: Value = serde_json::from_str(
            r#"{"httpmethod": "post", "ExtraHeaderParameters": {"x-a": "2", "X-B": "3"}}"#,
        )
        .unwrap();
        let merged = ApiOptions::read(&Node::named(&json, "overrides"), &base).unwrap();
        assert_eq!(merged.http_method, "POST");
        assert_eq!(
            merged.extra_headers,
            vec![("X-A".into(), "2".into()), ("X-B".into(), "3".into())]
        );
        let removal: Value = serde_json::from_str(
            r#"{"ExtraHeaderParameters": {"x-a": null}, "ExtraQueryParameters": {"absent": null}}"#,
        )
        .unwrap();
        let removed = ApiOptions::read(&Node::named(&removal, "overrides"), &merged).unwrap();
        assert_eq!(removed.extra_headers, vec![("X-B".into(), "3".into())]);
        assert!(removed.extra_query.is_empty());
    }

    #[test]
    fn dotnet_json_is_accepted_bom_comments_and_trailing_commas() {
        let text = "\u{feff}{\n  // the app\n  \"AzureAd\": { \"ClientId\": \"a//b\", /* why */ },\n  \"List\": [1, 2,],\n}";
        let value = parse_json(text, "configuration is").unwrap();
        assert_eq!(value["AzureAd"]["ClientId"], "a//b");
        assert_eq!(value["List"], serde_json::json!([1, 2]));
        let error = parse_json("{\n  \"a\": /* open", "configuration is").unwrap_err();
        assert!(
            error
                .message()
                .starts_with("configuration is not valid JSON"),
            "{error}"
        );
        let error = parse_json("{\"a\": }", "overrides are").unwrap_err();
        assert!(error.message().contains("line 1"), "{error}");
    }

    #[test]
    fn urls_are_checked_without_echoing_credentials() {
        let ok = |url: &str| checked_url("F", url).unwrap();
        assert_eq!(ok("HTTPS://Host:8443/a@b?c=@"), "https://Host:8443/a@b?c=@");
        assert_eq!(ok("https://[::1]:8443/x"), "https://[::1]:8443/x");
        assert_eq!(ok("https://[::1]/"), "https://[::1]/");
        let refused = |url: &str| checked_url("F", url).unwrap_err().message().to_string();
        for url in ["https://[", "https://[::1]x/", "https://", "https://:443/"] {
            assert!(
                refused(url).contains("has no host"),
                "{url}: {}",
                refused(url)
            );
        }
        for url in ["https://h:abc/", "https://h:99999/", "https://h:0/"] {
            assert!(
                refused(url).contains("invalid port"),
                "{url}: {}",
                refused(url)
            );
        }
        // `#` would be encoded into the host part: refused, and never echoing the password.
        let message = refused("https://user:pw#@api.example/");
        assert!(
            message.contains("fragment") && !message.contains("pw"),
            "{message}"
        );
        for url in [
            "htps://user:hunter2@h/",
            "https:/user:hunter2@h/",
            "ftp://u:hunter2@h",
        ] {
            let message = refused(url);
            assert!(!message.contains("hunter2"), "{url}: {message}");
        }
        assert!(refused("https://u:hunter2@h/").contains("user information"));
    }
}
