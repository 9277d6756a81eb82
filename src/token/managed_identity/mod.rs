//! Tokens from the platform's managed identity: the source chosen from the environment
//! ([`source`]), the request retried as MSAL retries it, Azure Arc's key-file challenge
//! ([`arc_challenge`]), the answer read ([`answer`]), and the token kept in the client's cache
//! with the same single flight as app tokens.
//!
//! These requests are the only ones sent over plain http, and only to the endpoint the platform
//! names (IMDS's link-local address or the environment's endpoint), on an agent that presents no
//! client certificate and takes no proxy.

mod answer;
mod arc_challenge;
mod source;

use std::time::Duration;

use once_cell::sync::OnceCell;

use super::AccessToken;
use super::cache::{self, CacheKey, Lookup, TokenCache, Urgency};
use crate::clock::Deadline;
use crate::config::{ManagedIdentityId, PlatformEnvironment};
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{ClientAgent, Request, Response, Transport};
use source::Source;

/// Statuses after which MSAL retries a managed-identity request: not found yet (IMDS while a VM
/// starts), timeouts, gone (IMDS upgrading), throttling and server errors.
fn is_retried(status: u16) -> bool {
    matches!(status, 404 | 408 | 410 | 429 | 500..=599)
}

/// At most this many retries, after 1, 2 and 4 s (MSAL's exponential strategy), or after the
/// endpoint's `Retry-After` when it asks for at most [`MAX_RETRY_AFTER`]; never past the call's
/// deadline.
const MAX_RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

pub struct ManagedIdentity {
    source: Result<Source>,
    /// Service Fabric's agent, pinned to its certificate, made on first use.
    pinned: OnceCell<ClientAgent>,
}

impl ManagedIdentity {
    pub fn new(platform: &PlatformEnvironment) -> ManagedIdentity {
        ManagedIdentity {
            source: Source::detect(platform),
            pinned: OnceCell::new(),
        }
    }

    /// Checks, without a request, that a source was found and can serve `identity`.
    pub fn check(&self, identity: &ManagedIdentityId, field: &str) -> Result<()> {
        let source = self.source.as_ref().map_err(Clone::clone)?;
        source.request(identity, field, "api://check").map(drop)
    }

