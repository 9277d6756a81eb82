//! Validating the access token a web API received, for hosts whose own HTTP server takes the
//! request (Id.Web's `AddMicrosoftIdentityWebApi`).

use std::ffi::c_char;

use super::boundary::{out_arg, ref_arg, status_call, str_arg};
use super::client::dsapi_client;
use super::status::dsapi_status;
use super::strings::owned_string;

/// Validates `token`, the access token a web API received (`Authorization: Bearer <token>`,
/// without the scheme; copied, never logged), as Id.Web's `AddMicrosoftIdentityWebApi` does:
/// its signature (RS256 or ES256, with the key its `kid` names among those the configured
/// authority publishes through OpenID discovery; read with the client's transport, kept, read
/// again at most once a minute for an unknown `kid`), its lifetime (`exp`, `nbf`, 5 minutes of
/// clock skew), its audience (`AzureAd.ClientId`, `api://{ClientId}`, `AzureAd.Audience`,
/// `AzureAd.Audiences`), its issuer (the token's tenant's v2 or v1 issuer on Entra ID, the
/// provider's own otherwise) and, when `AzureAd.Scopes` or `AzureAd.Roles` is configured, one of
/// them in its `scp` or `roles`.
///
/// On success `*claims_json_out` receives the token's claims as a JSON object (NUL-terminated
/// UTF-8), owned by the caller and freed with `dsapi_string_free`; nothing is written on failure.
/// Errors: `DSAPI_TOKEN_INVALID` (the message names the rule broken: malformed, alg none refused,
/// unknown key id, signature does not verify, expired at, audience or issuer not accepted, a
/// required scope or role missing; never the token), `DSAPI_INVALID_ARGUMENT` (NULL, not UTF-8),
/// `DSAPI_CONFIG_INVALID` (no authority, or no client id nor audience configured), and while
/// reading the issuer's keys (the message names the URL): `DSAPI_TOKEN_ACQUISITION_FAILED` (an
/// answer that is not a discovery document or JWK Set), `DSAPI_INSECURE_URL`, `DSAPI_TLS_ERROR`,
/// `DSAPI_NETWORK_ERROR`, `DSAPI_TIMEOUT`, `DSAPI_PROTOCOL_ERROR`. Thread-safe: many threads may
/// validate with one client; the keys are read once for all.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_validate_token(
    client: *const dsapi_client,
    token: *const c_char,
    claims_json_out: *mut *mut c_char,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let token = str_arg(token, "token")?;
        let out = out_arg(claims_json_out, "claims_json_out")?;
        let claims = client.api().validate_token(token)?;
        *out = owned_string(claims.to_string())?;
        Ok(())
    })
}
