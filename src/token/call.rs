//! One token request's context: who asks (the credentials and the transport of the client), for
//! which scopes, with which options, and by when. Passed down instead of parameter lists.

use crate::clock::Deadline;
use crate::config::AcquireTokenOptions;
use crate::credentials::CredentialsProvider;
use crate::transport::Transport;

use super::key::Lookup;

#[derive(Clone, Copy)]
pub struct TokenCall<'a> {
    pub credentials: &'a CredentialsProvider,
    pub transport: &'a Transport,
    pub scopes: &'a [String],
    pub options: &'a AcquireTokenOptions,
    /// The whole call's deadline: every request, wait and retry of the token fits before it.
    pub deadline: Deadline,
}

impl<'a> TokenCall<'a> {
    /// The same call for other scopes and options (a federated credential's assertion, asked for
    /// during the app's token request).
    pub fn with<'b>(&self, scopes: &'b [String], options: &'b AcquireTokenOptions) -> TokenCall<'b>
    where
        'a: 'b,
    {
        TokenCall {
            credentials: self.credentials,
            transport: self.transport,
            scopes,
            options,
            deadline: self.deadline,
        }
    }

    /// ForceRefresh and claims skip the cached token.
    pub fn lookup(&self) -> Lookup {
        if self.options.force_refresh || self.options.claims.is_some() {
            Lookup::Bypass
        } else {
            Lookup::UseCache
        }
    }
}
