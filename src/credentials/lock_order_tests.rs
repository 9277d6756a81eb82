//! The provider's locks under load: every public path from several threads at once, with an
//! observer that calls back into the provider. In debug builds each acquisition checks the lock
//! order (`state.rs`), so a violation panics here; a deadlock shows as the timeout.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use test_support::TempDir;
use test_support::pki::{TestCa, Validity};

use super::{CredentialsProvider, EventKind, Observer, Purpose, Usage};
use crate::config::{CredentialDescription, SourceType};

const USAGE: Usage<'static> = Usage {
    protocol: "test",
    api_url: "https://api.example/?sig=secret",
};

fn certificate_entry(index: usize, path: &str) -> CredentialDescription {
    CredentialDescription {
        index,
        source_type: Some(SourceType::Path),
        certificate_disk_path: Some(path.to_string()),
        ..CredentialDescription::default()
    }
}

/// A file, a secret and another file, watched every millisecond, every certificate within the
/// expiry warning: every job of the provider has work to do.
fn provider(dir: &TempDir, ca: &TestCa, reload_interval: Option<Duration>) -> CredentialsProvider {
    let first = dir.write("a.pem", ca.client("a", Validity::CURRENT).bundle_pem());
    let second = dir.write("b.pem", ca.client("b", Validity::CURRENT).bundle_pem());
    let secret = CredentialDescription {
        index: 1,
        source_type: Some(SourceType::ClientSecret),
        client_secret: Some("secret-one".to_string()),
        ..CredentialDescription::default()
    };
    let entries = [
        certificate_entry(0, &first),
        secret,
        certificate_entry(2, &second),
    ];
    let crypto = Arc::new(rustls::crypto::ring::default_provider());
    CredentialsProvider::new(&entries, crypto, 400, reload_interval)
}

thread_local! {
    static IN_OBSERVER: Cell<bool> = const { Cell::new(false) };
}

/// Calls back into the provider as a host's observer may (not from within its own callback, so
/// that a renewal on every check cannot recurse without end).
fn calling_back(provider: Weak<CredentialsProvider>) -> Observer {
    Arc::new(move |_event| {
        if IN_OBSERVER.with(|inside| inside.replace(true)) {
            return;
        }
        if let Some(provider) = provider.upgrade() {
            let _ = provider.select(Purpose::Token, &USAGE);
            let _ = provider.report();
            let _ = provider.take_retired();
        }
        IN_OBSERVER.with(|inside| inside.set(false));
    })
}

/// Step `step` of a worker: each path of the provider in turn.
fn step(provider: &CredentialsProvider, dir: &TempDir, renewals: &[String], step: usize) {
    match step % 9 {
        0 | 1 => {
            let purpose = [Purpose::Mtls, Purpose::Token][step % 9];
            if let Ok(selection) = provider.select(purpose, &USAGE) {
                provider.used(&selection, &USAGE);
            }
        }
        2 | 3 => {
            let purpose = [Purpose::Mtls, Purpose::Token][step % 9 - 2];
            if let Ok(selection) = provider.select(purpose, &USAGE) {
                let _ = provider.rotate(purpose, &selection, &USAGE, "rejected in a test");
            }
        }
        4 => drop(provider.report()),
        5 => drop(provider.reload_all()),
        6 => drop(provider.set_credential(2, renewals[step % renewals.len()].as_bytes(), None)),
        7 => {
            // Renamed into place, as a renewal is, so that no load sees half a file.
            static STAGED: AtomicUsize = AtomicUsize::new(0);
            let name = format!("staged-{}.pem", STAGED.fetch_add(1, Ordering::Relaxed));
            let staged = dir.write(&name, &renewals[step % renewals.len()]);
            std::fs::rename(staged, dir.path().join("a.pem")).expect("rename a renewal");
        }
        _ => drop(provider.take_retired()),
    }
}

#[test]
fn every_path_at_once_keeps_the_lock_order() {
    let dir = TempDir::new("lock-order");
    let ca = TestCa::new("Lock order CA");
    let provider = Arc::new(provider(&dir, &ca, Some(Duration::from_millis(1))));
    provider.add_observer(calling_back(Arc::downgrade(&provider)));
    let kinds_seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let recorder = kinds_seen.clone();
    provider.add_observer(Arc::new(move |event| {
        let mut seen = recorder.lock();
        if !seen.contains(&event.kind) {
            seen.push(event.kind);
        }
    }));
    let renewals: Arc<Vec<String>> = Arc::new(
        (0..3)
            .map(|n| {
                ca.client(&format!("renewal {n}"), Validity::CURRENT)
                    .bundle_pem()
            })
            .collect(),
    );
    let dir = Arc::new(dir);
    let (done, finished) = mpsc::channel();
    for worker in 0..6 {
        let (provider, dir, renewals, done) = (
            provider.clone(),
            dir.clone(),
            renewals.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                for n in 0..90 {
                    step(&provider, &dir, &renewals, worker + n);
                }
            }));
            let _ = done.send(outcome.is_ok());
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for _ in 0..6 {
        let left = deadline.saturating_duration_since(Instant::now());
        let finished_well = finished
            .recv_timeout(left)
            .expect("every worker finishes (a timeout means a deadlock)");
        assert!(
            finished_well,
            "a worker panicked (see the lock order message above)"
        );
    }
    assert!(provider.select(Purpose::Mtls, &USAGE).is_ok());
    assert_eq!(provider.report().len(), 3);
    let seen = kinds_seen.lock();
    for kind in [
        EventKind::Selected,
        EventKind::Deselected,
        EventKind::SuccessfullyUsed,
        EventKind::ExpiringSoon,
    ] {
        assert!(seen.contains(&kind), "no {kind:?} event: {seen:?}");
    }
}

#[test]
fn a_slow_load_does_not_hold_up_a_selection_in_use() {
    let dir = TempDir::new("slow-load");
    let ca = TestCa::new("Slow load CA");
    let provider = Arc::new(provider(&dir, &ca, None));
    let selected = provider
        .select(Purpose::Mtls, &USAGE)
        .expect("a first selection");
    // What a load holds while it reads a source (a rotation, a first selection elsewhere).
    let loading = provider.state.begin_change();
    let (answer, answered) = mpsc::channel();
    let caller = provider.clone();
    std::thread::spawn(move || {
        let _ = answer.send(caller.select(Purpose::Mtls, &USAGE).map(|s| s.index));
    });
    let index = answered
        .recv_timeout(Duration::from_secs(10))
        .expect("select of an existing selection does not wait for a load");
    assert_eq!(index.ok(), Some(selected.index));
    drop(loading);
}
