//! An in-process HTTPS/1.1 server on 127.0.0.1 that verifies client certificates with rustls and
//! records what it saw: completed and failed handshakes, and each request with the connection it
//! came on and the client certificate presented. Keep-alive is supported. The same server over
//! plain http ([`TestServer::start_plain`]) stands in for the platform endpoints that are http.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use super::pki::Issued;

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub connection: usize,
    pub client_cert: Option<CertificateDer<'static>>,
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

pub type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// What a scripted server does after reading a request, in order: for misbehaving servers
/// (connections closed before or inside an answer, answers trickling out, silence).
#[derive(Clone, Debug)]
pub enum Step {
    /// Writes these bytes as they are (a status line, headers, part of a body, ...).
    Write(Vec<u8>),
    /// Waits this long.
    Sleep(Duration),
    /// Sends TLS close_notify and closes the connection, as a server ending a keep-alive does.
    Close,
    /// Closes the TCP connection without close_notify.
    Drop,
}

impl Step {
    pub fn text(text: &str) -> Step {
        Step::Write(text.as_bytes().to_vec())
    }
}

/// Decides the steps for a request; the second argument counts requests on its connection
/// from 0 (a reused connection sees 1, 2, ...).
pub type Script = Arc<dyn Fn(&Seen, usize) -> Vec<Step> + Send + Sync>;

enum Responder {
    Handler(Handler),
    Script(Script),
}

struct State {
    /// `None`: plain http.
    config: RwLock<Option<Arc<ServerConfig>>>,
    responder: RwLock<Responder>,
    handshakes: AtomicUsize,
    failed_handshakes: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    /// Requests answered, recorded or not.
    requests: AtomicUsize,
    /// Whether requests are kept for `seen()` (off for soak tests: the record grows per request).
    recording: AtomicBool,
    live: Mutex<Vec<TcpStream>>,
    stopping: AtomicBool,
}

pub struct TestServer {
    pub port: u16,
    state: Arc<State>,
    /// `None` for a plain http server.
    server_cert: Option<Issued>,
}

/// Client-certificate policy of the server.
pub enum ClientAuth<'a> {
    /// A certificate chaining to one of these roots is required.
    Required(&'a [CertificateDer<'static>]),
    /// A certificate is asked for and verified when sent, but not required.
    Optional(&'a [CertificateDer<'static>]),
    /// No certificate is asked for.
    None,
}

fn server_config(server: &Issued, auth: &ClientAuth) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = match auth {
        ClientAuth::Required(roots) | ClientAuth::Optional(roots) => {
            let mut store = RootCertStore::empty();
            for root in roots.iter() {
                store.add(root.clone()).expect("client root");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider);
            let verifier = match auth {
                ClientAuth::Optional(_) => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().expect("client verifier"))
        }
        ClientAuth::None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).expect("server key");
    Arc::new(
        builder
            .with_single_cert(vec![server.cert_der.clone()], key)
            .expect("server cert"),
    )
}

impl TestServer {
    /// Starts a server presenting `server_cert` and answering with `handler`.
    pub fn start(server_cert: Issued, auth: ClientAuth, handler: Handler) -> TestServer {
        TestServer::start_responder(server_cert, auth, Responder::Handler(handler))
    }

    /// Starts a server that answers each request with the steps `script` returns.
    pub fn start_scripted(server_cert: Issued, auth: ClientAuth, script: Script) -> TestServer {
        TestServer::start_responder(server_cert, auth, Responder::Script(script))
    }

    /// Starts a plain http server answering with `handler` (it sees no client certificate).
    pub fn start_plain(handler: Handler) -> TestServer {
        TestServer::listen(None, Responder::Handler(handler))
    }

    fn start_responder(server_cert: Issued, auth: ClientAuth, responder: Responder) -> TestServer {
        let config = server_config(&server_cert, &auth);
        TestServer::listen(Some((server_cert, config)), responder)
    }

