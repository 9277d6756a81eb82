//! MTLS-only calls against the in-process rustls server on 127.0.0.1: certificate sources,
//! selection, keep-alive, isolation between clients, rotation with a single retry, and errors.

use std::sync::{Arc, Mutex};

use base64::Engine;
use downstream_api::{CredentialEvent, EventKind};
use downstream_api::{DownstreamApi, ErrorKind};
use test_support::credentials::{certificate_file, certificate_file_with_password};
use test_support::pki::{Issued, TestCa, Validity};
use test_support::server::{ClientAuth, Reply, Seen, TestServer, subject_cn};
use test_support::{FIXTURE_PASSWORD, TempDir, fixture, free_port, json_str};

/// A test CA, a server trusting it (and the committed fixture CA), and a temp dir with the CA file.
struct Setup {
    ca: TestCa,
    server: TestServer,
    dir: TempDir,
    ca_path: String,
}

fn fixture_ca() -> rustls::pki_types::CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(fixture("ca.pem")).unwrap()
}

fn setup() -> Setup {
    let ca = TestCa::new("Test CA");
    let server = TestServer::start(
        ca.server(),
        ClientAuth::Required(&[ca.cert_der.clone(), fixture_ca()]),
        TestServer::echo_handler(),
    );
    let dir = TempDir::new("mtls");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    Setup {
        ca,
        server,
        dir,
        ca_path,
    }
}

impl Setup {
    /// A configuration with these `ClientCredentials` and one MTLS API "Orders" on the server.
    fn config(&self, credentials: &str) -> String {
        format!(
            r#"{{"AzureAd": {{"ClientCredentials": [{credentials}]}},
                "DownstreamApis": {{"Orders": {{"BaseUrl": "{}/api/", "RelativePath": "/orders",
                                                "ProtocolScheme": "MTLS"}}}},
                "Http": {{"CaBundlePath": {}, "TimeoutSeconds": 10}}}}"#,
            self.server.url(),
            json_str(&self.ca_path)
        )
    }

    fn client_with(&self, credentials: &str) -> DownstreamApi {
        DownstreamApi::from_json(&self.config(credentials)).unwrap()
    }

    fn path_credential(&self, name: &str, issued: &Issued) -> String {
        certificate_file(&self.dir.write(name, issued.bundle_pem()))
    }
}

fn record_events(api: &DownstreamApi) -> Arc<Mutex<Vec<(EventKind, String)>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        sink.lock()
            .unwrap()
            .push((event.kind, event.subject.to_string()));
    }));
    events
}

fn last_cn(server: &TestServer) -> String {
    let seen = server.seen();
    subject_cn(seen.last().unwrap().client_cert.as_ref().unwrap())
}

#[test]
fn presents_the_configured_certificate_and_no_authorization_header() {
    let setup = setup();
    let client = setup.ca.client("orders-client", Validity::CURRENT);
    let api = setup.client_with(&setup.path_credential("client.pem", &client));
    let response = api.call("orders", None, b"").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"hello orders-client");
    assert_eq!(response.header("content-type"), Some("text/plain"));
    let seen = setup.server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/api/orders");
    assert_eq!(seen[0].client_cert.as_ref(), Some(&client.cert_der));
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[0].header("accept"), Some("application/json"));
}

#[test]
fn overrides_change_method_path_headers_and_query_and_send_the_body() {
    let setup = setup();
    let client = setup.ca.client("orders-client", Validity::CURRENT);
    let api = setup.client_with(&setup.path_credential("client.pem", &client));
    let overrides = r#"{"HttpMethod": "post", "RelativePath": "orders/42",
        "ExtraHeaderParameters": {"X-Correlation": "abc"},
        "ExtraQueryParameters": {"expand": "lines items"}, "ContentType": "text/csv"}"#;
    let response = api.call("Orders", Some(overrides), b"a,b\n1,2").unwrap();
    assert_eq!(response.status, 200);
    let seen = &setup.server.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/api/orders/42?expand=lines%20items");
    assert_eq!(seen.header("x-correlation"), Some("abc"));
    assert_eq!(seen.header("content-type"), Some("text/csv"));
    assert_eq!(seen.body, b"a,b\n1,2");
}

