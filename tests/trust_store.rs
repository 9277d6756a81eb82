//! Server trust without `Http.CaBundlePath`: the OS trust store, where `SSL_CERT_FILE` names the
//! CA file (as OpenSSL and curl honour it). One test in its own binary, because it sets a
//! process-wide environment variable.

use downstream_api::{DownstreamApi, ErrorKind};
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::{TempDir, json_str};

#[test]
fn ssl_cert_file_decides_which_servers_are_trusted() {
    let ca = TestCa::new("Trust Store CA");
    let client = ca.client("trust-client", Validity::CURRENT);
    let server = TestServer::start(
        ca.server(),
        ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
        TestServer::echo_handler(),
    );
    let dir = TempDir::new("trust");
    let config = format!(
        r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {}}}]}},
            "DownstreamApis": {{"Api": {{"BaseUrl": "{}", "ProtocolScheme": "MTLS"}}}}}}"#,
        json_str(&dir.write("client.pem", client.bundle_pem())),
        server.url()
    );
    let trusted = dir.write("trusted.pem", &ca.cert_pem);
    let other = dir.write("other.pem", &TestCa::new("Other CA").cert_pem);

    // SAFETY: this binary's only test; no other thread reads the environment meanwhile.
    unsafe { std::env::set_var("SSL_CERT_FILE", &trusted) };
    let api = DownstreamApi::from_json(&config).unwrap();
    assert_eq!(
        api.call("Api", None, b"").unwrap().body,
        b"hello trust-client"
    );

    // SAFETY: as above.
    unsafe { std::env::set_var("SSL_CERT_FILE", &other) };
    let api = DownstreamApi::from_json(&config).unwrap();
    let error = api.call("Api", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(error.message().contains("UnknownIssuer"), "{error}");
}
