//! The MTLS and MTLS_POP paths: the selected certificate in the TLS handshake, and for MTLS_POP a
//! token bound to that certificate in `Authorization`. A certificate rejection (a TLS alert, one of
//! the HTTP answers below, or the token endpoint refusing it) deselects the certificate, reloads it
//! from its source, drops the tokens bound to it and resends the request once.

use std::borrow::Cow;
use std::sync::Arc;

use super::DownstreamApi;
use super::call::ApiCall;
use super::request::set_header;
use crate::clock::Deadline;
use crate::config::{AcquireTokenOptions, ApiOptions, ProtocolScheme};
use crate::credentials::{Purpose, Selection, Usage};
use crate::encoding::{contains_bytes, redact_url};
use crate::error::{Error, ErrorKind, Result};
use crate::remedy::Remedy;
use crate::retry::{Driver, Step};
use crate::transport::{Response, require_https};

impl DownstreamApi {
    /// MTLS (no token) or MTLS_POP (a token bound to the certificate in `Authorization`): the
    /// selected certificate in the handshake. A rejection calls for
    /// [`Remedy::ReloadCertificate`] (the certificate deselected, reloaded from its source, the
    /// same request resent); an MTLS_POP 401 for [`Remedy::FreshBoundToken`].
    pub(super) fn call_with_certificate(
        &self,
        call: &ApiCall,
        protocol: ProtocolScheme,
    ) -> Result<Response> {
        require_https(call.url, "a client certificate")?;
        let usage = call.usage(protocol);
        let mut selection = self.credentials.select(Purpose::Mtls, &usage)?;
        let mut fresh_token = false;
        let subject = || format!("calling {}", redact_url(call.url));
        let response = Driver::new(call.deadline).about(&subject).run(|granted| {
            match granted {
                Some(g) if g.remedy == Remedy::ReloadCertificate => {
                    selection = self.reload_rejected(&selection, &usage, &g.reason)?;
                }
                Some(g) if g.remedy == Remedy::FreshBoundToken => fresh_token = true,
                _ => {}
            }
            self.certificate_attempt(call, protocol, &selection, fresh_token)
        })?;
        // A response that still rejects the certificate after the reload is returned as it is.
        if !matches!(
            rejection(protocol, &response),
            Some((Remedy::ReloadCertificate, _))
        ) {
            self.credentials.used(&selection, &usage);
        }
        Ok(response)
    }

    /// One request presenting `selection`'s certificate (with a bound token for MTLS_POP,
    /// `fresh_token` skipping the cache).
    fn certificate_attempt(
        &self,
        call: &ApiCall,
        protocol: ProtocolScheme,
        selection: &Selection,
        fresh_token: bool,
    ) -> Result<Step<Response>> {
        let certificate = selection.certificate().ok_or_else(|| {
            Error::new(
                ErrorKind::CredentialUnavailable,
                "the MTLS selection is not a certificate",
            )
        })?;
        let mut headers = Cow::Borrowed(call.headers);
        if protocol == ProtocolScheme::MtlsPop {
            match self.bound_header(call.options, selection, call.deadline, fresh_token) {
                Ok(header) => set_header(headers.to_mut(), "Authorization", header),
                Err(error) => return certificate_failure(error, &certificate.facts.thumbprint),
            }
        }
        let agent = self.transport.agent_for(certificate);
        let response = match self
            .transport
            .send(&agent, &call.request(&headers), call.deadline)
        {
            Ok(response) => response,
            Err(error) => return certificate_failure(error, &certificate.facts.thumbprint),
        };
        Ok(match rejection(protocol, &response) {
            Some((remedy, reason)) => Step::retry(remedy, reason, Ok(response)),
            None => Step::Done(response),
        })
    }

