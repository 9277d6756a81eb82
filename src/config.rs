//! Microsoft.Identity.Web-compatible configuration: the `AzureAd` (alias `MicrosoftIdentity`) and
//! `DownstreamApis` sections of an `appsettings.json`, plus this library's own `Http` section.
//!
//! Keys are matched case-insensitively, as .NET configuration does; unknown keys are ignored. A value
//! of the wrong type or a missing required value is an error naming its JSON path, for example
//! `AzureAd.ClientCredentials[1].CertificateDiskPath`. Like .NET, which stores every configuration
//! value as a string, booleans and numbers are also accepted as strings ("true", "30").

use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// The whole parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub identity: IdentityOptions,
    /// `DownstreamApis` (in key order, as .NET configuration lists them); names are compared
    /// case-insensitively.
    pub apis: Vec<(String, ApiOptions)>,
    pub http: HttpOptions,
}

/// The `AzureAd` section.
#[derive(Debug, Clone, Default)]
pub struct IdentityOptions {
    pub instance: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub authority: Option<String>,
    pub azure_region: Option<String>,
    pub send_x5c: bool,
    pub client_credentials: Vec<CredentialDescription>,
}

/// Where a credential comes from (Id.Web's `CredentialSource`, plus `StoreWithSubjectName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceType {
    Path,
    Base64Encoded,
    StoreWithThumbprint,
    StoreWithDistinguishedName,
    StoreWithSubjectName,
    ClientSecret,
    SignedAssertionFilePath,
    /// A source Id.Web knows that this library does not load (Key Vault, managed identity, ...).
    NotSupported(String),
}

impl SourceType {
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
    pub managed_identity_client_id: Option<String>,
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
}

/// How a downstream API is called.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcquireTokenOptions {
    pub tenant: Option<String>,
    pub force_refresh: bool,
    pub claims: Option<String>,
    pub correlation_id: Option<String>,
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
        }
    }
}

/// Timeouts above a day are configuration mistakes (and far larger ones overflow clocks).
const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;

/// This library's `Http` section: server trust and timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// PEM file of CA certificates that replaces the OS trust store (private PKIs).
    pub ca_bundle_path: Option<String>,
    pub connect_timeout: Duration,
    /// Bound on a whole call, retries included.
    pub timeout: Duration,
    pub max_response_bytes: u64,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_bundle_path: None,
            connect_timeout: Duration::from_secs(10),
            // HttpClient's default timeout in .NET.
            timeout: Duration::from_secs(100),
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
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
        let mut value: Value = serde_json::from_str(json).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("configuration is not valid JSON: {e}"),
            )
        })?;
        Node::root(&value).expect_object()?;
        for (name, text) in environment {
            apply_environment_override(&mut value, &name, text);
        }
        let root = Node::root(&value);

        let identity = match root.child_any(&["AzureAd", "MicrosoftIdentity"]) {
            Some(section) => IdentityOptions::read(&section)?,
            None => IdentityOptions::default(),
        };
        let mut apis = Vec::new();
        if let Some(section) = root.child("DownstreamApis") {
            for (name, api) in section.entries()? {
                let options = ApiOptions::read(&api, &ApiOptions::default())?;
                options.validate(&api.path)?;
                apis.push((name.to_string(), options));
            }
        }
        let http = match root.child("Http") {
            Some(section) => HttpOptions::read(&section)?,
            None => HttpOptions::default(),
        };
        Ok(Config {
            identity,
            apis,
            http,
        })
    }

    pub fn api(&self, name: &str) -> Option<&ApiOptions> {
        self.apis
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, options)| options)
    }
}

impl IdentityOptions {
    fn read(node: &Node) -> Result<Self> {
        let mut credentials = Vec::new();
        if let Some(list) = node.child("ClientCredentials") {
            for (index, entry) in list.items()?.into_iter().enumerate() {
                credentials.push(CredentialDescription::read(&entry, index)?);
            }
        }
        Ok(IdentityOptions {
            instance: node.string("Instance")?,
            tenant_id: node.string("TenantId")?,
            client_id: node.string("ClientId")?,
            authority: node.string("Authority")?,
            azure_region: node.string("AzureRegion")?,
            send_x5c: node.boolean("SendX5C")?.unwrap_or(false),
            client_credentials: credentials,
        })
    }
}

