//! Tasks on the durable queue: their types, what a handler reports, and the retry policy
//! (exponential backoff, terminal `FAILED` after the maximum number of attempts).

use crate::ids::TaskId;
use crate::status::TaskStatus;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// The kind of work a task does; the worker dispatches on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskType(String);

impl TaskType {
    /// Asynchronous verification of one upload (the contract's name).
    pub const CONFIRM_UPLOAD: &'static str = "api_buckets_uploads_confirm";
    /// Processing of a submitted batch.
    pub const PROCESS_BATCH: &'static str = "api_buckets_batches_submit";
    /// Delivering one webhook event (internal: tenants do not see these tasks).
    pub const WEBHOOK_DELIVERY: &'static str = "webhook_delivery";
    /// Confirming up to 100 uploads (Mixpeek's name for it).
    pub const CONFIRM_BATCH: &'static str = "api_buckets_uploads_batch_confirm";
    /// The name batch confirms were stored under before they took Mixpeek's; still run.
    pub const LEGACY_CONFIRM_BATCH: &'static str = "api_buckets_uploads_confirm_batch";

    /// A task type by name.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The type's name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The kinds of work the worker runs, one per handler; stored tasks carry their [`TaskType`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// [`TaskType::CONFIRM_UPLOAD`].
    ConfirmUpload,
    /// [`TaskType::CONFIRM_BATCH`] (and the legacy name of it).
    ConfirmBatch,
    /// [`TaskType::PROCESS_BATCH`].
    ProcessBatch,
    /// [`TaskType::WEBHOOK_DELIVERY`].
    WebhookDelivery,
}

impl TaskKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::ConfirmUpload, Self::ConfirmBatch, Self::ProcessBatch, Self::WebhookDelivery];

    /// The kind of a stored task type, `None` for a name no handler runs.
    #[must_use]
    pub fn of(task_type: &TaskType) -> Option<Self> {
        match task_type.as_str() {
            TaskType::CONFIRM_UPLOAD => Some(Self::ConfirmUpload),
            TaskType::CONFIRM_BATCH | TaskType::LEGACY_CONFIRM_BATCH => Some(Self::ConfirmBatch),
            TaskType::PROCESS_BATCH => Some(Self::ProcessBatch),
            TaskType::WEBHOOK_DELIVERY => Some(Self::WebhookDelivery),
            _ => None,
        }
    }

    /// The name new tasks of this kind are stored under.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ConfirmUpload => TaskType::CONFIRM_UPLOAD,
            Self::ConfirmBatch => TaskType::CONFIRM_BATCH,
            Self::ProcessBatch => TaskType::PROCESS_BATCH,
            Self::WebhookDelivery => TaskType::WEBHOOK_DELIVERY,
        }
    }

    /// The stored type of a new task of this kind.
    #[must_use]
    pub fn task_type(self) -> TaskType {
        TaskType::new(self.name())
    }
}

/// Why a task failed, as recorded on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// Stable code (`object_not_in_storage`, `verification_unavailable`, ...).
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// A task to put on the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// `task_...`
    pub id: TaskId,
    /// What it does.
    pub task_type: TaskType,
    /// The handler's input.
    pub inputs: serde_json::Value,
    /// Attempts before it ends `FAILED`.
    pub max_attempts: u32,
}

/// The name a stored task type is shown under (Mixpeek's `TaskType` values).
#[must_use]
pub fn public_type_name(stored: &str) -> &str {
    if stored == TaskType::LEGACY_CONFIRM_BATCH { TaskType::CONFIRM_BATCH } else { stored }
}

/// The error code of a task whose stored row the worker could not read: the queue fails it where
/// it lies (never claimed again) and counts it in `stowage_undecodable_rows_total`.
pub const UNDECODABLE_TASK: &str = "undecodable_task";

/// A task as the queue holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// `task_...`
    pub id: TaskId,
    /// What it does.
    pub task_type: TaskType,
    /// `PENDING`, `IN_PROGRESS`, then a terminal status.
    pub status: TaskStatus,
    /// The handler's input.
    pub inputs: serde_json::Value,
    /// The handler's result.
    pub outputs: Option<serde_json::Value>,
    /// Extra data (e.g. `success_rate`).
    pub additional_data: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<TaskFailure>,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// When it was enqueued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Which tasks a worker claims. Webhook deliveries have a lane of their own, so one tenant's slow
