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

/// The upload a duplicate of `sha256` in `scope` would be answered with — unless the bytes it
/// holds are no longer the verified ones (overwritten or gone on a store without conditional
/// writes): then its claim is released, so the new upload becomes the content's original and
/// sends its bytes, and nothing is ever answered with the changed bytes. The holder's object, if
/// any, is marked tampered by the check.
///
/// # Errors
/// A store or database failure.
pub async fn trusted_original(
    deps: Deps<'_>,
    scope: &crate::dedup::ClaimScope,
    sha256: &crate::content::Sha256Hex,
) -> Result<Option<crate::upload::Upload>, CheckError> {
    let Some(original) = deps.repo.find_claim(scope, sha256).await? else { return Ok(None) };
    let object = match &original.object_id {
        Some(id) => deps.repo.get_object(&original.bucket_id, id).await?,
        None => None,
    };
    let blob = object.as_ref().and_then(|o| o.blobs.iter().find(|b| b.key == original.key));
    let integrity = match (blob, &original.verified) {
        (Some(blob), _) => check(deps, blob).await?,
        // No object holds the bytes (confirmed without one): the upload's own record is the truth.
        (None, Some(verified)) => match deps.store.head(&original.key).await? {
            Some(head) if head.size == verified.size && head.etag == verified.etag => Integrity::Intact,
            Some(_) => Integrity::Tampered,
            None => Integrity::Missing,
        },
        (None, None) => Integrity::Intact,
    };
    if integrity == Integrity::Intact {
        return Ok(Some(original));
    }
    deps.repo.release_claim(scope, sha256, &original.id).await?;
    Ok(None)
}

impl From<CheckError> for super::confirm::ConfirmError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Storage(e) => Self::Storage(e),
            CheckError::Repo(e) => Self::Repo(e),
        }
    }
}

impl From<CheckError> for super::create_upload::CreateUploadError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Storage(e) => Self::Storage(e),
            CheckError::Repo(e) => Self::Repo(e),
        }
    }
}
