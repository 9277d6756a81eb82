//! Process-wide counters: calls by API, protocol and outcome; token requests by grant; token
//! cache lookups by layer and result; TLS handshakes, full or resumed; retries by remedy. Read with
//! [`snapshot`], or per client with [`crate::DownstreamApi::metrics`], which adds the days left of
//! the certificates it has selected.
//!
//! Counting must not slow the calls it counts (a token-cache hit costs about 1,600 instructions):
//! every increment is one relaxed atomic add. Closed label sets are fixed arrays indexed by their
//! enum; an API's counters are looked up by name once, when a client is created, and the client
//! keeps them. Counters only grow, and are shared by every client of the process (Prometheus
//! counters, not per-client gauges), so two clients with an API of the same name add to one series.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::error::ErrorKind;
use crate::remedy::Remedy;

/// The protocol of a counted call. In the order of [`PROTOCOLS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallProtocol {
    Mtls,
    Bearer,
    MtlsPop,
}

/// The protocols' labels, by [`CallProtocol`] (the `ProtocolScheme` values of the configuration).
const PROTOCOLS: [&str; 3] = ["MTLS", "Bearer", "MTLS_POP"];

/// Outcomes of a call: `response` (any HTTP status came back), then one per [`ErrorKind`].
const OUTCOMES: usize = 1 + ErrorKind::ALL.len();

fn outcome_name(index: usize) -> &'static str {
    match index {
        0 => "response",
        n => ErrorKind::ALL[n - 1].name(),
    }
}

/// One API's call counters, by protocol and outcome. A client holds its APIs' counters, so
/// counting a call takes no lock and allocates nothing.
pub(crate) struct ApiCalls {
    name: Box<str>,
    counts: [[AtomicU64; OUTCOMES]; PROTOCOLS.len()],
}

impl ApiCalls {
    /// Counts one call that ended with `outcome` (`Err`: no response, for this reason).
    pub(crate) fn count(&self, protocol: CallProtocol, outcome: Result<(), ErrorKind>) {
        let outcome = match outcome {
            Ok(()) => 0,
            Err(kind) => 1 + kind as usize,
        };
        self.counts[protocol as usize][outcome].fetch_add(1, Ordering::Relaxed);
    }
}

/// Every API counted so far, in the order they were first configured. Names come from
/// configurations, so the list is as bounded as they are; it is never shrunk, since a counter
/// must not go back to zero while the process runs.
static APIS: Mutex<Vec<Arc<ApiCalls>>> = Mutex::new(Vec::new());

/// The counters of the API named `name` (exactly: `Orders` and `orders` are two series, as two
/// configurations may spell them), created on first use.
pub(crate) fn api_calls(name: &str) -> Arc<ApiCalls> {
    let mut apis = APIS.lock();
    if let Some(found) = apis.iter().find(|api| &*api.name == name) {
        return found.clone();
    }
    let created = Arc::new(ApiCalls {
        name: name.into(),
        counts: [const { [const { AtomicU64::new(0) }; OUTCOMES] }; PROTOCOLS.len()],
    });
    apis.push(created.clone());
    created
}

/// What a token request asked for, as its wire grant says (agents' legs apart). In the order of
/// [`GRANTS`], which names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenGrant {
    /// The app's own token (MTLS_POP's bound tokens included).
    ClientCredentials,
    /// An agent blueprint's first leg: `client_credentials` with `fmi_path` (T1).
    ClientCredentialsFmi,
    /// An agent's own token (or its exchange token T2): `client_credentials` with T1 as the
    /// assertion.
    AgentClientCredentials,
    OnBehalfOf,
    /// A long-running session's renewal.
    RefreshToken,
    /// An agent's user: `user_fic`.
    UserFic,
    /// A request to the platform's managed-identity endpoint.
    ManagedIdentity,
}

const GRANTS: [&str; 7] = [
    "client_credentials",
    "client_credentials_fmi",
    "agent_client_credentials",
    "on_behalf_of",
    "refresh_token",
    "user_fic",
    "managed_identity",
];

static TOKEN_REQUESTS: [AtomicU64; GRANTS.len()] = [const { AtomicU64::new(0) }; GRANTS.len()];

/// Counts one token request sent (each retry is one more).
pub(crate) fn token_request(grant: TokenGrant) {
    TOKEN_REQUESTS[grant as usize].fetch_add(1, Ordering::Relaxed);
}

/// Where a token was looked for, and whether it was found. In the order of [`LOOKUPS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheLookup {
    /// A token served from the process's cache without waiting for a request.
    MemoryHit,
    /// None fresh in the process: a request is made (or another thread's awaited).
    MemoryMiss,
    /// Found in the fleet's cache (Redis), perhaps after waiting for another process's request.
    DistributedHit,
    /// Not in the fleet's cache: this process requests it.
    DistributedMiss,
    /// The fleet's cache could not be used (Redis down, slow or skipped after a failure).
    DistributedUnavailable,
}

