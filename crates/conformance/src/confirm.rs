//! The confirm use case and its transaction on a real database: exactly one object per upload
//! and one original per content under concurrency, duplicates across buckets, and a confirmation
//! that fails half-way writes nothing. The store is a mock whose objects all exist with one
//! content: what is under test is the repository.

use super::{Subject, bucket_in, namespace, now, suffix, upload, verified};
use std::sync::Arc;
use stowage_domain::bucket::BucketSettings;
use stowage_domain::content::{ETag, StoredChecksum};
use stowage_domain::ids::IdSuffix;
use stowage_domain::policy::Policy;
use stowage_domain::ports::{
    BatchRepo, Clock, ConfirmationOutcome, IdGenerator, MockObjectStore, ObjectHead, TaskReads,
};
use stowage_domain::status::{TaskStatus, UploadStatus};
use stowage_domain::usecases::Deps;
use stowage_domain::usecases::confirm::{ConfirmRequest, confirm_upload};

struct Now;
impl Clock for Now {
    fn now(&self) -> time::OffsetDateTime {
        now()
    }
}

struct Ids;
impl IdGenerator for Ids {
    fn suffix(&self) -> IdSuffix {
        suffix()
    }
}

/// A store whose every object exists with the SHA-256 `[byte; 32]`.
fn store_with_content(byte: u8) -> MockObjectStore {
    let head = move || ObjectHead {
        size: 4096,
        etag: ETag::parse("d41d8cd98f00b204e9800998ecf8427e").expect("ok"),
        sha256: Some(StoredChecksum::FullObject(stowage_domain::content::Sha256Hex::from_bytes(&[byte; 32]))),
        content_type: None,
        last_modified: None,
    };
    let mut store = MockObjectStore::new();
    store.expect_head().returning(move |_| Ok(Some(head())));
    // The store holds the content's SHA-256, so the one read answers the head alone.
    store.expect_head_and_hash().returning(move |_, _| Ok(Some((head(), None))));
    store.expect_locator().returning(|k| format!("s3://test/{k}"));
    store
}

struct World {
    repo: Subject,
    store: MockObjectStore,
    policy: Policy,
}

impl World {
    fn deps(&self) -> Deps<'_> {
        let repo = &*self.repo;
        Deps {
            tenancy: repo,
            keys: repo,
            uploads: repo,
            objects: repo,
            batches: repo,
            queue: repo,
            tasks: repo,
            store: &self.store,
            clock: &Now,
            ids: &Ids,
            policy: &self.policy,
        }
    }
}

/// 64 concurrent confirms of one upload (the whole use case): one object, one answer for all.
pub async fn sixty_four_concurrent_confirms_of_one_upload_create_one_object_and_agree(repo: Subject) {
    let ns = namespace(&repo).await;
    let bucket = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let upload = upload(&repo, &bucket).await;
    let world = Arc::new(World { repo: repo.clone(), store: store_with_content(1), policy: Policy::default() });

    let confirms = (0..64).map(|_| {
        let (world, ns, bucket, id) = (world.clone(), ns.id.clone(), bucket.id.to_string(), upload.id.to_string());
        tokio::spawn(async move { confirm_upload(world.deps(), &ns, &bucket, &id, &ConfirmRequest::default()).await })
    });
    let receipts: Vec<_> =
        futures_util::future::join_all(confirms).await.into_iter().map(|r| r.expect("ok").expect("ok")).collect();

    assert!(receipts.iter().all(|r| *r == receipts[0]), "every confirm gets the same answer");
    assert_eq!(receipts[0].status, UploadStatus::Completed);
    assert!(receipts[0].object_id.is_some());
    let objects = world.repo.list_objects(&bucket.id, None, 100).await.expect("list");
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].blobs.len(), 1);
    let usage = world.repo.find_bucket(&ns.id, bucket.id.as_str()).await.expect("find").expect("bucket");
    assert_eq!((usage.object_count, usage.total_size_bytes), (1, 4096));
}

