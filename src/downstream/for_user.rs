//! Calls on behalf of a user (Id.Web's `CallApiForUserAsync`,
//! `CreateAuthorizationHeaderForUserAsync`): the caller hands over the token its own caller sent,
//! and the API's token is one for that user (on-behalf-of) — unless the API says
//! `RequestAppToken: true`, as in Id.Web. Agent identities come with the options
//! (`AcquireTokenOptions.AgentIdentity`, `AgentUsername`, `AgentUserId`).

use super::DownstreamApi;
use super::prepared::Resolved;
use crate::config::ProtocolScheme;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::Response;

impl DownstreamApi {
    /// Calls `api_name` on behalf of the holder of `user_token` (the access token the caller
    /// received). Errors as [`DownstreamApi::call`], and `UserInteractionRequired` when Entra
    /// needs the user (its claims challenge in [`Error::claims_challenge`]).
    pub fn call_for_user(
        &self,
        api_name: &str,
        user_token: &str,
        overrides_json: Option<&str>,
        body: &[u8],
    ) -> Result<Response> {
        let resolved = for_user(self.resolve(api_name, overrides_json)?, user_token)?;
        self.send(api_name, resolved, body)
    }

    /// The `Authorization` header a call for the holder of `user_token` would carry.
    pub fn authorization_header_for_user(
        &self,
        api_name: &str,
        user_token: &str,
        overrides_json: Option<&str>,
    ) -> Result<String> {
        let resolved = for_user(self.resolve(api_name, overrides_json)?, user_token)?;
        self.header_for(api_name, resolved)
    }
}

/// The options with the user's token as the assertion (none for an app-token API).
fn for_user<'a>(resolved: Resolved<'a>, user_token: &str) -> Result<Resolved<'a>> {
    let Resolved {
        mut options, calls, ..
    } = resolved;
    if user_token.trim().is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "user_token: empty; a call for a user needs the token the user sent",
        ));
    }
    if options.protocol_scheme != ProtocolScheme::Bearer {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "ProtocolScheme: {} calls authenticate the app by its certificate; a user's \
                 token is for Bearer APIs",
                options.protocol_scheme.name()
            ),
        ));
    }
    let token_options = &options.acquire_token_options;
    if token_options.agent.is_some() {
        return Err(Error::new(
            ErrorKind::Config,
            "AcquireTokenOptions.AgentIdentity: an agent's token is the agent's own (its user is \
             AgentUsername or AgentUserId), not on behalf of a user's token",
        ));
    }
    if token_options.managed_identity.is_some() && !options.request_app_token {
        return Err(Error::new(
            ErrorKind::Config,
            "AcquireTokenOptions.ManagedIdentity: a managed identity's token is the app's own; a \
             call for a user needs the app registration's credentials (on-behalf-of)",
        ));
    }
    if options.request_app_token {
        return Ok(Resolved {
            options,
            prepared: None,
            calls,
        });
    }
    options.to_mut().acquire_token_options.user_assertion = Some(user_token.to_string());
    Ok(Resolved {
        options,
        prepared: None,
        calls,
    })
}
