//! Steps 4–6 of confirm, shared by the synchronous confirm and the asynchronous confirm task:
//! look at the stored object, check it against what the client declared, and establish its
//! SHA-256.

use crate::bucket::Bucket;
use crate::content::{ETag, FileSize, Sha256Hex, StoredChecksum};
use crate::error::{ErrorKind, StorageError};
use crate::ports::{ObjectHead, ObjectStore};
use crate::upload::{Failure, FailureCode, Upload, Verified};

/// A check of the stored bytes that failed. The upload's status is left unchanged (synchronous
/// confirm) or set FAILED with this code (asynchronous confirm).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerificationFailure {
    /// Nothing is stored under the upload's key yet.
    #[error("no object is stored for this upload yet; PUT the file to the presigned URL first")]
    ObjectNotInStorage,
    /// The etag the client sent differs from the stored object's.
    #[error("the etag {given} does not match the stored object's etag {stored}")]
    EtagMismatch {
        /// What the client sent.
        given: ETag,
        /// What the store holds.
        stored: ETag,
    },
    /// A declared size (at create or confirm) differs from the stored size.
    #[error("the declared size of {declared} bytes does not match the stored size of {stored} bytes")]
    SizeMismatch {
        /// What was declared.
        declared: u64,
        /// What is stored.
        stored: u64,
    },
    /// The stored object is larger than the bucket allows.
    #[error("the stored object of {size} bytes exceeds the bucket's limit of {max} bytes")]
    FileTooLarge {
        /// Stored size.
        size: u64,
        /// The bucket's limit.
        max: u64,
    },
    /// The declared SHA-256 differs from the content's.
    #[error("the declared SHA-256 {declared} does not match the content's SHA-256 {actual}")]
    ChecksumMismatch {
        /// What was declared.
        declared: Sha256Hex,
        /// What the content hashes to.
        actual: Sha256Hex,
    },
    /// The store lists other parts than the multipart plan needs (missing or extra part numbers).
    #[error("the store holds parts {found} of a multipart upload that needs parts 1..={expected}")]
    MultipartIncomplete {
        /// How many parts the plan has.
        expected: u32,
        /// The part numbers the store lists, as ranges (`1-2, 4`).
        found: String,
    },
    /// Storing this object would exceed the bucket's quota.
    #[error("storing {size} more bytes would exceed the bucket's quota")]
    QuotaExceeded {
        /// Stored size.
        size: u64,
    },
}

impl VerificationFailure {
    /// The stable code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        self.failure_code().as_str()
    }

    /// The code recorded on the upload.
    #[must_use]
    pub const fn failure_code(&self) -> FailureCode {
        match self {
            Self::ObjectNotInStorage => FailureCode::ObjectNotInStorage,
            Self::EtagMismatch { .. } => FailureCode::EtagMismatch,
            Self::SizeMismatch { .. } => FailureCode::SizeMismatch,
            Self::FileTooLarge { .. } => FailureCode::FileTooLarge,
            Self::ChecksumMismatch { .. } => FailureCode::ChecksumMismatch,
            Self::MultipartIncomplete { .. } => FailureCode::MultipartIncomplete,
            Self::QuotaExceeded { .. } => FailureCode::QuotaExceeded,
        }
    }

    /// The error type.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        match self {
            Self::QuotaExceeded { .. } => ErrorKind::QuotaExceeded,
            _ => ErrorKind::BadRequest,
        }
    }

    /// The failure recorded on an upload whose asynchronous verification failed this way.
    #[must_use]
    pub fn to_failure(&self) -> Failure {
        Failure { code: self.failure_code(), message: self.to_string() }
    }
}

/// What the client asserted about the bytes when confirming.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// The etag the PUT returned.
    pub etag: Option<ETag>,
    /// The size sent.
    pub size: Option<FileSize>,
}

/// Step 5 without the hash: the stored object against the declarations and the bucket's limits.
///
/// # Errors
/// The first check that fails, in the order etag, size, limit, quota.
pub fn check_head(
    upload: &Upload,
    bucket: &Bucket,
    head: &ObjectHead,
    declared: &Declared,
) -> Result<(), VerificationFailure> {
    if let Some(given) = declared.etag.as_ref().filter(|given| **given != head.etag) {
        return Err(VerificationFailure::EtagMismatch { given: given.clone(), stored: head.etag.clone() });
    }
    for size in [declared.size, upload.declared_size].into_iter().flatten() {
        if size.get() != head.size {
            return Err(VerificationFailure::SizeMismatch { declared: size.get(), stored: head.size });
        }
    }
    if let Some(max) = bucket.settings.max_file_size_bytes.filter(|max| head.size > *max) {
        return Err(VerificationFailure::FileTooLarge { size: head.size, max });
    }
    if bucket.would_exceed_quota(head.size) {
        return Err(VerificationFailure::QuotaExceeded { size: head.size });
    }
    Ok(())
}

/// Step 6: the content's SHA-256 — the store's full-object checksum when it verified one at
/// write time, otherwise computed by streaming the object. Never derived from the etag.
///
/// # Errors
/// The store's error when the object has to be streamed and cannot be.
pub async fn content_hash(
    store: &dyn ObjectStore,
    upload: &Upload,
    head: &ObjectHead,
) -> Result<Sha256Hex, StorageError> {
    match &head.sha256 {
        Some(StoredChecksum::FullObject(sha)) => Ok(sha.clone()),
        Some(StoredChecksum::Composite(_)) | None => Ok(store.hash(&upload.key).await?.sha256),
    }
}

/// Step 5's checksum check: the declared SHA-256 against the content's.
///
/// # Errors
/// `ChecksumMismatch` when they differ.
pub fn check_hash(upload: &Upload, actual: &Sha256Hex) -> Result<(), VerificationFailure> {
    match &upload.declared_hash {
        Some(declared) if declared != actual => {
            Err(VerificationFailure::ChecksumMismatch { declared: declared.clone(), actual: actual.clone() })
        }
        _ => Ok(()),
    }
}

/// What a verification that passed every check established.
#[must_use]
pub fn verified(head: &ObjectHead, sha256: Sha256Hex) -> Verified {
    Verified { etag: head.etag.clone(), size: head.size, sha256 }
}
