//! The sidecar's per-request options: `optionsOverride.*` query parameters (names matched in
//! any case, the last value winning except for the repeatable `Scopes`) and the agent parameters
//! `AgentIdentity`, `AgentUsername`, `AgentUserId`, turned into the overrides JSON every host of
//! this library passes. Values are parsed as the sidecar's binder parses them: booleans as .NET's
//! `bool.TryParse`, `CorrelationId` only when it is a GUID, `BaseUrl` never.

use serde_json::{Map, Value, json};

const PREFIX: &str = "optionsoverride.";

/// What the query asked for.
#[derive(Default, Debug)]
pub struct Requested {
    /// The overrides, in the library's JSON (`DownstreamApis` entry names).
    pub overrides: Map<String, Value>,
    /// The agent parameters, as `AcquireTokenOptions` entries.
    pub agent: Map<String, Value>,
    /// Ignored parameters, named for the log (never their values).
    pub ignored: Vec<String>,
}

impl Requested {
    pub fn has_overrides(&self) -> bool {
        !self.overrides.is_empty()
    }

    pub fn has_agent(&self) -> bool {
        !self.agent.is_empty()
    }
}

/// Reads the query string `query` (still encoded).
pub fn parse(query: &str) -> Requested {
    let mut requested = Requested::default();
    let mut agent = AgentParameters::default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "agentidentity" => agent.identity = non_empty(&value),
            "agentusername" => agent.username = non_empty(&value),
            "agentuserid" => agent.user_id = non_empty(&value),
            _ => {
                if let Some(key) = name
                    .get(PREFIX.len()..)
                    .filter(|_| lower.starts_with(PREFIX))
                {
                    option(&mut requested, key, &value);
                }
            }
        }
    }
    requested.agent = agent.into_options(&mut requested.ignored);
    requested
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// .NET's `bool.TryParse`: "true" or "false" in any case, white space around allowed.
fn dotnet_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// One `optionsOverride.<key>=value`.
fn option(requested: &mut Requested, key: &str, value: &str) {
    let overrides = &mut requested.overrides;
    let lower = key.to_ascii_lowercase();
    let simple = match lower.as_str() {
        "relativepath" => Some("RelativePath"),
        "httpmethod" => Some("HttpMethod"),
        "contenttype" => Some("ContentType"),
        "acceptheader" => Some("AcceptHeader"),
        _ => None,
    };
    if let Some(field) = simple {
        if let Some(value) = non_empty(value) {
            overrides.insert(field.into(), json!(value));
        }
        return;
    }
    match lower.as_str() {
        "scopes" => {
            if let Some(scope) = non_empty(value) {
                let scopes = overrides.entry("Scopes").or_insert_with(|| json!([]));
                if let Some(list) = scopes.as_array_mut() {
                    list.push(json!(scope));
                }
            }
        }
        // Only `true` is applied: an override cannot turn a configured app token into a user's.
        "requestapptoken" => {
            if dotnet_bool(value) == Some(true) {
                overrides.insert("RequestAppToken".into(), json!(true));
            }
        }
        "baseurl" => requested.ignored.push("optionsOverride.BaseUrl".into()),
        _ if lower.starts_with("acquiretokenoptions.") => {
            token_option(requested, &key["acquiretokenoptions.".len()..], value);
        }
        _ if lower.starts_with("extraheaderparameters.")
            && reserved_header(&key["extraheaderparameters.".len()..]) =>
        {
            requested.ignored.push(format!(
                "optionsOverride.{} (a reserved header)",
                printable(key)
            ));
        }
        _ if lower.starts_with("extraheaderparameters.") => {
            named(
                overrides,
                "ExtraHeaderParameters",
                &key["extraheaderparameters.".len()..],
                value,
            );
        }
        _ if lower.starts_with("extraqueryparameters.") => {
            named(
                overrides,
                "ExtraQueryParameters",
                &key["extraqueryparameters.".len()..],
                value,
            );
        }
        _ => requested
            .ignored
            .push(format!("optionsOverride.{}", printable(key))),
    }
}

/// The headers Id.Web's DownstreamApi never takes from `ExtraHeaderParameters` (its credentials,
/// the host, and the identity headers a proxy in front of the API may trust).
fn reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization"
            | "cookie"
            | "host"
            | "x-original-url"
            | "x-ms-client-principal"
            | "x-ms-client-principal-id"
            | "x-ms-client-principal-name"
            | "x-ms-client-principal-idp"
            // And the ones that frame the message or the connection, which are the server's.
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "content-length"
            | "te"
            | "trailer"
            | "upgrade"
            | "expect"
            | "proxy-authorization"
            | "proxy-connection"
    ) || name.starts_with("x-forwarded-")
        || name.starts_with("x-ms-token-")
}

