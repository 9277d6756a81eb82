//! Fleet-wide token cache benchmark (not a test), against Debian's `redis-server` and the fake
//! Entra endpoint on 127.0.0.1. It prints, in one run:
//! - the cost of a token lookup served by Redis (a miss in the process, a hit in Redis), next to
//!   one served by the process's own cache and one fetched from the token endpoint (medians);
//! - token requests of a cold fleet of N processes with and without Redis (target: 1 vs N);
//! - what a call pays while Redis is down and the breaker is open, against a client without the
//!   shared cache (target: under 1 ms).
//!
//! Run: `cargo run --release --example bench_shared_cache` (BENCH_FLEET processes, default 8).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use downstream_api::DownstreamApi;
use test_support::pki::TestCa;
use test_support::redis_server::RedisServer;
use test_support::token_server::{TokenIssuer, TokenServer};
use test_support::{TempDir, free_port, json_str};

const CLIENT_ID: &str = "bench-fleet-app";
const SECRET: &str = "bench-fleet-secret";
const LOOKUPS: usize = 2000;

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn median_micros(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

/// `samples` lookups of a new scope each (`prefix` keeps runs apart), timed one by one.
fn time_new_scopes(client: &DownstreamApi, prefix: &str, count: usize) -> Vec<Duration> {
    (0..count)
        .map(|i| {
            let scope = format!("api://{prefix}-{i}/.default");
            let started = Instant::now();
            client
                .acquire_token(&[scope.as_str()], None)
                .expect("token");
            started.elapsed()
        })
        .collect()
}

fn main() {
    // A fleet member: one client, one token, at the start time.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("member") {
        let client = DownstreamApi::from_file(Path::new(&args[2])).expect("client");
        let at: u64 = args[3].parse().unwrap();
        std::thread::sleep(Duration::from_millis(at.saturating_sub(unix_millis())));
        client
            .acquire_token(&["api://fleet/.default"], None)
            .expect("token");
        return;
    }
    let fleet: usize = std::env::var("BENCH_FLEET").map_or(8, |n| n.parse().unwrap());

    let ca = TestCa::new("Bench Fleet CA");
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    let tokens = TokenServer::start(&ca, issuer.clone());
    let mut redis = RedisServer::start(None);
    let dir = TempDir::new("bench-fleet");
    let bench = Bench {
        ca_path: dir.write("ca.pem", &ca.cert_pem),
        key_path: dir.write("cache.key", [9u8; 32]),
        dir,
        tokens,
    };
    lookups(&bench, &redis);
    cold_fleets(&bench, &redis, fleet);
    redis.stop();
    redis_down(&bench);
}

/// The token endpoint and the files the configurations name.
struct Bench {
    dir: TempDir,
    ca_path: String,
    key_path: String,
    tokens: TokenServer,
}

impl Bench {
    /// A client-secret configuration, with the shared cache at `redis_url` if any.
    fn config(&self, redis_url: Option<&str>) -> String {
        let cache = redis_url.map_or(String::new(), |url| {
            format!(
                r#""TokenCache": {{"Distributed": {{"Redis": {}, "EncryptionKeyFile": {}}}}},"#,
                json_str(url),
                json_str(&self.key_path)
            )
        });
        format!(
            r#"{{{cache} "AzureAd": {{"Instance": {}, "TenantId": "bench", "ClientId": "{CLIENT_ID}",
                  "ClientCredentials": [{{"SourceType": "ClientSecret", "ClientSecret": "{SECRET}"}}]}},
                "Http": {{"CaBundlePath": {}}}}}"#,
            json_str(&self.tokens.instance()),
            json_str(&self.ca_path)
        )
    }
}

/// Lookups: the process's cache, Redis, the token endpoint.
fn lookups(bench: &Bench, redis: &RedisServer) {
    let shared = bench.config(Some(&redis.url()));
    let filler = DownstreamApi::from_json(&shared).unwrap();
    let from_endpoint = median_micros(time_new_scopes(&filler, "lookup", LOOKUPS));
    let reader = DownstreamApi::from_json(&shared).unwrap();
    let from_redis = median_micros(time_new_scopes(&reader, "lookup", LOOKUPS));
    let from_process = median_micros(
        (0..LOOKUPS)
            .map(|_| {
                let started = Instant::now();
                reader
                    .acquire_token(&["api://lookup-0/.default"], None)
                    .unwrap();
                started.elapsed()
            })
            .collect(),
    );
    println!(
        "token lookup (median of {LOOKUPS}): in-process cache {from_process:.1} µs, Redis \
         {from_redis:.1} µs, token endpoint {from_endpoint:.1} µs"
    );
}

/// Cold fleets, with a token endpoint slow enough for every process to miss at once.
fn cold_fleets(bench: &Bench, redis: &RedisServer, fleet: usize) {
    let issuer = &bench.tokens.issuer;
    issuer.set_delay(Some(Duration::from_millis(300)));
    for (label, cache) in [("without Redis", None), ("with Redis", Some(redis.url()))] {
        redis.flush();
        let path = bench
            .dir
            .write("fleet.json", bench.config(cache.as_deref()));
        let before = issuer.token_request_count();
        let start_at = unix_millis() + 1500;
        let members: Vec<_> = (0..fleet)
            .map(|_| {
                Command::new(std::env::current_exe().unwrap())
                    .args(["member", &path, &start_at.to_string()])
                    .spawn()
                    .expect("a fleet member")
            })
            .collect();
        for mut member in members {
            assert!(member.wait().unwrap().success());
        }
        println!(
            "cold fleet of {fleet} processes {label}: {} token request(s)",
            issuer.token_request_count() - before
        );
    }
    issuer.set_delay(None);
}

/// Redis down: the breaker open, against no shared cache at all.
fn redis_down(bench: &Bench) {
    let down = DownstreamApi::from_json(
        &bench.config(Some(&format!("redis://127.0.0.1:{}/0", free_port()))),
    )
    .unwrap();
    let plain = DownstreamApi::from_json(&bench.config(None)).unwrap();
    time_new_scopes(&down, "warm-down", 5);
    time_new_scopes(&plain, "warm-plain", 5);
    let mut with_breaker = Vec::new();
    let mut without = Vec::new();
    for round in 0..10 {
        with_breaker.extend(time_new_scopes(&down, &format!("down-{round}"), 100));
        without.extend(time_new_scopes(&plain, &format!("plain-{round}"), 100));
    }
    let (with_breaker, without) = (median_micros(with_breaker), median_micros(without));
    println!(
        "a token fetched while Redis is down (breaker open, skipped {}): {with_breaker:.1} µs, \
         without a shared cache {without:.1} µs: {:+.1} µs added (target under 1000)",
        down.is_skipping_shared_cache(),
        with_breaker - without
    );
}
