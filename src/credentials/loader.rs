//! Loading one `ClientCredentials` entry into a credential: which fields its `SourceType` needs,
//! where the bytes come from, and the time-validity check every certificate passes.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;

use super::certificate::Certificate;
use super::credential::{Credential, FederatedIdentity};
use super::sources::{self, StoreCriterion};
use super::vault::{VaultReader, load_from_vault, read_apart};
use crate::clock::unix_now;
use crate::config::{
    CredentialDescription, DEFAULT_TOKEN_EXCHANGE_URL, ManagedIdentityId, SourceType,
};

fn required<'a>(value: Option<&'a String>, field: &str) -> std::result::Result<&'a str, String> {
    value
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{field} is missing"))
}

/// Entry `description`'s credential; `vault` reads `KeyVault` entries.
pub(super) fn load_credential(
    description: &CredentialDescription,
    crypto: &CryptoProvider,
    vault: Option<&dyn VaultReader>,
) -> std::result::Result<Credential, String> {
    match description.source_type.as_ref() {
        Some(SourceType::ClientSecret) => {
            let secret = required(description.client_secret.as_ref(), "ClientSecret")?;
            Ok(Credential::ClientSecret(secret.into()))
        }
        Some(SourceType::SignedAssertionFilePath) => signed_assertion_file(description),
        Some(SourceType::SignedAssertionFromManagedIdentity) => {
            Ok(managed_identity_assertion(description))
        }
        Some(SourceType::NotSupported(name)) => Err(format!(
            "source type {name} is not supported by this library"
        )),
        None => Err("SourceType is missing".to_string()),
        Some(certificate_source) => {
            let now = unix_now();
            let certificate = match certificate_source {
                SourceType::KeyVault => {
                    // Made with the client whenever an entry is a KeyVault one.
                    let reader = vault.ok_or("no Key Vault reader was set up")?;
                    read_apart(|| load_from_vault(reader, description, crypto, now))?
                }
                _ => load_certificate(certificate_source, description, crypto, now)?,
            };
            certificate.check_time(now)?;
            Ok(Credential::Certificate(Arc::new(certificate)))
        }
    }
}

/// A certificate from a file, a base64 value or a store directory (`source`), before the
/// time-validity check.
fn load_certificate(
    source: &SourceType,
    description: &CredentialDescription,
    crypto: &CryptoProvider,
    now: i64,
) -> std::result::Result<Certificate, String> {
    let password = description.certificate_password.as_deref();
    match source {
        SourceType::Path => {
            let path = required(
                description.certificate_disk_path.as_ref(),
                "CertificateDiskPath",
            )?;
            sources::load_file(Path::new(path), password, crypto)
        }
        SourceType::Base64Encoded => {
            let value = required(
                description.base64_encoded_value.as_ref(),
                "Base64EncodedValue",
            )?;
            sources::load_base64(value, password, crypto)
        }
        store => {
            let directory = required(
                description.certificate_store_path.as_ref(),
                "CertificateStorePath",
            )?;
            let criterion = store_criterion(store, description)?;
            sources::load_from_store(Path::new(directory), &criterion, password, crypto, now)
        }
    }
}

/// What a store directory is searched by, for one of the `StoreWith…` source types.
fn store_criterion<'a>(
    store: &SourceType,
    description: &'a CredentialDescription,
) -> std::result::Result<StoreCriterion<'a>, String> {
    Ok(match store {
        SourceType::StoreWithThumbprint => StoreCriterion::Thumbprint(required(
            description.certificate_thumbprint.as_ref(),
            "CertificateThumbprint",
        )?),
        SourceType::StoreWithDistinguishedName => StoreCriterion::DistinguishedName(required(
            description.certificate_distinguished_name.as_ref(),
            "CertificateDistinguishedName",
        )?),
        _ => StoreCriterion::SubjectName(required(
            description
                .certificate_subject_name
                .as_ref()
                .or(description.certificate_distinguished_name.as_ref()),
            "CertificateSubjectName",
        )?),
    })
}

fn signed_assertion_file(
    description: &CredentialDescription,
) -> std::result::Result<Credential, String> {
    let path = description
        .signed_assertion_file_disk_path
        .clone()
        .filter(|p| !p.is_empty())
        // The configuration reader fills in AZURE_FEDERATED_TOKEN_FILE when it is set.
        .ok_or(
            "SignedAssertionFileDiskPath is missing and AZURE_FEDERATED_TOKEN_FILE is not set",
        )?;
    Ok(Credential::SignedAssertionFile(Path::new(&path).into()))
}

/// A managed identity's token as the client assertion: the user-assigned identity when a client
/// id is given, else the system-assigned one, for the audience of `TokenExchangeUrl`.
fn managed_identity_assertion(description: &CredentialDescription) -> Credential {
    let identity = match description
        .managed_identity_client_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        Some(id) => ManagedIdentityId::ClientId(id.to_string()),
        None => ManagedIdentityId::SystemAssigned,
    };
    let url = description
        .token_exchange_url
        .as_deref()
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .unwrap_or(DEFAULT_TOKEN_EXCHANGE_URL);
    let audience = url.strip_suffix("/.default").unwrap_or(url).to_string();
    Credential::ManagedIdentityAssertion(Arc::new(FederatedIdentity { identity, audience }))
}
