//! Users' tokens through the fleet-wide cache (`TokenCache.Distributed`, redis-server on
//! 127.0.0.1): a second process gets a user's token from Redis, sealed there like an app token,
//! and never for another user's token; a long-running session's token stays in its process.

use downstream_api::DownstreamApi;
use test_support::redis_server::RedisServer;
use test_support::token_server::Leg;
use test_support::{TempDir, json_str};

use super::{SCOPE, answer, setup};

#[test]
fn a_users_token_is_shared_by_the_fleet_for_that_user_only() {
    let setup = setup();
    let redis = RedisServer::start(None);
    let dir = TempDir::new("users-fleet");
    let key = dir.write("cache.key", [7u8; 32]);
    let shared = format!(
        r#", "TokenCache": {{"Distributed": {{"Redis": {}, "EncryptionKeyFile": {}}}}}}}"#,
        json_str(&redis.url()),
        json_str(&key)
    );
    let config = setup.config();
    let config = format!("{}{shared}", config.trim_end().strip_suffix('}').unwrap());
    let (first, second) = (
        DownstreamApi::from_json(&config).unwrap(),
        DownstreamApi::from_json(&config).unwrap(),
    );
    let alice = setup.user_token("alice-oid");
    let bob = setup.user_token("bob-oid");
    answer(first.call_for_user("Graph", &alice, None, b"").unwrap());
    let from_redis = answer(second.call_for_user("Graph", &alice, None, b"").unwrap());
    assert_eq!(from_redis, format!("user alice-oid {SCOPE}"));
    assert_eq!(
        setup.issuer().requests_in(Leg::OnBehalfOf),
        1,
        "the second from Redis"
    );
    let for_bob = answer(second.call_for_user("Graph", &bob, None, b"").unwrap());
    assert_eq!(for_bob, format!("user bob-oid {SCOPE}"));
    assert_eq!(setup.issuer().requests_in(Leg::OnBehalfOf), 2);
    // Sealed in Redis: no user token in plain text.
    for redis_key in redis.keys("*") {
        let value =
            String::from_utf8_lossy(&redis.get(&redis_key).unwrap_or_default()).into_owned();
        assert!(
            !value.contains("eyJ"),
            "a token in plain text under {redis_key}"
        );
    }
    // A session's token is its process's own: the same session name elsewhere asks anew.
    let session = r#"{"AcquireTokenOptions": {"LongRunningWebApiSessionKey": "job-1"}}"#;
    answer(
        first
            .call_for_user("Graph", &alice, Some(session), b"")
            .unwrap(),
    );
    let other = answer(
        second
            .call_for_user("Graph", &bob, Some(session), b"")
            .unwrap(),
    );
    assert_eq!(other, format!("user bob-oid {SCOPE}"));
    setup.issuer().assert_no_failures();
}
