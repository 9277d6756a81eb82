//! An API's options as configured, for wrappers whose users edit them in code (.NET's override
//! delegate, Python's `api_options`).

use std::ffi::c_char;

use super::boundary::{optional_str_arg, out_arg, ref_arg, status_call, str_arg};
use super::client::dsapi_client;
use super::status::dsapi_status;
use super::strings::owned_string;

/// The options a call to `api_name` would use, as a JSON object in Id.Web's key names: the API's
/// `DownstreamApis` entry with the library's defaults filled in and `overrides_json` (may be NULL;
/// as for `dsapi_client_call`) applied. Keys: `BaseUrl`, `RelativePath`, `HttpMethod`, `Scopes`,
/// `RequestAppToken`, `ProtocolScheme` (`"Bearer"`, `"MTLS"` or `"MTLS_POP"`), `AcceptHeader`,
/// `ContentType`, `ExtraHeaderParameters`, `ExtraQueryParameters`, `AcquireTokenOptions`
/// (`Tenant`, `ForceRefresh`, `Claims`, `CorrelationId`) and `TimeoutSeconds` (null when
/// `Http.TimeoutSeconds` applies). Header and query parameter values may be keys, so they are left
/// out: each name maps to null, and a query in `BaseUrl` reads `?…`. No credential is part of it.
/// Nothing is loaded or sent.
///
/// On success `*json_out` receives a NUL-terminated string the caller owns and frees with
/// `dsapi_string_free`. Errors: `DSAPI_INVALID_ARGUMENT` (a NULL argument, not UTF-8),
/// `DSAPI_UNKNOWN_API`, `DSAPI_CONFIG_INVALID` (bad overrides, naming the field). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_api_options(
    client: *const dsapi_client,
    api_name: *const c_char,
    overrides_json: *const c_char,
    json_out: *mut *mut c_char,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let api_name = str_arg(api_name, "api_name")?;
        let overrides = optional_str_arg(overrides_json, "overrides_json")?;
        let out = out_arg(json_out, "json_out")?;
        let options = client.api().api_options(api_name, overrides)?;
        *out = owned_string(options.to_json())?;
        Ok(())
    })
}
