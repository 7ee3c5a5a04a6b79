//! Uploads: create, read, list, cancel and confirm.

use crate::dto::{
    ConfirmUploadRequest, ConfirmUploadResponse, CreateUploadRequest, ErrorResponse, HttpValidationError,
    TaskStatusEnum, UploadResponse,
};
use crate::error::ApiError;
use crate::extract::{Json, OptionalJson, Tenant};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use stowage_domain::auth::Operation;
use stowage_domain::ports::{UploadCursor, UploadQuery};
use stowage_domain::status::UploadStatus;
use stowage_domain::usecases::{cancel as cancel_uc, confirm as confirm_uc, create_upload, get_upload};
use utoipa::{IntoParams, ToSchema};

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    let key = value
        .to_str()
        .map_err(|_| ApiError::invalid(&["header", "Idempotency-Key"], "must be visible ASCII", "value_error"))?;
    if key.is_empty() || key.chars().count() > 255 {
        return Err(ApiError::invalid(&["header", "Idempotency-Key"], "must be 1 to 255 characters", "value_error"));
    }
    Ok(Some(key.to_owned()))
}

/// Creates an upload and returns the presigned PUT (or, for content already stored, the
/// existing upload without a URL).
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/uploads", operation_id = "create_upload", tag = "Bucket Uploads", request_body = CreateUploadRequest,
    params(("bucket_identifier" = String, Path, description = "Bucket id or name"), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the same upload")),
    responses((status = 200, body = UploadResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 422, body = HttpValidationError), (status = 503, body = ErrorResponse)))]
#[post("/v1/buckets/{bucket_identifier}/uploads")]
pub(crate) async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
    body: Json<CreateUploadRequest>,
) -> Result<web::Json<UploadResponse>, ApiError> {
    tenant.authorize(Operation::CreateUpload)?;
    let request = body.0.into_domain(idempotency_key(&req)?)?;
    let created = create_upload::create_upload(state.deps(), &tenant.namespace.id, &path, request).await?;
    Ok(web::Json(UploadResponse::new(created.upload, created.presigned, created.is_duplicate)))
}

/// Most uploads one batch create may hold.
const MAX_BATCH_CREATE: usize = 100;

/// Request to create several uploads at once.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub(crate) struct CreateUploadsBatchRequest {
    /// 1 to 100 uploads, answered in this order.
    uploads: Vec<CreateUploadRequest>,
    /// Metadata merged into every upload's own (the upload's keys win).
    #[schema(value_type = Option<Object>)]
    shared_metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One upload of a batch create that could not be created.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BatchItemError {
    /// Its position in the request.
    index: usize,
    /// Why.
    error: crate::dto::ErrorDetail,
}

/// The answer to a batch create.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreateUploadsBatchResponse {
    /// The created (or found) uploads, in request order, failures left out.
    uploads: Vec<UploadResponse>,
    /// The failures, by position in the request.
    errors: Vec<BatchItemError>,
    /// How many uploads were created or found.
    total: usize,
}

fn item_error(index: usize, e: &ApiError) -> BatchItemError {
    let detail = match e {
        ApiError::Business { kind, code, message, details } => crate::dto::ErrorDetail {
            message: message.clone(),
            error_type: kind.type_name().to_owned(),
            code: Some(code.clone()),
            details: details.clone(),
        },
        ApiError::Validation(errors) => crate::dto::ErrorDetail {
            message: errors.iter().map(|v| v.msg.clone()).collect::<Vec<_>>().join("; "),
            error_type: "ValidationError".to_owned(),
            code: Some("invalid_request".to_owned()),
            details: serde_json::to_value(errors).ok(),
        },
    };
    BatchItemError { index, error: detail }
}

/// Creates up to 100 uploads in one call; each is created (or refused) on its own.
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/uploads/batch", operation_id = "create_uploads_batch", tag = "Bucket Uploads", request_body = CreateUploadsBatchRequest,
    responses((status = 200, body = CreateUploadsBatchResponse), (status = 404, body = ErrorResponse), (status = 422, body = HttpValidationError)))]
