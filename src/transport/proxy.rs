//! The configured HTTP proxy as ureq takes it. Over the proxy, every request is tunnelled with
//! `CONNECT` (all of them are https), so TLS, the client certificate and the tokens run end to
//! end between this client and the server: the proxy sees only the host and port. `NO_PROXY`
//! entries are given to ureq in curl's sense, a name also matching its subdomains.

use ureq::{Proxy, ProxyProtocol};

use crate::config::ProxyOptions;
use crate::error::{Error, ErrorKind, Result};

pub(super) fn ureq_proxy(options: &ProxyOptions) -> Result<Proxy> {
    let protocol = if options.scheme == "https" {
        ProxyProtocol::Https
    } else {
        ProxyProtocol::Http
    };
    let mut builder = Proxy::builder(protocol)
        .host(&options.url_host())
        .port(options.port);
    if let Some(username) = &options.username {
        builder = builder.username(username);
    }
    if let Some(password) = &options.password {
        builder = builder.password(password);
    }
    for entry in &options.no_proxy {
        builder = if entry.contains(':') {
            // ureq compares with the URI's host, which keeps an IPv6 address's brackets.
            builder.no_proxy(&format!("[{entry}]"))
        } else if entry == "*" {
            builder.no_proxy(entry)
        } else {
            builder.no_proxy(entry).no_proxy(&format!(".{entry}"))
        };
    }
    builder.build().map_err(|_| {
        Error::new(
            ErrorKind::Config,
            format!(
                "{}: {} is not a usable proxy",
                options.source,
                options.shown()
            ),
        )
    })
}

/// Whether a request to `url` goes through the proxy.
pub(super) fn applies_to(options: &ProxyOptions, url: &str) -> bool {
    let (_, authority, _) = crate::encoding::split_url(url);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    !options.bypasses(host)
}
