//! The wire types. Schemas named as the contract names them (`ConfirmUploadRequest`,
//! `ConfirmUploadResponse`, `ErrorResponse`, `ErrorDetail`, `TaskStatusEnum`,
//! `HTTPValidationError`); conversions into domain values validate and report 422s by field.
#![expect(
    missing_docs,
    reason = "fields are named and described by the API contract and the generated OpenAPI document"
)]

use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use stowage_domain::bucket::{Bucket, BucketSettings, Namespace};
use stowage_domain::content::{ETag, FileSize, Sha256Hex};
use stowage_domain::names::{ContentType, Filename};
use stowage_domain::object::BucketObject;
use stowage_domain::ports::PresignedRequest;
use stowage_domain::status::TaskStatus;
use stowage_domain::task::Task;
use stowage_domain::upload::{ConfirmReceipt, Upload};
use stowage_domain::usecases::confirm::ConfirmRequest;
use stowage_domain::usecases::create_upload::CreateUploadRequest as DomainCreateUpload;
use stowage_domain::{Coded, ErrorKind};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A timestamp as the API writes it.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Enumeration of task statuses for tracking asynchronous operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatusEnum {
    Pending,
    Queued,
    InProgress,
    Processing,
    Completed,
    CompletedWithErrors,
    Failed,
    Canceled,
    Interrupted,
    Unknown,
    Skipped,
    Draft,
    Active,
    Archived,
    Suspended,
}

impl From<TaskStatus> for TaskStatusEnum {
    fn from(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Pending => Self::Pending,
            TaskStatus::Queued => Self::Queued,
            TaskStatus::InProgress => Self::InProgress,
            TaskStatus::Processing => Self::Processing,
            TaskStatus::Completed => Self::Completed,
            TaskStatus::CompletedWithErrors => Self::CompletedWithErrors,
            TaskStatus::Failed => Self::Failed,
            TaskStatus::Canceled => Self::Canceled,
            TaskStatus::Interrupted => Self::Interrupted,
            TaskStatus::Unknown => Self::Unknown,
            TaskStatus::Skipped => Self::Skipped,
            TaskStatus::Draft => Self::Draft,
            TaskStatus::Active => Self::Active,
            TaskStatus::Archived => Self::Archived,
            TaskStatus::Suspended => Self::Suspended,
        }
    }
}

impl From<TaskStatusEnum> for TaskStatus {
    fn from(s: TaskStatusEnum) -> Self {
        match s {
            TaskStatusEnum::Pending => Self::Pending,
            TaskStatusEnum::Queued => Self::Queued,
            TaskStatusEnum::InProgress => Self::InProgress,
            TaskStatusEnum::Processing => Self::Processing,
            TaskStatusEnum::Completed => Self::Completed,
            TaskStatusEnum::CompletedWithErrors => Self::CompletedWithErrors,
            TaskStatusEnum::Failed => Self::Failed,
            TaskStatusEnum::Canceled => Self::Canceled,
            TaskStatusEnum::Interrupted => Self::Interrupted,
            TaskStatusEnum::Unknown => Self::Unknown,
            TaskStatusEnum::Skipped => Self::Skipped,
            TaskStatusEnum::Draft => Self::Draft,
            TaskStatusEnum::Active => Self::Active,
            TaskStatusEnum::Archived => Self::Archived,
            TaskStatusEnum::Suspended => Self::Suspended,
        }
    }
}

/// Error detail model.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Human-readable error message.
    pub message: String,
    /// Stable error type identifier (machine-readable).
    #[serde(rename = "type")]
    pub error_type: String,
    /// Fine-grained error code for programmatic handling.
    pub code: Option<String>,
    /// Optional structured details to help debugging.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// Error response model.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    /// Always false for error responses.
    #[serde(default)]
    #[schema(default = false, required = false)]
    pub success: bool,
    /// HTTP status code for this error.
    pub status: u16,
    /// Error details payload.
    pub error: ErrorDetail,
}

/// One element of a validation error's location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LocItem {
    /// A field name.
    Name(String),
    /// An array index.
    Index(u32),
}

/// One validation failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationError {
    /// Where: `["body", "file_size_bytes"]`.
    pub loc: Vec<LocItem>,
    /// What is wrong.
    pub msg: String,
    /// A stable kind of failure.
    #[serde(rename = "type")]
    pub error_type: String,
}

