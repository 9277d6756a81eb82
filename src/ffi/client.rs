//! `dsapi_client`: a configured DownstreamApi, shareable across threads.

use std::ffi::{c_char, c_void};
use std::path::Path;
use std::sync::Arc;

use super::boundary::{
    bytes_arg, c_string, catch, optional_str_arg, out_arg, ref_arg, status_call, str_arg,
};
use super::response::dsapi_response;
use super::status::dsapi_status;
use crate::credentials::{CredentialEvent, EventKind};
use crate::downstream::DownstreamApi;
use crate::error::{Error, ErrorKind};

/// A client built from an `appsettings.json`: its APIs, credentials, connection pools and caches.
///
/// Thread safety: a `const dsapi_client *` may be used from many threads at once
/// (`dsapi_client_call`, `dsapi_client_add_observer`). Only `dsapi_client_free` needs exclusive
/// access: call it once, after every other call on the client has returned.
pub struct dsapi_client {
    api: DownstreamApi,
}

impl dsapi_client {
    pub(crate) fn api(&self) -> &DownstreamApi {
        &self.api
    }
}

/// Kind of a credential event (`dsapi_credential_event.kind`).
pub type dsapi_event_kind = u32;
/// A certificate became the one in use (first use or after a rotation).
pub const DSAPI_EVENT_SELECTED: dsapi_event_kind = 1;
/// The certificate in use was rejected by a server and dropped; `error` says why.
pub const DSAPI_EVENT_DESELECTED: dsapi_event_kind = 2;
/// A call presenting the certificate got a response that was not a certificate rejection.
pub const DSAPI_EVENT_SUCCESSFULLY_USED: dsapi_event_kind = 3;
/// The certificate in use expires within `AzureAd.CertificateExpiryWarningDays` (default 14);
/// raised at most once a day per certificate, `days_left` says how soon.
pub const DSAPI_EVENT_EXPIRING_SOON: dsapi_event_kind = 4;

/// What an observer receives. All strings are NUL-terminated UTF-8, borrowed for the duration of
/// the callback only: copy what you keep. `error` is NULL unless `kind` is
/// `DSAPI_EVENT_DESELECTED`.
#[repr(C)]
pub struct dsapi_credential_event {
    /// What happened: one of the `DSAPI_EVENT_*` values.
    pub kind: dsapi_event_kind,
    /// SHA-1 thumbprint of the certificate, upper-case hex.
    pub thumbprint: *const c_char,
    /// The certificate's subject, e.g. `"CN=orders-client"`.
    pub subject: *const c_char,
    /// Which `ClientCredentials` entry, e.g. `"ClientCredentials[0] (Path)"`.
    pub source: *const c_char,
    /// `"MTLS"`, `"Bearer"`, ...
    pub protocol: *const c_char,
    /// The URL called, with its query and user information redacted.
    pub api_url: *const c_char,
    /// Why the credential was deselected; NULL for other kinds.
    pub error: *const c_char,
    /// Whole days until the certificate expires with `DSAPI_EVENT_EXPIRING_SOON`; -1 otherwise.
    /// The last member: callbacks compiled against a header without it read the others as before.
    pub days_left: i64,
}

/// Observer callback. Called on the thread making the call, possibly on several threads at once:
/// it must be thread-safe and must not call `dsapi_client_free` on the same client. It is called
/// with no internal lock held, so it may call other functions of this library.
pub type dsapi_observer_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event: *const dsapi_credential_event)>;

/// Writes the client `make` builds to `client_out`, which is checked first.
fn new_client(
    client_out: *mut *mut dsapi_client,
    make: impl FnOnce() -> crate::Result<DownstreamApi>,
) -> crate::Result<()> {
    let out = out_arg(client_out, "client_out")?;
    let api = make()?;
    *out = Box::into_raw(Box::new(dsapi_client { api }));
    Ok(())
}

/// Creates a client from the JSON text of an `appsettings.json` (`AzureAd` or `MicrosoftIdentity`
/// section, `DownstreamApis`, optional `Http`). The text is copied; credentials are loaded lazily on
/// first use, so a missing certificate file is reported by the first call, not here.
///
/// On success `*client_out` receives a client the caller owns and frees with `dsapi_client_free`;
/// on failure it is not written. Errors: `DSAPI_INVALID_ARGUMENT` (NULL, not UTF-8),
/// `DSAPI_CONFIG_INVALID` (malformed JSON, wrong type, missing value; the message names the JSON
/// path), `DSAPI_TLS_ERROR` (no trusted CA certificates found). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_new(
    config_json: *const c_char,
    client_out: *mut *mut dsapi_client,
) -> dsapi_status {
    status_call(|| {
        let json = str_arg(config_json, "config_json")?;
        new_client(client_out, || DownstreamApi::from_json(json))
    })
}

