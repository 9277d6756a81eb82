//! The library's error type: a kind (which becomes a C status code) and a message that keeps the
//! whole cause chain, outermost context first ("calling API 'orders': ClientCredentials[0]: ...").

use std::fmt;
use std::time::Duration;

use crate::remedy::Remedy;

/// What went wrong, coarse enough for a caller to act on. Each kind maps to one `dsapi_status`.
/// A new kind goes at the end, and into [`ErrorKind::ALL`] (its name is in [`ErrorKind::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A NULL pointer, invalid UTF-8 or otherwise unusable argument.
    InvalidArgument,
    /// The configuration JSON is malformed, has a wrong type, or misses a required value.
    Config,
    /// A file named by the caller (configuration file) could not be read.
    Io,
    /// The API name is not a key of `DownstreamApis`.
    UnknownApi,
    /// No configured credential could be loaded or none fits the protocol.
    CredentialUnavailable,
    /// The server rejected our client certificate, also after reloading it once.
    CertificateRejected,
    /// TLS failed for another reason (for example the server certificate is not trusted).
    Tls,
    /// Connection refused, reset, or the host could not be resolved.
    Network,
    /// The connect or overall request timeout elapsed.
    Timeout,
    /// A client certificate or token would have been sent over plain `http://`.
    InsecureUrl,
    /// The server's answer was not valid HTTP, or exceeded a size limit.
    Protocol,
    /// The configuration asks for something this build does not do.
    Unsupported,
    /// A looked-up item (such as a response header) does not exist.
    NotFound,
    /// The token endpoint refused (its `error`, `error_description` and AADSTS code are in the
    /// message) or OpenID discovery failed.
    TokenAcquisition,
    /// A token for the user needs the user to act (MFA, consent, Conditional Access, an expired
    /// session); [`Error::claims_challenge`] gives the claims to send back to the user's client.
    UserInteractionRequired,
    /// An incoming access token was refused by [`crate::DownstreamApi::validate_token`]: malformed,
    /// not signed by the issuer's keys, expired, or not for this API (the message says which
    /// rule, never the token).
    TokenInvalid,
}

impl ErrorKind {
    /// Every kind, in declaration order (`ALL[kind as usize] == kind`): the outcomes the call
    /// counters of [`crate::metrics`] keep.
    pub const ALL: [ErrorKind; 16] = [
        ErrorKind::InvalidArgument,
        ErrorKind::Config,
        ErrorKind::Io,
        ErrorKind::UnknownApi,
        ErrorKind::CredentialUnavailable,
        ErrorKind::CertificateRejected,
        ErrorKind::Tls,
        ErrorKind::Network,
        ErrorKind::Timeout,
        ErrorKind::InsecureUrl,
        ErrorKind::Protocol,
        ErrorKind::Unsupported,
        ErrorKind::NotFound,
        ErrorKind::TokenAcquisition,
        ErrorKind::UserInteractionRequired,
        ErrorKind::TokenInvalid,
    ];

    /// The kind's name in snake_case (`certificate_rejected`), as metrics label it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Config => "config",
            ErrorKind::Io => "io",
            ErrorKind::UnknownApi => "unknown_api",
            ErrorKind::CredentialUnavailable => "credential_unavailable",
            ErrorKind::CertificateRejected => "certificate_rejected",
            ErrorKind::Tls => "tls",
            ErrorKind::Network => "network",
            ErrorKind::Timeout => "timeout",
            ErrorKind::InsecureUrl => "insecure_url",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::NotFound => "not_found",
            ErrorKind::TokenAcquisition => "token_acquisition",
            ErrorKind::UserInteractionRequired => "user_interaction_required",
            ErrorKind::TokenInvalid => "token_invalid",
        }
    }
}

/// An error with its full cause chain rendered as text, and what is known of it as data: the HTTP
/// status and AADSTS codes of a refusal, and the remedy it calls for. Messages never contain
/// secrets: they name configuration fields, never their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// Boxed: most errors have none, and a `Result` stays small on the hot path.
    detail: Option<Box<Detail>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Detail {
    http_status: Option<u16>,
    aadsts_codes: Vec<u32>,
    remedy: Option<Remedy>,
    retry_after: Option<Duration>,
    claims_challenge: Option<String>,
}

/// The result of the library's fallible functions.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error of `kind` with `message` (a message names a field or file, never a secret).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    /// The HTTP status of the answer that made this error, when one did (a token endpoint's
    /// refusal, a managed-identity endpoint's).
    pub fn http_status(&self) -> Option<u16> {
        self.detail.as_ref()?.http_status
    }

    /// The AADSTS codes of an Entra ID refusal (`7000215` for AADSTS7000215); empty otherwise.
    pub fn aadsts_codes(&self) -> &[u32] {
        self.detail
            .as_ref()
            .map_or(&[], |detail| detail.aadsts_codes.as_slice())
    }

    /// The remedy this error calls for (whether or not it was tried): what the retry driver reads.
    pub fn remedy(&self) -> Option<Remedy> {
        self.detail.as_ref()?.remedy
    }

    /// The wait the server asked for (`Retry-After`), when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.detail.as_ref()?.retry_after
    }

    /// The claims challenge that came with a [`ErrorKind::UserInteractionRequired`] error (the
    /// JSON of Entra's `claims`), for the web API to send back to its caller in
    /// `WWW-Authenticate`.
    pub fn claims_challenge(&self) -> Option<&str> {
        self.detail.as_ref()?.claims_challenge.as_deref()
    }

    /// Records the claims challenge of a refusal that needs the user.
    pub fn with_claims_challenge(mut self, claims: Option<String>) -> Self {
        self.detail_mut().claims_challenge = claims;
        self
    }

    /// Records the HTTP status of the answer behind this error.
    pub fn with_http_status(mut self, status: u16) -> Self {
        self.detail_mut().http_status = Some(status);
        self
    }

    /// Records the AADSTS codes of an Entra ID refusal.
    pub fn with_aadsts_codes(mut self, codes: Vec<u32>) -> Self {
        self.detail_mut().aadsts_codes = codes;
        self
    }

    /// Records the remedy this error calls for and the server's `Retry-After`, if any.
    pub fn calling_for(mut self, remedy: Remedy, retry_after: Option<Duration>) -> Self {
        let detail = self.detail_mut();
        detail.remedy = Some(remedy);
        detail.retry_after = retry_after;
        self
    }

    /// The same error with another kind (its message and detail kept).
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    fn detail_mut(&mut self) -> &mut Detail {
        self.detail.get_or_insert_with(Box::default)
    }

    /// What kind of failure this is (the C ABI's status follows from it).
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message with its whole cause chain.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with where the error happened, keeping the kind.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Renders an error and every `source()` below it as "outer: inner: innermost", skipping
/// levels that repeat the text of the level above (many wrappers are transparent).
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        current = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn every_kind_is_listed_once_at_its_own_index() {
        for (index, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index, "{kind:?}");
        }
        let mut names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}
