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
        RepoError::Unavailable(_) => "database_unavailable",
        RepoError::AlreadyExists(_) => "already_exists",
        RepoError::Unexpected(_) => "internal_error",
    }
}

/// The code every use case gives a storage error.
pub(crate) const fn code_of_storage(e: &StorageError) -> &'static str {
    match e {
        StorageError::Unavailable(_) => "storage_unavailable",
        StorageError::Misconfigured(_) => "storage_misconfigured",
        _ => "internal_error",
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
