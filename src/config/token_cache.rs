//! This library's `TokenCache` section: the fleet-wide token cache on Redis
//! (`TokenCache.Distributed`). Id.Web configures its L2 cache in code; here it is configuration,
//! so every process of a fleet reads the same settings from the same `appsettings.json`.

use std::time::Duration;

use super::node::Node;
use crate::error::{Error, ErrorKind, Result};

/// `TokenCache.Distributed`.
#[derive(Clone, PartialEq, Eq)]
pub struct DistributedCacheOptions {
    /// `redis://[:password@]host[:port][/db]` or `rediss://…` (TLS). May hold a password: it is
    /// shown only through [`redact_redis_url`].
    pub redis_url: String,
    pub key_prefix: String,
    /// 32 random bytes (raw, 64 hex digits or base64): values are sealed with them.
    pub encryption_key_file: String,
    /// Bound on each Redis operation (and on connecting).
    pub operation_timeout: Duration,
    /// How long the fleet-wide fetch lock lives: a holder that dies frees it after this.
    pub lock_timeout: Duration,
}

impl std::fmt::Debug for DistributedCacheOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistributedCacheOptions")
            .field("redis_url", &redact_redis_url(&self.redis_url))
            .field("key_prefix", &self.key_prefix)
            .field("encryption_key_file", &self.encryption_key_file)
            .field("operation_timeout", &self.operation_timeout)
            .field("lock_timeout", &self.lock_timeout)
            .finish()
    }
}

/// A Redis URL with its user information (a password) replaced by `***`. The user information
/// ends at the last `@`: a password may hold `/` (base64 access keys do).
pub fn redact_redis_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
            None => url.to_string(),
        },
        None if url.contains('@') => "(not shown: it holds '@')".to_string(),
        None => url.to_string(),
    }
}

/// `TokenCache.MaxUserTokens`: how many users' tokens the process keeps at most (the least
/// recently used go first); 0 when absent (the library's default).
pub(super) fn max_user_tokens(section: &Node) -> Result<usize> {
    match section.number("MaxUserTokens")? {
        None => Ok(0),
        Some(n) if (1.0..=10_000_000.0).contains(&n) => Ok(n as usize),
        Some(_) => Err(Error::new(
            ErrorKind::Config,
            format!("{}: expected 1 to 10000000", section.join("MaxUserTokens")),
        )),
    }
}

impl DistributedCacheOptions {
    /// Reads `TokenCache`; `None` without a `Distributed` member.
    pub(super) fn read(section: &Node) -> Result<Option<Self>> {
        section.expect_object()?;
        let Some(node) = section.child("Distributed") else {
            return Ok(None);
        };
        node.expect_object()?;
        let missing = |key: &str, why: &str| {
            Error::new(
                ErrorKind::Config,
                format!("{}: missing; {why}", node.join(key)),
            )
        };
        let redis_url = node
            .string("Redis")?
            .map(|url| url.trim().to_string())
            .filter(|url| !url.is_empty())
            .ok_or_else(|| missing("Redis", "the Redis server's URL (redis:// or rediss://)"))?;
        let scheme = redis_url
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("redis" | "rediss")) {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{}: {} is not a redis:// or rediss:// URL",
                    node.join("Redis"),
                    redact_redis_url(&redis_url)
                ),
            ));
        }
        let encryption_key_file = node
            .string("EncryptionKeyFile")?
            .filter(|path| !path.trim().is_empty())
            .ok_or_else(|| {
                missing(
                    "EncryptionKeyFile",
                    "tokens are stored in Redis only encrypted, with 32 random bytes from this file",
                )
            })?;
        let milliseconds = |key: &str, default: u64, max: u64| -> Result<Duration> {
            match node.number(key)? {
                None => Ok(Duration::from_millis(default)),
                Some(ms) if ms.is_finite() && ms >= 1.0 && ms <= max as f64 => {
                    Ok(Duration::from_millis(ms as u64))
                }
                Some(_) => Err(Error::new(
                    ErrorKind::Config,
                    format!("{}: expected 1 to {max} milliseconds", node.join(key)),
                )),
            }
        };
        Ok(Some(DistributedCacheOptions {
            redis_url,
            key_prefix: node
                .string("KeyPrefix")?
                .unwrap_or_else(|| "dsapi:".to_string()),
            encryption_key_file,
            operation_timeout: milliseconds("OperationTimeoutMilliseconds", 250, 60_000)?,
            lock_timeout: milliseconds("LockMilliseconds", 5_000, 600_000)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn read(section: &str) -> Result<Option<DistributedCacheOptions>> {
        Config::parse_with_environment(&format!(r#"{{"TokenCache": {section}}}"#), Vec::new())
            .map(|config| config.token_cache)
    }

    #[test]
    fn the_section_with_its_defaults_and_errors_naming_the_field() {
        let options = read(
            r#"{"Distributed": {"Redis": "redis://:pa55@127.0.0.1:6379/0", "EncryptionKeyFile": "/k"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(options.key_prefix, "dsapi:");
        assert_eq!(options.operation_timeout, Duration::from_millis(250));
        assert_eq!(options.lock_timeout, Duration::from_secs(5));
        let shown = format!("{options:?}");
        assert!(
            shown.contains("redis://***@127.0.0.1:6379/0") && !shown.contains("pa55"),
            "{shown}"
        );
        assert!(read("{}").unwrap().is_none());

        let no_key = read(r#"{"Distributed": {"Redis": "redis://127.0.0.1"}}"#).unwrap_err();
        assert!(
            no_key
                .message()
                .starts_with("TokenCache.Distributed.EncryptionKeyFile: missing"),
            "{no_key}"
        );
        let http =
            read(r#"{"Distributed": {"Redis": "http://u:secret@h", "EncryptionKeyFile": "/k"}}"#)
                .unwrap_err();
        assert!(
            http.message().contains("TokenCache.Distributed.Redis"),
            "{http}"
        );
        assert!(!http.message().contains("secret"), "{http}");
        let timeout = read(
            r#"{"Distributed": {"Redis": "redis://h", "EncryptionKeyFile": "/k", "OperationTimeoutMilliseconds": 0}}"#,
        )
        .unwrap_err();
        assert!(
            timeout
                .message()
                .contains("OperationTimeoutMilliseconds: expected 1 to 60000"),
            "{timeout}"
        );
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_redis_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            redact_redis_url("rediss://user:p@ss@host:6380/1"),
            "rediss://***@host:6380/1"
        );
        assert_eq!(redact_redis_url("p@ss"), "(not shown: it holds '@')");
        assert_eq!(
            redact_redis_url("rediss://:ab/cd+e=@host:6380"),
            "rediss://***@host:6380"
        );
    }
}
