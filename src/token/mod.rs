//! App tokens (OAuth2 client credentials) for Bearer and MTLS_POP calls. This file is the facade:
//! [`TokenProvider`] decides which token a call needs and where it is kept; its parts sit below it
//! and use only the parts below themselves (`tests/architecture.rs` checks this order):
//!
//! ```text
//! user                 tokens on behalf of a user (on-behalf-of), long-running sessions
//! agent                an agent identity's legs (T1, the agent's token, T2, its user's token)
//! fetch                one token request under the retry driver (busy endpoint, refused certificate)
//! plan                 how one token is requested and kept: grant, client, mTLS, cache key
//! managed_identity     tokens from the platform's managed identity, and federated assertions
//! cache                the in-process cache: early expiry, proactive refresh, single flight
//! distributed          the fleet-wide cache on Redis behind the in-process one; fleet turns
//! client_credentials   one form post to the token endpoint; OpenID discovery
//! authority            which token endpoint: Entra ID or a generic OpenID provider
//! endpoint_answer      what a token endpoint's answer means, and the remedy its refusal calls for
//! assertion            the signed client assertion (JWT)
//! call                 one token request's context: credentials, transport, scopes, options, deadline
//! sessions             long-running sessions' refresh tokens
//! key                  what identifies a cached token, and whether the fleet may share it
//! claims               a claim of a JWT, read to check whom a shared token is for
//! access_token         the token, its expiry and its refresh schedule
//! ```

mod access_token;
mod agent;
mod assertion;
mod authority;
mod cache;
mod call;
mod claims;
mod client_credentials;
mod distributed;
mod endpoint_answer;
mod fetch;
mod key;
mod managed_identity;
mod plan;
mod sessions;
mod user;

use std::sync::Arc;

use crate::config::{
    self, AcquireTokenOptions, DistributedCacheOptions, IdentityOptions, PlatformEnvironment,
    TokenEndpointAuth,
};
use crate::credentials::{self, Certificate, Purpose, Selection, Usage};
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};
use crate::remedy::Remedy;
use crate::retry::{Driver, Step};
pub use access_token::AccessToken;
pub use assertion::Dialect;
pub use authority::Authority;
use cache::TokenCache;
pub use call::TokenCall;
use distributed::DistributedCache;
pub use distributed::FleetTurns;
use fetch::Fetcher;
pub use key::CacheKey;
use managed_identity::{ConfiguredIdentity, ManagedIdentity};
use plan::{Plan, Planner};
use sessions::Sessions;

#[cfg(fuzzing)]
pub(crate) use endpoint_answer::{discovered_token_endpoint, interpret};
#[cfg(fuzzing)]
pub(crate) use managed_identity::fuzz_answer as fuzz_managed_identity_answer;

pub struct TokenProvider {
    authority: Result<Authority>,
    client_id: Option<String>,
    planner: Planner,
    /// The platform's managed identity: for `AcquireTokenOptions.ManagedIdentity` and the
    /// assertions of `SignedAssertionFromManagedIdentity` credentials.
    managed: ManagedIdentity,
    cache: TokenCache,
    sessions: Sessions,
}

/// A token bound to a certificate, and the `Authorization` scheme it is sent with: `mtls_pop`
/// (Entra's MTLS_POP) or `Bearer` (an RFC 8705 certificate-bound token).
pub struct BoundToken {
    pub token: AccessToken,
    pub scheme: &'static str,
}

impl TokenProvider {
    /// A provider for `identity`, with managed identity from `platform`, and the fleet-wide cache
    /// of `TokenCache.Distributed` when there is one (`ca_bundle`: `Http.CaBundlePath`'s PEM, for
    /// `rediss://`). A missing authority or client id is reported when a token is first needed
    /// (or at client creation when a Bearer API is configured); a bad cache key file now.
    pub fn new(
        identity: &IdentityOptions,
        platform: &PlatformEnvironment,
        (distributed, ca_bundle): (Option<&DistributedCacheOptions>, Option<Vec<u8>>),
        max_user_tokens: usize,
    ) -> Result<TokenProvider> {
        let distributed = distributed
            .map(|options| DistributedCache::new(options, ca_bundle))
            .transpose()?;
        Ok(TokenProvider {
            authority: Authority::from_options(identity),
            client_id: identity
                .client_id
                .clone()
                .filter(|id| !id.trim().is_empty()),
            planner: Planner {
                send_x5c: identity.send_x5c,
                tls_client_auth: identity.token_endpoint_auth == TokenEndpointAuth::TlsClientAuth,
                bound_entries: identity
                    .client_credentials
                    .iter()
                    .filter(|c| c.use_bound_credential && !c.skip)
                    .map(|c| c.index)
                    .collect(),
            },
            managed: ManagedIdentity::new(platform),
            sessions: Sessions::default(),
            cache: TokenCache::new(distributed, max_user_tokens),
        })
    }

