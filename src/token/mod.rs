//! App tokens (OAuth2 client credentials) for Bearer calls: authority resolution, the signed
//! client assertion, the token cache with single flight, throttling and certificate rotation.

mod assertion;
mod authority;
mod cache;
mod client_credentials;
mod endpoint_answer;

use crate::clock::Deadline;
use crate::config::{AcquireTokenOptions, IdentityOptions};
use crate::credentials::{self, CredentialsProvider, Purpose, Usage};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Transport, require_https};
use authority::Authority;
use cache::{CacheKey, Lookup, TokenCache, Urgency};
use client_credentials::Exchange;
use endpoint_answer::{Issued, Retry};

#[cfg(fuzzing)]
pub(crate) use endpoint_answer::{discovered_token_endpoint, interpret};

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
    cache: TokenCache,
}

impl TokenProvider {
    /// A provider for `identity`. A missing authority or client id is reported when a token is
    /// first needed (or at client creation when a Bearer API is configured).
    pub fn new(identity: &IdentityOptions) -> TokenProvider {
        TokenProvider {
            authority: Authority::from_options(identity),
            client_id: identity
                .client_id
                .clone()
                .filter(|id| !id.trim().is_empty()),
            send_x5c: identity.send_x5c,
            cache: TokenCache::default(),
        }
    }

    /// Checks that tokens can be requested at all: an authority and a client id are configured.
    pub fn validate(&self) -> Result<(&Authority, &str)> {
        let authority = self.authority.as_ref().map_err(Clone::clone)?;
        let client_id = self.client_id.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                "AzureAd.ClientId: missing; a token needs it",
            )
        })?;
        Ok((authority, client_id))
    }

    /// An app token for `scopes`: from the cache when fresh, else from the token endpoint (one
    /// request for all threads asking for the same token at once).
    pub fn acquire(
        &self,
        credentials: &CredentialsProvider,
        transport: &Transport,
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
        let key = CacheKey::new(authority.cache_name(), client_id, tenant, scopes, "Bearer");
        let lookup = if options.force_refresh || options.claims.is_some() {
            Lookup::Bypass
        } else {
            Lookup::UseCache
        };
        // Observer events of the token request are delivered after its flight has ended, so an
        // observer asking this client for the same token gets it instead of waiting on itself.
        let fetched = std::cell::Cell::new(false);
        let token = credentials::deferring_events(|| {
            self.cache.get_or_fetch(&key, lookup, |urgency| {
                fetched.set(true);
                let endpoint = authority.token_endpoint(tenant, |url| {
                    client_credentials::discover(transport, url, deadline)
                })?;
                let exchange = Exchange {
                    endpoint: &endpoint,
                    dialect: authority.dialect(),
                    client_id,
                    scopes,
                    claims: options.claims.as_deref(),
                    correlation_id: options.correlation_id.as_deref(),
                    send_x5c: self.send_x5c,
                    deadline,
                    // A proactive refresh falls back to the valid token rather than sleeping.
                    may_wait: urgency == Urgency::Needed,
                };
                let issued = request(credentials, transport, &exchange)?;
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

/// Runs the exchange with at most one retry for throttling or a server error and at most one for
/// a refused certificate (after reloading it).
fn request(
    credentials: &CredentialsProvider,
    transport: &Transport,
    exchange: &Exchange,
) -> Result<Issued> {
    require_https(
        exchange.endpoint,
        &format!("client credentials to {}", exchange.endpoint),
    )?;
    let usage = Usage {
        protocol: "Bearer",
        api_url: exchange.endpoint,
    };
    let mut selection = credentials.select(Purpose::Token, &usage)?;
    let (mut waited, mut reloaded) = (false, false);
    loop {
        match client_credentials::exchange(transport, exchange, &selection.credential)? {
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
                crate::log::info(|| format!("{error}; retrying in {:.1} s", wait.as_secs_f32()));
                std::thread::sleep(wait);
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
