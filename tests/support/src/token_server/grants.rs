//! The token requests beyond the application's own client credentials, verified as strictly as
//! those: on-behalf-of, refresh tokens (long-running OBO), and the three legs of Entra Agent ID
//! (T1 by `fmi_path`, the agent's tokens with T1 as its client assertion, `user_fic`). Each leg
//! accepts exactly its own fields and refuses a request that mixes them. The wire is documented,
//! with its sources, in docs/design/users-and-agents.md.

use serde_json::{Value, json};

use super::identities::{
    JWT_BEARER_GRANT, Leg, MFA_CLAIMS_JSON, RESERVED_SCOPES, RefreshGrant, Subject,
    TOKEN_EXCHANGE_AUDIENCE, TOKEN_EXCHANGE_SCOPE, USER_FIC_GRANT, UserToken,
};
use super::jwt::{claims_of, issuer_for};
use super::{
    CLIENT_ASSERTION_TYPE, Flavor, Incoming, IssuedToken, Jwt, Rejection, State, authenticate,
    error_body, form_param, json_reply, now_secs,
};
use crate::server::Reply;

/// The client authentication fields, allowed wherever the client proves who it is.
const CLIENT_AUTH: [&str; 3] = ["client_assertion_type", "client_assertion", "client_secret"];
/// Fields of user and agent requests that an app's `client_credentials` request never has.
const NOT_FOR_APP_TOKENS: [&str; 6] = [
    "assertion",
    "requested_token_use",
    "refresh_token",
    "user_federated_identity_credential",
    "username",
    "user_id",
];

/// A request being processed, with its form and the audience its client assertion must name.
pub(super) struct Grant<'a> {
    pub(super) request: &'a Incoming<'a>,
    pub(super) form: &'a [(String, String)],
    pub(super) audience: &'a str,
}

impl Grant<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        form_param(self.form, name)
    }

    fn client_id(&self) -> &str {
        self.param("client_id").unwrap_or_default()
    }

    /// The value of a required field, or 400 naming it.
    fn required(&self, name: &str) -> Result<&str, Rejection> {
        self.param(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            Rejection::bad_request(format!(
                "The request body must contain the following parameter: '{name}'."
            ))
        })
    }
}

/// A refusal with any status, error and AADSTS code.
fn refuse(status: u16, error: &'static str, code: &str, what: impl std::fmt::Display) -> Rejection {
    Rejection {
        status,
        error,
        description: format!("{code}: {what}"),
    }
}

fn invalid_grant(code: &str, what: impl std::fmt::Display) -> Rejection {
    refuse(400, "invalid_grant", code, what)
}

/// 400 AADSTS90100: a parameter that is not valid here (a mixed request).
fn invalid_parameter(what: impl std::fmt::Display) -> Rejection {
    refuse(400, "invalid_request", "AADSTS90100", what)
}

/// Checks `grant_type` when the form is read: the app's `client_credentials` everywhere, the
/// user and agent grants on the Entra paths only (the OpenID provider advertises none of them).
/// Anything else is refused as before these grants existed (400 `invalid_request`).
pub(super) fn check_grant_type(grant: &str, flavor: Flavor) -> Result<(), Rejection> {
    match grant {
        "client_credentials" => Ok(()),
        JWT_BEARER_GRANT | "refresh_token" | USER_FIC_GRANT if flavor == Flavor::Entra => Ok(()),
        other => Err(Rejection::bad_request(format!(
            "grant_type must be 'client_credentials' (or, on Entra's paths, '{JWT_BEARER_GRANT}', \
             'refresh_token' or '{USER_FIC_GRANT}'), was '{other}' ({flavor:?} path)"
        ))),
    }
}

