//! The token cache: tokens reused per scope set (in any order), one request for concurrent cold
//! misses, refresh inside the early-expiry window and after `refresh_in`, `ForceRefresh`, the
//! expiry reported and the tenant option, and the debug log telling a fetched token from a cached
//! one.

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use crate::{GRAPH_SCOPE, TENANT, authorization, setup, unix_now};

#[test]
fn cached_tokens_are_reused_and_kept_per_scope_set() {
    let setup = setup();
    let api = setup.entra_rsa();
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
    assert_eq!(setup.issuer().token_request_count(), 1);

    assert_eq!(authorization(&api, "Other"), "Bearer tok-2");
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
    assert_eq!(authorization(&api, "Other"), "Bearer tok-2");
    assert_eq!(setup.issuer().token_request_count(), 2);

    // Scopes are a set: the order does not make another cache entry.
    let a = "https://example.test/a";
    let b = "https://example.test/b";
    let first = api.acquire_token(&[a, b], None).unwrap();
    let second = api.acquire_token(&[b, a], None).unwrap();
    assert_eq!(first.token, "tok-3");
    assert_eq!(second.token, "tok-3");
    assert_eq!(setup.issuer().token_request_count(), 3);
    let issued = setup.issuer().issued();
    let mut sent: Vec<&str> = issued[2].scope.split(' ').collect();
    sent.sort_unstable();
    assert_eq!(
        sent,
        [a, b],
        "space-separated scopes: {:?}",
        issued[2].scope
    );

    // A per-call scope override is another token too.
    let header = api
        .authorization_header("Graph", Some(r#"{"Scopes": ["api://third/.default"]}"#))
        .unwrap();
    assert_eq!(header, "Bearer tok-4");
    assert_eq!(setup.issuer().issued()[3].scope, "api://third/.default");
    setup.issuer().assert_no_failures();
}

#[test]
fn concurrent_cold_misses_make_a_single_token_request() {
    let setup = setup();
    setup.issuer().set_delay(Some(Duration::from_millis(200)));
    let api = Arc::new(setup.entra_rsa());
    let barrier = Arc::new(Barrier::new(32));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let api = api.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                authorization(&api, "Graph")
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), "Bearer tok-1");
    }
    assert_eq!(setup.issuer().token_request_count(), 1);
    setup.issuer().assert_no_failures();
}

#[test]
fn a_token_inside_the_early_expiry_window_is_refreshed() {
    let setup = setup();
    // 300 s left is already within the 5-minute margin: never served from the cache.
    setup.issuer().set_expires_in(300);
    let api = setup.entra_rsa();
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-2");
    assert_eq!(setup.issuer().token_request_count(), 2);
    setup.issuer().assert_no_failures();
}

#[test]
fn refresh_in_is_honoured() {
    let setup = setup();
    setup.issuer().set_expires_in(3600);
    setup.issuer().set_refresh_in(Some(1));
    let api = setup.entra_rsa();
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
    assert_eq!(
        setup.issuer().token_request_count(),
        1,
        "before refresh_in: cached"
    );
    std::thread::sleep(Duration::from_millis(1300));
    authorization(&api, "Graph");
    // A refresh may happen in the background while the still-valid token is returned.
    let deadline = Instant::now() + Duration::from_secs(3);
    while setup.issuer().token_request_count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        setup.issuer().token_request_count(),
        2,
        "after refresh_in: refreshed"
    );
    setup.issuer().assert_no_failures();
}

#[test]
fn force_refresh_bypasses_the_cache() {
    let setup = setup();
    let api = setup.entra_rsa();
    assert_eq!(
        api.acquire_token(&[GRAPH_SCOPE], None).unwrap().token,
        "tok-1"
    );
    let forced = api
        .acquire_token(&[GRAPH_SCOPE], Some(r#"{"ForceRefresh": true}"#))
        .unwrap();
    assert_eq!(forced.token, "tok-2");
    assert_eq!(setup.issuer().token_request_count(), 2);
    // Also through the API's AcquireTokenOptions override.
    let header = api
        .authorization_header(
            "Graph",
            Some(r#"{"AcquireTokenOptions": {"ForceRefresh": true}}"#),
        )
        .unwrap();
    assert_eq!(header, "Bearer tok-3");
    assert_eq!(setup.issuer().token_request_count(), 3);
    setup.issuer().assert_no_failures();
}

#[test]
fn acquire_token_reports_the_expiry_and_honours_the_tenant_option() {
    let setup = setup();
    setup.issuer().set_expires_in(7200);
    let api = setup.entra_rsa();
    let before = unix_now();
    let token = api.acquire_token(&[GRAPH_SCOPE], None).unwrap();
    let after = unix_now();
    assert_eq!(token.token, "tok-1");
    assert!(
        token.expires_on >= before + 7200 - 2 && token.expires_on <= after + 7200 + 2,
        "expires_on {} is not now + 7200 ({before}..{after})",
        token.expires_on
    );

    // Another tenant: another endpoint (and audience), another cache entry.
    let other = api
        .acquire_token(&[GRAPH_SCOPE], Some(r#"{"Tenant": "fabrikam-tenant"}"#))
        .unwrap();
    assert_eq!(other.token, "tok-2");
    let issued = setup.issuer().issued();
    assert_eq!(issued[0].tenant.as_deref(), Some(TENANT));
    assert_eq!(issued[1].tenant.as_deref(), Some("fabrikam-tenant"));
    assert_eq!(issued[1].path, "/fabrikam-tenant/oauth2/v2.0/token");
    setup.issuer().assert_no_failures();
}

#[test]
fn the_debug_log_tells_a_fetched_token_from_a_cached_one() {
    use downstream_api::log::{Level, set_sink};
    let setup = setup();
    let api = setup.entra_rsa();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    set_sink(
        Some(Arc::new(move |_: Level, message: &str| {
            sink.lock().unwrap().push(message.to_string())
        })),
        Level::Debug,
    );
    // A scope of this test only: other tests of this binary may log at the same time.
    let scope = "api://debug-log-test/.default";
    let first = api.acquire_token(&[scope], None);
    let second = api.acquire_token(&[scope], None);
    set_sink(None, Level::Debug);
    assert_eq!(first.unwrap(), second.unwrap());
    let ours: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains(scope))
        .cloned()
        .collect();
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert!(
        ours[0].contains(&setup.tokens.entra_token_url(TENANT)),
        "{ours:?}"
    );
    assert!(ours[1].contains("from the cache (expires in 3"), "{ours:?}");
}
