//! Every way a vault's certificate cannot be had: each is `CredentialUnavailable`, naming the
//! vault and the certificate and saying why, never a token, a secret or a key.

use downstream_api::{DownstreamApi, ErrorKind};
use test_support::key_vault::StoredVersion;
use test_support::pki::Validity;

use super::{READER_SECRET, Reader, Setup, setup};

/// Calls the API and returns the error's message, checked for what every such error holds.
fn failure(setup: &Setup, api: &DownstreamApi, name: &str) -> String {
    let error = api.call("Orders", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialUnavailable, "{error}");
    let message = error.message().to_string();
    assert!(message.contains("ClientCredentials[0]"), "{message}");
    assert!(message.contains(&setup.vault.url()), "{message}");
    assert!(message.contains(&format!("'{name}'")), "{message}");
    assert!(!message.contains(READER_SECRET), "{message}");
    for token in setup.tokens.issuer.issued() {
        assert!(!message.contains(&token.token), "{message}");
    }
    assert!(setup.api.seen().is_empty(), "no call reached the API");
    message
}

#[test]
fn no_access_and_no_such_certificate() {
    let setup = setup(Reader::EnvironmentSecret);
    setup.vault.set_deny(true);
    let api = setup.client("denied", "0");
    let message = failure(&setup, &api, "denied");
    assert!(
        message.contains("environment client secret (AZURE_CLIENT_ID 'vault-reader') may not read")
            && message.contains("403 Forbidden"),
        "{message}"
    );
    setup.vault.set_deny(false);
    let api = setup.client("missing", "0");
    let message = failure(&setup, &api, "missing");
    assert!(
        message.contains("no such certificate") && message.contains("404 Not Found"),
        "{message}"
    );
}

#[test]
fn versions_that_cannot_be_used_are_refused_naming_why() {
    let setup = setup(Reader::EnvironmentSecret);
    let mut locked = StoredVersion::pkcs12("l0c4", &setup.certificate("locked"));
    locked.exportable = false;
    let expired = setup.clients.client("expired", Validity::EXPIRED);
    let future = setup.clients.client("future", Validity::NOT_YET_VALID);
    let mut bad_pfx = StoredVersion::pkcs12("b4d", &setup.certificate("bad-pfx"));
    bad_pfx.secret = "bm90IGEgUEZY".to_string();
    let mut bad_pem = StoredVersion::pem("b4d", &setup.certificate("bad-pem"));
    bad_pem.secret = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".into();
    let cases = [
        ("locked", locked, "not exportable"),
        (
            "expired",
            StoredVersion::pkcs12("e1", &expired),
            "has expired: valid from",
        ),
        (
            "future",
            StoredVersion::pkcs12("f1", &future),
            "is not valid yet: valid from",
        ),
        ("bad-pfx", bad_pfx, "does not load: cannot open the PFX"),
        ("bad-pem", bad_pem, "does not load: invalid PEM"),
    ];
    for (name, version, reason) in cases {
        setup.vault.add_version(name, version);
        let api = setup.client(name, "0");
        let message = failure(&setup, &api, name);
        assert!(message.contains(reason), "{name}: {message}");
    }
    // Nothing of a refused version's key was fetched where step 1 says it cannot be used.
    let secrets: Vec<String> = setup
        .vault
        .requests()
        .iter()
        .filter(|r| r.kind == "secret")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(secrets, ["/secrets/bad-pfx/b4d", "/secrets/bad-pem/b4d"]);
}

#[test]
fn a_challenge_naming_another_domain_gets_no_token() {
    let setup = setup(Reader::EnvironmentSecret);
    setup.vault.add_version(
        "elsewhere",
        StoredVersion::pkcs12("1", &setup.certificate("x")),
    );
    setup.vault.set_challenge_resource("https://evil.example");
    let api = setup.client("elsewhere", "0");
    let message = failure(&setup, &api, "elsewhere");
    assert!(
        message.contains("'evil.example', which is not in the vault's domain"),
        "{message}"
    );
    assert_eq!(setup.tokens.issuer.token_request_count(), 0);
    assert!(setup.vault.requests().iter().all(|r| !r.authorized));
}

#[test]
fn a_token_that_cannot_be_had_names_its_source() {
    let setup = setup(Reader::EnvironmentSecret);
    setup.vault.add_version(
        "no-token",
        StoredVersion::pkcs12("1", &setup.certificate("x")),
    );
    // A wrong secret: the token endpoint refuses the reader.
    let mut environment = setup.environment();
    for (name, value) in &mut environment {
        if name == "AZURE_CLIENT_SECRET" {
            *value = "wrong-secret-value".to_string();
        }
    }
    let api =
        DownstreamApi::from_json_with_environment(&setup.config("no-token", "", "0"), environment)
            .unwrap();
    let message = failure(&setup, &api, "no-token");
    assert!(
        message.contains("no token for the vault from environment client secret")
            && message.contains("AADSTS7000215"),
        "{message}"
    );
    assert!(!message.contains("wrong-secret-value"), "{message}");

    // AZURE_TENANT_ID naming another tenant than the vault's: refused before any request.
    let mut environment = setup.environment();
    for (name, value) in &mut environment {
        if name == "AZURE_TENANT_ID" {
            *value = "another-tenant".to_string();
        }
    }
    let before = setup.tokens.issuer.token_request_count();
    let api =
        DownstreamApi::from_json_with_environment(&setup.config("no-token", "", "0"), environment)
            .unwrap();
    let message = failure(&setup, &api, "no-token");
    assert!(
        message.contains("the vault is in tenant 'vault-tenant', and AZURE_TENANT_ID names"),
        "{message}"
    );
    assert_eq!(setup.tokens.issuer.token_request_count(), before);
}

#[test]
fn a_configuration_without_the_vaults_fields_is_refused_when_read() {
    for (entry, field) in [
        (r#"{"SourceType": "KeyVault"}"#, "KeyVaultUrl"),
        (
            r#"{"SourceType": "KeyVault", "KeyVaultUrl": "http://v.vault.azure.net", "KeyVaultCertificateName": "c"}"#,
            "KeyVaultUrl",
        ),
        (
            r#"{"SourceType": "KeyVault", "KeyVaultUrl": "https://v.vault.azure.net"}"#,
            "KeyVaultCertificateName",
        ),
        (
            r#"{"SourceType": "KeyVault", "KeyVaultUrl": "https://v.vault.azure.net", "KeyVaultCertificateName": "a/b"}"#,
            "KeyVaultCertificateName",
        ),
    ] {
        let json = format!(r#"{{"AzureAd": {{"ClientCredentials": [{entry}]}}}}"#);
        let error = DownstreamApi::from_json_with_environment(&json, Vec::new())
            .err()
            .expect("refused");
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(
            error
                .message()
                .contains(&format!("AzureAd.ClientCredentials[0].{field}")),
            "{error}"
        );
    }
}
