//! TLS to a server known by its certificate's thumbprint, not by a CA: Service Fabric's
//! managed-identity endpoint presents a certificate of the cluster, which the platform names by
//! its SHA-1 thumbprint in `IDENTITY_SERVER_THUMBPRINT` (what MSAL compares). The handshake's
//! signatures are still verified, with the crypto provider's algorithms, so only the holder of
//! that certificate's key gets the request.
//!
//! ureq takes no custom verifier; our TLS connector ([`super::connector`]) takes any rustls
//! config, here one with the pinning verifier.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// Accepts exactly the server certificate whose SHA-1 thumbprint (hex, any case) is pinned.
#[derive(Debug)]
struct PinnedVerifier {
    thumbprint: String,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The uppercase hex SHA-1 of a certificate's DER, as Windows and .NET show thumbprints.
pub(super) fn sha1_thumbprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = sha1_thumbprint(end_entity.as_ref());
        if presented.eq_ignore_ascii_case(&self.thumbprint) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the server's certificate (SHA-1 thumbprint {presented}) is not the one pinned by \
                 IDENTITY_SERVER_THUMBPRINT ({})",
                self.thumbprint.to_ascii_uppercase()
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS config of a connection to the server whose certificate has this SHA-1 thumbprint.
pub(super) fn pinned_config(crypto: Arc<CryptoProvider>, thumbprint: &str) -> Arc<ClientConfig> {
    let verifier = PinnedVerifier {
        thumbprint: thumbprint.to_string(),
        algorithms: crypto.signature_verification_algorithms,
    };
    let config = ClientConfig::builder_with_provider(crypto)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Arc::new(config)
}
