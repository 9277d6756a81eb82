//! Servers that misbehave, as a client meets them in production: keep-alive connections closed
//! under a request, answers cut inside the headers, the body or a chunk, answers that trickle or
//! never come, certificates for another name or from an unknown CA, redirects, old TLS versions,
//! a full listen backlog, and many threads through a rotation. Every server is real TLS on
//! 127.0.0.1; nothing here may end as a truncated success.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use downstream_api::{DownstreamApi, ErrorKind};
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, Reply, Script, Seen, Step, TestServer};
use test_support::{TempDir, json_str};

struct Setup {
    ca: TestCa,
    /// Holds the files below until the test ends.
    _dir: TempDir,
    ca_path: String,
    client_path: String,
}

fn setup() -> Setup {
    let ca = TestCa::new("Faults CA");
    let dir = TempDir::new("faults");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let client_path = dir.write(
        "client.pem",
        ca.client("faults-client", Validity::CURRENT).bundle_pem(),
    );
    Setup {
        ca,
        _dir: dir,
        ca_path,
        client_path,
    }
}

impl Setup {
    fn config(&self, base_url: &str, http: &str) -> String {
        format!(
            r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {}}}]}},
                "DownstreamApis": {{"Api": {{"BaseUrl": "{base_url}", "ProtocolScheme": "MTLS"}}}},
                "Http": {{"CaBundlePath": {}{http}}}}}"#,
            json_str(&self.client_path),
            json_str(&self.ca_path)
        )
    }

    fn client(&self, base_url: &str, http: &str) -> DownstreamApi {
        DownstreamApi::from_json(&self.config(base_url, http)).unwrap()
    }

    fn scripted(&self, script: Script) -> TestServer {
        TestServer::start_scripted(
            self.ca.server(),
            ClientAuth::Required(std::slice::from_ref(&self.ca.cert_der)),
            script,
        )
    }
}

