//! The header's promise about errors, checked: every status a C function is made to return here
//! (NULLs, bad JSON, unknown APIs, missing files, refused and silent servers, rejected and
//! untrusted certificates, a token endpoint that refuses, ...) is named in that function's doc
//! comment in `include/downstream_api.h`. The calls go through the exported functions, against real
//! TLS servers on 127.0.0.1.

use std::ffi::{CStr, CString, c_char};
use std::net::TcpListener;
use std::ptr;

use downstream_api::ffi::*;
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::token_server::{TokenIssuer, TokenServer};
use test_support::{TempDir, free_port, json_str};

/// The committed header, split into the doc comment of each function.
struct Header(String);

impl Header {
    fn load() -> Header {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/downstream_api.h");
        Header(std::fs::read_to_string(path).expect("read the header"))
    }

    /// The doxygen comment block (`/** … */`, cbindgen's "doxy" style) right above the
    /// declaration of `function`.
    fn doc_of(&self, function: &str) -> String {
        fn comment(line: &&str) -> bool {
            line.starts_with("/**") || line.starts_with(" *")
        }
        let lines: Vec<&str> = self.0.lines().collect();
        let declaration = lines
            .iter()
            .position(|line| !comment(line) && line.contains(&format!(" {function}(")))
            .unwrap_or_else(|| panic!("{function} is not declared in the header"));
        let mut doc: Vec<&str> = lines[..declaration]
            .iter()
            .rev()
            .take_while(|line| comment(line))
            .copied()
            .collect();
        doc.reverse();
        doc.join("\n")
    }

    /// Names of the functions declared as returning `dsapi_status`.
    fn status_functions(&self) -> Vec<String> {
        self.0
            .lines()
            .filter_map(|line| line.strip_prefix("dsapi_status "))
            .filter_map(|rest| rest.split('(').next())
            .map(str::to_string)
            .collect()
    }
}

fn cstring(text: &str) -> CString {
    CString::new(text).expect("no NUL")
}

fn name_of(status: dsapi_status) -> String {
    // SAFETY: dsapi_status_str returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(dsapi_status_str(status)) }
        .to_string_lossy()
        .into_owned()
}

