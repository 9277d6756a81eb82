//! A loaded client certificate: its chain, its private key checked against the leaf, and the facts
//! that identify it in logs and observer events (thumbprints, subject, validity).

use std::sync::Arc;

use rustls::InconsistentKeys;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SigningKey};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::clock::format_time;

/// A client certificate ready for the TLS handshake and for signing assertions.
pub struct Certificate {
    chain: Vec<CertificateDer<'static>>,
    /// The private key, loaded by the crypto provider: what signs handshakes and assertions (its
    /// DER is not kept).
    signing_key: Arc<dyn SigningKey>,
    /// What identifies it in messages, events and reports.
    pub facts: CertificateFacts,
    /// The version its source gave it (Key Vault's certificate version); `None` for files.
    pub source_version: Option<String>,
}

/// The public facts of a loaded certificate: no key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// SHA-1 of the leaf's DER in upper-case hex, as Windows shows it.
    pub thumbprint: String,
    /// SHA-256 of the leaf's DER in upper-case hex (x5t#S256).
    pub thumbprint_sha256: String,
    /// The leaf's subject, e.g. "CN=orders-client, O=Contoso".
    pub subject: String,
    /// The leaf's issuer, e.g. "CN=Contoso Issuing CA 1".
    pub issuer: String,
    /// Start of validity, in seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, in seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertificateFacts {
    /// Whole days until `not_after` (negative once expired).
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("thumbprint", &self.facts.thumbprint)
            .field("subject", &self.facts.subject)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Builds a certificate from a chain (in any order) and a private key. The certificate whose
    /// public key matches the key becomes the leaf; an unusable key or no matching certificate is
    /// an error. Validity dates are recorded but not checked here (see [`Certificate::check_time`]).
    pub fn from_parts(
        mut chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        provider: &CryptoProvider,
    ) -> Result<Self, String> {
        if chain.is_empty() {
            return Err("no certificate found next to the private key".to_string());
        }
        let signing_key = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| format!("the private key cannot be used: {e}"))?;
        // PFX files and PEM bundles do not always put the leaf first.
        let mut unusable = None;
        let leaf_index = chain
            .iter()
            .position(|cert| {
                match CertifiedKey::new(vec![cert.clone()], signing_key.clone()).keys_match() {
                    Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
                        true
                    }
                    Err(rustls::Error::InconsistentKeys(_)) => false,
                    // rustls (and so the handshake) cannot use this certificate at all.
                    Err(other) => {
                        unusable.get_or_insert(other);
                        false
                    }
                }
            })
            .ok_or_else(|| match unusable {
                Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(e)))
                    if format!("{e:?}").contains("Version") =>
                {
                    "the certificate is X.509 v1, which TLS clients do not accept; reissue it as \
                     v3 (openssl x509 -req ... -extfile with basicConstraints)"
                        .to_string()
                }
                Some(other) => format!("the certificate cannot be used: {other}"),
                None => "the private key does not match the certificate".to_string(),
            })?;
        chain.swap(0, leaf_index);

        let leaf = &chain[0];
        let (_, parsed) = X509Certificate::from_der(leaf.as_ref())
            .map_err(|e| format!("the certificate cannot be parsed: {e}"))?;
        prove_signing(
            &parsed.public_key().subject_public_key.data,
            &signing_key,
            provider,
        )?;
        let validity = parsed.validity();
        Ok(Certificate {
            facts: CertificateFacts {
                thumbprint: hex_digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf),
                thumbprint_sha256: hex_digest(&ring::digest::SHA256, leaf),
                subject: parsed.subject().to_string(),
                issuer: parsed.issuer().to_string(),
                not_before: validity.not_before.timestamp(),
                not_after: validity.not_after.timestamp(),
            },
            chain,
            signing_key,
            source_version: None,
        })
    }

    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    pub fn signing_key(&self) -> &Arc<dyn SigningKey> {
        &self.signing_key
    }

    /// Errors when the certificate is expired or not yet valid at `now` (Unix seconds).
    pub fn check_time(&self, now: i64) -> Result<(), String> {
        if now < self.facts.not_before {
            Err(format!(
                "certificate {} is not valid before {}",
                self.facts.thumbprint,
                format_time(self.facts.not_before)
            ))
        } else if now > self.facts.not_after {
            Err(format!(
                "certificate {} expired on {}",
                self.facts.thumbprint,
                format_time(self.facts.not_after)
            ))
        } else {
            Ok(())
        }
    }

    /// True when `wanted` names this certificate by SHA-1 or SHA-256 thumbprint; spaces, colons
    /// and case are ignored, as thumbprints are often copied from Windows dialogs.
    pub fn matches_thumbprint(&self, wanted: &str) -> bool {
        let normalized: String = wanted
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .collect::<String>()
            .to_ascii_uppercase();
        normalized == self.facts.thumbprint || normalized == self.facts.thumbprint_sha256
    }

    /// True when `wanted` is the subject's distinguished name, comparing its RDNs in any order and
    /// case ("CN=a, O=b" matches "O=b,CN=a").
    pub fn matches_distinguished_name(&self, wanted: &str) -> bool {
        rdn_set(wanted) == rdn_set(&self.facts.subject)
    }

    /// Windows' `FindBySubjectName`: the text occurs in the subject, ignoring case.
    pub fn matches_subject_name(&self, wanted: &str) -> bool {
        self.facts
            .subject
            .to_ascii_lowercase()
            .contains(&wanted.trim().to_ascii_lowercase())
    }
}

/// Signs a probe with the key and verifies it with the certificate's public key. A key can load
/// and still be unable to sign — a damaged CRT parameter passes ring's checks, and every handshake
/// would then fail with "signing failed" — so loading proves it, and the entry is reported.
fn prove_signing(
    public_key: &[u8],
    signing_key: &Arc<dyn SigningKey>,
    provider: &CryptoProvider,
) -> Result<(), String> {
    const PROBE: &[u8] = b"downstream-api: can this key sign?";
    let algorithms = &provider.signature_verification_algorithms;
    let signer = signing_key
        .choose_scheme(&algorithms.supported_schemes())
        .ok_or("the private key supports no signature scheme TLS can use")?;
    let signature = signer
        .sign(PROBE)
        .map_err(|_| "the private key cannot sign (is the key file damaged?)".to_string())?;
    let verifies = algorithms
        .mapping
        .iter()
        .filter(|(scheme, _)| *scheme == signer.scheme())
        .flat_map(|(_, candidates)| candidates.iter())
        .any(|algorithm| {
            algorithm
                .verify_signature(public_key, PROBE, &signature)
                .is_ok()
        });
    if verifies {
        Ok(())
    } else {
        Err(
            "a signature made with the private key does not verify with the certificate's public \
             key (is the key file damaged?)"
                .to_string(),
        )
    }
}

fn rdn_set(name: &str) -> Vec<String> {
    let mut parts: Vec<String> = name
        .split([',', ';'])
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            format!(
                "{}={}",
                key.trim().to_ascii_uppercase(),
                value.trim().to_ascii_lowercase()
            )
        })
        .filter(|part| part != "=")
        .collect();
    parts.sort();
    parts
}

fn hex_digest(algorithm: &'static ring::digest::Algorithm, data: &[u8]) -> String {
    ring::digest::digest(algorithm, data)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinguished_names_compare_as_sets() {
        assert_eq!(rdn_set("CN=a, O=B"), rdn_set("o=b,cn=A"));
        assert_ne!(rdn_set("CN=a"), rdn_set("CN=a, O=b"));
    }
}
