//! The C++ layer (include/downstream_api.hpp) for users and agents: tests/cpp/users_and_agents.cpp
//! compiled under AddressSanitizer and UndefinedBehaviorSanitizer, run against the fake endpoint.

use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::token_server::Leg;

use super::program::{compile_cpp, run_with_time_limit};
use super::{AGENT, SCOPE, setup};

#[test]
fn a_user_a_session_an_agent_and_its_user_through_the_cpp_layer() {
    let setup = setup();
    setup
        .issuer()
        .add_agent_user(AGENT, "agent-user-oid", "agent.user@contoso.example");
    let config = setup.dir.write("appsettings.json", setup.config());
    let token = setup
        .dir
        .write("alice.token", setup.user_token("alice-oid"));
    let program = setup.dir.path().join("users_and_agents_cpp");
    compile_cpp("tests/cpp/users_and_agents.cpp", &program);
    let mut command = Command::new(&program);
    command
        .args([
            &config,
            &token,
            AGENT,
            "agent.user@contoso.example",
            "agent-user-oid",
        ])
        .env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (code, output) = run_with_time_limit(command, Duration::from_secs(120));
    assert_eq!(code, Some(0), "{output}");
    let user = format!("200 user alice-oid {SCOPE}");
    let agent_user =
        format!("200 agent-user {AGENT} agent-user-oid agent.user@contoso.example {SCOPE}");
    let expected = [
        format!("user: {user}"),
        format!("session start: {user}"),
        format!("session: {user}"),
        "unknown session: DSAPI_USER_INTERACTION_REQUIRED".to_string(),
        format!("agent: 200 agent {AGENT} {SCOPE}"),
        format!("agent user by upn: {agent_user}"),
        format!("agent user by id: {agent_user}"),
        "agent header scheme: Bearer".to_string(),
        "odd agent: DSAPI_TOKEN_ACQUISITION_FAILED".to_string(),
        "validated: alice".to_string(),
        "malformed: DSAPI_TOKEN_INVALID".to_string(),
        // As the endpoint counts them below (the agent's exchange and app tokens are both
        // agent_client_credentials).
        "metrics: on_behalf_of 2 client_credentials_fmi 2 agent_client_credentials 2 user_fic 2"
            .to_string(),
    ];
    let lines: Vec<&str> = output.lines().take(expected.len()).collect();
    assert_eq!(lines, expected, "{output}");
    // The session's start made one on-behalf-of request (alice's token was cached before it
    // under another key); the agent's legs were asked for once each, the user's token once per
    // way of naming the user (the cache key holds the UPN or the object id as given); the odd
    // agent was refused at leg 1, its name intact (the endpoint's failure quotes it).
    assert_eq!(setup.issuer().requests_in(Leg::OnBehalfOf), 2);
    assert_eq!(setup.issuer().requests_in(Leg::FmiCredential), 2);
    let failures = setup.issuer().failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("quote\"and\nnewline"), "{failures:?}");
    assert_eq!(setup.issuer().requests_in(Leg::AgentExchange), 1);
    assert_eq!(setup.issuer().requests_in(Leg::AgentAppToken), 1);
    assert_eq!(setup.issuer().requests_in(Leg::UserFic), 2);
}
