//! What every handler shares: the ports, the rules, and a short-lived cache of API keys.

use std::sync::Arc;
use std::time::{Duration, Instant};
use stowage_domain::auth::ApiKey;
use stowage_domain::error::RepoError;
use stowage_domain::policy::Policy;
use stowage_domain::ports::{BatchService, Clock, IdGenerator, KeyRepo, ObjectStore, TaskQueue, UploadRepo};
use stowage_domain::usecases::Deps;

/// The application's ports and rules, shared by every worker thread.
#[derive(Clone)]
pub struct AppState {
    /// State.
    pub repo: Arc<dyn UploadRepo>,
    /// Bytes.
    pub store: Arc<dyn ObjectStore>,
    /// Background work.
    pub queue: Arc<dyn TaskQueue>,
    /// Batches.
    pub batches: Arc<dyn BatchService>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Ids.
    pub ids: Arc<dyn IdGenerator>,
    /// Service-wide rules.
    pub policy: Arc<Policy>,
    /// API keys.
    pub key_repo: Arc<dyn KeyRepo>,
    /// Recently verified keys.
    pub keys: KeyCache,
}

impl AppState {
    /// The use cases' view of the ports.
    #[must_use]
    pub fn deps(&self) -> Deps<'_> {
        Deps { repo: &*self.repo, store: &*self.store, clock: &*self.clock, ids: &*self.ids, policy: &self.policy }
    }
}

/// A lookup result (a key, or the fact that there is none) and when it was made.
type Cached = (Option<ApiKey>, Instant);

/// How many entries the key cache keeps (valid and unknown keys alike); the least useful go first.
const KEY_CACHE_CAPACITY: usize = 10_000;

/// The window in which a client address may fail to authenticate `failed_auth_per_minute` times.
pub const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// API keys by secret hash, kept for a short time so authentication costs no query per request.
/// Bounded (quick_cache, which evicts the least useful entries in O(1)); unknown keys are cached
/// too (negative caching), so a flood of bad keys is neither a flood of queries nor unbounded
/// memory. A revoked key stops working within the cache's lifetime. Also counts failed
/// authentications per client address, to slow down key guessing.
#[derive(Clone)]
pub struct KeyCache {
    ttl: Duration,
    failures_allowed: u32,
    entries: Arc<quick_cache::sync::Cache<String, Cached>>,
    failures: Arc<quick_cache::sync::Cache<std::net::IpAddr, (u32, Instant)>>,
}

impl KeyCache {
    /// A cache keeping entries for `ttl`; a client address gets 429s after `failures_allowed`
    /// failed authentications in a minute (0: never).
    #[must_use]
    pub fn new(ttl: Duration, failures_allowed: u32) -> Self {
        Self {
            ttl,
            failures_allowed,
            entries: Arc::new(quick_cache::sync::Cache::new(KEY_CACHE_CAPACITY)),
            failures: Arc::new(quick_cache::sync::Cache::new(KEY_CACHE_CAPACITY)),
        }
    }

    /// The key for `hash`, from the cache or the repository. A key found in the repository is
    /// marked used (`last_used_at`), so that mark is at most one cache lifetime old.
    ///
    /// # Errors
    /// The repository's error when it has to be asked and fails.
    pub async fn get(&self, repo: &dyn KeyRepo, clock: &dyn Clock, hash: &str) -> Result<Option<ApiKey>, RepoError> {
        if let Some((key, at)) = self.entries.get(hash)
            && at.elapsed() < self.ttl
        {
            return Ok(key);
        }
        let key = repo.find_api_key(hash).await?;
        if let Some(found) = key.as_ref().filter(|k| k.revoked_at.is_none())
            && let Err(e) = repo.touch_api_key(&found.id, clock.now()).await
        {
            tracing::warn!(error = %e, key = %found.id, "cannot record the key's last use");
        }
        self.entries.insert(hash.to_owned(), (key.clone(), Instant::now()));
        Ok(key)
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
