//! Observers run without the library's internal locks: an observer may call back into the
//! client that notified it, for a token or a call, without a deadlock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use downstream_api::{CredentialEvent, EventKind};

use crate::setup;

/// Observers run without the library's internal locks: a `Selected` observer fired by an MTLS
/// selection may ask the same client for a token (which selects the credential for tokens).
#[test]
fn an_observer_may_call_back_into_the_same_client() {
    let setup = setup();
    let api = Arc::new(setup.entra_rsa());
    let nested = Arc::new(Mutex::new(Vec::new()));
    let weak = Arc::downgrade(&api);
    let results = nested.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        if event.kind == EventKind::Selected
            && event.protocol == "MTLS"
            && let Some(api) = weak.upgrade()
        {
            let header = api.authorization_header("Graph", None);
            results
                .lock()
                .unwrap()
                .push(header.map(|h| h.starts_with("Bearer ")));
        }
    }));
    let caller = api.clone();
    finishes_without_deadlock(move || {
        // An MTLS call selects the certificate for the handshake; the answer does not matter.
        let _ = caller.call("Graph", Some(r#"{"ProtocolScheme": "MTLS"}"#), b"");
    });
    // The resource answers 401 to a call without a token, which on MTLS means "reload the
    // certificate and retry": two selections, each asking for a token from inside the observer.
    let nested = nested.lock().unwrap();
    assert!(!nested.is_empty(), "the observer ran");
    assert!(nested.iter().all(|r| *r == Ok(true)), "{nested:?}");
}

/// Observer events of a token request arrive after the request's single flight has ended: an
/// observer asking the same client for the same token gets it (from the cache) instead of
/// waiting for itself.
#[test]
fn an_observer_of_a_token_request_may_ask_for_the_same_token() {
    let setup = setup();
    let api = Arc::new(setup.entra_rsa());
    let weak = Arc::downgrade(&api);
    let nested = Arc::new(Mutex::new(Vec::new()));
    let results = nested.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        if event.kind == EventKind::SuccessfullyUsed
            && let Some(api) = weak.upgrade()
        {
            results
                .lock()
                .unwrap()
                .push(api.authorization_header("Graph", None));
        }
    }));
    let caller = api.clone();
    let outer = finishes_without_deadlock(move || caller.authorization_header("Graph", None));
    assert_eq!(outer.unwrap(), "Bearer tok-1");
    assert_eq!(
        *nested.lock().unwrap(),
        vec![Ok("Bearer tok-1".to_string())]
    );
    assert_eq!(setup.issuer().token_request_count(), 1);
}

/// Runs `work` on its own thread and returns its result; fails the test if it has not finished
/// after 20 s (a deadlock would otherwise hang the test run).
fn finishes_without_deadlock<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the work finished: no deadlock")
}
