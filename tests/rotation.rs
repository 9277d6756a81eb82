//! Proactive rotation (issue 14): certificate files and store directories are checked for a change
//! at most once per `AzureAd.CertificateReloadIntervalSeconds`, and a renewed certificate is
//! swapped in before any handshake fails. Renewals are made as secret-store agents make them,
//! renaming a new file over the old one. Hosts can also push a credential (`set_credential`) or
//! ask for a reload now (`reload_credentials`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use downstream_api::{CredentialEvent, DownstreamApi, EventKind};
use rustls::pki_types::CertificateDer;
use test_support::credentials::{certificate_file, signed_assertion_file};
use test_support::pki::{Issued, TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::{TempDir, json_str};

struct Setup {
    ca: TestCa,
    server: TestServer,
    dir: TempDir,
    ca_path: String,
}

fn setup() -> Setup {
    let ca = TestCa::new("Rotation CA");
    let server = TestServer::start(
        ca.server(),
        ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
        TestServer::echo_handler(),
    );
    let dir = TempDir::new("rotation");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    Setup {
        ca,
        server,
        dir,
        ca_path,
    }
}

impl Setup {
    fn client(&self, credential: &str, interval: &str) -> DownstreamApi {
        DownstreamApi::from_json(&format!(
            r#"{{"AzureAd": {{"ClientCredentials": [{credential}],
                  "CertificateReloadIntervalSeconds": {interval}}},
                "DownstreamApis": {{"Api": {{"BaseUrl": {url}, "ProtocolScheme": "MTLS"}}}},
                "Http": {{"CaBundlePath": {ca}}}}}"#,
            url = json_str(&self.server.url()),
            ca = json_str(&self.ca_path),
        ))
        .unwrap()
    }

    /// A client whose one credential is the certificate file `path`.
    fn file_client(&self, path: &str, interval: &str) -> DownstreamApi {
        self.client(&certificate_file(path), interval)
    }

    /// Writes `name` in the temp dir: a certificate for `cn` from the CA, valid now.
    fn certificate_file(&self, name: &str, cn: &str) -> String {
        self.dir
            .write(name, self.ca.client(cn, Validity::CURRENT).bundle_pem())
    }

    /// Renames a new file with `contents` over `path`.
    fn renew(&self, path: &str, contents: &str) {
        let staged = self.dir.write("staged.pem", contents);
        std::fs::rename(staged, path).unwrap();
    }

    /// Renames a certificate for `cn` from the CA, valid now, over `path`.
    fn renew_as(&self, path: &str, cn: &str) {
        self.renew(path, &self.ca.client(cn, Validity::CURRENT).bundle_pem());
    }

    /// The client certificate of the last request the server saw.
    fn last_certificate(&self) -> CertificateDer<'static> {
        let seen = self.server.seen();
        seen.last().unwrap().client_cert.clone().unwrap()
    }
}

fn call(api: &DownstreamApi) -> String {
    let response = api.call("Api", None, b"").expect("call");
    assert_eq!(response.status, 200);
    String::from_utf8_lossy(&response.body).into_owned()
}

fn selected(api: &DownstreamApi) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        if event.kind == EventKind::Selected {
            sink.lock().unwrap().push(event.subject.to_string());
        }
    }));
    seen
}

#[test]
fn a_renewed_file_is_used_before_any_handshake_fails() {
    let setup = setup();
    let path = setup.certificate_file("client.pem", "first");
    let api = setup.file_client(&path, "0.2");
    let events = selected(&api);
    assert_eq!(call(&api), "hello first");
    setup.renew_as(&path, "renewed");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(call(&api), "hello renewed");
    assert_eq!(
        setup.server.failed_handshakes(),
        0,
        "no handshake was refused"
    );
    assert_eq!(
        *events.lock().unwrap(),
        ["O=Contoso, CN=first", "O=Contoso, CN=renewed"]
    );
    // Without a check interval the renewal waits for a rejection.
    let path_off = setup.certificate_file("client-off.pem", "first");
    let off = setup.file_client(&path_off, "0");
    assert_eq!(call(&off), "hello first");
    setup.renew_as(&path_off, "renewed");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(call(&off), "hello first");
}

