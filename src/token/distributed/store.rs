//! Redis through the `redis` crate's synchronous client: one connection, made on first use and
//! remade after a failure, each operation bounded by `OperationTimeoutMilliseconds` (connecting
//! too, except a DNS lookup), behind the circuit breaker. Operations answer `None` when Redis was
//! skipped or failed: the caller goes on without the cache.
//!
//! Only failures to reach Redis (I/O, timeouts, a dropped connection, a refused login) count as
//! an outage. A command Redis refuses while answering (out of memory, not permitted) keeps the
//! connection and is logged once.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use redis::{Client, Connection, RedisResult};

use super::breaker::{Breaker, Permit};
use crate::config::{DistributedCacheOptions, redact_redis_url};
use crate::encoding::percent_decode;
use crate::error::{Error, ErrorKind, Result};

pub struct RedisStore {
    client: Client,
    /// The URL as messages show it (no password).
    shown: String,
    /// The URL's password as written and percent-decoded, scrubbed from the Redis client's
    /// messages.
    passwords: Vec<String>,
    timeout: std::time::Duration,
    connection: Mutex<Option<Connection>>,
    pub breaker: Breaker,
    refusal_logged: AtomicBool,
}

/// What taking the fleet-wide lock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Taken,
    HeldByAnother,
}

/// Whether an operation goes through the breaker or must be tried whatever it says (releasing a
/// lock we hold, storing the token the fleet waits for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    IfAllowed,
    Always,
}

/// Deletes the lock only when it is still ours (it may have expired and been taken since).
const UNLOCK_SCRIPT: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

