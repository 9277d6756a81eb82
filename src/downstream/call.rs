//! One call to an API: what every attempt of it shares (options, URL, body, deadline), and the
//! token request context it hands to the token layer.

use crate::clock::Deadline;
use crate::config::{AcquireTokenOptions, ApiOptions, ProtocolScheme};
use crate::credentials::{CredentialsProvider, Usage};
use crate::token::TokenCall;
use crate::transport::{Request, Transport};

pub(super) struct ApiCall<'a> {
    pub options: &'a ApiOptions,
    pub url: &'a str,
    /// The API's fixed headers for this body; an attempt adds `Authorization` to a copy.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// Bounds every request, token fetch, wait and retry of the call.
    pub deadline: Deadline,
}

impl<'a> ApiCall<'a> {
    /// What credential events of this call report.
    pub fn usage(&self, protocol: ProtocolScheme) -> Usage<'a> {
        Usage {
            protocol: protocol.name(),
            api_url: self.url,
        }
    }

    /// The request of one attempt, with that attempt's headers.
    pub fn request<'h>(&self, headers: &'h [(String, String)]) -> Request<'h>
    where
        'a: 'h,
    {
        Request {
            method: &self.options.http_method,
            url: self.url,
            headers,
            body: self.body,
        }
    }

    /// The context of a token request made for this call, with `options` (the API's, or those
    /// of a retry).
    pub fn token_call(
        &self,
        credentials: &'a CredentialsProvider,
        transport: &'a Transport,
        options: &'a AcquireTokenOptions,
    ) -> TokenCall<'a> {
        TokenCall {
            credentials,
            transport,
            scopes: &self.options.scopes,
            options,
            deadline: self.deadline,
        }
    }
}
