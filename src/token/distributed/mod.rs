//! The fleet-wide token cache (`TokenCache.Distributed`): Redis as a second level behind the
//! in-process cache. On a miss in the process, a token is looked up in Redis; on a miss there,
//! one process of the fleet takes a short lock (`SET NX PX`) and asks the token endpoint while the
//! others wait for its token to appear, so a fleet starting at once makes one token request.
//!
//! The cache never makes a call fail: Redis down, slow, full or refusing our password means the
//! token comes from the token endpoint as it would without Redis ([`breaker`] keeps that cheap);
//! a lock holder that dies frees the lock when it expires; a waiter never waits more than half
//! its call's time left. Values are sealed ([`seal`]); keys are hashes of what identifies a token.

mod breaker;
mod seal;
mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::access_token::{AccessToken, EXPIRY_MARGIN_SECONDS};
use super::key::{CacheKey, Lookup};
use crate::clock::{Deadline, unix_now};
use crate::config::DistributedCacheOptions;
use crate::error::Result;
use crate::remedy::Remedy;
use crate::retry::{Driver, Step};
use seal::SealingKey;
use store::{Lock, RedisStore};

/// A token and when to refresh it, as the in-process cache keeps it.
type Entry = (AccessToken, Option<i64>);

pub struct DistributedCache {
    store: RedisStore,
    key: SealingKey,
    prefix: String,
    lock_timeout: Duration,
    /// A value that does not open is logged once, not at every miss it causes.
    unreadable_logged: AtomicBool,
}

impl DistributedCache {
    /// Reads the key file (a missing or malformed one is a configuration error: values are never
    /// stored in plaintext) and prepares the Redis client, without connecting.
    pub fn new(
        options: &DistributedCacheOptions,
        ca_bundle: Option<Vec<u8>>,
    ) -> Result<DistributedCache> {
        Ok(DistributedCache {
            key: SealingKey::from_file(
                &options.encryption_key_file,
                "TokenCache.Distributed.EncryptionKeyFile",
            )?,
            store: RedisStore::new(options, ca_bundle)?,
            prefix: options.key_prefix.clone(),
            lock_timeout: options.lock_timeout,
            unreadable_logged: AtomicBool::new(false),
        })
    }

