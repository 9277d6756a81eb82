//! The option types of the configuration, as Id.Web names them: the `AzureAd` section and its
//! `ClientCredentials`, one `DownstreamApis` entry, and this library's `Http` section.

use std::time::Duration;

pub use super::managed_identity::ManagedIdentityId;
pub use super::proxy::ProxyOptions;
pub use super::resolve::ResolveEntry;

/// The `AzureAd` section.
#[derive(Debug, Clone)]
pub struct IdentityOptions {
    pub instance: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub authority: Option<String>,
    /// The region of Entra's regional mTLS token endpoint (`{region}.mtlsauth.microsoft.com`).
    pub azure_region: Option<String>,
    pub send_x5c: bool,
    /// RFC 7591's `token_endpoint_auth_method` as this library's `TokenEndpointAuthMethod`.
    pub token_endpoint_auth: TokenEndpointAuth,
    pub client_credentials: Vec<CredentialDescription>,
    /// This library's `CertificateExpiryWarningDays`: warn (and raise `ExpiringSoon`) when the
    /// certificate in use expires within this many days; 0 turns it off.
    pub certificate_expiry_warning_days: u32,
    /// This library's `CertificateReloadIntervalSeconds`: how often certificate files and store
    /// directories are checked for a change (default 60 s); `None` (0) turns it off.
    pub certificate_reload_interval: Option<Duration>,
    /// What an incoming token's `aud` may be besides `ClientId` and `api://{ClientId}`: Id.Web's
    /// `Audience` and `Audiences`.
    pub audiences: Vec<String>,
    /// Id.Web's `Scopes` of a web API: an incoming token must hold one of them in `scp` (or one
    /// of `roles` in its `roles`); empty requires none.
    pub required_scopes: Vec<String>,
    /// `Roles`: the app roles (app permissions) an incoming app token may hold instead.
    pub required_roles: Vec<String>,
}

impl Default for IdentityOptions {
    fn default() -> Self {
        IdentityOptions {
            instance: None,
            tenant_id: None,
            client_id: None,
            authority: None,
            azure_region: None,
            send_x5c: false,
            token_endpoint_auth: TokenEndpointAuth::default(),
            client_credentials: Vec::new(),
            certificate_expiry_warning_days: 14,
            certificate_reload_interval: Some(Duration::from_secs(60)),
            audiences: Vec::new(),
            required_scopes: Vec::new(),
            required_roles: Vec::new(),
        }
    }
}

/// How the app authenticates to the token endpoint (RFC 7591 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenEndpointAuth {
    /// With its credential: a client assertion signed by its certificate, or its secret.
    #[default]
    Credential,
    /// `tls_client_auth` (RFC 8705 §2.1): its TLS client certificate and `client_id`, nothing else.
    TlsClientAuth,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceType {
    Path,
    Base64Encoded,
    StoreWithThumbprint,
    StoreWithDistinguishedName,
    StoreWithSubjectName,
    ClientSecret,
    SignedAssertionFilePath,
    /// A managed identity's token for `TokenExchangeUrl` as the client assertion (a federated
    /// identity credential).
    SignedAssertionFromManagedIdentity,
    /// A certificate (with its private key) from Azure Key Vault: `KeyVaultUrl` and
    /// `KeyVaultCertificateName`, read with the host's identity.
    KeyVault,
    /// A source Id.Web knows that this library does not load (custom assertions, ...).
    NotSupported(String),
}

impl SourceType {
    /// Whether the source gives a certificate (what mTLS and bound tokens need).
    pub fn is_certificate(&self) -> bool {
        matches!(
            self,
            SourceType::Path
                | SourceType::Base64Encoded
                | SourceType::StoreWithThumbprint
                | SourceType::StoreWithDistinguishedName
                | SourceType::StoreWithSubjectName
                | SourceType::KeyVault
        )
    }

    /// The name as written in configuration.
    pub fn name(&self) -> &str {
        match self {
            SourceType::Path => "Path",
            SourceType::Base64Encoded => "Base64Encoded",
            SourceType::StoreWithThumbprint => "StoreWithThumbprint",
            SourceType::StoreWithDistinguishedName => "StoreWithDistinguishedName",
            SourceType::StoreWithSubjectName => "StoreWithSubjectName",
            SourceType::ClientSecret => "ClientSecret",
            SourceType::SignedAssertionFilePath => "SignedAssertionFilePath",
            SourceType::SignedAssertionFromManagedIdentity => "SignedAssertionFromManagedIdentity",
            SourceType::KeyVault => "KeyVault",
            SourceType::NotSupported(name) => name,
        }
    }
}

