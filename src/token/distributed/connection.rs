//! One connection to Redis, plain or TLS, whose every operation is bounded as a whole: the socket
//! timeouts are set to what is left of the operation before each read and write, so a Redis that
//! trickles its answer a byte at a time cannot hold a call past its budget. The `redis` crate still
//! parses the URL, packs the commands and parses the answers (through [`redis::ConnectionLike`]).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use redis::{ConnectionAddr, ConnectionInfo, ConnectionLike, Parser, RedisResult, Value};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::error::{Error, ErrorKind, Result};

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// The socket under a stream, with the operation's end, for [`Read`] and [`Write`].
struct Bounded {
    stream: Stream,
    until: Instant,
}

impl Bounded {
    fn socket(&self) -> &TcpStream {
        match &self.stream {
            Stream::Plain(socket) => socket,
            Stream::Tls(tls) => &tls.sock,
        }
    }

    /// What is left of the operation, set as the socket's timeouts; an error once it is spent.
    fn arm(&self) -> io::Result<()> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the Redis operation's time ran out",
            ));
        }
        self.socket().set_read_timeout(Some(left))?;
        self.socket().set_write_timeout(Some(left))
    }
}

impl Read for Bounded {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        match &mut self.stream {
            Stream::Plain(socket) => socket.read(buffer),
            Stream::Tls(tls) => tls.read(buffer),
        }
    }
}

impl Write for Bounded {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.arm()?;
        match &mut self.stream {
            Stream::Plain(socket) => socket.write(data),
            Stream::Tls(tls) => tls.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.arm()?;
        match &mut self.stream {
            Stream::Plain(socket) => socket.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

pub struct BoundedConnection {
    io: Bounded,
    parser: Parser,
    db: i64,
    open: bool,
}

/// Where and how to connect: the URL as the `redis` crate reads it, and TLS for `rediss://`.
pub struct Target {
    pub info: ConnectionInfo,
    pub tls: Option<Arc<ClientConfig>>,
}

impl BoundedConnection {
    /// Connects, logs in and selects the database, all before `until` (a DNS lookup excepted).
    pub fn open(target: &Target, until: Instant) -> RedisResult<BoundedConnection> {
        let (host, port) = match target.info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                (host.as_str(), *port)
            }
            _ => return Err(unsupported("an address other than host and port")),
        };
        let socket = connect(host, port, until)?;
        socket.set_nodelay(true)?;
        let stream = match &target.tls {
            Some(config) => {
                let name = ServerName::try_from(host.to_string())
                    .map_err(|_| unsupported("a TLS server name that is not a host"))?;
                let tls = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
                Stream::Tls(Box::new(StreamOwned::new(tls, socket)))
            }
            None => Stream::Plain(socket),
        };
        let settings = target.info.redis_settings();
        let mut connection = BoundedConnection {
            io: Bounded { stream, until },
            parser: Parser::new(),
            db: settings.db(),
            open: true,
        };
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = settings.username() {
                auth.arg(user);
            }
            auth.arg(password).exec(&mut connection)?;
        }
        if settings.db() != 0 {
            redis::cmd("SELECT")
                .arg(settings.db())
                .exec(&mut connection)?;
        }
        Ok(connection)
    }

    /// Bounds the next operations: all of their reads and writes end by `until`.
    pub fn bound_until(&mut self, until: Instant) {
        self.io.until = until;
    }
}

impl ConnectionLike for BoundedConnection {
    fn req_packed_command(&mut self, command: &[u8]) -> RedisResult<Value> {
        let outcome = self
            .io
            .write_all(command)
            .and_then(|()| self.io.flush())
            .map_err(redis::RedisError::from)
            .and_then(|()| self.parser.parse_value(&mut self.io));
        // A connection that failed mid-answer may hold the rest of it: never reused.
        if outcome.is_err() {
            self.open = false;
        }
        outcome?.extract_error()
    }

    fn req_packed_commands(
        &mut self,
        commands: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.io.write_all(commands).map_err(|e| {
            self.open = false;
            redis::RedisError::from(e)
        })?;
        let mut values = Vec::with_capacity(count);
        for index in 0..offset + count {
            let value = self.parser.parse_value(&mut self.io).inspect_err(|_| {
                self.open = false;
            })?;
            if index >= offset {
                values.push(value.extract_error()?);
            }
        }
        Ok(values)
    }

    fn get_db(&self) -> i64 {
        self.db
    }

    fn check_connection(&mut self) -> bool {
        redis::cmd("PING").exec(self).is_ok()
    }

    fn is_open(&self) -> bool {
        self.open
    }
}

/// A TCP connection to the first address of `host` that answers before `until`.
fn connect(host: &str, port: u16, until: Instant) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for address in (host, port).to_socket_addrs()? {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connecting timed out",
            ));
        }
        match TcpStream::connect_timeout(&address, left) {
            Ok(socket) => return Ok(socket),
            Err(error) => last = error,
        }
    }
    Err(last)
}

fn unsupported(what: &str) -> redis::RedisError {
    redis::RedisError::from(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not supported for TokenCache.Distributed.Redis"),
    ))
}

/// The TLS configuration of `rediss://`: the ring provider, TLS 1.2 at least, the server verified
/// against `ca_bundle` (PEM) when given, else the OS trust store.
pub fn tls_config(ca_bundle: Option<&[u8]>) -> Result<Arc<ClientConfig>> {
    let invalid = |why: String| {
        Error::new(
            ErrorKind::Config,
            format!("TokenCache.Distributed.Redis: TLS: {why}"),
        )
    };
    let mut roots = RootCertStore::empty();
    match ca_bundle {
        Some(pem) => {
            for certificate in CertificateDer::pem_slice_iter(pem) {
                let certificate = certificate.map_err(|e| invalid(format!("CA bundle: {e}")))?;
                roots
                    .add(certificate)
                    .map_err(|e| invalid(format!("CA bundle: {e}")))?;
            }
        }
        None => {
            for certificate in rustls_native_certs::load_native_certs().certs {
                // The OS store may hold certificates rustls cannot use; the others still serve.
                let _ = roots.add(certificate);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
