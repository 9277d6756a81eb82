//! Which managed-identity source serves this host, chosen from the platform's variables in
//! MSAL's order, and the request each source takes: its URL, api-version, identity parameter and
//! secret header.

use std::path::PathBuf;

use crate::config::{ManagedIdentityId, PlatformEnvironment};
use crate::encoding::{percent_encode, quote, split_url};
use crate::error::{Error, ErrorKind, Result};

/// IMDS, where no other source is configured (VMs, scale sets, AKS nodes).
const IMDS_BASE: &str = "http://169.254.169.254";
const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";

/// Where the Azure Arc agent writes the key files its challenges name.
#[cfg(windows)]
fn arc_key_directory_default() -> Option<PathBuf> {
    std::env::var_os("ProgramData").map(|data| {
        PathBuf::from(data)
            .join("AzureConnectedMachineAgent")
            .join("Tokens")
    })
}
#[cfg(target_os = "linux")]
fn arc_key_directory_default() -> Option<PathBuf> {
    Some(PathBuf::from("/var/opt/azcmagent/tokens"))
}
#[cfg(not(any(windows, target_os = "linux")))]
fn arc_key_directory_default() -> Option<PathBuf> {
    None
}

pub enum Source {
    AppService {
        endpoint: String,
        header: String,
    },
    ServiceFabric {
        endpoint: String,
        header: String,
        thumbprint: String,
    },
    MachineLearning {
        endpoint: String,
        secret: String,
        default_client_id: Option<String>,
    },
    CloudShell {
        endpoint: String,
    },
    Arc {
        endpoint: String,
        /// The only folder whose key files a challenge may name; `None` where Arc does not run.
        key_directory: Option<PathBuf>,
    },
    Imds {
        endpoint: String,
    },
}

