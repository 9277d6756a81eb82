//! Fake managed-identity endpoints on 127.0.0.1 that check each request as the platform would,
//! and record a failure for anything else: App Service, Azure ML, Cloud Shell, Azure Arc and IMDS
//! over plain http, Service Fabric over https with a certificate of its own (which no client
//! trusts through a CA: it must be pinned by thumbprint).
//!
//! Each checks its path, method, `api-version`, `resource`, the identity parameter names its
//! platform uses (and only one of them), its secret header, `Metadata: true` where the platform
//! demands it, and that no client certificate and no `Authorization` header arrive (except Arc's
//! answer to its own challenge). Arc answers a request without that answer 401 with
//! `WWW-Authenticate: Basic realm=<file>`, a fresh key written to its folder; the resent request
//! must carry exactly that key. Tokens are opaque, recorded with the identity and resource they
//! were issued for; [`IdentityEndpoint::resource_handler`] accepts only them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::TempDir;
use super::pki::TestCa;
use super::request_log::{RequestLog, assert_no_failures, lock};
use super::server::{ClientAuth, Reply, Seen, TestServer};
use super::token_server::parse_form;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    AppService,
    ServiceFabric,
    MachineLearning,
    CloudShell,
    Arc,
    Imds,
}

impl Platform {
    fn path(self) -> &'static str {
        match self {
            Platform::AppService => "/msi/token",
            Platform::ServiceFabric => "/metadata/identity/oauth2/token",
            Platform::MachineLearning => "/MSI/token/",
            Platform::CloudShell => "/oauth2/token",
            Platform::Arc | Platform::Imds => "/metadata/identity/oauth2/token",
        }
    }

    fn api_version(self) -> Option<&'static str> {
        match self {
            Platform::AppService => Some("2019-08-01"),
            Platform::ServiceFabric => Some("2019-07-01-preview"),
            Platform::MachineLearning => Some("2017-09-01"),
            Platform::CloudShell => None,
            Platform::Arc => Some("2020-06-01"),
            Platform::Imds => Some("2018-02-01"),
        }
    }

    /// The query parameters naming a client id, a resource id and an object id.
    fn id_parameters(self) -> &'static [&'static str] {
        match self {
            Platform::AppService => &["client_id", "mi_res_id", "object_id"],
            Platform::Imds => &["client_id", "msi_res_id", "object_id"],
            Platform::MachineLearning => &["clientid"],
            _ => &[],
        }
    }
}

/// The client id Azure ML names in `DEFAULT_IDENTITY_CLIENT_ID` for the system-assigned identity.
pub const ML_DEFAULT_CLIENT_ID: &str = "ml-default-client";

/// How the endpoint states the lifetime of the tokens it issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// `expires_on` in Unix seconds, this many seconds from now (negative: already past); the
    /// platforms' way, 3600 unless set.
    OnInSeconds(i64),
    /// `expires_on` in Unix milliseconds (a wrong unit), this many seconds from now.
    OnInMilliseconds(i64),
    /// `expires_in` (seconds) instead of `expires_on`.
    In(i64),
}

/// A token the endpoint issued.
#[derive(Clone, Debug)]
pub struct IdentityToken {
    pub token: String,
    pub resource: String,
    /// "system", or the identity parameter as sent ("client_id=…", "mi_res_id=…").
    pub identity: String,
    pub expires_on: u64,
}

struct State {
    /// The requests and the failures found in them.
    log: RequestLog<Seen>,
    issued: Vec<IdentityToken>,
    /// Statuses answered, in order, before requests are processed again.
    answers: VecDeque<(u16, Option<u64>)>,
    expires_on_as_string: bool,
    /// How tokens' lifetimes are stated.
    expiry: Expiry,
    /// `refresh_in` sent with tokens, when set.
    refresh_in: Option<u64>,
    /// The key Arc's last challenge wrote.
    arc_key: Option<String>,
    /// The file an Arc challenge names instead of its own (to test where files may come from).
    arc_challenge_file: Option<String>,
    /// User-assigned identities that exist, as "client_id=…" etc.; others are "not found".
    user_assigned: Vec<String>,
    /// When set, tokens are JWT-shaped with this `oid` claim (an identity's object id), as the
    /// platform's are; else opaque.
    object_id: Option<String>,
}

