//! Tokens outside a call: an app token for explicit scopes (`acquire_token`), the token a call
//! carries (`token`, through the cache), and the validation of an incoming token.

use super::DownstreamApi;
use crate::clock::Deadline;
use crate::config::AcquireTokenOptions;
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::error::Result;
use crate::token::{AccessToken, TokenCall};

impl DownstreamApi {
    /// Validates the access token a web API received (`Authorization: Bearer <token>`) as
    /// Id.Web's `AddMicrosoftIdentityWebApi` does, and returns its claims (the JWT payload). The
    /// signature must verify (RS256 or ES256) with the key its `kid` names among those the
    /// configured authority publishes (OpenID discovery, read with this client's transport and
    /// kept); `exp` and `nbf` allow 5 minutes of clock skew; `aud` must be `AzureAd.ClientId`,
    /// `api://{ClientId}`, `AzureAd.Audience` or one of `AzureAd.Audiences`; `iss` the issuer of
    /// the token's tenant (Entra v2 or v1) or the provider's; with `AzureAd.Scopes` or
    /// `AzureAd.Roles`, `scp` or `roles` must hold one of them.
    ///
    /// Errors: [`ErrorKind::TokenInvalid`] naming the rule broken (never the token);
    /// [`ErrorKind::Config`] without an authority or audience; reading the issuer's keys fails
    /// with the transport's kinds or [`ErrorKind::TokenAcquisition`], naming the URL.
    pub fn validate_token(&self, token: &str) -> Result<serde_json::Value> {
        self.validator.validate(&self.transport, token)
    }

    /// An app token for explicit scopes; `options_json` is an `AcquireTokenOptions` object.
    /// Tokens come from the cache while they are fresh.
    ///
    /// ```no_run
    /// # fn main() -> downstream_api::Result<()> {
    /// # let api = downstream_api::DownstreamApi::from_file("appsettings.json".as_ref())?;
    /// let token = api.acquire_token(&["api://orders/.default"], Some(r#"{ "Tenant": "fabrikam" }"#))?;
    /// println!("expires at {} (Unix seconds)", token.expires_on);
    /// # Ok(())
    /// # }
    /// ```
    pub fn acquire_token(
        &self,
        scopes: &[&str],
        options_json: Option<&str>,
    ) -> Result<AccessToken> {
        let options = match options_json {
            None => AcquireTokenOptions::default(),
            Some(json) => AcquireTokenOptions::from_json(json)?,
        };
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.token(&scopes, &options, self.transport.call_deadline(None))
    }

    /// An app token through the cache, bounded by the call's `deadline`.
    pub(super) fn token(
        &self,
        scopes: &[String],
        options: &AcquireTokenOptions,
        deadline: Deadline,
    ) -> Result<AccessToken> {
        let token = self.tokens.acquire(&TokenCall {
            credentials: &self.credentials,
            transport: &self.transport,
            scopes,
            options,
            deadline,
        });
        self.retire_replaced_certificates();
        token
    }
}
