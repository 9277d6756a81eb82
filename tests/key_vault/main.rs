//! Key Vault certificates (`SourceType: "KeyVault"`) against a fake vault over TLS on 127.0.0.1,
//! reached under its real name (`contoso.vault.azure.net`) through `Http.Resolve`, as are the
//! API (`orders.contoso.test`), the token endpoint (`login.contoso.test`) and the
//! managed-identity endpoint (`identity.contoso.test`). The vault verifies every token (issued by the fake token endpoint
//! for `https://vault.azure.net/.default` in its tenant, or by the fake managed-identity
//! endpoint), answers the challenge first, and serves versions. Nothing leaves loopback.
//!
//! Parts: first loads (here), errors ([`errors`]), renewal and rotation ([`renewal`]), a fleet of
//! processes renewing through Redis ([`fleet`]).

mod errors;
mod fleet;
mod renewal;

use std::sync::{Arc, Mutex, OnceLock};

use downstream_api::{CredentialEvent, DownstreamApi, EventKind, LoadState};
use test_support::identity_endpoint::{IdentityEndpoint, Platform};
use test_support::key_vault::{FakeKeyVault, StoredVersion, TokenCheck};
use test_support::pki::{Issued, TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::token_server::{TokenIssuer, TokenServer, bearer_resource_handler};
use test_support::{TempDir, json_str};

const TENANT: &str = "vault-tenant";
const READER: &str = "vault-reader";
const READER_SECRET: &str = "reader-secret-value";
const API_HOST: &str = "orders.contoso.test";
/// The token endpoint's and the managed-identity endpoint's names, reached through Http.Resolve.
const LOGIN_HOST: &str = "login.contoso.test";
const IDENTITY_HOST: &str = "identity.contoso.test";

/// A vault, the token endpoint of the identity that reads it, and an MTLS API that accepts the
/// clients CA's certificates.
struct Setup {
    servers: TestCa,
    clients: TestCa,
    tokens: TokenServer,
    vault: FakeKeyVault,
    api: TestServer,
    dir: TempDir,
    ca_path: String,
    /// Extra environment (a managed-identity endpoint's, under its name).
    environment: Vec<(String, String)>,
    /// The managed-identity endpoint's port (1, unused, without one).
    identity_port: u16,
}

/// Where the reader's tokens come from.
enum Reader {
    /// `AZURE_CLIENT_SECRET` and friends, tokens from the fake token endpoint.
    EnvironmentSecret,
    /// The managed-identity endpoint (App Service's), tokens checked against it.
    Managed(Arc<IdentityEndpoint>),
}

fn setup(reader: Reader) -> Setup {
    let servers = TestCa::new("Key Vault test servers");
    let clients = TestCa::new("Key Vault client certificates");
    let issuer = TokenIssuer::new(READER);
    issuer.set_client_secret(Some(READER_SECRET));
    let tokens = TokenServer::start_for_names(&servers, issuer.clone(), &[LOGIN_HOST]);
    let identity_port = match &reader {
        Reader::Managed(endpoint) => endpoint.server.port,
        Reader::EnvironmentSecret => 1,
    };
    let (check, environment): (TokenCheck, _) = match reader {
        Reader::EnvironmentSecret => (FakeKeyVault::tokens_of(issuer, TENANT), Vec::new()),
        Reader::Managed(endpoint) => (
            FakeKeyVault::tokens_of_managed_identity(endpoint.clone()),
            endpoint
                .environment()
                .into_iter()
                .map(|(name, value)| (name, value.replace("127.0.0.1", IDENTITY_HOST)))
                .collect(),
        ),
    };
    let vault = FakeKeyVault::start(&servers, TENANT, check);
    let api = TestServer::start(
        servers.server_for(&[API_HOST]),
        ClientAuth::Required(std::slice::from_ref(&clients.cert_der)),
        TestServer::echo_handler(),
    );
    let dir = TempDir::new("key-vault");
    let ca_path = dir.write("ca.pem", &servers.cert_pem);
    Setup {
        servers,
        clients,
        tokens,
        vault,
        api,
        dir,
        ca_path,
        environment,
        identity_port,
    }
}

impl Setup {
    /// A client certificate from the clients CA, valid now.
    fn certificate(&self, cn: &str) -> Issued {
        self.clients.client(cn, Validity::CURRENT)
    }

    /// The configuration of a client whose one credential is certificate `name` of the vault
    /// (`entry` adds fields to it), checked every `interval` seconds.
    fn config(&self, name: &str, entry: &str, interval: &str) -> String {
        format!(
            r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "KeyVault",
                    "KeyVaultUrl": {vault}, "KeyVaultCertificateName": "{name}"{entry}}}],
                  "CertificateReloadIntervalSeconds": {interval}}},
                "DownstreamApis": {{"Orders": {{"BaseUrl": "https://{API_HOST}:{port}/",
                  "ProtocolScheme": "MTLS"}}}},
                "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 20,
                  "Resolve": [{vault_pin}, "{API_HOST}:{port}:127.0.0.1",
                    "{LOGIN_HOST}:{login}:127.0.0.1", "{IDENTITY_HOST}:{identity}:127.0.0.1"]}}}}"#,
            vault = json_str(&self.vault.url()),
            vault_pin = json_str(&self.vault.resolve_entry()),
            port = self.api.port,
            login = self.tokens.server.port,
            identity = self.identity_port,
            ca = json_str(&self.ca_path),
        )
    }

    /// The environment of the identity that reads the vault.
    fn environment(&self) -> Vec<(String, String)> {
        let mut environment = self.environment.clone();
        if environment.is_empty() {
            environment = [
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_ID", READER),
                ("AZURE_CLIENT_SECRET", READER_SECRET),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
            let login = format!("https://{LOGIN_HOST}:{}/", self.tokens.server.port);
            environment.push(("AZURE_AUTHORITY_HOST".to_string(), login));
        }
        environment
    }

    fn client(&self, name: &str, interval: &str) -> DownstreamApi {
        self.client_with(name, "", interval)
    }

    fn client_with(&self, name: &str, entry: &str, interval: &str) -> DownstreamApi {
        DownstreamApi::from_json_with_environment(
            &self.config(name, entry, interval),
            self.environment(),
        )
        .expect("client")
    }
}