/// One entry of `AzureAd.ClientCredentials`.
#[derive(Clone, Default)]
pub struct CredentialDescription {
    /// Position in `ClientCredentials`, used in every message about this entry.
    pub index: usize,
    pub source_type: Option<SourceType>,
    pub certificate_disk_path: Option<String>,
    pub certificate_password: Option<String>,
    pub base64_encoded_value: Option<String>,
    pub certificate_store_path: Option<String>,
    pub certificate_thumbprint: Option<String>,
    pub certificate_distinguished_name: Option<String>,
    /// For `StoreWithSubjectName`; `CertificateDistinguishedName` is used when absent.
    pub certificate_subject_name: Option<String>,
    pub client_secret: Option<String>,
    pub signed_assertion_file_disk_path: Option<String>,
    /// Id.Web's `UseBoundCredential`: the certificate's token requests go over mTLS (to the mTLS
    /// host) and their tokens are kept apart, bound to it.
    pub use_bound_credential: bool,
    /// For `SignedAssertionFromManagedIdentity`: the user-assigned identity's client id; absent,
    /// the system-assigned identity. For `KeyVault`: the managed identity that reads the vault
    /// (else `AZURE_CLIENT_ID`).
    pub managed_identity_client_id: Option<String>,
    /// For `KeyVault`: the vault (`https://contoso.vault.azure.net`) and the certificate's name.
    pub key_vault_url: Option<String>,
    pub key_vault_certificate_name: Option<String>,
    /// For `SignedAssertionFromManagedIdentity`: the audience of the managed-identity token.
    pub token_exchange_url: Option<String>,
    pub skip: bool,
}

// Secrets stay out of Debug output so that a `{:?}` in a log line cannot leak them.
impl std::fmt::Debug for CredentialDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialDescription")
            .field("index", &self.index)
            .field("source_type", &self.source_type)
            .field("certificate_disk_path", &self.certificate_disk_path)
            .field("certificate_store_path", &self.certificate_store_path)
            .field("skip", &self.skip)
            .finish_non_exhaustive()
    }
}

impl CredentialDescription {
    /// "ClientCredentials[2]", the name used in messages about this entry.
    pub fn label(&self) -> String {
        format!("ClientCredentials[{}]", self.index)
    }

    /// "ClientCredentials[2] (Path)", the source named in observer events; a Key Vault entry
    /// names its vault and certificate ("ClientCredentials[0] (KeyVault
    /// https://contoso.vault.azure.net/certificates/orders-client)").
    pub fn source_name(&self) -> String {
        let kind = self
            .source_type
            .as_ref()
            .map_or("unknown", SourceType::name);
        match self.key_vault_location() {
            Some(location) => format!("{} ({kind} {location})", self.label()),
            None => format!("{} ({kind})", self.label()),
        }
    }

    /// `{KeyVaultUrl}/certificates/{KeyVaultCertificateName}` of a Key Vault entry.
    pub fn key_vault_location(&self) -> Option<String> {
        if self.source_type != Some(SourceType::KeyVault) {
            return None;
        }
        let vault = self.key_vault_url.as_deref()?.trim_end_matches('/');
        let name = self.key_vault_certificate_name.as_deref()?;
        Some(format!("{vault}/certificates/{name}"))
    }
}

/// How a downstream API is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolScheme {
    #[default]
    Bearer,
    Mtls,
    MtlsPop,
}

impl ProtocolScheme {
    pub fn name(&self) -> &'static str {
        match self {
            ProtocolScheme::Bearer => "Bearer",
            ProtocolScheme::Mtls => "MTLS",
            ProtocolScheme::MtlsPop => "MTLS_POP",
        }
    }
}

