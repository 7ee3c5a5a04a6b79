//! What every handler shares: the ports, the rules, a short-lived cache of API keys and the
//! failed-authentication throttle.

use std::sync::Arc;
use std::time::{Duration, Instant};
use stowage_domain::auth::ApiKey;
use stowage_domain::bucket::{Bucket, Namespace};
use stowage_domain::error::RepoError;
use stowage_domain::ids::{KeyId, NamespaceId};
use stowage_domain::ports::{Clock, KeyRepo, TenancyRepo};
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
    /// What the browser routes need (the upload sessions' secret, the public URL, CORS).
    pub browser: Arc<crate::browser::BrowserConfig>,
}

impl AppState {
    /// The HTTP state over `ports`, with API-key lookups cached for `key_ttl` and a client
    /// address throttled after `failures_allowed` failed authentications in a minute (0: never).
    #[must_use]
    pub fn new(mut ports: Ports, key_ttl: Duration, failures_allowed: u32) -> Self {
        ports.keys = Arc::new(KeyCache::new(ports.keys.clone(), ports.clock.clone(), key_ttl));
        ports.tenancy = Arc::new(TenancyCache::new(ports.tenancy.clone()));
        let browser = Arc::new(crate::browser::BrowserConfig::default());
        Self { ports, throttle: AuthThrottle::new(failures_allowed), browser }
    }

    /// The same state with the browser routes configured.
    #[must_use]
    pub fn with_browser(self, browser: crate::browser::BrowserConfig) -> Self {
        Self { browser: Arc::new(browser), ..self }
    }

    /// The use cases' view of the ports.
    #[must_use]
    pub fn deps(&self) -> Deps<'_> {
        self.ports.deps()
    }
}

/// Namespaces and buckets found, by the id or name they were looked up with: a [`TenancyRepo`]
/// in front of the database's, so resolving a request's namespace costs no query after the first,
/// and a create's or confirm's bucket (`find_bucket_cached`) none within [`BUCKET_CACHE_TTL`].
/// A namespace never changes and is never deleted, so a found one stays true; a bucket's settings
/// never change either, only its usage, which the cached lookup does not promise; `find_bucket`
/// always reads the database. Unknown names are not cached (they may be created a moment later). Bounded like
/// the key cache.
pub struct TenancyCache {
    inner: Arc<dyn TenancyRepo>,
    found: quick_cache::sync::Cache<String, Namespace>,
    buckets: quick_cache::sync::Cache<(NamespaceId, String), (Bucket, Instant)>,
}

/// How long a bucket found by `find_bucket_cached` is answered from memory.
pub const BUCKET_CACHE_TTL: Duration = Duration::from_secs(5);

impl TenancyCache {
    /// A cache in front of `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn TenancyRepo>) -> Self {
        Self {
            inner,
            found: quick_cache::sync::Cache::new(KEY_CACHE_CAPACITY),
            buckets: quick_cache::sync::Cache::new(KEY_CACHE_CAPACITY),
        }
    }
}

#[async_trait::async_trait]
impl TenancyRepo for TenancyCache {
    async fn create_namespace(&self, namespace: &Namespace) -> Result<(), RepoError> {
        self.inner.create_namespace(namespace).await
    }

    async fn find_namespace(&self, id_or_name: &str) -> Result<Option<Namespace>, RepoError> {
        if let Some(namespace) = self.found.get(id_or_name) {
            return Ok(Some(namespace));
        }
        let found = self.inner.find_namespace(id_or_name).await?;
        if let Some(namespace) = &found {
            self.found.insert(id_or_name.to_owned(), namespace.clone());
        }
        Ok(found)
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.inner.ping().await
    }

    async fn list_buckets(&self, namespace: &NamespaceId) -> Result<Vec<Bucket>, RepoError> {
        self.inner.list_buckets(namespace).await
    }

    async fn create_bucket(&self, bucket: &Bucket) -> Result<(), RepoError> {
        self.inner.create_bucket(bucket).await
    }

    async fn find_bucket(&self, namespace: &NamespaceId, id_or_name: &str) -> Result<Option<Bucket>, RepoError> {
        self.inner.find_bucket(namespace, id_or_name).await
    }