/// Calls the API; its answer ("hello <CN>").
fn call(api: &DownstreamApi) -> String {
    let response = api.call("Orders", None, b"").expect("call");
    assert_eq!(response.status, 200);
    String::from_utf8_lossy(&response.body).into_owned()
}

/// Every log line of this test process (the sink is process-wide: tests filter by their
/// certificate's name, unique to each).
fn logs() -> &'static Mutex<Vec<String>> {
    static LINES: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        downstream_api::log::set_sink(
            Some(Arc::new(move |level, message: &str| {
                sink.lock().unwrap().push(format!("{level:?} {message}"));
            })),
            downstream_api::log::Level::Debug,
        );
        lines
    })
}

/// Log lines mentioning `needle`.
fn log_lines(needle: &str) -> Vec<String> {
    logs()
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains(needle))
        .cloned()
        .collect()
}

/// No log line holds `secret`.
fn assert_never_logged(secret: &str) {
    let lines = logs().lock().unwrap();
    assert!(
        !lines.iter().any(|line| line.contains(secret)),
        "a log line holds a secret"
    );
}

/// Selected events: (subject, source).
fn selections(api: &DownstreamApi) -> Arc<Mutex<Vec<(String, String)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        if event.kind == EventKind::Selected {
            let pair = (event.subject.to_string(), event.source.to_string());
            sink.lock().unwrap().push(pair);
        }
    }));
    seen
}