/// 32 uploads of one content confirmed at once: one original, 31 duplicates of it, usage counted once.
pub async fn thirty_two_uploads_of_one_content_make_one_original_and_thirty_one_duplicates(repo: Subject) {
    let ns = namespace(&repo).await;
    let bucket = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let mut uploads = Vec::new();
    for _ in 0..32 {
        uploads.push(upload(&repo, &bucket).await);
    }
    let world = Arc::new(World { repo: repo.clone(), store: store_with_content(2), policy: Policy::default() });

    let confirms = uploads.iter().map(|u| {
        let (world, ns, bucket, id) = (world.clone(), ns.id.clone(), bucket.id.to_string(), u.id.to_string());
        tokio::spawn(async move { confirm_upload(world.deps(), &ns, &bucket, &id, &ConfirmRequest::default()).await })
    });
    let receipts: Vec<_> =
        futures_util::future::join_all(confirms).await.into_iter().map(|r| r.expect("ok").expect("ok")).collect();

    let originals: Vec<_> = receipts.iter().filter(|r| !r.is_duplicate).collect();
    assert_eq!(originals.len(), 1);
    let original = originals[0];
    for dup in receipts.iter().filter(|r| r.is_duplicate) {
        assert_eq!(dup.duplicate_of_upload_id.as_ref(), Some(&original.upload_id));
        assert_eq!(dup.object_id, original.object_id);
        assert_eq!(dup.status, UploadStatus::Completed);
    }
    assert_eq!(receipts.iter().filter(|r| r.is_duplicate).count(), 31);
    assert_eq!(world.repo.list_objects(&bucket.id, None, 100).await.expect("list").len(), 1);
    let sha = stowage_domain::content::Sha256Hex::from_bytes(&[2; 32]);
    let scope = stowage_domain::dedup::ContentClaim::for_content(&bucket, &sha).expect("dedup is on").scope;
    let holder = world.repo.find_claim(&scope, &sha).await.expect("claim").expect("one claim");
    assert_eq!(holder.id, original.upload_id);
    let usage = world.repo.find_bucket(&ns.id, bucket.id.as_str()).await.expect("find").expect("bucket");
    assert_eq!(usage.object_count, 1, "duplicates add no usage");
}

/// With namespace scope, a duplicate is found across buckets.
pub async fn namespace_scope_finds_duplicates_across_buckets(repo: Subject) {
    let ns = namespace(&repo).await;
    let settings = BucketSettings {
        duplicate_scope: stowage_domain::bucket::DuplicateScope::Namespace,
        ..BucketSettings::default()
    };
    let first = bucket_in(&repo, &ns, settings.clone()).await;
    let second = bucket_in(&repo, &ns, settings).await;
    let a = upload(&repo, &first).await;
    let b = upload(&repo, &second).await;
    let world = World { repo: repo.clone(), store: store_with_content(3), policy: Policy::default() };
    let ra = confirm_upload(world.deps(), &ns.id, first.id.as_str(), a.id.as_str(), &ConfirmRequest::default())
        .await
        .expect("ok");
    let rb = confirm_upload(world.deps(), &ns.id, second.id.as_str(), b.id.as_str(), &ConfirmRequest::default())
        .await
        .expect("ok");
    assert!(!ra.is_duplicate);
    assert!(rb.is_duplicate);
    assert_eq!(rb.object_id, ra.object_id);
}

