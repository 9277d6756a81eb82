//! The C ABI from C: compiles the C program in tests/c (ffi_test.c, common.c and one file per
//! area, linked into one executable) against `include/downstream_api.h` and the shared library
//! (`libdownstream_api.so`, `.dylib`, or `downstream_api.dll`) that `cargo test` builds (the crate
//! is a cdylib), runs it under AddressSanitizer + UndefinedBehaviorSanitizer with leak detection
//! (and, in a second test, under valgrind), against in-process mTLS servers on 127.0.0.1, then
//! checks what the servers saw.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use test_support::credentials::{certificate_file, certificate_file_with_password, client_secret};
use test_support::identity_endpoint::{IdentityEndpoint, Platform};
use test_support::pki::{Issued, TestCa, Validity};
use test_support::server::{ClientAuth, Handler, Reply, Seen, TestServer, subject_cn};
use test_support::token_server::{
    TokenIssuer, TokenServer, bearer_resource_handler, bound_resource_handler,
};
use test_support::{FIXTURE_PASSWORD, TempDir, fixture, free_port, json_str};

/// The shared library's file name on this platform.
fn library_file() -> String {
    format!(
        "{}downstream_api{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}
const CLIENT_CN: &str = "c-abi-client";
/// CN of the certificate in tests/fixtures/rsa-client.aes.pfx (see tests/fixtures/generate.sh).
const PFX_CN: &str = "rsa-fixture-client";
/// Written into pfx-wrong-password.json; must never show up in a message or log line.
const WRONG_PASSWORD: &str = "Wr0ng-Pa55word-c-abi";
const APP_CLIENT_ID: &str = "c-abi-app";
const TENANT: &str = "c-abi-tenant";
/// The registered client secret, and a wrong one; neither may show up in a message or log line.
const CLIENT_SECRET: &str = "c-abi-S3cret~value";
const WRONG_SECRET: &str = "c-abi-Wr0ng~secret";
/// Scope of the "Resource" Bearer API; the C program's threads use `THREADS_SCOPE`.
const RESOURCE_SCOPE: &str = "api://resource/.default";
const THREADS_SCOPE: &str = "api://threads/.default";

/// Echoes what the server saw as text lines, then the raw request body, so the C program can check
/// the request. `/api/status/NNN` answers with status NNN (204 without a body), `/api/slow`
/// answers after 3 s. Response headers include a repeated header around another one (`X-Dup`,
/// `X-Other`, `X-Dup`).
fn echo_everything() -> Handler {
    Arc::new(|seen: &Seen| {
        if seen.target == "/api/slow" {
            std::thread::sleep(Duration::from_secs(3));
        }
        let header = |name: &str| seen.header(name).unwrap_or("<absent>").to_string();
        let cn = seen
            .client_cert
            .as_ref()
            .map(|cert| subject_cn(cert))
            .unwrap_or_else(|| "<none>".to_string());
        let mut body = format!(
            "method={}\ntarget={}\ncn={cn}\nauthorization={}\naccept={}\ncontent-type={}\n\
             x-custom={}\nx-thread={}\nbody-length={}\nbody:\n",
            seen.method,
            seen.target,
            header("authorization"),
            header("accept"),
            header("content-type"),
            header("x-custom"),
            header("x-thread"),
            seen.body.len(),
        )
        .into_bytes();
        body.extend_from_slice(&seen.body);
        let status = seen
            .target
            .strip_prefix("/api/status/")
            .and_then(|code| code.parse().ok())
            .unwrap_or(200);
        if status == 204 {
            body.clear();
        }
        let pair = |name: &str, value: &str| (name.to_string(), value.to_string());
        Reply {
            status,
            headers: vec![
                pair("Content-Type", "text/plain"),
                pair("X-Echo-Method", &seen.method),
                pair("X-Dup", "first"),
                pair("X-Other", "middle"),
                pair("X-Dup", "second"),
            ],
            body,
        }
    })
}

/// The directory holding the shared library: the profile directory of this test executable
/// (`target/<profile>/deps/c_abi-…` → `target/<profile>`), else `$CARGO_TARGET_DIR/<profile>` or
/// `<manifest>/target/<profile>`.
fn library_dir() -> PathBuf {
    let library = library_file();
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf);
    let profile = profile_dir
        .as_deref()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "debug".to_string());
    let mut candidates: Vec<PathBuf> = profile_dir.into_iter().collect();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join(&profile));
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(&profile),
    );
    let dir = candidates
        .iter()
        .find(|dir| dir.join(&library).is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{library} not found in any of {candidates:?}. `cargo test` builds it because the \
                 crate's [lib] has crate-type \"cdylib\"; if that changed, run `cargo build --lib` \
                 first"
            )
        });
    // The .so, .a and .rlib come out of one rustc invocation; a .so much older than the rlib means
    // cargo no longer builds the cdylib for tests and the one found is stale.
    let modified = |name: &str| {
        std::fs::metadata(dir.join(name))
            .and_then(|m| m.modified())
            .ok()
    };
    if let (Some(so), Some(rlib)) = (modified(&library), modified("libdownstream_api.rlib")) {
        let lag = rlib.duration_since(so).unwrap_or(Duration::ZERO);
        assert!(
            lag < Duration::from_secs(120),
            "{} is {lag:?} older than libdownstream_api.rlib: it looks stale (is the cdylib still \
             built by `cargo test`?). Run `cargo build --lib` and retry",
            dir.join(&library).display()
        );
    }
    dir
}