#[test]
fn every_source_type_loads() {
    let setup = setup();
    let rcgen_client = setup.ca.client("rcgen-client", Validity::CURRENT);
    let store = TempDir::new("store");
    std::fs::copy(fixture("rsa-client.3des.pfx"), store.path().join("a.pfx")).unwrap();
    store.write("b.pem", rcgen_client.bundle_pem());
    store.write("not-a-cert.txt", "hello");
    let expected_cn = |name: &str| {
        if name.contains("rcgen") || name.contains("DistinguishedName") {
            "rcgen-client"
        } else if name.contains("EC SEC1") {
            "ec-fixture-client"
        } else {
            "rsa-fixture-client"
        }
    };
    for (name, credential) in every_source_type(&setup, &rcgen_client, &store) {
        let api = setup.client_with(&credential);
        let response = api
            .call("orders", None, b"")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(response.status, 200, "{name}");
        assert_eq!(last_cn(&setup.server), expected_cn(name), "{name}");
    }
}

/// A credential of each source type, named: PEM files (EC, RSA PKCS#8 and #1, encrypted), PFX
/// files (AES, 3DES, RC2), a Base64Encoded PFX, and the store directory `store` searched by
/// thumbprint, distinguished name and subject name.
fn every_source_type(
    setup: &Setup,
    rcgen_client: &Issued,
    store: &TempDir,
) -> Vec<(&'static str, String)> {
    let pfx_base64 = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(fixture("rsa-client.aes.pfx")).unwrap());
    let rsa_thumbprint = {
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_file(fixture("rsa-client.pkcs8.pem"))
            .unwrap();
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}:"))
            .collect::<String>()
    };
    let password = json_str(FIXTURE_PASSWORD);
    let store_path = json_str(&store.path().to_string_lossy());
    vec![
        (
            "PEM, rcgen EC key (PKCS#8)",
            setup.path_credential("rcgen.pem", rcgen_client),
        ),
        (
            "PEM, RSA PKCS#8",
            certificate_file(&fixture("rsa-client.pkcs8.pem")),
        ),
        (
            "PEM, RSA PKCS#1",
            certificate_file(&fixture("rsa-client.pkcs1.pem")),
        ),
        (
            "PEM, encrypted PKCS#8",
            certificate_file_with_password(&fixture("rsa-client.encrypted.pem"), FIXTURE_PASSWORD),
        ),
        (
            "PEM, EC SEC1",
            certificate_file(&fixture("ec-client.sec1.pem")),
        ),
        (
            "PFX, AES",
            certificate_file_with_password(&fixture("rsa-client.aes.pfx"), FIXTURE_PASSWORD),
        ),
        (
            "PFX, 3DES",
            certificate_file_with_password(&fixture("rsa-client.3des.pfx"), FIXTURE_PASSWORD),
        ),
        (
            "PFX, RC2",
            certificate_file_with_password(&fixture("rsa-client.rc2.pfx"), FIXTURE_PASSWORD),
        ),
        (
            "Base64Encoded PFX",
            format!(
                r#"{{"SourceType": "Base64Encoded", "Base64EncodedValue": "{pfx_base64}", "CertificatePassword": {password}}}"#
            ),
        ),
        (
            "StoreWithThumbprint (SHA-1, colons, lower case)",
            format!(
                r#"{{"SourceType": "StoreWithThumbprint", "CertificateStorePath": {store_path},
                    "CertificateThumbprint": "{rsa_thumbprint}", "CertificatePassword": {password}}}"#
            ),
        ),
        (
            "StoreWithDistinguishedName",
            format!(
                r#"{{"SourceType": "StoreWithDistinguishedName", "CertificateStorePath": {store_path},
                    "CertificateDistinguishedName": "CN=rcgen-client, O=Contoso", "CertificatePassword": {password}}}"#
            ),
        ),
        (
            "StoreWithSubjectName",
            format!(
                r#"{{"SourceType": "StoreWithSubjectName", "CertificateStorePath": {store_path},
                    "CertificateSubjectName": "rsa-fixture", "CertificatePassword": {password}}}"#
            ),
        ),
    ]
}

