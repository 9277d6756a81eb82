//! The fleet-wide token cache (`TokenCache.Distributed`) against Debian's `redis-server` on
//! 127.0.0.1 and the fake Entra endpoint, with fleets of real processes: this test binary run
//! again as [`fleet_member`], each process its own client. It covers tokens shared through
//! Redis, one token request for a cold fleet, a lock holder killed mid-fetch, Redis stopped and
//! started again under calls, sealed values, and misconfigurations.

use std::collections::HashSet;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use downstream_api::{DownstreamApi, ErrorKind};
use test_support::pki::TestCa;
use test_support::redis_server::RedisServer;
use test_support::token_server::{TokenIssuer, TokenServer};
use test_support::{TempDir, free_port, json_str};

const CLIENT_ID: &str = "fleet-app";
const SECRET: &str = "fleet-secret-value";
const SCOPE: &str = "api://fleet-resource/.default";

/// The fake Entra endpoint, a CA file and a cache key file.
struct Setup {
    ca: TestCa,
    tokens: TokenServer,
    dir: TempDir,
    ca_path: String,
    key_path: String,
}

fn setup() -> Setup {
    let ca = TestCa::new("Fleet CA");
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    let tokens = TokenServer::start(&ca, issuer);
    let dir = TempDir::new("fleet");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let key_path = dir.write("cache.key", [42u8; 32]);
    Setup {
        ca,
        tokens,
        dir,
        ca_path,
        key_path,
    }
}

impl Setup {
    fn config(&self, redis_url: &str, extra: &str) -> String {
        format!(
            r#"{{"AzureAd": {{"Instance": {instance}, "TenantId": "fleet-tenant", "ClientId": "{CLIENT_ID}",
                  "ClientCredentials": [{{"SourceType": "ClientSecret", "ClientSecret": "{SECRET}"}}]}},
                "TokenCache": {{"Distributed": {{"Redis": {redis}, "EncryptionKeyFile": {key},
                                "LockMilliseconds": 1000{extra}}}}},
                "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 20}}}}"#,
            instance = json_str(&self.tokens.instance()),
            redis = json_str(redis_url),
            key = json_str(&self.key_path),
            ca = json_str(&self.ca_path),
        )
    }

    fn config_file(&self, name: &str, redis_url: &str, extra: &str) -> String {
        self.dir.write(name, self.config(redis_url, extra))
    }

    fn requests(&self) -> usize {
        self.tokens.issuer.token_request_count()
    }
}

