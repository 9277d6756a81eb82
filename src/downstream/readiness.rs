//! Whether each configured API has what its protocol needs, without calling it: for deployment
//! pipelines (`dsapi check`) and health endpoints. The configuration itself (URLs, scopes, an
//! authority and client id for token APIs) was validated when the client was made; what is left is
//! a usable credential: any for a Bearer API, a certificate for an MTLS or MTLS_POP API. No request leaves the
//! process: a pipeline may not reach the identity provider, and a check must not spend tokens.

use super::DownstreamApi;
use super::request::build_url;
use crate::config::{ApiOptions, ProtocolScheme};
use crate::credentials::{Purpose, Usage};
use crate::encoding::redact_url;
use crate::error::{Error, Result};

/// One configured API and what stops it from being called, if anything.
#[derive(Debug, Clone)]
pub struct ApiReadiness {
    /// The name in `DownstreamApis`.
    pub name: String,
    /// "Bearer", "MTLS" or "MTLS_POP".
    pub protocol: &'static str,
    /// The configured URL, its query string redacted.
    pub url: String,
    /// `None` when the API can be called; otherwise why not.
    pub problem: Option<Error>,
}

impl DownstreamApi {
    /// Checks every API in `DownstreamApis` in configuration order, loading (and selecting) the
    /// credentials each one would use.
    pub fn check(&self) -> Vec<ApiReadiness> {
        self.config
            .apis
            .iter()
            .map(|(name, options)| {
                let url = build_url(options);
                ApiReadiness {
                    name: name.clone(),
                    protocol: options.protocol_scheme.name(),
                    url: redact_url(&url),
                    problem: self.readiness(options, &url).err(),
                }
            })
            .collect()
    }

    fn readiness(&self, options: &ApiOptions, url: &str) -> Result<()> {
        let usage = Usage {
            protocol: options.protocol_scheme.name(),
            api_url: url,
        };
        match options.protocol_scheme {
            // MTLS_POP's token is requested with the certificate the call presents.
            ProtocolScheme::Mtls | ProtocolScheme::MtlsPop => {
                self.credentials.select(Purpose::Mtls, &usage).map(drop)
            }
            ProtocolScheme::Bearer => match &options.acquire_token_options.managed_identity {
                // The platform's endpoint is not called: the source and the identity kind are
                // what can be checked here.
                Some(identity) => self.tokens.check_managed_identity(identity),
                None => self.credentials.select(Purpose::Token, &usage).map(drop),
            },
        }
    }
}
