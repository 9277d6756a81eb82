//! The provider's state machine: the ordered entries, loaded lazily and once, one selection per
//! purpose, and rotation after a rejection. Selection is the first usable credential in
//! configuration order; a rotation reloads the rejected entry and swaps the new selection in only
//! once it is loaded, so other threads never see "no credential".

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;

use super::certificate::Certificate;
use super::credential::{Credential, Purpose, Selection};
use super::loader::load_credential;
use super::observer::{EventKind, Observer, PendingEvent, Usage};
use super::report::CredentialReport;
use super::watch::{self, Fingerprint};
use crate::config::CredentialDescription;
use crate::encoding::redact_url;
use crate::error::{Error, ErrorKind, Result};

struct Entry {
    description: CredentialDescription,
    /// Successful loads are cached until a rejection forgets them; failures are retried.
    loaded: Mutex<Option<Credential>>,
    /// What the source looked like when it was loaded (files and store directories only).
    fingerprint: Mutex<Option<Fingerprint>>,
    /// A change that could not be used, warned about once.
    refused_change: Mutex<Option<Fingerprint>>,
    /// A credential the host pushed ([`CredentialsProvider::set_credential`]): it replaces the
    /// entry's source from then on.
    pushed: Mutex<Option<Credential>>,
}

pub struct CredentialsProvider {
    entries: Vec<Entry>,
    crypto: Arc<CryptoProvider>,
    /// One selection per [`Purpose`].
    selected: [RwLock<Option<Selection>>; 2],
    /// Serialises selection and rotation; the fast path only takes a read lock.
    selecting: Mutex<()>,
    observers: RwLock<Vec<Observer>>,
    /// `AzureAd.CertificateExpiryWarningDays`; 0: no warning.
    expiry_warning_days: i64,
    /// The day (Unix days) each certificate, by thumbprint, was last warned about.
    expiry_warned: Mutex<HashMap<String, i64>>,
    /// `AzureAd.CertificateReloadIntervalSeconds`: how often sources are checked for a change.
    reload_interval: Option<Duration>,
    next_check: Mutex<Instant>,
    /// Certificates replaced by a proactive reload, for the client to retire their connection
    /// pools and bound tokens.
    retired: Mutex<Vec<Arc<Certificate>>>,
}

impl CredentialsProvider {
    pub fn new(
        descriptions: &[CredentialDescription],
        crypto: Arc<CryptoProvider>,
        expiry_warning_days: u32,
        reload_interval: Option<Duration>,
    ) -> Self {
        CredentialsProvider {
            entries: descriptions
                .iter()
                .map(|description| Entry {
                    description: description.clone(),
                    loaded: Mutex::new(None),
                    fingerprint: Mutex::new(None),
                    refused_change: Mutex::new(None),
                    pushed: Mutex::new(None),
                })
                .collect(),
            crypto,
            selected: [RwLock::new(None), RwLock::new(None)],
            selecting: Mutex::new(()),
            observers: RwLock::new(Vec::new()),
            expiry_warning_days: i64::from(expiry_warning_days),
            expiry_warned: Mutex::new(HashMap::new()),
            reload_interval: reload_interval.filter(|i| !i.is_zero()),
            next_check: Mutex::new(Instant::now() + reload_interval.unwrap_or_default()),
            retired: Mutex::new(Vec::new()),
        }
    }

    /// Certificates a proactive reload replaced since the last call (their connection pools and
    /// bound tokens are to be dropped).
    pub fn take_retired(&self) -> Vec<Arc<Certificate>> {
        std::mem::take(&mut *self.retired.lock())
    }

    /// Whether this thread should check the sources now: at most once per interval, and never
    /// waiting for another thread that is checking.
    fn due_for_check(&self) -> bool {
        let Some(interval) = self.reload_interval else {
            return false;
        };
        let Some(mut next) = self.next_check.try_lock() else {
            return false;
        };
        let now = Instant::now();
        if now < *next {
            return false;
        }
        *next = now + interval;
        true
    }