#[post("/v1/buckets/{bucket_identifier}/uploads/batch")]
pub(crate) async fn create_batch(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
    body: Json<CreateUploadsBatchRequest>,
) -> Result<web::Json<CreateUploadsBatchResponse>, ApiError> {
    tenant.authorize(Operation::CreateUpload)?;
    let request = body.0;
    if request.uploads.is_empty() || request.uploads.len() > MAX_BATCH_CREATE {
        return Err(ApiError::invalid(&["body", "uploads"], "between 1 and 100 uploads", "value_error"));
    }
    let shared = request.shared_metadata;
    let items = request
        .uploads
        .into_iter()
        .map(|mut item| {
            if let Some(shared) = &shared {
                let mut merged = shared.clone();
                if let Some(serde_json::Value::Object(own)) = item.metadata.take() {
                    merged.extend(own);
                }
                item.metadata = Some(serde_json::Value::Object(merged));
            }
            item.into_domain(None)
        })
        .collect();
    let results = create_upload::create_uploads(state.deps(), &tenant.namespace.id, &path, items).await?;
    let mut uploads = Vec::new();
    let mut errors = Vec::new();
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(c) => uploads.push(UploadResponse::new(c.upload, c.presigned, c.is_duplicate)),
            Err(create_upload::BatchItemError::Invalid(e)) => errors.push(item_error(index, &e)),
            Err(create_upload::BatchItemError::Refused(e)) => errors.push(item_error(index, &ApiError::from(e))),
        }
    }
    Ok(web::Json(CreateUploadsBatchResponse { total: uploads.len(), uploads, errors }))
}

/// One confirmation of a batch confirm.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub(crate) struct BatchConfirmation {
    upload_id: String,
    etag: Option<String>,
    #[schema(minimum = 1)]
    file_size_bytes: Option<i64>,
}

/// Request to confirm up to 100 uploads as one task.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub(crate) struct ConfirmBatchRequest {
    confirmations: Vec<BatchConfirmation>,
}

/// The queued batch confirm.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ConfirmBatchResponse {
    task_id: String,
    status: TaskStatusEnum,
    confirmations_count: usize,
    task: crate::dto::TaskResponse,
    message: String,
}

/// Confirms up to 100 uploads in one background task; its `outputs.results` hold one result per
/// upload, in request order.
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/uploads/confirm/batch", operation_id = "confirm_uploads_batch", tag = "Bucket Uploads", request_body = ConfirmBatchRequest,
    responses((status = 200, body = ConfirmBatchResponse), (status = 404, body = ErrorResponse), (status = 422, body = HttpValidationError)))]
#[post("/v1/buckets/{bucket_identifier}/uploads/confirm/batch")]
pub(crate) async fn confirm_batch(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
    body: Json<ConfirmBatchRequest>,
) -> Result<web::Json<ConfirmBatchResponse>, ApiError> {
    use stowage_domain::usecases::confirm_batch::{Confirmation, submit_confirm_batch};
    tenant.authorize(Operation::ConfirmUpload)?;
    let mut confirmations = Vec::new();
    for (i, c) in body.0.confirmations.into_iter().enumerate() {
        let request =
            ConfirmUploadRequest { etag: c.etag, file_size_bytes: c.file_size_bytes, auto_submit_batch: false };
        let upload_id = stowage_domain::ids::UploadId::parse(&c.upload_id);
        let (Ok(upload_id), Ok(checked)) = (upload_id, request.into_domain(false)) else {
            return Err(ApiError::invalid(
                &["body", "confirmations", &i.to_string()],
                "not a valid confirmation (upload_id, etag, file_size_bytes >= 1)",
                "value_error",
            ));
        };
        confirmations.push(Confirmation { upload_id, etag: checked.etag, file_size_bytes: checked.file_size_bytes });
    }
    let count = confirmations.len();
    let task = submit_confirm_batch(state.deps(), &tenant.namespace.id, &path, confirmations).await?;
    Ok(web::Json(ConfirmBatchResponse {
        task_id: task.id.to_string(),
        status: task.status.into(),
        confirmations_count: count,
        message: format!("{count} confirmations are being processed in the background."),
        task: task.into(),
    }))
}

