//! MTLS calls against independent TLS servers started by the tests on 127.0.0.1: OpenSSL's
//! `s_server -www` (TLS 1.3 and TLS 1.2) and Debian's nginx with `ssl_verify_client on`.
//!
//! These servers behave as deployed servers do, which the in-process rustls server cannot show: how
//! OpenSSL sends its alert for an untrusted client certificate, and nginx's HTTP 400 "The SSL
//! certificate error" answer, keep-alive and connection numbering. `openssl` and `nginx` must be
//! installed (CI installs them): a missing binary fails the test, it is not skipped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use downstream_api::{CredentialEvent, EventKind};
use downstream_api::{DownstreamApi, ErrorKind};
use test_support::external::{AccessLine, Nginx, SServer, TlsVersion};
use test_support::pki::{Issued, TestCa, Validity};
use test_support::{TempDir, json_str};

/// The certificates of one test: a CA the client trusts for the server, a CA the server trusts for
/// clients, a client it issued, and a client from a CA the server does not know.
struct Pki {
    server_ca: TestCa,
    client_ca: TestCa,
    server: Issued,
    good_client: Issued,
    rogue_client: Issued,
}

impl Pki {
    fn new() -> Pki {
        let server_ca = TestCa::new("External Test Server CA");
        let client_ca = TestCa::new("External Test Client CA");
        let rogue_ca = TestCa::new("Rogue CA");
        Pki {
            server: server_ca.server(),
            good_client: client_ca.client("orders-client", Validity::CURRENT),
            rogue_client: rogue_ca.client("rogue-client", Validity::CURRENT),
            server_ca,
            client_ca,
        }
    }
}

/// Credential events seen by an observer, by kind.
#[derive(Default)]
struct Events(Mutex<Vec<(EventKind, Option<String>)>>);

impl Events {
    fn observe(api: &DownstreamApi) -> Arc<Events> {
        let events = Arc::new(Events::default());
        let sink = events.clone();
        api.add_observer(Arc::new(move |event: &CredentialEvent| {
            sink.0
                .lock()
                .unwrap()
                .push((event.kind, event.error.map(str::to_string)));
        }));
        events
    }

    fn count(&self, kind: EventKind) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k == kind)
            .count()
    }

    /// Asserts how many Selected, Deselected and SuccessfullyUsed events were seen.
    #[track_caller]
    fn assert_counts(&self, selected: usize, deselected: usize, used: usize) {
        let counts = (
            self.count(EventKind::Selected),
            self.count(EventKind::Deselected),
            self.count(EventKind::SuccessfullyUsed),
        );
        assert_eq!(
            counts,
            (selected, deselected, used),
            "(Selected, Deselected, SuccessfullyUsed) events: {}",
            self.summary()
        );
    }

    fn summary(&self) -> String {
        format!("{:?}", self.0.lock().unwrap())
    }
}

/// A client presenting `client` (PEM bundle on disk) to `base_url`, trusting the server CA only.
fn client_for(dir: &TempDir, pki: &Pki, client: &Issued, base_url: &str) -> DownstreamApi {
    let cert_path = dir.write("client.pem", client.bundle_pem());
    let ca_path = dir.write("server-ca.pem", &pki.server_ca.cert_pem);
    let config = format!(
        r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {}}}]}},
            "DownstreamApis": {{"Orders": {{"BaseUrl": {}, "RelativePath": "/orders", "ProtocolScheme": "MTLS"}}}},
            "Http": {{"CaBundlePath": {}, "ConnectTimeoutSeconds": 5, "TimeoutSeconds": 15}}}}"#,
        json_str(&cert_path),
        json_str(base_url),
        json_str(&ca_path)
    );
    DownstreamApi::from_json(&config).expect("client configuration")
}

// ---------------------------------------------------------------------------------------------
// openssl s_server -www

fn s_server_accepts_a_trusted_client_certificate(version: TlsVersion) {
    let pki = Pki::new();
    let dir = TempDir::new("ext-sserver-good");
    let server = SServer::start(&dir, &pki.server, &pki.client_ca.cert_pem, version);
    let api = client_for(&dir, &pki, &pki.good_client, &server.url());
    let events = Events::observe(&api);

    let response = api
        .call("orders", None, b"")
        .unwrap_or_else(|e| panic!("call failed: {e}\n{}", server.output()));
    let body = String::from_utf8_lossy(&response.body);
    assert_eq!(response.status, 200, "{body}\n{}", server.output());
    // -www answers with an HTML page describing the session, which names the protocol.
    assert!(body.contains(version.protocol_name()), "{body}");
    events.assert_counts(1, 0, 1);
}