    async fn find_bucket_cached(&self, namespace: &NamespaceId, id_or_name: &str) -> Result<Option<Bucket>, RepoError> {
        let key = (namespace.clone(), id_or_name.to_owned());
        if let Some((bucket, at)) = self.buckets.get(&key)
            && at.elapsed() < BUCKET_CACHE_TTL
        {
            return Ok(Some(bucket));
        }
        let found = self.inner.find_bucket(namespace, id_or_name).await?;
        if let Some(bucket) = &found {
            self.buckets.insert(key, (bucket.clone(), Instant::now()));
        }
        Ok(found)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Knows one namespace, `known`, and counts lookups.
    struct Counting {
        lookups: AtomicUsize,
        created: std::sync::Mutex<Vec<Namespace>>,
    }

    #[async_trait::async_trait]
    impl TenancyRepo for Counting {
        async fn create_namespace(&self, namespace: &Namespace) -> Result<(), RepoError> {
            self.created.lock().map_err(|_| RepoError::Unexpected("poisoned".into()))?.push(namespace.clone());
            Ok(())
        }
        async fn find_namespace(&self, id_or_name: &str) -> Result<Option<Namespace>, RepoError> {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            let created = self.created.lock().map_err(|_| RepoError::Unexpected("poisoned".into()))?;
            Ok(created.iter().find(|n| n.name.as_str() == id_or_name || n.id.as_str() == id_or_name).cloned())
        }
        async fn ping(&self) -> Result<(), RepoError> {
            Ok(())
        }
        async fn list_buckets(&self, _: &NamespaceId) -> Result<Vec<Bucket>, RepoError> {
            Ok(Vec::new())
        }
        async fn create_bucket(&self, _: &Bucket) -> Result<(), RepoError> {
            Ok(())
        }
        async fn find_bucket(&self, namespace: &NamespaceId, name: &str) -> Result<Option<Bucket>, RepoError> {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            let bucket = Bucket {
                id: stowage_domain::ids::BucketId::parse("bkt_0000000000000001")
                    .map_err(|e| RepoError::Unexpected(e.to_string()))?,
                namespace_id: namespace.clone(),
                name: stowage_domain::names::BucketName::parse(name)
                    .map_err(|e| RepoError::Unexpected(e.to_string()))?,
                description: None,
                bucket_schema: None,
                metadata: serde_json::json!({}),
                settings: stowage_domain::bucket::BucketSettings::default(),
                webhook_secret: None,
                object_count: self.lookups.load(Ordering::Relaxed) as u64,
                total_size_bytes: 0,
                created_at: OffsetDateTime::UNIX_EPOCH,
                updated_at: OffsetDateTime::UNIX_EPOCH,
            };
            Ok((name == "photos").then_some(bucket))
        }
    }

    #[actix_web::test]
    async fn a_confirms_bucket_is_read_once_per_lifetime_and_a_plain_lookup_every_time() {
        let inner = Arc::new(Counting { lookups: AtomicUsize::new(0), created: std::sync::Mutex::new(Vec::new()) });
        let cache = TenancyCache::new(inner.clone());
        let ns = NamespaceId::parse("ns_0000000000000001").map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let lookups = || inner.lookups.load(Ordering::Relaxed);
        for _ in 0..2 {
            assert_eq!(cache.find_bucket_cached(&ns, "missing").await, Ok(None));
        }
        assert_eq!(lookups(), 2, "an unknown bucket is not cached");
        let first = cache.find_bucket_cached(&ns, "photos").await.unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            assert_eq!(cache.find_bucket_cached(&ns, "photos").await, Ok(first.clone()));
        }
        assert_eq!(lookups(), 3, "a found bucket is read once");
        let fresh = cache.find_bucket(&ns, "photos").await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((lookups(), fresh.map(|b| b.object_count)), (4, Some(4)), "find_bucket reads the database");
        let other =
            NamespaceId::parse("ns_0000000000000002").map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cache.find_bucket_cached(&other, "photos").await.map(|b| b.map(|b| b.namespace_id)),
            Ok(Some(other))
        );
        assert_eq!(lookups(), 5, "cached per namespace");
    }

    #[actix_web::test]
    async fn a_found_namespace_is_read_once_and_an_unknown_one_every_time_until_it_exists() {
        let inner = Arc::new(Counting { lookups: AtomicUsize::new(0), created: std::sync::Mutex::new(Vec::new()) });
        let cache = TenancyCache::new(inner.clone());
        let lookups = || inner.lookups.load(Ordering::Relaxed);
        assert_eq!(cache.find_namespace("team").await, Ok(None));
        assert_eq!(cache.find_namespace("team").await, Ok(None));
        assert_eq!(lookups(), 2, "an unknown namespace is not cached");
        let namespace = Namespace {
            id: NamespaceId::parse("ns_0000000000000001").map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}")),
            name: stowage_domain::names::NamespaceName::parse("team").unwrap_or_else(|e| panic!("{e}")),
            description: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        cache.create_namespace(&namespace).await.unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            assert_eq!(cache.find_namespace("team").await, Ok(Some(namespace.clone())));
        }
        assert_eq!(lookups(), 3, "a found namespace is read once");
    }
}
