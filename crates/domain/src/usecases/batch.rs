//! Batches: create a DRAFT from objects of a bucket, then submit it (→ a processing task).

use super::Deps;
use crate::batch::{Batch, MAX_BATCH_OBJECTS};
use crate::error::{Coded, ErrorKind, RepoError, code_of_repo, kind_of_repo};
use crate::ids::{BatchId, BucketId, NamespaceId, ObjectId, TaskId};
use crate::ports::SubmitOutcome;
use crate::status::TaskStatus;
use crate::task::{NewTask, Task, TaskType};

/// Why a batch operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// No such batch in the bucket.
    #[error("batch not found")]
    BatchNotFound,
    /// A batch needs 1 to 1000 objects.
    #[error("a batch holds 1 to {MAX_BATCH_OBJECTS} objects, got {0}")]
    InvalidSize(usize),
    /// Some objects are not in the bucket.
    #[error("objects not found in the bucket: {0:?}")]
    ObjectsNotFound(Vec<ObjectId>),
    /// The batch was already submitted.
    #[error("the batch was already submitted")]
    AlreadySubmitted,
    /// The database failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl Coded for BatchError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::BatchNotFound => crate::error::codes::BATCH_NOT_FOUND,
            Self::InvalidSize(_) => crate::error::codes::INVALID_BATCH_SIZE,
            Self::ObjectsNotFound(_) => crate::error::codes::OBJECT_NOT_FOUND,
            Self::AlreadySubmitted => crate::error::codes::BATCH_ALREADY_SUBMITTED,
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound | Self::BatchNotFound | Self::ObjectsNotFound(_) => ErrorKind::NotFound,
            Self::InvalidSize(_) => ErrorKind::BadRequest,
            Self::AlreadySubmitted => ErrorKind::Conflict,
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

async fn bucket_id(deps: Deps<'_>, namespace: &NamespaceId, bucket: &str) -> Result<BucketId, BatchError> {
    Ok(deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(BatchError::BucketNotFound)?.id)
}

/// Creates a DRAFT batch of `object_ids` (duplicates removed, order kept).
///
/// # Errors
/// Every [`BatchError`] but `AlreadySubmitted`.
pub async fn create_batch(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    object_ids: Vec<ObjectId>,
) -> Result<Batch, BatchError> {
    let bucket_id = bucket_id(deps, namespace, bucket).await?;
    let mut unique = Vec::with_capacity(object_ids.len());
    for id in object_ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    if unique.is_empty() || unique.len() > MAX_BATCH_OBJECTS {
        return Err(BatchError::InvalidSize(unique.len()));
    }
    let missing = deps.batches.missing_objects(&bucket_id, &unique).await?;
    if !missing.is_empty() {
        return Err(BatchError::ObjectsNotFound(missing));
    }
    let now = deps.clock.now();
    let batch = Batch {
        id: BatchId::new(&deps.ids.suffix()),
        bucket_id,
        status: TaskStatus::Draft,
        object_ids: unique,
        task_id: None,
        created_at: now,
        updated_at: now,
    };
    deps.batches.create(&batch).await?;
    Ok(batch)
}

/// A batch of `bucket` (id or name).
///
/// # Errors
/// `BucketNotFound`, `BatchNotFound`, or a database failure.
pub async fn get_batch(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    batch_id: &str,
) -> Result<Batch, BatchError> {
    let bucket_id = bucket_id(deps, namespace, bucket).await?;
    let batch_id = BatchId::parse(batch_id).map_err(|_| BatchError::BatchNotFound)?;
    deps.batches.get(&bucket_id, &batch_id).await?.ok_or(BatchError::BatchNotFound)
}

/// Submits a DRAFT batch: it becomes PENDING and its processing task is enqueued, atomically.
///
/// # Errors
/// Not found, already submitted, or a database failure.
pub async fn submit_batch(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    batch_id: &str,
) -> Result<(Batch, Task), BatchError> {
    let bucket_id = bucket_id(deps, namespace, bucket).await?;
    let batch_id = BatchId::parse(batch_id).map_err(|_| BatchError::BatchNotFound)?;
    let task = NewTask {
        id: TaskId::new(&deps.ids.suffix()),
        task_type: TaskType::new(TaskType::PROCESS_BATCH),
        inputs: serde_json::json!({ "batch_id": batch_id, "bucket_id": bucket_id, "namespace_id": namespace }),
        max_attempts: deps.policy.batch_task_max_attempts,
    };
    match deps.batches.submit(&bucket_id, &batch_id, &task, deps.clock.now()).await? {
        SubmitOutcome::Submitted(batch, task) => Ok((batch, task)),
        SubmitOutcome::NotDraft(_) => Err(BatchError::AlreadySubmitted),
        SubmitOutcome::NotFound => Err(BatchError::BatchNotFound),
    }
}