#[test]
fn a_pkcs12_certificate_is_loaded_from_the_vault_with_the_environments_secret() {
    logs();
    let setup = setup(Reader::EnvironmentSecret);
    let issued = setup.certificate("first-load");
    let stored = StoredVersion::pkcs12("1f2e3d4c", &issued);
    let pfx = stored.secret.clone();
    setup.vault.add_version("orders-first", stored);
    let api = setup.client("orders-first", "0");
    let events = selections(&api);
    assert_eq!(call(&api), "hello first-load");

    // The challenge first, then the certificate and its secret, each with a token it accepted.
    let requests = setup.vault.requests();
    let steps: Vec<(&str, bool, u16)> = requests
        .iter()
        .map(|r| (r.kind, r.authorized, r.status))
        .collect();
    assert_eq!(
        steps,
        [
            ("certificate", false, 401),
            ("certificate", true, 200),
            ("secret", true, 200)
        ]
    );
    assert_eq!(requests[2].path, "/secrets/orders-first/1f2e3d4c");
    setup.vault.assert_no_failures();
    assert!(setup.vault.refused_tokens().is_empty());
    let issued_tokens = setup.tokens.issuer.issued();
    assert_eq!(issued_tokens.len(), 1, "one token for both steps");
    assert_eq!(issued_tokens[0].scope, "https://vault.azure.net/.default");
    assert_eq!(issued_tokens[0].tenant.as_deref(), Some(TENANT));
    setup.tokens.issuer.assert_no_failures();

    // Observers and reports name the vault, the certificate, its version and expiry.
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert!(events[0].0.contains("first-load"));
    let location = format!("{}/certificates/orders-first", setup.vault.url());
    assert!(
        events[0].1.contains("KeyVault") && events[0].1.contains(&location),
        "{events:?}"
    );
    let report = &api.credentials()[0];
    assert_eq!(report.source_type, "KeyVault");
    assert_eq!(report.location.as_deref(), Some(location.as_str()));
    assert_eq!(report.version.as_deref(), Some("1f2e3d4c"));
    let LoadState::Certificate(facts) = &report.state else {
        panic!("{report:?}")
    };
    assert!(facts.subject.contains("first-load"));
    let json = api.credentials_json();
    assert!(json.contains(r#""version":"1f2e3d4c""#), "{json}");
    assert!(json.contains(r#""notAfter""#), "{json}");

    // The log names the identity used; nothing secret is logged.
    let read_as = log_lines("'orders-first': read as");
    assert!(
        read_as
            .iter()
            .any(|line| line.contains("environment client secret")),
        "{read_as:?}"
    );
    assert_never_logged(READER_SECRET);
    assert_never_logged(&pfx[..40]);
    assert_never_logged(&issued_tokens[0].token);
}

#[test]
fn a_pem_certificate_is_loaded_with_the_entrys_managed_identity() {
    logs();
    let endpoint = Arc::new(IdentityEndpoint::start(
        Platform::AppService,
        &TestCa::new("unused"),
    ));
    endpoint.add_user_assigned("client_id=vault-reader-mi");
    let setup = setup(Reader::Managed(endpoint.clone()));
    let issued = setup.certificate("pem-load");
    setup
        .vault
        .add_version("orders-pem", StoredVersion::pem("9a8b", &issued));
    let api = setup.client_with(
        "orders-pem",
        r#", "ManagedIdentityClientId": "vault-reader-mi""#,
        "0",
    );
    assert_eq!(call(&api), "hello pem-load");
    endpoint.assert_no_failures();
    let tokens = endpoint.issued();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].resource, "https://vault.azure.net");
    assert_eq!(tokens[0].identity, "client_id=vault-reader-mi");
    assert_eq!(setup.vault.served("secret"), 1);
    assert!(setup.vault.refused_tokens().is_empty());
    let read_as = log_lines("'orders-pem': read as");
    assert!(
        read_as
            .iter()
            .any(|line| line.contains("managed identity") && line.contains("vault-reader-mi")),
        "{read_as:?}"
    );
    assert_eq!(api.credentials()[0].version.as_deref(), Some("9a8b"));
}

#[test]
fn sixteen_threads_starting_cold_make_one_fetch() {
    let setup = setup(Reader::EnvironmentSecret);
    setup.vault.add_version(
        "orders-cold",
        StoredVersion::pkcs12("c01d", &setup.certificate("cold")),
    );
    let api = Arc::new(setup.client("orders-cold", "0"));
    let barrier = Arc::new(std::sync::Barrier::new(16));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (api, barrier) = (api.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                call(&api)
            })
        })
        .collect();
    for worker in workers {
        assert_eq!(worker.join().unwrap(), "hello cold");
    }
    assert_eq!(setup.vault.served("certificate"), 1);
    assert_eq!(setup.vault.served("secret"), 1);
    assert_eq!(setup.tokens.issuer.token_request_count(), 1);
}

#[test]
fn the_vaults_certificate_signs_the_apps_client_assertions() {
    let setup = setup(Reader::EnvironmentSecret);
    let issued = setup.certificate("assertion-signer");
    setup
        .vault
        .add_version("orders-app", StoredVersion::pkcs12("a55e", &issued));
    // The app's own Entra endpoint, which registered the vault's certificate.
    let app = TokenIssuer::new("orders-app-id");
    app.set_certificate(Some(&issued.cert_der));
    let app_tokens = TokenServer::start(&setup.servers, app.clone());
    let resource = TestServer::start(
        setup.servers.server(),
        ClientAuth::None,
        bearer_resource_handler(app.clone()),
    );
    let mut config: serde_json::Value =
        serde_json::from_str(&setup.config("orders-app", "", "0")).unwrap();
    config["AzureAd"]["Instance"] = app_tokens.instance().into();
    config["AzureAd"]["TenantId"] = "app-tenant".into();
    config["AzureAd"]["ClientId"] = "orders-app-id".into();
    config["DownstreamApis"]["Graph"] = serde_json::json!({
        "BaseUrl": resource.url(), "Scopes": ["api://orders/.default"], "RequestAppToken": true
    });
    let api = DownstreamApi::from_json_with_environment(&config.to_string(), setup.environment())
        .unwrap();
    let response = api.call("Graph", None, b"").expect("Bearer call");
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    app.assert_no_failures();
    let request = &app.token_requests()[0];
    assert!(
        request.assertion_claims.is_some(),
        "signed with the vault's key"
    );
    assert_eq!(setup.vault.served("secret"), 1);
}