    /// The Redis key of a token: the prefix and a SHA-256 of its cache key (authority, client,
    /// tenant, scopes, token type, bound certificate), so that nothing of it shows in Redis.
    fn redis_key(&self, key: &CacheKey, kind: &str) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, key.as_str().as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("{}{kind}:{hex}", self.prefix)
    }

    /// A token the fleet stored for `key` and that is still usable and not due for refresh.
    fn read(&self, redis_key: &str) -> Option<Entry> {
        let value = self.store.get(redis_key)??;
        let plain = match self.key.open(redis_key, &value) {
            Ok(plain) => plain,
            Err(why) => {
                if !self.unreadable_logged.swap(true, Ordering::Relaxed) {
                    crate::log::warn(|| {
                        format!("a token in Redis could not be read ({why}); fetching a new one")
                    });
                }
                return None;
            }
        };
        let json: Value = serde_json::from_slice(&plain).ok()?;
        let token = AccessToken {
            token: json.get("token")?.as_str()?.to_string(),
            expires_on: json.get("expires_on")?.as_i64()?,
        };
        let refresh_on = json.get("refresh_on").and_then(Value::as_i64);
        let now = unix_now();
        let fresh =
            token.expires_on - EXPIRY_MARGIN_SECONDS > now && refresh_on.is_none_or(|at| now < at);
        fresh.then_some((token, refresh_on))
    }

    /// Stores a token until its usable lifetime ends (the early-expiry margin counted).
    /// `for_the_fleet`: the lock holder's token, which other processes wait for, is stored even
    /// while the breaker would skip Redis.
    fn write(&self, redis_key: &str, (token, refresh_on): &Entry, for_the_fleet: bool) {
        let usable = token.expires_on - EXPIRY_MARGIN_SECONDS - unix_now();
        // Sealing costs more than the rest of a skipped write: not while Redis is skipped.
        if usable <= 0 || (!for_the_fleet && self.store.breaker.in_outage()) {
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
                .set(redis_key, &sealed, usable as u64 * 1000, for_the_fleet);
        }
    }

    /// The token for `key`: from Redis, else from `fetch` under the fleet's lock (or waiting for
    /// the process that holds it), else from `fetch` alone when Redis cannot be used.
    pub fn fetch_through(
        &self,
        key: &CacheKey,
        lookup: Lookup,
        deadline: Deadline,
        fetch: impl FnOnce() -> Result<Entry>,
    ) -> Result<Entry> {
        let redis_key = self.redis_key(key, "token");
        let fetch_and_store = |fetch: Box<dyn FnOnce() -> Result<Entry> + '_>, for_the_fleet| {
            let entry = fetch()?;
            self.write(&redis_key, &entry, for_the_fleet);
            Ok(entry)
        };
        // ForceRefresh and claims want a new token: another process's would not do.
        if lookup == Lookup::Bypass {
            return fetch_and_store(Box::new(fetch), false);
        }
        let lock_key = self.redis_key(key, "lock");
        let owner = random_owner();
        let started = Instant::now();
        match self.wait_for_the_fleet(&redis_key, &lock_key, &owner, deadline) {
            Fleet::Stored(entry) => Ok(entry),
            Fleet::LockTaken => {
                // Released however this ends, a panic included: the fleet waits on it.
                let _held = HeldLock {
                    store: &self.store,
                    key: &lock_key,
                    owner: &owner,
                };
                // The holder may have stored its token between our read and our lock.
                match self.read(&redis_key) {
                    Some(entry) => Ok(entry),
                    None => fetch_and_store(Box::new(fetch), true),
                }
            }
            Fleet::GaveUp => {
                crate::log::info(|| {
                    format!(
                        "waited {:.1} s for another process's token request (half the call's \
                         time left); requesting the token without it",
                        started.elapsed().as_secs_f32()
                    )
                });
                fetch_and_store(Box::new(fetch), false)
            }
            Fleet::Unavailable => fetch_and_store(Box::new(fetch), false),
        }
    }

    /// The fleet's token from Redis, or this process's turn to fetch it. While another process
    /// holds the lock, [`Remedy::FleetLockWait`] polls for its token: the lock expires after
    /// `LockMilliseconds` when its holder died, and the next waiter takes it. Never more than
    /// half of the call's time left is spent waiting.
    fn wait_for_the_fleet(
        &self,
        redis_key: &str,
        lock_key: &str,
        owner: &str,
        deadline: Deadline,
    ) -> Fleet {
        let lock_millis = self.lock_timeout.as_millis() as u64;
        let mut waited = false;
        let outcome = Driver::new(deadline.halfway()).run(|granted| {
            waited |= granted.is_some();
            if let Some(entry) = self.read(redis_key) {
                crate::log::debug(|| {
                    let after = if waited {
                        ", after waiting for another process's request"
                    } else {
                        ""
                    };
                    format!("token from the shared cache (Redis{after})")
                });
                return Ok(Step::Done(Fleet::Stored(entry)));
            }
            Ok(match self.store.lock(lock_key, owner, lock_millis) {
                Some(Lock::Taken) => Step::Done(Fleet::LockTaken),
                Some(Lock::HeldByAnother) => Step::retry(
                    Remedy::FleetLockWait,
                    "another process is requesting this token".to_string(),
                    Ok(Fleet::GaveUp),
                ),
                None => Step::Done(Fleet::Unavailable),
            })
        });
        outcome.unwrap_or(Fleet::Unavailable)
    }

    /// Whether Redis failed and has not answered since.
    pub fn is_skipping_redis(&self) -> bool {
        self.store.breaker.in_outage()
    }
}

/// Where waiting for the fleet ended.
enum Fleet {
    /// A process stored the token.
    Stored(Entry),
    /// This process holds the lock: it fetches the token for the fleet.
    LockTaken,
    /// Another process held the lock longer than this call may wait.
    GaveUp,
    /// Redis could not be used.
    Unavailable,
}

/// The fleet's lock while this process holds it.
struct HeldLock<'a> {
    store: &'a RedisStore,
    key: &'a str,
    owner: &'a str,
}

impl Drop for HeldLock<'_> {
    fn drop(&mut self) {
        self.store.unlock(self.key, self.owner);
    }
}

/// Identifies this lock holder, so that it never releases a lock another has taken since.
fn random_owner() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
