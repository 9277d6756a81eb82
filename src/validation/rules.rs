//! What a signed token must also say, as Id.Web's web API (IdentityModel's
//! `TokenValidationParameters`) checks it: a lifetime that includes now, give or take five minutes
//! of clock skew; an audience that is this API (`ClientId`, `api://{ClientId}`, `Audience`,
//! `Audiences`); and, when the API requires them (`Scopes`, `Roles`), one of its scopes in `scp`
//! or one of its roles in `roles`.

use serde_json::{Map, Value};

use super::jwt::invalid;
use crate::clock::format_time;
use crate::config::IdentityOptions;
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};

/// IdentityModel's default `ClockSkew`: five minutes.
const CLOCK_SKEW_SECONDS: i64 = 300;

/// The configured expectations of the claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    audiences: Vec<String>,
    scopes: Vec<String>,
    roles: Vec<String>,
}

impl Rules {
    /// The rules of the `AzureAd` section; an error when it names no audience at all.
    pub fn from_options(identity: &IdentityOptions) -> Result<Rules> {
        let mut audiences = Vec::new();
        if let Some(client_id) = identity.client_id.as_deref().map(str::trim)
            && !client_id.is_empty()
        {
            audiences.push(client_id.to_string());
            audiences.push(format!("api://{client_id}"));
        }
        audiences.extend(identity.audiences.iter().filter(|a| !a.is_empty()).cloned());
        if audiences.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "AzureAd.ClientId (or AzureAd.Audience, AzureAd.Audiences): missing; validating \
                 a token needs the audience it must be for",
            ));
        }
        Ok(Rules {
            audiences,
            scopes: identity.required_scopes.clone(),
            roles: identity.required_roles.clone(),
        })
    }

    /// Checks lifetime and audience as of `now` (Unix seconds): whether the token is for this
    /// API now. [`Rules::check_permissions`] then says whether it allows the call.
    pub fn check(&self, claims: &Map<String, Value>, now: i64) -> Result<()> {
        check_lifetime(claims, now)?;
        self.check_audience(claims)
    }

    fn check_audience(&self, claims: &Map<String, Value>) -> Result<()> {
        // `aud` is one string or an array of them (RFC 7519 §4.1.3).
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => return Err(invalid("the token has no aud (audience)")),
        };
        // IdentityModel ignores a trailing slash when comparing audiences.
        let trimmed = |text: &str| text.strip_suffix('/').unwrap_or(text).to_string();
        let accepted = |aud: &&str| self.audiences.iter().any(|a| trimmed(a) == trimmed(aud));
        if audiences.iter().any(accepted) {
            return Ok(());
        }
        Err(invalid(format!(
            "audience {} not accepted (accepted: {})",
            audiences
                .iter()
                .map(|a| quote(a))
                .collect::<Vec<_>>()
                .join(", "),
            listed(&self.audiences)
        )))
    }

    /// The required scopes or roles, when any are configured: one of them must be held.
    pub fn check_permissions(&self, claims: &Map<String, Value>) -> Result<()> {
        if self.scopes.is_empty() && self.roles.is_empty() {
            return Ok(());
        }
        let scopes: Vec<&str> = claims
            .get("scp")
            .and_then(Value::as_str)
            .map(|scp| scp.split_whitespace().collect())
            .unwrap_or_default();
        let roles: Vec<&str> = match claims.get("roles") {
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(role)) => vec![role],
            _ => Vec::new(),
        };
        let holds = |required: &[String], held: &[&str]| {
            required.iter().any(|r| held.contains(&r.as_str()))
        };
        if holds(&self.scopes, &scopes) || holds(&self.roles, &roles) {
            return Ok(());
        }
        let mut wanted = Vec::new();
        if !self.scopes.is_empty() {
            wanted.push(format!("scopes (scp) {}", listed(&self.scopes)));
        }
        if !self.roles.is_empty() {
            wanted.push(format!("roles {}", listed(&self.roles)));
        }
        Err(invalid(format!(
            "the token holds none of the required {}",
            wanted.join(" or ")
        )))
    }
}

