//! Failures classified into the kinds the retry logic needs. Certificate rejections are found
//! inside io errors, where ureq puts rustls errors raised during the handshake or the first read.

use std::io;

use crate::error::{Error, ErrorKind, cause_chain};

/// TLS alerts by which a server says it does not accept our client certificate.
fn is_certificate_alert(alert: rustls::AlertDescription) -> bool {
    use rustls::AlertDescription::*;
    matches!(
        alert,
        BadCertificate
            | UnknownCA
            | CertificateRequired
            | CertificateExpired
            | CertificateRevoked
            | CertificateUnknown
            | UnsupportedCertificate
            | AccessDenied
            | HandshakeFailure
            | DecryptError
    )
}

fn classify_rustls(error: &rustls::Error) -> ErrorKind {
    match error {
        rustls::Error::AlertReceived(alert) if is_certificate_alert(*alert) => {
            ErrorKind::CertificateRejected
        }
        _ => ErrorKind::Tls,
    }
}

fn classify_io(error: &io::Error) -> ErrorKind {
    if let Some(tls) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        return classify_rustls(tls);
    }
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout,
        _ => ErrorKind::Network,
    }
}

/// Maps a ureq error to our kinds; certificate rejections are found inside io errors, where ureq
/// puts rustls errors raised during the handshake or the first read. Without a client
/// certificate, the same alerts are plain TLS failures.
pub(super) fn classify(error: ureq::Error, client_certificate: bool) -> Error {
    let kind = match &error {
        ureq::Error::Io(io) => classify_io(io),
        ureq::Error::Rustls(tls) => classify_rustls(tls),
        ureq::Error::Timeout(_) => ErrorKind::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => ErrorKind::Network,
        ureq::Error::Tls(_) => ErrorKind::Tls,
        ureq::Error::BodyExceedsLimit(_)
        | ureq::Error::LargeResponseHeader(..)
        | ureq::Error::Protocol(_) => ErrorKind::Protocol,
        ureq::Error::RequireHttpsOnly(_) => ErrorKind::InsecureUrl,
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => ErrorKind::InvalidArgument,
        _ => ErrorKind::Network,
    };
    let kind = match kind {
        ErrorKind::CertificateRejected if !client_certificate => ErrorKind::Tls,
        kind => kind,
    };
    Error::new(kind, cause_chain(&error))
}
