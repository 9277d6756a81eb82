//! Managed identity against fake platform endpoints on 127.0.0.1 (`support/identity_endpoint.rs`),
//! each selected by the environment variables that select the real one, handed to the client
//! with `from_json_with_environment` (so tests running in parallel do not share the process
//! environment): every source system- and user-assigned, retries, `expires_on` as a string,
//! Service Fabric's pinned certificate, Azure Arc's key-file challenge, the federated credential
//! and workload identity against the fake Entra endpoint, and misconfigurations.
//!
//! Nothing is sent to 169.254.169.254: IMDS is always redirected by
//! `AZURE_POD_IDENTITY_AUTHORITY_HOST` to a loopback port.

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use downstream_api::{DownstreamApi, ErrorKind};
use test_support::credentials::certificate_file;
use test_support::identity_endpoint::{Expiry, IdentityEndpoint, ML_DEFAULT_CLIENT_ID, Platform};
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::token_server::{TokenIssuer, TokenServer, bearer_resource_handler};
use test_support::{TempDir, free_port, json_str};

const RESOURCE: &str = "api://resource";
const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
const CLIENT_ID: &str = "app-client-id";
const TENANT: &str = "contoso-tenant";

/// A CA, a directory with its certificate and a client certificate (which must never be presented
/// to an identity endpoint), the endpoint of `platform`, and a resource server accepting the
/// endpoint's tokens for RESOURCE.
struct Setup {
    ca: TestCa,
    dir: TempDir,
    ca_path: String,
    certificate_path: String,
    endpoint: Arc<IdentityEndpoint>,
    resource: TestServer,
}

fn setup(platform: Platform) -> Setup {
    let ca = TestCa::new("MI Test CA");
    let dir = TempDir::new("managed-identity");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    let certificate_path = dir.write("app.pem", ca.client("app", Validity::CURRENT).bundle_pem());
    let endpoint = Arc::new(IdentityEndpoint::start(platform, &ca));
    let resource = TestServer::start(
        ca.server(),
        ClientAuth::None,
        IdentityEndpoint::resource_handler(endpoint.clone(), RESOURCE),
    );
    Setup {
        ca,
        dir,
        ca_path,
        certificate_path,
        endpoint,
        resource,
    }
}

impl Setup {
    /// [`Setup::config`] for the resource server.
    fn vault_config(&self, managed_identity: &str) -> String {
        self.config(&self.resource.url(), managed_identity)
    }

    /// A client of the resource server whose token comes from `managed_identity`.
    fn vault(&self, managed_identity: &str) -> DownstreamApi {
        self.client(&self.vault_config(managed_identity))
    }

    /// A configuration with one Bearer API "Vault" whose token comes from `managed_identity`,
    /// and a certificate among the app's credentials.
    fn config(&self, base_url: &str, managed_identity: &str) -> String {
        format!(
            r#"{{"AzureAd": {{"ClientCredentials": [{cert}]}},
                "DownstreamApis": {{"Vault": {{"BaseUrl": {base}, "RelativePath": "/secrets",
                    "Scopes": ["{RESOURCE}/.default"], "RequestAppToken": true,
                    "AcquireTokenOptions": {{"ManagedIdentity": {managed_identity}}}}}}},
                "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 20}}}}"#,
            cert = certificate_file(&self.certificate_path),
            base = json_str(base_url),
            ca = json_str(&self.ca_path),
        )
    }

    fn client(&self, config: &str) -> DownstreamApi {
        DownstreamApi::from_json_with_environment(config, self.endpoint.environment())
            .expect("client")
    }

    /// Calls "Vault" and returns the resource's answer ("<identity> <resource>").
    fn call_vault(&self, client: &DownstreamApi, overrides: Option<&str>) -> String {
        let response = client.call("Vault", overrides, b"").expect("call");
        let text = String::from_utf8_lossy(&response.body).into_owned();
        assert_eq!(response.status, 200, "{text}");
        text
    }
}

