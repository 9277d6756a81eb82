//! App tokens (OAuth2 client credentials) for Bearer and MTLS_POP calls: authority resolution, the
//! signed client assertion, requests over mTLS for certificate-bound tokens (RFC 8705, Entra's
//! MTLS_POP), the token cache with single flight, throttling and certificate rotation.

mod assertion;
mod authority;
mod cache;
mod client_credentials;
mod distributed;
mod endpoint_answer;
mod managed_identity;

use std::sync::Arc;

use crate::clock::Deadline;
use crate::config::{
    AcquireTokenOptions, DistributedCacheOptions, IdentityOptions, PlatformEnvironment,
    TokenEndpointAuth,
};
use crate::credentials::{
    self, Certificate, Credential, CredentialsProvider, Purpose, Selection, Usage,
};
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Transport, require_https};
use assertion::Dialect;
use authority::Authority;
use cache::{CacheKey, Lookup, TokenCache, Urgency};
use client_credentials::{Authentication, Exchange};
use distributed::DistributedCache;
use endpoint_answer::{Issued, Retry};
use managed_identity::ManagedIdentity;

#[cfg(fuzzing)]
pub(crate) use endpoint_answer::{discovered_token_endpoint, interpret};
#[cfg(fuzzing)]
pub(crate) use managed_identity::fuzz_answer as fuzz_managed_identity_answer;

/// An access token and when it expires (Unix seconds). Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_on: i64,
}

impl AccessToken {
    /// The expiry as an RFC 3339 UTC time, e.g. "2026-12-01T12:00:00Z".
    pub fn expires_on_utc(&self) -> String {
        crate::clock::format_time(self.expires_on)
    }

    /// Seconds until it expires (negative once expired).
    pub fn expires_in(&self) -> i64 {
        self.expires_on - crate::clock::unix_now()
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_on", &self.expires_on)
            .finish_non_exhaustive()
    }
}

pub struct TokenProvider {
    authority: Result<Authority>,
    client_id: Option<String>,
    send_x5c: bool,
    /// `TokenEndpointAuthMethod: tls_client_auth`: every token request over mTLS, authenticated
    /// by the certificate alone.
    tls_client_auth: bool,
    /// `ClientCredentials` entries with `UseBoundCredential`: their token requests go over mTLS.
    bound_entries: Vec<usize>,
    /// The platform's managed identity: for `AcquireTokenOptions.ManagedIdentity` and the
    /// assertions of `SignedAssertionFromManagedIdentity` credentials.
    managed: ManagedIdentity,
    cache: TokenCache,
}

/// A token bound to a certificate, and the `Authorization` scheme it is sent with: `mtls_pop`
/// (Entra's MTLS_POP) or `Bearer` (an RFC 8705 certificate-bound token).
pub struct BoundToken {
    pub token: AccessToken,
    pub scheme: &'static str,
}

/// How one token is requested and where it is kept.
struct Plan {
    key: CacheKey,
    /// The selection to use; `None`: the token credential, selected when the request is made.
    selection: Option<Selection>,
    over_mtls: bool,
    authentication: Authentication,
    /// The `token_type` asked for in the form and required in the answer.
    token_type: Option<&'static str>,
    /// Whether the assertion carries the certificate chain (SendX5C, or a bound credential's
    /// request, which Id.Web always sends with it).
    send_x5c: bool,
}

impl Plan {
    /// A Bearer token requested as before mTLS existed: the credential's assertion or secret.
    fn unbound(key: CacheKey, selection: Option<Selection>, send_x5c: bool) -> Plan {
        Plan {
            key,
            selection,
            over_mtls: false,
            authentication: Authentication::Credential,
            token_type: None,
            send_x5c,
        }
    }

    /// The certificate presented to the token endpoint, and that the token is bound to.
    fn bound_certificate(&self) -> Option<&Arc<Certificate>> {
        self.selection
            .as_ref()
            .and_then(Selection::certificate)
            .filter(|_| self.over_mtls)
    }
}