/// Like `dsapi_client_new`, reading the JSON from the file at `path` (UTF-8).
///
/// Ownership as for `dsapi_client_new`. Errors: `DSAPI_INVALID_ARGUMENT` (NULL, not UTF-8),
/// `DSAPI_IO_ERROR` (the file cannot be read, is not a regular file, or is larger than 4 MiB),
/// `DSAPI_CONFIG_INVALID` (content that is not UTF-8,
/// or as for `dsapi_client_new`), `DSAPI_TLS_ERROR` (no trusted CA certificates found).
/// Thread-safe.
///
/// ```c
/// dsapi_client *client = NULL;
/// if (dsapi_client_new_from_file("appsettings.json", &client) != DSAPI_OK) {
///     char message[1024];
///     dsapi_last_error_message(message, sizeof message, NULL);
///     fprintf(stderr, "cannot configure: %s\n", message);   // names the file or JSON path
///     return;
/// }
/// // ... one client for the whole process: share it with every thread ...
/// dsapi_client_free(client);
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_new_from_file(
    path: *const c_char,
    client_out: *mut *mut dsapi_client,
) -> dsapi_status {
    status_call(|| {
        let path = str_arg(path, "path")?;
        new_client(client_out, || DownstreamApi::from_file(Path::new(path)))
    })
}

/// Frees a client, its connections and cached credentials. `NULL` is a no-op. Takes ownership:
/// the pointer is invalid afterwards. Not thread-safe with other calls on the same client.
///
/// ```c
/// dsapi_response_free(response);   // first what came from the client, in any order
/// dsapi_client_free(client);       // once every other call on it has returned
/// client = NULL;                   // freeing NULL again would be a no-op
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_free(client: *mut dsapi_client) {
    catch((), || {
        if !client.is_null() {
            // SAFETY: `client` came from `dsapi_client_new*` and is freed once, per the contract.
            drop(unsafe { Box::from_raw(client) });
        }
    })
}

/// Calls the API named `api_name` (a key of `DownstreamApis`, compared ignoring case).
///
/// `overrides_json` (may be NULL) is a JSON object whose keys replace the API's configuration for
/// this call: `HttpMethod`, `RelativePath`, `ExtraHeaderParameters`, `ExtraQueryParameters`,
/// `ContentType`, `AcceptHeader`, and the other `DownstreamApis` keys, and `TimeoutSeconds` (this
/// call's bound, retries included, instead of `Http.TimeoutSeconds`). `ExtraHeaderParameters` and
/// `ExtraQueryParameters` merge name by name as a JSON merge patch: a null value removes a
/// configured name. `body`/`body_len` is the
/// request body (`body` may be NULL when `body_len` is 0); it is copied and resent as is if the
/// call is retried.
///
/// With `ProtocolScheme: "MTLS"` the selected client certificate is presented in the TLS handshake
/// and no `Authorization` header is sent. When the server rejects the certificate (TLS alert, HTTP
/// 495/496/401, or nginx's 400 about the SSL certificate) the certificate is reloaded from its
/// source and the call is retried once. A request on a kept-alive connection that the server
/// closed before answering is resent once. With `"Bearer"` (the default) an app token for the API's
/// `Scopes` (from the cache, else from the token endpoint) is sent as `Authorization: Bearer ...`
/// and no client certificate; a 401 claims challenge gets a token with those claims and one resend.
/// With `"MTLS_POP"` the selected certificate is presented and a token bound to it (requested over
/// mTLS with that certificate) is sent as `Authorization: mtls_pop ...` (Entra ID) or `Bearer ...`
/// (an RFC 8705 provider); a rejection reloads the certificate and gets a token for the new one.
///
/// Any HTTP status, 4xx and 5xx included, is a success: `*response_out` receives a response the
/// caller owns and frees with `dsapi_response_free`; on failure it is not written. Errors:
/// `DSAPI_INVALID_ARGUMENT` (also a request whose URL and headers exceed 16 KiB: nothing is sent),
/// `DSAPI_CONFIG_INVALID` (bad overrides), `DSAPI_UNKNOWN_API`,
/// `DSAPI_CREDENTIAL_UNAVAILABLE`, `DSAPI_CERTIFICATE_REJECTED`, `DSAPI_TLS_ERROR`,
/// `DSAPI_NETWORK_ERROR`, `DSAPI_TIMEOUT`, `DSAPI_INSECURE_URL`, `DSAPI_PROTOCOL_ERROR`,
/// `DSAPI_TOKEN_ACQUISITION_FAILED` (Bearer, MTLS_POP: the token endpoint refused),
/// `DSAPI_USER_INTERACTION_REQUIRED` (overrides naming a long-running session or an agent's user:
/// the user must act, see `dsapi_last_error_claims`). Thread-safe: many threads may call one
/// client at once.
///
/// ```c
/// const char *overrides = "{\"HttpMethod\": \"POST\", \"RelativePath\": \"orders/42\"}";
/// const char body[] = "{\"id\": 42}";
/// dsapi_response *response = NULL;
/// dsapi_status status = dsapi_client_call(client, "Orders", overrides, (const uint8_t *)body,
///                                         strlen(body), &response);
/// if (status == DSAPI_OK) {
///     printf("HTTP %u\n", dsapi_response_status(response));   // 4xx and 5xx included
///     dsapi_response_free(response);
/// } else {
///     char message[1024];
///     dsapi_last_error_message(message, sizeof message, NULL);
///     fprintf(stderr, "%s: %s\n", dsapi_status_str(status), message);
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_call(
    client: *const dsapi_client,
    api_name: *const c_char,
    overrides_json: *const c_char,
    body: *const u8,
    body_len: usize,
    response_out: *mut *mut dsapi_response,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let api_name = str_arg(api_name, "api_name")?;
        let overrides = optional_str_arg(overrides_json, "overrides_json")?;
        let body = bytes_arg(body, body_len, "body")?;
        let out = out_arg(response_out, "response_out")?;
        let response = client.api.call(api_name, overrides, body)?;
        *out = dsapi_response::boxed(response);
        Ok(())
    })
}

