//! The `AzureAd` section's reader: the app's identity and its `ClientCredentials` entries, each
//! error naming the JSON path of the value at fault.

use std::time::Duration;

use serde_json::Value;

use super::node::Node;
use super::options::{CredentialDescription, IdentityOptions, SourceType, TokenEndpointAuth};
use super::sections::{MAX_TIMEOUT_SECONDS, optional_url};
use crate::encoding::quote;
use crate::error::{Error, ErrorKind, Result};

impl IdentityOptions {
    pub(super) fn read(node: &Node) -> Result<Self> {
        let mut credentials = Vec::new();
        if let Some(list) = node.child("ClientCredentials") {
            for (index, entry) in list.items()? {
                credentials.push(CredentialDescription::read(&entry, index)?);
            }
        }
        let list = |key: &str| node.child(key).map_or(Ok(Vec::new()), |n| n.string_list());
        let mut audiences: Vec<String> = node.string("Audience")?.into_iter().collect();
        audiences.extend(list("Audiences")?);
        Ok(IdentityOptions {
            audiences,
            required_scopes: list("Scopes")?,
            required_roles: list("Roles")?,
            instance: optional_url(node, "Instance")?,
            tenant_id: node.string("TenantId")?,
            client_id: node.string("ClientId")?,
            authority: optional_url(node, "Authority")?,
            azure_region: node.string("AzureRegion")?,
            send_x5c: node.boolean("SendX5C")?.unwrap_or(false),
            token_endpoint_auth: token_endpoint_auth(node)?,
            client_credentials: credentials,
            certificate_expiry_warning_days: match node.number("CertificateExpiryWarningDays")? {
                None => IdentityOptions::default().certificate_expiry_warning_days,
                Some(days) if (0.0..=3650.0).contains(&days) => days as u32,
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "{}: expected 0 (off) to 3650 days",
                            node.join("CertificateExpiryWarningDays")
                        ),
                    ));
                }
            },
            certificate_reload_interval: match node.number("CertificateReloadIntervalSeconds")? {
                None => IdentityOptions::default().certificate_reload_interval,
                Some(0.0) => None,
                Some(seconds) if seconds > 0.0 && seconds <= MAX_TIMEOUT_SECONDS => {
                    Some(Duration::from_secs_f64(seconds))
                }
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "{}: expected 0 (off) to 86400 seconds",
                            node.join("CertificateReloadIntervalSeconds")
                        ),
                    ));
                }
            },
        })
    }
}

impl CredentialDescription {
    pub(super) fn read(node: &Node, index: usize) -> Result<Self> {
        node.expect_object()?;
        let mut description = CredentialDescription {
            index,
            source_type: None,
            certificate_disk_path: node.string("CertificateDiskPath")?,
            certificate_password: node.string("CertificatePassword")?,
            base64_encoded_value: node.string("Base64EncodedValue")?,
            certificate_store_path: node.string("CertificateStorePath")?,
            certificate_thumbprint: node.string("CertificateThumbprint")?,
            certificate_distinguished_name: node.string("CertificateDistinguishedName")?,
            certificate_subject_name: node.string("CertificateSubjectName")?,
            client_secret: node.string("ClientSecret")?,
            signed_assertion_file_disk_path: node.string("SignedAssertionFileDiskPath")?,
            use_bound_credential: node.boolean("UseBoundCredential")?.unwrap_or(false),
            managed_identity_client_id: node.string("ManagedIdentityClientId")?,
            token_exchange_url: node.string("TokenExchangeUrl")?,
            key_vault_url: optional_url(node, "KeyVaultUrl")?,
            key_vault_certificate_name: node.string("KeyVaultCertificateName")?,
            skip: node.boolean("Skip")?.unwrap_or(false),
        };
        description.source_type = match node.child("SourceType") {
            Some(source) => Some(parse_source_type(&source)?),
            None => description.inferred_source_type(),
        };
        if description.source_type == Some(SourceType::KeyVault) && !description.skip {
            check_key_vault(node, &description)?;
        }
        if description.source_type.is_none() && !description.skip {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{}.SourceType: missing, and no field tells which source is meant",
                    node.path
                ),
            ));
        }
        Ok(description)
    }

    /// Without `SourceType`, the one field that names a source decides (as users often write it).
    fn inferred_source_type(&self) -> Option<SourceType> {
        if self.certificate_disk_path.is_some() {
            Some(SourceType::Path)
        } else if self.base64_encoded_value.is_some() {
            Some(SourceType::Base64Encoded)
        } else if self.client_secret.is_some() {
            Some(SourceType::ClientSecret)
        } else if self.signed_assertion_file_disk_path.is_some() {
            Some(SourceType::SignedAssertionFilePath)
        } else if self.key_vault_url.is_some() {
            Some(SourceType::KeyVault)
        } else {
            None
        }
    }
}