/// A confirmation whose transaction fails half-way leaves no object, batch, claim, task or usage.
pub async fn a_failed_confirmation_transaction_leaves_no_object_task_claim_or_usage(repo: Subject) {
    let ns = namespace(&repo).await;
    let bucket = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let upload = upload(&repo, &bucket).await;
    let world = World { repo: repo.clone(), store: store_with_content(4), policy: Policy::default() };
    let head = world.store_head();
    let plan = stowage_domain_plan(&world, &bucket, &upload, head);
    // Take the batch task's id beforehand: its insert violates the primary key after the claim,
    // the object, the batch and the counters were written.
    let (_, task) = plan.batch.as_ref().expect("the plan submits a batch");
    repo.enqueue(task).await.expect("ok");
    let err = repo.apply_confirmation(&plan).await.expect_err("the task id is taken");
    assert!(!err.is_unavailable(), "{err}");

    assert!(repo.list_objects(&bucket.id, None, 100).await.expect("list").is_empty());
    let (batch, _) = plan.batch.as_ref().expect("a batch");
    assert!(BatchRepo::get(&*repo, &bucket.id, &batch.id).await.expect("get").is_none());
    let claim = plan.claim.as_ref().expect("a claim");
    assert!(repo.find_claim(&claim.scope, &claim.sha256).await.expect("claim").is_none());
    assert_eq!(repo.stats().await.expect("stats").due, 1, "only the task taken beforehand");
    let usage = repo.find_bucket(&ns.id, bucket.id.as_str()).await.expect("find").expect("bucket");
    assert_eq!((usage.object_count, usage.total_size_bytes), (0, 0));
    let after = repo.get_upload(&bucket.id, &upload.id).await.expect("ok").expect("ok");
    assert_eq!(after.status(), UploadStatus::Pending);
}

/// A write that fails among the last ones of a confirmation (the blob's insert: its id is taken)
/// undoes the writes sent beside it — PostgreSQL sends those together — so there is no object,
/// claim or usage, and the upload is still pending and can be confirmed again.
pub async fn a_write_failing_beside_others_undoes_the_whole_confirmation(repo: Subject) {
    let ns = namespace(&repo).await;
    let bucket = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let upload = upload(&repo, &bucket).await;
    let world = World { repo: repo.clone(), store: store_with_content(6), policy: Policy::default() };
    let mut plan = stowage_domain_plan(&world, &bucket, &upload, world.store_head());
    plan.batch = None;
    let planned = plan.object.clone().expect("the plan creates an object");
    // Another object already holds the planned blob's id.
    let squatter = stowage_domain::object::BucketObject {
        id: stowage_domain::ids::ObjectId::new(&suffix()),
        upload_id: None,
        ..planned.clone()
    };
    repo.attach_object(&squatter, &[]).await.expect("attach");
    let used = |b: stowage_domain::bucket::Bucket| (b.object_count, b.total_size_bytes);
    let before = used(repo.find_bucket(&ns.id, bucket.id.as_str()).await.expect("find").expect("bucket"));
    assert_eq!(before, (1, 10), "the squatter's usage");

    let err = repo.apply_confirmation(&plan).await.expect_err("the blob id is taken");
    assert!(!err.is_unavailable(), "{err}");
    let objects: Vec<_> =
        repo.list_objects(&bucket.id, None, 100).await.expect("list").into_iter().map(|o| o.id).collect();
    assert_eq!(objects, vec![squatter.id.clone()], "no object of the failed confirmation");
    let claim = plan.claim.as_ref().expect("a claim");
    assert!(repo.find_claim(&claim.scope, &claim.sha256).await.expect("claim").is_none());
    assert_eq!(used(repo.find_bucket(&ns.id, bucket.id.as_str()).await.expect("find").expect("bucket")), before);
    let after = repo.get_upload(&bucket.id, &upload.id).await.expect("ok").expect("ok");
    assert_eq!(after.status(), UploadStatus::Pending);

    // With a blob id of its own, the same confirmation goes through.
    let mut object = planned;
    object.blobs[0].id = stowage_domain::ids::BlobId::new(&suffix());
    plan.object = Some(object);
    assert!(matches!(repo.apply_confirmation(&plan).await.expect("ok"), ConfirmationOutcome::Original(_)));
    assert_eq!(used(repo.find_bucket(&ns.id, bucket.id.as_str()).await.expect("find").expect("bucket")), (2, 20));
}

