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
use crate::ports::ObjectHead;

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

/// Who hears of a blob found tampered: the bucket's webhook (`object.tampered`), if it has one.
#[derive(Clone, Copy)]
pub struct Alert<'a> {
    /// The blob's bucket (its webhook settings).
    pub bucket: &'a crate::bucket::Bucket,
    /// The blob's object (the event's subject).
    pub object: &'a crate::object::BucketObject,
    /// Delivery task ids.
    pub ids: &'a dyn crate::ports::IdGenerator,
    /// Delivery attempts.
    pub max_attempts: u32,
}

/// Checks `blob`'s stored bytes; marks it tampered the first time they differ.
///
/// # Errors
/// A store or database failure.
pub async fn check_blob(deps: Deps<'_>, blob: &Blob, alert: Option<Alert<'_>>) -> Result<Integrity, CheckError> {
    if blob.details.tampered_at.is_some() {
        return Ok(Integrity::Tampered);
    }
    let head = deps.store.head(&blob.key).await?;
    Ok(judge(deps, blob, head.as_ref(), alert).await?)
}

/// What `head` (the store's answer for `blob`'s key) says about its bytes; the first time they
/// differ, marks the blob and, with `alert`, writes the `object.tampered` event with the mark.
///
/// # Errors
/// A database failure while marking.
pub async fn judge(
    deps: Deps<'_>,
    blob: &Blob,
    head: Option<&ObjectHead>,
    alert: Option<Alert<'_>>,
) -> Result<Integrity, RepoError> {
    if blob.details.tampered_at.is_some() {
        return Ok(Integrity::Tampered);
    }
    let Some(head) = head else { return Ok(Integrity::Missing) };
    if blob.details.matches(head) {
        return Ok(Integrity::Intact);
    }
    let mut marked = blob.clone();
    marked.details.tampered_at = Some(deps.clock.now());
    let event = alert.and_then(|a| {
        let target = crate::webhook::WebhookTarget::for_bucket(a.bucket, a.ids, a.max_attempts)?;
        Some(crate::webhook::tampered_event(&target, a.object, &marked, deps.clock.now()))
    });
    deps.objects.update_blob_details(&blob.id, &marked.details, event).await?;
    Ok(Integrity::Tampered)
}

/// [`check_blob`] with the use cases' ports, alerting `bucket`'s webhook about `object`.
///
/// # Errors
/// A store or database failure.
pub async fn check(
    deps: Deps<'_>,
    bucket: &crate::bucket::Bucket,
    object: &crate::object::BucketObject,
    blob: &Blob,
) -> Result<Integrity, CheckError> {
    let alert = Alert { bucket, object, ids: deps.ids, max_attempts: deps.policy.webhook_max_attempts };
    check_blob(deps, blob, Some(alert)).await
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
    let Some(original) = deps.uploads.find_claim(scope, sha256).await? else { return Ok(None) };
    let object = match &original.object_id {
        Some(id) => deps.objects.get_object(&original.bucket_id, id).await?,
        None => None,
    };
    let blob = object.as_ref().and_then(|o| o.blobs.iter().find(|b| b.key == original.key).map(|b| (o, b)));
    let integrity = match (blob, &original.verified) {
        (Some((object, blob)), _) => {
            match deps.tenancy.find_bucket(&original.namespace_id, original.bucket_id.as_str()).await? {
                Some(bucket) => check(deps, &bucket, object, blob).await?,
                None => check_blob(deps, blob, None).await?,
            }
        }
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
    deps.uploads.release_claim(scope, sha256, &original.id).await?;
    Ok(None)
}
