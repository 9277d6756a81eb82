//! The issuer's discovery document and signing keys: read with the client's transport (its CA
//! bundle, proxy and timeout, as token requests are), kept, read again after 12 hours (as
//! IdentityModel's `ConfigurationManager` does), and when a token names a key id not seen — at
//! most once a minute, so that tokens with made-up key ids cannot turn the API into a load on
//! the issuer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;

use super::keys::SigningKeys;
use crate::clock::Deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Request, Transport, require_https};

/// How long what was read is used before it is read again.
const MAX_AGE: Duration = Duration::from_secs(12 * 3600);
/// The least time between two reads caused by unknown key ids.
const REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// A discovery document or JWK Set is a few kilobytes; more is not one.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// What the issuer published, as read at one moment.
pub struct Published {
    /// The discovery document's `issuer` (Entra's multi-tenant one holds `{tenantid}`).
    pub issuer: String,
    pub keys: SigningKeys,
    read_at: Instant,
}

/// Where the issuer's keys come from, and what was last read there.
pub struct KeySource {
    discovery_url: String,
    published: Mutex<Option<Arc<Published>>>,
    /// When a token's unknown key id last made the keys be read again.
    last_refresh: Mutex<Option<Instant>>,
    /// Held while reading: one read at a time; the threads waiting use its result. Taken before
    /// the other two locks, never while holding them.
    reading: Mutex<()>,
}

impl KeySource {
    pub fn new(discovery_url: String) -> KeySource {
        KeySource {
            discovery_url,
            published: Mutex::new(None),
            last_refresh: Mutex::new(None),
            reading: Mutex::new(()),
        }
    }

    /// What the issuer published: as kept, or read now when it never was or is older than 12
    /// hours. When a re-read fails, the old keys stay in use (the issuer may be down a while).
    pub fn current(&self, transport: &Transport) -> Result<Arc<Published>> {
        if let Some(known) = self.fresh() {
            return Ok(known);
        }
        let _reading = self.reading.lock();
        if let Some(known) = self.fresh() {
            return Ok(known);
        }
        let stale = self.published.lock().clone();
        match (self.read(transport), stale) {
            (Ok(read), _) => Ok(self.keep(read)),
            (Err(error), Some(stale)) => {
                crate::log::warn(|| format!("keeping the issuer's keys read before: {error}"));
                Ok(stale)
            }
            (Err(error), None) => Err(error),
        }
    }

    /// After `seen` did not know a token's key id: the keys read again — unless another thread
    /// did since `seen` was read (its result is returned), or the last such read was less than a
    /// minute ago (`None`).
    pub fn refresh(
        &self,
        transport: &Transport,
        seen: &Arc<Published>,
    ) -> Result<Option<Arc<Published>>> {
        let _reading = self.reading.lock();
        let current = self.published.lock().clone();
        if let Some(current) = current.filter(|current| !Arc::ptr_eq(current, seen)) {
            return Ok(Some(current));
        }
        {
            let mut last = self.last_refresh.lock();
            let now = Instant::now();
            if !may_refresh(*last, now) {
                return Ok(None);
            }
            // Counted before reading: a failing issuer is not asked again within the minute.
            *last = Some(now);
        }
        let read = self.read(transport)?;
        Ok(Some(self.keep(read)))
    }

    fn fresh(&self) -> Option<Arc<Published>> {
        let published = self.published.lock();
        published
            .as_ref()
            .filter(|known| known.read_at.elapsed() < MAX_AGE)
            .cloned()
    }

    fn keep(&self, read: Published) -> Arc<Published> {
        let read = Arc::new(read);
        *self.published.lock() = Some(read.clone());
        read
    }

    /// The discovery document, then the JWK Set it names, within one timeout.
    fn read(&self, transport: &Transport) -> Result<Published> {
        let deadline = transport.call_deadline(None);
        let url = &self.discovery_url;
        let discovery = get_json(transport, url, deadline)?;
        let field = |name: &str| {
            discovery
                .get(name)
                .and_then(Value::as_str)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| unusable(url, &format!("it names no {name}")))
        };
        let issuer = field("issuer")?.to_string();
        let jwks_uri = field("jwks_uri")?;
        let jwks = get_json(transport, jwks_uri, deadline)?;
        let keys = SigningKeys::from_jwks(&jwks).map_err(|why| unusable(jwks_uri, &why))?;
        crate::log::debug(|| format!("{} signing keys of {issuer} from {jwks_uri}", keys.len()));
        Ok(Published {
            issuer,
            keys,
            read_at: Instant::now(),
        })
    }
}

/// Whether unknown key ids may make the keys be read again, the last such read being `last`.
fn may_refresh(last: Option<Instant>, now: Instant) -> bool {
    last.is_none_or(|last| now.saturating_duration_since(last) >= REFRESH_INTERVAL)
}

fn unusable(url: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::TokenAcquisition,
        format!("OpenID discovery: {url} is unusable: {why}"),
    )
}

/// A JSON object read from `url` over https. Transport failures keep their kind; an answer that
/// is not a JSON object is a discovery failure ([`ErrorKind::TokenAcquisition`]).
fn get_json(transport: &Transport, url: &str, deadline: Deadline) -> Result<Value> {
    // Keys read over plain http could be anyone's: every token signed with them would pass.
    require_https(
        url,
        &format!("a request for the issuer's signing keys ({url})"),
    )?;
    let headers = [("Accept".to_string(), "application/json".to_string())];
    let request = Request {
        method: "GET",
        url,
        headers: &headers,
        body: &[],
    };
    let response = transport
        .send(&transport.anonymous_agent(), &request, deadline)
        .map_err(|e| e.context(format!("OpenID discovery at {url}")))?;
    if !(200..300).contains(&response.status) {
        return Err(unusable(
            url,
            &format!("it answered HTTP {}", response.status),
        ));
    }
    if response.body.len() > MAX_DOCUMENT_BYTES {
        return Err(unusable(url, "its answer is over 1 MiB"));
    }
    match serde_json::from_slice(&response.body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(unusable(url, "its answer is not a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_ids_refresh_at_most_once_a_minute() {
        let now = Instant::now();
        assert!(may_refresh(None, now));
        assert!(!may_refresh(Some(now), now));
        assert!(!may_refresh(Some(now), now + Duration::from_secs(59)));
        assert!(may_refresh(Some(now), now + Duration::from_secs(60)));
    }
}
