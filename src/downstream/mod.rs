//! `DownstreamApi`: resolves an API's options (configuration merged with per-call overrides) and
//! dispatches on the protocol: [`mtls`] (the certificate in the handshake, retried once after a
//! rejection) or [`bearer`] (an app token, resent once after a claims challenge). The URL and
//! headers are built in [`request`], `WWW-Authenticate` challenges read in [`challenge`].

mod bearer;
mod call;
mod challenge;
mod counters;
mod credential_control;
mod for_user;
mod mtls;
mod prepared;
mod readiness;
mod request;
mod tokens;

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use crate::config::{ApiOptions, Config, ProtocolScheme};
use crate::credentials::{CredentialsProvider, Purpose, Usage};
use crate::encoding::{list_some, quote};
use crate::error::{Error, ErrorKind, Result};
use crate::files::{FileKind, read_regular_file};
use crate::metrics::{ApiCalls, CallProtocol};
use crate::token::{AccessToken, TokenCall, TokenProvider};
use crate::transport::{RequestLine, Response, Transport};
use crate::validation::TokenValidator;
use crate::vault::KeyVaultClient;
use call::ApiCall;
use prepared::{Prepared, Resolved};
pub use readiness::ApiReadiness;

#[cfg(fuzzing)]
pub(crate) use {challenge::claims_challenge, request::build_url as fuzz_build_url};

/// Calls the downstream APIs of one `appsettings.json`: it owns their credentials, connection
/// pools and token cache, and is meant to be shared by all threads of a process.
///
/// # Example
///
/// An `appsettings.json` with the app's certificate and an API called over mTLS:
///
/// ```json
/// {
///   "AzureAd": {
///     "Instance": "https://login.microsoftonline.com/", "TenantId": "contoso.onmicrosoft.com",
///     "ClientId": "11111111-2222-3333-4444-555555555555",
///     "ClientCredentials": [ { "SourceType": "Path", "CertificateDiskPath": "/etc/orders/client.pem" } ]
///   },
///   "DownstreamApis": {
///     "Orders": { "BaseUrl": "https://orders.contoso.com/", "RelativePath": "api/orders", "ProtocolScheme": "MTLS" }
///   }
/// }
/// ```
///
/// ```no_run
/// use downstream_api::DownstreamApi;
/// use std::path::Path;
///
/// # fn main() -> downstream_api::Result<()> {
/// let api = DownstreamApi::from_file(Path::new("appsettings.json"))?;
/// let response = api.call("Orders", None, b"")?;
/// println!("HTTP {}: {}", response.status, String::from_utf8_lossy(&response.body));
/// # Ok(())
/// # }
/// ```
///
/// Share one client between threads with an [`Arc`](std::sync::Arc): calls take `&self`.
pub struct DownstreamApi {
    config: Config,
    /// One per `config.apis` entry, in the same order.
    prepared: Vec<Prepared>,
    /// The process's call counters of each `config.apis` entry, in the same order.
    calls: Vec<Arc<ApiCalls>>,
    credentials: CredentialsProvider,
    transport: Transport,
    tokens: TokenProvider,
    /// Checks the tokens the app itself receives, when it is a web API.
    validator: TokenValidator,
}

impl DownstreamApi {
    fn new(config: Config) -> Result<Self> {
        let crypto = Arc::new(rustls::crypto::ring::default_provider());
        let transport = Transport::new(&config.http, crypto.clone())?;
        let credentials = CredentialsProvider::new(
            &config.identity.client_credentials,
            crypto.clone(),
            config.identity.certificate_expiry_warning_days,
            config.identity.certificate_reload_interval,
        );
        // rediss:// trusts what HTTPS trusts: the configured CA bundle, else the OS store.
        let ca_bundle = match (&config.token_cache, &config.http.ca_bundle_path) {
            (Some(_), Some(path)) => Some(
                read_regular_file(Path::new(path), FileKind::CaBundle).map_err(|e| {
                    Error::new(ErrorKind::Config, format!("Http.CaBundlePath: {e}"))
                })?,
            ),
            _ => None,
        };
        if credentials.has_vault_entries() {
            let vault = KeyVaultClient::new(&config, crypto, ca_bundle.clone())?;
            credentials.set_vault_reader(Arc::new(vault));
        }
        let tokens = TokenProvider::new(
            &config.identity,
            &config.platform,
            (config.token_cache.as_ref(), ca_bundle),
            config.max_user_tokens,
        )?;
        // APIs whose tokens come from a managed identity need no app registration.
        if let Some((name, _)) = config.apis.iter().find(|(_, api)| {
            api.protocol_scheme != ProtocolScheme::Mtls
                && api.acquire_token_options.managed_identity.is_none()
        }) {
            tokens
                .validate()
                .map_err(|e| e.context(format!("DownstreamApis.{name} needs tokens")))?;
        }
        for (name, api) in &config.apis {
            check_mtls_pop(&config, &tokens, api, &format!("DownstreamApis.{name}"))?;
        }
        Ok(DownstreamApi {
            prepared: config
                .apis
                .iter()
                .map(|(_, api)| Prepared::new(api))
                .collect(),
            calls: config
                .apis
                .iter()
                .map(|(name, _)| crate::metrics::api_calls(name))
                .collect(),
            validator: TokenValidator::new(&config.identity),
            config,
            credentials,
            transport,
            tokens,
        })
    }

