//! Certificates kept in Azure Key Vault (`SourceType: "KeyVault"`). The wire (the vault's
//! challenge, its token, the two requests) belongs to a layer above this one, which hands the
//! provider a [`VaultReader`]; what the vault's answers mean for a credential is decided here, as
//! for any other source: which version is current, whether it may be used now, and how its
//! secret's bytes become a certificate with its key. The key stays in memory: no file is written.

use base64::Engine;
use rustls::crypto::CryptoProvider;

use super::certificate::Certificate;
use super::formats::{parse_certificate_file, parse_pkcs12};
use crate::clock::format_time;
use crate::config::CredentialDescription;
use crate::encoding::quote;

/// Reads a certificate from a vault, as Id.Web's `KeyVaultCertificateLoader` does: the
/// certificate (step 1), then the secret of its current version (step 2).
pub trait VaultReader: Send + Sync {
    /// Step 1: the current version of the certificate, without its key. The error names the
    /// cause (an HTTP status and what it means, the identity's token failing), not the vault.
    fn current(&self, source: &VaultSource) -> Result<VaultVersion, String>;

    /// Step 2: the secret holding `version`'s certificate and private key.
    fn secret(&self, source: &VaultSource, version: &VaultVersion) -> Result<VaultSecret, String>;

    /// Whether this process may fetch a renewal now: `None` when it may, else how long to wait
    /// before asking again (another instance of the fleet fetched a moment ago).
    fn fleet_turn(&self, source: &VaultSource) -> Option<std::time::Duration>;
}

/// Which certificate of which vault, and the managed identity named to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultSource {
    /// `KeyVaultUrl` without a trailing `/`.
    pub vault: String,
    /// `KeyVaultCertificateName`.
    pub name: String,
    /// The entry's `ManagedIdentityClientId`.
    pub managed_identity_client_id: Option<String>,
}

impl VaultSource {
    /// The source of a `KeyVault` entry (the configuration reader checked both fields).
    pub fn of(description: &CredentialDescription) -> Result<VaultSource, String> {
        let field = |value: Option<&String>, name: &str| {
            value
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} is missing"))
        };
        Ok(VaultSource {
            vault: field(description.key_vault_url.as_ref(), "KeyVaultUrl")?
                .trim_end_matches('/')
                .to_string(),
            name: field(
                description.key_vault_certificate_name.as_ref(),
                "KeyVaultCertificateName",
            )?,
            managed_identity_client_id: description
                .managed_identity_client_id
                .as_ref()
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty()),
        })
    }

    /// "Key Vault https://contoso.vault.azure.net certificate 'orders-client'", for messages.
    pub fn describe(&self) -> String {
        format!("Key Vault {} certificate {}", self.vault, quote(&self.name))
    }
}

/// What step 1 says about the current version: no key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultVersion {
    /// The version (the last segment of the certificate's `id`).
    pub version: String,
    /// `sid`: the secret holding the certificate and its key, at this version.
    pub secret_id: String,
    /// `attributes.enabled`.
    pub enabled: bool,
    /// `attributes.nbf` and `attributes.exp`, Unix seconds.
    pub not_before: Option<i64>,
    pub expires: Option<i64>,
    /// `policy.key_props.exportable`; `None` when the answer has no policy.
    pub exportable: Option<bool>,
}

/// The secret of a version: its content type and its value (base64 PFX or PEM text). The value
/// holds the private key: it is not shown by `Debug` and dropped once parsed.
pub struct VaultSecret {
    pub content_type: String,
    pub value: String,
}

impl std::fmt::Debug for VaultSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSecret")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// Key Vault's content type of a PFX secret (Id.Web's `CertificateConstants.MediaTypePksc12`).
pub const PKCS12_CONTENT_TYPE: &str = "application/x-pkcs12";
/// Key Vault's content type of a PEM secret (certificates created with a PEM policy).
pub const PEM_CONTENT_TYPE: &str = "application/x-pem-file";

/// Whether `version` may be used at `now`: enabled, valid now, its key exportable. Id.Web's
/// loader quietly returns no certificate for the first two and a key-less one for the third; a
/// refusal naming the reason is what an operator needs instead.
pub fn check_version(version: &VaultVersion, now: i64) -> Result<(), String> {
    let shown = quote(&version.version);
    if !version.enabled {
        return Err(format!("version {shown} is disabled in the vault"));
    }
    let (Some(not_before), Some(expires)) = (version.not_before, version.expires) else {
        return Err(format!(
            "version {shown} has no validity dates (attributes.nbf and exp)"
        ));
    };
    if now < not_before || now > expires {
        let state = if now < not_before {
            "is not valid yet"
        } else {
            "has expired"
        };
        return Err(format!(
            "version {shown} {state}: valid from {} to {}",
            format_time(not_before),
            format_time(expires)
        ));
    }
    if version.exportable != Some(true) {
        return Err(format!(
            "version {shown} has a private key that is not exportable \
             (policy.key_props.exportable is not true): the vault gives only the public \
             certificate, which can neither sign nor present itself in TLS; create the \
             certificate with an exportable key"
        ));
    }
    Ok(())
}