pub struct IdentityEndpoint {
    pub platform: Platform,
    pub server: TestServer,
    /// `IDENTITY_HEADER` or `MSI_SECRET`.
    pub secret: String,
    /// Service Fabric's certificate thumbprint (`IDENTITY_SERVER_THUMBPRINT`).
    pub thumbprint: Option<String>,
    /// Arc's key folder (`DSAPI_ARC_TOKEN_DIRECTORY`).
    pub arc_directory: Option<TempDir>,
    state: Arc<Mutex<State>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn random_hex(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buffer = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buffer)
        .expect("random bytes");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

impl IdentityEndpoint {
    /// Starts the platform's endpoint. `client_roots`: Service Fabric asks for (but does not
    /// require) a client certificate chaining to them, so that one presented would be seen.
    pub fn start(platform: Platform, client_roots: &TestCa) -> IdentityEndpoint {
        let state = Arc::new(Mutex::new(State {
            log: RequestLog::new(),
            issued: Vec::new(),
            answers: VecDeque::new(),
            expires_on_as_string: false,
            expiry: Expiry::OnInSeconds(3600),
            refresh_in: None,
            arc_key: None,
            arc_challenge_file: None,
            user_assigned: Vec::new(),
            object_id: None,
        }));
        let secret = format!("platform-secret-{}", random_hex(8));
        let arc_directory = (platform == Platform::Arc).then(|| TempDir::new("arc-tokens"));
        let arc_path = arc_directory
            .as_ref()
            .map(|d| d.path().to_string_lossy().into_owned());
        let handler = {
            let state = state.clone();
            let rules = Rules {
                platform,
                secret: secret.clone(),
                arc_directory: arc_path,
            };
            Arc::new(move |seen: &Seen| rules.answer(&state, seen))
        };
        let (server, thumbprint) = match platform {
            Platform::ServiceFabric => {
                let own = TestCa::new("service-fabric-cluster").server();
                let thumbprint = own.sha1_thumbprint();
                let roots = [client_roots.cert_der.clone()];
                (
                    TestServer::start(own, ClientAuth::Optional(&roots), handler),
                    Some(thumbprint),
                )
            }
            _ => (TestServer::start_plain(handler), None),
        };
        IdentityEndpoint {
            platform,
            server,
            secret,
            thumbprint,
            arc_directory,
            state,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The environment variables that select this platform, pointing at the fake.
    pub fn environment(&self) -> Vec<(String, String)> {
        let url = format!("{}{}", self.server.url(), self.platform.path());
        let mut variables: Vec<(&str, String)> = match self.platform {
            Platform::AppService => vec![
                ("IDENTITY_ENDPOINT", url),
                ("IDENTITY_HEADER", self.secret.clone()),
            ],
            Platform::ServiceFabric => vec![
                ("IDENTITY_ENDPOINT", url),
                ("IDENTITY_HEADER", self.secret.clone()),
                (
                    "IDENTITY_SERVER_THUMBPRINT",
                    self.thumbprint.clone().unwrap(),
                ),
            ],
            Platform::MachineLearning => vec![
                ("MSI_ENDPOINT", url),
                ("MSI_SECRET", self.secret.clone()),
                (
                    "DEFAULT_IDENTITY_CLIENT_ID",
                    ML_DEFAULT_CLIENT_ID.to_string(),
                ),
            ],
            Platform::CloudShell => vec![("MSI_ENDPOINT", url)],
            Platform::Arc => vec![
                ("IDENTITY_ENDPOINT", url),
                ("IMDS_ENDPOINT", self.server.url()),
            ],
            Platform::Imds => vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", self.server.url())],
        };
        if let Some(directory) = &self.arc_directory {
            variables.push((
                "DSAPI_ARC_TOKEN_DIRECTORY",
                directory.path().to_string_lossy().into_owned(),
            ));
        }
        variables
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect()
    }

    /// Declares a user-assigned identity, as its parameter is sent ("client_id=abc").
    pub fn add_user_assigned(&self, parameter: &str) {
        self.state().user_assigned.push(parameter.to_string());
    }

    /// The next requests are answered with these statuses (and `Retry-After` seconds).
    pub fn push_statuses(&self, statuses: &[(u16, Option<u64>)]) {
        self.state().answers.extend(statuses.iter().copied());
    }

    pub fn set_expires_on_as_string(&self, as_string: bool) {
        self.state().expires_on_as_string = as_string;
    }

    /// States the lifetime of the tokens issued from now on this way.
    /// Forgets every token issued so far: the resource refuses them (401), as an API does a
    /// token revoked or expired earlier than it said.
    pub fn revoke_issued(&self) {
        self.state().issued.clear();
    }

    /// Issues JWT-shaped tokens whose payload names `oid`, as a real platform's do.
    pub fn set_object_id(&self, oid: Option<&str>) {
        self.state().object_id = oid.map(str::to_string);
    }

    pub fn set_expiry(&self, expiry: Expiry) {
        self.state().expiry = expiry;
    }

    /// Sends `refresh_in` (seconds) with the tokens issued from now on.
    pub fn set_refresh_in(&self, seconds: Option<u64>) {
        self.state().refresh_in = seconds;
    }

    /// Arc's challenge names this file instead of one in its folder.
    pub fn set_arc_challenge_file(&self, path: Option<&str>) {
        self.state().arc_challenge_file = path.map(str::to_string);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state().log.requests()
    }

    pub fn requests(&self) -> usize {
        self.state().log.len()
    }

    pub fn issued(&self) -> Vec<IdentityToken> {
        self.state().issued.clone()
    }

    pub fn failures(&self) -> Vec<String> {
        self.state().log.failures()
    }

    pub fn assert_no_failures(&self) {
        assert_no_failures("identity endpoint", &self.failures());
    }

    /// Whether `token` is one this endpoint issued for `resource`, still valid.
    pub fn check_token(&self, token: &str, resource: &str) -> Result<IdentityToken, String> {
        let issued = self
            .issued()
            .into_iter()
            .find(|t| t.token == token)
            .ok_or("not a token of the managed identity endpoint")?;
        if issued.resource != resource {
            return Err(format!(
                "the managed identity token is for '{}', not '{resource}'",
                issued.resource
            ));
        }
        if issued.expires_on <= now() {
            return Err("the managed identity token has expired".to_string());
        }
        Ok(issued)
    }

    /// A resource answering "<identity> <resource>" for a Bearer token this endpoint issued.
    pub fn resource_handler(
        endpoint: Arc<IdentityEndpoint>,
        resource: &str,
    ) -> super::server::Handler {
        let resource = resource.to_string();
        Arc::new(move |seen: &Seen| {
            let token = seen
                .header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            match endpoint.check_token(token.trim(), &resource) {
                Ok(issued) => Reply::text(200, &format!("{} {}", issued.identity, issued.resource)),
                Err(why) => Reply::text(401, &why),
            }
        })
    }
}

fn json_reply(status: u16, value: serde_json::Value) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: value.to_string().into_bytes(),
    }
}

/// A query or form parameter: its name and value, decoded.
type Param = (String, String);

/// What an endpoint checks requests against: its platform, its secret, and Arc's key folder.
struct Rules {
    platform: Platform,
    secret: String,
    arc_directory: Option<String>,
}

impl Rules {
    /// Records the request, checks it, and answers it (a 400 naming the failure when it fails).
    fn answer(&self, state: &Mutex<State>, seen: &Seen) -> Reply {
        let mut state = lock(state);
        state.log.record(seen.clone());
        match self.check(&mut state, seen) {
            Ok(reply) => reply,
            Err(failure) => {
                state.log.fail(failure.clone());
                json_reply(
                    400,
                    json!({"error": "invalid_request", "error_description": failure}),
                )
            }
        }
    }

