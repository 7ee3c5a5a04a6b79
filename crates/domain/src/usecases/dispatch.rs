//! What a claimed task asks for, decoded once: its [`TaskKind`] and its typed inputs. The worker
//! matches on [`TaskInput`] and calls the use case; a type no handler runs and inputs that do not
//! decode fail the task with a stable code instead of retrying it forever.

use crate::task::{Task, TaskFailure, TaskKind};
use crate::usecases::confirm::ConfirmTaskInput;
use crate::usecases::confirm_batch::ConfirmBatchInput;
use crate::usecases::process_batch::BatchTaskInput;
use crate::webhook::DeliveryInput;
use serde::de::DeserializeOwned;

/// A task's typed inputs, one variant per [`TaskKind`].
#[derive(Debug, Clone)]
pub enum TaskInput {
    /// Verify one upload.
    ConfirmUpload(ConfirmTaskInput),
    /// Confirm up to 100 uploads.
    ConfirmBatch(ConfirmBatchInput),
    /// Process a submitted batch.
    ProcessBatch(BatchTaskInput),
    /// Deliver one webhook event.
    WebhookDelivery(DeliveryInput),
}

/// The code of a task whose type no handler runs.
pub const UNSUPPORTED_TASK_TYPE: &str = "unsupported_task_type";
/// The code of a task whose inputs do not decode for its type.
pub const INVALID_TASK_INPUTS: &str = "invalid_task_inputs";

/// Decodes what `task` asks for.
///
/// # Errors
/// [`UNSUPPORTED_TASK_TYPE`] or [`INVALID_TASK_INPUTS`], as the failure to record on the task.
pub fn decode(task: &Task) -> Result<TaskInput, TaskFailure> {
    let Some(kind) = TaskKind::of(&task.task_type) else {
        return Err(TaskFailure {
            code: UNSUPPORTED_TASK_TYPE.to_owned(),
            message: format!("no handler for task type `{}`", task.task_type.as_str()),
        });
    };
    Ok(match kind {
        TaskKind::ConfirmUpload => TaskInput::ConfirmUpload(inputs(task)?),
        TaskKind::ConfirmBatch => TaskInput::ConfirmBatch(inputs(task)?),
        TaskKind::ProcessBatch => TaskInput::ProcessBatch(inputs(task)?),
        TaskKind::WebhookDelivery => TaskInput::WebhookDelivery(inputs(task)?),
    })
}

fn inputs<T: DeserializeOwned>(task: &Task) -> Result<T, TaskFailure> {
    serde_json::from_value(task.inputs.clone())
        .map_err(|e| TaskFailure { code: INVALID_TASK_INPUTS.to_owned(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskType;

    fn task(task_type: &str, inputs: serde_json::Value) -> Task {
        let mut task: Task = serde_json::from_value(serde_json::json!({
            "id": "task_tttttttttttttttt",
            "task_type": task_type,
            "status": "PENDING",
            "inputs": inputs,
            "attempts": 1,
            "max_attempts": 3,
            "created_at": "2026-01-15T10:35:00Z",
            "updated_at": "2026-01-15T10:35:00Z",
        }))
        .expect("a task");
        task.task_type = TaskType::new(task_type);
        task
    }

    #[test]
    fn every_kind_round_trips_through_its_stored_name_and_the_legacy_name_still_runs() {
        for kind in TaskKind::ALL {
            assert_eq!(TaskKind::of(&kind.task_type()), Some(kind));
        }
        assert_eq!(TaskKind::of(&TaskType::new(TaskType::LEGACY_CONFIRM_BATCH)), Some(TaskKind::ConfirmBatch));
        assert_eq!(TaskKind::of(&TaskType::new("api_something_else")), None);
    }

    #[test]
    fn unknown_types_and_bad_inputs_fail_with_stable_codes() {
        let unknown = decode(&task("api_something_else", serde_json::json!({}))).unwrap_err();
        assert_eq!(unknown.code, UNSUPPORTED_TASK_TYPE);
        let bad = decode(&task(TaskType::CONFIRM_UPLOAD, serde_json::json!({"nope": 1}))).unwrap_err();
        assert_eq!(bad.code, INVALID_TASK_INPUTS);
    }
}
