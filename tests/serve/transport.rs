//! The connection layer: who may call, Unix sockets, bounded requests, slow clients that must
//! not hold a worker, pipelining, 100-continue, and 200 callers at once.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::client::Connection;
use super::{Sidecar, setup};

#[test]
fn a_caller_not_on_127_0_0_1_is_refused_except_for_healthz() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    let mut remote = Connection::open_from("127.0.0.2", sidecar.address);
    let refused = remote.request("GET", "/AuthorizationHeaderUnauthenticated/App", &[], b"");
    assert_eq!((refused.status, refused.body.len()), (403, 0));
    assert!(
        remote.closed(),
        "a caller not on this host gets no keep-alive"
    );
    let mut health = Connection::open_from("127.0.0.2", sidecar.address);
    assert_eq!(health.request("GET", "/healthz", &[], b"").status, 200);
    // Its body is never read: the refusal comes after the head, while 29 MB are still unsent.
    let mut poster = Connection::open_from("127.0.0.2", sidecar.address);
    poster.send_raw(
        b"POST /DownstreamApiUnauthenticated/Mtls HTTP/1.1\r\nContent-Length: 29000000\r\n\r\n",
    );
    let refused = poster.read_answer().expect("an answer before the body");
    assert_eq!((refused.status, refused.body.len()), (403, 0));
    let open = setup.serve("", &["--allow-remote-callers"]);
    let mut remote = Connection::open_from("127.0.0.2", open.address);
    assert_eq!(
        remote
            .request("GET", "/AuthorizationHeaderUnauthenticated/App", &[], b"")
            .status,
        200
    );
}