impl RedisStore {
    /// A store for `options`; `ca_bundle` (PEM) replaces the OS trust store for `rediss://`, as
    /// `Http.CaBundlePath` does for HTTPS. Nothing is connected yet.
    pub fn new(
        options: &DistributedCacheOptions,
        ca_bundle: Option<Vec<u8>>,
    ) -> Result<RedisStore> {
        let shown = redact_redis_url(&options.redis_url);
        let passwords = passwords_of(&options.redis_url);
        let invalid = |e: redis::RedisError| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "TokenCache.Distributed.Redis: {shown} is not a usable Redis URL ({})",
                    scrub(&e.to_string(), &passwords)
                ),
            )
        };
        let tls = options
            .redis_url
            .to_ascii_lowercase()
            .starts_with("rediss://");
        let client = match ca_bundle {
            Some(pem) if tls => Client::build_with_tls(
                options.redis_url.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            ),
            _ => Client::open(options.redis_url.as_str()),
        }
        .map_err(invalid)?;
        Ok(RedisStore {
            client,
            shown,
            passwords,
            timeout: options.operation_timeout,
            connection: Mutex::new(None),
            breaker: Breaker::default(),
            refusal_logged: AtomicBool::new(false),
        })
    }

    /// Runs `operation` on the connection (made first if needed); `None` when skipped or failed.
    fn run<T>(
        &self,
        attempt: Attempt,
        what: &str,
        operation: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Option<T> {
        let permit = match (attempt, self.breaker.permit()) {
            (Attempt::IfAllowed, Permit::Skip) => return None,
            (_, permit) => permit,
        };
        let mut slot = self.connection.lock();
        // Redis failed while this operation waited for the connection: skip it, rather than pay
        // the timeout once more for every waiting thread.
        if attempt == Attempt::IfAllowed && permit == Permit::Go && self.breaker.in_outage() {
            return None;
        }
        if slot.is_none() {
            match self.connect() {
                Ok(connection) => *slot = Some(connection),
                Err(error) => {
                    drop(slot);
                    self.outage(what, &error);
                    return None;
                }
            }
        }
        let connection = slot.as_mut()?;
        match operation(connection) {
            Ok(value) => {
                drop(slot);
                self.breaker.succeeded();
                Some(value)
            }
            Err(error) if is_unreachable(&error) => {
                // A connection that failed once may be half-read: make a new one next time.
                *slot = None;
                drop(slot);
                self.outage(what, &error);
                None
            }
            Err(error) => {
                drop(slot);
                // Redis answered: the connection is fine, the command was refused.
                self.breaker.succeeded();
                if !self.refusal_logged.swap(true, Ordering::Relaxed) {
                    let message = scrub(&error.to_string(), &self.passwords);
                    crate::log::warn(|| {
                        format!(
                            "Redis at {} refused to {what}: {message}; calls go on without it",
                            self.shown
                        )
                    });
                }
                None
            }
        }
    }

    fn connect(&self) -> RedisResult<Connection> {
        let connection = self.client.get_connection_with_timeout(self.timeout)?;
        connection.set_read_timeout(Some(self.timeout))?;
        connection.set_write_timeout(Some(self.timeout))?;
        Ok(connection)
    }

    fn outage(&self, what: &str, error: &redis::RedisError) {
        let message = scrub(&error.to_string(), &self.passwords);
        self.breaker
            .failed(|| format!("Redis at {} failed to {what}: {message}", self.shown));
    }

    pub fn get(&self, key: &str) -> Option<Option<Vec<u8>>> {
        self.run(Attempt::IfAllowed, "read a token", |c| {
            redis::cmd("GET").arg(key).query(c)
        })
    }

    /// Stores `value` for `milliseconds`; `always`: even while the breaker skips Redis (the
    /// token other processes wait for).
    pub fn set(&self, key: &str, value: &str, milliseconds: u64, always: bool) -> bool {
        let attempt = if always {
            Attempt::Always
        } else {
            Attempt::IfAllowed
        };
        self.run(attempt, "store a token", |c| {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(milliseconds)
                .exec(c)
        })
        .is_some()
    }

    /// `SET key owner NX PX milliseconds`.
    pub fn lock(&self, key: &str, owner: &str, milliseconds: u64) -> Option<Lock> {
        let taken: Option<Option<String>> =
            self.run(Attempt::IfAllowed, "take the fetch lock", |c| {
                redis::cmd("SET")
                    .arg(key)
                    .arg(owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(milliseconds)
                    .query(c)
            });
        taken.map(|answer| match answer {
            Some(_) => Lock::Taken,
            None => Lock::HeldByAnother,
        })
    }

    /// Releases our lock, whatever the breaker says: the fleet waits on it.
    pub fn unlock(&self, key: &str, owner: &str) {
        let _: Option<i64> = self.run(Attempt::Always, "release the fetch lock", |c| {
            redis::cmd("EVAL")
                .arg(UNLOCK_SCRIPT)
                .arg(1)
                .arg(key)
                .arg(owner)
                .query(c)
        });
    }
}

/// Redis could not be reached or did not answer, as opposed to answering with an error.
fn is_unreachable(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
}

/// The password of `redis://user:password@host` (user information ends at the last `@`: a
/// password may hold `/`), as written and percent-decoded.
fn passwords_of(url: &str) -> Vec<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let Some(at) = rest.rfind('@') else {
        return Vec::new();
    };
    let user_info = &rest[..at];
    let password = user_info.split_once(':').map_or(user_info, |(_, p)| p);
    if password.is_empty() {
        return Vec::new();
    }
    let decoded = percent_decode(password);
    let mut passwords = vec![password.to_string()];
    if decoded != password && !decoded.is_empty() {
        passwords.push(decoded);
    }
    passwords
}

/// `message` with every occurrence of the passwords replaced.
fn scrub(message: &str, passwords: &[String]) -> String {
    passwords
        .iter()
        .fold(message.to_string(), |text, password| {
            text.replace(password.as_str(), "***")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_and_scrubbed() {
        assert_eq!(passwords_of("redis://:s3cret@h:1/0"), ["s3cret"]);
        assert_eq!(passwords_of("redis://user:p@ss@h"), ["p@ss"]);
        assert_eq!(passwords_of("redis://:ab/cd@h:6380"), ["ab/cd"]);
        assert_eq!(passwords_of("redis://:a%2Fb@h"), ["a%2Fb", "a/b"]);
        assert!(passwords_of("redis://h:1/0").is_empty());
        let passwords = passwords_of("redis://:a%2Fb@h");
        assert_eq!(
            scrub("auth a/b and a%2Fb failed", &passwords),
            "auth *** and *** failed"
        );
    }
}
