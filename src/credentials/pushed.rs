//! Credentials the host hands over rather than the provider finding them: one given in memory
//! (`set_credential`), or every entry reloaded on request (`reload_all`) when a secret store says
//! something changed. Either is loaded and checked before it replaces the one in use.

use std::sync::Arc;

use super::credential::Credential;
use super::events::log_info;
use super::formats::parse_certificate_file;
use super::observer::Usage;
use super::provider::{CredentialsProvider, Entry};
use super::watch;
use crate::config::SourceType;
use crate::error::{Error, ErrorKind, Result};

impl CredentialsProvider {
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
            let (pushed, before) = {
                let state = self.state.read();
                let entry = &state.entries[index];
                (entry.pushed.is_some(), entry.loaded.clone())
            };
            if entry.description.skip || pushed {
                continue;
            }
            let seen = watch::fingerprint(&entry.description);
            match self.load_source(&entry.description) {
                Ok(fresh) => {
                    self.state.write().entries[index].fingerprint = seen;
                    let unchanged = before.as_ref().is_some_and(|b| b.same_value(&fresh));
                    if !unchanged {
                        self.swap_in(index, fresh, before.as_ref(), &usage);
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
        let credential = self.credential_from_bytes(entry, data, password)?;
        self.state.write().entries[index].pushed = Some(credential.clone());
        let usage = Usage {
            protocol: "set_credential",
            api_url: "",
        };
        self.swap_in(index, credential, None, &usage);
        let label = entry.description.label();
        log_info(|| format!("{label}: replaced by a credential given in memory"));
        Ok(())
    }

    /// The credential `data` holds for `entry`, of the kind its `SourceType` gives, checked as
    /// a load from that source would be.
    fn credential_from_bytes(
        &self,
        entry: &Entry,
        data: &[u8],
        password: Option<&str>,
    ) -> Result<Credential> {
        let label = entry.description.label();
        let unusable = |why: String| {
            Error::new(
                ErrorKind::CredentialUnavailable,
                format!("{label}: the credential given was not used, the old one kept: {why}"),
            )
        };
        match entry.description.source_type.as_ref() {
            Some(source) if source.is_certificate() => {
                let certificate =
                    parse_certificate_file(data, password, &self.crypto).map_err(unusable)?;
                certificate
                    .check_time(crate::clock::unix_now())
                    .map_err(unusable)?;
                Ok(Credential::Certificate(Arc::new(certificate)))
            }
            Some(SourceType::ClientSecret) => {
                let secret = std::str::from_utf8(data)
                    .ok()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        unusable("a client secret must be non-empty UTF-8".to_string())
                    })?;
                Ok(Credential::ClientSecret(secret.into()))
            }
            _ => Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{label}: only certificate and ClientSecret entries can be given in memory"
                ),
            )),
        }
    }
}
