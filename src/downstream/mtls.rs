//! The MTLS and MTLS_POP paths: the selected certificate in the TLS handshake, and for MTLS_POP a
//! token bound to that certificate in `Authorization`. A certificate rejection (a TLS alert, one of
//! the HTTP answers below, or the token endpoint refusing it) deselects the certificate, reloads it
//! from its source, drops the tokens bound to it and resends the request once.

use std::sync::Arc;

use super::DownstreamApi;
use super::request::{request_headers, set_header};
use crate::clock::Deadline;
use crate::config::{AcquireTokenOptions, ApiOptions, ProtocolScheme};
use crate::credentials::{Purpose, Selection, Usage};
use crate::encoding::{contains_bytes, redact_url};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Request, Response, require_https};

impl DownstreamApi {
    /// MTLS: the selected certificate in the handshake, no token. A certificate rejection deselects
    /// it, reloads it from its source and resends the same request once.
    pub(super) fn call_mtls(
        &self,
        options: &ApiOptions,
        url: &str,
        body: &[u8],
    ) -> Result<Response> {
        self.call_with_certificate(options, url, body, ProtocolScheme::Mtls, |_, _, _| Ok(None))
    }

    /// MTLS_POP: the selected certificate in the handshake and a token bound to it in
    /// `Authorization` (`mtls_pop` for Entra, `Bearer` for an RFC 8705 provider). A rotation gets
    /// a token for the new certificate; a 401 (the token refused, not the certificate) gets a
    /// fresh token and one resend.
    pub(super) fn call_mtls_pop(
        &self,
        options: &ApiOptions,
        url: &str,
        body: &[u8],
    ) -> Result<Response> {
        self.call_with_certificate(
            options,
            url,
            body,
            ProtocolScheme::MtlsPop,
            |selection, deadline, fresh| {
                self.bound_header(options, selection, deadline, fresh)
                    .map(Some)
            },
        )
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
        let bound = self.tokens.acquire_bound(
            &self.credentials,
            &self.transport,
            selection,
            &options.scopes,
            &token_options,
            deadline,
        )?;
        Ok(format!("{} {}", bound.scheme, bound.token.token))
    }

    /// The certificate selected for MTLS in the handshake, with the `Authorization` header that
    /// `authorization` makes for it (none for plain MTLS; its flag asks for a fresh token),
    /// retried once after a rejection, and for MTLS_POP once after a 401 with a fresh token.
    fn call_with_certificate(
        &self,
        options: &ApiOptions,
        url: &str,
        body: &[u8],
        protocol: ProtocolScheme,
        authorization: impl Fn(&Selection, Deadline, bool) -> Result<Option<String>>,
    ) -> Result<Response> {
        require_https(url, "a client certificate")?;
        let usage = Usage {
            protocol: protocol.name(),
            api_url: url,
        };
        let deadline = self.transport.call_deadline(options.timeout);
        let mut selection = self.credentials.select(Purpose::Mtls, &usage)?;
        let (mut retried, mut fresh) = (false, false);
        loop {
            let certificate = selection.certificate().cloned().ok_or_else(|| {
                Error::new(
                    ErrorKind::CredentialUnavailable,
                    "the MTLS selection is not a certificate",
                )
            })?;
            let mut headers = request_headers(options, body);
            let outcome = match authorization(&selection, deadline, fresh) {
                Ok(header) => {
                    if let Some(header) = header {
                        set_header(&mut headers, "Authorization", header);
                    }
                    let request = Request {
                        method: &options.http_method,
                        url,
                        headers: &headers,
                        body,
                    };
                    let agent = self.transport.agent_for(&certificate);
                    self.transport.send(&agent, &request, deadline)
                }
                Err(error) => Err(error),
            };
            let token_refused = protocol == ProtocolScheme::MtlsPop
                && matches!(&outcome, Ok(response) if response.status == 401);
            if token_refused && !fresh {
                fresh = true;
                crate::log::info(|| {
                    format!(
                        "{} refused the bound token (HTTP 401); resending once with a fresh one",
                        redact_url(url)
                    )
                });
                continue;
            }
            let rejection = match &outcome {
                Ok(_) if token_refused => None,
                Ok(response) => response_rejects_certificate(response),
                // The transport reports a key that failed to sign the handshake as an unusable
                // credential: reloading it is the remedy, as for a rejection.
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::CertificateRejected | ErrorKind::CredentialUnavailable
                    ) =>
                {
                    Some(error.message().to_string())
                }
                Err(_) => None,
            };
            match rejection {
                None => {
                    if outcome.is_ok() {
                        self.credentials.used(&selection, &usage);
                    }
                    return outcome;
                }
                Some(reason) if !retried => {
                    retried = true;
                    // No pooled connection or TLS session of the rejected certificate is reused,
                    // now or by a thread that was still using it during the reload, and no token
                    // bound to it is sent again.
                    self.transport.forget(&certificate);
                    self.tokens
                        .forget_bound_to(&certificate.facts.thumbprint_sha256);
                    selection = self
                        .credentials
                        .rotate(Purpose::Mtls, &selection, &usage, &reason)
                        .map_err(|e| e.context(&reason))?;
                    if selection
                        .certificate()
                        .is_none_or(|c| !Arc::ptr_eq(c, &certificate))
                    {
                        self.transport.forget(&certificate);
                    }
                    crate::log::info(|| {
                        format!(
                            "retrying {} once after reloading the certificate",
                            redact_url(url)
                        )
                    });
                }
                // The retry was rejected too: a response is returned as is, an error says so.
                Some(_) => {
                    return outcome.map_err(|e| {
                        e.context(format!(
                            "certificate {} rejected again after reloading it",
                            certificate.facts.thumbprint
                        ))
                    });
                }
            }
        }
    }
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
        let response = |status, body: &[u8]| Response {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
            ..Default::default()
        };
        assert!(response_rejects_certificate(&response(495, b"")).is_some());
        assert!(
            response_rejects_certificate(&response(400, b"<h1>400 The SSL certificate error</h1>"))
                .is_some()
        );
        assert!(response_rejects_certificate(&response(400, b"bad json")).is_none());
        assert!(response_rejects_certificate(&response(403, b"")).is_none());
    }
}
