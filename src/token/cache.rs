//! The app-token cache: tokens count as expired 5 minutes early, are refreshed proactively at
//! `refresh_in` (or half-life for tokens living 2 hours or more), and concurrent misses for one key
//! make a single request (single flight) while other keys proceed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Condvar, Mutex, RwLock};

use super::access_token::{AccessToken, EXPIRY_MARGIN_SECONDS};
use super::distributed::DistributedCache;
use super::key::{CacheKey, Lookup};
use crate::clock::{Deadline, unix_now};
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::{CacheLookup, cache_lookup};

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    /// When to fetch a replacement although the token is still valid.
    refresh_on: i64,
    /// A user token's last use (the cache's clock), for evicting the least recently used.
    last_used: Arc<AtomicU64>,
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
    /// The flight's outcome, waiting for it no later than this caller's own `deadline` (the
    /// leader's call may have a longer timeout than this one's).
    fn wait(&self, deadline: Deadline) -> Result<AccessToken> {
        let mut outcome = self.outcome.lock();
        loop {
            if let Some(result) = outcome.as_ref() {
                return result.clone();
            }
            let left = deadline.remaining();
            if left.is_zero() {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "the call's timeout elapsed while another thread was requesting this token",
                ));
            }
            self.done.wait_for(&mut outcome, left);
        }
    }
}

/// The leader's duty to end its flight: normally by [`FlightGuard::finish`], and if the fetch
/// unwinds, by `Drop`, so that waiters and later callers are never stuck on a dead flight.
struct FlightGuard<'a> {
    cache: &'a TokenCache,
    key: &'a CacheKey,
    flight: Arc<Flight>,
    finished: bool,
}

impl FlightGuard<'_> {
    fn finish(mut self, result: Result<AccessToken>) {
        self.end(result);
        self.finished = true;
    }

    fn end(&self, result: Result<AccessToken>) {
        {
            let mut flights = self.cache.flights.lock();
            if flights
                .get(self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                flights.remove(self.key);
            }
        }
        *self.flight.outcome.lock() = Some(result);
        self.flight.done.notify_all();
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.end(Err(Error::new(
                ErrorKind::TokenAcquisition,
                "the token request was interrupted by an internal error",
            )));
        }
    }
}

#[derive(Default)]
pub struct TokenCache {
    /// `TokenCache.MaxUserTokens`: user tokens kept at most (0: the default).
    max_user_tokens: usize,
    /// User tokens in `tokens` now.
    user_tokens: AtomicUsize,
    /// Ticks at each use of a user token.
    clock: AtomicU64,
    tokens: RwLock<HashMap<CacheKey, Cached>>,
    flights: Mutex<HashMap<CacheKey, Arc<Flight>>>,
    /// `TokenCache.Distributed`: consulted (and filled) on every miss here.
    distributed: Option<DistributedCache>,
}

/// Why a fetch runs, so that it can decide how long it may wait (on `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// No usable token exists: the caller needs this fetch.
    Needed,
    /// A proactive refresh: a usable token exists and is returned if the fetch fails.
    Proactive,
}

/// User tokens kept in the process by default (`TokenCache.MaxUserTokens`).
pub const DEFAULT_MAX_USER_TOKENS: usize = 10_000;

/// After a failed proactive refresh, the next attempt waits this long.
const REFRESH_BACKOFF_SECONDS: i64 = 30;

impl TokenCache {
    /// A cache backed by the fleet-wide one when there is one.
    pub fn new(distributed: Option<DistributedCache>, max_user_tokens: usize) -> TokenCache {
        TokenCache {
            distributed,
            max_user_tokens,
            ..TokenCache::default()
        }
    }

    /// Marks a user token used now.
    fn touch(&self, key: &CacheKey, cached: &Cached) {
        if key.is_per_user() {
            let now = self.clock.fetch_add(1, Ordering::Relaxed);
            cached.last_used.store(now, Ordering::Relaxed);
        }
    }

    /// Whether the fleet-wide cache is being skipped after a Redis failure.
    pub fn is_skipping_redis(&self) -> bool {
        self.distributed
            .as_ref()
            .is_some_and(DistributedCache::is_skipping_redis)
    }

    /// Drops every token bound to the certificate with this SHA-256 thumbprint (after a rotation
    /// replaced it: they are of no use on a connection presenting the new one).
    pub fn forget_bound_to(&self, thumbprint_sha256: &str) {
        self.tokens
            .write()
            .retain(|key, _| !key.bound_to(thumbprint_sha256));
    }

    /// Drops the token cached for `key` if it is still `refused` (an API answered 401 to it), here
    /// and in the fleet-wide cache, so that the next call asks for a new one.
    pub fn forget_refused(&self, key: &CacheKey, refused: &str) {
        let mut tokens = self.tokens.write();
        if tokens.get(key).is_some_and(|c| c.token.token == refused) {
            tokens.remove(key);
            drop(tokens);
            if let Some(distributed) = &self.distributed {
                distributed.forget(key);
            }
        }
    }

    /// `with(token)` for the token cached for `key` when it is fresh now (usable and not due for
    /// refresh), under the read lock and without a copy: the hit path of a prepared API.
    pub fn fresh_with<R>(&self, key: &CacheKey, with: impl FnOnce(&AccessToken) -> R) -> Option<R> {
        let now = unix_now();
        let tokens = self.tokens.read();
        let cached = tokens.get(key).filter(|c| c.fresh(now))?;
        self.touch(key, cached);
        // A miss here is counted by the full path the caller takes next.
        cache_lookup(CacheLookup::MemoryHit);
        Some(with(&cached.token))
    }

