//! Confirm an upload: docs/domain.md "Confirm, step by step", steps 1–8.

use super::verify::{self, Declared, VerificationFailure};
use super::{Deps, MAX_RACES, port_errors};
use crate::batch::Batch;
use crate::bucket::{Bucket, DuplicateBlobPolicy};
use crate::content::{ETag, FileSize};
use crate::dedup::{ClaimScope, ContentClaim};
use crate::error::{
    Coded, ErrorKind, RepoError, StorageError, code_of_repo, code_of_storage, kind_of_repo, kind_of_storage,
};
use crate::ids::{BatchId, BlobId, NamespaceId, ObjectId, TaskId, UploadId};
use crate::object::{Blob, BlobDetails, BucketObject, DEFAULT_BLOB_PROPERTY, blob_type_for};
use crate::ports::{ConfirmationOutcome, ConfirmationPlan, Transition};
use crate::status::{TaskStatus, UploadStatus};
use crate::task::{NewTask, TaskType};
use crate::upload::{ConfirmEntry, ConfirmReceipt, Failure, Multipart, Upload, Verified};
use serde::{Deserialize, Serialize};

/// A confirm request in domain types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfirmRequest {
    /// The etag the PUT returned, if the client sends it.
    pub etag: Option<ETag>,
    /// The size the client sent, if it says.
    pub file_size_bytes: Option<FileSize>,
    /// Create and submit a batch with the new object.
    pub auto_submit_batch: bool,
    /// `?async=true`.
    pub run_async: bool,
}

/// Why a confirm was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// No such upload in the bucket.
    #[error("upload not found")]
    UploadNotFound,
    /// The upload was canceled.
    #[error("the upload was canceled")]
    UploadCanceled,
    /// The upload expired before it was confirmed.
    #[error("the upload expired before it was confirmed")]
    UploadExpired,
    /// A check of the stored bytes failed; the upload is unchanged.
    #[error(transparent)]
    Verification(#[from] VerificationFailure),
    /// Other confirms kept winning the race; retry.
    #[error("the upload changed concurrently too many times; retry")]
    Contention,
    /// The store failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(ConfirmError);

impl Coded for ConfirmError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::UploadNotFound => crate::error::codes::UPLOAD_NOT_FOUND,
            Self::UploadCanceled => crate::error::codes::UPLOAD_CANCELED,
            Self::UploadExpired => crate::error::codes::UPLOAD_EXPIRED,
            Self::Verification(v) => v.code(),
            Self::Contention => "confirm_contention",
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound | Self::UploadNotFound => ErrorKind::NotFound,
            Self::UploadCanceled | Self::UploadExpired => ErrorKind::BadRequest,
            Self::Verification(v) => v.kind(),
            Self::Contention => ErrorKind::Conflict,
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

/// The inputs of an asynchronous confirm task (`api_buckets_uploads_confirm`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmTaskInput {
    /// The upload.
    pub upload_id: UploadId,
    /// Its bucket's id.
    pub bucket_id: String,
    /// Its namespace.
    pub namespace_id: NamespaceId,
    /// The etag the client sent.
    pub etag: Option<ETag>,
    /// The size the client sent.
    pub file_size_bytes: Option<FileSize>,
    /// Whether to auto-submit a batch.
    pub auto_submit_batch: bool,
}

