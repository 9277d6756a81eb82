//! Reading certificates from where `ClientCredentials` says they are: a PEM or PFX file, a base64
//! PFX in the configuration, or a directory used as a certificate store.

use std::path::Path;

use base64::Engine;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::certificate::Certificate;

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
    let data = std::fs::read(path).map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
    if looks_like_pem(&data) {
        parse_pem(&data, password, provider)
    } else {
        parse_pkcs12(&data, password, provider)
    }
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
            .is_none_or(|b| certificate.not_before > b.not_before)
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
            message.push_str(&format!(" (skipped: {})", rejected.join("; ")));
        }
        message
    })
}

fn looks_like_pem(data: &[u8]) -> bool {
    data.windows(11).any(|window| window == b"-----BEGIN ")
}

/// A PEM bundle: certificates plus one private key (PKCS#8, PKCS#1, SEC1, or encrypted PKCS#8
/// opened with `password`).
fn parse_pem(
    data: &[u8],
    password: Option<&str>,
    provider: &CryptoProvider,
) -> Result<Certificate, String> {
    let chain = CertificateDer::pem_slice_iter(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM certificate: {e}"))?;
    let key = match find_encrypted_pkcs8(data)? {
        Some(encrypted) => decrypt_pkcs8(&encrypted, password)?,
        None => {
            if contains(data, b"Proc-Type: 4,ENCRYPTED") {
                return Err(
                    "the key uses legacy OpenSSL PEM encryption; convert it to encrypted \
                            PKCS#8 (openssl pkcs8 -topk8)"
                        .to_string(),
                );
            }
            PrivateKeyDer::from_pem_slice(data).map_err(|e| match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    "no private key in the PEM file".to_string()
                }
                other => format!("invalid PEM private key: {other}"),
            })?
        }
    };
    Certificate::from_parts(chain, key, provider)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The DER of an `ENCRYPTED PRIVATE KEY` block, if the PEM has one.
fn find_encrypted_pkcs8(data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    let text = String::from_utf8_lossy(data);
    let Some(start) = text.find(BEGIN) else {
        return Ok(None);
    };
    let body = &text[start + BEGIN.len()..];
    let end = body
        .find(END)
        .ok_or("unterminated ENCRYPTED PRIVATE KEY block")?;
    let compact: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map(Some)
        .map_err(|e| format!("invalid base64 in ENCRYPTED PRIVATE KEY: {e}"))
}

fn decrypt_pkcs8(der: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let password = password
        .filter(|p| !p.is_empty())
        .ok_or("the private key is encrypted and CertificatePassword is not set")?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|e| format!("invalid encrypted PKCS#8 key: {e}"))?;
    let document = info.decrypt(password).map_err(|_| {
        "cannot decrypt the private key: wrong CertificatePassword or unsupported cipher"
            .to_string()
    })?;
    Ok(PrivatePkcs8KeyDer::from(document.as_bytes().to_vec()).into())
}

/// A PFX/PKCS#12 archive, modern (PBES2/AES) or legacy (RC2, 3DES); the first key and its chain.
fn parse_pkcs12(
    data: &[u8],
    password: Option<&str>,
    provider: &CryptoProvider,
) -> Result<Certificate, String> {
    let store = p12_keystore::KeyStore::from_pkcs12(
        data,
        password.unwrap_or(""),
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => {
            "cannot open the PFX: wrong CertificatePassword (MAC check failed)".to_string()
        }
        other => format!("cannot open the PFX: {other}"),
    })?;
    let (_, key_chain) = store
        .private_key_chain()
        .ok_or("the PFX holds no private key")?;
    let mut chain: Vec<CertificateDer<'static>> = key_chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    if chain.is_empty() {
        // Relaxed import leaves certificates it could not link to the key as separate entries.
        chain = store
            .entries()
            .filter_map(|(_, entry)| match entry {
                p12_keystore::KeyStoreEntry::Certificate(c) => {
                    Some(CertificateDer::from(c.as_der().to_vec()))
                }
                _ => None,
            })
            .collect();
    }
    let key = PrivatePkcs8KeyDer::from(key_chain.key().as_der().to_vec()).into();
    Certificate::from_parts(chain, key, provider)
}
