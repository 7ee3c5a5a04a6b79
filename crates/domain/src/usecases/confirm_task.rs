//! The asynchronous confirm task (`api_buckets_uploads_confirm`): steps 4–7 of confirm run by a
//! worker for an upload in PROCESSING. A failed check sets the upload FAILED with the check's
//! code; an outage is retried, and on the last attempt the upload fails
//! `verification_unavailable`, so no upload stays PROCESSING for ever.

use super::Deps;
use super::confirm::{ConfirmTaskInput, drop_duplicate_bytes, plan_confirmation};
use super::verify::{self, Declared, VerificationFailure};
use crate::error::{RepoError, StorageError};
use crate::ports::{ConfirmationOutcome, Transition};
use crate::status::{TaskStatus, UploadStatus};
use crate::task::{TaskFailure, TaskResult};
use crate::upload::{Failure, FailureCode, Upload};

/// The code an upload fails with when storage or the database stayed down for every attempt.
pub const VERIFICATION_UNAVAILABLE: &str = FailureCode::VerificationUnavailable.as_str();

/// Why one run could not finish.
enum Interrupted {
    Check(VerificationFailure),
    Storage(StorageError),
    Repo(RepoError),
}

impl From<VerificationFailure> for Interrupted {
    fn from(e: VerificationFailure) -> Self {
        Self::Check(e)
    }
}

super::port_errors!(Interrupted);

/// Runs one attempt of a confirm task. `last_attempt` tells whether the queue will retry.
/// Idempotent: a re-run after a crash finds the upload COMPLETED and reports it.
pub async fn run_confirm_task(deps: Deps<'_>, input: &ConfirmTaskInput, last_attempt: bool) -> TaskResult {
    match attempt(deps, input).await {
        Ok(result) => result,
        Err(Interrupted::Check(check)) => fail_upload(deps, input, check.to_failure()).await,
        Err(Interrupted::Storage(e)) if !e.is_unavailable() => {
            fail_upload(deps, input, Failure { code: FailureCode::StorageError, message: e.to_string() }).await
        }
        Err(Interrupted::Storage(e)) => retry_or_give_up(deps, input, e.to_string(), last_attempt).await,
        Err(Interrupted::Repo(e)) => retry_or_give_up(deps, input, e.to_string(), last_attempt).await,
    }
}

async fn attempt(deps: Deps<'_>, input: &ConfirmTaskInput) -> Result<TaskResult, Interrupted> {
    let Some(bucket) = deps.tenancy.find_bucket(&input.namespace_id, &input.bucket_id).await? else {
        return Ok(failed(crate::error::codes::BUCKET_NOT_FOUND, "the upload's bucket no longer exists"));
    };
    let Some(upload) = deps.uploads.get_upload(&bucket.id, &input.upload_id).await? else {
        return Ok(failed(crate::error::codes::UPLOAD_NOT_FOUND, "the upload no longer exists"));
    };
    if upload.status != UploadStatus::Processing {
        return Ok(settled(&upload));
    }
    let head = deps.store.head(&upload.key).await?.ok_or(VerificationFailure::ObjectNotInStorage)?;
    let declared = Declared { etag: input.etag.clone(), size: input.file_size_bytes };
    verify::check_head(&upload, &bucket, &head, &declared)?;
    let sha256 = verify::content_hash(deps.store, &upload, &head).await?;
    verify::check_hash(&upload, &sha256)?;
    let mut plan = plan_confirmation(deps, &bucket, &upload, verify::verified(&head, sha256), input.auto_submit_batch);
    let done = match super::confirm::apply_trusting_duplicates::<Interrupted>(deps, &bucket, &mut plan).await? {
        ConfirmationOutcome::Original(done) => done,
        ConfirmationOutcome::Duplicate(done) => {
            drop_duplicate_bytes(deps, &bucket, &done).await;
            done
        }
        ConfirmationOutcome::Stale(moved) => moved,
        // Not answered once the holder is trusted; the queue retries the task.
        ConfirmationOutcome::ClaimHeld => {
            return Err(Interrupted::Repo(RepoError::Unexpected("the content's claim stayed untrusted".to_owned())));
        }
        ConfirmationOutcome::OverQuota(_) => {
            return Err(VerificationFailure::QuotaExceeded { size: plan.verified.size }.into());
        }
    };
    Ok(settled(&done))
}

/// The task's result for an upload that is no longer PROCESSING.
fn settled(upload: &Upload) -> TaskResult {
    match upload.status {
        UploadStatus::Completed => {
            TaskResult::Done { status: TaskStatus::Completed, outputs: outputs(upload), additional_data: None }
        }
        UploadStatus::Failed => TaskResult::Failed(upload.failure.as_ref().map_or_else(
            || TaskFailure { code: "failed".into(), message: "verification failed".into() },
            |f| TaskFailure { code: f.code.as_str().to_owned(), message: f.message.clone() },
        )),
        status => failed(crate::error::codes::INVALID_UPLOAD_STATE, &format!("the upload is {status}")),
    }
}

fn outputs(upload: &Upload) -> serde_json::Value {
    serde_json::json!({
        "upload_id": upload.id,
        "status": upload.status,
        "object_id": upload.object_id,
        "file_hash": upload.verified.as_ref().map(|v| &v.sha256),
        "file_size_bytes": upload.verified.as_ref().map(|v| v.size),
        "etag": upload.verified.as_ref().map(|v| &v.etag),
        "is_duplicate": upload.is_duplicate,
        "duplicate_of_upload_id": upload.duplicate_of_upload_id,
        "batch_id": upload.batch_id,
    })
}

fn failed(code: &str, message: &str) -> TaskResult {
    TaskResult::Failed(TaskFailure { code: code.to_owned(), message: message.to_owned() })
}

/// Sets the task's upload FAILED with `failure` if it is still PROCESSING, with its
/// `upload.failed` event when the bucket has a webhook; a stale transition means another writer
/// settled it first.
///
/// # Errors
/// The database's.
pub(crate) async fn fail_processing_upload(
    deps: Deps<'_>,
    input: &ConfirmTaskInput,
    failure: &Failure,
) -> Result<Transition, RepoError> {
    let webhook = deps
        .tenancy
        .find_bucket(&input.namespace_id, &input.bucket_id)
        .await?
        .and_then(|b| super::webhook_for(deps, &b));
    deps.uploads.record_failure(&input.upload_id, UploadStatus::Processing, failure, deps.clock.now(), webhook).await
}

/// Sets the upload FAILED (if it is still PROCESSING) and fails the task with the same code.
async fn fail_upload(deps: Deps<'_>, input: &ConfirmTaskInput, failure: Failure) -> TaskResult {
    match fail_processing_upload(deps, input, &failure).await {
        Ok(Transition::Applied(_)) => {
            TaskResult::Failed(TaskFailure { code: failure.code.as_str().to_owned(), message: failure.message })
        }
        Ok(Transition::Stale(moved)) => settled(&moved),
        Err(e) => TaskResult::Retry(TaskFailure {
            code: crate::error::codes::DATABASE_UNAVAILABLE.into(),
            message: e.to_string(),
        }),
    }
}

async fn retry_or_give_up(deps: Deps<'_>, input: &ConfirmTaskInput, reason: String, last_attempt: bool) -> TaskResult {
    let failure = Failure { code: FailureCode::VerificationUnavailable, message: reason };
    if last_attempt {
        fail_upload(deps, input, failure).await
    } else {
        TaskResult::Retry(TaskFailure { code: failure.code.as_str().to_owned(), message: failure.message })
    }
}

#[cfg(test)]
mod tests;
