//! A token endpoint's answer and a discovery document: two bytes of status, header lines
//! `name: value` up to an empty line, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 100 + u16::from_be_bytes([data[0], data[1]]) % 500;
    let rest = &data[2..];
    let split = rest
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(rest.len());
    let headers = String::from_utf8_lossy(&rest[..split])
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    let body = rest.get(split + 2..).unwrap_or_default().to_vec();
    downstream_api::fuzzing::token_answer(status, headers, body);
});
