//! Managed identity in configuration: which identity a token comes from
//! (`AcquireTokenOptions.ManagedIdentity`, or a `SignedAssertionFromManagedIdentity` credential's
//! `ManagedIdentityClientId`), the platform variables that say where its endpoint is (captured
//! when the client is created), and workload identity: `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
//! `AZURE_FEDERATED_TOKEN_FILE` and `AZURE_AUTHORITY_HOST` completing an `AzureAd` section that
//! has no `ClientCredentials`, as the Azure SDKs read them.

use super::node::Node;
use super::options::{CredentialDescription, IdentityOptions, SourceType};
use super::sections::checked_url;
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};

/// Which managed identity: the system-assigned one, or a user-assigned one named by its client
/// id, its Azure resource id or its object (principal) id, as MSAL's `ManagedIdentityId` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagedIdentityId {
    SystemAssigned,
    ClientId(String),
    ResourceId(String),
    ObjectId(String),
}

impl ManagedIdentityId {
    /// Reads a `ManagedIdentity` object: `UserAssignedClientId` (Id.Web's name), or this library's
    /// `UserAssignedResourceId` or `UserAssignedObjectId`; none of them means system-assigned.
    pub(super) fn read(node: &Node) -> Result<Self> {
        node.expect_object()?;
        let mut named = Vec::new();
        for (key, make) in [
            (
                "UserAssignedClientId",
                ManagedIdentityId::ClientId as fn(String) -> ManagedIdentityId,
            ),
            ("UserAssignedResourceId", ManagedIdentityId::ResourceId),
            ("UserAssignedObjectId", ManagedIdentityId::ObjectId),
        ] {
            if let Some(value) = node.string(key)?.filter(|v| !v.trim().is_empty()) {
                named.push((key, make(value.trim().to_string())));
            }
        }
        match named.len() {
            0 => Ok(ManagedIdentityId::SystemAssigned),
            1 => Ok(named.remove(0).1),
            _ => Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{}: name one user-assigned identity, not {}",
                    node.path,
                    named
                        .iter()
                        .map(|(key, _)| *key)
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            )),
        }
    }

    /// "system-assigned", or "user-assigned (client id 'x')", for messages.
    pub fn describe(&self) -> String {
        match self {
            ManagedIdentityId::SystemAssigned => "system-assigned".to_string(),
            ManagedIdentityId::ClientId(id) => format!("user-assigned (client id {})", quote(id)),
            ManagedIdentityId::ResourceId(id) => {
                format!("user-assigned (resource id {})", quote(id))
            }
            ManagedIdentityId::ObjectId(id) => format!("user-assigned (object id {})", quote(id)),
        }
    }

    /// Identifies the identity in a cache key.
    pub fn cache_name(&self) -> String {
        match self {
            ManagedIdentityId::SystemAssigned => "system".to_string(),
            ManagedIdentityId::ClientId(id) => format!("client_id={id}"),
            ManagedIdentityId::ResourceId(id) => format!("resource_id={id}"),
            ManagedIdentityId::ObjectId(id) => format!("object_id={id}"),
        }
    }
}

/// The audience of the managed-identity token that a federated credential exchanges, when the
/// credential names none (the public cloud's).
pub const DEFAULT_TOKEN_EXCHANGE_URL: &str = "api://AzureADTokenExchange";

/// The variables that locate the platform's managed-identity endpoint (and Arc's key folder),
/// as they were when the client was created.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PlatformEnvironment {
    variables: Vec<(&'static str, String)>,
}

impl PlatformEnvironment {
    /// Every variable read, as MSAL and the Azure SDKs name them, plus this library's
    /// `DSAPI_ARC_TOKEN_DIRECTORY` (where Azure Arc's agent keeps its key files, for agents
    /// installed elsewhere and for tests).
    pub const NAMES: &'static [&'static str] = &[
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "IDENTITY_SERVER_THUMBPRINT",
        "IMDS_ENDPOINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "DEFAULT_IDENTITY_CLIENT_ID",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_AUTHORITY_HOST",
        "DSAPI_ARC_TOKEN_DIRECTORY",
        // The Azure SDKs' environment credential, for the identity that reads a Key Vault.
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    ];

    /// Keeps the non-empty values of [`PlatformEnvironment::NAMES`] from `environment`.
    pub(super) fn capture<'a>(environment: impl IntoIterator<Item = &'a (String, String)>) -> Self {
        let mut variables = Vec::new();
        for (name, value) in environment {
            if let Some(known) = Self::NAMES.iter().find(|known| **known == name.as_str())
                && !value.trim().is_empty()
            {
                variables.push((*known, value.trim().to_string()));
            }
        }
        PlatformEnvironment { variables }
    }

    /// A variable's value; `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .rev()
            .find(|(known, _)| *known == name)
            .map(|(_, value)| value.as_str())
    }
}

// IDENTITY_HEADER, MSI_SECRET, AZURE_CLIENT_SECRET and the certificate password are secrets: Debug output names the variables only.
impl std::fmt::Debug for PlatformEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.variables.iter().map(|(name, _)| name))
            .finish()
    }
}