    /// Returns a cached token or runs `fetch` once for all threads missing the same key (with
    /// the fleet-wide cache, once for the fleet: see [`DistributedCache::fetch_through`]). During
    /// a proactive refresh, other callers keep using the still-valid token instead of waiting, and
    /// when the refresh fails the old token is used and the next attempt is delayed. `deadline`
    /// bounds waiting for another process's request.
    pub fn get_or_fetch(
        &self,
        key: &CacheKey,
        lookup: Lookup,
        deadline: Deadline,
        fetch: impl FnOnce(Urgency) -> Result<(AccessToken, Option<i64>)>,
    ) -> Result<AccessToken> {
        let usable = |now| match lookup {
            Lookup::UseCache => self
                .tokens
                .read()
                .get(key)
                .filter(|c| c.usable(now))
                .cloned(),
            Lookup::Bypass => None,
        };
        let now = unix_now();
        // The hit: one read lock, one copy of the token.
        if lookup == Lookup::UseCache
            && let Some(cached) = self.tokens.read().get(key).filter(|c| c.fresh(now))
        {
            self.touch(key, cached);
            cache_lookup(CacheLookup::MemoryHit);
            return Ok(cached.token.clone());
        }
        let fallback = usable(now);
        let flight = {
            let mut flights = self.flights.lock();
            // A token may have arrived while we waited for the lock.
            let fallback = usable(unix_now());
            if let Some(cached) = fallback.as_ref().filter(|c| c.fresh(unix_now())) {
                cache_lookup(CacheLookup::MemoryHit);
                return Ok(cached.token.clone());
            }
            if lookup == Lookup::UseCache {
                // Served while another thread refreshes it: a hit, as no one waits.
                let found = flights.contains_key(key) && fallback.is_some();
                cache_lookup(match found {
                    true => CacheLookup::MemoryHit,
                    false => CacheLookup::MemoryMiss,
                });
            }
            match (flights.get(key), lookup, &fallback) {
                (Some(_), Lookup::UseCache, Some(cached)) => return Ok(cached.token.clone()),
                (Some(flight), Lookup::UseCache, None) => Err(flight.clone()),
                _ => {
                    let flight = Arc::new(Flight {
                        outcome: Mutex::new(None),
                        done: Condvar::new(),
                    });
                    flights.insert(key.clone(), flight.clone());
                    Ok(flight)
                }
            }
        };
        let flight = match flight {
            Err(someone_elses) => return someone_elses.wait(deadline),
            Ok(ours) => ours,
        };
        let guard = FlightGuard {
            cache: self,
            key,
            flight,
            finished: false,
        };
        let urgency = if fallback.is_some() {
            Urgency::Proactive
        } else {
            Urgency::Needed
        };
        let fetched = match &self.distributed {
            Some(distributed) => {
                distributed.fetch_through(key, lookup, deadline, || fetch(urgency))
            }
            None => fetch(urgency),
        };
        let result = match fetched {
            Ok((token, refresh_on)) => {
                self.store(key, &token, refresh_on);
                Ok(token)
            }
            Err(error) => match fallback {
                Some(old) => Ok(self.keep_after_failed_refresh(key, old, &error)),
                None => Err(error),
            },
        };
        guard.finish(result.clone());
        result
    }

    /// A proactive refresh failed: the valid token goes on being used, and the next attempt
    /// waits [`REFRESH_BACKOFF_SECONDS`].
    fn keep_after_failed_refresh(&self, key: &CacheKey, old: Cached, error: &Error) -> AccessToken {
        if let Some(cached) = self.tokens.write().get_mut(key)
            && cached.token == old.token
        {
            cached.refresh_on = unix_now() + REFRESH_BACKOFF_SECONDS;
        }
        crate::log::warn(|| {
            format!("token refresh failed, using the cached token until it expires: {error}")
        });
        old.token
    }

    fn store(&self, key: &CacheKey, token: &AccessToken, refresh_on: Option<i64>) {
        let refresh_on = refresh_on.unwrap_or(token.expires_on);
        let used = self.clock.fetch_add(1, Ordering::Relaxed);
        let cached = Cached {
            token: token.clone(),
            refresh_on,
            last_used: Arc::new(AtomicU64::new(used)),
        };
        let mut tokens = self.tokens.write();
        let added = tokens.insert(key.clone(), cached).is_none();
        if key.is_per_user() && added {
            let users = self.user_tokens.fetch_add(1, Ordering::Relaxed) + 1;
            if users > self.user_limit() {
                self.evict_least_recently_used(&mut tokens);
            }
        }
    }

    fn user_limit(&self) -> usize {
        match self.max_user_tokens {
            0 => DEFAULT_MAX_USER_TOKENS,
            limit => limit,
        }
    }

    /// Forgets the tenth of the user tokens least recently used (so that a busy web API evicts
    /// rarely, not at every new user).
    fn evict_least_recently_used(&self, tokens: &mut HashMap<CacheKey, Cached>) {
        let mut uses: Vec<u64> = tokens
            .iter()
            .filter(|(key, _)| key.is_per_user())
            .map(|(_, cached)| cached.last_used.load(Ordering::Relaxed))
            .collect();
        uses.sort_unstable();
        let cut = uses[uses.len() / 10];
        let before = tokens.len();
        tokens.retain(|key, cached| {
            !key.is_per_user() || cached.last_used.load(Ordering::Relaxed) > cut
        });
        let evicted = before - tokens.len();
        self.user_tokens.fetch_sub(evicted, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[path = "cache/tests.rs"]
mod tests;
