//! The error vocabulary shared by every use case: an [`ErrorKind`] that names the stable
//! `type` of an `ErrorResponse`, and the [`Coded`] trait every operation's error enum implements
//! so adapters can render `{type, code, message}` without knowing the variants.

/// The stable error `type` of the API contract. The HTTP layer maps each to its status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is well-formed but violates a business rule (400).
    BadRequest,
    /// No, unknown or revoked credentials (401).
    Unauthorized,
    /// The credentials do not allow the operation (403).
    Forbidden,
    /// A usage quota would be exceeded (403).
    QuotaExceeded,
    /// The resource does not exist or belongs to another namespace (404).
    NotFound,
    /// A resource with the same unique name exists (409).
    AlreadyExists,
    /// The resource's state does not allow the operation right now (409).
    Conflict,
    /// The request's body, or bytes sent to a storage URL, exceed a limit (413).
    PayloadTooLarge,
    /// A rate limit was hit (429).
    TooManyRequests,
    /// A dependency (storage or database) is unreachable or timed out (503).
    Unavailable,
    /// Anything unexpected (500); details are logged, never shown.
    Internal,
}

impl ErrorKind {
    /// The `type` string of an `ErrorResponse`.
    #[must_use]
    pub const fn type_name(self) -> &'static str {
        match self {
            Self::BadRequest => "BadRequestError",
            Self::Unauthorized => "UnauthorizedError",
            Self::Forbidden => "ForbiddenError",
            Self::QuotaExceeded => "QuotaExceededError",
            Self::NotFound => "NotFoundError",
            Self::AlreadyExists => "AlreadyExistsError",
            Self::Conflict => "ConflictError",
            Self::PayloadTooLarge => "PayloadTooLargeError",
            Self::TooManyRequests => "TooManyRequestsError",
            Self::Unavailable => "StorageUnavailableError",
            Self::Internal => "InternalServerError",
        }
    }
}

/// An error with a stable machine-readable `code` and a [`ErrorKind`].
pub trait Coded: std::error::Error {
    /// The stable snake_case reason, e.g. `etag_mismatch`.
    fn code(&self) -> &'static str;
    /// Which `type` (and so which HTTP status) this error is.
    fn kind(&self) -> ErrorKind;
}

/// Failure of a port call, shared by the repository, the queue and the batch service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// The database is unreachable, the pool timed out or a statement timed out. Retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique name is already taken (e.g. a bucket name within its namespace).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// Anything else; the message is for logs only.
    #[error("database error: {0}")]
    Unexpected(String),
}

impl RepoError {
    /// True when retrying later may succeed.
    #[must_use]
    pub const fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Failure of an [`crate::ports::ObjectStore`] call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// Connection refused, timeout, or a 5xx from the store. Retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Access denied, missing bucket, bad credentials: the operator must fix the configuration.
    #[error("storage misconfigured: {0}")]
    Misconfigured(String),
    /// The store refused the request for a reason tied to the request itself.
    #[error("storage rejected the request: {0}")]
    Rejected(String),
    /// The multipart upload named does not exist (completed, aborted or never created).
    #[error("no such multipart upload")]
    NoSuchUpload,
    /// Anything else; the message is for logs only.
    #[error("storage error: {0}")]
    Unexpected(String),
}

impl StorageError {
    /// True when retrying later may succeed.
    #[must_use]
    pub const fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Maps a port error to the kind every use case gives it: outages are 503, the rest 500.
pub(crate) const fn kind_of_repo(e: &RepoError) -> ErrorKind {
    match e {
        RepoError::Unavailable(_) => ErrorKind::Unavailable,
        RepoError::AlreadyExists(_) => ErrorKind::AlreadyExists,
        RepoError::Unexpected(_) => ErrorKind::Internal,
    }
}

/// Maps a storage error to its kind: outages are 503, everything else 500.
pub(crate) const fn kind_of_storage(e: &StorageError) -> ErrorKind {
    match e {
        StorageError::Unavailable(_) => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

/// The code every use case gives a port error.
pub(crate) const fn code_of_repo(e: &RepoError) -> &'static str {
    match e {
        RepoError::Unavailable(_) => crate::error::codes::DATABASE_UNAVAILABLE,
        RepoError::AlreadyExists(_) => crate::error::codes::ALREADY_EXISTS,
        RepoError::Unexpected(_) => crate::error::codes::INTERNAL_ERROR,
    }
}

/// The code every use case gives a storage error.
pub(crate) const fn code_of_storage(e: &StorageError) -> &'static str {
    match e {
        StorageError::Unavailable(_) => crate::error::codes::STORAGE_UNAVAILABLE,
        StorageError::Misconfigured(_) => crate::error::codes::STORAGE_MISCONFIGURED,
        _ => crate::error::codes::INTERNAL_ERROR,
    }
}

impl Coded for RepoError {
    fn code(&self) -> &'static str {
        code_of_repo(self)
    }