    /// When the source of `current` changed on disk into a certificate that loads and is
    /// time-valid, swaps it in (for every purpose it served) and returns it; a change into
    /// something unusable keeps `current`, with one warning per change.
    fn reload_if_changed(&self, current: &Selection, usage: &Usage) -> Option<Selection> {
        let old = current.certificate()?.clone();
        let entry = &self.entries[current.index];
        // A pushed credential replaced the entry's source.
        if entry.pushed.lock().is_some() {
            return None;
        }
        let Some(now_seen) = watch::fingerprint(&entry.description) else {
            // Removed or unreadable (a rename in progress, permissions): keep the certificate.
            if entry.fingerprint.lock().is_some() {
                let reason = "the source cannot be read now";
                self.refuse_change(entry, &watch::Fingerprint::unreadable(), reason, &old);
            }
            return None;
        };
        if entry.fingerprint.lock().as_ref() == Some(&now_seen) {
            return None;
        }
        let label = entry.description.label();
        let fresh = match load_credential(&entry.description, &self.crypto) {
            Ok(Credential::Certificate(fresh)) => fresh,
            Ok(other) => {
                self.refuse_change(
                    entry,
                    &now_seen,
                    &format!("it is {}", other.kind_name()),
                    &old,
                );
                return None;
            }
            Err(reason) => {
                self.refuse_change(entry, &now_seen, &reason, &old);
                return None;
            }
        };
        *entry.refused_change.lock() = None;
        if fresh.facts.thumbprint_sha256 == old.facts.thumbprint_sha256 {
            // Touched or rewritten with the same certificate.
            *entry.fingerprint.lock() = Some(now_seen);
            return None;
        }
        *entry.fingerprint.lock() = Some(now_seen);
        let replacement = self.swap_in(
            current.index,
            Credential::Certificate(fresh),
            Some(&current.credential),
            usage,
        )?;
        let replacement = Some(replacement);
        crate::log::info(|| {
            format!(
                "{label} changed on disk: now using certificate {} instead of {}",
                replacement
                    .as_ref()
                    .and_then(Selection::certificate)
                    .map_or("?", |c| c.facts.thumbprint.as_str()),
                old.facts.thumbprint
            )
        });
        replacement
    }

    /// Makes `credential` entry `index`'s loaded credential and, where a purpose had selected
    /// that entry, its selection (announced as `Selected`); a replaced certificate is retired.
    /// With `expected`, only if the entry still holds that credential (a concurrent push,
    /// rotation or reload wins). Returns the new selection when the entry was selected.
    fn swap_in(
        &self,
        index: usize,
        credential: Credential,
        expected: Option<&Credential>,
        usage: &Usage,
    ) -> Option<Selection> {
        let entry = &self.entries[index];
        let replacement = Selection {
            index,
            credential: credential.clone(),
            source: entry.description.source_name().into(),
        };
        let mut replaced = false;
        {
            let _guard = self.selecting.lock();
            let mut loaded = entry.loaded.lock();
            if let Some(expected) = expected
                && !loaded.as_ref().is_some_and(|c| c.same_as(expected))
            {
                return None;
            }
            let old = loaded.replace(credential.clone());
            drop(loaded);
            for purpose in [Purpose::Mtls, Purpose::Token] {
                let mut slot = self.selected[purpose.slot()].write();
                if slot.as_ref().is_some_and(|s| s.index == index) {
                    *slot = Some(replacement.clone());
                    replaced = true;
                } else if slot.as_ref().is_some_and(|s| s.index > index)
                    && purpose.accepts(&credential)
                {
                    // A later entry was in use because this one failed: selection in order
                    // picks this one at the next use.
                    *slot = None;
                }
            }
            // The same certificate again (a push of identical bytes) keeps its pool.
            if let Some(Credential::Certificate(old)) = old
                && !credential.same_value(&Credential::Certificate(old.clone()))
            {
                self.retired.lock().push(old);
            }
        }
        if !replaced {
            return None;
        }
        self.notify(&replacement, EventKind::Selected, usage, None);
        self.warn_if_expiring(&replacement, usage);
        Some(replacement)
    }