    /// A client for the JSON text of an `appsettings.json`, with .NET-style environment
    /// overrides applied. Credentials are loaded on first use.
    ///
    /// Errors are [`ErrorKind::Config`] naming the JSON path of the wrong or missing value.
    ///
    /// ```
    /// use downstream_api::{DownstreamApi, ErrorKind};
    ///
    /// let api = DownstreamApi::from_json(r#"{
    ///   "AzureAd": { "Instance": "https://login.microsoftonline.com/", "TenantId": "contoso",
    ///                "ClientId": "orders-app",
    ///                "ClientCredentials": [ { "SourceType": "ClientSecret", "ClientSecret": "s3cret" } ] },
    ///   "DownstreamApis": { "Orders": { "BaseUrl": "https://orders.contoso.com",
    ///                                   "Scopes": [ "api://orders/.default" ] } }
    /// }"#);
    /// assert!(api.is_ok());
    ///
    /// let error = DownstreamApi::from_json(r#"{ "AzureAd": { "ClientId": 42 } }"#).err().unwrap();
    /// assert_eq!(error.kind(), ErrorKind::Config);
    /// assert!(error.message().contains("AzureAd.ClientId"));
    /// ```
    pub fn from_json(json: &str) -> Result<Self> {
        DownstreamApi::new(Config::parse(json)?)
    }

    /// Whether the fleet-wide token cache (`TokenCache.Distributed`) is being skipped because
    /// Redis failed recently (calls then get tokens from the token endpoint); false without one.
    /// For health endpoints.
    pub fn is_skipping_shared_cache(&self) -> bool {
        self.tokens.is_skipping_redis()
    }

    /// [`DownstreamApi::from_json`] with `environment` in place of the process's: its .NET-style
    /// overrides, managed-identity endpoints (`IDENTITY_ENDPOINT`, `MSI_ENDPOINT`, …) and
    /// workload identity (`AZURE_FEDERATED_TOKEN_FILE`, …). For hosts that hold their settings
    /// apart from the process environment, and for tests.
    pub fn from_json_with_environment(
        json: &str,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        DownstreamApi::new(Config::parse_with_environment(json, environment)?)
    }