/// Classifies and, unless it is the app's own client-credentials request (`Ok(None)`: the
/// caller issues that token as before), verifies the request and issues its token.
pub(super) fn process(state: &mut State, grant: &Grant) -> Result<Option<Reply>, Rejection> {
    let leg = classify(state, grant.form);
    state.log.at(grant.request.index).leg = Some(leg);
    check_fields(leg, grant)?;
    if leg != Leg::AppToken && grant.request.flavor != Flavor::Entra {
        return Err(invalid_parameter(format!(
            "{leg:?} requests are Entra's (fmi_path, agents): not on the OpenID provider's path"
        )));
    }
    let reply = match leg {
        Leg::AppToken => return Ok(None),
        Leg::OnBehalfOf => on_behalf_of(state, grant)?,
        Leg::RefreshToken => refresh(state, grant)?,
        Leg::FmiCredential => fmi_credential(state, grant)?,
        Leg::AgentAppToken | Leg::AgentExchange => agent_token(state, grant, leg)?,
        Leg::UserFic => user_fic(state, grant)?,
    };
    Ok(Some(reply))
}

/// Which leg a request is, from its grant, its client and its `fmi_path` and scope (also for the
/// requests a canned answer replies to, so that they are counted in their leg).
pub(super) fn classify(state: &State, form: &[(String, String)]) -> Leg {
    let param = |name: &str| form_param(form, name);
    match param("grant_type").unwrap_or_default() {
        JWT_BEARER_GRANT => Leg::OnBehalfOf,
        "refresh_token" => Leg::RefreshToken,
        USER_FIC_GRANT => Leg::UserFic,
        _ if param("client_id") == Some(state.client_id.as_str()) => match param("fmi_path") {
            Some(_) => Leg::FmiCredential,
            None => Leg::AppToken,
        },
        _ if param("scope") == Some(TOKEN_EXCHANGE_SCOPE) => Leg::AgentExchange,
        _ => Leg::AgentAppToken,
    }
}

/// The fields each leg may carry; anything else is a mixed request, refused.
fn allowed_fields(leg: Leg) -> &'static [&'static str] {
    match leg {
        Leg::AppToken => &[],
        Leg::FmiCredential => &["fmi_path"],
        Leg::AgentAppToken | Leg::AgentExchange => &[],
        Leg::OnBehalfOf => &["assertion", "requested_token_use"],
        Leg::RefreshToken => &["refresh_token"],
        Leg::UserFic => &["user_federated_identity_credential", "username", "user_id"],
    }
}

