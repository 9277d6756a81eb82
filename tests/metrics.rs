//! The counters (`downstream_api::metrics`, `DownstreamApi::metrics_json`) moved by real calls on
//! 127.0.0.1: MTLS and Bearer calls by API, protocol and outcome, a token request and then cache
//! hits, handshakes full then resumed, a failing call's outcome, a retry's remedy, and the
//! selected certificate's days left.
//!
//! Counters are the process's. The tests of this binary take turns (one lock), so that each
//! compares exact before/after differences; the APIs' names are the test's own all the same.

use std::sync::{Arc, Mutex, MutexGuard};

use downstream_api::metrics::{Snapshot, snapshot};
use downstream_api::{DownstreamApi, LoadState, Remedy};
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, Script, Seen, Step, TestServer};
use test_support::token_server::{TokenIssuer, TokenServer, bearer_resource_handler};
use test_support::{TempDir, free_port, json_str};

const CLIENT_ID: &str = "metrics-app";
const TENANT: &str = "metrics-tenant";
const SECRET: &str = "metrics-secret";
const SCOPE: &str = "api://metrics/.default";

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A CA, a client certificate and the CA file, for configurations.
struct Setup {
    ca: TestCa,
    _dir: TempDir,
    ca_path: String,
    client_path: String,
}

fn setup() -> Setup {
    let ca = TestCa::new("Metrics CA");
    let dir = TempDir::new("metrics");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let client = ca.client("metrics-client", Validity::CURRENT);
    let client_path = dir.write("client.pem", client.bundle_pem());
    Setup {
        ca,
        _dir: dir,
        ca_path,
        client_path,
    }
}

impl Setup {
    /// A client with a client secret (for tokens) and a certificate (for MTLS), with these APIs
    /// (the inside of `DownstreamApis`), tokens from `tokens` when given.
    fn client(&self, apis: &str, tokens: Option<&TokenServer>) -> DownstreamApi {
        let authority = tokens.map_or(String::new(), |t| {
            format!(
                r#""Instance": {}, "TenantId": "{TENANT}", "ClientId": "{CLIENT_ID}","#,
                json_str(&t.instance())
            )
        });
        let json = format!(
            r#"{{"AzureAd": {{{authority} "ClientCredentials": [
                    {{"SourceType": "ClientSecret", "ClientSecret": "{SECRET}"}},
                    {{"SourceType": "Path", "CertificateDiskPath": {}}}]}},
                "DownstreamApis": {{{apis}}},
                "Http": {{"CaBundlePath": {}, "TimeoutSeconds": 10}}}}"#,
            json_str(&self.client_path),
            json_str(&self.ca_path)
        );
        DownstreamApi::from_json(&json).unwrap()
    }

    fn mtls_server(&self) -> TestServer {
        TestServer::start(
            self.ca.server(),
            ClientAuth::Required(std::slice::from_ref(&self.ca.cert_der)),
            TestServer::echo_handler(),
        )
    }

    fn scripted(&self, script: Script) -> TestServer {
        TestServer::start_scripted(
            self.ca.server(),
            ClientAuth::Required(std::slice::from_ref(&self.ca.cert_der)),
            script,
        )
    }
}

