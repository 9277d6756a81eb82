//! Tokens for hosts that send requests with their own HTTP stack.

use std::ffi::c_char;

use super::boundary::{optional_str_arg, out_arg, ref_arg, status_call, str_arg};
use super::client::dsapi_client;
use super::status::dsapi_status;
use super::strings::owned_string;
use crate::error::{Error, ErrorKind};

/// The value of the `Authorization` header a call to `api_name` would carry (Id.Web's
/// `IAuthorizationHeaderProvider`), e.g. `"Bearer eyJ..."` for a Bearer API, or `"mtls_pop eyJ..."`
/// for an MTLS_POP API (usable only on a connection presenting the selected certificate). The token comes from
/// the cache when fresh, else from the token endpoint. `overrides_json` (may be NULL) is as for
/// `dsapi_client_call`, e.g. `{"Scopes": [...], "AcquireTokenOptions": {"ForceRefresh": true}}`.
///
/// On success `*header_out` receives a NUL-terminated string the caller owns and frees with
/// `dsapi_string_free`; it is a secret: do not log it. Errors: `DSAPI_INVALID_ARGUMENT`,
/// `DSAPI_CONFIG_INVALID`, `DSAPI_UNKNOWN_API`, `DSAPI_UNSUPPORTED` (an MTLS API has no such header),
/// `DSAPI_CREDENTIAL_UNAVAILABLE`, `DSAPI_TOKEN_ACQUISITION_FAILED`, `DSAPI_INSECURE_URL`,
/// `DSAPI_TLS_ERROR`, `DSAPI_NETWORK_ERROR`, `DSAPI_TIMEOUT`, `DSAPI_PROTOCOL_ERROR` (the token
/// endpoint's answer was not valid HTTP or too large), `DSAPI_USER_INTERACTION_REQUIRED` (a
/// session or an agent's user named in the overrides: the user must act). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_authorization_header(
    client: *const dsapi_client,
    api_name: *const c_char,
    overrides_json: *const c_char,
    header_out: *mut *mut c_char,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let api_name = str_arg(api_name, "api_name")?;
        let overrides = optional_str_arg(overrides_json, "overrides_json")?;
        let out = out_arg(header_out, "header_out")?;
        let header = client.api().authorization_header(api_name, overrides)?;
        *out = owned_string(header)?;
        Ok(())
    })
}

/// [`dsapi_client_authorization_header`] for a call on behalf of the holder of `user_token` (the
/// access token the caller received; copied, never logged): Id.Web's
/// `CreateAuthorizationHeaderForUserAsync`. Ownership of `*header_out` as for
/// `dsapi_client_authorization_header`. Errors: those of `dsapi_client_authorization_header`, and
/// `DSAPI_USER_INTERACTION_REQUIRED` when Entra ID needs the user (`dsapi_last_error_claims` gives
/// the claims challenge); `DSAPI_CONFIG_INVALID` for an MTLS or MTLS_POP API or a generic OpenID
/// provider; `DSAPI_INVALID_ARGUMENT` for an empty `user_token`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_authorization_header_for_user(
    client: *const dsapi_client,
    api_name: *const c_char,
    user_token: *const c_char,
    overrides_json: *const c_char,
    header_out: *mut *mut c_char,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let api_name = str_arg(api_name, "api_name")?;
        let user_token = str_arg(user_token, "user_token")?;
        let overrides = optional_str_arg(overrides_json, "overrides_json")?;
        let out = out_arg(header_out, "header_out")?;
        let header = client
            .api()
            .authorization_header_for_user(api_name, user_token, overrides)?;
        *out = owned_string(header)?;
        Ok(())
    })
}

/// An app token (client credentials) for `scopes`, space-separated (e.g.
/// `"api://orders/.default"`). `options_json` (may be NULL) is an `AcquireTokenOptions` object:
/// `{"Tenant": "...", "ForceRefresh": true, "Claims": "...", "CorrelationId": "..."}`, and
/// `"ManagedIdentity": {}` (or `{"UserAssignedClientId": "..."}`) for a token of the platform's
/// managed identity instead of the app's (one scope: a managed identity's token is for one
/// resource).
///
/// On success `*token_out` receives the access token, owned by the caller and freed with
/// `dsapi_string_free` (a secret: do not log it), and `*expires_on_out` (may be NULL) its expiry in
/// Unix seconds. Errors: `DSAPI_INVALID_ARGUMENT` (NULL, not UTF-8, no scope),
/// `DSAPI_CONFIG_INVALID` (bad options, or no authority or client id configured),
/// `DSAPI_CREDENTIAL_UNAVAILABLE`, `DSAPI_TOKEN_ACQUISITION_FAILED`, `DSAPI_INSECURE_URL`,
/// `DSAPI_TLS_ERROR`, `DSAPI_NETWORK_ERROR`, `DSAPI_TIMEOUT`, `DSAPI_PROTOCOL_ERROR`,
/// `DSAPI_USER_INTERACTION_REQUIRED` (as for `dsapi_client_authorization_header`). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_acquire_token(
    client: *const dsapi_client,
    scopes: *const c_char,
    options_json: *const c_char,
    token_out: *mut *mut c_char,
    expires_on_out: *mut i64,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let scopes: Vec<&str> = str_arg(scopes, "scopes")?.split_whitespace().collect();
        let options = optional_str_arg(options_json, "options_json")?;
        let out = out_arg(token_out, "token_out")?;
        if scopes.is_empty() {
            return Err(Error::new(ErrorKind::InvalidArgument, "scopes is empty"));
        }
        let token = client.api().acquire_token(&scopes, options)?;
        *out = owned_string(token.token)?;
        if let Ok(expires_on) = out_arg(expires_on_out, "expires_on_out") {
            *expires_on = token.expires_on;
        }
        Ok(())
    })
}