/// What a `KeyVault` entry needs, checked when the configuration is read rather than at the first
/// call: an https vault URL without a path, and a certificate name Key Vault allows
/// (letters, digits and dashes), which is put in URL paths.
fn check_key_vault(node: &Node, description: &CredentialDescription) -> Result<()> {
    let error =
        |key: &str, why: &str| Error::new(ErrorKind::Config, format!("{}: {why}", node.join(key)));
    let url = description
        .key_vault_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| error("KeyVaultUrl", "missing; a KeyVault entry needs its vault"))?;
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| error("KeyVaultUrl", "must be an https:// URL"))?;
    if rest.trim_end_matches('/').contains(['/', '?']) {
        return Err(error(
            "KeyVaultUrl",
            "must be the vault alone (https://NAME.vault.azure.net), without a path",
        ));
    }
    let name = description
        .key_vault_certificate_name
        .as_deref()
        .unwrap_or_default();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(error(
            "KeyVaultCertificateName",
            "missing, or not a Key Vault name (letters, digits and dashes)",
        ));
    }
    Ok(())
}

/// `TokenEndpointAuthMethod`, named after RFC 7591's metadata: `tls_client_auth`, or the methods
/// the credential implies (`private_key_jwt`, `client_secret_post`), which are the default.
fn token_endpoint_auth(node: &Node) -> Result<TokenEndpointAuth> {
    let Some(value) = node.string("TokenEndpointAuthMethod")? else {
        return Ok(TokenEndpointAuth::Credential);
    };
    match value.to_ascii_lowercase().as_str() {
        "tls_client_auth" => Ok(TokenEndpointAuth::TlsClientAuth),
        "private_key_jwt" | "client_secret_post" | "" => Ok(TokenEndpointAuth::Credential),
        _ => Err(Error::new(
            ErrorKind::Config,
            format!(
                "{}.TokenEndpointAuthMethod: {} is not one of tls_client_auth, private_key_jwt, \
                 client_secret_post",
                node.path,
                quote(&value)
            ),
        )),
    }
}

/// Accepts Id.Web's `CredentialSource` names (any case) and its numeric values.
fn parse_source_type(node: &Node) -> Result<SourceType> {
    let by_number = [
        "Certificate",
        "KeyVault",
        "Base64Encoded",
        "Path",
        "StoreWithThumbprint",
        "StoreWithDistinguishedName",
        "ClientSecret",
        "SignedAssertionFromManagedIdentity",
        "SignedAssertionFilePath",
        "SignedAssertionFromVault",
        "AutoDecryptKeys",
        "CustomSignedAssertion",
    ];
    let name = match node.value() {
        Value::String(text) => match text.parse::<usize>() {
            Ok(number) => by_number.get(number).map(|n| n.to_string()),
            Err(_) => Some(text.clone()),
        },
        Value::Number(number) => number
            .as_u64()
            .and_then(|n| by_number.get(n as usize))
            .map(|n| n.to_string()),
        _ => None,
    }
    .ok_or_else(|| node.type_error("a credential source name"))?;
    let source = match name.to_ascii_lowercase().as_str() {
        "path" => SourceType::Path,
        "base64encoded" => SourceType::Base64Encoded,
        "storewiththumbprint" => SourceType::StoreWithThumbprint,
        "storewithdistinguishedname" => SourceType::StoreWithDistinguishedName,
        "storewithsubjectname" => SourceType::StoreWithSubjectName,
        "clientsecret" => SourceType::ClientSecret,
        "signedassertionfilepath" => SourceType::SignedAssertionFilePath,
        "signedassertionfrommanagedidentity" => SourceType::SignedAssertionFromManagedIdentity,
        "keyvault" => SourceType::KeyVault,
        _ if by_number
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&name)) =>
        {
            SourceType::NotSupported(name)
        }
        _ => {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{}: unknown credential source {}", node.path, quote(&name)),
            ));
        }
    };
    Ok(source)
}
