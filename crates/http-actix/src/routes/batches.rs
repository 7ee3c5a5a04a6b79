//! Batches: group objects, submit them for processing, follow them.

use crate::dto::{ErrorResponse, HttpValidationError, TaskResponse, TaskStatusEnum, rfc3339};
use crate::error::ApiError;
use crate::extract::{Json, Tenant};
use crate::state::AppState;
use actix_web::{get, post, web};
use serde::{Deserialize, Serialize};
use stowage_domain::auth::Operation;
use stowage_domain::batch::Batch;
use stowage_domain::ids::ObjectId;
use stowage_domain::usecases::batch;
use utoipa::ToSchema;

/// Request to create a batch.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub(crate) struct CreateBatchRequest {
    /// The objects, 1 to 1000, in processing order.
    object_ids: Vec<String>,
}

/// A batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BatchModel {
    batch_id: String,
    bucket_id: String,
    status: TaskStatusEnum,
    object_ids: Vec<String>,
    task_id: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// Mixpeek resubmits batches after node loss; stowage never does (0).
    max_node_death_resubmits: u32,
    /// Mixpeek resubmits batches after a deploy; stowage never does (0).
    max_deploy_resubmits: u32,
    /// Where the batch is, in one word: `accepted` (DRAFT), `running`, `finished`.
    lifecycle: Option<String>,
    /// Not given (null).
    lifecycle_reason: Option<String>,
}

impl From<Batch> for BatchModel {
    fn from(b: Batch) -> Self {
        Self {
            batch_id: b.id.to_string(),
            bucket_id: b.bucket_id.to_string(),
            status: b.status.into(),
            object_ids: b.object_ids.iter().map(ToString::to_string).collect(),
            task_id: b.task_id.map(|t| t.to_string()),
            lifecycle: Some(
                match b.status {
                    stowage_domain::status::TaskStatus::Draft => "accepted",
                    s if s.is_terminal() => "finished",
                    _ => "running",
                }
                .to_owned(),
            ),
            created_at: rfc3339(b.created_at),
            updated_at: rfc3339(b.updated_at),
            max_node_death_resubmits: 0,
            max_deploy_resubmits: 0,
            lifecycle_reason: None,
        }
    }
}

/// Creates a DRAFT batch of objects of the bucket.
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/batches", operation_id = "create_batch", tag = "Batches", request_body = CreateBatchRequest,
    responses((status = 200, body = BatchModel), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 422, body = HttpValidationError)))]
#[post("/v1/buckets/{bucket_identifier}/batches")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
    body: Json<CreateBatchRequest>,
) -> Result<web::Json<BatchModel>, ApiError> {
    tenant.authorize(Operation::ManageBatch)?;
    let mut ids = Vec::with_capacity(body.0.object_ids.len());
    for (i, raw) in body.0.object_ids.iter().enumerate() {
        match ObjectId::parse(raw) {
            Ok(id) => ids.push(id),
            Err(e) => {
                return Err(ApiError::Validation(vec![crate::dto::ValidationError {
                    loc: vec![
                        crate::dto::LocItem::Name("body".into()),
                        crate::dto::LocItem::Name("object_ids".into()),
                        crate::dto::LocItem::Index(u32::try_from(i).unwrap_or(u32::MAX)),
                    ],
                    msg: e.to_string(),
                    error_type: "value_error".into(),
                }]));
            }
        }
    }
    let batch = batch::create_batch(state.deps(), &tenant.namespace.id, &path, ids).await?;
    Ok(web::Json(batch.into()))
}

/// Submits a DRAFT batch for processing; answers with its task.
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/batches/{batch_id}/submit", operation_id = "submit_batch", tag = "Batches",
    responses((status = 200, body = TaskResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
#[post("/v1/buckets/{bucket_identifier}/batches/{batch_id}/submit")]
pub(crate) async fn submit(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
) -> Result<web::Json<TaskResponse>, ApiError> {
    tenant.authorize(Operation::ManageBatch)?;
    let (bucket, batch_id) = path.into_inner();
    let (_, task) = batch::submit_batch(state.deps(), &tenant.namespace.id, &bucket, &batch_id).await?;
    Ok(web::Json(task.into()))
}

/// A batch and its status.
#[utoipa::path(get, path = "/v1/buckets/{bucket_identifier}/batches/{batch_id}", operation_id = "get_batch", tag = "Batches",
    responses((status = 200, body = BatchModel), (status = 404, body = ErrorResponse)))]
#[get("/v1/buckets/{bucket_identifier}/batches/{batch_id}")]
pub(crate) async fn get(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
) -> Result<web::Json<BatchModel>, ApiError> {
    let (bucket, batch_id) = path.into_inner();
    Ok(web::Json(batch::get_batch(state.deps(), &tenant.namespace.id, &bucket, &batch_id).await?.into()))
}
