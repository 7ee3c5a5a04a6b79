//! The upload entity and its state machine, exactly as docs/domain.md's table draws it.
//!
//! Transition methods take the upload by reference and return the upload as it must be after the
//! event, or a [`TransitionError`] when the table has no such row. Repositories persist a
//! transition with a write conditional on the `from` status; when that condition fails the caller
//! re-reads the row and answers from the state it finds.

use crate::content::{ETag, FileSize, Sha256Hex};
use crate::ids::{BatchId, BucketId, NamespaceId, ObjectId, TaskId, UploadId};
use crate::names::{ContentType, Filename, ObjectKey};
use crate::status::UploadStatus;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// Why an upload ended `FAILED`: every code an upload's `error_code` can carry. Stored and shown
/// as its snake_case name ([`FailureCode::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// Not confirmed before it expired (final).
    UploadExpired,
    /// No object at the upload's key.
    ObjectNotInStorage,
    /// The stored object's ETag is not the one declared.
    EtagMismatch,
    /// The stored object's size is not the one declared.
    SizeMismatch,
    /// The stored object is larger than the bucket allows.
    FileTooLarge,
    /// The stored bytes' SHA-256 is not the one declared.
    ChecksumMismatch,
    /// A multipart upload's parts do not make the whole file.
    MultipartIncomplete,
    /// Recording the object would exceed the bucket's quota.
    QuotaExceeded,
    /// The store or database stayed unavailable for every attempt of the confirm task.
    VerificationUnavailable,
    /// The store failed in a way retrying does not fix.
    StorageError,
    /// The confirm task was canceled before it verified.
    ConfirmCanceled,
    /// Every run of the confirm task lost its lease (workers died or hung).
    TaskAbandoned,
}

impl FailureCode {
    /// Every code, in declaration order.
    pub const ALL: [Self; 12] = [
        Self::UploadExpired,
        Self::ObjectNotInStorage,
        Self::EtagMismatch,
        Self::SizeMismatch,
        Self::FileTooLarge,
        Self::ChecksumMismatch,
        Self::MultipartIncomplete,
        Self::QuotaExceeded,
        Self::VerificationUnavailable,
        Self::StorageError,
        Self::ConfirmCanceled,
        Self::TaskAbandoned,
    ];

    /// The code as stored and shown.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UploadExpired => crate::error::codes::UPLOAD_EXPIRED,
            Self::ObjectNotInStorage => crate::error::codes::OBJECT_NOT_IN_STORAGE,
            Self::EtagMismatch => crate::error::codes::ETAG_MISMATCH,
            Self::SizeMismatch => crate::error::codes::SIZE_MISMATCH,
            Self::FileTooLarge => crate::error::codes::FILE_TOO_LARGE,
            Self::ChecksumMismatch => crate::error::codes::CHECKSUM_MISMATCH,
            Self::MultipartIncomplete => crate::error::codes::MULTIPART_INCOMPLETE,
            Self::QuotaExceeded => crate::error::codes::QUOTA_EXCEEDED,
            Self::VerificationUnavailable => "verification_unavailable",
            Self::StorageError => "storage_error",
            Self::ConfirmCanceled => "confirm_canceled",
            Self::TaskAbandoned => "task_abandoned",
        }
    }

    /// The code named `s`, if it is one.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an upload is `FAILED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Stable code.
    pub code: FailureCode,
    /// Human-readable message.
    pub message: String,
}

impl Failure {
    /// The failure every expired upload carries.
    #[must_use]
    pub fn expired() -> Self {
        Self { code: FailureCode::UploadExpired, message: "the upload expired before it was confirmed".to_owned() }
    }
}

/// How a file above the single-PUT limit is uploaded: in parts of `part_size` bytes (the last one
/// smaller), assembled by stowage at confirm from what the store lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Multipart {
    /// The store's multipart upload id.
    pub upload_id: String,
    /// Size of every part but the last.
    pub part_size: u64,
    /// How many parts make the file.
    pub part_count: u32,
}

impl Multipart {
    /// Most parts a store accepts in one multipart upload.
    pub const MAX_PARTS: u32 = 10_000;

    /// A multipart upload whose parts the client sizes and counts (Companion's routes, where the
    /// file's size is not told in advance): any parts `1..=n`, `n` up to [`Self::MAX_PARTS`].
    #[must_use]
    pub fn client_planned(upload_id: String) -> Self {
        Self { upload_id, part_size: 0, part_count: Self::MAX_PARTS }
    }

