//! SIGTERM under load (every call in progress answered, new ones refused) and SIGHUP (a good
//! file is taken, a broken one leaves the running configuration).

use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::setup;

#[test]
fn sigterm_lets_every_call_in_progress_finish_and_refuses_new_ones() {
    let setup = setup();
    let mut sidecar = setup.serve("", &[]);
    let address = sidecar.address;
    let calls: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                super::client::request(
                    address,
                    "POST",
                    "/DownstreamApiUnauthenticated/Slow",
                    &[],
                    b"",
                )
            })
        })
        .collect();
    // The calls are with the workers (the slow API answers after 400 ms) when the signal comes.
    let started = Instant::now();
    while setup.slow.requests() < 20 && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    sidecar.signal(libc::SIGTERM);
    for call in calls {
        let answer = call.join().unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["content"], "slow answer");
        assert_eq!(answer.header("Connection"), Some("close"));
    }
    assert_eq!(
        sidecar.wait(Duration::from_secs(10)),
        Some(0),
        "{}",
        sidecar.stderr()
    );
    assert!(
        TcpStream::connect(address).is_err(),
        "new connections are refused"
    );
    assert!(
        sidecar.stderr().contains("dsapi serve: stopped"),
        "{}",
        sidecar.stderr()
    );
}

#[test]
fn sighup_takes_a_good_file_and_keeps_running_on_a_broken_one() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    let later = sidecar.post("/DownstreamApiUnauthenticated/Later", &[], b"");
    assert_eq!(later.status, 400, "no API 'Later' yet");
    let config = setup.config_file("");
    let text = std::fs::read_to_string(&config).unwrap();
    let added = text.replacen(
        r#""Mtls":"#,
        r#""Later": {"BaseUrl": MTLS_URL, "ProtocolScheme": "MTLS"}, "Mtls":"#,
        1,
    );
    let mtls_url = text
        .split(r#""Mtls": {"BaseUrl": "#)
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    std::fs::write(&config, added.replace("MTLS_URL", mtls_url)).unwrap();
    let reloads = |sidecar: &super::Sidecar, wanted: &str| {
        let started = Instant::now();
        while !sidecar.stderr().contains(wanted) && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(sidecar.stderr().contains(wanted), "{}", sidecar.stderr());
    };
    sidecar.signal(libc::SIGHUP);
    reloads(&sidecar, "dsapi serve: reloaded");
    let later = sidecar.post("/DownstreamApiUnauthenticated/Later", &[], b"");
    assert_eq!(later.json()["statusCode"], 200, "{}", later.text());

    std::fs::write(&config, "{ this is not JSON").unwrap();
    sidecar.signal(libc::SIGHUP);
    reloads(
        &sidecar,
        "was not reloaded, the running configuration stays",
    );
    let later = sidecar.post("/DownstreamApiUnauthenticated/Later", &[], b"");
    assert_eq!(
        later.json()["statusCode"],
        200,
        "the running configuration stayed"
    );
}

#[test]
fn sigterm_cuts_a_call_still_running_at_the_end_of_the_drain_timeout() {
    let setup = setup();
    // An API whose server accepts the connection and never answers (a blackholed upstream).
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = blackhole.local_addr().unwrap().port();
    let held = std::thread::spawn(move || blackhole.accept().map(|(stream, _)| stream));
    let config = setup.config_file("");
    let text = std::fs::read_to_string(&config).unwrap();
    let stuck = format!(
        r#""Stuck": {{"BaseUrl": "https://127.0.0.1:{port}", "ProtocolScheme": "MTLS"}}, "Mtls":"#
    );
    std::fs::write(&config, text.replacen(r#""Mtls":"#, &stuck, 1)).unwrap();
    let mut sidecar = super::Sidecar::start(&config, &["--drain-timeout", "1"], &[]);
    let address = sidecar.address;
    let call = std::thread::spawn(move || {
        super::client::Connection::open(address).send_raw(
            b"POST /DownstreamApiUnauthenticated/Stuck HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        );
    });
    let _connection = held
        .join()
        .unwrap()
        .expect("the sidecar reached the blackhole");
    call.join().unwrap();
    let started = Instant::now();
    sidecar.signal(libc::SIGTERM);
    assert_eq!(sidecar.wait(Duration::from_secs(10)), Some(0));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "exited {took:?} after SIGTERM"
    );
    assert!(
        sidecar.stderr().contains("1 call(s) still in progress"),
        "{}",
        sidecar.stderr()
    );
}

#[test]
fn sighup_with_an_unchanged_file_keeps_the_tokens() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    assert_eq!(
        sidecar
            .get("/AuthorizationHeaderUnauthenticated/App", &[])
            .status,
        200
    );
    sidecar.signal(libc::SIGHUP);
    let started = Instant::now();
    while !sidecar.stderr().contains("is unchanged") && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        sidecar.stderr().contains("is unchanged"),
        "{}",
        sidecar.stderr()
    );
    assert_eq!(
        sidecar
            .get("/AuthorizationHeaderUnauthenticated/App", &[])
            .status,
        200
    );
    assert_eq!(
        setup.issuer().token_request_count(),
        1,
        "the cached token was kept"
    );
}