    fn kind(&self) -> ErrorKind {
        kind_of_repo(self)
    }
}

impl Coded for StorageError {
    fn code(&self) -> &'static str {
        code_of_storage(self)
    }

    fn kind(&self) -> ErrorKind {
        kind_of_storage(self)
    }
}

/// The rows of a list page, a sweep or a claim that decode; each one that does not is handed to
/// `skipped` (which logs and counts it) with its table and left out, so one corrupt row never
/// stops a page, a sweep or a worker for everyone else. Shared by the database adapters.
pub fn decodable<R, T>(
    table: &'static str,
    rows: impl IntoIterator<Item = R>,
    decode: impl Fn(R) -> Result<T, RepoError>,
    skipped: impl Fn(&'static str, &RepoError),
) -> Vec<T> {
    rows.into_iter()
        .filter_map(|row| match decode(row) {
            Ok(value) => Some(value),
            Err(e) => {
                skipped(table, &e);
                None
            }
        })
        .collect()
}

/// Every business error `code` the API answers with, as constants: the one list the domain, the
/// HTTP layer and the server use (docs/api.md "Codes" lists the same set; a test keeps them equal).
pub mod codes {
    /// `already_exists`
    pub const ALREADY_EXISTS: &str = "already_exists";
    /// `api_key_not_found`
    pub const API_KEY_NOT_FOUND: &str = "api_key_not_found";
    /// `batch_already_submitted`
    pub const BATCH_ALREADY_SUBMITTED: &str = "batch_already_submitted";
    /// `batch_not_found`
    pub const BATCH_NOT_FOUND: &str = "batch_not_found";
    /// `body_too_large`
    pub const BODY_TOO_LARGE: &str = "body_too_large";
    /// `bucket_not_found`
    pub const BUCKET_NOT_FOUND: &str = "bucket_not_found";
    /// `checksum_mismatch`
    pub const CHECKSUM_MISMATCH: &str = "checksum_mismatch";
    /// `checksum_required`
    pub const CHECKSUM_REQUIRED: &str = "checksum_required";
    /// `content_type_not_allowed`
    pub const CONTENT_TYPE_NOT_ALLOWED: &str = "content_type_not_allowed";
    /// `database_unavailable`
    pub const DATABASE_UNAVAILABLE: &str = "database_unavailable";
    /// `etag_mismatch`
    pub const ETAG_MISMATCH: &str = "etag_mismatch";
    /// `file_too_large`
    pub const FILE_TOO_LARGE: &str = "file_too_large";
    /// `insufficient_role`
    pub const INSUFFICIENT_ROLE: &str = "insufficient_role";
    /// `internal_error`
    pub const INTERNAL_ERROR: &str = "internal_error";
    /// `invalid_api_key`
    pub const INVALID_API_KEY: &str = "invalid_api_key";
    /// `invalid_batch_size`
    pub const INVALID_BATCH_SIZE: &str = "invalid_batch_size";
    /// `invalid_blobs`
    pub const INVALID_BLOBS: &str = "invalid_blobs";
    /// `invalid_content_type`
    pub const INVALID_CONTENT_TYPE: &str = "invalid_content_type";
    /// `invalid_expiration`
    pub const INVALID_EXPIRATION: &str = "invalid_expiration";
    /// `invalid_filename`
    pub const INVALID_FILENAME: &str = "invalid_filename";
    /// `invalid_part_numbers`
    pub const INVALID_PART_NUMBERS: &str = "invalid_part_numbers";
    /// `invalid_settings`
    pub const INVALID_SETTINGS: &str = "invalid_settings";
    /// `invalid_upload_session`
    pub const INVALID_UPLOAD_SESSION: &str = "invalid_upload_session";
    /// `invalid_upload_state`
    pub const INVALID_UPLOAD_STATE: &str = "invalid_upload_state";
    /// `method_not_allowed`
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// `multipart_incomplete`
    pub const MULTIPART_INCOMPLETE: &str = "multipart_incomplete";
    /// `name_taken`
    pub const NAME_TAKEN: &str = "name_taken";
    /// `namespace_not_found`
    pub const NAMESPACE_NOT_FOUND: &str = "namespace_not_found";
    /// `namespace_required`
    pub const NAMESPACE_REQUIRED: &str = "namespace_required";
    /// `not_multipart`
    pub const NOT_MULTIPART: &str = "not_multipart";
    /// `object_not_found`
    pub const OBJECT_NOT_FOUND: &str = "object_not_found";
    /// `object_not_in_storage`
    pub const OBJECT_NOT_IN_STORAGE: &str = "object_not_in_storage";
    /// `object_tampered`
    pub const OBJECT_TAMPERED: &str = "object_tampered";
    /// `quota_exceeded`
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    /// `route_not_found`
    pub const ROUTE_NOT_FOUND: &str = "route_not_found";
    /// `size_mismatch`
    pub const SIZE_MISMATCH: &str = "size_mismatch";
    /// `storage_misconfigured`
    pub const STORAGE_MISCONFIGURED: &str = "storage_misconfigured";
    /// `storage_unavailable`
    pub const STORAGE_UNAVAILABLE: &str = "storage_unavailable";
    /// `task_not_found`
    pub const TASK_NOT_FOUND: &str = "task_not_found";
    /// `too_many_failed_authentications`
    pub const TOO_MANY_FAILED_AUTHENTICATIONS: &str = "too_many_failed_authentications";
    /// `upload_already_attached`
    pub const UPLOAD_ALREADY_ATTACHED: &str = "upload_already_attached";
    /// `upload_canceled`
    pub const UPLOAD_CANCELED: &str = "upload_canceled";
    /// `upload_expired`
    pub const UPLOAD_EXPIRED: &str = "upload_expired";
    /// `upload_not_found`
    pub const UPLOAD_NOT_FOUND: &str = "upload_not_found";

    /// All of them.
    pub const ALL: &[&str] = &[
        ALREADY_EXISTS,
        API_KEY_NOT_FOUND,
        BATCH_ALREADY_SUBMITTED,
        BATCH_NOT_FOUND,
        BODY_TOO_LARGE,
        BUCKET_NOT_FOUND,
        CHECKSUM_MISMATCH,
        CHECKSUM_REQUIRED,
        CONTENT_TYPE_NOT_ALLOWED,
        DATABASE_UNAVAILABLE,
        ETAG_MISMATCH,
        FILE_TOO_LARGE,
        INSUFFICIENT_ROLE,
        INTERNAL_ERROR,
        INVALID_API_KEY,
        INVALID_BATCH_SIZE,
        INVALID_BLOBS,
        INVALID_CONTENT_TYPE,
        INVALID_EXPIRATION,
        INVALID_FILENAME,
        INVALID_PART_NUMBERS,
        INVALID_SETTINGS,
        INVALID_UPLOAD_SESSION,
        INVALID_UPLOAD_STATE,
        METHOD_NOT_ALLOWED,
        MULTIPART_INCOMPLETE,
        NAME_TAKEN,
        NAMESPACE_NOT_FOUND,
        NAMESPACE_REQUIRED,
        NOT_MULTIPART,
        OBJECT_NOT_FOUND,
        OBJECT_NOT_IN_STORAGE,
        OBJECT_TAMPERED,
        QUOTA_EXCEEDED,
        ROUTE_NOT_FOUND,
        SIZE_MISMATCH,
        STORAGE_MISCONFIGURED,
        STORAGE_UNAVAILABLE,
        TASK_NOT_FOUND,
        TOO_MANY_FAILED_AUTHENTICATIONS,
        UPLOAD_ALREADY_ATTACHED,
        UPLOAD_CANCELED,
        UPLOAD_EXPIRED,
        UPLOAD_NOT_FOUND,
    ];
}
