//! The configuration reader: environment overrides (lines `NAME=VALUE` before a line `---`), then
//! the appsettings.json text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (environment, json) = text.split_once("\n---\n").unwrap_or(("", text));
    let environment = environment
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    downstream_api::fuzzing::configuration(json, environment);
});
