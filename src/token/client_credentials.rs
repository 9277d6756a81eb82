//! One OAuth2 client-credentials exchange with a token endpoint (Entra ID's wire format, which
//! generic OpenID providers share): the form, the headers, the post; and OpenID discovery.
//! Over mTLS, the selected certificate is presented in the handshake (RFC 8705).

use std::sync::Arc;

use super::assertion::{self, Dialect};
use super::endpoint_answer::{Discovered, Issued, discovered_token_endpoint, interpret};
use crate::clock::Deadline;
use crate::config::AgentUser;
use crate::credentials::{Certificate, Credential};
use crate::encoding::percent_encode;
use crate::error::{Error, ErrorKind, Result};
use crate::files::{FileKind, read_regular_file};
use crate::metrics::TokenGrant;
use crate::retry::{Driver, Step};
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
    /// The certificate presented in the TLS handshake when the request goes over mTLS.
    pub over_mtls: Option<&'a Arc<Certificate>>,
    /// How the app proves who it is.
    pub authentication: Authentication,
    /// The `token_type` form parameter (`mtls_pop`), when one is asked for.
    pub token_type: Option<&'a str>,
    /// What the form asks for.
    pub grant: Grant<'a>,
    /// A client assertion given by the caller (an agent's leg: T1), in place of the app's
    /// credential.
    pub client_assertion: Option<&'a str>,
}

/// The grant of one request, and what it carries besides the client's proof of identity.
#[derive(Clone, Copy)]
pub enum Grant<'a> {
    /// `client_credentials`; with `fmi_path`, an agent blueprint's leg 1 (T1).
    ClientCredentials { fmi_path: Option<&'a str> },
    /// On-behalf-of: the user's incoming token as `assertion`.
    OnBehalfOf { assertion: &'a str },
    /// A long-running session's refresh token.
    RefreshToken { refresh_token: &'a str },
    /// An agent's user: the agent's exchange token (T2) and the user.
    UserFic {
        credential: &'a str,
        user: &'a AgentUser,
    },
}

impl Grant<'_> {
    /// Whether the token is a user's: such grants ask for the OpenID scopes and `client_info`,
    /// and a refusal may need the user.
    pub fn is_for_a_user(&self) -> bool {
        !matches!(self, Grant::ClientCredentials { .. })
    }
}

impl Exchange<'_> {
    /// What the request is counted as: its grant, agents' legs apart.
    fn counted_grant(&self) -> TokenGrant {
        match (self.grant, self.client_assertion) {
            (Grant::ClientCredentials { fmi_path: Some(_) }, _) => TokenGrant::ClientCredentialsFmi,
            (Grant::ClientCredentials { .. }, Some(_)) => TokenGrant::AgentClientCredentials,
            (Grant::ClientCredentials { .. }, None) => TokenGrant::ClientCredentials,
            (Grant::OnBehalfOf { .. }, _) => TokenGrant::OnBehalfOf,
            (Grant::RefreshToken { .. }, _) => TokenGrant::RefreshToken,
            (Grant::UserFic { .. }, _) => TokenGrant::UserFic,
        }
    }
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

/// Posts the form and reads the answer: the token, or an error naming the remedy a retry would
/// need (see [`interpret`]). `federated_assertion` is the managed-identity token of a
/// `ManagedIdentityAssertion` credential, which the caller obtains.
pub fn exchange(
    transport: &Transport,
    exchange: &Exchange,
    credential: &Credential,
    federated_assertion: Option<&str>,
) -> Result<Issued> {
    let mut form = vec![("client_id", exchange.client_id.to_string())];
    form.extend(grant_fields(exchange));
    match exchange.client_assertion {
        Some(assertion) => {
            form.push(("client_assertion_type", JWT_BEARER.to_string()));
            form.push(("client_assertion", assertion.to_string()));
        }
        None if exchange.authentication == Authentication::Credential => {
            form.extend(proof_of_identity(
                exchange,
                credential,
                federated_assertion,
            )?);
        }
        None => {}
    }
    if let Some(claims) = exchange.claims {
        form.push(("claims", claims.to_string()));
    }
    if let Some(token_type) = exchange.token_type {
        form.push(("token_type", token_type.to_string()));
    }
    let body = encode_form(&form);
    let headers = request_headers(exchange);
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
    crate::metrics::token_request(exchange.counted_grant());
    let response = transport.send(&agent, &request, exchange.deadline)?;
    let signed_with_certificate = exchange.client_assertion.is_none()
        && (matches!(credential, Credential::Certificate(_)) || exchange.over_mtls.is_some());
    let answer = interpret(&response, exchange.endpoint, signed_with_certificate);
    match exchange.grant.is_for_a_user() {
        true => answer.map_err(|e| needs_the_user(e, &response)),
        false => answer,
    }
}

/// The form fields of the grant: its type, scopes and what it carries. A user's grant asks for
/// the OpenID scopes too, and for `client_info`, as MSAL does.
fn grant_fields(exchange: &Exchange) -> Vec<(&'static str, String)> {
    let user_scope = || {
        let mut scopes: Vec<&str> = exchange.scopes.iter().map(String::as_str).collect();
        for reserved in ["openid", "profile", "offline_access"] {
            if !scopes.iter().any(|s| s.eq_ignore_ascii_case(reserved)) {
                scopes.push(reserved);
            }
        }
        scopes.join(" ")
    };
    let mut fields = Vec::new();
    match exchange.grant {
        Grant::ClientCredentials { fmi_path } => {
            fields.push(("grant_type", "client_credentials".to_string()));
            fields.push(("scope", exchange.scopes.join(" ")));
            if let Some(path) = fmi_path {
                fields.push(("fmi_path", path.to_string()));
            }
            return fields;
        }
        Grant::OnBehalfOf { assertion } => {
            fields.push(("grant_type", JWT_BEARER_GRANT.to_string()));
            fields.push(("assertion", assertion.to_string()));
            fields.push(("requested_token_use", "on_behalf_of".to_string()));
        }
        Grant::RefreshToken { refresh_token } => {
            fields.push(("grant_type", "refresh_token".to_string()));
            fields.push(("refresh_token", refresh_token.to_string()));
        }
        Grant::UserFic { credential, user } => {
            fields.push(("grant_type", "user_fic".to_string()));
            fields.push(("user_federated_identity_credential", credential.to_string()));
            fields.push(match user {
                AgentUser::Username(upn) => ("username", upn.clone()),
                AgentUser::ObjectId(oid) => ("user_id", oid.to_ascii_lowercase()),
            });
        }
    }
    fields.push(("scope", user_scope()));
    fields.push(("client_info", "1".to_string()));
    fields
}

/// A refusal of a user's grant that only the user can lift (MSAL's rule: `interaction_required`,
/// or `invalid_grant` unless its sub-error says otherwise) becomes
/// [`ErrorKind::UserInteractionRequired`] with the answer's claims challenge.
fn needs_the_user(error: Error, response: &crate::transport::Response) -> Error {
    let json: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(serde_json::Value::as_str)
    };
    let sub_error_is_not_the_users = matches!(
        field("suberror"),
        Some("client_mismatch" | "protection_policy_required")
    );
    let the_users = match field("error") {
        Some("interaction_required") => true,
        Some("invalid_grant") => !sub_error_is_not_the_users,
        _ => false,
    };
    if !the_users {
        return error;
    }
    let claims = field("claims").map(str::to_string);
    error
        .with_kind(ErrorKind::UserInteractionRequired)
        .with_claims_challenge(claims)
}

