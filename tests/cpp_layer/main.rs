//! The C++ layer (include/downstream_api.hpp) from C++: the program in tests/cpp/layer/ (one file
//! per area over a shared `common.hpp`) compiled under AddressSanitizer and
//! UndefinedBehaviorSanitizer with leak detection, by the C tests' harness, and run against
//! in-process servers on 127.0.0.1: RAII on every path, exceptions carrying the status and the
//! message, observers and the log callback, pushed and reloaded credentials, the expiry event.
//! `docs` runs the C and C++ examples of the README and compiles those of the guide.

mod docs;
mod fixture;
// The C programs' compiler and runner, shared with the C ABI's tests.
#[path = "../c_abi/program.rs"]
#[allow(dead_code)]
mod program;

use std::process::{Command, Stdio};
use std::time::Duration;

use fixture::{CLIENT_CN, EXPIRING_CN, Fixture, PUSHED_CN};
use program::{compile_cpp_dir, run_with_time_limit};

#[test]
fn the_cpp_layer_under_address_and_undefined_behavior_sanitizers() {
    let fixture = Fixture::new();
    let program = fixture.dir.path().join("cpp_layer_test");
    compile_cpp_dir("tests/cpp/layer", &program);
    let mut command = Command::new(&program);
    command
        .env("DSAPI_TEST_DIR", fixture.dir.path())
        .env("DSAPI_TEST_CLIENT_CN", CLIENT_CN)
        .env("DSAPI_TEST_PUSHED_CN", PUSHED_CN)
        .env("DSAPI_TEST_EXPIRING_CN", EXPIRING_CN)
        .env("DSAPI_TEST_SECRET", fixture::SECRET)
        .env(
            "ASAN_OPTIONS",
            "detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1",
        )
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (code, output) = run_with_time_limit(command, Duration::from_secs(180));
    if std::env::var_os("DSAPI_CPP_VERBOSE").is_some() {
        eprintln!("{output}");
    }
    let summary = output
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("cpp_layer: "));
    assert!(
        code == Some(0) && summary.is_some_and(|s| s.ends_with(" passed, 0 failed")),
        "the C++ program did not succeed (exit {code:?}, summary {summary:?}):\n{output}"
    );
    assert!(!output.contains("ERROR: AddressSanitizer"), "{output}");
    assert!(!output.contains("runtime error:"), "{output}");
    assert!(
        !output.contains(fixture::SECRET),
        "the client secret was printed or logged:\n{output}"
    );
    // What the servers saw: the certificate pushed in memory was presented after the swap.
    assert!(
        fixture.presented().contains(&PUSHED_CN.to_string()),
        "{:?}",
        fixture.presented()
    );
}
