//! The configuration examples of docs/guide/users-and-agents.md, read as written, then run
//! against the fake endpoint with their addresses, app and credential swapped for the test's.

use serde_json::{Value, json};

use super::{CLIENT_ID, SCOPE, SECRET, Setup, TENANT, answer, setup};

/// The guide's ```json blocks, each parsed.
fn guide_examples() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/guide/users-and-agents.md"
    );
    let text = std::fs::read_to_string(path).expect("the guide");
    let blocks: Vec<Value> = text
        .split("```json\n")
        .skip(1)
        .map(|rest| rest.split("```").next().expect("a closed block"))
        .map(|block| serde_json::from_str(block).unwrap_or_else(|e| panic!("{e}:\n{block}")))
        .collect();
    assert_eq!(blocks.len(), 2, "the guide's two configuration examples");
    blocks
}

/// `example` pointed at the fake endpoint and resource, the blueprint on the test's secret.
fn localized(setup: &Setup, mut example: Value) -> String {
    downstream_api::DownstreamApi::from_json(&example.to_string())
        .expect("the guide's example is a valid configuration as written");
    let azure_ad = &mut example["AzureAd"];
    azure_ad["Instance"] = json!(setup.tokens.instance());
    azure_ad["TenantId"] = json!(TENANT);
    azure_ad["ClientId"] = json!(CLIENT_ID);
    azure_ad["ClientCredentials"] = json!([{"SourceType": "ClientSecret", "ClientSecret": SECRET}]);
    for api in example["DownstreamApis"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        api["BaseUrl"] = json!(setup.resource.url());
        api["Scopes"] = json!([SCOPE]);
    }
    example["Http"] = json!({"CaBundlePath": setup.ca_path, "TimeoutSeconds": 20});
    example.to_string()
}

fn agent_of(example: &Value, api: &str) -> String {
    example["DownstreamApis"][api]["AcquireTokenOptions"]["AgentIdentity"]
        .as_str()
        .expect("an agent")
        .to_string()
}

#[test]
fn the_guides_web_api_calls_as_its_caller() {
    let setup = setup();
    let example = guide_examples().remove(0);
    let client = downstream_api::DownstreamApi::from_json(&localized(&setup, example)).unwrap();
    let alice = setup.user_token("alice-oid");
    let response = client.call_for_user("Graph", &alice, None, b"").unwrap();
    assert_eq!(answer(response), format!("user alice-oid {SCOPE}"));
    setup.issuer().assert_no_failures();
}

#[test]
fn the_guides_blueprint_calls_as_its_agent_and_as_the_agents_user() {
    let setup = setup();
    let example = guide_examples().remove(1);
    let agent = agent_of(&example, "AgentGraph");
    assert_eq!(agent, agent_of(&example, "AgentUserMail"));
    setup
        .issuer()
        .add_agent_user(&agent, "mail-user-oid", "agent.user@contoso.com");
    let client = downstream_api::DownstreamApi::from_json(&localized(&setup, example)).unwrap();
    let response = client.call("AgentGraph", None, b"").unwrap();
    assert_eq!(answer(response), format!("agent {agent} {SCOPE}"));
    let response = client.call("AgentUserMail", None, b"").unwrap();
    assert_eq!(
        answer(response),
        format!("agent-user {agent} mail-user-oid agent.user@contoso.com {SCOPE}")
    );
    setup.issuer().assert_no_failures();
}
