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

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;

use crate::config::{CredentialDescription, SourceType};
use crate::encoding::redact_url;
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
    /// The same loaded credential: a reload makes a new one, even from identical bytes.
    fn same_as(&self, other: &Credential) -> bool {
        match (self, other) {
            (Credential::Certificate(a), Credential::Certificate(b)) => Arc::ptr_eq(a, b),
            (Credential::ClientSecret(a), Credential::ClientSecret(b)) => Arc::ptr_eq(a, b),
            (Credential::SignedAssertionFile(a), Credential::SignedAssertionFile(b)) => {
                Arc::ptr_eq(a, b)
            }
            _ => false,
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Credential::Certificate(_) => "a certificate",
            Credential::ClientSecret(_) => "a client secret",
            Credential::SignedAssertionFile(_) => "a signed assertion file",
        }
    }
}

/// What a credential is selected for: the TLS handshake needs a certificate, a token request
/// takes any credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Mtls,
    Token,
}

impl Purpose {
    fn slot(self) -> usize {
        match self {
            Purpose::Mtls => 0,
            Purpose::Token => 1,
        }
    }

    fn accepts(self, credential: &Credential) -> bool {
        match self {
            Purpose::Mtls => matches!(credential, Credential::Certificate(_)),
            Purpose::Token => true,
        }
    }
}

/// The credential currently in use for one purpose and the entry it came from.
#[derive(Clone)]
pub struct Selection {
    pub index: usize,
    pub credential: Credential,
    /// "ClientCredentials[0] (Path)", for events and messages.
    pub source: Arc<str>,
}

impl Selection {
    pub fn certificate(&self) -> Option<&Arc<Certificate>> {
        match &self.credential {
            Credential::Certificate(certificate) => Some(certificate),
            _ => None,
        }
    }

    /// The same loaded credential (a reload makes a new one, even from identical bytes).
    fn same_as(&self, other: &Selection) -> bool {
        self.index == other.index && self.credential.same_as(&other.credential)
    }

    fn describe(&self) -> String {
        match &self.credential {
            Credential::Certificate(c) => {
                format!("certificate {} from {}", c.thumbprint, self.source)
            }
            other => format!("{} from {}", other.kind_name(), self.source),
        }
    }
}

struct Entry {
    description: CredentialDescription,
    /// Successful loads are cached until a rejection forgets them; failures are retried.
    loaded: Mutex<Option<Credential>>,
}

