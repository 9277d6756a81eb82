//! `AzureAd.ClientCredentials` entries as the tests configure them, as JSON text: a certificate
//! file (with or without a password), a client secret, a signed assertion file. Paths and secrets
//! are JSON-escaped.

use super::json_str;

/// `{"SourceType": "Path", "CertificateDiskPath": path}`: a PEM or PFX file without a password.
pub fn certificate_file(path: &str) -> String {
    format!(
        r#"{{"SourceType": "Path", "CertificateDiskPath": {}}}"#,
        json_str(path)
    )
}

/// A PEM or PFX file opened with `password`.
pub fn certificate_file_with_password(path: &str, password: &str) -> String {
    format!(
        r#"{{"SourceType": "Path", "CertificateDiskPath": {}, "CertificatePassword": {}}}"#,
        json_str(path),
        json_str(password)
    )
}

/// `{"SourceType": "ClientSecret", "ClientSecret": secret}`.
pub fn client_secret(secret: &str) -> String {
    format!(
        r#"{{"SourceType": "ClientSecret", "ClientSecret": {}}}"#,
        json_str(secret)
    )
}

/// A client assertion read from `path` for each token request (workload identity federation).
pub fn signed_assertion_file(path: &str) -> String {
    format!(
        r#"{{"SourceType": "SignedAssertionFilePath", "SignedAssertionFileDiskPath": {}}}"#,
        json_str(path)
    )
}
