//! Whom a shared token is for: hosts sharing one Redis and key file, each with its own managed
//! identity, never get each other's tokens (the fake platform endpoints issue JWT-shaped tokens
//! naming their identity's object id, as the real ones do).

use downstream_api::DownstreamApi;
use test_support::identity_endpoint::{IdentityEndpoint, Platform};
use test_support::json_str;
use test_support::redis_server::RedisServer;

use super::setup;

const MANAGED_IDENTITY: Option<&str> = Some(r#"{"ManagedIdentity": {}}"#);

fn host(ca: &test_support::pki::TestCa, oid: &str) -> IdentityEndpoint {
    let endpoint = IdentityEndpoint::start(Platform::AppService, ca);
    endpoint.set_object_id(Some(oid));
    endpoint
}

fn token(client: &DownstreamApi, resource: &str) -> String {
    let scope = format!("{resource}/.default");
    client
        .acquire_token(&[&scope], MANAGED_IDENTITY)
        .unwrap()
        .token
}

/// The `oid` of a JWT-shaped token.
fn oid(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let json: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    json["oid"].as_str().unwrap().to_string()
}

/// D14: VM scale-set instances behind one Redis, each with its own system-assigned identity
/// (every one asks the same platform address, so the endpoint names nothing), used to get each
/// other's tokens. A system-assigned identity's tokens are now shared only under the object id
/// its own first token names, and a shared token is used only when it names the one asking.
#[test]
fn hosts_with_their_own_system_assigned_identity_never_get_each_others_tokens() {
    let setup = setup();
    let redis = RedisServer::start(None);
    let config = format!(
        r#"{{"TokenCache": {{"Distributed": {{"Redis": {redis}, "EncryptionKeyFile": {key}}}}},
            "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 20}}}}"#,
        redis = json_str(&redis.url()),
        key = json_str(&setup.key_path),
        ca = json_str(&setup.ca_path),
    );
    let (a, b) = (host(&setup.ca, "oid-host-a"), host(&setup.ca, "oid-host-b"));
    let client = |host: &IdentityEndpoint| {
        DownstreamApi::from_json_with_environment(&config, host.environment()).unwrap()
    };
    let (on_a, on_b) = (client(&a), client(&b));
    let a_one = token(&on_a, "api://one");
    let a_two = token(&on_a, "api://two");
    let b_one = token(&on_b, "api://one");
    let b_two = token(&on_b, "api://two");
    assert_eq!([oid(&a_one), oid(&a_two)], ["oid-host-a", "oid-host-a"]);
    assert_eq!([oid(&b_one), oid(&b_two)], ["oid-host-b", "oid-host-b"]);
    assert_eq!((a.requests(), b.requests()), (2, 2));
    // Another process on host B: its first token teaches it who it is; then B's shared token.
    let again_on_b = client(&b);
    assert_eq!(oid(&token(&again_on_b, "api://three")), "oid-host-b");
    assert_eq!(
        token(&again_on_b, "api://two"),
        b_two,
        "shared within host B"
    );
    assert_eq!(b.requests(), 3);
    a.assert_no_failures();
    b.assert_no_failures();
}