/// The 422 body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct HttpValidationError {
    /// The failures.
    #[serde(default)]
    #[schema(required = false)]
    pub detail: Vec<ValidationError>,
}

/// Request to confirm S3 upload completion and create bucket object.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct ConfirmUploadRequest {
    /// S3 ETag returned from the upload; quotes optional.
    pub etag: Option<String>,
    /// Actual file size uploaded, in bytes.
    #[schema(minimum = 1)]
    pub file_size_bytes: Option<i64>,
    /// Create and submit a batch containing the new object.
    #[serde(default)]
    #[schema(default = false)]
    pub auto_submit_batch: bool,
}

impl ConfirmUploadRequest {
    /// Validates into the domain's request.
    ///
    /// # Errors
    /// A 422 naming each bad field.
    pub fn into_domain(self, run_async: bool) -> Result<ConfirmRequest, ApiError> {
        let mut errors = Vec::new();
        let etag = match self.etag.as_deref().map(ETag::parse).transpose() {
            Ok(e) => e,
            Err(e) => {
                errors.push(field_error("etag", &e.to_string(), "value_error"));
                None
            }
        };
        let size = match self.file_size_bytes.map(|n| u64::try_from(n).ok().and_then(|n| FileSize::new(n).ok())) {
            Some(None) => {
                errors.push(field_error(
                    "file_size_bytes",
                    "Input should be greater than or equal to 1",
                    "greater_than_equal",
                ));
                None
            }
            Some(size) => size,
            None => None,
        };
        if errors.is_empty() {
            Ok(ConfirmRequest { etag, file_size_bytes: size, auto_submit_batch: self.auto_submit_batch, run_async })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// A 422 for a body field whose JSON is larger than `max` bytes (compact), or `None`.
pub(crate) fn oversized_json(field: &str, value: Option<&serde_json::Value>, max: usize) -> Option<ValidationError> {
    let len = value.filter(|v| !v.is_null()).map_or(0, |v| v.to_string().len());
    (len > max).then(|| field_error(field, &format!("must be at most {max} bytes as JSON; it is {len}"), "too_long"))
}

/// A 422 for a body text field longer than `max` bytes, or `None`.
pub(crate) fn oversized_text(field: &str, value: Option<&str>, max: usize) -> Option<ValidationError> {
    let len = value.map_or(0, str::len);
    (len > max).then(|| field_error(field, &format!("must be at most {max} bytes; it is {len}"), "too_long"))
}

/// `Err` with every error of `errors`, if there is any.
pub(crate) fn reject(errors: impl IntoIterator<Item = Option<ValidationError>>) -> Result<(), ApiError> {
    let errors: Vec<ValidationError> = errors.into_iter().flatten().collect();
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

fn field_error(field: &str, msg: &str, kind: &str) -> ValidationError {
    ValidationError {
        loc: vec![LocItem::Name("body".into()), LocItem::Name(field.into())],
        msg: msg.to_owned(),
        error_type: kind.to_owned(),
    }
}

/// Response from upload confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfirmUploadResponse {
    /// Upload ID that was confirmed.
    pub upload_id: String,
    /// Updated upload status (COMPLETED or PROCESSING).
    pub status: TaskStatusEnum,
    /// S3 ETag from uploaded object.
    pub etag: Option<String>,
    /// Actual file size from S3.
    pub file_size_bytes: Option<i64>,
    /// SHA-256 of the content.
    pub file_hash: Option<String>,
    /// When verification completed.
    #[schema(format = DateTime)]
    pub verified_at: Option<String>,
    /// When upload completed.
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    /// Created bucket object ID (the original's when a duplicate).
    pub object_id: Option<String>,
    /// Task ID for async processing or of the auto-submitted batch.
    pub task_id: Option<String>,
    /// Batch ID created and submitted by auto_submit_batch=true.
    pub batch_id: Option<String>,
    /// Confirmation message.
    pub message: Option<String>,
    /// True when an earlier upload holds the same content (extension).
    #[serde(default)]
    #[schema(required = false)]
    pub is_duplicate: bool,
    /// That earlier upload (extension).
    #[schema(required = false)]
    pub duplicate_of_upload_id: Option<String>,
}

impl From<ConfirmReceipt> for ConfirmUploadResponse {
    fn from(r: ConfirmReceipt) -> Self {
        Self {
            upload_id: r.upload_id.to_string(),
            status: r.status.as_task_status().into(),
            etag: r.etag.map(|e| e.to_string()),
            file_size_bytes: r.file_size_bytes.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            file_hash: r.file_hash.map(|h| h.to_string()),
            verified_at: r.verified_at.map(rfc3339),
            completed_at: r.completed_at.map(rfc3339),
            object_id: r.object_id.map(|o| o.to_string()),
            task_id: r.task_id.map(|t| t.to_string()),
            batch_id: r.batch_id.map(|b| b.to_string()),
            message: Some(r.message),
            is_duplicate: r.is_duplicate,
            duplicate_of_upload_id: r.duplicate_of_upload_id.map(|u| u.to_string()),
        }
    }
}

const fn yes() -> bool {
    true
}

/// Request to create an upload.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CreateUploadRequest {
    /// The file's name: 1–255 characters, no `/`, `\`, `..` or control characters.
    pub filename: String,
    /// Its MIME type, signed into the PUT.
    pub content_type: String,
    /// Its size, signed into the PUT when given.
    #[schema(minimum = 1)]
    pub file_size_bytes: Option<i64>,
    /// Lifetime of the URL in seconds, 60–86400.
    #[serde(default = "default_expiration")]
    #[schema(minimum = 60, maximum = 86400, default = 3600)]
    pub presigned_url_expiration: i64,
    /// Upload metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Create a bucket object on confirm.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub create_object_on_confirm: bool,
    /// Metadata for the object.
    #[schema(value_type = Option<Object>)]
    pub object_metadata: Option<serde_json::Value>,
    /// Object property of the blob.
    pub blob_property: Option<String>,
    /// Blob type.
    pub blob_type: Option<String>,
    /// SHA-256 of the content, 64 lowercase hex characters.
    pub file_hash: Option<String>,
    /// Answer with an existing upload of the same content instead of a URL.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub skip_duplicates: bool,
    /// Sign `file_hash` into the URL so the store rejects other bytes (extension).
    #[serde(default)]
    pub enforce_checksum: bool,
}

const fn default_expiration() -> i64 {
    3600
}

fn object_or_empty(v: Option<serde_json::Value>) -> serde_json::Value {
    v.filter(|v| !v.is_null()).unwrap_or_else(|| serde_json::json!({}))
}

impl CreateUploadRequest {
    /// Validates into the domain's request.
    ///
    /// # Errors
    /// A 422 for malformed fields (ranges, hash format); a 400 `invalid_filename` or
    /// `invalid_content_type` for names the domain rejects.
    pub fn into_domain(self, idempotency_key: Option<String>) -> Result<DomainCreateUpload, ApiError> {
        let mut errors = Vec::new();
        let size = match self.file_size_bytes.map(|n| u64::try_from(n).ok().and_then(|n| FileSize::new(n).ok())) {
            Some(None) => {
                errors.push(field_error(
                    "file_size_bytes",
                    "Input should be between 1 and 5497558138880",
                    "value_error",
                ));
                None
            }
            Some(size) => size,
            None => None,
        };
        if !(60..=86_400).contains(&self.presigned_url_expiration) {
            errors.push(field_error("presigned_url_expiration", "Input should be between 60 and 86400", "value_error"));
        }
        let hash = match self.file_hash.as_deref().map(Sha256Hex::parse).transpose() {
            Ok(h) => h,
            Err(e) => {
                errors.push(field_error("file_hash", &e.to_string(), "value_error"));
                None
            }
        };
        for (name, value) in [("metadata", &self.metadata), ("object_metadata", &self.object_metadata)] {
            if value.as_ref().is_some_and(|v| !v.is_object() && !v.is_null()) {
                errors.push(field_error(name, "Input should be an object", "dict_type"));
            }
            errors.extend(oversized_json(name, value.as_ref(), stowage_domain::policy::MAX_METADATA_BYTES));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let filename = Filename::parse(&self.filename).map_err(|e| {
            ApiError::new(ErrorKind::BadRequest, stowage_domain::error::codes::INVALID_FILENAME, e.to_string())
        })?;
        let content_type = ContentType::parse(&self.content_type).map_err(|e| {
            ApiError::new(ErrorKind::BadRequest, stowage_domain::error::codes::INVALID_CONTENT_TYPE, e.to_string())
        })?;
        Ok(DomainCreateUpload {
            filename,
            content_type,
            file_size_bytes: size,
            presigned_url_expiration: u32::try_from(self.presigned_url_expiration).ok(),
            metadata: object_or_empty(self.metadata),
            create_object_on_confirm: self.create_object_on_confirm,
            object_metadata: object_or_empty(self.object_metadata),
            blob_property: self.blob_property,
            blob_type: self.blob_type,
            file_hash: hash,
            skip_duplicates: self.skip_duplicates,
            enforce_checksum: self.enforce_checksum,
            idempotency_key,
            client_parts: false,
        })
    }
}

/// An upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadResponse {
    pub upload_id: String,
    pub bucket_id: String,
    pub filename: String,
    pub content_type: String,
    pub file_size_bytes: Option<i64>,
    /// The URL to PUT the bytes to; null once the upload is past PENDING or a duplicate.
    pub presigned_url: Option<String>,
    /// Every header the PUT must send, exactly.
    pub presigned_headers: Option<BTreeMap<String, String>>,
    pub presigned_url_expiration: i64,
    pub s3_key: String,
    pub status: TaskStatusEnum,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    #[schema(value_type = Object)]
    pub object_metadata: serde_json::Value,
    pub create_object_on_confirm: bool,
    pub blob_property: Option<String>,
    pub blob_type: Option<String>,
    pub file_hash: Option<String>,
    pub skip_duplicates: bool,
    pub is_duplicate: bool,
    pub duplicate_of_upload_id: Option<String>,
    pub message: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(format = DateTime)]
    pub verified_at: Option<String>,
    pub etag: Option<String>,
    pub object_id: Option<String>,
    pub task_id: Option<String>,
    pub batch_id: Option<String>,
    /// Why the upload failed, when FAILED.
    pub error_code: Option<String>,
    /// The failure's message.
    pub error_message: Option<String>,
    /// For files above the single-PUT limit: upload `part_count` parts of `part_size_bytes` (the
    /// last one smaller) to URLs from `POST .../uploads/{upload_id}/parts`, then confirm.
    /// `part_size_bytes` 0: a browser's upload whose parts the browser sizes (up to `part_count`).
    pub multipart: Option<MultipartPlan>,
}

/// How a multipart upload is split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MultipartPlan {
    /// Size of every part but the last.
    pub part_size_bytes: u64,
    /// How many parts make the file.
    pub part_count: u32,
}

