//! [`BatchRepo`]: batches of objects and their processing task.

use crate::batch::Batch;
use crate::error::RepoError;
use crate::ids::{BatchId, BucketId, ObjectId};
use crate::status::TaskStatus;
use crate::task::{NewTask, Task};
use async_trait::async_trait;
use time::OffsetDateTime;

/// How [`BatchRepo::submit`] ended.
#[expect(clippy::large_enum_variant, reason = "returned once per submit; boxing buys nothing")]
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitOutcome {
    /// The draft became PENDING and its task was enqueued, in one transaction.
    Submitted(Batch, Task),
    /// The batch had already been submitted; this is it.
    NotDraft(Batch),
    /// No such batch in the bucket.
    NotFound,
}

/// Batches.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BatchRepo: Send + Sync {
    /// Of `ids`, those that are not objects of `bucket`.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn missing_objects(&self, bucket: &BucketId, ids: &[ObjectId]) -> Result<Vec<ObjectId>, RepoError>;

    /// Stores a new DRAFT batch.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn create(&self, batch: &Batch) -> Result<(), RepoError>;

    /// A batch of `bucket`.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn get(&self, bucket: &BucketId, id: &BatchId) -> Result<Option<Batch>, RepoError>;

    /// If the batch is a DRAFT: set it PENDING with `task` and enqueue the task, atomically.
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing written).
    async fn submit(
        &self,
        bucket: &BucketId,
        id: &BatchId,
        task: &NewTask,
        now: OffsetDateTime,
    ) -> Result<SubmitOutcome, RepoError>;

    /// Records the batch's final status and, when given, the `batch.completed` event's delivery
    /// task — in one transaction. Finishing a batch twice (a re-run task) writes no second event.
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing written).
    async fn finish(
        &self,
        id: &BatchId,
        status: TaskStatus,
        now: OffsetDateTime,
        event: Option<NewTask>,
    ) -> Result<(), RepoError>;
}
