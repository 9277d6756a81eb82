//! The routes without a caller's token: shapes, statuses and problem details as the original's,
//! MTLS through the sidecar (which the original cannot do), the raw route's bytes, and the
//! per-request options with their gating.

use serde_json::json;

use super::{
    AGENT, AGENT_USER_OID, AGENT_USER_UPN, APP_SCOPE, CLIENT_ID, Sidecar, header_claims, setup,
};

#[test]
fn health_unknown_paths_and_wrong_methods_answer_as_the_original() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    let health = sidecar.get("/healthz", &[]);
    assert_eq!((health.status, health.text().as_str()), (200, "Healthy"));
    assert_eq!(
        health.header("Cache-Control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert_eq!(
        sidecar.get("/HealthZ", &[]).status,
        200,
        "paths match in any case"
    );
    let unknown = sidecar.get("/nothing/here", &[]);
    assert_eq!((unknown.status, unknown.body.len()), (404, 0));
    let wrong = sidecar.get("/DownstreamApiUnauthenticated/Mtls", &[]);
    assert_eq!((wrong.status, wrong.header("Allow")), (405, Some("POST")));
    assert_eq!(
        sidecar
            .post("/AuthorizationHeaderUnauthenticated/App", &[], b"")
            .status,
        405
    );
}

#[test]
fn an_app_tokens_header_and_the_problems_of_an_unknown_api_and_a_user_api() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    let answer = sidecar.get("/AuthorizationHeaderUnauthenticated/App", &[]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        answer
            .header("Content-Type")
            .unwrap()
            .starts_with("application/json")
    );
    let header = answer.json()["authorizationHeader"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(header.starts_with("Bearer "), "{header}");
    let request = setup.issuer().token_requests().pop().unwrap();
    assert_eq!(request.param("scope"), Some(APP_SCOPE));

    let unknown = sidecar.get("/AuthorizationHeaderUnauthenticated/Nope", &[]);
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.header("Content-Type"),
        Some("application/problem+json")
    );
    assert_eq!(
        unknown.json(),
        json!({"type": "https://tools.ietf.org/html/rfc9110#section-15.5.1", "title": "Bad Request",
               "status": 400, "detail": "No scopes found for the API 'Nope' or in optionsOverride. \
               'scopes' needs to be either a single value or a list of values."})
    );
    let user_api = sidecar.get("/AuthorizationHeaderUnauthenticated/Users", &[]);
    assert_eq!(user_api.status, 401, "{}", user_api.text());
    assert_eq!(user_api.json()["title"], "Unauthorized");
    assert!(
        user_api.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("No account or login hint")
    );
    setup.issuer().assert_no_failures();
}

#[test]
fn an_mtls_api_through_the_envelope_needs_no_scope() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    let answer = sidecar.post("/DownstreamApiUnauthenticated/Mtls", &[], b"");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let envelope = answer.json();
    assert_eq!(envelope["statusCode"], 200);
    assert_eq!(envelope["headers"]["Content-Type"], json!(["text/plain"]));
    let content = envelope["content"].as_str().unwrap();
    assert!(
        content.contains("CN=sidecar-app") && content.contains("verify=SUCCESS"),
        "{content}"
    );
    assert!(
        envelope["headers"].get("X-Mtls-Verify").is_none(),
        "content headers only, as the original"
    );
}

/// Every byte value, `size` bytes.
fn binary(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 % 256) as u8).collect()
}

#[test]
fn the_raw_route_returns_status_headers_and_bytes_as_they_came() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    for size in [256, 3 * 1024 * 1024] {
        let body = binary(size);
        let answer = sidecar.post(
            "/DownstreamApiRawUnauthenticated/Bytes",
            &[("Content-Type", "application/octet-stream")],
            &body,
        );
        assert_eq!(answer.status, 201);
        assert!(answer.body == body, "{size} bytes came back intact");
        assert_eq!(
            answer.header("Content-Type"),
            Some("application/octet-stream")
        );
        assert_eq!(answer.header("X-Seen-Method"), Some("POST"));
    }
    // The envelope carries text: binary is not intact there (the original's limit).
    let answer = sidecar.post(
        "/DownstreamApiUnauthenticated/Bytes",
        &[("Content-Type", "application/octet-stream")],
        &binary(256),
    );
    assert_eq!(answer.json()["statusCode"], 201);
    assert!(
        answer.json()["content"]
            .as_str()
            .unwrap()
            .contains('\u{fffd}')
    );
}

