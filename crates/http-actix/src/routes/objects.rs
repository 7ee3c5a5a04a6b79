//! Bucket objects.

use crate::dto::{ErrorResponse, ObjectResponse};
use crate::error::ApiError;
use crate::extract::Tenant;
use crate::state::AppState;
use actix_web::{get, web};
use serde::Deserialize;
use stowage_domain::auth::Operation;
use stowage_domain::ids::ObjectId;
use stowage_domain::usecases::objects::{self, BlobSource};
use utoipa::IntoParams;

/// `?return_presigned_urls=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ObjectQuery {
    /// Add a GET URL valid for an hour to every blob.
    #[serde(default)]
    return_presigned_urls: bool,
}

/// Request to list objects.
#[derive(Debug, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(default)]
pub(crate) struct ListObjectsRequest {
    #[serde(flatten)]
    paging: crate::dto::Paging,
}

/// A page of objects, oldest first.
#[derive(Debug, serde::Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ListObjectsResponse {
    results: Vec<ObjectResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
    /// The same cursor, in Mixpeek's `PaginationResponse`.
    pagination: crate::dto::Pagination,
}

/// Lists a bucket's objects.
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/objects/list", operation_id = "list_objects", tag = "Bucket Objects", request_body = Option<ListObjectsRequest>, params(crate::dto::Paging),
    responses((status = 200, body = ListObjectsResponse), (status = 404, body = ErrorResponse), (status = 422, body = crate::dto::HttpValidationError)))]
#[actix_web::post("/v1/buckets/{bucket_identifier}/objects/list")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
    query: web::Query<crate::dto::Paging>,
    body: crate::extract::OptionalJson<ListObjectsRequest>,
) -> Result<web::Json<ListObjectsResponse>, ApiError> {
    let req = body.0.unwrap_or_default();
    let (limit, cursor) = crate::dto::Paging::resolve(&req.paging, &query)?;
    let after = cursor
        .as_deref()
        .map(|c| {
            ObjectId::parse(c)
                .map_err(|_| ApiError::invalid(&["body", "cursor"], "not a cursor returned by this API", "value_error"))
        })
        .transpose()?;
    let objects = objects::list_objects(state.deps(), &tenant.namespace.id, &path, after, limit).await?;
    let next_cursor = (objects.len() == limit as usize).then(|| objects.last().map(|o| o.id.to_string())).flatten();
    Ok(web::Json(ListObjectsResponse {
        results: objects.into_iter().map(|o| ObjectResponse::new(o, Vec::new())).collect(),
        pagination: crate::dto::Pagination::cursor(next_cursor.clone(), limit),
        next_cursor,
    }))
}

/// One blob of a new object.
#[derive(Debug, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlobSourceRequest {
    /// The object property the blob fills (e.g. `content`, `thumbnail`); unique per object.
    property: String,
    /// Blob kind (`IMAGE`, `VIDEO`, `AUDIO`, `TEXT`, `FILE`); derived from the upload's content
    /// type when absent.
    #[serde(rename = "type", default)]
    blob_type: Option<String>,
    /// A COMPLETED upload of this bucket confirmed with `create_object_on_confirm: false`.
    upload_id: String,
}

/// Request to create an object from confirmed uploads.
#[derive(Debug, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateObjectRequest {
    /// 1–20 blobs, each from a different upload.
    blobs: Vec<BlobSourceRequest>,
    /// Metadata of the object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
}

/// Creates an object from uploads confirmed with `create_object_on_confirm: false`.
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/objects", operation_id = "create_object", tag = "Bucket Objects", request_body = CreateObjectRequest,
    responses((status = 200, body = ObjectResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse), (status = 422, body = crate::dto::HttpValidationError)))]
#[actix_web::post("/v1/buckets/{bucket_identifier}/objects")]
pub(crate) async fn create(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
    body: crate::extract::Json<CreateObjectRequest>,
) -> Result<web::Json<ObjectResponse>, ApiError> {
    tenant.authorize(Operation::CreateObject)?;
    let req = body.0;
    crate::dto::reject([crate::dto::oversized_json(
        "metadata",
        req.metadata.as_ref(),
        stowage_domain::policy::MAX_METADATA_BYTES,
    )])?;
    let metadata = match req.metadata {
        None => serde_json::json!({}),
        Some(m @ serde_json::Value::Object(_)) => m,
        Some(_) => return Err(ApiError::invalid(&["body", "metadata"], "Input should be an object", "dict_type")),
    };
    let blobs: Vec<BlobSource> = req
        .blobs
        .into_iter()
        .map(|b| BlobSource { property: b.property, blob_type: b.blob_type, upload_id: b.upload_id })
        .collect();
    let object =
        stowage_domain::usecases::objects::create_object(state.deps(), &tenant.namespace.id, &path, &blobs, metadata)
            .await?;
    Ok(web::Json(ObjectResponse::new(object, Vec::new())))
}

/// Deletes an object; its stored bytes go too unless another object's blob references them.
#[utoipa::path(delete, path = "/v1/buckets/{bucket_identifier}/objects/{object_id}", operation_id = "delete_object", tag = "Bucket Objects",
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorResponse)))]
#[actix_web::delete("/v1/buckets/{bucket_identifier}/objects/{object_id}")]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
) -> Result<actix_web::HttpResponse, ApiError> {
    tenant.authorize(Operation::DeleteObject)?;
    let (bucket, object) = path.into_inner();
    stowage_domain::usecases::objects::delete_object(state.deps(), &tenant.namespace.id, &bucket, &object).await?;
    Ok(actix_web::HttpResponse::NoContent().finish())
}

/// A bucket object with its blobs; with `return_presigned_urls`, download URLs — only for bytes
/// the store still holds as verified at confirm (409 `object_tampered` otherwise).
#[utoipa::path(get, path = "/v1/buckets/{bucket_identifier}/objects/{object_id}", operation_id = "get_object", tag = "Bucket Objects", params(ObjectQuery),
    responses((status = 200, body = ObjectResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
#[get("/v1/buckets/{bucket_identifier}/objects/{object_id}")]
pub(crate) async fn get(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
    query: web::Query<ObjectQuery>,
) -> Result<web::Json<ObjectResponse>, ApiError> {
    let (bucket, object) = path.into_inner();
    let found =
        objects::get_object(state.deps(), &tenant.namespace.id, &bucket, &object, query.return_presigned_urls).await;
    if let Err(objects::GetObjectError::Tampered(_)) = &found {
        metrics::counter!("stowage_tampered_blobs_detected_total").increment(1);
    }
    let (object, urls) = found?;
    Ok(web::Json(ObjectResponse::new(object, urls)))
}
