//! [`ObjectStore`]: where the bytes live (S3 or any S3-compatible store).

use crate::content::{ContentDigest, ETag, Sha256Hex, StoredChecksum};
use crate::error::StorageError;
use crate::names::{ContentType, ObjectKey};
use async_trait::async_trait;
use std::time::Duration;
use time::OffsetDateTime;

/// What a presigned PUT must bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignPut {
    /// Target key.
    pub key: ObjectKey,
    /// Signed: the PUT must send exactly this `Content-Type`.
    pub content_type: ContentType,
    /// Signed when known: the PUT must send exactly this `Content-Length`.
    pub content_length: Option<u64>,
    /// Signed when given: the store rejects bytes with another SHA-256.
    pub sha256: Option<Sha256Hex>,
    /// When given (the bucket's size limit, for uploads that declared no size): stores that can
    /// bound a presigned PUT refuse longer bodies (the disk store does; an S3 presigned PUT
    /// cannot, and confirm refuses the upload as `file_too_large` instead).
    pub max_length: Option<u64>,
    /// How long the URL works.
    pub expires_in: Duration,
}

/// A presigned request a client performs without credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    /// The URL.
    pub url: String,
    /// `PUT` or `GET`.
    pub method: String,
    /// Every header the client must send, exactly as signed.
    pub headers: Vec<(String, String)>,
    /// When the URL stops working.
    pub expires_at: OffsetDateTime,
}

/// A presigned form POST (S3's PostObject, as browsers send it): `fields` first, in this order,
/// then the file as the form's last part, `multipart/form-data` to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedPost {
    /// Where the form goes.
    pub url: String,
    /// The form's fields (the key, the content type, the policy and its signature, ...).
    pub fields: Vec<(String, String)>,
    /// When the policy stops working.
    pub expires_at: OffsetDateTime,
}

/// What HeadObject (with checksum mode on) reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    /// Stored size.
    pub size: u64,
    /// The store's etag.
    pub etag: ETag,
    /// The SHA-256 checksum the store verified at write time, if any.
    pub sha256: Option<StoredChecksum>,
    /// Stored content type.
    pub content_type: Option<String>,
    /// When it was written.
    pub last_modified: Option<OffsetDateTime>,
}

/// One uploaded part of a multipart upload, as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// 1-based part number.
    pub part_number: u32,
    /// The part's etag.
    pub etag: ETag,
    /// The part's size.
    pub size: u64,
}

/// One entry of a prefix listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The key.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// When it was written.
    pub last_modified: Option<OffsetDateTime>,
}

/// One page of a prefix listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPage {
    /// The objects of this page.
    pub objects: Vec<ListedObject>,
    /// Token of the next page, `None` on the last.
    pub next: Option<String>,
}

/// The object store.
///
/// Implementations MUST map every failure to a [`StorageError`]: unreachable store, timeouts and
/// 5xx to `Unavailable`; access denied and missing buckets to `Misconfigured`. No SDK type
/// crosses this trait.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Presigns a PUT that binds the content type, the length when known and the SHA-256 when
    /// given. The returned headers are exactly those the client must send.
    ///
    /// # Errors
    /// `Misconfigured` when credentials cannot sign.
    async fn presign_put(&self, request: &PresignPut) -> Result<PresignedRequest, StorageError>;

    /// Presigns a form POST that binds the key, the content type, the length when known (else a
    /// length range up to `max_length`) and the SHA-256 when given; `Ok(None)` when the store
    /// has no form POST (a presigned PUT is the way then).
    ///
    /// # Errors
    /// `Misconfigured` when credentials cannot sign.
    async fn presign_post(&self, request: &PresignPut) -> Result<Option<PresignedPost>, StorageError>;

    /// Presigns a GET of `key`.
    ///
    /// # Errors
    /// `Misconfigured` when credentials cannot sign.
    async fn presign_get(&self, key: &ObjectKey, expires_in: Duration) -> Result<PresignedRequest, StorageError>;

    /// HeadObject with checksum mode on. A missing key MUST be `Ok(None)`, not an error.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached in time.
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectHead>, StorageError>;

    /// Streams the object once through SHA-256 and MD5. Implementations MUST use bounded memory
    /// whatever the object's size.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached or the stream breaks; `Rejected` when the
    /// object vanished.
    async fn hash(&self, key: &ObjectKey) -> Result<ContentDigest, StorageError>;

    /// [`Self::head`] and, when the object is at most `max_size` bytes and the store keeps no
    /// full-object SHA-256 of it, its digest as [`Self::hash`] computes it. A store that can
    /// answers both from one read (S3: one GetObject instead of HeadObject then GetObject), so
    /// that the head describes exactly the bytes hashed. A missing key is `Ok(None)`.
    ///
    /// # Errors
    /// As [`Self::head`] and [`Self::hash`].
    async fn head_and_hash(
        &self,
        key: &ObjectKey,
        max_size: u64,
    ) -> Result<Option<(ObjectHead, Option<ContentDigest>)>, StorageError> {
        let Some(head) = self.head(key).await? else { return Ok(None) };
        if head.size > max_size || matches!(head.sha256, Some(StoredChecksum::FullObject(_))) {
            return Ok(Some((head, None)));
        }
        let digest = self.hash(key).await?;
        Ok(Some((head, Some(digest))))
    }

    /// The first `len` bytes of an object (fewer when it is shorter).
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached; `Rejected` when the object is gone.
    async fn read_prefix(&self, key: &ObjectKey, len: u64) -> Result<Vec<u8>, StorageError>;

    /// Starts a multipart upload and returns its id.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached in time.
    async fn create_multipart(&self, key: &ObjectKey, content_type: &ContentType) -> Result<String, StorageError>;

    /// Presigns the PUT of one part.
    ///
    /// # Errors
    /// `Misconfigured` when credentials cannot sign.
    async fn presign_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        expires_in: Duration,
    ) -> Result<PresignedRequest, StorageError>;

    /// Every uploaded part, in part-number order (all pages).
    ///
    /// # Errors
    /// `NoSuchUpload` when the multipart upload is gone.
    async fn list_parts(&self, key: &ObjectKey, upload_id: &str) -> Result<Vec<PartInfo>, StorageError>;

    /// Completes a multipart upload from `parts` (which MUST come from [`Self::list_parts`], never
    /// from a client). Completing an already completed upload MUST succeed and return the object.
    ///
    /// # Errors
    /// `NoSuchUpload` when it was aborted; `Rejected` when parts are invalid.
    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> Result<ObjectHead, StorageError>;

    /// Aborts a multipart upload; aborting one that is gone succeeds.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached in time.
    async fn abort_multipart(&self, key: &ObjectKey, upload_id: &str) -> Result<(), StorageError>;

    /// Deletes an object; deleting a missing one succeeds.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached in time.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError>;

    /// One page of the keys under `prefix`.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached in time.
    async fn list(&self, prefix: &str, page_token: Option<String>) -> Result<ListPage, StorageError>;

    /// The locator recorded on blobs, e.g. `s3://bucket/prefix/key`.
    fn locator(&self, key: &ObjectKey) -> String;

    /// Checks that the store answers (for readiness probes).
    ///
    /// # Errors
    /// `Unavailable` or `Misconfigured` with the reason.
    async fn ping(&self) -> Result<(), StorageError>;
}
