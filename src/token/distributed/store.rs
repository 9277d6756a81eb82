//! Redis through the `redis` crate's synchronous client: one connection, made on first use and
//! remade after a failure, each operation bounded by `OperationTimeoutMilliseconds` (connecting
//! too, except a DNS lookup), behind the circuit breaker. Operations answer `None` when Redis was
//! skipped or failed: the caller goes on without the cache.
//!
//! Only failures to reach Redis (I/O, timeouts, a dropped connection, a refused login) count as
//! an outage. A command Redis refuses while answering (out of memory, not permitted) keeps the
//! connection and is logged once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, IntoConnectionInfo, RedisResult};

use super::breaker::{Breaker, Permit};
use super::connection::{BoundedConnection, Target, tls_config};
use super::pool::{Pool, Taken};
use crate::config::{DistributedCacheOptions, redact_redis_url};
use crate::encoding::percent_decode;
use crate::error::{Error, ErrorKind, Result};

pub struct RedisStore {
    target: Target,
    /// The URL as messages show it (no password).
    shown: String,
    /// The URL's password as written and percent-decoded, scrubbed from the Redis client's
    /// messages.
    passwords: Vec<String>,
    /// `OperationTimeoutMilliseconds`: the most any one operation (connecting included) takes.
    pub timeout: Duration,
    pool: Pool,
    pub breaker: Breaker,
    refusal_logged: AtomicBool,
}

/// What taking the fleet-wide lock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Taken,
    HeldByAnother,
}

/// When an operation must be over, and whether it goes through the breaker or must be tried
/// whatever it says (releasing a lock we hold, storing the token the fleet waits for).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub until: Instant,
    pub always: bool,
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
        let invalid = |why: String| {
            Error::new(
                ErrorKind::Config,
                format!("TokenCache.Distributed.Redis: {shown} is not a usable Redis URL ({why})"),
            )
        };
        let info = options
            .redis_url
            .as_str()
            .into_connection_info()
            .map_err(|e| invalid(scrub(&e.to_string(), &passwords)))?;
        let tls = match info.addr() {
            ConnectionAddr::Tcp(..) => None,
            ConnectionAddr::TcpTls { insecure: true, .. } => {
                return Err(invalid("#insecure: the server is always verified".into()));
            }
            ConnectionAddr::TcpTls { .. } => Some(tls_config(ca_bundle.as_deref())?),
            _ => return Err(invalid("only redis:// and rediss:// are supported".into())),
        };
        Ok(RedisStore {
            target: Target { info, tls },
            shown,
            passwords,
            timeout: options.operation_timeout,
            pool: Pool::default(),
            breaker: Breaker::default(),
            refusal_logged: AtomicBool::new(false),
        })
    }

    /// Runs `operation` on a pooled connection, all of it before the budget's end; `None` when
    /// skipped or failed. An operation that took more than half of `OperationTimeoutMilliseconds`
    /// counts as a failure: a Redis that slow costs calls more than the token endpoint would.
    fn run<T>(
        &self,
        budget: Budget,
        what: &str,
        operation: impl FnOnce(&mut BoundedConnection) -> RedisResult<T>,
    ) -> Option<T> {
        let permit = match (budget.always, self.breaker.permit()) {
            (false, Permit::Skip) => return None,
            (_, permit) => permit,
        };
        let started = Instant::now();
        let until = budget.until.min(started + self.timeout);
        // What is left of the call is the caller's, not Redis's, to run out of: a step that
        // cannot have its whole timeout and fails on time is skipped, not counted as an outage.
        let cut_by_the_call = until < started + self.timeout;
        if until <= started + Duration::from_millis(1) {
            if permit == Permit::Probe {
                self.breaker.probe_abandoned();
            }
            return None;
        }
        let mut connection = match self
            .pool
            .take(until, || BoundedConnection::open(&self.target, until))
        {
            Taken::Ready(connection) => connection,
            Taken::Busy => {
                if permit == Permit::Probe {
                    self.breaker.probe_abandoned();
                }
                return None;
            }
            Taken::Failed(error) => {
                self.outage(what, &error);
                return None;
            }
        };
        connection.bound_until(until);
        let outcome = operation(&mut connection);
        let took = started.elapsed();
        self.pool.put(connection);
        match outcome {
            Ok(value) if took > self.timeout / 2 => {
                self.breaker.failed(|| {
                    format!(
                        "Redis at {} took {} ms to {what} (more than half of \
                         OperationTimeoutMilliseconds)",
                        self.shown,
                        took.as_millis()
                    )
                });
                Some(value)
            }
            Ok(value) => {
                self.breaker.succeeded();
                Some(value)
            }
            Err(error) if error.is_timeout() && cut_by_the_call => {
                if permit == Permit::Probe {
                    self.breaker.probe_abandoned();
                }
                None
            }
            Err(error) if is_unreachable(&error) => {
                self.outage(what, &error);
                None
            }
            Err(error) => {
                // Redis answered: the connection is fine, the command was refused.
                self.breaker.succeeded();
                self.refused(what, &error);
                None
            }
        }
    }

    fn refused(&self, what: &str, error: &redis::RedisError) {
        if self.refusal_logged.swap(true, Ordering::Relaxed) {
            return;
        }
        let message = printable(&scrub(&error.to_string(), &self.passwords));
        crate::log::warn(|| {
            format!(
                "Redis at {} refused to {what}: {message}; calls go on without it",
                self.shown
            )
        });
    }

    fn outage(&self, what: &str, error: &redis::RedisError) {
        // Idle connections most likely failed with this one.
        self.pool.clear();
        let message = printable(&scrub(&error.to_string(), &self.passwords));
        self.breaker
            .failed(|| format!("Redis at {} failed to {what}: {message}", self.shown));
    }

    pub fn get(&self, key: &str, budget: Budget) -> Option<Option<Vec<u8>>> {
        self.run(budget, "read a token", |c| {
            redis::cmd("GET").arg(key).query(c)
        })
    }

    /// Stores `value` for `milliseconds`.
    pub fn set(&self, key: &str, value: &str, milliseconds: u64, budget: Budget) -> bool {
        self.run(budget, "store a token", |c| {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(milliseconds)
                .exec(c)
        })
        .is_some()
    }

    /// Deletes `key`.
    pub fn delete(&self, key: &str, budget: Budget) {
        let _: Option<i64> = self.run(budget, "delete a refused token", |c| {
            redis::cmd("DEL").arg(key).query(c)
        });
    }

    /// `SET key owner NX PX milliseconds`.
    pub fn lock(&self, key: &str, owner: &str, milliseconds: u64, budget: Budget) -> Option<Lock> {
        let taken: Option<Option<String>> = self.run(budget, "take the fetch lock", |c| {
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

    /// Releases our lock (the budget should say `always`: the fleet waits on it).
    pub fn unlock(&self, key: &str, owner: &str, budget: Budget) {
        let _: Option<i64> = self.run(budget, "release the fetch lock", |c| {
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

/// A message from Redis as a log line may show it: control characters escaped, cut at 200
/// characters (a Redis answering garbage must not write raw lines into the host's log).
fn printable(message: &str) -> String {
    let mut shown: String = message
        .chars()
        .take(200)
        .flat_map(char::escape_debug)
        .collect();
    if message.chars().count() > 200 {
        shown.push('…');
    }
    shown
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
