//! The credentials provider: one ordered list of `ClientCredentials`, loaded lazily, shared by the
//! mTLS and token paths so that selection, rotation and observer events behave the same everywhere.
//!
//! Selection is the first usable certificate in configuration order (skipping secrets, unlike the
//! .NET original which fails when the first usable entry is a secret). After a rejection the
//! selected entry is reloaded from its source and swapped in atomically: other threads keep using
//! the previous selection until the new one is ready, and never see "no certificate".

mod certificate;
mod credential;
mod events;
mod formats;
mod loader;
#[cfg(test)]
mod lock_order_tests;
mod observer;
mod provider;
mod pushed;
mod renewal;
mod report;
mod rotation;
mod selection;
mod sources;
mod state;
mod vault;
mod watch;

pub use certificate::{Certificate, CertificateFacts};
pub use credential::{Credential, Purpose, Selection};
pub use observer::{CredentialEvent, EventKind, Observer, Usage, deferring_events};
pub use provider::CredentialsProvider;
pub use report::{CredentialReport, LoadState, reports_to_json};
pub use vault::{VaultReader, VaultSecret, VaultSource, VaultVersion};
#[cfg(fuzzing)]
pub(crate) use {formats::parse_certificate_file, sources::load_base64};