    /// Reloads every entry from its source now, for hosts told by their secret store that a
    /// credential changed. Each entry is loaded and checked before it replaces the one in use;
    /// an entry that fails keeps its credential, and the error names every entry that failed.
    pub fn reload_all(&self) -> Result<()> {
        let usage = Usage {
            protocol: "reload",
            api_url: "",
        };
        let mut problems = Vec::new();
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.description.skip || entry.pushed.lock().is_some() {
                continue;
            }
            let seen = watch::fingerprint(&entry.description);
            let before = entry.loaded.lock().clone();
            match load_credential(&entry.description, &self.crypto) {
                Ok(fresh) => {
                    *entry.fingerprint.lock() = seen;
                    let unchanged = before.as_ref().is_some_and(|b| b.same_value(&fresh));
                    if !unchanged {
                        match &before {
                            Some(before) => self.swap_in(index, fresh, Some(before), &usage),
                            None => self.swap_in(index, fresh, None, &usage),
                        };
                    }
                }
                Err(reason) => problems.push(format!("{}: {reason}", entry.description.label())),
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::CredentialUnavailable,
            format!(
                "not reloaded, the credential in use kept: {}",
                problems.join("; ")
            ),
        ))
    }

    /// Replaces entry `index` with a credential given in memory: a PFX or PEM (chain and key,
    /// opened with `password`) for a certificate entry, the secret's UTF-8 bytes for a
    /// `ClientSecret` entry. It is loaded and checked first; on failure the old one stays.
    pub fn set_credential(&self, index: usize, data: &[u8], password: Option<&str>) -> Result<()> {
        let entry = self.entries.get(index).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "index {index}: AzureAd.ClientCredentials has {} entries",
                    self.entries.len()
                ),
            )
        })?;
        let label = entry.description.label();
        let unusable = |why: String| {
            Error::new(
                ErrorKind::CredentialUnavailable,
                format!("{label}: the credential given was not used, the old one kept: {why}"),
            )
        };
        let source = entry.description.source_type.as_ref();
        let credential = match source {
            Some(source) if source.is_certificate() => {
                let certificate =
                    super::formats::parse_certificate_file(data, password, &self.crypto)
                        .map_err(unusable)?;
                certificate
                    .check_time(crate::clock::unix_now())
                    .map_err(unusable)?;
                Credential::Certificate(Arc::new(certificate))
            }
            Some(crate::config::SourceType::ClientSecret) => {
                let secret = std::str::from_utf8(data)
                    .ok()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        unusable("a client secret must be non-empty UTF-8".to_string())
                    })?;
                Credential::ClientSecret(secret.into())
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "{label}: only certificate and ClientSecret entries can be given in memory"
                    ),
                ));
            }
        };
        *entry.pushed.lock() = Some(credential.clone());
        let usage = Usage {
            protocol: "set_credential",
            api_url: "",
        };
        self.swap_in(index, credential, None, &usage);
        crate::log::info(|| format!("{label}: replaced by a credential given in memory"));
        Ok(())
    }

    fn refuse_change(&self, entry: &Entry, seen: &Fingerprint, reason: &str, kept: &Certificate) {
        let mut refused = entry.refused_change.lock();
        if refused.as_ref() == Some(seen) {
            return;
        }
        *refused = Some(seen.clone());
        drop(refused);
        crate::log::warn(|| {
            format!(
                "{} changed on disk but cannot be used ({reason}); still using certificate {} \
                 and trying again at the next check",
                entry.description.label(),
                kept.facts.thumbprint
            )
        });
    }

    pub fn add_observer(&self, observer: Observer) {
        self.observers.write().push(observer);
    }

    /// The credential to use for `purpose`, selecting (and loading) one on first use: for MTLS
    /// the first usable certificate, for tokens the first usable credential of any kind.
    pub fn select(&self, purpose: Purpose, usage: &Usage) -> Result<Selection> {
        let slot = &self.selected[purpose.slot()];
        let current = slot.read().clone();
        if let Some(selection) = current {
            if self.due_for_check() {
                // Every purpose's selection: the token credential may be another entry.
                let in_use: Vec<Selection> = self
                    .selected
                    .iter()
                    .filter_map(|s| s.read().clone())
                    .collect();
                for selection in &in_use {
                    self.reload_if_changed(selection, usage);
                }
                if let Some(now) = slot.read().clone() {
                    return Ok(now);
                }
            }
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

    /// Every entry in configuration order: loaded now if it was not yet (as a call would load it),
    /// with what it loaded into or why it failed, and which purposes it is selected for.
    pub fn report(&self) -> Vec<CredentialReport> {
        self.entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let loaded = (!entry.description.skip).then(|| self.load(entry));
                let selected_for = [(Purpose::Mtls, "MTLS"), (Purpose::Token, "token")]
                    .into_iter()
                    .filter(|(purpose, _)| {
                        self.selected[purpose.slot()]
                            .read()
                            .as_ref()
                            .is_some_and(|s| s.index == index)
                    })
                    .map(|(_, name)| name)
                    .collect();
                CredentialReport::new(&entry.description, loaded, selected_for)
            })
            .collect()
    }

    /// Reports a successful use of `selection`.
    pub fn used(&self, selection: &Selection, usage: &Usage) {
        self.notify(selection, EventKind::SuccessfullyUsed, usage, None);
        self.warn_if_expiring(selection, usage);
    }

    fn announce(&self, result: &Result<Selection>, is_new: bool, usage: &Usage) {
        if let (Ok(selection), true) = (result, is_new) {
            crate::log::info(|| format!("selected {}", selection.describe()));
            self.notify(selection, EventKind::Selected, usage, None);
            self.warn_if_expiring(selection, usage);
        }
    }

    /// A warning and an `ExpiringSoon` event when the selected certificate expires within the
    /// configured days, at most once a (UTC) day per certificate: checked when it is selected and
    /// when it is used, so a long-running process hears of it too.
    fn warn_if_expiring(&self, selection: &Selection, usage: &Usage) {
        let Some(certificate) = selection.certificate() else {
            return;
        };
        let now = crate::clock::unix_now();
        // Never negative: an expired certificate still in use (no later one is valid) is at 0.
        let days_left = certificate.facts.days_left(now).max(0);
        if self.expiry_warning_days == 0 || days_left >= self.expiry_warning_days {
            return;
        }
        let today = now.div_euclid(86_400);
        {
            let mut warned = self.expiry_warned.lock();
            if warned.get(&certificate.facts.thumbprint) == Some(&today) {
                return;
            }
            warned.insert(certificate.facts.thumbprint.clone(), today);
        }
        crate::log::warn(|| {
            format!(
                "{} expires in {days_left} day(s): renew it (AzureAd.CertificateExpiryWarningDays \
                 is {})",
                selection.describe(),
                self.expiry_warning_days
            )
        });
        self.notify_with(
            selection,
            EventKind::ExpiringSoon,
            usage,
            None,
            Some(days_left),
        );
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
                        source: entry.description.source_name().into(),
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
        if let Some(pushed) = entry.pushed.lock().clone() {
            *loaded = Some(pushed.clone());
            return Ok(pushed);
        }
        // Seen before reading: a change while loading is found at the next check.
        let seen = watch::fingerprint(&entry.description);
        let credential = load_credential(&entry.description, &self.crypto)?;
        *loaded = Some(credential.clone());
        *entry.fingerprint.lock() = seen;
        Ok(credential)
    }

    fn notify(&self, selection: &Selection, kind: EventKind, usage: &Usage, error: Option<&str>) {
        self.notify_with(selection, kind, usage, error, None)
    }

    fn notify_with(
        &self,
        selection: &Selection,
        kind: EventKind,
        usage: &Usage,
        error: Option<&str>,
        days_left: Option<i64>,
    ) {
        let observers = self.observers.read().clone();
        if observers.is_empty() {
            return;
        }
        let (thumbprint, subject) = match selection.certificate() {
            Some(certificate) => (
                certificate.facts.thumbprint.clone(),
                certificate.facts.subject.clone(),
            ),
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
            days_left,
        };
        event.emit();
    }
}