    /// A client for the `appsettings.json` at `path`: a regular UTF-8 file of at most 4 MiB.
    /// Errors: [`ErrorKind::Io`] when it cannot be read, [`ErrorKind::Config`] as
    /// [`DownstreamApi::from_json`]. See the example on [`DownstreamApi`].
    pub fn from_file(path: &Path) -> Result<Self> {
        let shown = path.display();
        let data = read_regular_file(path, FileKind::Configuration)
            .map_err(|e| Error::new(ErrorKind::Io, format!("configuration file: {e}")))?;
        let json = String::from_utf8(data).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("configuration file '{shown}' is not valid UTF-8: {e}"),
            )
        })?;
        DownstreamApi::from_json(&json)
            .map_err(|e| e.context(format!("configuration file '{shown}'")))
    }

    /// The options a call to `api_name` would use: its `DownstreamApis` entry with
    /// `overrides_json` (may be `None`) applied. Their `to_json` gives them to user code.
    pub fn api_options(&self, api_name: &str, overrides_json: Option<&str>) -> Result<ApiOptions> {
        Ok(self.resolve(api_name, overrides_json)?.options.into_owned())
    }

    /// Calls the API named `api_name` in `DownstreamApis`. Any HTTP status is a successful call;
    /// an error means no response could be had.
    ///
    /// `overrides_json` is a `DownstreamApiOptions` object merged onto the configured entry for
    /// this call only (Id.Web's `options => ...`); `body` is sent as it is, with the entry's
    /// `ContentType`. A certificate the server rejects is reloaded and the call retried once.
    ///
    /// ```no_run
    /// # fn main() -> downstream_api::Result<()> {
    /// # let api = downstream_api::DownstreamApi::from_file("appsettings.json".as_ref())?;
    /// // POST /api/orders/42/items with a JSON body and an extra header for this call.
    /// let response = api.call(
    ///     "Orders",
    ///     Some(r#"{ "HttpMethod": "POST", "RelativePath": "api/orders/42/items",
    ///              "ExtraHeaderParameters": { "X-Request-Source": "batch" } }"#),
    ///     br#"{ "sku": "A-17", "quantity": 2 }"#,
    /// )?;
    /// if response.status != 201 {
    ///     eprintln!("HTTP {}: {:?}", response.status, response.header("content-type"));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn call(
        &self,
        api_name: &str,
        overrides_json: Option<&str>,
        body: &[u8],
    ) -> Result<Response> {
        let resolved = self.resolve(api_name, overrides_json)?;
        self.send(api_name, resolved, body)
    }

    /// One call with its resolved options.
    fn send(&self, api_name: &str, resolved: Resolved, body: &[u8]) -> Result<Response> {
        let Resolved {
            options,
            prepared,
            calls,
        } = resolved;
        let prepared = match prepared {
            Some(prepared) => Cow::Borrowed(prepared),
            None => Cow::Owned(Prepared::new(&options)),
        };
        let shown_url = &prepared.shown_url;
        crate::log::debug(|| {
            format!(
                "calling API {} with {}: {} {shown_url}",
                quote(api_name),
                options.protocol_scheme.name(),
                options.http_method,
            )
        });
        let call = ApiCall {
            options: &options,
            url: &prepared.url,
            headers: prepared.headers(body),
            body,
            deadline: self.transport.call_deadline(options.timeout),
        };
        let outcome = match options.protocol_scheme {
            ProtocolScheme::Bearer => self.call_bearer(&call),
            protocol => self.call_with_certificate(&call, protocol),
        };
        self.retire_replaced_certificates();
        calls.count(
            call_protocol(options.protocol_scheme),
            outcome.as_ref().map(drop).map_err(Error::kind),
        );
        let mut response = outcome
            .map_err(|e| e.context(format!("calling API {} ({shown_url})", quote(api_name))))?;
        response.request = RequestLine {
            method: options.http_method.clone(),
            url: shown_url.clone(),
        };
        Ok(response)
    }

    /// The `Authorization` header value a call to `api_name` would carry, for hosts that send
    /// requests with their own HTTP stack (Id.Web's `IAuthorizationHeaderProvider`).
    ///
    /// ```no_run
    /// # fn main() -> downstream_api::Result<()> {
    /// # let api = downstream_api::DownstreamApi::from_file("appsettings.json".as_ref())?;
    /// let header = api.authorization_header("Orders", None)?; // "Bearer eyJ0eXAi..."
    /// // ... send it with another HTTP client; never log it.
    /// # drop(header);
    /// # Ok(())
    /// # }
    /// ```
    pub fn authorization_header(
        &self,
        api_name: &str,
        overrides_json: Option<&str>,
    ) -> Result<String> {
        let resolved = self.resolve(api_name, overrides_json)?;
        self.header_for(api_name, resolved)
    }

    /// The `Authorization` header value for resolved options.
    fn header_for(&self, api_name: &str, resolved: Resolved) -> Result<String> {
        let Resolved {
            options, prepared, ..
        } = resolved;
        if options.protocol_scheme == ProtocolScheme::Bearer
            && let Some(header) = prepared.and_then(|p| self.cached_header(&options, p))
        {
            return Ok(header);
        }
        match options.protocol_scheme {
            ProtocolScheme::Bearer => {
                let deadline = self.transport.call_deadline(options.timeout);
                let token =
                    self.token(&options.scopes, &options.acquire_token_options, deadline)?;
                Ok(bearer_header(&token))
            }
            ProtocolScheme::Mtls => Err(Error::new(
                ErrorKind::Unsupported,
                "an MTLS API has no Authorization header: the client certificate authenticates",
            )),
            ProtocolScheme::MtlsPop => {
                let usage = Usage {
                    protocol: ProtocolScheme::MtlsPop.name(),
                    api_url: options.base_url.as_deref().unwrap_or_default(),
                };
                let selection = self.credentials.select(Purpose::Mtls, &usage)?;
                let deadline = self.transport.call_deadline(options.timeout);
                self.bound_header(&options, &selection, deadline, false)
            }
        }
        .map_err(|e| e.context(format!("authorization header for API {}", quote(api_name))))
    }

    /// A Bearer API's header from its prepared token key, when the token is cached and fresh:
    /// no key to build, no copy of the token.
    fn cached_header(&self, options: &ApiOptions, prepared: &Prepared) -> Option<String> {
        let key = prepared.token_key.get_or_init(|| {
            self.tokens.app_key(&TokenCall {
                credentials: &self.credentials,
                transport: &self.transport,
                scopes: &options.scopes,
                options: &options.acquire_token_options,
                deadline: self.transport.call_deadline(options.timeout),
            })
        });
        self.tokens.cached_with(key.as_ref()?, bearer_header)
    }

    /// The options of `api_name` for one call, with `overrides_json` applied, and what the
    /// client prepared for that API when there are none.
    fn resolve(&self, api_name: &str, overrides_json: Option<&str>) -> Result<Resolved<'_>> {
        let index = self
            .config
            .apis
            .iter()
            .position(|(name, _)| name.eq_ignore_ascii_case(api_name))
            .ok_or_else(|| self.unknown_api(api_name))?;
        let base = &self.config.apis[index].1;
        match overrides_json {
            None => Ok(Resolved {
                options: Cow::Borrowed(base),
                prepared: Some(&self.prepared[index]),
                calls: &self.calls[index],
            }),
            Some(json) => {
                let options = base.with_overrides(json)?;
                check_mtls_pop(&self.config, &self.tokens, &options, "overrides")?;
                Ok(Resolved {
                    options: Cow::Owned(options),
                    prepared: None,
                    calls: &self.calls[index],
                })
            }
        }
    }

    fn unknown_api(&self, api_name: &str) -> Error {
        let configured = match self.config.apis.len() {
            0 => "none".to_string(),
            _ => list_some(self.config.apis.iter().map(|(name, _)| name.as_str())),
        };
        Error::new(
            ErrorKind::UnknownApi,
            format!(
                "no API named {} in DownstreamApis (configured: {configured})",
                quote(api_name)
            ),
        )
    }
}

