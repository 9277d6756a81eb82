//! Defects an adversarial run found, each pinned by a test: files that block or never end, huge
//! echoes, .NET's JSON dialect, arrays from the environment, damaged keys, methods and headers
//! refused late, URL schemes and user information, legacy PEM, oversized request heads. Real TLS
//! servers on 127.0.0.1.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use downstream_api::{DownstreamApi, ErrorKind};
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::{FIXTURE_PASSWORD, TempDir, fixture, json_str};

/// Runs `body` on a thread and fails the test if it does not return within 10 s: a regression to
/// a blocking read must fail, not hang the suite.
fn within_seconds<T: Send + 'static>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(body());
    });
    receiver
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} did not return within 10 s"))
}

fn mkfifo(dir: &TempDir, name: &str) -> String {
    let path = dir.path().join(name);
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    path.to_string_lossy().into_owned()
}

/// A server requiring a client certificate from `ca`, and the files of a configuration for it.
struct Setup {
    ca: TestCa,
    server: TestServer,
    dir: TempDir,
    ca_path: String,
    client_path: String,
}

fn setup() -> Setup {
    let ca = TestCa::new("Hardening CA");
    let server = TestServer::start(
        ca.server(),
        ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
        TestServer::echo_handler(),
    );
    let dir = TempDir::new("hardening");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let client_path = dir.write(
        "client.pem",
        ca.client("hardened", Validity::CURRENT).bundle_pem(),
    );
    Setup {
        ca,
        server,
        dir,
        ca_path,
        client_path,
    }
}

impl Setup {
    /// One MTLS API "Api"; `api` adds keys to it, `http` to the `Http` section.
    fn config(&self, certificate: &str, api: &str, http: &str) -> String {
        format!(
            r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {}}}]}},
                "DownstreamApis": {{"Api": {{"BaseUrl": "{}", "ProtocolScheme": "MTLS"{api}}}}},
                "Http": {{"CaBundlePath": {}, "TimeoutSeconds": 5{http}}}}}"#,
            json_str(certificate),
            self.server.url(),
            json_str(&self.ca_path)
        )
    }

    fn call_error(&self, config: &str) -> downstream_api::Error {
        let api = DownstreamApi::from_json(config).unwrap();
        api.call("Api", None, b"").unwrap_err()
    }
}

#[test]
fn d1_fifos_and_devices_are_refused_without_blocking() {
    let setup = setup();
    let fifo = mkfifo(&setup.dir, "fifo");

    let path = fifo.clone();
    let error = within_seconds("a FIFO as configuration file", move || {
        DownstreamApi::from_file(Path::new(&path)).err().unwrap()
    });
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
    assert!(
        error.message().contains("is a FIFO, not a regular file"),
        "{error}"
    );

    for certificate in [fifo.as_str(), "/dev/urandom"] {
        let config = setup.config(certificate, "", "");
        let error = within_seconds("a FIFO or device as certificate", move || {
            DownstreamApi::from_json(&config)
                .unwrap()
                .call("Api", None, b"")
                .unwrap_err()
        });
        assert_eq!(error.kind(), ErrorKind::CredentialUnavailable, "{error}");
        assert!(error.message().contains("ClientCredentials[0]"), "{error}");
        assert!(error.message().contains("not a regular file"), "{error}");
    }

    let config = setup
        .config(&setup.client_path, "", "")
        .replace(&json_str(&setup.ca_path), &json_str(&fifo));
    let error = within_seconds("a FIFO as CA bundle", move || {
        DownstreamApi::from_json(&config).err().unwrap()
    });
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(error.message().contains("Http.CaBundlePath"), "{error}");
    assert!(error.message().contains("a FIFO"), "{error}");

    // A signed-assertion file is read for each token request, before anything is sent.
    let config = format!(
        r#"{{"AzureAd": {{"Instance": "https://127.0.0.1:1/", "TenantId": "t", "ClientId": "c",
             "ClientCredentials": [{{"SourceType": "SignedAssertionFilePath",
                                     "SignedAssertionFileDiskPath": {}}}]}},
            "Http": {{"CaBundlePath": {}}}}}"#,
        json_str(&fifo),
        json_str(&setup.ca_path)
    );
    let error = within_seconds("a FIFO as signed assertion", move || {
        DownstreamApi::from_json(&config)
            .unwrap()
            .acquire_token(&["api://a/.default"], None)
            .unwrap_err()
    });
    assert_eq!(error.kind(), ErrorKind::CredentialUnavailable, "{error}");
    assert!(error.message().contains("signed assertion file"), "{error}");
    assert!(error.message().contains("a FIFO"), "{error}");
}