const LOOKUPS: [(&str, &str); 5] = [
    ("memory", "hit"),
    ("memory", "miss"),
    ("distributed", "hit"),
    ("distributed", "miss"),
    ("distributed", "unavailable"),
];

static CACHE_LOOKUPS: [AtomicU64; LOOKUPS.len()] = [const { AtomicU64::new(0) }; LOOKUPS.len()];

/// Counts one token cache lookup (a lookup that bypasses the cache, for `ForceRefresh` or claims,
/// is not one).
pub(crate) fn cache_lookup(lookup: CacheLookup) {
    CACHE_LOOKUPS[lookup as usize].fetch_add(1, Ordering::Relaxed);
}

static FULL_HANDSHAKES: AtomicU64 = AtomicU64::new(0);
static RESUMED_HANDSHAKES: AtomicU64 = AtomicU64::new(0);

/// Counts one completed TLS handshake: `resumed` when a session of an earlier one was resumed.
pub(crate) fn handshake(resumed: bool) {
    match resumed {
        true => RESUMED_HANDSHAKES.fetch_add(1, Ordering::Relaxed),
        false => FULL_HANDSHAKES.fetch_add(1, Ordering::Relaxed),
    };
}

static RETRIES: [AtomicU64; Remedy::ALL.len()] = [const { AtomicU64::new(0) }; Remedy::ALL.len()];

/// Counts one granted retry of the remedy at `slot` in [`Remedy::ALL`].
pub(crate) fn retry(slot: usize) {
    RETRIES[slot].fetch_add(1, Ordering::Relaxed);
}

/// Calls to one API with one protocol that ended one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCount {
    /// The API's name in `DownstreamApis`, as configured.
    pub api: String,
    /// `MTLS`, `Bearer` or `MTLS_POP`.
    pub protocol: &'static str,
    /// `response` when any HTTP status came back, else the error's kind in snake_case
    /// (`certificate_rejected`, `timeout`, …: [`ErrorKind::name`]).
    pub outcome: &'static str,
    /// How many calls ended so.
    pub count: u64,
}

/// Token requests sent with one grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequestCount {
    /// `client_credentials`, `client_credentials_fmi`, `agent_client_credentials`,
    /// `on_behalf_of`, `refresh_token`, `user_fic` or `managed_identity`.
    pub grant: &'static str,
    /// How many requests were made with it.
    pub count: u64,
}

/// Token cache lookups in one layer with one result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheLookupCount {
    /// `memory` (the process's cache) or `distributed` (the fleet's, on Redis).
    pub layer: &'static str,
    /// `hit`, `miss`, or for `distributed` also `unavailable`.
    pub result: &'static str,
    /// How many lookups had this result.
    pub count: u64,
}

/// Completed TLS handshakes of every connection the library opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Handshakes {
    /// With a certificate exchange.
    pub full: u64,
    /// Resuming the session of an earlier connection (a ticket or session id).
    pub resumed: u64,
}

/// Retries granted for one remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryCount {
    /// The remedy retried.
    pub remedy: Remedy,
    /// How many retries it was granted.
    pub count: u64,
}

/// A certificate a client has selected (for MTLS calls or token requests), and how long it stays
/// valid: computed when read.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateDaysLeft {
    /// The certificate's subject, e.g. "CN=orders-client".
    pub subject: String,
    /// SHA-1 of the DER, upper-case hex.
    pub thumbprint: String,
    /// Days until `notAfter`, with a fraction; negative once expired.
    pub days_left: f64,
}

/// The counters at one moment (each read on its own: a call finishing meanwhile may show in one
/// and not yet in another).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Every API, protocol and outcome counted at least once.
    pub calls: Vec<CallCount>,
    /// Every grant, zeros included.
    pub token_requests: Vec<TokenRequestCount>,
    /// Every layer and result, zeros included.
    pub token_cache: Vec<CacheLookupCount>,
    /// TLS handshakes made, full and resumed.
    pub tls_handshakes: Handshakes,
    /// Every remedy, zeros included.
    pub retries: Vec<RetryCount>,
    /// Empty in [`snapshot`]; [`crate::DownstreamApi::metrics`] lists its selected certificates.
    pub certificates: Vec<CertificateDaysLeft>,
}