fn last_error() -> String {
    let mut buffer = vec![0 as c_char; 4096];
    let mut needed = 0;
    dsapi_last_error_message(buffer.as_mut_ptr(), buffer.len(), &mut needed);
    // SAFETY: on success the buffer holds a NUL-terminated string; on failure it is all zeros.
    unsafe { CStr::from_ptr(buffer.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Asserts that `function` returned `expected` and that its header doc names that status.
fn returned(header: &Header, function: &str, status: dsapi_status, expected: dsapi_status) {
    let message = last_error();
    assert_eq!(name_of(status), name_of(expected), "{function} ({message})");
    let name = name_of(status);
    assert!(
        header.doc_of(function).contains(&name),
        "{function} returned {name} ({message}), but its doc comment in the header does not \
         name it:\n{}",
        header.doc_of(function)
    );
}

fn new_client(json: &str) -> *mut dsapi_client {
    let json = cstring(json);
    let mut client = ptr::null_mut();
    let status = dsapi_client_new(json.as_ptr(), &mut client);
    assert_eq!(status, DSAPI_OK, "dsapi_client_new: {}", last_error());
    client
}

fn call(client: *const dsapi_client, api: &str, overrides: Option<&str>) -> dsapi_status {
    let api = cstring(api);
    let overrides = overrides.map(cstring);
    let mut response = ptr::null_mut();
    let status = dsapi_client_call(
        client,
        api.as_ptr(),
        overrides.as_ref().map_or(ptr::null(), |o| o.as_ptr()),
        ptr::null(),
        0,
        &mut response,
    );
    dsapi_response_free(response);
    status
}

#[test]
fn every_function_that_returns_a_status_documents_its_errors() {
    let header = Header::load();
    let functions = header.status_functions();
    assert!(functions.len() >= 10, "{functions:?}");
    for function in functions {
        let doc = header.doc_of(&function);
        let named: Vec<&str> = doc
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("DSAPI_") && *word != "DSAPI_OK")
            .filter(|word| !word.starts_with("DSAPI_LOG_") && !word.starts_with("DSAPI_EVENT_"))
            .collect();
        assert!(!named.is_empty(), "{function} documents no error status");
        for word in named {
            assert!(
                header.0.contains(&format!("#define {word} ")),
                "{function} names {word}, which is not a status"
            );
        }
    }
}

/// What the status test calls: a CA and another one, a certificate from each, an MTLS server,
/// a server with a certificate from the other CA, a listener that never answers, and a token
/// endpoint with a registered secret.
struct Servers {
    dir: TempDir,
    ca_path: String,
    /// A certificate the MTLS server accepts, and one from the other CA.
    accepted: String,
    unknown: String,
    tokens: TokenServer,
    /// The "DownstreamApis" entries: Api, Untrusted, Refused, Silent, Plain, Bearer.
    apis: String,
    // Kept for their lifetime.
    _mtls: TestServer,
    _untrusted: TestServer,
    /// Accepts connections and never answers.
    silent: TcpListener,
}

impl Servers {
    fn start() -> Servers {
        let ca = TestCa::new("Documented Statuses CA");
        let other_ca = TestCa::new("Other CA");
        let dir = TempDir::new("statuses");
        let ca_path = dir.write("ca.pem", &ca.cert_pem);
        let accepted = dir.write(
            "accepted.pem",
            ca.client("accepted", Validity::CURRENT).bundle_pem(),
        );
        let unknown = dir.write(
            "unknown.pem",
            other_ca.client("unknown", Validity::CURRENT).bundle_pem(),
        );
        let mtls = TestServer::start(
            ca.server(),
            ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
            TestServer::echo_handler(),
        );
        let untrusted = TestServer::start(
            other_ca.server(),
            ClientAuth::None,
            TestServer::echo_handler(),
        );
        let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
        let silent_url = format!("https://127.0.0.1:{}", silent.local_addr().unwrap().port());
        let issuer = TokenIssuer::new("statuses-app");
        issuer.set_client_secret(Some("the-registered-secret"));
        let tokens = TokenServer::start(&ca, issuer);
        let apis = format!(
            r#""Api": {{"BaseUrl": "{mtls}", "ProtocolScheme": "MTLS"}},
               "Untrusted": {{"BaseUrl": "{untrusted}", "ProtocolScheme": "MTLS"}},
               "Refused": {{"BaseUrl": "https://127.0.0.1:{refused}", "ProtocolScheme": "MTLS"}},
               "Silent": {{"BaseUrl": "{silent_url}", "ProtocolScheme": "MTLS"}},
               "Plain": {{"BaseUrl": "http://127.0.0.1:{refused}", "ProtocolScheme": "MTLS"}},
               "Bearer": {{"BaseUrl": "{mtls}", "Scopes": ["api://a/.default"]}}"#,
            mtls = mtls.url(),
            untrusted = untrusted.url(),
            refused = free_port(),
        );
        Servers {
            dir,
            ca_path,
            accepted,
            unknown,
            tokens,
            apis,
            _mtls: mtls,
            _untrusted: untrusted,
            silent,
        }
    }

    /// A configuration with the certificate file `certificate`, the client secret `secret`, and
    /// `http` in its "Http" section.
    fn config(&self, certificate: &str, secret: &str, http: &str) -> String {
        format!(
            r#"{{"AzureAd": {{"Instance": "{instance}", "TenantId": "t", "ClientId": "statuses-app",
                 "ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {certificate}}},
                                       {{"SourceType": "ClientSecret", "ClientSecret": "{secret}"}}]}},
                "DownstreamApis": {{{apis}}},
                "Http": {{"CaBundlePath": {ca}, {http}}}}}"#,
            instance = self.tokens.instance(),
            certificate = json_str(certificate),
            apis = self.apis,
            ca = json_str(&self.ca_path),
        )
    }
}

const QUICK: &str = r#""TimeoutSeconds": 1"#;

#[test]
fn statuses_the_functions_return_are_the_ones_they_document() {
    let header = Header::load();
    let servers = Servers::start();
    creation_statuses(&header, &servers.dir);

    // Calls, with a certificate the server accepts and a wrong client secret.
    let client = new_client(&servers.config(&servers.accepted, "a-wrong-secret", QUICK));
    call_statuses(&header, client);
    token_statuses(&header, client);
    response_statuses(&header, client);
    dsapi_client_free(client);

    credential_and_limit_statuses(&header, &servers);

    // The silent server really was called, and kept silent until the timeout.
    servers
        .silent
        .set_nonblocking(true)
        .expect("nonblocking listener");
    assert!(
        servers.silent.accept().is_ok(),
        "the Silent API was never connected to"
    );
}

/// Creating clients, adding observers, setting the log callback.
fn creation_statuses(header: &Header, dir: &TempDir) {
    let mut client = ptr::null_mut();
    let status = dsapi_client_new(ptr::null(), &mut client);
    returned(header, "dsapi_client_new", status, DSAPI_INVALID_ARGUMENT);
    let bad_json = cstring("{");
    let status = dsapi_client_new(bad_json.as_ptr(), &mut client);
    returned(header, "dsapi_client_new", status, DSAPI_CONFIG_INVALID);
    let missing = cstring(&dir.path().join("missing.json").to_string_lossy());
    let status = dsapi_client_new_from_file(missing.as_ptr(), &mut client);
    returned(header, "dsapi_client_new_from_file", status, DSAPI_IO_ERROR);
    let status = dsapi_client_new_from_file(ptr::null(), &mut client);
    returned(
        header,
        "dsapi_client_new_from_file",
        status,
        DSAPI_INVALID_ARGUMENT,
    );
    let status = dsapi_client_add_observer(ptr::null(), None, ptr::null_mut());
    returned(
        header,
        "dsapi_client_add_observer",
        status,
        DSAPI_INVALID_ARGUMENT,
    );
    let status = dsapi_set_log_callback(None, ptr::null_mut(), 9);
    returned(
        header,
        "dsapi_set_log_callback",
        status,
        DSAPI_INVALID_ARGUMENT,
    );
}

