//! What each configured credential loaded into, for hosts that expose it in a health endpoint.

use std::ffi::c_char;

use super::boundary::{out_arg, ref_arg, status_call};
use super::client::dsapi_client;
use super::status::dsapi_status;
use super::strings::owned_string;

/// Describes every `AzureAd.ClientCredentials` entry as a JSON array, one object per entry in
/// configuration order: `index`, `sourceType`, `location` (file or store folder, or null),
/// `skipped`, `loaded`, `kind` (`"certificate"`, `"clientSecret"`, `"signedAssertionFile"`,
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
