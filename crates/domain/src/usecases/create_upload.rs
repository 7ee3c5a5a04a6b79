//! Create an upload: validate against the bucket, short-circuit a known duplicate, presign the
//! PUT, and record the upload as PENDING.

use super::{Deps, port_errors};
use crate::bucket::Bucket;
use crate::content::{FileSize, Sha256Hex};
use crate::dedup::ClaimScope;
use crate::error::{
    Coded, ErrorKind, RepoError, StorageError, code_of_repo, code_of_storage, kind_of_repo, kind_of_storage,
};
use crate::ids::{NamespaceId, UploadId};
use crate::names::{ContentType, Filename};
use crate::policy::{DEFAULT_URL_EXPIRATION_SECS, MAX_URL_EXPIRATION_SECS, MIN_URL_EXPIRATION_SECS};
use crate::ports::{InsertUpload, PresignPut, PresignedRequest};
use crate::status::UploadStatus;
use crate::upload::{Multipart, Upload};

/// A create-upload request in domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateUploadRequest {
    /// The file's name.
    pub filename: Filename,
    /// Its content type.
    pub content_type: ContentType,
    /// Its size, if known (signed into the URL).
    pub file_size_bytes: Option<FileSize>,
    /// URL lifetime in seconds (60–86400), default 3600.
    pub presigned_url_expiration: Option<u32>,
    /// Upload metadata.
    pub metadata: serde_json::Value,
    /// Create a bucket object on confirm.
    pub create_object_on_confirm: bool,
    /// Metadata for the object.
    pub object_metadata: serde_json::Value,
    /// Object property of the blob.
    pub blob_property: Option<String>,
    /// Blob type.
    pub blob_type: Option<String>,
    /// SHA-256 of the content, if the client knows it.
    pub file_hash: Option<Sha256Hex>,
    /// Answer with an existing upload of the same content instead of a URL.
    pub skip_duplicates: bool,
    /// Sign the declared SHA-256 into the URL so the store rejects other bytes.
    pub enforce_checksum: bool,
    /// Retried creates with the same key return the same upload.
    pub idempotency_key: Option<String>,
    /// Start a multipart upload whose parts the client sizes, whatever the size (Companion's
    /// `POST /s3/multipart`, which tells no size).
    pub client_parts: bool,
}

/// A created (or found) upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedUpload {
    /// The upload.
    pub upload: Upload,
    /// The PUT to perform; `None` when the content is already stored.
    pub presigned: Option<PresignedRequest>,
    /// True when the answer is an existing upload with the same content.
    pub is_duplicate: bool,
    /// The bucket it was created in, as read for the create (its rules, e.g. its size limit).
    pub bucket: Bucket,
}

/// Why an upload could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateUploadError {
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// The bucket does not accept this content type.
    #[error("the bucket does not accept content type {0}")]
    ContentTypeNotAllowed(String),
    /// The declared size is above the bucket's limit or the single-PUT limit.
    #[error("a file of {size} bytes exceeds the limit of {max} bytes")]
    FileTooLarge {
        /// Declared size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The declared size would exceed the bucket's quota.
    #[error("a file of {0} bytes would exceed the bucket's quota")]
    QuotaExceeded(u64),
    /// The URL lifetime is outside 60–86400 seconds.
    #[error("presigned_url_expiration must be between 60 and 86400 seconds, got {0}")]
    InvalidExpiration(u32),
    /// A checksum was required (by the bucket or `enforce_checksum`) but no `file_hash` given.
    #[error("this upload requires file_hash (the SHA-256 of the content)")]
    ChecksumRequired,
    /// The store failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(CreateUploadError);

impl Coded for CreateUploadError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::ContentTypeNotAllowed(_) => crate::error::codes::CONTENT_TYPE_NOT_ALLOWED,
            Self::FileTooLarge { .. } => crate::error::codes::FILE_TOO_LARGE,
            Self::QuotaExceeded(_) => crate::error::codes::QUOTA_EXCEEDED,
            Self::InvalidExpiration(_) => crate::error::codes::INVALID_EXPIRATION,
            Self::ChecksumRequired => crate::error::codes::CHECKSUM_REQUIRED,
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound => ErrorKind::NotFound,
            Self::QuotaExceeded(_) => ErrorKind::QuotaExceeded,
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
            _ => ErrorKind::BadRequest,
        }
    }
}

