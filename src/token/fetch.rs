//! One app-token request: the token endpoint resolved, the form posted, the answer read; retried
//! by the driver when the endpoint is busy (its `Retry-After`, or briefly after a 5xx) or refuses
//! the assertion's certificate (reloaded once). Runs inside the cache's single flight.

use super::access_token::{AccessToken, refresh_on};
use super::authority::Authority;
use super::cache::{TokenCache, Urgency};
use super::call::TokenCall;
use super::client_credentials::{self, Exchange};
use super::endpoint_answer::Issued;
use super::managed_identity::{ConfiguredIdentity, ManagedIdentity};
use super::plan::Plan;
use super::sessions::Sessions;
use crate::config::AcquireTokenOptions;
use crate::credentials::{Credential, Purpose, Selection, Usage};
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};
use crate::remedy::Remedy;
use crate::retry::{Driver, Step};
use crate::transport::require_https;

/// What a request needs of the app besides the call: its registration, and the managed identity
/// (with the cache its tokens are kept in) for federated credentials' assertions.
pub struct Fetcher<'a> {
    pub authority: &'a Authority,
    pub client_id: &'a str,
    pub managed: &'a ManagedIdentity,
    pub cache: &'a TokenCache,
    /// Where long-running sessions keep their refresh tokens.
    pub sessions: &'a Sessions,
}

impl Fetcher<'_> {
    /// The token of `plan` from the token endpoint, and when to refresh it. A proactive refresh
    /// (`urgency`) never waits: the valid token it would replace is used instead.
    pub fn fetch(
        &self,
        call: &TokenCall,
        plan: &Plan,
        urgency: Urgency,
    ) -> Result<(AccessToken, Option<i64>)> {
        let tenant = self.authority.tenant(call.options.tenant.as_deref());
        let endpoint = self
            .authority
            .token_endpoint(tenant, plan.over_mtls, |url| {
                client_credentials::discover(call.transport, url, call.deadline)
            })?;
        let client = plan.client.as_ref();
        let exchange = Exchange {
            endpoint: &endpoint,
            dialect: self.authority.dialect(),
            client_id: client.map_or(self.client_id, |c| c.client_id.as_str()),
            scopes: call.scopes,
            claims: call.options.claims.as_deref(),
            correlation_id: call.options.correlation_id.as_deref(),
            send_x5c: plan.send_x5c,
            deadline: call.deadline,
            over_mtls: plan.bound_certificate(),
            authentication: plan.authentication,
            token_type: plan.token_type,
            grant: plan.grant.as_grant(),
            client_assertion: client.map(|c| c.assertion.as_str()),
        };
        let driver = match urgency {
            Urgency::Needed => Driver::new(call.deadline),
            Urgency::Proactive => Driver::new(call.deadline).without_waits(),
        };
        let issued = self.request(call, &exchange, plan.selection.as_ref(), driver)?;
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
        if let (Some(session), Some(refresh_token)) = (&plan.session, issued.refresh_token) {
            self.sessions.keep(session, refresh_token);
        }
        let now = crate::clock::unix_now();
        let refresh = refresh_on(now, issued.expires_in, issued.refresh_in);
        Ok((issued.token, refresh))
    }

    /// The exchange under the driver. With a `preselected` credential (a request bound to it) a
    /// refused certificate is not reloaded here: it is returned as `CertificateRejected` calling
    /// for [`Remedy::RebindCertificate`], for the caller to start again under the new
    /// certificate's cache key.
    fn request(
        &self,
        call: &TokenCall,
        exchange: &Exchange,
        preselected: Option<&Selection>,
        driver: Driver,
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
            None => call.credentials.select(Purpose::Token, &usage)?,
        };
        driver.run(|granted| {
            if let Some(granted) = granted
                && granted.remedy == Remedy::RotateTokenCertificate
            {
                selection = call
                    .credentials
                    .rotate(Purpose::Token, &selection, &usage, &granted.reason)
                    .map_err(|e| e.context(&granted.reason))?;
            }
            match self.attempt(call, exchange, &selection) {
                Err(error)
                    if preselected.is_some()
                        && error.remedy() == Some(Remedy::RotateTokenCertificate) =>
                {
                    Err(error
                        .with_kind(ErrorKind::CertificateRejected)
                        .calling_for(Remedy::RebindCertificate, None))
                }
                Err(error) => Step::retry_error(error),
                Ok(issued) => Ok(Step::Done(issued)),
            }
        })
    }

    /// One post of the form with `selection`'s credential.
    fn attempt(
        &self,
        call: &TokenCall,
        exchange: &Exchange,
        selection: &Selection,
    ) -> Result<Issued> {
        // A federated credential's assertion is the managed identity's token for its audience,
        // cached and refreshed like any token.
        let defaults = AcquireTokenOptions::default();
        let federated = match &selection.credential {
            Credential::ManagedIdentityAssertion(federated) => {
                let identity = ConfiguredIdentity {
                    id: &federated.identity,
                    field: &format!(
                        "AzureAd.ClientCredentials[{}].ManagedIdentityClientId",
                        selection.index
                    ),
                };
                let audience = std::slice::from_ref(&federated.audience);
                let call = call.with(audience, &defaults);
                Some(self.managed.token(self.cache, &call, &identity)?)
            }
            _ => None,
        };
        let assertion = federated.as_ref().map(|token| token.token.as_str());
        let issued = client_credentials::exchange(
            call.transport,
            exchange,
            &selection.credential,
            assertion,
        )?;
        if exchange.client_assertion.is_none() {
            let usage = Usage {
                protocol: "Bearer",
                api_url: exchange.endpoint,
            };
            call.credentials.used(selection, &usage);
        }
        crate::log::debug(|| {
            format!(
                "token for '{}' from {} (expires in {} s)",
                exchange.scopes.join(" "),
                exchange.endpoint,
                issued.expires_in
            )
        });
        Ok(issued)
    }
}