impl UploadResponse {
    /// Renders an upload with its PUT (if any); `short_circuited` marks a create answered with an
    /// existing upload of the same content.
    #[must_use]
    pub fn new(u: Upload, presigned: Option<PresignedRequest>, short_circuited: bool) -> Self {
        let message = if short_circuited {
            Some(format!("A completed upload with the same content exists: {}; no transfer needed.", u.id))
        } else {
            presigned
                .as_ref()
                .map(|_| "PUT the file to presigned_url with presigned_headers, then confirm.".to_owned())
                .or_else(|| {
                    (u.multipart.is_some() && u.status() == stowage_domain::status::UploadStatus::Pending)
                        .then(|| "Upload the parts to URLs from POST .../parts, then confirm.".to_owned())
                })
        };
        Self {
            upload_id: u.id.to_string(),
            bucket_id: u.bucket_id.to_string(),
            filename: u.filename.to_string(),
            content_type: u.content_type.to_string(),
            file_size_bytes: u
                .verified()
                .as_ref()
                .map(|v| v.size)
                .or(u.declared_size.map(FileSize::get))
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            presigned_headers: presigned.as_ref().map(|p| p.headers.iter().cloned().collect()),
            presigned_url: presigned.map(|p| p.url),
            presigned_url_expiration: i64::from(u.url_expiration_secs),
            s3_key: u.key.to_string(),
            status: u.status().as_task_status().into(),
            metadata: u.metadata.clone(),
            object_metadata: u.object_metadata.clone(),
            create_object_on_confirm: u.create_object_on_confirm,
            blob_property: u.blob_property.clone(),
            blob_type: u.blob_type.clone(),
            file_hash: u.file_hash().map(ToString::to_string),
            skip_duplicates: u.skip_duplicates,
            is_duplicate: short_circuited || u.is_duplicate(),
            duplicate_of_upload_id: if short_circuited {
                Some(u.id.to_string())
            } else {
                u.duplicate_of_upload_id().map(ToString::to_string)
            },
            message,
            created_at: rfc3339(u.created_at),
            expires_at: rfc3339(u.expires_at),
            completed_at: u.completed_at().map(rfc3339),
            verified_at: u.verified_at().map(rfc3339),
            etag: u.verified().map(|v| v.etag.to_string()),
            object_id: u.object_id.as_ref().map(ToString::to_string),
            task_id: u.task_id.as_ref().map(ToString::to_string),
            batch_id: u.batch_id.as_ref().map(ToString::to_string),
            error_code: u.failure().map(|f| f.code.as_str().to_owned()),
            error_message: u.failure().map(|f| f.message.clone()),
            multipart: u
                .multipart
                .as_ref()
                .map(|m| MultipartPlan { part_size_bytes: m.part_size, part_count: m.part_count }),
        }
    }
}