/// An upload; while PENDING it carries a fresh PUT URL valid until `expires_at` (not for read
/// keys).
#[utoipa::path(get, path = "/v1/buckets/{bucket_identifier}/uploads/{upload_id}", operation_id = "get_upload", tag = "Bucket Uploads",
    responses((status = 200, body = UploadResponse), (status = 404, body = ErrorResponse)))]
#[get("/v1/buckets/{bucket_identifier}/uploads/{upload_id}")]
pub(crate) async fn get(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
) -> Result<web::Json<UploadResponse>, ApiError> {
    let (bucket, upload) = path.into_inner();
    let (upload, presigned) =
        get_upload::get_upload(state.deps(), tenant.caller.0.role, &tenant.namespace.id, &bucket, &upload).await?;
    Ok(web::Json(UploadResponse::new(upload, presigned, false)))
}

/// `?delete_s3_object=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CancelQuery {
    /// Also delete the stored bytes.
    #[serde(default)]
    delete_s3_object: bool,
}

/// Cancels a PENDING (or failed) upload.
#[utoipa::path(delete, path = "/v1/buckets/{bucket_identifier}/uploads/{upload_id}", operation_id = "cancel_upload", tag = "Bucket Uploads", params(CancelQuery),
    responses((status = 204, description = "Canceled"), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
#[delete("/v1/buckets/{bucket_identifier}/uploads/{upload_id}")]
pub(crate) async fn cancel(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
    query: web::Query<CancelQuery>,
) -> Result<HttpResponse, ApiError> {
    tenant.authorize(Operation::CancelUpload)?;
    let (bucket, upload) = path.into_inner();
    cancel_uc::cancel_upload(state.deps(), &tenant.namespace.id, &bucket, &upload, query.delete_s3_object).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Request for presigned part URLs of a multipart upload.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartUrlsRequest {
    /// 1-based part numbers within the upload's `multipart.part_count`; up to 1000 per request.
    part_numbers: Vec<u32>,
}

/// One part's PUT.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub(crate) struct PartUrl {
    part_number: u32,
    /// PUT the part's bytes here; the response's `ETag` needs no keeping (confirm lists the parts).
    url: String,
    /// Headers the PUT must send.
    headers: std::collections::BTreeMap<String, String>,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// Presigned part URLs, in request order.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub(crate) struct PartUrlsResponse {
    upload_id: String,
    parts: Vec<PartUrl>,
}

/// Presigned PUT URLs for parts of a multipart upload (files above the single-PUT limit).
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/uploads/{upload_id}/parts", operation_id = "get_part_urls", tag = "Bucket Uploads", request_body = PartUrlsRequest,
    responses((status = 200, body = PartUrlsResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, description = "The upload is not a multipart upload", body = ErrorResponse), (status = 422, body = HttpValidationError)))]
#[post("/v1/buckets/{bucket_identifier}/uploads/{upload_id}/parts")]
pub(crate) async fn parts(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
    body: Json<PartUrlsRequest>,
) -> Result<web::Json<PartUrlsResponse>, ApiError> {
    tenant.authorize(Operation::CreateUpload)?;
    let (bucket, upload) = path.into_inner();
    let urls =
        create_upload::part_urls(state.deps(), &tenant.namespace.id, &bucket, &upload, &body.0.part_numbers).await?;
    Ok(web::Json(PartUrlsResponse {
        upload_id: upload,
        parts: urls
            .into_iter()
            .map(|p| PartUrl {
                part_number: p.part_number,
                url: p.request.url,
                headers: p.request.headers.into_iter().collect(),
                expires_at: crate::dto::rfc3339(p.request.expires_at),
            })
            .collect(),
    }))
}

