//! The durable queue of background work, cut by role: [`TaskQueue`] is what workers (and the
//! use cases that enqueue) need; [`TaskReads`] is what the API needs to show and cancel tasks.

use crate::error::RepoError;
use crate::ids::TaskId;
use crate::status::TaskStatus;
use crate::task::{Lane, NewTask, RetryPolicy, Task, TaskFailure};
use async_trait::async_trait;
use std::time::Duration;
use time::OffsetDateTime;

/// What the queue holds right now (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Tasks waiting and due now.
    pub due: u64,
    /// Tasks leased to a worker.
    pub in_progress: u64,
    /// How long the oldest due task has been waiting.
    pub oldest_due_age: Duration,
}

/// The durable task queue, as workers use it.
///
/// A claimed task is leased to one worker until the lease expires; an expired lease makes the
/// task claimable again (the worker is presumed dead), so handlers MUST be idempotent.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TaskQueue: Send + Sync {
    /// Enqueues a task in status PENDING, runnable now.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn enqueue(&self, task: &NewTask) -> Result<Task, RepoError>;

    /// Claims the oldest runnable task (PENDING and due, or IN_PROGRESS with an expired lease),
    /// sets it IN_PROGRESS, counts the attempt and leases it to `worker` for `lease`. Two workers
    /// MUST never hold the same task.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Task>, RepoError> {
        self.claim_in(worker, lease, Lane::Any).await
    }

    /// [`Self::claim`], among the tasks of `lane` only.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn claim_in(&self, worker: &str, lease: Duration, lane: Lane) -> Result<Option<Task>, RepoError>;

    /// Extends `worker`'s lease; `false` when the worker no longer holds the task.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn heartbeat(&self, id: &TaskId, worker: &str, lease: Duration) -> Result<bool, RepoError>;

    /// Ends a task `worker` holds with a terminal `status` and its outputs; `false` when the
    /// worker no longer holds it (nothing written).
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn complete(
        &self,
        id: &TaskId,
        worker: &str,
        status: TaskStatus,
        outputs: &serde_json::Value,
        additional_data: Option<serde_json::Value>,
    ) -> Result<bool, RepoError>;

    /// Records a failed attempt of a task `worker` holds. When `retry` is true and the policy
    /// allows another attempt, the task goes back to PENDING after the policy's backoff; otherwise
    /// it ends FAILED with `failure`. Returns the task's new status, `None` when the worker no
    /// longer holds it.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn fail(
        &self,
        id: &TaskId,
        worker: &str,
        failure: &TaskFailure,
        retry: bool,
        policy: &RetryPolicy,
    ) -> Result<Option<TaskStatus>, RepoError>;

    /// Counts of waiting and running tasks, and the age of the oldest due one.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn stats(&self) -> Result<QueueStats, RepoError>;

    /// Gives back every lease `worker` holds (graceful shutdown): its tasks become claimable now.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn release(&self, worker: &str) -> Result<u64, RepoError>;
}

/// Tasks as the API shows them: read by id or listed, awaited, canceled.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TaskReads: Send + Sync {
    /// A task by id.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn get(&self, id: &TaskId) -> Result<Option<Task>, RepoError>;

    /// Cancels a task that has not reached a terminal status; returns it as it is afterwards.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn cancel(&self, id: &TaskId) -> Result<Option<Task>, RepoError>;

    /// Waits up to `timeout` until the task's `updated_at` is later than `seen`, then returns it.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn wait_for_change(
        &self,
        id: &TaskId,
        seen: OffsetDateTime,
        timeout: Duration,
    ) -> Result<Option<Task>, RepoError>;

    /// Up to `limit` tasks of `namespace` (named in their inputs), newest first, optionally only
    /// those in `status`, starting after the task `after` (keyset pagination). Webhook deliveries
    /// are not listed (their type is not one of Mixpeek's task types); they are read by id.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn list(
        &self,
        namespace: &crate::ids::NamespaceId,
        status: Option<TaskStatus>,
        after: Option<TaskId>,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError>;
}
