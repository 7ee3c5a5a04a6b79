//! Tasks as tenants see them: visible only in their namespace; canceling one also settles what
//! it was working on, so nothing stays in flight for ever — a canceled confirm fails its upload
//! (`confirm_canceled`, with the `upload.failed` event), a canceled batch task ends its batch
//! CANCELED.

use super::Deps;
use crate::error::{Coded, ErrorKind, RepoError, code_of_repo, kind_of_repo};
use crate::ids::{NamespaceId, TaskId};
use crate::status::TaskStatus;
use crate::task::{Task, TaskFailure};
use crate::upload::{Failure, FailureCode};

/// The code of an upload (and of the task) whose confirm task was abandoned: every allowed run
/// lost its lease.
pub const TASK_ABANDONED: &str = FailureCode::TaskAbandoned.as_str();

/// Why a task could not be read or canceled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// No such task in the caller's namespace.
    #[error("task not found")]
    NotFound,
    /// The database failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl Coded for TaskError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => crate::error::codes::TASK_NOT_FOUND,
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound => ErrorKind::NotFound,
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

/// True when `task` belongs to `namespace` (every task records its namespace in its inputs).
#[must_use]
pub fn is_visible_in(task: &Task, namespace: &NamespaceId) -> bool {
    task.inputs.get("namespace_id").and_then(|v| v.as_str()) == Some(namespace.as_str())
}

/// A task of `namespace`; tasks of other namespaces are `NotFound`, like unknown ones.
///
/// # Errors
/// `NotFound`, or a database failure.
pub async fn get(deps: Deps<'_>, namespace: &NamespaceId, id: &str) -> Result<Task, TaskError> {
    let id = TaskId::parse(id).map_err(|_| TaskError::NotFound)?;
    let task = deps.tasks.get(&id).await?.ok_or(TaskError::NotFound)?;
    if is_visible_in(&task, namespace) { Ok(task) } else { Err(TaskError::NotFound) }
}

/// Longest a caller may wait for a task to change ([`wait`]).
pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A task of `namespace`, answered as soon as it changes within `wait` (at most [`MAX_WAIT`]),
/// or at once when it is finished or `wait` is zero.
///
/// # Errors
/// `NotFound`, or a database failure.
pub async fn wait(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    id: &str,
    wait: std::time::Duration,
) -> Result<Task, TaskError> {
    let task = get(deps, namespace, id).await?;
    if wait.is_zero() || task.status.is_terminal() {
        return Ok(task);
    }
    let changed = deps.tasks.wait_for_change(&task.id, task.updated_at, wait.min(MAX_WAIT)).await?;
    Ok(changed.unwrap_or(task))
}

/// Up to `limit` tasks of `namespace`, newest first, optionally only those in `status`, after
/// the task `after`.
///
/// # Errors
/// A database failure.
pub async fn list(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    status: Option<TaskStatus>,
    after: Option<TaskId>,
    limit: u32,
) -> Result<Vec<Task>, TaskError> {
    Ok(deps.tasks.list(namespace, status, after, limit).await?)
}

/// Cancels a task of `namespace` that has not finished, then settles its subject. Canceling a
/// finished task answers it unchanged.
///
/// # Errors
/// `NotFound`, or a database failure (the task may then be canceled with its subject not yet
/// settled; canceling again settles it).
pub async fn cancel(deps: Deps<'_>, namespace: &NamespaceId, id: &str) -> Result<Task, TaskError> {
    let task = get(deps, namespace, id).await?;
    let canceled = deps.tasks.cancel(&task.id).await?.ok_or(TaskError::NotFound)?;
    if canceled.status != TaskStatus::Canceled {
        return Ok(canceled);
    }
    settle_subject(deps, &canceled, FailureCode::ConfirmCanceled, TaskStatus::Canceled).await?;
    Ok(canceled)
}

/// Ends what a task that will not run again was working on: a confirm task's upload fails with
/// `upload_code` (if still PROCESSING: a worker that finished first wins), a batch task's batch
/// ends `batch_status`. Other tasks have nothing to settle.
async fn settle_subject(
    deps: Deps<'_>,
    task: &Task,
    upload_code: FailureCode,
    batch_status: TaskStatus,
) -> Result<(), RepoError> {
    match super::dispatch::decode(task) {
        Ok(super::dispatch::TaskInput::ConfirmUpload(input)) => {
            let failure = Failure {
                code: upload_code,
                message: format!("the confirm task {} ended without verifying; create a new upload", task.id),
            };
            super::confirm_task::fail_processing_upload(deps, &input, &failure).await?;
        }
        Ok(super::dispatch::TaskInput::ProcessBatch(input)) => {
            deps.batches.finish(&input.batch_id, batch_status, deps.clock.now(), None).await?;
        }
        // Other kinds have no subject to settle; inputs that do not decode name none.
        Ok(_) | Err(_) => {}
    }
    Ok(())
}

/// Settles the subject of an abandoned task ([`Task::is_abandoned`]) without running it again,
/// and answers the failure to record for the task.
///
/// # Errors
/// A database failure (the task's lease then expires and this runs again).
pub async fn abandon(deps: Deps<'_>, task: &Task) -> Result<TaskFailure, RepoError> {
    settle_subject(deps, task, FailureCode::TaskAbandoned, TaskStatus::Failed).await?;
    Ok(TaskFailure {
        code: TASK_ABANDONED.to_owned(),
        message: format!(
            "claimed {} times for {} allowed runs: every run lost its lease (a worker died or hung)",
            task.attempts, task.max_attempts
        ),
    })
}
