//! `WWW-Authenticate` values (one per line) of a 401, read for a claims challenge.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    downstream_api::fuzzing::www_authenticate(text.lines().map(str::to_string).collect());
});
