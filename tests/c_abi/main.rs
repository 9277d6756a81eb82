//! The C ABI from C: compiles the C program in tests/c (ffi_test.c, common.c and one file per
//! area, linked into one executable) against `include/downstream_api.h` and the shared library
//! (`libdownstream_api.so`, `.dylib`, or `downstream_api.dll`) that `cargo test` builds (the crate
//! is a cdylib), runs it under AddressSanitizer + UndefinedBehaviorSanitizer with leak detection
//! (and, in a second test, under valgrind), against in-process mTLS servers on 127.0.0.1, then
//! checks what the servers saw.
//!
//! - `program`: finding the shared library, compiling the C program, running it with a time
//!   limit;
//! - `fixture`: the servers, certificates and configuration files it runs against;
//! - `server_side`: what the servers must have seen afterwards.

mod fixture;
mod program;
mod server_side;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixture::{Fixture, Run};
use program::compile;
use server_side::check_server_side;

const CLIENT_CN: &str = "c-abi-client";
/// CN of the certificate in tests/fixtures/rsa-client.aes.pfx (see tests/fixtures/generate.sh).
const PFX_CN: &str = "rsa-fixture-client";
/// Written into pfx-wrong-password.json; must never show up in a message or log line.
const WRONG_PASSWORD: &str = "Wr0ng-Pa55word-c-abi";
const APP_CLIENT_ID: &str = "c-abi-app";
const TENANT: &str = "c-abi-tenant";
/// The registered client secret, and a wrong one; neither may show up in a message or log line.
const CLIENT_SECRET: &str = "c-abi-S3cret~value";
const WRONG_SECRET: &str = "c-abi-Wr0ng~secret";
/// Scope of the "Resource" Bearer API; the C program's threads use `THREADS_SCOPE`.
const RESOURCE_SCOPE: &str = "api://resource/.default";
const THREADS_SCOPE: &str = "api://threads/.default";

fn tool_available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn c_abi_under_address_and_undefined_behavior_sanitizers() {
    let fixture = Fixture::new("c-abi-asan");
    let program = fixture.dir.path().join("ffi_test_asan");
    compile(&program, true);
    // DSAPI_C_ABI_CALLS=N runs N calls per thread instead (a local stress knob).
    let calls = std::env::var("DSAPI_C_ABI_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(25);
    let threads = 8;
    let started = Instant::now();
    let output = fixture.run(&Run {
        wrapper: None,
        program: &program,
        threads,
        calls,
        env: &[
            (
                "ASAN_OPTIONS",
                "detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:\
                 strict_string_checks=1"
                    .to_string(),
            ),
            (
                "UBSAN_OPTIONS",
                "halt_on_error=1:print_stacktrace=1".to_string(),
            ),
        ],
        time_limit: Duration::from_secs(300),
    });
    check_server_side(&fixture, threads, calls, &output);
    assert!(
        !output.contains("ERROR: AddressSanitizer")
            && !output.contains("ERROR: LeakSanitizer")
            && !output.contains("runtime error:"),
        "sanitizer report in the output:\n{output}"
    );
    eprintln!(
        "ffi_test under ASan+UBSan took {:?}: {}",
        started.elapsed(),
        output
            .lines()
            .rev()
            .find(|line| line.starts_with("ffi_test: "))
            .unwrap_or_default()
    );
}

/// Two reports memcheck makes inside ring's hand-written assembly during every TLS 1.3 handshake,
/// both false positives (the bytes are correct: the server verifies the signature and the tags
/// match on every call). Memcheck's definedness tracking loses precision through ring's
/// constant-time assembly (AES-GCM, P-256), so it believes:
/// - the AEAD tag comparison in `ring::aead::…::open_within` branches on undefined bytes (origin:
///   the AES key schedule built in `rustls::crypto::ring::tls13::AeadAlgorithm::decrypter`);
/// - the CertificateVerify signature made by ring (origin: `emit_certverify_tls13`) holds
///   undefined bytes when rustls writes the encrypted record to the socket.
///
/// Both are matched by ring/rustls frames, nothing in this crate or in the C program. (The libc
/// frame of the second is named `send` or `__libc_send` depending on the run, hence the `...`.)
const RING_VALGRIND_SUPPRESSIONS: &str = r#"{
   ring-aead-open-tag-compare-false-positive
   Memcheck:Cond
   fun:_ZN4ring2bb23verify_slices_are_equal*
   fun:_ZN4ring4aead9algorithm9Algorithm11open_within*
}
{
   ring-signature-in-rustls-record-false-positive
   Memcheck:Param
   socketcall.sendto(msg)
   ...
   fun:_ZN6rustls4conn28ConnectionCommon$LT$Data$GT$9write_tls*
}
"#;

#[test]
fn c_abi_under_valgrind() {
    const VALGRIND: &str = "valgrind";
    assert!(
        tool_available(VALGRIND),
        "valgrind is not installed (expected /usr/bin/valgrind); install it to run this test"
    );
    let fixture = Fixture::new("c-abi-valgrind");
    let program = fixture.dir.path().join("ffi_test_plain");
    compile(&program, false);
    let suppressions = fixture
        .dir
        .write("valgrind.supp", RING_VALGRIND_SUPPRESSIONS);
    let suppressions = format!("--suppressions={suppressions}");
    // Valgrind serialises threads and is ~50x slower: few calls, still 8 threads on one client.
    let (threads, calls) = (8, 3);
    let output = fixture.run(&Run {
        wrapper: Some(&[
            VALGRIND,
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite",
            "--track-origins=yes",
            &suppressions,
            "--quiet",
        ]),
        program: &program,
        threads,
        calls,
        env: &[],
        time_limit: Duration::from_secs(600),
    });
    check_server_side(&fixture, threads, calls, &output);
}