fn ok_response(body: &str) -> Step {
    Step::text(&format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

fn connections(server: &TestServer) -> usize {
    let mut ids: Vec<usize> = server.seen().iter().map(|s| s.connection).collect();
    ids.sort();
    ids.dedup();
    ids.len()
}

#[test]
fn d3_a_keep_alive_connection_closed_under_a_request_is_resent_once_on_a_new_one() {
    let setup = setup();
    for close in [Step::Close, Step::Drop] {
        // The first request on a connection is answered; a second one on it is read, and the
        // connection closed without an answer (a keep-alive timeout racing the request).
        let server = setup.scripted(Arc::new(move |_: &Seen, nth| match nth {
            0 => vec![ok_response("fresh")],
            _ => vec![close.clone()],
        }));
        let api = setup.client(&server.url(), "");
        assert_eq!(api.call("Api", None, b"").unwrap().body, b"fresh");
        for method in ["GET", "POST"] {
            let overrides = format!(r#"{{"HttpMethod": "{method}"}}"#);
            let response = api.call("Api", Some(&overrides), b"same body").unwrap();
            assert_eq!(response.body, b"fresh", "{method}");
        }
        let seen = server.seen();
        // 1 + (stale + resent) * 2, each resend on a connection of its own.
        assert_eq!(seen.len(), 5);
        assert_eq!(connections(&server), 3);
        assert_eq!(seen[3].body, b"same body");
        assert_eq!(seen[4].body, b"same body");
    }
}

#[test]
fn a_connection_closed_right_after_its_answer_is_not_reused_in_a_tight_loop() {
    // The server closes each connection as soon as it has answered (no `Connection: close`):
    // calls made at once take the connection back out within the probe's hold time, so this is
    // the window the take-out probe skips. Every call still succeeds.
    let setup = setup();
    let server = setup.scripted(Arc::new(|_: &Seen, _| {
        vec![ok_response("once"), Step::Close]
    }));
    let api = setup.client(&server.url(), "");
    for _ in 0..20 {
        assert_eq!(api.call("Api", None, b"").unwrap().body, b"once");
    }
    let answered = server.seen().len();
    assert!(
        (20..=40).contains(&answered),
        "{answered} requests for 20 calls"
    );
    assert_eq!(
        connections(&server),
        answered,
        "no connection answered twice"
    );
}

#[test]
fn d3_a_fresh_connection_closed_without_an_answer_is_not_resent() {
    let setup = setup();
    let server = setup.scripted(Arc::new(|_: &Seen, _| vec![Step::Close]));
    let api = setup.client(&server.url(), "");
    let error = api.call("Api", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
    assert_eq!(
        server.seen().len(),
        1,
        "a fresh connection's failure is final"
    );
}

#[test]
fn d3_a_reused_connection_that_sent_part_of_an_answer_is_not_resent() {
    let setup = setup();
    let server = setup.scripted(Arc::new(|_: &Seen, nth| match nth {
        0 => vec![ok_response("fresh")],
        _ => vec![Step::text("HTTP/1.1 200 OK\r\nContent-"), Step::Close],
    }));
    let api = setup.client(&server.url(), "");
    assert_eq!(api.call("Api", None, b"").unwrap().body, b"fresh");
    let error = api
        .call("Api", Some(r#"{"HttpMethod": "POST"}"#), b"once")
        .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Network | ErrorKind::Protocol),
        "{error}"
    );
    assert_eq!(
        server.seen().len(),
        2,
        "bytes of an answer arrived: no resend"
    );
}

#[test]
fn d3_a_connection_closed_in_the_handshake_is_not_retried() {
    let setup = setup();
    // Accepts TCP connections and closes them at once, before any TLS.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let api = setup.client(&format!("https://{address}"), r#", "TimeoutSeconds": 5"#);
    let error = api.call("Api", None, b"").unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Network | ErrorKind::Tls),
        "{error}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection, no resend"
    );
}

#[test]
fn answers_cut_short_are_never_a_truncated_success() {
    let setup = setup();
    let cuts: Vec<(&str, Vec<Step>)> = vec![
        (
            "inside the headers",
            vec![Step::text("HTTP/1.1 200 OK\r\nContent-Le"), Step::Close],
        ),
        (
            "inside the body",
            vec![
                Step::text("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"),
                Step::Close,
            ],
        ),
        (
            "inside a chunk",
            vec![
                Step::text("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"),
                Step::Drop,
            ],
        ),
        (
            "before the last chunk",
            vec![
                Step::text("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"),
                Step::Close,
            ],
        ),
    ];
    for (what, steps) in cuts {
        let server = setup.scripted(Arc::new(move |_: &Seen, _| steps.clone()));
        let api = setup.client(&server.url(), r#", "TimeoutSeconds": 5"#);
        let outcome = api.call("Api", None, b"");
        let error = outcome.expect_err(what);
        assert!(
            matches!(error.kind(), ErrorKind::Network | ErrorKind::Protocol),
            "{what}: {error}"
        );
    }
}

#[test]
fn response_headers_over_the_limit_are_a_protocol_error_naming_it() {
    let setup = setup();
    let server = setup.scripted(Arc::new(|_: &Seen, _| {
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..9 {
            head.push_str(&format!("X-Filler-{i}: {}\r\n", "f".repeat(8 * 1024)));
        }
        head.push_str("Content-Length: 0\r\n\r\n");
        vec![Step::Write(head.into_bytes())]
    }));
    let api = setup.client(&server.url(), "");
    let error = api.call("Api", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
    assert!(error.message().contains("64 KiB"), "{error}");
}

#[test]
fn slow_and_silent_servers_are_bounded_by_the_timeout() {
    let setup = setup();
    // Slowloris: a header byte every 100 ms, for ever.
    let trickle: Vec<Step> = std::iter::once(Step::text("HTTP/1.1 200 OK\r\n"))
        .chain((0..200).flat_map(|_| [Step::text("X"), Step::Sleep(Duration::from_millis(100))]))
        .collect();
    let slow = setup.scripted(Arc::new(move |_: &Seen, _| trickle.clone()));
    let silent = setup.scripted(Arc::new(|_: &Seen, _| {
        vec![Step::Sleep(Duration::from_secs(20))]
    }));
    for server in [&slow, &silent] {
        let api = setup.client(&server.url(), r#", "TimeoutSeconds": 1.5"#);
        let started = Instant::now();
        let error = api.call("Api", None, b"").unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
        assert!(
            took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
            "{took:?}"
        );
    }
    // A call's own TimeoutSeconds, shorter and longer than Http.TimeoutSeconds (the agent's).
    let api = setup.client(&silent.url(), r#", "TimeoutSeconds": 1.5"#);
    for (timeout, least, most) in [(0.4, 350, 1300), (2.5, 2400, 4000)] {
        let overrides = format!(r#"{{"TimeoutSeconds": {timeout}}}"#);
        let started = Instant::now();
        let error = api.call("Api", Some(&overrides), b"").unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
        assert!(
            took >= Duration::from_millis(least) && took < Duration::from_millis(most),
            "TimeoutSeconds {timeout}: {took:?}"
        );
    }
    let error = api
        .call("Api", Some(r#"{"TimeoutSeconds": -1}"#), b"")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error.message().contains("overrides.TimeoutSeconds"),
        "{error}"
    );
}

#[test]
fn a_server_certificate_for_another_name_or_from_an_unknown_ca_is_refused_before_the_client_certificate_is_sent()
 {
    let setup = setup();
    let other_ca = TestCa::new("Unknown CA");
    let unknown = TestServer::start(
        other_ca.server(),
        ClientAuth::Optional(std::slice::from_ref(&setup.ca.cert_der)),
        TestServer::echo_handler(),
    );
    // A certificate the configured CA issued, but for another name than 127.0.0.1.
    let wrong_name = TestServer::start(
        setup.ca.server_for(&["orders.example", "10.1.2.3"]),
        ClientAuth::Optional(std::slice::from_ref(&setup.ca.cert_der)),
        TestServer::echo_handler(),
    );
    for (server, expected) in [
        (&unknown, "UnknownIssuer"),
        (&wrong_name, "not valid for name"),
    ] {
        let api = setup.client(&server.url(), "");
        let error = api.call("Api", None, b"").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
        assert!(error.message().contains(expected), "{error}");
        assert!(server.seen().is_empty(), "no request reached the server");
        assert_eq!(server.handshakes(), 0, "the handshake never completed");
    }
}

#[test]
fn redirects_are_returned_not_followed() {
    let setup = setup();
    let target = TestServer::start(
        setup.ca.server(),
        ClientAuth::Optional(std::slice::from_ref(&setup.ca.cert_der)),
        TestServer::echo_handler(),
    );
    let location = format!("{}/elsewhere", target.url());
    let redirecting = TestServer::start(
        setup.ca.server(),
        ClientAuth::Required(std::slice::from_ref(&setup.ca.cert_der)),
        Arc::new(move |_: &Seen| Reply {
            status: 302,
            headers: vec![("Location".to_string(), location.clone())],
            body: Vec::new(),
        }),
    );
    let api = setup.client(&redirecting.url(), "");
    let response = api.call("Api", None, b"").unwrap();
    assert_eq!(response.status, 302);
    assert!(response.header("location").is_some());
    assert!(target.seen().is_empty(), "the redirect was not followed");
}

#[test]
fn a_full_listen_backlog_ends_in_a_timeout_not_a_hang() {
    let setup = setup();
    // A listener nobody accepts on: once the kernel's backlog is full, connects stall.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let fillers: Vec<TcpStream> = (0..512)
        .map_while(|_| TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok())
        .collect();
    let api = setup.client(
        &format!("https://{address}"),
        r#", "ConnectTimeoutSeconds": 1, "TimeoutSeconds": 2"#,
    );
    let started = Instant::now();
    let error = api.call("Api", None, b"").unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Timeout | ErrorKind::Network),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!fillers.is_empty());
}

#[test]
fn eight_threads_through_a_rotation_all_succeed() {
    let setup = setup();
    let server = TestServer::start(
        setup.ca.server(),
        ClientAuth::Required(std::slice::from_ref(&setup.ca.cert_der)),
        TestServer::echo_handler(),
    );
    let api = Arc::new(setup.client(&server.url(), ""));
    assert_eq!(
        api.call("Api", None, b"").unwrap().body,
        b"hello faults-client"
    );
    // The server stops trusting the first certificate's CA; the file is renewed from a new one.
    let renewed_ca = TestCa::new("Renewed CA");
    std::fs::write(
        &setup.client_path,
        renewed_ca.client("renewed", Validity::CURRENT).bundle_pem(),
    )
    .unwrap();
    server.set_client_auth(ClientAuth::Required(std::slice::from_ref(
        &renewed_ca.cert_der,
    )));
    let barrier = Arc::new(Barrier::new(8));
    let succeeded = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (api, barrier, succeeded) = (api.clone(), barrier.clone(), succeeded.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..20 {
                    let response = api
                        .call("Api", None, b"")
                        .expect("a call through the rotation");
                    assert_eq!(response.body, b"hello renewed");
                    succeeded.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(succeeded.load(Ordering::SeqCst), 160);
}
