//! Selection: the first usable credential in configuration order, each entry loaded lazily and
//! once. A load runs under the change lock only, never the state lock, so that other threads'
//! calls go on with the selection they have while a source is read.

use super::credential::{Credential, Purpose, Selection};
use super::observer::Usage;
use super::provider::CredentialsProvider;
use super::state::Changing;
use super::watch;
use crate::error::{Error, ErrorKind, Result};

impl CredentialsProvider {
    /// `select` when `purpose` has no selection yet: selects and announces it, unless another
    /// thread did while this one waited.
    pub(super) fn select_first_time(&self, purpose: Purpose, usage: &Usage) -> Result<Selection> {
        // Lines logged while the lock is held (a vault's reader's) are sent once it is not.
        let (selected, lines) = crate::log::collecting(|| {
            let change = self.state.begin_change();
            let current = self.state.read().selected(purpose).cloned();
            match current {
                Some(selection) => Err(selection),
                None => Ok(self.select_first_usable(purpose, &change)),
            }
        });
        crate::log::replay(lines);
        let (result, is_new) = match selected {
            Err(another_threads) => return Ok(another_threads),
            Ok(selected) => selected,
        };
        // Observers and the log sink run without our locks held: they may call back into the
        // library (even on this client) without deadlocking.
        self.announce(&result, is_new, usage);
        result
    }

    /// Picks the first usable credential for `purpose` in order and makes it the selection;
    /// also says whether the selection is news (a credential already selected for the other
    /// purpose is one selection, announced once).
    pub(super) fn select_first_usable(
        &self,
        purpose: Purpose,
        change: &Changing<'_>,
    ) -> (Result<Selection>, bool) {
        let mut problems = Vec::new();
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.description.skip {
                continue;
            }
            let label = entry.description.label();
            match self.load(index, change) {
                Ok(credential) if purpose.accepts(&credential) => {
                    let selection = Selection {
                        index,
                        credential,
                        source: entry.source.clone(),
                    };
                    let is_new = self.state.write().install(purpose, &selection);
                    return (Ok(selection), is_new);
                }
                Ok(other) => problems.push(format!("{label}: is {}", other.kind_name())),
                Err(error) => problems.push(format!("{label}: {error}")),
            }
        }
        (Err(nothing_usable(purpose, problems)), false)
    }

    /// Entry `index`'s credential, loaded now if it was not yet; a failure is not cached, so a
    /// file that appears later is found. Asks for the change lock: nothing else may write the
    /// entry's `loaded` while its source is read without the state lock.
    pub(super) fn load(
        &self,
        index: usize,
        _change: &Changing<'_>,
    ) -> std::result::Result<Credential, String> {
        {
            let mut state = self.state.write();
            let entry = &mut state.entries[index];
            if let Some(credential) = &entry.loaded {
                return Ok(credential.clone());
            }
            if let Some(pushed) = entry.pushed.clone() {
                entry.loaded = Some(pushed.clone());
                return Ok(pushed);
            }
        }
        let description = &self.entries[index].description;
        // Seen before reading: a change while loading is found at the next check.
        let seen = watch::fingerprint(description);
        let credential = self.load_source(description)?;
        let mut state = self.state.write();
        let entry = &mut state.entries[index];
        entry.loaded = Some(credential.clone());
        entry.fingerprint = seen;
        Ok(credential)
    }
}

/// The error when no entry is usable for `purpose`, naming each entry and why.
fn nothing_usable(purpose: Purpose, mut problems: Vec<String>) -> Error {
    if problems.is_empty() {
        problems.push("AzureAd.ClientCredentials has no entry to use".to_string());
    }
    let wanted = match purpose {
        Purpose::Mtls => "client certificate",
        Purpose::Token => "client credential",
    };
    Error::new(
        ErrorKind::CredentialUnavailable,
        format!("no usable {wanted}: {}", problems.join("; ")),
    )
}