/// One process of a fleet: `threads` threads of one client each acquire `SCOPE`'s token, all
/// starting at `DSAPI_FLEET_START_AT` (Unix ms). Prints `TOKEN <sha256>` per thread, or `FAIL`.
#[test]
#[ignore = "run as a child process by the fleet tests"]
fn fleet_member() {
    let config = std::env::var("DSAPI_FLEET_CONFIG").expect("DSAPI_FLEET_CONFIG");
    let threads: usize = std::env::var("DSAPI_FLEET_THREADS").map_or(1, |t| t.parse().unwrap());
    if std::env::var_os("DSAPI_FLEET_LOG").is_some() {
        downstream_api::log::set_sink(
            Some(Arc::new(|level, message: &str| {
                println!("LOG {level:?} {message}")
            })),
            downstream_api::log::Level::Debug,
        );
    }
    let client = Arc::new(DownstreamApi::from_file(std::path::Path::new(&config)).expect("client"));
    if let Ok(at) = std::env::var("DSAPI_FLEET_START_AT") {
        let at: u64 = at.parse().unwrap();
        let now = unix_millis();
        if at > now {
            std::thread::sleep(Duration::from_millis(at - now));
        }
    }
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                match client.acquire_token(&[SCOPE], None) {
                    Ok(token) => println!("TOKEN {}", digest(&token.token)),
                    Err(error) => println!("FAIL {} ms: {error}", started.elapsed().as_millis()),
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    // This process's token cache lookups, for the tests that check where tokens came from.
    let lookups: Vec<String> = downstream_api::metrics::snapshot()
        .token_cache
        .iter()
        .filter(|lookup| lookup.count > 0)
        .map(|lookup| format!("{}/{}={}", lookup.layer, lookup.result, lookup.count))
        .collect();
    println!("LOOKUPS {}", lookups.join(" "));
}

mod faults;
mod identities;

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn digest(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn spawn_member(config: &str, threads: usize, start_at: Option<u64>, log: bool) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "fleet_member",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("DSAPI_FLEET_CONFIG", config)
        .env("DSAPI_FLEET_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(at) = start_at {
        command.env("DSAPI_FLEET_START_AT", at.to_string());
    }
    if log {
        command.env("DSAPI_FLEET_LOG", "1");
    }
    command.spawn().expect("start a fleet member")
}

/// A member's output and error output, once it has exited successfully.
fn output_of(mut child: Child) -> (String, String) {
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    let status = child.wait().unwrap();
    let mut errors = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    assert!(status.success(), "fleet member failed: {output}\n{errors}");
    (output, errors)
}

/// A member's output, once it has exited; its token digests.
fn finish(child: Child) -> (Vec<String>, String) {
    let (output, _) = output_of(child);
    // The test harness writes "test fleet_member ... " before the first line.
    let tokens = output
        .lines()
        .filter_map(|line| {
            line.split_once("TOKEN ")
                .map(|(_, digest)| digest.to_string())
        })
        .collect();
    assert!(
        !output.contains("FAIL "),
        "a member's call failed:\n{output}"
    );
    (tokens, output)
}

#[test]
fn a_second_process_gets_its_token_from_redis_and_what_redis_holds_is_sealed() {
    let setup = setup();
    let redis = RedisServer::start(None);
    let config = setup.config_file("fleet.json", &redis.url(), "");
    let (first, first_output) = finish(spawn_member(&config, 1, None, false));
    assert_eq!(setup.requests(), 1);
    let (second, second_output) = finish(spawn_member(&config, 1, None, false));
    assert_eq!(
        setup.requests(),
        1,
        "the second process found the token in Redis"
    );
    assert_eq!(first, second);
    // The counters (`downstream_api::metrics`) of each process say so too.
    let lookups = |output: &str| {
        let line = output.lines().find_map(|l| l.split_once("LOOKUPS "));
        line.map(|(_, lookups)| lookups.to_string())
    };
    assert_eq!(
        lookups(&first_output).as_deref(),
        Some("memory/miss=1 distributed/miss=1")
    );
    assert_eq!(
        lookups(&second_output).as_deref(),
        Some("memory/miss=1 distributed/hit=1")
    );

    let keys = redis.keys("dsapi:*");
    assert_eq!(keys.len(), 1, "one token, no lock left behind: {keys:?}");
    assert!(keys[0].starts_with("dsapi:token:") && keys[0].len() == "dsapi:token:".len() + 64);
    let value = redis.get(&keys[0]).unwrap();
    let issued = &setup.tokens.issuer.issued()[0].token;
    let text = String::from_utf8_lossy(&value);
    assert!(
        !text.contains(issued.as_str()) && text.starts_with("v1."),
        "{text}"
    );
    assert!(!keys[0].contains(CLIENT_ID) && !text.contains(CLIENT_ID));
}

#[test]
fn a_cold_fleet_of_8_processes_with_4_threads_each_makes_one_token_request() {
    let setup = setup();
    let redis = RedisServer::start(None);
    // A lock outliving the slow request even on a loaded machine.
    let config = setup.config_file("fleet.json", &redis.url(), r#", "LockMilliseconds": 5000"#);
    // A slow token endpoint: every process misses Redis while the first request is in flight.
    setup
        .tokens
        .issuer
        .set_delay(Some(Duration::from_millis(400)));
    let start_at = unix_millis() + 1500;
    let members: Vec<Child> = (0..8)
        .map(|_| spawn_member(&config, 4, Some(start_at), false))
        .collect();
    let mut tokens = Vec::new();
    for member in members {
        let (found, output) = finish(member);
        assert_eq!(found.len(), 4, "{output}");
        tokens.extend(found);
    }
    assert_eq!(tokens.len(), 32);
    assert_eq!(
        tokens.iter().collect::<HashSet<_>>().len(),
        1,
        "one token for all"
    );
    assert_eq!(setup.requests(), 1, "one token request for the fleet");
    setup.tokens.issuer.assert_no_failures();
}

#[test]
fn a_lock_holder_killed_mid_fetch_frees_the_lock_when_it_expires() {
    let setup = setup();
    let redis = RedisServer::start(None);
    let config = setup.config_file("fleet.json", &redis.url(), "");
    setup.tokens.issuer.set_delay(Some(Duration::from_secs(4)));
    let mut holder = spawn_member(&config, 1, None, false);
    let started = Instant::now();
    while redis.keys("dsapi:lock:*").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no lock was taken"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let lock_seen = Instant::now();
    // Mid-fetch: its request has reached the endpoint (which holds it for 4 s).
    while setup.requests() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the holder never asked"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
    setup.tokens.issuer.set_delay(None);
    let waiting = Instant::now();
    let (tokens, _) = finish(spawn_member(&config, 1, None, false));
    let waited = waiting.elapsed();
    assert_eq!(tokens.len(), 1);
    // It waited for the dead holder's lock (1000 ms) to expire, then fetched by itself.
    assert!(
        waited < Duration::from_secs(4),
        "{waited:?}: the waiter must not wait for the dead holder's request"
    );
    eprintln!("the waiter got its token {waited:?} after the lock holder was killed");
    // The waiter's request reached the endpoint only once the dead holder's lock had expired.
    let requests = setup.tokens.issuer.token_requests();
    assert_eq!(
        requests.len(),
        2,
        "the dead holder's request and the waiter's"
    );
    let waiter_asked = requests[1].at.duration_since(lock_seen);
    assert!(
        waiter_asked >= Duration::from_millis(900),
        "the waiter asked {waiter_asked:?} after the 1000 ms lock was taken"
    );
    assert!(redis.keys("dsapi:lock:*").is_empty());
    assert_eq!(redis.keys("dsapi:token:*").len(), 1);
}

/// Log lines of the whole test process (the sink is process-wide), for the tests run in-process.
fn logs() -> &'static Mutex<Vec<String>> {
    static LOGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        downstream_api::log::set_sink(
            Some(Arc::new(|_, message: &str| {
                logs().lock().unwrap().push(message.to_string())
            })),
            downstream_api::log::Level::Info,
        );
        Mutex::new(Vec::new())
    })
}