impl CredentialDescription {
    fn read(node: &Node, index: usize) -> Result<Self> {
        node.expect_object()?;
        let mut description = CredentialDescription {
            index,
            source_type: None,
            certificate_disk_path: node.string("CertificateDiskPath")?,
            certificate_password: node.string("CertificatePassword")?,
            base64_encoded_value: node.string("Base64EncodedValue")?,
            certificate_store_path: node.string("CertificateStorePath")?,
            certificate_thumbprint: node.string("CertificateThumbprint")?,
            certificate_distinguished_name: node.string("CertificateDistinguishedName")?,
            certificate_subject_name: node.string("CertificateSubjectName")?,
            client_secret: node.string("ClientSecret")?,
            signed_assertion_file_disk_path: node.string("SignedAssertionFileDiskPath")?,
            managed_identity_client_id: node.string("ManagedIdentityClientId")?,
            skip: node.boolean("Skip")?.unwrap_or(false),
        };
        description.source_type = match node.child("SourceType") {
            Some(source) => Some(parse_source_type(&source)?),
            None => description.inferred_source_type(),
        };
        if description.source_type.is_none() && !description.skip {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{}.SourceType: missing, and no field tells which source is meant",
                    node.path
                ),
            ));
        }
        Ok(description)
    }

    /// Without `SourceType`, the one field that names a source decides (as users often write it).
    fn inferred_source_type(&self) -> Option<SourceType> {
        if self.certificate_disk_path.is_some() {
            Some(SourceType::Path)
        } else if self.base64_encoded_value.is_some() {
            Some(SourceType::Base64Encoded)
        } else if self.client_secret.is_some() {
            Some(SourceType::ClientSecret)
        } else if self.signed_assertion_file_disk_path.is_some() {
            Some(SourceType::SignedAssertionFilePath)
        } else {
            None
        }
    }
}

/// The sections environment variables may override; other variables are not configuration.
const OVERRIDABLE_SECTIONS: &[&str] = &["AzureAd", "MicrosoftIdentity", "DownstreamApis", "Http"];

/// Sets the value at the path `Section__Key__0__Key` (keys matched ignoring case, numbers
/// indexing arrays), creating objects on the way, as .NET's environment configuration does.
fn apply_environment_override(root: &mut Value, name: &str, text: String) {
    let mut segments: Vec<String> = name.split("__").map(str::to_string).collect();
    if segments.len() < 2
        || !OVERRIDABLE_SECTIONS
            .iter()
            .any(|section| section.eq_ignore_ascii_case(&segments[0]))
    {
        return;
    }
    // `AzureAd` and `MicrosoftIdentity` are one section under two names: an override of either
    // goes to whichever the file uses.
    let identity = ["AzureAd", "MicrosoftIdentity"];
    if identity
        .iter()
        .any(|n| n.eq_ignore_ascii_case(&segments[0]))
        && let Value::Object(map) = &*root
        && let Some(existing) = map
            .keys()
            .find(|key| identity.iter().any(|n| n.eq_ignore_ascii_case(key)))
    {
        segments[0] = existing.clone();
    }
    let mut current = root;
    for segment in &segments {
        current = match current {
            Value::Array(items) => match segment.parse::<usize>() {
                // .NET arrays are dense and short; a huge index is a typo, not a request for memory.
                Ok(index) if index <= items.len() + MAX_ARRAY_GROWTH => {
                    if index >= items.len() {
                        items.resize(index + 1, Value::Object(Default::default()));
                    }
                    &mut items[index]
                }
                _ => return,
            },
            Value::Object(map) => {
                let key = map
                    .keys()
                    .find(|key| key.eq_ignore_ascii_case(segment))
                    .cloned()
                    .unwrap_or_else(|| segment.clone());
                map.entry(key).or_insert(Value::Null)
            }
            other => {
                *other = Value::Object(Default::default());
                match other {
                    Value::Object(map) => map.entry(segment.clone()).or_insert(Value::Null),
                    _ => return,
                }
            }
        };
    }
    *current = Value::String(text);
}

