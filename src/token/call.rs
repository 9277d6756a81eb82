//! One token request's context: who asks (the credentials and the transport of the client), for
//! which scopes, with which options, and by when. Passed down instead of parameter lists.

use crate::clock::Deadline;
use crate::config::AcquireTokenOptions;
use crate::credentials::CredentialsProvider;
use crate::error::{Error, ErrorKind, Result};
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

    /// A token is for one identity: a managed identity, an agent, or a user (their token or a
    /// session); options naming two are an error rather than one silently winning.
    pub fn check_one_identity(&self) -> Result<()> {
        let options = self.options;
        let user = options.user_assertion.is_some() || options.long_running_session_key.is_some();
        let named = [
            options.managed_identity.is_some(),
            options.agent.is_some(),
            user,
        ];
        if named.iter().filter(|n| **n).count() < 2 {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Config,
            "AcquireTokenOptions: ManagedIdentity, AgentIdentity and a user's token \
             (UserAssertion, LongRunningWebApiSessionKey) name different identities: give one",
        ))
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
