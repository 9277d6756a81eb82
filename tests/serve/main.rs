//! `dsapi serve` as a process, against the fake Entra endpoint (which verifies every grant),
//! in-process resource servers and nginx for MTLS: every route and its shapes, the overrides
//! and their gating, the caller's token, the loopback rule, bounded requests and slow clients,
//! 200 concurrent callers, SIGTERM under load and SIGHUP, `GET /metrics`. Nothing leaves
//! 127.0.0.0/8.

mod auth;
mod client;
mod lifecycle;
mod metrics;
mod routes;
mod transport;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use test_support::external::Nginx;
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, Handler, Reply, Seen, TestServer};
use test_support::token_server::{TokenIssuer, TokenServer, UserToken, identity_resource_handler};
use test_support::{TempDir, json_str};

const CLIENT_ID: &str = "sidecar-client-id";
pub const TENANT: &str = "sidecar-tenant";
const SECRET: &str = "sidecar-secret";
const USER_SCOPE: &str = "api://users/.default";
const APP_SCOPE: &str = "api://app/.default";
const AGENT: &str = "00000000-0000-0000-0000-00000000a9e1";
const AGENT_USER_OID: &str = "0000aaaa-1111-2222-3333-444455556666";
const AGENT_USER_UPN: &str = "agent.user@contoso.example";

/// The servers a sidecar calls, and its configuration file.
pub struct Setup {
    pub tokens: TokenServer,
    pub dir: TempDir,
    _identity: TestServer,
    _nginx: Nginx,
    pub bytes: TestServer,
    pub slow: TestServer,
    config: String,
}

fn setup() -> Setup {
    let ca = TestCa::new("Sidecar CA");
    let dir = TempDir::new("serve");
    let client = ca.client("sidecar-app", Validity::CURRENT);
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    issuer.add_agent_user(AGENT, AGENT_USER_OID, AGENT_USER_UPN);
    let tokens = TokenServer::start(&ca, issuer.clone());
    let identity = TestServer::start(
        ca.server(),
        ClientAuth::None,
        identity_resource_handler(issuer),
    );
    let roots = [ca.cert_der.clone()];
    let bytes = TestServer::start(ca.server(), ClientAuth::Required(&roots), bytes_handler());
    let slow = TestServer::start(ca.server(), ClientAuth::Required(&roots), slow_handler());
    let nginx = Nginx::start(&dir, &ca.server(), &ca.cert_pem);
    let config = format!(
        r#"{{"AzureAd": {{"Instance": {instance}, "TenantId": "{TENANT}", "ClientId": "{CLIENT_ID}",
              "ClientCredentials": [{{"SourceType": "ClientSecret", "ClientSecret": "{SECRET}"}},
                                    {{"SourceType": "Path", "CertificateDiskPath": {cert}}}]}},
            "DownstreamApis": {{
              "Users": {{"BaseUrl": {identity}, "RelativePath": "me", "Scopes": ["{USER_SCOPE}"]}},
              "App": {{"BaseUrl": {identity}, "RelativePath": "app", "Scopes": ["{APP_SCOPE}"],
                       "RequestAppToken": true}},
              "Mtls": {{"BaseUrl": {nginx}, "RelativePath": "hello", "ProtocolScheme": "MTLS"}},
              "Bytes": {{"BaseUrl": {bytes}, "RelativePath": "bytes", "HttpMethod": "POST",
                         "ProtocolScheme": "MTLS"}},
              "Slow": {{"BaseUrl": {slow}, "RelativePath": "slow", "ProtocolScheme": "MTLS"}}}},
            "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 20}}SIDECAR}}"#,
        instance = json_str(&tokens.instance()),
        cert = json_str(&dir.write("client.pem", client.bundle_pem())),
        identity = json_str(&identity.url()),
        nginx = json_str(&nginx.url()),
        bytes = json_str(&bytes.url()),
        slow = json_str(&slow.url()),
        ca = json_str(&dir.write("ca.pem", &ca.cert_pem)),
    );
    Setup {
        tokens,
        dir,
        _identity: identity,
        _nginx: nginx,
        bytes,
        slow,
        config,
    }
}

/// Answers with the request's body, its Content-Type and method, and an `X-Seen-Query` header.
fn bytes_handler() -> Handler {
    Arc::new(|seen: &Seen| Reply {
        status: 201,
        headers: vec![
            (
                "Content-Type".into(),
                seen.header("content-type").unwrap_or("none").into(),
            ),
            ("X-Seen-Method".into(), seen.method.clone()),
            ("X-Seen-Target".into(), seen.target.clone()),
            (
                "X-Seen-Header".into(),
                seen.header("x-trace").unwrap_or("none").into(),
            ),
        ],
        body: seen.body.clone(),
    })
}

/// Answers after 400 ms.
fn slow_handler() -> Handler {
    Arc::new(|_: &Seen| {
        std::thread::sleep(Duration::from_millis(400));
        Reply::text(200, "slow answer")
    })
}

impl Setup {
    pub fn issuer(&self) -> &TokenIssuer {
        &self.tokens.issuer
    }

    /// The configuration with `sidecar` (a JSON object's text, or "") as its Sidecar section.
    pub fn config_file(&self, sidecar: &str) -> String {
        let section = if sidecar.is_empty() {
            String::new()
        } else {
            format!(r#", "Sidecar": {sidecar}"#)
        };
        self.dir
            .write("appsettings.json", self.config.replace("SIDECAR", &section))
    }

    pub fn user_token(&self, oid: &str) -> String {
        let upn = format!("{oid}@contoso.example");
        self.issuer()
            .mint_user_token(&UserToken::new(oid, &upn, TENANT))
    }

    /// A sidecar on a free port with this configuration (`sidecar` section) and `args`.
    pub fn serve(&self, sidecar: &str, args: &[&str]) -> Sidecar {
        let config = self.config_file(sidecar);
        Sidecar::start(&config, args, &[])
    }
}

/// A running `dsapi serve`: its address, and its stderr as it comes.
pub struct Sidecar {
    child: Child,
    pub address: SocketAddr,
    pub stderr: Arc<Mutex<String>>,
}

impl Sidecar {
    pub fn start(config: &str, args: &[&str], env: &[(&str, &str)]) -> Sidecar {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dsapi"));
        command
            .args(["serve", "-c", config, "--urls", "http://127.0.0.1:0"])
            .args(args)
            .env_remove("ASPNETCORE_URLS")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start dsapi serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let url = first
            .strip_prefix("dsapi serve: listening on http://")
            .unwrap_or_else(|| panic!("dsapi serve did not start: {first}"));
        let address = url.parse().expect("the listening address");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Sidecar {
            child,
            address,
            stderr,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits for the process to end (at most `limit`); its exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn get(&self, target: &str, headers: &[(&str, &str)]) -> client::Answer {
        client::request(self.address, "GET", target, headers, b"")
    }

    pub fn post(&self, target: &str, headers: &[(&str, &str)], body: &[u8]) -> client::Answer {
        client::request(self.address, "POST", target, headers, body)
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The claims of a `Bearer <jwt>` header value.
pub fn header_claims(header: &str) -> serde_json::Value {
    use base64::Engine;
    let token = header.strip_prefix("Bearer ").expect("a Bearer header");
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims")
}