/// or dead receiver can hold only the webhook slots, never the confirms and batches of everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Any task.
    Any,
    /// Everything but webhook deliveries.
    Work,
    /// Webhook deliveries only.
    Webhooks,
}

impl Lane {
    /// True when a task of `task_type` belongs in this lane.
    #[must_use]
    pub fn admits(self, task_type: &TaskType) -> bool {
        let webhook = task_type.as_str() == TaskType::WEBHOOK_DELIVERY;
        match self {
            Self::Any => true,
            Self::Work => !webhook,
            Self::Webhooks => webhook,
        }
    }

    /// The lane as an SQL condition on the `tasks` table (the same text on PostgreSQL and SQLite).
    #[must_use]
    pub const fn sql_condition(self) -> &'static str {
        match self {
            Self::Any => "TRUE",
            Self::Work => "task_type <> 'webhook_delivery'",
            Self::Webhooks => "task_type = 'webhook_delivery'",
        }
    }
}

impl Task {
    /// True when the task was claimed more often than it may run: every earlier run, the last
    /// allowed one included, lost its lease (its worker died or hung — possibly because of this
    /// very task). It must not run again; its subject is settled instead
    /// (`usecases::tasks::abandon`).
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        self.attempts > self.max_attempts
    }
}

/// What a handler reports for one run.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskResult {
    /// Done; the task ends with `status` (COMPLETED or COMPLETED_WITH_ERRORS) and these outputs.
    Done {
        /// Terminal status.
        status: TaskStatus,
        /// Handler outputs.
        outputs: serde_json::Value,
        /// Extra data.
        additional_data: Option<serde_json::Value>,
    },
    /// Failed for good: retrying cannot help.
    Failed(TaskFailure),
    /// Failed for now (a dependency is down): retry with backoff.
    Retry(TaskFailure),
}

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before the task ends `FAILED`.
    pub max_attempts: u32,
    /// Delay after the first failure.
    pub base_delay: Duration,
    /// Upper bound of any delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, base_delay: Duration::from_secs(2), max_delay: Duration::from_secs(300) }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempts + 1`, given `attempts` already failed: `base * 2^(n-1)`,
    /// capped at `max_delay`.
    #[must_use]
    pub fn delay_after(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(20);
        self.base_delay.saturating_mul(1 << exp).min(self.max_delay)
    }

    /// True when another attempt is allowed after `attempts` attempts.
    #[must_use]
    pub const fn may_retry(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// What a failed attempt leads to after `attempts` attempts: PENDING again after the backoff
    /// when the handler asked for a retry and attempts are left, else FAILED at once.
    #[must_use]
    pub fn after_failure(&self, attempts: u32, retry: bool) -> (TaskStatus, Duration) {
        if retry && self.may_retry(attempts) {
            (TaskStatus::Pending, self.delay_after(attempts))
        } else {
            (TaskStatus::Failed, Duration::ZERO)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_retried_only_when_asked_and_attempts_are_left() {
        let p = RetryPolicy { max_attempts: 3, base_delay: Duration::from_secs(1), max_delay: Duration::from_secs(10) };
        assert_eq!(p.after_failure(1, true), (TaskStatus::Pending, Duration::from_secs(1)));
        assert_eq!(p.after_failure(2, true), (TaskStatus::Pending, Duration::from_secs(2)));
        assert_eq!(p.after_failure(3, true), (TaskStatus::Failed, Duration::ZERO));
        assert_eq!(p.after_failure(1, false), (TaskStatus::Failed, Duration::ZERO));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p =
            RetryPolicy { max_attempts: 10, base_delay: Duration::from_secs(1), max_delay: Duration::from_secs(10) };
        assert_eq!(p.delay_after(1), Duration::from_secs(1));
        assert_eq!(p.delay_after(2), Duration::from_secs(2));
        assert_eq!(p.delay_after(4), Duration::from_secs(8));
        assert_eq!(p.delay_after(5), Duration::from_secs(10));
        assert_eq!(p.delay_after(60), Duration::from_secs(10));
    }

    #[test]
    fn retries_stop_at_max_attempts() {
        let p = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
        assert!(p.may_retry(2));
        assert!(!p.may_retry(3));
    }
}
