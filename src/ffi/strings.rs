//! Strings this library hands to the caller: made from Rust strings, freed by `dsapi_string_free`.

use std::ffi::{CString, c_char};

use super::boundary::catch;
use crate::error::{Error, ErrorKind};

/// A NUL-terminated copy of `text` that the caller owns.
pub(super) fn owned_string(text: String) -> crate::Result<*mut c_char> {
    CString::new(text)
        .map(CString::into_raw)
        .map_err(|_| Error::new(ErrorKind::Protocol, "the value contains a NUL byte"))
}

/// Frees a string returned by this library (`dsapi_client_authorization_header`,
/// `dsapi_client_acquire_token`, `dsapi_client_describe_credentials`,
/// `dsapi_client_metrics`, `dsapi_client_validate_token`). `NULL` is a no-op. Takes
/// ownership: the pointer is invalid afterwards. Thread-safe for different strings; free each
/// string once.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_string_free(string: *mut c_char) {
    catch((), || {
        if !string.is_null() {
            // SAFETY: `string` came from `CString::into_raw` in this library and is freed once.
            drop(unsafe { CString::from_raw(string) });
        }
    })
}