    /// True for [`Self::client_planned`] uploads.
    #[must_use]
    pub const fn is_client_planned(&self) -> bool {
        self.part_size == 0
    }

    /// True when `numbers` (sorted) are all the parts the upload needs: `1..=part_count`, or for
    /// a client-planned upload any non-empty `1..=n`.
    #[must_use]
    pub fn is_complete(&self, numbers: &[u32]) -> bool {
        let last = if self.is_client_planned() { numbers.len() } else { self.part_count as usize };
        last > 0 && numbers.len() == last && numbers.iter().copied().eq(1..=u32::try_from(last).unwrap_or(u32::MAX))
    }

    /// Part size and count for a file of `size` bytes: `preferred` bytes per part, grown when the
    /// store's 10,000-part limit would otherwise be exceeded.
    #[must_use]
    pub fn plan(size: u64, preferred: u64) -> (u64, u32) {
        const MAX_PARTS: u64 = 10_000;
        let part_size = preferred.max(size.div_ceil(MAX_PARTS)).max(1);
        let count = size.div_ceil(part_size).max(1);
        (part_size, u32::try_from(count).unwrap_or(u32::MAX))
    }
}

/// What verification established about the stored bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// The store's etag.
    pub etag: ETag,
    /// The stored size.
    pub size: u64,
    /// SHA-256 of the content (S3-verified or computed, never derived from the etag).
    pub sha256: Sha256Hex,
}

/// How a confirmation ended for the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// This upload claimed its content; `object` is its new object, if one was created.
    Original {
        /// The created object.
        object: Option<ObjectId>,
        /// The auto-submitted batch and its task.
        batch: Option<(BatchId, TaskId)>,
    },
    /// An earlier upload holds this content.
    Duplicate {
        /// The original upload.
        of: UploadId,
        /// The original's object.
        object: Option<ObjectId>,
    },
}

/// An upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// `upl_...`
    pub id: UploadId,
    /// Its bucket.
    pub bucket_id: BucketId,
    /// Its namespace.
    pub namespace_id: NamespaceId,
    /// The client's file name.
    pub filename: Filename,
    /// The content type signed into the PUT.
    pub content_type: ContentType,
    /// Size declared at create, if any.
    pub declared_size: Option<FileSize>,
    /// SHA-256 declared at create, if any.
    pub declared_hash: Option<Sha256Hex>,
    /// Whether the declared SHA-256 was signed into the PUT URL.
    pub checksum_signed: bool,
    /// Where the bytes go.
    pub key: ObjectKey,
    /// Current state.
    pub(crate) status: UploadStatus,
    /// Upload metadata.
    pub metadata: serde_json::Value,
    /// Metadata copied onto the object.
    pub object_metadata: serde_json::Value,
    /// Whether confirm creates a bucket object.
    pub create_object_on_confirm: bool,
    /// Object property of the blob.
    pub blob_property: Option<String>,
    /// Blob type.
    pub blob_type: Option<String>,
    /// Whether create may short-circuit to an existing upload with the same hash.
    pub skip_duplicates: bool,
    /// Lifetime of the PUT URL, in seconds.
    pub url_expiration_secs: u32,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the PUT URL stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Verification results, once verified.
    pub(crate) verified: Option<Verified>,
    /// When verification finished.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) verified_at: Option<OffsetDateTime>,
    /// When the upload completed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) completed_at: Option<OffsetDateTime>,
    /// The object (its own, or the original's when a duplicate).
    pub object_id: Option<ObjectId>,
    /// The async verification task, or the auto-submitted batch's task.
    pub task_id: Option<TaskId>,
    /// The auto-submitted batch.
    pub batch_id: Option<BatchId>,
    /// True when an earlier upload holds the same content.
    pub(crate) is_duplicate: bool,
    /// That earlier upload.
    pub(crate) duplicate_of_upload_id: Option<UploadId>,
    /// Why it failed.
    pub(crate) failure: Option<Failure>,
    /// The multipart upload, for files above the single-PUT limit.
    #[serde(default)]
    pub multipart: Option<Multipart>,
    /// The object this upload produced or was pointed at (as a duplicate) was deleted: the
    /// upload refers to no object and no bytes any more, and cannot be attached to a new object.
    #[serde(default)]
    pub(crate) object_deleted: bool,
}

