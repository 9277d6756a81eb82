//! The Bearer path: an app token in `Authorization`, no client certificate. A claims challenge
//! (401 with `error="insufficient_claims"`) gets a token with those claims and one resend.

use super::DownstreamApi;
use super::challenge::claims_challenge;
use super::request::{request_headers, set_header};
use crate::config::{AcquireTokenOptions, ApiOptions};
use crate::encoding::redact_url;
use crate::error::Result;
use crate::transport::{Request, Response, require_https};

impl DownstreamApi {
    /// Bearer: an app token in `Authorization`, no client certificate. A claims challenge (401
    /// with `error="insufficient_claims"`) gets a token with those claims and one resend.
    pub(super) fn call_bearer(
        &self,
        options: &ApiOptions,
        url: &str,
        body: &[u8],
    ) -> Result<Response> {
        require_https(url, "a token")?;
        let deadline = self.transport.call_deadline(options.timeout);
        let (token, bound_to) = self.tokens.acquire_for_call(
            &self.credentials,
            &self.transport,
            &options.scopes,
            &options.acquire_token_options,
            deadline,
        )?;
        let mut headers = request_headers(options, body);
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
        let send = |headers: &[(String, String)]| {
            let request = Request {
                method: &options.http_method,
                url,
                headers,
                body,
            };
            self.transport.send(&agent, &request, deadline)
        };
        let response = send(&headers)?;
        let Some(claims) = claims_challenge(&response) else {
            return Ok(response);
        };
        crate::log::info(|| {
            format!(
                "{} asked for claims; acquiring a new token and resending once",
                redact_url(url)
            )
        });
        let with_claims = AcquireTokenOptions {
            claims: Some(claims),
            ..options.acquire_token_options.clone()
        };
        let token = self.token(&options.scopes, &with_claims, deadline)?;
        set_header(
            &mut headers,
            "Authorization",
            format!("Bearer {}", token.token),
        );
        send(&headers)
    }
}