/// How far past an array's end an environment override may write.
const MAX_ARRAY_GROWTH: usize = 16;

/// Accepts Id.Web's `CredentialSource` names (any case) and its numeric values.
fn parse_source_type(node: &Node) -> Result<SourceType> {
    let by_number = [
        "Certificate",
        "KeyVault",
        "Base64Encoded",
        "Path",
        "StoreWithThumbprint",
        "StoreWithDistinguishedName",
        "ClientSecret",
        "SignedAssertionFromManagedIdentity",
        "SignedAssertionFilePath",
        "SignedAssertionFromVault",
        "AutoDecryptKeys",
        "CustomSignedAssertion",
    ];
    let name = match node.value {
        Value::String(text) => match text.parse::<usize>() {
            Ok(number) => by_number.get(number).map(|n| n.to_string()),
            Err(_) => Some(text.clone()),
        },
        Value::Number(number) => number
            .as_u64()
            .and_then(|n| by_number.get(n as usize))
            .map(|n| n.to_string()),
        _ => None,
    }
    .ok_or_else(|| node.type_error("a credential source name"))?;
    let source = match name.to_ascii_lowercase().as_str() {
        "path" => SourceType::Path,
        "base64encoded" => SourceType::Base64Encoded,
        "storewiththumbprint" => SourceType::StoreWithThumbprint,
        "storewithdistinguishedname" => SourceType::StoreWithDistinguishedName,
        "storewithsubjectname" => SourceType::StoreWithSubjectName,
        "clientsecret" => SourceType::ClientSecret,
        "signedassertionfilepath" => SourceType::SignedAssertionFilePath,
        _ if by_number
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&name)) =>
        {
            SourceType::NotSupported(name)
        }
        _ => {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{}: unknown credential source '{name}'", node.path),
            ));
        }
    };
    Ok(source)
}

impl AcquireTokenOptions {
    /// Reads an `AcquireTokenOptions` object on top of `base`.
    pub fn read(node: &Node, base: &AcquireTokenOptions) -> Result<Self> {
        node.expect_object()?;
        let mut options = base.clone();
        if let Some(value) = node.string("Tenant")? {
            options.tenant = Some(value);
        }
        if let Some(value) = node.boolean("ForceRefresh")? {
            options.force_refresh = value;
        }
        if let Some(value) = node.string("Claims")? {
            options.claims = Some(value);
        }
        if let Some(value) = node.string("CorrelationId")? {
            options.correlation_id = Some(value);
        }
        Ok(options)
    }
}

impl ApiOptions {
    /// Reads an API entry, or per-call overrides, on top of `base`: keys present replace the base's
    /// values, extra headers and query parameters are merged key by key.
    pub fn read(node: &Node, base: &ApiOptions) -> Result<Self> {
        node.expect_object()?;
        let mut options = base.clone();
        if let Some(value) = node.string("BaseUrl")? {
            options.base_url = Some(value);
        }
        if let Some(value) = node.string("RelativePath")? {
            options.relative_path = value;
        }
        if let Some(value) = node.string("HttpMethod")? {
            options.http_method = value.to_ascii_uppercase();
        }
        if let Some(scopes) = node.child("Scopes") {
            options.scopes = scopes.string_list()?;
        }
        if let Some(value) = node.boolean("RequestAppToken")? {
            options.request_app_token = value;
        }
        if let Some(value) = node.string("ProtocolScheme")? {
            options.protocol_scheme = match value.to_ascii_uppercase().as_str() {
                "" | "BEARER" => ProtocolScheme::Bearer,
                "MTLS" => ProtocolScheme::Mtls,
                "MTLS_POP" => ProtocolScheme::MtlsPop,
                _ => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "{}.ProtocolScheme: '{value}' is not one of Bearer, MTLS, MTLS_POP",
                            node.path
                        ),
                    ));
                }
            };
        }
        if let Some(value) = node.string("AcceptHeader")? {
            options.accept_header = value;
        }
        if let Some(value) = node.string("ContentType")? {
            options.content_type = value;
        }
        if let Some(headers) = node.child("ExtraHeaderParameters") {
            merge_pairs(&mut options.extra_headers, &headers, true)?;
        }
        if let Some(query) = node.child("ExtraQueryParameters") {
            merge_pairs(&mut options.extra_query, &query, false)?;
        }
        if let Some(token) = node.child("AcquireTokenOptions") {
            options.acquire_token_options =
                AcquireTokenOptions::read(&token, &options.acquire_token_options)?;
        }
        Ok(options)
    }

    /// Checks what a call will need, naming the field at `path` when it is missing or wrong.
    pub fn validate(&self, path: &str) -> Result<()> {
        let base_url = self
            .base_url
            .as_deref()
            .ok_or_else(|| Error::new(ErrorKind::Config, format!("{path}.BaseUrl: missing")))?;
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{path}.BaseUrl: '{base_url}' is not an http(s) URL"),
            ));
        }
        if self.http_method.is_empty() || !self.http_method.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{path}.HttpMethod: '{}' is not an HTTP method",
                    self.http_method
                ),
            ));
        }
        if self.protocol_scheme != ProtocolScheme::Mtls && self.scopes.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{path}.Scopes: missing; a {} API needs the scopes of its token",
                    self.protocol_scheme.name()
                ),
            ));
        }
        Ok(())
    }
}

