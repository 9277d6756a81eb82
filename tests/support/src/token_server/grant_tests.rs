//! The strict checks of the user and agent grants, driven through the issuer's request handler
//! (no sockets): what each leg accepts, and a few of the mixed or forged requests it refuses.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::*;
use crate::server::Seen;

const APP: &str = "11111111-1111-1111-1111-111111111111";
const SECRET: &str = "blueprint-secret";
const TENANT: &str = "tenant-one";
const AGENT: &str = "aaaaaaaa-0000-0000-0000-00000000000a";
const OTHER_AGENT: &str = "bbbbbbbb-0000-0000-0000-00000000000b";
const AGENT_USER_OID: &str = "cccccccc-0000-0000-0000-00000000000c";
const AGENT_USER_UPN: &str = "agent.user@contoso.example";
const API_SCOPE: &str = "https://api.example/.default";
const OBO_SCOPE: &str = "https://api.example/.default openid profile offline_access";
const SECRET_AUTH: [(&str, &str); 2] = [("client_id", APP), ("client_secret", SECRET)];

fn issuer() -> Arc<TokenIssuer> {
    let issuer = TokenIssuer::new(APP);
    issuer.set_client_secret(Some(SECRET));
    // The port only names the audience of certificate assertions, unused here.
    issuer.state().port = Some(1);
    issuer.add_agent(OTHER_AGENT);
    issuer.add_agent_user(AGENT, AGENT_USER_OID, AGENT_USER_UPN);
    issuer
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Posts `form` to the Entra path of TENANT: (status, JSON answer).
fn post(issuer: &TokenIssuer, form: &[(&str, &str)]) -> (u16, Value) {
    let body: Vec<String> = (form.iter())
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let seen = Seen {
        connection: 0,
        client_cert: None,
        method: "POST".into(),
        target: format!("/{TENANT}/oauth2/v2.0/token"),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: body.join("&").into_bytes(),
    };
    let reply = issuer.handle(&seen, false);
    let answer = serde_json::from_slice(&reply.body).expect("a JSON answer");
    (reply.status, answer)
}

fn obo_form<'a>(assertion: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", JWT_BEARER_GRANT),
        ("requested_token_use", "on_behalf_of"),
        ("assertion", assertion),
        ("scope", OBO_SCOPE),
        ("client_info", "1"),
    ];
    form.extend(SECRET_AUTH);
    form.extend_from_slice(extra);
    form
}

