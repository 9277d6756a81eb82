//! The app-token cache: tokens count as expired 5 minutes early, are refreshed proactively at
//! `refresh_in` (or half-life for tokens living 2 hours or more), and concurrent misses for one key
//! make a single request (single flight) while other keys proceed.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use super::AccessToken;
use crate::credentials::certificate::unix_now;
use crate::error::Result;

/// Tokens are not handed out during their last five minutes.
pub const EXPIRY_MARGIN_SECONDS: i64 = 300;

/// Identifies a token: authority + client + tenant + sorted scopes + token type (+ thumbprint for
/// certificate-bound tokens), joined into one string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn new(
        authority: &str,
        client_id: &str,
        tenant: &str,
        scopes: &[String],
        token_type: &str,
    ) -> CacheKey {
        let mut sorted: Vec<String> = scopes.iter().map(|s| s.to_ascii_lowercase()).collect();
        sorted.sort();
        sorted.dedup();
        CacheKey(format!(
            "{}|{client_id}|{}|{}|{token_type}",
            authority.to_ascii_lowercase(),
            tenant.to_ascii_lowercase(),
            sorted.join(" ")
        ))
    }
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    /// When to fetch a replacement although the token is still valid.
    refresh_on: i64,
}

impl Cached {
    fn usable(&self, now: i64) -> bool {
        now < self.token.expires_on - EXPIRY_MARGIN_SECONDS
    }

    fn fresh(&self, now: i64) -> bool {
        self.usable(now) && now < self.refresh_on
    }
}

/// One in-progress token request that other threads wait for.
struct Flight {
    outcome: Mutex<Option<Result<AccessToken>>>,
    done: Condvar,
}

impl Flight {
    fn wait(&self) -> Result<AccessToken> {
        let mut outcome = self.outcome.lock();
        while outcome.is_none() {
            self.done.wait(&mut outcome);
        }
        outcome.clone().expect("checked above")
    }

    fn finish(&self, result: Result<AccessToken>) {
        *self.outcome.lock() = Some(result);
        self.done.notify_all();
    }
}

#[derive(Default)]
pub struct TokenCache {
    tokens: RwLock<HashMap<CacheKey, Cached>>,
    flights: Mutex<HashMap<CacheKey, Arc<Flight>>>,
}

/// What the caller wants from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A fresh cached token if there is one.
    UseCache,
    /// Always fetch (ForceRefresh, claims); the result still replaces the cached token.
    Bypass,
}

impl TokenCache {
    /// Returns a cached token or runs `fetch` once for all threads missing the same key.
    /// When a proactive refresh fails while the old token is still usable, the old token is used.
    pub fn get_or_fetch(
        &self,
        key: &CacheKey,
        lookup: Lookup,
        fetch: impl FnOnce() -> Result<(AccessToken, Option<i64>)>,
    ) -> Result<AccessToken> {
        if lookup == Lookup::UseCache
            && let Some(cached) = self.tokens.read().get(key)
            && cached.fresh(unix_now())
        {
            return Ok(cached.token.clone());
        }
        let (flight, leader) = {
            let mut flights = self.flights.lock();
            // A token may have arrived while we waited for the lock.
            if lookup == Lookup::UseCache
                && let Some(cached) = self.tokens.read().get(key)
                && cached.fresh(unix_now())
            {
                return Ok(cached.token.clone());
            }
            match flights.get(key) {
                Some(flight) if lookup == Lookup::UseCache => (flight.clone(), false),
                _ => {
                    let flight = Arc::new(Flight {
                        outcome: Mutex::new(None),
                        done: Condvar::new(),
                    });
                    flights.insert(key.clone(), flight.clone());
                    (flight, true)
                }
            }
        };
        if !leader {
            return flight.wait();
        }
        let result = fetch().map(|(token, refresh_on)| {
            self.store(key, &token, refresh_on);
            token
        });
        let result = match result {
            Err(error) => match self.tokens.read().get(key) {
                Some(old) if lookup == Lookup::UseCache && old.usable(unix_now()) => {
                    crate::log::warn(|| {
                        format!(
                            "token refresh failed, using the cached token until it expires: {error}"
                        )
                    });
                    Ok(old.token.clone())
                }
                _ => Err(error),
            },
            ok => ok,
        };
        {
            let mut flights = self.flights.lock();
            if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(key);
            }
        }
        flight.finish(result.clone());
        result
    }

    fn store(&self, key: &CacheKey, token: &AccessToken, refresh_on: Option<i64>) {
        let refresh_on = refresh_on.unwrap_or(token.expires_on);
        self.tokens.write().insert(
            key.clone(),
            Cached {
                token: token.clone(),
                refresh_on,
            },
        );
    }
}

/// When to refresh a token obtained at `now`: at `refresh_in` when the server sent it, else at
/// half-life for tokens living two hours or more, else only when it expires.
pub fn refresh_on(now: i64, expires_in: i64, refresh_in: Option<i64>) -> Option<i64> {
    match refresh_in {
        Some(seconds) if seconds > 0 => Some(now + seconds),
        _ if expires_in >= 7200 => Some(now + expires_in / 2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn token(name: &str, lifetime: i64) -> AccessToken {
        AccessToken {
            token: name.to_string(),
            expires_on: unix_now() + lifetime,
        }
    }

    #[test]
    fn keys_ignore_scope_order_and_case() {
        let a = CacheKey::new("https://A/", "c", "t", &["x".into(), "Y".into()], "Bearer");
        let b = CacheKey::new("https://a/", "c", "t", &["y".into(), "x".into()], "Bearer");
        assert_eq!(a, b);
    }

    #[test]
    fn hits_do_not_fetch_and_short_tokens_are_refetched() {
        let cache = TokenCache::default();
        let key = CacheKey::new("a", "c", "t", &["s".into()], "Bearer");
        let fetches = AtomicUsize::new(0);
        let fetch = |lifetime| {
            fetches.fetch_add(1, Ordering::SeqCst);
            Ok((token("t", lifetime), None))
        };
        cache
            .get_or_fetch(&key, Lookup::UseCache, || fetch(3600))
            .unwrap();
        cache
            .get_or_fetch(&key, Lookup::UseCache, || fetch(3600))
            .unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        cache
            .get_or_fetch(&key, Lookup::Bypass, || fetch(200))
            .unwrap();
        // 200 s left is inside the five-minute margin: not handed out again.
        cache
            .get_or_fetch(&key, Lookup::UseCache, || fetch(3600))
            .unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn refresh_schedule() {
        assert_eq!(refresh_on(100, 3600, Some(60)), Some(160));
        assert_eq!(refresh_on(100, 7200, None), Some(3700));
        assert_eq!(refresh_on(100, 3599, None), None);
    }
}
