//! What each configured credential loaded into, for hosts that expose it in a health endpoint.

use std::ffi::c_char;

use super::boundary::{bytes_arg, optional_str_arg, out_arg, ref_arg, status_call};
use super::client::dsapi_client;
use super::status::dsapi_status;
use super::strings::owned_string;

/// Describes every `AzureAd.ClientCredentials` entry as a JSON array, one object per entry in
/// configuration order: `index`, `sourceType`, `location` (file or store folder, the vault's
/// certificate URL for `KeyVault`, or null), `version` (a Key Vault certificate's version, only
/// then), `skipped`, `loaded`, `kind` (`"certificate"`, `"clientSecret"`, `"signedAssertionFile"`,
/// `"managedIdentityAssertion"` or null), `selectedFor` (`["MTLS", "token"]`, the purposes it is in use for), and for a
/// certificate `thumbprint` (SHA-1), `thumbprintSha256`, `subject`, `issuer`, `notBefore`,
/// `notAfter` (RFC 3339) and `daysLeft`; for an entry that failed to load, `error` (the reason,
/// naming the field or file). Entries not loaded yet are loaded now, as a call would load them.
/// No secret, key or password is ever part of it.
///
/// On success `*json_out` receives a NUL-terminated string the caller owns and frees with
/// `dsapi_string_free`. An entry that fails to load is described, not an error. Errors:
/// `DSAPI_INVALID_ARGUMENT` (NULL `client` or `json_out`). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_describe_credentials(
    client: *const dsapi_client,
    json_out: *mut *mut c_char,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let out = out_arg(json_out, "json_out")?;
        *out = owned_string(client.api().credentials_json())?;
        Ok(())
    })
}

/// Reloads every `AzureAd.ClientCredentials` entry from its source now: for hosts that get a
/// signal from their secret store. Each entry is loaded and checked (key matches, time-valid)
/// before it replaces the credential in use; new calls use it, the old certificate's pooled
/// connections and bound tokens are dropped, observers see `DSAPI_EVENT_SELECTED`.
///
/// Errors: `DSAPI_INVALID_ARGUMENT` (NULL `client`), `DSAPI_CREDENTIAL_UNAVAILABLE` (an entry did
/// not load: the message names each one and why; those entries keep their credential, the others
/// are reloaded). Thread-safe: calls in flight finish with the credential they started with.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_reload_credentials(client: *const dsapi_client) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        client.api().reload_credentials()
    })
}

/// Replaces entry `index` of `AzureAd.ClientCredentials` with a credential given in memory: for a
/// certificate entry, `data` is a PFX/PKCS#12 or a PEM (chain and key) of `len` bytes, opened
/// with `password` (may be NULL); for a `ClientSecret` entry, `data` is the secret (UTF-8). It is
/// checked before the swap, and it replaces the entry's source from then on (a later reload keeps
/// it). The caller keeps ownership of `data` and `password`: they are copied.
///
/// Errors: `DSAPI_INVALID_ARGUMENT` (NULL `client` or `data`, `len` 0, `password` not UTF-8, an
/// `index` past the entries), `DSAPI_CREDENTIAL_UNAVAILABLE` (it does not load: wrong password,
/// mismatched key, expired; the old credential stays in use), `DSAPI_UNSUPPORTED` (an entry of
/// another kind). The password and the secret never appear in messages. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_set_credential(
    client: *const dsapi_client,
    index: usize,
    data: *const u8,
    len: usize,
    password: *const c_char,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let data = bytes_arg(data, len, "data")?;
        if data.is_empty() {
            return Err(crate::error::Error::new(
                crate::error::ErrorKind::InvalidArgument,
                "data: empty",
            ));
        }
        let password = optional_str_arg(password, "password")?;
        client.api().set_credential(index, data, password)
    })
}
