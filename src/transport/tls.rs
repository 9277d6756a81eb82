//! TLS configs for agents: the server trust (a configured CA bundle or the OS store, never the
//! absence of verification) and the client certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, SignatureScheme};

use crate::credentials::Certificate;
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};
use crate::files::{FileKind, check_regular_file, read_regular_file};

/// The TLS config of one agent: the server trust, and the client certificate it presents (if
/// any), signing with the key loaded with it. Its session cache is the agent's own.
pub(super) fn client_config(
    crypto: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
    certificate: Option<&Certificate>,
) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(crypto)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots);
    let config = match certificate {
        Some(certificate) => {
            let key = CertifiedKey::new(
                certificate.chain().to_vec(),
                certificate.signing_key().clone(),
            );
            builder.with_client_cert_resolver(Arc::new(PresentAlways(Arc::new(key))))
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Presents one certificate whatever the server asks for, as `with_client_auth_cert` does, but
/// with the signing key the certificate was loaded with (checked against it then), so that no
/// key is parsed again per agent.
#[derive(Debug)]
struct PresentAlways(Arc<CertifiedKey>);

impl ResolvesClientCert for PresentAlways {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Server trust: the configured CA bundle, else the OS store (which honours `SSL_CERT_FILE` and
/// `SSL_CERT_DIR`). Never the absence of verification.
pub(super) fn load_roots(ca_bundle_path: Option<&str>) -> Result<Arc<RootCertStore>> {
    let certificates: Vec<CertificateDer<'static>> = match ca_bundle_path {
        Some(path) => {
            let config_error =
                |e: String| Error::new(ErrorKind::Config, format!("Http.CaBundlePath: {e}"));
            let data =
                read_regular_file(Path::new(path), FileKind::CaBundle).map_err(config_error)?;
            CertificateDer::pem_slice_iter(&data)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| config_error(format!("invalid PEM in {}: {e}", quote(path))))?
        }
        None => {
            // The OS store reads SSL_CERT_FILE itself: make sure it is a file it can finish reading.
            if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
                check_regular_file(Path::new(&file), FileKind::CaBundle)
                    .map_err(|e| Error::new(ErrorKind::Tls, format!("SSL_CERT_FILE: {e}")))?;
            }
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                let reasons: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
                return Err(Error::new(
                    ErrorKind::Tls,
                    format!(
                        "no trusted CA certificates found in the OS store ({}); set SSL_CERT_FILE \
                         or Http.CaBundlePath",
                        reasons.join("; ")
                    ),
                ));
            }
            found.certs
        }
    };
    if certificates.is_empty() {
        return Err(Error::new(
            ErrorKind::Config,
            "Http.CaBundlePath: the file holds no PEM certificates",
        ));
    }
    let mut roots = RootCertStore::empty();
    // What ureq did with them: certificates rustls cannot use as anchors are skipped.
    roots.add_parsable_certificates(certificates);
    Ok(Arc::new(roots))
}