#[test]
fn loading_errors_name_the_entry_and_the_reason_but_never_the_password() {
    let setup = setup();
    let expired = setup.ca.client("expired", Validity::EXPIRED);
    let future = setup.ca.client("future", Validity::NOT_YET_VALID);
    let wrong_password = "not-the-password-123";
    let cases = vec![
        (
            certificate_file("/nonexistent/client.pem"),
            "cannot read '/nonexistent/client.pem'",
        ),
        (
            certificate_file_with_password(&fixture("rsa-client.aes.pfx"), wrong_password),
            "wrong CertificatePassword",
        ),
        (
            certificate_file_with_password(&fixture("rsa-client.encrypted.pem"), wrong_password),
            "cannot decrypt the private key",
        ),
        (
            certificate_file(&fixture("rsa-client.encrypted.pem")),
            "CertificatePassword is not set",
        ),
        (
            certificate_file(&fixture("mismatched.pem")),
            "does not match the certificate",
        ),
        (certificate_file(&fixture("v1-client.pem")), "X.509 v1"),
        (setup.path_credential("expired.pem", &expired), "expired on"),
        (
            setup.path_credential("future.pem", &future),
            "is not valid before",
        ),
        (
            r#"{"SourceType": "ClientSecret", "ClientSecret": "s3cret-value"}"#.to_string(),
            "is a client secret",
        ),
        (
            format!(
                r#"{{"SourceType": "StoreWithThumbprint", "CertificateStorePath": {}, "CertificateThumbprint": "00"}}"#,
                json_str(&setup.dir.path().to_string_lossy())
            ),
            "no time-valid certificate with thumbprint 00",
        ),
        (
            r#"{"SourceType": "CustomSignedAssertion"}"#.to_string(),
            "CustomSignedAssertion is not supported",
        ),
    ];
    for (credential, reason) in cases {
        let api = setup.client_with(&credential);
        let error = api.call("orders", None, b"").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::CredentialUnavailable, "{error}");
        let message = error.message();
        assert!(message.contains("ClientCredentials[0]"), "{message}");
        assert!(
            message.contains(reason),
            "expected '{reason}' in: {message}"
        );
        assert!(!message.contains(wrong_password), "{message}");
        assert!(!message.contains("s3cret-value"), "{message}");
    }
    assert!(setup.server.seen().is_empty());
}

#[test]
fn skips_skipped_entries_and_secrets_to_the_first_usable_certificate() {
    let setup = setup();
    let skipped = setup.ca.client("skipped", Validity::CURRENT);
    let chosen = setup.ca.client("chosen", Validity::CURRENT);
    let credentials = format!(
        r#"{{"SourceType": "ClientSecret", "ClientSecret": "x"}},
           {{"SourceType": "Path", "CertificateDiskPath": {}, "Skip": true}},
           {{"SourceType": "Path", "CertificateDiskPath": "/missing.pem"}},
           {}"#,
        json_str(&setup.dir.write("skipped.pem", skipped.bundle_pem())),
        setup.path_credential("chosen.pem", &chosen)
    );
    let api = setup.client_with(&credentials);
    let events = record_events(&api);
    api.call("orders", None, b"").unwrap();
    api.call("orders", None, b"").unwrap();
    assert_eq!(last_cn(&setup.server), "chosen");
    // Selected fires when the selection changes, not on every call.
    let kinds: Vec<EventKind> = events.lock().unwrap().iter().map(|e| e.0).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Selected,
            EventKind::SuccessfullyUsed,
            EventKind::SuccessfullyUsed
        ]
    );
}

