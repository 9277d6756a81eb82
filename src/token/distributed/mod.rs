//! The fleet-wide token cache (`TokenCache.Distributed`): Redis as a second level behind the
//! in-process cache. On a miss in the process, a token is looked up in Redis; on a miss there,
//! one process of the fleet takes a short lock (`SET NX PX`) and asks the token endpoint while the
//! others wait for its token to appear, so a fleet starting at once makes one token request; when
//! that request fails, the waiters fail with it at once ([`records`]).
//!
//! The cache never makes a call fail: Redis down, slow, full or refusing our password means the
//! token comes from the token endpoint as it would without Redis ([`breaker`] keeps that cheap);
//! every Redis step is bounded as a whole by what is left of the call ([`connection`]) and runs on
//! one of a few pooled connections ([`pool`]); a lock holder that dies frees the lock when it
//! expires; a waiter never waits more than half its call's time left. Values are sealed
//! ([`seal`]); keys are hashes of what identifies a token and whom it is for.

mod breaker;
mod connection;
mod pool;
mod records;
mod seal;
mod store;
mod turns;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::access_token::AccessToken;
use super::key::{CacheKey, Lookup, Sharing};
use crate::clock::Deadline;
use crate::config::DistributedCacheOptions;
use crate::error::{Error, Result};
use crate::metrics::{CacheLookup, cache_lookup};
use crate::remedy::Remedy;
use crate::retry::{Driver, Step};
use seal::SealingKey;
use store::{Budget, Lock, RedisStore};
pub use turns::FleetTurns;

/// A token and when to refresh it, as the in-process cache keeps it.
type Entry = (AccessToken, Option<i64>);

pub struct DistributedCache {
    store: RedisStore,
    key: SealingKey,
    prefix: String,
    lock_timeout: Duration,
    /// A value that does not open is logged once, not at every miss it causes.
    unreadable_logged: AtomicBool,
    /// Likewise a token shared under our identity's name whose claims name another.
    foreign_logged: AtomicBool,
}

