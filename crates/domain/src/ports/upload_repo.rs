//! [`UploadRepo`]: uploads and their content claims, with the atomic transitions of the upload
//! state machine.

use crate::batch::Batch;
use crate::content::Sha256Hex;
use crate::dedup::{ClaimScope, ContentClaim};
use crate::error::RepoError;
use crate::ids::{BucketId, UploadId};
use crate::object::BucketObject;
use crate::status::UploadStatus;
use crate::task::NewTask;
use crate::upload::{Failure, Upload, Verified};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The result of a conditional transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The upload was in the expected status and now looks like this.
    Applied(Upload),
    /// The upload had moved on; this is how it looks now.
    Stale(Upload),
}

/// The result of inserting a new upload.
#[expect(clippy::large_enum_variant, reason = "returned once per create; boxing buys nothing")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertUpload {
    /// Inserted.
    Inserted,
    /// An upload with the same idempotency key exists in the bucket; this is it.
    Existing(Upload),
}

/// Everything a successful verification writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmationPlan {
    /// The upload.
    pub upload_id: UploadId,
    /// The status read before verifying; the write applies only if the upload is still in it.
    pub expected: UploadStatus,
    /// What verification established.
    pub verified: Verified,
    /// The content claim to make, `None` when duplicate detection is off.
    pub claim: Option<ContentClaim>,
    /// The object to create if this upload is the original (`create_object_on_confirm`).
    pub object: Option<BucketObject>,
    /// The batch (already submitted, status `PENDING`) and its task, if `auto_submit_batch`.
    pub batch: Option<(Batch, NewTask)>,
    /// Where the `upload.completed` event goes, if the bucket has a webhook: its delivery task is
    /// written in the same transaction, whichever way the confirmation ends.
    pub webhook: Option<crate::webhook::WebhookTarget>,
    /// The bucket whose usage counters grow by one object of `verified.size` bytes.
    pub bucket_id: BucketId,
    /// Whether the bytes of whoever holds the content's claim were checked for this confirmation
    /// (`integrity::trusted_original`). Until they were, a held claim ends the transaction with
    /// [`ConfirmationOutcome::ClaimHeld`] and nothing written: an original — the common case —
    /// never pays for that check.
    pub holder_trusted: bool,
    /// The bucket's quota in bytes: checked against its usage inside the transaction, so
    /// concurrent confirms cannot exceed it together.
    pub quota_bytes: Option<u64>,
    /// When this happens.
    pub now: OffsetDateTime,
}

/// Where a page of a listing starts: after the upload with this `(created_at, id)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadCursor {
    /// The last listed upload's creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The last listed upload's id.
    pub id: UploadId,
}

/// Which uploads of a bucket to list, and in which order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UploadQuery {
    /// Only uploads in this status.
    pub status: Option<UploadStatus>,
    /// Only uploads whose metadata contains these key/value pairs.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Only uploads created at or after this time.
    pub created_from: Option<OffsetDateTime>,
    /// Only uploads created before this time.
    pub created_before: Option<OffsetDateTime>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
    /// Continue after this upload.
    pub after: Option<UploadCursor>,
    /// Page size, 1–100.
    pub limit: u32,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPage {
    /// The uploads, in the query's order.
    pub uploads: Vec<Upload>,
    /// Where the next page starts, `None` on the last page.
    pub next: Option<UploadCursor>,
}

/// How [`UploadRepo::apply_confirmation`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmationOutcome {
    /// This upload claimed the content: object, batch, task and counters were written.
    Original(Upload),
    /// Another upload held the claim: this one is COMPLETED as its duplicate, nothing else written.
    Duplicate(Upload),
    /// The upload was no longer in the expected status; nothing was written.
    Stale(Upload),
    /// Another upload holds the content's claim and `holder_trusted` was false: nothing was
    /// written; check the holder, then apply the plan again with `holder_trusted`.
    ClaimHeld,
    /// Recording the object would take the bucket over its quota; nothing was written and the
    /// upload is unchanged.
    OverQuota(Upload),
}

