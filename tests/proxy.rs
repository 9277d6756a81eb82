//! Calls through a real HTTP proxy, Debian's `tinyproxy` on 127.0.0.1: MTLS and Bearer calls
//! tunnelled with CONNECT (the proxy's log shows nothing but CONNECT lines, so the certificate
//! and the tokens never reached it), the environment's `HTTPS_PROXY` and `NO_PROXY`, `Http.Proxy`
//! winning over them, Basic authentication right and wrong, and a proxy that is down.

use downstream_api::{DownstreamApi, ErrorKind};
use test_support::pki::{Issued, TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::tinyproxy::Tinyproxy;
use test_support::token_server::{TokenIssuer, TokenServer, bearer_resource_handler};
use test_support::{TempDir, free_port, json_str};

const CLIENT_ID: &str = "proxy-app";
const SECRET: &str = "proxy-secret";

struct Setup {
    mtls: TestServer,
    tokens: TokenServer,
    resource: TestServer,
    _dir: TempDir,
    ca_path: String,
    cert_path: String,
}

fn setup() -> Setup {
    let ca = TestCa::new("Proxy CA");
    let client: Issued = ca.client("proxied-client", Validity::CURRENT);
    let mtls = TestServer::start(
        ca.server(),
        ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
        TestServer::echo_handler(),
    );
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    // The certificate signs the client assertion of the Bearer API's token request.
    issuer.set_certificate(Some(client.cert_der.as_ref()));
    let tokens = TokenServer::start(&ca, issuer.clone());
    let resource = TestServer::start(
        ca.server(),
        ClientAuth::None,
        bearer_resource_handler(issuer),
    );
    let dir = TempDir::new("proxy");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let cert_path = dir.write("client.pem", client.bundle_pem());
    Setup {
        mtls,
        tokens,
        resource,
        _dir: dir,
        ca_path,
        cert_path,
    }
}

impl Setup {
    /// "Mtls" (the client certificate, no token) and "Bearer" (a token from the fake Entra
    /// endpoint), with `http` added to the `Http` section.
    fn config(&self, http: &str) -> String {
        format!(
            r#"{{"AzureAd": {{"Instance": {instance}, "TenantId": "t", "ClientId": "{CLIENT_ID}",
                  "ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {cert}}},
                                        {{"SourceType": "ClientSecret", "ClientSecret": "{SECRET}"}}]}},
                "DownstreamApis": {{
                  "Mtls": {{"BaseUrl": {mtls}, "ProtocolScheme": "MTLS"}},
                  "Bearer": {{"BaseUrl": {bearer}, "Scopes": ["api://proxied/.default"]}}}},
                "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 10{http}}}}}"#,
            instance = json_str(&self.tokens.instance()),
            cert = json_str(&self.cert_path),
            mtls = json_str(&self.mtls.url()),
            bearer = json_str(&self.resource.url()),
            ca = json_str(&self.ca_path),
        )
    }

    fn client(&self, http: &str, environment: &[(&str, String)]) -> DownstreamApi {
        DownstreamApi::from_json_with_environment(
            &self.config(http),
            environment
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone())),
        )
        .expect("client")
    }
}

fn body(client: &DownstreamApi, api: &str) -> String {
    let response = client.call(api, None, b"").expect("call");
    let text = String::from_utf8_lossy(&response.body).into_owned();
    assert_eq!(response.status, 200, "{api}: {text}");
    text
}

#[test]
fn mtls_and_bearer_calls_are_tunnelled_and_the_proxy_sees_only_connect() {
    let setup = setup();
    let proxy = Tinyproxy::start(None);
    let client = setup.client("", &[("HTTPS_PROXY", proxy.url())]);
    assert_eq!(body(&client, "Mtls"), "hello proxied-client");
    assert_eq!(body(&client, "Bearer"), "api://proxied/.default");
    let requests = proxy.requests(3);
    let expected = [
        format!("CONNECT 127.0.0.1:{} HTTP/1.1", setup.mtls.port),
        format!("CONNECT 127.0.0.1:{} HTTP/1.1", setup.tokens.server.port),
        format!("CONNECT 127.0.0.1:{} HTTP/1.1", setup.resource.port),
    ];
    for line in &expected {
        assert!(requests.contains(line), "{line} in {requests:#?}");
    }
    assert!(
        requests.iter().all(|r| r.starts_with("CONNECT ")),
        "only tunnels: {requests:#?}"
    );
    let log = proxy.log();
    assert!(!log.contains(SECRET) && !log.contains("Bearer "), "{log}");
    setup.tokens.issuer.assert_no_failures();
}

