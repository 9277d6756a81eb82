//! How one token is requested and where it is kept: over mTLS or not, proved by the credential or
//! by the certificate alone, which `token_type`, under which cache key. Decided from the
//! configuration (`UseBoundCredential`, `TokenEndpointAuthMethod`) and the selected credential.

use std::sync::Arc;

use super::assertion::Dialect;
use super::client_credentials::{Authentication, Grant};
use super::key::CacheKey;
use crate::config::AgentUser;
use crate::credentials::{Certificate, Selection};
use crate::error::{Error, ErrorKind, Result};

pub struct Plan {
    pub key: CacheKey,
    /// The selection to use; `None`: the token credential, selected when the request is made.
    pub selection: Option<Selection>,
    pub over_mtls: bool,
    pub authentication: Authentication,
    /// The `token_type` asked for in the form and required in the answer.
    pub token_type: Option<&'static str>,
    /// Whether the assertion carries the certificate chain (SendX5C, or a bound credential's
    /// request, which Id.Web always sends with it).
    pub send_x5c: bool,
    /// What the request asks for.
    pub grant: PlanGrant,
    /// An agent's leg: the agent is the client, and T1 its assertion.
    pub client: Option<AgentClient>,
    /// A long-running session whose refresh token the answer renews.
    pub session: Option<String>,
}

/// A [`Grant`] that owns what it carries.
#[derive(Clone)]
pub enum PlanGrant {
    ClientCredentials { fmi_path: Option<String> },
    OnBehalfOf { assertion: String },
    RefreshToken { refresh_token: String },
    UserFic { credential: String, user: AgentUser },
}

impl PlanGrant {
    pub fn as_grant(&self) -> Grant<'_> {
        match self {
            PlanGrant::ClientCredentials { fmi_path } => Grant::ClientCredentials {
                fmi_path: fmi_path.as_deref(),
            },
            PlanGrant::OnBehalfOf { assertion } => Grant::OnBehalfOf { assertion },
            PlanGrant::RefreshToken { refresh_token } => Grant::RefreshToken { refresh_token },
            PlanGrant::UserFic { credential, user } => Grant::UserFic { credential, user },
        }
    }
}

/// The client of an agent's leg: the agent's app id, proving itself with T1.
#[derive(Clone)]
pub struct AgentClient {
    pub client_id: String,
    pub assertion: String,
}

impl Plan {
    /// A plan asking for `grant` with the app's credential (no mTLS), kept under `key`.
    pub fn for_grant(key: CacheKey, grant: PlanGrant, send_x5c: bool) -> Plan {
        Plan {
            key,
            selection: None,
            over_mtls: false,
            authentication: Authentication::Credential,
            token_type: None,
            send_x5c,
            grant,
            client: None,
            session: None,
        }
    }

    /// The certificate presented to the token endpoint, and that the token is bound to.
    pub fn bound_certificate(&self) -> Option<&Arc<Certificate>> {
        self.selection
            .as_ref()
            .and_then(Selection::certificate)
            .filter(|_| self.over_mtls)
    }
}

/// A certificate-bound token's form and the `Authorization` scheme it is sent with.
pub struct BoundForm {
    pub token_type: Option<&'static str>,
    pub scheme: &'static str,
    pub authentication: Authentication,
}

/// The app's configured way of requesting tokens.
pub struct Planner {
    pub send_x5c: bool,
    /// `TokenEndpointAuthMethod: tls_client_auth`: every token request over mTLS, authenticated
    /// by the certificate alone.
    pub tls_client_auth: bool,
    /// `ClientCredentials` entries with `UseBoundCredential`: their token requests go over mTLS.
    pub bound_entries: Vec<usize>,
}

impl Planner {
    /// Whether an app token's plan depends on the selected credential (some go over mTLS).
    pub fn needs_selection(&self) -> bool {
        self.tls_client_auth || !self.bound_entries.is_empty()
    }

    /// A Bearer token requested as before mTLS existed: the credential's assertion or secret.
    pub fn unbound(&self, key: CacheKey, selection: Option<Selection>) -> Plan {
        Plan {
            key,
            selection,
            over_mtls: false,
            authentication: Authentication::Credential,
            token_type: None,
            send_x5c: self.send_x5c,
            grant: PlanGrant::ClientCredentials { fmi_path: None },
            client: None,
            session: None,
        }
    }

    /// An app token for `selection`: over mTLS and kept under the certificate's key when its
    /// entry is bound (or with `tls_client_auth`), else as before mTLS existed.
    pub fn app_token(&self, key: CacheKey, selection: &Selection) -> Result<Plan> {
        let bound = self.tls_client_auth || self.bound_entries.contains(&selection.index);
        if !bound {
            return Ok(self.unbound(key, Some(selection.clone())));
        }
        let certificate = selection.certificate().ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "AzureAd.ClientCredentials[{}]: token requests over mTLS (UseBoundCredential, \
                     TokenEndpointAuthMethod tls_client_auth) need a certificate, not {}",
                    selection.index,
                    selection.credential.kind_name()
                ),
            )
        })?;
        Ok(Plan {
            key: key.bound(&certificate.facts.thumbprint_sha256),
            selection: Some(selection.clone()),
            over_mtls: true,
            authentication: match self.tls_client_auth {
                true => Authentication::CertificateOnly,
                false => Authentication::Credential,
            },
            token_type: None,
            send_x5c: true,
            grant: PlanGrant::ClientCredentials { fmi_path: None },
            client: None,
            session: None,
        })
    }

    /// What a token bound to the call's certificate is asked as: Entra's MTLS_POP
    /// (`token_type=mtls_pop` over mTLS, no assertion), or for a generic provider an RFC 8705
    /// certificate-bound Bearer token.
    pub fn bound_form(&self, dialect: Dialect) -> BoundForm {
        let (token_type, scheme, authentication) = match dialect {
            Dialect::Entra => (
                Some("mtls_pop"),
                "mtls_pop",
                Authentication::CertificateOnly,
            ),
            Dialect::Generic if self.tls_client_auth => {
                (None, "Bearer", Authentication::CertificateOnly)
            }
            Dialect::Generic => (None, "Bearer", Authentication::Credential),
        };
        BoundForm {
            token_type,
            scheme,
            authentication,
        }
    }

    /// The plan of a token bound to `certificate`, the one the call presents.
    pub fn bound(&self, key: CacheKey, selection: &Selection, form: &BoundForm) -> Plan {
        let thumbprint = selection
            .certificate()
            .map(|c| c.facts.thumbprint_sha256.as_str())
            .unwrap_or_default();
        Plan {
            key: key.bound(thumbprint),
            selection: Some(selection.clone()),
            over_mtls: true,
            authentication: form.authentication,
            token_type: form.token_type,
            send_x5c: self.send_x5c,
            grant: PlanGrant::ClientCredentials { fmi_path: None },
            client: None,
            session: None,
        }
    }
}