#[test]
fn d2_every_file_read_has_a_cap() {
    let setup = setup();
    // /dev/zero as CA bundle aborted the host process (an 8 GiB allocation).
    let config = setup
        .config(&setup.client_path, "", "")
        .replace(&json_str(&setup.ca_path), &json_str("/dev/zero"));
    let error = DownstreamApi::from_json(&config).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(error.message().contains("a device"), "{error}");

    // Regular files over their cap (sparse: no disk is used).
    let sparse = |name: &str, size: u64| {
        let path = setup.dir.path().join(name);
        std::fs::File::create(&path).unwrap().set_len(size).unwrap();
        path.to_string_lossy().into_owned()
    };
    let big_bundle = sparse("big-ca.pem", 17 * 1024 * 1024);
    let config = setup
        .config(&setup.client_path, "", "")
        .replace(&json_str(&setup.ca_path), &json_str(&big_bundle));
    let error = DownstreamApi::from_json(&config).err().unwrap();
    assert!(error.message().contains("larger than 16384 KiB"), "{error}");

    let big_certificate = sparse("big.pem", 2 * 1024 * 1024);
    let error = setup.call_error(&setup.config(&big_certificate, "", ""));
    assert_eq!(error.kind(), ErrorKind::CredentialUnavailable, "{error}");
    assert!(error.message().contains("larger than 1024 KiB"), "{error}");

    let big_config = sparse("appsettings.json", 5 * 1024 * 1024);
    let error = DownstreamApi::from_file(Path::new(&big_config))
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
    assert!(error.message().contains("larger than 4096 KiB"), "{error}");
}

#[test]
fn d5_a_key_that_cannot_sign_is_reported_at_loading_and_a_fixed_file_is_picked_up() {
    let setup = setup();
    // A corrupted CRT parameter: one bit of dP (the sixth INTEGER of the PKCS#1 key) flipped.
    let pem = std::fs::read_to_string(fixture("rsa-client.pkcs1.pem")).unwrap();
    let begin = "-----BEGIN RSA PRIVATE KEY-----";
    let end = "-----END RSA PRIVATE KEY-----";
    let (certificate, key) = pem.split_at(pem.find(begin).unwrap());
    let body: String = key[begin.len()..key.find(end).unwrap()]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let engine = base64::engine::general_purpose::STANDARD;
    let mut der = engine.decode(body).unwrap();
    let (start, len) = der_integers(&der)[6];
    der[start + len / 2] ^= 0x01;
    let damaged = format!("{certificate}{begin}\n{}\n{end}\n", engine.encode(&der));
    let path = setup.dir.write("damaged.pem", &damaged);

    let config = setup.config(&path, "", "");
    let api = DownstreamApi::from_json(&config).unwrap();
    let error = api.call("Api", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialUnavailable, "{error}");
    assert!(error.message().contains("ClientCredentials[0]"), "{error}");
    assert!(error.message().contains("cannot sign"), "{error}");

    // Fixing the file fixes the same client: the failed load is not cached.
    std::fs::write(
        &path,
        setup.ca.client("fixed", Validity::CURRENT).bundle_pem(),
    )
    .unwrap();
    let response = api.call("Api", None, b"").unwrap();
    assert_eq!(response.body, b"hello fixed");
}