impl TokenProvider {
    /// A provider for `identity`, with managed identity from `platform`, and the fleet-wide cache
    /// of `TokenCache.Distributed` when there is one (`ca_bundle`: `Http.CaBundlePath`'s PEM, for
    /// `rediss://`). A missing authority or client id is reported when a token is first needed
    /// (or at client creation when a Bearer API is configured); a bad cache key file now.
    pub fn new(
        identity: &IdentityOptions,
        platform: &PlatformEnvironment,
        distributed: Option<&DistributedCacheOptions>,
        ca_bundle: Option<Vec<u8>>,
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
            send_x5c: identity.send_x5c,
            tls_client_auth: identity.token_endpoint_auth == TokenEndpointAuth::TlsClientAuth,
            bound_entries: identity
                .client_credentials
                .iter()
                .filter(|c| c.use_bound_credential && !c.skip)
                .map(|c| c.index)
                .collect(),
            managed: ManagedIdentity::new(platform),
            cache: TokenCache::new(distributed),
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
        if self.tls_client_auth && authority.dialect() == Dialect::Entra {
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

    /// An app token for `scopes`: from the cache when fresh, else from the token endpoint (one
    /// request for all threads asking for the same token at once). With `UseBoundCredential` on
    /// the selected entry, or `tls_client_auth`, it is requested over mTLS and kept apart, bound
    /// to the certificate; a refusal of that certificate reloads it and asks once more.
    pub fn acquire(
        &self,
        credentials: &CredentialsProvider,
        transport: &Transport,
        scopes: &[String],
        options: &AcquireTokenOptions,
        deadline: Deadline,
    ) -> Result<AccessToken> {
        self.acquire_for_call(credentials, transport, scopes, options, deadline)
            .map(|(token, _)| token)
    }

    /// [`TokenProvider::acquire`], with the certificate the token is bound to when it was
    /// requested over mTLS: a call sending it must present that certificate (RFC 8705 §3).
    pub fn acquire_for_call(
        &self,
        credentials: &CredentialsProvider,
        transport: &Transport,
        scopes: &[String],
        options: &AcquireTokenOptions,
        deadline: Deadline,
    ) -> Result<(AccessToken, Option<Arc<Certificate>>)> {
        if let Some(identity) = &options.managed_identity {
            return self
                .managed
                .token(
                    &self.cache,
                    transport,
                    identity,
                    "AcquireTokenOptions.ManagedIdentity",
                    scopes,
                    lookup(options),
                    deadline,
                )
                .map(|token| (token, None));
        }
        let (authority, client_id) = self.validate()?;
        let tenant = authority.tenant(options.tenant.as_deref());
        let key = CacheKey::new(authority.cache_name(), client_id, tenant, scopes, "Bearer");
        if !self.tls_client_auth && self.bound_entries.is_empty() {
            let plan = Plan::unbound(key, None, self.send_x5c);
            return self
                .get(credentials, transport, &plan, scopes, options, deadline)
                .map(|token| (token, None));
        }
        let usage = Usage {
            protocol: "Bearer",
            api_url: authority.cache_name(),
        };
        let mut selection = credentials.select(Purpose::Token, &usage)?;
        let mut reloaded = false;
        loop {
            let bound = self.tls_client_auth || self.bound_entries.contains(&selection.index);
            let plan = match (bound, selection.certificate().cloned()) {
                (false, _) => Plan::unbound(key.clone(), Some(selection.clone()), self.send_x5c),
                (true, Some(certificate)) => Plan {
                    key: key.clone().bound(&certificate.facts.thumbprint_sha256),
                    selection: Some(selection.clone()),
                    over_mtls: true,
                    authentication: if self.tls_client_auth {
                        Authentication::CertificateOnly
                    } else {
                        Authentication::Credential
                    },
                    token_type: None,
                    send_x5c: true,
                },
                (true, None) => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "AzureAd.ClientCredentials[{}]: token requests over mTLS \
                             (UseBoundCredential, TokenEndpointAuthMethod tls_client_auth) need \
                             a certificate, not {}",
                            selection.index,
                            selection.credential.kind_name()
                        ),
                    ));
                }
            };
            match self.get(credentials, transport, &plan, scopes, options, deadline) {
                Ok(token) => return Ok((token, plan.bound_certificate().cloned())),
                Err(error) if error.kind() == ErrorKind::CertificateRejected && !reloaded => {
                    reloaded = true;
                    if let Some(old) = selection.certificate() {
                        self.cache.forget_bound_to(&old.facts.thumbprint_sha256);
                    }
                    selection = credentials
                        .rotate(Purpose::Token, &selection, &usage, error.message())
                        .map_err(|e| e.context(error.message()))?;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// A token bound to the certificate of `selection` (the one the call presents): Entra's
    /// MTLS_POP (`token_type=mtls_pop` over mTLS, no assertion), or for a generic provider an
    /// RFC 8705 certificate-bound token (over mTLS to its `mtls_endpoint_aliases`). A refusal of
    /// the certificate is returned as `CertificateRejected` for the caller to rotate it: the call
    /// and the token must use the same one.
    pub fn acquire_bound(
        &self,
        credentials: &CredentialsProvider,
        transport: &Transport,
        selection: &Selection,
        scopes: &[String],
        options: &AcquireTokenOptions,
        deadline: Deadline,
    ) -> Result<BoundToken> {
        let (authority, client_id) =
            self.validate_bound(options.tenant.as_deref().filter(|t| !t.is_empty()))?;
        let certificate = selection.certificate().ok_or_else(|| {
            Error::new(
                ErrorKind::CredentialUnavailable,
                "MTLS_POP needs a certificate; the selected credential is not one",
            )
        })?;
        let tenant = authority.tenant(options.tenant.as_deref());
        let (token_type, scheme, authentication) = match authority.dialect() {
            Dialect::Entra => (
                Some("mtls_pop"),
                "mtls_pop",
                Authentication::CertificateOnly,
            ),
            Dialect::Generic if self.tls_client_auth => {
                (None, "Bearer", Authentication::CertificateOnly)
            }
            Dialect::Generic => (None, "Bearer", Authentication::Credential),
        };
        let plan = Plan {
            key: CacheKey::new(
                authority.cache_name(),
                client_id,
                tenant,
                scopes,
                token_type.unwrap_or("Bearer"),
            )
            .bound(&certificate.facts.thumbprint_sha256),
            selection: Some(selection.clone()),
            over_mtls: true,
            authentication,
            token_type,
            send_x5c: self.send_x5c,
        };
        let token = self.get(credentials, transport, &plan, scopes, options, deadline)?;
        Ok(BoundToken { token, scheme })
    }

    /// The token of `plan` through the cache.
    fn get(
        &self,
        credentials: &CredentialsProvider,
        transport: &Transport,
        plan: &Plan,
        scopes: &[String],
        options: &AcquireTokenOptions,
        deadline: Deadline,
    ) -> Result<AccessToken> {
        let (authority, client_id) = self.validate()?;
        if scopes.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "no scopes to request a token for",
            ));
        }
        let tenant = authority.tenant(options.tenant.as_deref());
        let certificate = plan.bound_certificate();
        // Observer events of the token request are delivered after its flight has ended, so an
        // observer asking this client for the same token gets it instead of waiting on itself.
        let fetched = std::cell::Cell::new(false);
        let token = credentials::deferring_events(|| {
            self.cache
                .get_or_fetch(&plan.key, lookup(options), deadline, |urgency| {
                    fetched.set(true);
                    let endpoint = authority.token_endpoint(tenant, plan.over_mtls, |url| {
                        client_credentials::discover(transport, url, deadline)
                    })?;
                    let exchange = Exchange {
                        endpoint: &endpoint,
                        dialect: authority.dialect(),
                        client_id,
                        scopes,
                        claims: options.claims.as_deref(),
                        correlation_id: options.correlation_id.as_deref(),
                        send_x5c: plan.send_x5c,
                        deadline,
                        // A proactive refresh falls back to the valid token rather than sleeping.
                        may_wait: urgency == Urgency::Needed,
                        over_mtls: certificate,
                        authentication: plan.authentication,
                        token_type: plan.token_type,
                    };
                    let issued =
                        self.request(credentials, transport, &exchange, plan.selection.as_ref())?;
                    if let Some(wanted) = plan.token_type
                        && !issued.token_type.eq_ignore_ascii_case(wanted)
                    {
                        return Err(Error::new(
                            ErrorKind::TokenAcquisition,
                            format!(
                                "{endpoint} answered token_type {}, not the {} asked for",
                                quote(&issued.token_type),
                                quote(wanted)
                            ),
                        ));
                    }
                    let now = crate::clock::unix_now();
                    Ok((
                        issued.token,
                        cache::refresh_on(now, issued.expires_in, issued.refresh_in),
                    ))
                })
        })?;
        if !fetched.get() {
            crate::log::debug(|| {
                format!(
                    "token for '{}' from the cache (expires in {} s)",
                    scopes.join(" "),
                    token.expires_in()
                )
            });
        }
        Ok(token)
    }
}

