//! What every handler shares: the ports, the rules, and a short-lived cache of API keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stowage_domain::auth::ApiKey;
use stowage_domain::error::RepoError;
use stowage_domain::policy::Policy;
use stowage_domain::ports::{BatchService, Clock, IdGenerator, ObjectStore, TaskQueue, UploadRepo};
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

/// API keys by secret hash, kept for a short time so authentication costs no query per request.
/// A revoked key stops working within the cache's lifetime.
#[derive(Clone)]
pub struct KeyCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<String, Cached>>>,
}

impl KeyCache {
    /// A cache keeping entries for `ttl`.
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Arc::default() }
    }

    /// The key for `hash`, from the cache or the repository. Unknown keys are cached too, so a
    /// flood of bad keys does not become a flood of queries.
    ///
    /// # Errors
    /// The repository's error when it has to be asked and fails.
    pub async fn get(&self, repo: &dyn UploadRepo, hash: &str) -> Result<Option<ApiKey>, RepoError> {
        if let Ok(entries) = self.entries.lock()
            && let Some((key, at)) = entries.get(hash)
            && at.elapsed() < self.ttl
        {
            return Ok(key.clone());
        }
        let key = repo.find_api_key(hash).await?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
            }
            entries.insert(hash.to_owned(), (key.clone(), Instant::now()));
        }
        Ok(key)
    }
}