fn s_server_rejects_an_untrusted_client_certificate(version: TlsVersion) {
    let pki = Pki::new();
    let dir = TempDir::new("ext-sserver-rogue");
    let server = SServer::start(&dir, &pki.server, &pki.client_ca.cert_pem, version);
    let api = client_for(&dir, &pki, &pki.rogue_client, &server.url());
    let events = Events::observe(&api);

    let error = match api.call("orders", None, b"") {
        Ok(response) => panic!(
            "a rogue certificate got HTTP {}: {}\n{}",
            response.status,
            String::from_utf8_lossy(&response.body),
            server.output()
        ),
        Err(error) => error,
    };
    assert_eq!(
        error.kind(),
        ErrorKind::CertificateRejected,
        "{error}\nevents: {}\n{}",
        events.summary(),
        server.output()
    );
    // OpenSSL answers a certificate it cannot chain with an "unknown CA" alert.
    assert!(error.message().contains("alert"), "{error}");
    assert!(error.message().contains("UnknownCA"), "{error}");
    assert!(
        error.message().contains("rejected again after reloading"),
        "{error}"
    );
    // Exactly one retry: selected, rejected, reloaded and selected again, rejected again.
    events.assert_counts(2, 1, 0);
    // The server verified (and refused) the certificate on two connections.
    server.wait_for_verify_errors(2);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.verify_errors(), 2, "{}", server.output());
}

#[test]
fn s_server_tls13_accepts_a_trusted_client_certificate() {
    s_server_accepts_a_trusted_client_certificate(TlsVersion::Tls13);
}

#[test]
fn s_server_tls12_accepts_a_trusted_client_certificate() {
    s_server_accepts_a_trusted_client_certificate(TlsVersion::Tls12);
}

#[test]
fn s_server_tls13_alert_for_an_untrusted_client_certificate_is_retried_once() {
    s_server_rejects_an_untrusted_client_certificate(TlsVersion::Tls13);
}

#[test]
fn s_server_tls12_alert_for_an_untrusted_client_certificate_is_retried_once() {
    s_server_rejects_an_untrusted_client_certificate(TlsVersion::Tls12);
}

// ---------------------------------------------------------------------------------------------
// nginx with ssl_verify_client on

#[test]
fn nginx_sees_the_client_certificate_subject() {
    let pki = Pki::new();
    let dir = TempDir::new("ext-nginx-good");
    let nginx = Nginx::start(&dir, &pki.server, &pki.client_ca.cert_pem);
    let api = client_for(&dir, &pki, &pki.good_client, &nginx.url());
    let events = Events::observe(&api);

    let response = api
        .call("orders", None, b"")
        .unwrap_or_else(|e| panic!("call failed: {e}\n{}", nginx.error_log()));
    let body = String::from_utf8_lossy(&response.body);
    assert_eq!(response.status, 200, "{body}");
    assert!(body.contains("CN=orders-client,O=Contoso"), "{body}");
    assert!(body.contains("verify=SUCCESS"), "{body}");
    assert_eq!(response.header("x-mtls-verify"), Some("SUCCESS"));

    let log = nginx.wait_for_requests(1);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].status, 200);
    assert_eq!(log[0].uri, "/orders");
    assert_eq!(log[0].client_dn, "CN=orders-client,O=Contoso");
    assert_eq!(log[0].verify, "SUCCESS");
    events.assert_counts(1, 0, 1);
}

#[test]
fn nginx_serves_sequential_calls_on_one_kept_alive_connection() {
    const CALLS: usize = 50;
    let pki = Pki::new();
    let dir = TempDir::new("ext-nginx-keepalive");
    let nginx = Nginx::start(&dir, &pki.server, &pki.client_ca.cert_pem);
    let api = client_for(&dir, &pki, &pki.good_client, &nginx.url());
    let events = Events::observe(&api);

    for call in 0..CALLS {
        let response = api
            .call("orders", None, b"")
            .unwrap_or_else(|e| panic!("call {call} failed: {e}\n{}", nginx.error_log()));
        assert_eq!(response.status, 200, "call {call}");
    }

    let log = nginx.wait_for_requests(CALLS);
    assert_eq!(log.len(), CALLS, "{log:#?}");
    let connections: std::collections::BTreeSet<u64> =
        log.iter().map(|line| line.connection).collect();
    assert_eq!(
        connections.len(),
        1,
        "expected one kept-alive connection, nginx saw {connections:?}"
    );
    let requests: Vec<u64> = log.iter().map(|line| line.connection_requests).collect();
    assert_eq!(requests, (1..=CALLS as u64).collect::<Vec<_>>());
    assert!(
        log.iter()
            .all(|line| line.status == 200 && line.verify == "SUCCESS")
    );
    events.assert_counts(1, 0, CALLS);
}

