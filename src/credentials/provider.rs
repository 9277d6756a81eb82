//! The provider type: the ordered entries, their shared state, and the fast path every call
//! takes. Its other jobs live beside it: first selection (`selection.rs`), rotation and the
//! proactive watch (`rotation.rs`), pushed credentials (`pushed.rs`), events (`events.rs`) and
//! reports (`report.rs`).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;

use super::certificate::Certificate;
use super::credential::{Credential, Purpose, Selection};
use super::loader::load_credential;
use super::observer::Usage;
use super::state::Guarded;
use super::vault::VaultReader;
use crate::config::{CredentialDescription, SourceType};
use crate::error::Result;

/// One `ClientCredentials` entry as configured; what changes about it is in the state.
pub(super) struct Entry {
    pub(super) description: CredentialDescription,
    /// "ClientCredentials[0] (Path)", named in selections and events.
    pub(super) source: Arc<str>,
}

/// The ordered `ClientCredentials` entries, loaded lazily, and one selection per [`Purpose`].
///
/// Everything that changes sits behind one `RwLock`, held only for short sections without I/O,
/// so `select` of an existing selection costs one read lock and a clone. Changes that may load
/// from a source (selection, rotation, swaps) are serialised by a second lock, always taken
/// before the first (see `State`); observers and the log sink run with neither held.
pub struct CredentialsProvider {
    pub(super) entries: Vec<Entry>,
    pub(super) crypto: Arc<CryptoProvider>,
    pub(super) state: Guarded,
    /// `AzureAd.CertificateExpiryWarningDays`; 0: no warning.
    pub(super) expiry_warning_days: i64,
    /// `AzureAd.CertificateReloadIntervalSeconds`: how often sources are checked for a change.
    pub(super) reload_interval: Option<Duration>,
    /// When the sources are next checked, in nanoseconds after `created`: an atomic, so that
    /// exactly one thread claims each check and none waits for it.
    pub(super) next_check: AtomicU64,
    pub(super) created: Instant,
    /// Reads `KeyVault` entries; set once by the client, which has the transport and tokens.
    pub(super) vault: OnceLock<Arc<dyn VaultReader>>,
    /// Whether checks are spread at random over the interval: with a vault among the sources,
    /// so that a fleet started together does not ask the vault in the same second.
    pub(super) jitter: bool,
}

impl CredentialsProvider {
    pub fn new(
        descriptions: &[CredentialDescription],
        crypto: Arc<CryptoProvider>,
        expiry_warning_days: u32,
        reload_interval: Option<Duration>,
    ) -> Self {
        let jitter = descriptions
            .iter()
            .any(|d| !d.skip && d.source_type == Some(SourceType::KeyVault));
        let first_check = reload_interval.map_or(0, |i| nanos(spread(i, jitter)));
        let entries = descriptions
            .iter()
            .map(|description| Entry {
                description: description.clone(),
                source: description.source_name().into(),
            })
            .collect();
        CredentialsProvider {
            entries,
            crypto,
            state: Guarded::new(descriptions.len()),
            expiry_warning_days: i64::from(expiry_warning_days),
            reload_interval: reload_interval.filter(|i| !i.is_zero()),
            next_check: AtomicU64::new(first_check),
            created: Instant::now(),
            vault: OnceLock::new(),
            jitter,
        }
    }

    /// Gives the provider what reads `KeyVault` entries (once; a second call is ignored).
    pub fn set_vault_reader(&self, reader: Arc<dyn VaultReader>) {
        let _ = self.vault.set(reader);
    }

    /// Whether an entry reads a vault (the client then sets a [`VaultReader`]).
    pub fn has_vault_entries(&self) -> bool {
        self.jitter
    }

    /// Loads `description` from its source (the vault reader included).
    pub(super) fn load_source(
        &self,
        description: &CredentialDescription,
    ) -> std::result::Result<Credential, String> {
        load_credential(
            description,
            &self.crypto,
            self.vault.get().map(|v| v.as_ref()),
        )
    }

    /// The credential to use for `purpose`, selecting (and loading) one on first use: for MTLS
    /// the first usable certificate, for tokens the first usable credential of any kind.
    pub fn select(&self, purpose: Purpose, usage: &Usage) -> Result<Selection> {
        let current = self.state.read().selected(purpose).cloned();
        let Some(selection) = current else {
            return self.select_first_time(purpose, usage);
        };
        if self.due_for_check() {
            self.reload_changed_sources(usage);
            let now = self.state.read().selected(purpose).cloned();
            if let Some(now) = now {
                return Ok(now);
            }
        }
        Ok(selection)
    }

    /// Certificates a proactive reload or a push replaced since the last call (their connection
    /// pools and bound tokens are to be dropped).
    pub fn take_retired(&self) -> Vec<Arc<Certificate>> {
        // Called on every call: the write lock only when there is something to take.
        if self.state.read().retired.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut self.state.write().retired)
    }
}

/// The wait until the next check: `interval`, or with `jitter` a random time between half of it
/// and all of it (never later than configured, on average three quarters).
pub(super) fn spread(interval: Duration, jitter: bool) -> Duration {
    if !jitter {
        return interval;
    }
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    let fraction = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    interval.mul_f64(0.5 + fraction / 2.0)
}

/// A duration as nanoseconds, saturating (584 years).
pub(super) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
