//! Microsoft.Identity.Web-compatible configuration: the `AzureAd` (alias `MicrosoftIdentity`) and
//! `DownstreamApis` sections of an `appsettings.json`, plus this library's own `Http` and
//! `TokenCache` sections.
//!
//! Keys are matched case-insensitively, as .NET configuration does; unknown keys are ignored. A value
//! of the wrong type or a missing required value is an error naming its JSON path, for example
//! `AzureAd.ClientCredentials[1].CertificateDiskPath`. Like .NET, which stores every configuration
//! value as a string, booleans and numbers are also accepted as strings ("true", "30").

mod environment;
mod identity_section;
mod managed_identity;
mod node;
mod options;
mod options_json;
mod proxy;
mod resolve;
mod sections;
mod token_cache;

use crate::error::Result;
use environment::apply_environment_override;
pub use managed_identity::{DEFAULT_TOKEN_EXCHANGE_URL, PlatformEnvironment};
use node::Node;
pub use options::{
    ALLOCATE_FOR_ME, AcquireTokenOptions, Agent, AgentUser, ApiOptions, CredentialDescription,
    HttpOptions, IdentityOptions, ManagedIdentityId, ProtocolScheme, SourceType, TokenEndpointAuth,
};
pub use proxy::ProxyOptions;
pub use resolve::ResolveEntry;
pub use token_cache::{DistributedCacheOptions, redact_redis_url};

/// The whole parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub identity: IdentityOptions,
    /// `DownstreamApis` (in key order, as .NET configuration lists them); names are compared
    /// case-insensitively.
    pub apis: Vec<(String, ApiOptions)>,
    pub http: HttpOptions,
    /// The managed-identity and workload-identity variables of the environment it was read with.
    pub platform: PlatformEnvironment,
    /// `TokenCache.Distributed`: the fleet-wide token cache, when configured.
    pub token_cache: Option<DistributedCacheOptions>,
    /// `TokenCache.MaxUserTokens`: user tokens kept in the process at most (0: the default).
    pub max_user_tokens: usize,
}

impl Config {
    /// Parses the JSON, then applies environment overrides in .NET's style
    /// (`AzureAd__ClientCredentials__0__CertificatePassword=...`).
    pub fn parse(json: &str) -> Result<Config> {
        // vars_os: one variable that is not UTF-8 must not make every client fail.
        let environment = std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        });
        Config::parse_with_environment(json, environment)
    }

    pub fn parse_with_environment(
        json: &str,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        let environment: Vec<(String, String)> = environment.into_iter().collect();
        let platform = PlatformEnvironment::capture(&environment);
        let mut value = sections::parse_json(json, "configuration is")?;
        Node::root(&value).expect_object()?;
        for (name, text) in &environment {
            apply_environment_override(&mut value, name, text.clone());
        }
        let root = Node::root(&value);

        let mut identity = match root.child_any(&["AzureAd", "MicrosoftIdentity"]) {
            Some(section) => IdentityOptions::read(&section)?,
            None => IdentityOptions::default(),
        };
        managed_identity::apply_workload_identity(&mut identity, &platform)?;
        let mut apis = Vec::new();
        if let Some(section) = root.child("DownstreamApis") {
            for (name, api) in section.entries()? {
                let options = ApiOptions::read(&api, &ApiOptions::default())?;
                options.validate(&api.path)?;
                apis.push((name.to_string(), options));
            }
        }
        let mut http = match root.child("Http") {
            Some(section) => HttpOptions::read(&section)?,
            None => HttpOptions::default(),
        };
        http.proxy = proxy::read_proxy(root.child("Http").as_ref(), &environment)?;
        let (token_cache, max_user_tokens) = match root.child("TokenCache") {
            Some(section) => (
                DistributedCacheOptions::read(&section)?,
                token_cache::max_user_tokens(&section)?,
            ),
            None => (None, 0),
        };
        Ok(Config {
            identity,
            apis,
            http,
            platform,
            token_cache,
            max_user_tokens,
        })
    }
}

#[cfg(test)]
impl Config {
    /// The options of the API named `name`, compared ignoring case (the client resolves names
    /// itself, with what it prepared for each API).
    pub fn api(&self, name: &str) -> Option<&ApiOptions> {
        self.apis
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, options)| options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn reads_the_id_web_shape_with_any_key_case() {
        let config = Config::parse(
            r#"{
              "azuread": {"ClientId": "app", "SENDX5C": "true",
                "ClientCredentials": [
                  {"SourceType": "Path", "CertificateDiskPath": "/a.pfx", "Skip": true},
                  {"sourcetype": 5, "CertificateStorePath": "/store", "CertificateDistinguishedName": "CN=x"}
                ]},
              "DownstreamApis": {"Orders": {"BaseUrl": "https://x/", "protocolscheme": "mtls",
                 "ExtraQueryParameters": {"a": "1"}, "Unknown": 3}}
            }"#,
        )
        .unwrap();
        assert_eq!(config.identity.client_id.as_deref(), Some("app"));
        assert!(config.identity.send_x5c);
        let credentials = &config.identity.client_credentials;
        assert!(credentials[0].skip);
        assert_eq!(
            credentials[1].source_type,
            Some(SourceType::StoreWithDistinguishedName)
        );
        let api = config.api("orders").unwrap();
        assert_eq!(api.protocol_scheme, ProtocolScheme::Mtls);
        assert_eq!(api.http_method, "GET");
        assert_eq!(api.extra_query, vec![("a".to_string(), "1".to_string())]);
    }

    #[test]
    fn errors_name_the_json_path() {
        let error = Config::parse(
            r#"{"AzureAd": {"ClientCredentials": [{"SourceType": "Path"}, {"SourceType": "Path", "CertificateDiskPath": 7}]}}"#,
        )
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(
            error
                .message()
                .contains("AzureAd.ClientCredentials[1].CertificateDiskPath: expected a string"),
            "{error}"
        );
        let error =
            Config::parse(r#"{"DownstreamApis": {"A": {"BaseUrl": "https://x"}}}"#).unwrap_err();
        assert!(
            error.message().contains("DownstreamApis.A.Scopes: missing"),
            "{error}"
        );
        let error = Config::parse("{").unwrap_err();
        assert!(error.message().contains("not valid JSON"), "{error}");
    }
}
