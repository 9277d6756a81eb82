//! The data model of the provider: a loaded credential, what it is selected for, and the
//! selection in use with the entry it came from.

use std::path::Path;
use std::sync::Arc;

use super::certificate::Certificate;
use crate::clock::format_time;
use crate::config::ManagedIdentityId;

/// A loaded credential.
#[derive(Clone)]
pub enum Credential {
    Certificate(Arc<Certificate>),
    /// A client secret; its value never appears in messages.
    ClientSecret(Arc<str>),
    /// A file holding a signed assertion (workload identity federation), read at each use.
    SignedAssertionFile(Arc<Path>),
    /// A managed identity's token as the client assertion (`SignedAssertionFromManagedIdentity`).
    ManagedIdentityAssertion(Arc<FederatedIdentity>),
}

/// The managed identity whose token a federated credential exchanges, and for which audience.
#[derive(Debug, PartialEq, Eq)]
pub struct FederatedIdentity {
    pub identity: ManagedIdentityId,
    /// The resource of the managed-identity token (`TokenExchangeUrl` without `/.default`).
    pub audience: String,
}

impl Credential {
    /// The same loaded credential: a reload makes a new one, even from identical bytes.
    pub(super) fn same_as(&self, other: &Credential) -> bool {
        match (self, other) {
            (Credential::Certificate(a), Credential::Certificate(b)) => Arc::ptr_eq(a, b),
            (Credential::ClientSecret(a), Credential::ClientSecret(b)) => Arc::ptr_eq(a, b),
            (Credential::SignedAssertionFile(a), Credential::SignedAssertionFile(b)) => {
                Arc::ptr_eq(a, b)
            }
            (Credential::ManagedIdentityAssertion(a), Credential::ManagedIdentityAssertion(b)) => {
                Arc::ptr_eq(a, b)
            }
            _ => false,
        }
    }

    /// The same credential by value: the same certificate (SHA-256 of its DER), secret, file or
    /// managed identity, loaded once or twice.
    pub(super) fn same_value(&self, other: &Credential) -> bool {
        match (self, other) {
            (Credential::Certificate(a), Credential::Certificate(b)) => {
                a.facts.thumbprint_sha256 == b.facts.thumbprint_sha256
            }
            (Credential::ClientSecret(a), Credential::ClientSecret(b)) => a == b,
            (Credential::SignedAssertionFile(a), Credential::SignedAssertionFile(b)) => a == b,
            (Credential::ManagedIdentityAssertion(a), Credential::ManagedIdentityAssertion(b)) => {
                a == b
            }
            _ => false,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Credential::Certificate(_) => "a certificate",
            Credential::ClientSecret(_) => "a client secret",
            Credential::SignedAssertionFile(_) => "a signed assertion file",
            Credential::ManagedIdentityAssertion(_) => "a managed identity's assertion",
        }
    }
}

/// What a credential is selected for: the TLS handshake needs a certificate, a token request
/// takes any credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Mtls,
    Token,
}

impl Purpose {
    pub(super) fn slot(self) -> usize {
        match self {
            Purpose::Mtls => 0,
            Purpose::Token => 1,
        }
    }

    pub(super) fn accepts(self, credential: &Credential) -> bool {
        match self {
            Purpose::Mtls => matches!(credential, Credential::Certificate(_)),
            Purpose::Token => true,
        }
    }
}

/// The credential currently in use for one purpose and the entry it came from.
#[derive(Clone)]
pub struct Selection {
    pub index: usize,
    pub credential: Credential,
    /// "ClientCredentials[0] (Path)", for events and messages.
    pub source: Arc<str>,
}

impl Selection {
    pub fn certificate(&self) -> Option<&Arc<Certificate>> {
        match &self.credential {
            Credential::Certificate(certificate) => Some(certificate),
            _ => None,
        }
    }

    /// The same loaded credential (a reload makes a new one, even from identical bytes).
    pub(super) fn same_as(&self, other: &Selection) -> bool {
        self.index == other.index && self.credential.same_as(&other.credential)
    }

    pub(super) fn describe(&self) -> String {
        match &self.credential {
            Credential::Certificate(c) => format!(
                "certificate {} ({}, expires {}) from {}",
                c.facts.thumbprint,
                c.facts.subject,
                format_time(c.facts.not_after),
                self.source
            ),
            other => format!("{} from {}", other.kind_name(), self.source),
        }
    }
}
