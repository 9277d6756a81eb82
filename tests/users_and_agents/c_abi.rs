//! The same through the C functions: a call and a header for a user, and the user needed, with
//! its claims challenge read back.

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use downstream_api::ffi::*;
use test_support::token_server::{Leg, MFA_CLAIMS_JSON, MfaPolicy};

use super::{SCOPE, setup};

fn last_claims() -> String {
    let mut needed = 0usize;
    assert_eq!(
        dsapi_last_error_claims(ptr::null_mut(), 0, &mut needed),
        DSAPI_BUFFER_TOO_SMALL
    );
    let mut buffer = vec![0 as c_char; needed];
    assert_eq!(
        dsapi_last_error_claims(buffer.as_mut_ptr(), needed, ptr::null_mut()),
        DSAPI_OK
    );
    // SAFETY: the library wrote a NUL-terminated string into the buffer.
    unsafe { CStr::from_ptr(buffer.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_call_and_a_header_for_a_user_and_the_user_needed_through_the_c_functions() {
    let setup = setup();
    let config = CString::new(setup.config()).unwrap();
    let mut client = ptr::null_mut();
    assert_eq!(dsapi_client_new(config.as_ptr(), &mut client), DSAPI_OK);
    let api = CString::new("Graph").unwrap();
    let user = CString::new(setup.user_token("frank-oid")).unwrap();
    let mut response = ptr::null_mut();
    let status = dsapi_client_call_for_user(
        client,
        api.as_ptr(),
        user.as_ptr(),
        ptr::null(),
        ptr::null(),
        0,
        &mut response,
    );
    assert_eq!(status, DSAPI_OK);
    let mut len = 0usize;
    let body = dsapi_response_body(response, &mut len);
    // SAFETY: the body is `len` bytes, borrowed until the response is freed.
    let text = String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(body, len) });
    assert_eq!(text, format!("user frank-oid {SCOPE}"));
    dsapi_response_free(response);
    let mut header = ptr::null_mut();
    let status = dsapi_client_authorization_header_for_user(
        client,
        api.as_ptr(),
        user.as_ptr(),
        ptr::null(),
        &mut header,
    );
    assert_eq!(status, DSAPI_OK);
    dsapi_string_free(header);
    assert_eq!(
        setup.issuer().requests_in(Leg::OnBehalfOf),
        1,
        "cached for the user"
    );

    setup.issuer().set_mfa_policy(MfaPolicy::AllUsers);
    let other = CString::new(setup.user_token("grace-oid")).unwrap();
    let mut header = ptr::null_mut();
    let status = dsapi_client_authorization_header_for_user(
        client,
        api.as_ptr(),
        other.as_ptr(),
        ptr::null(),
        &mut header,
    );
    assert_eq!(status, DSAPI_USER_INTERACTION_REQUIRED);
    assert!(header.is_null(), "not written on failure");
    assert_eq!(last_claims(), MFA_CLAIMS_JSON);
    assert_eq!(last_claims(), MFA_CLAIMS_JSON, "reading it keeps it");
    // A NULL user token is the caller's error, and clears the claims.
    let status = dsapi_client_authorization_header_for_user(
        client,
        api.as_ptr(),
        ptr::null(),
        ptr::null(),
        &mut header,
    );
    assert_eq!(status, DSAPI_INVALID_ARGUMENT);
    assert_eq!(last_claims(), "");
    dsapi_client_free(client);
}
