//! Read an upload, with a fresh PUT URL while it is still PENDING — for callers that may upload
//! (write keys and above): a read key sees the upload but never gets a URL to write its bytes.

use super::create_upload::presign_put;
use super::{Deps, port_errors};
use crate::auth::Role;
use crate::error::{
    Coded, ErrorKind, RepoError, StorageError, code_of_repo, code_of_storage, kind_of_repo, kind_of_storage,
};
use crate::ids::{NamespaceId, UploadId};
use crate::ports::PresignedRequest;
use crate::upload::Upload;

/// Why an upload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetUploadError {
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// No such upload in the bucket.
    #[error("upload not found")]
    UploadNotFound,
    /// The store failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(GetUploadError);

impl Coded for GetUploadError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => crate::error::codes::BUCKET_NOT_FOUND,
            Self::UploadNotFound => crate::error::codes::UPLOAD_NOT_FOUND,
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound | Self::UploadNotFound => ErrorKind::NotFound,
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}

/// One page of the uploads of `bucket` (id or name) in `namespace`.
///
/// # Errors
/// `BucketNotFound`, or a database failure.
pub async fn list_uploads(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    query: &crate::ports::UploadQuery,
) -> Result<crate::ports::UploadPage, GetUploadError> {
    let bucket = deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(GetUploadError::BucketNotFound)?;
    Ok(deps.uploads.list_uploads(&bucket.id, query).await?)
}

/// Reads an upload of `bucket` (id or name) in `namespace` for a caller with `role`.
///
/// # Errors
/// Not found, or a port failure.
pub async fn get_upload(
    deps: Deps<'_>,
    role: Role,
    namespace: &NamespaceId,
    bucket: &str,
    upload_id: &str,
) -> Result<(Upload, Option<PresignedRequest>), GetUploadError> {
    let bucket = deps.tenancy.find_bucket(namespace, bucket).await?.ok_or(GetUploadError::BucketNotFound)?;
    let id = UploadId::parse(upload_id).map_err(|_| GetUploadError::UploadNotFound)?;
    let upload = deps.uploads.get_upload(&bucket.id, &id).await?.ok_or(GetUploadError::UploadNotFound)?;
    let may_sign = crate::auth::Operation::SignUploadUrl.needs().is_some_and(|needed| role.allows(needed));
    let presigned = if may_sign { presign_put(deps, &bucket, &upload).await? } else { None };
    Ok((upload, presigned))
}