/// An upload as a repository stores it, every field open: what an adapter reads back from a row
/// and turns into an [`Upload`] (`Upload::from`). Nothing else builds uploads this way — use
/// cases create them with [`Upload::new_pending`] and move them only through the transitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpload {
    /// `upl_...`
    pub id: UploadId,
    /// Its bucket.
    pub bucket_id: BucketId,
    /// Its namespace.
    pub namespace_id: NamespaceId,
    /// The client's file name.
    pub filename: Filename,
    /// The content type signed into the PUT.
    pub content_type: ContentType,
    /// Size declared at create, if any.
    pub declared_size: Option<FileSize>,
    /// SHA-256 declared at create, if any.
    pub declared_hash: Option<Sha256Hex>,
    /// Whether the declared SHA-256 was signed into the PUT URL.
    pub checksum_signed: bool,
    /// Where the bytes go.
    pub key: ObjectKey,
    /// Current state.
    pub status: UploadStatus,
    /// Upload metadata.
    pub metadata: serde_json::Value,
    /// Metadata copied onto the object.
    pub object_metadata: serde_json::Value,
    /// Whether confirm creates a bucket object.
    pub create_object_on_confirm: bool,
    /// Object property of the blob.
    pub blob_property: Option<String>,
    /// Blob type.
    pub blob_type: Option<String>,
    /// Whether create may short-circuit to an existing upload with the same hash.
    pub skip_duplicates: bool,
    /// Lifetime of the PUT URL, in seconds.
    pub url_expiration_secs: u32,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// When the PUT URL stops working.
    pub expires_at: OffsetDateTime,
    /// Verification results, once verified.
    pub verified: Option<Verified>,
    /// When verification finished.
    pub verified_at: Option<OffsetDateTime>,
    /// When the upload completed.
    pub completed_at: Option<OffsetDateTime>,
    /// The object (its own, or the original's when a duplicate).
    pub object_id: Option<ObjectId>,
    /// The async verification task, or the auto-submitted batch's task.
    pub task_id: Option<TaskId>,
    /// The auto-submitted batch.
    pub batch_id: Option<BatchId>,
    /// True when an earlier upload holds the same content.
    pub is_duplicate: bool,
    /// That earlier upload.
    pub duplicate_of_upload_id: Option<UploadId>,
    /// Why it failed.
    pub failure: Option<Failure>,
    /// The multipart upload, for files above the single-PUT limit.
    pub multipart: Option<Multipart>,
    /// The object this upload produced or was pointed at (as a duplicate) was deleted: the
    /// upload refers to no object and no bytes any more, and cannot be attached to a new object.
    pub object_deleted: bool,
}

impl From<StoredUpload> for Upload {
    fn from(r: StoredUpload) -> Self {
        Self {
            id: r.id,
            bucket_id: r.bucket_id,
            namespace_id: r.namespace_id,
            filename: r.filename,
            content_type: r.content_type,
            declared_size: r.declared_size,
            declared_hash: r.declared_hash,
            checksum_signed: r.checksum_signed,
            key: r.key,
            status: r.status,
            metadata: r.metadata,
            object_metadata: r.object_metadata,
            create_object_on_confirm: r.create_object_on_confirm,
            blob_property: r.blob_property,
            blob_type: r.blob_type,
            skip_duplicates: r.skip_duplicates,
            url_expiration_secs: r.url_expiration_secs,
            created_at: r.created_at,
            updated_at: r.updated_at,
            expires_at: r.expires_at,
            verified: r.verified,
            verified_at: r.verified_at,
            completed_at: r.completed_at,
            object_id: r.object_id,
            task_id: r.task_id,
            batch_id: r.batch_id,
            is_duplicate: r.is_duplicate,
            duplicate_of_upload_id: r.duplicate_of_upload_id,
            failure: r.failure,
            multipart: r.multipart,
            object_deleted: r.object_deleted,
        }
    }
}

/// An event the state machine has no row for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an upload in status {from} cannot {event}")]
pub struct TransitionError {
    /// The status the upload was in.
    pub from: UploadStatus,
    /// What was attempted.
    pub event: &'static str,
}

/// What a confirm finds when it looks at the upload's current state (step 2 of confirm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmEntry {
    /// Already completed: answer with the recorded result.
    Replay,
    /// Being verified by this task: answer `PROCESSING`.
    InProgress(Option<TaskId>),
    /// Canceled by the client.
    Canceled,
    /// Past `expires_at` + grace (or already failed as expired).
    Expired,
    /// PENDING, or FAILED from an earlier verification: verify now.
    Verify,
}

