//! The process-wide log callback.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::boundary::{c_string, status_call};
use super::status::dsapi_status;
use crate::error::{Error, ErrorKind};
use crate::log::{Level, set_sink};

/// Log severity; a callback installed at a level also receives the more severe ones.
pub type dsapi_log_level = u32;
/// A call failed in a way the host should know about.
pub const DSAPI_LOG_ERROR: dsapi_log_level = 1;
/// Something went wrong and was handled: a rejected certificate reloaded, a failed token refresh.
pub const DSAPI_LOG_WARN: dsapi_log_level = 2;
/// What was selected and retried.
pub const DSAPI_LOG_INFO: dsapi_log_level = 3;
/// Connection pools and tokens, per request.
pub const DSAPI_LOG_DEBUG: dsapi_log_level = 4;

/// Log callback: `message` is NUL-terminated UTF-8, borrowed for the duration of the call. Called
/// from whichever thread logs, possibly several at once: it must be thread-safe. Messages never
/// contain secrets, keys, tokens or passwords.
pub type dsapi_log_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, level: dsapi_log_level, message: *const c_char),
>;

struct CSink {
    callback: unsafe extern "C" fn(*mut c_void, dsapi_log_level, *const c_char),
    user_data: *mut c_void,
}

// SAFETY: `dsapi_set_log_callback` requires a thread-safe callback and user data.
unsafe impl Send for CSink {}
unsafe impl Sync for CSink {}

impl CSink {
    fn deliver(&self, level: Level, message: &str) {
        let text = c_string(message);
        // SAFETY: registered for this signature; `text` outlives the call.
        unsafe { (self.callback)(self.user_data, level as u32, text.as_ptr()) };
    }
}

/// Installs the process-wide log callback receiving messages up to `max_level`
/// (`DSAPI_LOG_ERROR` .. `DSAPI_LOG_DEBUG`), replacing any previous one; a NULL `callback` removes
/// it. `user_data` is borrowed until the callback is replaced or removed. After this returns, the
/// previous callback may still be running on other threads for a message already being delivered.
/// Errors: `DSAPI_INVALID_ARGUMENT` for a level outside 1..4. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_set_log_callback(
    callback: dsapi_log_callback,
    user_data: *mut c_void,
    max_level: dsapi_log_level,
) -> dsapi_status {
    status_call(|| {
        let level = match max_level {
            DSAPI_LOG_ERROR => Level::Error,
            DSAPI_LOG_WARN => Level::Warn,
            DSAPI_LOG_INFO => Level::Info,
            DSAPI_LOG_DEBUG => Level::Debug,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("max_level {max_level} is not a DSAPI_LOG_* level"),
                ));
            }
        };
        let Some(callback) = callback else {
            set_sink(None, level);
            return Ok(());
        };
        let sink = CSink {
            callback,
            user_data,
        };
        set_sink(
            Some(Arc::new(move |level: Level, message: &str| {
                sink.deliver(level, message)
            })),
            level,
        );
        Ok(())
    })
}
