//! Tasks, with long polling.

use crate::dto::{ErrorResponse, TaskResponse};
use crate::error::ApiError;
use crate::extract::Tenant;
use crate::state::AppState;
use actix_web::{delete, get, web};
use serde::Deserialize;
use std::time::Duration;
use stowage_domain::auth::Operation;
use stowage_domain::ids::TaskId;
use stowage_domain::usecases::tasks;
use utoipa::IntoParams;

/// `?wait_seconds=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TaskQuery {
    /// Wait up to this many seconds (0–30) for the task to change or finish.
    #[serde(default)]
    #[param(minimum = 0, maximum = 30)]
    wait_seconds: u64,
}

/// A task; with `wait_seconds` the answer comes as soon as the task changes (or is finished).
#[utoipa::path(get, path = "/v1/tasks/{task_id}", operation_id = "get_task", tag = "Tasks", params(TaskQuery),
    responses((status = 200, body = TaskResponse), (status = 404, body = ErrorResponse), (status = 422, body = crate::dto::HttpValidationError)))]
#[get("/v1/tasks/{task_id}")]
pub(crate) async fn get(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
    query: web::Query<TaskQuery>,
) -> Result<web::Json<TaskResponse>, ApiError> {
    let wait = Duration::from_secs(query.wait_seconds);
    if wait > tasks::MAX_WAIT {
        return Err(ApiError::invalid(&["query", "wait_seconds"], "Input should be between 0 and 30", "value_error"));
    }
    Ok(web::Json(tasks::wait(state.deps(), &tenant.namespace.id, &path, wait).await?.into()))
}

/// Request to list tasks.
#[derive(Debug, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(default)]
pub(crate) struct ListTasksRequest {
    /// Only tasks in this status.
    status: Option<crate::dto::TaskStatusEnum>,
    #[serde(flatten)]
    paging: crate::dto::Paging,
}

/// A page of tasks, newest first.
#[derive(Debug, serde::Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ListTasksResponse {
    results: Vec<TaskResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
    /// The same cursor, in Mixpeek's `PaginationResponse`.
    pagination: crate::dto::Pagination,
}

/// The namespace's tasks, newest first.
#[utoipa::path(post, path = "/v1/tasks/list", operation_id = "list_tasks", tag = "Tasks", request_body = Option<ListTasksRequest>, params(crate::dto::Paging),
    responses((status = 200, body = ListTasksResponse), (status = 422, body = crate::dto::HttpValidationError)))]
#[actix_web::post("/v1/tasks/list")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    tenant: Tenant,
    query: web::Query<crate::dto::Paging>,
    body: crate::extract::OptionalJson<ListTasksRequest>,
) -> Result<web::Json<ListTasksResponse>, ApiError> {
    let req = body.0.unwrap_or_default();
    let (limit, cursor) = crate::dto::Paging::resolve(&req.paging, &query)?;
    let status = req.status.map(stowage_domain::status::TaskStatus::from);
    let after = cursor
        .as_deref()
        .map(|c| {
            TaskId::parse(c)
                .map_err(|_| ApiError::invalid(&["body", "cursor"], "not a cursor returned by this API", "value_error"))
        })
        .transpose()?;
    let tasks = tasks::list(state.deps(), &tenant.namespace.id, status, after, limit).await?;
    let next_cursor = (tasks.len() == limit as usize).then(|| tasks.last().map(|t| t.id.to_string())).flatten();
    Ok(web::Json(ListTasksResponse {
        results: tasks.into_iter().map(Into::into).collect(),
        pagination: crate::dto::Pagination::cursor(next_cursor.clone(), limit),
        next_cursor,
    }))
}

/// Cancels a task that has not finished.
#[utoipa::path(delete, path = "/v1/tasks/{task_id}", operation_id = "cancel_task", tag = "Tasks",
    responses((status = 200, body = TaskResponse), (status = 404, body = ErrorResponse)))]
#[delete("/v1/tasks/{task_id}")]
pub(crate) async fn cancel(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
) -> Result<web::Json<TaskResponse>, ApiError> {
    tenant.authorize(Operation::CancelTask)?;
    let canceled = tasks::cancel(state.deps(), &tenant.namespace.id, &path).await?;
    Ok(web::Json(canceled.into()))
}
