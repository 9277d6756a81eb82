//! The library's error type: a kind (which becomes a C status code) and a message that keeps the
//! whole cause chain, outermost context first ("calling API 'orders': ClientCredentials[0]: ...").

use std::fmt;

/// What went wrong, coarse enough for a caller to act on. Each kind maps to one `dsapi_status`.
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
}

/// An error with its full cause chain rendered as text. Messages never contain secrets:
/// they name configuration fields, never their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

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
