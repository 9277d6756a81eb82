//! downstream-api: call downstream HTTPS APIs the way Microsoft.Identity.Web's `IDownstreamApi`
//! does — with the app's client certificate in the TLS handshake (`MTLS`) — configured by the same
//! `appsettings.json`, from any language through a C ABI (see `include/downstream_api.h`).
//!
//! Layers, top to bottom: [`ffi`] (the only unsafe code) → [`downstream`] → [`credentials`] →
//! [`transport`] → [`config`].

pub mod config;
pub mod credentials;
pub mod downstream;
mod encoding;
pub mod error;
pub mod ffi;
pub mod log;
mod resolver;
pub mod token;
pub mod transport;

pub use downstream::DownstreamApi;
pub use error::{Error, ErrorKind, Result};