    fn check(&self, state: &mut State, seen: &Seen) -> Result<Reply, String> {
        let params = self.parameters(seen)?;
        let (resource, id) = self.resource_and_identity(&params)?;
        self.check_headers(seen)?;
        if let Some(challenge) = self.arc_challenge(state, seen)? {
            return Ok(challenge);
        }
        if let Some((status, retry_after)) = state.answers.pop_front() {
            let mut reply = json_reply(
                status,
                json!({"error": "temporarily_unavailable", "error_description": format!("scripted {status}")}),
            );
            if let Some(seconds) = retry_after {
                reply
                    .headers
                    .push(("Retry-After".into(), seconds.to_string()));
            }
            return Ok(reply);
        }
        self.issue(state, resource, id)
    }

    /// The request's parameters (the query, and Cloud Shell's form), once its certificate (none),
    /// path and method are checked.
    fn parameters(&self, seen: &Seen) -> Result<Vec<Param>, String> {
        let platform = self.platform;
        if seen.client_cert.is_some() {
            return Err("a client certificate was presented to the identity endpoint".into());
        }
        let (path, query) = seen.target.split_once('?').unwrap_or((&seen.target, ""));
        if path != platform.path() {
            return Err(format!("path {path}, expected {}", platform.path()));
        }
        let mut params = parse_form(query.as_bytes())?;
        let expected_method = if platform == Platform::CloudShell {
            "POST"
        } else {
            "GET"
        };
        if seen.method != expected_method {
            return Err(format!(
                "method {}, expected {expected_method}",
                seen.method
            ));
        }
        if platform == Platform::CloudShell {
            if seen.header("content-type") != Some("application/x-www-form-urlencoded") {
                return Err("Cloud Shell's form is not application/x-www-form-urlencoded".into());
            }
            params.extend(parse_form(&seen.body)?);
        }
        Ok(params)
    }

