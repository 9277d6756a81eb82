//! Where tokens come from. `Instance` + `TenantId`, or an `Authority` on a Microsoft login host,
//! means Entra ID's v2 endpoint under that host, used as written (sovereign, private and test
//! instances work; no instance discovery). Any other `Authority` is a generic OpenID provider whose
//! `token_endpoint` is read once from its discovery document.
//!
//! Token requests made over mTLS (MTLS_POP, bound credentials, `tls_client_auth`) go to Entra's
//! mTLS host — `login.microsoftonline.com` becomes `mtlsauth.microsoft.com`, another `login.` host
//! has that label replaced by `mtlsauth.`, and `AzureRegion` prefixes the region — or to a generic
//! provider's `mtls_endpoint_aliases.token_endpoint` (RFC 8705 §5) when it names one.

use parking_lot::Mutex;

use super::assertion::Dialect;
use super::endpoint_answer::Discovered;
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
    /// `https://host/` under which `{tenant}/oauth2/v2.0/token` lives, and the same for token
    /// requests over mTLS.
    Entra {
        instance: String,
        /// An error naming `AzureAd.AzureRegion` when the region cannot be part of a host name.
        mtls_instance: Result<String>,
        tenant: String,
    },
    /// A generic provider and its discovered token endpoints.
    Generic {
        authority: String,
        discovered: Mutex<Option<Discovered>>,
    },
}

/// Tenants that name no one tenant: an app token (and MTLS_POP above all) needs a real one.
const UNTENANTED: &[&str] = &["common", "organizations", "consumers"];

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
        let region = nonempty(&identity.azure_region);
        let entra = |instance: String, tenant: String| Authority {
            kind: Kind::Entra {
                mtls_instance: mtls_instance(&instance, region.as_deref()),
                instance,
                tenant,
            },
        };
        if let (Some(instance), Some(tenant)) =
            (nonempty(&identity.instance), nonempty(&identity.tenant_id))
        {
            return Ok(entra(
                format!("{}/", instance.trim_end_matches('/')),
                tenant,
            ));
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
            return Ok(entra(
                format!("{scheme}://{host_port}/"),
                tenant.to_string(),
            ));
        }
        Ok(Authority {
            kind: Kind::Generic {
                authority,
                discovered: Mutex::new(None),
            },
        })
    }

    /// Whether the tenant (`requested` for one call, else the configured one) is one tenant (not
    /// `common`, `organizations`, `consumers`); a generic provider has no tenants and counts as
    /// one.
    pub fn is_tenanted(&self, requested: Option<&str>) -> bool {
        match &self.kind {
            Kind::Entra { .. } => {
                let tenant = self.tenant(requested);
                !UNTENANTED
                    .iter()
                    .any(|name| name.eq_ignore_ascii_case(tenant))
            }
            Kind::Generic { .. } => true,
        }
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

    /// The OpenID discovery document that names the keys tokens of this authority are signed
    /// with: Entra's v2 one for the configured tenant (`{Instance}{TenantId}/v2.0/...`), or a
    /// generic provider's own (the one its token endpoint is read from).
    pub fn discovery_url(&self) -> String {
        match &self.kind {
            Kind::Entra {
                instance, tenant, ..
            } => format!("{instance}{tenant}/v2.0/.well-known/openid-configuration"),
            Kind::Generic { authority, .. } => generic_discovery_url(authority),
        }
    }

    /// The token endpoint URL for a request made over mTLS or not. For a generic provider,
    /// `discover` fetches the discovery document URL it is given, once; later calls reuse the
    /// endpoints it named. Without an mTLS alias, mTLS requests go to `token_endpoint`.
    pub fn token_endpoint(
        &self,
        tenant: &str,
        over_mtls: bool,
        discover: impl FnOnce(&str) -> Result<Discovered>,
    ) -> Result<String> {
        match &self.kind {
            Kind::Entra {
                instance,
                mtls_instance,
                ..
            } => {
                let host = match over_mtls {
                    true => mtls_instance.as_ref().map_err(Clone::clone)?,
                    false => instance,
                };
                Ok(format!("{host}{tenant}/oauth2/v2.0/token"))
            }
            Kind::Generic {
                authority,
                discovered,
            } => {
                let mut known = discovered.lock();
                if known.is_none() {
                    let url = generic_discovery_url(authority);
                    let found = discover(&url)
                        .map_err(|e| e.context(format!("OpenID discovery at {url}")))?;
                    *known = Some(found);
                }
                let endpoints = known.as_ref().expect("discovered above");
                Ok(match (&endpoints.mtls_token_endpoint, over_mtls) {
                    (Some(alias), true) => alias.clone(),
                    _ => endpoints.token_endpoint.clone(),
                })
            }
        }
    }
}

