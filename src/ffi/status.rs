//! Status codes, their names, the last-error message and the version string.

use std::ffi::c_char;

use super::boundary::{catch, out_arg, status_call, with_last_error};
use crate::error::{Error, ErrorKind};

/// Result of every fallible function. `DSAPI_OK` (0) is success; the other values are stable and
/// never renumbered; new ones may be added.
pub type dsapi_status = u32;

/// Success.
pub const DSAPI_OK: dsapi_status = 0;
/// A NULL pointer where one is required, a string that is not UTF-8, or another unusable argument.
pub const DSAPI_INVALID_ARGUMENT: dsapi_status = 1;
/// The configuration (or per-call overrides) is malformed JSON, has a value of the wrong type, or
/// misses a required value. The message names the JSON path.
pub const DSAPI_CONFIG_INVALID: dsapi_status = 2;
/// A file named by the caller (the configuration file) could not be read.
pub const DSAPI_IO_ERROR: dsapi_status = 3;
/// The API name is not a key of `DownstreamApis`.
pub const DSAPI_UNKNOWN_API: dsapi_status = 4;
/// No configured credential could be loaded (missing file, wrong password, key not matching the
/// certificate, expired certificate, ...). The message lists each entry and why.
pub const DSAPI_CREDENTIAL_UNAVAILABLE: dsapi_status = 5;
/// The server rejected the client certificate, also after it was reloaded and the call retried once.
pub const DSAPI_CERTIFICATE_REJECTED: dsapi_status = 6;
/// Another TLS failure, for example an untrusted server certificate.
pub const DSAPI_TLS_ERROR: dsapi_status = 7;
/// Connection refused or reset, or the host name could not be resolved.
pub const DSAPI_NETWORK_ERROR: dsapi_status = 8;
/// The connect timeout or the call's overall timeout elapsed.
pub const DSAPI_TIMEOUT: dsapi_status = 9;
/// A client certificate or token would have been sent over plain `http://`; nothing was sent.
pub const DSAPI_INSECURE_URL: dsapi_status = 10;
/// The server's answer was not valid HTTP or exceeded `Http.MaxResponseBytes`.
pub const DSAPI_PROTOCOL_ERROR: dsapi_status = 11;
/// The configuration asks for something this build does not support.
pub const DSAPI_UNSUPPORTED: dsapi_status = 12;
/// The looked-up item (a response header) does not exist.
pub const DSAPI_NOT_FOUND: dsapi_status = 13;
/// The caller's buffer is too small; the size needed was written.
pub const DSAPI_BUFFER_TOO_SMALL: dsapi_status = 14;
/// A bug inside the library was caught at the C boundary; the message says where.
pub const DSAPI_PANIC: dsapi_status = 15;
/// The token endpoint refused to issue a token (the message has its `error`, `error_description`
/// and AADSTS code), or OpenID discovery failed.
pub const DSAPI_TOKEN_ACQUISITION_FAILED: dsapi_status = 16;

pub(crate) fn status_of(kind: ErrorKind) -> dsapi_status {
    match kind {
        ErrorKind::InvalidArgument => DSAPI_INVALID_ARGUMENT,
        ErrorKind::Config => DSAPI_CONFIG_INVALID,
        ErrorKind::Io => DSAPI_IO_ERROR,
        ErrorKind::UnknownApi => DSAPI_UNKNOWN_API,
        ErrorKind::CredentialUnavailable => DSAPI_CREDENTIAL_UNAVAILABLE,
        ErrorKind::CertificateRejected => DSAPI_CERTIFICATE_REJECTED,
        ErrorKind::Tls => DSAPI_TLS_ERROR,
        ErrorKind::Network => DSAPI_NETWORK_ERROR,
        ErrorKind::Timeout => DSAPI_TIMEOUT,
        ErrorKind::InsecureUrl => DSAPI_INSECURE_URL,
        ErrorKind::Protocol => DSAPI_PROTOCOL_ERROR,
        ErrorKind::Unsupported => DSAPI_UNSUPPORTED,
        ErrorKind::NotFound => DSAPI_NOT_FOUND,
        ErrorKind::TokenAcquisition => DSAPI_TOKEN_ACQUISITION_FAILED,
    }
}

