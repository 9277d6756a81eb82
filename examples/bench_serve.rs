//! `dsapi serve` benchmark (not a test): keep-alive calls through the sidecar's raw route beside
//! direct library calls to the same MTLS API (the added latency per call, median µs), requests per
//! second with 16 concurrent callers each way, the time from start to a ready `/healthz`, and the
//! sidecar's resident memory idle and after the load. Everything on 127.0.0.1.
//!
//! Run: `cargo build --release --features cli --bin dsapi && cargo run --release --example
//! bench_serve` (DSAPI_BIN names another dsapi; BENCH_CALLS, default 2000, calls per measurement).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use downstream_api::DownstreamApi;
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::{TempDir, json_str};

const CONCURRENCY: usize = 16;
const LOAD: Duration = Duration::from_secs(3);

fn main() {
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let ca = TestCa::new("Bench CA");
    let roots = [ca.cert_der.clone()];
    let server = TestServer::start(
        ca.server(),
        ClientAuth::Required(&roots),
        TestServer::echo_handler(),
    );
    let dir = TempDir::new("bench-serve");
    let client_pem = dir.write(
        "client.pem",
        ca.client("bench", Validity::CURRENT).bundle_pem(),
    );
    let config = dir.write(
        "appsettings.json",
        format!(
            r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {}}}]}},
                "DownstreamApis": {{"Mtls": {{"BaseUrl": {}, "ProtocolScheme": "MTLS"}}}},
                "Http": {{"CaBundlePath": {}}}}}"#,
            json_str(&client_pem),
            json_str(&server.url()),
            json_str(&dir.write("ca.pem", &ca.cert_pem)),
        ),
    );
    let (sidecar, address, ready) = start(&config);
    println!(
        "start to a ready /healthz: {:.1} ms (target <= 50 ms)",
        ready.as_secs_f64() * 1000.0
    );
    let idle = rss_kib(sidecar.0.id());
    println!(
        "idle resident memory: {:.1} MiB (target <= 20 MiB)",
        idle as f64 / 1024.0
    );

    let client = Arc::new(DownstreamApi::from_file(std::path::Path::new(&config)).expect("client"));
    let direct = median_us(calls, || {
        assert_eq!(client.call("Mtls", None, b"").unwrap().status, 200)
    });
    let mut connection = Keepalive::open(address);
    let through = median_us(calls, || assert_eq!(connection.raw_call(), 200));
    println!(
        "keep-alive call, median: direct {direct:.1} us, through dsapi serve {through:.1} us; added {:.1} us (target <= 100 us)",
        through - direct
    );
    let direct_rps = throughput(|| {
        let client = client.clone();
        move || assert_eq!(client.call("Mtls", None, b"").unwrap().status, 200)
    });
    let serve_rps = throughput(|| {
        let mut connection = Keepalive::open(address);
        move || assert_eq!(connection.raw_call(), 200)
    });
    println!(
        "{CONCURRENCY} concurrent callers: direct {direct_rps:.0} req/s, through dsapi serve {serve_rps:.0} req/s ({:.2}x)",
        serve_rps / direct_rps
    );
    println!(
        "resident memory after the load: {:.1} MiB",
        rss_kib(sidecar.0.id()) as f64 / 1024.0
    );
    drop(sidecar);
}

/// The sidecar's process, killed and reaped when dropped.
struct Sidecar(Child);

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the sidecar; its address and the time until `/healthz` answered 200.
fn start(config: &str) -> (Sidecar, SocketAddr, Duration) {
    let binary = std::env::var("DSAPI_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/dsapi").to_string()
    });
    let started = Instant::now();
    let mut child = Sidecar(
        Command::new(&binary)
            .args(["serve", "-c", config, "--urls", "http://127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{binary}: {e} (build it: cargo build --release --features cli --bin dsapi)")
            }),
    );
    let mut line = String::new();
    BufReader::new(child.0.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address: SocketAddr = line
        .trim()
        .strip_prefix("dsapi serve: listening on http://")
        .expect("the listening line")
        .parse()
        .unwrap();
    loop {
        if let Ok(mut stream) = TcpStream::connect(address) {
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return (child, address, started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One keep-alive connection to the sidecar.
struct Keepalive(BufReader<TcpStream>);

impl Keepalive {
    fn open(address: SocketAddr) -> Keepalive {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        Keepalive(BufReader::new(stream))
    }

    /// POST /DownstreamApiRawUnauthenticated/Mtls; the status.
    fn raw_call(&mut self) -> u16 {
        self.0
            .get_mut()
            .write_all(b"POST /DownstreamApiRawUnauthenticated/Mtls HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        let mut status = String::new();
        self.0.read_line(&mut status).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.0.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.0.read_exact(&mut body).unwrap();
        status.split(' ').nth(1).unwrap().parse().unwrap()
    }
}

fn median_us(calls: usize, mut call: impl FnMut()) -> f64 {
    for _ in 0..calls / 10 {
        call();
    }
    let mut times: Vec<f64> = (0..calls)
        .map(|_| {
            let started = Instant::now();
            call();
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Requests per second of CONCURRENCY threads, each running the caller `make` gives it, for LOAD.
fn throughput<F: FnMut() + Send + 'static>(make: impl Fn() -> F) -> f64 {
    let until = Instant::now() + LOAD;
    let threads: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let mut call = make();
            std::thread::spawn(move || {
                let mut count = 0u64;
                while Instant::now() < until {
                    call();
                    count += 1;
                }
                count
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    total as f64 / LOAD.as_secs_f64()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
