//! The floor of this stack for tests/bench/run.sh: a bare rustls client (the library's TLS stack,
//! with the same ring provider) on one `std::net::TcpStream`, sending the library's request bytes
//! with the same client certificate, looping over the same kept-alive connection. What the library
//! costs per call above this is its own work: configuration, headers, pooling, response copies.
//!
//!   rustls_floor CA.pem CLIENT-BUNDLE.pem PORT PATH CALLS
//!
//! Prints `us_per_call=…` (wall clock), `cpu_us_per_call=…` and `requests_per_s=…` for the CALLS
//! calls after one warm-up call.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

type Stream = BufReader<StreamOwned<ClientConnection, TcpStream>>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, ca, bundle, port, path, calls] = args.as_slice() else {
        eprintln!("usage: rustls_floor CA.pem CLIENT-BUNDLE.pem PORT PATH CALLS");
        std::process::exit(2);
    };
    let calls: u32 = calls.parse().expect("CALLS is a number");
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("read the CA file") {
        roots
            .add(cert.expect("a CA certificate"))
            .expect("a usable CA");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(bundle)
        .expect("read the client bundle")
        .map(|c| c.expect("a client certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(bundle).expect("the client key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("the client certificate and key");
    let server = ServerName::try_from("127.0.0.1").expect("an IP address");
    let connection = ClientConnection::new(Arc::new(config), server).expect("a TLS client");
    let tcp = TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("PORT")))
        .expect("connect to 127.0.0.1");
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    let mut stream = BufReader::new(StreamOwned::new(connection, tcp));
    // The head ureq sends for the library's MTLS GET (Host, Accept from the API options,
    // User-Agent), byte for byte in content.
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\naccept: application/json\r\n\
         user-agent: ureq/3\r\n\r\n"
    );
    call(&mut stream, request.as_bytes());
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    for _ in 0..calls {
        call(&mut stream, request.as_bytes());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_started;
    println!("us_per_call={:.1}", elapsed * 1e6 / f64::from(calls));
    println!("cpu_us_per_call={:.1}", cpu * 1e6 / f64::from(calls));
    println!("requests_per_s={:.1}", f64::from(calls) / elapsed);
}

/// CPU time of this process (user + system), as mtls_bench.c measures the library's: unlike wall
/// time, not inflated by the wake-up latency of a shared VM while a call waits for the server.
fn cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// Sends one request and reads its answer (which must be a 200 with a Content-Length body).
fn call(stream: &mut Stream, request: &[u8]) {
    stream
        .get_mut()
        .write_all(request)
        .expect("send the request");
    stream.get_mut().flush().expect("send the request");
    let mut line = String::new();
    stream.read_line(&mut line).expect("read the status line");
    assert!(line.starts_with("HTTP/1.1 200"), "answer: {line}");
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line).expect("read a header");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a Content-Length");
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("read the body");
}
