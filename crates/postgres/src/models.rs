//! Rows as diesel reads and writes them, and their conversions to and from domain values.
//! Conversions out of the database validate: a row the domain could not have written is an
//! `Unexpected` error, never a panic.

use crate::error::corrupt;
use crate::schema::{api_keys, batches, blobs, buckets, namespaces, objects, tasks, uploads};
use diesel::prelude::*;
use stowage_domain::auth::{ApiKey, Role};
use stowage_domain::batch::Batch;
use stowage_domain::bucket::{Bucket, BucketSettings, Namespace};
use stowage_domain::content::{ETag, FileSize, Sha256Hex};
use stowage_domain::error::RepoError;
use stowage_domain::ids::{BatchId, BlobId, BucketId, KeyId, NamespaceId, ObjectId, TaskId, UploadId};
use stowage_domain::names::{BucketName, ContentType, Filename, NamespaceName, ObjectKey};
use stowage_domain::object::{Blob, BlobDetails, BucketObject};
use stowage_domain::status::{TaskStatus, UploadStatus};
use stowage_domain::task::{NewTask, Task, TaskFailure, TaskType};
use stowage_domain::upload::{Failure, FailureCode, StoredUpload, Upload, Verified};
use time::OffsetDateTime;

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn to_u32(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = namespaces, check_for_backend(diesel::pg::Pg))]
pub(crate) struct NamespaceRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
}

impl From<&Namespace> for NamespaceRow {
    fn from(n: &Namespace) -> Self {
        Self {
            id: n.id.to_string(),
            name: n.name.to_string(),
            description: n.description.clone(),
            created_at: n.created_at,
        }
    }
}

