//! The credentials provider: one ordered list of `ClientCredentials`, loaded lazily, shared by the
//! mTLS and token paths so that selection, rotation and observer events behave the same everywhere.
//!
//! Selection is the first usable certificate in configuration order (skipping secrets, unlike the
//! .NET original which fails when the first usable entry is a secret). After a rejection the
//! selected entry is reloaded from its source and swapped in atomically: other threads keep using
//! the previous selection until the new one is ready, and never see "no certificate".

pub mod certificate;
pub mod observer;
pub mod sources;

use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;

use crate::config::{CredentialDescription, SourceType};
use crate::error::{Error, ErrorKind, Result};
use certificate::{Certificate, unix_now};
use observer::{CredentialEvent, EventKind, Observer, Usage};
use sources::StoreCriterion;

/// A loaded credential.
#[derive(Clone)]
pub enum Credential {
    Certificate(Arc<Certificate>),
    /// A client secret; its value never appears in messages.
    ClientSecret(Arc<str>),
    /// A file holding a signed assertion (workload identity federation), read at each use.
    SignedAssertionFile(Arc<Path>),
}

impl Credential {
    fn kind_name(&self) -> &'static str {
        match self {
            Credential::Certificate(_) => "a certificate",
            Credential::ClientSecret(_) => "a client secret",
            Credential::SignedAssertionFile(_) => "a signed assertion file",
        }
    }
}

/// The certificate currently in use and the entry it came from.
#[derive(Clone)]
pub struct Selection {
    pub index: usize,
    pub certificate: Arc<Certificate>,
    /// "ClientCredentials[0] (Path)", for events and messages.
    pub source: Arc<str>,
}

struct Entry {
    description: CredentialDescription,
    /// Successful loads are cached until a rejection forgets them; failures are retried.
    loaded: Mutex<Option<Credential>>,
}

pub struct CredentialsProvider {
    entries: Vec<Entry>,
    crypto: Arc<CryptoProvider>,
    selected: RwLock<Option<Selection>>,
    /// Serialises selection and rotation; the fast path only takes `selected`'s read lock.
    selecting: Mutex<()>,
    observers: RwLock<Vec<Observer>>,
}

impl CredentialsProvider {
    pub fn new(descriptions: &[CredentialDescription], crypto: Arc<CryptoProvider>) -> Self {
        CredentialsProvider {
            entries: descriptions
                .iter()
                .map(|description| Entry {
                    description: description.clone(),
                    loaded: Mutex::new(None),
                })
                .collect(),
            crypto,
            selected: RwLock::new(None),
            selecting: Mutex::new(()),
            observers: RwLock::new(Vec::new()),
        }
    }

    pub fn add_observer(&self, observer: Observer) {
        self.observers.write().push(observer);
    }

    /// The certificate to present, selecting (and loading) one on first use.
    pub fn certificate(&self, usage: &Usage) -> Result<Selection> {
        if let Some(selection) = self.selected.read().clone() {
            return Ok(selection);
        }
        let _guard = self.selecting.lock();
        if let Some(selection) = self.selected.read().clone() {
            return Ok(selection);
        }
        self.select(usage)
    }

    /// Called when a server rejected `rejected`: deselects it, reloads its entry from the source
    /// and selects again. When another thread already rotated, returns that newer selection.
    pub fn rotate(&self, rejected: &Selection, usage: &Usage, reason: &str) -> Result<Selection> {
        let _guard = self.selecting.lock();
        if let Some(current) = self.selected.read().clone()
            && !Arc::ptr_eq(&current.certificate, &rejected.certificate)
        {
            return Ok(current);
        }
        self.notify(rejected, EventKind::Deselected, usage, Some(reason));
        crate::log::warn(|| {
            format!(
                "certificate {} from {} was rejected ({reason}); reloading it",
                rejected.certificate.thumbprint, rejected.source
            )
        });
        *self.entries[rejected.index].loaded.lock() = None;
        let result = self.select(usage);
        if result.is_err() {
            *self.selected.write() = None;
        }
        result
    }

    /// Reports a successful use of `selection`.
    pub fn used(&self, selection: &Selection, usage: &Usage) {
        self.notify(selection, EventKind::SuccessfullyUsed, usage, None);
    }

