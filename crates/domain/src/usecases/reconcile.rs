//! The orphan reconciler: objects under the upload prefix that nothing needs, older than the grace
//! period, are found — and deleted unless the run is a dry run. Nothing needs bytes when no upload
//! owns their key (a record lost, a PUT to a key stowage never issued) or when the upload that
//! owns it no longer needs them ([`Upload::needs_its_bytes`]: canceled, expired, or its object
//! deleted — bytes whose delete failed at the time). Bytes of PENDING uploads are never touched:
//! expiring those is the sweeper's job.
//!
//! [`Upload::needs_its_bytes`]: crate::upload::Upload::needs_its_bytes

use super::Deps;
use crate::error::{RepoError, StorageError};
use crate::names::UPLOAD_PREFIX;
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

async fn is_orphan(deps: Deps<'_>, object: &ListedObject) -> Result<bool, RepoError> {
    match object.key.upload() {
        Some((bucket, upload)) => {
            Ok(!deps.uploads.get_upload(&bucket, &upload).await?.is_some_and(|u| u.needs_its_bytes()))
        }
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
    use crate::names::ObjectKey;
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
        let canceled = canceled_upload();
        world
            .uploads
            .expect_get_upload()
            .returning(move |_, id| Ok([&owned, &canceled].into_iter().find(|u| u.id == *id).cloned()));
        world
    }

    /// An upload canceled when its bytes could not be deleted: they are an orphan.
    fn canceled_upload() -> crate::upload::Upload {
        let mut upload = pending_upload();
        upload.id = upload_id(2);
        upload.key =
            ObjectKey::parse(&upload.key.as_str().replace(upload_id(1).as_str(), upload_id(2).as_str())).unwrap();
        upload.cancel(NOW).unwrap()
    }

    fn keys() -> Vec<ListedObject> {
        let owned = pending_upload();
        vec![
            listed(owned.key.as_str(), 48),
            listed("uploads/ns_nnnnnnnnnnnnnnnn/bkt_bbbbbbbbbbbbbbbb/upl_zzzzzzzzzzzzzzzz/lost.bin", 48),
            listed("uploads/not/ours.bin", 48),
            listed("uploads/ns_nnnnnnnnnnnnnnnn/bkt_bbbbbbbbbbbbbbbb/upl_yyyyyyyyyyyyyyyy/fresh.bin", 1),
            listed(canceled_upload().key.as_str(), 48),
        ]
    }

    #[tokio::test]
    async fn a_dry_run_counts_old_unowned_objects_and_deletes_nothing() {
        let mut world = world(keys());
        world.store.expect_delete().never();
        let report = reconcile_orphans(world.deps(), false, 10).await.unwrap();
        assert_eq!(report, ReconcileReport { scanned: 5, orphans: 3, deleted: 0 });
    }

    #[tokio::test]
    async fn a_deleting_run_removes_only_old_unowned_objects() {
        let mut world = world(keys());
        world
            .store
            .expect_delete()
            .withf(|key| {
                key.as_str().contains("lost.bin")
                    || key.as_str().contains("ours.bin")
                    || key.as_str().contains(upload_id(2).as_str())
            })
            .times(3)
            .returning(|_| Ok(()));
        let report = reconcile_orphans(world.deps(), true, 10).await.unwrap();
        assert_eq!((report.orphans, report.deleted), (3, 3));
    }

    #[test]
    fn keys_name_their_bucket_and_upload() {
        let key = pending_upload().key;
        assert_eq!(key.upload(), Some((bucket().id, pending_upload().id)));
        assert_eq!(ObjectKey::parse("uploads/x/y").unwrap().upload(), None);
    }
}
