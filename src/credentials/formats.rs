//! Certificate and key formats, from bytes: PEM bundles (PKCS#8, PKCS#1, SEC1 and encrypted PKCS#8
//! keys) and PFX/PKCS#12 archives (modern AES and legacy RC2/3DES). Where the bytes come from is
//! `sources`' business.

use base64::Engine;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::certificate::Certificate;
use crate::encoding::contains_bytes;

/// The content of a certificate file: PEM (chain and key) or PFX/PKCS#12, told apart by content.
pub fn parse_certificate_file(
    data: &[u8],
    password: Option<&str>,
    provider: &CryptoProvider,
) -> Result<Certificate, String> {
    if contains_bytes(data, b"-----BEGIN ") {
        parse_pem(data, password, provider)
    } else {
        parse_pkcs12(data, password, provider)
    }
}

/// A PEM bundle: certificates plus one private key (PKCS#8, PKCS#1, SEC1, or encrypted PKCS#8
/// opened with `password`).
fn parse_pem(
    data: &[u8],
    password: Option<&str>,
    provider: &CryptoProvider,
) -> Result<Certificate, String> {
    // Checked first: the PEM reader fails on the block's headers with a base64 error otherwise.
    if contains_bytes(data, b"Proc-Type: 4,ENCRYPTED") {
        return Err(
            "the key uses legacy OpenSSL PEM encryption; convert it to encrypted PKCS#8 \
             (openssl pkcs8 -topk8 -in old.pem -out new.pem)"
                .to_string(),
        );
    }
    let chain = CertificateDer::pem_slice_iter(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM certificate: {e}"))?;
    let key = match find_encrypted_pkcs8(data)? {
        Some(encrypted) => decrypt_pkcs8(&encrypted, password)?,
        None => PrivateKeyDer::from_pem_slice(data).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key in the PEM file".to_string()
            }
            other => format!("invalid PEM private key: {other}"),
        })?,
    };
    Certificate::from_parts(chain, key, provider)
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
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der)
        .map_err(|e| format!("invalid encrypted PKCS#8 key: {e}"))?;
    let document = info.decrypt(password).map_err(|_| {
        "cannot decrypt the private key: wrong CertificatePassword or unsupported cipher"
            .to_string()
    })?;
    Ok(PrivatePkcs8KeyDer::from(document.as_bytes().to_vec()).into())
}

/// A PFX/PKCS#12 archive, modern (PBES2/AES) or legacy (RC2, 3DES); the first key and its chain.
pub fn parse_pkcs12(
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