/// Uploads and content claims.
///
/// Every transition MUST be conditional on the upload's current status (compare-and-swap) and
/// MUST be atomic: either all of its writes happen or none do.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UploadRepo: Send + Sync {
    /// Inserts a PENDING upload. With an idempotency key already used in the bucket, inserts
    /// nothing and returns the upload created with it.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn insert_upload(&self, upload: &Upload, idempotency_key: Option<String>) -> Result<InsertUpload, RepoError>;

    /// An upload of `bucket`; uploads of other buckets are `None`.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn get_upload(&self, bucket: &BucketId, id: &UploadId) -> Result<Option<Upload>, RepoError>;

    /// One page of `bucket`'s uploads, ordered by `(created_at, id)`. Keyset pagination: each
    /// page MUST cost O(log n + limit) whatever the table's size, and every upload MUST appear
    /// exactly once across pages.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn list_uploads(&self, bucket: &BucketId, query: &UploadQuery) -> Result<UploadPage, RepoError>;

    /// The upload holding the claim on `sha256` in `scope`, if any.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn find_claim(&self, scope: &ClaimScope, sha256: &Sha256Hex) -> Result<Option<Upload>, RepoError>;

    /// Deletes the claim on `sha256` in `scope` if `holder` still holds it (its bytes are no
    /// longer the verified ones): the content is an original again. True when it was deleted.
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing written).
    async fn release_claim(&self, scope: &ClaimScope, sha256: &Sha256Hex, holder: &UploadId)
    -> Result<bool, RepoError>;

    /// If the upload is still `expected`: set it PROCESSING and enqueue `task`, in one
    /// transaction.
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing written).
    async fn begin_processing(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        task: &NewTask,
        now: OffsetDateTime,
    ) -> Result<Transition, RepoError>;

    /// If the upload is still `plan.expected`: claim the content, then either write the object,
    /// the batch and its task, bump the usage counters and set COMPLETED (original), or set
    /// COMPLETED as the claimant's duplicate — all in one transaction. A lost claim MUST be the
    /// `Duplicate` outcome, never an error.
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing written).
    async fn apply_confirmation(&self, plan: &ConfirmationPlan) -> Result<ConfirmationOutcome, RepoError>;

    /// If the upload is still `expected`: set it FAILED with `failure` and, when `webhook` is
    /// given, write the `upload.failed` event's delivery task — in one transaction.
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing written).
    async fn record_failure(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        failure: &Failure,
        now: OffsetDateTime,
        webhook: Option<crate::webhook::WebhookTarget>,
    ) -> Result<Transition, RepoError>;

    /// If the upload is still `expected`: set it CANCELED.
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing written).
    async fn cancel_upload(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        now: OffsetDateTime,
    ) -> Result<Transition, RepoError>;

    /// Up to `limit` uploads in PENDING whose `expires_at` lies before `cutoff`, oldest first.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn list_expirable(&self, cutoff: OffsetDateTime, limit: u32) -> Result<Vec<Upload>, RepoError>;

    /// Up to `limit` uploads in PENDING whose `expires_at` is at or after `since`, in
    /// (`expires_at`, id) order, after `after` (the finisher pages through them with it).
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn list_pending(
        &self,
        since: OffsetDateTime,
        after: Option<PendingCursor>,
        limit: u32,
    ) -> Result<Vec<Upload>, RepoError>;
}

/// Where a page of [`UploadRepo::list_pending`] ended: its last upload's `expires_at` and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCursor {
    /// The last upload's `expires_at`.
    pub expires_at: OffsetDateTime,
    /// Its id.
    pub id: UploadId,
}

impl PendingCursor {
    /// The cursor after `upload`.
    #[must_use]
    pub fn after(upload: &Upload) -> Self {
        Self { expires_at: upload.expires_at, id: upload.id.clone() }
    }
}
