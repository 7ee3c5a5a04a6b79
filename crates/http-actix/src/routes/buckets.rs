//! Buckets of the caller's namespace.

use crate::dto::{BucketListResponse, BucketResponse, CreateBucketRequest, ErrorResponse};
use crate::error::ApiError;
use crate::extract::{Json, Tenant};
use crate::state::AppState;
use actix_web::{get, post, web};
use stowage_domain::auth::Operation;
use stowage_domain::names::BucketName;
use stowage_domain::policy::{MAX_DESCRIPTION_BYTES, MAX_METADATA_BYTES, MAX_SCHEMA_BYTES};
use stowage_domain::usecases::tenancy::{self, NewBucket};

/// Creates a bucket.
#[utoipa::path(post, path = "/v1/buckets", operation_id = "create_bucket", tag = "Buckets", request_body = CreateBucketRequest,
    responses((status = 200, body = BucketResponse), (status = 409, body = ErrorResponse), (status = 422, body = crate::dto::HttpValidationError)))]
#[post("/v1/buckets")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    tenant: Tenant,
    body: Json<CreateBucketRequest>,
) -> Result<web::Json<BucketResponse>, ApiError> {
    tenant.authorize(Operation::CreateBucket)?;
    let req = body.0;
    crate::dto::reject([
        crate::dto::oversized_text("description", req.description.as_deref(), MAX_DESCRIPTION_BYTES),
        crate::dto::oversized_json("metadata", req.metadata.as_ref(), MAX_METADATA_BYTES),
        crate::dto::oversized_json("bucket_schema", req.bucket_schema.as_ref(), MAX_SCHEMA_BYTES),
    ])?;
    let name = BucketName::parse(&req.bucket_name)
        .map_err(|e| ApiError::invalid(&["body", "bucket_name"], e.to_string(), "value_error"))?;
    let new = NewBucket {
        name,
        description: req.description,
        bucket_schema: req.bucket_schema,
        metadata: req.metadata.unwrap_or_else(|| serde_json::json!({})),
        settings: req.settings.unwrap_or_default(),
    };
    let bucket = tenancy::create_bucket(state.deps(), &tenant.namespace.id, new).await?;
    Ok(web::Json(BucketResponse::with_secret(bucket)))
}

/// Lists the namespace's buckets.
#[utoipa::path(post, path = "/v1/buckets/list", operation_id = "list_buckets", tag = "Buckets", responses((status = 200, body = BucketListResponse)))]
#[post("/v1/buckets/list")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    tenant: Tenant,
) -> Result<web::Json<BucketListResponse>, ApiError> {
    let buckets = tenancy::list_buckets(state.deps(), &tenant.namespace.id).await?;
    let results: Vec<BucketResponse> = buckets.into_iter().map(Into::into).collect();
    let count = results.len();
    Ok(web::Json(BucketListResponse {
        total_count: count,
        total: count,
        pagination: crate::dto::Pagination { page_size: u32::try_from(count).ok(), ..Default::default() },
        results,
    }))
}

/// A bucket by id or name.
#[utoipa::path(get, path = "/v1/buckets/{bucket_identifier}", operation_id = "get_bucket", tag = "Buckets",
    responses((status = 200, body = BucketResponse), (status = 404, body = ErrorResponse)))]
#[get("/v1/buckets/{bucket_identifier}")]
pub(crate) async fn get(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
) -> Result<web::Json<BucketResponse>, ApiError> {
    let bucket = tenancy::bucket(state.deps(), &tenant.namespace.id, &path).await?;
    Ok(web::Json(if tenant.caller.may(Operation::SeeWebhookSecret) {
        BucketResponse::with_secret(bucket)
    } else {
        bucket.into()
    }))
}