/// `?async=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConfirmQuery {
    /// Process confirmation asynchronously (recommended for files >= 100MB).
    #[serde(rename = "async", default)]
    #[param(rename = "async")]
    run_async: bool,
}

/// Verify S3 upload completion and create bucket object.
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/uploads/{upload_id}/confirm", tag = "Bucket Uploads",
    operation_id = "confirm_upload_v1_buckets__bucket_identifier__uploads__upload_id__confirm_post",
    params(("bucket_identifier" = String, Path, description = "The unique identifier of the bucket"),
           ("upload_id" = String, Path, description = "The unique identifier of the upload"), ConfirmQuery),
    request_body = Option<ConfirmUploadRequest>,
    responses((status = 200, description = "Successful Response", body = ConfirmUploadResponse),
              (status = 400, description = "Bad Request", body = ErrorResponse),
              (status = 401, description = "Unauthorized", body = ErrorResponse),
              (status = 403, description = "Forbidden", body = ErrorResponse),
              (status = 404, description = "Not Found", body = ErrorResponse),
              (status = 422, description = "Validation Error", body = HttpValidationError),
              (status = 500, description = "Internal Server Error", body = ErrorResponse),
              (status = 503, description = "Storage or database unavailable", body = ErrorResponse)))]
#[post("/v1/buckets/{bucket_identifier}/uploads/{upload_id}/confirm")]
pub(crate) async fn confirm(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<(String, String)>,
    query: web::Query<ConfirmQuery>,
    body: OptionalJson<ConfirmUploadRequest>,
) -> Result<web::Json<ConfirmUploadResponse>, ApiError> {
    tenant.authorize(Operation::ConfirmUpload)?;
    let (bucket, upload) = path.into_inner();
    let request = match body.0.unwrap_or_default().into_domain(query.run_async) {
        Ok(request) => request,
        Err(invalid) => {
            // The body's schema is the seed contract's (any string is an etag there): an unknown
            // upload is 404 whatever the body holds, as in the reference implementation.
            get_upload::get_upload(
                state.deps(),
                stowage_domain::auth::Role::Read,
                &tenant.namespace.id,
                &bucket,
                &upload,
            )
            .await?;
            return Err(invalid);
        }
    };
    let receipt = match confirm_uc::confirm_upload(state.deps(), &tenant.namespace.id, &bucket, &upload, &request).await
    {
        Ok(receipt) => receipt,
        Err(e) => {
            metrics::counter!("stowage_confirm_rejections_total", "code" => stowage_domain::Coded::code(&e))
                .increment(1);
            return Err(e.into());
        }
    };
    let outcome = match (receipt.status, receipt.is_duplicate) {
        (UploadStatus::Processing, _) => "processing",
        (_, true) => "duplicate",
        _ => "completed",
    };
    metrics::counter!("stowage_confirms_total", "outcome" => outcome).increment(1);
    if receipt.is_duplicate {
        metrics::counter!("stowage_duplicate_bytes_saved_total").increment(receipt.file_size_bytes.unwrap_or(0));
    }
    Ok(web::Json(receipt.into()))
}

/// Filters of an upload listing.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub(crate) struct UploadFilters {
    /// Only this status.
    status: Option<TaskStatusEnum>,
    /// Only uploads whose metadata has these key/value pairs.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Created at or after (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    created_after: Option<time::OffsetDateTime>,
    /// Created before (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    created_before: Option<time::OffsetDateTime>,
}

/// Sort order of an upload listing.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub(crate) struct UploadSort {
    /// `asc` (oldest first, the default) or `desc`.
    direction: Option<String>,
}

/// Request to list uploads.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub(crate) struct ListUploadsRequest {
    filters: UploadFilters,
    sort: UploadSort,
    #[serde(flatten)]
    paging: crate::dto::Paging,
}

/// A page of uploads.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ListUploadsResponse {
    results: Vec<UploadResponse>,
    /// Pass as `cursor` to get the next page; null on the last page.
    next_cursor: Option<String>,
    /// The same cursor, in Mixpeek's `PaginationResponse`.
    pagination: crate::dto::Pagination,
    /// Counts over this page.
    stats: UploadListStats,
}

