//! Long-running on-behalf-of sessions (Id.Web's `LongRunningWebApiSessionKey`): the refresh token
//! of each session, kept in memory only, never logged, and bounded in number.

use std::collections::HashMap;

use parking_lot::Mutex;

/// More sessions than this: the oldest half is forgotten (their next call must bring the
/// user's token again).
const MAX_SESSIONS: usize = 10_000;

#[derive(Default)]
pub struct Sessions {
    /// Session key → (refresh token, when it was kept: a counter).
    tokens: Mutex<HashMap<String, (String, u64)>>,
    kept: std::sync::atomic::AtomicU64,
}

impl Sessions {
    /// Keeps (or renews) the refresh token of `session`.
    pub fn keep(&self, session: &str, refresh_token: String) {
        let at = self.kept.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tokens = self.tokens.lock();
        if tokens.len() >= MAX_SESSIONS && !tokens.contains_key(session) {
            let mut ages: Vec<u64> = tokens.values().map(|(_, at)| *at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            tokens.retain(|_, (_, at)| *at > cut);
        }
        tokens.insert(session.to_string(), (refresh_token, at));
    }

    /// The refresh token of `session`, if it is known.
    pub fn refresh_token(&self, session: &str) -> Option<String> {
        self.tokens
            .lock()
            .get(session)
            .map(|(token, _)| token.clone())
    }

    /// Forgets `session` (its refresh token was refused).
    pub fn forget(&self, session: &str) {
        self.tokens.lock().remove(session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_kept_renewed_and_bounded() {
        let sessions = Sessions::default();
        sessions.keep("a", "rt-1".into());
        sessions.keep("a", "rt-2".into());
        assert_eq!(sessions.refresh_token("a").as_deref(), Some("rt-2"));
        for n in 0..MAX_SESSIONS + 10 {
            sessions.keep(&format!("s{n}"), "rt".into());
        }
        assert!(sessions.tokens.lock().len() <= MAX_SESSIONS);
        assert!(
            sessions
                .refresh_token(&format!("s{}", MAX_SESSIONS + 9))
                .is_some()
        );
        sessions.forget("a");
        assert_eq!(sessions.refresh_token("a"), None);
    }
}