    /// The platform's `api-version`, the resource (without `/.default`), and at most one identity
    /// parameter of the names the platform uses.
    fn resource_and_identity<'p>(
        &self,
        params: &'p [Param],
    ) -> Result<(String, Option<&'p Param>), String> {
        let platform = self.platform;
        let param = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        if param("api-version") != platform.api_version() {
            return Err(format!(
                "api-version {:?}, expected {:?}",
                param("api-version"),
                platform.api_version()
            ));
        }
        let resource = param("resource")
            .filter(|r| !r.is_empty())
            .ok_or("no resource")?
            .to_string();
        if resource.ends_with("/.default") {
            return Err("the resource still ends in /.default".into());
        }
        let known = ["api-version", "resource"];
        let ids: Vec<&Param> = params
            .iter()
            .filter(|(n, _)| !known.contains(&n.as_str()))
            .collect();
        if let Some((name, _)) = ids
            .iter()
            .find(|(n, _)| !platform.id_parameters().contains(&n.as_str()))
        {
            return Err(format!("unexpected parameter {name}"));
        }
        if ids.len() > 1 {
            return Err("more than one identity parameter".into());
        }
        Ok((resource, ids.first().copied()))
    }

    /// The platform's secret header, and `Metadata: true` where the platform demands it.
    fn check_headers(&self, seen: &Seen) -> Result<(), String> {
        let platform = self.platform;
        let metadata = seen.header("metadata") == Some("true");
        let secret_header = match platform {
            Platform::AppService => Some("x-identity-header"),
            Platform::ServiceFabric | Platform::MachineLearning => Some("secret"),
            _ => None,
        };
        if let Some(header) = secret_header
            && seen.header(header) != Some(self.secret.as_str())
        {
            return Err(format!("header {header} is missing or wrong"));
        }
        let needs_metadata = !matches!(platform, Platform::AppService | Platform::ServiceFabric);
        if needs_metadata && !metadata {
            return Err("no 'Metadata: true' header".into());
        }
        Ok(())
    }