/// (offset, length) of the contents of each INTEGER in a DER SEQUENCE of INTEGERs.
fn der_integers(der: &[u8]) -> Vec<(usize, usize)> {
    let length = |at: usize| -> (usize, usize) {
        match der[at] {
            short if short < 0x80 => (short as usize, 1),
            long => {
                let bytes = (long & 0x7f) as usize;
                let value = der[at + 1..at + 1 + bytes]
                    .iter()
                    .fold(0, |acc, b| (acc << 8) | *b as usize);
                (value, 1 + bytes)
            }
        }
    };
    assert_eq!(der[0], 0x30, "a SEQUENCE");
    let (_, header) = length(1);
    let mut at = 1 + header;
    let mut integers = Vec::new();
    while at < der.len() {
        assert_eq!(der[at], 0x02, "an INTEGER");
        let (len, header) = length(at + 1);
        integers.push((at + 1 + header, len));
        at += 1 + header + len;
    }
    integers
}

#[test]
fn d6_the_json_of_dotnet_templates_is_accepted() {
    let setup = setup();
    let config = format!(
        "\u{feff}{{\n  // as Visual Studio and the Id.Web templates write it\n  \"AzureAd\": {{\n    \
         \"ClientCredentials\": [ {{ \"SourceType\": \"Path\", \"CertificateDiskPath\": {}, }}, ],\n  }},\n  \
         /* one API */\n  \"DownstreamApis\": {{ \"Api\": {{ \"BaseUrl\": \"{}\", \"ProtocolScheme\": \"MTLS\", }} }},\n  \
         \"Http\": {{ \"CaBundlePath\": {} }},\n}}\n",
        json_str(&setup.client_path),
        setup.server.url(),
        json_str(&setup.ca_path)
    );
    let path = setup.dir.write("appsettings.json", &config);
    let api = DownstreamApi::from_file(Path::new(&path)).unwrap();
    assert_eq!(api.call("Api", None, b"").unwrap().body, b"hello hardened");
}

