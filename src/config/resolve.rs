//! `Http.Resolve`: host names given addresses in the configuration, written as curl's `--resolve`
//! takes them (`"contoso.vault.azure.net:443:10.1.2.3"`), for every connection the library makes.
//! Users reach a private endpoint or a test server under its real name, and the name still decides
//! the server certificate that is verified and the SNI that is sent; only the address changes.

use std::net::IpAddr;

use super::node::Node;
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};

/// One `HOST:PORT:ADDRESS[,ADDRESS]…` mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveEntry {
    /// Lower case, without brackets; `*` stands for any host on `port` (curl's wildcard).
    pub host: String,
    pub port: u16,
    /// Tried in order, as a lookup's answers are.
    pub addresses: Vec<IpAddr>,
}

impl ResolveEntry {
    /// Whether this entry names `host` (any case) on `port`.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.port == port && (self.host == "*" || self.host.eq_ignore_ascii_case(host))
    }
}

/// Reads `Http.Resolve`: an array of strings (or one string).
pub(super) fn read_resolve(node: &Node) -> Result<Vec<ResolveEntry>> {
    let Some(list) = node.child("Resolve") else {
        return Ok(Vec::new());
    };
    let path = list.path.clone();
    list.string_list()?
        .iter()
        .enumerate()
        .map(|(index, text)| {
            parse_entry(text).map_err(|why| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "{path}[{index}]: {} is not HOST:PORT:ADDRESS[,ADDRESS] ({why})",
                        quote(text)
                    ),
                )
            })
        })
        .collect()
}

/// One entry as curl writes it; a leading `+` (curl's "add", the default) is accepted. curl's
/// `-HOST:PORT` (remove an entry) has no meaning in a configuration and is refused.
fn parse_entry(text: &str) -> std::result::Result<ResolveEntry, String> {
    let text = text.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    if text.starts_with('-') {
        return Err("removing an entry (-HOST:PORT) is curl's, not a configuration's".into());
    }
    let (host, rest) = match text.strip_prefix('[') {
        Some(bracketed) => {
            let (host, rest) = bracketed.split_once("]:").ok_or("unclosed '['")?;
            (host, rest)
        }
        None => text.split_once(':').ok_or("no port")?,
    };
    let (port, addresses) = rest.split_once(':').ok_or("no address")?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or("the port is not 1 to 65535")?;
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return Err("no host name".into());
    }
    let addresses = addresses
        .split(',')
        .map(|address| {
            let address = address.trim();
            let bare = address.trim_start_matches('[').trim_end_matches(']');
            bare.parse::<IpAddr>()
                .map_err(|_| format!("{} is not an IP address", quote(address)))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(ResolveEntry {
        host: host.to_ascii_lowercase(),
        port,
        addresses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_resolve_strings_are_read() {
        let entry = parse_entry("contoso.vault.azure.net:443:127.0.0.1").unwrap();
        assert_eq!(entry.host, "contoso.vault.azure.net");
        assert_eq!(entry.port, 443);
        assert_eq!(entry.addresses, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert!(entry.matches("Contoso.Vault.Azure.NET", 443));
        assert!(!entry.matches("contoso.vault.azure.net", 8443));

        let several = parse_entry("+api.test:8443:[::1],127.0.0.1").unwrap();
        assert_eq!(several.addresses.len(), 2);
        assert!(several.addresses[0].is_ipv6());
        let v6_host = parse_entry("[fe80::1]:443:::1").unwrap();
        assert_eq!(v6_host.host, "fe80::1");
        let wildcard = parse_entry("*:443:127.0.0.1").unwrap();
        assert!(wildcard.matches("anything.test", 443));

        for bad in [
            "noport",
            "host:443",
            "host:0:127.0.0.1",
            "host:x:127.0.0.1",
            "host:443:not-an-address",
            "-host:443",
            ":443:127.0.0.1",
        ] {
            assert!(parse_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_entry() {
        let value: serde_json::Value =
            serde_json::from_str(r#"{"Resolve": ["a.test:443:127.0.0.1", "b.test:443:x"]}"#)
                .unwrap();
        let error = read_resolve(&Node::named(&value, "Http"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("Http.Resolve[1]"), "{error}");
    }
}
