//! Who a token is for, beyond the app itself: a signed-in **user** (on-behalf-of, whose incoming
//! token a test mints with [`TokenIssuer::mint_user_token`]), an **agent** identity and an **agent
//! user** (Entra Agent ID: the registered application is the agent's blueprint). What the fake
//! knows of them ([`TokenIssuer::add_agent`], [`TokenIssuer::add_agent_user`]), the switches that
//! make it ask for the user (MFA on the token endpoint, a claims challenge at the resource), the
//! counters per leg, and a resource answering who a token is for ([`identity_resource_handler`]).
//! The grants themselves are verified in `grants.rs`; docs/design/users-and-agents.md has the wire.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;

use super::jwt::{Alg, FAKE_RSA_KID, SigningKey, issuer_for};
use super::{IssuedToken, TokenIssuer, TokenRequest, now_secs};
use crate::server::{Handler, Reply, Seen};

/// The scope of the tokens that serve as federated credentials (T1, T2).
pub const TOKEN_EXCHANGE_SCOPE: &str = "api://AzureADTokenExchange/.default";
/// The audience of T1 and T2.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// `grant_type` of on-behalf-of (RFC 7523), with `requested_token_use=on_behalf_of`.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// `grant_type` of an agent user's token.
pub const USER_FIC_GRANT: &str = "user_fic";
/// The scopes MSAL adds to every user-token request; the fake demands them there.
pub const RESERVED_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];
/// The claims the identity resource demands from user tokens (an authentication context), as
/// JSON ...
pub const USER_CLAIMS_JSON: &str = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;
/// ... and as the base64 its `WWW-Authenticate` header carries.
pub const USER_CLAIMS_BASE64: &str =
    "eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19";
/// The `claims` of the token endpoint's AADSTS50076 answer (MFA required by a policy).
pub const MFA_CLAIMS_JSON: &str = r#"{"access_token":{"capolids":{"essential":true,"values":["00000000-0000-0000-0000-00000000cafe"]}}}"#;

/// Which kind of token request (grant, and for agents which leg) a request was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    /// `client_credentials` for the registered application itself.
    AppToken,
    /// `jwt-bearer` + `requested_token_use=on_behalf_of`: a user's token for the user's assertion.
    OnBehalfOf,
    /// `refresh_token`: a long-running OBO session, or an agent user's renewal.
    RefreshToken,
    /// Leg 1: the blueprint's `client_credentials` with `fmi_path=<agent>` → T1.
    FmiCredential,
    /// Leg 2: the agent's `client_credentials` (T1 as its client assertion) for an API.
    AgentAppToken,
    /// The agent's `client_credentials` (T1) for `api://AzureADTokenExchange/.default` → T2.
    AgentExchange,
    /// Leg 3: `user_fic` (T1 as client assertion, T2 as the user's credential) → the agent user's
    /// token.
    UserFic,
}

/// Who a token the fake issued is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The registered application (client credentials).
    App { client_id: String },
    /// A user, on-behalf-of (or its long-running session).
    User {
        oid: String,
        tid: String,
        upn: String,
    },
    /// T1: the blueprint's credential for one agent (`fmi_path`).
    FmiCredential { blueprint: String, agent: String },
    /// The agent identity itself: its app tokens and T2.
    Agent { agent: String },
    /// An agent's user account.
    AgentUser {
        agent: String,
        oid: String,
        upn: String,
    },
}

/// What a user's incoming access token says, for [`TokenIssuer::mint_user_token`].
#[derive(Clone, Debug)]
pub struct UserToken {
    pub oid: String,
    pub upn: String,
    pub tid: String,
    /// `aud`; `None` is the registered application's client id (`api://<client id>` is as valid).
    pub audience: Option<String>,
    /// Seconds from now to `exp`; negative for a token already expired.
    pub expires_in: i64,
    /// Whether the user did MFA (`amr` holds "mfa"): [`MfaPolicy`] spares such assertions.
    pub mfa: bool,
}

impl UserToken {
    /// A token for the web API (the registered app) lasting an hour, without MFA.
    pub fn new(oid: &str, upn: &str, tid: &str) -> UserToken {
        UserToken {
            oid: oid.to_string(),
            upn: upn.to_string(),
            tid: tid.to_string(),
            audience: None,
            expires_in: 3600,
            mfa: false,
        }
    }

    pub fn audience(mut self, audience: &str) -> UserToken {
        self.audience = Some(audience.to_string());
        self
    }

    pub fn expires_in(mut self, seconds: i64) -> UserToken {
        self.expires_in = seconds;
        self
    }

    pub fn with_mfa(mut self) -> UserToken {
        self.mfa = true;
        self
    }
}

/// Which users' on-behalf-of and refresh requests get `invalid_grant` AADSTS50076 with a claims
/// challenge (Entra's answer when a Conditional Access policy wants MFA), unless their assertion
/// says they did MFA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MfaPolicy {
    Off,
    AllUsers,
    /// These object ids.
    Users(Vec<String>),
}