#[test]
fn nginx_400_for_an_untrusted_client_certificate_is_retried_once_then_returned() {
    let pki = Pki::new();
    let dir = TempDir::new("ext-nginx-rogue");
    let nginx = Nginx::start(&dir, &pki.server, &pki.client_ca.cert_pem);
    let api = client_for(&dir, &pki, &pki.rogue_client, &nginx.url());
    let events = Events::observe(&api);

    // nginx completes the handshake whatever the certificate and answers the request with 400;
    // after the one retry the library hands that answer back as a response, not an error.
    let response = api
        .call("orders", None, b"")
        .unwrap_or_else(|e| panic!("expected nginx's 400 as a response, got {e}"));
    let body = String::from_utf8_lossy(&response.body);
    assert_eq!(response.status, 400, "{body}");
    assert!(body.contains("The SSL certificate error"), "{body}");

    // Wait for both lines, then a little longer to see that no third request follows.
    nginx.wait_for_requests(2);
    std::thread::sleep(Duration::from_millis(100));
    let log = nginx.access_log();
    assert_eq!(
        log.len(),
        2,
        "the call was not sent exactly twice: {log:#?}"
    );
    assert!(log.iter().all(|line| line.status == 400), "{log:#?}");
    assert!(
        log.iter().all(|line| line.verify.starts_with("FAILED")),
        "{log:#?}"
    );
    // The retry used a new connection: the rejected certificate's pool was dropped.
    assert_ne!(log[0].connection, log[1].connection, "{log:#?}");
    events.assert_counts(2, 1, 0);
    let deselected_because = events
        .0
        .lock()
        .unwrap()
        .iter()
        .find_map(|(kind, error)| (*kind == EventKind::Deselected).then(|| error.clone()))
        .flatten()
        .unwrap_or_default();
    assert!(deselected_because.contains("400"), "{deselected_because}");
}

/// The nginx tests read nginx's access log; this pins the parser to the configured format.
#[test]
fn nginx_log_format_is_what_the_tests_parse() {
    let line = AccessLine::parse(r#"7 3 r 200 "SUCCESS" "CN=a,O=b" "GET /orders HTTP/1.1""#)
        .expect("parse");
    assert_eq!(line.connection, 7);
    assert_eq!(line.connection_requests, 3);
    assert!(line.session_reused);
    assert_eq!(line.status, 200);
    assert_eq!(line.verify, "SUCCESS");
    assert_eq!(line.client_dn, "CN=a,O=b");
    assert_eq!(line.uri, "/orders");
    let failed = AccessLine::parse(
        r#"12 1 . 400 "FAILED:unable to get local issuer certificate" "CN=x" "GET /a?b=c HTTP/1.1""#,
    )
    .expect("parse");
    assert!(!failed.session_reused);
    assert_eq!(
        failed.verify,
        "FAILED:unable to get local issuer certificate"
    );
    assert_eq!(failed.uri, "/a?b=c");
}

#[test]
fn tls_1_0_and_1_1_servers_are_refused() {
    let pki = Pki::new();
    for version in [TlsVersion::Tls10, TlsVersion::Tls11] {
        let dir = TempDir::new("ext-sserver-old");
        let server = SServer::start(&dir, &pki.server, &pki.client_ca.cert_pem, version);
        let api = client_for(&dir, &pki, &pki.good_client, &server.url());
        let error = api.call("orders", None, b"").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Tls, "{error}\n{}", server.output());
        // The server, limited to the old version, refused rustls' TLS 1.2+ hello.
        assert!(error.message().contains("ProtocolVersion"), "{error}");
        assert_eq!(
            server.verify_errors(),
            0,
            "no certificate was presented to it"
        );
    }
}
