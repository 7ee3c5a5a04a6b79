//! The orphan reconciler: objects under the upload prefix that no upload owns (a record lost, a
//! PUT to a key stowage never issued), older than the grace period, are found — and deleted unless
//! the run is a dry run. An object whose upload exists, in any state, is never touched: expiring
//! those is the sweeper's job.

use super::Deps;
use crate::error::{RepoError, StorageError};
use crate::ids::{BucketId, UploadId};
use crate::names::{ObjectKey, UPLOAD_PREFIX};
use crate::ports::ListedObject;

/// What one reconciliation pass found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Objects listed under the upload prefix.
    pub scanned: u64,
    /// Of those, objects no upload owns and older than the grace.
    pub orphans: u64,
    /// Orphans deleted (0 in a dry run).
    pub deleted: u64,
}

/// Why a pass stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// The database failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The bucket and upload a key of the form `uploads/<ns>/<bucket>/<upload>/<file>` names.
fn owner_of(key: &ObjectKey) -> Option<(BucketId, UploadId)> {
    let mut parts = key.as_str().strip_prefix(UPLOAD_PREFIX)?.splitn(4, '/');
    let (_namespace, bucket, upload) = (parts.next()?, parts.next()?, parts.next()?);
    Some((BucketId::parse(bucket).ok()?, UploadId::parse(upload).ok()?))
}

async fn is_orphan(deps: Deps<'_>, object: &ListedObject) -> Result<bool, RepoError> {
    match owner_of(&object.key) {
        Some((bucket, upload)) => Ok(deps.repo.get_upload(&bucket, &upload).await?.is_none()),
        None => Ok(true),
    }
}

/// Scans up to `max_pages` pages of the upload prefix.
///
/// # Errors
/// A store or database failure (what was done before it stays done).
pub async fn reconcile_orphans(
    deps: Deps<'_>,
    delete: bool,
    max_pages: u32,
) -> Result<ReconcileReport, ReconcileError> {
    let cutoff = deps.clock.now() - deps.policy.confirm_grace;
    let mut report = ReconcileReport::default();
    let mut token = None;
    for _ in 0..max_pages {
        let page = deps.store.list(UPLOAD_PREFIX, token.take()).await?;
        for object in &page.objects {
            report.scanned += 1;
            let old_enough = object.last_modified.is_some_and(|t| t < cutoff);
            if old_enough && is_orphan(deps, object).await? {
                report.orphans += 1;
                if delete {
                    deps.store.delete(&object.key).await?;
                    report.deleted += 1;
                }
            }
        }
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ListPage;
    use crate::usecases::testkit::*;

    fn listed(key: &str, age_hours: i64) -> ListedObject {
        ListedObject {
            key: ObjectKey::parse(key).unwrap(),
            size: 1,
            last_modified: Some(NOW - time::Duration::hours(age_hours)),
        }
    }

    fn world(objects: Vec<ListedObject>) -> World {
        let mut world = World::new();
        world.store.expect_list().returning(move |_, _| Ok(ListPage { objects: objects.clone(), next: None }));
        let owned = pending_upload();
        world.repo.expect_get_upload().returning(move |_, id| Ok((*id == owned.id).then(|| owned.clone())));
        world
    }

    fn keys() -> Vec<ListedObject> {
        let owned = pending_upload();
        vec![
            listed(owned.key.as_str(), 48),
            listed("uploads/ns_nnnnnnnnnnnnnnnn/bkt_bbbbbbbbbbbbbbbb/upl_zzzzzzzzzzzzzzzz/lost.bin", 48),
            listed("uploads/not/ours.bin", 48),
            listed("uploads/ns_nnnnnnnnnnnnnnnn/bkt_bbbbbbbbbbbbbbbb/upl_yyyyyyyyyyyyyyyy/fresh.bin", 1),
        ]
    }

    #[tokio::test]
    async fn a_dry_run_counts_old_unowned_objects_and_deletes_nothing() {
        let mut world = world(keys());
        world.store.expect_delete().never();
        let report = reconcile_orphans(world.deps(), false, 10).await.unwrap();
        assert_eq!(report, ReconcileReport { scanned: 4, orphans: 2, deleted: 0 });
    }

    #[tokio::test]
    async fn a_deleting_run_removes_only_old_unowned_objects() {
        let mut world = world(keys());
        world
            .store
            .expect_delete()
            .withf(|key| key.as_str().contains("lost.bin") || key.as_str().contains("ours.bin"))
            .times(2)
            .returning(|_| Ok(()));
        let report = reconcile_orphans(world.deps(), true, 10).await.unwrap();
        assert_eq!((report.orphans, report.deleted), (2, 2));
    }

    #[test]
    fn keys_name_their_bucket_and_upload() {
        let key = pending_upload().key;
        assert_eq!(owner_of(&key), Some((bucket().id, pending_upload().id)));
        assert_eq!(owner_of(&ObjectKey::parse("uploads/x/y").unwrap()), None);
    }
}