/// Request to create a namespace.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CreateNamespaceRequest {
    pub namespace_name: String,
    pub description: Option<String>,
}

/// A namespace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NamespaceResponse {
    pub namespace_id: String,
    pub namespace_name: String,
    pub description: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<Namespace> for NamespaceResponse {
    fn from(n: Namespace) -> Self {
        Self {
            namespace_id: n.id.to_string(),
            namespace_name: n.name.to_string(),
            description: n.description,
            created_at: rfc3339(n.created_at),
        }
    }
}

/// Request to create a bucket.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CreateBucketRequest {
    pub bucket_name: String,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub bucket_schema: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Upload rules: `max_file_size_bytes`, `allowed_content_types`, `async_threshold_bytes`,
    /// `duplicate_scope` (bucket | namespace | off), `duplicate_blob_policy` (keep | delete),
    /// `require_checksum`, `webhook_url`, `quota_bytes`.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<BucketSettings>,
}

/// A bucket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BucketResponse {
    pub bucket_id: String,
    pub bucket_name: String,
    pub namespace_id: String,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub bucket_schema: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub status: TaskStatusEnum,
    pub object_count: i64,
    pub total_size_bytes: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(value_type = Object)]
    pub settings: BucketSettings,
    /// Signs the bucket's webhook events (`whsec_...`). Shown to keys that may write, only when
    /// the bucket has a `webhook_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