fn system_assigned(platform: Platform) {
    let setup = setup(platform);
    let client = setup.vault("{}");
    assert_eq!(
        setup.call_vault(&client, None),
        format!("system {RESOURCE}")
    );
    let after_first = setup.endpoint.requests();
    // Arc's first request is answered with its challenge.
    let expected = if platform == Platform::Arc { 2 } else { 1 };
    assert_eq!(after_first, expected, "{platform:?}");
    assert_eq!(
        setup.call_vault(&client, None),
        format!("system {RESOURCE}")
    );
    assert_eq!(
        setup.endpoint.requests(),
        after_first,
        "the token is cached"
    );
    setup.endpoint.assert_no_failures();
}

#[test]
fn app_service_system_assigned() {
    system_assigned(Platform::AppService);
}

#[test]
fn service_fabric_system_assigned_over_its_pinned_certificate_without_a_client_certificate() {
    system_assigned(Platform::ServiceFabric);
}

#[test]
fn azure_ml_system_assigned_sends_its_default_client_id() {
    system_assigned(Platform::MachineLearning);
    let setup = setup(Platform::MachineLearning);
    let client = setup.vault("{}");
    setup.call_vault(&client, None);
    let target = &setup.endpoint.seen()[0].target;
    assert!(
        target.contains(&format!("clientid={ML_DEFAULT_CLIENT_ID}")),
        "{target}"
    );
}

#[test]
fn cloud_shell_system_assigned() {
    system_assigned(Platform::CloudShell);
}

#[test]
fn azure_arc_answers_its_challenge_with_the_key_file() {
    system_assigned(Platform::Arc);
}

#[test]
fn imds_system_assigned() {
    system_assigned(Platform::Imds);
}