/// Mixpeek's `UploadListStats`, computed over the page returned.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UploadListStats {
    total_uploads: usize,
    total_size_bytes: i64,
    uploads_by_status: BTreeMap<String, usize>,
    avg_file_size_bytes: f64,
    unique_buckets: usize,
}

impl UploadListStats {
    fn of(uploads: &[UploadResponse]) -> Self {
        let total_size_bytes: i64 = uploads.iter().filter_map(|u| u.file_size_bytes).sum();
        let mut uploads_by_status = BTreeMap::new();
        for u in uploads {
            let status = serde_json::to_value(u.status).ok().and_then(|v| v.as_str().map(str::to_owned));
            *uploads_by_status.entry(status.unwrap_or_default()).or_insert(0) += 1;
        }
        let buckets: std::collections::BTreeSet<&str> = uploads.iter().map(|u| u.bucket_id.as_str()).collect();
        #[expect(clippy::cast_precision_loss, reason = "an average for display")]
        let avg_file_size_bytes = if uploads.is_empty() { 0.0 } else { total_size_bytes as f64 / uploads.len() as f64 };
        Self {
            total_uploads: uploads.len(),
            total_size_bytes,
            uploads_by_status,
            avg_file_size_bytes,
            unique_buckets: buckets.len(),
        }
    }
}

fn encode_cursor(c: &UploadCursor) -> String {
    hex::encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Result<UploadCursor, ApiError> {
    hex::decode(s)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or_else(|| ApiError::invalid(&["body", "cursor"], "not a cursor returned by this API", "value_error"))
}

/// Lists a bucket's uploads with keyset pagination.
#[utoipa::path(post, path = "/v1/buckets/{bucket_identifier}/uploads/list", operation_id = "list_uploads", tag = "Bucket Uploads", request_body = Option<ListUploadsRequest>, params(crate::dto::Paging),
    responses((status = 200, body = ListUploadsResponse), (status = 404, body = ErrorResponse), (status = 422, body = HttpValidationError)))]
#[post("/v1/buckets/{bucket_identifier}/uploads/list")]
pub(crate) async fn list(
    state: web::Data<AppState>,
    tenant: Tenant,
    path: web::Path<String>,
    paging: web::Query<crate::dto::Paging>,
    body: OptionalJson<ListUploadsRequest>,
) -> Result<web::Json<ListUploadsResponse>, ApiError> {
    let req = body.0.unwrap_or_default();
    let (limit, cursor) = crate::dto::Paging::resolve(&req.paging, &paging)?;
    let newest_first = match req.sort.direction.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(ApiError::invalid(&["body", "sort", "direction"], "Input should be 'asc' or 'desc'", "enum"));
        }
    };
    let status = req
        .filters
        .status
        .map(|s| {
            UploadStatus::parse(stowage_domain::status::TaskStatus::from(s).as_str())
                .ok_or_else(|| ApiError::invalid(&["body", "filters", "status"], "not an upload status", "enum"))
        })
        .transpose()?;
    let after = cursor.as_deref().map(decode_cursor).transpose()?;
    let query = UploadQuery {
        status,
        metadata: req.filters.metadata,
        created_from: req.filters.created_after,
        created_before: req.filters.created_before,
        newest_first,
        after,
        limit,
    };
    let page_size = query.limit;
    let page = get_upload::list_uploads(state.deps(), &tenant.namespace.id, &path, &query).await?;
    let results: Vec<UploadResponse> = page.uploads.into_iter().map(|u| UploadResponse::new(u, None, false)).collect();
    let next_cursor = page.next.as_ref().map(encode_cursor);
    Ok(web::Json(ListUploadsResponse {
        stats: UploadListStats::of(&results),
        pagination: crate::dto::Pagination::cursor(next_cursor.clone(), page_size),
        results,
        next_cursor,
    }))
}