/// Merges a JSON object of string values into `pairs`; header names compare case-insensitively,
/// query parameter names exactly.
fn merge_pairs(
    pairs: &mut Vec<(String, String)>,
    node: &Node,
    case_insensitive: bool,
) -> Result<()> {
    for (key, value) in node.entries()? {
        let value = value
            .as_scalar_string()
            .ok_or_else(|| value.type_error("a string"))?;
        let same = |existing: &String| {
            if case_insensitive {
                existing.eq_ignore_ascii_case(key)
            } else {
                existing == key
            }
        };
        match pairs.iter_mut().find(|(existing, _)| same(existing)) {
            Some(pair) => pair.1 = value,
            None => pairs.push((key.to_string(), value)),
        }
    }
    Ok(())
}

impl HttpOptions {
    fn read(node: &Node) -> Result<Self> {
        let defaults = HttpOptions::default();
        let seconds = |key: &str, default: Duration| -> Result<Duration> {
            match node.number(key)? {
                None => Ok(default),
                Some(value) if value > 0.0 && value <= MAX_TIMEOUT_SECONDS => {
                    Ok(Duration::from_secs_f64(value))
                }
                Some(_) => Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "{}.{key}: must be a positive number of seconds, at most {MAX_TIMEOUT_SECONDS}",
                        node.path
                    ),
                )),
            }
        };
        Ok(HttpOptions {
            ca_bundle_path: node.string("CaBundlePath")?,
            connect_timeout: seconds("ConnectTimeoutSeconds", defaults.connect_timeout)?,
            timeout: seconds("TimeoutSeconds", defaults.timeout)?,
            max_response_bytes: match node.number("MaxResponseBytes")? {
                Some(value) if value >= 1.0 => value as u64,
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("{}.MaxResponseBytes: must be at least 1", node.path),
                    ));
                }
                None => defaults.max_response_bytes,
            },
        })
    }
}

/// A JSON value with the path that reached it, for error messages.
pub struct Node<'a> {
    value: &'a Value,
    pub path: String,
}

impl<'a> Node<'a> {
    pub fn root(value: &'a Value) -> Self {
        Node {
            value,
            path: String::new(),
        }
    }

    /// A named root for per-call overrides, so messages say "overrides.HttpMethod".
    pub fn named(value: &'a Value, name: &str) -> Self {
        Node {
            value,
            path: name.to_string(),
        }
    }

    fn join(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn type_error(&self, expected: &str) -> Error {
        let found = match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        Error::new(
            ErrorKind::Config,
            format!("{path}: expected {expected}, found {found}"),
        )
    }

    pub fn expect_object(&self) -> Result<()> {
        match self.value {
            Value::Object(_) => Ok(()),
            _ => Err(self.type_error("an object")),
        }
    }

    /// The member whose key equals `key` ignoring ASCII case; JSON null counts as absent.
    pub fn child(&self, key: &str) -> Option<Node<'a>> {
        let Value::Object(map) = self.value else {
            return None;
        };
        map.iter()
            .find(|(name, value)| name.eq_ignore_ascii_case(key) && !value.is_null())
            .map(|(name, value)| Node {
                value,
                path: self.join(name),
            })
    }

