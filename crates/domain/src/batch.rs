//! Batches: a set of objects submitted together for processing as one task.

use crate::ids::{BatchId, BucketId, ObjectId, TaskId};
use crate::status::TaskStatus;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Most objects one batch may hold.
pub const MAX_BATCH_OBJECTS: usize = 1000;

/// A batch of objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// `btch_...`
    pub id: BatchId,
    /// Its bucket.
    pub bucket_id: BucketId,
    /// `DRAFT` until submitted, then `PENDING`/`PROCESSING`, then a terminal status.
    pub status: TaskStatus,
    /// The objects, in the order given.
    pub object_ids: Vec<ObjectId>,
    /// The processing task once submitted.
    pub task_id: Option<TaskId>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Batch {
    /// Only a draft can be submitted (or have objects added).
    #[must_use]
    pub fn is_draft(&self) -> bool {
        self.status == TaskStatus::Draft
    }
}