pub struct CredentialsProvider {
    entries: Vec<Entry>,
    crypto: Arc<CryptoProvider>,
    /// One selection per [`Purpose`].
    selected: [RwLock<Option<Selection>>; 2],
    /// Serialises selection and rotation; the fast path only takes a read lock.
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
            selected: [RwLock::new(None), RwLock::new(None)],
            selecting: Mutex::new(()),
            observers: RwLock::new(Vec::new()),
        }
    }

    pub fn add_observer(&self, observer: Observer) {
        self.observers.write().push(observer);
    }

    /// The credential to use for `purpose`, selecting (and loading) one on first use: for MTLS
    /// the first usable certificate, for tokens the first usable credential of any kind.
    pub fn select(&self, purpose: Purpose, usage: &Usage) -> Result<Selection> {
        let slot = &self.selected[purpose.slot()];
        if let Some(selection) = slot.read().clone() {
            return Ok(selection);
        }
        let (result, is_new) = {
            let _guard = self.selecting.lock();
            if let Some(selection) = slot.read().clone() {
                return Ok(selection);
            }
            self.select_first_usable(purpose)
        };
        self.announce(&result, is_new, usage);
        result
    }

    /// Called when a server rejected `rejected`: deselects it, reloads its entry from the source
    /// and selects again. When another thread already rotated, returns that newer selection.
    /// The other purpose's selection, if it was the same credential, is dropped so that it is
    /// selected afresh on its next use.
    pub fn rotate(
        &self,
        purpose: Purpose,
        rejected: &Selection,
        usage: &Usage,
        reason: &str,
    ) -> Result<Selection> {
        let (first_report, result, is_new) = {
            let _guard = self.selecting.lock();
            let slot = &self.selected[purpose.slot()];
            if let Some(current) = slot.read().clone()
                && !current.same_as(rejected)
            {
                return Ok(current);
            }
            // Only the first report of this loaded credential (from either purpose) deselects it;
            // a later one finds the entry already reloaded, or being retried after a failure.
            let entry = &self.entries[rejected.index];
            let first_report = {
                let mut loaded = entry.loaded.lock();
                let holds = loaded
                    .as_ref()
                    .is_some_and(|c| c.same_as(&rejected.credential));
                if holds {
                    *loaded = None;
                }
                holds
            };
            // The rejected selection stays in its slot until a replacement is loaded, so other
            // threads never see "no credential"; then the swap is one write.
            let (result, is_new) = self.select_first_usable(purpose);
            if result.is_ok() {
                for other in &self.selected {
                    let mut other = other.write();
                    if other.as_ref().is_some_and(|s| s.same_as(rejected)) {
                        *other = None;
                    }
                }
            }
            (first_report, result, is_new)
        };
        // Observers and the log sink run without our locks held: they may call back into the
        // library (even on this client) without deadlocking.
        if first_report {
            crate::log::warn(|| {
                format!(
                    "{} was rejected ({reason}); reloading it",
                    rejected.describe()
                )
            });
            self.notify(rejected, EventKind::Deselected, usage, Some(reason));
        }
        self.announce(&result, is_new, usage);
        result
    }

    /// Reports a successful use of `selection`.
    pub fn used(&self, selection: &Selection, usage: &Usage) {
        self.notify(selection, EventKind::SuccessfullyUsed, usage, None);
    }

    fn announce(&self, result: &Result<Selection>, is_new: bool, usage: &Usage) {
        if let (Ok(selection), true) = (result, is_new) {
            crate::log::info(|| format!("selected {}", selection.describe()));
            self.notify(selection, EventKind::Selected, usage, None);
        }
    }

    /// Picks the first usable credential for `purpose` in order. Called with `selecting` held;
    /// also says whether the selection is news (a credential already selected for the other
    /// purpose is one selection, announced once).
    fn select_first_usable(&self, purpose: Purpose) -> (Result<Selection>, bool) {
        let mut problems = Vec::new();
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.description.skip {
                continue;
            }
            let label = entry.description.label();
            match self.load(entry) {
                Ok(credential) if purpose.accepts(&credential) => {
                    let selection = Selection {
                        index,
                        credential,
                        source: source_name(&entry.description).into(),
                    };
                    *self.selected[purpose.slot()].write() = Some(selection.clone());
                    let selected_elsewhere = self
                        .selected
                        .iter()
                        .filter_map(|slot| slot.read().clone())
                        .filter(|other| other.same_as(&selection))
                        .count()
                        > 1;
                    return (Ok(selection), !selected_elsewhere);
                }
                Ok(other) => problems.push(format!("{label}: is {}", other.kind_name())),
                Err(error) => problems.push(format!("{label}: {error}")),
            }
        }
        if problems.is_empty() {
            problems.push("AzureAd.ClientCredentials has no entry to use".to_string());
        }
        let wanted = match purpose {
            Purpose::Mtls => "client certificate",
            Purpose::Token => "client credential",
        };
        let error = Error::new(
            ErrorKind::CredentialUnavailable,
            format!("no usable {wanted}: {}", problems.join("; ")),
        );
        (Err(error), false)
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
        let (thumbprint, subject) = match selection.certificate() {
            Some(certificate) => (certificate.thumbprint.clone(), certificate.subject.clone()),
            None => (String::new(), String::new()),
        };
        let event = PendingEvent {
            observers,
            kind,
            thumbprint,
            subject,
            source: selection.source.clone(),
            protocol: usage.protocol.to_string(),
            // Query strings may carry keys (SAS signatures, function keys).
            api_url: redact_url(usage.api_url),
            error: error.map(str::to_string),
        };
        let deferred = DEFERRED.with(|queue| match queue.borrow_mut().as_mut() {
            Some(queue) => {
                queue.push(event);
                None
            }
            None => Some(event),
        });
        if let Some(event) = deferred {
            event.deliver();
        }
    }
}

