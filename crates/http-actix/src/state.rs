//! What every handler shares: the ports, the rules, a short-lived cache of API keys and the
//! failed-authentication throttle.

use std::sync::Arc;
use std::time::{Duration, Instant};
use stowage_domain::auth::ApiKey;
use stowage_domain::error::RepoError;
use stowage_domain::ids::{KeyId, NamespaceId};
use stowage_domain::ports::{Clock, KeyRepo};
use stowage_domain::usecases::{Deps, Ports};
use time::OffsetDateTime;

/// What every handler shares: the application's ports (built by the server's composition root)
/// and the tally of failed authentications per client address.
#[derive(Clone)]
pub struct AppState {
    /// The ports and rules; API keys are read through a [`KeyCache`].
    pub ports: Ports,
    /// Failed authentications per client address.
    pub throttle: AuthThrottle,
}

impl AppState {
    /// The HTTP state over `ports`, with API-key lookups cached for `key_ttl` and a client
    /// address throttled after `failures_allowed` failed authentications in a minute (0: never).
    #[must_use]
    pub fn new(mut ports: Ports, key_ttl: Duration, failures_allowed: u32) -> Self {
        ports.keys = Arc::new(KeyCache::new(ports.keys.clone(), ports.clock.clone(), key_ttl));
        Self { ports, throttle: AuthThrottle::new(failures_allowed) }
    }

    /// The use cases' view of the ports.
    #[must_use]
    pub fn deps(&self) -> Deps<'_> {
        self.ports.deps()
    }
}

/// A lookup result (a key, or the fact that there is none) and when it was made.
type Cached = (Option<ApiKey>, Instant);

/// How many entries the key cache keeps (valid and unknown keys alike); the least useful go first.
const KEY_CACHE_CAPACITY: usize = 10_000;

/// The window in which a client address may fail to authenticate `failed_auth_per_minute` times.
pub const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// API keys by secret hash, kept for a short time so authentication costs no query per request:
/// a [`KeyRepo`] in front of the database's. Bounded (quick_cache, which evicts the least useful
/// entries in O(1)); unknown keys are cached too (negative caching), so a flood of bad keys is
/// neither a flood of queries nor unbounded memory. A revoked key stops working within the
/// cache's lifetime. A key found in the database is marked used (`last_used_at`), so that mark
/// is at most one cache lifetime old.
pub struct KeyCache {
    inner: Arc<dyn KeyRepo>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    entries: quick_cache::sync::Cache<String, Cached>,
}

impl KeyCache {
    /// A cache in front of `inner` keeping entries for `ttl`.
    #[must_use]
    pub fn new(inner: Arc<dyn KeyRepo>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self { inner, clock, ttl, entries: quick_cache::sync::Cache::new(KEY_CACHE_CAPACITY) }
    }
}

#[async_trait::async_trait]
impl KeyRepo for KeyCache {
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), RepoError> {
        self.inner.create_api_key(key).await
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, RepoError> {
        if let Some((key, at)) = self.entries.get(hash)
            && at.elapsed() < self.ttl
        {
            return Ok(key);
        }
        let key = self.inner.find_api_key(hash).await?;
        if let Some(found) = key.as_ref().filter(|k| k.revoked_at.is_none())
            && let Err(e) = self.inner.touch_api_key(&found.id, self.clock.now()).await
        {
            tracing::warn!(error = %e, key = %found.id, "cannot record the key's last use");
        }
        self.entries.insert(hash.to_owned(), (key.clone(), Instant::now()));
        Ok(key)
    }

    async fn list_api_keys(&self, namespace: Option<NamespaceId>) -> Result<Vec<ApiKey>, RepoError> {
        self.inner.list_api_keys(namespace).await
    }

    async fn revoke_api_key(&self, id: &KeyId, now: OffsetDateTime) -> Result<Option<ApiKey>, RepoError> {
        self.inner.revoke_api_key(id, now).await
    }

    async fn touch_api_key(&self, id: &KeyId, now: OffsetDateTime) -> Result<(), RepoError> {
        self.inner.touch_api_key(id, now).await
    }
}

/// Failed authentications per client address, to slow down key guessing. Bounded like the key
/// cache.
#[derive(Clone)]
pub struct AuthThrottle {
    failures_allowed: u32,
    failures: Arc<quick_cache::sync::Cache<std::net::IpAddr, (u32, Instant)>>,
}

impl AuthThrottle {
    /// A client address gets 429s after `failures_allowed` failed authentications in a minute
    /// (0: never).
    #[must_use]
    pub fn new(failures_allowed: u32) -> Self {
        Self { failures_allowed, failures: Arc::new(quick_cache::sync::Cache::new(KEY_CACHE_CAPACITY)) }
    }

    /// True when `client` has failed to authenticate too often lately.
    #[must_use]
    pub fn is_throttled(&self, client: std::net::IpAddr) -> bool {
        self.failures_allowed > 0
            && self
                .failures
                .get(&client)
                .is_some_and(|(n, since)| n >= self.failures_allowed && since.elapsed() < AUTH_FAILURE_WINDOW)
    }

    /// Counts a failed authentication of `client`.
    pub fn record_failure(&self, client: std::net::IpAddr) {
        let next = match self.failures.get(&client) {
            Some((n, since)) if since.elapsed() < AUTH_FAILURE_WINDOW => (n.saturating_add(1), since),
            _ => (1, Instant::now()),
        };
        self.failures.insert(client, next);
    }
}
