//! The remedies a failed attempt may call for, each with its budget: the library's retry rules in
//! one list. An attempt names a remedy ([`crate::retry`] decides whether it is granted); an
//! [`crate::Error`] names the remedy it called for. `docs/RELIABILITY.md`'s retry table has one row
//! per remedy, checked by the test below, so the table and the code cannot drift.

use std::time::Duration;

/// What may be done about a failed attempt before the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Remedy {
    /// The API rejected the client certificate (a TLS alert, HTTP 495/496, 401 on MTLS, nginx's
    /// 400 about the SSL certificate) or its key failed to sign: reload it and resend.
    ReloadCertificate,
    /// An MTLS_POP API answered 401: the bound token was refused; resend with a fresh one.
    FreshBoundToken,
    /// A Bearer API answered 401 `insufficient_claims`: a token with those claims, resent.
    ClaimsChallenge,
    /// The token endpoint refused the certificate of a request over mTLS (`UseBoundCredential`,
    /// `tls_client_auth`): reload it and ask again under the new certificate's cache key.
    RebindCertificate,
    /// The token endpoint or the discovery document answered 429 or 5xx: wait for its
    /// `Retry-After` (at most 60 s), or 200 ms after a 5xx without one, and ask once more.
    TokenEndpointBusy,
    /// The token endpoint answered `invalid_client` with an AADSTS code meaning the assertion's
    /// certificate is not accepted: reload the certificate and ask once more.
    RotateTokenCertificate,
    /// A managed-identity endpoint answered 404, 408, 410, 429 or 5xx: wait 1, 2, then 4 s (or
    /// its `Retry-After`, at most 60 s) and ask again.
    ManagedIdentityBackoff,
    /// Azure Arc answered 401 with its key-file challenge: resend with the key.
    ArcChallenge,
    /// A kept-alive connection was closed under the request before any byte of an answer:
    /// resend it on a new connection.
    StaleConnection,
    /// Another process holds the fleet's lock on this token (`TokenCache.Distributed`): wait for
    /// its token, looking every 20 ms.
    FleetLockWait,
}

/// How often a remedy may be granted within one run of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// At most this many times.
    Times(u32),
    /// As long as its waits fit before the driver's deadline.
    WhileTimeLeft,
}

impl Remedy {
    /// Every remedy, for the documentation check and for callers listing them.
    pub const ALL: [Remedy; 10] = [
        Remedy::ReloadCertificate,
        Remedy::FreshBoundToken,
        Remedy::ClaimsChallenge,
        Remedy::RebindCertificate,
        Remedy::TokenEndpointBusy,
        Remedy::RotateTokenCertificate,
        Remedy::ManagedIdentityBackoff,
        Remedy::ArcChallenge,
        Remedy::StaleConnection,
        Remedy::FleetLockWait,
    ];

    /// How often it may be granted in one run of the driver (see [`Remedy::scope`]).
    pub fn budget(self) -> Budget {
        match self {
            Remedy::ManagedIdentityBackoff => Budget::Times(3),
            Remedy::FleetLockWait => Budget::WhileTimeLeft,
            _ => Budget::Times(1),
        }
    }

    /// What one run of the driver that grants it covers.
    pub fn scope(self) -> &'static str {
        match self {
            Remedy::ReloadCertificate | Remedy::FreshBoundToken | Remedy::ClaimsChallenge => "call",
            Remedy::RebindCertificate => "token",
            Remedy::StaleConnection => "request sent",
            _ => "token request",
        }
    }

    /// The wait before the `nth` retry (0-based) when the attempt names none: the remedy's own
    /// schedule.
    pub fn default_wait(self, nth: u32) -> Duration {
        match self {
            Remedy::TokenEndpointBusy => Duration::from_millis(200),
            Remedy::ManagedIdentityBackoff => Duration::from_secs(1) * 2u32.saturating_pow(nth),
            Remedy::FleetLockWait => Duration::from_millis(20),
            _ => Duration::ZERO,
        }
    }

    /// What is done, for the log line of a granted retry.
    pub fn action(self) -> &'static str {
        match self {
            Remedy::ReloadCertificate => "reloading the certificate and resending",
            Remedy::FreshBoundToken => "resending with a fresh bound token",
            Remedy::ClaimsChallenge => "acquiring a token with the claims asked for and resending",
            Remedy::RebindCertificate => "reloading the certificate and asking again",
            Remedy::TokenEndpointBusy => "asking the token endpoint again",
            Remedy::RotateTokenCertificate => "reloading the certificate and asking again",
            Remedy::ManagedIdentityBackoff => "asking the managed identity endpoint again",
            Remedy::ArcChallenge => "answering Azure Arc's challenge",
            Remedy::StaleConnection => "resending on a new connection",
            Remedy::FleetLockWait => "waiting for another process's token request",
        }
    }

    /// Context added to the error when the remedy was already spent and failed again, where the
    /// error alone would not say so.
    pub fn spent_context(self) -> Option<&'static str> {
        match self {
            Remedy::ReloadCertificate => Some("rejected again after reloading"),
            _ => None,
        }
    }

    /// Whether each grant is logged (INFO), or only the first (DEBUG): polling is not news.
    pub fn logs_every_grant(self) -> bool {
        self != Remedy::FleetLockWait
    }
}

impl std::fmt::Display for Remedy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "at most" cell of a remedy's row: "once per call", "3 per token request", …
    fn at_most(remedy: Remedy) -> String {
        match remedy.budget() {
            Budget::Times(1) => format!("once per {}", remedy.scope()),
            Budget::Times(n) => format!("{n} per {}", remedy.scope()),
            Budget::WhileTimeLeft => format!("while time is left, per {}", remedy.scope()),
        }
    }

    /// Rows of the retry table: (remedy cell, at-most cell).
    fn table_rows(markdown: &str) -> Vec<(String, String)> {
        markdown
            .lines()
            .skip_while(|line| !line.starts_with("## Retries"))
            .skip_while(|line| !line.starts_with("| remedy"))
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_string(), cells[4].to_string())
            })
            .collect()
    }

    #[test]
    fn the_reliability_table_has_a_row_per_remedy_and_a_remedy_per_row() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/RELIABILITY.md");
        let markdown = std::fs::read_to_string(path).expect("read docs/RELIABILITY.md");
        let rows = table_rows(&markdown);
        let names: Vec<String> = Remedy::ALL.iter().map(|r| r.to_string()).collect();
        for (name, cell) in &rows {
            let remedy = Remedy::ALL.iter().find(|r| r.to_string() == *name);
            let remedy = remedy.unwrap_or_else(|| panic!("row '{name}' names no remedy"));
            assert_eq!(*cell, at_most(*remedy), "the budget of {name}");
        }
        for name in &names {
            let count = rows.iter().filter(|(row, _)| row == name).count();
            assert_eq!(count, 1, "{name} has {count} rows in the retry table");
        }
    }

    #[test]
    fn backoff_doubles() {
        let waits: Vec<u64> = (0..3)
            .map(|n| Remedy::ManagedIdentityBackoff.default_wait(n).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4]);
    }
}