/// One request to the source.
pub struct PlatformRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Source {
    /// The source the variables select, as MSAL selects it: `IDENTITY_ENDPOINT` with
    /// `IDENTITY_HEADER` is Service Fabric (with `IDENTITY_SERVER_THUMBPRINT`) or App Service;
    /// `MSI_ENDPOINT` is Azure ML (with `MSI_SECRET`) or Cloud Shell; `IDENTITY_ENDPOINT` with
    /// `IMDS_ENDPOINT` is Azure Arc; no variable at all is IMDS. `IDENTITY_ENDPOINT` alone is an
    /// error here, where MSAL would go on to IMDS: a half-set platform is a mistake to report, not
    /// a reason to probe a link-local address.
    pub fn detect(platform: &PlatformEnvironment) -> Result<Source> {
        let identity_endpoint = platform.get("IDENTITY_ENDPOINT");
        let msi_endpoint = platform.get("MSI_ENDPOINT");
        if let (Some(endpoint), Some(header)) = (identity_endpoint, platform.get("IDENTITY_HEADER"))
        {
            let endpoint = checked_endpoint("IDENTITY_ENDPOINT", endpoint)?;
            return Ok(match platform.get("IDENTITY_SERVER_THUMBPRINT") {
                Some(thumbprint) => {
                    if !starts_with_ignore_case(&endpoint, "https://") {
                        return Err(Error::new(
                            ErrorKind::Config,
                            format!(
                                "IDENTITY_ENDPOINT: Service Fabric's endpoint must be https:// \
                                 (its certificate is pinned by IDENTITY_SERVER_THUMBPRINT), not {}",
                                quote(&endpoint)
                            ),
                        ));
                    }
                    let hex = thumbprint.replace([' ', ':'], "");
                    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(Error::new(
                            ErrorKind::Config,
                            "IDENTITY_SERVER_THUMBPRINT: expected a SHA-1 thumbprint of 40 hex \
                             digits",
                        ));
                    }
                    Source::ServiceFabric {
                        endpoint,
                        header: header.to_string(),
                        thumbprint: hex,
                    }
                }
                None => Source::AppService {
                    endpoint,
                    header: header.to_string(),
                },
            });
        }
        if let Some(endpoint) = msi_endpoint {
            let endpoint = checked_endpoint("MSI_ENDPOINT", endpoint)?;
            return Ok(match platform.get("MSI_SECRET") {
                Some(secret) => Source::MachineLearning {
                    endpoint,
                    secret: secret.to_string(),
                    default_client_id: platform
                        .get("DEFAULT_IDENTITY_CLIENT_ID")
                        .map(str::to_string),
                },
                None => Source::CloudShell { endpoint },
            });
        }
        if let (Some(endpoint), Some(_)) = (identity_endpoint, platform.get("IMDS_ENDPOINT")) {
            return Ok(Source::Arc {
                endpoint: checked_endpoint("IDENTITY_ENDPOINT", endpoint)?,
                key_directory: platform
                    .get("DSAPI_ARC_TOKEN_DIRECTORY")
                    .map(PathBuf::from)
                    .or_else(arc_key_directory_default),
            });
        }
        if identity_endpoint.is_some() {
            return Err(Error::new(
                ErrorKind::Config,
                "IDENTITY_ENDPOINT is set without IDENTITY_HEADER (App Service, Service Fabric) \
                 or IMDS_ENDPOINT (Azure Arc): the managed-identity source is incomplete",
            ));
        }
        let base = match platform.get("AZURE_POD_IDENTITY_AUTHORITY_HOST") {
            Some(host) => checked_endpoint("AZURE_POD_IDENTITY_AUTHORITY_HOST", host)?,
            None => IMDS_BASE.to_string(),
        };
        Ok(Source::Imds {
            endpoint: format!("{}{IMDS_TOKEN_PATH}", base.trim_end_matches('/')),
        })
    }

    /// The source's name and the variables that selected it, for messages.
    pub fn describe(&self) -> String {
        let (name, why) = match self {
            Source::AppService { .. } => ("App Service", "IDENTITY_ENDPOINT, IDENTITY_HEADER"),
            Source::ServiceFabric { .. } => (
                "Service Fabric",
                "IDENTITY_ENDPOINT, IDENTITY_HEADER, IDENTITY_SERVER_THUMBPRINT",
            ),
            Source::MachineLearning { .. } => ("Azure ML", "MSI_ENDPOINT, MSI_SECRET"),
            Source::CloudShell { .. } => ("Cloud Shell", "MSI_ENDPOINT"),
            Source::Arc { .. } => ("Azure Arc", "IDENTITY_ENDPOINT, IMDS_ENDPOINT"),
            Source::Imds { .. } => ("IMDS", "no other source's variables are set"),
        };
        format!("{name} ({why}) at {}", self.endpoint())
    }

    pub fn name(&self) -> &'static str {
        match self {
            Source::AppService { .. } => "app-service",
            Source::ServiceFabric { .. } => "service-fabric",
            Source::MachineLearning { .. } => "azure-ml",
            Source::CloudShell { .. } => "cloud-shell",
            Source::Arc { .. } => "azure-arc",
            Source::Imds { .. } => "imds",
        }
    }

    pub fn endpoint(&self) -> &str {
        match self {
            Source::AppService { endpoint, .. }
            | Source::ServiceFabric { endpoint, .. }
            | Source::MachineLearning { endpoint, .. }
            | Source::CloudShell { endpoint }
            | Source::Arc { endpoint, .. }
            | Source::Imds { endpoint } => endpoint,
        }
    }

    /// The request for a token for `resource` from `identity`; an identity kind the source
    /// cannot select is a configuration error naming `field`, where the identity was configured.
    pub fn request(
        &self,
        identity: &ManagedIdentityId,
        field: &str,
        resource: &str,
    ) -> Result<PlatformRequest> {
        let header = |name: &str, value: &str| (name.to_string(), value.to_string());
        let metadata = header("Metadata", "true");
        let get = |api_version: &str, id: Option<(&str, &str)>, headers| {
            let mut query = vec![("api-version", api_version), ("resource", resource)];
            query.extend(id);
            PlatformRequest {
                method: "GET",
                url: with_query(self.endpoint(), &query),
                headers,
                body: Vec::new(),
            }
        };
        let unsupported = |what: &str| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "{field}: {} cannot be selected on {}: {what}",
                    identity.describe(),
                    self.describe()
                ),
            )
        };
        Ok(match self {
            Source::AppService { header: secret, .. } => get(
                "2019-08-01",
                id_parameter(identity, "client_id", "mi_res_id", "object_id"),
                vec![header("X-IDENTITY-HEADER", secret)],
            ),
            Source::ServiceFabric { header: secret, .. } => {
                if *identity != ManagedIdentityId::SystemAssigned {
                    return Err(unsupported(
                        "Service Fabric gives each application its identity; it is not chosen at \
                         run time",
                    ));
                }
                get("2019-07-01-preview", None, vec![header("Secret", secret)])
            }
            Source::MachineLearning {
                secret,
                default_client_id,
                ..
            } => {
                let client_id = match identity {
                    ManagedIdentityId::SystemAssigned => default_client_id.as_deref(),
                    ManagedIdentityId::ClientId(id) => Some(id.as_str()),
                    _ => return Err(unsupported("Azure ML takes a client id only")),
                };
                get(
                    "2017-09-01",
                    client_id.map(|id| ("clientid", id)),
                    vec![metadata, header("secret", secret)],
                )
            }
            Source::CloudShell { endpoint } => {
                if *identity != ManagedIdentityId::SystemAssigned {
                    return Err(unsupported("Cloud Shell has only the user's identity"));
                }
                PlatformRequest {
                    method: "POST",
                    url: endpoint.clone(),
                    headers: vec![
                        metadata,
                        header("Content-Type", "application/x-www-form-urlencoded"),
                    ],
                    body: format!("resource={}", percent_encode(resource)).into_bytes(),
                }
            }
            Source::Arc { .. } => {
                if *identity != ManagedIdentityId::SystemAssigned {
                    return Err(unsupported("Azure Arc has only the machine's identity"));
                }
                get("2020-06-01", None, vec![metadata])
            }
            Source::Imds { .. } => get(
                "2018-02-01",
                id_parameter(identity, "client_id", "msi_res_id", "object_id"),
                vec![metadata],
            ),
        })
    }
}

