//! The C ABI: the only unsafe code in the crate. Every export checks its pointers and runs inside
//! a panic boundary (`boundary`); errors become a `dsapi_status` plus a per-thread message.
//!
//! Exports are plain `extern "C" fn`s taking raw pointers: a C caller cannot see Rust's `unsafe`,
//! and each function validates what it dereferences, so the lint asking for `unsafe fn` is off.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
// C names: `dsapi_client`, not `DsapiClient`.
#![allow(non_camel_case_types)]

mod boundary;
mod client;
mod credentials;
mod log;
mod metrics;
mod options;
mod response;
mod status;
mod strings;
mod token;
mod validation;

pub use client::*;
pub use credentials::*;
pub use log::*;
pub use metrics::*;
pub use response::*;
pub use status::*;
pub use strings::*;
pub use token::*;
pub use validation::*;