#[test]
fn redis_stopped_during_calls_fails_none_and_is_used_again_once_it_is_back() {
    let _ = logs();
    let setup = setup();
    let mut redis = RedisServer::start(None);
    let client = DownstreamApi::from_json(&setup.config(&redis.url(), "")).unwrap();
    // Each call asks for a token no one has yet: every call goes to Redis and the endpoint.
    let mut scope = 0;
    let mut call = || {
        scope += 1;
        let wanted = format!("api://resource-{scope}/.default");
        client
            .acquire_token(&[wanted.as_str()], None)
            .expect("a call fails because of the cache");
        Instant::now()
    };
    for _ in 0..5 {
        call();
    }
    assert_eq!(redis.keys("dsapi:token:*").len(), 5);

    redis.stop();
    let stopped = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..40 {
        let started = Instant::now();
        call();
        slowest = slowest.max(started.elapsed());
    }
    assert!(client.is_skipping_shared_cache(), "the breaker is open");
    let this_redis = format!("Redis at redis://127.0.0.1:{}/0", redis.port);
    let reports = || {
        logs()
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(&this_redis))
            .filter(|line| line.contains("the shared token cache is skipped"))
            .count()
    };
    assert_eq!(reports(), 1, "the outage is reported once");
    eprintln!(
        "40 calls during the outage in {:?}, slowest {slowest:?}",
        stopped.elapsed()
    );

    redis.restart();
    let back = Instant::now();
    loop {
        call();
        if !redis.keys("dsapi:token:*").is_empty() {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "Redis not used again within 5 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("Redis used again {:?} after it came back", back.elapsed());
    assert!(!client.is_skipping_shared_cache());
    assert_eq!(reports(), 1);
    assert!(
        logs()
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains("Redis answers again")),
        "the end of the outage is reported"
    );
}

#[test]
fn a_silent_redis_costs_its_timeout_rarely_the_breaker_skips_it() {
    let setup = setup();
    // A listener nobody accepts on, its backlog full: connections hang, as to a blackholed host.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    let _fillers: Vec<std::net::TcpStream> = (0..512)
        .map_while(|_| {
            std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()
        })
        .collect();
    let client =
        DownstreamApi::from_json(&setup.config(&format!("redis://{address}/0"), "")).unwrap();
    let started = Instant::now();
    for i in 0..40 {
        let scope = format!("api://silent-{i}/.default");
        client.acquire_token(&[scope.as_str()], None).unwrap();
    }
    let took = started.elapsed();
    // Without the breaker, 40 calls × 250 ms of connect timeout would be 10 s.
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(client.is_skipping_shared_cache());
    eprintln!("40 calls with a silent Redis in {took:?}");
}

