//! The sidecar's routes: which one a request is, the loopback rule, the caller's token, then the
//! handler (`handlers.rs`). Paths match in any case, as ASP.NET's routing does; an unknown path
//! is a 404 and a known path with another method a 405, both with empty bodies as the original's.

use std::path::Path;
use std::sync::{Arc, RwLock};

use downstream_api::{DownstreamApi, ErrorKind};

use super::handlers;
use super::http::{Request, Response};
use super::metrics::{self, Requests};
use super::settings::{Route, Settings};
use crate::exit::Failure;

/// The configuration in use: the library's client and the `Sidecar` section, replaced together
/// on SIGHUP.
pub struct State {
    pub client: DownstreamApi,
    pub settings: Settings,
    /// The file's bytes this state was made from: a reload of the same bytes keeps the client
    /// (and its tokens and TLS sessions).
    source: Vec<u8>,
}

pub struct Shared {
    state: RwLock<Arc<State>>,
    allow_remote_callers: bool,
    /// The requests answered, for `GET /metrics`: kept across reloads.
    requests: Requests,
}

impl Shared {
    pub fn load(config: &Path, allow_remote_callers: bool) -> Result<Shared, Failure> {
        // A configuration that does not load is the configuration's failure (exit 3), as for
        // every other command.
        let state = load_state(config)
            .map_err(|why| Failure::Library(downstream_api::Error::new(ErrorKind::Config, why)))?;
        Ok(Shared {
            state: RwLock::new(Arc::new(state)),
            allow_remote_callers,
            requests: Requests::default(),
        })
    }

    /// Reads `config` anew; on any failure the running configuration stays. `Ok(false)`: the file
    /// is unchanged, nothing was replaced.
    pub fn reload(&self, config: &Path) -> Result<bool, String> {
        let bytes = std::fs::read(config).map_err(|e| format!("{}: {e}", config.display()))?;
        if bytes == self.current().source {
            return Ok(false);
        }
        let state = load_state(config)?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
        Ok(true)
    }

    /// Whether callers not on this host are answered (the flag, or the file read at start).
    pub fn allows_remote_callers(&self) -> bool {
        self.allow_remote_callers || self.current().settings.allow_remote_callers
    }

    /// How the server listens, as the file read at start says.
    pub fn server_settings(&self) -> super::settings::ServerSettings {
        self.current().settings.server.clone()
    }

    fn current(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Answers one request; `local`: the caller is on this host.
    pub fn answer(&self, request: &Request, local: bool) -> Response {
        let mut response = self.route(request, local);
        self.requests
            .count(metrics::route_label(&request.path), response.status);
        // As the original: no 2xx answer may be cached (it may hold a token).
        if (200..300).contains(&response.status) {
            response.headers.extend(
                [
                    ("Cache-Control", "no-cache, no-store, must-revalidate"),
                    ("Expires", "0"),
                    ("Pragma", "no-cache"),
                ]
                .map(|(n, v)| (n.to_string(), v.to_string())),
            );
        }
        response
    }

    fn route(&self, request: &Request, local: bool) -> Response {
        let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
        let first = segments[0].to_ascii_lowercase();
        if first == "healthz" && segments.len() == 1 {
            return Response::new(200, "text/plain", b"Healthy".to_vec());
        }
        let state = self.current();
        if !local && !self.allow_remote_callers && !state.settings.allow_remote_callers {
            return empty(403);
        }
        let api = match segments.as_slice() {
            [_, api] if !api.is_empty() => Some(percent_decode(api)),
            _ => None,
        };
        let Some((route, method)) = route_of(&first, api.is_some()) else {
            return match (first.as_str(), segments.len()) {
                ("validate", 1) => self.validate(&state, request),
                ("metrics", 1) => self.metrics(&state, request),
                _ => empty(404),
            };
        };
        if !request.method.eq_ignore_ascii_case(method) {
            return empty(405).with_header("Allow", method);
        }
        let api = api.unwrap_or_default();
        let caller = if route.authenticated() {
            match caller_token(&state.client, request) {
                Ok((token, _claims)) => Some(token),
                Err(refusal) => return refusal,
            }
        } else {
            None
        };
        handlers::handle(&state, route, &api, request, caller.as_deref())
    }

    /// `GET /Validate`: the caller's token, validated, and its claims.
    fn validate(&self, state: &State, request: &Request) -> Response {
        if request.method != "GET" {
            return empty(405).with_header("Allow", "GET");
        }
        match caller_token(&state.client, request) {
            Ok((token, claims)) => Response::json(
                200,
                &serde_json::json!({"protocol": "Bearer", "token": token, "claims": claims}),
            ),
            Err(refusal) => refusal,
        }
    }

    /// `GET /metrics` (ours): the client's counters and the requests answered, as Prometheus
    /// text.
    fn metrics(&self, state: &State, request: &Request) -> Response {
        if request.method != "GET" {
            return empty(405).with_header("Allow", "GET");
        }
        metrics::page(&state.client.metrics(), &self.requests)
    }
}

fn load_state(config: &Path) -> Result<State, String> {
    let client = DownstreamApi::from_file(config).map_err(|e| e.message().to_string())?;
    let source = std::fs::read(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let environment: Vec<(String, String)> = std::env::vars().collect();
    let settings = Settings::read(config, &source, &environment)?;
    Ok(State {
        client,
        settings,
        source,
    })
}

/// The route and its method for a first path segment followed by an API name.
fn route_of(first: &str, has_api: bool) -> Option<(Route, &'static str)> {
    if !has_api {
        return None;
    }
    Some(match first {
        "authorizationheader" => (Route::AuthorizationHeader, "GET"),
        "authorizationheaderunauthenticated" => (Route::AuthorizationHeaderUnauthenticated, "GET"),
        "downstreamapi" => (Route::DownstreamApi, "POST"),
        "downstreamapiunauthenticated" => (Route::DownstreamApiUnauthenticated, "POST"),
        "downstreamapiraw" => (Route::DownstreamApiRaw, "POST"),
        "downstreamapirawunauthenticated" => (Route::DownstreamApiRawUnauthenticated, "POST"),
        _ => return None,
    })
}

/// The caller's validated bearer token and its claims, or the JwtBearer challenge the original answers with:
/// 401, an empty body and `WWW-Authenticate` (with `invalid_token` for a token that fails).
fn caller_token(
    client: &DownstreamApi,
    request: &Request,
) -> Result<(String, serde_json::Value), Response> {
    let authorizations = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .count();
    if authorizations > 1 {
        let challenge = "Bearer error=\"invalid_request\", error_description=\"more than one Authorization header\"";
        return Err(empty(401).with_header("WWW-Authenticate", challenge));
    }
    let token = request
        .header("authorization")
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string())
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(empty(401).with_header("WWW-Authenticate", "Bearer"));
    };
    match client.validate_token(&token) {
        Ok(claims) => Ok((token, claims)),
        Err(error) if error.kind() == ErrorKind::TokenInvalid => {
            let why: String = error
                .message()
                .chars()
                .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                .collect();
            let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{why}\"");
            Err(empty(401).with_header("WWW-Authenticate", &challenge))
        }
        // The issuer's keys could not be had: the token is not known to be bad, the server cannot
        // judge it now.
        Err(error) => Err(handlers::server_problem(&error)),
    }
}

pub fn empty(status: u16) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// A path segment's %XX escapes decoded (invalid UTF-8 replaced).
fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}
