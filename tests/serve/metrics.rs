//! `GET /metrics`: the library's counters and the sidecar's requests as Prometheus text (format
//! 0.0.4), under the loopback rule like every route but `/healthz`.

use std::collections::BTreeMap;

use super::client::Connection;
use super::setup;

/// The samples of a Prometheus text page: `name{labels}` → value. Panics on a line that is
/// neither a comment nor `name{labels} value`.
fn parse_samples(page: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "metric name of {line}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for label in labels[1..labels.len() - 1].split("\",") {
                let (key, value) = label.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(!value.contains('\n'), "{line}");
            }
        }
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        samples.insert(series.to_string(), value);
    }
    samples
}

#[test]
fn metrics_after_a_few_calls_as_prometheus_text_to_local_callers_only() {
    let setup = setup();
    let sidecar = setup.serve("", &[]);
    for _ in 0..3 {
        let answer = sidecar.post("/DownstreamApiUnauthenticated/Mtls", &[], b"");
        assert_eq!(answer.json()["statusCode"], 200);
    }
    assert_eq!(sidecar.get("/healthz", &[]).status, 200);
    let page = sidecar.get("/metrics", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = page.text();
    for family in ["dsapi_calls_total", "dsapi_serve_requests_total"] {
        assert!(
            text.contains(&format!("# TYPE {family} counter\n")),
            "{text}"
        );
    }
    assert!(text.contains("# TYPE dsapi_certificate_days_left gauge\n"));
    let samples = parse_samples(&text);
    let value = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("{series}: {text}"))
    };
    assert_eq!(
        value(r#"dsapi_calls_total{api="Mtls",protocol="MTLS",outcome="response"}"#),
        3.0
    );
    assert_eq!(
        value(
            r#"dsapi_serve_requests_total{route="/DownstreamApiUnauthenticated/{apiName}",status="200"}"#
        ),
        3.0
    );
    assert_eq!(
        value(r#"dsapi_serve_requests_total{route="/healthz",status="200"}"#),
        1.0
    );
    // One connection to nginx, kept alive for the three calls.
    assert_eq!(value(r#"dsapi_tls_handshakes_total{kind="full"}"#), 1.0);
    assert_eq!(
        value(r#"dsapi_retries_total{remedy="StaleConnection"}"#),
        0.0
    );
    let gauge: Vec<(&String, &f64)> = samples
        .iter()
        .filter(|(series, _)| series.starts_with("dsapi_certificate_days_left{"))
        .collect();
    assert_eq!(gauge.len(), 1, "{text}");
    assert!(
        gauge[0]
            .0
            .contains(r#"subject="O=Contoso, CN=sidecar-app""#),
        "{text}"
    );
    assert!((360.0..366.0).contains(gauge[0].1), "{text}");
    // The scrape itself is counted for the next one.
    let again = parse_samples(&sidecar.get("/metrics", &[]).text());
    assert_eq!(
        again[r#"dsapi_serve_requests_total{route="/metrics",status="200"}"#],
        1.0
    );
    assert_eq!(sidecar.post("/metrics", &[], b"").status, 405);
    let mut remote = Connection::open_from("127.0.0.2", sidecar.address);
    let refused = remote.request("GET", "/metrics", &[], b"");
    assert_eq!((refused.status, refused.body.len()), (403, 0));
}
