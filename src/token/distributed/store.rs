//! Redis through the `redis` crate's synchronous client: one connection, made on first use and
//! remade after a failure, each operation bounded by `OperationTimeoutMilliseconds`, all behind
//! the circuit breaker. Operations answer `None` when Redis was skipped or failed: the caller
//! goes on without the cache.

use parking_lot::Mutex;
use redis::{Client, Connection, RedisResult};

use super::breaker::Breaker;
use crate::config::{DistributedCacheOptions, redact_redis_url};
use crate::error::{Error, ErrorKind, Result};

pub struct RedisStore {
    client: Client,
    /// The URL as messages show it (no password).
    shown: String,
    /// The URL's password, scrubbed from any message the Redis client writes.
    password: Option<String>,
    timeout: std::time::Duration,
    connection: Mutex<Option<Connection>>,
    pub breaker: Breaker,
}

/// What taking the fleet-wide lock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Taken,
    HeldByAnother,
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
        let invalid = |e: redis::RedisError| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "TokenCache.Distributed.Redis: {shown} is not a usable Redis URL ({})",
                    scrub(&e.to_string(), password_of(&options.redis_url).as_deref())
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
            password: password_of(&options.redis_url),
            timeout: options.operation_timeout,
            connection: Mutex::new(None),
            breaker: Breaker::default(),
        })
    }

    /// Runs `operation` on the connection (made first if needed); `None` when skipped or failed.
    fn run<T>(
        &self,
        what: &str,
        operation: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Option<T> {
        if !self.breaker.allows() {
            return None;
        }
        let mut slot = self.connection.lock();
        if slot.is_none() {
            match self.connect() {
                Ok(connection) => *slot = Some(connection),
                Err(error) => {
                    drop(slot);
                    self.report(what, &error);
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
            Err(error) => {
                // A connection that failed once may be half-read: make a new one next time.
                *slot = None;
                drop(slot);
                self.report(what, &error);
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

    fn report(&self, what: &str, error: &redis::RedisError) {
        let message = scrub(&error.to_string(), self.password.as_deref());
        self.breaker
            .failed(|| format!("Redis at {} failed to {what}: {message}", self.shown));
    }

    pub fn get(&self, key: &str) -> Option<Option<Vec<u8>>> {
        self.run("read a token", |c| redis::cmd("GET").arg(key).query(c))
    }

    /// Stores `value` for `milliseconds`.
    pub fn set(&self, key: &str, value: &str, milliseconds: u64) -> bool {
        self.run("store a token", |c| {
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
        let taken: Option<Option<String>> = self.run("take the fetch lock", |c| {
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

    pub fn unlock(&self, key: &str, owner: &str) {
        let _: Option<i64> = self.run("release the fetch lock", |c| {
            redis::cmd("EVAL")
                .arg(UNLOCK_SCRIPT)
                .arg(1)
                .arg(key)
                .arg(owner)
                .query(c)
        });
    }
}

/// The password of `redis://user:password@host`, if any.
fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let user_info = &authority[..authority.rfind('@')?];
    let password = user_info.split_once(':').map_or(user_info, |(_, p)| p);
    (!password.is_empty()).then(|| password.to_string())
}

/// `message` with every occurrence of the password replaced.
fn scrub(message: &str, password: Option<&str>) -> String {
    match password {
        Some(password) => message.replace(password, "***"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_and_scrubbed() {
        assert_eq!(
            password_of("redis://:s3cret@h:1/0").as_deref(),
            Some("s3cret")
        );
        assert_eq!(password_of("redis://user:p@ss@h").as_deref(), Some("p@ss"));
        assert_eq!(password_of("redis://h:1/0"), None);
        assert_eq!(
            scrub("auth s3cret failed", Some("s3cret")),
            "auth *** failed"
        );
    }
}
