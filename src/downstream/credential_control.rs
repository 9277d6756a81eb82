//! The client's credentials as its host sees them: observers, the report of each entry, reloads
//! and credentials pushed from memory, and the retirement of replaced certificates (their pooled
//! connections closed, their bound tokens dropped).

use super::DownstreamApi;
use crate::credentials::{CredentialReport, Observer, reports_to_json};
use crate::error::Result;

impl DownstreamApi {
    /// Registers an observer of credential events; it stays until the client is dropped.
    pub fn add_observer(&self, observer: Observer) {
        self.credentials.add_observer(observer);
    }

    /// Every `ClientCredentials` entry: loaded now if no call has loaded it yet, with its
    /// certificate's facts or the reason it failed.
    pub fn credentials(&self) -> Vec<CredentialReport> {
        self.credentials.report()
    }

    /// [`DownstreamApi::credentials`] as a JSON array (the C ABI's and `dsapi credentials --json`'s
    /// format), `daysLeft` counted from now.
    pub fn credentials_json(&self) -> String {
        reports_to_json(&self.credentials.report())
    }

    /// Reloads every `ClientCredentials` entry from its source now (a host told by its secret
    /// store that a credential changed). Each is checked before it replaces the one in use; an
    /// entry that fails keeps its credential and is named in the error.
    pub fn reload_credentials(&self) -> Result<()> {
        let outcome = self.credentials.reload_all();
        self.retire_replaced_certificates();
        outcome
    }

    /// Replaces `ClientCredentials[index]` with a credential given in memory: a PFX or PEM
    /// (opened with `password`) for a certificate entry, the secret for a `ClientSecret` entry.
    /// Checked first; on failure the old credential stays in use.
    pub fn set_credential(&self, index: usize, data: &[u8], password: Option<&str>) -> Result<()> {
        let outcome = self.credentials.set_credential(index, data, password);
        self.retire_replaced_certificates();
        outcome
    }

    /// After a certificate file changed and its new certificate was swapped in: the old one's
    /// pooled connections are closed and the tokens bound to it dropped.
    pub(super) fn retire_replaced_certificates(&self) {
        for old in self.credentials.take_retired() {
            self.transport.forget(&old);
            self.tokens.forget_bound_to(&old.facts.thumbprint_sha256);
        }
    }
}
