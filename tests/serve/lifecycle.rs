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
