//! On-behalf-of: the wire, the cache by user, sessions, and the user needed.

use std::sync::Arc;

use downstream_api::ErrorKind;
use test_support::token_server::{Leg, MFA_CLAIMS_JSON, MfaPolicy};

use super::{CLIENT_ID, SCOPE, SECRET, answer, setup};

#[test]
fn a_users_token_is_asked_for_as_msal_asks_and_cached_for_that_user() {
    let setup = setup();
    let client = setup.client();
    let alice = setup.user_token("alice-oid");
    for _ in 0..2 {
        let response = client.call_for_user("Graph", &alice, None, b"").unwrap();
        assert_eq!(answer(response), format!("user alice-oid {SCOPE}"));
    }
    let requests = setup.issuer().token_requests_in(Leg::OnBehalfOf);
    assert_eq!(requests.len(), 1, "the second call used the cached token");
    let request = &requests[0];
    assert_eq!(request.param("requested_token_use"), Some("on_behalf_of"));
    assert_eq!(request.param("assertion"), Some(alice.as_str()));
    assert_eq!(request.param("client_id"), Some(CLIENT_ID));
    assert_eq!(request.param("client_secret"), Some(SECRET));
    assert_eq!(request.param("client_info"), Some("1"));
    let scope = request.param("scope").unwrap();
    for wanted in [SCOPE, "openid", "profile", "offline_access"] {
        assert!(scope.split(' ').any(|s| s == wanted), "{scope}");
    }
    setup.issuer().assert_no_failures();
}

#[test]
fn two_users_in_16_threads_never_receive_each_others_token() {
    let setup = setup();
    let client = Arc::new(setup.client());
    let users = [
        ("alice-oid", setup.user_token("alice-oid")),
        ("bob-oid", setup.user_token("bob-oid")),
    ];
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let client = client.clone();
            let (oid, token) = users[i % 2].clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let header = client
                        .authorization_header_for_user("Graph", &token, None)
                        .unwrap();
                    let response = client.call_for_user("Graph", &token, None, b"").unwrap();
                    assert_eq!(answer(response), format!("user {oid} {SCOPE}"));
                    assert!(header.starts_with("Bearer "));
                }
            })
        })
        .collect();
    for call in calls {
        call.join().unwrap();
    }
    assert_eq!(
        setup.issuer().requests_in(Leg::OnBehalfOf),
        2,
        "one per user"
    );
    for (oid, _) in &users {
        assert_eq!(setup.issuer().issued_for_user(oid).len(), 1, "{oid}");
    }
}

#[test]
fn a_long_running_session_is_renewed_with_its_refresh_token_after_the_users_token_expired() {
    let setup = setup();
    let client = setup.client();
    let carol = setup.user_token("carol-oid");
    let start = r#"{"AcquireTokenOptions": {"LongRunningWebApiSessionKey": "job-42"}}"#;
    let response = client
        .call_for_user("Graph", &carol, Some(start), b"")
        .unwrap();
    assert_eq!(answer(response), format!("user carol-oid {SCOPE}"));
    setup.issuer().expire_user_token(&carol);
    // Later, without the user's token: the session's cached token, then a renewal.
    let later = r#"{"AcquireTokenOptions": {"LongRunningWebApiSessionKey": "job-42"}}"#;
    answer(client.call("Graph", Some(later), b"").unwrap());
    assert_eq!(setup.issuer().requests_in(Leg::RefreshToken), 0, "cached");
    let renew = r#"{"AcquireTokenOptions": {"LongRunningWebApiSessionKey": "job-42", "ForceRefresh": true}}"#;
    let response = client.call("Graph", Some(renew), b"").unwrap();
    assert_eq!(answer(response), format!("user carol-oid {SCOPE}"));
    assert_eq!(setup.issuer().requests_in(Leg::RefreshToken), 1);
    assert_eq!(setup.issuer().requests_in(Leg::OnBehalfOf), 1);
    // An unknown session is the user's to restart, never a request.
    let unknown = r#"{"AcquireTokenOptions": {"LongRunningWebApiSessionKey": "job-7"}}"#;
    let error = client.call("Graph", Some(unknown), b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UserInteractionRequired, "{error}");
    setup.issuer().assert_no_failures();
}

#[test]
fn when_the_user_must_act_the_error_says_so_once_and_carries_the_claims() {
    let setup = setup();
    let client = setup.client();
    setup.issuer().set_mfa_policy(MfaPolicy::AllUsers);
    let dave = setup.user_token("dave-oid");
    let error = client.call_for_user("Graph", &dave, None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UserInteractionRequired, "{error}");
    assert_eq!(error.claims_challenge(), Some(MFA_CLAIMS_JSON));
    assert!(error.message().contains("AADSTS50076"), "{error}");
    assert!(!error.message().contains(&dave), "the user's token leaked");
    assert_eq!(
        setup.issuer().requests_in(Leg::OnBehalfOf),
        1,
        "never retried"
    );
}

#[test]
fn misuses_are_clear_errors() {
    let setup = setup();
    let client = setup.client();
    let erin = setup.user_token("erin-oid");
    let error = client.call_for_user("Mtls", &erin, None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(error.message().contains("ProtocolScheme"), "{error}");
    let error = client.call_for_user("Graph", " ", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    let agent = r#"{"AcquireTokenOptions": {"AgentIdentity": "a"}}"#;
    let error = client
        .call_for_user("Graph", &erin, Some(agent), b"")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(error.message().contains("AgentIdentity"), "{error}");
    let both = r#"{"AcquireTokenOptions": {"AgentIdentity": "a", "AgentUsername": "u@x", "AgentUserId": "0"}}"#;
    let error = client.call("Graph", Some(both), b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(
        error.message().contains("AgentUsername and AgentUserId"),
        "{error}"
    );
    let no_agent = r#"{"AcquireTokenOptions": {"AgentUsername": "u@x"}}"#;
    let error = client.call("Graph", Some(no_agent), b"").unwrap_err();
    assert!(error.message().contains("needs AgentIdentity"), "{error}");
    // A token is for one identity: two named at once is an error, not one silently winning.
    let mixed = r#"{"ManagedIdentity": {}, "UserAssertion": "a-users-token"}"#;
    let error = client.acquire_token(&[SCOPE], Some(mixed)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(error.message().contains("different identities"), "{error}");
    assert!(
        !error.message().contains("a-users-token"),
        "the token leaked"
    );
    let managed = r#"{"AcquireTokenOptions": {"ManagedIdentity": {}}}"#;
    let error = client
        .call_for_user("Graph", &erin, Some(managed), b"")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(error.message().contains("ManagedIdentity"), "{error}");
    assert_eq!(setup.issuer().token_request_count(), 0);
}