/// [`dsapi_client_call`] on behalf of a user (Id.Web's `CallApiForUserAsync`): `user_token` is the
/// access token the caller itself received (NUL-terminated, copied; a secret, never logged), and
/// the API's token is one for that user (on-behalf-of), cached for that user only — unless the
/// API's `RequestAppToken` is true. A long-running session (`AcquireTokenOptions.
/// LongRunningWebApiSessionKey` in `overrides_json`) keeps the user's refresh token for later
/// `dsapi_client_call`s naming the session alone.
///
/// Ownership, `body` and `*response_out` as for `dsapi_client_call`. Errors: those of
/// `dsapi_client_call`, and `DSAPI_USER_INTERACTION_REQUIRED` when Entra ID needs the user (MFA,
/// consent, an expired session): never retried; `dsapi_last_error_claims` gives the claims
/// challenge. `DSAPI_CONFIG_INVALID` for an MTLS or MTLS_POP API, or a generic OpenID provider
/// (on-behalf-of is Entra ID's); `DSAPI_INVALID_ARGUMENT` for an empty `user_token`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_call_for_user(
    client: *const dsapi_client,
    api_name: *const c_char,
    user_token: *const c_char,
    overrides_json: *const c_char,
    body: *const u8,
    body_len: usize,
    response_out: *mut *mut dsapi_response,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let api_name = str_arg(api_name, "api_name")?;
        let user_token = str_arg(user_token, "user_token")?;
        let overrides = optional_str_arg(overrides_json, "overrides_json")?;
        let body = bytes_arg(body, body_len, "body")?;
        let out = out_arg(response_out, "response_out")?;
        let response = client
            .api
            .call_for_user(api_name, user_token, overrides, body)?;
        *out = dsapi_response::boxed(response);
        Ok(())
    })
}

/// The C callback and its context; the caller promised both may be used from any thread.
struct CObserver {
    callback: unsafe extern "C" fn(*mut c_void, *const dsapi_credential_event),
    user_data: *mut c_void,
}

// SAFETY: `dsapi_client_add_observer` requires a thread-safe callback and user data.
unsafe impl Send for CObserver {}
unsafe impl Sync for CObserver {}

impl CObserver {
    fn deliver(&self, event: &CredentialEvent) {
        let (thumbprint, subject, source) = (
            c_string(event.thumbprint),
            c_string(event.subject),
            c_string(event.source),
        );
        let (protocol, api_url) = (c_string(event.protocol), c_string(event.api_url));
        let error = event.error.map(c_string);
        let c_event = dsapi_credential_event {
            kind: match event.kind {
                EventKind::Selected => DSAPI_EVENT_SELECTED,
                EventKind::Deselected => DSAPI_EVENT_DESELECTED,
                EventKind::SuccessfullyUsed => DSAPI_EVENT_SUCCESSFULLY_USED,
                EventKind::ExpiringSoon => DSAPI_EVENT_EXPIRING_SOON,
            },
            thumbprint: thumbprint.as_ptr(),
            subject: subject.as_ptr(),
            source: source.as_ptr(),
            protocol: protocol.as_ptr(),
            api_url: api_url.as_ptr(),
            error: error.as_ref().map_or(std::ptr::null(), |e| e.as_ptr()),
            days_left: event.days_left.unwrap_or(-1),
        };
        // SAFETY: the callback was registered for exactly this signature; the strings outlive it.
        unsafe { (self.callback)(self.user_data, &c_event) };
    }
}

/// Registers an observer of credential events (Id.Web's `ICredentialsObserver`): `Selected` when
/// the certificate in use changes, `Deselected` when a server rejected it, `SuccessfullyUsed` after
/// each call it served. Observers stay registered until the client is freed; `user_data` is
/// borrowed until then and passed back unchanged.
///
/// Errors: `DSAPI_INVALID_ARGUMENT` when `client` or `callback` is NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_add_observer(
    client: *const dsapi_client,
    callback: dsapi_observer_callback,
    user_data: *mut c_void,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let callback =
            callback.ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "callback is NULL"))?;
        let observer = CObserver {
            callback,
            user_data,
        };
        client
            .api
            .add_observer(Arc::new(move |event| observer.deliver(event)));
        Ok(())
    })
}
