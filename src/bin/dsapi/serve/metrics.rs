//! `GET /metrics`, an addition of ours: the library's counters (`DownstreamApi::metrics`: calls,
//! token requests, token cache lookups, TLS handshakes, retries, certificates' days left) and the
//! sidecar's own requests, in the Prometheus text exposition format, version 0.0.4.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use downstream_api::metrics::Snapshot;

use super::http::Response;

/// The content type of the text format, as Prometheus asks for it.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The requests the sidecar answered, by route and status. A lock per request is nothing beside
/// the request itself; the label set is small (routes are templates, never paths).
#[derive(Default)]
pub struct Requests {
    counts: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl Requests {
    pub fn count(&self, route: &'static str, status: u16) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry((route, status)).or_default() += 1;
    }

    fn read(&self) -> BTreeMap<(&'static str, u16), u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The route a request path is counted under: the route's template as the sidecar's OpenAPI
/// file writes it, or `unknown` for a path that is none (a 404).
pub fn route_label(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let first = segments[0].to_ascii_lowercase();
    match (first.as_str(), segments.len()) {
        ("healthz", 1) => "/healthz",
        ("metrics", 1) => "/metrics",
        ("validate", 1) => "/Validate",
        ("authorizationheader", 2) => "/AuthorizationHeader/{apiName}",
        ("authorizationheaderunauthenticated", 2) => {
            "/AuthorizationHeaderUnauthenticated/{apiName}"
        }
        ("downstreamapi", 2) => "/DownstreamApi/{apiName}",
        ("downstreamapiunauthenticated", 2) => "/DownstreamApiUnauthenticated/{apiName}",
        ("downstreamapiraw", 2) => "/DownstreamApiRaw/{apiName}",
        ("downstreamapirawunauthenticated", 2) => "/DownstreamApiRawUnauthenticated/{apiName}",
        _ => "unknown",
    }
}

/// The page of `GET /metrics`.
pub fn page(snapshot: &Snapshot, requests: &Requests) -> Response {
    Response::new(200, CONTENT_TYPE, render(snapshot, requests).into_bytes())
}

/// One metric family at a time: its `# HELP` and `# TYPE` lines, then its samples.
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"{}\"", escape_label_value(value));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value as the text format writes it: backslash, double quote and line feed escaped.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn render(snapshot: &Snapshot, requests: &Requests) -> String {
    let mut text = Text(String::new());
    text.family(
        "dsapi_calls_total",
        "counter",
        "Calls to downstream APIs, by API, protocol and outcome (response, or the error's kind).",
    );
    for call in &snapshot.calls {
        let labels = [
            ("api", call.api.as_str()),
            ("protocol", call.protocol),
            ("outcome", call.outcome),
        ];
        text.sample("dsapi_calls_total", &labels, call.count);
    }
    text.family(
        "dsapi_token_requests_total",
        "counter",
        "Token requests sent, by grant.",
    );
    for request in &snapshot.token_requests {
        let labels = [("grant", request.grant)];
        text.sample("dsapi_token_requests_total", &labels, request.count);
    }
    text.family(
        "dsapi_token_cache_lookups_total",
        "counter",
        "Token cache lookups, by layer (memory, distributed) and result.",
    );
    for lookup in &snapshot.token_cache {
        let labels = [("layer", lookup.layer), ("result", lookup.result)];
        text.sample("dsapi_token_cache_lookups_total", &labels, lookup.count);
    }
    render_connections(&mut text, snapshot);
    text.family(
        "dsapi_serve_requests_total",
        "counter",
        "Requests dsapi serve answered, by route and status.",
    );
    for ((route, status), count) in requests.read() {
        let status = status.to_string();
        let labels = [("route", route), ("status", status.as_str())];
        text.sample("dsapi_serve_requests_total", &labels, count);
    }
    text.0
}

/// Handshakes, retries and certificates.
fn render_connections(text: &mut Text, snapshot: &Snapshot) {
    text.family(
        "dsapi_tls_handshakes_total",
        "counter",
        "TLS handshakes completed, full or resuming an earlier session.",
    );
    let handshakes = snapshot.tls_handshakes;
    text.sample(
        "dsapi_tls_handshakes_total",
        &[("kind", "full")],
        handshakes.full,
    );
    text.sample(
        "dsapi_tls_handshakes_total",
        &[("kind", "resumed")],
        handshakes.resumed,
    );
    text.family(
        "dsapi_retries_total",
        "counter",
        "Retries granted, by remedy.",
    );
    for retry in &snapshot.retries {
        let remedy = retry.remedy.to_string();
        text.sample("dsapi_retries_total", &[("remedy", &remedy)], retry.count);
    }
    text.family(
        "dsapi_certificate_days_left",
        "gauge",
        "Days until the selected client certificate expires (negative once expired).",
    );
    for certificate in &snapshot.certificates {
        let labels = [
            ("subject", certificate.subject.as_str()),
            ("thumbprint", certificate.thumbprint.as_str()),
        ];
        text.sample(
            "dsapi_certificate_days_left",
            &labels,
            certificate.days_left,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use downstream_api::metrics::{CallCount, CertificateDaysLeft};

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let snapshot = Snapshot {
            calls: vec![CallCount {
                api: "we\"ird\\api\n".into(),
                protocol: "MTLS",
                outcome: "response",
                count: 3,
            }],
            certificates: vec![CertificateDaysLeft {
                subject: "CN=x, O=\"y\"".into(),
                thumbprint: "AB".into(),
                days_left: 12.5,
            }],
            ..Snapshot::default()
        };
        let text = render(&snapshot, &Requests::default());
        assert!(
            text.contains(
                "dsapi_calls_total{api=\"we\\\"ird\\\\api\\n\",protocol=\"MTLS\",outcome=\"response\"} 3\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "dsapi_certificate_days_left{subject=\"CN=x, O=\\\"y\\\"\",thumbprint=\"AB\"} 12.5\n"
        ));
        assert!(text.contains("# TYPE dsapi_certificate_days_left gauge\n"));
    }

    #[test]
    fn routes_are_counted_by_template() {
        assert_eq!(
            route_label("/downstreamApi/My%20Api"),
            "/DownstreamApi/{apiName}"
        );
        assert_eq!(route_label("/METRICS"), "/metrics");
        assert_eq!(route_label("/metrics/x"), "unknown");
        let requests = Requests::default();
        requests.count("/healthz", 200);
        requests.count("/healthz", 200);
        let text = render(&Snapshot::default(), &requests);
        assert!(text.contains("dsapi_serve_requests_total{route=\"/healthz\",status=\"200\"} 2\n"));
    }
}