/// The Redis keys of one token: the token, the fleet's lock on fetching it, and the failure of
/// the last fetch.
struct FleetKeys {
    token: String,
    lock: String,
    failure: String,
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
            foreign_logged: AtomicBool::new(false),
        })
    }

    /// The Redis key of a token: the prefix and a SHA-256 of its cache key (authority, client,
    /// tenant, scopes, token type, bound certificate) and of whom it is shared for, so that
    /// nothing of it shows in Redis.
    fn redis_key(&self, key: &CacheKey, kind: &str) -> String {
        let owner = match key.sharing() {
            Sharing::Owner { value, .. } => value.as_str(),
            _ => "",
        };
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(key.as_str().as_bytes());
        context.update(b"|owner=");
        context.update(owner.as_bytes());
        let hex: String = context
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}{kind}:{hex}", self.prefix)
    }

    /// How long one Redis step may take: `OperationTimeoutMilliseconds`, and never more than a
    /// quarter of the call's time left (the rest is the token endpoint's). `always`: even while
    /// the breaker skips Redis (releasing our lock, storing the token the fleet waits for).
    fn budget(&self, deadline: Deadline, always: bool) -> Budget {
        let step = self.store.timeout.min(deadline.remaining() / 4);
        Budget {
            until: Instant::now() + step,
            always,
        }
    }

    /// The token for `key`: from Redis, else from `fetch` under the fleet's lock (or waiting for
    /// the process that holds it), else from `fetch` alone when Redis cannot be used or the
    /// token may not be shared.
    pub fn fetch_through(
        &self,
        key: &CacheKey,
        lookup: Lookup,
        deadline: Deadline,
        fetch: impl FnOnce() -> Result<Entry>,
    ) -> Result<Entry> {
        if *key.sharing() == Sharing::No {
            return fetch();
        }
        let keys = FleetKeys {
            token: self.redis_key(key, "token"),
            lock: self.redis_key(key, "lock"),
            failure: self.redis_key(key, "failure"),
        };
        let fetch_and_store = |fetch: Box<dyn FnOnce() -> Result<Entry> + '_>| {
            let entry = fetch()?;
            self.write(&keys.token, &entry, self.budget(deadline, false));
            Ok(entry)
        };
        // ForceRefresh and claims want a new token: another process's would not do.
        if lookup == Lookup::Bypass {
            return fetch_and_store(Box::new(fetch));
        }
        let owner = random_owner();
        let started = Instant::now();
        let fleet = self.wait_for_the_fleet(&keys, key, &owner, deadline);
        cache_lookup(match fleet {
            Fleet::Stored(_) => CacheLookup::DistributedHit,
            Fleet::Unavailable => CacheLookup::DistributedUnavailable,
            // The lock holder's own read, just after taking it, may still find the token; it is
            // counted as the miss that sent this process to take the lock.
            Fleet::LockTaken | Fleet::Failed(_) | Fleet::GaveUp => CacheLookup::DistributedMiss,
        });
        match fleet {
            Fleet::Stored(entry) => Ok(entry),
            Fleet::Failed(error) => Err(error),
            Fleet::LockTaken => self.fetch_for_the_fleet(&keys, (key, &owner), deadline, fetch),
            Fleet::GaveUp => {
                crate::log::info(|| {
                    format!(
                        "waited {:.1} s for another process's token request (half the call's \
                         time left); requesting the token without it",
                        started.elapsed().as_secs_f32()
                    )
                });
                fetch_and_store(Box::new(fetch))
            }
            Fleet::Unavailable => fetch_and_store(Box::new(fetch)),
        }
    }

    /// Holding the fleet's lock: the token fetched and stored for the others, or its failure
    /// published for them; the lock released however this ends, a panic included.
    fn fetch_for_the_fleet(
        &self,
        keys: &FleetKeys,
        (key, owner): (&CacheKey, &str),
        deadline: Deadline,
        fetch: impl FnOnce() -> Result<Entry>,
    ) -> Result<Entry> {
        let _held = HeldLock {
            store: &self.store,
            key: &keys.lock,
            owner,
            timeout: self.store.timeout,
        };
        // The holder may have stored its token between our read and our lock.
        if let Some(entry) = self.read(&keys.token, key, self.budget(deadline, false)) {
            return Ok(entry);
        }
        match fetch() {
            Ok(entry) => {
                self.write(&keys.token, &entry, self.budget(deadline, true));
                Ok(entry)
            }
            Err(error) => {
                self.publish_failure(&keys.failure, &error, self.budget(deadline, true));
                Err(error)
            }
        }
    }

    /// The fleet's token from Redis, another process's failure to get it, or this process's turn
    /// to fetch it. While another process holds the lock, [`Remedy::FleetLockWait`] polls: the
    /// lock expires after `LockMilliseconds` when its holder died, and the next waiter takes it.
    /// Never more than half of the call's time left is spent waiting.
    fn wait_for_the_fleet(
        &self,
        keys: &FleetKeys,
        key: &CacheKey,
        owner: &str,
        deadline: Deadline,
    ) -> Fleet {
        let lock_millis = self.lock_timeout.as_millis() as u64;
        let started = Instant::now();
        let outcome = Driver::new(deadline.halfway()).run(|granted| {
            if let Some(entry) = self.read(&keys.token, key, self.budget(deadline, false)) {
                crate::log::debug(|| {
                    let after = match granted {
                        Some(_) => ", after waiting for another process's request",
                        None => "",
                    };
                    format!("token from the shared cache (Redis{after})")
                });
                return Ok(Step::Done(Fleet::Stored(entry)));
            }
            let budget = self.budget(deadline, false);
            if granted.is_some()
                && let Some(error) = self.read_failure(&keys.failure, started, budget)
            {
                return Ok(Step::Done(Fleet::Failed(error)));
            }
            Ok(
                match self.store.lock(&keys.lock, owner, lock_millis, budget) {
                    Some(Lock::Taken) => Step::Done(Fleet::LockTaken),
                    Some(Lock::HeldByAnother) => Step::retry(
                        Remedy::FleetLockWait,
                        "another process is requesting this token".to_string(),
                        Ok(Fleet::GaveUp),
                    ),
                    None => Step::Done(Fleet::Unavailable),
                },
            )
        });
        outcome.unwrap_or(Fleet::Unavailable)
    }

    /// Deletes the token the fleet shares for `key` (an API refused it).
    pub fn forget(&self, key: &CacheKey) {
        if *key.sharing() == Sharing::No {
            return;
        }
        let budget = Budget {
            until: Instant::now() + self.store.timeout,
            always: false,
        };
        self.store.delete(&self.redis_key(key, "token"), budget);
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
    /// The process holding the lock failed to get the token.
    Failed(Error),
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
    timeout: Duration,
}

impl Drop for HeldLock<'_> {
    fn drop(&mut self) {
        // Released whatever the breaker says and however little of the call is left: the fleet
        // waits on it.
        let budget = Budget {
            until: Instant::now() + self.timeout,
            always: true,
        };
        self.store.unlock(self.key, self.owner, budget);
    }
}

/// Identifies this lock holder, so that it never releases a lock another has taken since.
fn random_owner() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
