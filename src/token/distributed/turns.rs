//! Turns of a fleet at a shared, rate-limited source (a Key Vault's certificate): one instance
//! at a time may fetch, and the next only once `LockMilliseconds` have passed, so that N
//! instances renewing together reach the source spread over time rather than in the same
//! second. A turn is a `SET NX PX` key left to expire, never released early; it holds a random
//! owner string and nothing else (never a certificate or a key). Without Redis, or with Redis
//! failing, every instance may fetch: the fleet is then only spread by the checks' jitter.

use std::time::{Duration, Instant};

use super::random_owner;
use super::store::{Budget, Lock, RedisStore};
use crate::config::DistributedCacheOptions;
use crate::error::Result;

pub struct FleetTurns {
    store: RedisStore,
    prefix: String,
    spacing: Duration,
}

impl FleetTurns {
    /// Turns kept in the Redis of `options` (`ca_bundle` as for the token cache), spaced by its
    /// `LockMilliseconds`.
    pub fn new(options: &DistributedCacheOptions, ca_bundle: Option<Vec<u8>>) -> Result<Self> {
        Ok(FleetTurns {
            store: RedisStore::new(options, ca_bundle)?,
            prefix: options.key_prefix.clone(),
            spacing: options.lock_timeout,
        })
    }

    /// `None` when this instance may fetch `what` now (its turn is taken); else how long until
    /// the turn another instance took expires.
    pub fn take(&self, what: &str) -> Option<Duration> {
        let digest = ring::digest::digest(&ring::digest::SHA256, what.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("{}turn:{hex}", self.prefix);
        let budget = Budget {
            until: Instant::now() + self.store.timeout,
            always: false,
        };
        let millis = u64::try_from(self.spacing.as_millis()).unwrap_or(u64::MAX);
        match self.store.lock(&key, &random_owner(), millis, budget) {
            Some(Lock::HeldByAnother) => Some(self.spacing),
            Some(Lock::Taken) | None => None,
        }
    }
}
