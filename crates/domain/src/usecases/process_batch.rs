//! Processing a submitted batch (task `api_buckets_batches_submit`): for every object, verify
//! each blob is still stored with its recorded size, compute its SHA-256 when it is not yet
//! known, detect its media type from the first bytes, and record these in the blob's details.
//! The batch ends COMPLETED (every object verified), COMPLETED_WITH_ERRORS (some, with
//! per-object results in the task's `outputs` and `success_rate` in `additional_data`) or FAILED
//! (none). An outage is retried; re-running is harmless (it records the same findings).

use super::Deps;
use crate::error::StorageError;
use crate::ids::{BatchId, BucketId, NamespaceId, ObjectId};
use crate::object::{Blob, SNIFF_BYTES, detect_media_type};
use crate::status::TaskStatus;
use crate::task::{TaskFailure, TaskResult};
use serde::{Deserialize, Serialize};

/// The inputs of a batch task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchTaskInput {
    /// The batch.
    pub batch_id: BatchId,
    /// Its bucket.
    pub bucket_id: BucketId,
    /// Its namespace.
    pub namespace_id: NamespaceId,
}

/// Why one object could not be processed.
struct ItemError {
    code: &'static str,
    message: String,
}

enum Interrupted {
    Item(ItemError),
    Outage(String),
}

impl From<StorageError> for Interrupted {
    fn from(e: StorageError) -> Self {
        if e.is_unavailable() {
            Self::Outage(e.to_string())
        } else {
            Self::Item(ItemError { code: "storage_error", message: e.to_string() })
        }
    }
}

impl From<crate::error::RepoError> for Interrupted {
    fn from(e: crate::error::RepoError) -> Self {
        Self::Outage(e.to_string())
    }
}

fn tampered(blob: &Blob) -> Interrupted {
    Interrupted::Item(ItemError {
        code: crate::error::codes::OBJECT_TAMPERED,
        message: format!("the bytes stored at {} are not the ones verified at confirm", blob.key),
    })
}

async fn process_blob(
    deps: Deps<'_>,
    blob: &Blob,
    alert: Option<super::integrity::Alert<'_>>,
) -> Result<(), Interrupted> {
    if blob.details.tampered_at.is_some() {
        return Err(tampered(blob));
    }
    let Some(head) = deps.store.head(&blob.key).await? else {
        return Err(Interrupted::Item(ItemError {
            code: "blob_not_found",
            message: format!("{} is no longer stored", blob.key),
        }));
    };
    if head.size != blob.details.size_bytes {
        return Err(Interrupted::Item(ItemError {
            code: crate::error::codes::SIZE_MISMATCH,
            message: format!("stored size {} differs from the recorded {}", head.size, blob.details.size_bytes),
        }));
    }
    if super::integrity::judge(deps, blob, Some(&head), alert).await? == super::integrity::Integrity::Tampered {
        return Err(tampered(blob));
    }
    let mut details = blob.details.clone();
    if details.hash.is_none() {
        details.hash = Some(deps.store.hash(&blob.key).await?.sha256);
    }
    let prefix = deps.store.read_prefix(&blob.key, SNIFF_BYTES).await?;
    details.detected_mime_type = detect_media_type(&prefix);
    details.verified_at = Some(deps.clock.now());
    deps.objects.update_blob_details(&blob.id, &details, None).await?;
    Ok(())
}

async fn process_object(
    deps: Deps<'_>,
    bucket: &BucketId,
    found: Option<&crate::bucket::Bucket>,
    id: &ObjectId,
) -> Result<(), Interrupted> {
    let Some(object) = deps.objects.get_object(bucket, id).await? else {
        return Err(Interrupted::Item(ItemError {
            code: crate::error::codes::OBJECT_NOT_FOUND,
            message: format!("object {id} no longer exists"),
        }));
    };
    let alert = found.map(|bucket| super::integrity::Alert {
        bucket,
        object: &object,
        ids: deps.ids,
        max_attempts: deps.policy.webhook_max_attempts,
    });
    for blob in &object.blobs {
        process_blob(deps, blob, alert).await?;
    }
    Ok(())
}

fn failed(code: &str, message: String) -> TaskResult {
    TaskResult::Failed(TaskFailure { code: code.to_owned(), message })
}

/// The `batch.completed` event's delivery task, when the bucket has a webhook.
async fn completion_event(
    deps: Deps<'_>,
    input: &BatchTaskInput,
    batch: &crate::batch::Batch,
    status: TaskStatus,
    results: &serde_json::Value,
) -> Result<Option<crate::task::NewTask>, crate::error::RepoError> {
    let Some(bucket) = deps.tenancy.find_bucket(&input.namespace_id, input.bucket_id.as_str()).await? else {
        return Ok(None);
    };
    let target = crate::webhook::WebhookTarget::for_bucket(&bucket, deps.ids, deps.policy.webhook_max_attempts);
    Ok(target.map(|t| crate::webhook::batch_event(&t, batch, &input.namespace_id, status, results, deps.clock.now())))
}