/// The certificate and key a secret holds: a base64 PFX (no password, as Key Vault stores it)
/// or a PEM bundle, by its content type.
pub fn certificate_from_secret(
    secret: VaultSecret,
    version: &VaultVersion,
    crypto: &CryptoProvider,
) -> Result<Certificate, String> {
    let shown = quote(&version.version);
    let content_type = secret.content_type.trim().to_ascii_lowercase();
    let mut certificate = if content_type == PKCS12_CONTENT_TYPE {
        let compact: String = secret.value.split_whitespace().collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| format!("the secret of version {shown} is not base64 (a PFX)"))?;
        parse_pkcs12(&der, None, crypto)
    } else if content_type == PEM_CONTENT_TYPE {
        parse_certificate_file(secret.value.as_bytes(), None, crypto)
    } else {
        return Err(format!(
            "the secret of version {shown} has content type {}; a certificate's secret is \
             {PKCS12_CONTENT_TYPE} or {PEM_CONTENT_TYPE}",
            quote(&secret.content_type)
        ));
    }
    .map_err(|why| format!("the secret of version {shown} does not load: {why}"))?;
    certificate.source_version = Some(version.version.clone());
    Ok(certificate)
}

/// Runs `read` (a read of the vault) on a thread of its own, its log lines sent after it.
///
/// A load runs under the provider's change lock, and the vault's identity has a credentials
/// provider of its own: on another thread its locks are not ranked against ours (the order is
/// checked per thread), and its log lines wait until our caller has let go of the lock (the sink
/// may call back into this client). The caller's own lock-held section collects them too.
pub fn read_apart<T: Send>(read: impl FnOnce() -> Result<T, String> + Send) -> Result<T, String> {
    let (result, lines) = std::thread::scope(|scope| {
        scope
            .spawn(|| crate::log::collecting(read))
            .join()
            .unwrap_or_else(|_| {
                (
                    Err("reading the vault failed (a panic)".to_string()),
                    Vec::new(),
                )
            })
    });
    crate::log::replay(lines);
    result
}

/// Steps 1 and 2 for `description`: the current version's certificate with its key, checked.
pub fn load_from_vault(
    reader: &dyn VaultReader,
    description: &CredentialDescription,
    crypto: &CryptoProvider,
    now: i64,
) -> Result<Certificate, String> {
    let source = VaultSource::of(description)?;
    let named = |why: String| format!("{}: {why}", source.describe());
    let version = reader.current(&source).map_err(named)?;
    load_version(reader, &source, &version, crypto, now).map_err(named)
}

/// Step 2 for a version step 1 gave: checked, fetched and parsed.
pub fn load_version(
    reader: &dyn VaultReader,
    source: &VaultSource,
    version: &VaultVersion,
    crypto: &CryptoProvider,
    now: i64,
) -> Result<Certificate, String> {
    check_version(version, now)?;
    let secret = reader.secret(source, version)?;
    certificate_from_secret(secret, version, crypto)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(not_before: i64, expires: i64, exportable: Option<bool>) -> VaultVersion {
        VaultVersion {
            version: "v1".into(),
            secret_id: "https://v.vault.azure.net/secrets/c/v1".into(),
            enabled: true,
            not_before: Some(not_before),
            expires: Some(expires),
            exportable,
        }
    }

    #[test]
    fn versions_are_refused_naming_why() {
        let now = 1_800_000_000;
        assert!(check_version(&version(now - 10, now + 10, Some(true)), now).is_ok());
        let future = check_version(&version(now + 86_400, now + 90_000, Some(true)), now);
        let future = future.unwrap_err();
        assert!(
            future.contains("not valid yet") && future.contains("valid from 20"),
            "{future}"
        );
        let expired = check_version(&version(now - 90_000, now - 86_400, Some(true)), now);
        assert!(expired.unwrap_err().contains("has expired"));
        let locked = check_version(&version(now - 10, now + 10, Some(false)), now);
        assert!(locked.unwrap_err().contains("not exportable"));
        let disabled = VaultVersion {
            enabled: false,
            ..version(now - 10, now + 10, Some(true))
        };
        assert!(
            check_version(&disabled, now)
                .unwrap_err()
                .contains("disabled")
        );
    }

    #[test]
    fn secrets_of_other_types_are_refused_without_their_value() {
        let crypto = rustls::crypto::ring::default_provider();
        let secret = VaultSecret {
            content_type: "text/plain".into(),
            value: "top-secret-value".into(),
        };
        assert!(!format!("{secret:?}").contains("top-secret"));
        let error =
            certificate_from_secret(secret, &version(0, 1, Some(true)), &crypto).unwrap_err();
        assert!(
            error.contains("text/plain") && !error.contains("top-secret"),
            "{error}"
        );
        let not_base64 = VaultSecret {
            content_type: "application/x-pkcs12".into(),
            value: "%%%".into(),
        };
        let error =
            certificate_from_secret(not_base64, &version(0, 1, Some(true)), &crypto).unwrap_err();
        assert!(error.contains("not base64"), "{error}");
    }
}