const OVERRIDES: &str = "optionsOverride.RelativePath=other&optionsOverride.ExtraQueryParameters.q=2\
    &optionsOverride.ExtraHeaderParameters.X-Trace=t1&optionsOverride.HttpMethod=PUT\
    &optionsOverride.BaseUrl=https%3A%2F%2F192.0.2.1";

fn seen_target(sidecar: &Sidecar) -> (String, String, String) {
    let answer = sidecar.post(
        &format!("/DownstreamApiRawUnauthenticated/Bytes?{OVERRIDES}"),
        &[],
        b"",
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    let get = |name: &str| answer.header(name).unwrap_or("").to_string();
    (
        get("X-Seen-Method"),
        get("X-Seen-Target"),
        get("X-Seen-Header"),
    )
}

#[test]
fn overrides_are_ignored_where_not_allowed_and_applied_where_allowed() {
    let setup = setup();
    let closed = setup.serve("", &[]);
    assert_eq!(
        seen_target(&closed),
        ("POST".into(), "/bytes".into(), "none".into())
    );
    assert!(
        closed
            .stderr()
            .contains("ignored on CallDownstreamApiRawUnauthenticated"),
        "{}",
        closed.stderr()
    );
    let open = setup.serve(
        r#"{"AllowOverrides": {"CallDownstreamApiRawUnauthenticated": true}}"#,
        &[],
    );
    let expected = (
        "PUT".to_string(),
        "/other?q=2".to_string(),
        "t1".to_string(),
    );
    assert_eq!(seen_target(&open), expected, "BaseUrl is never taken");
    assert!(
        open.stderr().contains("optionsOverride.BaseUrl"),
        "{}",
        open.stderr()
    );
    // ASP.NET's environment form of the same setting.
    let config = setup.config_file("");
    let by_environment = Sidecar::start(
        &config,
        &[],
        &[(
            "Sidecar__AllowOverrides__CallDownstreamApiRawUnauthenticated",
            "true",
        )],
    );
    assert_eq!(seen_target(&by_environment), expected);
}

#[test]
fn agent_parameters_and_scopes_on_the_unauthenticated_header_route() {
    let setup = setup();
    let closed = setup.serve("", &[]);
    let ignored = closed.get(
        &format!("/AuthorizationHeaderUnauthenticated/Users?AgentIdentity={AGENT}"),
        &[],
    );
    assert_eq!(
        ignored.status, 401,
        "the agent is ignored: Users wants a user"
    );
    let sidecar = setup.serve(
        r#"{"AllowOverrides": {"GetAuthorizationHeaderUnauthenticated": true}}"#,
        &[],
    );
    let claims = |query: &str| {
        let answer = sidecar.get(
            &format!("/AuthorizationHeaderUnauthenticated/Users?{query}"),
            &[],
        );
        assert_eq!(answer.status, 200, "{query}: {}", answer.text());
        header_claims(answer.json()["authorizationHeader"].as_str().unwrap())
    };
    assert_eq!(claims(&format!("AgentIdentity={AGENT}"))["azp"], AGENT);
    let by_upn = claims(&format!(
        "agentidentity={AGENT}&AgentUsername={AGENT_USER_UPN}"
    ));
    assert_eq!(by_upn["oid"], AGENT_USER_OID);
    assert_eq!(
        claims(&format!(
            "AgentIdentity={AGENT}&AgentUserId={AGENT_USER_OID}"
        ))["oid"],
        AGENT_USER_OID
    );
    // Scopes and RequestAppToken from the query, as the Agents SDK's client sends them.
    let answer = sidecar.get(
        "/AuthorizationHeaderUnauthenticated/Users?optionsOverride.Scopes=api%3A%2F%2Fother%2F.default\
         &optionsOverride.RequestAppToken=true",
        &[],
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let request = setup.issuer().token_requests().pop().unwrap();
    assert_eq!(request.param("scope"), Some("api://other/.default"));
    assert_eq!(request.param("client_id"), Some(CLIENT_ID));
    setup.issuer().assert_no_failures();
}

/// The platform's managed identity (App Service's endpoint, selected by the environment the
/// sidecar's process gets, as on the platform) gives the token of an API that names it.
#[test]
fn a_managed_identitys_token_through_the_sidecar() {
    use std::sync::Arc;
    use test_support::identity_endpoint::{IdentityEndpoint, Platform};
    use test_support::pki::TestCa;
    use test_support::server::{ClientAuth, TestServer};
    let setup = setup();
    let ca = TestCa::new("MI CA");
    let endpoint = Arc::new(IdentityEndpoint::start(Platform::AppService, &ca));
    let resource = TestServer::start(
        ca.server(),
        ClientAuth::None,
        IdentityEndpoint::resource_handler(endpoint.clone(), "api://vault"),
    );
    let config = setup.dir.write(
        "managed-identity.json",
        format!(
            r#"{{"DownstreamApis": {{"Vault": {{"BaseUrl": {}, "RelativePath": "secrets",
                  "Scopes": ["api://vault/.default"], "RequestAppToken": true,
                  "AcquireTokenOptions": {{"ManagedIdentity": {{}}}}}}}},
                "Http": {{"CaBundlePath": {}}}}}"#,
            test_support::json_str(&resource.url()),
            test_support::json_str(&setup.dir.write("mi-ca.pem", &ca.cert_pem)),
        ),
    );
    let environment = endpoint.environment();
    let environment: Vec<(&str, &str)> = environment
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let sidecar = Sidecar::start(&config, &[], &environment);
    for _ in 0..2 {
        let answer = sidecar.post("/DownstreamApiUnauthenticated/Vault", &[], b"");
        assert_eq!(
            answer.json()["content"],
            "system api://vault",
            "{}",
            answer.text()
        );
    }
    assert_eq!(
        endpoint.requests(),
        1,
        "the platform's token is cached by the sidecar"
    );
    endpoint.assert_no_failures();
}

