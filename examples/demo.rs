//! The README's first command: a self-contained demo on loopback. It generates certificates,
//! starts a local mTLS API, a token endpoint (Entra ID's wire format, verifying the signed client
//! assertion) and a Bearer API, writes an appsettings.json, and calls both APIs through the C ABI
//! (the same `dsapi_*` functions a C, Python or .NET host calls).
//!
//! Run: `cargo run --example demo`

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;

use downstream_api::ffi::*;
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::token_server::{TokenIssuer, TokenServer, bearer_resource_handler};
use test_support::{TempDir, json_str};

unsafe extern "C" fn print_log(_: *mut c_void, level: dsapi_log_level, message: *const c_char) {
    // SAFETY: the library passes a valid NUL-terminated string for the duration of the call.
    let message = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    println!("  [log {level}] {message}");
}

unsafe extern "C" fn print_event(_: *mut c_void, event: *const dsapi_credential_event) {
    // SAFETY: the library passes a valid event whose strings live for the duration of the call.
    let event = unsafe { &*event };
    let text = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    let kind = match event.kind {
        DSAPI_EVENT_SELECTED => "Selected",
        DSAPI_EVENT_DESELECTED => "Deselected",
        _ => "SuccessfullyUsed",
    };
    println!(
        "  [observer] {kind}: {} ({}) for {}",
        text(event.subject),
        text(event.thumbprint),
        text(event.api_url)
    );
}

fn last_error() -> String {
    let mut needed = 0usize;
    dsapi_last_error_message(ptr::null_mut(), 0, &mut needed);
    let mut buf = vec![0u8; needed];
    dsapi_last_error_message(buf.as_mut_ptr().cast(), buf.len(), &mut needed);
    CStr::from_bytes_until_nul(&buf)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn check(status: dsapi_status, what: &str) {
    if status != DSAPI_OK {
        // SAFETY: dsapi_status_str returns a static string.
        let name = unsafe { CStr::from_ptr(dsapi_status_str(status)) }.to_string_lossy();
        eprintln!("{what} failed: {name}: {}", last_error());
        std::process::exit(1);
    }
}

fn call(client: *const dsapi_client, api: &str) {
    let api_name = CString::new(api).unwrap();
    let mut response: *mut dsapi_response = ptr::null_mut();
    check(
        dsapi_client_call(
            client,
            api_name.as_ptr(),
            ptr::null(),
            ptr::null(),
            0,
            &mut response,
        ),
        &format!("calling {api}"),
    );
    let mut len = 0usize;
    let body = dsapi_response_body(response, &mut len);
    // SAFETY: the body pointer is valid for `len` bytes until the response is freed.
    let body = String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(body, len) });
    println!("{api}: HTTP {} — {body}", dsapi_response_status(response));
    dsapi_response_free(response);
}

fn main() {
    // SAFETY: dsapi_version returns a static string.
    let version = unsafe { CStr::from_ptr(dsapi_version()) }.to_string_lossy();
    println!("downstream-api {version} demo (everything on 127.0.0.1)");

    let ca = TestCa::new("Demo CA");
    let client_cert = ca.client("demo-client", Validity::CURRENT);
    let api_server = TestServer::start(
        ca.server(),
        ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
        TestServer::echo_handler(),
    );
    // The identity provider knows the app by its client id and certificate.
    let issuer = TokenIssuer::new("demo-app");
    issuer.set_certificate(Some(client_cert.cert_der.as_ref()));
    let token_server = TokenServer::start(&ca, issuer.clone());
    let bearer_server = TestServer::start(
        ca.server(),
        ClientAuth::None,
        bearer_resource_handler(issuer.clone()),
    );
    let dir = TempDir::new("demo");
    let config = format!(
        r#"{{
  "AzureAd": {{
    "Instance": "{instance}",
    "TenantId": "demo-tenant",
    "ClientId": "demo-app",
    "ClientCredentials": [
      {{ "SourceType": "Path", "CertificateDiskPath": {cert} }}
    ]
  }},
  "DownstreamApis": {{
    "OrdersMtls": {{ "BaseUrl": "{url}", "RelativePath": "orders", "ProtocolScheme": "MTLS" }},
    "ProfileBearer": {{ "BaseUrl": "{bearer_url}", "RelativePath": "me", "Scopes": ["api://demo-resource/.default"] }}
  }},
  "Http": {{ "CaBundlePath": {ca} }}
}}"#,
        instance = token_server.instance(),
        cert = json_str(&dir.write("client.pem", client_cert.bundle_pem())),
        url = api_server.url(),
        bearer_url = bearer_server.url(),
        ca = json_str(&dir.write("ca.pem", &ca.cert_pem)),
    );
    let config_path = dir.write("appsettings.json", &config);
    println!("appsettings.json ({config_path}):\n{config}\n");

    check(
        dsapi_set_log_callback(Some(print_log), ptr::null_mut(), DSAPI_LOG_INFO),
        "dsapi_set_log_callback",
    );
    let path = CString::new(config_path).unwrap();
    let mut client: *mut dsapi_client = ptr::null_mut();
    check(
        dsapi_client_new_from_file(path.as_ptr(), &mut client),
        "dsapi_client_new_from_file",
    );
    check(
        dsapi_client_add_observer(client, Some(print_event), ptr::null_mut()),
        "dsapi_client_add_observer",
    );

    call(client, "OrdersMtls");
    let seen = api_server.seen();
    let last = seen.last().expect("the server saw the call");
    println!(
        "server saw: client certificate CN={}, Authorization header: {}",
        test_support::server::subject_cn(last.client_cert.as_ref().expect("client certificate")),
        last.header("authorization").unwrap_or("(none)")
    );

    call(client, "ProfileBearer");
    call(client, "ProfileBearer");
    issuer.assert_no_failures();
    println!(
        "token endpoint: {} request(s), assertion verified (signature, aud, exp, single-use jti); \
         the second Bearer call used the cached token",
        issuer.token_request_count()
    );

    dsapi_client_free(client);
    dsapi_set_log_callback(None, ptr::null_mut(), DSAPI_LOG_INFO);
    println!("demo finished");
}
