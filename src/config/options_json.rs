//! One API's options as JSON in Id.Web's key names, for wrappers that hand them to user code
//! (.NET's override delegate, Python's `api_options`). Header and query parameter values may be
//! keys (`Ocp-Apim-Subscription-Key`, SAS signatures), so only their names are given, each with a
//! null value, and a query in `BaseUrl` (an Azure Functions `code=`) is shown as `?…`, as messages
//! show it; nothing else in an API's options is secret.

use serde_json::{Map, Value, json};

use super::options::{AgentUser, ApiOptions, ManagedIdentityId};
use crate::encoding::redact_url;

impl ApiOptions {
    /// These options as a JSON object: `BaseUrl`, `RelativePath`, `HttpMethod`, `Scopes`,
    /// `RequestAppToken`, `ProtocolScheme`, `AcceptHeader`, `ContentType`,
    /// `ExtraHeaderParameters` and `ExtraQueryParameters` (names, values null), a query in `BaseUrl`
    /// shown as `?…`,
    /// `AcquireTokenOptions` (`Tenant`, `ForceRefresh`, `Claims`, `CorrelationId`,
    /// `ManagedIdentity`, `LongRunningWebApiSessionKey`, `AgentIdentity`, `AgentUsername`,
    /// `AgentUserId`; never `UserAssertion`) and
    /// `TimeoutSeconds` (null when `Http.TimeoutSeconds` applies).
    pub fn to_json(&self) -> String {
        let names_only = |pairs: &[(String, String)]| {
            Value::Object(
                pairs
                    .iter()
                    .map(|(name, _)| (name.clone(), Value::Null))
                    .collect::<Map<_, _>>(),
            )
        };
        let token = &self.acquire_token_options;
        json!({
            "BaseUrl": self.base_url.as_deref().map(redact_url),
            "RelativePath": self.relative_path,
            "HttpMethod": self.http_method,
            "Scopes": self.scopes,
            "RequestAppToken": self.request_app_token,
            "ProtocolScheme": self.protocol_scheme.name(),
            "AcceptHeader": self.accept_header,
            "ContentType": self.content_type,
            "ExtraHeaderParameters": names_only(&self.extra_headers),
            "ExtraQueryParameters": names_only(&self.extra_query),
            "AcquireTokenOptions": {
                "Tenant": token.tenant,
                "ForceRefresh": token.force_refresh,
                "Claims": token.claims,
                "CorrelationId": token.correlation_id,
                "ManagedIdentity": token.managed_identity.as_ref().map(managed_identity_json),
                "LongRunningWebApiSessionKey": token.long_running_session_key,
                "AgentIdentity": token.agent.as_ref().map(|a| &a.app_id),
                "AgentUsername": agent_user(token, true),
                "AgentUserId": agent_user(token, false),
            },
            "TimeoutSeconds": self.timeout.map(|t| t.as_secs_f64()),
        })
        .to_string()
    }
}

/// The agent's user name (`by_name`) or object id, when it has one of that kind. The user's own
/// token (`UserAssertion`) is never shown: it is a secret.
fn agent_user(token: &super::options::AcquireTokenOptions, by_name: bool) -> Option<&str> {
    match token.agent.as_ref()?.user.as_ref()? {
        AgentUser::Username(upn) if by_name => Some(upn),
        AgentUser::ObjectId(oid) if !by_name => Some(oid),
        _ => None,
    }
}

/// `{}` for the system-assigned identity, else the one key that names the user-assigned one.
fn managed_identity_json(identity: &ManagedIdentityId) -> Value {
    match identity {
        ManagedIdentityId::SystemAssigned => json!({}),
        ManagedIdentityId::ClientId(id) => json!({ "UserAssignedClientId": id }),
        ManagedIdentityId::ResourceId(id) => json!({ "UserAssignedResourceId": id }),
        ManagedIdentityId::ObjectId(id) => json!({ "UserAssignedObjectId": id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn names_every_option_and_withholds_parameter_values() {
        let config = Config::parse_with_environment(
            r#"{"AzureAd": {"Instance": "https://login.example/", "TenantId": "t", "ClientId": "c",
                "ClientCredentials": [{"SourceType": "ClientSecret", "ClientSecret": "s3cret"}]},
              "DownstreamApis": {"Orders": {"BaseUrl": "https://orders.example/v1/?code=fn-key-3",
                "RelativePath": "orders", "Scopes": ["api://orders/.default"],
                "ExtraHeaderParameters": {"X-Api-Key": "key-value-1"},
                "ExtraQueryParameters": {"sig": "signature-2"}, "TimeoutSeconds": 2.5,
                "AcquireTokenOptions": {"Tenant": "other"}}}}"#,
            std::iter::empty(),
        )
        .unwrap();
        let text = config.api("orders").unwrap().to_json();
        for secret in ["s3cret", "key-value-1", "signature-2", "fn-key-3"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["BaseUrl"], "https://orders.example/v1/?…");
        assert_eq!(value["RelativePath"], "orders");
        assert_eq!(value["HttpMethod"], "GET");
        assert_eq!(value["Scopes"], json!(["api://orders/.default"]));
        assert_eq!(value["ProtocolScheme"], "Bearer");
        assert_eq!(value["RequestAppToken"], false);
        assert_eq!(value["AcceptHeader"], "application/json");
        assert_eq!(value["ExtraHeaderParameters"], json!({"X-Api-Key": null}));
        assert_eq!(value["ExtraQueryParameters"], json!({"sig": null}));
        assert_eq!(value["AcquireTokenOptions"]["Tenant"], "other");
        assert_eq!(value["AcquireTokenOptions"]["ForceRefresh"], false);
        assert_eq!(value["TimeoutSeconds"], 2.5);
    }
}
