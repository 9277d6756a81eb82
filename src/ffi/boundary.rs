//! Plumbing for every export: the panic boundary, the calling thread's last error, and checked
//! conversions of C arguments.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use super::status::{DSAPI_OK, DSAPI_PANIC, dsapi_status, status_of};
use crate::error::{Error, ErrorKind, Result};

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    /// The claims challenge of the last error, when it was `DSAPI_USER_INTERACTION_REQUIRED`.
    static LAST_CLAIMS: RefCell<String> = const { RefCell::new(String::new()) };
    static IN_BOUNDARY: RefCell<bool> = const { RefCell::new(false) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Our hook records panics raised inside an export (they become `DSAPI_PANIC` with the message as
/// last error) and leaves every other panic to the previous hook, so a Rust host sees its own.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_BOUNDARY.with(|flag| *flag.borrow()) {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(format!("{payload}{location}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `body` with panics caught; `on_panic` is what the export returns then.
pub fn catch<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    install_panic_hook();
    let was_inside = IN_BOUNDARY.with(|flag| flag.replace(true));
    let result = catch_unwind(AssertUnwindSafe(body));
    IN_BOUNDARY.with(|flag| *flag.borrow_mut() = was_inside);
    match result {
        Ok(value) => value,
        Err(_) => {
            let message = PANIC_MESSAGE
                .with(|m| m.borrow_mut().take())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(&format!("internal error (panic): {message}"));
            on_panic
        }
    }
}

/// The body of every fallible export: clears the last error, runs `body` inside the panic
/// boundary, and turns an error into its status and message.
pub fn status_call(body: impl FnOnce() -> Result<()>) -> dsapi_status {
    set_last_error("");
    catch(DSAPI_PANIC, || match body() {
        // Cleared again: a callback run during the call may have failed a nested call.
        Ok(()) => {
            set_last_error("");
            DSAPI_OK
        }
        Err(error) => {
            set_last_error(error.message());
            if let Some(claims) = error.claims_challenge() {
                let _ = LAST_CLAIMS.try_with(|last| last.borrow_mut().push_str(claims));
            }
            status_of(error.kind())
        }
    })
}

// `try_with`: during thread teardown the thread-locals may be gone, and a panic here would be
// outside any boundary.
/// `text` as a C string; a NUL inside (messages can quote caller input) would truncate it, so it
/// becomes `?`.
pub fn c_string(text: &str) -> CString {
    // One allocation, with room for the NUL that `CString::new` appends.
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend(text.bytes().map(|b| if b == 0 { b'?' } else { b }));
    CString::new(bytes).unwrap_or_default()
}

pub fn set_last_error(message: &str) {
    let _ = LAST_CLAIMS.try_with(|last| last.borrow_mut().clear());
    let _ = LAST_ERROR.try_with(|last| {
        let mut last = last.borrow_mut();
        last.clear();
        // A NUL inside would truncate the C string; messages can quote caller input.
        last.extend(message.chars().map(|c| if c == '\0' { '?' } else { c }));
    });
}

/// Puts back the claims of the last error (after a getter's own call cleared them).
pub fn restore_claims(claims: &str) {
    let _ = LAST_CLAIMS.try_with(|last| {
        let mut last = last.borrow_mut();
        last.clear();
        last.push_str(claims);
    });
}

/// The claims challenge of the calling thread's last error (`""` for none).
pub fn last_claims() -> String {
    LAST_CLAIMS
        .try_with(|last| last.borrow().clone())
        .unwrap_or_default()
}

pub fn with_last_error<T>(f: impl FnOnce(&str) -> T) -> T {
    let message = LAST_ERROR
        .try_with(|last| last.borrow().clone())
        .unwrap_or_default();
    f(&message)
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// A required input string: not NULL, valid UTF-8.
pub fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    // SAFETY: the caller passes a NUL-terminated string that lives for the duration of the call.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|e| invalid(format!("{name} is not valid UTF-8: {e}")))
}

/// An optional input string: NULL means absent.
pub fn optional_str_arg<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        str_arg(ptr, name).map(Some)
    }
}

/// A required handle or struct pointer.
pub fn ref_arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T> {
    // SAFETY: a non-NULL pointer comes from this library (a handle) and is alive per the contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// A required output location.
pub fn out_arg<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T> {
    // SAFETY: the caller passes writable storage for one T.
    unsafe { ptr.as_mut() }.ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// A byte buffer given as pointer + length; NULL is allowed only with length 0.
pub fn bytes_arg<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(invalid(format!("{name} is NULL but its length is {len}")));
    }
    // SAFETY: the caller passes `len` readable bytes at `ptr`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{DSAPI_CONFIG_INVALID, DSAPI_PANIC};

    #[test]
    fn panics_become_a_status_with_the_message_and_location() {
        let status = status_call(|| panic!("boom in a test"));
        assert_eq!(status, DSAPI_PANIC);
        with_last_error(|message| {
            assert!(message.contains("boom in a test"), "{message}");
            assert!(message.contains("boundary.rs"), "{message}");
        });
    }

    #[test]
    fn errors_set_and_success_clears_the_thread_message() {
        let status = status_call(|| Err(Error::new(ErrorKind::Config, "bad\0value")));
        assert_eq!(status, DSAPI_CONFIG_INVALID);
        with_last_error(|message| assert_eq!(message, "bad?value"));
        assert_eq!(status_call(|| Ok(())), DSAPI_OK);
        with_last_error(|message| assert_eq!(message, ""));
    }
}
