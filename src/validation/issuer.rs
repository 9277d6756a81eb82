//! Which issuers are accepted. For Entra ID, as Id.Web's `AadIssuerValidator` decides: the
//! discovery document's `issuer` with `{tenantid}` replaced by the token's `tid` (the `common` and
//! `organizations` documents hold the placeholder, so any tenant's token passes; a tenant's own
//! document names that tenant, so only its tokens do), and that tenant's v1 issuer
//! `https://sts.windows.net/{tid}/` (Entra issues v1 tokens to APIs whose manifest asks for
//! them). A generic OpenID provider's tokens carry exactly its discovery document's `issuer`.

use serde_json::{Map, Value};

use super::jwt::invalid;
use crate::encoding::quote;
use crate::error::Result;

/// Whose rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerRule {
    Entra,
    Exact,
}

/// Entra's placeholder in a multi-tenant discovery document's `issuer`.
const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Checks the token's `iss` against `published` (the discovery document's `issuer`).
pub fn check(rule: IssuerRule, published: &str, claims: &Map<String, Value>) -> Result<()> {
    let Some(iss) = claims.get("iss").and_then(Value::as_str) else {
        return Err(invalid("the token has no iss (issuer)"));
    };
    let accepted = match rule {
        IssuerRule::Exact => vec![published.to_string()],
        IssuerRule::Entra => entra_issuers(published, claims)?,
    };
    if accepted.iter().any(|issuer| issuer == iss) {
        return Ok(());
    }
    let listed: Vec<String> = accepted.iter().map(|issuer| quote(issuer)).collect();
    Err(invalid(format!(
        "issuer {} not accepted (accepted: {})",
        quote(iss),
        listed.join(", ")
    )))
}

/// The issuers accepted for the tenant the token names in `tid`: none unless the configuration
/// accepts that tenant (the v2 issuer's tenant segment, `https://host/{tenant}/v2.0`, is `tid`).
fn entra_issuers(published: &str, claims: &Map<String, Value>) -> Result<Vec<String>> {
    // Tenant ids are GUIDs (or domain names): anything else could reshape the issuer URL.
    let tid = claims
        .get("tid")
        .and_then(Value::as_str)
        .filter(|tid| {
            !tid.is_empty()
                && tid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        })
        .ok_or_else(|| {
            invalid("the token has no usable tid (tenant id): its issuer is not known")
        })?;
    let v2 = replace_ignoring_case(published, TENANT_PLACEHOLDER, tid);
    let tenant = v2.split('/').nth(3).unwrap_or_default();
    if !tenant.eq_ignore_ascii_case(tid) {
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(invalid(format!(
            "issuer {} not accepted: the token's tenant (tid {}) is not {}, whose issuer is {}",
            quote(iss),
            quote(tid),
            quote(tenant),
            quote(&v2)
        )));
    }
    Ok(vec![v2, format!("https://sts.windows.net/{tid}/")])
}

fn replace_ignoring_case(text: &str, pattern: &str, with: &str) -> String {
    match text.to_ascii_lowercase().find(pattern) {
        Some(at) => format!("{}{with}{}", &text[..at], &text[at + pattern.len()..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(iss: &str, tid: Option<&str>) -> Map<String, Value> {
        let mut claims = json!({"iss": iss});
        if let Some(tid) = tid {
            claims["tid"] = json!(tid);
        }
        claims.as_object().unwrap().clone()
    }

    const COMMON: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const CONTOSO: &str = "https://login.microsoftonline.com/contoso-id/v2.0";

    #[test]
    fn entra_accepts_the_tenants_v2_and_v1_issuers() {
        let entra = |published: &str, iss: &str, tid: &str| {
            check(IssuerRule::Entra, published, &claims(iss, Some(tid))).is_ok()
        };
        assert!(entra(CONTOSO, CONTOSO, "contoso-id"));
        assert!(entra(
            CONTOSO,
            "https://sts.windows.net/contoso-id/",
            "contoso-id"
        ));
        assert!(!entra(
            CONTOSO,
            "https://login.microsoftonline.com/other/v2.0",
            "other"
        ));
        assert!(!entra(CONTOSO, "https://sts.windows.net/other/", "other"));
        assert!(!entra(CONTOSO, CONTOSO, "other"), "iss and tid disagree");
        assert!(!entra(CONTOSO, "https://sts.windows.net/v2.0/", "v2.0"));
        // Multi-tenant: any tenant, each with its own tid.
        assert!(entra(
            COMMON,
            "https://login.microsoftonline.com/t9/v2.0",
            "t9"
        ));
        assert!(entra(COMMON, "https://sts.windows.net/t9/", "t9"));
        assert!(!entra(
            COMMON,
            "https://login.microsoftonline.com/t9/v2.0",
            "t8"
        ));
        assert!(!entra(COMMON, "https://evil.example/t9/v2.0", "t9"));
        assert!(!entra(
            COMMON,
            "https://login.microsoftonline.com/a/b/v2.0",
            "a/b"
        ));
        let no_tid = check(IssuerRule::Entra, COMMON, &claims(CONTOSO, None));
        assert!(no_tid.unwrap_err().message().contains("no usable tid"));
    }

    #[test]
    fn a_generic_provider_has_one_issuer() {
        let issuer = "https://idp.example/realms/x";
        assert!(check(IssuerRule::Exact, issuer, &claims(issuer, None)).is_ok());
        let error = check(
            IssuerRule::Exact,
            issuer,
            &claims("https://idp.example/", None),
        );
        let message = error.unwrap_err().message().to_string();
        assert!(
            message.contains("issuer 'https://idp.example/' not accepted"),
            "{message}"
        );
    }
}
