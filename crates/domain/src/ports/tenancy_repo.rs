//! [`TenancyRepo`]: namespaces and their buckets — what every request resolves first.

use crate::bucket::{Bucket, Namespace};
use crate::error::RepoError;
use crate::ids::NamespaceId;
use async_trait::async_trait;

/// Namespaces and buckets.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TenancyRepo: Send + Sync {
    /// Stores a new namespace.
    ///
    /// # Errors
    /// `AlreadyExists` when the name is taken; `Unavailable` when the database is down.
    async fn create_namespace(&self, namespace: &Namespace) -> Result<(), RepoError>;

    /// Finds a namespace by id or by name.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn find_namespace(&self, id_or_name: &str) -> Result<Option<Namespace>, RepoError>;

    /// Checks that the database answers (readiness probe).
    ///
    /// # Errors
    /// `Unavailable` with the reason.
    async fn ping(&self) -> Result<(), RepoError>;

    /// The buckets of `namespace`, by name.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn list_buckets(&self, namespace: &NamespaceId) -> Result<Vec<Bucket>, RepoError>;

    /// Stores a new bucket.
    ///
    /// # Errors
    /// `AlreadyExists` when the namespace has a bucket of that name.
    async fn create_bucket(&self, bucket: &Bucket) -> Result<(), RepoError>;

    /// Finds a bucket of `namespace` by id or by name; buckets of other namespaces are `None`.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn find_bucket(&self, namespace: &NamespaceId, id_or_name: &str) -> Result<Option<Bucket>, RepoError>;

    /// [`Self::find_bucket`] as a cache in front of the database may answer it: the bucket's id,
    /// namespace, name and settings are exact (a bucket never changes them once created), its
    /// usage figures (`object_count`, `total_size_bytes`) may be a few seconds old. For applying a
    /// bucket's rules where the usage that matters is re-read in a transaction (confirm), never
    /// for reporting usage. The database adapters answer it with [`Self::find_bucket`].
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn find_bucket_cached(&self, namespace: &NamespaceId, id_or_name: &str) -> Result<Option<Bucket>, RepoError> {
        self.find_bucket(namespace, id_or_name).await
    }
}
