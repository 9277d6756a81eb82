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
//! token        app tokens: authorities, assertions, client credentials, the cache
//! transport    ureq agents (one per certificate), server trust, error classification
//! credentials  ClientCredentials loaded into certificates and secrets; selection, rotation, events
//! config       the Id.Web appsettings.json sections, environment overrides, JSON paths in errors
//! error, clock, encoding, log, files     leaves every layer may use
//! ```
//!
//! # Rust API
//!
//! Modules are private; what Rust callers use is re-exported here: [`DownstreamApi`], its
//! [`Response`] and [`AccessToken`], the [`Error`] type, credential events ([`CredentialEvent`]),
//! the log sink ([`log`]) and the C functions themselves ([`ffi`]).

mod clock;
mod config;
mod credentials;
mod downstream;
mod encoding;
mod error;
pub mod ffi;
mod files;
pub mod log;
mod token;
mod transport;

pub use credentials::{CredentialEvent, EventKind, Observer};
pub use downstream::DownstreamApi;
pub use error::{Error, ErrorKind, Result};
pub use token::AccessToken;
pub use transport::Response;