/// Creates an upload in `bucket` (id or name) of `namespace`.
///
/// # Errors
/// Every [`CreateUploadError`]; nothing is recorded on error.
pub async fn create_upload(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    request: CreateUploadRequest,
) -> Result<CreatedUpload, CreateUploadError> {
    // The bucket's rules may come from a cache; the quota is checked again when the upload is
    // confirmed.
    let bucket = deps.tenancy.find_bucket_cached(namespace, bucket).await?.ok_or(CreateUploadError::BucketNotFound)?;
    let size = request.file_size_bytes.map(FileSize::get);
    let bucket = super::fresh_before_refusal(deps, bucket, |b| size.is_some_and(|s| b.would_exceed_quota(s)))
        .await?
        .ok_or(CreateUploadError::BucketNotFound)?;
    let settings = &bucket.settings;
    if !settings.allows(&request.content_type) {
        return Err(CreateUploadError::ContentTypeNotAllowed(request.content_type.to_string()));
    }
    if let Some(size) = request.file_size_bytes.map(FileSize::get) {
        let max = settings.max_file_size_bytes.unwrap_or(MAX_OBJECT_BYTES).min(MAX_OBJECT_BYTES);
        if size > max {
            return Err(CreateUploadError::FileTooLarge { size, max });
        }
        if bucket.would_exceed_quota(size) {
            return Err(CreateUploadError::QuotaExceeded(size));
        }
    }
    let expiration = request.presigned_url_expiration.unwrap_or(DEFAULT_URL_EXPIRATION_SECS);
    if !(MIN_URL_EXPIRATION_SECS..=MAX_URL_EXPIRATION_SECS).contains(&expiration) {
        return Err(CreateUploadError::InvalidExpiration(expiration));
    }
    let sign_checksum = request.enforce_checksum || settings.require_checksum;
    if sign_checksum && request.file_hash.is_none() {
        return Err(CreateUploadError::ChecksumRequired);
    }

    if let (Some(hash), true, Some(scope)) = (&request.file_hash, request.skip_duplicates, ClaimScope::of(&bucket))
        && let Some(original) = super::integrity::trusted_original(deps, &scope, hash).await?
    {
        return Ok(CreatedUpload { upload: original, presigned: None, is_duplicate: true, bucket });
    }

    let id = UploadId::new(&deps.ids.suffix());
    let pending =
        Upload::new_pending(id, &bucket, request.filename, request.content_type, expiration, deps.clock.now());
    let upload = Upload {
        declared_size: request.file_size_bytes,
        declared_hash: request.file_hash,
        checksum_signed: sign_checksum,
        metadata: request.metadata,
        object_metadata: request.object_metadata,
        create_object_on_confirm: request.create_object_on_confirm,
        blob_property: request.blob_property,
        blob_type: request.blob_type,
        skip_duplicates: request.skip_duplicates,
        ..pending
    };
    let upload = match upload.declared_size.map(FileSize::get) {
        Some(size) if size > deps.policy.max_single_put_bytes => {
            let (part_size, part_count) = Multipart::plan(size, deps.policy.multipart_part_size_bytes);
            let store_id = deps.store.create_multipart(&upload.key, &upload.content_type).await?;
            // Parts are signed one by one, so a whole-file checksum cannot be signed into them;
            // the declared SHA-256 is checked against the assembled file at confirm instead.
            Upload {
                multipart: Some(Multipart { upload_id: store_id, part_size, part_count }),
                checksum_signed: false,
                ..upload
            }
        }
        _ if request.client_parts => {
            let store_id = deps.store.create_multipart(&upload.key, &upload.content_type).await?;
            Upload { multipart: Some(Multipart::client_planned(store_id)), checksum_signed: false, ..upload }
        }
        _ => upload,
    };
    let presigned = presign_put(deps, &bucket, &upload).await?;
    // A multipart upload started for an upload that is not recorded is aborted at once, best
    // effort: if that fails, the store's lifecycle rules clean it up.
    match deps.uploads.insert_upload(&upload, request.idempotency_key.clone()).await {
        Ok(InsertUpload::Inserted) => Ok(CreatedUpload { upload, presigned, is_duplicate: false, bucket }),
        Ok(InsertUpload::Existing(existing)) => {
            let _ignored = super::abort_multipart(deps.store, &upload).await;
            let presigned = presign_put(deps, &bucket, &existing).await?;
            Ok(CreatedUpload { upload: existing, presigned, is_duplicate: false, bucket })
        }
        Err(e) => {
            let _ignored = super::abort_multipart(deps.store, &upload).await;
            Err(e.into())
        }
    }
}

/// The largest object S3 stores (5 TiB); files above it are refused whatever the bucket says.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// Most part URLs one request may ask for.
pub const MAX_PART_URLS: usize = 1000;

/// One presigned part upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartUrl {
    /// 1-based part number.
    pub part_number: u32,
    /// The PUT to perform.
    pub request: PresignedRequest,
}