    /// Picks the first usable certificate in order. Called with `selecting` held.
    fn select(&self, usage: &Usage) -> Result<Selection> {
        let mut problems = Vec::new();
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.description.skip {
                continue;
            }
            let label = entry.description.label();
            match self.load(entry) {
                Ok(Credential::Certificate(certificate)) => {
                    let source = source_name(&entry.description);
                    let selection = Selection {
                        index,
                        certificate,
                        source: source.into(),
                    };
                    *self.selected.write() = Some(selection.clone());
                    crate::log::info(|| {
                        format!(
                            "selected certificate {} ({}) from {}",
                            selection.certificate.thumbprint,
                            selection.certificate.subject,
                            selection.source
                        )
                    });
                    self.notify(&selection, EventKind::Selected, usage, None);
                    return Ok(selection);
                }
                Ok(other) => problems.push(format!("{label}: is {}", other.kind_name())),
                Err(error) => problems.push(format!("{label}: {error}")),
            }
        }
        if problems.is_empty() {
            problems.push("AzureAd.ClientCredentials has no entry to use".to_string());
        }
        Err(Error::new(
            ErrorKind::CredentialUnavailable,
            format!("no usable client certificate: {}", problems.join("; ")),
        ))
    }

    /// Loads an entry once; a failure is not cached, so a file that appears later is found.
    fn load(&self, entry: &Entry) -> std::result::Result<Credential, String> {
        let mut loaded = entry.loaded.lock();
        if let Some(credential) = loaded.as_ref() {
            return Ok(credential.clone());
        }
        let credential = load_credential(&entry.description, &self.crypto)?;
        *loaded = Some(credential.clone());
        Ok(credential)
    }

    fn notify(&self, selection: &Selection, kind: EventKind, usage: &Usage, error: Option<&str>) {
        let observers = self.observers.read().clone();
        if observers.is_empty() {
            return;
        }
        let event = CredentialEvent {
            kind,
            thumbprint: &selection.certificate.thumbprint,
            subject: &selection.certificate.subject,
            source: &selection.source,
            protocol: usage.protocol,
            api_url: usage.api_url,
            error,
        };
        for observer in observers {
            observer(&event);
        }
    }
}

fn source_name(description: &CredentialDescription) -> String {
    let kind = match &description.source_type {
        Some(SourceType::NotSupported(name)) => name.as_str(),
        Some(source) => source_name_of(source),
        None => "unknown",
    };
    format!("{} ({kind})", description.label())
}

fn source_name_of(source: &SourceType) -> &'static str {
    match source {
        SourceType::Path => "Path",
        SourceType::Base64Encoded => "Base64Encoded",
        SourceType::StoreWithThumbprint => "StoreWithThumbprint",
        SourceType::StoreWithDistinguishedName => "StoreWithDistinguishedName",
        SourceType::StoreWithSubjectName => "StoreWithSubjectName",
        SourceType::ClientSecret => "ClientSecret",
        SourceType::SignedAssertionFilePath => "SignedAssertionFilePath",
        SourceType::NotSupported(_) => "not supported",
    }
}

fn required<'a>(value: Option<&'a String>, field: &str) -> std::result::Result<&'a str, String> {
    value
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{field} is missing"))
}

fn load_credential(
    description: &CredentialDescription,
    crypto: &CryptoProvider,
) -> std::result::Result<Credential, String> {
    let password = description.certificate_password.as_deref();
    let now = unix_now();
    let certificate = match description.source_type.as_ref() {
        Some(SourceType::Path) => {
            let path = required(description.certificate_disk_path.as_ref(), "CertificateDiskPath")?;
            sources::load_file(Path::new(path), password, crypto)?
        }
        Some(SourceType::Base64Encoded) => {
            let value = required(description.base64_encoded_value.as_ref(), "Base64EncodedValue")?;
            sources::load_base64(value, password, crypto)?
        }
        Some(
            store @ (SourceType::StoreWithThumbprint
            | SourceType::StoreWithDistinguishedName
            | SourceType::StoreWithSubjectName),
        ) => {
            let directory = required(description.certificate_store_path.as_ref(), "CertificateStorePath")?;
            let criterion = match store {
                SourceType::StoreWithThumbprint => StoreCriterion::Thumbprint(required(description.certificate_thumbprint.as_ref(),
                    "CertificateThumbprint",
                )?),
                SourceType::StoreWithDistinguishedName => StoreCriterion::DistinguishedName(
                    required(description.certificate_distinguished_name.as_ref(),
                        "CertificateDistinguishedName",
                    )?,
                ),
                _ => StoreCriterion::SubjectName(required(
                    description
                        .certificate_subject_name
                        .as_ref()
                        .or(description.certificate_distinguished_name.as_ref()),
                    "CertificateSubjectName",
                )?),
            };
            sources::load_from_store(Path::new(directory), &criterion, password, crypto, now)?
        }
        Some(SourceType::ClientSecret) => {
            let secret = required(description.client_secret.as_ref(), "ClientSecret")?;
            return Ok(Credential::ClientSecret(secret.into()));
        }
        Some(SourceType::SignedAssertionFilePath) => {
            let path = description
                .signed_assertion_file_disk_path
                .clone()
                .filter(|p| !p.is_empty())
                .or_else(|| std::env::var("AZURE_FEDERATED_TOKEN_FILE").ok())
                .ok_or("SignedAssertionFileDiskPath is missing and AZURE_FEDERATED_TOKEN_FILE is not set")?;
            return Ok(Credential::SignedAssertionFile(Path::new(&path).into()));
        }
        Some(SourceType::NotSupported(name)) => {
            return Err(format!("source type {name} is not supported by this library"));
        }
        None => return Err("SourceType is missing".to_string()),
    };
    certificate.check_time(now)?;
    Ok(Credential::Certificate(Arc::new(certificate)))
}