/// ForceRefresh and claims skip the cached token.
fn lookup(options: &AcquireTokenOptions) -> Lookup {
    if options.force_refresh || options.claims.is_some() {
        Lookup::Bypass
    } else {
        Lookup::UseCache
    }
}

impl TokenProvider {
    /// Runs the exchange with at most one retry for throttling or a server error and at most one for
    /// a refused certificate (after reloading it). With a `preselected` credential (a request bound
    /// to it) a refused certificate is returned as `CertificateRejected` instead: the caller reloads
    /// it and starts again under the new certificate's cache key.
    fn request(
        &self,
        credentials: &CredentialsProvider,
        transport: &Transport,
        exchange: &Exchange,
        preselected: Option<&Selection>,
    ) -> Result<Issued> {
        require_https(
            exchange.endpoint,
            &format!("client credentials to {}", exchange.endpoint),
        )?;
        let usage = Usage {
            protocol: "Bearer",
            api_url: exchange.endpoint,
        };
        let mut selection = match preselected {
            Some(selection) => selection.clone(),
            None => credentials.select(Purpose::Token, &usage)?,
        };
        let (mut waited, mut reloaded) = (false, false);
        loop {
            // A federated credential's assertion is the managed identity's token for its audience,
            // cached and refreshed like any token.
            let federated = match &selection.credential {
                Credential::ManagedIdentityAssertion(federated) => Some(self.managed.token(
                    &self.cache,
                    transport,
                    &federated.identity,
                    &format!(
                        "AzureAd.ClientCredentials[{}].ManagedIdentityClientId",
                        selection.index
                    ),
                    std::slice::from_ref(&federated.audience),
                    Lookup::UseCache,
                    exchange.deadline,
                )?),
                _ => None,
            };
            let assertion = federated.as_ref().map(|token| token.token.as_str());
            match client_credentials::exchange(
                transport,
                exchange,
                &selection.credential,
                assertion,
            )? {
                Ok(issued) => {
                    credentials.used(&selection, &usage);
                    crate::log::debug(|| {
                        format!(
                            "token for '{}' from {} (expires in {} s)",
                            exchange.scopes.join(" "),
                            exchange.endpoint,
                            issued.expires_in
                        )
                    });
                    return Ok(issued);
                }
                Err((error, Retry::After(wait))) if !waited && exchange.may_wait => {
                    if !exchange.deadline.allows(wait) {
                        return Err(error.context(format!(
                            "not retrying after {} s: that would exceed the call's timeout",
                            wait.as_secs_f32()
                        )));
                    }
                    waited = true;
                    crate::log::info(|| {
                        format!("{error}; retrying in {:.1} s", wait.as_secs_f32())
                    });
                    std::thread::sleep(wait);
                }
                Err((error, Retry::ReloadCertificate)) if preselected.is_some() => {
                    return Err(Error::new(ErrorKind::CertificateRejected, error.message()));
                }
                Err((error, Retry::ReloadCertificate)) if !reloaded => {
                    reloaded = true;
                    selection = credentials
                        .rotate(Purpose::Token, &selection, &usage, error.message())
                        .map_err(|e| e.context(error.message()))?;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }
}
