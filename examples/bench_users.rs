//! Users and agents benchmark (not a test): a user token's cache hit beside an app token's (both
//! through the C ABI's header functions, median µs), the resident memory 10,000 cached users
//! cost, and a cold agent user's token (three legs) against the fake Entra endpoint on 127.0.0.1.
//!
//! Run: `cargo run --release --example bench_users`.

use std::ffi::{CString, c_char};
use std::ptr;
use std::time::Instant;

use downstream_api::DownstreamApi;
use downstream_api::ffi::*;
use test_support::pki::TestCa;
use test_support::token_server::{TokenIssuer, TokenServer, UserToken};
use test_support::{TempDir, json_str};

const CLIENT_ID: &str = "bench-app";
const SECRET: &str = "bench-secret";
const AGENT: &str = "00000000-0000-0000-0000-0000000be7c4";

fn main() {
    let ca = TestCa::new("Bench CA");
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    issuer.add_agent_user(AGENT, "bench-user-oid", "bench.user@contoso.example");
    let server = TokenServer::start(&ca, issuer.clone());
    let dir = TempDir::new("bench-users");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let config = format!(
        r#"{{"AzureAd": {{"Instance": {}, "TenantId": "bench-tenant", "ClientId": "{CLIENT_ID}",
              "ClientCredentials": [{{"SourceType": "ClientSecret", "ClientSecret": "{SECRET}"}}]}},
            "DownstreamApis": {{"Api": {{"BaseUrl": "https://127.0.0.1:9", "Scopes": ["api://bench/.default"]}}}},
            "TokenCache": {{"MaxUserTokens": 20000}},
            "Http": {{"CaBundlePath": {}}}}}"#,
        json_str(&server.instance()),
        json_str(&ca_path)
    );
    let user = issuer.mint_user_token(&UserToken::new(
        "bench-oid",
        "b@contoso.example",
        "bench-tenant",
    ));
    let (app_us, user_us) = cache_hits(&config, &user);
    println!("cache hit, app token (dsapi_client_authorization_header): median {app_us:.3} us");
    println!(
        "cache hit, user token (dsapi_client_authorization_header_for_user): median {user_us:.3} us ({:.1}x the app's)",
        user_us / app_us
    );
    let (rss_kib, users) = memory_per_users(&config, &issuer, 10_000);
    println!(
        "resident memory for {users} cached users: {rss_kib} KiB (the fake endpoint's own records of them included)"
    );
    let legs_ms = cold_agent_user_ms(&config, 20);
    println!(
        "cold agent user token (T1, T2, user_fic; a new client each time): median {legs_ms:.2} ms"
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median µs of 20 rounds of 2,000 header calls, for the app and for one user.
fn cache_hits(config: &str, user: &str) -> (f64, f64) {
    let config = CString::new(config).unwrap();
    let mut client: *mut dsapi_client = ptr::null_mut();
    assert_eq!(dsapi_client_new(config.as_ptr(), &mut client), DSAPI_OK);
    let api = CString::new("Api").unwrap();
    let user = CString::new(user).unwrap();
    let header = |for_user: bool| {
        let mut value: *mut c_char = ptr::null_mut();
        let status = match for_user {
            false => {
                dsapi_client_authorization_header(client, api.as_ptr(), ptr::null(), &mut value)
            }
            true => dsapi_client_authorization_header_for_user(
                client,
                api.as_ptr(),
                user.as_ptr(),
                ptr::null(),
                &mut value,
            ),
        };
        assert_eq!(status, DSAPI_OK);
        dsapi_string_free(value);
    };
    let rounds = |for_user: bool| {
        header(for_user);
        let samples = (0..20).map(|_| {
            let started = Instant::now();
            for _ in 0..2_000 {
                header(for_user);
            }
            started.elapsed().as_secs_f64() * 1e6 / 2_000.0
        });
        median(samples.collect())
    };
    let result = (rounds(false), rounds(true));
    dsapi_client_free(client);
    result
}

/// Resident memory grown by caching `count` users' tokens in one client.
fn memory_per_users(config: &str, issuer: &TokenIssuer, count: usize) -> (u64, usize) {
    let client = DownstreamApi::from_json(config).unwrap();
    let tokens: Vec<String> = (0..count)
        .map(|n| issuer.mint_user_token(&UserToken::new(&format!("u{n}"), "u@x", "bench-tenant")))
        .collect();
    client
        .authorization_header_for_user("Api", &tokens[0], None)
        .unwrap();
    let before = resident_kib();
    for token in &tokens[1..] {
        client
            .authorization_header_for_user("Api", token, None)
            .unwrap();
    }
    (resident_kib() - before, count)
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Median ms of `rounds` cold agent-user tokens, each on a new client (nothing cached).
fn cold_agent_user_ms(config: &str, rounds: usize) -> f64 {
    let overrides = format!(
        r#"{{"AcquireTokenOptions": {{"AgentIdentity": "{AGENT}", "AgentUsername": "bench.user@contoso.example"}}}}"#
    );
    let samples = (0..rounds).map(|_| {
        let client = DownstreamApi::from_json(config).unwrap();
        let started = Instant::now();
        client
            .authorization_header("Api", Some(&overrides))
            .unwrap();
        started.elapsed().as_secs_f64() * 1e3
    });
    median(samples.collect())
}
