//! The `dsapi` command, run as a process against loopback servers: an MTLS API on the in-process
//! rustls server (client certificate required) and a Bearer API behind the fake token endpoint,
//! which verifies the client secret it receives. Every subcommand, exit codes, bad arguments,
//! `--fail`, and `-v` never printing the secret, the certificate password or the token. Calls on
//! behalf of a user and as an agent against the fake token endpoint's identity resource.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::Value;
use test_support::key_vault::{FakeKeyVault, StoredVersion};
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, Reply, Seen, TestServer, subject_cn};
use test_support::token_server::{
    MFA_CLAIMS_JSON, MfaPolicy, TokenIssuer, TokenServer, UserToken, bearer_resource_handler,
    identity_resource_handler,
};
use test_support::{FIXTURE_PASSWORD, TempDir, fixture, free_port, json_str};

const CLIENT_ID: &str = "cli-client-id";
const SECRET: &str = "cli-S3cret~value+never-printed";
const SCOPE: &str = "api://orders/.default";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn dsapi_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    dsapi_with_env(dir, args, stdin, &[])
}

/// [`dsapi_in`] with more environment variables.
fn dsapi_with_env(dir: &Path, args: &[&str], stdin: &[u8], environment: &[(&str, String)]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsapi"))
        .args(args)
        .envs(environment.iter().map(|(n, v)| (*n, v.as_str())))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dsapi");
    // The command may stop reading early (a body over its cap): a closed pipe is its answer.
    if let Err(error) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().expect("dsapi exited by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// An MTLS server that echoes what it received, a token endpoint and a Bearer resource server,
/// and a directory holding the CA and the client certificate (a password-protected PFX).
struct Setup {
    mtls: TestServer,
    tokens: TokenServer,
    resource: TestServer,
    dir: TempDir,
    ca_path: String,
    client_thumbprint: String,
}

fn echo(seen: &Seen) -> Reply {
    let who = seen.client_cert.as_ref().map(|c| subject_cn(c));
    let status = if seen.target.contains("missing") {
        404
    } else {
        200
    };
    let mut reply = Reply::text(
        status,
        &format!(
            "{} {} cn={} trace={} type={} body={}",
            seen.method,
            seen.target,
            who.unwrap_or_default(),
            seen.header("x-trace").unwrap_or("-"),
            seen.header("content-type").unwrap_or("-"),
            String::from_utf8_lossy(&seen.body)
        ),
    );
    reply.headers.push(("X-Served-By".into(), "echo".into()));
    reply
}

fn setup() -> Setup {
    let ca = TestCa::new("CLI CA");
    let mtls = TestServer::start(
        ca.server(),
        ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
        Arc::new(echo),
    );
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    let tokens = TokenServer::start(&ca, issuer.clone());
    let resource = TestServer::start(
        ca.server(),
        ClientAuth::None,
        bearer_resource_handler(issuer),
    );
    let dir = TempDir::new("cli");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let client = ca.client("cli-client", Validity::CURRENT);
    dir.write("client.pem", client.bundle_pem());
    Setup {
        mtls,
        tokens,
        resource,
        dir,
        ca_path,
        client_thumbprint: client.sha1_thumbprint(),
    }
}

impl Setup {
    /// `appsettings.json` in the directory: the client secret (the token path's first choice), the
    /// PEM client certificate (MTLS takes the first certificate), the password-protected fixture
    /// PFX and a missing file; an MTLS API "Orders" and a Bearer API "Graph".
    fn write_config(&self, extra_credentials: &str) -> String {
        let config = format!(
            r#"{{"AzureAd": {{"Instance": {instance}, "TenantId": "tenant", "ClientId": "{CLIENT_ID}",
                  "ClientCredentials": [
                    {{"SourceType": "ClientSecret", "ClientSecret": "{SECRET}"}},
                    {{"SourceType": "Path", "CertificateDiskPath": "client.pem"}},
                    {{"SourceType": "Path", "CertificateDiskPath": {pfx},
                      "CertificatePassword": "{FIXTURE_PASSWORD}"}},
                    {{"SourceType": "Path", "CertificateDiskPath": "missing.pfx"}}{extra_credentials}]}},
                "DownstreamApis": {{
                  "Orders": {{"BaseUrl": "{mtls}/api", "RelativePath": "orders",
                              "ProtocolScheme": "MTLS"}},
                  "Graph": {{"BaseUrl": "{resource}", "RelativePath": "me", "Scopes": ["{SCOPE}"],
                             "RequestAppToken": true}}}},
                "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 10}}}}"#,
            instance = json_str(&self.tokens.instance()),
            pfx = json_str(&fixture("rsa-client.aes.pfx")),
            mtls = self.mtls.url(),
            resource = self.resource.url(),
            ca = json_str(&self.ca_path),
        );
        self.dir.write("appsettings.json", config)
    }

    fn dsapi(&self, args: &[&str]) -> Run {
        dsapi_in(self.dir.path(), args, b"")
    }

    fn tokens_issued(&self) -> Vec<String> {
        self.tokens
            .issuer
            .issued()
            .into_iter()
            .map(|t| t.token)
            .collect()
    }
}