/// Each way a call fails, on a client whose client secret is wrong.
fn call_statuses(header: &Header, client: *mut dsapi_client) {
    let expectations = [
        ("Nope", None, DSAPI_UNKNOWN_API),
        ("Api", Some("{"), DSAPI_CONFIG_INVALID),
        ("Untrusted", None, DSAPI_TLS_ERROR),
        ("Refused", None, DSAPI_NETWORK_ERROR),
        ("Silent", None, DSAPI_TIMEOUT),
        ("Plain", None, DSAPI_INSECURE_URL),
        ("Bearer", None, DSAPI_TOKEN_ACQUISITION_FAILED),
    ];
    for (api, overrides, expected) in expectations {
        let status = call(client, api, overrides);
        returned(header, "dsapi_client_call", status, expected);
    }
    let status = call(ptr::null(), "Api", None);
    returned(header, "dsapi_client_call", status, DSAPI_INVALID_ARGUMENT);
}

/// Tokens for hosts with their own HTTP stack.
fn token_statuses(header: &Header, client: *mut dsapi_client) {
    let api = cstring("Api");
    let bearer = cstring("Bearer");
    let nope = cstring("Nope");
    let mut header_out = ptr::null_mut();
    for (name, expected) in [
        (&api, DSAPI_UNSUPPORTED),
        (&nope, DSAPI_UNKNOWN_API),
        (&bearer, DSAPI_TOKEN_ACQUISITION_FAILED),
    ] {
        let status =
            dsapi_client_authorization_header(client, name.as_ptr(), ptr::null(), &mut header_out);
        returned(
            header,
            "dsapi_client_authorization_header",
            status,
            expected,
        );
    }
    let scopes = cstring("api://a/.default");
    let no_scopes = cstring(" ");
    let bad_options = cstring("[1]");
    let mut token = ptr::null_mut();
    for (scopes, options, expected) in [
        (&no_scopes, None, DSAPI_INVALID_ARGUMENT),
        (&scopes, Some(&bad_options), DSAPI_CONFIG_INVALID),
        (&scopes, None, DSAPI_TOKEN_ACQUISITION_FAILED),
    ] {
        let status = dsapi_client_acquire_token(
            client,
            scopes.as_ptr(),
            options.map_or(ptr::null(), |o| o.as_ptr()),
            &mut token,
            ptr::null_mut(),
        );
        returned(header, "dsapi_client_acquire_token", status, expected);
    }
}

/// A response, the lookups on it, and the size query of the last error.
fn response_statuses(header: &Header, client: *mut dsapi_client) {
    let api = cstring("Api");
    let mut response = ptr::null_mut();
    let status = dsapi_client_call(
        client,
        api.as_ptr(),
        ptr::null(),
        ptr::null(),
        0,
        &mut response,
    );
    assert_eq!(status, DSAPI_OK, "{}", last_error());
    let absent = cstring("x-absent");
    let mut value = ptr::null();
    let status = dsapi_response_header(response, absent.as_ptr(), &mut value);
    returned(header, "dsapi_response_header", status, DSAPI_NOT_FOUND);
    let status = dsapi_response_header(response, ptr::null(), &mut value);
    returned(
        header,
        "dsapi_response_header",
        status,
        DSAPI_INVALID_ARGUMENT,
    );
    let mut name = ptr::null();
    let status = dsapi_response_header_at(response, 10_000, &mut name, &mut value);
    returned(header, "dsapi_response_header_at", status, DSAPI_NOT_FOUND);
    dsapi_response_free(response);
    let mut needed = 0;
    let status = dsapi_last_error_message(ptr::null_mut(), 0, &mut needed);
    returned(
        header,
        "dsapi_last_error_message",
        status,
        DSAPI_BUFFER_TOO_SMALL,
    );
}

/// A certificate the server rejects, a missing one, and a response over the size limit.
fn credential_and_limit_statuses(header: &Header, servers: &Servers) {
    let client = new_client(&servers.config(&servers.unknown, "s", QUICK));
    let status = call(client, "Api", None);
    returned(
        header,
        "dsapi_client_call",
        status,
        DSAPI_CERTIFICATE_REJECTED,
    );
    dsapi_client_free(client);
    let missing_cert = servers.dir.path().join("missing.pem");
    let client = new_client(&servers.config(&missing_cert.to_string_lossy(), "s", QUICK));
    let status = call(client, "Api", None);
    returned(
        header,
        "dsapi_client_call",
        status,
        DSAPI_CREDENTIAL_UNAVAILABLE,
    );
    dsapi_client_free(client);
    let client = new_client(&servers.config(&servers.accepted, "s", r#""MaxResponseBytes": 1"#));
    let status = call(client, "Api", None);
    returned(header, "dsapi_client_call", status, DSAPI_PROTOCOL_ERROR);
    dsapi_client_free(client);
}
