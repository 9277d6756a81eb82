//! Host name resolution for ureq agents. ureq resolves the host before it looks in its connection
//! pool, and with a timeout set it does so on a new thread: a thread per request, even for a
//! pooled connection to `127.0.0.1`. IP literals need no lookup, and names are remembered briefly
//! so that keep-alive calls cost no lookup, much as a client resolving once per connection would.
//! `Http.Resolve` entries come before any lookup, for every agent (APIs, token, managed-identity
//! and Key Vault endpoints alike), as curl's `--resolve` does.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use crate::config::ResolveEntry;

/// How long a looked-up name is reused. Short, so DNS changes are followed within half a minute.
const NAME_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct CachingResolver {
    lookup: DefaultResolver,
    names: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
    /// `Http.Resolve`, shared by every agent of a transport.
    pinned: Arc<[ResolveEntry]>,
}

impl CachingResolver {
    pub fn with_pinned(pinned: Arc<[ResolveEntry]>) -> CachingResolver {
        CachingResolver {
            pinned,
            ..CachingResolver::default()
        }
    }
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let authority = uri.authority().ok_or(ureq::Error::HostNotFound)?;
        let port = authority
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("http") {
                80
            } else {
                443
            });
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            let mut addresses = self.lookup.empty();
            addresses.push(SocketAddr::new(ip, port));
            return Ok(addresses);
        }
        if let Some(entry) = self.pinned.iter().find(|e| e.matches(host, port)) {
            let mut addresses = self.lookup.empty();
            // ureq keeps a fixed number of addresses; a longer list is cut as a lookup's would be.
            for address in entry.addresses.iter().take(16) {
                addresses.push(SocketAddr::new(*address, port));
            }
            return Ok(addresses);
        }
        let key = format!("{host}:{port}");
        if let Some((at, addresses)) = self.names.lock().get(&key)
            && at.elapsed() < NAME_TTL
        {
            return Ok(addresses.clone());
        }
        let addresses = self.lookup.resolve(uri, config, timeout)?;
        self.names
            .lock()
            .insert(key, (Instant::now(), addresses.clone()));
        Ok(addresses)
    }
}