/// Nothing the process printed holds a secret, the PFX password or an issued token.
fn assert_no_secret(setup: &Setup, run: &Run) {
    let printed = format!("{}\n{}", run.stdout, run.stderr);
    assert!(!printed.contains(SECRET), "the client secret was printed");
    assert!(
        !printed.contains(FIXTURE_PASSWORD),
        "the certificate password was printed"
    );
    for token in setup.tokens_issued() {
        assert!(!printed.contains(&token), "an access token was printed");
    }
}

#[test]
fn call_mtls_prints_the_body_like_curl() {
    let s = setup();
    s.write_config("");
    // Relative certificate paths are read from the working directory, and -c defaults to
    // ./appsettings.json.
    let run = s.dsapi(&["call", "Orders"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "GET /api/orders cn=cli-client trace=- type=- body="
    );

    let run = s.dsapi(&[
        "call",
        "Orders",
        "-X",
        "put",
        "--path",
        "orders/42",
        "-H",
        "X-Trace: t-1",
        "-H",
        "Content-Type: text/plain",
        "-q",
        "q=a b",
        "-d",
        "hello",
        "-i",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (head, body) = run
        .stdout
        .split_once("\r\n\r\n")
        .expect("headers, then body");
    assert!(head.starts_with("HTTP/1.1 200\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("x-served-by: echo"),
        "{head}"
    );
    assert_eq!(
        body,
        "PUT /api/orders/42?q=a%20b cn=cli-client trace=t-1 type=text/plain body=hello"
    );
}

#[test]
fn call_bodies_from_a_file_stdin_and_json() {
    let s = setup();
    s.write_config("");
    s.dir.write("body.bin", "from a file");
    let run = s.dsapi(&["call", "Orders", "-X", "POST", "-d", "@body.bin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.ends_with("body=from a file"), "{}", run.stdout);

    let run = dsapi_in(
        s.dir.path(),
        &["call", "Orders", "-X", "POST", "-d", "-"],
        b"from stdin",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.ends_with("body=from stdin"), "{}", run.stdout);

    let run = s.dsapi(&["call", "Orders", "-X", "POST", "--json", r#"{"id":42}"#]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .ends_with(r#"type=application/json body={"id":42}"#),
        "{}",
        run.stdout
    );

    let run = s.dsapi(&["call", "Orders", "-d", "@no-such-file"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-file"), "{}", run.stderr);
    let run = s.dsapi(&["call", "Orders", "-d", "a", "--json", "{}"]);
    assert_eq!(run.code, 2, "-d and --json together: {}", run.stderr);
}

#[test]
fn fail_turns_http_errors_into_exit_22_without_the_body() {
    let s = setup();
    s.write_config("");
    let run = s.dsapi(&["call", "Orders", "--path", "missing"]);
    assert_eq!(run.code, 0, "without --fail any status is a response");
    assert!(run.stdout.starts_with("GET /api/missing"), "{}", run.stdout);

    let run = s.dsapi(&["call", "Orders", "--path", "missing", "--fail"]);
    assert_eq!(run.code, 22, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("HTTP 404"), "{}", run.stderr);

    let run = s.dsapi(&["call", "Orders", "--fail"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn bearer_call_header_and_token_never_show_secrets_unless_asked() {
    let s = setup();
    s.write_config("");
    let run = s.dsapi(&["call", "Graph", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout, SCOPE,
        "the resource answers with the token's scope"
    );
    // -v names the credential, the protocol and the status.
    assert!(
        run.stderr
            .contains("selected a client secret from ClientCredentials[0]"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("with Bearer: GET"), "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 200"), "{}", run.stderr);
    assert_eq!(s.tokens_issued().len(), 1);
    assert_no_secret(&s, &run);
    s.tokens.issuer.assert_no_failures();

    let run = s.dsapi(&["header", "Graph", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let issued = s.tokens_issued();
    assert_eq!(run.stdout, format!("Bearer {}\n", issued.last().unwrap()));
    assert!(!run.stderr.contains(issued.last().unwrap()));

    let run = s.dsapi(&["token", "--scope", SCOPE, "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("expires_on: 20"), "{}", run.stdout);
    assert!(run.stdout.contains("(in 3"), "{}", run.stdout);
    assert_no_secret(&s, &run);

    let run = s.dsapi(&["token", "--scope", SCOPE, "--show"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let token = s.tokens_issued().last().unwrap().clone();
    assert!(
        run.stdout.contains(&format!("access_token: {token}\n")),
        "{}",
        run.stdout
    );

    // A header for an MTLS API is a configuration mistake, not a network failure.
    let run = s.dsapi(&["header", "Orders"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
}

#[test]
fn verbose_mtls_call_names_the_certificate() {
    let s = setup();
    s.write_config("");
    let run = s.dsapi(&["-v", "call", "Orders"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "selected certificate {} (O=Contoso, CN=cli-client",
            s.client_thumbprint
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(", expires 20"), "{}", run.stderr);
    assert!(run.stderr.contains("with MTLS: GET"), "{}", run.stderr);
    assert_no_secret(&s, &run);
}

#[test]
fn credentials_lists_every_entry_with_its_facts_or_reason() {
    let s = setup();
    s.write_config(r#", {"SourceType": "Path", "CertificateDiskPath": "x.pem", "Skip": true}"#);
    let run = s.dsapi(&["credentials", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_no_secret(&s, &run);
    let entries: Vec<Value> = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0]["kind"], "clientSecret");
    assert_eq!(entries[0]["loaded"], true);
    assert_eq!(entries[0]["location"], Value::Null);
    let pem = &entries[1];
    assert_eq!(pem["loaded"], true);
    assert_eq!(pem["kind"], "certificate");
    assert_eq!(pem["location"], "client.pem");
    assert_eq!(pem["thumbprint"], s.client_thumbprint.as_str());
    assert_eq!(pem["thumbprintSha256"].as_str().unwrap().len(), 64);
    assert_eq!(pem["subject"], "O=Contoso, CN=cli-client");
    assert_eq!(pem["issuer"], "CN=CLI CA");
    assert!(pem["daysLeft"].as_i64().unwrap() >= 29, "{pem}");
    assert!(pem["notAfter"].as_str().unwrap().ends_with('Z'));
    // Nothing was called yet: nothing is selected.
    assert_eq!(pem["selectedFor"], serde_json::json!([]));
    assert_eq!(
        entries[2]["loaded"], true,
        "the PFX opens with its password"
    );
    assert_eq!(entries[2]["kind"], "certificate");
    assert_eq!(entries[3]["loaded"], false);
    assert!(
        entries[3]["error"]
            .as_str()
            .unwrap()
            .contains("missing.pfx"),
        "{}",
        entries[3]
    );
    assert_eq!(entries[4]["skipped"], true);
    assert_eq!(entries[4]["loaded"], false);

    let run = s.dsapi(&["credentials"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_no_secret(&s, &run);
    assert!(
        run.stdout
            .starts_with("[0] ClientSecret: client secret\n[1] Path client.pem: certificate\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&s.client_thumbprint), "{}", run.stdout);
    assert!(
        run.stdout.contains("issuer      CN=CLI CA"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("days left)"), "{}", run.stdout);
    assert!(run.stdout.contains("[3] Path missing.pfx: not loaded: "));
    assert!(run.stdout.contains("[4] Path x.pem: skipped\n"));
}

/// A Key Vault entry shows its vault and certificate, the version loaded and its expiry; the
/// vault is a fake reached under its real name through `Http.Resolve`, read with the
/// environment's client secret.
#[test]
fn credentials_shows_a_key_vault_certificate_with_its_version() {
    let ca = TestCa::new("CLI vault CA");
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    let tokens = TokenServer::start(&ca, issuer.clone());
    let vault = FakeKeyVault::start(&ca, "tenant", FakeKeyVault::tokens_of(issuer, "tenant"));
    let client = ca.client("vault-cli", Validity::CURRENT);
    vault.add_version("orders-client", StoredVersion::pkcs12("0a1b2c", &client));
    let dir = TempDir::new("cli-vault");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    dir.write(
        "appsettings.json",
        format!(
            r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "KeyVault",
                  "KeyVaultUrl": {url}, "KeyVaultCertificateName": "orders-client"}}]}},
                "Http": {{"CaBundlePath": {ca}, "Resolve": [{pin}]}}}}"#,
            url = json_str(&vault.url()),
            ca = json_str(&ca_path),
            pin = json_str(&vault.resolve_entry()),
        ),
    );
    let environment = [
        ("AZURE_TENANT_ID", "tenant".to_string()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_string()),
        ("AZURE_CLIENT_SECRET", SECRET.to_string()),
        ("AZURE_AUTHORITY_HOST", tokens.instance()),
    ];
    let run = dsapi_with_env(dir.path(), &["credentials"], b"", &environment);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let head = format!(
        "[0] KeyVault {}/certificates/orders-client: certificate\n    version     0a1b2c\n",
        vault.url()
    );
    assert!(run.stdout.starts_with(&head), "{}", run.stdout);
    assert!(
        run.stdout.contains("subject     O=Contoso, CN=vault-cli"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("days left)"), "{}", run.stdout);
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    let run = dsapi_with_env(dir.path(), &["credentials", "--json"], b"", &environment);
    let entries: Vec<Value> = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(entries[0]["version"], "0a1b2c");
    assert_eq!(entries[0]["sourceType"], "KeyVault");
    assert!(entries[0]["notAfter"].as_str().unwrap().ends_with('Z'));
    vault.assert_no_failures();
}

#[test]
fn check_passes_only_when_every_api_has_what_it_needs() {
    let s = setup();
    s.write_config("");
    let run = s.dsapi(&["check"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("credentials: 3 of 4 loaded\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ClientCredentials[3]: "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Orders  MTLS"), "{}", run.stdout);
    assert!(run.stdout.lines().filter(|l| l.ends_with("  ok")).count() == 2);
    assert_eq!(
        s.tokens.issuer.token_request_count(),
        0,
        "check sends no request"
    );
    assert_eq!(s.mtls.requests(), 0, "check sends no request");

    // Only the secret: the MTLS API has no certificate.
    let config = format!(
        r#"{{"AzureAd": {{"Instance": "https://127.0.0.1:1/", "TenantId": "t", "ClientId": "c",
              "ClientCredentials": [{{"SourceType": "ClientSecret", "ClientSecret": "{SECRET}"}}]}},
            "DownstreamApis": {{"Orders": {{"BaseUrl": "https://127.0.0.1:1/", "ProtocolScheme": "MTLS"}},
                                "Graph": {{"BaseUrl": "https://127.0.0.1:1/", "Scopes": "{SCOPE}"}}}}}}"#
    );
    let path = s.dir.write("secret-only.json", config);
    let run = s.dsapi(&["check", "-c", &path]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("MTLS     https://127.0.0.1:1/  FAILED: no usable client certificate"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Graph   Bearer   https://127.0.0.1:1/  ok"),
        "{}",
        run.stdout
    );
    assert_no_secret(&s, &run);
}

#[test]
fn configuration_and_network_failures_have_their_exit_codes() {
    let s = setup();
    // No ./appsettings.json.
    let run = s.dsapi(&["check"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("appsettings.json"), "{}", run.stderr);

    s.dir.write("bad.json", "{\"AzureAd\": ");
    let run = s.dsapi(&["check", "-c", "bad.json"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("bad.json"), "{}", run.stderr);

    s.write_config("");
    let run = s.dsapi(&["call", "Nope"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("no API named 'Nope'"), "{}", run.stderr);

    let closed = format!(
        r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": "client.pem"}}]}},
            "DownstreamApis": {{"Orders": {{"BaseUrl": "https://127.0.0.1:{}/", "ProtocolScheme": "MTLS"}}}},
            "Http": {{"CaBundlePath": {}}}}}"#,
        free_port(),
        json_str(&s.ca_path)
    );
    s.dir.write("closed.json", closed);
    let run = s.dsapi(&["call", "-c", "closed.json", "Orders", "--fail"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("dsapi: "), "{}", run.stderr);
}

#[test]
fn bad_arguments_print_usage_and_exit_2() {
    let s = setup();
    s.write_config("");
    for args in [
        &["frobnicate"][..],
        &["call"],
        &["call", "Orders", "-H", "no-colon-header-value"],
        &["call", "Orders", "-q", "novalue"],
        &["token"],
        &["credentials", "--yaml"],
    ] {
        let run = s.dsapi(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("Usage: dsapi"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // Arguments are checked before the configuration is read.
    let empty = TempDir::new("cli-empty");
    let run = dsapi_in(empty.path(), &["call", "Orders", "-H", "bad"], b"");
    assert_eq!(run.code, 2, "{}", run.stderr);
    // A malformed header is not repeated: its value may be a key.
    let run = s.dsapi(&["call", "Orders", "-H", "Key-without-colon-value"]);
    assert!(
        !run.stderr.contains("Key-without-colon-value"),
        "{}",
        run.stderr
    );

    for command in ["call", "header", "token", "credentials", "check"] {
        let run = s.dsapi(&[command, "--help"]);
        assert_eq!(run.code, 0, "{command} --help");
        assert!(run.stdout.contains("Usage: dsapi"), "{}", run.stdout);
        assert!(run.stdout.contains("Exit codes:"), "{}", run.stdout);
    }
    let run = s.dsapi(&["--version"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("dsapi 0."), "{}", run.stdout);
}

/// `-H` and `-X` values the library would refuse: (option, value, what the message says). The
/// header values hold [`ECHO_SECRET`], which no message may repeat.
const MALFORMED_OPTIONS: &[(&str, &str, &str)] = &[
    (
        "-H",
        "X-Key: sk-live-0123456789abcdef\r\nInjected: 1",
        "control character (\\r",
    ),
    (
        "-H",
        "X-Key: sk-live-0123456789abcdef\nInjected: 1",
        "control character (\\n",
    ),
    (
        "--header",
        "X-Key: sk-live-0123456789abcdef\x7fInjected",
        "control character",
    ),
    (
        "-H",
        "Content-Type: a\r\nX: sk-live-0123456789abcdef",
        "control character",
    ),
    ("-H", "X Key: sk-live-0123456789abcdef", "' ' (character 2)"),
    ("-H", "Content-Length: 5", "Content-Length"),
    ("-H", "transfer-encoding: chunked", "from the body"),
    ("-X", "GE T", "'GE T' is not an HTTP method"),
    ("-X", "GET\r\nX: y", "'GET\\r\\nX: y'"),
    ("--request", "", "empty"),
    ("-X", "CONNECT", "CONNECT"),
    ("-X", "connect", "CONNECT"),
];
const ECHO_SECRET: &str = "sk-live-0123456789abcdef";

/// D17: such values are the command's bad arguments (exit 2, with usage), named by their option,
/// checked before the configuration is read; a header value is never repeated (it may be a key)
/// and a method is shown short and escaped.
#[test]
fn malformed_header_and_method_values_exit_2_naming_the_option() {
    let s = setup();
    s.write_config("");
    let empty = TempDir::new("cli-d17");
    let long_method = format!("GET {}", "A".repeat(10_000));
    let long = ("-X", long_method.as_str(), "…' (10004 bytes)");
    for &(option, value, why) in MALFORMED_OPTIONS.iter().chain([&long]) {
        let args = ["call", "Orders", option, value];
        let named = if option.starts_with("-H") || option == "--header" {
            "-H/--header"
        } else {
            "-X/--request"
        };
        for run in [s.dsapi(&args), dsapi_in(empty.path(), &args, b"")] {
            let stderr = &run.stderr;
            assert_eq!(run.code, 2, "{args:?}: {stderr}");
            assert!(stderr.contains(named), "{args:?}: {stderr}");
            assert!(stderr.contains(why), "{args:?}: {stderr}");
            assert!(stderr.contains("Usage: dsapi"), "{stderr}");
            assert!(!stderr.contains("overrides"), "{stderr}");
            assert!(
                !stderr.contains(ECHO_SECRET),
                "a value was echoed: {stderr}"
            );
            assert!(!stderr.contains("Injected"), "{stderr}");
            assert!(stderr.len() < 1_000, "{} bytes of message", stderr.len());
        }
    }
    assert_eq!(s.mtls.requests(), 0, "nothing was sent");
    // Extension methods and tabs in values stay allowed, as the library allows them.
    let run = s.dsapi(&["call", "Orders", "-X", "propfind", "-H", "X-Trace: a\tb"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("PROPFIND /api/orders"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("trace=a\tb"), "{}", run.stdout);
}

/// `dsapi` with standard input read from `stdin_path`, killed (and the test failed) when it has
/// not finished after 30 s: an unbounded read of /dev/zero must fail the test, not hang it.
fn dsapi_bounded(dir: &Path, args: &[&str], stdin_path: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsapi"))
        .args(args)
        .current_dir(dir)
        .stdin(std::fs::File::open(stdin_path).expect("open the standard input"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dsapi");
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait for dsapi").is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().ok();
            child.wait().ok();
            panic!("{args:?} still reading after 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().expect("dsapi exited by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A body from a file or standard input is read no further than its cap (64 MiB by default):
/// /dev/zero is refused with exit 2 naming the option and the cap, not read until memory ends.
#[test]
fn endless_request_bodies_are_refused_at_the_default_cap() {
    let s = setup();
    s.write_config("");
    for args in [
        &["call", "Orders", "-X", "POST", "-d", "@/dev/zero"][..],
        &["call", "Orders", "-X", "POST", "--json", "@/dev/zero"],
        &["call", "Orders", "-X", "POST", "-d", "@-"],
    ] {
        let run = dsapi_bounded(s.dir.path(), args, "/dev/zero");
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let option = if args.contains(&"--json") {
            "--json"
        } else {
            "-d/--data"
        };
        assert!(run.stderr.contains(option), "{}", run.stderr);
        assert!(run.stderr.contains("67108864 bytes"), "{}", run.stderr);
        assert!(run.stderr.contains("--max-body-bytes"), "{}", run.stderr);
    }
    assert_eq!(s.mtls.requests(), 0, "nothing was sent");
}

/// `--max-body-bytes` sets the cap: a file of exactly the cap is sent, one byte more is refused,
/// as is standard input (a pipe) over it and text over it.
#[test]
fn max_body_bytes_caps_files_standard_input_and_text() {
    let s = setup();
    s.write_config("");
    s.dir.write("at-cap.bin", "0123456789abcdef");
    s.dir.write("over-cap.bin", "0123456789abcdefX");
    fn capped(data: &str) -> [&str; 8] {
        let cap = ["--max-body-bytes", "16"];
        ["call", "Orders", "-X", "POST", cap[0], cap[1], "-d", data]
    }
    let run = s.dsapi(&capped("@at-cap.bin"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.ends_with("body=0123456789abcdef"),
        "{}",
        run.stdout
    );

    let run = s.dsapi(&capped("@over-cap.bin"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "-d/--data: the body from the file 'over-cap.bin' is larger than 16 bytes, \
             the cap --max-body-bytes sets"
        ),
        "{}",
        run.stderr
    );
    let run = dsapi_in(s.dir.path(), &capped("-"), &[b'x'; 100_000]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("from standard input"), "{}", run.stderr);
    let run = s.dsapi(&capped("0123456789abcdefX"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("larger than 16 bytes"),
        "{}",
        run.stderr
    );
    assert_eq!(
        s.mtls.requests(),
        1,
        "only the body within the cap was sent"
    );

    let run = s.dsapi(&["call", "Orders", "--max-body-bytes", "lots"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = s.dsapi(&["call", "--help"]);
    assert!(
        run.stdout.contains("--max-body-bytes <BYTES>"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("[default: 67108864]"), "{}", run.stdout);
}

// -- on behalf of a user, and as an agent -----------------------------------------------------

const AGENT: &str = "00000000-0000-0000-0000-00000000a9e7";
const AGENT_USER_UPN: &str = "agent.user@cli.example";
const AGENT_USER_OID: &str = "agent-user-oid";
const USERS_SCOPE: &str = "api://cli-users/.default";

/// A token endpoint knowing two users, one whose policy wants MFA, and an agent with a user; a
/// Bearer API "Users" answering whom its token is for; the users' tokens in files.
struct UsersSetup {
    tokens: TokenServer,
    _resource: TestServer,
    dir: TempDir,
    alice: String,
    bob: String,
    mfa: String,
}

fn users_setup() -> UsersSetup {
    let ca = TestCa::new("CLI users CA");
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    let mint = |name: &str| {
        let user = UserToken::new(
            &format!("{name}-oid"),
            &format!("{name}@cli.example"),
            "tenant",
        );
        issuer.mint_user_token(&user)
    };
    let (alice, bob, mfa) = (mint("alice"), mint("bob"), mint("mfa"));
    issuer.set_mfa_policy(MfaPolicy::Users(vec!["mfa-oid".to_string()]));
    issuer.add_agent_user(AGENT, AGENT_USER_OID, AGENT_USER_UPN);
    let tokens = TokenServer::start(&ca, issuer.clone());
    let resource = TestServer::start(
        ca.server(),
        ClientAuth::None,
        identity_resource_handler(issuer),
    );
    let dir = TempDir::new("cli-users");
    let config = format!(
        r#"{{"AzureAd": {{"Instance": {instance}, "TenantId": "tenant", "ClientId": "{CLIENT_ID}",
              "ClientCredentials": [{{"SourceType": "ClientSecret", "ClientSecret": "{SECRET}"}}]}},
            "DownstreamApis": {{"Users": {{"BaseUrl": "{resource}", "RelativePath": "me",
                                           "Scopes": ["{USERS_SCOPE}"]}}}},
            "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 10}}}}"#,
        instance = json_str(&tokens.instance()),
        resource = resource.url(),
        ca = json_str(&dir.write("ca.pem", &ca.cert_pem)),
    );
    dir.write("appsettings.json", config);
    for (name, token) in [("alice", &alice), ("bob", &bob), ("mfa", &mfa)] {
        dir.write(&format!("{name}.token"), format!("{token}\n"));
    }
    UsersSetup {
        tokens,
        _resource: resource,
        dir,
        alice,
        bob,
        mfa,
    }
}

impl UsersSetup {
    fn dsapi(&self, args: &[&str], stdin: &[u8]) -> Run {
        dsapi_in(self.dir.path(), args, stdin)
    }

    /// No user token and no issued token was printed.
    fn assert_no_token(&self, run: &Run) {
        let printed = format!("{}\n{}", run.stdout, run.stderr);
        for token in [&self.alice, &self.bob, &self.mfa] {
            assert!(
                !printed.contains(token.as_str()),
                "a user's token was printed"
            );
        }
        for issued in self.tokens.issuer.issued() {
            assert!(
                !printed.contains(&issued.token),
                "an access token was printed"
            );
        }
        assert!(!printed.contains(SECRET), "the client secret was printed");
    }
}

#[test]
fn call_for_a_user_from_a_file_standard_input_or_the_command_line() {
    let s = users_setup();
    let run = s.dsapi(
        &["call", "Users", "--user-token", "@alice.token", "-v"],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("user alice-oid {USERS_SCOPE}"));
    s.assert_no_token(&run);
    let run = s.dsapi(
        &["call", "Users", "--user-token", "-"],
        format!("{}\n", s.bob).as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("user bob-oid {USERS_SCOPE}"));
    let run = s.dsapi(&["call", "Users", "--user-token", &s.alice], b"");
    assert_eq!(run.stdout, format!("user alice-oid {USERS_SCOPE}"));
    // With a body from a file, and the app's own call without a user token.
    let run = s.dsapi(
        &[
            "call",
            "Users",
            "--user-token",
            "@-",
            "-X",
            "POST",
            "-d",
            "x",
        ],
        s.bob.as_bytes(),
    );
    assert_eq!(run.stdout, format!("user bob-oid {USERS_SCOPE}"));
    let run = s.dsapi(&["call", "Users"], b"");
    assert_eq!(run.stdout, format!("app {CLIENT_ID} {USERS_SCOPE}"));
    s.tokens.issuer.assert_no_failures();
}

#[test]
fn call_as_an_agent_and_as_its_user_by_upn_and_by_object_id() {
    let s = users_setup();
    let run = s.dsapi(&["call", "Users", "--agent", AGENT, "-v"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("agent {AGENT} {USERS_SCOPE}"));
    s.assert_no_token(&run);
    let agent_user = format!("agent-user {AGENT} {AGENT_USER_OID} {AGENT_USER_UPN} {USERS_SCOPE}");
    for user in [AGENT_USER_UPN, AGENT_USER_OID] {
        let run = s.dsapi(
            &["call", "Users", "--agent", AGENT, "--agent-user", user],
            b"",
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout, agent_user, "--agent-user {user}");
    }
    s.tokens.issuer.assert_no_failures();
}

/// The header's token is whom the options name: the fake endpoint issues JWTs naming the user
/// (`oid`) or the agent (`azp`).
#[test]
fn header_for_a_user_and_for_an_agent() {
    let s = users_setup();
    let claims = |run: &Run| -> serde_json::Value {
        assert_eq!(run.code, 0, "{}", run.stderr);
        let token = run.stdout.trim().strip_prefix("Bearer ").expect("Bearer");
        let payload = token.split('.').nth(1).expect("a JWT");
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON claims")
    };
    let user = claims(&s.dsapi(&["header", "Users", "--user-token", "@alice.token"], b""));
    assert_eq!(user["oid"], "alice-oid");
    let agent = claims(&s.dsapi(&["header", "Users", "--agent", AGENT], b""));
    assert_eq!(agent["azp"], AGENT);
    let agent_user = claims(&s.dsapi(
        &[
            "header",
            "Users",
            "--agent",
            AGENT,
            "--agent-user",
            AGENT_USER_UPN,
        ],
        b"",
    ));
    assert_eq!(agent_user["oid"], AGENT_USER_OID);
    let run = s.dsapi(&["header", "Users", "--user-token", "@mfa.token"], b"");
    assert_eq!(run.code, 5, "{}", run.stderr);
    let run = s.dsapi(&["header", "Users", "--user-token", ""], b"");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("dsapi header"), "{}", run.stderr);
    s.tokens.issuer.assert_no_failures();
}

#[test]
fn a_user_who_must_act_exits_5_with_the_claims_challenge() {
    let s = users_setup();
    let run = s.dsapi(&["call", "Users", "--user-token", "@mfa.token"], b"");
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("dsapi: the user must act (DSAPI_USER_INTERACTION_REQUIRED): "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("AADSTS50076"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("dsapi: claims challenge: {MFA_CLAIMS_JSON}\n")),
        "{}",
        run.stderr
    );
    s.assert_no_token(&run);
    let help = s.dsapi(&["call", "--help"], b"");
    assert!(
        help.stdout.contains("  5   call --user-token"),
        "{}",
        help.stdout
    );
}

#[test]
fn bad_user_and_agent_arguments_exit_2_naming_the_option_before_the_configuration() {
    let s = users_setup();
    let secret_looking = "eyJ0eXAi.secret part";
    let cases: &[(&[&str], &[u8], &str)] = &[
        (&["--agent-user", AGENT_USER_UPN], b"", "--agent <ID>"),
        (
            &["--user-token", ""],
            b"",
            "--user-token: the token is empty",
        ),
        (
            &["--user-token", "-"],
            b"\n\n",
            "--user-token: the token is empty",
        ),
        (
            &["--user-token", "@missing.token"],
            b"",
            "--user-token: cannot read the file 'missing.token'",
        ),
        (
            &["--user-token", secret_looking],
            b"",
            "--user-token: the token holds a control character or white space (character 16)",
        ),
        (
            &["--user-token", "-", "-d", "@-"],
            b"",
            "--user-token: standard input is already the body",
        ),
        (
            &["--user-token", "-"],
            &[b'x'; 70_000],
            "--user-token: the token from standard input is larger than 65536 bytes",
        ),
        (
            &["--user-token", "@bad.token"],
            b"",
            "--user-token: the token is not UTF-8 text",
        ),
        (
            &["--agent", " "],
            b"",
            "--agent: the agent's app id is empty",
        ),
        (
            &["--agent", AGENT, "--agent-user", ""],
            b"",
            "--agent-user: the agent's user",
        ),
        // An agent on behalf of a user's token (Id.Web's interactive agent) is not supported.
        (
            &["--agent", AGENT, "--user-token", "@alice.token"],
            b"",
            "cannot be used with",
        ),
    ];
    s.dir.write("bad.token", [0xff, 0xfe, b'a']);
    for (arguments, stdin, expected) in cases {
        let mut args = vec!["-c", "missing.json", "call", "Users"];
        args.extend_from_slice(arguments);
        let run = s.dsapi(&args, stdin);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("secret part"), "{}", run.stderr);
        assert!(!run.stderr.contains("missing.json"), "{}", run.stderr);
    }
    assert_eq!(s.tokens.issuer.token_request_count(), 0, "nothing was sent");
}
