//! The expiry sweep: PENDING uploads past `expires_at` + grace become FAILED `upload_expired`
//! and their stored bytes (and the parts of a multipart upload) are deleted, so nothing stays
//! orphaned.

use super::Deps;
use crate::error::{RepoError, StorageError};
use crate::ports::Transition;
use crate::upload::Failure;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Uploads set FAILED `upload_expired`.
    pub expired: u64,
    /// Their objects deleted from the store.
    pub objects_deleted: u64,
    /// Multipart uploads aborted (their parts deleted).
    pub multipart_aborted: u64,
    /// Deletions that failed (retried by the next sweep's reconciler pass).
    pub delete_failures: u64,
}

/// Why a sweep stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpireError {
    /// The database failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Expires up to `limit` stale uploads.
///
/// # Errors
/// A database failure (what was done before it stays done).
pub async fn expire_stale_uploads(deps: Deps<'_>, limit: u32) -> Result<ExpiryReport, ExpireError> {
    let now = deps.clock.now();
    let cutoff = now - deps.policy.confirm_grace;
    let mut report = ExpiryReport::default();
    let mut buckets = std::collections::HashMap::new();
    for upload in deps.uploads.list_expirable(cutoff, limit).await? {
        let bucket = match buckets.entry(upload.bucket_id.clone()) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(deps.tenancy.find_bucket(&upload.namespace_id, upload.bucket_id.as_str()).await?)
            }
        };
        let webhook = bucket.as_ref().and_then(|b| super::webhook_for(deps, b));
        let Transition::Applied(expired) =
            deps.uploads.record_failure(&upload.id, upload.status, &Failure::expired(), now, webhook).await?
        else {
            continue;
        };
        report.expired += 1;
        match super::abort_multipart(deps.store, &expired).await {
            Ok(true) => report.multipart_aborted += 1,
            Ok(false) => {}
            Err(_) => report.delete_failures += 1,
        }
        match deps.store.delete(&expired.key).await {
            Ok(()) => report.objects_deleted += 1,
            Err(_) => report.delete_failures += 1,
        }
    }
    Ok(report)
}
