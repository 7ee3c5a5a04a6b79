//! [`KeyRepo`]: API keys — created, found by the hash of their secret, listed, revoked, and marked
//! when used.

use crate::auth::ApiKey;
use crate::error::RepoError;
use crate::ids::{KeyId, NamespaceId};
use async_trait::async_trait;
use time::OffsetDateTime;

/// Where API keys are kept.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait KeyRepo: Send + Sync {
    /// Stores a new API key.
    ///
    /// # Errors
    /// `AlreadyExists` when the hash is taken; `Unavailable` when the database is down.
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), RepoError>;

    /// The key whose secret hashes to `key_hash`, revoked or not.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>, RepoError>;

    /// Every key, revoked ones included, oldest first; with `namespace`, only the keys that list
    /// it.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn list_api_keys(&self, namespace: Option<NamespaceId>) -> Result<Vec<ApiKey>, RepoError>;

    /// Marks the key revoked at `now` (a key revoked already keeps its first revocation time)
    /// and returns it; `None` when there is no such key.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn revoke_api_key(&self, id: &KeyId, now: OffsetDateTime) -> Result<Option<ApiKey>, RepoError>;

    /// Records that the key authenticated a request at `now`.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn touch_api_key(&self, id: &KeyId, now: OffsetDateTime) -> Result<(), RepoError>;
}
