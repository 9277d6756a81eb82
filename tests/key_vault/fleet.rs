//! A fleet renewing together: 4 processes (this test binary run again as [`fleet_member`]), each
//! its own client of the same vault, with `TokenCache.Distributed` on Debian's `redis-server`.
//! When the vault gets a new version, every instance finds it at its next (jittered) check, and
//! the fleet's turns spread the secret fetches at least `LockMilliseconds` apart. Redis holds the
//! turns only: never a certificate or a key.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use downstream_api::DownstreamApi;
use test_support::json_str;
use test_support::key_vault::StoredVersion;
use test_support::redis_server::RedisServer;

use super::{Reader, setup};

const NAME: &str = "orders-fleet";
const SPACING_MS: u64 = 600;

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One instance: loads the certificate, then calls the API every 20 ms until
/// `DSAPI_KV_UNTIL` (Unix ms); prints `FAILED <n>`, `CALLS <n>` and `VERSION <v>` at the end.
#[test]
#[ignore = "run as a child process by the fleet test"]
fn fleet_member() {
    let config = std::env::var("DSAPI_KV_CONFIG").expect("DSAPI_KV_CONFIG");
    let until: u64 = std::env::var("DSAPI_KV_UNTIL").unwrap().parse().unwrap();
    let api = DownstreamApi::from_file(std::path::Path::new(&config)).expect("client");
    let (mut calls, mut failed) = (0, 0);
    while unix_millis() < until {
        match api.call("Orders", None, b"") {
            Ok(response) if response.status == 200 => {}
            Ok(response) => {
                failed += 1;
                println!("STATUS {}", response.status);
            }
            Err(error) => {
                failed += 1;
                println!("ERROR {error}");
            }
        }
        calls += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let version = api.credentials()[0].version.clone().unwrap_or_default();
    println!("FAILED {failed}\nCALLS {calls}\nVERSION {version}");
}

fn spawn_member(config: &str, environment: &[(String, String)], until: u64) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "fleet::fleet_member",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("DSAPI_KV_CONFIG", config)
        .env("DSAPI_KV_UNTIL", until.to_string())
        .envs(environment.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn().expect("start a fleet member")
}

fn output_of(mut child: Child) -> String {
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "fleet member failed: {output}");
    output
}

#[test]
fn four_processes_renewing_together_reach_the_vault_one_turn_at_a_time() {
    let setup = setup(Reader::EnvironmentSecret);
    let redis = RedisServer::start(None);
    setup.vault.add_version(
        NAME,
        StoredVersion::pkcs12("f1", &setup.certificate("fleet-1")),
    );
    let new = StoredVersion::pkcs12("f2", &setup.certificate("fleet-2"));
    let secret_prefix = new.secret[..40].to_string();
    let key_path = setup.dir.write("cache.key", [7u8; 32]);
    let mut config: serde_json::Value = serde_json::from_str(&setup.config(NAME, "", "1")).unwrap();
    config["TokenCache"] = serde_json::from_str(&format!(
        r#"{{"Distributed": {{"Redis": {}, "EncryptionKeyFile": {}, "LockMilliseconds": {SPACING_MS}}}}}"#,
        json_str(&redis.url()),
        json_str(&key_path)
    ))
    .unwrap();
    let config_path = setup.dir.write("fleet.json", config.to_string());
    let until = unix_millis() + 9_000;
    let members: Vec<Child> = (0..4)
        .map(|_| spawn_member(&config_path, &setup.environment(), until))
        .collect();
    // Every instance loaded version f1 (a cold start is not held back by the turns).
    let started = std::time::Instant::now();
    while setup.vault.served("secret") < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the fleet did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    setup.vault.add_version(NAME, new);
    for member in members {
        let output = output_of(member);
        assert!(output.contains("FAILED 0\n"), "{output}");
        assert!(output.contains("VERSION f2"), "not renewed: {output}");
    }
    let mut fetched: Vec<_> = setup
        .vault
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/secrets/{NAME}/f2") && r.status == 200)
        .map(|r| r.at)
        .collect();
    fetched.sort();
    assert_eq!(
        fetched.len(),
        4,
        "one fetch of the new version per instance"
    );
    let gaps: Vec<Duration> = fetched.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("gaps between the fleet's fetches of the new version: {gaps:?}");
    for gap in &gaps {
        assert!(
            *gap >= Duration::from_millis(SPACING_MS - 100),
            "fetches not spread: {gaps:?}"
        );
    }
    // Redis held turns (random owners), never the certificate.
    for key in redis.keys("*") {
        let value = redis.get(&key).unwrap_or_default();
        assert!(value.len() <= 64, "{key} holds {} bytes", value.len());
        assert!(!String::from_utf8_lossy(&value).contains(&secret_prefix));
    }
    setup.vault.assert_no_failures();
}
