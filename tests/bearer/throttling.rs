//! Throttling and server errors at the token endpoint: 429 waits for `Retry-After` (but not
//! beyond the cap), a 5xx is retried once quickly.

use std::time::{Duration, Instant};

use downstream_api::{ErrorKind, Remedy};
use test_support::token_server::FakeAnswer;

use crate::{authorization, setup};

#[test]
fn throttling_waits_for_retry_after() {
    let setup = setup();
    setup.issuer().push_answer(FakeAnswer::Throttled {
        retry_after_secs: 1,
    });
    let api = setup.entra_rsa();
    let started = Instant::now();
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "retried after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let requests = setup.issuer().token_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].status, 429);
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(900));
    // A fresh assertion for the retry (the endpoint refuses a replayed jti).
    setup.issuer().assert_no_failures();
}

#[test]
fn a_server_error_is_retried_once_quickly() {
    let setup = setup();
    setup.issuer().push_answer(FakeAnswer::ServerError);
    let api = setup.entra_rsa();
    let started = Instant::now();
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let requests = setup.issuer().token_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].status, 500);
    setup.issuer().assert_no_failures();

    // Persistent 5xx: one retry, then the error.
    for _ in 0..3 {
        setup.issuer().push_answer(FakeAnswer::ServerError);
    }
    let error = api.authorization_header("Other", None).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    assert!(error.message().contains("server_error"), "{error}");
    assert!(error.message().contains("AADSTS90033"), "{error}");
    assert_eq!(error.http_status(), Some(500), "{error}");
    assert_eq!(error.remedy(), Some(Remedy::TokenEndpointBusy), "{error}");
    assert_eq!(setup.issuer().token_request_count(), 4);
}

/// A server asking to wait longer than the library's cap (60 s) is not hammered early: the call
/// fails at once with the wait it asked for.
#[test]
fn a_retry_after_beyond_the_cap_fails_without_waiting() {
    let setup = setup();
    setup.issuer().push_answer(FakeAnswer::Throttled {
        retry_after_secs: 3600,
    });
    let api = setup.entra_rsa();
    let started = Instant::now();
    let error = api.authorization_header("Graph", None).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    assert!(error.message().contains("Retry-After: 3600 s"), "{error}");
    assert_eq!(setup.issuer().token_request_count(), 1);
}