/// The ELF library carries a soname (`libdownstream_api.so.0.1`, see build.rs), which is what a
/// program linked against it asks the loader for: cargo writes only `libdownstream_api.so`, so
/// the soname link an install would make is made beside it.
fn link_soname(lib_dir: &Path) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let soname = format!(
        "libdownstream_api.so.{}",
        match env!("CARGO_PKG_VERSION_MAJOR") {
            "0" => format!("0.{}", env!("CARGO_PKG_VERSION_MINOR")),
            major => major.to_string(),
        }
    );
    let link = lib_dir.join(&soname);
    if std::fs::read_link(&link).is_err() {
        let _ = std::fs::remove_file(&link);
        #[cfg(unix)]
        std::os::unix::fs::symlink(library_file(), &link)
            .unwrap_or_else(|e| panic!("link {}: {e}", link.display()));
    }
}

/// The C program's sources: every `.c` file in tests/c (ffi_test.c with `main`, common.c with the
/// helpers, one file per area), in name order.
fn c_sources(root: &Path) -> Vec<PathBuf> {
    let dir = root.join("tests/c");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("entry of tests/c").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    sources.sort();
    assert!(
        sources.iter().any(|path| path.ends_with("ffi_test.c")),
        "no ffi_test.c in {sources:?}"
    );
    sources
}

