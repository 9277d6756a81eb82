//! Renewal from Key Vault, the proactive check of a `KeyVault` entry: ask the vault which version
//! is current (step 1 only, no key), and fetch that version's secret (step 2) only when it is not
//! the one in use. The check runs at most once per interval in the process (`due_for_check`: one
//! thread claims it, the others go on), at a random point of the interval; with a fleet lock, one
//! instance fetches at a time and the others come back a moment later. A vault that cannot be
//! read keeps the certificate in use, with one warning per outage: a renewal is never worth a
//! failed call that the current certificate can serve.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::certificate::Certificate;
use super::credential::{Credential, Selection};
use super::events::{log_info, log_warn};
use super::observer::Usage;
use super::provider::{CredentialsProvider, nanos, spread};
use super::vault::{VaultSource, load_version};
use super::watch::Fingerprint;
use crate::clock::unix_now;

impl CredentialsProvider {
    /// The proactive check of `current`, a certificate from a vault: swaps in the vault's
    /// current version when it is another one that loads and may be used, and returns it.
    pub(super) fn renew_from_vault(
        &self,
        current: &Selection,
        old: &Arc<Certificate>,
        usage: &Usage,
    ) -> Option<Selection> {
        let index = current.index;
        let reader = self.vault.get()?.clone();
        let source = VaultSource::of(&self.entries[index].description).ok()?;
        let version = match reader.current(&source) {
            Ok(version) => version,
            Err(why) => {
                self.vault_unreadable(index, &source, &why, old);
                return None;
            }
        };
        let seen = Fingerprint::version(&version.version);
        self.vault_readable_again(index, &source);
        if old.source_version.as_deref() == Some(version.version.as_str()) {
            return None;
        }
        if let Some(wait) = reader.fleet_turn(&source) {
            // Another instance is fetching: this one asks again a moment later.
            self.check_again_after(wait);
            return None;
        }
        let fresh = load_version(reader.as_ref(), &source, &version, &self.crypto, unix_now())
            .and_then(|fresh| fresh.check_time(unix_now()).map(|()| fresh));
        let fresh = match fresh {
            Ok(fresh) => fresh,
            Err(why) => {
                if self.first_refusal(index, &seen) {
                    log_warn(|| {
                        format!(
                            "{}: the vault's current version cannot be used ({why}); still \
                             using certificate {} and trying again at the next check",
                            source.describe(),
                            old.facts.thumbprint
                        )
                    });
                }
                return None;
            }
        };
        self.state.write().entries[index].fingerprint = Some(seen);
        let credential = Credential::Certificate(Arc::new(fresh));
        let replacement = self.swap_in(index, credential, Some(&current.credential), usage)?;
        log_info(|| {
            format!(
                "{}: renewed to version {}, now using certificate {} instead of {}",
                source.describe(),
                version.version,
                replacement
                    .certificate()
                    .map_or("?", |c| c.facts.thumbprint.as_str()),
                old.facts.thumbprint
            )
        });
        Some(replacement)
    }

    /// Step 1 failed: the certificate in use stays, with one warning until the vault answers.
    fn vault_unreadable(&self, index: usize, source: &VaultSource, why: &str, kept: &Certificate) {
        if self.first_refusal(index, &Fingerprint::unreadable()) {
            log_warn(|| {
                format!(
                    "{}: the vault cannot be read now ({why}); still using certificate {} \
                     (expires {}) and asking again at each check",
                    source.describe(),
                    kept.facts.thumbprint,
                    crate::clock::format_time(kept.facts.not_after)
                )
            });
        }
    }

    /// Step 1 answered: an outage warned about is over.
    fn vault_readable_again(&self, index: usize, source: &VaultSource) {
        let ended = {
            let mut state = self.state.write();
            let refused = &mut state.entries[index].refused_change;
            let ended = refused.as_ref() == Some(&Fingerprint::unreadable());
            if ended {
                *refused = None;
            }
            ended
        };
        if ended {
            log_info(|| format!("{}: the vault answers again", source.describe()));
        }
    }

    /// Brings the next check forward to a little after `wait` from now (when the fleet's lock
    /// has expired), spread so that the instances waiting do not come back together.
    fn check_again_after(&self, wait: Duration) {
        let after = wait + spread(wait / 2, true);
        let at = nanos(self.created.elapsed()).saturating_add(nanos(after));
        let next = self.next_check.load(Ordering::Relaxed);
        if at < next {
            let _ =
                self.next_check
                    .compare_exchange(next, at, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}
