//! The fleet-wide cache against a misbehaving Redis and a failing token endpoint: a Redis that
//! answers slowly or trickles its answers never makes a call fail or outlast its timeout, and a
//! lock holder's failure reaches the processes waiting on it at once.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use downstream_api::DownstreamApi;
use test_support::redis_server::RedisServer;
use test_support::slow_proxy::{SlowProxy, Slowness};
use test_support::token_server::FakeAnswer;

use super::{output_of, setup, spawn_member, unix_millis};

/// The configuration with a call timeout of 5 s.
fn five_second_config(setup: &super::Setup, redis_url: &str) -> String {
    setup
        .config(redis_url, "")
        .replace("\"TimeoutSeconds\": 20", "\"TimeoutSeconds\": 5")
}

/// D13: a Redis answering every command correctly in 200 ms (under its 250 ms operation
/// timeout, so never an outage) used to queue 16 cold calls on one connection until they failed
/// after 8–13 s. Every call now gets its token within its 5 s.
#[test]
fn a_slow_redis_fails_no_call_and_holds_none_past_its_timeout() {
    let setup = setup();
    let redis = RedisServer::start(None);
    let slow = SlowProxy::start(redis.port, Slowness::Delay(Duration::from_millis(200)));
    let config = five_second_config(&setup, &slow.redis_url());
    let client = Arc::new(DownstreamApi::from_json(&config).unwrap());
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let client = client.clone();
            thread::spawn(move || {
                let started = Instant::now();
                let scope = format!("api://slow-{i}/.default");
                let outcome = client.acquire_token(&[&scope], None);
                (outcome.map(drop), started.elapsed())
            })
        })
        .collect();
    for call in calls {
        let (outcome, took) = call.join().unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
        assert!(took < Duration::from_secs(5), "a call took {took:?}");
    }
}

/// D12: a Redis trickling its answer one byte per 100 ms is bounded as a whole operation, not
/// per read: the call gets its token from the token endpoint within its timeout (it used to read
/// a stored token for minutes).
#[test]
fn a_trickling_redis_is_bounded_per_operation_not_per_read() {
    let setup = setup();
    let redis = RedisServer::start(None);
    // A token of about 1 KiB in Redis, stored by a client that reaches it directly.
    let direct = DownstreamApi::from_json(&setup.config(&redis.url(), "")).unwrap();
    direct.acquire_token(&[super::SCOPE], None).unwrap();
    let trickle = SlowProxy::start(redis.port, Slowness::Trickle(Duration::from_millis(100)));
    let config = five_second_config(&setup, &trickle.redis_url());
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let started = Instant::now();
        let client = DownstreamApi::from_json(&config).unwrap();
        let outcome = client.acquire_token(&[super::SCOPE], None).map(drop);
        let _ = done.send((outcome, started.elapsed()));
    });
    let (outcome, took) = finished
        .recv_timeout(Duration::from_secs(15))
        .expect("the call ended within 15 s");
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(took < Duration::from_secs(3), "the call took {took:?}");
}

/// D19: when the token endpoint refuses, the process holding the fleet's lock shares its
/// failure: the 8 processes of a cold fleet fail together after about one refusal (1 s), with
/// one request, instead of taking turns (1.1, 2.1 … 8.9 s, 8 requests).
#[test]
fn a_lock_holders_failure_reaches_the_fleet_at_once() {
    let setup = setup();
    let redis = RedisServer::start(None);
    setup.tokens.issuer.set_delay(Some(Duration::from_secs(1)));
    for _ in 0..8 {
        setup.tokens.issuer.push_answer(FakeAnswer::Raw {
            status: 400,
            headers: Vec::new(),
            body: r#"{"error":"invalid_scope","error_description":"AADSTS70011: bad scope"}"#
                .into(),
        });
    }
    let config = setup.config_file("refused.json", &redis.url(), "");
    let start_at = unix_millis() + 1500;
    let members: Vec<_> = (0..8)
        .map(|_| spawn_member(&config, 1, Some(start_at), false))
        .collect();
    let mut failures = Vec::new();
    for member in members {
        let (output, _) = output_of(member);
        failures.extend(output.lines().filter_map(|line| {
            let (_, rest) = line.split_once("FAIL ")?;
            rest.split_once(" ms: ")
                .map(|(ms, e)| (ms.parse::<u64>().unwrap(), e.to_string()))
        }));
    }
    assert_eq!(failures.len(), 8, "{failures:?}");
    for (ms, error) in &failures {
        assert!(error.contains("AADSTS70011"), "{error}");
        assert!(*ms < 2_500, "a member failed after {ms} ms: {failures:?}");
    }
    assert!(setup.requests() <= 2, "{} token requests", setup.requests());
}

/// A "Redis" that answers every command with an error spanning lines and 600 characters: its
/// text reaches the log escaped and cut, never as raw lines of the host's log.
#[test]
fn a_redis_answering_garbage_is_logged_escaped_and_cut() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut request = [0u8; 4096];
                while matches!(client.read(&mut request), Ok(n) if n > 0) {
                    let garbage = format!("-ERR first\nINJECTED {}\r\n", "x".repeat(600));
                    let _ = client.write_all(garbage.as_bytes());
                }
            });
        }
    });
    let _ = super::logs();
    let setup = setup();
    let url = format!("redis://127.0.0.1:{port}/0");
    let client = DownstreamApi::from_json(&setup.config(&url, "")).unwrap();
    client.acquire_token(&[super::SCOPE], None).unwrap();
    let logs = super::logs().lock().unwrap().clone();
    let line = logs
        .iter()
        .find(|line| line.contains(&format!("127.0.0.1:{port}")) && line.contains("first"))
        .unwrap_or_else(|| panic!("no log line about the garbage: {logs:?}"));
    assert!(!line.contains('\n'), "a raw newline in the log: {line:?}");
    assert!(line.contains("first\\nINJECTED"), "{line}");
    assert!(line.len() < 500, "not cut: {} characters", line.len());
}