/// `ExtraHeaderParameters.<Name>` and `ExtraQueryParameters.<name>`: the name keeps its case.
fn named(overrides: &mut Map<String, Value>, field: &str, name: &str, value: &str) {
    if name.is_empty() || value.is_empty() {
        return;
    }
    let map = overrides.entry(field).or_insert_with(|| json!({}));
    if let Some(map) = map.as_object_mut() {
        map.insert(name.to_string(), json!(value));
    }
}

/// `optionsOverride.AcquireTokenOptions.<key>`.
fn token_option(requested: &mut Requested, key: &str, value: &str) {
    let Some(value) = non_empty(value) else {
        return;
    };
    let entry = |name: &str, value: Value, requested: &mut Requested| {
        let options = requested
            .overrides
            .entry("AcquireTokenOptions")
            .or_insert_with(|| json!({}));
        if let Some(options) = options.as_object_mut() {
            options.insert(name.to_string(), value);
        }
    };
    match key.to_ascii_lowercase().as_str() {
        // A tenant is a GUID or a domain name: it becomes a segment of the token endpoint's path.
        "tenant"
            if value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') =>
        {
            entry("Tenant", json!(value), requested)
        }
        "claims" => entry("Claims", json!(value), requested),
        "longrunningwebapisessionkey" => {
            entry("LongRunningWebApiSessionKey", json!(value), requested)
        }
        "forcerefresh" => {
            if let Some(force) = dotnet_bool(&value) {
                entry("ForceRefresh", json!(force), requested);
            }
        }
        "correlationid" if is_guid(&value) => entry("CorrelationId", json!(value), requested),
        "managedidentity.userassignedclientid" => entry(
            "ManagedIdentity",
            json!({"UserAssignedClientId": value}),
            requested,
        ),
        _ => requested.ignored.push(format!(
            "optionsOverride.AcquireTokenOptions.{}",
            printable(key)
        )),
    }
}

/// A name from the query as it may be logged: printable ASCII, at most 64 characters.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

/// A GUID as .NET's `Guid.TryParse` reads the usual forms: 32 hex digits, with hyphens in the
/// 8-4-4-4-12 places, perhaps in braces.
pub fn is_guid(text: &str) -> bool {
    let text = text.trim();
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    match inner.len() {
        32 => hex(inner),
        36 => {
            let groups: Vec<&str> = inner.split('-').collect();
            groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| hex(g))
        }
        _ => false,
    }
}

#[derive(Default)]
struct AgentParameters {
    identity: Option<String>,
    username: Option<String>,
    user_id: Option<String>,
}

