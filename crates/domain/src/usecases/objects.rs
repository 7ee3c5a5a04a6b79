//! Bucket objects: deleting one (its bytes go too unless another blob references them).

use super::{Deps, port_errors};
use crate::error::{
    Coded, ErrorKind, RepoError, StorageError, code_of_repo, code_of_storage, kind_of_repo, kind_of_storage,
};
use crate::ids::NamespaceId;

/// Deletes an object of `bucket` (id or name) in `namespace`; its stored bytes are deleted unless
/// another object's blob still references them.
///
/// # Errors
/// Not found (`object_not_found`), or a port failure. The
/// record is gone before the bytes: a failed byte deletion leaves an orphan the reconciler finds.
pub async fn delete_object(
    deps: Deps<'_>,
    namespace: &NamespaceId,
    bucket: &str,
    object_id: &str,
) -> Result<(), DeleteObjectError> {
    let bucket = deps.repo.find_bucket(namespace, bucket).await?.ok_or(DeleteObjectError::BucketNotFound)?;
    let id = crate::ids::ObjectId::parse(object_id).map_err(|_| DeleteObjectError::ObjectNotFound)?;
    let unreferenced = deps.repo.delete_object(&bucket.id, &id).await?.ok_or(DeleteObjectError::ObjectNotFound)?;
    for key in unreferenced {
        deps.store.delete(&key).await?;
    }
    Ok(())
}

/// Why an object could not be deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteObjectError {
    /// No such bucket in the caller's namespace.
    #[error("bucket not found")]
    BucketNotFound,
    /// No such object in the bucket.
    #[error("object not found")]
    ObjectNotFound,
    /// The store failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The database failed.
    #[error(transparent)]
    Repo(RepoError),
}
port_errors!(DeleteObjectError);

impl Coded for DeleteObjectError {
    fn code(&self) -> &'static str {
        match self {
            Self::BucketNotFound => "bucket_not_found",
            Self::ObjectNotFound => "object_not_found",
            Self::Storage(e) => code_of_storage(e),
            Self::Repo(e) => code_of_repo(e),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::BucketNotFound | Self::ObjectNotFound => ErrorKind::NotFound,
            Self::Storage(e) => kind_of_storage(e),
            Self::Repo(e) => kind_of_repo(e),
        }
    }
}
