//! Ports wrapped with timing: every object-store call records `stowage_storage_seconds{op}` and
//! every repository call `stowage_database_seconds{op}`, so a confirm's latency splits into
//! storage time and database time without the domain knowing about metrics.

use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stowage_domain::bucket::{Bucket, Namespace};
use stowage_domain::content::{ContentDigest, Sha256Hex};
use stowage_domain::dedup::ClaimScope;
use stowage_domain::error::{RepoError, StorageError};
use stowage_domain::ids::{BlobId, BucketId, NamespaceId, ObjectId, UploadId};
use stowage_domain::names::{ContentType, ObjectKey};
use stowage_domain::object::{BlobDetails, BucketObject};
use stowage_domain::ports::{
    AttachOutcome, ConfirmationOutcome, ConfirmationPlan, InsertUpload, ListPage, ObjectHead, ObjectRepo, ObjectStore,
    PartInfo, PendingCursor, PresignPut, PresignedPost, PresignedRequest, TenancyRepo, Transition, UploadPage,
    UploadQuery, UploadRepo,
};
use stowage_domain::status::UploadStatus;
use stowage_domain::task::NewTask;
use stowage_domain::upload::{Failure, Upload};
use time::OffsetDateTime;

async fn timed<T, E>(metric: &'static str, op: &'static str, call: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::histogram!(metric, "op" => op, "outcome" => outcome).record(started.elapsed().as_secs_f64());
    result
}

/// A port whose calls are timed: the object store, and the repository roles a request's
/// latency is made of (tenancy, uploads, objects).
pub struct Metered<T: ?Sized>(pub Arc<T>);

const STORAGE: &str = "stowage_storage_seconds";
const DATABASE: &str = "stowage_database_seconds";

#[async_trait]
impl ObjectStore for Metered<dyn ObjectStore> {
    async fn presign_put(&self, request: &PresignPut) -> Result<PresignedRequest, StorageError> {
        timed(STORAGE, "presign_put", self.0.presign_put(request)).await
    }
    async fn presign_post(&self, request: &PresignPut) -> Result<Option<PresignedPost>, StorageError> {
        timed(STORAGE, "presign_post", self.0.presign_post(request)).await
    }
    async fn presign_get(&self, key: &ObjectKey, expires_in: Duration) -> Result<PresignedRequest, StorageError> {
        timed(STORAGE, "presign_get", self.0.presign_get(key, expires_in)).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectHead>, StorageError> {
        timed(STORAGE, "head", self.0.head(key)).await
    }
    async fn hash(&self, key: &ObjectKey) -> Result<ContentDigest, StorageError> {
        let digest = timed(STORAGE, "hash", self.0.hash(key)).await?;
        metrics::counter!("stowage_hashed_bytes_total").increment(digest.bytes);
        Ok(digest)
    }
    async fn read_prefix(&self, key: &ObjectKey, len: u64) -> Result<Vec<u8>, StorageError> {
        timed(STORAGE, "read_prefix", self.0.read_prefix(key, len)).await
    }
    async fn create_multipart(&self, key: &ObjectKey, content_type: &ContentType) -> Result<String, StorageError> {
        timed(STORAGE, "create_multipart", self.0.create_multipart(key, content_type)).await
    }
    async fn presign_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        expires_in: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        timed(STORAGE, "presign_part", self.0.presign_part(key, upload_id, part_number, expires_in)).await
    }
    async fn list_parts(&self, key: &ObjectKey, upload_id: &str) -> Result<Vec<PartInfo>, StorageError> {
        timed(STORAGE, "list_parts", self.0.list_parts(key, upload_id)).await
    }
    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> Result<ObjectHead, StorageError> {
        timed(STORAGE, "complete_multipart", self.0.complete_multipart(key, upload_id, parts)).await
    }
    async fn abort_multipart(&self, key: &ObjectKey, upload_id: &str) -> Result<(), StorageError> {
        timed(STORAGE, "abort_multipart", self.0.abort_multipart(key, upload_id)).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        timed(STORAGE, "delete", self.0.delete(key)).await
    }
    async fn list(&self, prefix: &str, page_token: Option<String>) -> Result<ListPage, StorageError> {
        timed(STORAGE, "list", self.0.list(prefix, page_token)).await
    }
    fn locator(&self, key: &ObjectKey) -> String {
        self.0.locator(key)
    }
    async fn ping(&self) -> Result<(), StorageError> {
        timed(STORAGE, "ping", self.0.ping()).await
    }
}