fn generic_discovery_url(authority: &str) -> String {
    format!("{authority}/.well-known/openid-configuration")
}

/// The public cloud's hosts, all served over mTLS by `mtlsauth.microsoft.com`, as MSAL maps them.
const PUBLIC_CLOUD_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
];

/// The instance for token requests over mTLS: a public-cloud host becomes
/// `https://mtlsauth.microsoft.com/` (`https://{region}.mtlsauth.microsoft.com/` with a region),
/// another `login.` host has that first label replaced by `mtlsauth.` (sovereign clouds); any
/// other host (a private or test instance) serves mTLS itself and stays as written.
fn mtls_instance(instance: &str, region: Option<&str>) -> Result<String> {
    let (scheme, host_port, _) = split_url(instance);
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => (host, format!(":{port}")),
        None => (host_port, String::new()),
    };
    let mapped = if PUBLIC_CLOUD_HOSTS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(host))
    {
        "mtlsauth.microsoft.com".to_string()
    } else if let Some(rest) = host
        .get(..6)
        .filter(|label| label.eq_ignore_ascii_case("login."))
        .map(|_| &host[6..])
    {
        format!("mtlsauth.{rest}")
    } else {
        return Ok(instance.to_string());
    };
    let regional = match region {
        // A region is one DNS label ("westus2"); anything else would change the host.
        Some(region)
            if region.len() <= 63
                && !region.eq_ignore_ascii_case("TryAutoDetect")
                && region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            format!("{}.{mapped}", region.to_ascii_lowercase())
        }
        Some(region) => {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "AzureAd.AzureRegion: {} is not a region name such as \"westus2\" (region \
                     auto-detection is not supported)",
                    quote(region)
                ),
            ));
        }
        None => mapped,
    };
    Ok(format!("{scheme}://{regional}{port}/"))
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
        endpoint_over(authority, false)
    }

    fn endpoint_over(authority: &Authority, over_mtls: bool) -> String {
        authority
            .token_endpoint(authority.tenant(None), over_mtls, |_| {
                unreachable!("no discovery for Entra")
            })
            .unwrap()
    }

    #[test]
    fn mtls_token_requests_go_to_the_mtls_host() {
        let with = |instance: &str, region: Option<&str>| {
            let options = IdentityOptions {
                azure_region: region.map(str::to_string),
                ..identity(Some(instance), Some("t1"), None)
            };
            endpoint_over(&Authority::from_options(&options).unwrap(), true)
        };
        assert_eq!(
            with("https://login.microsoftonline.com/", None),
            "https://mtlsauth.microsoft.com/t1/oauth2/v2.0/token"
        );
        assert_eq!(
            with("https://login.microsoftonline.com", Some("WestUS2")),
            "https://westus2.mtlsauth.microsoft.com/t1/oauth2/v2.0/token"
        );
        assert_eq!(
            with("https://sts.windows.net/", None),
            "https://mtlsauth.microsoft.com/t1/oauth2/v2.0/token"
        );
        for bad in ["TryAutoDetect", "evil.example/x#", "a@b"] {
            let options = IdentityOptions {
                azure_region: Some(bad.to_string()),
                ..identity(Some("https://login.microsoftonline.com/"), Some("t1"), None)
            };
            let authority = Authority::from_options(&options).unwrap();
            let error = authority
                .token_endpoint("t1", true, |_| unreachable!())
                .unwrap_err();
            assert!(error.message().contains("AzureAd.AzureRegion"), "{error}");
            assert!(
                authority
                    .token_endpoint("t1", false, |_| unreachable!())
                    .is_ok(),
                "plain requests do not use the region"
            );
        }
        assert_eq!(
            with("https://login.microsoftonline.us/", None),
            "https://mtlsauth.microsoftonline.us/t1/oauth2/v2.0/token"
        );
        assert_eq!(
            with("https://login.chinacloudapi.cn/", Some("chinanorth3")),
            "https://chinanorth3.mtlsauth.chinacloudapi.cn/t1/oauth2/v2.0/token"
        );
        // A private or test instance serves mTLS itself.
        assert_eq!(
            with("https://127.0.0.1:8443/", Some("westus2")),
            "https://127.0.0.1:8443/t1/oauth2/v2.0/token"
        );
        let by_authority = Authority::from_options(&identity(
            None,
            None,
            Some("https://login.microsoftonline.com/contoso"),
        ))
        .unwrap();
        assert_eq!(
            endpoint_over(&by_authority, true),
            "https://mtlsauth.microsoft.com/contoso/oauth2/v2.0/token"
        );
        assert_eq!(
            endpoint_over(&by_authority, false),
            "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
        );
    }

    #[test]
    fn common_and_organizations_are_not_one_tenant() {
        for (tenant, tenanted) in [
            ("contoso", true),
            ("common", false),
            ("Organizations", false),
        ] {
            let a = Authority::from_options(&identity(
                Some("https://login.microsoftonline.com/"),
                Some(tenant),
                None,
            ))
            .unwrap();
            assert_eq!(a.is_tenanted(None), tenanted, "{tenant}");
            assert!(
                !a.is_tenanted(Some("organizations")),
                "a per-call tenant counts"
            );
        }
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
            .token_endpoint("", false, |url| {
                assert_eq!(
                    url,
                    "https://idp.example/realms/x/.well-known/openid-configuration"
                );
                Ok(Discovered {
                    token_endpoint: "https://idp.example/token".to_string(),
                    mtls_token_endpoint: Some("https://mtls.idp.example/token".to_string()),
                })
            })
            .unwrap();
        let second = a
            .token_endpoint("", false, |_| unreachable!("discovered once"))
            .unwrap();
        assert_eq!(first, second);
        let over_mtls = a
            .token_endpoint("", true, |_| unreachable!("discovered once"))
            .unwrap();
        assert_eq!(over_mtls, "https://mtls.idp.example/token");
        // Without an alias, requests over mTLS go to token_endpoint.
        let plain =
            Authority::from_options(&identity(None, None, Some("https://idp.example/"))).unwrap();
        let endpoint = plain
            .token_endpoint("", true, |_| {
                Ok(Discovered {
                    token_endpoint: "https://idp.example/token".to_string(),
                    mtls_token_endpoint: None,
                })
            })
            .unwrap();
        assert_eq!(endpoint, "https://idp.example/token");
    }

    #[test]
    fn discovery_documents_are_entra_v2_or_the_providers_own() {
        let entra = |instance, tenant, authority| {
            Authority::from_options(&identity(instance, tenant, authority))
                .unwrap()
                .discovery_url()
        };
        assert_eq!(
            entra(Some("https://login.microsoftonline.com"), Some("t1"), None),
            "https://login.microsoftonline.com/t1/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(
            entra(
                None,
                None,
                Some("https://login.microsoftonline.com/contoso/v2.0")
            ),
            "https://login.microsoftonline.com/contoso/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(
            entra(None, None, Some("https://idp.example/realms/x/")),
            "https://idp.example/realms/x/.well-known/openid-configuration"
        );
    }

    #[test]
    fn a_missing_authority_names_the_fields() {
        let error = Authority::from_options(&identity(None, Some("t"), None))
            .err()
            .unwrap();
        assert!(error.message().contains("AzureAd.Instance"), "{error}");
    }
}