/// The form fields that prove the app's identity with its credential: a client assertion (signed
/// by its certificate, read from a file, or a managed identity's token) or its secret.
fn proof_of_identity(
    exchange: &Exchange,
    credential: &Credential,
    federated_assertion: Option<&str>,
) -> Result<Vec<(&'static str, String)>> {
    let assertion = match credential {
        Credential::ClientSecret(secret) => return Ok(vec![("client_secret", secret.to_string())]),
        Credential::Certificate(certificate) => assertion::sign(
            certificate,
            exchange.client_id,
            exchange.endpoint,
            exchange.dialect,
            exchange.send_x5c,
        )
        .map_err(|e| Error::new(ErrorKind::CredentialUnavailable, e))?,
        Credential::SignedAssertionFile(path) => read_assertion_file(path)?,
        Credential::ManagedIdentityAssertion(_) => federated_assertion
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::CredentialUnavailable,
                    "no managed-identity token to send as the client assertion",
                )
            })?
            .to_string(),
    };
    Ok(vec![
        ("client_assertion_type", JWT_BEARER.to_string()),
        ("client_assertion", assertion),
    ])
}

/// A signed assertion file's content (re-read for every request: it is rotated by its issuer).
fn read_assertion_file(path: &std::path::Path) -> Result<String> {
    let unusable = |why: String| {
        Error::new(
            ErrorKind::CredentialUnavailable,
            format!("signed assertion file: {why}"),
        )
    };
    let data = read_regular_file(path, FileKind::Assertion).map_err(unusable)?;
    String::from_utf8(data)
        .map(|text| text.trim().to_string())
        .ok()
        .filter(|text| !text.is_empty())
        .ok_or_else(|| unusable(format!("'{}' holds no assertion", path.display())))
}

fn request_headers(exchange: &Exchange) -> Vec<(String, String)> {
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
    headers
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn encode_form(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Reads `token_endpoint` and its mTLS alias from an OpenID discovery document; a busy server
/// is asked again as the token endpoint would be.
pub fn discover(transport: &Transport, url: &str, deadline: Deadline) -> Result<Discovered> {
    let headers = [("Accept".to_string(), "application/json".to_string())];
    let request = Request {
        method: "GET",
        url,
        headers: &headers,
        body: &[],
    };
    Driver::new(deadline).run(|_| {
        let response = transport.send(&transport.anonymous_agent(), &request, deadline)?;
        match discovered_token_endpoint(&response) {
            Ok(discovered) => Ok(Step::Done(discovered)),
            Err(error) => Step::retry_error(error),
        }
    })
}
