//! HTTP over TLS with ureq: one long-lived agent per client certificate (its connection pool and TLS
//! session cache belong to that certificate), server trust from the OS store or a configured CA
//! bundle ([`tls`]), and failures classified into the kinds the retry logic needs ([`classify`]).

mod classify;
mod connector;
mod message;
mod pinned;
mod proxy;
mod resolver;
mod reuse;
mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use once_cell::sync::OnceCell;
use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use ureq::Agent;
use ureq::config::ConfigBuilder;
use ureq::typestate::AgentScope;

use crate::clock::Deadline;
use crate::config::{HttpOptions, ResolveEntry};
use crate::credentials::Certificate;
use crate::encoding::split_url;
use crate::error::{Error, ErrorKind, Result};
use crate::remedy::Remedy;
use crate::retry::{Driver, Step};
pub use message::{Request, RequestLine, Response};
use resolver::CachingResolver;
use reuse::{Attempt, ObservedConnector};

/// The largest request head (request line and headers) sent: ureq writes it into a buffer of this
/// size. Servers refuse far less per line (nginx: 8 KiB).
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// The largest response head read.
pub(super) const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Idle kept-alive connections an agent keeps per host and in all (about 100 KiB each).
const MAX_IDLE_PER_HOST: usize = 32;
const MAX_IDLE: usize = 128;

/// What ureq adds to the head besides our headers: `Host`, `User-Agent`, `Content-Length`, framing.
const HEAD_OVERHEAD: usize = 256;

/// Refuses a request whose head cannot be sent, before ureq fails on it with a message about its
/// buffer: this is the caller's request being too large, not the server misbehaving.
fn check_request_head(request: &Request) -> Result<()> {
    let headers: usize = request
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len() + 4)
        .sum();
    let size = request.method.len() + request.url.len() + headers + HEAD_OVERHEAD;
    if size > MAX_REQUEST_HEAD {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the request's URL and headers take about {size} bytes; at most {} KiB can be \
                 sent (a long RelativePath or query, or a large header value?)",
                MAX_REQUEST_HEAD / 1024
            ),
        ));
    }
    Ok(())
}

/// Refuses a URL with user information (`user:password@`): ureq would turn it into an
/// `Authorization: Basic` header, which no call of ours means to send. The configuration reader
/// refuses such URLs already; this also covers URLs from elsewhere (discovery documents).
fn check_no_user_information(url: &str) -> Result<()> {
    let (_, authority, _) = split_url(url);
    if authority.contains('@') {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "refusing a URL with user information (user:password@)",
        ));
    }
    Ok(())
}

/// Refuses a URL that is not `https://` before anything secret is prepared for it: `what` says
/// what would have been sent ("a token", "a client certificate", "client credentials").
pub fn require_https(url: &str, what: &str) -> Result<()> {
    if url
        .get(.."https://".len())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InsecureUrl,
            format!("refusing to send {what} over plain http://"),
        ))
    }
}

/// A ureq agent and whether it presents a client certificate: only then can a TLS alert mean
/// that the certificate was rejected.
#[derive(Clone)]
pub struct ClientAgent {
    agent: Agent,
    presents_certificate: bool,
    /// Whether the agent uses the configured proxy (the platform and pinned agents never do).
    proxied: bool,
}

pub struct Transport {
    crypto: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
    options: HttpOptions,
    /// Agents keyed by the certificate's SHA-256 thumbprint.
    agents: RwLock<HashMap<String, Agent>>,
    /// The agent presenting no certificate: token endpoints and Bearer APIs.
    anonymous: OnceCell<ClientAgent>,
    /// The agent for managed-identity endpoints over http (see [`Transport::platform_agent`]).
    platform: OnceCell<ClientAgent>,
    /// `Http.Proxy` or the environment's, as ureq takes it.
    proxy: Option<ureq::Proxy>,
    /// `Http.Resolve`, given to every agent's resolver.
    pinned: Arc<[ResolveEntry]>,
}

/// Managed-identity endpoints are on the host or its link-local network: a connection not made
/// within this time means there is none (a developer machine has no IMDS), not a slow network.
const PLATFORM_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

impl Transport {
    pub fn new(options: &HttpOptions, crypto: Arc<CryptoProvider>) -> Result<Self> {
        Ok(Transport {
            crypto,
            roots: tls::load_roots(options.ca_bundle_path.as_deref())?,
            options: options.clone(),
            agents: RwLock::new(HashMap::new()),
            anonymous: OnceCell::new(),
            platform: OnceCell::new(),
            proxy: options.proxy.as_ref().map(proxy::ureq_proxy).transpose()?,
            pinned: options.resolve.clone().into(),
        })
    }

    /// The deadline of a call starting now: `timeout` (the API's or the call's `TimeoutSeconds`),
    /// else `Http.TimeoutSeconds`, bounds it, retries included.
    pub fn call_deadline(&self, timeout: Option<Duration>) -> Deadline {
        Deadline::after(timeout.unwrap_or(self.options.timeout))
    }