/// `auto_submit_batch` writes the batch and its task with the upload; the same plan again writes nothing.
pub async fn auto_submit_batch_writes_the_batch_and_its_task_with_the_upload(repo: Subject) {
    let ns = namespace(&repo).await;
    let bucket = bucket_in(&repo, &ns, BucketSettings::default()).await;
    let upload = upload(&repo, &bucket).await;
    let world = World { repo: repo.clone(), store: store_with_content(5), policy: Policy::default() };
    let plan = stowage_domain_plan(&world, &bucket, &upload, world.store_head());
    let ConfirmationOutcome::Original(done) = repo.apply_confirmation(&plan).await.expect("ok") else {
        panic!("not original")
    };
    assert_eq!(done.batch_id, plan.batch.as_ref().map(|(b, _)| b.id.clone()));
    assert_eq!(repo.stats().await.expect("stats").due, 1);
    let (batch, task) = plan.batch.as_ref().expect("a batch");
    let written = BatchRepo::get(&*repo, &bucket.id, &batch.id).await.expect("get").expect("the batch");
    assert_eq!(written.object_ids.len(), 1);
    assert_eq!(TaskReads::get(&*repo, &task.id).await.expect("get").expect("its task").status, TaskStatus::Pending);
    // Applying the same plan again finds the upload COMPLETED and writes nothing.
    assert!(matches!(repo.apply_confirmation(&plan).await.expect("ok"), ConfirmationOutcome::Stale(_)));
    assert_eq!(repo.stats().await.expect("stats").due, 1, "no second task");
}

impl World {
    fn store_head(&self) -> ObjectHead {
        ObjectHead {
            size: 10,
            etag: ETag::parse("d41d8cd98f00b204e9800998ecf8427e").expect("ok"),
            sha256: None,
            content_type: None,
            last_modified: None,
        }
    }
}

/// A confirmation plan as the confirm use case would build it, with auto-submit on.
fn stowage_domain_plan(
    world: &World,
    bucket: &stowage_domain::bucket::Bucket,
    upload: &stowage_domain::upload::Upload,
    head: ObjectHead,
) -> stowage_domain::ports::ConfirmationPlan {
    let now = now();
    let object = stowage_domain::object::BucketObject {
        id: stowage_domain::ids::ObjectId::new(&suffix()),
        bucket_id: bucket.id.clone(),
        namespace_id: bucket.namespace_id.clone(),
        upload_id: Some(upload.id.clone()),
        status: stowage_domain::status::TaskStatus::Draft,
        blobs: vec![stowage_domain::object::Blob {
            id: stowage_domain::ids::BlobId::new(&suffix()),
            property: "content".into(),
            blob_type: "FILE".into(),
            key: upload.key.clone(),
            url: world.store.locator_of(&upload.key),
            details: stowage_domain::object::BlobDetails {
                filename: "file.bin".into(),
                size_bytes: head.size,
                mime_type: "application/octet-stream".into(),
                hash: None,
                detected_mime_type: None,
                verified_at: None,
                etag: None,
                tampered_at: None,
            },
        }],
        metadata: serde_json::json!({}),
        created_at: now,
    };
    let task = stowage_domain::task::NewTask {
        id: stowage_domain::ids::TaskId::new(&suffix()),
        task_type: stowage_domain::task::TaskType::new(stowage_domain::task::TaskType::PROCESS_BATCH),
        inputs: serde_json::json!({}),
        max_attempts: 3,
    };
    let batch = stowage_domain::batch::Batch {
        id: stowage_domain::ids::BatchId::new(&suffix()),
        bucket_id: bucket.id.clone(),
        status: stowage_domain::status::TaskStatus::Pending,
        object_ids: vec![object.id.clone()],
        task_id: Some(task.id.clone()),
        created_at: now,
        updated_at: now,
    };
    let verified = verified(9, head.size);
    stowage_domain::ports::ConfirmationPlan {
        upload_id: upload.id.clone(),
        expected: UploadStatus::Pending,
        claim: stowage_domain::dedup::ContentClaim::for_content(bucket, &verified.sha256),
        verified,
        object: Some(object),
        batch: Some((batch, task)),
        webhook: None,
        bucket_id: bucket.id.clone(),
        holder_trusted: true,
        quota_bytes: bucket.settings.quota_bytes,
        now,
    }
}

trait Locator {
    fn locator_of(&self, key: &stowage_domain::names::ObjectKey) -> String;
}
impl Locator for MockObjectStore {
    fn locator_of(&self, key: &stowage_domain::names::ObjectKey) -> String {
        format!("s3://test/{key}")
    }
}