impl AgentParameters {
    /// As the sidecar's `AgentOverrides.SetOverrides`: no agent, nothing; a username wins over an
    /// object id; an object id that is not a GUID leaves the agent alone.
    fn into_options(self, ignored: &mut Vec<String>) -> Map<String, Value> {
        let mut options = Map::new();
        let Some(identity) = self.identity else {
            if self.username.is_some() || self.user_id.is_some() {
                ignored.push("AgentUsername/AgentUserId without AgentIdentity".into());
            }
            return options;
        };
        options.insert("AgentIdentity".into(), json!(identity));
        match (self.username, self.user_id) {
            (Some(username), _) => {
                options.insert("AgentUsername".into(), json!(username));
            }
            (None, Some(id)) if is_guid(&id) => {
                options.insert("AgentUserId".into(), json!(id));
            }
            (None, Some(_)) => ignored.push("AgentUserId (not a GUID)".into()),
            (None, None) => {}
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_override_the_sidecar_binds_in_any_case() {
        let query = "optionsOverride.Scopes=a&OPTIONSOVERRIDE.scopes=b%20c&optionsOverride.RequestAppToken=TRUE\
            &optionsOverride.RelativePath=x%2Fy&optionsOverride.RelativePath=z&optionsOverride.HttpMethod=PUT\
            &optionsOverride.AcceptHeader=text%2Fplain&optionsOverride.ContentType=a%2Fb\
            &optionsOverride.AcquireTokenOptions.Tenant=t&optionsOverride.acquiretokenoptions.forcerefresh=true\
            &optionsOverride.AcquireTokenOptions.Claims=%7B%7D\
            &optionsOverride.AcquireTokenOptions.CorrelationId=00000000-0000-0000-0000-000000000001\
            &optionsOverride.AcquireTokenOptions.LongRunningWebApiSessionKey=k\
            &optionsOverride.ExtraHeaderParameters.X-Trace=1&optionsOverride.ExtraQueryParameters.q=2\
            &optionsOverride.BaseUrl=https%3A%2F%2Fevil.example";
        let requested = parse(query);
        assert_eq!(
            Value::Object(requested.overrides),
            json!({"Scopes": ["a", "b c"], "RequestAppToken": true, "RelativePath": "z",
                   "HttpMethod": "PUT", "AcceptHeader": "text/plain", "ContentType": "a/b",
                   "AcquireTokenOptions": {"Tenant": "t", "ForceRefresh": true, "Claims": "{}",
                       "CorrelationId": "00000000-0000-0000-0000-000000000001",
                       "LongRunningWebApiSessionKey": "k"},
                   "ExtraHeaderParameters": {"X-Trace": "1"}, "ExtraQueryParameters": {"q": "2"}})
        );
        assert_eq!(requested.ignored, ["optionsOverride.BaseUrl"]);
    }

    #[test]
    fn values_the_sidecar_ignores_are_ignored() {
        let requested = parse(
            "optionsOverride.RequestAppToken=false&optionsOverride.RequestAppToken=1\
             &optionsOverride.AcquireTokenOptions.CorrelationId=nope&optionsOverride.Scopes=%20\
             &optionsOverride.ProtocolScheme=MTLS&other=1",
        );
        assert!(!requested.has_overrides(), "{:?}", requested.overrides);
        assert_eq!(
            requested.ignored,
            [
                "optionsOverride.AcquireTokenOptions.CorrelationId",
                "optionsOverride.ProtocolScheme"
            ]
        );
    }

    #[test]
    fn a_tenant_that_is_not_a_guid_or_domain_is_never_taken() {
        let requested = parse(
            "optionsOverride.AcquireTokenOptions.Tenant=..%2Fother%3Fx\
             &optionsOverride.AcquireTokenOptions.Tenant=contoso.onmicrosoft.com",
        );
        assert_eq!(
            Value::Object(requested.overrides),
            json!({"AcquireTokenOptions": {"Tenant": "contoso.onmicrosoft.com"}})
        );
        assert_eq!(
            requested.ignored,
            ["optionsOverride.AcquireTokenOptions.Tenant"]
        );
    }

    #[test]
    fn reserved_headers_are_never_taken() {
        let requested = parse(
            "optionsOverride.ExtraHeaderParameters.Authorization=x\
             &optionsOverride.ExtraHeaderParameters.host=evil\
             &optionsOverride.ExtraHeaderParameters.X-Forwarded-For=1.2.3.4\
             &optionsOverride.ExtraHeaderParameters.X-MS-CLIENT-PRINCIPAL-NAME=admin\
             &optionsOverride.ExtraHeaderParameters.X-Fine=ok",
        );
        assert_eq!(
            Value::Object(requested.overrides),
            json!({"ExtraHeaderParameters": {"X-Fine": "ok"}})
        );
        assert_eq!(requested.ignored.len(), 4, "{:?}", requested.ignored);
    }

    #[test]
    fn agent_parameters_as_the_sidecar_reads_them() {
        let guid = "0000aaaa-1111-2222-3333-444455556666";
        let agent = |q: &str| Value::Object(parse(q).agent);
        assert_eq!(agent("agentidentity=a"), json!({"AgentIdentity": "a"}));
        assert_eq!(
            agent(&format!(
                "AgentIdentity=a&AgentUsername=u%40x&AgentUserId={guid}"
            )),
            json!({"AgentIdentity": "a", "AgentUsername": "u@x"})
        );
        assert_eq!(
            agent(&format!("AgentIdentity=a&agentUserId={guid}")),
            json!({"AgentIdentity": "a", "AgentUserId": guid})
        );
        assert_eq!(
            agent("AgentIdentity=a&AgentUserId=not-a-guid"),
            json!({"AgentIdentity": "a"})
        );
        assert_eq!(agent("AgentUsername=u%40x"), json!({}));
        assert!(is_guid("{0000AAAA-1111-2222-3333-444455556666}"));
        assert!(is_guid("0000aaaa111122223333444455556666"));
        assert!(!is_guid("0000aaaa-1111-2222-3333-44445555666"));
    }
}
