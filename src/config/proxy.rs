//! Which HTTP proxy the client's https requests go through, read as curl reads it: `Http.Proxy`
//! when configured, else `https_proxy` / `HTTPS_PROXY`, else `all_proxy` / `ALL_PROXY` (the
//! lower-case name first, as curl looks). `HTTP_PROXY` is for `http://` URLs, and every request
//! this library proxies is https, so it never applies. `no_proxy` / `NO_PROXY` lists hosts that
//! bypass the proxy: names (each also matching its subdomains), `.suffix` domains, IP addresses,
//! or `*` for all (not CIDR ranges). An empty `Http.Proxy` turns proxying off; a SOCKS proxy in
//! the environment is not used (with a warning): this client speaks HTTP CONNECT.
//!
//! A proxy URL may hold credentials (`http://user:password@proxy:3128`): they are only ever shown
//! as `http://***@proxy:3128`.

use super::node::Node;
use crate::encoding::percent_decode;
use crate::error::{Error, ErrorKind, Result};

/// The proxy in use and what bypasses it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyOptions {
    /// `http` or `https`.
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Percent-decoded.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Where it was configured: `Http.Proxy`, `HTTPS_PROXY`, ...
    pub source: String,
    /// `NO_PROXY` entries, lower case, without a leading dot or IPv6 brackets: a name matches
    /// itself and its subdomains; `*` matches every host.
    pub no_proxy: Vec<String>,
}

impl ProxyOptions {
    /// The proxy as messages show it: `http://***@host:port` when it has credentials.
    pub fn shown(&self) -> String {
        let credentials = if self.username.is_some() { "***@" } else { "" };
        format!(
            "{}://{credentials}{}:{}",
            self.scheme,
            self.url_host(),
            self.port
        )
    }