impl BucketResponse {
    /// Renders a bucket with its webhook secret (for callers allowed to write).
    #[must_use]
    pub fn with_secret(b: Bucket) -> Self {
        let secret = b.webhook_secret.clone();
        Self { webhook_secret: secret, ..b.into() }
    }
}

impl From<Bucket> for BucketResponse {
    fn from(b: Bucket) -> Self {
        Self {
            bucket_id: b.id.to_string(),
            bucket_name: b.name.to_string(),
            namespace_id: b.namespace_id.to_string(),
            description: b.description,
            bucket_schema: b.bucket_schema,
            metadata: b.metadata,
            status: TaskStatusEnum::Active,
            object_count: i64::try_from(b.object_count).unwrap_or(i64::MAX),
            total_size_bytes: i64::try_from(b.total_size_bytes).unwrap_or(i64::MAX),
            created_at: rfc3339(b.created_at),
            updated_at: rfc3339(b.updated_at),
            settings: b.settings,
            webhook_secret: None,
        }
    }
}

/// Paging of a list answer, in the shape Mixpeek's `PaginationResponse` has. stowage pages by
/// cursor: `next_cursor` is the one that matters; `page_size` is the page's limit; the counts
/// and page links stowage does not compute are null.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Pagination {
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The page size asked for.
    pub page_size: Option<u32>,
    /// Not computed (null).
    pub total: Option<u64>,
    /// Not computed (null).
    pub page: Option<u32>,
    /// Not computed (null).
    pub total_pages: Option<u32>,
    /// Not computed (null).
    pub next_page: Option<String>,
    /// Not computed (null).
    pub previous_page: Option<String>,
}