/// Confirms an upload of `bucket` (id or name) in `namespace`.
///
/// # Errors
/// Every [`ConfirmError`]; on any error the upload is unchanged, except that a confirm after the
/// grace period records the expiry.
pub async fn confirm_upload(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    upload_id: &str,
    request: &ConfirmRequest,
) -> Result<ConfirmReceipt, ConfirmError> {
    // Step 1: resolve. The bucket's rules may come from a cache; its usage, which may be old
    // there, is re-read before a quota refusal here and checked again in the transaction.
    let mut bucket = deps.tenancy.find_bucket_cached(namespace, bucket).await?.ok_or(ConfirmError::BucketNotFound)?;
    let id = UploadId::parse(upload_id).map_err(|_| ConfirmError::UploadNotFound)?;
    let mut upload = deps.uploads.get_upload(&bucket.id, &id).await?.ok_or(ConfirmError::UploadNotFound)?;
    let declared = Declared { etag: request.etag.clone(), size: request.file_size_bytes };

    for _ in 0..MAX_RACES {
        // Step 2: by current status.
        match upload.confirm_entry(deps.clock.now(), deps.policy.confirm_grace) {
            ConfirmEntry::Replay => return replay(&upload, &declared),
            ConfirmEntry::InProgress(_) => return Ok(upload.receipt()),
            ConfirmEntry::Canceled => return Err(ConfirmError::UploadCanceled),
            ConfirmEntry::Expired => match record_expiry(deps, &bucket, &upload).await? {
                Some(moved) => {
                    upload = moved;
                    continue;
                }
                None => return Err(ConfirmError::UploadExpired),
            },
            ConfirmEntry::Verify => {}
        }
        // A multipart upload is assembled from what the store lists, then hashed in the
        // background (a multipart etag is not an MD5, so the SHA-256 needs a full read).
        if let Some(mp) = &upload.multipart {
            assemble(deps, &upload, mp).await?;
        }
        // Step 3: asynchronous on request.
        if request.run_async || upload.multipart.is_some() {
            match begin_async(deps, &bucket, &upload, request).await? {
                Transition::Applied(processing) => return Ok(processing.receipt()),
                Transition::Stale(moved) => {
                    upload = moved;
                    continue;
                }
            }
        }
        // Step 4: what is stored. Unless the store verified a signed checksum at write time, the
        // bytes will be hashed: a small object is read once, its head and its digest together.
        let (head, digest) = if upload.checksum_signed {
            deps.store.head(&upload.key).await?.map(|head| (head, None))
        } else {
            let below_async = bucket.settings.async_threshold_bytes.saturating_sub(1);
            deps.store.head_and_hash(&upload.key, below_async).await?
        }
        .ok_or(VerificationFailure::ObjectNotInStorage)?;
        if head.size >= bucket.settings.async_threshold_bytes {
            match begin_async(deps, &bucket, &upload, request).await? {
                Transition::Applied(processing) => return Ok(processing.receipt()),
                Transition::Stale(moved) => {
                    upload = moved;
                    continue;
                }
            }
        }
        // Steps 5 and 6: checks and the content hash.
        let over_quota = |b: &Bucket| {
            matches!(verify::check_head(&upload, b, &head, &declared), Err(VerificationFailure::QuotaExceeded { .. }))
        };
        bucket = super::fresh_before_refusal(deps, bucket, over_quota).await?.ok_or(ConfirmError::BucketNotFound)?;
        verify::check_head(&upload, &bucket, &head, &declared)?;
        let sha256 = match digest {
            Some(digest) => digest.sha256,
            None => verify::content_hash(deps.store, &upload, &head).await?,
        };
        verify::check_hash(&upload, &sha256)?;
        // Step 7: one transaction, conditional on the status read in step 2.
        let mut plan =
            plan_confirmation(deps, &bucket, &upload, verify::verified(&head, sha256), request.auto_submit_batch);
        match apply_trusting_duplicates::<ConfirmError>(deps, &bucket, &mut plan).await? {
            ConfirmationOutcome::Original(done) => return Ok(done.receipt()),
            ConfirmationOutcome::Duplicate(done) => {
                drop_duplicate_bytes(deps, &bucket, &done).await;
                return Ok(done.receipt());
            }
            ConfirmationOutcome::Stale(moved) => upload = moved,
            // Not answered once the holder is trusted; another round re-applies it.
            ConfirmationOutcome::ClaimHeld => {}
            ConfirmationOutcome::OverQuota(_) => {
                return Err(VerificationFailure::QuotaExceeded { size: plan.verified.size }.into());
            }
        }
    }
    Err(ConfirmError::Contention)
}

/// Applies a confirmation plan. If another upload holds the content's claim, its bytes are checked
/// first — a duplicate is never answered with bytes that changed since they were verified (a
/// changed or missing original gives up its claim) — and the plan is applied again, trusting
/// whoever holds the claim then. Never answers [`ConfirmationOutcome::ClaimHeld`].
///
/// # Errors
/// A database failure, or one of the store while checking the holder.
pub(crate) async fn apply_trusting_duplicates<E>(
    deps: Deps<'_>,
    bucket: &Bucket,
    plan: &mut ConfirmationPlan,
) -> Result<ConfirmationOutcome, E>
where
    E: From<RepoError> + From<super::integrity::CheckError>,
{
    let outcome = deps.uploads.apply_confirmation(plan).await?;
    if outcome != ConfirmationOutcome::ClaimHeld {
        return Ok(outcome);
    }
    if let Some(scope) = ClaimScope::of(bucket) {
        super::integrity::trusted_original(deps, &scope, &plan.verified.sha256).await?;
    }
    plan.holder_trusted = true;
    Ok(deps.uploads.apply_confirmation(plan).await?)
}

