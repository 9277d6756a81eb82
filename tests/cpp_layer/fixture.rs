//! What the C++ program runs against: an mTLS API answering `hello <CN>` (and any status under
//! `/status/NNN`) that records which certificate each call presented, an mTLS API trusting
//! another CA (so it rejects ours), the fake Entra ID token endpoint with a Bearer resource, and
//! the configuration and certificate files naming them (tests/cpp/layer/common.hpp lists them).

use std::sync::{Arc, Mutex};

use test_support::credentials::{certificate_file, client_secret};
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, Handler, Reply, Seen, TestServer, subject_cn};
use test_support::token_server::{TokenIssuer, TokenServer, bearer_resource_handler};
use test_support::{TempDir, fixture, json_str};

pub(crate) const CLIENT_CN: &str = "cpp-layer-client";
/// The certificate the program pushes in memory with `Client::set_credential`.
pub(crate) const PUSHED_CN: &str = "cpp-layer-pushed";
/// A certificate that expires in 3 days: `DSAPI_EVENT_EXPIRING_SOON` on its first use.
pub(crate) const EXPIRING_CN: &str = "cpp-layer-expiring";
/// The app's client secret: never printed nor logged.
pub(crate) const SECRET: &str = "cpp-layer-S3cret~value";
const CLIENT_ID: &str = "cpp-layer-app";
const TENANT: &str = "cpp-layer-tenant";
const SCOPE: &str = "api://cpp-layer/.default";

pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
    presented: Arc<Mutex<Vec<String>>>,
    _servers: Vec<TestServer>,
    _tokens: TokenServer,
}

/// `hello <CN>` with status 200, or the status `/status/NNN` names; records the CN.
fn hello(presented: Arc<Mutex<Vec<String>>>) -> Handler {
    Arc::new(move |seen: &Seen| {
        let cn = seen
            .client_cert
            .as_ref()
            .map(|cert| subject_cn(cert))
            .unwrap_or_else(|| "anonymous".to_string());
        presented.lock().unwrap().push(cn.clone());
        let status = seen
            .target
            .rsplit_once("/status/")
            .and_then(|(_, code)| code.parse().ok())
            .unwrap_or(200);
        let mut reply = Reply::text(status, &format!("hello {cn}"));
        reply.headers.push(("X-Layer".into(), "cpp".into()));
        reply
    })
}

/// The Bearer API "Resource" behind the fake token endpoint, the app holding a client secret.
fn bearer_config(tokens: &TokenServer, resource: &TestServer, ca_path: &str) -> String {
    format!(
        r#"{{
  "AzureAd": {{"Instance": {instance}, "TenantId": "{TENANT}", "ClientId": "{CLIENT_ID}",
              "ClientCredentials": [{credential}]}},
  "DownstreamApis": {{"Resource": {{"BaseUrl": {base}, "RelativePath": "me", "Scopes": ["{SCOPE}"]}}}},
  "Http": {{"CaBundlePath": {ca}}}
}}"#,
        instance = json_str(&tokens.instance()),
        credential = client_secret(SECRET),
        base = json_str(&resource.url()),
        ca = json_str(ca_path),
    )
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let ca = TestCa::new("C++ Layer CA");
        let presented = Arc::new(Mutex::new(Vec::new()));
        let server = TestServer::start(
            ca.server(),
            ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
            hello(presented.clone()),
        );
        let other_ca = TestCa::new("Another CA");
        let rejecting = TestServer::start(
            ca.server(),
            ClientAuth::Required(std::slice::from_ref(&other_ca.cert_der)),
            hello(presented.clone()),
        );
        let issuer = TokenIssuer::new(CLIENT_ID);
        issuer.set_client_secret(Some(SECRET));
        let tokens = TokenServer::start(&ca, issuer.clone());
        let resource = TestServer::start(
            ca.server(),
            ClientAuth::None,
            bearer_resource_handler(issuer),
        );
        let dir = TempDir::new("cpp-layer");
        let ca_path = dir.write("ca.pem", &ca.cert_pem);
        let current = ca.client(CLIENT_CN, Validity::CURRENT);
        let expiring = ca.client(
            EXPIRING_CN,
            Validity {
                from_days: -30,
                to_days: 3,
            },
        );
        let mtls = |cert: &str| {
            format!(
                r#"{{
  "AzureAd": {{"ClientId": "cpp-layer", "ClientCredentials": [{credential}]}},
  "DownstreamApis": {{
    "Orders": {{"BaseUrl": {base}, "RelativePath": "orders", "ProtocolScheme": "MTLS"}},
    "Rejecting": {{"BaseUrl": {rejecting}, "ProtocolScheme": "MTLS"}},
    "Plain": {{"BaseUrl": {plain}, "ProtocolScheme": "MTLS"}}
  }},
  "Http": {{"CaBundlePath": {ca}}}
}}"#,
                credential = certificate_file(cert),
                base = json_str(&format!("{}/api", server.url())),
                rejecting = json_str(&rejecting.url()),
                plain = json_str(&format!("http://127.0.0.1:{}/api", server.port)),
                ca = json_str(&ca_path),
            )
        };
        let current_path = dir.write("client.pem", current.bundle_pem());
        dir.write("good.json", mtls(&current_path));
        let expiring_path = dir.write("expiring.pem", expiring.bundle_pem());
        dir.write("expiring.json", mtls(&expiring_path));
        dir.write("malformed.json", r#"{"AzureAd": ["#);
        dir.write(
            "pushed.pem",
            ca.client(PUSHED_CN, Validity::CURRENT).bundle_pem(),
        );
        dir.write(
            "encrypted.pem",
            std::fs::read(fixture("rsa-client.encrypted.pem")).expect("fixture"),
        );
        dir.write("bearer.json", bearer_config(&tokens, &resource, &ca_path));
        Fixture {
            dir,
            presented,
            _servers: vec![server, rejecting, resource],
            _tokens: tokens,
        }
    }

    /// The CN of every certificate the mTLS APIs saw, in order.
    pub(crate) fn presented(&self) -> Vec<String> {
        self.presented.lock().unwrap().clone()
    }
}