/// Asserts a refusal: its status and that its description starts with `code`.
fn assert_refused(answer: (u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let description = answer.1["error_description"].as_str().unwrap_or_default();
    assert!(description.starts_with(code), "{code}: {description}");
}

fn access_token(answer: &(u16, Value)) -> String {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1["access_token"]
        .as_str()
        .expect("a token")
        .to_string()
}

#[test]
fn obo_answers_a_token_for_the_user_of_a_minted_assertion_only() {
    let issuer = issuer();
    let alice = UserToken::new("oid-alice", "alice@contoso.example", TENANT);
    let assertion = issuer.mint_user_token(&alice);
    let answer = post(&issuer, &obo_form(&assertion, &[]));
    let token = access_token(&answer);
    assert_eq!(
        issuer.subject_of(&token),
        Some(Subject::User {
            oid: "oid-alice".into(),
            tid: TENANT.into(),
            upn: "alice@contoso.example".into()
        })
    );
    assert!(answer.1["refresh_token"].as_str().is_some());
    let info = URL_SAFE_NO_PAD.decode(answer.1["client_info"].as_str().unwrap());
    let info: Value = serde_json::from_slice(&info.unwrap()).unwrap();
    assert_eq!(
        (info["uid"].as_str(), info["utid"].as_str()),
        (Some("oid-alice"), Some(TENANT))
    );

    let forged = issuer.forge_user_token(&alice);
    assert_refused(post(&issuer, &obo_form(&forged, &[])), 400, "AADSTS50013");
    let elsewhere = issuer.mint_user_token(&alice.clone().audience("api://another-app"));
    assert_refused(
        post(&issuer, &obo_form(&elsewhere, &[])),
        400,
        "AADSTS50013",
    );
    issuer.expire_user_token(&assertion);
    assert_refused(
        post(&issuer, &obo_form(&assertion, &[])),
        400,
        "AADSTS500133",
    );
    let for_api = issuer.mint_user_token(&alice.audience(&format!("api://{APP}")));
    access_token(&post(&issuer, &obo_form(&for_api, &[])));
    assert_eq!(issuer.requests_in(Leg::OnBehalfOf), 5);
    assert_eq!(issuer.issued_in(Leg::OnBehalfOf).len(), 2);
    assert_eq!(issuer.failures().len(), 3);
}

#[test]
fn mixed_or_incomplete_user_requests_are_refused() {
    let issuer = issuer();
    let bob = issuer.mint_user_token(&UserToken::new("oid-bob", "bob@contoso.example", TENANT));
    let with_fmi = obo_form(&bob, &[("fmi_path", AGENT)]);
    assert_refused(post(&issuer, &with_fmi), 400, "AADSTS90100");
    let mut no_use = obo_form(&bob, &[]);
    no_use.retain(|(k, _)| *k != "requested_token_use");
    assert_refused(post(&issuer, &no_use), 400, "AADSTS900144");
    let mut bare_scope = obo_form(&bob, &[]);
    bare_scope.retain(|(k, _)| *k != "scope");
    bare_scope.push(("scope", API_SCOPE));
    assert_refused(post(&issuer, &bare_scope), 400, "AADSTS70011");
    let mut app_with_user = vec![
        ("grant_type", "client_credentials"),
        ("scope", API_SCOPE),
        ("username", AGENT_USER_UPN),
    ];
    app_with_user.extend(SECRET_AUTH);
    assert_refused(post(&issuer, &app_with_user), 400, "AADSTS90100");
    let mut wrong_secret = obo_form(&bob, &[]);
    wrong_secret.retain(|(k, _)| *k != "client_secret");
    wrong_secret.push(("client_secret", "nope"));
    assert_refused(post(&issuer, &wrong_secret), 401, "AADSTS7000215");
    assert_eq!(issuer.issued().len(), 0);
}

#[test]
fn a_refresh_token_serves_its_client_until_revoked() {
    let issuer = issuer();
    let carol = UserToken::new("oid-carol", "carol@contoso.example", TENANT);
    let assertion = issuer.mint_user_token(&carol);
    let first = post(&issuer, &obo_form(&assertion, &[]));
    access_token(&first);
    let refresh_token = first.1["refresh_token"].as_str().unwrap().to_string();
    issuer.expire_user_token(&assertion);
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
        ("scope", OBO_SCOPE),
        ("client_info", "1"),
    ];
    form.extend(SECRET_AUTH);
    let renewed = access_token(&post(&issuer, &form));
    assert!(
        matches!(issuer.subject_of(&renewed), Some(Subject::User { oid, .. }) if oid == "oid-carol")
    );
    let mut with_assertion = form.clone();
    with_assertion.push(("assertion", assertion.as_str()));
    assert_refused(post(&issuer, &with_assertion), 400, "AADSTS90100");
    issuer.revoke_refresh_tokens();
    assert_refused(post(&issuer, &form), 400, "AADSTS700082");
    assert_eq!(issuer.requests_in(Leg::RefreshToken), 3);
    assert_eq!(issuer.issued_for_user("oid-carol").len(), 2);
}

/// Leg 1 for `agent`: T1.
fn t1_for(issuer: &TokenIssuer, agent: &str) -> String {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("scope", TOKEN_EXCHANGE_SCOPE),
        ("fmi_path", agent),
    ];
    form.extend(SECRET_AUTH);
    access_token(&post(issuer, &form))
}

/// The agent's client_credentials for `scope` with `t1` as its client assertion.
fn as_agent(issuer: &TokenIssuer, t1: &str, scope: &str) -> (u16, Value) {
    post(
        issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", AGENT),
            ("scope", scope),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", t1),
        ],
    )
}

#[test]
fn an_agent_gets_its_app_token_with_t1_of_its_own() {
    let issuer = issuer();
    let t1 = t1_for(&issuer, AGENT);
    assert_eq!(
        issuer.subject_of(&t1),
        Some(Subject::FmiCredential {
            blueprint: APP.into(),
            agent: AGENT.into()
        })
    );
    let token = access_token(&as_agent(&issuer, &t1, API_SCOPE));
    assert_eq!(
        issuer.subject_of(&token),
        Some(Subject::Agent {
            agent: AGENT.into()
        })
    );
    let claims = claims_of(&token).unwrap();
    assert_eq!(claims["xms_par_app_azp"], APP);
    let t1_of_other = t1_for(&issuer, OTHER_AGENT);
    assert_refused(
        as_agent(&issuer, &t1_of_other, API_SCOPE),
        401,
        "AADSTS70021",
    );
    assert_refused(as_agent(&issuer, &token, API_SCOPE), 401, "AADSTS70021");
    let mut wrong_scope = vec![
        ("grant_type", "client_credentials"),
        ("scope", API_SCOPE),
        ("fmi_path", AGENT),
    ];
    wrong_scope.extend(SECRET_AUTH);
    assert_refused(post(&issuer, &wrong_scope), 400, "AADSTS70011");
    assert_eq!(issuer.requests_in(Leg::FmiCredential), 3);
    assert_eq!(issuer.requests_in(Leg::AgentAppToken), 3);
}