/// Workload identity (AKS, or any host with a projected token file), when
/// `AZURE_FEDERATED_TOKEN_FILE` is set: a `SignedAssertionFilePath` entry without
/// `SignedAssertionFileDiskPath` reads that file; with no `ClientCredentials` configured, the file
/// is the credential, and `AZURE_CLIENT_ID`, `AZURE_TENANT_ID` and `AZURE_AUTHORITY_HOST` fill in `ClientId`, `TenantId`
/// and `Instance` where the configuration leaves them out (the configuration wins, as with the
/// Azure SDKs' options).
pub(super) fn apply_workload_identity(
    identity: &mut IdentityOptions,
    platform: &PlatformEnvironment,
) -> Result<()> {
    let Some(token_file) = platform.get("AZURE_FEDERATED_TOKEN_FILE") else {
        return Ok(());
    };
    // A `SignedAssertionFilePath` entry without a path reads the same file.
    for entry in &mut identity.client_credentials {
        if entry.source_type == Some(SourceType::SignedAssertionFilePath)
            && entry
                .signed_assertion_file_disk_path
                .as_deref()
                .is_none_or(|path| path.trim().is_empty())
        {
            entry.signed_assertion_file_disk_path = Some(token_file.to_string());
        }
    }
    if !identity.client_credentials.is_empty() {
        return Ok(());
    }
    identity.client_credentials.push(CredentialDescription {
        index: 0,
        source_type: Some(SourceType::SignedAssertionFilePath),
        signed_assertion_file_disk_path: Some(token_file.to_string()),
        ..CredentialDescription::default()
    });
    if identity.client_id.is_none() {
        identity.client_id = platform.get("AZURE_CLIENT_ID").map(str::to_string);
    }
    if identity.tenant_id.is_none() && identity.authority.is_none() {
        identity.tenant_id = platform.get("AZURE_TENANT_ID").map(str::to_string);
    }
    if identity.instance.is_none()
        && identity.authority.is_none()
        && let Some(host) = platform.get("AZURE_AUTHORITY_HOST")
    {
        identity.instance = Some(checked_url("AZURE_AUTHORITY_HOST", host)?);
    }
    crate::log::info(|| {
        "workload identity: AzureAd.ClientCredentials is empty, so the token file of \
         AZURE_FEDERATED_TOKEN_FILE is the credential"
            .to_string()
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn managed_identity_options_name_one_identity() {
        let read = |json: &str| {
            Config::parse_with_environment(
                &format!(
                    r#"{{"DownstreamApis": {{"A": {{"BaseUrl": "https://127.0.0.1/",
                       "Scopes": ["api://a/.default"], "RequestAppToken": true,
                       "AcquireTokenOptions": {{"ManagedIdentity": {json}}}}}}}}}"#
                ),
                Vec::new(),
            )
            .map(|c| c.apis[0].1.acquire_token_options.managed_identity.clone())
        };
        assert_eq!(read("{}").unwrap(), Some(ManagedIdentityId::SystemAssigned));
        assert_eq!(
            read(r#"{"UserAssignedClientId": " 1234 "}"#).unwrap(),
            Some(ManagedIdentityId::ClientId("1234".into()))
        );
        assert_eq!(
            read(r#"{"userassignedobjectid": "o"}"#).unwrap(),
            Some(ManagedIdentityId::ObjectId("o".into()))
        );
        let both = read(r#"{"UserAssignedClientId": "a", "UserAssignedResourceId": "/s/r"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            both.contains("DownstreamApis.A.AcquireTokenOptions.ManagedIdentity")
                && both.contains("UserAssignedClientId and UserAssignedResourceId"),
            "{both}"
        );
        let wrong = read(r#""yes""#).unwrap_err().to_string();
        assert!(wrong.contains("expected an object"), "{wrong}");

        // In overrides, null removes a configured managed identity; absent keeps it.
        let configured = crate::config::ApiOptions {
            base_url: Some("https://127.0.0.1/".to_string()),
            scopes: vec!["api://a/.default".to_string()],
            acquire_token_options: crate::config::AcquireTokenOptions {
                managed_identity: Some(ManagedIdentityId::SystemAssigned),
                ..Default::default()
            },
            ..Default::default()
        };
        let removed = configured
            .with_overrides(r#"{"AcquireTokenOptions": {"ManagedIdentity": null}}"#)
            .unwrap();
        assert_eq!(removed.acquire_token_options.managed_identity, None);
        let kept = configured
            .with_overrides(r#"{"AcquireTokenOptions": {"Tenant": "t"}}"#)
            .unwrap();
        assert_eq!(
            kept.acquire_token_options.managed_identity,
            Some(ManagedIdentityId::SystemAssigned)
        );
    }

    #[test]
    fn workload_identity_fills_what_the_configuration_leaves_out() {
        let variables = env(&[
            ("AZURE_CLIENT_ID", "from-env"),
            ("AZURE_TENANT_ID", "tenant-env"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
            ("AZURE_AUTHORITY_HOST", "https://login.example.test/"),
            ("IDENTITY_HEADER", "secret-header-value"),
        ]);
        let config =
            Config::parse_with_environment(r#"{"AzureAd": {"ClientId": "configured"}}"#, variables)
                .unwrap();
        let identity = &config.identity;
        assert_eq!(identity.client_id.as_deref(), Some("configured"));
        assert_eq!(identity.tenant_id.as_deref(), Some("tenant-env"));
        assert_eq!(
            identity.instance.as_deref(),
            Some("https://login.example.test/")
        );
        let credential = &identity.client_credentials[0];
        assert_eq!(
            credential.source_type,
            Some(SourceType::SignedAssertionFilePath)
        );
        assert_eq!(
            credential.signed_assertion_file_disk_path.as_deref(),
            Some("/var/run/token")
        );
        let shown = format!("{:?}", config.platform);
        assert!(
            shown.contains("IDENTITY_HEADER") && !shown.contains("secret-header-value"),
            "{shown}"
        );

        let with_credentials = Config::parse_with_environment(
            r#"{"AzureAd": {"ClientCredentials": [{"SourceType": "ClientSecret", "ClientSecret": "s"}]}}"#,
            env(&[("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")]),
        )
        .unwrap();
        assert_eq!(with_credentials.identity.client_credentials.len(), 1);
        assert_eq!(with_credentials.identity.client_id, None);
    }
}