#[test]
fn a_store_directory_yields_the_newest_time_valid_match() {
    let setup = setup();
    let store = TempDir::new("store");
    let older = setup.ca.client(
        "svc",
        Validity {
            from_days: -20,
            to_days: 300,
        },
    );
    let newer = setup.ca.client(
        "svc",
        Validity {
            from_days: -2,
            to_days: 300,
        },
    );
    let expired = setup.ca.client("svc", Validity::EXPIRED);
    store.write("1-older.pem", older.bundle_pem());
    store.write("2-newer.pem", newer.bundle_pem());
    store.write("3-expired.pem", expired.bundle_pem());
    let api = setup.client_with(&format!(
        r#"{{"SourceType": "StoreWithDistinguishedName", "CertificateStorePath": {},
            "CertificateDistinguishedName": "O=Contoso, CN=svc"}}"#,
        json_str(&store.path().to_string_lossy())
    ));
    api.call("orders", None, b"").unwrap();
    let seen = setup.server.seen();
    assert_eq!(seen[0].client_cert.as_ref(), Some(&newer.cert_der));
}

#[test]
fn keep_alive_reuses_one_connection() {
    let setup = setup();
    let client = setup.ca.client("keepalive", Validity::CURRENT);
    let api = setup.client_with(&setup.path_credential("client.pem", &client));
    for _ in 0..25 {
        assert_eq!(api.call("orders", None, b"").unwrap().status, 200);
    }
    assert_eq!(setup.server.handshakes(), 1);
    let seen = setup.server.seen();
    assert!(seen.iter().all(|s| s.connection == seen[0].connection));
}

#[test]
fn two_clients_with_different_certificates_never_share_a_connection() {
    let setup = setup();
    let alice = setup.ca.client("alice", Validity::CURRENT);
    let bob = setup.ca.client("bob", Validity::CURRENT);
    let api_alice = setup.client_with(&setup.path_credential("alice.pem", &alice));
    let api_bob = setup.client_with(&setup.path_credential("bob.pem", &bob));
    for _ in 0..10 {
        assert_eq!(
            api_alice.call("orders", None, b"").unwrap().body,
            b"hello alice"
        );
        assert_eq!(
            api_bob.call("orders", None, b"").unwrap().body,
            b"hello bob"
        );
    }
    let seen = setup.server.seen();
    for request in &seen {
        let same_connection = seen.iter().filter(|s| s.connection == request.connection);
        for other in same_connection {
            assert_eq!(other.client_cert, request.client_cert);
        }
    }
    assert_eq!(setup.server.handshakes(), 2);
}

#[test]
fn one_client_serves_many_threads() {
    let setup = setup();
    let client = setup.ca.client("shared", Validity::CURRENT);
    let api = Arc::new(setup.client_with(&setup.path_credential("client.pem", &client)));
    let events = record_events(&api);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let api = api.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    assert_eq!(api.call("orders", None, b"").unwrap().status, 200);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(setup.server.seen().len(), 160);
    let selected = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 == EventKind::Selected)
        .count();
    assert_eq!(
        selected, 1,
        "one selection, however many threads raced to make it"
    );
}

