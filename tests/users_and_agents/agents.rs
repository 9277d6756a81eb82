//! Entra Agent ID: the configured app is the agent's blueprint.

use test_support::token_server::{Leg, TOKEN_EXCHANGE_SCOPE};

use super::{AGENT, CLIENT_ID, SCOPE, answer, setup};

#[test]
fn an_agents_token_takes_two_legs_each_asked_for_once() {
    let setup = setup();
    setup.issuer().add_agent(AGENT);
    let client = setup.client();
    let overrides = format!(r#"{{"AcquireTokenOptions": {{"AgentIdentity": "{AGENT}"}}}}"#);
    for _ in 0..2 {
        let response = client.call("Graph", Some(&overrides), b"").unwrap();
        assert_eq!(answer(response), format!("agent {AGENT} {SCOPE}"));
    }
    let t1 = setup.issuer().token_requests_in(Leg::FmiCredential);
    assert_eq!(t1.len(), 1);
    assert_eq!(t1[0].param("client_id"), Some(CLIENT_ID));
    assert_eq!(t1[0].param("fmi_path"), Some(AGENT));
    assert_eq!(t1[0].param("scope"), Some(TOKEN_EXCHANGE_SCOPE));
    let leg2 = setup.issuer().token_requests_in(Leg::AgentAppToken);
    assert_eq!(leg2.len(), 1);
    assert_eq!(leg2[0].param("client_id"), Some(AGENT));
    assert_eq!(
        leg2[0].param("client_secret"),
        None,
        "T1 is the agent's assertion"
    );
    setup.issuer().assert_no_failures();
}

fn agent_user(by: &str, value: &str) {
    let setup = setup();
    setup
        .issuer()
        .add_agent_user(AGENT, "agent-user-oid", "agent.user@contoso.example");
    let client = setup.client();
    let overrides =
        format!(r#"{{"AcquireTokenOptions": {{"AgentIdentity": "{AGENT}", "{by}": "{value}"}}}}"#);
    for _ in 0..2 {
        let response = client.call("Graph", Some(&overrides), b"").unwrap();
        assert_eq!(
            answer(response),
            format!("agent-user {AGENT} agent-user-oid agent.user@contoso.example {SCOPE}")
        );
    }
    for leg in [Leg::FmiCredential, Leg::AgentExchange, Leg::UserFic] {
        assert_eq!(setup.issuer().requests_in(leg), 1, "{leg:?}");
    }
    let fic = &setup.issuer().token_requests_in(Leg::UserFic)[0];
    assert_eq!(fic.param("client_id"), Some(AGENT));
    assert_eq!(fic.param("client_info"), Some("1"));
    setup.issuer().assert_no_failures();
}

#[test]
fn an_agent_users_token_by_upn_takes_three_legs_each_cached() {
    agent_user("AgentUsername", "agent.user@contoso.example");
}

#[test]
fn an_agent_users_token_by_object_id_takes_three_legs_each_cached() {
    agent_user("AgentUserId", "agent-user-oid");
}

/// The blueprint proves itself with a certificate (a signed assertion, with `x5c`) instead of a
/// secret: leg 1 carries it; the agent's legs carry T1 only.
#[test]
fn a_blueprint_on_a_certificate_signs_leg_one_only() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let setup = setup();
    let pem = test_support::fixture("rsa-client.pkcs8.pem");
    let der = CertificateDer::from_pem_file(&pem).unwrap();
    setup.issuer().set_certificate(Some(&der));
    setup.issuer().add_agent(AGENT);
    let config = setup.config_with(&test_support::credentials::certificate_file(&pem));
    let client = downstream_api::DownstreamApi::from_json(&config).unwrap();
    let overrides = format!(r#"{{"AcquireTokenOptions": {{"AgentIdentity": "{AGENT}"}}}}"#);
    let response = client.call("Graph", Some(&overrides), b"").unwrap();
    assert_eq!(answer(response), format!("agent {AGENT} {SCOPE}"));
    let t1 = &setup.issuer().token_requests_in(Leg::FmiCredential)[0];
    assert!(
        t1.assertion_claims.is_some(),
        "leg 1 is signed by the blueprint's certificate"
    );
    assert_eq!(t1.param("client_secret"), None);
    let leg2 = &setup.issuer().token_requests_in(Leg::AgentAppToken)[0];
    assert_eq!(leg2.param("client_id"), Some(AGENT));
    setup.issuer().assert_no_failures();
}

/// The blueprint proves itself with its managed identity's token (a federated credential): leg 1
/// carries that token, checked by the identity endpoint that issued it; the agent's legs carry T1.
#[test]
fn a_blueprint_on_a_managed_identity_federated_credential_signs_leg_one_only() {
    use std::sync::Arc;
    use test_support::identity_endpoint::{IdentityEndpoint, Platform};
    let setup = setup();
    let ca = test_support::pki::TestCa::new("Platform CA");
    let endpoint = Arc::new(IdentityEndpoint::start(Platform::AppService, &ca));
    let checker = endpoint.clone();
    setup
        .issuer()
        .set_federation(Some(Arc::new(move |assertion: &str| {
            checker
                .check_token(assertion, "api://AzureADTokenExchange")
                .map(|_| ())
        })));
    setup.issuer().add_agent(AGENT);
    let config = setup.config_with(r#"{"SourceType": "SignedAssertionFromManagedIdentity"}"#);
    let client =
        downstream_api::DownstreamApi::from_json_with_environment(&config, endpoint.environment())
            .unwrap();
    let overrides = format!(r#"{{"AcquireTokenOptions": {{"AgentIdentity": "{AGENT}"}}}}"#);
    for _ in 0..2 {
        let response = client.call("Graph", Some(&overrides), b"").unwrap();
        assert_eq!(answer(response), format!("agent {AGENT} {SCOPE}"));
    }
    assert_eq!(endpoint.requests(), 1, "the platform's token is cached");
    let t1 = &setup.issuer().token_requests_in(Leg::FmiCredential);
    assert_eq!(t1.len(), 1);
    assert_eq!(
        t1[0].param("client_assertion"),
        Some(endpoint.issued()[0].token.as_str())
    );
    let leg2 = &setup.issuer().token_requests_in(Leg::AgentAppToken)[0];
    assert_eq!(leg2.param("client_id"), Some(AGENT));
    assert_ne!(
        leg2.param("client_assertion"),
        t1[0].param("client_assertion")
    );
    setup.issuer().assert_no_failures();
    endpoint.assert_no_failures();
}