    /// A token for `scopes` (one resource) from `identity`, through `cache`. `field` names where
    /// the identity was configured, for errors.
    #[expect(
        clippy::too_many_arguments,
        reason = "one token request's inputs, each distinct"
    )]
    pub fn token(
        &self,
        cache: &TokenCache,
        transport: &Transport,
        identity: &ManagedIdentityId,
        field: &str,
        scopes: &[String],
        lookup: Lookup,
        deadline: Deadline,
    ) -> Result<AccessToken> {
        let source = self.source.as_ref().map_err(Clone::clone)?;
        let resource = resource_of(scopes)?;
        let key = CacheKey::new(
            &format!("managed-identity/{}", source.name()),
            &identity.cache_name(),
            "",
            std::slice::from_ref(&resource),
            "Bearer",
        );
        let token = cache.get_or_fetch(&key, lookup, deadline, |urgency| {
            // A proactive refresh falls back to the valid token rather than sleeping.
            let may_wait = urgency == Urgency::Needed;
            let issued = self
                .fetch(
                    source, transport, identity, field, &resource, deadline, may_wait,
                )
                .map_err(|e| {
                    e.context(format!(
                        "managed identity {} from {}",
                        identity.describe(),
                        source.describe()
                    ))
                })?;
            crate::log::debug(|| {
                format!(
                    "managed identity token for {} from {} (expires in {} s)",
                    quote(&resource),
                    source.describe(),
                    issued.expires_in
                )
            });
            let now = crate::clock::unix_now();
            Ok((
                issued.token,
                cache::refresh_on(now, issued.expires_in, issued.refresh_in),
            ))
        })?;
        Ok(token)
    }

    /// One token request with its retries (when it `may_wait`) and, for Azure Arc, the answered
    /// challenge.
    #[expect(
        clippy::too_many_arguments,
        reason = "one token request's inputs, each distinct"
    )]
    fn fetch(
        &self,
        source: &Source,
        transport: &Transport,
        identity: &ManagedIdentityId,
        field: &str,
        resource: &str,
        deadline: Deadline,
        may_wait: bool,
    ) -> Result<answer::PlatformToken> {
        let mut request = source.request(identity, field, resource)?;
        let agent = match source {
            Source::ServiceFabric { thumbprint, .. } => self
                .pinned
                .get_or_init(|| transport.pinned_agent(thumbprint))
                .clone(),
            _ => transport.platform_agent(),
        };
        let mut retries = 0;
        let mut challenged = false;
        loop {
            let response = self.send(source, transport, &agent, &request, deadline)?;
            if (200..300).contains(&response.status) {
                return answer::parse_token(&response, &source.describe());
            }
            let failure = || {
                Error::new(
                    ErrorKind::TokenAcquisition,
                    format!("answered {}", answer::describe_error(&response)),
                )
            };
            if response.status == 401
                && !challenged
                && let Source::Arc { key_directory, .. } = source
            {
                challenged = true;
                let authorization = arc_challenge::answer(&response, key_directory.as_deref())?;
                request
                    .headers
                    .push(("Authorization".to_string(), authorization));
                continue;
            }
            if !is_retried(response.status) || retries == MAX_RETRIES || !may_wait {
                return Err(failure());
            }
            let wait = retry_after(&response).unwrap_or(FIRST_BACKOFF * 2u32.pow(retries));
            if !deadline.allows(wait) {
                return Err(failure().context(format!(
                    "not retrying after {:.1} s: that would exceed the call's timeout",
                    wait.as_secs_f32()
                )));
            }
            retries += 1;
            crate::log::info(|| {
                format!(
                    "managed identity endpoint {}; retry {retries} of {MAX_RETRIES} in {:.1} s",
                    failure(),
                    wait.as_secs_f32()
                )
            });
            std::thread::sleep(wait);
        }
    }

    /// Sends one request; IMDS not answering at all means this host has no managed identity.
    fn send(
        &self,
        source: &Source,
        transport: &Transport,
        agent: &ClientAgent,
        request: &source::PlatformRequest,
        deadline: Deadline,
    ) -> Result<Response> {
        let outcome = transport.send(
            agent,
            &Request {
                method: request.method,
                url: &request.url,
                headers: &request.headers,
                body: &request.body,
            },
            deadline,
        );
        match outcome {
            Err(error)
                if matches!(source, Source::Imds { .. })
                    && matches!(error.kind(), ErrorKind::Network | ErrorKind::Timeout) =>
            {
                Err(Error::new(
                    ErrorKind::CredentialUnavailable,
                    format!(
                        "no managed identity on this host: no platform's variables are set \
                         (IDENTITY_ENDPOINT, MSI_ENDPOINT) and IMDS did not answer ({error})"
                    ),
                ))
            }
            outcome => outcome,
        }
    }
}

/// The parsers of a managed-identity answer, for `cargo fuzz`: the token, the error, and Arc's
/// challenge (its folder does not exist, so no file is read).
#[cfg(fuzzing)]
pub(crate) fn fuzz_answer(response: &Response) {
    let _ = answer::parse_token(response, "fuzzing");
    let _ = answer::describe_error(response);
    let _ = arc_challenge::answer(response, Some(std::path::Path::new("/nonexistent-dsapi")));
}

/// A `Retry-After` in seconds that is worth waiting for.
fn retry_after(response: &Response) -> Option<Duration> {
    let seconds: u64 = response.header("retry-after")?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds)).filter(|wait| *wait <= MAX_RETRY_AFTER)
}

/// Managed identities issue tokens for one resource: `X/.default` asks for `X`.
fn resource_of(scopes: &[String]) -> Result<String> {
    match scopes {
        [scope] if !scope.trim().is_empty() => {
            let scope = scope.trim();
            Ok(scope.strip_suffix("/.default").unwrap_or(scope).to_string())
        }
        _ => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "a managed identity token is for one resource (one scope such as \
                 'https://vault.azure.net/.default'), not {} scopes",
                scopes.len()
            ),
        )),
    }
}