/// The name of a status, such as `"DSAPI_TIMEOUT"`, or `"DSAPI_UNKNOWN_STATUS"`.
///
/// Returns a static NUL-terminated string: never free it. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_status_str(status: dsapi_status) -> *const c_char {
    let name: &'static [u8] = match status {
        DSAPI_OK => b"DSAPI_OK\0",
        DSAPI_INVALID_ARGUMENT => b"DSAPI_INVALID_ARGUMENT\0",
        DSAPI_CONFIG_INVALID => b"DSAPI_CONFIG_INVALID\0",
        DSAPI_IO_ERROR => b"DSAPI_IO_ERROR\0",
        DSAPI_UNKNOWN_API => b"DSAPI_UNKNOWN_API\0",
        DSAPI_CREDENTIAL_UNAVAILABLE => b"DSAPI_CREDENTIAL_UNAVAILABLE\0",
        DSAPI_CERTIFICATE_REJECTED => b"DSAPI_CERTIFICATE_REJECTED\0",
        DSAPI_TLS_ERROR => b"DSAPI_TLS_ERROR\0",
        DSAPI_NETWORK_ERROR => b"DSAPI_NETWORK_ERROR\0",
        DSAPI_TIMEOUT => b"DSAPI_TIMEOUT\0",
        DSAPI_INSECURE_URL => b"DSAPI_INSECURE_URL\0",
        DSAPI_PROTOCOL_ERROR => b"DSAPI_PROTOCOL_ERROR\0",
        DSAPI_UNSUPPORTED => b"DSAPI_UNSUPPORTED\0",
        DSAPI_NOT_FOUND => b"DSAPI_NOT_FOUND\0",
        DSAPI_BUFFER_TOO_SMALL => b"DSAPI_BUFFER_TOO_SMALL\0",
        DSAPI_PANIC => b"DSAPI_PANIC\0",
        DSAPI_TOKEN_ACQUISITION_FAILED => b"DSAPI_TOKEN_ACQUISITION_FAILED\0",
        _ => b"DSAPI_UNKNOWN_STATUS\0",
    };
    name.as_ptr().cast()
}

/// Copies the calling thread's last error message — the full cause chain of the most recent
/// failed call on this thread, or `""` when the last call succeeded — into `buf` as a
/// NUL-terminated UTF-8 string.
///
/// `needed_out` (may be NULL) receives the buffer size needed, terminator included, whether or
/// not `buf` was large enough. With `buf` NULL or `buf_len` too small nothing is copied and
/// `DSAPI_BUFFER_TOO_SMALL` is returned, so passing `(NULL, 0, &needed)` asks for the size.
/// Calling this function does not change the last error. Thread-safe: each thread has its own.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_last_error_message(
    buf: *mut c_char,
    buf_len: usize,
    needed_out: *mut usize,
) -> dsapi_status {
    // Read before `status_call`, which clears the last error on entry.
    let message = with_last_error(str::to_string);
    let status = status_call(|| {
        let needed = message.len() + 1;
        if let Ok(out) = out_arg(needed_out, "needed_out") {
            *out = needed;
        }
        if buf.is_null() || buf_len < needed {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("buffer of {buf_len} bytes is too small, {needed} needed"),
            ));
        }
        // SAFETY: `buf` has `buf_len >= needed` writable bytes per the contract.
        unsafe {
            std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), message.len());
            *buf.add(message.len()) = 0;
        }
        Ok(())
    });
    // Keep the message the caller asked about, whatever happened here.
    super::boundary::set_last_error(&message);
    if status == DSAPI_INVALID_ARGUMENT {
        DSAPI_BUFFER_TOO_SMALL
    } else {
        status
    }
}

/// The library version, e.g. `"0.1.0"`. Static: never free it. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_version() -> *const c_char {
    catch(std::ptr::null(), || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}
