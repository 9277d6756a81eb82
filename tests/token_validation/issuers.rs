//! Issuers: the configured tenant's v2 issuer (as its discovery document names it) and v1 issuer
//! pass; another issuer or tenant does not; a multi-tenant app (`common`, `organizations`)
//! accepts each tenant's own issuer, checked against the token's `tid`.

use serde_json::json;
use test_support::token_server::issuer_for;

use super::{TENANT, refusal, setup};

#[test]
fn the_tenants_v2_and_v1_issuers_are_accepted() {
    let setup = setup();
    let client = setup.client();
    let v2 = setup.token_with(json!({"iss": issuer_for(TENANT)}));
    assert!(client.validate_token(&v2).is_ok());
    let v1 = setup
        .token_with(json!({"iss": format!("https://sts.windows.net/{TENANT}/"), "ver": "1.0"}));
    assert!(client.validate_token(&v1).is_ok());
}

#[test]
fn other_issuers_and_tenants_are_refused() {
    let setup = setup();
    let client = setup.client();
    let wrong = setup.token_with(json!({"iss": "https://evil.example/contoso-tenant/v2.0"}));
    let message = refusal(&client, &wrong);
    assert!(
        message.contains("issuer 'https://evil.example/contoso-tenant/v2.0' not accepted"),
        "{message}"
    );
    let other_tenant = setup.token_with(json!({"iss": issuer_for("fabrikam"), "tid": "fabrikam"}));
    let message = refusal(&client, &other_tenant);
    assert!(message.contains("tid 'fabrikam'"), "{message}");
    let other_v1 =
        setup.token_with(json!({"iss": "https://sts.windows.net/fabrikam/", "tid": "fabrikam"}));
    assert!(refusal(&client, &other_v1).contains("not accepted"));
    // The issuer names this tenant but the token says another.
    let mixed = setup.token_with(json!({"tid": "fabrikam"}));
    assert!(refusal(&client, &mixed).contains("not accepted"));
    let no_tid = setup.token_with(json!({"tid": null}));
    assert!(refusal(&client, &no_tid).contains("no usable tid"));
}

#[test]
fn a_multi_tenant_app_accepts_each_tenants_own_issuer() {
    let setup = setup();
    for tenant in ["common", "organizations"] {
        let client = setup.client_with(tenant, "");
        for (iss, tid) in [
            (issuer_for("fabrikam"), "fabrikam"),
            ("https://sts.windows.net/fabrikam/".to_string(), "fabrikam"),
            (issuer_for(TENANT), TENANT),
        ] {
            let token = setup.token_with(json!({"iss": iss, "tid": tid}));
            assert!(client.validate_token(&token).is_ok(), "{tenant}: {iss}");
        }
        let mismatched = setup.token_with(json!({"iss": issuer_for("fabrikam"), "tid": TENANT}));
        assert!(refusal(&client, &mismatched).contains("not accepted"));
    }
}