    /// The agent that presents `certificate`, created on first use and kept until forgotten.
    pub fn agent_for(&self, certificate: &Certificate) -> ClientAgent {
        if let Some(agent) = self.agents.read().get(&certificate.facts.thumbprint_sha256) {
            return ClientAgent {
                agent: agent.clone(),
                presents_certificate: true,
                proxied: true,
            };
        }
        let (agent, created) = {
            let mut agents = self.agents.write();
            match agents.get(&certificate.facts.thumbprint_sha256) {
                Some(agent) => (agent.clone(), false),
                None => {
                    let agent = self.build_agent(Some(certificate));
                    agents.insert(certificate.facts.thumbprint_sha256.clone(), agent.clone());
                    (agent, true)
                }
            }
        };
        if created {
            crate::log::debug(|| {
                format!(
                    "new connection pool for certificate {}",
                    certificate.facts.thumbprint
                )
            });
        }
        ClientAgent {
            agent,
            presents_certificate: true,
            proxied: true,
        }
    }

    /// The agent that presents no client certificate.
    pub fn anonymous_agent(&self) -> ClientAgent {
        self.anonymous
            .get_or_init(|| ClientAgent {
                agent: self.build_agent(None),
                presents_certificate: false,
                proxied: true,
            })
            .clone()
    }

    /// The agent for a managed-identity endpoint that the platform's environment names (IMDS's
    /// link-local address, App Service's or Arc's local port): those are plain http, so this is
    /// the one agent that allows it, and it is used for no other URL. It presents no certificate,
    /// takes no proxy (the endpoint is local) and gives up connecting after 1 s.
    pub fn platform_agent(&self) -> ClientAgent {
        self.platform
            .get_or_init(|| {
                let config = self
                    .base_config()
                    .https_only(false)
                    .proxy(None)
                    .timeout_connect(Some(
                        self.options.connect_timeout.min(PLATFORM_CONNECT_TIMEOUT),
                    ))
                    .build();
                ClientAgent {
                    agent: self.agent_with(config, self.tls_config(None)),
                    presents_certificate: false,
                    proxied: false,
                }
            })
            .clone()
    }

    /// An agent for an https endpoint trusted by its certificate's SHA-1 thumbprint instead of a
    /// CA (Service Fabric's managed-identity endpoint, `IDENTITY_SERVER_THUMBPRINT`).
    pub fn pinned_agent(&self, sha1_thumbprint: &str) -> ClientAgent {
        let config = self
            .base_config()
            .proxy(None)
            .timeout_connect(Some(
                self.options.connect_timeout.min(PLATFORM_CONNECT_TIMEOUT),
            ))
            .build();
        let tls = pinned::pinned_config(self.crypto.clone(), sha1_thumbprint);
        ClientAgent {
            agent: self.agent_with(config, tls),
            presents_certificate: false,
            proxied: false,
        }
    }

    /// Drops the agent of a rejected certificate so that no pooled connection or TLS session of it
    /// is reused.
    pub fn forget(&self, certificate: &Certificate) {
        self.agents
            .write()
            .remove(&certificate.facts.thumbprint_sha256);
    }

    fn build_agent(&self, certificate: Option<&Certificate>) -> Agent {
        self.agent_with(self.base_config().build(), self.tls_config(certificate))
    }

    /// An agent with ureq's `config` and our TLS (see [`connector`]).
    fn agent_with(&self, config: ureq::config::Config, tls: Arc<ClientConfig>) -> Agent {
        Agent::with_parts(
            config,
            ObservedConnector(connector::tls_chain(tls)),
            CachingResolver::with_pinned(self.pinned.clone()),
        )
    }

    fn tls_config(&self, certificate: Option<&Certificate>) -> Arc<ClientConfig> {
        tls::client_config(self.crypto.clone(), self.roots.clone(), certificate)
    }

    /// What every agent shares: https only, no redirects, the proxy, the timeouts and buffer
    /// sizes. (ureq's TLS settings are not among them: our connector makes the TLS.)
    fn base_config(&self) -> ConfigBuilder<AgentScope> {
        Agent::config_builder()
            // Ours, never ureq's own reading of the environment (see config::proxy).
            .proxy(self.proxy.clone())
            // Every request carries a certificate or a credential: never over plain http.
            .https_only(true)
            .http_status_as_error(false)
            // A redirect is returned to the caller: following it would carry credentials elsewhere.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(self.options.connect_timeout))
            .timeout_global(Some(self.options.timeout))
            // ureq's 128 KiB default buffers per agent dominate a client's memory; they bound
            // the request's and the response's head.
            .input_buffer_size(MAX_RESPONSE_HEAD)
            .output_buffer_size(MAX_REQUEST_HEAD)
            // Below the input buffer: at equal sizes a full buffer reads as a disconnection
            // instead of ureq's "response header is too big".
            .max_response_header_size(MAX_RESPONSE_HEAD - 1)
            // WebDAV and other APIs use extension methods (PROPFIND, MKCOL); the configuration
            // reader checks that a method is a token.
            .allow_non_standard_methods(true)
            .user_agent(concat!("downstream-api/", env!("CARGO_PKG_VERSION")))
            // ureq keeps 3 idle connections per host: with more threads calling one API at once,
            // each call past the third closed its connection and the next one paid a handshake
            // (723 connections for 2000 calls from 16 threads). A client serves a process's threads.
            .max_idle_connections_per_host(MAX_IDLE_PER_HOST)
            .max_idle_connections(MAX_IDLE)
    }