/// What a cancel finds when it looks at the upload's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelEntry {
    /// Cancel it.
    Cancel,
    /// Already canceled: nothing to do (idempotent).
    AlreadyCanceled,
    /// Completed, processing or expired: cannot be canceled.
    NotCancelable,
}

impl Upload {
    /// Current state.
    #[must_use]
    pub fn status(&self) -> UploadStatus {
        self.status
    }

    /// Verification results, once verified.
    #[must_use]
    pub fn verified(&self) -> Option<&Verified> {
        self.verified.as_ref()
    }

    /// When verification finished.
    #[must_use]
    pub fn verified_at(&self) -> Option<OffsetDateTime> {
        self.verified_at
    }

    /// When the upload completed.
    #[must_use]
    pub fn completed_at(&self) -> Option<OffsetDateTime> {
        self.completed_at
    }

    /// True when an earlier upload holds the same content.
    #[must_use]
    pub fn is_duplicate(&self) -> bool {
        self.is_duplicate
    }

    /// That earlier upload.
    #[must_use]
    pub fn duplicate_of_upload_id(&self) -> Option<&UploadId> {
        self.duplicate_of_upload_id.as_ref()
    }

    /// Why it failed.
    #[must_use]
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// True when the object this upload produced or was pointed at was deleted.
    #[must_use]
    pub fn object_deleted(&self) -> bool {
        self.object_deleted
    }