/// The process's counters now.
pub fn snapshot() -> Snapshot {
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let apis: Vec<Arc<ApiCalls>> = APIS.lock().clone();
    let mut calls = Vec::new();
    for api in &apis {
        for (protocol, outcomes) in PROTOCOLS.iter().zip(&api.counts) {
            for (outcome, counter) in outcomes.iter().enumerate() {
                let count = read(counter);
                if count > 0 {
                    calls.push(CallCount {
                        api: api.name.to_string(),
                        protocol,
                        outcome: outcome_name(outcome),
                        count,
                    });
                }
            }
        }
    }
    Snapshot {
        calls,
        token_requests: GRANTS
            .iter()
            .zip(&TOKEN_REQUESTS)
            .map(|(grant, counter)| TokenRequestCount {
                grant,
                count: read(counter),
            })
            .collect(),
        token_cache: LOOKUPS
            .iter()
            .zip(&CACHE_LOOKUPS)
            .map(|((layer, result), counter)| CacheLookupCount {
                layer,
                result,
                count: read(counter),
            })
            .collect(),
        tls_handshakes: Handshakes {
            full: read(&FULL_HANDSHAKES),
            resumed: read(&RESUMED_HANDSHAKES),
        },
        retries: Remedy::ALL
            .iter()
            .zip(&RETRIES)
            .map(|(remedy, counter)| RetryCount {
                remedy: *remedy,
                count: read(counter),
            })
            .collect(),
        certificates: Vec::new(),
    }
}

impl Snapshot {
    /// The snapshot as JSON, the shape `dsapi_client_metrics` returns (documented in
    /// `docs/guide/observing-and-logging.md`): `calls` (`api`, `protocol`, `outcome`, `count`),
    /// `tokenRequests` (`grant`, `count`), `tokenCache` (`layer`, `result`, `count`),
    /// `tlsHandshakes` (`full`, `resumed`), `retries` (`remedy`, `count`) and `certificates`
    /// (`subject`, `thumbprint`, `daysLeft`).
    pub fn to_json(&self) -> String {
        let value = json!({
            "calls": self.calls.iter().map(|c| json!({
                "api": c.api, "protocol": c.protocol, "outcome": c.outcome, "count": c.count,
            })).collect::<Vec<Value>>(),
            "tokenRequests": self.token_requests.iter().map(|t| json!({
                "grant": t.grant, "count": t.count,
            })).collect::<Vec<Value>>(),
            "tokenCache": self.token_cache.iter().map(|l| json!({
                "layer": l.layer, "result": l.result, "count": l.count,
            })).collect::<Vec<Value>>(),
            "tlsHandshakes": {
                "full": self.tls_handshakes.full, "resumed": self.tls_handshakes.resumed,
            },
            "retries": self.retries.iter().map(|r| json!({
                "remedy": r.remedy.to_string(), "count": r.count,
            })).collect::<Vec<Value>>(),
            "certificates": self.certificates.iter().map(|c| json!({
                "subject": c.subject, "thumbprint": c.thumbprint, "daysLeft": c.days_left,
            })).collect::<Vec<Value>>(),
        });
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_counts_under_its_api_protocol_and_outcome() {
        let api = api_calls("metrics-unit-test");
        api.count(CallProtocol::MtlsPop, Err(ErrorKind::CertificateRejected));
        api_calls("metrics-unit-test").count(CallProtocol::MtlsPop, Ok(()));
        let calls: Vec<CallCount> = snapshot()
            .calls
            .into_iter()
            .filter(|c| c.api == "metrics-unit-test")
            .collect();
        let outcomes: Vec<(&str, &str, u64)> = calls
            .iter()
            .map(|c| (c.protocol, c.outcome, c.count))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("MTLS_POP", "response", 1),
                ("MTLS_POP", "certificate_rejected", 1)
            ]
        );
    }

    #[test]
    fn the_json_has_every_closed_label_and_counts_only_grow() {
        let before = snapshot();
        token_request(TokenGrant::UserFic);
        retry(Remedy::ALL.len() - 1);
        let after: Value = serde_json::from_str(&snapshot().to_json()).unwrap();
        assert_eq!(
            after["tokenRequests"].as_array().unwrap().len(),
            GRANTS.len()
        );
        assert_eq!(after["tokenCache"].as_array().unwrap().len(), LOOKUPS.len());
        let user_fic = &after["tokenRequests"][TokenGrant::UserFic as usize];
        assert_eq!(user_fic["grant"], "user_fic");
        let was = before.token_requests[TokenGrant::UserFic as usize].count;
        assert!(user_fic["count"].as_u64().unwrap() > was);
        let last = &after["retries"][Remedy::ALL.len() - 1];
        assert_eq!(
            last["remedy"],
            Remedy::ALL[Remedy::ALL.len() - 1].to_string()
        );
        assert!(after["tlsHandshakes"]["full"].is_u64());
    }
}