fn ok(body: &str) -> Step {
    Step::text(&format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

fn mtls_api(name: &str, url: &str) -> String {
    format!(r#""{name}": {{"BaseUrl": "{url}", "RelativePath": "x", "ProtocolScheme": "MTLS"}}"#)
}

/// Counters read from two snapshots.
struct Delta {
    before: Snapshot,
    after: Snapshot,
}

impl Delta {
    fn since(before: Snapshot) -> Delta {
        Delta {
            before,
            after: snapshot(),
        }
    }

    fn calls(&self, api: &str, protocol: &str, outcome: &str) -> u64 {
        let count = |s: &Snapshot| {
            s.calls
                .iter()
                .find(|c| c.api == api && c.protocol == protocol && c.outcome == outcome)
                .map_or(0, |c| c.count)
        };
        count(&self.after) - count(&self.before)
    }

    fn token_requests(&self, grant: &str) -> u64 {
        let count = |s: &Snapshot| {
            s.token_requests
                .iter()
                .find(|t| t.grant == grant)
                .expect("every grant is listed")
                .count
        };
        count(&self.after) - count(&self.before)
    }

    fn cache(&self, layer: &str, result: &str) -> u64 {
        let count = |s: &Snapshot| {
            s.token_cache
                .iter()
                .find(|l| l.layer == layer && l.result == result)
                .expect("every lookup is listed")
                .count
        };
        count(&self.after) - count(&self.before)
    }

    fn handshakes(&self) -> (u64, u64) {
        let (a, b) = (self.after.tls_handshakes, self.before.tls_handshakes);
        (a.full - b.full, a.resumed - b.resumed)
    }

    fn retries(&self, remedy: Remedy) -> u64 {
        let count = |s: &Snapshot| {
            s.retries
                .iter()
                .find(|r| r.remedy == remedy)
                .expect("every remedy is listed")
                .count
        };
        count(&self.after) - count(&self.before)
    }
}

#[test]
fn an_mtls_call_and_bearer_calls_count_by_api_protocol_and_outcome() {
    let _turn = turn();
    let setup = setup();
    let mtls = setup.mtls_server();
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    let tokens = TokenServer::start(&setup.ca, issuer.clone());
    let resource = TestServer::start(
        setup.ca.server(),
        ClientAuth::None,
        bearer_resource_handler(issuer),
    );
    let apis = format!(
        r#"{}, "CountedBearer": {{"BaseUrl": "{}", "RelativePath": "me", "Scopes": ["{SCOPE}"]}}"#,
        mtls_api("CountedMtls", &mtls.url()),
        resource.url()
    );
    let api = setup.client(&apis, Some(&tokens));
    let before = snapshot();
    assert_eq!(api.call("CountedMtls", None, b"").unwrap().status, 200);
    for _ in 0..2 {
        assert_eq!(api.call("CountedBearer", None, b"").unwrap().status, 200);
    }
    let delta = Delta::since(before);
    assert_eq!(delta.calls("CountedMtls", "MTLS", "response"), 1);
    assert_eq!(delta.calls("CountedBearer", "Bearer", "response"), 2);
    assert_eq!(tokens.issuer.token_request_count(), 1);
    assert_eq!(delta.token_requests("client_credentials"), 1);
    assert_eq!(
        (delta.cache("memory", "miss"), delta.cache("memory", "hit")),
        (1, 1)
    );
    assert_eq!(delta.cache("distributed", "miss"), 0, "no Redis configured");
    // One connection to each server, none resumed: the anonymous agent's session from the
    // token endpoint is not one the resource server knows.
    assert_eq!(delta.handshakes().0, 3);
    // The header path's cache hit counts too (the benchmarked hit).
    let before = snapshot();
    api.authorization_header("CountedBearer", None).unwrap();
    assert_eq!(Delta::since(before).cache("memory", "hit"), 1);
}

#[test]
fn a_new_connection_resumes_the_session_of_the_first() {
    let _turn = turn();
    let setup = setup();
    // Each connection is closed after its answer: every call opens a new one.
    let server = setup.scripted(Arc::new(|_: &Seen, _| vec![ok("once"), Step::Close]));
    let api = setup.client(&mtls_api("ResumedMtls", &server.url()), None);
    let before = snapshot();
    for _ in 0..3 {
        assert_eq!(api.call("ResumedMtls", None, b"").unwrap().body, b"once");
        // Past the pool's probe hold time, so that the closed connection is seen closed.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let delta = Delta::since(before);
    let connections = server.seen().len() as u64;
    assert_eq!(connections, 3);
    assert_eq!(delta.handshakes(), (1, connections - 1));
    assert_eq!(delta.calls("ResumedMtls", "MTLS", "response"), 3);
}

#[test]
fn a_failing_call_counts_its_outcome() {
    let _turn = turn();
    let setup = setup();
    let closed = format!("https://127.0.0.1:{}", free_port());
    let apis = format!(
        r#"{}, "PlainBearer": {{"BaseUrl": "http://127.0.0.1:1", "Scopes": ["{SCOPE}"]}}"#,
        mtls_api("RefusedMtls", &closed)
    );
    let tokens = TokenServer::start(&setup.ca, TokenIssuer::new(CLIENT_ID));
    let api = setup.client(&apis, Some(&tokens));
    let before = snapshot();
    let error = api.call("RefusedMtls", None, b"").unwrap_err();
    assert_eq!(error.kind(), downstream_api::ErrorKind::Network, "{error}");
    api.call("PlainBearer", None, b"").unwrap_err();
    // An unknown API is no series of its own: names callers make up are not counted.
    api.call("NoSuchApi", None, b"").unwrap_err();
    let delta = Delta::since(before);
    assert_eq!(delta.calls("RefusedMtls", "MTLS", "network"), 1);
    assert_eq!(delta.calls("RefusedMtls", "MTLS", "response"), 0);
    assert_eq!(delta.calls("PlainBearer", "Bearer", "insecure_url"), 1);
    assert!(snapshot().calls.iter().all(|c| c.api != "NoSuchApi"));
}

#[test]
fn a_retry_counts_its_remedy() {
    let _turn = turn();
    let setup = setup();
    // The second request on a connection finds it closed unanswered: resent on a new one.
    let server = setup.scripted(Arc::new(|_: &Seen, nth| match nth {
        0 => vec![ok("fresh")],
        _ => vec![Step::Close],
    }));
    let api = setup.client(&mtls_api("RetriedMtls", &server.url()), None);
    let before = snapshot();
    for _ in 0..2 {
        assert_eq!(api.call("RetriedMtls", None, b"").unwrap().body, b"fresh");
    }
    let delta = Delta::since(before);
    assert_eq!(delta.retries(Remedy::StaleConnection), 1);
    assert_eq!(delta.retries(Remedy::ReloadCertificate), 0);
    assert_eq!(delta.calls("RetriedMtls", "MTLS", "response"), 2);
}

#[test]
fn the_certificate_gauge_is_the_selected_certificates_days_left() {
    let _turn = turn();
    let setup = setup();
    let server = setup.mtls_server();
    let api = setup.client(&mtls_api("GaugedMtls", &server.url()), None);
    assert!(
        api.metrics().certificates.is_empty(),
        "nothing selected yet"
    );
    api.call("GaugedMtls", None, b"").unwrap();
    let LoadState::Certificate(facts) = &api.credentials()[1].state else {
        panic!("the certificate entry loaded");
    };
    let metrics: serde_json::Value = serde_json::from_str(&api.metrics_json()).unwrap();
    let certificates = metrics["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 1, "{metrics}");
    assert_eq!(certificates[0]["subject"], facts.subject.as_str());
    assert_eq!(certificates[0]["thumbprint"], facts.thumbprint.as_str());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let expected = (facts.not_after as f64 - now) / 86_400.0;
    let days_left = certificates[0]["daysLeft"].as_f64().unwrap();
    assert!(
        (days_left - expected).abs() < 0.01,
        "{days_left} {expected}"
    );
    assert!(days_left > 360.0 && days_left < 366.0, "{days_left}");
}

#[test]
fn the_json_shape() {
    let _turn = turn();
    let setup = setup();
    let server = setup.mtls_server();
    let api = setup.client(&mtls_api("ShapedMtls", &server.url()), None);
    api.call("ShapedMtls", None, b"").unwrap();
    let json: serde_json::Value = serde_json::from_str(&api.metrics_json()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "calls",
        "tokenRequests",
        "tokenCache",
        "tlsHandshakes",
        "retries",
        "certificates",
    ];
    expected.sort();
    assert_eq!(keys, expected);
    let call = json["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["api"] == "ShapedMtls")
        .unwrap();
    assert_eq!(
        call,
        &serde_json::json!({"api": "ShapedMtls", "protocol": "MTLS", "outcome": "response", "count": 1})
    );
    assert_eq!(json["tokenRequests"][0]["grant"], "client_credentials");
    assert_eq!(
        json["tokenCache"][0],
        serde_json::json!({"layer": "memory", "result": "hit", "count": json["tokenCache"][0]["count"]})
    );
    assert!(json["tlsHandshakes"]["full"].as_u64().unwrap() >= 1);
    assert!(json["tlsHandshakes"]["resumed"].is_u64());
    let remedies: Vec<&str> = json["retries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["remedy"].as_str().unwrap())
        .collect();
    assert_eq!(remedies.len(), Remedy::ALL.len());
    assert!(remedies.contains(&"StaleConnection"));
}