/// Runs one attempt of a batch task. On the last attempt an outage fails the batch.
pub async fn run_batch_task(deps: Deps<'_>, input: &BatchTaskInput, last_attempt: bool) -> TaskResult {
    let batch = match deps.batches.get(&input.bucket_id, &input.batch_id).await {
        Ok(Some(batch)) => batch,
        Ok(None) => {
            return failed(crate::error::codes::BATCH_NOT_FOUND, format!("batch {} no longer exists", input.batch_id));
        }
        Err(e) => {
            return TaskResult::Retry(TaskFailure {
                code: crate::error::codes::DATABASE_UNAVAILABLE.into(),
                message: e.to_string(),
            });
        }
    };
    let bucket = match deps.tenancy.find_bucket(&input.namespace_id, input.bucket_id.as_str()).await {
        Ok(bucket) => bucket,
        Err(e) => {
            return TaskResult::Retry(TaskFailure {
                code: crate::error::codes::DATABASE_UNAVAILABLE.into(),
                message: e.to_string(),
            });
        }
    };
    let mut results = Vec::with_capacity(batch.object_ids.len());
    let mut succeeded = 0usize;
    for id in &batch.object_ids {
        match process_object(deps, &input.bucket_id, bucket.as_ref(), id).await {
            Ok(()) => {
                succeeded += 1;
                results.push(serde_json::json!({"object_id": id, "status": TaskStatus::Completed}));
            }
            Err(Interrupted::Item(e)) => results.push(serde_json::json!({
                "object_id": id, "status": TaskStatus::Failed, "error": {"code": e.code, "message": e.message}
            })),
            Err(Interrupted::Outage(message)) if !last_attempt => {
                return TaskResult::Retry(TaskFailure { code: "processing_unavailable".into(), message });
            }
            Err(Interrupted::Outage(message)) => {
                let results = serde_json::json!([]);
                let event = completion_event(deps, input, &batch, TaskStatus::Failed, &results).await.ok().flatten();
                let _ = deps.batches.finish(&batch.id, TaskStatus::Failed, deps.clock.now(), event).await;
                return failed("processing_unavailable", message);
            }
        }
    }
    let total = batch.object_ids.len().max(1);
    let status = match succeeded {
        n if n == batch.object_ids.len() => TaskStatus::Completed,
        0 => TaskStatus::Failed,
        _ => TaskStatus::CompletedWithErrors,
    };
    let results = serde_json::Value::Array(results);
    let finished = match completion_event(deps, input, &batch, status, &results).await {
        Ok(event) => deps.batches.finish(&batch.id, status, deps.clock.now(), event).await,
        Err(e) => Err(e),
    };
    if let Err(e) = finished {
        return TaskResult::Retry(TaskFailure {
            code: crate::error::codes::DATABASE_UNAVAILABLE.into(),
            message: e.to_string(),
        });
    }
    TaskResult::Done {
        status,
        outputs: serde_json::json!({"batch_id": batch.id, "results": results}),
        additional_data: Some(serde_json::json!({
            "success_rate": succeeded as f64 / total as f64,
            "succeeded": succeeded,
            "failed": batch.object_ids.len() - succeeded,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Batch;
    use crate::content::ContentDigest;
    use crate::object::{BlobDetails, BucketObject};
    use crate::ports::ObjectHead;
    use crate::usecases::testkit::{MD5, NOW, World, bucket, etag, ns, sha};

    fn object(n: u8, size: u64) -> BucketObject {
        let id = ObjectId::parse(&format!("obj_{n:016}")).unwrap();
        BucketObject {
            blobs: vec![Blob {
                id: crate::ids::BlobId::parse(&format!("blob_{n:016}")).unwrap(),
                property: "content".into(),
                blob_type: "IMAGE".into(),
                key: crate::names::ObjectKey::parse(&format!("uploads/{n}.png")).unwrap(),
                url: String::new(),
                details: BlobDetails {
                    filename: "a.png".into(),
                    size_bytes: size,
                    mime_type: "image/png".into(),
                    hash: None,
                    detected_mime_type: None,
                    verified_at: None,
                    etag: None,
                    tampered_at: None,
                },
            }],
            id,
            bucket_id: bucket().id,
            namespace_id: ns(),
            upload_id: None,
            status: TaskStatus::Draft,
            metadata: serde_json::json!({}),
            created_at: NOW,
        }
    }

    fn batch(objects: &[&BucketObject]) -> Batch {
        Batch {
            id: BatchId::parse("btch_0000000000000001").unwrap(),
            bucket_id: bucket().id,
            status: TaskStatus::Pending,
            object_ids: objects.iter().map(|o| o.id.clone()).collect(),
            task_id: None,
            created_at: NOW,
            updated_at: NOW,
        }
    }

    fn input() -> BatchTaskInput {
        BatchTaskInput {
            batch_id: BatchId::parse("btch_0000000000000001").unwrap(),
            bucket_id: bucket().id,
            namespace_id: ns(),
        }
    }

    fn world(objects: Vec<BucketObject>, stored: Vec<u8>) -> World {
        let mut world = World::new();
        let refs: Vec<&BucketObject> = objects.iter().collect();
        let b = batch(&refs);
        world.batches.expect_get().returning(move |_, _| Ok(Some(b.clone())));
        world.tenancy.expect_find_bucket().returning(|_, _| Ok(Some(bucket())));
        world.objects.expect_get_object().returning(move |_, id| Ok(objects.iter().find(|o| o.id == *id).cloned()));
        world.store.expect_head().returning(move |key| {
            let n: u8 = key.as_str().trim_start_matches("uploads/").trim_end_matches(".png").parse().unwrap();
            Ok(stored.contains(&n).then(|| ObjectHead {
                size: 10,
                etag: etag(MD5),
                sha256: None,
                content_type: None,
                last_modified: None,
            }))
        });
        world.store.expect_hash().returning(|_| Ok(ContentDigest { sha256: sha(9), md5_hex: MD5.into(), bytes: 10 }));
        world.store.expect_read_prefix().returning(|_, _| Ok(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()));
        world
    }

    #[tokio::test]
    async fn every_blob_verified_completes_the_batch_and_records_hash_and_media_type() {
        let mut world = world(vec![object(1, 10), object(2, 10)], vec![1, 2]);
        world
            .objects
            .expect_update_blob_details()
            .withf(|_, d, event| {
                d.hash == Some(sha(9))
                    && d.detected_mime_type.as_deref() == Some("image/png")
                    && d.verified_at == Some(NOW)
                    && event.is_none()
            })
            .times(2)
            .returning(|_, _, _| Ok(()));
        world
            .batches
            .expect_finish()
            .withf(|_, s, _, _| *s == TaskStatus::Completed)
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let TaskResult::Done { status, additional_data, .. } = run_batch_task(world.deps(), &input(), false).await
        else {
            panic!("not done")
        };
        assert_eq!(status, TaskStatus::Completed);
        assert_eq!(additional_data.unwrap()["success_rate"], 1.0);
    }

    #[tokio::test]
    async fn a_deleted_blob_makes_completed_with_errors_with_that_items_error() {
        let mut world = world(vec![object(1, 10), object(2, 10)], vec![1]);
        world.objects.expect_update_blob_details().times(1).returning(|_, _, _| Ok(()));
        world
            .batches
            .expect_finish()
            .withf(|_, s, _, _| *s == TaskStatus::CompletedWithErrors)
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let TaskResult::Done { status, outputs, additional_data } = run_batch_task(world.deps(), &input(), false).await
        else {
            panic!("not done")
        };
        assert_eq!(status, TaskStatus::CompletedWithErrors);
        assert_eq!(additional_data.unwrap()["success_rate"], 0.5);
        assert_eq!(outputs["results"][1]["error"]["code"], "blob_not_found");
        assert_eq!(outputs["results"][0]["status"], "COMPLETED");
    }

    #[tokio::test]
    async fn a_size_change_is_an_item_error_and_no_blob_verified_fails_the_batch() {
        let mut world = world(vec![object(1, 11)], vec![1]);
        world.objects.expect_update_blob_details().never();
        world
            .batches
            .expect_finish()
            .withf(|_, s, _, _| *s == TaskStatus::Failed)
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let TaskResult::Done { status, outputs, .. } = run_batch_task(world.deps(), &input(), false).await else {
            panic!("not done")
        };
        assert_eq!(status, TaskStatus::Failed);
        assert_eq!(outputs["results"][0]["error"]["code"], "size_mismatch");
    }

    #[tokio::test]
    async fn a_storage_outage_is_retried_without_finishing_the_batch() {
        let mut world = world(vec![object(1, 10)], vec![1]);
        world.store.checkpoint();
        world.store.expect_head().returning(|_| Err(StorageError::Unavailable("down".into())));
        world.batches.expect_finish().never();
        assert!(matches!(run_batch_task(world.deps(), &input(), false).await, TaskResult::Retry(_)));
    }
}
