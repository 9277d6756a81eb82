//! Renewal from the vault: a new version found by the proactive check while threads call, a
//! rejected certificate reloaded from the vault, and a vault that is down while a renewal is due.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use downstream_api::{CredentialEvent, EventKind};
use test_support::key_vault::StoredVersion;
use test_support::pki::TestCa;
use test_support::server::ClientAuth;

use super::{Reader, call, log_lines, logs, selections, setup};

#[test]
fn a_new_version_is_picked_up_by_the_proactive_check_while_8_threads_call() {
    let setup = setup(Reader::EnvironmentSecret);
    let name = "orders-renewed";
    setup.vault.add_version(
        name,
        StoredVersion::pkcs12("v1", &setup.certificate("before")),
    );
    let api = Arc::new(setup.client(name, "0.4"));
    assert_eq!(call(&api), "hello before");
    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (api, stop) = (api.clone(), stop.clone());
            let (calls, failed) = (calls.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match api.call("Orders", None, b"") {
                        Ok(response) if response.status == 200 => {}
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    setup.vault.add_version(
        name,
        StoredVersion::pkcs12("v2", &setup.certificate("after")),
    );
    let renewed_at = Instant::now();
    while call(&api) != "hello after" {
        assert!(
            renewed_at.elapsed() < Duration::from_secs(3),
            "not renewed within the interval"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(calls.load(Ordering::Relaxed) > 100);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no call failed");
    assert_eq!(setup.api.failed_handshakes(), 0);
    // One secret per version; the checks in between asked for the certificate only.
    assert_eq!(setup.vault.served("secret"), 2);
    assert_eq!(api.credentials()[0].version.as_deref(), Some("v2"));
    assert!(!log_lines("'orders-renewed': renewed to version v2").is_empty());
}

#[test]
fn a_rejected_certificate_is_reloaded_from_the_vault() {
    let setup = setup(Reader::EnvironmentSecret);
    let name = "orders-rotated";
    setup.vault.add_version(
        name,
        StoredVersion::pkcs12("r1", &setup.certificate("rejected")),
    );
    // No proactive check: only the rejection makes the library ask the vault again.
    let api = setup.client(name, "0");
    let events = selections(&api);
    let deselected = Arc::new(AtomicUsize::new(0));
    let counter = deselected.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        if event.kind == EventKind::Deselected {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }));
    assert_eq!(call(&api), "hello rejected");
    // The certificate is renewed by another CA, and the API trusts only that one from now on.
    let other = TestCa::new("Key Vault renewed CA");
    setup.vault.add_version(
        name,
        StoredVersion::pkcs12(
            "r2",
            &other.client("rotated", test_support::pki::Validity::CURRENT),
        ),
    );
    setup
        .api
        .set_client_auth(ClientAuth::Required(std::slice::from_ref(&other.cert_der)));
    assert_eq!(call(&api), "hello rotated");
    assert_eq!(deselected.load(Ordering::Relaxed), 1);
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[1].0.contains("rotated") && events[1].1.contains("KeyVault"));
    assert_eq!(setup.vault.served("secret"), 2);
}

#[test]
fn a_vault_that_is_down_keeps_the_certificate_and_warns_once() {
    logs();
    let setup = setup(Reader::EnvironmentSecret);
    let name = "orders-outage";
    setup.vault.add_version(
        name,
        StoredVersion::pkcs12("o1", &setup.certificate("kept")),
    );
    let api = setup.client(name, "0.2");
    assert_eq!(call(&api), "hello kept");
    setup.vault.set_down(true);
    setup
        .vault
        .add_version(name, StoredVersion::pkcs12("o2", &setup.certificate("new")));
    let until = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < until {
        assert_eq!(call(&api), "hello kept", "a call the certificate can serve");
        std::thread::sleep(Duration::from_millis(20));
    }
    let outage_checks = setup
        .vault
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert!(outage_checks >= 2, "checked {outage_checks} times");
    let warnings: Vec<String> = log_lines("'orders-outage': the vault cannot be read now");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("Warn") && warnings[0].contains("503"),
        "{warnings:?}"
    );
    setup.vault.set_down(false);
    let back = Instant::now();
    while call(&api) != "hello new" {
        assert!(
            back.elapsed() < Duration::from_secs(3),
            "not renewed after the outage"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        log_lines("'orders-outage': the vault answers again").len(),
        1
    );
}
