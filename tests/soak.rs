//! Memory under load, alone in its binary so that no other test's allocations are counted: 16
//! threads making 500 calls each on one client, round after round, leave resident memory flat.

use std::sync::Arc;

use downstream_api::DownstreamApi;
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::{TempDir, json_str};

/// Resident memory of this process in KiB (Linux's `VmRSS`), or None elsewhere.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn sixteen_threads_times_500_calls_keep_memory_flat() {
    let ca = TestCa::new("Soak CA");
    let server = TestServer::start(
        ca.server(),
        ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
        TestServer::echo_handler(),
    );
    let dir = TempDir::new("soak");
    let config = format!(
        r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {}}}]}},
            "DownstreamApis": {{"Api": {{"BaseUrl": "{}", "ProtocolScheme": "MTLS"}}}},
            "Http": {{"CaBundlePath": {}}}}}"#,
        json_str(&dir.write(
            "client.pem",
            ca.client("soak", Validity::CURRENT).bundle_pem()
        )),
        server.url(),
        json_str(&dir.write("ca.pem", &ca.cert_pem))
    );
    server.set_recording(false);
    let api = Arc::new(DownstreamApi::from_json(&config).unwrap());
    let round = |calls: usize| {
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let api = api.clone();
                std::thread::spawn(move || {
                    for _ in 0..calls {
                        let response = api.call("Api", None, b"").expect("call");
                        assert_eq!(response.body, b"hello soak");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    };
    // The first rounds make the connections, TLS sessions and allocator arenas of 16 threads
    // (client and in-process server) and let the allocator settle (measured here: it grows for
    // about 16,000 calls, then moves within ±1 MiB). After them, 32,000 more calls must stay within
    // 2 MiB: a leak of 70 bytes per call would exceed it.
    for _ in 0..3 {
        round(500);
    }
    let Some(settled) = resident_kib() else {
        return;
    };
    let mut highest = settled;
    for _ in 0..4 {
        round(500);
        highest = highest.max(resident_kib().unwrap());
    }
    let growth = highest.saturating_sub(settled);
    eprintln!("resident: {settled} KiB settled, at most {highest} KiB over 32000 more calls");
    assert!(
        growth < 2 * 1024,
        "resident memory grew by {growth} KiB over 32000 calls ({settled} → {highest} KiB)"
    );
    assert_eq!(server.requests(), 16 * 500 * 7);
}