#[async_trait]
impl UploadRepo for Metered<dyn UploadRepo> {
    async fn insert_upload(&self, upload: &Upload, idempotency_key: Option<String>) -> Result<InsertUpload, RepoError> {
        let inserted = timed(DATABASE, "insert_upload", self.0.insert_upload(upload, idempotency_key)).await?;
        if inserted == InsertUpload::Inserted {
            metrics::counter!("stowage_uploads_total", "event" => "created").increment(1);
        }
        Ok(inserted)
    }
    async fn get_upload(&self, bucket: &BucketId, id: &UploadId) -> Result<Option<Upload>, RepoError> {
        timed(DATABASE, "get_upload", self.0.get_upload(bucket, id)).await
    }
    async fn list_uploads(&self, bucket: &BucketId, query: &UploadQuery) -> Result<UploadPage, RepoError> {
        timed(DATABASE, "list_uploads", self.0.list_uploads(bucket, query)).await
    }
    async fn find_claim(&self, scope: &ClaimScope, sha256: &Sha256Hex) -> Result<Option<Upload>, RepoError> {
        timed(DATABASE, "find_claim", self.0.find_claim(scope, sha256)).await
    }
    async fn release_claim(
        &self,
        scope: &ClaimScope,
        sha256: &Sha256Hex,
        holder: &UploadId,
    ) -> Result<bool, RepoError> {
        let released = timed(DATABASE, "release_claim", self.0.release_claim(scope, sha256, holder)).await?;
        if released {
            metrics::counter!("stowage_claims_released_total", "reason" => "bytes_changed").increment(1);
        }
        Ok(released)
    }
    async fn begin_processing(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        task: &NewTask,
        now: OffsetDateTime,
    ) -> Result<Transition, RepoError> {
        timed(DATABASE, "begin_processing", self.0.begin_processing(id, expected, task, now)).await
    }
    async fn apply_confirmation(&self, plan: &ConfirmationPlan) -> Result<ConfirmationOutcome, RepoError> {
        let outcome = timed(DATABASE, "apply_confirmation", self.0.apply_confirmation(plan)).await?;
        match &outcome {
            ConfirmationOutcome::Original(u) => {
                metrics::counter!("stowage_uploads_total", "event" => "completed").increment(1);
                metrics::histogram!("stowage_upload_pending_seconds")
                    .record((plan.now - u.created_at).as_seconds_f64().max(0.0));
            }
            ConfirmationOutcome::Duplicate(u) => {
                metrics::counter!("stowage_uploads_total", "event" => "duplicate").increment(1);
                metrics::histogram!("stowage_upload_pending_seconds")
                    .record((plan.now - u.created_at).as_seconds_f64().max(0.0));
            }
            ConfirmationOutcome::Stale(_) | ConfirmationOutcome::OverQuota(_) | ConfirmationOutcome::ClaimHeld => {}
        }
        Ok(outcome)
    }
    async fn record_failure(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        failure: &Failure,
        now: OffsetDateTime,
        webhook: Option<stowage_domain::webhook::WebhookTarget>,
    ) -> Result<Transition, RepoError> {
        let result =
            timed(DATABASE, "record_failure", self.0.record_failure(id, expected, failure, now, webhook)).await?;
        if matches!(result, Transition::Applied(_)) {
            let event =
                if failure.code == stowage_domain::upload::FailureCode::UploadExpired { "expired" } else { "failed" };
            metrics::counter!("stowage_uploads_total", "event" => event).increment(1);
        }
        Ok(result)
    }
    async fn cancel_upload(
        &self,
        id: &UploadId,
        expected: UploadStatus,
        now: OffsetDateTime,
    ) -> Result<Transition, RepoError> {
        let result = timed(DATABASE, "cancel_upload", self.0.cancel_upload(id, expected, now)).await?;
        if matches!(result, Transition::Applied(_)) {
            metrics::counter!("stowage_uploads_total", "event" => "canceled").increment(1);
        }
        Ok(result)
    }
    async fn list_expirable(&self, cutoff: OffsetDateTime, limit: u32) -> Result<Vec<Upload>, RepoError> {
        timed(DATABASE, "list_expirable", self.0.list_expirable(cutoff, limit)).await
    }
    async fn list_pending(
        &self,
        since: OffsetDateTime,
        after: Option<PendingCursor>,
        limit: u32,
    ) -> Result<Vec<Upload>, RepoError> {
        timed(DATABASE, "list_pending", self.0.list_pending(since, after, limit)).await
    }
}

#[async_trait]
impl ObjectRepo for Metered<dyn ObjectRepo> {
    async fn update_blob_details(
        &self,
        blob: &BlobId,
        details: &BlobDetails,
        event: Option<NewTask>,
    ) -> Result<(), RepoError> {
        timed(DATABASE, "update_blob_details", self.0.update_blob_details(blob, details, event)).await
    }

    async fn list_objects(
        &self,
        bucket: &BucketId,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<Vec<BucketObject>, RepoError> {
        timed(DATABASE, "list_objects", self.0.list_objects(bucket, after, limit)).await
    }

    async fn delete_object(&self, bucket: &BucketId, id: &ObjectId) -> Result<Option<Vec<ObjectKey>>, RepoError> {
        timed(DATABASE, "delete_object", self.0.delete_object(bucket, id)).await
    }

    async fn attach_object(&self, object: &BucketObject, uploads: &[UploadId]) -> Result<AttachOutcome, RepoError> {
        timed(DATABASE, "attach_object", self.0.attach_object(object, uploads)).await
    }

    async fn get_object(&self, bucket: &BucketId, id: &ObjectId) -> Result<Option<BucketObject>, RepoError> {
        timed(DATABASE, "get_object", self.0.get_object(bucket, id)).await
    }
}

#[async_trait]
impl TenancyRepo for Metered<dyn TenancyRepo> {
    async fn create_namespace(&self, namespace: &Namespace) -> Result<(), RepoError> {
        timed(DATABASE, "create_namespace", self.0.create_namespace(namespace)).await
    }

    async fn find_namespace(&self, id_or_name: &str) -> Result<Option<Namespace>, RepoError> {
        timed(DATABASE, "find_namespace", self.0.find_namespace(id_or_name)).await
    }

    async fn ping(&self) -> Result<(), RepoError> {
        timed(DATABASE, "ping", self.0.ping()).await
    }

    async fn list_buckets(&self, namespace: &NamespaceId) -> Result<Vec<Bucket>, RepoError> {
        timed(DATABASE, "list_buckets", self.0.list_buckets(namespace)).await
    }

    async fn create_bucket(&self, bucket: &Bucket) -> Result<(), RepoError> {
        timed(DATABASE, "create_bucket", self.0.create_bucket(bucket)).await
    }

    async fn find_bucket(&self, namespace: &NamespaceId, id_or_name: &str) -> Result<Option<Bucket>, RepoError> {
        timed(DATABASE, "find_bucket", self.0.find_bucket(namespace, id_or_name)).await
    }
}
