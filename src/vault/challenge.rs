//! Key Vault's challenge: a request without a token is answered `401` with
//! `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/{tenant}",
//! resource="https://vault.azure.net"` (or `authorization_uri`, `scope`). The token is asked for
//! that resource (`…/.default`) in that tenant, and only when the resource belongs to the vault's
//! own domain: a vault host `contoso.vault.azure.net` accepts `vault.azure.net`, as the Azure
//! SDKs' `verify_challenge_resource` does, so that a server posing as the vault cannot obtain a
//! token for another resource.

use crate::encoding::{quote, split_url};

/// What a vault's challenge asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scope of the token: the challenge's `scope`, else its `resource` + `/.default`.
    pub scope: String,
    /// The tenant: the last segment of `authorization` (or `authorization_uri`).
    pub tenant: Option<String>,
}

/// The challenge in `WWW-Authenticate` values, checked against the vault's URL.
pub fn read_challenge<'a>(
    values: impl Iterator<Item = &'a str>,
    vault_url: &str,
) -> Result<Challenge, String> {
    let mut found = None;
    for value in values {
        if let Some(parameters) = bearer_parameters(value) {
            found = Some(parameters);
            break;
        }
    }
    let parameters =
        found.ok_or("the vault answered 401 without a Bearer challenge (WWW-Authenticate)")?;
    let get = |name: &str| {
        parameters
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    };
    let scope = match (get("scope"), get("resource")) {
        (Some(scope), _) => scope.to_string(),
        (None, Some(resource)) => format!("{}/.default", resource.trim_end_matches('/')),
        (None, None) => return Err("the vault's challenge names no resource or scope".into()),
    };
    check_resource(&scope, vault_url)?;
    let tenant = get("authorization")
        .or_else(|| get("authorization_uri"))
        .and_then(|uri| {
            let (_, _, path) = split_url(uri);
            path.split(['/', '?'])
                .rfind(|segment| !segment.is_empty())
                .map(str::to_string)
        });
    Ok(Challenge { scope, tenant })
}

/// The scope's host must be a parent domain of the vault's host (ports aside, as the .NET and
/// JavaScript SDKs compare host names).
fn check_resource(scope: &str, vault_url: &str) -> Result<(), String> {
    let host_of = |url: &str| {
        let (_, authority, _) = split_url(url);
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        };
        host.to_ascii_lowercase()
    };
    let resource = host_of(scope);
    if resource.is_empty() {
        return Err(format!(
            "the vault's challenge names {}, which is not a URL",
            quote(scope)
        ));
    }
    let vault = host_of(vault_url);
    if vault.ends_with(&format!(".{resource}")) {
        return Ok(());
    }
    Err(format!(
        "the vault's challenge asks for a token for {}, which is not in the vault's domain \
         ({vault}); no token was sent (see https://aka.ms/azsdk/blog/vault-uri)",
        quote(&resource)
    ))
}

/// The `key=value` parameters of a `Bearer` challenge; `None` for another scheme.
fn bearer_parameters(value: &str) -> Option<Vec<(String, String)>> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut parameters = Vec::new();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        parameters.push((key.trim().to_string(), value.trim().to_string()));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VAULT: &str = "https://contoso.vault.azure.net";

    #[test]
    fn the_challenge_gives_scope_and_tenant() {
        let header = r#"Bearer authorization="https://login.microsoftonline.com/72f988bf-tenant", resource="https://vault.azure.net""#;
        let challenge = read_challenge([header].into_iter(), VAULT).unwrap();
        assert_eq!(challenge.scope, "https://vault.azure.net/.default");
        assert_eq!(challenge.tenant.as_deref(), Some("72f988bf-tenant"));

        let scoped = r#"Bearer authorization_uri="https://login.windows.net/t2/", scope="https://vault.azure.net/.default""#;
        let challenge = read_challenge(["Basic realm=x", scoped].into_iter(), VAULT).unwrap();
        assert_eq!(challenge.scope, "https://vault.azure.net/.default");
        assert_eq!(challenge.tenant.as_deref(), Some("t2"));
        // A port on the vault does not change its domain.
        let ported = "https://contoso.vault.azure.net:8443";
        assert!(read_challenge([header].into_iter(), ported).is_ok());
    }

    #[test]
    fn a_resource_outside_the_vaults_domain_is_refused() {
        for resource in [
            "https://evil.example",
            "https://azure.net.evil.example",
            "https://contoso.vault.azure.net",
            "https://ault.azure.net",
        ] {
            let header =
                format!(r#"Bearer authorization="https://login/t", resource="{resource}""#);
            let error = read_challenge([header.as_str()].into_iter(), VAULT).unwrap_err();
            assert!(
                error.contains("not in the vault's domain"),
                "{resource}: {error}"
            );
        }
        assert!(read_challenge(["Basic realm=x"].into_iter(), VAULT).is_err());
        assert!(read_challenge(["Bearer authorization=\"x\""].into_iter(), VAULT).is_err());
    }
}
