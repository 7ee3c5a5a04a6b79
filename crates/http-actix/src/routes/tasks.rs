//! Tasks, with long polling.

use crate::dto::{ErrorResponse, TaskResponse};
use crate::error::ApiError;
use crate::extract::Tenant;
use crate::state::AppState;
use actix_web::{delete, get, web};
use serde::Deserialize;
use std::time::Duration;
use stowage_domain::ErrorKind;
use stowage_domain::auth::Role;
use stowage_domain::ids::TaskId;
use stowage_domain::task::Task;
use utoipa::IntoParams;

/// `?wait_seconds=`
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct TaskQuery {
    /// Wait up to this many seconds (0–30) for the task to change or finish.
    #[serde(default)]
    #[param(minimum = 0, maximum = 30)]
    wait_seconds: u64,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "task_not_found", "task not found")
}

/// A task of the caller's namespace: tasks name their namespace in their inputs.
async fn visible_task(state: &AppState, tenant: &Tenant, id: &str) -> Result<Task, ApiError> {
    let id = TaskId::parse(id).map_err(|_| not_found())?;
    let task = state.queue.get(&id).await?.ok_or_else(not_found)?;
    if task.inputs.get("namespace_id").and_then(|v| v.as_str()) == Some(tenant.namespace.id.as_str()) {
        Ok(task)
    } else {
        Err(not_found())
    }
}

/// A task; with `wait_seconds` the answer comes as soon as the task changes (or is finished).
#[utoipa::path(get, path = "/v1/tasks/{task_id}", tag = "Tasks", params(TaskQuery),
    responses((status = 200, body = TaskResponse), (status = 404, body = ErrorResponse), (status = 422, body = crate::dto::HttpValidationError)))]
#[get("/v1/tasks/{task_id}")]
pub(crate) async fn get(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
    query: web::Query<TaskQuery>,
) -> Result<web::Json<TaskResponse>, ApiError> {
    if query.wait_seconds > 30 {
        return Err(ApiError::invalid(&["query", "wait_seconds"], "Input should be between 0 and 30", "value_error"));
    }
    let task = visible_task(&state, &tenant, &path).await?;
    if query.wait_seconds == 0 || task.status.is_terminal() {
        return Ok(web::Json(task.into()));
    }
    let changed =
        state.queue.wait_for_change(&task.id, task.updated_at, Duration::from_secs(query.wait_seconds)).await?;
    Ok(web::Json(changed.unwrap_or(task).into()))
}

/// Cancels a task that has not finished.
#[utoipa::path(delete, path = "/v1/tasks/{task_id}", tag = "Tasks",
    responses((status = 200, body = TaskResponse), (status = 404, body = ErrorResponse)))]
#[delete("/v1/tasks/{task_id}")]
pub(crate) async fn cancel(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
) -> Result<web::Json<TaskResponse>, ApiError> {
    tenant.caller.require(Role::Write)?;
    let task = visible_task(&state, &tenant, &path).await?;
    let canceled = state.queue.cancel(&task.id).await?.ok_or_else(not_found)?;
    Ok(web::Json(canceled.into()))
}
