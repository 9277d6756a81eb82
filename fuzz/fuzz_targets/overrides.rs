//! Per-call overrides (a JSON object of DownstreamApis keys) merged onto an API, then its URL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(json) = std::str::from_utf8(data) {
        downstream_api::fuzzing::overrides(json);
    }
});
