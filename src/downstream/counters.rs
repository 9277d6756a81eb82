//! What a client adds to the process's counters when they are read: the days left of the
//! certificates it has selected, a gauge computed at each read.

use super::DownstreamApi;
use crate::clock::unix_now;
use crate::metrics::{CertificateDaysLeft, Snapshot};

impl DownstreamApi {
    /// The process's counters ([`crate::metrics::snapshot`]: calls, token requests, token cache
    /// lookups, TLS handshakes and retries of every client), and the days left of each
    /// certificate this client has selected for MTLS calls or token requests. A certificate
    /// appears once a call or token request has selected it; reading loads nothing.
    pub fn metrics(&self) -> Snapshot {
        let now = unix_now();
        let certificates = self
            .credentials
            .selected_certificates()
            .into_iter()
            .map(|facts| CertificateDaysLeft {
                days_left: (facts.not_after - now) as f64 / 86_400.0,
                subject: facts.subject,
                thumbprint: facts.thumbprint,
            })
            .collect();
        Snapshot {
            certificates,
            ..crate::metrics::snapshot()
        }
    }

    /// [`DownstreamApi::metrics`] as JSON ([`Snapshot::to_json`]: the shape
    /// `dsapi_client_metrics` returns).
    pub fn metrics_json(&self) -> String {
        self.metrics().to_json()
    }
}
