//! [`ObjectRepo`]: bucket objects and their blobs — listed, read, created from uploads, deleted.

use crate::error::RepoError;
use crate::ids::{BlobId, BucketId, ObjectId, UploadId};
use crate::object::{BlobDetails, BucketObject};
use crate::task::NewTask;
use async_trait::async_trait;

/// How [`ObjectRepo::attach_object`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachOutcome {
    /// The object, its blobs and the uploads' links were written.
    Created,
    /// This upload was no longer COMPLETED without an object; nothing was written.
    Taken(UploadId),
}

/// Bucket objects.
///
/// Every write MUST be atomic: either all of its writes happen or none do.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ObjectRepo: Send + Sync {
    /// Replaces a blob's recorded details (batch processing's findings, a tamper mark) and writes
    /// `event` (the `object.tampered` delivery) in the same transaction.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn update_blob_details(
        &self,
        blob: &BlobId,
        details: &BlobDetails,
        event: Option<NewTask>,
    ) -> Result<(), RepoError>;

    /// Up to `limit` objects of `bucket` with their blobs, oldest first, after the object
    /// `after` (keyset pagination).
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn list_objects(
        &self,
        bucket: &BucketId,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<Vec<BucketObject>, RepoError>;

    /// Deletes an object of `bucket` with its blobs and takes it out of the usage counters; in the
    /// same transaction deletes its content claims (a later upload of the same bytes is an
    /// original again, never a duplicate of an object that is gone) and detaches every upload
    /// that pointed at it — its original and its duplicates
    /// ([`crate::upload::Upload::detach_deleted_object`]). Batches keep the id (processing reports it missing).
    /// Returns the keys of stored bytes no other blob references (safe to delete), or `None` when
    /// there is no such object.
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing written).
    async fn delete_object(
        &self,
        bucket: &BucketId,
        id: &ObjectId,
    ) -> Result<Option<Vec<crate::names::ObjectKey>>, RepoError>;

    /// Creates `object` from `uploads` ([`crate::upload::Upload::is_attachable`]): writes the object and its
    /// blobs, links each upload and its content claim to it and adds it to the usage counters —
    /// in one transaction, after locking the uploads and checking them again.
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing written).
    async fn attach_object(&self, object: &BucketObject, uploads: &[UploadId]) -> Result<AttachOutcome, RepoError>;

    /// An object of `bucket`.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn get_object(&self, bucket: &BucketId, id: &ObjectId) -> Result<Option<BucketObject>, RepoError>;
}