#[test]
fn a_broken_replacement_keeps_the_old_certificate_until_a_good_one_arrives() {
    let setup = setup();
    let path = setup.certificate_file("client.pem", "first");
    let api = setup.file_client(&path, "0.1");
    assert_eq!(call(&api), "hello first");
    setup.renew(
        &path,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    );
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(
            call(&api),
            "hello first",
            "the old certificate stays in use"
        );
    }
    // An expired certificate is not swapped in either.
    setup.renew(
        &path,
        &setup.ca.client("expired", Validity::EXPIRED).bundle_pem(),
    );
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(call(&api), "hello first");
    setup.renew_as(&path, "fixed");
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(call(&api), "hello fixed");
}

#[test]
fn a_store_directory_gaining_a_newer_certificate_switches_to_it() {
    let setup = setup();
    let store = TempDir::new("rotation-store");
    let older: Issued = setup.ca.client(
        "store-client",
        Validity {
            from_days: -10,
            to_days: 30,
        },
    );
    store.write("older.pem", older.bundle_pem());
    let credential = format!(
        r#"{{"SourceType": "StoreWithSubjectName", "CertificateStorePath": {},
            "CertificateSubjectName": "store-client"}}"#,
        json_str(&store.path().to_string_lossy())
    );
    let api = setup.client(&credential, "0.1");
    let events = selected(&api);
    call(&api);
    let first = setup.last_certificate();
    assert_eq!(first.as_ref(), older.cert_der.as_ref());
    let newer = setup.ca.client("store-client", Validity::CURRENT);
    store.write("newer.pem", newer.bundle_pem());
    std::thread::sleep(Duration::from_millis(150));
    call(&api);
    let now = setup.last_certificate();
    assert_eq!(
        now.as_ref(),
        newer.cert_der.as_ref(),
        "the newest NotBefore wins"
    );
    assert_eq!(events.lock().unwrap().len(), 2);
}

#[test]
fn eight_threads_through_a_renewal_that_the_server_enforces_at_once() {
    let setup = setup();
    let path = setup.certificate_file("client.pem", "first");
    let interval = Duration::from_millis(300);
    let api = Arc::new(setup.file_client(&path, "0.3"));
    call(&api);
    let renewed_ca = TestCa::new("Renewed CA");
    let renewed = renewed_ca.client("renewed", Validity::CURRENT);
    let mut callers = Callers::start(&api, 8);
    // The server already trusts the renewal's CA too, as servers do during a rollover.
    let both = [setup.ca.cert_der.clone(), renewed_ca.cert_der.clone()];
    setup
        .server
        .set_client_auth_for_new_connections(ClientAuth::Required(&both));
    std::thread::sleep(Duration::from_millis(500));
    // The renewal is renamed into place; once the interval has passed, the server stops
    // trusting the old CA for new connections. Without the proactive check, the calls would go
    // on presenting the old certificate, and the next handshake with it would be refused.
    setup.renew(&path, &renewed.bundle_pem());
    let swapped = Instant::now();
    std::thread::sleep(interval + Duration::from_millis(300));
    setup
        .server
        .set_client_auth_for_new_connections(ClientAuth::Required(std::slice::from_ref(
            &renewed_ca.cert_der,
        )));
    let refused_by_then = setup.server.failed_handshakes();
    let calls_by_then = callers.calls();
    let checked_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    let failures = callers.stop();
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    let refused_after = setup.server.failed_handshakes() - refused_by_then;
    eprintln!(
        "8 threads, {} calls in all: {refused_by_then} handshakes refused within {:?} of the swap \
         (the interval and 300 ms, until the server dropped the old CA), {refused_after} after, in {} more calls over 1 s",
        callers.calls(),
        checked_at.duration_since(swapped),
        callers.calls() - calls_by_then
    );
    assert_eq!(
        refused_by_then + refused_after,
        0,
        "no handshake was ever refused"
    );
    let last = setup.last_certificate();
    assert_eq!(last.as_ref(), renewed.cert_der.as_ref());
    assert!(callers.calls() > calls_by_then, "calls went on");
}

