//! Where tokens come from. `Instance` + `TenantId`, or an `Authority` on a Microsoft login host,
//! means Entra ID's v2 endpoint under that host, used as written (sovereign, private and test
//! instances work; no instance discovery). Any other `Authority` is a generic OpenID provider whose
//! `token_endpoint` is read once from its discovery document.

use parking_lot::Mutex;

use super::assertion::Dialect;
use crate::config::IdentityOptions;
use crate::encoding::{quote, split_url};
use crate::error::{Error, ErrorKind, Result};

const MICROSOFT_LOGIN_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
    "login.microsoftonline.us",
    "login.usgovcloudapi.net",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
    "login.microsoftonline.de",
    "login.windows-ppe.net",
];

enum Kind {
    /// `https://host/` under which `{tenant}/oauth2/v2.0/token` lives.
    Entra { instance: String, tenant: String },
    /// A generic provider and its discovered token endpoint.
    Generic {
        authority: String,
        token_endpoint: Mutex<Option<String>>,
    },
}

pub struct Authority {
    kind: Kind,
}

impl Authority {
    pub fn from_options(identity: &IdentityOptions) -> Result<Authority> {
        let nonempty = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        if let (Some(instance), Some(tenant)) =
            (nonempty(&identity.instance), nonempty(&identity.tenant_id))
        {
            return Ok(Authority {
                kind: Kind::Entra {
                    instance: format!("{}/", instance.trim_end_matches('/')),
                    tenant,
                },
            });
        }
        let Some(authority) = nonempty(&identity.authority) else {
            return Err(Error::new(
                ErrorKind::Config,
                "AzureAd.Instance and AzureAd.TenantId, or AzureAd.Authority: missing; a token \
                 needs an authority",
            ));
        };
        let authority = authority.trim_end_matches('/').to_string();
        let (scheme, host_port, path) = split_url(&authority);
        if !matches!(scheme, "https" | "http") || host_port.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "AzureAd.Authority: {} is not an absolute http(s) URL",
                    quote(&authority)
                ),
            ));
        }
        let host = host_port.split(':').next().unwrap_or_default();
        if MICROSOFT_LOGIN_HOSTS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(host))
        {
            let tenant = path.split('/').find(|s| !s.is_empty()).unwrap_or("common");
            return Ok(Authority {
                kind: Kind::Entra {
                    instance: format!("{scheme}://{host_port}/"),
                    tenant: tenant.to_string(),
                },
            });
        }
        Ok(Authority {
            kind: Kind::Generic {
                authority,
                token_endpoint: Mutex::new(None),
            },
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self.kind {
            Kind::Entra { .. } => Dialect::Entra,
            Kind::Generic { .. } => Dialect::Generic,
        }
    }

    /// The authority part of cache keys: instance or generic authority URL.
    pub fn cache_name(&self) -> &str {
        match &self.kind {
            Kind::Entra { instance, .. } => instance,
            Kind::Generic { authority, .. } => authority,
        }
    }

    /// The tenant a token is for: the per-call override, else the configured one.
    pub fn tenant<'a>(&'a self, requested: Option<&'a str>) -> &'a str {
        match (&self.kind, requested) {
            (_, Some(tenant)) if !tenant.is_empty() => tenant,
            (Kind::Entra { tenant, .. }, _) => tenant,
            (Kind::Generic { .. }, _) => "",
        }
    }

    /// The token endpoint URL. For a generic provider, `discover` fetches the discovery document
    /// URL it is given, once; later calls reuse the endpoint it named.
    pub fn token_endpoint(
        &self,
        tenant: &str,
        discover: impl FnOnce(&str) -> Result<String>,
    ) -> Result<String> {
        match &self.kind {
            Kind::Entra { instance, .. } => Ok(format!("{instance}{tenant}/oauth2/v2.0/token")),
            Kind::Generic {
                authority,
                token_endpoint,
            } => {
                let mut endpoint = token_endpoint.lock();
                if let Some(known) = endpoint.as_ref() {
                    return Ok(known.clone());
                }
                let url = format!("{authority}/.well-known/openid-configuration");
                let found =
                    discover(&url).map_err(|e| e.context(format!("OpenID discovery at {url}")))?;
                *endpoint = Some(found.clone());
                Ok(found)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(
        instance: Option<&str>,
        tenant: Option<&str>,
        authority: Option<&str>,
    ) -> IdentityOptions {
        IdentityOptions {
            instance: instance.map(str::to_string),
            tenant_id: tenant.map(str::to_string),
            authority: authority.map(str::to_string),
            ..IdentityOptions::default()
        }
    }

    fn endpoint(authority: &Authority) -> String {
        authority
            .token_endpoint(authority.tenant(None), |_| {
                unreachable!("no discovery for Entra")
            })
            .unwrap()
    }

    #[test]
    fn entra_endpoints_follow_the_instance_as_written() {
        let a = Authority::from_options(&identity(
            Some("https://login.microsoftonline.us"),
            Some("t1"),
            None,
        ))
        .unwrap();
        assert_eq!(
            endpoint(&a),
            "https://login.microsoftonline.us/t1/oauth2/v2.0/token"
        );
        assert_eq!(a.dialect(), Dialect::Entra);
        let b = Authority::from_options(&identity(
            None,
            None,
            Some("https://login.microsoftonline.com/contoso/v2.0"),
        ))
        .unwrap();
        assert_eq!(
            endpoint(&b),
            "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
        );
        let private =
            Authority::from_options(&identity(Some("https://127.0.0.1:8443/"), Some("t"), None))
                .unwrap();
        assert_eq!(
            endpoint(&private),
            "https://127.0.0.1:8443/t/oauth2/v2.0/token"
        );
    }

    #[test]
    fn other_authorities_are_discovered_once() {
        let a =
            Authority::from_options(&identity(None, None, Some("https://idp.example/realms/x/")))
                .unwrap();
        assert_eq!(a.dialect(), Dialect::Generic);
        let first = a
            .token_endpoint("", |url| {
                assert_eq!(
                    url,
                    "https://idp.example/realms/x/.well-known/openid-configuration"
                );
                Ok("https://idp.example/token".to_string())
            })
            .unwrap();
        let second = a
            .token_endpoint("", |_| unreachable!("discovered once"))
            .unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn a_missing_authority_names_the_fields() {
        let error = Authority::from_options(&identity(None, Some("t"), None))
            .err()
            .unwrap();
        assert!(error.message().contains("AzureAd.Instance"), "{error}");
    }
}
