//! Whether a certificate's source changed on disk since it was loaded: a file's modification
//! time, size and inode, or for a store directory the same for each of its entries. Checking
//! costs a few `stat` calls, so it runs on the calling path, at most once per
//! `AzureAd.CertificateReloadIntervalSeconds`.

use std::path::Path;
use std::time::SystemTime;

use crate::config::{CredentialDescription, SourceType};

/// What a source looked like: one line per file (name, size, modification time, inode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(Vec<(String, u64, Option<SystemTime>, u64)>);

impl Fingerprint {
    /// Stands for a source that could not be read, so that it is warned about once.
    pub fn unreadable() -> Fingerprint {
        Fingerprint(vec![("(unreadable)".to_string(), u64::MAX, None, u64::MAX)])
    }

    /// Stands for a version a remote source (Key Vault) names as its current one.
    pub fn version(version: &str) -> Fingerprint {
        Fingerprint(vec![(version.to_string(), 0, None, 0)])
    }
}

#[cfg(unix)]
fn inode(metadata: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}
#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

fn file_line(name: String, path: &Path) -> Option<(String, u64, Option<SystemTime>, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((
        name,
        metadata.len(),
        metadata.modified().ok(),
        inode(&metadata),
    ))
}

/// The fingerprint of an entry's source, for the sources that live on disk (a file or a store
/// directory); `None` for the others, and for a source that cannot be read now.
pub fn fingerprint(description: &CredentialDescription) -> Option<Fingerprint> {
    match description.source_type.as_ref()? {
        SourceType::Path => {
            let path = description.certificate_disk_path.as_deref()?;
            Some(Fingerprint(vec![file_line(
                path.to_string(),
                Path::new(path),
            )?]))
        }
        SourceType::StoreWithThumbprint
        | SourceType::StoreWithDistinguishedName
        | SourceType::StoreWithSubjectName => {
            let directory = description.certificate_store_path.as_deref()?;
            let mut lines: Vec<_> = std::fs::read_dir(directory)
                .ok()?
                .filter_map(|entry| entry.ok())
                .filter_map(|entry| {
                    file_line(
                        entry.file_name().to_string_lossy().into_owned(),
                        &entry.path(),
                    )
                })
                .collect();
            lines.sort();
            Some(Fingerprint(lines))
        }
        _ => None,
    }
}
