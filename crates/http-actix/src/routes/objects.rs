//! Bucket objects.

use crate::dto::{ErrorResponse, ObjectResponse};
use crate::error::ApiError;
use crate::extract::Tenant;
use crate::state::AppState;
use actix_web::{get, web};
use serde::Deserialize;
use std::time::Duration;
use stowage_domain::ErrorKind;
use stowage_domain::ids::ObjectId;
use utoipa::IntoParams;

/// How long download URLs work.
const GET_URL_LIFETIME: Duration = Duration::from_secs(3600);

/// `?return_presigned_urls=`
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct ObjectQuery {
    /// Add a GET URL valid for an hour to every blob.
    #[serde(default)]
    return_presigned_urls: bool,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "object_not_found", "object not found")
}

/// A bucket object with its blobs.
#[utoipa::path(get, path = "/v1/buckets/{bucket_identifier}/objects/{object_id}", tag = "Bucket Objects", params(ObjectQuery),
    responses((status = 200, body = ObjectResponse), (status = 404, body = ErrorResponse)))]
#[get("/v1/buckets/{bucket_identifier}/objects/{object_id}")]
pub(crate) async fn get(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
    query: web::Query<ObjectQuery>,
) -> Result<web::Json<ObjectResponse>, ApiError> {
    let (bucket, object) = path.into_inner();
    let bucket = state
        .repo
        .find_bucket(&tenant.namespace.id, &bucket)
        .await?
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "bucket_not_found", "bucket not found"))?;
    let id = ObjectId::parse(&object).map_err(|_| not_found())?;
    let object = state.repo.get_object(&bucket.id, &id).await?.ok_or_else(not_found)?;
    let mut urls = Vec::new();
    if query.return_presigned_urls {
        for blob in &object.blobs {
            urls.push(Some(state.store.presign_get(&blob.key, GET_URL_LIFETIME).await?.url));
        }
    }
    Ok(web::Json(ObjectResponse::new(object, urls)))
}
