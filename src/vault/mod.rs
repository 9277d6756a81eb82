//! Azure Key Vault, read for `KeyVault` credentials: the wire of Id.Web's
//! `KeyVaultCertificateLoader` (through the Azure SDK's `CertificateClient` and `SecretClient`),
//! behind the credentials layer's [`VaultReader`]. Step 1 asks
//! `GET {vault}/certificates/{name}?api-version=7.5`, step 2
//! `GET {vault}/secrets/{name}/{version}?api-version=7.5`; each first without a token, to learn
//! the vault's challenge, as the SDKs' challenge policy does, then with the token the challenge
//! asks for. This file is the facade; its parts use only the parts below them:
//!
//! ```text
//! identity    the identity that reads vaults (DefaultAzureCredential's order) and its tokens
//! answers     what the vault's answers mean: bundles, refusals
//! challenge   the vault's 401 challenge: scope, tenant, and the resource's domain checked
//! ```

mod answers;
mod challenge;
mod identity;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::crypto::CryptoProvider;

use crate::clock::Deadline;
use crate::config::{Config, HttpOptions, PlatformEnvironment};
use crate::credentials::{VaultReader, VaultSecret, VaultSource, VaultVersion};
use crate::error::Result;
use crate::token::FleetTurns;
use crate::transport::{Request, Response, Transport};
use challenge::{Challenge, read_challenge};
use identity::{TokenRequest, VaultIdentity};

/// The Key Vault REST API version asked for (Id.Web's SDK packages send their own; 7.5 has every
/// field read here).
const API_VERSION: &str = "7.5";

/// The longest one read of a vault may take, however long `Http.TimeoutSeconds` allows: the
/// proactive check runs on a calling thread, which should not wait for a vault that is down.
const MOST_PER_READ: Duration = Duration::from_secs(30);

/// Reads certificates from vaults for the credentials provider.
pub struct KeyVaultClient {
    transport: Transport,
    identity: VaultIdentity,
    /// Each vault's last challenge (by its URL in lower case), so that later requests carry a
    /// token at once.
    challenges: Mutex<HashMap<String, Challenge>>,
    /// The fleet's turns where `TokenCache.Distributed` is configured.
    turns: Option<FleetTurns>,
    /// The certificates whose reader was logged already.
    announced: Mutex<HashSet<String>>,
    timeout: Duration,
}

impl KeyVaultClient {
    /// A client with a transport of its own (the same `Http` settings as the app's, its
    /// `Resolve` included), the identity of the environment, and the fleet's turns when Redis is
    /// configured (`ca_bundle`: the PEM of `Http.CaBundlePath`, for `rediss://`).
    pub fn new(
        config: &Config,
        crypto: Arc<CryptoProvider>,
        ca_bundle: Option<Vec<u8>>,
    ) -> Result<KeyVaultClient> {
        let http: &HttpOptions = &config.http;
        let platform: &PlatformEnvironment = &config.platform;
        Ok(KeyVaultClient {
            transport: Transport::new(http, crypto.clone())?,
            identity: VaultIdentity::from_environment(platform, crypto)?,
            challenges: Mutex::new(HashMap::new()),
            turns: config
                .token_cache
                .as_ref()
                .map(|options| FleetTurns::new(options, ca_bundle))
                .transpose()?,
            announced: Mutex::new(HashSet::new()),
            timeout: http.timeout.min(MOST_PER_READ),
        })
    }

    /// `GET url` of `source`'s vault with the token its challenge asks for; the body of a 200.
    /// A 401 to a token is met once with a fresh token (after a new challenge, when the vault
    /// moved to another tenant); other statuses are refusals naming `what`.
    fn read(
        &self,
        source: &VaultSource,
        url: &str,
        what: &str,
    ) -> std::result::Result<Vec<u8>, String> {
        let deadline = Deadline::after(self.timeout);
        let vault = source.vault.to_ascii_lowercase();
        let who = self.identity.describe(source);
        let mut challenge = self.challenges.lock().get(&vault).cloned();
        let mut fresh = false;
        for attempt in 0..3 {
            let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
            if let Some(challenge) = &challenge {
                let token = self.token(source, challenge, fresh, deadline)?;
                headers.push(("Authorization".to_string(), format!("Bearer {}", token)));
            }
            let response = self.send(url, &headers, deadline)?;
            match response.status {
                200 => return Ok(response.body),
                401 if attempt < 2 => {
                    let asked = read_challenge(response.headers_named("www-authenticate"), &vault)?;
                    // The same challenge refusing our token: once more with a new token.
                    fresh = challenge.as_ref() == Some(&asked);
                    self.challenges.lock().insert(vault.clone(), asked.clone());
                    challenge = Some(asked);
                }
                status => return Err(answers::refusal(status, &response.body, what, &who)),
            }
        }
        Err(format!("the vault refused every token of {who}"))
    }

    fn send(
        &self,
        url: &str,
        headers: &[(String, String)],
        deadline: Deadline,
    ) -> std::result::Result<Response, String> {
        let request = Request {
            method: "GET",
            url,
            headers,
            body: &[],
        };
        self.transport
            .send(&self.transport.anonymous_agent(), &request, deadline)
            .map_err(|e| e.to_string())
    }

    /// The token for `challenge`, the identity named in the log the first time.
    fn token(
        &self,
        source: &VaultSource,
        challenge: &Challenge,
        fresh: bool,
        deadline: Deadline,
    ) -> std::result::Result<String, String> {
        let who = self.identity.describe(source);
        let key = format!("{}/certificates/{}", source.vault, source.name);
        if self.announced.lock().insert(key) {
            crate::log::info(|| format!("{}: read as {who}", source.describe()));
        }
        let request = TokenRequest {
            source,
            scope: &challenge.scope,
            tenant: challenge.tenant.as_deref(),
            fresh,
            deadline,
        };
        self.identity
            .token(&request, &self.transport)
            .map(|token| token.token)
            .map_err(|e| format!("no token for the vault from {who}: {e}"))
    }
}

impl VaultReader for KeyVaultClient {
    fn current(&self, source: &VaultSource) -> std::result::Result<VaultVersion, String> {
        let url = format!(
            "{}/certificates/{}?api-version={API_VERSION}",
            source.vault, source.name
        );
        let body = self.read(source, &url, "certificate")?;
        answers::certificate_bundle(&body)
    }

    fn secret(
        &self,
        source: &VaultSource,
        version: &VaultVersion,
    ) -> std::result::Result<VaultSecret, String> {
        let (name, secret_version) = answers::secret_path(&version.secret_id)?;
        let url = format!(
            "{}/secrets/{name}/{secret_version}?api-version={API_VERSION}",
            source.vault
        );
        let what = format!("secret of version '{secret_version}'");
        let body = self.read(source, &url, &what)?;
        answers::secret_bundle(&body)
    }

    fn fleet_turn(&self, source: &VaultSource) -> Option<Duration> {
        let turns = self.turns.as_ref()?;
        turns.take(&format!("{}/certificates/{}", source.vault, source.name))
    }
}
