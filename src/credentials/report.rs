//! What an operator or a health endpoint is told about each `ClientCredentials` entry: where it
//! comes from, whether it loaded, which certificate it is and for how long it stays valid, or why
//! it failed. Never a secret, a key or a password.

use serde_json::{Value, json};

use super::certificate::CertificateFacts;
use super::credential::{Credential, Purpose};
use super::provider::CredentialsProvider;
use crate::clock::{format_time, unix_now};
use crate::config::{CredentialDescription, SourceType};

/// The state of one `ClientCredentials` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialReport {
    /// Position in `ClientCredentials`.
    pub index: usize,
    /// The entry's `SourceType` as configured ("Path", "ClientSecret", …), or "unknown".
    pub source_type: String,
    /// The file or store folder it is read from, or the vault's certificate
    /// (`https://contoso.vault.azure.net/certificates/orders-client`); `None` for values held in
    /// the configuration.
    pub location: Option<String>,
    /// The version of the certificate loaded, for sources that have versions (Key Vault).
    pub version: Option<String>,
    /// `Skip: true` in the configuration: not loaded, never selected.
    pub skipped: bool,
    /// What the entry loaded into, or why it did not.
    pub state: LoadState,
    /// The purposes this entry is selected for right now ("MTLS", "token").
    pub selected_for: Vec<&'static str>,
}

/// What one `ClientCredentials` entry loaded into, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadState {
    /// Not loaded because the entry is skipped.
    NotLoaded,
    /// A certificate with its private key.
    Certificate(CertificateFacts),
    /// A client secret (its value is never reported).
    ClientSecret,
    /// A signed-assertion file (workload identity federation), read when a token is requested.
    SignedAssertionFile,
    /// A managed identity's token, exchanged as the client assertion.
    ManagedIdentityAssertion,
    /// The reason the entry could not be loaded (it names the field or file, never a value).
    Failed(String),
}

impl CredentialReport {
    pub(super) fn new(
        description: &CredentialDescription,
        loaded: Option<Result<Credential, String>>,
        selected_for: Vec<&'static str>,
    ) -> CredentialReport {
        let version = match &loaded {
            Some(Ok(Credential::Certificate(c))) => c.source_version.clone(),
            _ => None,
        };
        let state = match loaded {
            None => LoadState::NotLoaded,
            Some(Err(reason)) => LoadState::Failed(reason),
            Some(Ok(Credential::ClientSecret(_))) => LoadState::ClientSecret,
            Some(Ok(Credential::SignedAssertionFile(_))) => LoadState::SignedAssertionFile,
            Some(Ok(Credential::ManagedIdentityAssertion(_))) => {
                LoadState::ManagedIdentityAssertion
            }
            Some(Ok(Credential::Certificate(c))) => LoadState::Certificate(c.facts.clone()),
        };
        let location = match description.source_type {
            Some(SourceType::Path) => description.certificate_disk_path.clone(),
            Some(
                SourceType::StoreWithThumbprint
                | SourceType::StoreWithDistinguishedName
                | SourceType::StoreWithSubjectName,
            ) => description.certificate_store_path.clone(),
            Some(SourceType::SignedAssertionFilePath) => {
                description.signed_assertion_file_disk_path.clone()
            }
            Some(SourceType::KeyVault) => description.key_vault_location(),
            _ => None,
        };
        CredentialReport {
            index: description.index,
            source_type: description
                .source_type
                .as_ref()
                .map_or("unknown", SourceType::name)
                .to_string(),
            location,
            version,
            skipped: description.skip,
            state,
            selected_for,
        }
    }

    /// True when the entry loaded into a credential.
    pub fn loaded(&self) -> bool {
        !matches!(self.state, LoadState::NotLoaded | LoadState::Failed(_))
    }

    /// The JSON object of this entry, as `dsapi_client_describe_credentials` and
    /// `dsapi credentials --json` give it. `daysLeft` is counted from `now` (Unix seconds).
    pub fn to_json(&self, now: i64) -> Value {
        let mut entry = json!({
            "index": self.index,
            "sourceType": self.source_type,
            "location": self.location,
            "skipped": self.skipped,
            "loaded": self.loaded(),
            "selectedFor": self.selected_for,
        });
        if let Some(version) = &self.version {
            entry["version"] = json!(version);
        }
        let kind = match &self.state {
            LoadState::NotLoaded => None,
            LoadState::Failed(reason) => {
                entry["error"] = json!(reason);
                None
            }
            LoadState::ClientSecret => Some("clientSecret"),
            LoadState::SignedAssertionFile => Some("signedAssertionFile"),
            LoadState::ManagedIdentityAssertion => Some("managedIdentityAssertion"),
            LoadState::Certificate(facts) => {
                entry["thumbprint"] = json!(facts.thumbprint);
                entry["thumbprintSha256"] = json!(facts.thumbprint_sha256);
                entry["subject"] = json!(facts.subject);
                entry["issuer"] = json!(facts.issuer);
                entry["notBefore"] = json!(format_time(facts.not_before));
                entry["notAfter"] = json!(format_time(facts.not_after));
                entry["daysLeft"] = json!(facts.days_left(now));
                Some("certificate")
            }
        };
        entry["kind"] = json!(kind);
        entry
    }
}

impl CredentialsProvider {
    /// Every entry in configuration order: loaded now if it was not yet (as a call would load it),
    /// with what it loaded into or why it failed, and which purposes it is selected for.
    pub fn report(&self) -> Vec<CredentialReport> {
        (0..self.entries.len())
            .map(|index| self.report_entry(index))
            .collect()
    }

    fn report_entry(&self, index: usize) -> CredentialReport {
        let description = &self.entries[index].description;
        let loaded = (!description.skip).then(|| {
            // A loaded entry is reported without waiting for a selection or rotation elsewhere.
            let cached = self.state.read().entries[index].loaded.clone();
            match cached {
                Some(credential) => Ok(credential),
                None => {
                    let (loaded, lines) =
                        crate::log::collecting(|| self.load(index, &self.state.begin_change()));
                    crate::log::replay(lines);
                    loaded
                }
            }
        });
        let state = self.state.read();
        let selected_for = [(Purpose::Mtls, "MTLS"), (Purpose::Token, "token")]
            .into_iter()
            .filter(|(purpose, _)| state.selected(*purpose).is_some_and(|s| s.index == index))
            .map(|(_, name)| name)
            .collect();
        drop(state);
        CredentialReport::new(description, loaded, selected_for)
    }
}

impl CredentialsProvider {
    /// The certificates selected now (for MTLS calls or token requests), each once, without
    /// loading or selecting anything: what a metrics scrape may read as often as it likes.
    pub fn selected_certificates(&self) -> Vec<CertificateFacts> {
        let mut facts: Vec<CertificateFacts> = Vec::new();
        for selection in self.state.read().in_use() {
            if let Some(certificate) = selection.certificate()
                && !facts
                    .iter()
                    .any(|f| f.thumbprint_sha256 == certificate.facts.thumbprint_sha256)
            {
                facts.push(certificate.facts.clone());
            }
        }
        facts
    }
}

/// Every entry as one JSON array, counted from the current time.
pub fn reports_to_json(reports: &[CredentialReport]) -> String {
    let now = unix_now();
    Value::Array(reports.iter().map(|r| r.to_json(now)).collect()).to_string()
}
