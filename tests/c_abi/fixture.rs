//! What one run of the C program runs against: an MTLS server echoing what it saw, a server
//! trusting only the fixture CA, the fake Entra ID endpoints (plain and mTLS) with their resources,
//! a fake App Service managed-identity endpoint, and the configuration files naming them.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use test_support::credentials::{certificate_file, certificate_file_with_password, client_secret};
use test_support::identity_endpoint::{IdentityEndpoint, Platform};
use test_support::pki::{Issued, TestCa, Validity};
use test_support::server::{ClientAuth, Handler, Reply, Seen, TestServer, subject_cn};
use test_support::token_server::{
    TokenIssuer, TokenServer, UserToken, bearer_resource_handler, bound_resource_handler,
};
use test_support::{FIXTURE_PASSWORD, TempDir, fixture, free_port, json_str};

use crate::program::run_with_time_limit;
use crate::{
    APP_CLIENT_ID, CLIENT_CN, CLIENT_SECRET, PFX_CN, RESOURCE_SCOPE, TENANT, WRONG_PASSWORD,
    WRONG_SECRET,
};

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

/// The servers, certificates and configuration files one run of the C program needs.
pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
    pub(crate) client: Issued,
    /// Requires the rcgen client certificate; answers with [`echo_everything`].
    pub(crate) server: TestServer,
    /// Requires a certificate from the fixture CA (the RSA PFX); also the server that rejects
    /// the rcgen client certificate and that `untrusted.json` does not trust.
    pub(crate) pfx_server: TestServer,
    /// Fake Entra ID token endpoint and a resource server accepting its tokens (no client auth).
    pub(crate) tokens: TokenServer,
    pub(crate) resource: TestServer,
    /// MTLS_POP: the mTLS token endpoint of an issuer registering the rcgen client certificate,
    /// and a resource accepting its tokens only with that certificate (`pop.json`).
    pub(crate) pop_tokens: TokenServer,
    pub(crate) pop_resource: TestServer,
    /// A fake App Service managed-identity endpoint (selected by the variables the program gets)
    /// and a resource accepting its tokens (`managed-identity.json`).
    pub(crate) identity: Arc<IdentityEndpoint>,
    pub(crate) identity_resource: TestServer,
    /// A 127.0.0.1 port nothing listens on.
    pub(crate) closed_port: u16,
}

/// How to run the C program: under a wrapper (valgrind) or not, with how many threads and calls
/// per thread, which extra environment variables, killed after how long.
pub(crate) struct Run<'a> {
    pub(crate) wrapper: Option<&'a [&'a str]>,
    pub(crate) program: &'a Path,
    pub(crate) threads: usize,
    pub(crate) calls: usize,
    pub(crate) env: &'a [(&'a str, String)],
    pub(crate) time_limit: Duration,
}

impl Fixture {
    pub(crate) fn new(tag: &str) -> Fixture {
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
        // The tokens of a web API's callers, for bearer.json's app to validate.
        let user = UserToken::new("validated-oid", "validated@c-abi.example", TENANT);
        let issuer = &self.tokens.issuer;
        for (name, token) in [
            ("user-token.txt", issuer.mint_user_token(&user)),
            (
                "user-token-expired.txt",
                issuer.mint_user_token(&user.clone().expires_in(-3600)),
            ),
            (
                "user-token-other-audience.txt",
                issuer.mint_user_token(&user.clone().audience("api://someone-else")),
            ),
        ] {
            self.dir.write(name, token);
        }
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
    pub(crate) fn run(&self, run: &Run) -> String {
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
