//! Environment overrides in .NET's style: `AzureAd__ClientCredentials__0__CertificatePassword=...`
//! sets that value in the parsed JSON before the sections are read, as .NET's environment
//! configuration provider does.

use serde_json::Value;

/// The sections environment variables may override; other variables are not configuration.
const OVERRIDABLE_SECTIONS: &[&str] = &["AzureAd", "MicrosoftIdentity", "DownstreamApis", "Http"];

/// Sets the value at the path `Section__Key__0__Key` (keys matched ignoring case, numbers
/// indexing arrays), creating the objects and arrays on the way, as .NET's environment
/// configuration does.
pub(super) fn apply_environment_override(root: &mut Value, name: &str, text: String) {
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
        let index = segment.parse::<usize>().ok();
        // A path through a value the JSON lacks creates it: an array where the next segment is a
        // number (`ClientCredentials__0__...` without `ClientCredentials`), else an object.
        if !current.is_array() && !current.is_object() {
            *current = match index {
                Some(_) => Value::Array(Vec::new()),
                None => Value::Object(Default::default()),
            };
        }
        current = match (current, index) {
            // .NET arrays are dense and short; a huge index is a typo, not a request for memory.
            (Value::Array(items), Some(index)) if index <= items.len() + MAX_ARRAY_GROWTH => {
                // Holes stay null; readers skip them, as .NET binds sparse indexes without gaps.
                if index >= items.len() {
                    items.resize(index + 1, Value::Null);
                }
                &mut items[index]
            }
            (Value::Array(_), Some(index)) => {
                crate::log::warn(|| {
                    format!(
                        "environment variable {name} ignored: index {index} is more than \
                         {MAX_ARRAY_GROWTH} past the end of its array"
                    )
                });
                return;
            }
            (Value::Object(map), _) => {
                let key = map
                    .keys()
                    .find(|key| key.eq_ignore_ascii_case(segment))
                    .cloned()
                    .unwrap_or_else(|| segment.clone());
                map.entry(key).or_insert(Value::Null)
            }
            _ => return,
        };
    }
    *current = Value::String(text);
}

/// How far past an array's end an environment override may write.
const MAX_ARRAY_GROWTH: usize = 16;

#[cfg(test)]
mod tests {
    use crate::config::{Config, ProtocolScheme};

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
    fn environment_variables_create_the_arrays_the_json_lacks() {
        let environment = [
            ("AzureAd__ClientCredentials__0__SourceType", "Path"),
            (
                "AzureAd__ClientCredentials__0__CertificateDiskPath",
                "/a.pem",
            ),
            ("AzureAd__ClientCredentials__1__SourceType", "ClientSecret"),
            ("AzureAd__ClientCredentials__1__ClientSecret", "s"),
            ("DownstreamApis__Orders__BaseUrl", "https://x"),
            ("DownstreamApis__Orders__Scopes__0", "api://orders/.default"),
        ]
        .map(|(name, value)| (name.to_string(), value.to_string()));
        let config = Config::parse_with_environment("{}", environment).unwrap();
        let credentials = &config.identity.client_credentials;
        assert_eq!(credentials.len(), 2);
        assert_eq!(credentials[1].label(), "ClientCredentials[1]");
        assert_eq!(
            credentials[0].certificate_disk_path.as_deref(),
            Some("/a.pem")
        );
        assert_eq!(credentials[1].client_secret.as_deref(), Some("s"));
        let orders = config.api("Orders").unwrap();
        assert_eq!(orders.scopes, ["api://orders/.default"]);
    }

    #[test]
    fn sparse_indexes_bind_without_gaps() {
        let environment = [
            ("AzureAd__ClientCredentials__2__SourceType", "ClientSecret"),
            ("AzureAd__ClientCredentials__2__ClientSecret", "s"),
            ("DownstreamApis__A__BaseUrl", "https://a"),
            ("DownstreamApis__A__Scopes__3", "api://a/.default"),
        ]
        .map(|(name, value)| (name.to_string(), value.to_string()));
        let config = Config::parse_with_environment(
            r#"{"AzureAd": {"ClientCredentials": [{"SourceType": "Path", "CertificateDiskPath": "/a"}]}}"#,
            environment,
        )
        .unwrap();
        let credentials = &config.identity.client_credentials;
        assert_eq!(credentials.len(), 2);
        // Messages name the entry by the index the environment variable used.
        assert_eq!(credentials[1].label(), "ClientCredentials[2]");
        assert_eq!(config.api("A").unwrap().scopes, ["api://a/.default"]);
    }
}
