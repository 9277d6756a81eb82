//! HTTP over TLS with ureq: one long-lived agent per client certificate (its connection pool and TLS
//! session cache belong to that certificate), server trust from the OS store or a configured CA
//! bundle, and failures classified into the kinds the retry logic needs.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use once_cell::sync::OnceCell;
use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use ureq::Agent;
use ureq::tls::{ClientCert, PrivateKey, RootCerts, TlsConfig};

use crate::config::HttpOptions;
use crate::credentials::certificate::Certificate;
use crate::error::{Error, ErrorKind, Result, cause_chain};
use crate::resolver::CachingResolver;

/// A request as the downstream layer built it; kept whole so a retry resends the same bytes.
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// A response of any HTTP status.
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

// A token endpoint's body holds the token: Debug shows its size only.
impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Response {
    /// Every header named `name`, ignoring ASCII case, in received order.
    pub fn headers_named<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first header named `name`, ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }
}

/// A ureq agent and whether it presents a client certificate: only then can a TLS alert mean
/// that the certificate was rejected.
#[derive(Clone)]
pub struct ClientAgent {
    agent: Agent,
    presents_certificate: bool,
}

pub struct Transport {
    crypto: Arc<CryptoProvider>,
    roots: RootCerts,
    options: HttpOptions,
    /// Agents keyed by the certificate's SHA-256 thumbprint.
    agents: RwLock<HashMap<String, Agent>>,
    /// The agent presenting no certificate: token endpoints and Bearer APIs.
    anonymous: OnceCell<ClientAgent>,
}

impl Transport {
    pub fn new(options: &HttpOptions, crypto: Arc<CryptoProvider>) -> Result<Self> {
        Ok(Transport {
            crypto,
            roots: load_roots(options.ca_bundle_path.as_deref())?,
            options: options.clone(),
            agents: RwLock::new(HashMap::new()),
            anonymous: OnceCell::new(),
        })
    }

    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// The agent that presents `certificate`, created on first use and kept until forgotten.
    pub fn agent_for(&self, certificate: &Certificate) -> ClientAgent {
        if let Some(agent) = self.agents.read().get(&certificate.thumbprint_sha256) {
            return ClientAgent {
                agent: agent.clone(),
                presents_certificate: true,
            };
        }
        let (agent, created) = {
            let mut agents = self.agents.write();
            match agents.get(&certificate.thumbprint_sha256) {
                Some(agent) => (agent.clone(), false),
                None => {
                    let agent = self.build_agent(Some(certificate));
                    agents.insert(certificate.thumbprint_sha256.clone(), agent.clone());
                    (agent, true)
                }
            }
        };
        if created {
            crate::log::debug(|| {
                format!(
                    "new connection pool for certificate {}",
                    certificate.thumbprint
                )
            });
        }
        ClientAgent {
            agent,
            presents_certificate: true,
        }
    }

    /// The agent that presents no client certificate.
    pub fn anonymous_agent(&self) -> ClientAgent {
        self.anonymous
            .get_or_init(|| ClientAgent {
                agent: self.build_agent(None),
                presents_certificate: false,
            })
            .clone()
    }

    /// Drops the agent of a rejected certificate so that no pooled connection or TLS session of it
    /// is reused.
    pub fn forget(&self, certificate: &Certificate) {
        self.agents.write().remove(&certificate.thumbprint_sha256);
    }

    fn build_agent(&self, certificate: Option<&Certificate>) -> Agent {
        let client_cert = certificate.map(|certificate| {
            let chain: Vec<ureq::tls::Certificate<'static>> = certificate
                .chain()
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
                .collect();
            ClientCert::new_with_certs(&chain, ureq_private_key(certificate))
        });
        let tls = TlsConfig::builder()
            .client_cert(client_cert)
            .root_certs(self.roots.clone())
            .unversioned_rustls_crypto_provider(self.crypto.clone())
            .build();
        let config = Agent::config_builder()
            .tls_config(tls)
            // Every request carries a certificate or a credential: never over plain http.
            .https_only(true)
            .http_status_as_error(false)
            // A redirect is returned to the caller: following it would carry credentials elsewhere.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(self.options.connect_timeout))
            .timeout_global(Some(self.options.timeout))
            // ureq's 128 KiB default buffers per agent dominate a client's memory; the input
            // buffer stays at the 64 KiB response-header limit.
            .input_buffer_size(64 * 1024)
            .output_buffer_size(16 * 1024)
            .user_agent(concat!("downstream-api/", env!("CARGO_PKG_VERSION")))
            .build();
        Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::default(),
            CachingResolver::default(),
        )
    }

    /// Sends one request; a deadline bounds the whole exchange (the call's remaining time).
    pub fn send(
        &self,
        client: &ClientAgent,
        request: &Request,
        deadline: Instant,
    ) -> Result<Response> {
        let agent = &client.agent;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::new(ErrorKind::Timeout, "the call's timeout elapsed"));
        }
        let mut builder = ureq::http::Request::builder()
            .method(request.method)
            .uri(request.url);
        for (name, value) in request.headers {
            let invalid = |what: &str| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("header '{}': invalid {what}", name.escape_debug()),
                )
            };
            let header_name =
                ureq::http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("name"))?;
            let header_value = ureq::http::HeaderValue::from_str(value)
                .map_err(|_| invalid("value (control characters?)"))?;
            builder = builder.header(header_name, header_value);
        }
        let http_request = builder
            .body(request.body)
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("invalid request: {e}")))?;
        // A request-level config makes ureq rebuild its TLS config (and lose the TLS session
        // cache) for each new connection: only a retry, with less than the agent's timeout left,
        // needs one.
        let http_request = if remaining + Duration::from_millis(100) < self.options.timeout {
            agent
                .configure_request(http_request)
                .timeout_global(Some(remaining))
                .build()
        } else {
            http_request
        };
        let classify = |error| classify(error, client.presents_certificate);
        let response = agent.run(http_request).map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .with_config()
            .limit(self.options.max_response_bytes)
            .read_to_vec()
            .map_err(classify)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// ureq takes keys as its own type whose DER constructor needs a kind it does not export, so the
/// key goes through PEM, which carries the kind in its label.
fn ureq_private_key(certificate: &Certificate) -> PrivateKey<'static> {
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
fn load_roots(ca_bundle_path: Option<&str>) -> Result<RootCerts> {
    let certificates: Vec<CertificateDer<'static>> = match ca_bundle_path {
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("Http.CaBundlePath: cannot read CA certificates from '{path}': {e}"),
                )
            })?,
        None => {
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
fn classify(error: ureq::Error, client_certificate: bool) -> Error {
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

/// How long a call may take in total, from now.
pub fn deadline_after(timeout: Duration) -> Instant {
    Instant::now() + timeout
}
