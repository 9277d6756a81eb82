//! One OAuth2 client-credentials exchange with a token endpoint (Entra ID's wire format, which
//! generic OpenID providers share): the form, the headers, the post; and OpenID discovery.
//! Over mTLS, the selected certificate is presented in the handshake (RFC 8705).

use std::sync::Arc;

use super::assertion::{self, Dialect};
use super::endpoint_answer::{Discovered, Outcome, discovered_token_endpoint, interpret};
use crate::clock::Deadline;
use crate::credentials::{Certificate, Credential};
use crate::encoding::percent_encode;
use crate::error::{Error, ErrorKind, Result};
use crate::files::{FileKind, read_regular_file};
use crate::transport::{Request, Transport};

/// The parameters of one exchange.
pub struct Exchange<'a> {
    pub endpoint: &'a str,
    pub dialect: Dialect,
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub claims: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub send_x5c: bool,
    pub deadline: Deadline,
    /// Whether a `Retry-After` may be waited for (not during a proactive refresh).
    pub may_wait: bool,
    /// The certificate presented in the TLS handshake when the request goes over mTLS.
    pub over_mtls: Option<&'a Arc<Certificate>>,
    /// How the app proves who it is.
    pub authentication: Authentication,
    /// The `token_type` form parameter (`mtls_pop`), when one is asked for.
    pub token_type: Option<&'a str>,
}

/// How the app authenticates in the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// With its credential: a client assertion signed by its certificate, or its secret.
    Credential,
    /// By the TLS client certificate alone (`tls_client_auth`, Entra's MTLS_POP): `client_id` and
    /// no assertion or secret.
    CertificateOnly,
}

/// Posts the form; transport failures are the outer error, token endpoint refusals the inner.
/// `federated_assertion` is the managed-identity token of a `ManagedIdentityAssertion` credential,
/// which the caller obtains.
pub fn exchange(
    transport: &Transport,
    exchange: &Exchange,
    credential: &Credential,
    federated_assertion: Option<&str>,
) -> Result<Outcome> {
    let mut form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", exchange.client_id.to_string()),
        ("scope", exchange.scopes.join(" ")),
    ];
    match (exchange.authentication, credential) {
        (Authentication::CertificateOnly, _) => {}
        (Authentication::Credential, Credential::Certificate(certificate)) => {
            let jwt = assertion::sign(
                certificate,
                exchange.client_id,
                exchange.endpoint,
                exchange.dialect,
                exchange.send_x5c,
            )
            .map_err(|e| Error::new(ErrorKind::CredentialUnavailable, e))?;
            form.push(("client_assertion_type", JWT_BEARER.to_string()));
            form.push(("client_assertion", jwt));
        }
        (Authentication::Credential, Credential::ClientSecret(secret)) => {
            form.push(("client_secret", secret.to_string()))
        }
        (Authentication::Credential, Credential::SignedAssertionFile(path)) => {
            let unusable = |why: String| {
                Error::new(
                    ErrorKind::CredentialUnavailable,
                    format!("signed assertion file: {why}"),
                )
            };
            let data = read_regular_file(path, FileKind::Assertion).map_err(unusable)?;
            let assertion = String::from_utf8(data)
                .map(|text| text.trim().to_string())
                .ok()
                .filter(|text| !text.is_empty())
                .ok_or_else(|| unusable(format!("'{}' holds no assertion", path.display())))?;
            form.push(("client_assertion_type", JWT_BEARER.to_string()));
            form.push(("client_assertion", assertion));
        }
        (Authentication::Credential, Credential::ManagedIdentityAssertion(_)) => {
            let assertion = federated_assertion.ok_or_else(|| {
                Error::new(
                    ErrorKind::CredentialUnavailable,
                    "no managed-identity token to send as the client assertion",
                )
            })?;
            form.push(("client_assertion_type", JWT_BEARER.to_string()));
            form.push(("client_assertion", assertion.to_string()));
        }
    }
    if let Some(claims) = exchange.claims {
        form.push(("claims", claims.to_string()));
    }
    if let Some(token_type) = exchange.token_type {
        form.push(("token_type", token_type.to_string()));
    }
    let body = encode_form(&form);
    let mut headers = vec![
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("Accept".to_string(), "application/json".to_string()),
    ];
    if exchange.dialect == Dialect::Entra {
        headers.push((
            "x-ms-lib-capability".to_string(),
            "retry-after, h429".to_string(),
        ));
    }
    if let Some(id) = exchange.correlation_id {
        headers.push(("client-request-id".to_string(), id.to_string()));
    }
    let request = Request {
        method: "POST",
        url: exchange.endpoint,
        headers: &headers,
        body: body.as_bytes(),
    };
    let agent = match exchange.over_mtls {
        Some(certificate) => transport.agent_for(certificate),
        None => transport.anonymous_agent(),
    };
    let response = transport.send(&agent, &request, exchange.deadline)?;
    let signed_with_certificate =
        matches!(credential, Credential::Certificate(_)) || exchange.over_mtls.is_some();
    Ok(interpret(
        &response,
        exchange.endpoint,
        signed_with_certificate,
    ))
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn encode_form(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Reads `token_endpoint` and its mTLS alias from an OpenID discovery document.
pub fn discover(transport: &Transport, url: &str, deadline: Deadline) -> Result<Discovered> {
    let headers = [("Accept".to_string(), "application/json".to_string())];
    let request = Request {
        method: "GET",
        url,
        headers: &headers,
        body: &[],
    };
    let response = transport.send(&transport.anonymous_agent(), &request, deadline)?;
    discovered_token_endpoint(&response)
}
