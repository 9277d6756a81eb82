//! Rotation: replacing the credential in use, after a server rejected it or when its source
//! changed on disk (the proactive watch, at most once per `CertificateReloadIntervalSeconds`;
//! `watch.rs` says what "changed" means). The new credential is loaded before it is swapped in,
//! so other threads never see "no credential".

use std::sync::atomic::Ordering;

use super::certificate::Certificate;
use super::credential::{Credential, Purpose, Selection};
use super::events::{EventDetails, log_info, log_warn};
use super::observer::{EventKind, Usage};
use super::provider::{CredentialsProvider, nanos, spread};
use super::watch::{self, Fingerprint};
use crate::config::SourceType;
use crate::error::Result;

impl CredentialsProvider {
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
        // Lines logged while the lock is held (a vault's reader's) are sent once it is not.
        let (rotated, lines) = crate::log::collecting(|| {
            let change = self.state.begin_change();
            let current = self.state.read().selected(purpose).cloned();
            if let Some(current) = current
                && !current.same_as(rejected)
            {
                return Err(current);
            }
            // Only the first report of this loaded credential (from either purpose) deselects it;
            // a later one finds the entry already reloaded, or being retried after a failure.
            let first_report = self.state.write().forget_loaded(rejected);
            // The rejected selection stays in its slot until a replacement is loaded, so other
            // threads never see "no credential"; then the swap is one write.
            let (result, is_new) = self.select_first_usable(purpose, &change);
            if result.is_ok() {
                self.state.write().deselect(rejected);
            }
            Ok((first_report, result, is_new))
        });
        crate::log::replay(lines);
        let (first_report, result, is_new) = match rotated {
            Err(another_threads) => return Ok(another_threads),
            Ok(rotated) => rotated,
        };
        // Observers and the log sink run without our locks held: they may call back into the
        // library (even on this client) without deadlocking.
        if first_report {
            log_warn(|| {
                format!(
                    "{} was rejected ({reason}); reloading it",
                    rejected.describe()
                )
            });
            let details = EventDetails::error(reason);
            self.notify(rejected, EventKind::Deselected, usage, &details);
        }
        self.announce(&result, is_new, usage);
        result
    }

    /// Makes `credential` entry `index`'s loaded credential and, where a purpose had selected
    /// that entry, its selection (announced as `Selected`); a replaced certificate is retired.
    /// With `expected`, only if the entry still holds that credential (a concurrent push,
    /// rotation or reload wins). Returns the new selection when the entry was selected.
    pub(super) fn swap_in(
        &self,
        index: usize,
        credential: Credential,
        expected: Option<&Credential>,
        usage: &Usage,
    ) -> Option<Selection> {
        let replacement = Selection {
            index,
            credential: credential.clone(),
            source: self.entries[index].source.clone(),
        };
        let replaced = {
            let _change = self.state.begin_change();
            let mut state = self.state.write();
            let loaded = &mut state.entries[index].loaded;
            if let Some(expected) = expected
                && !loaded.as_ref().is_some_and(|c| c.same_as(expected))
            {
                return None;
            }
            let old = loaded.replace(credential.clone());
            let replaced = state.replace_selections(&replacement);
            // The same certificate again (a push of identical bytes) keeps its pool.
            if let Some(Credential::Certificate(old)) = old
                && !credential.same_value(&Credential::Certificate(old.clone()))
            {
                state.retired.push(old);
            }
            replaced
        };
        if !replaced {
            return None;
        }
        self.notify(
            &replacement,
            EventKind::Selected,
            usage,
            &EventDetails::NONE,
        );
        self.warn_if_expiring(&replacement, usage);
        Some(replacement)
    }

    /// Whether this thread should check the sources now: at most once per interval, and never
    /// waiting for another thread that is checking.
    pub(super) fn due_for_check(&self) -> bool {
        let Some(interval) = self.reload_interval else {
            return false;
        };
        let now = nanos(self.created.elapsed());
        let next = self.next_check.load(Ordering::Relaxed);
        if now < next {
            return false;
        }
        // Of the threads that found the check due, the one whose exchange succeeds checks.
        let claimed = now.saturating_add(nanos(spread(interval, self.jitter)));
        self.next_check
            .compare_exchange(next, claimed, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// The proactive watch: every purpose's selection whose source changed is reloaded (the
    /// token credential may be another entry than the MTLS one).
    pub(super) fn reload_changed_sources(&self, usage: &Usage) {
        let in_use = self.state.read().in_use();
        for selection in &in_use {
            self.reload_if_changed(selection, usage);
        }
    }

    /// When the source of `current` changed on disk into a certificate that loads and is
    /// time-valid, swaps it in (for every purpose it served) and returns it; a change into
    /// something unusable keeps `current`, with one warning per change.
    fn reload_if_changed(&self, current: &Selection, usage: &Usage) -> Option<Selection> {
        let old = current.certificate()?.clone();
        let index = current.index;
        let description = &self.entries[index].description;
        // A pushed credential replaced the entry's source.
        if self.state.read().entries[index].pushed.is_some() {
            return None;
        }
        if description.source_type == Some(SourceType::KeyVault) {
            return self.renew_from_vault(current, &old, usage);
        }
        let Some(now_seen) = watch::fingerprint(description) else {
            // Removed or unreadable (a rename in progress, permissions): keep the certificate.
            let was_readable = self.state.read().entries[index].fingerprint.is_some();
            if was_readable {
                let reason = "the source cannot be read now";
                self.refuse_change(index, &Fingerprint::unreadable(), reason, &old);
            }
            return None;
        };
        let unchanged = self.state.read().entries[index].fingerprint.as_ref() == Some(&now_seen);
        if unchanged {
            return None;
        }
        let fresh = match self.load_source(description) {
            Ok(Credential::Certificate(fresh)) => fresh,
            Ok(other) => {
                let reason = format!("it is {}", other.kind_name());
                self.refuse_change(index, &now_seen, &reason, &old);
                return None;
            }
            Err(reason) => {
                self.refuse_change(index, &now_seen, &reason, &old);
                return None;
            }
        };
        // Touched or rewritten with the same certificate: only the fingerprint is news.
        let same_certificate = fresh.facts.thumbprint_sha256 == old.facts.thumbprint_sha256;
        {
            let mut state = self.state.write();
            let entry = &mut state.entries[index];
            entry.refused_change = None;
            entry.fingerprint = Some(now_seen);
        }
        if same_certificate {
            return None;
        }
        let fresh = Credential::Certificate(fresh);
        let replacement = self.swap_in(index, fresh, Some(&current.credential), usage)?;
        log_info(|| {
            format!(
                "{} changed on disk: now using certificate {} instead of {}",
                description.label(),
                replacement
                    .certificate()
                    .map_or("?", |c| c.facts.thumbprint.as_str()),
                old.facts.thumbprint
            )
        });
        Some(replacement)
    }

    /// Keeps the certificate in use when its source changed into something unusable, warning
    /// once per change (a check finding the same change again stays quiet).
    fn refuse_change(&self, index: usize, seen: &Fingerprint, reason: &str, kept: &Certificate) {
        if !self.first_refusal(index, seen) {
            return;
        }
        log_warn(|| {
            format!(
                "{} changed on disk but cannot be used ({reason}); still using certificate {} \
                 and trying again at the next check",
                self.entries[index].description.label(),
                kept.facts.thumbprint
            )
        });
    }

    /// Records `seen` as the entry's refused change; says whether it is news (to be warned
    /// about) rather than the one refused at the last check.
    pub(super) fn first_refusal(&self, index: usize, seen: &Fingerprint) -> bool {
        let mut state = self.state.write();
        let refused = &mut state.entries[index].refused_change;
        if refused.as_ref() == Some(seen) {
            return false;
        }
        *refused = Some(seen.clone());
        true
    }
}
