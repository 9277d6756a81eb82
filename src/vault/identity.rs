//! The identity that reads a vault, chosen as Azure's `DefaultAzureCredential` chooses for a
//! service (Id.Web's loader uses it): the environment's client secret or certificate
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` or
//! `AZURE_CLIENT_CERTIFICATE_PATH`), else workload identity (`AZURE_FEDERATED_TOKEN_FILE`), else
//! the managed identity: the entry's `ManagedIdentityClientId`, else `AZURE_CLIENT_ID`, else the
//! system-assigned one. The developer tools of the chain (Azure CLI, Visual Studio, …) are left
//! out: a service has none. The choice is made from the environment, not by trying each in turn:
//! a service's configuration says which one it has, and a failure names that one.
//!
//! Tokens come from this library's own token layer (a provider of its own, apart from the app's
//! identity), so they are cached, refreshed and asked for once however many threads wait.

use std::sync::Arc;

use crate::clock::Deadline;
use crate::config::{
    AcquireTokenOptions, CredentialDescription, IdentityOptions, ManagedIdentityId,
    PlatformEnvironment, SourceType,
};
use crate::credentials::{CredentialsProvider, VaultSource};
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};
use crate::token::{AccessToken, TokenCall, TokenProvider};
use crate::transport::Transport;

/// Which of `DefaultAzureCredential`'s sources the environment gives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// `EnvironmentCredential` with a secret or a certificate file.
    Environment { tenant: String, client_id: String },
    /// `WorkloadIdentityCredential`.
    Workload { tenant: String, client_id: String },
    /// `ManagedIdentityCredential`; the id may be the entry's.
    Managed,
}

/// The identity that reads vaults and the token provider that serves it.
pub struct VaultIdentity {
    kind: Kind,
    /// `AZURE_CLIENT_ID`: the default user-assigned managed identity.
    default_client_id: Option<String>,
    /// The app credential (a secret, a certificate file, a token file) of the first two kinds.
    credentials: CredentialsProvider,
    tokens: TokenProvider,
    /// How the kind is named in logs and errors (never a value of a secret).
    shown: String,
}

impl VaultIdentity {
    /// The identity the environment gives (see the module's notes).
    pub fn from_environment(
        platform: &PlatformEnvironment,
        crypto: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<VaultIdentity> {
        let (kind, credential, shown) = choose(platform);
        let identity = IdentityOptions {
            instance: Some(
                platform
                    .get("AZURE_AUTHORITY_HOST")
                    .unwrap_or("https://login.microsoftonline.com/")
                    .to_string(),
            ),
            tenant_id: match &kind {
                Kind::Environment { tenant, .. } | Kind::Workload { tenant, .. } => {
                    Some(tenant.clone())
                }
                Kind::Managed => None,
            },
            client_id: match &kind {
                Kind::Environment { client_id, .. } | Kind::Workload { client_id, .. } => {
                    Some(client_id.clone())
                }
                Kind::Managed => None,
            },
            client_credentials: credential.into_iter().collect(),
            // The certificate file of the environment is read once; the app's own certificate
            // settings are not the vault reader's.
            certificate_reload_interval: None,
            certificate_expiry_warning_days: 0,
            ..IdentityOptions::default()
        };
        Ok(VaultIdentity {
            credentials: CredentialsProvider::new(&identity.client_credentials, crypto, 0, None),
            tokens: TokenProvider::new(&identity, platform, (None, None), 0)?,
            default_client_id: platform.get("AZURE_CLIENT_ID").map(str::to_string),
            kind,
            shown,
        })
    }

    /// "managed identity user-assigned (client id 'x')", "environment client secret
    /// (AZURE_CLIENT_ID 'x')", … for logs and errors.
    pub fn describe(&self, source: &VaultSource) -> String {
        match self.kind {
            Kind::Managed => format!(
                "managed identity {}",
                self.managed_identity(source).describe()
            ),
            _ => self.shown.clone(),
        }
    }

    fn managed_identity(&self, source: &VaultSource) -> ManagedIdentityId {
        source
            .managed_identity_client_id
            .clone()
            .or_else(|| self.default_client_id.clone())
            .map_or(
                ManagedIdentityId::SystemAssigned,
                ManagedIdentityId::ClientId,
            )
    }

    /// A token for `scope` (the challenge's resource) in `tenant` (the challenge's), for the
    /// vault of `source`. `fresh` skips the cached one (the vault refused it).
    pub fn token(&self, request: &TokenRequest, transport: &Transport) -> Result<AccessToken> {
        let mut options = AcquireTokenOptions {
            force_refresh: request.fresh,
            ..AcquireTokenOptions::default()
        };
        match &self.kind {
            Kind::Managed => {
                options.managed_identity = Some(self.managed_identity(request.source));
            }
            Kind::Environment { tenant, .. } | Kind::Workload { tenant, .. } => {
                if let Some(wanted) = request.tenant
                    && !wanted.eq_ignore_ascii_case(tenant)
                {
                    // The Azure SDKs refuse a token for another tenant than the credential's
                    // unless told to allow it: a vault moved elsewhere is a configuration matter.
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "the vault is in tenant {}, and AZURE_TENANT_ID names {}",
                            quote(wanted),
                            quote(tenant)
                        ),
                    ));
                }
                options.tenant = Some(tenant.clone());
            }
        }
        let scopes = [request.scope.to_string()];
        self.tokens.acquire(&TokenCall {
            credentials: &self.credentials,
            transport,
            scopes: &scopes,
            options: &options,
            deadline: request.deadline,
        })
    }
}

/// What one token for a vault is asked for.
pub struct TokenRequest<'a> {
    pub source: &'a VaultSource,
    pub scope: &'a str,
    pub tenant: Option<&'a str>,
    pub fresh: bool,
    pub deadline: Deadline,
}

/// The kind the environment gives, its app credential, and how it is named.
fn choose(platform: &PlatformEnvironment) -> (Kind, Option<CredentialDescription>, String) {
    let tenant = platform.get("AZURE_TENANT_ID").map(str::to_string);
    let client_id = platform.get("AZURE_CLIENT_ID").map(str::to_string);
    let entry = |source_type, configure: &dyn Fn(&mut CredentialDescription)| {
        let mut description = CredentialDescription {
            source_type: Some(source_type),
            ..CredentialDescription::default()
        };
        configure(&mut description);
        Some(description)
    };
    if let (Some(tenant), Some(client_id)) = (tenant.clone(), client_id.clone()) {
        let named =
            |what: &str| format!("environment {what} (AZURE_CLIENT_ID {})", quote(&client_id));
        if let Some(secret) = platform.get("AZURE_CLIENT_SECRET") {
            let credential = entry(SourceType::ClientSecret, &|d| {
                d.client_secret = Some(secret.to_string());
            });
            let shown = named("client secret");
            return (Kind::Environment { tenant, client_id }, credential, shown);
        }
        if let Some(path) = platform.get("AZURE_CLIENT_CERTIFICATE_PATH") {
            let password = platform.get("AZURE_CLIENT_CERTIFICATE_PASSWORD");
            let credential = entry(SourceType::Path, &|d| {
                d.certificate_disk_path = Some(path.to_string());
                d.certificate_password = password.map(str::to_string);
            });
            let shown = named("client certificate");
            return (Kind::Environment { tenant, client_id }, credential, shown);
        }
        if let Some(file) = platform.get("AZURE_FEDERATED_TOKEN_FILE") {
            let credential = entry(SourceType::SignedAssertionFilePath, &|d| {
                d.signed_assertion_file_disk_path = Some(file.to_string());
            });
            let shown = format!(
                "workload identity (AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID {})",
                quote(&client_id)
            );
            return (Kind::Workload { tenant, client_id }, credential, shown);
        }
    }
    (Kind::Managed, None, "managed identity".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(pairs: &[(&str, &str)]) -> PlatformEnvironment {
        let environment: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        crate::config::Config::parse_with_environment("{}", environment)
            .unwrap()
            .platform
    }

    #[test]
    fn the_order_is_default_azure_credentials_for_a_service() {
        let both = [
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s3cret"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
        ];
        let (kind, _, shown) = choose(&platform(&both));
        assert!(matches!(kind, Kind::Environment { .. }), "{kind:?}");
        assert!(
            shown.contains("client secret") && !shown.contains("s3cret"),
            "{shown}"
        );
        let (kind, _, shown) = choose(&platform(&[both[0], both[1], both[3]]));
        assert!(matches!(kind, Kind::Workload { .. }), "{kind:?}");
        assert!(shown.contains("workload identity"), "{shown}");
        // Without a tenant, neither the environment nor workload identity can be used.
        let (kind, _, _) = choose(&platform(&[both[1], both[2], both[3]]));
        assert_eq!(kind, Kind::Managed);
    }

    #[test]
    fn the_managed_identity_is_the_entrys_else_azure_client_id() {
        let crypto = Arc::new(rustls::crypto::ring::default_provider());
        let identity =
            VaultIdentity::from_environment(&platform(&[("AZURE_CLIENT_ID", "env-id")]), crypto)
                .unwrap();
        let mut source = VaultSource {
            vault: "https://v.vault.azure.net".into(),
            name: "c".into(),
            managed_identity_client_id: Some("entry-id".into()),
        };
        assert!(identity.describe(&source).contains("entry-id"));
        source.managed_identity_client_id = None;
        assert!(identity.describe(&source).contains("env-id"));
    }
}