fn check_fields(leg: Leg, grant: &Grant) -> Result<(), Rejection> {
    let common = ["grant_type", "client_id", "scope", "claims", "client_info"];
    for (name, _) in grant.form {
        let name = name.as_str();
        let refused = match leg {
            // The app's own request keeps its checks (token_type, ...), minus user fields.
            Leg::AppToken => NOT_FOR_APP_TOKENS.contains(&name),
            _ => {
                !(common.contains(&name)
                    || CLIENT_AUTH.contains(&name)
                    || allowed_fields(leg).contains(&name))
            }
        };
        if refused {
            let hint = match name {
                "requested_token_use" if leg == Leg::UserFic => " (MSAL sends none with user_fic)",
                "fmi_path" => " (only the blueprint's client_credentials request for T1 has one)",
                _ => "",
            };
            return Err(invalid_parameter(format!(
                "the parameter '{name}' does not belong to a {leg:?} request (grant_type '{}'){hint}",
                grant.param("grant_type").unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// The scopes of a user-token request: MSAL's `openid profile offline_access` must be there (it
/// always sends them), and at least one scope of an API. Returns the API's scopes.
fn user_scopes(grant: &Grant) -> Result<Vec<String>, Rejection> {
    let sent: Vec<&str> = grant
        .param("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(missing) = RESERVED_SCOPES.iter().find(|r| !sent.contains(r)) {
        return Err(refuse(
            400,
            "invalid_scope",
            "AADSTS70011",
            format!(
                "scope must hold 'openid profile offline_access' as MSAL sends them; '{missing}' is missing from '{}'",
                sent.join(" ")
            ),
        ));
    }
    let api: Vec<String> = sent
        .iter()
        .filter(|s| !RESERVED_SCOPES.contains(s))
        .map(|s| s.to_string())
        .collect();
    if api.is_empty() {
        return Err(refuse(
            400,
            "invalid_scope",
            "AADSTS70011",
            "scope names no API, only 'openid profile offline_access'",
        ));
    }
    Ok(api)
}

/// On-behalf-of: the app's own credential, and a user's token the fake minted for this app.
fn on_behalf_of(state: &mut State, grant: &Grant) -> Result<Reply, Rejection> {
    match grant.required("requested_token_use")? {
        "on_behalf_of" => {}
        other => {
            return Err(invalid_parameter(format!(
                "requested_token_use must be 'on_behalf_of', was '{other}'"
            )));
        }
    }
    let assertion = grant.required("assertion")?;
    let scopes = user_scopes(grant)?;
    if grant.client_id() != state.client_id {
        return Err(invalid_parameter(format!(
            "on-behalf-of as the agent '{}' (Id.Web's interactive agent) is not modelled by the fake: only the application '{}' asks for user tokens by OBO",
            grant.client_id(),
            state.client_id
        )));
    }
    authenticate(state, grant.request, grant.form, grant.audience, false)?;
    let user = verify_user_assertion(state, grant, assertion)?;
    if state.identities.wants_mfa(&user.oid) && !user.mfa {
        return Ok(mfa_required(&scopes));
    }
    let subject = Subject::User {
        oid: user.oid,
        tid: user.tid,
        upn: user.upn,
    };
    Ok(issue_user_token(state, grant, subject, &scopes, user.mfa))
}

/// The assertion of an on-behalf-of request: signed by the fake, minted by the test, for this
/// app (`aud` its client id or `api://` it), unexpired, of the tenant of the path.
fn verify_user_assertion(
    state: &State,
    grant: &Grant,
    assertion: &str,
) -> Result<UserToken, Rejection> {
    let jwt = Jwt::decode(assertion)
        .map_err(|_| invalid_grant("AADSTS50027", "JWT token is invalid or malformed."))?;
    let not_ours = "Assertion failed signature validation. [Reason - The key was not found.]";
    if !state.identities.key.verifies(&jwt) {
        return Err(invalid_grant("AADSTS50013", not_ours));
    }
    let minted = (state.identities.minted.get(assertion))
        .ok_or_else(|| invalid_grant("AADSTS50013", not_ours))?;
    let aud = jwt.claims.get("aud").and_then(Value::as_str);
    let client_id = state.client_id.as_str();
    if aud != Some(client_id) && aud != Some(format!("api://{client_id}").as_str()) {
        return Err(invalid_grant(
            "AADSTS50013",
            format!(
                "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '{}' and the expected audience is '{client_id}' or 'api://{client_id}'.",
                aud.unwrap_or_default()
            ),
        ));
    }
    let exp = jwt.claims.get("exp").and_then(Value::as_f64).unwrap_or(0.0);
    if minted.expired || exp <= now_secs() {
        return Err(invalid_grant(
            "AADSTS500133",
            "Assertion is not within its valid time range.",
        ));
    }
    if grant.request.tenant.as_deref() != Some(minted.user.tid.as_str()) {
        return Err(invalid_grant(
            "AADSTS50013",
            format!(
                "the assertion is of tenant '{}', the request of tenant {:?}",
                minted.user.tid, grant.request.tenant
            ),
        ));
    }
    Ok(minted.user.clone())
}

/// Entra's answer when a Conditional Access policy wants MFA: 400 `invalid_grant`, AADSTS50076,
/// and the claims the client must send through an interactive sign-in.
fn mfa_required(scopes: &[String]) -> Reply {
    let description = format!(
        "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{}'.",
        scopes.join(" ")
    );
    let mut body = error_body("invalid_grant", &description);
    body["claims"] = json!(MFA_CLAIMS_JSON);
    json_reply(400, &body)
}

/// The refresh token of a long-running session (or an agent user's): issued by the fake to this
/// client, not revoked; the client authenticates as it did when it got it.
fn refresh(state: &mut State, grant: &Grant) -> Result<Reply, Rejection> {
    let token = grant.required("refresh_token")?;
    let scopes = user_scopes(grant)?;
    authenticate_client(state, grant)?;
    let record: RefreshGrant = (state.identities.refresh.get(token).cloned()).ok_or_else(|| {
        invalid_grant(
            "AADSTS9002313",
            "Invalid request. Request is malformed or invalid. (not a refresh token the fake issued)",
        )
    })?;
    if record.client_id != grant.client_id() {
        return Err(invalid_grant(
            "AADSTS70000",
            format!(
                "Provided grant is invalid or malformed: the refresh token was issued to '{}', not '{}'.",
                record.client_id,
                grant.client_id()
            ),
        ));
    }
    if record.revoked {
        return Err(invalid_grant(
            "AADSTS700082",
            "The refresh token has expired due to inactivity.",
        ));
    }
    if let Subject::User { oid, .. } = &record.subject
        && state.identities.wants_mfa(oid)
        && !record.mfa
    {
        return Ok(mfa_required(&scopes));
    }
    Ok(issue_user_token(
        state,
        grant,
        record.subject,
        &scopes,
        record.mfa,
    ))
}

/// The app authenticates with its credential; an agent with T1.
fn authenticate_client(state: &mut State, grant: &Grant) -> Result<(), Rejection> {
    if grant.client_id() == state.client_id {
        authenticate(state, grant.request, grant.form, grant.audience, false)
    } else {
        verify_t1(state, grant)
    }
}

/// Leg 1: the blueprint's own credential, `fmi_path` = one of its agents, scope exactly
/// `api://AzureADTokenExchange/.default` → T1.
fn fmi_credential(state: &mut State, grant: &Grant) -> Result<Reply, Rejection> {
    let agent = grant.required("fmi_path")?.to_string();
    if !state.identities.is_agent(&agent) {
        return Err(invalid_parameter(format!(
            "fmi_path '{agent}' is not an agent identity of the blueprint '{}'",
            state.client_id
        )));
    }
    if grant.param("scope") != Some(TOKEN_EXCHANGE_SCOPE) {
        return Err(refuse(
            400,
            "invalid_scope",
            "AADSTS70011",
            format!(
                "a token for an fmi_path is for '{TOKEN_EXCHANGE_SCOPE}' only, the scope was {:?}",
                grant.param("scope")
            ),
        ));
    }
    authenticate(state, grant.request, grant.form, grant.audience, false)?;
    let subject = Subject::FmiCredential {
        blueprint: state.client_id.clone(),
        agent,
    };
    Ok(issue_app_like(state, grant, subject, Leg::FmiCredential))
}

/// Leg 2 (an API's scope → the agent's app token) and T2 (the exchange scope): the agent's
/// client_credentials with T1 of this agent as its client assertion.
fn agent_token(state: &mut State, grant: &Grant, leg: Leg) -> Result<Reply, Rejection> {
    verify_t1(state, grant)?;
    let scope = grant.param("scope").unwrap_or_default();
    if !scope.ends_with("/.default") || scope.contains(' ') {
        return Err(refuse(
            400,
            "invalid_scope",
            "AADSTS1002012",
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    }
    let subject = Subject::Agent {
        agent: grant.client_id().to_string(),
    };
    Ok(issue_app_like(state, grant, subject, leg))
}

/// The client assertion of an agent is T1: issued by the fake (leg 1) for this very agent,
/// unexpired, sent as a jwt-bearer client assertion; never a secret.
fn verify_t1(state: &mut State, grant: &Grant) -> Result<(), Rejection> {
    let agent = grant.client_id();
    if grant.param("client_secret").is_some() {
        return Err(Rejection::client(
            "AADSTS7000215",
            format!(
                "Invalid client secret provided: the agent '{agent}' has no secret, its client assertion is T1."
            ),
        ));
    }
    if grant.param("client_assertion_type") != Some(CLIENT_ASSERTION_TYPE) {
        return Err(Rejection::client(
            "AADSTS700023",
            format!(
                "client_assertion_type must be '{CLIENT_ASSERTION_TYPE}', was {:?}",
                grant.param("client_assertion_type")
            ),
        ));
    }
    let t1 = grant.param("client_assertion").ok_or_else(|| {
        Rejection::client(
            "AADSTS7000218",
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    })?;
    state.log.at(grant.request.index).assertion_claims = claims_of(t1);
    let issued = find_issued(state, t1, Leg::FmiCredential).map_err(|why| {
        Rejection::client(
            "AADSTS70021",
            format!("No matching federated identity record found for presented assertion: the client assertion {why}."),
        )
    })?;
    match &issued.subject {
        Subject::FmiCredential { agent: a, .. } if a == agent => {}
        other => {
            return Err(Rejection::client(
                "AADSTS70021",
                format!(
                    "No matching federated identity record found for presented assertion: T1 is for {other:?}, the client is the agent '{agent}'."
                ),
            ));
        }
    }
    if issued.expired() {
        return Err(Rejection::client(
            "AADSTS700024",
            "Client assertion is not within its valid time range (T1 expired).",
        ));
    }
    check_signed_for(state, t1, TOKEN_EXCHANGE_AUDIENCE)
}

/// The token the fake issued as `token` in `leg`, or why not ("is not a token the fake issued",
/// "is a … token, not a … one").
fn find_issued(state: &State, token: &str, leg: Leg) -> Result<IssuedToken, String> {
    let issued = (state.issued.iter().find(|t| t.token == token))
        .ok_or_else(|| "is not a token the fake issued".to_string())?;
    if issued.leg != leg {
        return Err(format!("is a {:?} token, not a {leg:?} one", issued.leg));
    }
    Ok(issued.clone())
}

/// Belt and braces over the exact-string lookup: the token verifies with the fake's key and
/// names `audience`.
fn check_signed_for(state: &State, token: &str, audience: &str) -> Result<(), Rejection> {
    let jwt = Jwt::decode(token)?;
    let aud = jwt.claims.get("aud").and_then(Value::as_str);
    if !state.identities.key.verifies(&jwt) || aud != Some(audience) {
        return Err(Rejection::client(
            "AADSTS70021",
            format!(
                "the federated credential does not verify or its aud {aud:?} is not '{audience}'"
            ),
        ));
    }
    Ok(())
}

/// Leg 3: the agent (T1 as client assertion), T2 of the same agent as the user's federated
/// credential, exactly one of `username` (UPN) and `user_id` (object id) naming one of the
/// agent's users, and the user scopes → the agent user's token.
fn user_fic(state: &mut State, grant: &Grant) -> Result<Reply, Rejection> {
    let agent = grant.client_id().to_string();
    if !state.identities.is_agent(&agent) {
        return Err(invalid_parameter(format!(
            "user_fic is asked by an agent identity (client_id '{agent}' is not one), with T1 as its client assertion"
        )));
    }
    verify_t1(state, grant)?;
    let t2 = grant.required("user_federated_identity_credential")?;
    let issued = find_issued(state, t2, Leg::AgentExchange).map_err(|why| {
        invalid_grant(
            "AADSTS70021",
            format!("user_federated_identity_credential {why} (it must be T2)"),
        )
    })?;
    if issued.subject
        != (Subject::Agent {
            agent: agent.clone(),
        })
        || issued.expired()
    {
        return Err(invalid_grant(
            "AADSTS70021",
            format!(
                "user_federated_identity_credential is not a live T2 of the agent '{agent}' ({:?})",
                issued.subject
            ),
        ));
    }
    check_signed_for(state, t2, TOKEN_EXCHANGE_AUDIENCE)?;
    let (oid, upn) = agent_user(state, grant, &agent)?;
    let scopes = user_scopes(grant)?;
    let subject = Subject::AgentUser { agent, oid, upn };
    Ok(issue_user_token(state, grant, subject, &scopes, true))
}

/// The agent user named by exactly one of `username` and `user_id`: (object id, UPN).
fn agent_user(state: &State, grant: &Grant, agent: &str) -> Result<(String, String), Rejection> {
    let (by_upn, name) = match (grant.param("username"), grant.param("user_id")) {
        (Some(_), Some(_)) => {
            return Err(invalid_parameter(
                "username and user_id are mutually exclusive: send exactly one",
            ));
        }
        (Some(upn), None) => (true, upn),
        (None, Some(oid)) => (false, oid),
        (None, None) => {
            return Err(Rejection::bad_request(
                "The request body must contain the following parameter: 'username' or 'user_id'.",
            ));
        }
    };
    let found = state.identities.agent_users.iter().find(|(a, oid, upn)| {
        a == agent
            && match by_upn {
                true => upn.eq_ignore_ascii_case(name),
                false => oid.eq_ignore_ascii_case(name),
            }
    });
    match found {
        Some((_, oid, upn)) => Ok((oid.clone(), upn.clone())),
        None => Err(invalid_grant(
            "AADSTS50034",
            format!(
                "The user account {name} does not exist as an agent user of the agent '{agent}'."
            ),
        )),
    }
}

/// The resource of a scope: `https://graph.example/.default` → `https://graph.example`.
fn resource_of(scope: &str) -> &str {
    scope
        .rsplit_once('/')
        .map_or(scope, |(resource, _)| resource)
}

/// A new issued-token record for `subject` in `leg`.
fn issued_record(state: &State, grant: &Grant, subject: Subject, leg: Leg) -> IssuedToken {
    let user_scope: Vec<&str> = (grant.param("scope").unwrap_or_default().split(' '))
        .filter(|s| !s.is_empty() && !RESERVED_SCOPES.contains(s))
        .collect();
    IssuedToken {
        token: String::new(),
        scope: user_scope.join(" "),
        claims: grant.param("claims").map(str::to_string),
        tenant: grant.request.tenant.clone(),
        path: grant.request.path.to_string(),
        issued_at: std::time::Instant::now(),
        expires_in: state.expires_in,
        token_type: "Bearer".to_string(),
        bound_to: None,
        subject,
        leg,
        refresh_token: None,
    }
}

/// T1, T2 and the agent's app tokens: signed JWTs answered as client credentials are.
fn issue_app_like(state: &mut State, grant: &Grant, subject: Subject, leg: Leg) -> Reply {
    let mut issued = issued_record(state, grant, subject, leg);
    let now = now_secs() as i64;
    let tenant = grant.request.tenant.clone().unwrap_or_default();
    let (sub, parent) = match &issued.subject {
        Subject::FmiCredential { agent, blueprint } => (agent.clone(), blueprint.clone()),
        Subject::Agent { agent } => (agent.clone(), state.client_id.clone()),
        _ => (grant.client_id().to_string(), String::new()),
    };
    let audience = match leg {
        Leg::FmiCredential | Leg::AgentExchange => TOKEN_EXCHANGE_AUDIENCE,
        _ => resource_of(&issued.scope),
    };
    let number = state.issued.len() + 1;
    issued.token = state.identities.key.sign(&json!({
        "aud": audience, "iss": issuer_for(&tenant), "iat": now, "nbf": now,
        "exp": now + state.expires_in as i64, "sub": sub, "oid": sub, "tid": tenant,
        "azp": grant.client_id(), "appid": grant.client_id(), "idtyp": "app",
        "xms_par_app_azp": parent, "uti": format!("tok-{number}"), "ver": "2.0",
    }));
    let mut body = json!({
        "token_type": "Bearer",
        "access_token": issued.token,
        "expires_in": state.expires_in,
        "ext_expires_in": state.expires_in,
    });
    if let Some(refresh_in) = state.refresh_in {
        body["refresh_in"] = json!(refresh_in);
    }
    state.issued.push(issued);
    json_reply(200, &body)
}

/// A user's or agent user's token: a signed access token, a refresh token, an ID token, and
/// `client_info` when the request asked for it (`client_info=1`).
fn issue_user_token(
    state: &mut State,
    grant: &Grant,
    subject: Subject,
    scopes: &[String],
    mfa: bool,
) -> Reply {
    let leg = grant_leg(state, grant);
    let mut issued = issued_record(state, grant, subject.clone(), leg);
    let (oid, upn, agent) = match &subject {
        Subject::User { oid, upn, .. } => (oid.clone(), upn.clone(), None),
        Subject::AgentUser { agent, oid, upn } => (oid.clone(), upn.clone(), Some(agent.clone())),
        other => unreachable!("a user token for {other:?}"),
    };
    let tenant = grant.request.tenant.clone().unwrap_or_default();
    let now = now_secs() as i64;
    let number = state.issued.len() + 1;
    let mut claims = json!({
        "aud": resource_of(&scopes[0]), "iss": issuer_for(&tenant), "iat": now, "nbf": now,
        "exp": now + state.expires_in as i64, "oid": oid, "sub": format!("sub-{oid}"),
        "tid": tenant, "upn": upn, "preferred_username": upn, "scp": scopes.join(" "),
        "azp": grant.client_id(), "idtyp": "user", "uti": format!("tok-{number}"), "ver": "2.0",
    });
    if let Some(agent) = &agent {
        // Id.Web's AgentIdentityExtensions: xms_sub_fct 13 = agent user, xms_par_app_azp = blueprint.
        claims["xms_sub_fct"] = json!("13");
        claims["xms_par_app_azp"] = json!(state.client_id);
        claims["azp"] = json!(agent);
    }
    issued.token = state.identities.key.sign(&claims);
    let refresh_token = format!("rt-{number}-{}", state.identities.next());
    state.identities.refresh.insert(
        refresh_token.clone(),
        RefreshGrant {
            client_id: grant.client_id().to_string(),
            subject,
            mfa,
            revoked: false,
        },
    );
    issued.refresh_token = Some(refresh_token.clone());
    let body = user_token_body(state, grant, &issued, &claims);
    state.issued.push(issued);
    json_reply(200, &body)
}

/// The leg recorded for this request.
fn grant_leg(state: &mut State, grant: &Grant) -> Leg {
    state
        .log
        .at(grant.request.index)
        .leg
        .unwrap_or(Leg::AppToken)
}

/// The JSON answer of a user token: Entra v2's fields, `client_info` only when asked.
fn user_token_body(state: &State, grant: &Grant, issued: &IssuedToken, claims: &Value) -> Value {
    let id_token = state.identities.key.sign(&json!({
        "aud": grant.client_id(), "iss": claims["iss"], "iat": claims["iat"],
        "nbf": claims["nbf"], "exp": claims["exp"], "oid": claims["oid"], "sub": claims["sub"],
        "tid": claims["tid"], "preferred_username": claims["upn"], "name": claims["upn"],
        "ver": "2.0",
    }));
    let mut body = json!({
        "token_type": "Bearer",
        "scope": issued.scope,
        "expires_in": state.expires_in,
        "ext_expires_in": state.expires_in,
        "access_token": issued.token,
        "refresh_token": issued.refresh_token,
        "id_token": id_token,
    });
    if grant.param("client_info") == Some("1") {
        let info = json!({"uid": claims["oid"], "utid": claims["tid"]}).to_string();
        body["client_info"] = json!(base64_url(info.as_bytes()));
    }
    if let Some(refresh_in) = state.refresh_in {
        body["refresh_in"] = json!(refresh_in);
    }
    body
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
