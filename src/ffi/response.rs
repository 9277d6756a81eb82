//! `dsapi_response`: status, headers and body of one HTTP response.

use std::ffi::{CString, c_char};
use std::sync::OnceLock;

use super::boundary::{c_string, catch, out_arg, ref_arg, status_call, str_arg};
use super::status::dsapi_status;
use crate::error::{Error, ErrorKind};
use crate::transport::Response;

/// An HTTP response. Immutable: a `const dsapi_response *` may be read from several threads.
/// Strings and bytes it returns are borrowed until `dsapi_response_free`.
pub struct dsapi_response {
    response: Response,
    /// The headers as C strings, made when first asked for: most callers read the status and the
    /// body only, and a call should not pay two allocations per header it never reads.
    headers: OnceLock<Vec<(CString, CString)>>,
    /// The request line as C strings, likewise.
    request: OnceLock<(CString, CString)>,
}

impl dsapi_response {
    pub(crate) fn boxed(response: Response) -> *mut dsapi_response {
        Box::into_raw(Box::new(dsapi_response {
            response,
            headers: OnceLock::new(),
            request: OnceLock::new(),
        }))
    }

    fn c_headers(&self) -> &[(CString, CString)] {
        self.headers.get_or_init(|| {
            let headers = self.response.headers();
            headers
                .map(|(name, value)| (c_string(name), c_string(&value)))
                .collect()
        })
    }

    fn c_request(&self) -> &(CString, CString) {
        self.request.get_or_init(|| {
            let line = &self.response.request;
            (c_string(&line.method), c_string(&line.url))
        })
    }
}

/// The HTTP status code, or 0 when `response` is NULL. Thread-safe.
///
/// ```c
/// uint16_t status = dsapi_response_status(response);
/// if (status >= 400) {
///     fprintf(stderr, "the API answered HTTP %u\n", status);
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_response_status(response: *const dsapi_response) -> u16 {
    catch(0, || {
        ref_arg(response, "response").map_or(0, |r| r.response.status)
    })
}

/// The response body: returns a pointer to `*len_out` bytes, borrowed until
/// `dsapi_response_free`; never NULL for a valid response, even when the body is empty. The body
/// is not NUL-terminated. When `response` is NULL, returns NULL
/// and writes 0. `len_out` may be NULL. Thread-safe.
///
/// ```c
/// size_t len = 0;
/// const uint8_t *body = dsapi_response_body(response, &len);
/// printf("HTTP %u: %.*s\n", dsapi_response_status(response), (int)len, (const char *)body);
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_response_body(
    response: *const dsapi_response,
    len_out: *mut usize,
) -> *const u8 {
    catch(std::ptr::null(), || {
        // An empty Vec's pointer is dangling; C callers may pass the result to memcpy.
        static EMPTY: [u8; 1] = [0];
        let (pointer, len) = match ref_arg(response, "response") {
            Ok(r) if r.response.body.is_empty() => (EMPTY.as_ptr(), 0),
            Ok(r) => (r.response.body.as_ptr(), r.response.body.len()),
            Err(_) => (std::ptr::null(), 0),
        };
        if let Ok(out) = out_arg(len_out, "len_out") {
            *out = len;
        }
        pointer
    })
}

/// Looks up a response header by name, ignoring ASCII case; with repeated headers, the first.
/// On success `*value_out` receives a NUL-terminated string borrowed until `dsapi_response_free`.
/// Errors: `DSAPI_INVALID_ARGUMENT` (a NULL argument, name not UTF-8), `DSAPI_NOT_FOUND`.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_response_header(
    response: *const dsapi_response,
    name: *const c_char,
    value_out: *mut *const c_char,
) -> dsapi_status {
    status_call(|| {
        let response = ref_arg(response, "response")?;
        let name = str_arg(name, "name")?;
        let out = out_arg(value_out, "value_out")?;
        let (_, value) = response
            .c_headers()
            .iter()
            .find(|(key, _)| key.to_bytes().eq_ignore_ascii_case(name.as_bytes()))
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no header named '{name}'")))?;
        *out = value.as_ptr();
        Ok(())
    })
}

/// The number of response headers (0 when `response` is NULL). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_response_header_count(response: *const dsapi_response) -> usize {
    catch(0, || {
        ref_arg(response, "response").map_or(0, |r| r.response.header_count())
    })
}

/// The header at `index` (0-based; names in lower case; repeated names are adjacent, in the order
/// they were received). On success
/// `*name_out` and `*value_out` receive strings borrowed until `dsapi_response_free`.
/// Errors: `DSAPI_INVALID_ARGUMENT` (NULL argument), `DSAPI_NOT_FOUND` (index out of range).
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_response_header_at(
    response: *const dsapi_response,
    index: usize,
    name_out: *mut *const c_char,
    value_out: *mut *const c_char,
) -> dsapi_status {
    status_call(|| {
        let response = ref_arg(response, "response")?;
        let name_out = out_arg(name_out, "name_out")?;
        let value_out = out_arg(value_out, "value_out")?;
        let headers = response.c_headers();
        let (name, value) = headers.get(index).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "header index {index} out of range ({} headers)",
                    headers.len()
                ),
            )
        })?;
        *name_out = name.as_ptr();
        *value_out = value.as_ptr();
        Ok(())
    })
}

/// The request this response answers: `*method_out` (e.g. `"POST"`) and `*url_out`, the URL
/// redacted as the library's messages show it (query values hidden as `?…`, no user
/// information), for logs and for wrappers that expose the request (.NET's `RequestMessage`).
/// Either out pointer may be NULL; strings are borrowed until `dsapi_response_free`. Errors:
/// `DSAPI_INVALID_ARGUMENT` (NULL `response`). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_response_request(
    response: *const dsapi_response,
    method_out: *mut *const c_char,
    url_out: *mut *const c_char,
) -> dsapi_status {
    status_call(|| {
        let response = ref_arg(response, "response")?;
        let (method, url) = response.c_request();
        if let Ok(out) = out_arg(method_out, "method_out") {
            *out = method.as_ptr();
        }
        if let Ok(out) = out_arg(url_out, "url_out") {
            *out = url.as_ptr();
        }
        Ok(())
    })
}

/// Frees a response. `NULL` is a no-op. Takes ownership: the response and every pointer obtained
/// from it are invalid afterwards. Not thread-safe with other calls on the same response; different
/// responses may be freed on different threads.
///
/// ```c
/// size_t len = 0;
/// const uint8_t *body = dsapi_response_body(response, &len);
/// fwrite(body, 1, len, stdout);
/// dsapi_response_free(response);   // `body` is invalid from here on
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn dsapi_response_free(response: *mut dsapi_response) {
    catch((), || {
        if !response.is_null() {
            // SAFETY: `response` came from `dsapi_client_call` and is freed once, per the contract.
            drop(unsafe { Box::from_raw(response) });
        }
    })
}