    /// The host as a URL writes it: an IPv6 address in brackets.
    pub fn url_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// Whether `host` (a name or an IP address, without brackets) bypasses the proxy.
    pub fn bypasses(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        self.no_proxy.iter().any(|entry| {
            entry == "*"
                || *entry == host
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

impl std::fmt::Debug for ProxyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyOptions")
            .field("proxy", &self.shown())
            .field("source", &self.source)
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// The proxy for the client: `Http.Proxy` (in `http`, the `Http` section, if any), else the
/// environment's.
pub(super) fn read_proxy(
    http: Option<&Node>,
    environment: &[(String, String)],
) -> Result<Option<ProxyOptions>> {
    let variable = |name: &str| {
        environment
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let configured = match http {
        Some(node) => node
            .string("Proxy")?
            .map(|url| (node.join("Proxy"), url.trim().to_string())),
        None => None,
    };
    // As curl's `--proxy ""`: an empty Http.Proxy turns proxying off, whatever the environment.
    if configured.as_ref().is_some_and(|(_, url)| url.is_empty()) {
        return Ok(None);
    }
    let chosen = configured.or_else(|| {
        ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .find_map(|name| variable(name).map(|url| (name.to_string(), url.to_string())))
            .filter(|(name, url)| {
                // A SOCKS proxy in the environment (ALL_PROXY=socks5://...) is for other tools:
                // this library speaks HTTP CONNECT only, and goes direct rather than fail.
                let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
                let usable = scheme
                    .as_deref()
                    .is_none_or(|s| s == "http" || s == "https");
                if !usable {
                    crate::log::warn(|| {
                        format!("{name}: not an http(s) proxy; this client does not use it")
                    });
                }
                usable
            })
    });
    let Some((source, url)) = chosen else {
        return Ok(None);
    };
    let no_proxy = variable("no_proxy")
        .or_else(|| variable("NO_PROXY"))
        .map(|list| {
            list.split(',')
                .map(|entry| {
                    entry
                        .trim()
                        .trim_start_matches('.')
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase()
                })
                .filter(|entry| !entry.is_empty())
                .collect()
        })
        .unwrap_or_default();
    parse_proxy_url(&source, &url, no_proxy).map(Some)
}

fn parse_proxy_url(source: &str, url: &str, no_proxy: Vec<String>) -> Result<ProxyOptions> {
    let invalid = |why: &str| {
        // The URL may hold a password: never quoted.
        Error::new(ErrorKind::Config, format!("{source}: {why}"))
    };
    // As curl: a proxy without a scheme is http.
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("http".to_string(), url),
    };
    if scheme != "http" && scheme != "https" {
        return Err(invalid(&format!(
            "proxy scheme '{scheme}' is not http or https"
        )));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((user_info, host_port)) => (Some(user_info), host_port),
        None => (None, authority),
    };
    let default_port = if scheme == "https" { 443 } else { 1080 };
    let parse_port = |port: &str| -> Result<u16> {
        port.parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid("the proxy's port is not a number from 1 to 65535"))
    };
    let (host, port) = match host_port.strip_prefix('[') {
        // An IPv6 address: `[::1]` or `[::1]:3128`.
        Some(bracketed) => {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("the proxy URL has an unclosed '['"))?;
            match after.strip_prefix(':') {
                Some(port) => (host, parse_port(port)?),
                None if after.is_empty() => (host, default_port),
                None => return Err(invalid("the proxy URL has text after its IPv6 address")),
            }
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, parse_port(port)?),
            None => (host_port, default_port),
        },
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("the proxy URL has no valid host"));
    }
    let (username, password) = match user_info {
        Some(info) => {
            let (user, password) = match info.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (info, None),
            };
            (Some(percent_decode(user)), password.map(percent_decode))
        }
        None => (None, None),
    };
    Ok(ProxyOptions {
        scheme,
        host: host.to_string(),
        port,
        username,
        password,
        source: source.to_string(),
        no_proxy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn proxy(json: &str, environment: &[(&str, &str)]) -> Result<Option<ProxyOptions>> {
        let environment = environment
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect::<Vec<_>>();
        Config::parse_with_environment(json, environment).map(|c| c.http.proxy)
    }

    #[test]
    fn chosen_as_curl_chooses() {
        let env = [
            ("HTTP_PROXY", "http://plain:1"),
            ("ALL_PROXY", "http://all:2"),
            ("HTTPS_PROXY", "http://upper:3"),
            ("https_proxy", "http://lower:4"),
        ];
        assert_eq!(proxy("{}", &env).unwrap().unwrap().host, "lower");
        assert_eq!(proxy("{}", &env[..3]).unwrap().unwrap().host, "upper");
        assert_eq!(proxy("{}", &env[..2]).unwrap().unwrap().host, "all");
        assert!(
            proxy("{}", &env[..1]).unwrap().is_none(),
            "HTTP_PROXY is for http:// URLs"
        );
        let configured = proxy(
            r#"{"Http": {"Proxy": "http://u%40x:p%3Ass@corp:3128"}}"#,
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(configured.source, "Http.Proxy");
        assert_eq!(configured.username.as_deref(), Some("u@x"));
        assert_eq!(configured.password.as_deref(), Some("p:ss"));
        assert_eq!(configured.shown(), "http://***@corp:3128");
        assert!(!format!("{configured:?}").contains("p:ss"));
        let bare = proxy("{}", &[("https_proxy", "proxy.local:8080")])
            .unwrap()
            .unwrap();
        assert_eq!((bare.scheme.as_str(), bare.port), ("http", 8080));
        let v6 = proxy("{}", &[("HTTPS_PROXY", "http://[::1]:3128")])
            .unwrap()
            .unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 3128));
        assert_eq!(v6.shown(), "http://[::1]:3128");
        let v6 = proxy("{}", &[("HTTPS_PROXY", "http://[::1]")])
            .unwrap()
            .unwrap();
        assert_eq!(v6.port, 1080);
        // An empty Http.Proxy turns proxying off; a SOCKS proxy in the environment is not used.
        assert!(proxy(r#"{"Http": {"Proxy": ""}}"#, &env).unwrap().is_none());
        assert!(
            proxy("{}", &[("ALL_PROXY", "socks5://s:1080")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn no_proxy_matches_names_subdomains_ips_and_all() {
        let options = proxy(
            "{}",
            &[
                ("HTTPS_PROXY", "http://p:1"),
                ("NO_PROXY", " example.com, .internal ,10.0.0.1,[::1]"),
            ],
        )
        .unwrap()
        .unwrap();
        for host in [
            "example.com",
            "api.example.com",
            "a.b.internal",
            "10.0.0.1",
            "[::1]",
            "EXAMPLE.com",
        ] {
            assert!(options.bypasses(host), "{host}");
        }
        for host in [
            "notexample.com",
            "example.com.evil",
            "10.0.0.10",
            "internal.com",
        ] {
            assert!(!options.bypasses(host), "{host}");
        }
        let all = proxy("{}", &[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "*")])
            .unwrap()
            .unwrap();
        assert!(all.bypasses("anything"));
    }

    #[test]
    fn bad_proxies_are_errors_that_never_show_the_password() {
        let error = proxy(r#"{"Http": {"Proxy": "socks5://u:hunter2@h:1"}}"#, &[]).unwrap_err();
        assert!(error.message().starts_with("Http.Proxy:"), "{error}");
        assert!(!error.message().contains("hunter2"));
        let error = proxy("{}", &[("HTTPS_PROXY", "http://u:hunter2@h:99999")]).unwrap_err();
        assert!(error.message().starts_with("HTTPS_PROXY:"), "{error}");
        assert!(!error.message().contains("hunter2"));
    }
}