/// Compiles the C program (tests/c/*.c) into `out`, with or without the sanitizers.
fn compile(out: &Path, sanitizers: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib_dir = library_dir();
    link_soname(&lib_dir);
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_string()));
    cc.current_dir(root)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g"]);
    if sanitizers {
        cc.args(["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]);
    } else {
        cc.arg("-O0");
    }
    cc.arg("-I")
        .arg(root.join("include"))
        .args(c_sources(root))
        .arg("-o")
        .arg(out)
        // The library by its path: `-l` would prefer no particular file among .so and .a.
        .arg(lib_dir.join(library_file()))
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-lpthread");
    let output = cc
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler ({cc:?}): {e}"));
    assert!(
        output.status.success(),
        "compiling tests/c/*.c failed ({:?}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The servers, certificates and configuration files one run of the C program needs.
struct Fixture {
    dir: TempDir,
    client: Issued,
    /// Requires the rcgen client certificate; answers with [`echo_everything`].
    server: TestServer,
    /// Requires a certificate from the fixture CA (the RSA PFX); also the server that rejects
    /// the rcgen client certificate and that `untrusted.json` does not trust.
    pfx_server: TestServer,
    /// Fake Entra ID token endpoint and a resource server accepting its tokens (no client auth).
    tokens: TokenServer,
    resource: TestServer,
    /// MTLS_POP: the mTLS token endpoint of an issuer registering the rcgen client certificate,
    /// and a resource accepting its tokens only with that certificate (`pop.json`).
    pop_tokens: TokenServer,
    pop_resource: TestServer,
    /// A fake App Service managed-identity endpoint (selected by the variables the program gets)
    /// and a resource accepting its tokens (`managed-identity.json`).
    identity: Arc<IdentityEndpoint>,
    identity_resource: TestServer,
    /// A 127.0.0.1 port nothing listens on.
    closed_port: u16,
}

/// How to run the C program: under a wrapper (valgrind) or not, with how many threads and calls
/// per thread, which extra environment variables, killed after how long.
struct Run<'a> {
    wrapper: Option<&'a [&'a str]>,
    program: &'a Path,
    threads: usize,
    calls: usize,
    env: &'a [(&'a str, String)],
    time_limit: Duration,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let ca = TestCa::new("C ABI Test CA");
        let client = ca.client(CLIENT_CN, Validity::CURRENT);
        let server = TestServer::start(
            ca.server(),
            ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
            echo_everything(),
        );
        let fixture_ca = CertificateDer::from_pem_file(fixture("ca.pem")).expect("fixture CA");
        let pfx_server = TestServer::start(
            ca.server(),
            ClientAuth::Required(&[fixture_ca]),
            echo_everything(),
        );

        let issuer = TokenIssuer::new(APP_CLIENT_ID);
        issuer.set_client_secret(Some(CLIENT_SECRET));
        let tokens = TokenServer::start(&ca, issuer.clone());
        let resource = TestServer::start(
            ca.server(),
            ClientAuth::None,
            bearer_resource_handler(issuer),
        );
        let pop_issuer = TokenIssuer::new(APP_CLIENT_ID);
        pop_issuer.set_certificate(Some(client.cert_der.as_ref()));
        let pop_tokens = TokenServer::start_mtls(&ca, pop_issuer.clone());
        let pop_resource = TestServer::start(
            ca.server(),
            ClientAuth::Optional(std::slice::from_ref(&ca.cert_der)),
            bound_resource_handler(pop_issuer, "mtls_pop"),
        );
        let identity = Arc::new(IdentityEndpoint::start(Platform::AppService, &ca));
        let identity_resource = TestServer::start(
            ca.server(),
            ClientAuth::None,
            IdentityEndpoint::resource_handler(identity.clone(), "api://vault"),
        );
        let fixture = Fixture {
            dir: TempDir::new(tag),
            client,
            server,
            pfx_server,
            tokens,
            resource,
            pop_tokens,
            pop_resource,
            identity,
            identity_resource,
            closed_port: free_port(),
        };
        let ca_bundle = fixture.dir.write("ca.pem", &ca.cert_pem);
        let cert = fixture.dir.write("client.pem", fixture.client.bundle_pem());
        fixture.write_mtls_files(&ca, &ca_bundle, &cert);
        fixture.write_token_configs(&ca_bundle, &cert);
        fixture
    }

    /// The MTLS configurations ("Orders" on a server, "Plain" on http://) and the files to push.
    fn write_mtls_files(&self, ca: &TestCa, ca_bundle: &str, cert: &str) {
        let dir = &self.dir;
        let missing = dir.path().join("no-such-client.pem");
        let config_with = |credential: String, base_url: &str, http: &str, ca_path: &str| {
            format!(
                r#"{{
  "AzureAd": {{"ClientId": "c-abi-tests", "ClientCredentials": [{credential}]}},
  "DownstreamApis": {{
    "Orders": {{"BaseUrl": {base}, "RelativePath": "orders", "ProtocolScheme": "MTLS"}},
    "Plain": {{"BaseUrl": {plain}, "RelativePath": "insecure", "ProtocolScheme": "MTLS"}}
  }},
  "Http": {{"CaBundlePath": {ca}{http}}}
}}"#,
                base = json_str(&format!("{base_url}/api")),
                plain = json_str(&format!("http://127.0.0.1:{}/api", self.server.port)),
                ca = json_str(ca_path),
            )
        };
        let config =
            |credential: String, base_url: &str| config_with(credential, base_url, "", ca_bundle);
        let pfx = |password: &str| {
            certificate_file_with_password(&fixture("rsa-client.aes.pfx"), password)
        };
        let (server, pfx_server) = (self.server.url(), self.pfx_server.url());
        dir.write("good.json", config(certificate_file(cert), &server));
        dir.write(
            "missing-cert.json",
            config(certificate_file(&missing.to_string_lossy()), &server),
        );
        dir.write("pfx-good.json", config(pfx(FIXTURE_PASSWORD), &pfx_server));
        dir.write(
            "pfx-wrong-password.json",
            config(pfx(WRONG_PASSWORD), &pfx_server),
        );
        dir.write("malformed.json", r#"{"AzureAd": ["#);
        // A certificate to push (the server trusts its CA), and an encrypted PEM to push with a
        // wrong password (dsapi_client_set_credential).
        dir.write(
            "pushed.pem",
            ca.client("pushed-client", Validity::CURRENT).bundle_pem(),
        );
        dir.write(
            "encrypted.pem",
            std::fs::read(fixture("rsa-client.encrypted.pem")).expect("fixture"),
        );
        dir.write(
            "not-utf8.json",
            b"{\"AzureAd\": {\"ClientId\": \"\xff\xfe\"}}",
        );
        // The fixture CA did not issue the servers' certificates.
        dir.write(
            "untrusted.json",
            config_with(certificate_file(cert), &pfx_server, "", &fixture("ca.pem")),
        );
        // The PFX server only accepts certificates of the fixture CA.
        dir.write("rejected.json", config(certificate_file(cert), &pfx_server));
        dir.write(
            "small-limit.json",
            config_with(
                certificate_file(cert),
                &server,
                r#", "MaxResponseBytes": 64"#,
                ca_bundle,
            ),
        );
        dir.write(
            "timeout.json",
            config_with(
                certificate_file(cert),
                &server,
                r#", "TimeoutSeconds": 1"#,
                ca_bundle,
            ),
        );
    }

    /// The configurations whose APIs need tokens: Bearer with the right and a wrong secret,
    /// MTLS_POP, managed identity.
    fn write_token_configs(&self, ca_bundle: &str, cert: &str) {
        let bearer = |secret: &str| {
            format!(
                r#"{{
  "AzureAd": {{"Instance": {instance}, "TenantId": "{TENANT}", "ClientId": "{APP_CLIENT_ID}",
              "ClientCredentials": [{credential}]}},
  "DownstreamApis": {{
    "Resource": {{"BaseUrl": {base}, "RelativePath": "me", "Scopes": ["{RESOURCE_SCOPE}"]}}
  }},
  "Http": {{"CaBundlePath": {ca}}}
}}"#,
                instance = json_str(&self.tokens.instance()),
                credential = client_secret(secret),
                base = json_str(&self.resource.url()),
                ca = json_str(ca_bundle),
            )
        };
        self.dir.write("bearer.json", bearer(CLIENT_SECRET));
        self.dir.write(
            "pop.json",
            format!(
                r#"{{
  "AzureAd": {{"Instance": {instance}, "TenantId": "{TENANT}", "ClientId": "{APP_CLIENT_ID}",
              "ClientCredentials": [{credential}]}},
  "DownstreamApis": {{
    "Pop": {{"BaseUrl": {base}, "RelativePath": "orders", "ProtocolScheme": "MTLS_POP",
             "RequestAppToken": true, "Scopes": ["{RESOURCE_SCOPE}"]}}
  }},
  "Http": {{"CaBundlePath": {ca}}}
}}"#,
                instance = json_str(&self.pop_tokens.instance()),
                credential = certificate_file(cert),
                base = json_str(&self.pop_resource.url()),
                ca = json_str(ca_bundle),
            ),
        );
        self.dir
            .write("bearer-wrong-secret.json", bearer(WRONG_SECRET));
        self.dir.write(
            "managed-identity.json",
            format!(
                r#"{{
  "DownstreamApis": {{
    "Vault": {{"BaseUrl": {base}, "Scopes": ["api://vault/.default"], "RequestAppToken": true,
               "AcquireTokenOptions": {{"ManagedIdentity": {{}}}}}}
  }},
  "Http": {{"CaBundlePath": {ca}}}
}}"#,
                base = json_str(&self.identity_resource.url()),
                ca = json_str(ca_bundle),
            ),
        );
    }

    /// Runs the program as `run` says with the fixture's inputs and returns its combined output;
    /// panics with that output unless it exited 0 and reported "N passed, 0 failed".
    fn run(&self, run: &Run) -> String {
        let (status, output) = run_with_time_limit(self.command(run), run.time_limit);
        let passed_line = output.lines().rev().find_map(|line| {
            let rest = line.strip_prefix("ffi_test: ")?;
            let (passed, failed) = rest.split_once(" passed, ")?;
            Some((passed.parse::<usize>().ok()?, failed.to_string()))
        });
        // Findings the program reports without failing (see the NOTE lines in tests/c/); the
        // whole output with DSAPI_C_ABI_VERBOSE=1 (and `-- --nocapture`).
        if std::env::var_os("DSAPI_C_ABI_VERBOSE").is_some() {
            eprintln!("{output}");
        }
        for note in output.lines().filter(|line| line.starts_with("NOTE ")) {
            eprintln!("ffi_test: {note}");
        }
        match (status, passed_line) {
            (Some(0), Some((passed, failed))) if failed == "0 failed" && passed > 100 => {}
            (status, line) => panic!(
                "ffi_test did not succeed (exit status {status:?}, summary {line:?}, wanted \
                 \"N passed, 0 failed\"); its output:\n{output}"
            ),
        }
        output
    }

    /// The program's command line and environment (the inputs listed in tests/c/ffi_test.c).
    fn command(&self, run: &Run) -> Command {
        let mut command = match run.wrapper {
            Some(wrapper) => {
                let mut command = Command::new(wrapper[0]);
                command.args(&wrapper[1..]).arg(run.program);
                command
            }
            None => Command::new(run.program),
        };
        command
            .env("DSAPI_TEST_DIR", self.dir.path())
            .env("DSAPI_TEST_BASE_URL", format!("{}/api", self.server.url()))
            .env("DSAPI_TEST_CLIENT_CN", CLIENT_CN)
            .env("DSAPI_TEST_THUMBPRINT", self.client.sha1_thumbprint())
            .env("DSAPI_TEST_PFX_CN", PFX_CN)
            .env("DSAPI_TEST_WRONG_PASSWORD", WRONG_PASSWORD)
            .env("DSAPI_TEST_VERSION", env!("CARGO_PKG_VERSION"))
            .env("DSAPI_TEST_THREADS", run.threads.to_string())
            .env("DSAPI_TEST_CALLS", run.calls.to_string())
            .env("DSAPI_TEST_CLOSED_PORT", self.closed_port.to_string())
            .env("DSAPI_TEST_CLIENT_SECRET", CLIENT_SECRET)
            .env("DSAPI_TEST_WRONG_SECRET", WRONG_SECRET)
            .env("DSAPI_TEST_SCOPE", RESOURCE_SCOPE)
            .envs(self.identity.environment())
            .envs(run.env.iter().map(|(k, v)| (*k, v.as_str())))
            // The library must not depend on the OS trust store: every config sets CaBundlePath.
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// Runs `command`, killing it after `limit`; returns its exit code (None when killed or signalled)
/// and its stdout followed by its stderr.
fn run_with_time_limit(mut command: Command, limit: Duration) -> (Option<i32>, String) {
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err_thread = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let started = Instant::now();
    let mut killed = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for ffi_test") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            killed = true;
            break child.wait().expect("wait for the killed ffi_test");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
    let stderr = err_thread.join().unwrap_or_default();
    if !stderr.is_empty() {
        output.push_str("\n--- stderr ---\n");
        output.push_str(&String::from_utf8_lossy(&stderr));
    }
    if killed {
        output.push_str(&format!("\n--- killed after {limit:?} ---\n"));
    }
    (status.code(), output)
}

/// What the servers must have seen after a run with `threads` × `calls`.
fn check_server_side(fixture: &Fixture, threads: usize, calls: usize, output: &str) {
    let check = ServerSide {
        fixture,
        seen: fixture.server.seen(),
        output,
    };
    check.managed_identity();
    check.mtls_requests_carry_the_configured_or_pushed_certificate();
    check.nothing_went_over_plain_http_or_to_an_unknown_api();
    check.each_threads_calls_arrived_once(threads, calls);
    check.requests_arrived_as_the_sections_made_them();
    check.pfx_server();
    check.tokens();
}

/// The requests the servers recorded, checked against what the C program did.
struct ServerSide<'a> {
    fixture: &'a Fixture,
    /// The requests on the MTLS server.
    seen: Vec<Seen>,
    /// The program's output, shown with any failure.
    output: &'a str,
}