#[test]
fn a_value_sealed_with_another_key_or_altered_is_a_miss_not_a_failure() {
    let setup = setup();
    let redis = RedisServer::start(None);
    let config = setup.config(&redis.url(), "");
    let first = DownstreamApi::from_json(&config).unwrap();
    first.acquire_token(&[SCOPE], None).unwrap();
    assert_eq!(setup.requests(), 1);

    // A value altered in Redis does not open for a client with the same key: a miss, and a new
    // token replaces it.
    let key = &redis.keys("dsapi:token:*")[0];
    let mut value = redis.get(key).unwrap();
    let last = value.len() - 3;
    value[last] ^= 1;
    redis.set(key, &value, 60_000);
    let second = DownstreamApi::from_json(&config).unwrap();
    second.acquire_token(&[SCOPE], None).unwrap();
    assert_eq!(setup.requests(), 2, "the altered value was a miss");
    // Not altered, it is a hit.
    let third = DownstreamApi::from_json(&config).unwrap();
    third.acquire_token(&[SCOPE], None).unwrap();
    assert_eq!(setup.requests(), 2, "the replaced value opens");

    // Another key does not open it either.
    let other_key = setup.dir.write("other.key", [7u8; 32]);
    let other = config.replace(&json_str(&setup.key_path), &json_str(&other_key));
    let fourth = DownstreamApi::from_json(&other).unwrap();
    fourth.acquire_token(&[SCOPE], None).unwrap();
    assert_eq!(
        setup.requests(),
        3,
        "the other key's client fetched its own token"
    );
}

#[test]
fn misconfigurations_are_clear_and_an_unreachable_or_refusing_redis_never_fails_a_call() {
    let setup = setup();
    let redis_down = format!("redis://127.0.0.1:{}/0", free_port());

    let missing_key = setup.config(&redis_down, "").replace(
        &json_str(&setup.key_path),
        &json_str("/nonexistent/cache.key"),
    );
    let error = DownstreamApi::from_json(&missing_key).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error
            .message()
            .starts_with("TokenCache.Distributed.EncryptionKeyFile:")
            && error.message().contains("/nonexistent/cache.key"),
        "{error}"
    );
    let short_key = setup.dir.write("short.key", "not 32 bytes");
    let error = DownstreamApi::from_json(
        &setup
            .config(&redis_down, "")
            .replace(&json_str(&setup.key_path), &json_str(&short_key)),
    )
    .err()
    .unwrap();
    assert!(
        error.message().contains("does not hold 32 bytes"),
        "{error}"
    );
    assert!(
        !error.message().contains("not 32 bytes"),
        "the key file is never echoed"
    );

    let bad_url = setup.config("redis://:hunter2@[::1", "");
    let error = DownstreamApi::from_json(&bad_url).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(
        error.message().contains("TokenCache.Distributed.Redis"),
        "{error}"
    );
    assert!(!error.message().contains("hunter2"), "{error}");

    // Redis unreachable at start-up: the client works without it.
    let client = DownstreamApi::from_json(&setup.config(&redis_down, "")).unwrap();
    client.acquire_token(&[SCOPE], None).unwrap();

    // A password given wrongly: calls work, the failure is logged without the password.
    let redis = RedisServer::start(Some("right-password"));
    let wrong = format!("redis://:wrong-password@127.0.0.1:{}/0", redis.port);
    let config = setup.config_file("wrong-password.json", &wrong, "");
    let (tokens, output) = finish(spawn_member(&config, 2, None, true));
    assert_eq!(tokens.len(), 2);
    assert!(
        output.contains("LOG Warn Redis at redis://***@127.0.0.1"),
        "the failure is logged, the URL redacted:\n{output}"
    );
    assert!(!output.contains("wrong-password"), "{output}");
    assert_eq!(
        output.matches("the shared token cache is skipped").count(),
        1,
        "reported once per outage:\n{output}"
    );
}

#[test]
fn rediss_is_verified_like_every_other_server() {
    let setup = setup();
    // The configuration's CA bundle (the fake Entra endpoint's CA) did not issue this server's
    // certificate: Redis is refused, and calls go on without it.
    let untrusted = RedisServer::start_tls(&TestCa::new("Other CA").server());
    let client = DownstreamApi::from_json(&setup.config(&untrusted.url(), "")).unwrap();
    client.acquire_token(&[SCOPE], None).unwrap();
    assert!(
        client.is_skipping_shared_cache(),
        "an untrusted Redis is not used"
    );

    // A server certificate from the configured CA is trusted: a second client finds the token.
    let trusted = RedisServer::start_tls(&setup.ca.server());
    let config = setup.config(&trusted.url(), "");
    let first = DownstreamApi::from_json(&config).unwrap();
    let token = first.acquire_token(&[SCOPE], None).unwrap();
    assert!(!first.is_skipping_shared_cache());
    let requests = setup.requests();
    let second = DownstreamApi::from_json(&config).unwrap();
    assert_eq!(second.acquire_token(&[SCOPE], None).unwrap(), token);
    assert_eq!(
        setup.requests(),
        requests,
        "the token came from Redis over TLS"
    );
}