    /// [`Remedy::ReloadCertificate`]: deselects the rejected certificate, reloads its entry and
    /// selects again. No pooled connection or TLS session of the rejected certificate is reused,
    /// now or by a thread that was still using it during the reload, and no token bound to it is
    /// sent again.
    fn reload_rejected(
        &self,
        rejected: &Selection,
        usage: &Usage,
        reason: &str,
    ) -> Result<Selection> {
        let certificate = rejected.certificate().cloned();
        if let Some(certificate) = &certificate {
            self.transport.forget(certificate);
            self.tokens
                .forget_bound_to(&certificate.facts.thumbprint_sha256);
        }
        let selection = self
            .credentials
            .rotate(Purpose::Mtls, rejected, usage, reason)
            .map_err(|e| e.context(reason))?;
        if let Some(old) = &certificate
            && selection.certificate().is_none_or(|c| !Arc::ptr_eq(c, old))
        {
            self.transport.forget(old);
        }
        Ok(selection)
    }

    /// `Authorization` for an MTLS_POP call presenting `selection`'s certificate; `fresh` skips
    /// the cache.
    pub(super) fn bound_header(
        &self,
        options: &ApiOptions,
        selection: &Selection,
        deadline: Deadline,
        fresh: bool,
    ) -> Result<String> {
        let token_options = AcquireTokenOptions {
            force_refresh: fresh || options.acquire_token_options.force_refresh,
            ..options.acquire_token_options.clone()
        };
        let call = crate::token::TokenCall {
            credentials: &self.credentials,
            transport: &self.transport,
            scopes: &options.scopes,
            options: &token_options,
            deadline,
        };
        let bound = self.tokens.acquire_bound(&call, selection)?;
        Ok(format!("{} {}", bound.scheme, bound.token.token))
    }
}

/// A failed attempt: a rejected certificate, or a key that failed to sign the handshake (the
/// transport reports it as an unusable credential), calls for reloading it; anything else fails.
fn certificate_failure(error: Error, thumbprint: &str) -> Result<Step<Response>> {
    if !matches!(
        error.kind(),
        ErrorKind::CertificateRejected | ErrorKind::CredentialUnavailable
    ) {
        return Err(error);
    }
    let reason = error.message().to_string();
    let otherwise = Err(error.context(format!("certificate {thumbprint}")));
    Ok(Step::retry(Remedy::ReloadCertificate, reason, otherwise))
}

/// What an answer of an MTLS or MTLS_POP call calls for: an MTLS_POP 401 refused the bound
/// token (not the certificate); the answers below reject the certificate.
fn rejection(protocol: ProtocolScheme, response: &Response) -> Option<(Remedy, String)> {
    if protocol == ProtocolScheme::MtlsPop && response.status == 401 {
        let reason = "the API refused the bound token (HTTP 401)".to_string();
        return Some((Remedy::FreshBoundToken, reason));
    }
    response_rejects_certificate(response).map(|reason| (Remedy::ReloadCertificate, reason))
}

/// HTTP answers that mean "your client certificate is not accepted" on an MTLS call: nginx's
/// 495/496, a 401, and nginx's `ssl_verify_client on` answer — a 400 whose body names the SSL
/// certificate. Other 400s and all 403s are the API's own answers and are not retried.
fn response_rejects_certificate(response: &Response) -> Option<String> {
    match response.status {
        495 | 496 | 401 => Some(format!("the server answered HTTP {}", response.status)),
        400 if contains_bytes(&response.body, b"SSL certificate") => Some(
            "the server answered HTTP 400 about the SSL certificate (nginx ssl_verify_client)"
                .to_string(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_certificate_rejections_in_responses() {
        let response =
            |status, body: &[u8]| Response::new(status, Default::default(), body.to_vec());
        assert!(response_rejects_certificate(&response(495, b"")).is_some());
        assert!(
            response_rejects_certificate(&response(400, b"<h1>400 The SSL certificate error</h1>"))
                .is_some()
        );
        assert!(response_rejects_certificate(&response(400, b"bad json")).is_none());
        assert!(response_rejects_certificate(&response(403, b"")).is_none());
    }
}