    fn child_any(&self, keys: &[&str]) -> Option<Node<'a>> {
        keys.iter().find_map(|key| self.child(key))
    }

    pub fn entries(&self) -> Result<Vec<(&'a str, Node<'a>)>> {
        let Value::Object(map) = self.value else {
            return Err(self.type_error("an object"));
        };
        Ok(map
            .iter()
            .map(|(key, value)| {
                (
                    key.as_str(),
                    Node {
                        value,
                        path: self.join(key),
                    },
                )
            })
            .collect())
    }

    fn items(&self) -> Result<Vec<Node<'a>>> {
        let Value::Array(items) = self.value else {
            return Err(self.type_error("an array"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, value)| Node {
                value,
                path: format!("{}[{index}]", self.path),
            })
            .collect())
    }

    /// Strings, numbers and booleans as text (.NET configuration's view of scalars).
    fn as_scalar_string(&self) -> Option<String> {
        match self.value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    }

    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.child(key) {
            None => Ok(None),
            Some(node) => match node.value {
                Value::String(text) => Ok(Some(text.clone())),
                _ => Err(node.type_error("a string")),
            },
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        let Some(node) = self.child(key) else {
            return Ok(None);
        };
        match node.value {
            Value::Bool(flag) => Ok(Some(*flag)),
            Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(Some(false)),
            _ => Err(node.type_error("true or false")),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        let Some(node) = self.child(key) else {
            return Ok(None);
        };
        match node.value {
            Value::Number(number) => Ok(number.as_f64()),
            Value::String(text) => text
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| node.type_error("a number")),
            _ => Err(node.type_error("a number")),
        }
    }

    /// An array of strings, or one string of space-separated values (as scopes are often written).
    fn string_list(&self) -> Result<Vec<String>> {
        match self.value {
            Value::String(text) => Ok(text.split_whitespace().map(str::to_string).collect()),
            Value::Array(_) => self
                .items()?
                .into_iter()
                .map(|item| match item.value {
                    Value::String(text) => Ok(text.clone()),
                    _ => Err(item.type_error("a string")),
                })
                .collect(),
            _ => Err(self.type_error("an array of strings")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn environment_variables_override_like_dotnet() {
        let environment = [
            ("AZUREAD__ClientId".to_string(), "from-env".to_string()),
            (
                "AzureAd__ClientCredentials__0__CertificatePassword".to_string(),
                "p".to_string(),
            ),
            (
                "DownstreamApis__Orders__ProtocolScheme".to_string(),
                "MTLS".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let config = Config::parse_with_environment(
            r#"{"AzureAd": {"ClientId": "file", "ClientCredentials": [{"SourceType": "Path", "CertificateDiskPath": "/a.pfx"}]},
                "DownstreamApis": {"Orders": {"BaseUrl": "https://x"}}}"#,
            environment,
        )
        .unwrap();
        assert_eq!(config.identity.client_id.as_deref(), Some("from-env"));
        let credential = &config.identity.client_credentials[0];
        assert_eq!(credential.certificate_password.as_deref(), Some("p"));
        assert_eq!(credential.certificate_disk_path.as_deref(), Some("/a.pfx"));
        assert_eq!(
            config.api("orders").unwrap().protocol_scheme,
            ProtocolScheme::Mtls
        );
    }

    #[test]
    fn overrides_replace_and_merge() {
        let base = ApiOptions {
            extra_headers: vec![("X-A".into(), "1".into())],
            ..ApiOptions::default()
        };
        let json: Value = serde_json::from_str(
            r#"{"httpmethod": "post", "ExtraHeaderParameters": {"x-a": "2", "X-B": "3"}}"#,
        )
        .unwrap();
        let merged = ApiOptions::read(&Node::named(&json, "overrides"), &base).unwrap();
        assert_eq!(merged.http_method, "POST");
        assert_eq!(
            merged.extra_headers,
            vec![("X-A".into(), "2".into()), ("X-B".into(), "3".into())]
        );
    }
}