impl Pagination {
    /// A cursor page of `page_size`.
    #[must_use]
    pub fn cursor(next_cursor: Option<String>, page_size: u32) -> Self {
        Self { next_cursor, page_size: Some(page_size), ..Self::default() }
    }
}

/// A page of buckets (every bucket of the namespace).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BucketListResponse {
    pub results: Vec<BucketResponse>,
    /// How many buckets (all of them are in `results`).
    pub total_count: usize,
    /// The same number, under its earlier name.
    pub total: usize,
    pub pagination: Pagination,
}

/// A task, in the shape of Mixpeek's `TaskResponse`: `inputs` and `outputs` are arrays (one
/// element holding the task's inputs; one result per item for a batch, else one element).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskResponse {
    pub task_id: String,
    pub task_type: String,
    pub status: TaskStatusEnum,
    #[schema(value_type = Vec<Object>)]
    pub inputs: Vec<serde_json::Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub outputs: Option<Vec<serde_json::Value>>,
    #[schema(value_type = Option<Object>)]
    pub additional_data: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// The failure's stable code.
    pub error_code: Option<String>,
    pub attempts: u32,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A task's outputs as an array: a batch's per-item `results`, or the one output.
fn outputs_array(outputs: Option<serde_json::Value>) -> Option<Vec<serde_json::Value>> {
    use serde_json::Value;
    match outputs? {
        Value::Null => None,
        Value::Array(items) => Some(items),
        Value::Object(mut fields) if fields.get("results").is_some_and(Value::is_array) => {
            match fields.remove("results") {
                Some(Value::Array(items)) => Some(items),
                _ => None,
            }
        }
        other => Some(vec![other]),
    }
}

impl From<Task> for TaskResponse {
    fn from(t: Task) -> Self {
        Self {
            task_id: t.id.to_string(),
            task_type: stowage_domain::task::public_type_name(t.task_type.as_str()).to_owned(),
            status: t.status.into(),
            inputs: if t.inputs.is_null() { Vec::new() } else { vec![t.inputs] },
            outputs: outputs_array(t.outputs),
            additional_data: t.additional_data,
            error: t.error.as_ref().map(|e| e.message.clone()),
            error_code: t.error.map(|e| e.code),
            attempts: t.attempts,
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

/// A blob of an object.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlobResponse {
    pub blob_id: String,
    pub property: String,
    #[serde(rename = "type")]
    pub blob_type: String,
    pub url: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// A GET URL valid for an hour, when asked for.
    pub presigned_url: Option<String>,
}

/// A bucket object.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ObjectResponse {
    pub object_id: String,
    pub bucket_id: String,
    pub upload_id: Option<String>,
    pub status: TaskStatusEnum,
    pub blobs: Vec<BlobResponse>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl ObjectResponse {
    /// Renders an object; `urls` holds a GET URL per blob when asked for.
    #[must_use]
    pub fn new(o: BucketObject, urls: Vec<Option<String>>) -> Self {
        let mut urls = urls.into_iter();
        Self {
            object_id: o.id.to_string(),
            bucket_id: o.bucket_id.to_string(),
            upload_id: o.upload_id.map(|u| u.to_string()),
            status: o.status.into(),
            blobs: o
                .blobs
                .into_iter()
                .map(|b| BlobResponse {
                    blob_id: b.id.to_string(),
                    property: b.property,
                    blob_type: schema_field_type(&b.blob_type, &b.details.mime_type).to_owned(),
                    url: b.url,
                    details: serde_json::to_value(&b.details).unwrap_or_default(),
                    presigned_url: urls.next().flatten(),
                })
                .collect(),
            metadata: o.metadata,
            created_at: rfc3339(o.created_at),
        }
    }
}

/// A blob's `type` as one of Mixpeek's `BucketSchemaFieldType` values (lower case): the kind
/// stowage recorded (`IMAGE`, `VIDEO`, `AUDIO`, `TEXT`, ...), else what the media type says (PDF,
/// spreadsheets), else `object` for an opaque file.
fn schema_field_type(blob_type: &str, mime: &str) -> &'static str {
    const TYPES: [&str; 15] = [
        "string", "number", "integer", "float", "boolean", "object", "array", "date", "datetime", "text", "image",
        "audio", "video", "pdf", "excel",
    ];
    let lower = blob_type.to_ascii_lowercase();
    if let Some(known) = TYPES.iter().find(|t| **t == lower) {
        return known;
    }
    match mime {
        "application/pdf" => "pdf",
        "application/vnd.ms-excel" | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "excel",
        m if m.starts_with("text/") => "text",
        _ => "object",
    }
}

/// Renders any `Coded` as its `{type, code}` pair (for per-item results).
#[must_use]
pub fn coded_json<E: Coded>(e: &E) -> serde_json::Value {
    serde_json::json!({ "type": e.kind().type_name(), "code": e.code(), "message": e.to_string() })
}

/// An API key as admins see it (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyResponse {
    /// `key_...`
    pub key_id: String,
    /// `read`, `write` or `admin`.
    pub role: String,
    /// The namespace ids it acts in.
    pub namespaces: Vec<String>,
    /// An operator key: acts in every namespace.
    pub all_namespaces: bool,
    pub description: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    /// When it last authenticated a request (at most one key-cache lifetime old).
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
}

