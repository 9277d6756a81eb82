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

use super::access_token::{AccessToken, refresh_on};
use super::cache::{TokenCache, Urgency};
use super::call::TokenCall;
use super::claims;
use super::key::{CacheKey, Sharing};
use crate::config::{ManagedIdentityId, PlatformEnvironment};
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};
use crate::remedy::Remedy;
use crate::retry::{Driver, Retry, Step};
use crate::transport::{ClientAgent, Request, Response};
use source::Source;

/// Statuses after which MSAL retries a managed-identity request: not found yet (IMDS while a VM
/// starts), timeouts, gone (IMDS upgrading), throttling and server errors.
fn is_retried(status: u16) -> bool {
    matches!(status, 404 | 408 | 410 | 429 | 500..=599)
}

/// The endpoint's `Retry-After` is waited for when it asks for at most this (and the call has that
/// much time left); asking for more ends the retries at once, the error naming the wait. Without
/// one, [`Remedy::ManagedIdentityBackoff`]'s 1, 2 and 4 s (MSAL's exponential strategy).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

pub struct ManagedIdentity {
    source: Result<Source>,
    /// Service Fabric's agent, pinned to its certificate, made on first use.
    pinned: OnceCell<ClientAgent>,
    /// The system-assigned identity's object id (`oid`), from its first token.
    system_object_id: OnceCell<String>,
}

/// A managed identity as configured, and where (`field`, for errors).
pub struct ConfiguredIdentity<'a> {
    pub id: &'a ManagedIdentityId,
    pub field: &'a str,
}

impl ManagedIdentity {
    pub fn new(platform: &PlatformEnvironment) -> ManagedIdentity {
        ManagedIdentity {
            source: Source::detect(platform),
            pinned: OnceCell::new(),
            system_object_id: OnceCell::new(),
        }
    }

    /// Checks, without a request, that a source was found and can serve `identity`.
    pub fn check(&self, identity: &ManagedIdentityId, field: &str) -> Result<()> {
        let source = self.source.as_ref().map_err(Clone::clone)?;
        source.request(identity, field, "api://check").map(drop)
    }

    /// A token for the call's scopes (one resource) from `identity`, through `cache`.
    pub fn token(
        &self,
        cache: &TokenCache,
        call: &TokenCall,
        identity: &ConfiguredIdentity,
    ) -> Result<AccessToken> {
        let source = self.source.as_ref().map_err(Clone::clone)?;
        let resource = resource_of(call.scopes)?;
        let key = self.key(source, identity.id, &resource);
        cache.get_or_fetch(&key, call.lookup(), call.deadline, |urgency| {
            self.issue(source, call, (identity, &resource), urgency)
        })
    }

    /// Drops `refused` (a token of `identity` for the call's scopes that an API answered 401 to)
    /// from `cache`: its stated expiry is not to be believed any longer.
    pub fn forget_refused(
        &self,
        cache: &TokenCache,
        call: &TokenCall,
        identity: &ManagedIdentityId,
        refused: &str,
    ) {
        if let (Ok(source), Ok(resource)) = (self.source.as_ref(), resource_of(call.scopes)) {
            cache.forget_refused(&self.key(source, identity, &resource), refused);
        }
    }

    /// Where `identity`'s token for `resource` is cached, and how the fleet may share it.
    fn key(&self, source: &Source, identity: &ManagedIdentityId, resource: &str) -> CacheKey {
        CacheKey::new(
            &format!("managed-identity/{}", source.name()),
            &identity.cache_name(),
            "",
            &[resource.to_string()],
            "Bearer",
        )
        .with_sharing(self.sharing(identity))
    }

    /// How the fleet-wide cache may share this identity's tokens: under a name the token's own
    /// claims carry, checked on every token another process stored. A system-assigned identity
    /// has no configured name (every host asks the same address): its object id is learnt from
    /// the first token this process gets, and until then its tokens are not shared.
    fn sharing(&self, identity: &ManagedIdentityId) -> Sharing {
        let owner = |claims, value: &str| Sharing::Owner {
            claims,
            value: value.to_string(),
        };
        match identity {
            ManagedIdentityId::SystemAssigned => match self.system_object_id.get() {
                Some(oid) => owner(&["oid"], oid),
                None => Sharing::No,
            },
            ManagedIdentityId::ObjectId(id) => owner(&["oid"], id),
            ManagedIdentityId::ResourceId(id) => owner(&["xms_mirid"], id),
            ManagedIdentityId::ClientId(id) => owner(&["appid", "azp"], id),
        }
    }

