//! URL building: base URL, relative path and `name=value` query parameters, one per line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let base = lines.next().unwrap_or_default();
    let relative = lines.next().unwrap_or_default();
    let query = lines
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    downstream_api::fuzzing::url(base, relative, query);
});