/// MTLS_POP through the sidecar (the original cannot: its caller never holds the bound key): the
/// token asked over mTLS, bound to the certificate, presented with it to the resource.
#[test]
fn an_mtls_pop_api_through_the_sidecar() {
    use test_support::pki::{TestCa, Validity};
    use test_support::server::{ClientAuth, TestServer};
    use test_support::token_server::{TokenIssuer, TokenServer, bound_resource_handler};
    let ca = TestCa::new("PoP CA");
    let client = ca.client("pop-sidecar", Validity::CURRENT);
    let issuer = TokenIssuer::new("pop-sidecar-app");
    issuer.set_certificate(Some(client.cert_der.as_ref()));
    let tokens = TokenServer::start_mtls(&ca, issuer.clone());
    let roots = [ca.cert_der.clone()];
    let resource = TestServer::start(
        ca.server(),
        ClientAuth::Optional(&roots),
        bound_resource_handler(issuer.clone(), "mtls_pop"),
    );
    let dir = test_support::TempDir::new("serve-pop");
    let config = dir.write(
        "appsettings.json",
        format!(
            r#"{{"AzureAd": {{"Instance": {}, "TenantId": "pop-tenant", "ClientId": "pop-sidecar-app",
                  "ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {}}}]}},
                "DownstreamApis": {{"Pop": {{"BaseUrl": {}, "RelativePath": "orders",
                  "ProtocolScheme": "MTLS_POP", "RequestAppToken": true,
                  "Scopes": ["api://pop/.default"]}}}},
                "Http": {{"CaBundlePath": {}}}}}"#,
            test_support::json_str(&tokens.instance()),
            test_support::json_str(&dir.write("client.pem", client.bundle_pem())),
            test_support::json_str(&resource.url()),
            test_support::json_str(&dir.write("ca.pem", &ca.cert_pem)),
        ),
    );
    let sidecar = Sidecar::start(&config, &[], &[]);
    for _ in 0..2 {
        let answer = sidecar.post("/DownstreamApiUnauthenticated/Pop", &[], b"");
        assert_eq!(answer.json()["statusCode"], 200, "{}", answer.text());
    }
    assert_eq!(issuer.token_request_count(), 1, "the bound token is cached");
    issuer.assert_no_failures();
}