/// Id.Web's `AcquireTokenOptions` subset used per API or per call.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AcquireTokenOptions {
    pub tenant: Option<String>,
    pub force_refresh: bool,
    pub claims: Option<String>,
    pub correlation_id: Option<String>,
    /// Id.Web's `ManagedIdentity`: the token comes from this managed identity, not from the
    /// `AzureAd` app's credentials.
    pub managed_identity: Option<ManagedIdentityId>,
    /// `UserAssertion`: the incoming user's access token, for a token on behalf of that user
    /// (on-behalf-of). A secret: never logged, never in a message.
    pub user_assertion: Option<String>,
    /// Id.Web's `LongRunningWebApiSessionKey`: a session that keeps the user's refresh token
    /// (`AllocateForMe`: the library allocates the key, a hash of the user's token).
    pub long_running_session_key: Option<String>,
    /// `AgentIdentity` (the agent's app id), with `AgentUsername` or `AgentUserId` for the
    /// agent's user: the token is the agent's, the configured app its blueprint.
    pub agent: Option<Agent>,
}

/// An Entra agent identity, and perhaps one of its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub app_id: String,
    pub user: Option<AgentUser>,
}

/// An agent's user account: by UPN or by object id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentUser {
    Username(String),
    ObjectId(String),
}

/// Id.Web's value of `LongRunningWebApiSessionKey` asking the library to allocate the key.
pub const ALLOCATE_FOR_ME: &str = "AllocateForMe";

// The user's assertion is a token: Debug shows whether there is one, never its value.
impl std::fmt::Debug for AcquireTokenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcquireTokenOptions")
            .field("tenant", &self.tenant)
            .field("force_refresh", &self.force_refresh)
            .field("correlation_id", &self.correlation_id)
            .field("managed_identity", &self.managed_identity)
            .field("user_assertion", &self.user_assertion.as_ref().map(|_| "…"))
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

/// One entry of `DownstreamApis` (Id.Web's `DownstreamApiOptions`), or the same after per-call overrides.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiOptions {
    pub base_url: Option<String>,
    pub relative_path: String,
    pub http_method: String,
    pub scopes: Vec<String>,
    pub request_app_token: bool,
    pub protocol_scheme: ProtocolScheme,
    pub accept_header: String,
    pub content_type: String,
    pub extra_headers: Vec<(String, String)>,
    pub extra_query: Vec<(String, String)>,
    pub acquire_token_options: AcquireTokenOptions,
    /// This library's `TimeoutSeconds` for one API or one call: bounds the whole call, retries
    /// included, instead of `Http.TimeoutSeconds`.
    pub timeout: Option<Duration>,
}

// Header and query values may be keys (`Ocp-Apim-Subscription-Key`, SAS signatures): Debug output
// names them without their values.
impl std::fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names =
            |pairs: &[(String, String)]| pairs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        f.debug_struct("ApiOptions")
            .field("base_url", &self.base_url)
            .field("relative_path", &self.relative_path)
            .field("http_method", &self.http_method)
            .field("scopes", &self.scopes)
            .field("protocol_scheme", &self.protocol_scheme)
            .field("extra_headers", &names(&self.extra_headers))
            .field("extra_query", &names(&self.extra_query))
            .finish_non_exhaustive()
    }
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            base_url: None,
            relative_path: String::new(),
            http_method: "GET".to_string(),
            scopes: Vec::new(),
            request_app_token: false,
            protocol_scheme: ProtocolScheme::Bearer,
            accept_header: "application/json".to_string(),
            content_type: "application/json".to_string(),
            extra_headers: Vec::new(),
            extra_query: Vec::new(),
            acquire_token_options: AcquireTokenOptions::default(),
            timeout: None,
        }
    }
}

/// This library's `Http` section: server trust and timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// PEM file of CA certificates that replaces the OS trust store (private PKIs).
    pub ca_bundle_path: Option<String>,
    pub connect_timeout: Duration,
    /// Bound on a whole call, retries included.
    pub timeout: Duration,
    pub max_response_bytes: u64,
    /// `Http.Proxy`, else the environment's `HTTPS_PROXY` / `ALL_PROXY`, with `NO_PROXY`.
    pub proxy: Option<ProxyOptions>,
    /// `Http.Resolve`: addresses for host names, curl's `--resolve` strings, for every connection.
    pub resolve: Vec<ResolveEntry>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_bundle_path: None,
            connect_timeout: Duration::from_secs(10),
            // HttpClient's default timeout in .NET.
            timeout: Duration::from_secs(100),
            max_response_bytes: 64 * 1024 * 1024,
            proxy: None,
            resolve: Vec::new(),
        }
    }
}
