//! The Bearer path: an app token in `Authorization`, no client certificate (unless the token is
//! bound to one). A claims challenge (401 with `error="insufficient_claims"`) calls for
//! [`Remedy::ClaimsChallenge`]: a token with those claims and one resend.

use std::borrow::Cow;

use super::DownstreamApi;
use super::call::ApiCall;
use super::challenge::claims_challenge;
use super::request::set_header;
use crate::config::AcquireTokenOptions;
use crate::error::Result;
use crate::remedy::Remedy;
use crate::retry::{Driver, Step};
use crate::transport::{Response, require_https};

impl DownstreamApi {
    /// Bearer: an app token in `Authorization`, resent once with a token carrying the claims a
    /// challenge asked for.
    pub(super) fn call_bearer(&self, call: &ApiCall) -> Result<Response> {
        require_https(call.url, "a token")?;
        let mut claims: Option<String> = None;
        Driver::new(call.deadline).run(|granted| {
            let options = match (granted, &claims) {
                (Some(_), Some(claims)) => Cow::Owned(AcquireTokenOptions {
                    claims: Some(claims.clone()),
                    ..call.options.acquire_token_options.clone()
                }),
                _ => Cow::Borrowed(&call.options.acquire_token_options),
            };
            let response = self.bearer_attempt(call, &options)?;
            match claims_challenge(&response) {
                Some(asked) => {
                    claims = Some(asked);
                    let reason = "the API asked for claims (HTTP 401 insufficient_claims)";
                    Ok(Step::retry(
                        Remedy::ClaimsChallenge,
                        reason.to_string(),
                        Ok(response),
                    ))
                }
                None => Ok(Step::Done(response)),
            }
        })
    }

    /// One request with a token acquired with `options`.
    fn bearer_attempt(&self, call: &ApiCall, options: &AcquireTokenOptions) -> Result<Response> {
        let token_call = call.token_call(&self.credentials, &self.transport, options);
        let (token, bound_to) = self.tokens.acquire_for_call(&token_call)?;
        let mut headers = call.headers.to_vec();
        set_header(
            &mut headers,
            "Authorization",
            format!("Bearer {}", token.token),
        );
        // A token requested over mTLS is bound to its certificate (RFC 8705 §3): the call
        // presents it too.
        let agent = match &bound_to {
            Some(certificate) => self.transport.agent_for(certificate),
            None => self.transport.anonymous_agent(),
        };
        let response = self
            .transport
            .send(&agent, &call.request(&headers), call.deadline)?;
        if response.status == 401 && claims_challenge(&response).is_none() {
            self.tokens.forget_refused(&token_call, &token.token);
        }
        Ok(response)
    }
}