/// An observer event kept, with its observers, until it can be delivered.
struct PendingEvent {
    observers: Vec<Observer>,
    kind: EventKind,
    thumbprint: String,
    subject: String,
    source: Arc<str>,
    protocol: String,
    api_url: String,
    error: Option<String>,
}

impl PendingEvent {
    fn deliver(self) {
        let event = CredentialEvent {
            kind: self.kind,
            thumbprint: &self.thumbprint,
            subject: &self.subject,
            source: &self.source,
            protocol: &self.protocol,
            api_url: &self.api_url,
            error: self.error.as_deref(),
        };
        for observer in &self.observers {
            observer(&event);
        }
    }
}

thread_local! {
    /// Events raised on this thread inside [`deferring_events`], not yet delivered.
    static DEFERRED: RefCell<Option<Vec<PendingEvent>>> = const { RefCell::new(None) };
}

/// Runs `body`, holding back the observer events it raises on this thread until it returns. Used
/// around work that others may be waiting for (a token request in flight), so that an observer
/// calling back into the library does not wait for the very work that is notifying it.
pub fn deferring_events<T>(body: impl FnOnce() -> T) -> T {
    let outermost = DEFERRED.with(|queue| {
        let mut queue = queue.borrow_mut();
        let outermost = queue.is_none();
        if outermost {
            *queue = Some(Vec::new());
        }
        outermost
    });
    if !outermost {
        return body();
    }
    /// Ends the deferral even if `body` unwinds (its events are then dropped).
    struct EndDeferral;
    impl Drop for EndDeferral {
        fn drop(&mut self) {
            DEFERRED.with(|queue| queue.borrow_mut().take());
        }
    }
    let end = EndDeferral;
    let result = body();
    let pending = DEFERRED
        .with(|queue| queue.borrow_mut().take())
        .unwrap_or_default();
    drop(end);
    for event in pending {
        event.deliver();
    }
    result
}

fn source_name(description: &CredentialDescription) -> String {
    let kind = description
        .source_type
        .as_ref()
        .map_or("unknown", SourceType::name);
    format!("{} ({kind})", description.label())
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
            let path = required(
                description.certificate_disk_path.as_ref(),
                "CertificateDiskPath",
            )?;
            sources::load_file(Path::new(path), password, crypto)?
        }
        Some(SourceType::Base64Encoded) => {
            let value = required(
                description.base64_encoded_value.as_ref(),
                "Base64EncodedValue",
            )?;
            sources::load_base64(value, password, crypto)?
        }
        Some(
            store @ (SourceType::StoreWithThumbprint
            | SourceType::StoreWithDistinguishedName
            | SourceType::StoreWithSubjectName),
        ) => {
            let directory = required(
                description.certificate_store_path.as_ref(),
                "CertificateStorePath",
            )?;
            let criterion = match store {
                SourceType::StoreWithThumbprint => StoreCriterion::Thumbprint(required(
                    description.certificate_thumbprint.as_ref(),
                    "CertificateThumbprint",
                )?),
                SourceType::StoreWithDistinguishedName => {
                    StoreCriterion::DistinguishedName(required(
                        description.certificate_distinguished_name.as_ref(),
                        "CertificateDistinguishedName",
                    )?)
                }
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
            return Err(format!(
                "source type {name} is not supported by this library"
            ));
        }
        None => return Err("SourceType is missing".to_string()),
    };
    certificate.check_time(now)?;
    Ok(Credential::Certificate(Arc::new(certificate)))
}