impl ServerSide<'_> {
    fn context(&self) -> String {
        format!("\nffi_test output:\n{}", self.output)
    }

    /// Requests on the MTLS server for `target`.
    fn count(&self, target: &str) -> usize {
        self.seen.iter().filter(|r| r.target == target).count()
    }

    /// The managed-identity endpoint verified each request, and issued one token: the call's,
    /// which dsapi_client_acquire_token then found cached.
    fn managed_identity(&self) {
        let identity = &self.fixture.identity;
        identity.assert_no_failures();
        assert!(
            identity.issued().len() == 1,
            "managed identity tokens issued: {:?}{}",
            identity.issued(),
            self.context()
        );
        assert!(
            self.fixture.identity_resource.requests() >= 1,
            "{}",
            self.context()
        );
    }

    /// One request came with the certificate pushed by dsapi_client_set_credential; every other
    /// request on the MTLS server came with the configured certificate, and none with a token.
    fn mtls_requests_carry_the_configured_or_pushed_certificate(&self) {
        let pushed = |request: &&Seen| {
            request
                .client_cert
                .as_ref()
                .is_some_and(|cert| subject_cn(cert) == "pushed-client")
        };
        assert_eq!(
            self.seen.iter().filter(pushed).count(),
            1,
            "pushed calls{}",
            self.context()
        );
        for request in self.seen.iter().filter(|request| !pushed(request)) {
            assert_eq!(
                request.client_cert.as_ref(),
                Some(&self.fixture.client.cert_der),
                "request {} {} without the configured client certificate{}",
                request.method,
                request.target,
                self.context()
            );
            assert_eq!(
                request.header("authorization"),
                None,
                "Authorization header on an MTLS call to {}{}",
                request.target,
                self.context()
            );
        }
    }

    /// Nothing was attempted over plain http:// (the "Plain" API and the http BaseUrl override
    /// point at this TLS server's port: a plaintext request would be a failed handshake), and a
    /// call to an unknown API sent nothing.
    fn nothing_went_over_plain_http_or_to_an_unknown_api(&self) {
        assert_eq!(
            self.fixture.server.failed_handshakes(),
            0,
            "failed handshakes: something spoke plain HTTP to the TLS port{}",
            self.context()
        );
        assert!(
            !self.seen.iter().any(|r| r.target.contains("insecure")),
            "a request for the http:// API reached the server{}",
            self.context()
        );
        assert!(
            !self.seen.iter().any(|r| r.target.contains("missing")),
            "a call to an unknown API sent a request{}",
            self.context()
        );
    }

    /// One client used from `threads` threads: each thread's calls arrived exactly once.
    fn each_threads_calls_arrived_once(&self, threads: usize, calls: usize) {
        for thread in 0..threads {
            for call in 0..calls {
                let target = format!("/api/threads/{thread}/{call}");
                let hits: Vec<&Seen> = self.seen.iter().filter(|r| r.target == target).collect();
                assert_eq!(hits.len(), 1, "requests for {target}{}", self.context());
                assert_eq!(hits[0].method, "GET");
                assert_eq!(
                    hits[0].header("x-thread"),
                    Some(thread.to_string().as_str())
                );
            }
        }
        let threaded = self
            .seen
            .iter()
            .filter(|r| r.target.starts_with("/api/threads/"))
            .count();
        assert_eq!(
            threaded,
            threads * calls,
            "threaded requests{}",
            self.context()
        );
    }

    /// The POST with overrides as sent, one retry after a 401 and none after a 403, no injected
    /// header, the call from inside an observer, and the large body unaltered.
    fn requests_arrived_as_the_sections_made_them(&self) {
        let posts: Vec<&Seen> = self
            .seen
            .iter()
            .filter(|r| r.target.starts_with("/api/echo/post"))
            .collect();
        assert_eq!(posts.len(), 1, "POST requests{}", self.context());
        let post = posts[0];
        assert_eq!(post.method, "POST");
        // JSON object order is not kept by the configuration parser, so either order is fine.
        assert!(
            post.target == "/api/echo/post?q=a%20b%26c&n=1"
                || post.target == "/api/echo/post?n=1&q=a%20b%26c",
            "POST target {}",
            post.target
        );
        assert_eq!(post.header("x-custom"), Some("custom-value"));
        assert_eq!(post.header("content-type"), Some("application/x-test"));
        assert_eq!(post.header("accept"), Some("text/plain"));
        assert_eq!(post.body, b"{\"n\":1}\x00\xffend");

        // 401 on MTLS is a certificate rejection: exactly one retry. 403 is not: no retry.
        let context = self.context();
        assert_eq!(
            self.count("/api/status/401"),
            2,
            "401 requests (one retry){context}"
        );
        assert_eq!(
            self.count("/api/status/403"),
            1,
            "403 requests (no retry){context}"
        );
        assert_eq!(self.count("/api/status/404"), 1, "404 requests{context}");

        // Header injection attempts were refused, not sent.
        assert!(
            !self
                .seen
                .iter()
                .any(|r| r.header("x-injected").is_some() || r.header("bad name").is_some()),
            "an injected header reached the server{context}"
        );
        // A call made from inside an observer callback went out.
        assert_eq!(self.count("/api/reentrant"), 1, "re-entrant call{context}");
        let big = self
            .seen
            .iter()
            .find(|r| r.target == "/api/echo/big")
            .unwrap_or_else(|| panic!("no large POST{context}"));
        assert_eq!(big.body.len(), 300 * 1024);
        assert!(
            big.body
                .iter()
                .enumerate()
                .all(|(i, b)| *b == ((i * 31 + 7) & 0xff) as u8),
            "the large body arrived altered"
        );
    }

    /// The PFX server saw only the fixture certificate opened with the right password, once; the
    /// untrusted-server call (1) and the rejected certificate with its single retry (2) failed
    /// their handshakes.
    fn pfx_server(&self) {
        let pfx_seen = self.fixture.pfx_server.seen();
        assert_eq!(
            pfx_seen.len(),
            1,
            "requests on the PFX server{}",
            self.context()
        );
        let presented = pfx_seen[0].client_cert.as_ref().map(|c| subject_cn(c));
        assert_eq!(presented.as_deref(), Some(PFX_CN));
        assert_eq!(pfx_seen[0].header("authorization"), None);
        assert_eq!(
            self.fixture.pfx_server.failed_handshakes(),
            3,
            "failed handshakes on the PFX server (untrusted server 1 + rejected certificate 2){}",
            self.context()
        );
    }

    /// Tokens: one request per scope however many callers (cache, single flight across the 8
    /// threads); the wrong secret was refused once; the secret went only to the token endpoint.
    /// MTLS_POP: one bound token for the call and the header, verified by the mTLS endpoint; the
    /// resource saw it with the client certificate.
    fn tokens(&self) {
        let context = self.context();
        let issuer = &self.fixture.tokens.issuer;
        let issued = issuer.issued();
        let issued_for = |scope: &str| issued.iter().filter(|t| t.scope == scope).count();
        assert_eq!(
            issued_for(RESOURCE_SCOPE),
            1,
            "tokens for {RESOURCE_SCOPE}{context}"
        );
        assert_eq!(
            issued_for(THREADS_SCOPE),
            1,
            "tokens for {THREADS_SCOPE}{context}"
        );
        let failures = issuer.failures();
        assert!(
            failures.len() == 1 && failures[0].contains("AADSTS7000215"),
            "token endpoint failures: {failures:?}{context}"
        );
        for request in issuer.token_requests() {
            assert_eq!(request.tenant.as_deref(), Some(TENANT));
            assert_eq!(request.param("client_id"), Some(APP_CLIENT_ID));
        }
        let pop_issuer = &self.fixture.pop_tokens.issuer;
        pop_issuer.assert_no_failures();
        assert_eq!(
            pop_issuer.token_request_count(),
            1,
            "MTLS_POP token requests{context}"
        );
        let pop_seen = self.fixture.pop_resource.seen();
        assert_eq!(pop_seen.len(), 1, "MTLS_POP calls{context}");
        assert!(
            pop_seen[0]
                .header("authorization")
                .is_some_and(|a| a.starts_with("mtls_pop "))
                && pop_seen[0].client_cert.is_some(),
            "the MTLS_POP call presented the certificate and the bound token"
        );
        let resource_seen = self.fixture.resource.seen();
        assert_eq!(resource_seen.len(), 1, "Bearer calls{context}");
        let authorization = resource_seen[0].header("authorization").unwrap_or_default();
        assert!(
            authorization.starts_with("Bearer tok-"),
            "Authorization on the Bearer call: {authorization:?}"
        );
        let pfx_seen = self.fixture.pfx_server.seen();
        for request in self.seen.iter().chain(&pfx_seen).chain(&resource_seen) {
            let text = format!(
                "{:?}{}",
                request.headers,
                String::from_utf8_lossy(&request.body)
            );
            assert!(
                !text.contains(CLIENT_SECRET) && !text.contains(WRONG_SECRET),
                "a client secret reached an API server"
            );
        }
    }
}

