//! Token benchmark (not a test): the cost of a cache-hit `dsapi_client_authorization_header`
//! through the C ABI, compared in the same run with MSAL Python's cache hit against the same fake
//! identity provider, and the number of token requests 32 threads make on a cold cache.
//!
//! Run: `cargo run --release --example bench_tokens` (MSAL Python is measured when
//! `python3 -c 'import msal'` works; `bash tests/bench/run.sh` installs it).

use std::ffi::{CString, c_char};
use std::ptr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use downstream_api::ffi::*;
use test_support::pki::TestCa;
use test_support::token_server::{TokenIssuer, TokenServer};
use test_support::{TempDir, json_str};

const CLIENT_ID: &str = "bench-app";
const SECRET: &str = "bench-secret";
const SCOPE: &str = "api://bench/.default";

/// The client pointer crosses threads; the library documents `const dsapi_client *` as shareable.
#[derive(Clone, Copy)]
struct SharedClient(*const dsapi_client);
unsafe impl Send for SharedClient {}
unsafe impl Sync for SharedClient {}

fn header(client: SharedClient, api: &CString) -> dsapi_status {
    let mut value: *mut c_char = ptr::null_mut();
    let status = dsapi_client_authorization_header(client.0, api.as_ptr(), ptr::null(), &mut value);
    dsapi_string_free(value);
    status
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let ca = TestCa::new("Bench CA");
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    // A slow endpoint makes the cold-cache race wide: every thread misses while the first waits.
    issuer.set_delay(Some(Duration::from_millis(200)));
    let server = TokenServer::start(&ca, issuer.clone());
    let dir = TempDir::new("bench-tokens");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let config = format!(
        r#"{{"AzureAd": {{"Instance": {}, "TenantId": "bench-tenant", "ClientId": "{CLIENT_ID}",
              "ClientCredentials": [{{"SourceType": "ClientSecret", "ClientSecret": "{SECRET}"}}]}},
            "DownstreamApis": {{"Api": {{"BaseUrl": "https://127.0.0.1:9", "Scopes": ["{SCOPE}"]}}}},
            "Http": {{"CaBundlePath": {}}}}}"#,
        json_str(&server.instance()),
        json_str(&ca_path)
    );
    let config = CString::new(config).unwrap();
    let mut raw: *mut dsapi_client = ptr::null_mut();
    assert_eq!(dsapi_client_new(config.as_ptr(), &mut raw), DSAPI_OK);
    let client = SharedClient(raw);
    let api = CString::new("Api").unwrap();

    cold_cache(client, &api);
    let cold_requests = issuer.token_request_count();
    let ours = cache_hit_micros(client, &api);
    assert_eq!(
        issuer.token_request_count(),
        cold_requests,
        "cache hits made requests"
    );
    dsapi_client_free(raw);

    issuer.set_delay(None);
    let msal_us = msal_cache_hit_micros(&server, &ca_path);

    println!("token requests by 32 threads on a cold cache: {cold_requests} (target 1)");
    println!(
        "cache-hit dsapi_client_authorization_header: median {ours:.3} us per call (target <= 2 us)"
    );
    match msal_us {
        Some(reference) => println!(
            "MSAL Python acquire_token_for_client cache hit: median {reference:.2} us per call; ratio {:.0}x faster",
            reference / ours
        ),
        None => println!("MSAL Python reference: not measured (pip install msal)"),
    }
}

/// 32 threads asking for the header at once on a cold cache.
fn cold_cache(client: SharedClient, api: &CString) {
    let barrier = Arc::new(Barrier::new(32));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let barrier = barrier.clone();
            let api = api.clone();
            std::thread::spawn(move || {
                barrier.wait();
                header(client, &api)
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), DSAPI_OK);
    }
}

/// Cache hits: batches of calls, median of the per-call averages, in microseconds.
fn cache_hit_micros(client: SharedClient, api: &CString) -> f64 {
    let (batch, batches) = (10_000, 50);
    let mut per_call_us = Vec::with_capacity(batches);
    for _ in 0..batches {
        let started = Instant::now();
        for _ in 0..batch {
            header(client, api);
        }
        per_call_us.push(started.elapsed().as_secs_f64() * 1e6 / batch as f64);
    }
    median(per_call_us)
}

/// MSAL Python's cache hit against the same endpoint (tests/bench/msal_reference.py), in
/// microseconds; `None` when it cannot run.
fn msal_cache_hit_micros(server: &TokenServer, ca_path: &str) -> Option<f64> {
    let msal = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/bench/msal_reference.py"
        ))
        .args([&server.oidc_authority(), ca_path, CLIENT_ID, SECRET, SCOPE])
        .output();
    msal.ok().and_then(|output| {
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            eprintln!(
                "MSAL reference failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        text.lines()
            .find_map(|l| l.strip_prefix("msal_cache_hit_median_us "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    })
}
