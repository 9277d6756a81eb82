#![deny(missing_docs)]
//! downstream-api: call downstream HTTPS APIs the way Microsoft.Identity.Web's `IDownstreamApi`
//! does — with the app's client certificate in the TLS handshake (`MTLS`) or an app token
//! (`Bearer`) — configured by the same `appsettings.json`, from any language through a C ABI
//! (see `include/downstream_api.h`).
//!
//! # Layers
//!
//! Data flows top to bottom; a module only uses the layers below it, and a leaf only the leaves
//! before it on their line (`tests/architecture.rs` fails when one reaches up):
//!
//! ```text
//! ffi          the C ABI: the only unsafe code; handles, statuses, last error, panic boundary
//! downstream   DownstreamApi: options and overrides, URL and headers, MTLS and Bearer calls, retries
//! validation   incoming access tokens: signature with the issuer's keys, lifetime, audience, issuer
//! vault        Azure Key Vault: certificates for KeyVault credentials, read with the host's identity
//! token        app tokens: authorities, assertions, client credentials, the cache
//! transport    ureq agents (one per certificate), server trust, error classification
//! credentials  ClientCredentials loaded into certificates and secrets; selection, rotation, events
//! config       the Id.Web appsettings.json sections, environment overrides, JSON paths in errors
//! remedy, error, clock, encoding, log, files, metrics, retry     leaves every layer may use
//! ```
//!
//! # Rust API
//!
//! Modules are private; what Rust callers use is re-exported here: [`DownstreamApi`], its
//! [`Response`] and [`AccessToken`], the [`Error`] type, credential events ([`CredentialEvent`]),
//! what each credential loaded into ([`CredentialReport`]) and whether each API can be called
//! ([`ApiReadiness`]), the log sink ([`log`]), the process's counters ([`metrics`]) and the C
//! functions themselves ([`ffi`]).
//!
//! ```no_run
//! use downstream_api::DownstreamApi;
//!
//! # fn main() -> downstream_api::Result<()> {
//! let api = DownstreamApi::from_file("appsettings.json".as_ref())?;
//! let response = api.call("Orders", None, b"")?;
//! println!("HTTP {}: {}", response.status, String::from_utf8_lossy(&response.body));
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `cli` (off by default): builds the `dsapi` command (`cargo install downstream-api --features
//!   cli`, or `cargo build --release --features cli --bin dsapi`): call a configured API like
//!   curl, print an authorization header or a token's expiry, list the credentials, check a
//!   configuration (`dsapi check`), and `dsapi serve`, Microsoft's identity sidecar interface on
//!   loopback. It adds clap and an HTTP/1.1 request parser to the command only: the library and
//!   its C ABI are the same with or without it.
//!
//! # Building
//!
//! The crate builds a shared library (`cdylib`), a static library and an `rlib`; `build.rs`
//! regenerates `include/downstream_api.h` with cbindgen from `src/ffi/`. TLS is rustls with
//! *ring*: a C compiler is needed (for *ring*), no OpenSSL.

mod clock;
mod config;
mod credentials;
mod downstream;
mod encoding;
mod error;
pub mod ffi;
mod files;
pub mod log;
pub mod metrics;
mod remedy;
mod retry;
mod token;
mod transport;
mod validation;
mod vault;

pub use credentials::{
    CertificateFacts, CredentialEvent, CredentialReport, EventKind, LoadState, Observer,
};
pub use downstream::{ApiReadiness, DownstreamApi};
pub use error::{Error, ErrorKind, Result};
pub use remedy::{Budget, Remedy};
pub use token::AccessToken;
pub use transport::Response;

// The README's Rust quick start, compiled by `cargo test` as a doctest. Its other examples are
// run by the wrappers' tests, tests/cpp_layer and tests/command_docs.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Entry points for `cargo fuzz` (`fuzz/`): the parsers, fed arbitrary input. Compiled only with
/// `--cfg fuzzing`, which cargo fuzz sets; not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use crate::config::{ApiOptions, Config};
    use crate::transport::Response;

    /// The configuration reader with .NET-style environment overrides.
    pub fn configuration(json: &str, environment: Vec<(String, String)>) {
        let _ = Config::parse_with_environment(json, environment);
    }

    /// Per-call overrides merged onto a configured API.
    pub fn overrides(json: &str) {
        let base = ApiOptions {
            base_url: Some("https://127.0.0.1/api".to_string()),
            scopes: vec!["api://x/.default".to_string()],
            ..ApiOptions::default()
        };
        if let Ok(merged) = base.with_overrides(json) {
            let _ = crate::downstream::fuzz_build_url(&merged);
        }
    }

    /// A certificate file's bytes (PEM or PFX) and a base64 PFX, with a password.
    pub fn certificate(data: &[u8], password: Option<&str>) {
        let provider = rustls::crypto::ring::default_provider();
        let _ = crate::credentials::parse_certificate_file(data, password, &provider);
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = crate::credentials::load_base64(text, password, &provider);
        }
    }

    /// A token endpoint's answer (status, headers, body), a discovery document, and a managed
    /// identity endpoint's answer (token, error, Azure Arc's challenge).
    pub fn token_answer(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) {
        let response = headers.iter().fold(
            Response::new(status, Default::default(), body),
            |r, (n, v)| r.with_header(n, v),
        );
        let _ = crate::token::interpret(&response, "https://127.0.0.1/t/oauth2/v2.0/token", true);
        let _ = crate::token::discovered_token_endpoint(&response);
        crate::token::fuzz_managed_identity_answer(&response);
    }

    /// `WWW-Authenticate` values of a 401, read for a claims challenge.
    pub fn www_authenticate(values: Vec<String>) {
        let response = values.iter().fold(
            Response::new(401, Default::default(), Vec::new()),
            |r, v| r.with_header("www-authenticate", v),
        );
        let _ = crate::downstream::claims_challenge(&response);
    }

    /// URL building from a base URL, a relative path and query parameters.
    pub fn url(base_url: &str, relative_path: &str, query: Vec<(String, String)>) {
        let options = ApiOptions {
            base_url: Some(base_url.to_string()),
            relative_path: relative_path.to_string(),
            extra_query: query,
            ..ApiOptions::default()
        };
        let url = crate::downstream::fuzz_build_url(&options);
        let _ = crate::encoding::redact_url(&url);
    }
}