    /// Whether the fleet-wide cache is being skipped after a Redis failure.
    pub fn is_skipping_redis(&self) -> bool {
        self.cache.is_skipping_redis()
    }

    /// Checks that tokens can be requested at all: an authority and a client id are configured,
    /// and `tls_client_auth` only with a generic provider (Entra ID takes an assertion).
    pub fn validate(&self) -> Result<(&Authority, &str)> {
        let authority = self.authority.as_ref().map_err(Clone::clone)?;
        let client_id = self.client_id.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                "AzureAd.ClientId: missing; a token needs it",
            )
        })?;
        if self.planner.tls_client_auth && authority.dialect() == Dialect::Entra {
            return Err(Error::new(
                ErrorKind::Config,
                "AzureAd.TokenEndpointAuthMethod: tls_client_auth is for generic OpenID providers \
                 (RFC 8705); Entra ID authenticates with a client assertion, or for MTLS_POP \
                 with the certificate itself",
            ));
        }
        Ok((authority, client_id))
    }

    /// Checks what certificate-bound tokens need beyond [`TokenProvider::validate`]: one tenant,
    /// the configured one or `requested` for one call.
    pub fn validate_bound(&self, requested: Option<&str>) -> Result<(&Authority, &str)> {
        let (authority, client_id) = self.validate()?;
        if !authority.is_tenanted(requested) {
            let field = match requested {
                Some(_) => "AcquireTokenOptions.Tenant",
                None => "AzureAd.TenantId (or the tenant of AzureAd.Authority)",
            };
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{field}: {} is not one tenant; MTLS_POP tokens need the app's own tenant",
                    quote(authority.tenant(requested))
                ),
            ));
        }
        Ok((authority, client_id))
    }

    /// Checks, without a request, that this host's managed identity source can serve `identity`
    /// (for readiness checks).
    pub fn check_managed_identity(
        &self,
        identity: &crate::config::ManagedIdentityId,
    ) -> Result<()> {
        self.managed
            .check(identity, "AcquireTokenOptions.ManagedIdentity")
    }

    /// Drops the tokens bound to a certificate that a rotation replaced.
    pub fn forget_bound_to(&self, thumbprint_sha256: &str) {
        self.cache.forget_bound_to(thumbprint_sha256);
    }

    /// After an API answered 401 to `refused`, a managed identity's token: drops it from the
    /// caches, so that the next call gets a new one (a platform's stated expiry is not always
    /// right). App tokens are kept: Entra's expiry is exact, and a 401 is most often the API's
    /// own verdict on the app.
    pub fn forget_refused(&self, call: &TokenCall, refused: &str) {
        if let Some(id) = &call.options.managed_identity {
            self.managed.forget_refused(&self.cache, call, id, refused);
        }
    }

    /// The cache key of the call's app token when it does not depend on the credential selected
    /// at call time, nor bypasses the cache (no managed identity, no bound credential, no
    /// ForceRefresh or claims): a configured API prepares it once and looks its token up with
    /// [`TokenProvider::cached_with`].
    pub fn app_key(&self, call: &TokenCall) -> Option<CacheKey> {
        let options = call.options;
        let fixed = options.managed_identity.is_none()
            && options.agent.is_none()
            && options.user_assertion.is_none()
            && options.long_running_session_key.is_none()
            && !self.planner.needs_selection()
            && call.lookup() == key::Lookup::UseCache;
        let (authority, client_id) = self.validate().ok().filter(|_| fixed)?;
        Some(bearer_key(authority, client_id, call))
    }

    /// `with(token)` when the token of `key` (from [`TokenProvider::app_key`]) is cached and
    /// fresh; `None` sends the caller down the full path (a miss, a refresh due).
    pub fn cached_with<R>(
        &self,
        key: &CacheKey,
        with: impl FnOnce(&AccessToken) -> R,
    ) -> Option<R> {
        let found = self.cache.fresh_with(key, with);
        if found.is_some() {
            crate::log::debug(|| "token from the cache (a prepared key)".to_string());
        }
        found
    }

    /// An app token for the call's scopes: from the cache when fresh, else from the token
    /// endpoint (one request for all threads asking for the same token at once). With
    /// `UseBoundCredential` on the selected entry, or `tls_client_auth`, it is requested over mTLS
    /// and kept apart, bound to the certificate; a refusal of that certificate reloads it and asks
    /// once more.
    pub fn acquire(&self, call: &TokenCall) -> Result<AccessToken> {
        self.acquire_for_call(call).map(|(token, _)| token)
    }

    /// [`TokenProvider::acquire`], with the certificate the token is bound to when it was
    /// requested over mTLS: a call sending it must present that certificate (RFC 8705 §3).
    pub fn acquire_for_call(
        &self,
        call: &TokenCall,
    ) -> Result<(AccessToken, Option<Arc<Certificate>>)> {
        call.check_one_identity()?;
        if let Some(id) = &call.options.managed_identity {
            let identity = ConfiguredIdentity {
                id,
                field: "AcquireTokenOptions.ManagedIdentity",
            };
            let token = self.managed.token(&self.cache, call, &identity)?;
            return Ok((token, None));
        }
        if let Some(agent) = &call.options.agent {
            return Ok((self.acquire_for_agent(call, agent)?, None));
        }
        if call.options.user_assertion.is_some() || call.options.long_running_session_key.is_some()
        {
            return Ok((self.acquire_for_user(call)?, None));
        }
        let (authority, client_id) = self.validate()?;
        let key = bearer_key(authority, client_id, call);
        if !self.planner.needs_selection() {
            let token = self.get(call, &self.planner.unbound(key, None))?;
            return Ok((token, None));
        }
        let usage = Usage {
            protocol: "Bearer",
            api_url: authority.cache_name(),
        };
        let mut selection = call.credentials.select(Purpose::Token, &usage)?;
        Driver::new(call.deadline).run(|granted| {
            if let Some(granted) = granted {
                if let Some(old) = selection.certificate() {
                    self.cache.forget_bound_to(&old.facts.thumbprint_sha256);
                }
                selection = call
                    .credentials
                    .rotate(Purpose::Token, &selection, &usage, &granted.reason)
                    .map_err(|e| e.context(&granted.reason))?;
            }
            let plan = self.planner.app_token(key.clone(), &selection)?;
            match self.get(call, &plan) {
                Ok(token) => Ok(Step::Done((token, plan.bound_certificate().cloned()))),
                Err(error) if error.kind() == ErrorKind::CertificateRejected => {
                    let reason = error.message().to_string();
                    Ok(Step::retry(Remedy::RebindCertificate, reason, Err(error)))
                }
                Err(error) => Err(error),
            }
        })
    }

    /// A token on behalf of the user whose token the call carries (on-behalf-of), kept under a
    /// hash of it; with a long-running session, its refresh token renews it later without the
    /// user's token.
    fn acquire_for_user(&self, call: &TokenCall) -> Result<AccessToken> {
        let (authority, client_id) = self.validate_for("a token for a user (on-behalf-of)")?;
        let key = bearer_key(authority, client_id, call);
        let assertion = call.options.user_assertion.as_deref();
        let requested = call.options.long_running_session_key.as_deref();
        let session = requested.and_then(|key| user::session_key(key, assertion));
        match (assertion, session) {
            (Some(assertion), None) => {
                let plan = user::on_behalf_of(key, assertion, None, self.planner.send_x5c);
                self.get(call, &plan)
            }
            // A session starts with the user's token: always a new request, as MSAL.NET's does.
            (Some(assertion), Some(session)) => {
                let fresh = AcquireTokenOptions {
                    force_refresh: true,
                    ..call.options.clone()
                };
                let plan = user::on_behalf_of(key, assertion, Some(session), self.planner.send_x5c);
                self.get(&call.with(call.scopes, &fresh), &plan)
            }
            (None, Some(session)) => self.renew_session(call, key, session),
            (None, None) => Err(Error::new(
                ErrorKind::Config,
                "AcquireTokenOptions.UserAssertion: a token for a user needs the user's token \
                 (or LongRunningWebApiSessionKey of a session it started)",
            )),
        }
    }

    /// A long-running session's token: cached, else renewed with the session's refresh token.
    fn renew_session(
        &self,
        call: &TokenCall,
        key: CacheKey,
        session: String,
    ) -> Result<AccessToken> {
        let cached_key = user::session_key_of(key.clone(), &session);
        if call.lookup() == key::Lookup::UseCache
            && let Some(token) = self.cache.fresh_with(&cached_key, AccessToken::clone)
        {
            return Ok(token);
        }
        let Some(refresh_token) = self.sessions.refresh_token(&session) else {
            return Err(Error::new(
                ErrorKind::UserInteractionRequired,
                "AcquireTokenOptions.LongRunningWebApiSessionKey: no such session here (it is \
                 started by a call that brings the user's token)",
            ));
        };
        let plan = user::renewal(key, session.clone(), refresh_token, self.planner.send_x5c);
        self.get(call, &plan).inspect_err(|error| {
            if error.kind() == ErrorKind::UserInteractionRequired {
                self.sessions.forget(&session);
            }
        })
    }

    /// An agent identity's token (the configured app its blueprint), or its user's: T1, then the
    /// agent's token, or T2 and the user's; each leg cached, each failure naming its leg.
    fn acquire_for_agent(&self, call: &TokenCall, agent: &config::Agent) -> Result<AccessToken> {
        let (authority, client_id) = self.validate_for("an agent identity's token")?;
        let legs = agent::Legs {
            authority: authority.cache_name(),
            tenant: authority.tenant(call.options.tenant.as_deref()),
            blueprint: client_id,
            agent: &agent.app_id,
            send_x5c: self.planner.send_x5c,
        };
        let leg = |n: &str| format!("agent {}: {n}", quote(&agent.app_id));
        let exchange = [agent::TOKEN_EXCHANGE_SCOPE.to_string()];
        let plain = AcquireTokenOptions {
            tenant: call.options.tenant.clone(),
            ..AcquireTokenOptions::default()
        };
        let for_exchange = call.with(&exchange, &plain);
        let t1 = (self.get(&for_exchange, &legs.t1()))
            .map_err(|e| e.context(leg("leg 1, the blueprint's token for the agent (T1)")))?;
        let Some(user) = &agent.user else {
            return self
                .get(call, &legs.agent_token(call.scopes, &t1.token))
                .map_err(|e| e.context(leg("leg 2, the agent's token")));
        };
        let t2 = (self.get(&for_exchange, &legs.agent_token(&exchange, &t1.token)))
            .map_err(|e| e.context(leg("leg 2, the agent's token for its user (T2)")))?;
        let plan = legs.user_token(call.scopes, (&t1.token, &t2.token), user);
        self.get(call, &plan)
            .map_err(|e| e.context(leg("leg 3, the agent user's token")))
    }

    /// [`TokenProvider::validate`] for Entra ID's own grants (on-behalf-of, agent identities).
    fn validate_for(&self, what: &str) -> Result<(&Authority, &str)> {
        let (authority, client_id) = self.validate()?;
        if authority.dialect() != Dialect::Entra {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "AzureAd.Authority: {what} is Entra ID's; {} is a generic OpenID provider",
                    authority.cache_name()
                ),
            ));
        }
        Ok((authority, client_id))
    }

    /// A token bound to the certificate of `selection` (the one the call presents): Entra's
    /// MTLS_POP (`token_type=mtls_pop` over mTLS, no assertion), or for a generic provider an
    /// RFC 8705 certificate-bound token (over mTLS to its `mtls_endpoint_aliases`). A refusal of
    /// the certificate is returned as `CertificateRejected` for the caller to rotate it: the call
    /// and the token must use the same one.
    pub fn acquire_bound(&self, call: &TokenCall, selection: &Selection) -> Result<BoundToken> {
        let tenant = call.options.tenant.as_deref().filter(|t| !t.is_empty());
        let (authority, client_id) = self.validate_bound(tenant)?;
        if selection.certificate().is_none() {
            return Err(Error::new(
                ErrorKind::CredentialUnavailable,
                "MTLS_POP needs a certificate; the selected credential is not one",
            ));
        }
        let tenant = authority.tenant(call.options.tenant.as_deref());
        let form = self.planner.bound_form(authority.dialect());
        let token_type = form.token_type.unwrap_or("Bearer");
        let key = CacheKey::new(
            authority.cache_name(),
            client_id,
            tenant,
            call.scopes,
            token_type,
        );
        let plan = self.planner.bound(key, selection, &form);
        let token = self.get(call, &plan)?;
        Ok(BoundToken {
            token,
            scheme: form.scheme,
        })
    }

    /// The token of `plan` through the cache.
    fn get(&self, call: &TokenCall, plan: &Plan) -> Result<AccessToken> {
        let (authority, client_id) = self.validate()?;
        if call.scopes.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "no scopes to request a token for",
            ));
        }
        let fetcher = Fetcher {
            authority,
            client_id,
            managed: &self.managed,
            cache: &self.cache,
            sessions: &self.sessions,
        };
        // Observer events of the token request are delivered after its flight has ended, so an
        // observer asking this client for the same token gets it instead of waiting on itself.
        let fetched = std::cell::Cell::new(false);
        let token = credentials::deferring_events(|| {
            self.cache
                .get_or_fetch(&plan.key, call.lookup(), call.deadline, |urgency| {
                    fetched.set(true);
                    fetcher.fetch(call, plan, urgency)
                })
        })?;
        if !fetched.get() {
            crate::log::debug(|| {
                format!(
                    "token for '{}' from the cache (expires in {} s)",
                    call.scopes.join(" "),
                    token.expires_in()
                )
            });
        }
        Ok(token)
    }
}

/// The key of the Bearer token `client_id` asks `authority` for, for the call's tenant and scopes.
fn bearer_key(authority: &Authority, client_id: &str, call: &TokenCall) -> CacheKey {
    let tenant = authority.tenant(call.options.tenant.as_deref());
    CacheKey::new(
        authority.cache_name(),
        client_id,
        tenant,
        call.scopes,
        "Bearer",
    )
}
