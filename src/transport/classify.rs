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
        // Our key failed to sign the handshake (rustls' providers say exactly this): the
        // credential is at fault, and reloading it is the remedy, as for a rejection.
        rustls::Error::General(message) if message == "signing failed" => {
            ErrorKind::CredentialUnavailable
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
        ErrorKind::CertificateRejected | ErrorKind::CredentialUnavailable
            if !client_certificate =>
        {
            ErrorKind::Tls
        }
        kind => kind,
    };
    let message = match &error {
        ureq::Error::LargeResponseHeader(..) => format!(
            "the response's headers exceed the {} KiB this client reads ({})",
            super::MAX_RESPONSE_HEAD / 1024,
            cause_chain(&error)
        ),
        _ => cause_chain(&error),
    };
    Error::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(error: rustls::Error) -> ureq::Error {
        ureq::Error::Io(io::Error::other(error))
    }

    #[test]
    fn alerts_and_signing_failures_blame_the_certificate_only_when_one_was_presented() {
        let alert = || {
            wrapped(rustls::Error::AlertReceived(
                rustls::AlertDescription::UnknownCA,
            ))
        };
        assert_eq!(
            classify(alert(), true).kind(),
            ErrorKind::CertificateRejected
        );
        assert_eq!(classify(alert(), false).kind(), ErrorKind::Tls);
        let signing = || wrapped(rustls::Error::General("signing failed".into()));
        assert_eq!(
            classify(signing(), true).kind(),
            ErrorKind::CredentialUnavailable
        );
        assert_eq!(classify(signing(), false).kind(), ErrorKind::Tls);
        let other = wrapped(rustls::Error::General("something else".into()));
        assert_eq!(classify(other, true).kind(), ErrorKind::Tls);
    }
}