impl From<stowage_domain::auth::ApiKey> for ApiKeyResponse {
    fn from(k: stowage_domain::auth::ApiKey) -> Self {
        Self {
            key_id: k.id.to_string(),
            role: k.role.as_str().to_owned(),
            namespaces: k.namespaces.iter().map(ToString::to_string).collect(),
            all_namespaces: k.all_namespaces,
            description: k.description,
            created_at: rfc3339(k.created_at),
            revoked_at: k.revoked_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
        }
    }
}

/// The keys of a namespace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListApiKeysResponse {
    pub results: Vec<ApiKeyResponse>,
    pub total: usize,
}

/// The paging parameters of every list route, accepted in the query and in the body (the body
/// wins), with the Mixpeek SDK's aliases: `page_size` for `limit`, `next_cursor` and `after` for
/// `cursor`. stowage pages by cursor: `offset` must be 0 and `page` 1 (any other value is a 422
/// saying so); `include_total` is accepted and `pagination.total` stays null.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page size, 1–100 (default 20).
    #[schema(minimum = 1, maximum = 100)]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The same as `limit` (which wins).
    #[schema(minimum = 1, maximum = 100)]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
    /// Only 0: stowage pages by cursor.
    #[schema(minimum = 0, maximum = 0)]
    #[param(minimum = 0, maximum = 0)]
    pub offset: Option<i64>,
    /// Only 1: stowage pages by cursor.
    #[schema(minimum = 1, maximum = 1)]
    #[param(minimum = 1, maximum = 1)]
    pub page: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// The same as `cursor`.
    pub next_cursor: Option<String>,
    /// The same as `cursor`.
    pub after: Option<String>,
    /// Accepted; stowage does not count (`pagination.total` is null).
    pub include_total: Option<bool>,
}

impl Paging {
    /// The page size and the cursor `body` and `query` ask for (the body's values win).
    ///
    /// # Errors
    /// A 422 naming the parameter for a page size outside 1–100, an offset or a page number.
    pub fn resolve(body: &Self, query: &Self) -> Result<(u32, Option<String>), ApiError> {
        for (source, paging) in [("body", body), ("query", query)] {
            for (name, value) in [("limit", paging.limit), ("page_size", paging.page_size)] {
                if value.is_some_and(|n| !(1..=100).contains(&n)) {
                    return Err(ApiError::invalid(&[source, name], "Input should be between 1 and 100", "value_error"));
                }
            }
            if paging.offset.is_some_and(|n| n != 0) || paging.page.is_some_and(|n| n != 1) {
                let name = if paging.offset.is_some_and(|n| n != 0) { "offset" } else { "page" };
                return Err(ApiError::invalid(
                    &[source, name],
                    "stowage pages by cursor: pass the previous page's next_cursor as cursor",
                    "value_error",
                ));
            }
        }
        let limit =
            [body.limit, body.page_size, query.limit, query.page_size].into_iter().flatten().next().unwrap_or(20);
        let cursor = [&body.cursor, &body.next_cursor, &body.after, &query.cursor, &query.next_cursor, &query.after]
            .into_iter()
            .flatten()
            .next()
            .cloned();
        Ok((u32::try_from(limit).unwrap_or(20), cursor))
    }
}
