//! The library's counters, for hosts that expose them (a metrics endpoint, a health page).

use std::ffi::c_char;

use super::boundary::{out_arg, ref_arg, status_call};
use super::client::dsapi_client;
use super::status::dsapi_status;
use super::strings::owned_string;

/// The process's counters and this client's certificates as a JSON object:
/// `calls` (`[{"api", "protocol", "outcome", "count"}]`: every API, protocol — `MTLS`, `Bearer`,
/// `MTLS_POP` — and outcome counted at least once; the outcome is `response` when any HTTP status
/// came back, else the error's kind in snake_case, such as `certificate_rejected` or `timeout`),
/// `tokenRequests` (`[{"grant", "count"}]`, each grant: `client_credentials`,
/// `client_credentials_fmi`, `agent_client_credentials`, `on_behalf_of`, `refresh_token`,
/// `user_fic`, `managed_identity`), `tokenCache` (`[{"layer", "result", "count"}]`: `memory` and
/// `distributed`, `hit`, `miss`, and `distributed` `unavailable`), `tlsHandshakes`
/// (`{"full", "resumed"}`), `retries` (`[{"remedy", "count"}]`, each remedy by its name, such as
/// `StaleConnection`) and `certificates` (`[{"subject", "thumbprint", "daysLeft"}]`: the
/// certificates this client has selected, `daysLeft` until `notAfter` with a fraction, computed
/// now). Counts are the whole process's since it started (every client's), and only grow.
/// Nothing is loaded or selected by this call.
///
/// On success `*json_out` receives a NUL-terminated string the caller owns and frees with
/// `dsapi_string_free`. Errors: `DSAPI_INVALID_ARGUMENT` (NULL `client` or `json_out`).
/// Thread-safe, and cheap enough to call at every scrape.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_client_metrics(
    client: *const dsapi_client,
    json_out: *mut *mut c_char,
) -> dsapi_status {
    status_call(|| {
        let client = ref_arg(client, "client")?;
        let out = out_arg(json_out, "json_out")?;
        *out = owned_string(client.api().metrics_json())?;
        Ok(())
    })
}