/// A user token the test minted (only those are valid assertions).
#[derive(Clone, Debug)]
pub(super) struct MintedUser {
    pub(super) user: UserToken,
    /// Set by [`TokenIssuer::expire_user_token`]: expired in the fake's eyes whatever `exp` says.
    pub(super) expired: bool,
}

/// A refresh token the fake issued.
#[derive(Clone, Debug)]
pub(super) struct RefreshGrant {
    pub(super) client_id: String,
    pub(super) subject: Subject,
    pub(super) mfa: bool,
    pub(super) revoked: bool,
}

/// The fake's part of the issuer state for users and agents.
pub(super) struct Identities {
    pub(super) key: SigningKey,
    pub(super) agents: HashSet<String>,
    /// (agent, object id, UPN).
    pub(super) agent_users: Vec<(String, String, String)>,
    pub(super) minted: HashMap<String, MintedUser>,
    pub(super) refresh: HashMap<String, RefreshGrant>,
    pub(super) mfa: MfaPolicy,
    pub(super) user_claims_challenge: bool,
    /// Numbers the user tokens and refresh tokens.
    pub(super) counter: u64,
}

impl Identities {
    pub(super) fn new() -> Identities {
        Identities {
            key: SigningKey::generate(),
            agents: HashSet::new(),
            agent_users: Vec::new(),
            minted: HashMap::new(),
            refresh: HashMap::new(),
            mfa: MfaPolicy::Off,
            user_claims_challenge: false,
            counter: 0,
        }
    }

    pub(super) fn is_agent(&self, client_id: &str) -> bool {
        self.agents.contains(client_id)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Whether the policy wants MFA from this user.
    pub(super) fn wants_mfa(&self, oid: &str) -> bool {
        match &self.mfa {
            MfaPolicy::Off => false,
            MfaPolicy::AllUsers => true,
            MfaPolicy::Users(oids) => oids.iter().any(|o| o == oid),
        }
    }
}

/// The claims of a user's incoming access token, as Entra v2 writes them.
fn user_claims(user: &UserToken, audience: &str, number: u64) -> serde_json::Value {
    let now = now_secs() as i64;
    let amr = if user.mfa {
        json!(["pwd", "mfa"])
    } else {
        json!(["pwd"])
    };
    json!({
        "aud": audience,
        "iss": issuer_for(&user.tid),
        "iat": now, "nbf": now, "exp": now + user.expires_in,
        "oid": user.oid, "sub": format!("sub-{}", user.oid), "tid": user.tid,
        "upn": user.upn, "preferred_username": user.upn, "name": user.upn,
        "scp": "access_as_user", "azp": "fake-client-app", "azpacr": "0",
        "amr": amr, "ver": "2.0", "uti": format!("user-{number}"),
    })
}

impl TokenIssuer {
    /// A user's access token for the web API, signed by the fake issuer (RS256, as Entra signs
    /// them): what the web API receives, validates and passes on as the on-behalf-of assertion.
    pub fn mint_user_token(&self, user: &UserToken) -> String {
        let mut state = self.state();
        let audience = user
            .audience
            .clone()
            .unwrap_or_else(|| state.client_id.clone());
        let number = state.identities.next();
        let claims = user_claims(user, &audience, number);
        let token = (state.identities.key).sign_as(&claims, Alg::Rs256, Some(FAKE_RSA_KID));
        let minted = MintedUser {
            user: user.clone(),
            expired: false,
        };
        state.identities.minted.insert(token.clone(), minted);
        token
    }

    /// The claims [`TokenIssuer::mint_user_token`] would sign for `user`: for a test to change
    /// (issuer, audience, lifetime, scopes, roles) and sign with [`TokenIssuer::sign_token`].
    pub fn user_token_claims(&self, user: &UserToken) -> serde_json::Value {
        let mut state = self.state();
        let audience = user
            .audience
            .clone()
            .unwrap_or_else(|| state.client_id.clone());
        let number = state.identities.next();
        user_claims(user, &audience, number)
    }

    /// `claims` signed as `alg` with the issuer's key of `kid` (RS256: the RSA key; ES256: the
    /// P-256 key, or one added with [`TokenIssuer::add_signing_key`]; `None`: unsigned), `kid`
    /// in the header when given. Not an on-behalf-of assertion the fake accepts.
    pub fn sign_token(&self, claims: &serde_json::Value, alg: Alg, kid: Option<&str>) -> String {
        self.state().identities.key.sign_as(claims, alg, kid)
    }

    /// Publishes one more P-256 signing key under `kid` (a key rotation at the issuer).
    pub fn add_signing_key(&self, kid: &str) {
        self.state().identities.key.add(kid);
    }

    /// The same token signed by another key: the fake refuses it as an assertion.
    pub fn forge_user_token(&self, user: &UserToken) -> String {
        let audience = user
            .audience
            .clone()
            .unwrap_or_else(|| self.state().client_id.clone());
        SigningKey::generate().sign(&user_claims(user, &audience, 0))
    }

    /// From now on the fake treats this minted user token as expired (Entra's clock moved on).
    pub fn expire_user_token(&self, token: &str) {
        if let Some(minted) = self.state().identities.minted.get_mut(token) {
            minted.expired = true;
        }
    }