fn tool_available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn c_abi_under_address_and_undefined_behavior_sanitizers() {
    let fixture = Fixture::new("c-abi-asan");
    let program = fixture.dir.path().join("ffi_test_asan");
    compile(&program, true);
    // DSAPI_C_ABI_CALLS=N runs N calls per thread instead (a local stress knob).
    let calls = std::env::var("DSAPI_C_ABI_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(25);
    let threads = 8;
    let started = Instant::now();
    let output = fixture.run(&Run {
        wrapper: None,
        program: &program,
        threads,
        calls,
        env: &[
            (
                "ASAN_OPTIONS",
                "detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:\
                 strict_string_checks=1"
                    .to_string(),
            ),
            (
                "UBSAN_OPTIONS",
                "halt_on_error=1:print_stacktrace=1".to_string(),
            ),
        ],
        time_limit: Duration::from_secs(300),
    });
    check_server_side(&fixture, threads, calls, &output);
    assert!(
        !output.contains("ERROR: AddressSanitizer")
            && !output.contains("ERROR: LeakSanitizer")
            && !output.contains("runtime error:"),
        "sanitizer report in the output:\n{output}"
    );
    eprintln!(
        "ffi_test under ASan+UBSan took {:?}: {}",
        started.elapsed(),
        output
            .lines()
            .rev()
            .find(|line| line.starts_with("ffi_test: "))
            .unwrap_or_default()
    );
}

/// Two reports memcheck makes inside ring's hand-written assembly during every TLS 1.3 handshake,
/// both false positives (the bytes are correct: the server verifies the signature and the tags
/// match on every call). Memcheck's definedness tracking loses precision through ring's
/// constant-time assembly (AES-GCM, P-256), so it believes:
/// - the AEAD tag comparison in `ring::aead::…::open_within` branches on undefined bytes (origin:
///   the AES key schedule built in `rustls::crypto::ring::tls13::AeadAlgorithm::decrypter`);
/// - the CertificateVerify signature made by ring (origin: `emit_certverify_tls13`) holds
///   undefined bytes when rustls writes the encrypted record to the socket.
///
/// Both are matched by ring/rustls frames, nothing in this crate or in the C program. (The libc
/// frame of the second is named `send` or `__libc_send` depending on the run, hence the `...`.)
const RING_VALGRIND_SUPPRESSIONS: &str = r#"{
   ring-aead-open-tag-compare-false-positive
   Memcheck:Cond
   fun:_ZN4ring2bb23verify_slices_are_equal*
   fun:_ZN4ring4aead9algorithm9Algorithm11open_within*
}
{
   ring-signature-in-rustls-record-false-positive
   Memcheck:Param
   socketcall.sendto(msg)
   ...
   fun:_ZN6rustls4conn28ConnectionCommon$LT$Data$GT$9write_tls*
}
"#;

#[test]
fn c_abi_under_valgrind() {
    const VALGRIND: &str = "valgrind";
    assert!(
        tool_available(VALGRIND),
        "valgrind is not installed (expected /usr/bin/valgrind); install it to run this test"
    );
    let fixture = Fixture::new("c-abi-valgrind");
    let program = fixture.dir.path().join("ffi_test_plain");
    compile(&program, false);
    let suppressions = fixture
        .dir
        .write("valgrind.supp", RING_VALGRIND_SUPPRESSIONS);
    let suppressions = format!("--suppressions={suppressions}");
    // Valgrind serialises threads and is ~50x slower: few calls, still 8 threads on one client.
    let (threads, calls) = (8, 3);
    let output = fixture.run(&Run {
        wrapper: Some(&[
            VALGRIND,
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite",
            "--track-origins=yes",
            &suppressions,
            "--quiet",
        ]),
        program: &program,
        threads,
        calls,
        env: &[],
        time_limit: Duration::from_secs(600),
    });
    check_server_side(&fixture, threads, calls, &output);
}