fn listed(items: &[String]) -> String {
    items
        .iter()
        .map(|item| quote(item))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `exp` is required and `nbf` optional, each a number of seconds; both allow the clock skew.
fn check_lifetime(claims: &Map<String, Value>, now: i64) -> Result<()> {
    let seconds = |name: &str| match claims.get(name) {
        None => Ok(None),
        // Fractions are allowed (NumericDate); they do not matter at this skew.
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| invalid(format!("malformed token: {name} is not a time"))),
        Some(_) => Err(invalid(format!("malformed token: {name} is not a number"))),
    };
    let Some(expires) = seconds("exp")? else {
        return Err(invalid("the token has no exp (expiry): lifetime unknown"));
    };
    if now > expires.saturating_add(CLOCK_SKEW_SECONDS) {
        return Err(invalid(format!(
            "the token expired at {} (now {}, 5 minutes of clock skew allowed)",
            format_time(expires),
            format_time(now)
        )));
    }
    if let Some(not_before) = seconds("nbf")?
        && now.saturating_add(CLOCK_SKEW_SECONDS) < not_before
    {
        return Err(invalid(format!(
            "the token is not valid before {} (now {}, 5 minutes of clock skew allowed)",
            format_time(not_before),
            format_time(now)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(scopes: &[&str], roles: &[&str]) -> Rules {
        Rules::from_options(&IdentityOptions {
            client_id: Some("app".to_string()),
            audiences: vec!["https://api.contoso.com/".to_string()],
            required_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            required_roles: roles.iter().map(|s| s.to_string()).collect(),
            ..IdentityOptions::default()
        })
        .unwrap()
    }

    fn verdict(rules: &Rules, claims: Value, now: i64) -> std::result::Result<(), String> {
        let claims = claims.as_object().unwrap();
        (rules.check(claims, now))
            .and_then(|()| rules.check_permissions(claims))
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn lifetime_allows_five_minutes_of_skew() {
        let r = rules(&[], &[]);
        let at = |exp: i64, nbf: Option<i64>, now: i64| {
            let mut claims = json!({"aud": "app", "exp": exp});
            if let Some(nbf) = nbf {
                claims["nbf"] = json!(nbf);
            }
            verdict(&r, claims, now)
        };
        assert!(at(1000, None, 1300).is_ok());
        assert!(
            at(1000, None, 1301)
                .unwrap_err()
                .contains("expired at 1970-01-01T00:16:40Z")
        );
        assert!(at(5000, Some(2000), 1700).is_ok());
        assert!(
            at(5000, Some(2000), 1699)
                .unwrap_err()
                .contains("not valid before")
        );
        let none = verdict(&r, json!({"aud": "app"}), 0).unwrap_err();
        assert!(none.contains("no exp"), "{none}");
        let text = verdict(&r, json!({"aud": "app", "exp": "soon"}), 0).unwrap_err();
        assert!(text.contains("exp is not a number"), "{text}");
    }

    #[test]
    fn audiences_are_the_apps() {
        let r = rules(&[], &[]);
        let with = |aud: Value| verdict(&r, json!({"aud": aud, "exp": 10}), 0);
        assert!(with(json!("app")).is_ok());
        assert!(with(json!("api://app")).is_ok());
        assert!(
            with(json!("https://api.contoso.com")).is_ok(),
            "trailing slash ignored"
        );
        assert!(with(json!(["other", "app"])).is_ok());
        let refused = with(json!("api://other")).unwrap_err();
        assert!(
            refused.contains("audience 'api://other' not accepted"),
            "{refused}"
        );
        let missing = Rules::from_options(&IdentityOptions::default()).unwrap_err();
        assert!(missing.message().contains("AzureAd.ClientId"));
    }

    #[test]
    fn a_required_scope_or_role_must_be_held() {
        let with = |r: &Rules, extra: Value| {
            let mut claims = json!({"aud": "app", "exp": 10});
            claims
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            verdict(r, claims, 0)
        };
        let scoped = rules(&["access_as_user", "read"], &[]);
        assert!(with(&scoped, json!({"scp": "profile read"})).is_ok());
        let missing = with(&scoped, json!({"scp": "profile"})).unwrap_err();
        assert!(
            missing.contains("scopes (scp) 'access_as_user', 'read'"),
            "{missing}"
        );
        assert!(
            with(&scoped, json!({"roles": ["read"]})).is_err(),
            "a role is not a scope"
        );
        let either = rules(&["access_as_user"], &["Orders.Read"]);
        assert!(with(&either, json!({"roles": ["Orders.Read"]})).is_ok());
        assert!(with(&either, json!({"scp": "access_as_user"})).is_ok());
        let neither = with(&either, json!({"roles": ["Other"]})).unwrap_err();
        assert!(neither.contains("or roles 'Orders.Read'"), "{neither}");
        assert!(
            with(&rules(&[], &[]), json!({})).is_ok(),
            "nothing required"
        );
    }
}