    /// Registers an agent identity created by this blueprint (the registered application).
    pub fn add_agent(&self, agent_id: &str) {
        self.state().identities.agents.insert(agent_id.to_string());
    }

    /// Registers an agent user account of `agent_id` (the agent is registered too).
    pub fn add_agent_user(&self, agent_id: &str, oid: &str, upn: &str) {
        let mut state = self.state();
        state.identities.agents.insert(agent_id.to_string());
        let user = (agent_id.to_string(), oid.to_string(), upn.to_string());
        state.identities.agent_users.push(user);
    }

    pub fn set_mfa_policy(&self, policy: MfaPolicy) {
        self.state().identities.mfa = policy;
    }

    /// Whether [`identity_resource_handler`] answers user and agent-user tokens issued without a
    /// `claims` parameter with 401 `insufficient_claims` ([`USER_CLAIMS_BASE64`]).
    pub fn set_user_claims_challenge(&self, on: bool) {
        self.state().identities.user_claims_challenge = on;
    }

    /// Every refresh token issued so far is refused from now on (AADSTS700082).
    pub fn revoke_refresh_tokens(&self) {
        for grant in self.state().identities.refresh.values_mut() {
            grant.revoked = true;
        }
    }

    /// Token requests classified as `leg`, refused ones included.
    pub fn requests_in(&self, leg: Leg) -> usize {
        self.token_requests_in(leg).len()
    }

    pub fn token_requests_in(&self, leg: Leg) -> Vec<TokenRequest> {
        let requests = self.state().log.requests();
        requests
            .into_iter()
            .filter(|r| r.leg == Some(leg))
            .collect()
    }

    pub fn issued_in(&self, leg: Leg) -> Vec<IssuedToken> {
        let issued = self.state().issued.clone();
        issued.into_iter().filter(|t| t.leg == leg).collect()
    }

    /// Who a token the fake issued is for (`None` for a token it did not issue).
    pub fn subject_of(&self, token: &str) -> Option<Subject> {
        self.token(token).map(|t| t.subject)
    }

    /// The tokens issued for the user or agent user with this object id.
    pub fn issued_for_user(&self, oid: &str) -> Vec<IssuedToken> {
        let issued = self.state().issued.clone();
        issued
            .into_iter()
            .filter(|t| match &t.subject {
                Subject::User { oid: o, .. } | Subject::AgentUser { oid: o, .. } => o == oid,
                _ => false,
            })
            .collect()
    }

    /// A resource answering who a live Bearer token is for (see [`identity_resource_handler`]).
    pub(super) fn identity_resource(&self, seen: &Seen) -> Reply {
        let invalid = |why: &str| {
            let mut reply = Reply::text(401, why);
            reply.headers.push((
                "WWW-Authenticate".into(),
                r#"Bearer error="invalid_token""#.into(),
            ));
            reply
        };
        let Some(token) = seen
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
        else {
            return invalid("no Bearer Authorization header");
        };
        let Some(issued) = self.token(token.trim()) else {
            return invalid("unknown token");
        };
        if issued.expired() {
            return invalid("expired token");
        }
        if matches!(issued.leg, Leg::FmiCredential | Leg::AgentExchange) {
            return invalid("T1 and T2 are credentials for the token endpoint, not for a resource");
        }
        let user_token = matches!(
            issued.subject,
            Subject::User { .. } | Subject::AgentUser { .. }
        );
        if user_token && issued.claims.is_none() && self.state().identities.user_claims_challenge {
            return user_claims_challenge();
        }
        Reply::text(200, &describe(&issued))
    }
}

/// 401 with `WWW-Authenticate: Bearer … error="insufficient_claims", claims="…"`.
fn user_claims_challenge() -> Reply {
    let header = format!(
        r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="{USER_CLAIMS_BASE64}""#
    );
    let mut reply = Reply::text(401, "claims required");
    reply.headers.push(("WWW-Authenticate".into(), header));
    reply
}

/// "app <client id> <scope>", "user <oid> <scope>", "agent <agent id> <scope>" or
/// "agent-user <agent id> <oid> <upn> <scope>".
pub fn describe(issued: &IssuedToken) -> String {
    let scope = &issued.scope;
    match &issued.subject {
        Subject::App { client_id } => format!("app {client_id} {scope}"),
        Subject::User { oid, .. } => format!("user {oid} {scope}"),
        Subject::Agent { agent } => format!("agent {agent} {scope}"),
        Subject::AgentUser { agent, oid, upn } => format!("agent-user {agent} {oid} {upn} {scope}"),
        Subject::FmiCredential { agent, .. } => format!("fmi-credential {agent} {scope}"),
    }
}

/// A resource server handler: 200 with [`describe`] of a live Bearer token the issuer issued
/// (app, user, agent or agent user), 401 `invalid_token` otherwise (T1 and T2 included), and 401
/// `insufficient_claims` for user tokens when [`TokenIssuer::set_user_claims_challenge`] is on.
pub fn identity_resource_handler(issuer: Arc<TokenIssuer>) -> Handler {
    Arc::new(move |seen: &Seen| issuer.identity_resource(seen))
}
