//! MTLS-only calls against the in-process rustls server on 127.0.0.1.

mod support;

use downstream_api::{DownstreamApi, ErrorKind};
use support::pki::{TestCa, Validity};
use support::server::{ClientAuth, TestServer};
use support::{TempDir, json_str};

#[test]
fn presents_the_configured_certificate_without_authorization() {
    let ca = TestCa::new("Test CA");
    let client = ca.client("orders-client", Validity::CURRENT);
    let server = TestServer::start(
        ca.server(),
        ClientAuth::Required(&[ca.cert_der.clone()]),
        TestServer::echo_handler(),
    );
    let dir = TempDir::new("mtls");
    let cert_path = dir.write("client.pem", client.bundle_pem());
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let config = format!(
        r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {}}}]}},
            "DownstreamApis": {{"Orders": {{"BaseUrl": "{}/api/", "RelativePath": "/orders", "ProtocolScheme": "MTLS"}}}},
            "Http": {{"CaBundlePath": {}}}}}"#,
        json_str(&cert_path),
        server.url(),
        json_str(&ca_path)
    );
    let api = DownstreamApi::from_json(&config).unwrap();
    let response = api.call("orders", None, b"").unwrap();
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.body, b"hello orders-client");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/api/orders");
    assert_eq!(seen[0].client_cert.as_ref(), Some(&client.cert_der));
    assert_eq!(seen[0].header("authorization"), None);
    let _ = ErrorKind::Config;
}
