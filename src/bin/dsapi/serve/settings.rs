//! The `Sidecar` section of appsettings.json, with the original's names and defaults, and the
//! environment's `Sidecar__AllowOverrides__<Route>` as ASP.NET reads it.

use std::path::Path;

use serde_json::Value;

/// The routes whose per-request options are gated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Route {
    AuthorizationHeader,
    AuthorizationHeaderUnauthenticated,
    DownstreamApi,
    DownstreamApiUnauthenticated,
    DownstreamApiRaw,
    DownstreamApiRawUnauthenticated,
}

impl Route {
    /// The name under `Sidecar.AllowOverrides` (the original's, and ours for the raw routes).
    pub fn setting(self) -> &'static str {
        match self {
            Route::AuthorizationHeader => "GetAuthorizationHeader",
            Route::AuthorizationHeaderUnauthenticated => "GetAuthorizationHeaderUnauthenticated",
            Route::DownstreamApi => "CallDownstreamApi",
            Route::DownstreamApiUnauthenticated => "CallDownstreamApiUnauthenticated",
            Route::DownstreamApiRaw => "CallDownstreamApiRaw",
            Route::DownstreamApiRawUnauthenticated => "CallDownstreamApiRawUnauthenticated",
        }
    }

    /// Whether the caller must bring a valid token (and the call is made on its behalf).
    pub fn authenticated(self) -> bool {
        matches!(
            self,
            Route::AuthorizationHeader | Route::DownstreamApi | Route::DownstreamApiRaw
        )
    }

    const ALL: [Route; 6] = [
        Route::AuthorizationHeader,
        Route::AuthorizationHeaderUnauthenticated,
        Route::DownstreamApi,
        Route::DownstreamApiUnauthenticated,
        Route::DownstreamApiRaw,
        Route::DownstreamApiRawUnauthenticated,
    ];
}

#[derive(Clone, Debug)]
pub struct Settings {
    allow_overrides: [bool; 6],
    /// Ours: answer callers not on this host (`--allow-remote-callers` too).
    pub allow_remote_callers: bool,
    /// How the server listens, read at start only (a reload keeps the listener and the pool).
    pub server: ServerSettings,
}

/// `Urls` (ASP.NET's host setting, at the file's top level) and the `Sidecar` section's server
/// options (ours); the command's flags win over them.
#[derive(Clone, Debug, Default)]
pub struct ServerSettings {
    pub urls: Option<String>,
    pub workers: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_request_body_bytes: Option<u64>,
    pub request_timeout_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
    pub drain_timeout_seconds: Option<u64>,
}

impl ServerSettings {
    fn read(root: &Value, section: &Value) -> Result<ServerSettings, String> {
        let number =
            |name: &str| match section.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value.as_u64().filter(|n| *n > 0).map(Some).ok_or_else(|| {
                    format!("Sidecar.{name}: {value} is not a positive whole number")
                }),
            };
        let urls = match root.get("Urls").or_else(|| root.get("urls")) {
            None | Some(Value::Null) => None,
            Some(Value::String(urls)) => Some(urls.clone()),
            Some(other) => return Err(format!("Urls: {other} is not a string")),
        };
        Ok(ServerSettings {
            urls,
            workers: number("Workers")?,
            max_connections: number("MaxConnections")?,
            max_request_body_bytes: number("MaxRequestBodyBytes")?,
            request_timeout_seconds: number("RequestTimeoutSeconds")?,
            idle_timeout_seconds: number("IdleTimeoutSeconds")?,
            drain_timeout_seconds: number("DrainTimeoutSeconds")?,
        })
    }
}

impl Settings {
    /// The section of `source`, the configuration file at `path` (JSON with comments), then the
    /// environment's values over it.
    pub fn read(
        path: &Path,
        source: &[u8],
        environment: &[(String, String)],
    ) -> Result<Settings, String> {
        let text = String::from_utf8_lossy(source);
        let mut text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_string();
        json_strip_comments::strip(&mut text).map_err(|e| format!("{}: {e}", path.display()))?;
        let root: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        let section = root.get("Sidecar").cloned().unwrap_or(Value::Null);
        let mut settings = Settings {
            allow_overrides: Route::ALL.map(|route| {
                !matches!(
                    route,
                    Route::AuthorizationHeaderUnauthenticated
                        | Route::DownstreamApiUnauthenticated
                        | Route::DownstreamApiRawUnauthenticated
                )
            }),
            allow_remote_callers: false,
            server: ServerSettings::read(&root, &section)?,
        };
        for (index, route) in Route::ALL.iter().enumerate() {
            let path = format!("/AllowOverrides/{}", route.setting());
            if let Some(value) = flag(&section, &path, "Sidecar.AllowOverrides")? {
                settings.allow_overrides[index] = value;
            }
        }
        if let Some(value) = flag(&section, "/AllowRemoteCallers", "Sidecar")? {
            settings.allow_remote_callers = value;
        }
        settings.apply_environment(environment)?;
        Ok(settings)
    }

    fn apply_environment(&mut self, environment: &[(String, String)]) -> Result<(), String> {
        for (name, value) in environment {
            let Some(route) = name
                .strip_prefix("Sidecar__AllowOverrides__")
                .and_then(|setting| {
                    Route::ALL
                        .iter()
                        .position(|r| r.setting().eq_ignore_ascii_case(setting))
                })
            else {
                continue;
            };
            self.allow_overrides[route] = match value.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(format!("{name}: '{value}' is not true or false")),
            };
        }
        Ok(())
    }

    pub fn allows_overrides(&self, route: Route) -> bool {
        let index = Route::ALL.iter().position(|r| *r == route).unwrap_or(0);
        self.allow_overrides[index]
    }
}

/// A boolean at `pointer` under the section, named `owner.<name>` in errors.
fn flag(section: &Value, pointer: &str, owner: &str) -> Result<Option<bool>, String> {
    match section.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(format!(
            "{owner}.{}: {other} is not true or false",
            pointer.rsplit('/').next().unwrap_or_default()
        )),
    }
}