/// Completes a multipart upload from the parts the store lists — never from a client's list — once
/// they are exactly parts `1..=part_count` adding up to the declared size. Idempotent: when the
/// store no longer knows the multipart upload, an assembled object of the declared size means an
/// earlier confirm completed it.
async fn assemble(deps: Deps<'_>, upload: &Upload, mp: &Multipart) -> Result<(), ConfirmError> {
    let declared = upload.declared_size.map(FileSize::get);
    let parts = match deps.store.list_parts(&upload.key, &mp.upload_id).await {
        Ok(parts) => parts,
        Err(StorageError::NoSuchUpload) => {
            return match deps.store.head(&upload.key).await? {
                Some(head) if declared.is_none_or(|size| size == head.size) => Ok(()),
                Some(head) => {
                    Err(VerificationFailure::SizeMismatch { declared: declared.unwrap_or_default(), stored: head.size }
                        .into())
                }
                None => Err(VerificationFailure::ObjectNotInStorage.into()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    let numbers: Vec<u32> = parts.iter().map(|p| p.part_number).collect();
    if !mp.is_complete(&numbers) {
        return Err(
            VerificationFailure::MultipartIncomplete { expected: mp.part_count, found: ranges(&numbers) }.into()
        );
    }
    let total: u64 = parts.iter().map(|p| p.size).sum();
    if let Some(size) = declared.filter(|size| *size != total) {
        return Err(VerificationFailure::SizeMismatch { declared: size, stored: total }.into());
    }
    match deps.store.complete_multipart(&upload.key, &mp.upload_id, &parts).await {
        Ok(_) => Ok(()),
        // The store may have assembled the object before failing to say so (a timeout, a lost
        // answer): an object of exactly the parts' size is that assembly.
        Err(e) => match deps.store.head(&upload.key).await {
            Ok(Some(head)) if head.size == total => Ok(()),
            _ => Err(e.into()),
        },
    }
}

/// Sorted part numbers as ranges: `[1, 2, 3, 5]` → `1-3, 5`; none → `none`.
fn ranges(numbers: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = numbers.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        out.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
    }
    if out.is_empty() { "none".to_owned() } else { out.join(", ") }
}

/// A completed upload answers with its recorded result, unless the request contradicts it.
fn replay(upload: &Upload, declared: &Declared) -> Result<ConfirmReceipt, ConfirmError> {
    if let Some(recorded) = &upload.verified {
        if let Some(given) = declared.etag.as_ref().filter(|given| **given != recorded.etag) {
            return Err(
                VerificationFailure::EtagMismatch { given: given.clone(), stored: recorded.etag.clone() }.into()
            );
        }
        if let Some(size) = declared.size.filter(|size| size.get() != recorded.size) {
            return Err(VerificationFailure::SizeMismatch { declared: size.get(), stored: recorded.size }.into());
        }
    }
    Ok(upload.receipt())
}

/// Records that a PENDING or FAILED upload expired. `Some` when it had moved on meanwhile.
async fn record_expiry(deps: Deps<'_>, bucket: &Bucket, upload: &Upload) -> Result<Option<Upload>, ConfirmError> {
    if upload.is_expired_failure() {
        return Ok(None);
    }
    let now = deps.clock.now();
    let webhook = super::webhook_for(deps, bucket);
    match deps.uploads.record_failure(&upload.id, upload.status, &Failure::expired(), now, webhook).await? {
        Transition::Applied(_) => Ok(None),
        Transition::Stale(moved) => Ok(Some(moved)),
    }
}

/// Step 3: PROCESSING and the verification task, in one transaction.
async fn begin_async(
    deps: Deps<'_>,
    bucket: &Bucket,
    upload: &Upload,
    request: &ConfirmRequest,
) -> Result<Transition, RepoError> {
    let input = ConfirmTaskInput {
        upload_id: upload.id.clone(),
        bucket_id: bucket.id.to_string(),
        namespace_id: bucket.namespace_id.clone(),
        etag: request.etag.clone(),
        file_size_bytes: request.file_size_bytes,
        auto_submit_batch: request.auto_submit_batch,
    };
    let task = NewTask {
        id: TaskId::new(&deps.ids.suffix()),
        task_type: TaskType::new(TaskType::CONFIRM_UPLOAD),
        inputs: serde_json::to_value(&input).map_err(|e| RepoError::Unexpected(e.to_string()))?,
        max_attempts: deps.policy.confirm_task_max_attempts,
    };
    deps.uploads.begin_processing(&upload.id, upload.status, &task, deps.clock.now()).await
}

/// Step 7's writes, prepared: the object (when the upload asks for one), the auto-submitted
/// batch with its task, and the content claim. The repository applies them only if the upload
/// claims the content.
pub(crate) fn plan_confirmation(
    deps: Deps<'_>,
    bucket: &Bucket,
    upload: &Upload,
    verified: Verified,
    auto_submit_batch: bool,
) -> ConfirmationPlan {
    let now = deps.clock.now();
    let object = upload.create_object_on_confirm.then(|| BucketObject {
        id: ObjectId::new(&deps.ids.suffix()),
        bucket_id: bucket.id.clone(),
        namespace_id: bucket.namespace_id.clone(),
        upload_id: Some(upload.id.clone()),
        status: TaskStatus::Draft,
        blobs: vec![Blob {
            id: BlobId::new(&deps.ids.suffix()),
            property: upload.blob_property.clone().unwrap_or_else(|| DEFAULT_BLOB_PROPERTY.to_owned()),
            blob_type: upload
                .blob_type
                .clone()
                .unwrap_or_else(|| blob_type_for(upload.content_type.as_str()).to_owned()),
            key: upload.key.clone(),
            url: deps.store.locator(&upload.key),
            details: BlobDetails {
                filename: upload.filename.to_string(),
                size_bytes: verified.size,
                mime_type: upload.content_type.to_string(),
                hash: Some(verified.sha256.clone()),
                detected_mime_type: None,
                verified_at: None,
                etag: Some(verified.etag.clone()),
                tampered_at: None,
            },
        }],
        metadata: upload.object_metadata.clone(),
        created_at: now,
    });
    let batch = object.as_ref().filter(|_| auto_submit_batch).map(|object| {
        let batch_id = BatchId::new(&deps.ids.suffix());
        let task = NewTask {
            id: TaskId::new(&deps.ids.suffix()),
            task_type: TaskType::new(TaskType::PROCESS_BATCH),
            inputs: serde_json::json!({ "batch_id": batch_id, "bucket_id": bucket.id, "namespace_id": bucket.namespace_id }),
            max_attempts: deps.policy.batch_task_max_attempts,
        };
        let batch = Batch {
            id: batch_id,
            bucket_id: bucket.id.clone(),
            status: TaskStatus::Pending,
            object_ids: vec![object.id.clone()],
            task_id: Some(task.id.clone()),
            created_at: now,
            updated_at: now,
        };
        (batch, task)
    });
    ConfirmationPlan {
        upload_id: upload.id.clone(),
        expected: upload.status,
        claim: ContentClaim::for_content(bucket, &verified.sha256),
        verified,
        object,
        batch,
        webhook: super::webhook_for(deps, bucket),
        bucket_id: bucket.id.clone(),
        holder_trusted: false,
        quota_bytes: bucket.settings.quota_bytes,
        now,
    }
}

/// A duplicate's own bytes are deleted when the bucket says so; the original's serve both.
/// Best effort: the upload is already recorded as a duplicate either way.
pub(crate) async fn drop_duplicate_bytes(deps: Deps<'_>, bucket: &Bucket, duplicate: &Upload) {
    if bucket.settings.duplicate_blob_policy == DuplicateBlobPolicy::Delete
        && duplicate.status == UploadStatus::Completed
    {
        let _ignored = deps.store.delete(&duplicate.key).await;
    }
}

#[cfg(test)]
mod tests;
