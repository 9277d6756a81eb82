//! What the fleet keeps in Redis, sealed: tokens (opened only for the identity they were shared
//! under), and for a moment after a lock holder's request failed, that failure, so that the
//! processes waiting on it fail at once instead of taking the lock in turn.

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{Value, json};

use super::super::access_token::{AccessToken, EXPIRY_MARGIN_SECONDS};
use super::super::claims;
use super::super::key::{CacheKey, Sharing};
use super::store::Budget;
use super::{DistributedCache, Entry};
use crate::clock::unix_now;
use crate::error::{Error, ErrorKind};

/// Unix milliseconds, for the time a failure was seen.
fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl DistributedCache {
    /// Opens the sealed value at `redis_key`, logging once when one does not open.
    fn open(&self, redis_key: &str, budget: Budget) -> Option<Value> {
        let value = self.store.get(redis_key, budget)??;
        match self.key.open(redis_key, &value) {
            Ok(plain) => serde_json::from_slice(&plain).ok(),
            Err(why) => {
                if !self.unreadable_logged.swap(true, Ordering::Relaxed) {
                    crate::log::warn(|| {
                        format!("a value in Redis could not be read ({why}); not using it")
                    });
                }
                None
            }
        }
    }

    /// A token the fleet stored for `key`, still usable and not due for refresh, and (for a
    /// managed identity) naming the identity asking.
    pub(super) fn read(&self, redis_key: &str, key: &CacheKey, budget: Budget) -> Option<Entry> {
        let json = self.open(redis_key, budget)?;
        let token = AccessToken {
            token: json.get("token")?.as_str()?.to_string(),
            expires_on: json.get("expires_on")?.as_i64()?,
        };
        if let Sharing::Owner { claims, value } = key.sharing()
            && !claims::names(&token.token, claims, value)
        {
            if !self.foreign_logged.swap(true, Ordering::Relaxed) {
                crate::log::warn(|| {
                    "a token in Redis is not for the identity asking (its claims name another); \
                     not using it"
                        .to_string()
                });
            }
            return None;
        }
        let refresh_on = json.get("refresh_on").and_then(Value::as_i64);
        let now = unix_now();
        let fresh =
            token.expires_on - EXPIRY_MARGIN_SECONDS > now && refresh_on.is_none_or(|at| now < at);
        fresh.then_some((token, refresh_on))
    }

    /// Stores a token until its usable lifetime ends (the early-expiry margin counted).
    pub(super) fn write(&self, redis_key: &str, (token, refresh_on): &Entry, budget: Budget) {
        let usable = token.expires_on - EXPIRY_MARGIN_SECONDS - unix_now();
        // Sealing costs more than the rest of a skipped write: not while Redis is skipped.
        if usable <= 0 || (!budget.always && self.store.breaker.in_outage()) {
            return;
        }
        let plain = json!({
            "token": token.token,
            "expires_on": token.expires_on,
            "refresh_on": refresh_on,
        })
        .to_string();
        if let Ok(sealed) = self.key.seal(redis_key, plain.as_bytes()) {
            self.store
                .set(redis_key, &sealed, usable as u64 * 1000, budget);
        }
    }

    /// Tells the processes waiting on our lock that the request failed, for as long as the lock
    /// would have lived. Failures of this host alone (its credential, its configuration) are
    /// not shared: another host's request may well succeed.
    pub(super) fn publish_failure(&self, failure_key: &str, error: &Error, budget: Budget) {
        if !fleet_wide(error) {
            return;
        }
        let plain = json!({
            "kind": format!("{:?}", error.kind()),
            "status": error.http_status(),
            "message": error.message(),
            "at": unix_millis(),
        })
        .to_string();
        if let Ok(sealed) = self.key.seal(failure_key, plain.as_bytes()) {
            let milliseconds = self.lock_timeout.as_millis() as u64;
            self.store.set(failure_key, &sealed, milliseconds, budget);
        }
    }

    /// A failure another process published since `since`, as the error this call fails with.
    pub(super) fn read_failure(
        &self,
        failure_key: &str,
        since: Instant,
        budget: Budget,
    ) -> Option<Error> {
        let json = self.open(failure_key, budget)?;
        let waited_ms = since.elapsed().as_millis() as u64;
        let at = json.get("at")?.as_u64()?;
        if at + waited_ms < unix_millis() {
            return None;
        }
        let kind = kind_named(json.get("kind")?.as_str()?);
        let message = json.get("message")?.as_str()?;
        let mut error = Error::new(kind, message)
            .context("another process's request for this token failed just now");
        if let Some(status) = json.get("status").and_then(Value::as_u64) {
            error = error.with_http_status(status as u16);
        }
        Some(error)
    }
}

/// Failures other hosts would meet too: the token endpoint's own verdict (an answer with an HTTP
/// status), not a wait this call declined (its remedy unspent: `Retry-After` past its deadline,
/// a proactive refresh that does not wait), nor this call's own time running out or its network.
fn fleet_wide(error: &Error) -> bool {
    error.kind() == ErrorKind::TokenAcquisition
        && error.http_status().is_some()
        && error.remedy().is_none()
}

fn kind_named(name: &str) -> ErrorKind {
    [ErrorKind::Network, ErrorKind::Timeout, ErrorKind::Protocol]
        .into_iter()
        .find(|kind| format!("{kind:?}") == name)
        .unwrap_or(ErrorKind::TokenAcquisition)
}