    fn listen(tls: Option<(Issued, Arc<ServerConfig>)>, responder: Responder) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("addr").port();
        let (server_cert, config) = match tls {
            Some((cert, config)) => (Some(cert), Some(config)),
            None => (None, None),
        };
        let state = Arc::new(State {
            config: RwLock::new(config),
            responder: RwLock::new(responder),
            handshakes: AtomicUsize::new(0),
            failed_handshakes: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
            recording: AtomicBool::new(true),
            live: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        let accept_state = state.clone();
        std::thread::spawn(move || {
            for (id, stream) in listener.incoming().enumerate() {
                if accept_state.stopping.load(Ordering::Acquire) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = accept_state.clone();
                std::thread::spawn(move || serve(state, stream, id));
            }
        });
        TestServer {
            port,
            state,
            server_cert,
        }
    }

    /// A handler answering 200 with "hello <client subject CN or anonymous>".
    pub fn echo_handler() -> Handler {
        Arc::new(|seen: &Seen| {
            let who = seen
                .client_cert
                .as_ref()
                .map(|c| subject_cn(c))
                .unwrap_or_else(|| "anonymous".to_string());
            Reply::text(200, &format!("hello {who}"))
        })
    }

    pub fn url(&self) -> String {
        match self.server_cert {
            Some(_) => format!("https://127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// Changes which client certificates are accepted and closes every open connection, so the
    /// next request needs a new handshake under the new policy.
    pub fn set_client_auth(&self, auth: ClientAuth) {
        let cert = self.server_cert.as_ref().expect("a TLS server");
        *self.state.config.write().unwrap() = Some(server_config(cert, &auth));
        for stream in self.state.live.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Changes which client certificates new connections must present, leaving open ones
    /// alone (as a server reloading its trust store does).
    pub fn set_client_auth_for_new_connections(&self, auth: ClientAuth) {
        let cert = self.server_cert.as_ref().expect("a TLS server");
        *self.state.config.write().unwrap() = Some(server_config(cert, &auth));
    }

    pub fn set_handler(&self, handler: Handler) {
        *self.state.responder.write().unwrap() = Responder::Handler(handler);
    }

    pub fn handshakes(&self) -> usize {
        self.state.handshakes.load(Ordering::SeqCst)
    }

    pub fn failed_handshakes(&self) -> usize {
        self.state.failed_handshakes.load(Ordering::SeqCst)
    }

    /// The failed handshakes once there are `count` of them, or as many as after 2 s: the
    /// server's thread counts a refusal after sending its alert, so the client may see the alert
    /// first.
    pub fn failed_handshakes_reaching(&self, count: usize) -> usize {
        let started = std::time::Instant::now();
        while self.failed_handshakes() < count && started.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.failed_handshakes()
    }

    /// How many requests arrived (also while not recording).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Stops (or resumes) keeping requests for [`TestServer::seen`].
    pub fn set_recording(&self, recording: bool) {
        self.state.recording.store(recording, Ordering::SeqCst);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for stream in self.state.live.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// The CN of a certificate's subject, for messages.
pub fn subject_cn(cert: &CertificateDer) -> String {
    use x509_parser::prelude::{FromDer, X509Certificate};
    X509Certificate::from_der(cert.as_ref())
        .ok()
        .and_then(|(_, c)| {
            c.subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok().map(str::to_string))
        })
        .unwrap_or_default()
}

fn serve(state: Arc<State>, tcp: TcpStream, connection: usize) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    if let Ok(clone) = tcp.try_clone() {
        state.live.lock().unwrap().push(clone);
    }
    let Some(config) = state.config.read().unwrap().clone() else {
        let reader = BufReader::new(tcp);
        serve_requests(&state, reader, None, connection, perform_plain);
        return;
    };
    let Ok(conn) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            state.failed_handshakes.fetch_add(1, Ordering::SeqCst);
            // Send the alert rustls queued, then read what the client already sent before
            // closing, so the client receives the alert instead of a connection reset.
            let _ = tls.conn.write_tls(&mut tls.sock);
            let _ = tls.sock.shutdown(Shutdown::Write);
            let _ = tls.sock.set_read_timeout(Some(Duration::from_secs(2)));
            let mut sink = [0u8; 4096];
            while matches!(tls.sock.read(&mut sink), Ok(n) if n > 0) {}
            return;
        }
    }
    state.handshakes.fetch_add(1, Ordering::SeqCst);
    let client_cert = tls
        .conn
        .peer_certificates()
        .and_then(|certs| certs.first().cloned())
        .map(|c| c.into_owned());
    serve_requests(
        &state,
        BufReader::new(tls),
        client_cert,
        connection,
        perform,
    );
}

/// Reads requests and answers them until the connection ends; `perform` runs a script's steps.
fn serve_requests<S: Read + Write>(
    state: &State,
    mut reader: BufReader<S>,
    client_cert: Option<CertificateDer<'static>>,
    connection: usize,
    perform: fn(&mut S, Vec<Step>) -> bool,
) {
    let mut index_on_connection = 0;
    loop {
        let Some((method, target, headers)) = read_head(&mut reader) else {
            return;
        };
        let length = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let seen = Seen {
            connection,
            client_cert: client_cert.clone(),
            method,
            target,
            headers,
            body,
        };
        state.requests.fetch_add(1, Ordering::SeqCst);
        if state.recording.load(Ordering::SeqCst) {
            state.seen.lock().unwrap().push(seen.clone());
        }
        let responder = match &*state.responder.read().unwrap() {
            Responder::Handler(handler) => Responder::Handler(handler.clone()),
            Responder::Script(script) => Responder::Script(script.clone()),
        };
        let handler = match responder {
            Responder::Handler(handler) => handler,
            Responder::Script(script) => {
                let steps = script(&seen, index_on_connection);
                index_on_connection += 1;
                if !perform(reader.get_mut(), steps) {
                    return;
                }
                continue;
            }
        };
        index_on_connection += 1;
        let reply = handler(&seen);
        let mut out = format!("HTTP/1.1 {} Test\r\n", reply.status);
        for (name, value) in &reply.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
        let stream = reader.get_mut();
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&reply.body);
        if stream
            .write_all(&bytes)
            .and_then(|_| stream.flush())
            .is_err()
        {
            return;
        }
    }
}

/// Runs a script's steps on plain http; false when the connection is closed.
fn perform_plain(stream: &mut TcpStream, steps: Vec<Step>) -> bool {
    for step in steps {
        match step {
            Step::Write(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    return false;
                }
            }
            Step::Sleep(duration) => std::thread::sleep(duration),
            Step::Close | Step::Drop => {
                let _ = stream.shutdown(Shutdown::Both);
                return false;
            }
        }
    }
    true
}

/// Runs a script's steps; false when the connection is closed.
fn perform(stream: &mut StreamOwned<ServerConnection, TcpStream>, steps: Vec<Step>) -> bool {
    for step in steps {
        match step {
            Step::Write(bytes) => {
                if stream
                    .write_all(&bytes)
                    .and_then(|_| stream.flush())
                    .is_err()
                {
                    return false;
                }
            }
            Step::Sleep(duration) => std::thread::sleep(duration),
            Step::Close => {
                stream.conn.send_close_notify();
                let _ = stream.flush();
                let _ = stream.sock.shutdown(Shutdown::Both);
                return false;
            }
            Step::Drop => {
                let _ = stream.sock.shutdown(Shutdown::Both);
                return false;
            }
        }
    }
    true
}

type Head = (String, String, Vec<(String, String)>);

fn read_head(reader: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            return Some((method, target, headers));
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}