/// Leg 3 with T1, T2 and the user fields given.
fn user_fic<'a>(t1: &'a str, t2: &'a str, user: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", USER_FIC_GRANT),
        ("client_id", AGENT),
        ("client_assertion_type", CLIENT_ASSERTION_TYPE),
        ("client_assertion", t1),
        ("user_federated_identity_credential", t2),
        ("scope", OBO_SCOPE),
        ("client_info", "1"),
    ];
    form.extend_from_slice(user);
    form
}

#[test]
fn an_agent_user_token_needs_t1_t2_and_exactly_one_user_field() {
    let issuer = issuer();
    let t1 = t1_for(&issuer, AGENT);
    let t2 = access_token(&as_agent(&issuer, &t1, TOKEN_EXCHANGE_SCOPE));
    let agent_user = Some(Subject::AgentUser {
        agent: AGENT.into(),
        oid: AGENT_USER_OID.into(),
        upn: AGENT_USER_UPN.into(),
    });
    let by_upn = access_token(&post(
        &issuer,
        &user_fic(&t1, &t2, &[("username", AGENT_USER_UPN)]),
    ));
    assert_eq!(issuer.subject_of(&by_upn), agent_user);
    let by_oid = access_token(&post(
        &issuer,
        &user_fic(&t1, &t2, &[("user_id", AGENT_USER_OID)]),
    ));
    assert_eq!(issuer.subject_of(&by_oid), agent_user);
    assert_eq!(claims_of(&by_oid).unwrap()["xms_sub_fct"], "13");

    let both = [("username", AGENT_USER_UPN), ("user_id", AGENT_USER_OID)];
    assert_refused(
        post(&issuer, &user_fic(&t1, &t2, &both)),
        400,
        "AADSTS90100",
    );
    assert_refused(post(&issuer, &user_fic(&t1, &t2, &[])), 400, "AADSTS900144");
    let upn = [("username", AGENT_USER_UPN)];
    assert_refused(post(&issuer, &user_fic(&t1, &t1, &upn)), 400, "AADSTS70021");
    let mut without_t2 = user_fic(&t1, &t2, &upn);
    without_t2.retain(|(k, _)| *k != "user_federated_identity_credential");
    assert_refused(post(&issuer, &without_t2), 400, "AADSTS900144");
    let obo_use = [
        ("username", AGENT_USER_UPN),
        ("requested_token_use", "on_behalf_of"),
    ];
    assert_refused(
        post(&issuer, &user_fic(&t1, &t2, &obo_use)),
        400,
        "AADSTS90100",
    );
    let stranger = [("username", "stranger@contoso.example")];
    assert_refused(
        post(&issuer, &user_fic(&t1, &t2, &stranger)),
        400,
        "AADSTS50034",
    );
    assert_eq!(issuer.requests_in(Leg::UserFic), 8);
    assert_eq!(issuer.issued_in(Leg::UserFic).len(), 2);
    assert_eq!(issuer.requests_in(Leg::AgentExchange), 1);
}

#[test]
fn mfa_policy_and_user_claims_challenge_ask_for_the_user() {
    let issuer = issuer();
    issuer.set_mfa_policy(MfaPolicy::Users(vec!["oid-dave".into()]));
    let dave = UserToken::new("oid-dave", "dave@contoso.example", TENANT);
    let without_mfa = issuer.mint_user_token(&dave);
    let answer = post(&issuer, &obo_form(&without_mfa, &[]));
    assert_refused(answer.clone(), 400, "AADSTS50076");
    assert_eq!(answer.1["error"], "invalid_grant");
    assert_eq!(answer.1["claims"], MFA_CLAIMS_JSON);
    let with_mfa = issuer.mint_user_token(&dave.with_mfa());
    let token = access_token(&post(&issuer, &obo_form(&with_mfa, &[])));
    assert!(issuer.failures().is_empty(), "{:?}", issuer.failures());

    issuer.set_user_claims_challenge(true);
    let resource = |token: &str| {
        issuer.identity_resource(&Seen {
            connection: 0,
            client_cert: None,
            method: "GET".into(),
            target: "/me".into(),
            headers: vec![("Authorization".into(), format!("Bearer {token}"))],
            body: Vec::new(),
        })
    };
    let challenged = resource(&token);
    assert_eq!(challenged.status, 401);
    assert!(challenged.headers[1].1.contains(USER_CLAIMS_BASE64));
    let with_claims = obo_form(&with_mfa, &[("claims", USER_CLAIMS_JSON)]);
    let token = access_token(&post(&issuer, &with_claims));
    let answer = resource(&token);
    assert_eq!(
        (answer.status, String::from_utf8(answer.body).unwrap()),
        (200, format!("user oid-dave {API_SCOPE}"))
    );
}
