//! The use cases, each written as the steps of docs/domain.md. They decide; the ports do the I/O.

pub mod batch;
pub mod cancel;
pub mod confirm;
pub mod confirm_batch;
pub mod confirm_task;
pub mod create_upload;
pub mod deliver_webhook;
pub mod dispatch;
pub mod expire;
pub mod finish;
pub mod get_upload;
pub mod integrity;
pub mod keys;
pub mod objects;
pub mod process_batch;
pub mod reconcile;
pub mod sessions;
pub mod tasks;
pub mod tenancy;
mod verify;

pub use verify::VerificationFailure;

use crate::policy::Policy;
use crate::ports::{
    BatchRepo, Clock, IdGenerator, KeyRepo, ObjectRepo, ObjectStore, Repository, TaskQueue, TaskReads, TenancyRepo,
    UploadRepo,
};
use std::sync::Arc;

/// The ports and rules a use case works with, borrowed for one call: the one way every use case
/// receives them. Each use case touches only the roles it needs; tests wire mocks of those.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    /// Namespaces and buckets.
    pub tenancy: &'a dyn TenancyRepo,
    /// API keys.
    pub keys: &'a dyn KeyRepo,
    /// Uploads and content claims.
    pub uploads: &'a dyn UploadRepo,
    /// Bucket objects.
    pub objects: &'a dyn ObjectRepo,
    /// Batches.
    pub batches: &'a dyn BatchRepo,
    /// The task queue, as workers and enqueuers use it.
    pub queue: &'a dyn TaskQueue,
    /// Tasks as the API shows them.
    pub tasks: &'a dyn TaskReads,
    /// Bytes.
    pub store: &'a dyn ObjectStore,
    /// Time.
    pub clock: &'a dyn Clock,
    /// Ids.
    pub ids: &'a dyn IdGenerator,
    /// Service-wide rules.
    pub policy: &'a Policy,
}

/// The application's ports and rules, owned: built once by the composition root (the server's
/// `app` module) for `serve`, `worker` and the CLI alike, cloned cheaply, borrowed as [`Deps`].
#[derive(Clone)]
pub struct Ports {
    /// Namespaces and buckets.
    pub tenancy: Arc<dyn TenancyRepo>,
    /// API keys.
    pub keys: Arc<dyn KeyRepo>,
    /// Uploads and content claims.
    pub uploads: Arc<dyn UploadRepo>,
    /// Bucket objects.
    pub objects: Arc<dyn ObjectRepo>,
    /// Batches.
    pub batches: Arc<dyn BatchRepo>,
    /// The task queue, as workers and enqueuers use it.
    pub queue: Arc<dyn TaskQueue>,
    /// Tasks as the API shows them.
    pub tasks: Arc<dyn TaskReads>,
    /// Bytes.
    pub store: Arc<dyn ObjectStore>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Ids.
    pub ids: Arc<dyn IdGenerator>,
    /// Service-wide rules.
    pub policy: Arc<Policy>,
}

impl Ports {
    /// Every repository role from one database adapter, beside the store, clock, ids and rules.
    #[must_use]
    pub fn new<R: Repository>(
        repo: Arc<R>,
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        policy: Policy,
    ) -> Self {
        Self {
            tenancy: repo.clone(),
            keys: repo.clone(),
            uploads: repo.clone(),
            objects: repo.clone(),
            batches: repo.clone(),
            queue: repo.clone(),
            tasks: repo,
            store,
            clock,
            ids,
            policy: Arc::new(policy),
        }
    }

    /// The ports borrowed for one use-case call.
    #[must_use]
    pub fn deps(&self) -> Deps<'_> {
        Deps {
            tenancy: &*self.tenancy,
            keys: &*self.keys,
            uploads: &*self.uploads,
            objects: &*self.objects,
            batches: &*self.batches,
            queue: &*self.queue,
            tasks: &*self.tasks,
            store: &*self.store,
            clock: &*self.clock,
            ids: &*self.ids,
            policy: &self.policy,
        }
    }
}

/// How many times a use case re-reads after losing a race before giving up. Each lost race
/// means another writer moved the upload to a state that answers directly, so one re-read is
/// normally enough.
pub(crate) const MAX_RACES: usize = 4;

/// Aborts `upload`'s multipart upload, if it has one (its parts take space until then): `Ok(false)`
/// when it has none. Aborting one that is already gone succeeds, as the port promises.
pub(crate) async fn abort_multipart(
    store: &dyn ObjectStore,
    upload: &crate::upload::Upload,
) -> Result<bool, crate::error::StorageError> {
    match &upload.multipart {
        Some(mp) => store.abort_multipart(&upload.key, &mp.upload_id).await.map(|()| true),
        None => Ok(false),
    }
}

/// The upload whose bytes live at `key` (a key made by `ObjectKey::for_upload`); `None` for keys
/// that are no upload's, unknown uploads, and keys that name an upload but are not its key.
pub(crate) async fn upload_at(
    deps: Deps<'_>,
    key: &str,
) -> Result<Option<crate::upload::Upload>, crate::error::RepoError> {
    let Some((bucket, id)) =
        crate::names::ObjectKey::parse(key).ok().as_ref().and_then(crate::names::ObjectKey::upload)
    else {
        return Ok(None);
    };
    Ok(deps.uploads.get_upload(&bucket, &id).await?.filter(|upload| upload.key.as_str() == key))
}

/// `bucket` (perhaps from the cache, `find_bucket_cached`), or — when `refuses` would turn the
/// request away on it — the bucket read fresh: a cached bucket's settings are right but its usage
/// may be old, so a quota refusal is only ever decided on a fresh read. `None`: the bucket is gone.
pub(crate) async fn fresh_before_refusal(
    deps: Deps<'_>,
    bucket: crate::bucket::Bucket,
    refuses: impl Fn(&crate::bucket::Bucket) -> bool,
) -> Result<Option<crate::bucket::Bucket>, crate::error::RepoError> {
    if !refuses(&bucket) {
        return Ok(Some(bucket));
    }
    deps.tenancy.find_bucket(&bucket.namespace_id, bucket.id.as_str()).await
}

/// Where `bucket`'s events go, with a fresh delivery task id; `None` without a webhook.
pub(crate) fn webhook_for(deps: Deps<'_>, bucket: &crate::bucket::Bucket) -> Option<crate::webhook::WebhookTarget> {
    crate::webhook::WebhookTarget::for_bucket(bucket, deps.ids, deps.policy.webhook_max_attempts)
}

/// Implements `From` for the two port-error variants every operation has, and for a failed
/// integrity check (which is one of the two).
macro_rules! port_errors {
    ($err:ident) => {
        impl From<$crate::usecases::integrity::CheckError> for $err {
            fn from(e: $crate::usecases::integrity::CheckError) -> Self {
                match e {
                    $crate::usecases::integrity::CheckError::Storage(e) => Self::Storage(e),
                    $crate::usecases::integrity::CheckError::Repo(e) => Self::Repo(e),
                }
            }
        }
        impl From<$crate::error::RepoError> for $err {
            fn from(e: $crate::error::RepoError) -> Self {
                Self::Repo(e)
            }
        }
        impl From<$crate::error::StorageError> for $err {
            fn from(e: $crate::error::StorageError) -> Self {
                Self::Storage(e)
            }
        }
    };
}
pub(crate) use port_errors;

#[cfg(test)]
pub(crate) mod testkit;