    /// Sends one request; a deadline bounds the whole exchange (the call's remaining time). When
    /// a kept-alive connection was closed under the request before any byte of an answer came
    /// back, the request is resent once on a new connection, whatever its method.
    pub fn send(
        &self,
        client: &ClientAgent,
        request: &Request,
        deadline: Deadline,
    ) -> Result<Response> {
        check_request_head(request)?;
        check_no_user_information(request.url)?;
        Driver::new(deadline).run(|_| {
            let attempt = Attempt::start();
            match self.exchange(client, request, deadline) {
                Err(error)
                    if error.kind() == ErrorKind::Network && attempt.reused_and_unanswered() =>
                {
                    Ok(Step::retry(
                        Remedy::StaleConnection,
                        format!("a kept-alive connection was closed before an answer ({error})"),
                        Err(error),
                    ))
                }
                outcome => outcome.map(Step::Done),
            }
        })
    }

    /// The ureq request for `request`, with the call's time left when it differs from the
    /// agent's own timeout.
    fn http_request<'a>(
        &self,
        agent: &Agent,
        request: &Request<'a>,
        remaining: Duration,
    ) -> Result<ureq::http::Request<&'a [u8]>> {
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
        // A request-level config is a copy of the agent's per request: only a call whose time
        // left differs from the agent's timeout needs one (a retry, or a call with its own
        // TimeoutSeconds).
        if remaining.abs_diff(self.options.timeout) <= Duration::from_millis(100) {
            return Ok(http_request);
        }
        Ok(agent
            .configure_request(http_request)
            .timeout_global(Some(remaining))
            .build())
    }

    /// Turns ureq's error into ours, naming the proxy a request went through and the bound that
    /// ran out on a timeout.
    fn classify(
        &self,
        client: &ClientAgent,
        url: &str,
        remaining: Duration,
        error: ureq::Error,
    ) -> Error {
        let error = classify::classify(error, client.presents_certificate);
        let through_proxy = self
            .options
            .proxy
            .as_ref()
            .filter(|options| client.proxied && proxy::applies_to(options, url));
        let error = match through_proxy {
            Some(options) if matches!(error.kind(), ErrorKind::Network | ErrorKind::Timeout) => {
                error.context(format!(
                    "through the proxy {} (from {})",
                    options.shown(),
                    options.source
                ))
            }
            // TLS to an https:// proxy comes first: its certificate may be the one refused.
            Some(options) if error.kind() == ErrorKind::Tls && options.scheme == "https" => error
                .context(format!(
                    "through the proxy {} (from {}): the proxy's certificate or the API's",
                    options.shown(),
                    options.source
                )),
            _ => error,
        };
        if error.kind() != ErrorKind::Timeout {
            return error;
        }
        // ureq's own words ("timeout: global") do not say which bound ran out.
        error.context(format!(
            "no complete answer within the {:.1} s left of the call's timeout (TimeoutSeconds, \
             else Http.TimeoutSeconds)",
            remaining.as_secs_f64()
        ))
    }

    /// The whole body, up to `Http.MaxResponseBytes`, into a buffer sized from `Content-Length`
    /// (not grown a piece at a time, each growth a copy).
    fn read_body(&self, mut body: ureq::Body) -> std::result::Result<Vec<u8>, ureq::Error> {
        use std::io::Read;
        let limit = self.options.max_response_bytes;
        // A server's word for the size is believed up to 1 MiB: a larger buffer grows with what
        // actually arrives.
        let expected = body.content_length().unwrap_or(0).min(limit).min(1 << 20);
        let mut buffer = Vec::with_capacity(expected as usize);
        body.with_config()
            .limit(limit)
            .reader()
            .read_to_end(&mut buffer)?;
        Ok(buffer)
    }

    /// One exchange: the request written, the whole response read.
    fn exchange(
        &self,
        client: &ClientAgent,
        request: &Request,
        deadline: Deadline,
    ) -> Result<Response> {
        let agent = &client.agent;
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            return Err(Error::new(ErrorKind::Timeout, "the call's timeout elapsed"));
        }
        let http_request = self.http_request(agent, request, remaining)?;
        let classify = |error| self.classify(client, request.url, remaining, error);
        let response = agent.run(http_request).map_err(classify)?;
        let (parts, body) = response.into_parts();
        let body = self.read_body(body).map_err(classify)?;
        Ok(Response::new(parts.status.as_u16(), parts.headers, body))
    }
}
