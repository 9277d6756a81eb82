//! Credential events, as Id.Web's `ICredentialsObserver` sees them: which certificate was selected,
//! deselected after a rejection, or successfully used for a call.

use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A credential became the one in use (first use, or after a rotation).
    Selected,
    /// The credential in use was rejected and dropped; `error` says why.
    Deselected,
    /// A call authenticated with the credential succeeded.
    SuccessfullyUsed,
}

/// What an observer receives. Borrowed: copy what you keep.
#[derive(Debug, Clone, Copy)]
pub struct CredentialEvent<'a> {
    pub kind: EventKind,
    pub thumbprint: &'a str,
    pub subject: &'a str,
    /// "ClientCredentials[0] (Path)".
    pub source: &'a str,
    /// "MTLS", "Bearer", ...
    pub protocol: &'a str,
    pub api_url: &'a str,
    pub error: Option<&'a str>,
}

pub type Observer = Arc<dyn Fn(&CredentialEvent) + Send + Sync>;

/// The call a credential event belongs to (its URL is redacted when an event is emitted).
#[derive(Debug, Clone, Copy)]
pub struct Usage<'a> {
    pub protocol: &'a str,
    pub api_url: &'a str,
}