impl TryFrom<NamespaceRow> for Namespace {
    type Error = RepoError;
    fn try_from(r: NamespaceRow) -> Result<Self, RepoError> {
        Ok(Self {
            id: NamespaceId::parse(&r.id).map_err(|e| corrupt("namespace id", e))?,
            name: NamespaceName::parse(&r.name).map_err(|e| corrupt("namespace name", e))?,
            description: r.description,
            created_at: r.created_at,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = buckets, check_for_backend(diesel::pg::Pg))]
pub(crate) struct BucketRow {
    pub id: String,
    pub namespace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub bucket_schema: Option<serde_json::Value>,
    pub metadata: serde_json::Value,
    pub settings: serde_json::Value,
    pub object_count: i64,
    pub total_size_bytes: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub webhook_secret: Option<String>,
}

impl BucketRow {
    pub(crate) fn from_domain(b: &Bucket) -> Result<Self, RepoError> {
        Ok(Self {
            id: b.id.to_string(),
            namespace_id: b.namespace_id.to_string(),
            name: b.name.to_string(),
            description: b.description.clone(),
            bucket_schema: b.bucket_schema.clone(),
            metadata: b.metadata.clone(),
            settings: serde_json::to_value(&b.settings).map_err(|e| RepoError::Unexpected(e.to_string()))?,
            object_count: to_i64(b.object_count),
            total_size_bytes: to_i64(b.total_size_bytes),
            created_at: b.created_at,
            updated_at: b.updated_at,
            webhook_secret: b.webhook_secret.clone(),
        })
    }
}

impl TryFrom<BucketRow> for Bucket {
    type Error = RepoError;
    fn try_from(r: BucketRow) -> Result<Self, RepoError> {
        Ok(Self {
            id: BucketId::parse(&r.id).map_err(|e| corrupt("bucket id", e))?,
            namespace_id: NamespaceId::parse(&r.namespace_id).map_err(|e| corrupt("namespace id", e))?,
            name: BucketName::parse(&r.name).map_err(|e| corrupt("bucket name", e))?,
            description: r.description,
            bucket_schema: r.bucket_schema,
            metadata: r.metadata,
            settings: serde_json::from_value::<BucketSettings>(r.settings)
                .map_err(|e| corrupt("bucket settings", e))?,
            webhook_secret: r.webhook_secret,
            object_count: to_u64(r.object_count),
            total_size_bytes: to_u64(r.total_size_bytes),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = uploads, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub(crate) struct UploadRow {
    pub id: String,
    pub bucket_id: String,
    pub namespace_id: String,
    pub filename: String,
    pub content_type: String,
    pub declared_size: Option<i64>,
    pub declared_hash: Option<String>,
    pub checksum_signed: bool,
    pub s3_key: String,
    pub status: String,
    pub metadata: serde_json::Value,
    pub object_metadata: serde_json::Value,
    pub create_object_on_confirm: bool,
    pub blob_property: Option<String>,
    pub blob_type: Option<String>,
    pub skip_duplicates: bool,
    pub url_expiration_secs: i32,
    #[diesel(skip_update)]
    pub idempotency_key: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub etag: Option<String>,
    pub file_size_bytes: Option<i64>,
    pub file_hash: Option<String>,
    pub verified_at: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub object_id: Option<String>,
    pub task_id: Option<String>,
    pub batch_id: Option<String>,
    pub is_duplicate: bool,
    pub duplicate_of_upload_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub multipart: Option<serde_json::Value>,
    pub object_deleted: bool,
}

impl UploadRow {
    pub(crate) fn from_domain(u: &Upload, idempotency_key: Option<String>) -> Self {
        Self {
            id: u.id.to_string(),
            bucket_id: u.bucket_id.to_string(),
            namespace_id: u.namespace_id.to_string(),
            filename: u.filename.to_string(),
            content_type: u.content_type.to_string(),
            declared_size: u.declared_size.map(|s| to_i64(s.get())),
            declared_hash: u.declared_hash.as_ref().map(ToString::to_string),
            checksum_signed: u.checksum_signed,
            s3_key: u.key.to_string(),
            status: u.status().as_str().to_owned(),
            metadata: u.metadata.clone(),
            object_metadata: u.object_metadata.clone(),
            create_object_on_confirm: u.create_object_on_confirm,
            blob_property: u.blob_property.clone(),
            blob_type: u.blob_type.clone(),
            skip_duplicates: u.skip_duplicates,
            url_expiration_secs: to_i32(u.url_expiration_secs),
            idempotency_key,
            created_at: u.created_at,
            updated_at: u.updated_at,
            expires_at: u.expires_at,
            etag: u.verified().map(|v| v.etag.to_string()),
            file_size_bytes: u.verified().map(|v| to_i64(v.size)),
            file_hash: u.verified().map(|v| v.sha256.to_string()),
            verified_at: u.verified_at(),
            completed_at: u.completed_at(),
            object_id: u.object_id.as_ref().map(ToString::to_string),
            task_id: u.task_id.as_ref().map(ToString::to_string),
            batch_id: u.batch_id.as_ref().map(ToString::to_string),
            is_duplicate: u.is_duplicate(),
            duplicate_of_upload_id: u.duplicate_of_upload_id().map(ToString::to_string),
            failure_code: u.failure().map(|f| f.code.as_str().to_owned()),
            failure_message: u.failure().map(|f| f.message.clone()),
            multipart: u.multipart.as_ref().and_then(|m| serde_json::to_value(m).ok()),
            object_deleted: u.object_deleted(),
        }
    }
}

fn opt<T, E: std::fmt::Display>(
    what: &str,
    v: Option<String>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, RepoError> {
    v.map(|s| parse(&s).map_err(|e| corrupt(what, e))).transpose()
}

impl TryFrom<UploadRow> for Upload {
    type Error = RepoError;
    fn try_from(r: UploadRow) -> Result<Self, RepoError> {
        let verified = match (r.etag, r.file_size_bytes, r.file_hash) {
            (Some(etag), Some(size), Some(hash)) => Some(Verified {
                etag: ETag::parse(&etag).map_err(|e| corrupt("etag", e))?,
                size: to_u64(size),
                sha256: Sha256Hex::parse(&hash).map_err(|e| corrupt("file hash", e))?,
            }),
            _ => None,
        };
        let failure = match r.failure_code {
            Some(code) => Some(Failure {
                code: FailureCode::parse(&code).ok_or_else(|| corrupt("failure code", &code))?,
                message: r.failure_message.unwrap_or_default(),
            }),
            None => None,
        };
        Ok(StoredUpload {
            id: UploadId::parse(&r.id).map_err(|e| corrupt("upload id", e))?,
            bucket_id: BucketId::parse(&r.bucket_id).map_err(|e| corrupt("bucket id", e))?,
            namespace_id: NamespaceId::parse(&r.namespace_id).map_err(|e| corrupt("namespace id", e))?,
            filename: Filename::parse(&r.filename).map_err(|e| corrupt("filename", e))?,
            content_type: ContentType::parse(&r.content_type).map_err(|e| corrupt("content type", e))?,
            declared_size: r
                .declared_size
                .map(|s| FileSize::new(to_u64(s)))
                .transpose()
                .map_err(|e| corrupt("declared size", e))?,
            declared_hash: opt("declared hash", r.declared_hash, Sha256Hex::parse)?,
            checksum_signed: r.checksum_signed,
            key: ObjectKey::parse(&r.s3_key).map_err(|e| corrupt("key", e))?,
            status: UploadStatus::parse(&r.status).ok_or_else(|| corrupt("upload status", &r.status))?,
            metadata: r.metadata,
            object_metadata: r.object_metadata,
            create_object_on_confirm: r.create_object_on_confirm,
            blob_property: r.blob_property,
            blob_type: r.blob_type,
            skip_duplicates: r.skip_duplicates,
            url_expiration_secs: to_u32(r.url_expiration_secs),
            created_at: r.created_at,
            updated_at: r.updated_at,
            expires_at: r.expires_at,
            verified,
            verified_at: r.verified_at,
            completed_at: r.completed_at,
            object_id: opt("object id", r.object_id, ObjectId::parse)?,
            task_id: opt("task id", r.task_id, TaskId::parse)?,
            batch_id: opt("batch id", r.batch_id, BatchId::parse)?,
            is_duplicate: r.is_duplicate,
            duplicate_of_upload_id: opt("upload id", r.duplicate_of_upload_id, UploadId::parse)?,
            failure,
            multipart: r.multipart.map(serde_json::from_value).transpose().map_err(|e| corrupt("multipart", e))?,
            object_deleted: r.object_deleted,
        }
        .into())
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = objects, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ObjectRow {
    pub id: String,
    pub bucket_id: String,
    pub namespace_id: String,
    pub upload_id: Option<String>,
    pub status: String,
    pub metadata: serde_json::Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = blobs, check_for_backend(diesel::pg::Pg))]
pub(crate) struct BlobRow {
    pub id: String,
    pub object_id: String,
    pub property: String,
    pub blob_type: String,
    pub s3_key: String,
    pub url: String,
    pub details: serde_json::Value,
    pub created_at: OffsetDateTime,
}

impl ObjectRow {
    pub(crate) fn from_domain(o: &BucketObject) -> Self {
        Self {
            id: o.id.to_string(),
            bucket_id: o.bucket_id.to_string(),
            namespace_id: o.namespace_id.to_string(),
            upload_id: o.upload_id.as_ref().map(ToString::to_string),
            status: o.status.as_str().to_owned(),
            metadata: o.metadata.clone(),
            created_at: o.created_at,
            updated_at: o.created_at,
        }
    }

    pub(crate) fn into_domain(self, blobs: Vec<BlobRow>) -> Result<BucketObject, RepoError> {
        Ok(BucketObject {
            id: ObjectId::parse(&self.id).map_err(|e| corrupt("object id", e))?,
            bucket_id: BucketId::parse(&self.bucket_id).map_err(|e| corrupt("bucket id", e))?,
            namespace_id: NamespaceId::parse(&self.namespace_id).map_err(|e| corrupt("namespace id", e))?,
            upload_id: opt("upload id", self.upload_id, UploadId::parse)?,
            status: TaskStatus::parse(&self.status).ok_or_else(|| corrupt("object status", &self.status))?,
            blobs: blobs.into_iter().map(Blob::try_from).collect::<Result<_, _>>()?,
            metadata: self.metadata,
            created_at: self.created_at,
        })
    }
}

impl BlobRow {
    pub(crate) fn from_domain(object: &ObjectId, b: &Blob, now: OffsetDateTime) -> Result<Self, RepoError> {
        Ok(Self {
            id: b.id.to_string(),
            object_id: object.to_string(),
            property: b.property.clone(),
            blob_type: b.blob_type.clone(),
            s3_key: b.key.to_string(),
            url: b.url.clone(),
            details: serde_json::to_value(&b.details).map_err(|e| RepoError::Unexpected(e.to_string()))?,
            created_at: now,
        })
    }
}

impl TryFrom<BlobRow> for Blob {
    type Error = RepoError;
    fn try_from(r: BlobRow) -> Result<Self, RepoError> {
        Ok(Self {
            id: BlobId::parse(&r.id).map_err(|e| corrupt("blob id", e))?,
            property: r.property,
            blob_type: r.blob_type,
            key: ObjectKey::parse(&r.s3_key).map_err(|e| corrupt("key", e))?,
            url: r.url,
            details: serde_json::from_value::<BlobDetails>(r.details).map_err(|e| corrupt("blob details", e))?,
        })
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = tasks, check_for_backend(diesel::pg::Pg))]
pub(crate) struct TaskRow {
    pub id: String,
    pub task_type: String,
    pub status: String,
    pub inputs: serde_json::Value,
    pub outputs: Option<serde_json::Value>,
    pub additional_data: Option<serde_json::Value>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_after: OffsetDateTime,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl TaskRow {
    pub(crate) fn new_pending(t: &NewTask, now: OffsetDateTime) -> Self {
        Self {
            id: t.id.to_string(),
            task_type: t.task_type.as_str().to_owned(),
            status: TaskStatus::Pending.as_str().to_owned(),
            inputs: t.inputs.clone(),
            outputs: None,
            additional_data: None,
            error_code: None,
            error_message: None,
            attempts: 0,
            max_attempts: to_i32(t.max_attempts.max(1)),
            run_after: now,
            lease_owner: None,
            lease_expires_at: None,
            created_at: now,
            updated_at: now,
        }
    }
}

impl TryFrom<TaskRow> for Task {
    type Error = RepoError;
    fn try_from(r: TaskRow) -> Result<Self, RepoError> {
        Ok(Self {
            id: TaskId::parse(&r.id).map_err(|e| corrupt("task id", e))?,
            task_type: TaskType::new(&r.task_type),
            status: TaskStatus::parse(&r.status).ok_or_else(|| corrupt("task status", &r.status))?,
            inputs: r.inputs,
            outputs: r.outputs,
            additional_data: r.additional_data,
            error: r.error_code.map(|code| TaskFailure { code, message: r.error_message.unwrap_or_default() }),
            attempts: to_u32(r.attempts),
            max_attempts: to_u32(r.max_attempts),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = batches, check_for_backend(diesel::pg::Pg))]
pub(crate) struct BatchRow {
    pub id: String,
    pub bucket_id: String,
    pub status: String,
    pub task_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl BatchRow {
    pub(crate) fn from_domain(b: &Batch) -> Self {
        Self {
            id: b.id.to_string(),
            bucket_id: b.bucket_id.to_string(),
            status: b.status.as_str().to_owned(),
            task_id: b.task_id.as_ref().map(ToString::to_string),
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }

    pub(crate) fn into_domain(self, object_ids: Vec<String>) -> Result<Batch, RepoError> {
        Ok(Batch {
            id: BatchId::parse(&self.id).map_err(|e| corrupt("batch id", e))?,
            bucket_id: BucketId::parse(&self.bucket_id).map_err(|e| corrupt("bucket id", e))?,
            status: TaskStatus::parse(&self.status).ok_or_else(|| corrupt("batch status", &self.status))?,
            object_ids: object_ids
                .iter()
                .map(|id| ObjectId::parse(id).map_err(|e| corrupt("object id", e)))
                .collect::<Result<_, _>>()?,
            task_id: opt("task id", self.task_id, TaskId::parse)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub(crate) struct ApiKeyRow {
    pub id: String,
    pub key_hash: String,
    pub role: String,
    pub namespaces: Vec<Option<String>>,
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub all_namespaces: bool,
}

impl From<&ApiKey> for ApiKeyRow {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            key_hash: k.key_hash.clone(),
            role: k.role.as_str().to_owned(),
            namespaces: k.namespaces.iter().map(|n| Some(n.to_string())).collect(),
            description: k.description.clone(),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
            all_namespaces: k.all_namespaces,
        }
    }
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = RepoError;
    fn try_from(r: ApiKeyRow) -> Result<Self, RepoError> {
        Ok(Self {
            id: KeyId::parse(&r.id).map_err(|e| corrupt("key id", e))?,
            key_hash: r.key_hash,
            role: Role::parse(&r.role).ok_or_else(|| corrupt("role", &r.role))?,
            namespaces: r
                .namespaces
                .into_iter()
                .flatten()
                .map(|n| NamespaceId::parse(&n).map_err(|e| corrupt("namespace id", e)))
                .collect::<Result<_, _>>()?,
            all_namespaces: r.all_namespaces,
            description: r.description,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        })
    }
}