    /// A token from the platform's endpoint, and when to refresh it; a system-assigned
    /// identity's object id is learnt from it.
    fn issue(
        &self,
        source: &Source,
        call: &TokenCall,
        (identity, resource): (&ConfiguredIdentity, &str),
        urgency: Urgency,
    ) -> Result<(AccessToken, Option<i64>)> {
        // A proactive refresh falls back to the valid token rather than sleeping.
        let driver = match urgency {
            Urgency::Needed => Driver::new(call.deadline),
            Urgency::Proactive => Driver::new(call.deadline).without_waits(),
        };
        let issued = source
            .request(identity.id, identity.field, resource)
            .and_then(|request| self.fetch(source, call, request, driver))
            .map_err(|e| {
                e.context(format!(
                    "managed identity {} from {}",
                    identity.id.describe(),
                    source.describe()
                ))
            })?;
        crate::log::debug(|| {
            format!(
                "managed identity token for {} from {} (expires in {} s)",
                quote(resource),
                source.describe(),
                issued.expires_in
            )
        });
        if *identity.id == ManagedIdentityId::SystemAssigned
            && let Some(oid) = claims::claim(&issued.token.token, "oid")
        {
            let _ = self.system_object_id.set(oid);
        }
        let now = crate::clock::unix_now();
        Ok((
            issued.token,
            refresh_on(now, issued.expires_in, issued.refresh_in),
        ))
    }

    /// One token request under the driver: retried as MSAL retries it, and for Azure Arc resent
    /// once with the answer to its challenge.
    fn fetch(
        &self,
        source: &Source,
        call: &TokenCall,
        mut request: source::PlatformRequest,
        driver: Driver,
    ) -> Result<answer::PlatformToken> {
        let agent = match source {
            Source::ServiceFabric { thumbprint, .. } => self
                .pinned
                .get_or_init(|| call.transport.pinned_agent(thumbprint))
                .clone(),
            _ => call.transport.platform_agent(),
        };
        // Azure Arc's 401, answered when the driver grants the resend.
        let mut challenge: Option<Response> = None;
        driver.run(|granted| {
            if let Some(challenge) = challenge.take()
                && granted.is_some_and(|g| g.remedy == Remedy::ArcChallenge)
                && let Source::Arc { key_directory, .. } = source
            {
                let authorization = arc_challenge::answer(&challenge, key_directory.as_deref())?;
                request
                    .headers
                    .push(("Authorization".to_string(), authorization));
            }
            let response = self.send(source, call, &agent, &request)?;
            if (200..300).contains(&response.status) {
                return answer::parse_token(&response, &source.describe()).map(Step::Done);
            }
            let asked_wait = retry_after(&response);
            let failure = failure(&response, asked_wait);
            if response.status == 401 && matches!(source, Source::Arc { .. }) {
                challenge = Some(response);
                let reason = "Azure Arc answered 401 with its key-file challenge".to_string();
                return Ok(Step::retry(Remedy::ArcChallenge, reason, Err(failure)));
            }
            backoff(response.status, asked_wait, failure)
        })
    }

    /// Sends one request; IMDS not answering at all means this host has no managed identity.
    fn send(
        &self,
        source: &Source,
        call: &TokenCall,
        agent: &ClientAgent,
        request: &source::PlatformRequest,
    ) -> Result<Response> {
        crate::metrics::token_request(crate::metrics::TokenGrant::ManagedIdentity);
        let outcome = call.transport.send(
            agent,
            &Request {
                method: request.method,
                url: &request.url,
                headers: &request.headers,
                body: &request.body,
            },
            call.deadline,
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

/// The endpoint's `Retry-After`, in seconds.
fn retry_after(response: &Response) -> Option<Duration> {
    let seconds: u64 = response.header("retry-after")?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// The error of a failed request: the endpoint's words, the wait it asked for, the status.
fn failure(response: &Response, asked_wait: Option<Duration>) -> Error {
    let mut message = format!("answered {}", answer::describe_error(response));
    if let Some(wait) = asked_wait {
        message.push_str(&format!(" (Retry-After: {} s)", wait.as_secs()));
    }
    Error::new(ErrorKind::TokenAcquisition, message).with_http_status(response.status)
}

/// After a failed request with `status`: [`Remedy::ManagedIdentityBackoff`] when MSAL retries
/// that status, waiting for the endpoint's `Retry-After` when it asked for one; a wait above
/// [`MAX_RETRY_AFTER`] is not shortened (the endpoint would only be asked too soon): the call
/// fails at once, saying so.
fn backoff<T>(status: u16, asked_wait: Option<Duration>, failure: Error) -> Result<Step<T>> {
    if !is_retried(status) {
        return Err(failure);
    }
    if let Some(wait) = asked_wait.filter(|wait| *wait > MAX_RETRY_AFTER) {
        return Err(failure.context(format!(
            "not retrying: the endpoint asks to wait {} s, more than the {} s waited at most",
            wait.as_secs(),
            MAX_RETRY_AFTER.as_secs()
        )));
    }
    Ok(Step::Retry(Retry {
        remedy: Remedy::ManagedIdentityBackoff,
        reason: format!("managed identity endpoint {failure}"),
        wait: asked_wait,
        otherwise: Err(failure),
    }))
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
