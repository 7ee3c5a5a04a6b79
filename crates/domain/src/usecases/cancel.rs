//! Cancel an upload (`DELETE .../uploads/{id}`): PENDING or a non-expired FAILED becomes
//! CANCELED; canceling again is a no-op; anything else is `invalid_upload_state`.

use super::{Deps, MAX_RACES, port_errors};
use crate::error::{
    Coded, ErrorKind, RepoError, StorageError, code_of_repo, code_of_storage, kind_of_repo, kind_of_storage,
};
use crate::ids::{NamespaceId, UploadId};
use crate::ports::Transition;
use crate::status::UploadStatus;
use crate::upload::{CancelEntry, Upload};

/// Why an upload could not be canceled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// No such upload in the bucket.
    #[error("upload not found")]
    UploadNotFound,
    /// The upload is COMPLETED, PROCESSING or expired.
    #[error("an upload in status {0} cannot be canceled")]
    InvalidState(UploadStatus),
    /// Other writers kept changing the upload.
    #[error("the upload changed concurrently too many times; retry")]
    Contention,
    /// The store failed (deleting the object).
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(CancelError);

impl Coded for CancelError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::UploadNotFound => crate::error::codes::UPLOAD_NOT_FOUND,
            Self::InvalidState(_) => crate::error::codes::INVALID_UPLOAD_STATE,
            Self::Contention => "cancel_contention",
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound | Self::UploadNotFound => ErrorKind::NotFound,
            Self::InvalidState(_) => ErrorKind::BadRequest,
            Self::Contention => ErrorKind::Conflict,
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

/// Cancels an upload; with `delete_object` its stored bytes are deleted too.
///
/// # Errors
/// Every [`CancelError`].
pub async fn cancel_upload(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    upload_id: &str,
    delete_object: bool,
) -> Result<Upload, CancelError> {
    let bucket = deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(CancelError::BucketNotFound)?;
    let id = UploadId::parse(upload_id).map_err(|_| CancelError::UploadNotFound)?;
    let mut upload = deps.uploads.get_upload(&bucket.id, &id).await?.ok_or(CancelError::UploadNotFound)?;
    for _ in 0..MAX_RACES {
        let canceled = match upload.cancel_entry() {
            CancelEntry::NotCancelable => return Err(CancelError::InvalidState(upload.status)),
            CancelEntry::AlreadyCanceled => upload,
            CancelEntry::Cancel => match deps.uploads.cancel_upload(&upload.id, upload.status, deps.clock.now()).await?
            {
                Transition::Applied(canceled) => canceled,
                Transition::Stale(moved) => {
                    upload = moved;
                    continue;
                }
            },
        };
        if delete_object {
            super::abort_multipart(deps.store, &canceled).await?;
            deps.store.delete(&canceled.key).await?;
        }
        return Ok(canceled);
    }
    Err(CancelError::Contention)
}

#[cfg(test)]
mod tests;
