//! Certificate and key loading from bytes: PEM, PFX and base64 PFX. The first byte picks a
//! password: none, the fixtures' one, or a wrong one.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((choice, rest)) = data.split_first() else {
        return;
    };
    let password = match choice % 3 {
        0 => None,
        1 => Some("fixture-pass"),
        _ => Some("wrong"),
    };
    downstream_api::fuzzing::certificate(rest, password);
});