/// Threads calling "Api" on one client until stopped, counting the calls and keeping what failed
/// (an error or a status other than 200).
struct Callers {
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Callers {
    fn start(api: &Arc<DownstreamApi>, threads: usize) -> Callers {
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..threads)
            .map(|_| {
                let (api, stop, calls, failures) =
                    (api.clone(), stop.clone(), calls.clone(), failures.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match api.call("Api", None, b"") {
                            Ok(response) if response.status == 200 => {}
                            Ok(response) => failures
                                .lock()
                                .unwrap()
                                .push(format!("HTTP {}", response.status)),
                            Err(error) => failures.lock().unwrap().push(error.to_string()),
                        }
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Callers {
            stop,
            calls,
            failures,
            threads,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Stops the threads and waits for them; returns what failed.
    fn stop(&mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            thread.join().unwrap();
        }
        self.failures.lock().unwrap().clone()
    }
}

#[test]
fn pushed_credentials_replace_an_entry_and_a_wrong_one_keeps_the_old() {
    let setup = setup();
    let path = setup.certificate_file("client.pem", "first");
    let api = setup.file_client(&path, "0");
    assert_eq!(call(&api), "hello first");

    // A PEM given in memory.
    let pushed = setup.ca.client("pushed", Validity::CURRENT).bundle_pem();
    api.set_credential(0, pushed.as_bytes(), None).unwrap();
    assert_eq!(call(&api), "hello pushed");

    // A PFX with a wrong password: refused, the pushed one stays.
    let pfx = std::fs::read(test_support::fixture("rsa-client.aes.pfx")).unwrap();
    let error = api
        .set_credential(0, &pfx, Some("wrong-password"))
        .unwrap_err();
    assert_eq!(
        error.kind(),
        downstream_api::ErrorKind::CredentialUnavailable
    );
    assert!(
        error.message().contains("ClientCredentials[0]")
            && !error.message().contains("wrong-password"),
        "{error}"
    );
    assert_eq!(call(&api), "hello pushed");
    let error = api.set_credential(3, pushed.as_bytes(), None).unwrap_err();
    assert_eq!(error.kind(), downstream_api::ErrorKind::InvalidArgument);

    // A proactive check never undoes a push, even when the file changes.
    let checked = setup.file_client(&path, "0.1");
    checked.set_credential(0, pushed.as_bytes(), None).unwrap();
    setup.renew_as(&path, "on-disk");
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(call(&checked), "hello pushed");

    // reload_credentials: a pushed entry keeps what was pushed; a file entry is reloaded now.
    setup.renew_as(&path, "renewed");
    api.reload_credentials().unwrap();
    assert_eq!(call(&api), "hello pushed");
    let from_file = setup.file_client(&path, "0");
    assert_eq!(call(&from_file), "hello renewed");
    setup.renew_as(&path, "again");
    from_file.reload_credentials().unwrap();
    assert_eq!(call(&from_file), "hello again");
    // A broken file: the reload fails naming the entry, the certificate in use stays.
    setup.renew(&path, "not a certificate");
    let error = from_file.reload_credentials().unwrap_err();
    assert!(error.message().contains("ClientCredentials[0]"), "{error}");
    assert_eq!(call(&from_file), "hello again");
}

#[test]
fn only_certificate_and_secret_entries_can_be_given_in_memory() {
    let setup = setup();
    let assertion = setup.dir.write("assertion.jwt", "header.payload.signature");
    let api = setup.client(&signed_assertion_file(&assertion), "0");
    let error = api.set_credential(0, b"anything", None).unwrap_err();
    assert_eq!(
        error.kind(),
        downstream_api::ErrorKind::Unsupported,
        "{error}"
    );
    assert!(
        error
            .message()
            .contains("ClientCredentials[0]: only certificate and ClientSecret entries"),
        "{error}"
    );
}
