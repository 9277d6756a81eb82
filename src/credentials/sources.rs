//! Reading certificates from where `ClientCredentials` says they are: a PEM or PFX file, a base64
//! PFX in the configuration, or a directory used as a certificate store.

use std::path::Path;

use base64::Engine;
use rustls::crypto::CryptoProvider;

use super::certificate::Certificate;
use super::formats::{parse_certificate_file, parse_pkcs12};
use crate::encoding::join_some;
use crate::files::{FileKind, read_regular_file};

/// Which certificate of a store directory is wanted.
pub enum StoreCriterion<'a> {
    Thumbprint(&'a str),
    DistinguishedName(&'a str),
    SubjectName(&'a str),
}

/// Loads a PEM file (certificate chain and key) or a PFX/PKCS#12 file, told apart by content.
pub fn load_file(
    path: &Path,
    password: Option<&str>,
    provider: &CryptoProvider,
) -> Result<Certificate, String> {
    let data = read_regular_file(path, FileKind::Certificate)?;
    parse_certificate_file(&data, password, provider)
        .map_err(|e| format!("'{}': {e}", path.display()))
}

/// Loads a PFX given as standard base64 (Id.Web's `Base64EncodedValue`).
pub fn load_base64(
    text: &str,
    password: Option<&str>,
    provider: &CryptoProvider,
) -> Result<Certificate, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let data = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("Base64EncodedValue is not valid base64: {e}"))?;
    parse_pkcs12(&data, password, provider)
}

/// Searches a directory of PEM/PFX files for time-valid certificates meeting `criterion`; the one
/// with the newest NotBefore wins (the most recently issued, as after a renewal). Files that do not
/// load are skipped, and named in the error when nothing matches.
pub fn load_from_store(
    directory: &Path,
    criterion: &StoreCriterion,
    password: Option<&str>,
    provider: &CryptoProvider,
    now: i64,
) -> Result<Certificate, String> {
    let entries = std::fs::read_dir(directory).map_err(|e| {
        format!(
            "CertificateStorePath '{}' is not a readable directory: {e}",
            directory.display()
        )
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();

    let mut best: Option<Certificate> = None;
    let mut rejected = Vec::new();
    for path in paths {
        let certificate = match load_file(&path, password, provider) {
            Ok(certificate) => certificate,
            Err(error) => {
                rejected.push(error);
                continue;
            }
        };
        let matches = match criterion {
            StoreCriterion::Thumbprint(t) => certificate.matches_thumbprint(t),
            StoreCriterion::DistinguishedName(dn) => certificate.matches_distinguished_name(dn),
            StoreCriterion::SubjectName(name) => certificate.matches_subject_name(name),
        };
        if !matches {
            continue;
        }
        if let Err(error) = certificate.check_time(now) {
            rejected.push(format!("'{}': {error}", path.display()));
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|b| certificate.facts.not_before > b.facts.not_before)
        {
            best = Some(certificate);
        }
    }
    best.ok_or_else(|| {
        let wanted = match criterion {
            StoreCriterion::Thumbprint(t) => format!("thumbprint {t}"),
            StoreCriterion::DistinguishedName(dn) => format!("distinguished name '{dn}'"),
            StoreCriterion::SubjectName(name) => format!("subject name '{name}'"),
        };
        let mut message = format!(
            "no time-valid certificate with {wanted} in '{}'",
            directory.display()
        );
        if !rejected.is_empty() {
            message.push_str(&format!(" (skipped: {})", join_some(&rejected, "; ")));
        }
        message
    })
}
