//! Claims: the lifetime with five minutes of clock skew, each accepted audience form, and the
//! scopes or roles an API requires.

use downstream_api::ErrorKind;
use serde_json::json;

use super::{CLIENT_ID, TENANT, now, refusal, setup};

#[test]
fn expired_and_not_yet_valid_tokens_are_refused_with_five_minutes_of_skew() {
    let setup = setup();
    let client = setup.client();
    let expired = setup.token_with(json!({"exp": now() - 3600}));
    let message = refusal(&client, &expired);
    assert!(message.contains("expired at"), "{message}");
    let within_skew = setup.token_with(json!({"exp": now() - 120, "nbf": now() + 120}));
    assert!(client.validate_token(&within_skew).is_ok());
    let early = setup.token_with(json!({"nbf": now() + 3600}));
    let message = refusal(&client, &early);
    assert!(message.contains("not valid before"), "{message}");
    let endless = setup.token_with(json!({"exp": null}));
    assert!(refusal(&client, &endless).contains("no exp"));
    let without_nbf = setup.token_with(json!({"nbf": null}));
    assert!(
        client.validate_token(&without_nbf).is_ok(),
        "nbf is optional"
    );
}

#[test]
fn each_accepted_audience_form_passes_and_others_do_not() {
    let setup = setup();
    let client = setup.client_with(
        TENANT,
        r#", "Audience": "https://api.contoso.example", "Audiences": ["urn:orders", "urn:stock"]"#,
    );
    for audience in [
        CLIENT_ID.to_string(),
        format!("api://{CLIENT_ID}"),
        "https://api.contoso.example".to_string(),
        "https://api.contoso.example/".to_string(),
        "urn:orders".to_string(),
        "urn:stock".to_string(),
    ] {
        let token = setup.token_with(json!({"aud": audience}));
        assert!(client.validate_token(&token).is_ok(), "{audience}");
    }
    let listed = setup.token_with(json!({"aud": ["urn:other", "urn:stock"]}));
    assert!(client.validate_token(&listed).is_ok(), "one of an array");
    let other = setup.token_with(json!({"aud": "api://someone-else"}));
    let message = refusal(&client, &other);
    assert!(
        message.contains("audience 'api://someone-else' not accepted"),
        "{message}"
    );
    // Only what is configured: without Audience(s), a token for it is refused.
    let plain = setup.client();
    let for_audience = setup.token_with(json!({"aud": "urn:orders"}));
    assert!(refusal(&plain, &for_audience).contains("not accepted"));
    let none = setup.token_with(json!({"aud": null}));
    assert!(refusal(&plain, &none).contains("no aud"));
}

#[test]
fn a_configuration_without_an_audience_cannot_validate() {
    let setup = setup();
    let client = setup.client_from(&format!(
        r#""Instance": "{}", "TenantId": "{TENANT}""#,
        setup.tokens.instance()
    ));
    let error = client
        .validate_token(&setup.sign(&setup.claims()))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.message().contains("AzureAd.ClientId"), "{error}");
    let no_authority = setup.client_from(&format!(r#""ClientId": "{CLIENT_ID}""#));
    let error = no_authority.validate_token("a.b.c").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.message().contains("AzureAd.Instance"), "{error}");
}

#[test]
fn a_required_scope_must_be_held() {
    let setup = setup();
    let string = setup.client_with(TENANT, r#", "Scopes": "Orders.Read access_as_user""#);
    let array = setup.client_with(TENANT, r#", "Scopes": ["Orders.Read", "access_as_user"]"#);
    let holding = setup.token_with(json!({"scp": "profile access_as_user"}));
    let lacking = setup.token_with(json!({"scp": "profile"}));
    for client in [&string, &array] {
        assert!(client.validate_token(&holding).is_ok());
        let message = refusal(client, &lacking);
        assert!(
            message.contains("none of the required scopes (scp) 'Orders.Read', 'access_as_user'"),
            "{message}"
        );
    }
    let app_token = setup.token_with(json!({"scp": null, "roles": ["access_as_user"]}));
    assert!(refusal(&string, &app_token).contains("required scopes"));
    // Nothing configured: nothing required.
    assert!(setup.client().validate_token(&lacking).is_ok());
}

#[test]
fn a_required_role_lets_app_tokens_in() {
    let setup = setup();
    let client = setup.client_with(
        TENANT,
        r#", "Scopes": "access_as_user", "Roles": ["Orders.ReadWrite.All"]"#,
    );
    let app_token = setup.token_with(json!({"scp": null, "roles": ["Orders.ReadWrite.All"]}));
    assert!(client.validate_token(&app_token).is_ok());
    let user_token = setup.token_with(json!({}));
    assert!(client.validate_token(&user_token).is_ok(), "or the scope");
    let other_role = setup.token_with(json!({"scp": null, "roles": ["Other.Read"]}));
    let message = refusal(&client, &other_role);
    assert!(
        message.contains("or roles 'Orders.ReadWrite.All'"),
        "{message}"
    );
}