/// The query parameter naming a user-assigned identity, by the names a source gives them.
fn id_parameter<'a>(
    identity: &'a ManagedIdentityId,
    client_id: &'a str,
    resource_id: &'a str,
    object_id: &'a str,
) -> Option<(&'a str, &'a str)> {
    match identity {
        ManagedIdentityId::SystemAssigned => None,
        ManagedIdentityId::ClientId(id) => Some((client_id, id)),
        ManagedIdentityId::ResourceId(id) => Some((resource_id, id)),
        ManagedIdentityId::ObjectId(id) => Some((object_id, id)),
    }
}

fn with_query(endpoint: &str, pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect();
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{separator}{}", query.join("&"))
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// A platform variable's URL: http:// or https://, a host, no user information or spaces.
fn checked_endpoint(variable: &str, url: &str) -> Result<String> {
    let (_, authority, _) = split_url(url);
    let scheme_ok =
        starts_with_ignore_case(url, "http://") || starts_with_ignore_case(url, "https://");
    if !scheme_ok
        || authority.is_empty()
        || authority.contains('@')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "{variable}: {} is not an http:// or https:// URL with a host",
                quote(url)
            ),
        ));
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(pairs: &[(&str, &str)]) -> PlatformEnvironment {
        let json = r#"{}"#;
        let environment = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect::<Vec<_>>();
        crate::config::Config::parse_with_environment(json, environment)
            .unwrap()
            .platform
    }

    #[test]
    fn sources_are_selected_in_msal_order() {
        let name = |pairs: &[(&str, &str)]| Source::detect(&platform(pairs)).map(|s| s.name());
        let sf = [
            ("IDENTITY_ENDPOINT", "https://127.0.0.1:2377/token"),
            ("IDENTITY_HEADER", "h"),
            ("IDENTITY_SERVER_THUMBPRINT", &"AB".repeat(20)),
        ];
        assert_eq!(name(&sf).unwrap(), "service-fabric");
        assert_eq!(name(&sf[..2]).unwrap(), "app-service");
        assert_eq!(
            name(&[("MSI_ENDPOINT", "http://127.0.0.1/"), ("MSI_SECRET", "s")]).unwrap(),
            "azure-ml"
        );
        assert_eq!(
            name(&[("MSI_ENDPOINT", "http://127.0.0.1/")]).unwrap(),
            "cloud-shell"
        );
        assert_eq!(
            name(&[
                ("IDENTITY_ENDPOINT", "http://127.0.0.1:40342/t"),
                ("IMDS_ENDPOINT", "http://127.0.0.1:40342")
            ])
            .unwrap(),
            "azure-arc"
        );
        assert_eq!(name(&[]).unwrap(), "imds");
        let imds = Source::detect(&platform(&[])).unwrap();
        assert_eq!(
            imds.endpoint(),
            "http://169.254.169.254/metadata/identity/oauth2/token"
        );
        let incomplete = name(&[("IDENTITY_ENDPOINT", "http://127.0.0.1/")])
            .unwrap_err()
            .to_string();
        assert!(incomplete.contains("IDENTITY_HEADER"), "{incomplete}");
        let plain_sf = name(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:2377/token"),
            ("IDENTITY_HEADER", "h"),
            ("IDENTITY_SERVER_THUMBPRINT", &"AB".repeat(20)),
        ])
        .unwrap_err()
        .to_string();
        assert!(plain_sf.contains("must be https://"), "{plain_sf}");
        let bad = name(&[("MSI_ENDPOINT", "ftp://x")])
            .unwrap_err()
            .to_string();
        assert!(bad.starts_with("MSI_ENDPOINT:"), "{bad}");
    }

    #[test]
    fn each_source_names_the_identity_its_own_way() {
        let app = Source::detect(&platform(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:8081/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ]))
        .unwrap();
        let request = app
            .request(
                &ManagedIdentityId::ResourceId("/sub/x".into()),
                "f",
                "https://vault.azure.net",
            )
            .unwrap();
        assert_eq!(
            request.url,
            "http://127.0.0.1:8081/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net&mi_res_id=%2Fsub%2Fx"
        );
        let imds = Source::detect(&platform(&[])).unwrap();
        let request = imds
            .request(&ManagedIdentityId::ResourceId("r".into()), "f", "api://a")
            .unwrap();
        assert!(request.url.ends_with("&msi_res_id=r"), "{}", request.url);
        let arc = Source::detect(&platform(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:40342/t"),
            ("IMDS_ENDPOINT", "http://127.0.0.1:40342"),
        ]))
        .unwrap();
        let refused = arc
            .request(&ManagedIdentityId::ClientId("c".into()), "f", "api://a")
            .err()
            .unwrap()
            .to_string();
        assert!(
            refused.contains("Azure Arc has only the machine's identity"),
            "{refused}"
        );
    }
}