#[test]
fn no_proxy_bypasses_the_proxy_and_http_proxy_wins_over_the_environment() {
    let setup = setup();
    let proxy = Tinyproxy::start(None);
    let dead = format!("http://127.0.0.1:{}", free_port());
    // NO_PROXY names the host: nothing goes through the (dead) proxy.
    let bypassed = setup.client(
        "",
        &[
            ("HTTPS_PROXY", dead.clone()),
            ("NO_PROXY", "example.com, 127.0.0.1".into()),
        ],
    );
    assert_eq!(body(&bypassed, "Mtls"), "hello proxied-client");
    // Http.Proxy wins over HTTPS_PROXY.
    let configured = setup.client(
        &format!(r#", "Proxy": {}"#, json_str(&proxy.url())),
        &[("HTTPS_PROXY", dead.clone())],
    );
    assert_eq!(body(&configured, "Mtls"), "hello proxied-client");
    assert_eq!(proxy.requests(1).len(), 1);
    // HTTP_PROXY is for http:// URLs, as curl reads it: these https calls go direct (through
    // this dead proxy, they would fail).
    let http_only = setup.client("", &[("HTTP_PROXY", dead.clone())]);
    assert_eq!(body(&http_only, "Mtls"), "hello proxied-client");
    // An empty Http.Proxy turns proxying off, whatever the environment says.
    let off = setup.client(r#", "Proxy": """#, &[("HTTPS_PROXY", dead.clone())]);
    assert_eq!(body(&off, "Mtls"), "hello proxied-client");
}

#[test]
fn a_proxy_asking_for_basic_authentication_right_and_wrong() {
    let setup = setup();
    let proxy = Tinyproxy::start(Some(("corp-user", "corp-pass")));
    let right = setup.client(
        &format!(
            r#", "Proxy": "http://corp-user:corp-pass@127.0.0.1:{}""#,
            proxy.port
        ),
        &[],
    );
    assert_eq!(body(&right, "Mtls"), "hello proxied-client");
    assert_eq!(body(&right, "Bearer"), "api://proxied/.default");

    let wrong = setup.client(
        &format!(
            r#", "Proxy": "http://corp-user:wrong-pass@127.0.0.1:{}""#,
            proxy.port
        ),
        &[],
    );
    let error = wrong.call("Mtls", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
    let message = error.message();
    assert!(
        message.contains(&format!(
            "through the proxy http://***@127.0.0.1:{} (from Http.Proxy)",
            proxy.port
        )),
        "{message}"
    );
    assert!(
        !message.contains("wrong-pass") && !message.contains("corp-user"),
        "{message}"
    );
}

#[test]
fn a_proxy_that_is_down_is_a_network_error_naming_it() {
    let setup = setup();
    let port = free_port();
    let client = setup.client(
        "",
        &[("https_proxy", format!("http://u:secret@127.0.0.1:{port}"))],
    );
    for api in ["Mtls", "Bearer"] {
        let error = client.call(api, None, b"").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Network, "{api}: {error}");
        assert!(
            error.message().contains(&format!(
                "through the proxy http://***@127.0.0.1:{port} (from https_proxy)"
            )),
            "{api}: {error}"
        );
        assert!(!error.message().contains("secret"));
    }
}

/// An `https://` proxy whose certificate the client does not trust: the TLS error names the
/// proxy, so that it does not read as if the API's certificate were bad.
#[test]
fn an_untrusted_https_proxy_is_named_in_the_tls_error() {
    let setup = setup();
    let stranger = TestCa::new("Someone else's CA");
    let proxy = TestServer::start(
        stranger.server(),
        ClientAuth::None,
        TestServer::echo_handler(),
    );
    let port = proxy
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let http = format!(r#", "Proxy": "https://127.0.0.1:{port}""#);
    let client = setup.client(&http, &[]);
    for api in ["Mtls", "Bearer"] {
        let error = client.call(api, None, b"").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Tls, "{api}: {error}");
        assert!(
            error.message().contains(&format!(
                "through the proxy https://127.0.0.1:{port} (from Http.Proxy)"
            )),
            "{api}: {error}"
        );
    }
}