#[test]
fn user_assigned_identities_by_each_id_kind_each_source_names_its_own_way() {
    let cases: &[(Platform, &str, &str)] = &[
        (Platform::AppService, "UserAssignedClientId", "client_id"),
        (Platform::AppService, "UserAssignedResourceId", "mi_res_id"),
        (Platform::AppService, "UserAssignedObjectId", "object_id"),
        (Platform::Imds, "UserAssignedClientId", "client_id"),
        (Platform::Imds, "UserAssignedResourceId", "msi_res_id"),
        (Platform::Imds, "UserAssignedObjectId", "object_id"),
        (
            Platform::MachineLearning,
            "UserAssignedClientId",
            "clientid",
        ),
    ];
    for (platform, key, parameter) in cases {
        let setup = setup(*platform);
        let id = "/subscriptions/s/resourceGroups/g/providers/x/identity-1";
        setup
            .endpoint
            .add_user_assigned(&format!("{parameter}={id}"));
        let client = setup.vault(&format!(r#"{{"{key}": {}}}"#, json_str(id)));
        assert_eq!(
            setup.call_vault(&client, None),
            format!("{parameter}={id} {RESOURCE}"),
            "{platform:?} {key}"
        );
        setup.endpoint.assert_no_failures();
    }
}

#[test]
fn identity_kinds_a_source_cannot_select_are_configuration_errors_naming_the_source() {
    let cases: &[(Platform, &str)] = &[
        (Platform::Arc, "UserAssignedClientId"),
        (Platform::CloudShell, "UserAssignedClientId"),
        (Platform::ServiceFabric, "UserAssignedObjectId"),
        (Platform::MachineLearning, "UserAssignedResourceId"),
    ];
    for (platform, key) in cases {
        let setup = setup(*platform);
        let client = setup.vault(&format!(r#"{{"{key}": "x"}}"#));
        let error = client.call("Vault", None, b"").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{platform:?}: {error}");
        assert!(
            error
                .message()
                .contains("AcquireTokenOptions.ManagedIdentity: user-assigned"),
            "{error}"
        );
        assert_eq!(setup.endpoint.requests(), 0, "nothing sent: {platform:?}");
    }
}

#[test]
fn an_identity_the_platform_does_not_have_is_reported_with_the_endpoints_words() {
    let setup = setup(Platform::Imds);
    let client = setup.vault(r#"{"UserAssignedClientId": "nobody"}"#);
    let error = client.call("Vault", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    let message = error.message();
    for part in [
        "managed identity user-assigned (client id 'nobody')",
        "IMDS (no other source's variables are set)",
        "answered HTTP 400: invalid_request: Identity not found",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
}

#[test]
fn retries_after_410_429_and_500_within_the_timeout() {
    let setup = setup(Platform::Imds);
    setup
        .endpoint
        .push_statuses(&[(410, None), (429, Some(0)), (500, None)]);
    let client = setup.vault("{}");
    let started = Instant::now();
    setup.call_vault(&client, None);
    let took = started.elapsed();
    assert_eq!(setup.endpoint.requests(), 4);
    // 1 s after the 410, Retry-After 0 after the 429, then 4 s (the third backoff) after the 500.
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(8),
        "{took:?}"
    );
    setup.endpoint.assert_no_failures();
}

#[test]
fn retries_stop_at_the_calls_timeout_and_after_three() {
    let setup = setup(Platform::AppService);
    setup.endpoint.push_statuses(&[(503, None); 5]);
    let client = setup.vault("{}");
    let started = Instant::now();
    let error = client
        .call("Vault", Some(r#"{"TimeoutSeconds": 1.5}"#), b"")
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1400), "{error}");
    assert!(
        error
            .message()
            .contains("not retrying after 2.0 s: that would exceed the call's timeout"),
        "{error}"
    );
    assert_eq!(setup.endpoint.requests(), 2);

    let setup = self::setup(Platform::AppService);
    setup.endpoint.push_statuses(&[(503, Some(0)); 5]);
    let client = setup.vault("{}");
    let error = client.call("Vault", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition);
    assert!(error.message().contains("HTTP 503"), "{error}");
    assert_eq!(setup.endpoint.requests(), 4, "the request and 3 retries");
}

#[test]
fn expires_on_as_a_string_or_a_number() {
    for as_string in [true, false] {
        let setup = setup(Platform::AppService);
        setup.endpoint.set_expires_on_as_string(as_string);
        let client = setup.client(&setup.config("https://127.0.0.1:9/", "{}"));
        let token = client
            .acquire_token(
                &[&format!("{RESOURCE}/.default")],
                Some(r#"{"ManagedIdentity": {}}"#),
            )
            .expect("token");
        assert!(
            (3590..=3600).contains(&token.expires_in()),
            "{}",
            token.expires_in()
        );
        assert!(setup.endpoint.check_token(&token.token, RESOURCE).is_ok());
    }
}

impl Setup {
    /// A token for RESOURCE straight from the managed identity (no API called).
    fn acquire(&self) -> downstream_api::Result<downstream_api::AccessToken> {
        let client = self.client(&self.config("https://127.0.0.1:9/", "{}"));
        client.acquire_token(
            &[&format!("{RESOURCE}/.default")],
            Some(r#"{"ManagedIdentity": {}}"#),
        )
    }
}

#[test]
fn an_expiry_in_milliseconds_or_beyond_a_day_is_not_believed_for_long() {
    let day = 24 * 3600;
    let cases = [
        (Expiry::OnInMilliseconds(3600), 3590..=3600),
        (Expiry::OnInMilliseconds(400 * day), day - 10..=day),
        (Expiry::OnInSeconds(400 * day), day - 10..=day),
        (Expiry::In(3600 * 1000), day - 10..=day),
        (Expiry::In(2 * day), day - 10..=day),
    ];
    for (expiry, expected) in cases {
        for as_string in [false, true] {
            let setup = setup(Platform::AppService);
            setup.endpoint.set_expiry(expiry);
            setup.endpoint.set_expires_on_as_string(as_string);
            let token = setup.acquire().expect("token");
            assert!(
                expected.contains(&token.expires_in()),
                "{expiry:?} (as a string: {as_string}): {} s left",
                token.expires_in()
            );
        }
    }
}

#[test]
fn an_expiry_already_past_or_inside_the_five_minute_margin_is_an_error_and_nothing_is_sent() {
    for expiry in [
        Expiry::OnInSeconds(-60),
        Expiry::OnInSeconds(0),
        Expiry::OnInSeconds(120),
        Expiry::OnInMilliseconds(-60),
        Expiry::In(0),
        Expiry::In(299),
    ] {
        let setup = setup(Platform::AppService);
        setup.endpoint.set_expiry(expiry);
        let error = setup.acquire().map(|t| t.expires_in()).unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::TokenAcquisition,
            "{expiry:?}: {error}"
        );
        let message = error.message();
        let field = match expiry {
            Expiry::In(_) => "expires_in",
            _ => "expires_on",
        };
        assert!(message.contains(&setup.endpoint.server.url()), "{message}");
        assert!(message.contains(field), "{message}");
        assert!(message.contains("5-minute margin"), "{message}");
        assert!(!message.contains("mi-"), "no token in messages: {message}");
        assert_eq!(setup.endpoint.requests(), 1, "{expiry:?}: not retried");

        // Through an API: the call fails, and the resource never sees that token.
        let error = setup.vault("{}").call("Vault", None, b"").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
        assert_eq!(setup.resource.requests(), 0, "{expiry:?}");
    }
}

#[test]
fn a_retry_after_beyond_the_cap_or_the_calls_time_fails_at_once_naming_the_wait() {
    let setup = setup(Platform::Imds);
    setup.endpoint.push_statuses(&[(429, Some(120)); 4]);
    let client = setup.vault("{}");
    let started = Instant::now();
    let error = client.call("Vault", None, b"").unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(900), "{error}");
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    assert!(error.message().contains("HTTP 429"), "{error}");
    assert!(error.message().contains("(Retry-After: 120 s)"), "{error}");
    assert_eq!(setup.endpoint.requests(), 1, "not retried: {error}");

    // Within the cap but past the call's timeout: the driver's refusal, still one request.
    let setup = self::setup(Platform::AppService);
    setup.endpoint.push_statuses(&[(503, Some(30)); 4]);
    let client = setup.vault("{}");
    let started = Instant::now();
    let error = client
        .call("Vault", Some(r#"{"TimeoutSeconds": 5}"#), b"")
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(900), "{error}");
    assert!(
        error
            .message()
            .contains("not retrying after 30.0 s: that would exceed the call's timeout"),
        "{error}"
    );
    assert!(error.message().contains("(Retry-After: 30 s)"), "{error}");
    assert_eq!(setup.endpoint.requests(), 1, "not retried: {error}");
}

#[test]
fn a_service_fabric_certificate_other_than_the_pinned_one_is_refused_before_anything_is_sent() {
    let setup = setup(Platform::ServiceFabric);
    let mut environment = setup.endpoint.environment();
    for (name, value) in environment.iter_mut() {
        if name == "IDENTITY_SERVER_THUMBPRINT" {
            *value = "00".repeat(20);
        }
    }
    let client =
        DownstreamApi::from_json_with_environment(&setup.vault_config("{}"), environment).unwrap();
    let error = client.call("Vault", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(
        error
            .message()
            .contains("is not the one pinned by IDENTITY_SERVER_THUMBPRINT"),
        "{error}"
    );
    assert!(error.message().contains("Service Fabric"), "{error}");
    assert_eq!(setup.endpoint.requests(), 0);
}

#[test]
fn an_arc_challenge_naming_a_file_outside_the_agents_folder_is_refused() {
    let setup = setup(Platform::Arc);
    let elsewhere = setup.dir.write("stolen.key", "not-for-you");
    for named in [elsewhere.as_str(), "/etc/passwd"] {
        setup.endpoint.set_arc_challenge_file(Some(named));
        let client = setup.vault("{}");
        let error = client.call("Vault", None, b"").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
        assert!(
            error
                .message()
                .contains("Azure Arc's challenge: the key file")
                && error.message().contains("is not a .key file in"),
            "{error}"
        );
    }
    // Each challenge was read and refused: nothing was resent with a key.
    assert_eq!(setup.endpoint.requests(), 2);
    assert!(
        setup
            .endpoint
            .seen()
            .iter()
            .all(|s| s.header("authorization").is_none())
    );
}

/// The fake Entra endpoint and a resource accepting its tokens.
fn entra(setup: &Setup) -> (TokenServer, TestServer) {
    let issuer = TokenIssuer::new(CLIENT_ID);
    let tokens = TokenServer::start(&setup.ca, issuer.clone());
    let resource = TestServer::start(
        setup.ca.server(),
        ClientAuth::None,
        bearer_resource_handler(issuer),
    );
    (tokens, resource)
}

fn entra_config(
    setup: &Setup,
    tokens: &TokenServer,
    resource: &TestServer,
    azure_ad: &str,
) -> String {
    format!(
        r#"{{"AzureAd": {azure_ad},
            "DownstreamApis": {{"Api": {{"BaseUrl": {base}, "Scopes": ["api://resource/.default"],
                "RequestAppToken": true}}}},
            "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 20}}}}"#,
        azure_ad = azure_ad.replace("INSTANCE", &json_str(&tokens.instance())),
        base = json_str(&resource.url()),
        ca = json_str(&setup.ca_path),
    )
}

#[test]
fn a_federated_credential_exchanges_the_managed_identity_token_for_the_app_token() {
    let setup = setup(Platform::AppService);
    setup.endpoint.add_user_assigned("client_id=uami-client");
    let (tokens, resource) = entra(&setup);
    let endpoint = setup.endpoint.clone();
    tokens
        .issuer
        .set_federation(Some(Arc::new(move |assertion: &str| {
            let issued = endpoint.check_token(assertion, EXCHANGE_AUDIENCE)?;
            if issued.identity != "client_id=uami-client" {
                return Err(format!("the token is of {}", issued.identity));
            }
            Ok(())
        })));
    let config = entra_config(
        &setup,
        &tokens,
        &resource,
        &format!(
            r#"{{"Instance": INSTANCE, "TenantId": "{TENANT}", "ClientId": "{CLIENT_ID}",
                "ClientCredentials": [{{"SourceType": "SignedAssertionFromManagedIdentity",
                    "ManagedIdentityClientId": "uami-client"}}]}}"#
        ),
    );
    let client = setup.client(&config);
    for _ in 0..2 {
        let response = client.call("Api", None, b"").expect("call");
        assert_eq!(
            response.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&response.body)
        );
    }
    tokens.issuer.assert_no_failures();
    setup.endpoint.assert_no_failures();
    assert_eq!(tokens.issuer.token_request_count(), 1);
    assert_eq!(setup.endpoint.requests(), 1);
    let request = &tokens.issuer.token_requests()[0];
    assert_eq!(
        request.param("client_assertion"),
        Some(setup.endpoint.issued()[0].token.as_str())
    );
    assert_eq!(setup.endpoint.issued()[0].resource, EXCHANGE_AUDIENCE);

    // Forcing a new app token reuses the cached managed-identity token.
    client
        .call(
            "Api",
            Some(r#"{"AcquireTokenOptions": {"ForceRefresh": true}}"#),
            b"",
        )
        .expect("call");
    assert_eq!(tokens.issuer.token_request_count(), 2);
    assert_eq!(setup.endpoint.requests(), 1);
    let credentials = client.credentials_json();
    assert!(
        credentials.contains(r#""kind":"managedIdentityAssertion""#),
        "{credentials}"
    );
}

#[test]
fn a_federated_credential_refused_by_entra_says_why() {
    let setup = setup(Platform::AppService);
    let (tokens, resource) = entra(&setup);
    tokens.issuer.set_federation(Some(Arc::new(|_: &str| {
        Err("the subject is not trusted".to_string())
    })));
    let config = entra_config(
        &setup,
        &tokens,
        &resource,
        &format!(
            r#"{{"Instance": INSTANCE, "TenantId": "{TENANT}", "ClientId": "{CLIENT_ID}",
                "ClientCredentials": [{{"SourceType": "SignedAssertionFromManagedIdentity"}}]}}"#
        ),
    );
    let error = setup.client(&config).call("Api", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    assert!(error.message().contains("AADSTS70021"), "{error}");
    assert!(
        !error.message().contains("mi-"),
        "no token in messages: {error}"
    );
}

#[test]
fn workload_identity_needs_no_client_credentials_and_follows_a_rotated_token_file() {
    let setup = setup(Platform::Imds);
    let (tokens, resource) = entra(&setup);
    let expected = Arc::new(Mutex::new("projected-token-1".to_string()));
    let wanted = expected.clone();
    tokens
        .issuer
        .set_federation(Some(Arc::new(move |assertion: &str| {
            let wanted = wanted.lock().unwrap();
            if assertion == *wanted {
                Ok(())
            } else {
                Err(format!("expected the projected token {wanted}"))
            }
        })));
    let token_file = setup
        .dir
        .write("azure-identity-token", "projected-token-1\n");
    let environment = vec![
        ("AZURE_CLIENT_ID".to_string(), CLIENT_ID.to_string()),
        ("AZURE_TENANT_ID".to_string(), TENANT.to_string()),
        ("AZURE_FEDERATED_TOKEN_FILE".to_string(), token_file.clone()),
        ("AZURE_AUTHORITY_HOST".to_string(), tokens.instance()),
    ];
    let config = entra_config(&setup, &tokens, &resource, "{}");
    let client = DownstreamApi::from_json_with_environment(&config, environment).unwrap();
    assert_eq!(client.call("Api", None, b"").unwrap().status, 200);

    // The kubelet renews the projected token by renaming a new file over it.
    let renewed = setup
        .dir
        .write("azure-identity-token.new", "projected-token-2\n");
    std::fs::rename(&renewed, &token_file).unwrap();
    *expected.lock().unwrap() = "projected-token-2".to_string();
    let forced = Some(r#"{"AcquireTokenOptions": {"ForceRefresh": true}}"#);
    assert_eq!(client.call("Api", forced, b"").unwrap().status, 200);
    tokens.issuer.assert_no_failures();
    assert_eq!(tokens.issuer.token_request_count(), 2);
    assert_eq!(setup.endpoint.requests(), 0, "no managed identity involved");
}

#[test]
fn no_managed_identity_on_this_host_fails_fast_with_one_clear_error() {
    let setup = setup(Platform::Imds);
    // A refused port, and an address that never answers a connection (as 169.254.169.254 does
    // off Azure): a listener nobody accepts on, its backlog full.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_address = silent.local_addr().unwrap();
    let fillers: Vec<TcpStream> = (0..512)
        .map_while(|_| TcpStream::connect_timeout(&silent_address, Duration::from_millis(200)).ok())
        .collect();
    assert!(!fillers.is_empty());
    for base in [
        format!("http://127.0.0.1:{}", free_port()),
        format!("http://{silent_address}"),
    ] {
        let environment = vec![(
            "AZURE_POD_IDENTITY_AUTHORITY_HOST".to_string(),
            base.clone(),
        )];
        // Http.ConnectTimeoutSeconds stays at its 10 s default: the 1 s bound is the platform's.
        let client =
            DownstreamApi::from_json_with_environment(&setup.vault_config("{}"), environment)
                .unwrap();
        let started = Instant::now();
        let error = client.call("Vault", None, b"").unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{base}: {:?}",
            started.elapsed()
        );
        assert_eq!(error.kind(), ErrorKind::CredentialUnavailable, "{error}");
        assert!(
            error.message().contains("no managed identity on this host"),
            "{error}"
        );
    }
}

#[test]
fn refresh_in_is_honoured_and_a_failed_early_refresh_keeps_the_valid_token_without_waiting() {
    let setup = setup(Platform::AppService);
    setup.endpoint.set_refresh_in(Some(1));
    let client = setup.vault("{}");
    setup.call_vault(&client, None);
    assert_eq!(setup.endpoint.requests(), 1);
    std::thread::sleep(Duration::from_millis(1100));
    // Due for refresh: the endpoint fails, the cached token is used at once (no 1 s backoff).
    setup.endpoint.push_statuses(&[(500, None)]);
    let started = Instant::now();
    setup.call_vault(&client, None);
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        setup.endpoint.requests(),
        2,
        "one refresh attempt, no retry"
    );
    assert_eq!(setup.endpoint.issued().len(), 1);
}

#[test]
fn misconfigurations_are_clear_errors() {
    let setup = setup(Platform::AppService);
    let config = setup.vault_config("{}");
    let only_endpoint = vec![(
        "IDENTITY_ENDPOINT".to_string(),
        "http://127.0.0.1:9/msi/token".to_string(),
    )];
    let error = DownstreamApi::from_json_with_environment(&config, only_endpoint)
        .unwrap()
        .call("Vault", None, b"")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error
            .message()
            .contains("IDENTITY_ENDPOINT is set without IDENTITY_HEADER"),
        "{error}"
    );

    let client = setup.client(&config);
    let error = client
        .acquire_token(
            &["api://a/.default", "api://b/.default"],
            Some(r#"{"ManagedIdentity": {}}"#),
        )
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    assert!(error.message().contains("one resource"), "{error}");

    let two_ids =
        setup.vault_config(r#"{"UserAssignedClientId": "a", "UserAssignedObjectId": "b"}"#);
    let error = DownstreamApi::from_json_with_environment(&two_ids, Vec::new())
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error
            .message()
            .contains("Vault.AcquireTokenOptions.ManagedIdentity"),
        "{error}"
    );

    let pop = config.replace(
        r#""RequestAppToken": true"#,
        r#""RequestAppToken": true, "ProtocolScheme": "MTLS_POP""#,
    );
    let error = DownstreamApi::from_json_with_environment(&pop, Vec::new())
        .err()
        .unwrap();
    assert!(
        error
            .message()
            .contains("a managed identity's tokens are Bearer tokens"),
        "{error}"
    );

    // A token never goes over plain http, managed identity or not.
    let plain = setup.config("http://127.0.0.1:9/", "{}");
    let error = setup.client(&plain).call("Vault", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InsecureUrl, "{error}");
    assert_eq!(
        setup.endpoint.requests(),
        0,
        "no token fetched for an http:// API"
    );
}

#[test]
fn readiness_checks_the_source_and_the_identity_kind_without_a_request() {
    let setup = setup(Platform::Arc);
    let ready = setup.vault("{}").check();
    assert!(ready[0].problem.is_none(), "{:?}", ready[0].problem);
    let user_assigned = setup.vault_config(r#"{"UserAssignedClientId": "c"}"#);
    let not_ready = setup.client(&user_assigned).check();
    let problem = not_ready[0].problem.as_ref().expect("Arc cannot select it");
    assert!(
        problem
            .message()
            .contains("Azure Arc has only the machine's identity"),
        "{problem}"
    );
    assert_eq!(setup.endpoint.requests(), 0, "a check sends nothing");
}

/// D15: a managed-identity token the API refuses (401) is dropped from the cache, so the next
/// call gets a new one instead of sending the refused token until its stated expiry.
#[test]
fn a_token_the_api_refuses_is_dropped_and_the_next_call_gets_a_new_one() {
    let setup = setup(Platform::AppService);
    let client = setup.vault("{}");
    setup.call_vault(&client, None);
    assert_eq!(setup.endpoint.requests(), 1);
    setup.endpoint.revoke_issued();
    let refused = client.call("Vault", None, b"").unwrap();
    assert_eq!(refused.status, 401, "the API's answer is returned as it is");
    assert_eq!(setup.endpoint.requests(), 1, "no retry");
    assert_eq!(
        setup.call_vault(&client, None),
        format!("system {RESOURCE}")
    );
    assert_eq!(
        setup.endpoint.requests(),
        2,
        "a new token for the next call"
    );
    setup.endpoint.assert_no_failures();
}