/// The label a call's protocol is counted under.
fn call_protocol(protocol: ProtocolScheme) -> CallProtocol {
    match protocol {
        ProtocolScheme::Mtls => CallProtocol::Mtls,
        ProtocolScheme::Bearer => CallProtocol::Bearer,
        ProtocolScheme::MtlsPop => CallProtocol::MtlsPop,
    }
}

/// `Bearer <token>`, with exactly the room its C string needs: the C ABI hands it out without a
/// copy.
fn bearer_header(token: &AccessToken) -> String {
    let mut header = String::with_capacity("Bearer ".len() + token.token.len() + 1);
    header.push_str("Bearer ");
    header.push_str(&token.token);
    header
}

/// What MTLS_POP needs of the configuration, each miss naming its field: app tokens, a
/// certificate among the credentials, one tenant.
fn check_mtls_pop(
    config: &Config,
    tokens: &TokenProvider,
    options: &ApiOptions,
    path: &str,
) -> Result<()> {
    if options.protocol_scheme != ProtocolScheme::MtlsPop {
        return Ok(());
    }
    if !options.request_app_token {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{path}.RequestAppToken: MTLS_POP tokens are app tokens here; set it to true"),
        ));
    }
    if options.acquire_token_options.managed_identity.is_some() {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "{path}.AcquireTokenOptions.ManagedIdentity: MTLS_POP tokens are bound to the \
                 app's certificate; a managed identity's tokens are Bearer tokens"
            ),
        ));
    }
    let token_options = &options.acquire_token_options;
    if token_options.agent.is_some()
        || token_options.user_assertion.is_some()
        || token_options.long_running_session_key.is_some()
    {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "{path}.AcquireTokenOptions: MTLS_POP tokens are the app's own, bound to its \
                 certificate; agents and users get Bearer tokens"
            ),
        ));
    }
    let has_certificate = config
        .identity
        .client_credentials
        .iter()
        .any(|c| !c.skip && c.source_type.as_ref().is_some_and(|s| s.is_certificate()));
    if !has_certificate {
        return Err(Error::new(
            ErrorKind::Config,
            "AzureAd.ClientCredentials: MTLS_POP needs a certificate (Path, Base64Encoded, a \
             store or KeyVault); none is configured",
        ));
    }
    tokens
        .validate_bound(
            options
                .acquire_token_options
                .tenant
                .as_deref()
                .filter(|t| !t.is_empty()),
        )
        .map(drop)
        .map_err(|e| e.context(format!("{path} is MTLS_POP")))
}
