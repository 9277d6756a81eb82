//! TLS to a server known by its certificate's thumbprint, not by a CA: Service Fabric's
//! managed-identity endpoint presents a certificate of the cluster, which the platform names by
//! its SHA-1 thumbprint in `IDENTITY_SERVER_THUMBPRINT` (what MSAL compares). The handshake's
//! signatures are still verified, with the crypto provider's algorithms, so only the holder of
//! that certificate's key gets the request.
//!
//! ureq takes no custom verifier, so this is a connector of its own after ureq's TCP one: rustls
//! with the pinning verifier, wrapped as ureq wraps its rustls streams.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use ureq::Error;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport, TransportAdapter,
};

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

/// The connector that adds pinned TLS to ureq's TCP connection.
#[derive(Debug)]
pub(super) struct PinnedTlsConnector {
    config: Arc<ClientConfig>,
}

impl PinnedTlsConnector {
    pub(super) fn new(crypto: Arc<CryptoProvider>, thumbprint: &str) -> PinnedTlsConnector {
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
        PinnedTlsConnector {
            config: Arc::new(config),
        }
    }
}

impl<In: Transport> Connector<In> for PinnedTlsConnector {
    type Out = PinnedTlsTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        let Some(tcp) = chained else {
            return Ok(None);
        };
        let host = details
            .uri
            .host()
            .ok_or(Error::Tls("no host to connect to"))?;
        // An IPv6 literal comes bracketed in the URI.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| Error::Tls("the host is not a valid TLS server name"))?;
        let mut connection = ClientConnection::new(self.config.clone(), name)?;
        let mut socket = TransportAdapter::new(tcp.boxed(), details.current_time.clone());
        socket.set_timeout(details.timeout);
        connection.complete_io(&mut socket)?;
        Ok(Some(PinnedTlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(connection, socket),
        }))
    }
}

pub(super) struct PinnedTlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for PinnedTlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedTlsTransport").finish_non_exhaustive()
    }
}

impl Transport for PinnedTlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
