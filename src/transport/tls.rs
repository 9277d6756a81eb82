//! TLS material for agents: the server trust (a configured CA bundle or the OS store, never the
//! absence of verification) and the client key in the form ureq takes.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use ureq::tls::{PrivateKey, RootCerts};

use crate::credentials::Certificate;
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};
use crate::files::{FileKind, check_regular_file, read_regular_file};

/// ureq takes keys as its own type whose DER constructor needs a kind it does not export, so the
/// key goes through PEM, which carries the kind in its label.
pub(super) fn ureq_private_key(certificate: &Certificate) -> PrivateKey<'static> {
    use base64::Engine;
    use rustls::pki_types::PrivateKeyDer;
    let key = certificate.key();
    let (label, der) = match &key {
        PrivateKeyDer::Pkcs1(k) => ("RSA PRIVATE KEY", k.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(k) => ("EC PRIVATE KEY", k.secret_sec1_der()),
        _ => ("PRIVATE KEY", key.secret_der()),
    };
    let pem = format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    );
    PrivateKey::from_pem(pem.as_bytes())
        .expect("a PEM block built from a key that rustls already accepted")
}

/// Server trust: the configured CA bundle, else the OS store (which honours `SSL_CERT_FILE` and
/// `SSL_CERT_DIR`). Never the absence of verification.
pub(super) fn load_roots(ca_bundle_path: Option<&str>) -> Result<RootCerts> {
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
    Ok(RootCerts::new_with_certs(
        &certificates
            .iter()
            .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
            .collect::<Vec<_>>(),
    ))
}