#[test]
fn d7_a_request_head_too_large_to_send_is_the_callers_error() {
    let setup = setup();
    let api = DownstreamApi::from_json(&setup.config(&setup.client_path, "", "")).unwrap();
    let overrides = format!(
        r#"{{"ExtraHeaderParameters": {{"X-Large": "{}"}}}}"#,
        "a".repeat(20 * 1024)
    );
    let error = api.call("Api", Some(&overrides), b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    assert!(error.message().contains("at most 16 KiB"), "{error}");
    assert!(setup.server.seen().is_empty(), "nothing was sent");
}

#[test]
fn d8_extension_methods_work_and_unusable_ones_are_refused_when_configured() {
    let setup = setup();
    // Extension methods (WebDAV) are sent as configured, in upper case.
    let api = DownstreamApi::from_json(&setup.config(
        &setup.client_path,
        r#", "HttpMethod": "propfind""#,
        "",
    ))
    .unwrap();
    assert_eq!(api.call("Api", None, b"").unwrap().status, 200);
    let overrides = r#"{"HttpMethod": "MKCOL"}"#;
    assert_eq!(api.call("Api", Some(overrides), b"x").unwrap().status, 200);
    let methods: Vec<String> = setup
        .server
        .seen()
        .iter()
        .map(|s| s.method.clone())
        .collect();
    assert_eq!(methods, ["PROPFIND", "MKCOL"]);

    // Not a token, or CONNECT: refused when the configuration is read, naming the field.
    for method in ["GE T", "CONNECT", ""] {
        let config = setup.config(
            &setup.client_path,
            &format!(r#", "HttpMethod": "{method}""#),
            "",
        );
        let error = DownstreamApi::from_json(&config).err().unwrap();
        assert_eq!(error.kind(), ErrorKind::Config, "{error}");
        assert!(
            error.message().contains("DownstreamApis.Api.HttpMethod"),
            "{error}"
        );
    }
    let error = api
        .call("Api", Some(r#"{"HttpMethod": "connect"}"#), b"")
        .unwrap_err();
    assert!(error.message().contains("overrides.HttpMethod"), "{error}");
    let error = api
        .call(
            "Api",
            Some(r#"{"ExtraHeaderParameters": {"content-length": "5"}}"#),
            b"body that is longer",
        )
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(
        error
            .message()
            .contains("overrides.ExtraHeaderParameters.content-length"),
        "{error}"
    );
    assert_eq!(setup.server.seen().len(), 2, "nothing refused was sent");
}

#[test]
fn d9_schemes_are_case_insensitive_and_a_url_needs_a_host() {
    let setup = setup();
    let upper = setup
        .config(&setup.client_path, "", "")
        .replace("https://127.0.0.1", "HTTPS://127.0.0.1");
    let api = DownstreamApi::from_json(&upper).unwrap();
    assert_eq!(api.call("Api", None, b"").unwrap().body, b"hello hardened");
    for empty in ["https://", "https:///path", "https://:443/"] {
        let config = setup
            .config(&setup.client_path, "", "")
            .replace(&setup.server.url(), empty);
        let error = DownstreamApi::from_json(&config).err().unwrap();
        assert_eq!(error.kind(), ErrorKind::Config, "{empty}: {error}");
        assert!(error.message().contains("has no host"), "{error}");
    }
}

#[test]
fn d10_user_information_in_urls_is_refused_without_echoing_it() {
    let setup = setup();
    let with_password = setup
        .config(&setup.client_path, "", "")
        .replace("https://127.0.0.1", "https://user:hunter2@127.0.0.1");
    let error = DownstreamApi::from_json(&with_password).err().unwrap();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(
        error.message().contains("DownstreamApis.Api.BaseUrl"),
        "{error}"
    );
    assert!(error.message().contains("user information"), "{error}");
    assert!(!error.message().contains("hunter2"), "{error}");

    let api = DownstreamApi::from_json(&setup.config(&setup.client_path, "", "")).unwrap();
    // The live server's own URL, with a password in it.
    let overrides = format!(
        r#"{{"BaseUrl": "{}"}}"#,
        setup
            .server
            .url()
            .replace("https://", "https://admin:s3cr3t@")
    );
    let error = api.call("Api", Some(&overrides), b"").unwrap_err();
    assert!(error.message().contains("overrides.BaseUrl"), "{error}");
    assert!(!error.message().contains("s3cr3t"), "{error}");
    assert!(setup.server.seen().is_empty(), "no request was sent");
}

#[test]
fn d11_legacy_encrypted_pem_keys_get_the_conversion_hint() {
    let setup = setup();
    let credential = format!(
        r#"{{"SourceType": "Path", "CertificateDiskPath": {}, "CertificatePassword": "{FIXTURE_PASSWORD}"}}"#,
        json_str(&fixture("rsa-client.legacy-encrypted.pem"))
    );
    let config = setup.config(&setup.client_path, "", "").replace(
        &format!(
            r#"{{"SourceType": "Path", "CertificateDiskPath": {}}}"#,
            json_str(&setup.client_path)
        ),
        &credential,
    );
    let error = setup.call_error(&config);
    assert_eq!(error.kind(), ErrorKind::CredentialUnavailable, "{error}");
    assert!(error.message().contains("openssl pkcs8 -topk8"), "{error}");
    assert!(!error.message().contains(FIXTURE_PASSWORD), "{error}");
}

#[test]
fn echoed_input_is_cut() {
    let setup = setup();
    let api = DownstreamApi::from_json(&setup.config(&setup.client_path, "", "")).unwrap();
    let huge_name = "n".repeat(1024 * 1024);
    let error = api.call(&huge_name, None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownApi);
    assert!(
        error.message().len() < 1024,
        "{} bytes",
        error.message().len()
    );

    let apis: Vec<String> = (0..20_000)
        .map(|i| {
            format!(r#""Api{i}": {{"BaseUrl": "https://127.0.0.1/", "ProtocolScheme": "MTLS"}}"#)
        })
        .collect();
    let many = format!(r#"{{"DownstreamApis": {{{}}}}}"#, apis.join(","));
    let api = DownstreamApi::from_json(&many).unwrap();
    let error = api.call("Missing", None, b"").unwrap_err();
    assert!(error.message().contains("and 19995 more"), "{error}");
    assert!(
        error.message().len() < 1024,
        "{} bytes",
        error.message().len()
    );

    let long_path = format!("/{}", "p".repeat(1024 * 1024));
    let error = setup.call_error(&setup.config(&long_path, "", ""));
    assert!(
        error.message().len() < 2048,
        "{} bytes",
        error.message().len()
    );
}