    /// No `Authorization` header, except on Arc: there a request without the key of its last
    /// challenge gets a new challenge (a fresh key written to its folder, the file named in
    /// `WWW-Authenticate`).
    fn arc_challenge(&self, state: &mut State, seen: &Seen) -> Result<Option<Reply>, String> {
        let authorization = seen.header("authorization");
        if self.platform != Platform::Arc {
            if authorization.is_some() {
                return Err("an Authorization header was sent to the identity endpoint".into());
            }
            return Ok(None);
        }
        let expected = state.arc_key.as_ref().map(|key| format!("Basic {key}"));
        if authorization.is_some() && authorization.map(str::to_string) == expected {
            return Ok(None);
        }
        if authorization.is_some() {
            state
                .log
                .fail("Arc: the Authorization header is not the challenge's key");
        }
        let directory = self.arc_directory.as_deref().expect("Arc has a key folder");
        let key = random_hex(16);
        let file = format!("{directory}/{}.key", random_hex(4));
        std::fs::write(&file, &key).map_err(|e| e.to_string())?;
        state.arc_key = Some(key);
        let named = state.arc_challenge_file.clone().unwrap_or(file);
        Ok(Some(Reply {
            status: 401,
            headers: vec![("WWW-Authenticate".into(), format!("Basic realm={named}"))],
            body: Vec::new(),
        }))
    }

    /// A token for the identity the parameter `id` names (the system-assigned one without it),
    /// when that identity exists.
    fn issue(
        &self,
        state: &mut State,
        resource: String,
        id: Option<&Param>,
    ) -> Result<Reply, String> {
        let platform = self.platform;
        let identity = match id {
            None => "system".to_string(),
            Some((name, value)) if platform == Platform::MachineLearning => {
                if value == ML_DEFAULT_CLIENT_ID {
                    "system".to_string()
                } else {
                    format!("{name}={value}")
                }
            }
            Some((name, value)) => format!("{name}={value}"),
        };
        if platform == Platform::MachineLearning && id.is_none() {
            return Err("Azure ML needs clientid (DEFAULT_IDENTITY_CLIENT_ID for its own)".into());
        }
        if identity != "system" && !state.user_assigned.contains(&identity) {
            // Not a failure of the client: the identity does not exist, as IMDS answers.
            return Ok(json_reply(
                400,
                json!({"error": "invalid_request", "error_description": "Identity not found"}),
            ));
        }
        let (field, stated, lifetime) = match state.expiry {
            Expiry::OnInSeconds(s) => ("expires_on", now() as i64 + s, s),
            Expiry::OnInMilliseconds(s) => ("expires_on", (now() as i64 + s) * 1000, s),
            Expiry::In(s) => ("expires_in", s, s),
        };
        let serial = format!("mi-{}-{}", state.issued.len() + 1, random_hex(12));
        let token = match &state.object_id {
            Some(oid) => {
                let payload = json!({"oid": oid, "serial": serial}).to_string();
                format!(
                    "eyJhbGciOiJub25lIn0.{}.{serial}",
                    URL_SAFE_NO_PAD.encode(payload)
                )
            }
            None => serial,
        };
        state.issued.push(IdentityToken {
            token: token.clone(),
            resource: resource.clone(),
            identity,
            expires_on: (now() as i64 + lifetime).max(0) as u64,
        });
        let stated = if state.expires_on_as_string {
            json!(stated.to_string())
        } else {
            json!(stated)
        };
        let mut answer = json!({
            "access_token": token,
            "resource": resource,
            "token_type": "Bearer",
        });
        answer[field] = stated;
        if let Some(seconds) = state.refresh_in {
            answer["refresh_in"] = json!(seconds);
        }
        Ok(json_reply(200, answer))
    }
}