    /// A new PENDING upload of `filename` into `bucket`, its URL valid for `url_expiration_secs`
    /// from `now`, with the defaults of the contract (object created on confirm, duplicates
    /// skipped, nothing declared); callers set what the request says on top.
    #[must_use]
    pub fn new_pending(
        id: UploadId,
        bucket: &crate::bucket::Bucket,
        filename: Filename,
        content_type: ContentType,
        url_expiration_secs: u32,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            key: ObjectKey::for_upload(&bucket.namespace_id, &bucket.id, &id, &filename),
            id,
            bucket_id: bucket.id.clone(),
            namespace_id: bucket.namespace_id.clone(),
            filename,
            content_type,
            declared_size: None,
            declared_hash: None,
            checksum_signed: false,
            status: UploadStatus::Pending,
            metadata: serde_json::json!({}),
            object_metadata: serde_json::json!({}),
            create_object_on_confirm: true,
            blob_property: None,
            blob_type: None,
            skip_duplicates: true,
            url_expiration_secs,
            created_at: now,
            updated_at: now,
            expires_at: now + Duration::from_secs(u64::from(url_expiration_secs)),
            verified: None,
            verified_at: None,
            completed_at: None,
            object_id: None,
            task_id: None,
            batch_id: None,
            is_duplicate: false,
            duplicate_of_upload_id: None,
            failure: None,
            multipart: None,
            object_deleted: false,
        }
    }

    /// Records that `object`, which this upload pointed at, was deleted at `now`: the upload keeps
    /// its status and history but no longer refers to the object or to stored bytes. Uploads
    /// pointing at another object are unchanged.
    pub fn detach_deleted_object(&mut self, object: &ObjectId, now: OffsetDateTime) {
        if self.object_id.as_ref() == Some(object) {
            self.object_id = None;
            self.object_deleted = true;
            self.updated_at = now;
        }
    }

    /// True while the bytes at this upload's key may still be needed: it is PENDING or
    /// PROCESSING, COMPLETED with its object (or attachable, or a kept duplicate), or FAILED in a
    /// way a new confirm can retry. CANCELED uploads, expired ones and uploads whose object was
    /// deleted need nothing: their bytes are orphans for the reconciler.
    #[must_use]
    pub fn needs_its_bytes(&self) -> bool {
        match self.status {
            UploadStatus::Pending | UploadStatus::Processing => true,
            UploadStatus::Completed => !self.object_deleted,
            UploadStatus::Failed => !self.is_expired_failure(),
            UploadStatus::Canceled => false,
        }
    }

    /// True when this upload's bytes can still become a new object (`POST .../objects`).
    #[must_use]
    pub fn is_attachable(&self) -> bool {
        self.status == UploadStatus::Completed && self.object_id.is_none() && !self.object_deleted
    }

    /// True while the upload's bytes may still be written: only while it is PENDING. Once
    /// confirmed (or canceled, failed, in verification), its bytes are immutable; stores that can
    /// refuse a write on their own (the disk store's route) ask this.
    #[must_use]
    pub fn accepts_bytes(&self) -> bool {
        self.status == UploadStatus::Pending
    }

    /// How long transfer URLs issued at `now` may live: until `expires_at`, and only while the
    /// upload [accepts bytes](Self::accepts_bytes); `None` otherwise.
    #[must_use]
    pub fn url_lifetime(&self, now: OffsetDateTime) -> Option<Duration> {
        let remaining = self.expires_at - now;
        (self.accepts_bytes() && remaining > time::Duration::ZERO)
            .then(|| Duration::try_from(remaining).unwrap_or(Duration::ZERO))
    }

    /// True when `expires_at` + `grace` lies before `now`.
    #[must_use]
    pub fn is_past_grace(&self, now: OffsetDateTime, grace: Duration) -> bool {
        self.expires_at + grace < now
    }

    /// True when the upload failed because it expired (a final state).
    #[must_use]
    pub fn is_expired_failure(&self) -> bool {
        self.status == UploadStatus::Failed
            && self.failure.as_ref().is_some_and(|f| f.code == FailureCode::UploadExpired)
    }

    /// True when no event can change the upload any more.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(self.status, UploadStatus::Completed | UploadStatus::Canceled) || self.is_expired_failure()
    }

    /// Step 2 of confirm: what the current status means for a confirm at `now`.
    #[must_use]
    pub fn confirm_entry(&self, now: OffsetDateTime, grace: Duration) -> ConfirmEntry {
        match self.status {
            UploadStatus::Completed => ConfirmEntry::Replay,
            UploadStatus::Processing => ConfirmEntry::InProgress(self.task_id.clone()),
            UploadStatus::Canceled => ConfirmEntry::Canceled,
            UploadStatus::Failed if self.is_expired_failure() => ConfirmEntry::Expired,
            UploadStatus::Pending | UploadStatus::Failed if self.is_past_grace(now, grace) => ConfirmEntry::Expired,
            UploadStatus::Pending | UploadStatus::Failed => ConfirmEntry::Verify,
        }
    }

    /// What a cancel means in the current status.
    #[must_use]
    pub fn cancel_entry(&self) -> CancelEntry {
        match self.status {
            UploadStatus::Canceled => CancelEntry::AlreadyCanceled,
            UploadStatus::Pending => CancelEntry::Cancel,
            UploadStatus::Failed if !self.is_expired_failure() => CancelEntry::Cancel,
            UploadStatus::Failed | UploadStatus::Processing | UploadStatus::Completed => CancelEntry::NotCancelable,
        }
    }

    fn verifiable(&self, event: &'static str) -> Result<(), TransitionError> {
        match self.status {
            UploadStatus::Pending => Ok(()),
            UploadStatus::Failed if !self.is_expired_failure() => Ok(()),
            from => Err(TransitionError { from, event }),
        }
    }

    fn changed(&self, status: UploadStatus, now: OffsetDateTime) -> Self {
        Self { status, updated_at: now, ..self.clone() }
    }

    /// PENDING/FAILED → PROCESSING with the verification task `task`.
    ///
    /// # Errors
    /// From any other status.
    pub fn begin_processing(&self, task: TaskId, now: OffsetDateTime) -> Result<Self, TransitionError> {
        self.verifiable("begin asynchronous verification")?;
        let mut next = self.changed(UploadStatus::Processing, now);
        next.task_id = Some(task);
        next.failure = None;
        Ok(next)
    }

    /// PENDING/FAILED (sync confirm) or PROCESSING (async task) → COMPLETED.
    ///
    /// # Errors
    /// From COMPLETED, CANCELED or an expired FAILED.
    pub fn complete(
        &self,
        verified: Verified,
        completion: Completion,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if self.status != UploadStatus::Processing {
            self.verifiable("complete")?;
        }
        let mut next = self.changed(UploadStatus::Completed, now);
        next.verified = Some(verified);
        next.verified_at = Some(now);
        next.completed_at = Some(now);
        next.failure = None;
        match completion {
            Completion::Original { object, batch } => {
                next.object_id = object;
                if let Some((batch, task)) = batch {
                    next.batch_id = Some(batch);
                    next.task_id = Some(task);
                }
            }
            Completion::Duplicate { of, object } => {
                next.is_duplicate = true;
                next.duplicate_of_upload_id = Some(of);
                next.object_id = object;
            }
        }
        Ok(next)
    }

    /// PROCESSING → FAILED with the failed check's code (async verification).
    ///
    /// # Errors
    /// From any status but PROCESSING.
    pub fn fail_verification(&self, failure: Failure, now: OffsetDateTime) -> Result<Self, TransitionError> {
        if self.status != UploadStatus::Processing {
            return Err(TransitionError { from: self.status, event: "fail verification" });
        }
        let mut next = self.changed(UploadStatus::Failed, now);
        next.failure = Some(failure);
        Ok(next)
    }

    /// PENDING/FAILED → FAILED `upload_expired` (confirm after the grace, or the sweeper).
    ///
    /// # Errors
    /// From any other status.
    pub fn expire(&self, now: OffsetDateTime) -> Result<Self, TransitionError> {
        self.verifiable("expire")?;
        let mut next = self.changed(UploadStatus::Failed, now);
        next.failure = Some(Failure::expired());
        Ok(next)
    }

    /// The transition a recorded failure means: `upload_expired` expires the upload (from
    /// PENDING/FAILED), any other code fails its verification (from PROCESSING).
    ///
    /// # Errors
    /// When the upload's status has no such transition.
    pub fn record_failure(&self, failure: Failure, now: OffsetDateTime) -> Result<Self, TransitionError> {
        if failure.code == FailureCode::UploadExpired { self.expire(now) } else { self.fail_verification(failure, now) }
    }

    /// PENDING/FAILED → CANCELED; CANCELED stays CANCELED.
    ///
    /// # Errors
    /// From PROCESSING, COMPLETED or an expired FAILED.
    pub fn cancel(&self, now: OffsetDateTime) -> Result<Self, TransitionError> {
        match self.cancel_entry() {
            CancelEntry::Cancel => Ok(self.changed(UploadStatus::Canceled, now)),
            CancelEntry::AlreadyCanceled => Ok(self.clone()),
            CancelEntry::NotCancelable => Err(TransitionError { from: self.status, event: "be canceled" }),
        }
    }

    /// The SHA-256 to report: the verified one once known, else the client's declaration.
    #[must_use]
    pub fn file_hash(&self) -> Option<&Sha256Hex> {
        self.verified.as_ref().map(|v| &v.sha256).or(self.declared_hash.as_ref())
    }

    /// The answer to a confirm, derived only from the stored row, so every confirm of a completed
    /// upload gets a byte-identical body.
    #[must_use]
    pub fn receipt(&self) -> ConfirmReceipt {
        let message = match (&self.status, &self.duplicate_of_upload_id, &self.object_id) {
            (UploadStatus::Processing, _, _) => "Upload confirmation is being processed in the background.".to_owned(),
            (UploadStatus::Completed, Some(original), _) => {
                format!("Upload confirmed as a duplicate of {original}.")
            }
            (UploadStatus::Completed, None, Some(_)) => "Upload confirmed and bucket object created.".to_owned(),
            (UploadStatus::Completed, None, None) => "Upload confirmed.".to_owned(),
            (status, _, _) => format!("Upload is {status}."),
        };
        ConfirmReceipt {
            upload_id: self.id.clone(),
            status: self.status,
            etag: self.verified.as_ref().map(|v| v.etag.clone()),
            file_size_bytes: self.verified.as_ref().map(|v| v.size),
            file_hash: self.verified.as_ref().map(|v| v.sha256.clone()),
            verified_at: self.verified_at,
            completed_at: self.completed_at,
            object_id: self.object_id.clone(),
            task_id: self.task_id.clone(),
            batch_id: self.batch_id.clone(),
            message,
            is_duplicate: self.is_duplicate,
            duplicate_of_upload_id: self.duplicate_of_upload_id.clone(),
        }
    }
}

/// The result of a confirm: the contract's `ConfirmUploadResponse` in domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmReceipt {
    /// The upload.
    pub upload_id: UploadId,
    /// COMPLETED or PROCESSING.
    pub status: UploadStatus,
    /// The store's etag.
    pub etag: Option<ETag>,
    /// The stored size.
    pub file_size_bytes: Option<u64>,
    /// SHA-256 of the content.
    pub file_hash: Option<Sha256Hex>,
    /// When verification finished.
    pub verified_at: Option<OffsetDateTime>,
    /// When the upload completed.
    pub completed_at: Option<OffsetDateTime>,
    /// The object.
    pub object_id: Option<ObjectId>,
    /// The verification task or the batch's task.
    pub task_id: Option<TaskId>,
    /// The auto-submitted batch.
    pub batch_id: Option<BatchId>,
    /// A sentence for humans.
    pub message: String,
    /// True when an earlier upload holds the same content.
    pub is_duplicate: bool,
    /// That earlier upload.
    pub duplicate_of_upload_id: Option<UploadId>,
}

#[cfg(test)]
mod tests;
