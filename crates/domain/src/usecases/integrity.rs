//! Reading an object's bytes back: before a download URL is issued or batch processing reads a
//! blob, the store's HEAD must still show the bytes verified at confirm
//! ([`BlobDetails::matches`]). Where a store cannot refuse an overwrite through a replayed upload
//! URL (S3 stores without conditional writes, such as Garage), this is how the swap is caught: the
//! blob is marked (`tampered_at`) in the database and is never served or processed again.
//!
//! [`BlobDetails::matches`]: crate::object::BlobDetails::matches

use super::Deps;
use crate::error::{RepoError, StorageError};
use crate::object::Blob;
use crate::ports::{Clock, ObjectHead, ObjectStore, UploadRepo};

/// What a check of a blob's stored bytes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// The stored bytes are the verified ones.
    Intact,
    /// Nothing is stored under the blob's key.
    Missing,
    /// The stored bytes differ from the verified ones (now, or at an earlier check); the blob is
    /// marked.
    Tampered,
}

/// Why a check could not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database failed (marking the blob).
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Checks `blob`'s stored bytes; marks it tampered the first time they differ.
///
/// # Errors
/// A store or database failure.
pub async fn check_blob(
    repo: &dyn UploadRepo,
    store: &dyn ObjectStore,
    clock: &dyn Clock,
    blob: &Blob,
) -> Result<Integrity, CheckError> {
    if blob.details.tampered_at.is_some() {
        return Ok(Integrity::Tampered);
    }
    let head = store.head(&blob.key).await?;
    Ok(judge(repo, clock, blob, head.as_ref()).await?)
}

/// What `head` (the store's answer for `blob`'s key) says about its bytes; marks the blob the
/// first time they differ.
///
/// # Errors
/// A database failure while marking.
pub async fn judge(
    repo: &dyn UploadRepo,
    clock: &dyn Clock,
    blob: &Blob,
    head: Option<&ObjectHead>,
) -> Result<Integrity, RepoError> {
    if blob.details.tampered_at.is_some() {
        return Ok(Integrity::Tampered);
    }
    let Some(head) = head else { return Ok(Integrity::Missing) };
    if blob.details.matches(head) {
        return Ok(Integrity::Intact);
    }
    let mut details = blob.details.clone();
    details.tampered_at = Some(clock.now());
    repo.update_blob_details(&blob.id, &details).await?;
    Ok(Integrity::Tampered)
}

/// [`check_blob`] with the use cases' ports.
///
/// # Errors
/// A store or database failure.
pub async fn check(deps: Deps<'_>, blob: &Blob) -> Result<Integrity, CheckError> {
    check_blob(deps.repo, deps.store, deps.clock, blob).await
}