/// Presigned PUTs for parts of a PENDING multipart upload, valid until the upload expires.
///
/// # Errors
/// Unknown bucket or upload, an upload that is not multipart or no longer PENDING, part numbers
/// outside the plan, or a store failure.
pub async fn part_urls(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    upload_id: &str,
    part_numbers: &[u32],
) -> Result<Vec<PartUrl>, PartUrlsError> {
    if part_numbers.is_empty() || part_numbers.len() > MAX_PART_URLS {
        return Err(PartUrlsError::InvalidParts(format!("ask for 1 to {MAX_PART_URLS} parts at a time")));
    }
    let bucket = deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(PartUrlsError::BucketNotFound)?;
    let id = UploadId::parse(upload_id).map_err(|_| PartUrlsError::UploadNotFound)?;
    let upload = deps.uploads.get_upload(&bucket.id, &id).await?.ok_or(PartUrlsError::UploadNotFound)?;
    let Some(mp) = &upload.multipart else {
        return Err(PartUrlsError::NotMultipart);
    };
    if let Some(bad) = part_numbers.iter().find(|n| **n == 0 || **n > mp.part_count) {
        return Err(PartUrlsError::InvalidParts(format!("part {bad} is outside 1..={}", mp.part_count)));
    }
    let Some(expires_in) = upload.url_lifetime(deps.clock.now()) else {
        return Err(PartUrlsError::InvalidUploadState(format!(
            "upload {id} is {} and its URLs have {}",
            upload.status,
            if upload.status == UploadStatus::Pending { "expired" } else { "been used" }
        )));
    };
    let mut urls = Vec::with_capacity(part_numbers.len());
    for &part_number in part_numbers {
        let request = deps.store.presign_part(&upload.key, &mp.upload_id, part_number, expires_in).await?;
        urls.push(PartUrl { part_number, request });
    }
    Ok(urls)
}

/// Why part URLs could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartUrlsError {
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// No such upload in the bucket.
    #[error("upload not found")]
    UploadNotFound,
    /// The upload is a single PUT.
    #[error("the upload is not a multipart upload; PUT the file to its presigned_url")]
    NotMultipart,
    /// Empty, too many or out-of-plan part numbers.
    #[error("{0}")]
    InvalidParts(String),
    /// Confirmed, canceled, failed or expired.
    #[error("{0}")]
    InvalidUploadState(String),
    /// The store failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(PartUrlsError);

impl Coded for PartUrlsError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::UploadNotFound => crate::error::codes::UPLOAD_NOT_FOUND,
            Self::NotMultipart => crate::error::codes::NOT_MULTIPART,
            Self::InvalidParts(_) => crate::error::codes::INVALID_PART_NUMBERS,
            Self::InvalidUploadState(_) => crate::error::codes::INVALID_UPLOAD_STATE,
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound | Self::UploadNotFound => ErrorKind::NotFound,
            // The upload exists but is not one that has parts: a conflict with its state.
            Self::NotMultipart => ErrorKind::Conflict,
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
            _ => ErrorKind::BadRequest,
        }
    }
}

/// Why one item of a batch create produced no upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchItemError<E> {
    /// The item could not be read as a request (the caller's own validation error).
    Invalid(E),
    /// The request was refused for a business reason.
    Refused(CreateUploadError),
}

/// Creates several uploads in `bucket`, each on its own, answering in request order: a refused
/// item does not stop the others. The whole call fails only when it cannot be answered at all:
/// an unknown bucket, or an outage (the client retries the call rather than guessing which items
/// were created; retried creates with idempotency keys return the same uploads).
///
/// # Errors
/// `BucketNotFound`, or a port failure.
pub async fn create_uploads<E>(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    items: Vec<Result<CreateUploadRequest, E>>,
) -> Result<Vec<Result<CreatedUpload, BatchItemError<E>>>, CreateUploadError> {
    deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(CreateUploadError::BucketNotFound)?;
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        let result = match item {
            Err(invalid) => Err(BatchItemError::Invalid(invalid)),
            Ok(request) => match create_upload(deps, namespace, bucket, request).await {
                Ok(created) => Ok(created),
                Err(e) if matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Internal) => return Err(e),
                Err(e) => Err(BatchItemError::Refused(e)),
            },
        };
        results.push(result);
    }
    Ok(results)
}

/// The PUT for a PENDING upload, valid until its `expires_at`; `None` once the upload is past
/// PENDING or its URL lifetime is over, and for multipart uploads (their parts have URLs of their
/// own, from [`part_urls`]).
///
/// # Errors
/// The store's error when it cannot sign.
pub async fn presign_put(
    deps: Deps<'_>,
    bucket: &Bucket,
    upload: &Upload,
) -> Result<Option<PresignedRequest>, StorageError> {
    let Some(expires_in) = upload.url_lifetime(deps.clock.now()).filter(|_| upload.multipart.is_none()) else {
        return Ok(None);
    };
    let request = PresignPut {
        key: upload.key.clone(),
        content_type: upload.content_type.clone(),
        content_length: upload.declared_size.map(FileSize::get),
        sha256: upload.declared_hash.clone().filter(|_| upload.checksum_signed),
        max_length: bucket.settings.max_file_size_bytes,
        expires_in,
    };
    deps.store.presign_put(&request).await.map(Some)
}

#[cfg(test)]
mod tests;
