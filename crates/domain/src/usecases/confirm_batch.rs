//! Batch confirm (`POST .../uploads/confirm/batch`): up to 100 confirmations run as one task
//! (`api_buckets_uploads_batch_confirm`). Each upload is confirmed exactly as a single confirm
//! would be; the task's `outputs.results` hold one result per upload, in request order. Re-running
//! after a crash is harmless: a confirmed upload answers with its recorded result.

use super::confirm::{ConfirmRequest, confirm_upload};
use super::{Deps, port_errors};
use crate::content::{ETag, FileSize};
use crate::error::{
    Coded, ErrorKind, RepoError, StorageError, code_of_repo, code_of_storage, kind_of_repo, kind_of_storage,
};
use crate::ids::{NamespaceId, TaskId, UploadId};
use crate::status::{TaskStatus, UploadStatus};
use crate::task::{NewTask, Task, TaskFailure, TaskResult, TaskType};
use serde::{Deserialize, Serialize};

/// Most confirmations one batch may hold.
pub const MAX_CONFIRMATIONS: usize = 100;

/// The task type of a batch confirm.
pub const CONFIRM_BATCH: &str = crate::task::TaskType::CONFIRM_BATCH;

/// One confirmation of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The upload.
    pub upload_id: UploadId,
    /// The etag the PUT returned.
    pub etag: Option<ETag>,
    /// The size sent.
    pub file_size_bytes: Option<FileSize>,
}

/// The inputs of a batch-confirm task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmBatchInput {
    /// The namespace.
    pub namespace_id: NamespaceId,
    /// The bucket (id).
    pub bucket_id: String,
    /// The confirmations, in request order.
    pub confirmations: Vec<Confirmation>,
}

/// Why a batch confirm could not be submitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmBatchError {
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// 1 to 100 confirmations are needed.
    #[error("a batch confirm holds 1 to {MAX_CONFIRMATIONS} confirmations, got {0}")]
    InvalidSize(usize),
    /// The store failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(ConfirmBatchError);

impl Coded for ConfirmBatchError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::InvalidSize(_) => crate::error::codes::INVALID_BATCH_SIZE,
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound => ErrorKind::NotFound,
            Self::InvalidSize(_) => ErrorKind::BadRequest,
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

/// Queues the confirmations as one task.
///
/// # Errors
/// `BucketNotFound`, `InvalidSize`, or a database failure.
pub async fn submit_confirm_batch(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    confirmations: Vec<Confirmation>,
) -> Result<Task, ConfirmBatchError> {
    if confirmations.is_empty() || confirmations.len() > MAX_CONFIRMATIONS {
        return Err(ConfirmBatchError::InvalidSize(confirmations.len()));
    }
    let bucket = deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(ConfirmBatchError::BucketNotFound)?;
    let input = ConfirmBatchInput { namespace_id: namespace.clone(), bucket_id: bucket.id.to_string(), confirmations };
    let task = NewTask {
        id: TaskId::new(&deps.ids.suffix()),
        task_type: TaskType::new(CONFIRM_BATCH),
        inputs: serde_json::to_value(&input).map_err(|e| RepoError::Unexpected(e.to_string()))?,
        max_attempts: deps.policy.confirm_task_max_attempts,
    };
    Ok(deps.queue.enqueue(&task).await?)
}

/// Runs one attempt of a batch-confirm task.
pub async fn run_confirm_batch_task(deps: Deps<'_>, input: &ConfirmBatchInput, last_attempt: bool) -> TaskResult {
    let mut results = Vec::with_capacity(input.confirmations.len());
    let mut succeeded = 0usize;
    for c in &input.confirmations {
        let request = ConfirmRequest {
            etag: c.etag.clone(),
            file_size_bytes: c.file_size_bytes,
            auto_submit_batch: false,
            run_async: false,
        };
        match confirm_upload(deps, &input.namespace_id, &input.bucket_id, c.upload_id.as_str(), &request).await {
            Ok(receipt) => {
                if receipt.status == UploadStatus::Completed || receipt.status == UploadStatus::Processing {
                    succeeded += 1;
                }
                results.push(serde_json::json!({
                    "upload_id": receipt.upload_id,
                    "status": receipt.status,
                    "object_id": receipt.object_id,
                    "file_hash": receipt.file_hash,
                    "is_duplicate": receipt.is_duplicate,
                    "task_id": receipt.task_id,
                }));
            }
            Err(e) if e.kind() == ErrorKind::Unavailable && !last_attempt => {
                // Confirms already done replay on the retry; nothing is lost.
                return TaskResult::Retry(TaskFailure { code: e.code().to_owned(), message: e.to_string() });
            }
            Err(e) => results.push(serde_json::json!({
                "upload_id": c.upload_id,
                "status": TaskStatus::Failed,
                "error": {"type": e.kind().type_name(), "code": e.code(), "message": e.to_string()},
            })),
        }
    }
    let total = input.confirmations.len();
    let status = match succeeded {
        n if n == total => TaskStatus::Completed,
        0 => TaskStatus::Failed,
        _ => TaskStatus::CompletedWithErrors,
    };
    TaskResult::Done {
        status,
        outputs: serde_json::json!({"results": results}),
        additional_data: Some(serde_json::json!({
            "success_rate": succeeded as f64 / total.max(1) as f64,
            "succeeded": succeeded,
            "failed": total - succeeded,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::StoredChecksum;
    use crate::usecases::testkit::*;

    #[tokio::test]
    async fn results_follow_request_order_and_failures_carry_their_codes() {
        let mut world = World::new().with(bucket(), pending_upload());
        // The upload is stored with 10 bytes; the second confirmation claims 11.
        world
            .store
            .expect_head_and_hash()
            .returning(|_, _| Ok(Some((head(10, Some(StoredChecksum::FullObject(sha(1)))), None))));
        world.uploads.expect_apply_confirmation().times(1).returning(|plan| {
            let done = pending_upload().complete(
                plan.verified.clone(),
                crate::upload::Completion::Original { object: None, batch: None },
                plan.now,
            );
            Ok(crate::ports::ConfirmationOutcome::Original(done.unwrap()))
        });
        let input = ConfirmBatchInput {
            namespace_id: ns(),
            bucket_id: bucket().id.to_string(),
            confirmations: vec![
                Confirmation { upload_id: pending_upload().id, etag: None, file_size_bytes: FileSize::new(10).ok() },
                Confirmation { upload_id: pending_upload().id, etag: None, file_size_bytes: FileSize::new(11).ok() },
            ],
        };
        let TaskResult::Done { status, outputs, additional_data } =
            run_confirm_batch_task(world.deps(), &input, false).await
        else {
            panic!("not done")
        };
        assert_eq!(status, TaskStatus::CompletedWithErrors);
        assert_eq!(outputs["results"][0]["status"], "COMPLETED");
        assert_eq!(outputs["results"][1]["error"]["code"], "size_mismatch");
        assert_eq!(additional_data.unwrap()["success_rate"], 0.5);
    }

    #[tokio::test]
    async fn more_than_a_hundred_confirmations_are_refused_before_anything_is_queued() {
        let mut world = World::new();
        world.queue.expect_enqueue().never();
        let many = (0..101)
            .map(|_| Confirmation { upload_id: pending_upload().id, etag: None, file_size_bytes: None })
            .collect();
        let err = submit_confirm_batch(world.deps(), &ns(), "photos", many).await.unwrap_err();
        assert_eq!(err.code(), "invalid_batch_size");
    }
}
