//! An access token and when it expires: what the cache keeps and callers receive.

/// Tokens are not handed out during their last five minutes.
pub const EXPIRY_MARGIN_SECONDS: i64 = 300;

/// An access token and when it expires (Unix seconds). Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token itself, as sent after `Bearer ` (a secret: never log it).
    pub token: String,
    /// When it expires, in seconds since the Unix epoch.
    pub expires_on: i64,
}

impl AccessToken {
    /// The expiry as an RFC 3339 UTC time, e.g. "2026-12-01T12:00:00Z".
    pub fn expires_on_utc(&self) -> String {
        crate::clock::format_time(self.expires_on)
    }

    /// Seconds until it expires (negative once expired).
    pub fn expires_in(&self) -> i64 {
        self.expires_on - crate::clock::unix_now()
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_on", &self.expires_on)
            .finish_non_exhaustive()
    }
}

/// When to refresh a token obtained at `now`: at `refresh_in` when the server sent it, else at
/// half-life for tokens living two hours or more, else only when it expires.
pub fn refresh_on(now: i64, expires_in: i64, refresh_in: Option<i64>) -> Option<i64> {
    match refresh_in {
        Some(seconds) if seconds > 0 => Some(now.saturating_add(seconds)),
        _ if expires_in >= 7200 => Some(now.saturating_add(expires_in / 2)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_schedule() {
        assert_eq!(refresh_on(100, 3600, Some(60)), Some(160));
        assert_eq!(refresh_on(100, 7200, None), Some(3700));
        assert_eq!(refresh_on(100, 3599, None), None);
    }
}