#[test]
fn callers_not_on_this_host_get_an_eighth_of_the_connections() {
    let setup = setup();
    let sidecar = setup.serve("", &["--max-connections", "16"]);
    // Two slots for them; the rest are closed at once and the local caller is still served.
    let held: Vec<Connection> = (0..10)
        .map(|_| Connection::open_from("127.0.0.2", sidecar.address))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut closed = 0;
    for mut connection in held {
        connection.send_raw(b"GET /healthz HTTP/1.1\r\n\r\n");
        if connection.read_answer().is_none() {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 8,
        "connections beyond the remote callers' eighth are closed"
    );
    assert_eq!(sidecar.get("/healthz", &[]).status, 200);
}

#[test]
fn a_unix_socket_only_its_user_may_open() {
    let setup = setup();
    let config = setup.config_file("");
    let socket = setup.dir.path().join("sidecar.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsapi"))
        .args(["serve", "-c", &config, "--urls"])
        .arg(format!("unix:{}", socket.display()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The socket file appears at bind(2), before listen(2): wait for the listening line.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stderr.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(
        line.starts_with("dsapi serve: listening on unix:"),
        "{line}"
    );
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut stream = UnixStream::connect(&socket).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("Healthy"),
        "{answer}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn requests_over_the_bounds_are_refused_with_their_status() {
    let setup = setup();
    let sidecar = setup.serve("", &["--max-body-bytes", "1000"]);
    let big = sidecar.post("/DownstreamApiRawUnauthenticated/Bytes", &[], &[0u8; 1001]);
    assert_eq!(big.status, 413);
    assert_eq!(big.header("Content-Type"), Some("application/problem+json"));
    let headers: Vec<(String, String)> =
        (0..101).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(sidecar.get("/healthz", &headers).status, 431);
    let mut garbage = Connection::open(sidecar.address);
    garbage.send_raw(b"\x01\x02 nonsense\r\n\r\n");
    assert_eq!(garbage.read_answer().unwrap().status, 400);
    assert!(garbage.closed(), "a refused request closes its connection");
}

#[test]
fn slow_clients_hold_no_worker_and_time_out_with_408() {
    let setup = setup();
    let sidecar = setup.serve("", &["--workers", "2", "--request-timeout", "2"]);
    // Fifty clients each send half a request head and stop.
    let mut slow: Vec<Connection> = (0..50)
        .map(|_| {
            let mut c = Connection::open(sidecar.address);
            c.send_raw(b"GET /healthz HTTP/1.1\r\nX-Slow: ");
            c
        })
        .collect();
    let started = Instant::now();
    for _ in 0..5 {
        let answer = sidecar.post("/DownstreamApiUnauthenticated/Mtls", &[], b"");
        assert_eq!(answer.json()["statusCode"], 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for connection in &mut slow {
        assert_eq!(connection.read_answer().expect("a 408").status, 408);
        assert!(connection.closed());
    }
}

#[test]
fn pipelined_requests_and_100_continue() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    let mut connection = Connection::open(sidecar.address);
    connection.send_raw(
        b"GET /healthz HTTP/1.1\r\n\r\nGET /nothing HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
    );
    let statuses: Vec<u16> = (0..3)
        .map(|_| connection.read_answer().unwrap().status)
        .collect();
    assert_eq!(statuses, [200, 404, 200]);
    connection.send_raw(
        b"POST /DownstreamApiRawUnauthenticated/Bytes HTTP/1.1\r\nExpect: 100-continue\r\n\
          Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
    );
    assert_eq!(connection.read_answer().unwrap().status, 100);
    connection.send_raw(b"hello");
    let answer = connection.read_answer().unwrap();
    assert_eq!((answer.status, answer.text().as_str()), (201, "hello"));
}

#[test]
fn two_hundred_callers_at_once_all_get_their_answer() {
    let setup = setup();
    let sidecar = std::sync::Arc::new(setup.serve("", &[]));
    let callers: Vec<_> = (0..200)
        .map(|i| {
            let sidecar = sidecar.clone();
            std::thread::spawn(move || {
                let body = format!("caller {i}");
                let answer = sidecar.post(
                    "/DownstreamApiRawUnauthenticated/Bytes",
                    &[("Content-Type", "text/plain")],
                    body.as_bytes(),
                );
                (answer.status, answer.text() == body)
            })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.join().unwrap(), (201, true));
    }
    let _ = Sidecar::stderr(&sidecar);
}

/// The first stderr line of `dsapi serve` started with `config`, the environment `env` and no
/// --urls; the process is killed after.
fn listening_line(config: &str, env: &[(&str, &str)]) -> String {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsapi"))
        .args(["serve", "-c", config])
        .env_remove("ASPNETCORE_URLS")
        .env_remove("ASPNETCORE_HTTP_PORTS")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    line.trim().to_string()
}

#[test]
fn where_to_listen_from_the_file_the_environment_and_the_sidecar_section() {
    let setup = setup();
    let port = test_support::free_port();
    let config = setup.config_file(r#"{"Workers": 4, "MaxConnections": 8}"#);
    let text = std::fs::read_to_string(&config).unwrap();
    let with_urls = text.replacen('{', &format!(r#"{{"Urls": "http://127.0.0.1:{port}", "#), 1);
    std::fs::write(&config, with_urls).unwrap();
    assert_eq!(
        listening_line(&config, &[]),
        format!("dsapi serve: listening on http://127.0.0.1:{port}")
    );
    let other = test_support::free_port();
    let url = format!("http://127.0.0.1:{other}");
    let ports = other.to_string();
    let environment = [
        ("ASPNETCORE_URLS", url.as_str()),
        ("ASPNETCORE_HTTP_PORTS", &ports),
    ];
    assert_eq!(
        listening_line(&config, &environment),
        format!("dsapi serve: listening on http://127.0.0.1:{port}"),
        "the file wins over the ASPNETCORE_ variables, as in ASP.NET (an image's inherited \
         ASPNETCORE_HTTP_PORTS never opens every address)"
    );
    let bare = setup.config_file("");
    assert_eq!(
        listening_line(&bare, &environment),
        format!("dsapi serve: listening on {url}"),
        "ASPNETCORE_URLS over ASPNETCORE_HTTP_PORTS"
    );
    assert_eq!(
        listening_line(&bare, &[("ASPNETCORE_HTTP_PORTS", &ports)]),
        format!("dsapi serve: listening on http://0.0.0.0:{other}"),
        ".NET container images' form: every address"
    );
    std::fs::write(&config, text.replace(r#""Workers": 4"#, r#""Workers": 0"#)).unwrap();
    let refused = listening_line(&config, &[]);
    assert!(
        refused.contains("Sidecar.Workers: 0 is not a positive whole number"),
        "{refused}"
    );
}

#[test]
fn a_client_that_never_reads_its_answer_holds_a_worker_no_longer_than_the_request_timeout() {
    let setup = setup();
    let sidecar = setup.serve("", &["--workers", "1", "--request-timeout", "2"]);
    // A 24 MiB answer the client never reads: far more than the sockets' buffers.
    let mut stuck = Connection::open(sidecar.address);
    let body = vec![b'x'; 24 << 20];
    let head = format!(
        "POST /DownstreamApiRawUnauthenticated/Bytes HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stuck.send_raw(head.as_bytes());
    stuck.send_raw(&body);
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let answer = sidecar.get("/AuthorizationHeaderUnauthenticated/App", &[]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(4),
        "the one worker came back after {waited:?}"
    );
}