#[test]
fn concurrent_threads_keep_their_connections_alive() {
    // Calls that overlap (the server takes a few milliseconds): each of 16 threads needs a
    // connection of its own, and every one must go back to the pool. ureq's default keeps 3 idle
    // connections per host: the other 13 were closed after each round (134 connections).
    let setup = setup();
    let slow = TestServer::start(
        setup.ca.server(),
        ClientAuth::Required(std::slice::from_ref(&setup.ca.cert_der)),
        Arc::new(|_: &Seen| {
            std::thread::sleep(std::time::Duration::from_millis(3));
            Reply::text(200, "slow")
        }),
    );
    let client = setup.ca.client("shared", Validity::CURRENT);
    let config = setup
        .config(&setup.path_credential("client.pem", &client))
        .replace(&setup.server.url(), &slow.url());
    let api = Arc::new(DownstreamApi::from_json(&config).unwrap());
    // In step: all 16 connections are back in the pool at once between two rounds of calls.
    let rounds = Arc::new(std::sync::Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (api, rounds) = (api.clone(), rounds.clone());
            std::thread::spawn(move || {
                for _ in 0..15 {
                    assert_eq!(api.call("orders", None, b"").unwrap().status, 200);
                    rounds.wait();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let seen = slow.seen();
    assert_eq!(seen.len(), 240);
    let mut connections: Vec<usize> = seen.iter().map(|s| s.connection).collect();
    connections.sort();
    connections.dedup();
    assert!(
        connections.len() <= 16,
        "{} connections for 16 threads",
        connections.len()
    );
}

/// A client using certificate "old" from a file, and "new" from a renewed CA the server does not
/// trust yet.
struct Rotation {
    cert_path: String,
    api: DownstreamApi,
    events: Arc<Mutex<Vec<(EventKind, String)>>>,
    new_ca: TestCa,
    new: Issued,
}

impl Setup {
    fn rotation(&self) -> Rotation {
        let old = self.ca.client("old", Validity::CURRENT);
        let new_ca = TestCa::new("Renewed CA");
        let new = new_ca.client("new", Validity::CURRENT);
        let cert_path = self.dir.write("client.pem", old.bundle_pem());
        let api = self.client_with(&certificate_file(&cert_path));
        let events = record_events(&api);
        assert_eq!(api.call("orders", None, b"").unwrap().body, b"hello old");
        Rotation {
            cert_path,
            api,
            events,
            new_ca,
            new,
        }
    }
}

#[test]
fn a_rotated_certificate_is_reloaded_and_the_call_retried_once() {
    let setup = setup();
    let Rotation {
        cert_path,
        api,
        events,
        new_ca,
        new,
    } = setup.rotation();

    // The server now trusts only the renewed CA, and the file on disk is replaced.
    setup
        .server
        .set_client_auth(ClientAuth::Required(std::slice::from_ref(&new_ca.cert_der)));
    std::fs::write(&cert_path, new.bundle_pem()).unwrap();

    let response = api
        .call("orders", Some(r#"{"HttpMethod": "PUT"}"#), b"same bytes")
        .unwrap();
    assert_eq!(response.body, b"hello new");
    assert_eq!(setup.server.failed_handshakes_reaching(1), 1);
    let seen = setup.server.seen();
    assert_eq!(seen.last().unwrap().body, b"same bytes");
    let events = events.lock().unwrap().clone();
    let expected = [
        (EventKind::Selected, "old"),
        (EventKind::SuccessfullyUsed, "old"),
        (EventKind::Deselected, "old"),
        (EventKind::Selected, "new"),
        (EventKind::SuccessfullyUsed, "new"),
    ];
    assert_eq!(events.len(), expected.len(), "{events:?}");
    for ((kind, subject), (expected_kind, cn)) in events.iter().zip(expected) {
        assert_eq!(*kind, expected_kind, "{events:?}");
        assert!(subject.contains(&format!("CN={cn}")), "{events:?}");
    }
}

#[test]
fn a_server_rejecting_every_certificate_costs_exactly_two_attempts() {
    let setup = setup();
    let stranger = TestCa::new("Unknown CA").client("stranger", Validity::CURRENT);
    let api = setup.client_with(&setup.path_credential("client.pem", &stranger));
    let events = record_events(&api);
    let error = api.call("orders", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CertificateRejected, "{error}");
    assert!(
        error.message().contains("rejected again after reloading"),
        "{error}"
    );
    assert!(error.message().to_lowercase().contains("alert"), "{error}");
    assert_eq!(setup.server.failed_handshakes_reaching(2), 2);
    assert!(setup.server.seen().is_empty());
    let deselected = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 == EventKind::Deselected)
        .count();
    assert_eq!(deselected, 1);
}

#[test]
fn http_answers_about_the_certificate_are_retried_once_others_are_not() {
    let setup = setup();
    let client = setup.ca.client("client", Validity::CURRENT);
    let api = setup.client_with(&setup.path_credential("client.pem", &client));
    // 495 then 200: one retry with the same body.
    let answers = Arc::new(Mutex::new(vec![200u16, 495]));
    let pop = answers.clone();
    setup.server.set_handler(Arc::new(move |_: &Seen| {
        let status = pop.lock().unwrap().pop().unwrap_or(200);
        Reply::text(status, "answer")
    }));
    let response = api
        .call("orders", Some(r#"{"HttpMethod": "POST"}"#), b"payload")
        .unwrap();
    assert_eq!(response.status, 200);
    let seen = setup.server.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.body == b"payload"));

    // 401 on an MTLS call: retried once, then returned as a response.
    setup
        .server
        .set_handler(Arc::new(|_: &Seen| Reply::text(401, "no")));
    let response = api.call("orders", None, b"").unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(setup.server.seen().len(), 4);

    // 403 and an ordinary 400 are the API's answers: no retry.
    for status in [403u16, 400] {
        setup.server.set_handler(Arc::new(move |_: &Seen| {
            Reply::text(status, "validation failed")
        }));
        let before = setup.server.seen().len();
        assert_eq!(api.call("orders", None, b"").unwrap().status, status);
        assert_eq!(setup.server.seen().len(), before + 1);
    }
}

#[test]
fn refuses_to_present_a_certificate_over_plain_http() {
    let setup = setup();
    let client = setup.ca.client("client", Validity::CURRENT);
    let api = setup.client_with(&setup.path_credential("client.pem", &client));
    let error = api
        .call(
            "orders",
            Some(r#"{"BaseUrl": "http://127.0.0.1:9/api"}"#),
            b"",
        )
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InsecureUrl, "{error}");
}

#[test]
fn unknown_api_names_list_the_configured_ones() {
    let setup = setup();
    let api = setup.client_with("");
    let error = api.call("Payments", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownApi);
    assert!(error.message().contains("'Payments'"), "{error}");
    assert!(error.message().contains("Orders"), "{error}");
    let error = api.call("orders", Some("{not json"), b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error.message().contains("overrides are not valid JSON"),
        "{error}"
    );
}

#[test]
fn an_untrusted_server_certificate_fails_verification() {
    let setup = setup();
    let client = setup.ca.client("client", Validity::CURRENT);
    let other_ca = TestCa::new("Other CA");
    let other_ca_path = setup.dir.write("other-ca.pem", &other_ca.cert_pem);
    let config = setup
        .config(&setup.path_credential("client.pem", &client))
        .replace(&json_str(&setup.ca_path), &json_str(&other_ca_path));
    let api = DownstreamApi::from_json(&config).unwrap();
    let error = api.call("orders", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(error.message().contains("certificate"), "{error}");
}

#[test]
fn network_failures_and_timeouts_are_told_apart() {
    let setup = setup();
    let client = setup.ca.client("client", Validity::CURRENT);
    let api = setup.client_with(&setup.path_credential("client.pem", &client));

    // A port where nothing listens.
    let closed_port = free_port();
    let overrides = format!(r#"{{"BaseUrl": "https://127.0.0.1:{closed_port}"}}"#);
    let error = api.call("orders", Some(&overrides), b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");

    // A listener that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let config = setup
        .config(&setup.path_credential("client2.pem", &client))
        .replace("\"TimeoutSeconds\": 10", "\"TimeoutSeconds\": 0.5")
        .replace(
            &setup.server.url(),
            &format!("https://127.0.0.1:{silent_port}"),
        );
    let api = DownstreamApi::from_json(&config).unwrap();
    let started = std::time::Instant::now();
    let error = api.call("orders", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    drop(silent);
}

#[test]
fn configuration_errors_are_reported_at_creation_with_their_path() {
    let cases = [
        ("[]", "(root): expected an object"),
        (
            r#"{"AzureAd": {"SendX5C": "maybe"}}"#,
            "AzureAd.SendX5C: expected true or false",
        ),
        (
            r#"{"DownstreamApis": {"A": {"BaseUrl": "https://x", "ProtocolScheme": "MTLS", "HttpMethod": "G E T"}}}"#,
            "DownstreamApis.A.HttpMethod",
        ),
        (
            r#"{"DownstreamApis": {"A": {"BaseUrl": "ftp://x", "ProtocolScheme": "MTLS"}}}"#,
            "DownstreamApis.A.BaseUrl",
        ),
        (
            r#"{"DownstreamApis": {"A": {"BaseUrl": "https://x", "ProtocolScheme": "Kerberos"}}}"#,
            "DownstreamApis.A.ProtocolScheme",
        ),
        (
            r#"{"AzureAd": {"ClientCredentials": [{"SourceType": "Teleport"}]}}"#,
            "AzureAd.ClientCredentials[0].SourceType: unknown credential source 'Teleport'",
        ),
        (r#"{"Http": {"TimeoutSeconds": -1}}"#, "Http.TimeoutSeconds"),
        (
            r#"{"Http": {"CaBundlePath": "/nonexistent/ca.pem"}}"#,
            "Http.CaBundlePath",
        ),
    ];
    for (json, expected) in cases {
        let error = DownstreamApi::from_json(json).err().expect(json);
        assert_eq!(error.kind(), ErrorKind::Config, "{json}: {error}");
        assert!(error.message().contains(expected), "{json}: {error}");
    }
}

#[test]
fn a_failed_reload_keeps_the_old_certificate_and_is_retried_on_the_next_rejection() {
    let setup = setup();
    let Rotation {
        cert_path,
        api,
        events,
        new_ca,
        new,
    } = setup.rotation();

    // Rejected while the file is half-written: the reload fails, the call says why.
    setup
        .server
        .set_client_auth(ClientAuth::Required(std::slice::from_ref(&new_ca.cert_der)));
    std::fs::write(&cert_path, "-----BEGIN CERTIFICATE-----\ntrunc").unwrap();
    let error = api.call("orders", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialUnavailable, "{error}");
    assert!(error.message().contains("ClientCredentials[0]"), "{error}");

    // The file is complete now: the next rejection reloads it, without a second Deselected.
    std::fs::write(&cert_path, new.bundle_pem()).unwrap();
    assert_eq!(api.call("orders", None, b"").unwrap().body, b"hello new");
    let kinds: Vec<EventKind> = events.lock().unwrap().iter().map(|e| e.0).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Selected,
            EventKind::SuccessfullyUsed,
            EventKind::Deselected,
            EventKind::Selected,
            EventKind::SuccessfullyUsed
        ]
    );
}

/// Query strings can carry keys (SAS signatures, function keys): they stay out of error messages
/// and observer events.
#[test]
fn query_strings_stay_out_of_messages_and_events() {
    let setup = setup();
    let client = setup.ca.client("client", Validity::CURRENT);
    let api = setup.client_with(&setup.path_credential("client.pem", &client));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        sink.lock().unwrap().push(event.api_url.to_string());
    }));
    let with_key = r#"{"ExtraQueryParameters": {"sig": "top-secret-signature"}}"#;
    api.call("orders", Some(with_key), b"").unwrap();
    assert!(
        setup.server.seen()[0]
            .target
            .contains("sig=top-secret-signature")
    );

    let port = free_port();
    let unreachable = format!(
        r#"{{"BaseUrl": "https://127.0.0.1:{port}", "ExtraQueryParameters": {{"sig": "top-secret-signature"}}}}"#
    );
    let error = api.call("orders", Some(&unreachable), b"").unwrap_err();
    assert!(!error.message().contains("top-secret"), "{error}");
    assert!(error.message().contains("/orders?…"), "{error}");
    let events = events.lock().unwrap();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|url| !url.contains("top-secret")),
        "{events:?}"
    );
}
