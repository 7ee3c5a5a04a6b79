//! The repository conformance suite: what the repository roles (`TenancyRepo`, `UploadRepo`,
//! `ObjectRepo`, `BatchRepo`, `TaskQueue`, `TaskReads`, `KeyRepo`) promise, written once against
//! the ports and run against every adapter (PostgreSQL and SQLite, see `tests/`). Each check takes a fresh, empty repository.
#![expect(clippy::expect_used, reason = "a test suite: any unexpected error fails the test loudly")]

use futures_util::future::join_all;
use std::sync::Arc;
use std::time::Duration;
use stowage_domain::auth::{ApiKey, Role};
use stowage_domain::batch::Batch;
use stowage_domain::bucket::{Bucket, BucketSettings, Namespace};
use stowage_domain::content::{ETag, Sha256Hex};
use stowage_domain::dedup::ContentClaim;
use stowage_domain::ids::{BatchId, BlobId, BucketId, IdSuffix, KeyId, NamespaceId, ObjectId, TaskId, UploadId};
use stowage_domain::names::{BucketName, ContentType, Filename, NamespaceName};
use stowage_domain::object::{Blob, BlobDetails, BucketObject};
use stowage_domain::ports::{
    AttachOutcome, BatchRepo, ConfirmationOutcome, ConfirmationPlan, InsertUpload, Repository, TaskReads, Transition,
    UploadQuery,
};
use stowage_domain::status::{TaskStatus, UploadStatus};
use stowage_domain::task::{Lane, NewTask, RetryPolicy, TaskFailure, TaskType};
use stowage_domain::upload::{Failure, Upload, Verified};
use stowage_domain::webhook::WebhookTarget;
use time::OffsetDateTime;

mod confirm;
mod queue;
mod records;

pub use confirm::*;
pub use queue::*;
pub use records::*;

/// The repository under test: every role a database adapter implements.
pub type Subject = Arc<dyn Repository>;

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn suffix() -> IdSuffix {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    IdSuffix::parse(&format!("{:08}{:08}", std::process::id() % 100_000_000, n)).expect("16 digits")
}

/// Now, at the microsecond precision both databases keep.
fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).expect("valid")
}

async fn namespace(repo: &Subject) -> Namespace {
    let ns = Namespace {
        id: NamespaceId::new(&suffix()),
        name: NamespaceName::parse(&format!("ns-{}", suffix().as_str())).expect("name"),
        description: None,
        created_at: now(),
    };
    repo.create_namespace(&ns).await.expect("namespace");
    ns
}

/// A bucket in a namespace of its own.
async fn bucket(repo: &Subject, settings: BucketSettings) -> Bucket {
    let ns = namespace(repo).await;
    bucket_in(repo, &ns, settings).await
}

async fn bucket_in(repo: &Subject, ns: &Namespace, settings: BucketSettings) -> Bucket {
    let b = Bucket {
        id: BucketId::new(&suffix()),
        namespace_id: ns.id.clone(),
        name: BucketName::parse(&format!("b-{}", suffix().as_str())).expect("name"),
        description: None,
        bucket_schema: None,
        metadata: serde_json::json!({}),
        webhook_secret: settings.webhook_url.as_ref().map(|_| "whsec_test".to_owned()),
        settings,
        object_count: 0,
        total_size_bytes: 0,
        created_at: now(),
        updated_at: now(),
    };
    repo.create_bucket(&b).await.expect("bucket");
    b
}

fn new_upload(bucket: &Bucket, created_at: OffsetDateTime) -> Upload {
    let mut upload = Upload::new_pending(
        UploadId::new(&suffix()),
        bucket,
        Filename::parse("file.bin").expect("name"),
        ContentType::parse("application/octet-stream").expect("type"),
        3600,
        created_at,
    );
    upload.metadata = serde_json::json!({"team": "a"});
    upload
}

async fn upload(repo: &Subject, bucket: &Bucket) -> Upload {
    let u = new_upload(bucket, now());
    repo.insert_upload(&u, None).await.expect("insert upload");
    u
}

fn verified(byte: u8, size: u64) -> Verified {
    Verified {
        etag: ETag::parse("d41d8cd98f00b204e9800998ecf8427e").expect("etag"),
        size,
        sha256: Sha256Hex::from_bytes(&[byte; 32]),
    }
}

/// The plan a confirm of `upload` with content `byte` makes: claim, object, no batch.
fn plan(bucket: &Bucket, upload: &Upload, byte: u8) -> ConfirmationPlan {
    let verified = verified(byte, 4096);
    let object = BucketObject {
        id: ObjectId::new(&suffix()),
        bucket_id: bucket.id.clone(),
        namespace_id: bucket.namespace_id.clone(),
        upload_id: Some(upload.id.clone()),
        status: TaskStatus::Draft,
        blobs: vec![Blob {
            id: BlobId::new(&suffix()),
            property: "content".into(),
            blob_type: "FILE".into(),
            key: upload.key.clone(),
            url: format!("s3://test/{}", upload.key),
            details: BlobDetails {
                filename: "file.bin".into(),
                size_bytes: verified.size,
                mime_type: "application/octet-stream".into(),
                hash: Some(verified.sha256.clone()),
                detected_mime_type: None,
                verified_at: None,
                etag: None,
                tampered_at: None,
            },
        }],
        metadata: serde_json::json!({}),
        created_at: now(),
    };
    ConfirmationPlan {
        upload_id: upload.id.clone(),
        expected: UploadStatus::Pending,
        claim: ContentClaim::for_content(bucket, &verified.sha256),
        verified,
        object: Some(object),
        batch: None,
        webhook: None,
        bucket_id: bucket.id.clone(),
        holder_trusted: true,
        quota_bytes: bucket.settings.quota_bytes,
        now: now(),
    }
}

/// Every page of `query` over `bucket`'s uploads, following the cursors: `(created_at, id)` in the
/// order listed.
async fn walk(repo: &Subject, bucket: &Bucket, mut query: UploadQuery) -> Vec<(OffsetDateTime, UploadId)> {
    let mut seen = Vec::new();
    loop {
        let page = repo.list_uploads(&bucket.id, &query).await.expect("page");
        seen.extend(page.uploads.iter().map(|u| (u.created_at, u.id.clone())));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return seen,
        }
    }
}

/// An empty DRAFT batch of `bucket`.
fn draft_batch(bucket: &Bucket) -> Batch {
    Batch {
        id: BatchId::new(&suffix()),
        bucket_id: bucket.id.clone(),
        status: TaskStatus::Draft,
        object_ids: vec![],
        task_id: None,
        created_at: now(),
        updated_at: now(),
    }
}

fn task(n: usize) -> NewTask {
    NewTask {
        id: TaskId::new(&suffix()),
        task_type: TaskType::new("conformance"),
        inputs: serde_json::json!({"n": n}),
        max_attempts: 3,
    }
}

/// Transitions apply only from the status the caller read; otherwise they report the current row.
pub async fn transitions_apply_only_from_the_expected_status(repo: Subject) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let u = upload(&repo, &b).await;
    let Transition::Applied(canceled) = repo.cancel_upload(&u.id, UploadStatus::Pending, now()).await.expect("cancel")
    else {
        panic!("not applied")
    };
    assert_eq!(canceled.status(), UploadStatus::Canceled);
    let stale = repo.record_failure(&u.id, UploadStatus::Pending, &Failure::expired(), now(), None).await;
    assert_eq!(stale.expect("record"), Transition::Stale(canceled));
}

/// An idempotency key already used in the bucket returns the upload created with it.
pub async fn an_idempotency_key_returns_the_first_upload(repo: Subject) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let first = new_upload(&b, now());
    assert_eq!(repo.insert_upload(&first, Some("k".into())).await.expect("insert"), InsertUpload::Inserted);
    let second = new_upload(&b, now());
    assert_eq!(
        repo.insert_upload(&second, Some("k".into())).await.expect("insert"),
        InsertUpload::Existing(first.clone())
    );
    assert_eq!(repo.get_upload(&b.id, &second.id).await.expect("get"), None);
    assert_eq!(repo.get_upload(&b.id, &first.id).await.expect("get"), Some(first));
}

/// 16 concurrent confirmations of one upload: one writes, the rest see it done.
pub async fn concurrent_confirmations_of_one_upload_write_once(repo: Subject) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let u = upload(&repo, &b).await;
    let plans: Vec<ConfirmationPlan> = (0..16).map(|_| plan(&b, &u, 1)).collect();
    let outcomes = join_all(plans.iter().map(|p| repo.apply_confirmation(p))).await;
    let originals = outcomes.iter().filter(|o| matches!(o, Ok(ConfirmationOutcome::Original(_)))).count();
    let stale = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(ConfirmationOutcome::Stale(s)) if s.status() == UploadStatus::Completed))
        .count();
    assert_eq!((originals, stale), (1, 15), "{outcomes:?}");
    let objects = repo.list_objects(&b.id, None, 100).await.expect("list");
    assert_eq!(objects.len(), 1, "one object per upload");
    let bucket_now = repo.find_bucket(&b.namespace_id, b.id.as_str()).await.expect("find").expect("bucket");
    assert_eq!((bucket_now.object_count, bucket_now.total_size_bytes), (1, 4096));
}

/// 24 different contents confirmed at once into a bucket with room for 10 of them: exactly 10
/// become objects, the other 14 are refused with nothing written (their uploads stay PENDING,
/// their content unclaimed), and the usage is exactly the 10 objects; deleting one frees its room.
pub async fn a_quota_holds_under_concurrent_confirms(repo: Subject) {
    let settings = BucketSettings { quota_bytes: Some(10 * 4096), ..BucketSettings::default() };
    let b = bucket(&repo, settings).await;
    let mut uploads = Vec::new();
    for _ in 0..24 {
        uploads.push(upload(&repo, &b).await);
    }
    let plans: Vec<ConfirmationPlan> =
        uploads.iter().zip(0u8..).map(|(u, byte)| plan(&b, u, byte.wrapping_add(100))).collect();
    let outcomes: Vec<ConfirmationOutcome> = join_all(plans.iter().map(|p| repo.apply_confirmation(p)))
        .await
        .into_iter()
        .map(|o| o.expect("confirm"))
        .collect();
    let originals = outcomes.iter().filter(|o| matches!(o, ConfirmationOutcome::Original(_))).count();
    let refused: Vec<&Upload> = outcomes
        .iter()
        .filter_map(|o| if let ConfirmationOutcome::OverQuota(u) = o { Some(u) } else { None })
        .collect();
    assert_eq!((originals, refused.len()), (10, 14), "{outcomes:?}");
    let scope = stowage_domain::dedup::ClaimScope::of(&b).expect("scope");
    for (plan, outcome) in plans.iter().zip(&outcomes) {
        if let ConfirmationOutcome::OverQuota(u) = outcome {
            let stored = repo.get_upload(&b.id, &u.id).await.expect("get").expect("upload");
            assert_eq!(stored.status(), UploadStatus::Pending);
            let claim = plan.claim.as_ref().expect("claim");
            assert_eq!(repo.find_claim(&scope, &claim.sha256).await.expect("claim"), None, "a refused claim is undone");
        }
    }
    let objects = repo.list_objects(&b.id, None, 100).await.expect("list");
    assert_eq!(objects.len(), 10);
    let used = repo.find_bucket(&b.namespace_id, b.id.as_str()).await.expect("find").expect("bucket");
    assert_eq!((used.object_count, used.total_size_bytes), (10, 10 * 4096));
    // Deleting an object gives its room back: the next confirm fits.
    repo.delete_object(&b.id, &objects[0].id).await.expect("delete").expect("deleted");
    let listed = repo.list_buckets(&b.namespace_id).await.expect("list buckets");
    assert_eq!((listed[0].object_count, listed[0].total_size_bytes), (9, 9 * 4096));
    let retry = repo.apply_confirmation(&plan(&b, refused[0], 250)).await.expect("confirm");
    assert!(matches!(retry, ConfirmationOutcome::Original(_)), "{retry:?}");
}

/// 32 uploads of one content confirmed at once: one original, 31 duplicates of it.
pub async fn one_content_has_one_original_whatever_the_concurrency(repo: Subject) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let mut uploads = Vec::new();
    for _ in 0..32 {
        uploads.push(upload(&repo, &b).await);
    }
    let plans: Vec<ConfirmationPlan> = uploads.iter().map(|u| plan(&b, u, 7)).collect();
    let outcomes: Vec<ConfirmationOutcome> = join_all(plans.iter().map(|p| repo.apply_confirmation(p)))
        .await
        .into_iter()
        .map(|o| o.expect("confirm"))
        .collect();
    let originals: Vec<&Upload> =
        outcomes.iter().filter_map(|o| if let ConfirmationOutcome::Original(u) = o { Some(u) } else { None }).collect();
    assert_eq!(originals.len(), 1, "{outcomes:?}");
    let original = originals[0];
    for outcome in &outcomes {
        if let ConfirmationOutcome::Duplicate(d) = outcome {
            assert_eq!(
                (d.duplicate_of_upload_id(), d.object_id.as_ref()),
                (Some(&original.id), original.object_id.as_ref())
            );
        }
    }
    let scope = stowage_domain::dedup::ClaimScope::of(&b).expect("scope");
    let holder = repo.find_claim(&scope, &Sha256Hex::from_bytes(&[7; 32])).await.expect("claim");
    assert_eq!(holder.map(|u| u.id), Some(original.id.clone()));
    assert_eq!(repo.list_objects(&b.id, None, 100).await.expect("list").len(), 1);
}

/// A failure writes its webhook event in its own transaction; a stale one writes nothing.
pub async fn events_are_written_with_the_change_they_report(repo: Subject) {
    let settings = BucketSettings { webhook_url: Some("http://hook.test/".into()), ..BucketSettings::default() };
    let b = bucket(&repo, settings).await;
    let u = upload(&repo, &b).await;
    let target = || WebhookTarget { url: "http://hook.test/".into(), task_id: TaskId::new(&suffix()), max_attempts: 3 };
    let (first, second) = (target(), target());
    let applied =
        repo.record_failure(&u.id, UploadStatus::Pending, &Failure::expired(), now(), Some(first.clone())).await;
    assert!(matches!(applied.expect("record"), Transition::Applied(_)));
    let stale =
        repo.record_failure(&u.id, UploadStatus::Pending, &Failure::expired(), now(), Some(second.clone())).await;
    assert!(matches!(stale.expect("record"), Transition::Stale(_)));
    let event = TaskReads::get(&*repo, &first.task_id).await.expect("get").expect("the event's delivery task");
    assert_eq!(
        (event.task_type.as_str(), event.inputs["event"]["type"].as_str()),
        ("webhook_delivery", Some("upload.failed"))
    );
    assert_eq!(event.inputs["event"]["data"]["error"]["code"], "upload_expired");
    assert_eq!(event.inputs["event"]["id"].as_str(), Some(first.event_id().as_str()));
    assert_eq!(event.inputs["event"]["data"]["upload_id"], u.id.as_str());
    assert!(TaskReads::get(&*repo, &second.task_id).await.expect("get").is_none());
}

/// Keyset pages visit every upload once, in order, both ways, with filters.
pub async fn keyset_pages_visit_every_upload_once(repo: Subject) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let start = now() - time::Duration::hours(1);
    let mut ids = Vec::new();
    for i in 0..45 {
        let mut u = new_upload(&b, start + time::Duration::seconds(i / 2));
        if i % 3 == 0 {
            u.metadata = serde_json::json!({"team": "b", "n": i});
        }
        repo.insert_upload(&u, None).await.expect("insert");
        ids.push(u.id);
    }
    for newest_first in [false, true] {
        let seen = walk(&repo, &b, UploadQuery { limit: 10, newest_first, ..UploadQuery::default() }).await;
        let mut sorted = seen.clone();
        sorted.sort();
        if newest_first {
            sorted.reverse();
        }
        assert_eq!(seen, sorted, "in order");
        assert_eq!(seen.len(), 45, "each once");
    }
    let team_b = UploadQuery {
        limit: 100,
        metadata: Some(serde_json::json!({"team": "b"}).as_object().cloned().expect("map")),
        ..UploadQuery::default()
    };
    assert_eq!(repo.list_uploads(&b.id, &team_b).await.expect("filtered").uploads.len(), 15);
    let pending = UploadQuery { limit: 100, status: Some(UploadStatus::Completed), ..UploadQuery::default() };
    assert!(repo.list_uploads(&b.id, &pending).await.expect("filtered").uploads.is_empty());
}

/// Four workers draining 200 tasks: every task is run once.
pub async fn each_task_is_handed_to_one_worker(repo: Subject) {
    let tasks: Vec<NewTask> = (0..200).map(task).collect();
    for t in &tasks {
        repo.enqueue(t).await.expect("enqueue");
    }
    let workers = (0..4).map(|w| {
        let repo = repo.clone();
        tokio::spawn(async move {
            let name = format!("w{w}");
            let mut done = Vec::new();
            while let Some(t) = repo.claim(&name, Duration::from_secs(30)).await.expect("claim") {
                assert!(
                    repo.complete(&t.id, &name, TaskStatus::Completed, &serde_json::json!({}), None)
                        .await
                        .expect("complete")
                );
                done.push(t.id);
            }
            done
        })
    });
    let mut all: Vec<TaskId> = join_all(workers).await.into_iter().flat_map(|r| r.expect("worker")).collect();
    all.sort();
    let mut expected: Vec<TaskId> = tasks.iter().map(|t| t.id.clone()).collect();
    expected.sort();
    assert_eq!(all, expected, "each task exactly once");
    assert_eq!(repo.stats().await.expect("stats").due, 0);
}

/// A lease that runs out hands the task to another worker; the first can no longer finish it.
pub async fn an_expired_lease_is_delivered_again(repo: Subject) {
    let t = task(1);
    repo.enqueue(&t).await.expect("enqueue");
    let first = repo.claim("a", Duration::from_millis(100)).await.expect("claim").expect("task");
    assert!(repo.claim("b", Duration::from_secs(30)).await.expect("claim").is_none(), "leased");
    assert!(repo.heartbeat(&first.id, "a", Duration::from_millis(100)).await.expect("heartbeat"));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let again = repo.claim("b", Duration::from_secs(30)).await.expect("claim").expect("re-delivered");
    assert_eq!((again.id.clone(), again.attempts), (t.id.clone(), 2));
    assert!(!repo.complete(&t.id, "a", TaskStatus::Completed, &serde_json::json!({}), None).await.expect("complete"));
    assert!(!repo.heartbeat(&t.id, "a", Duration::from_secs(1)).await.expect("heartbeat"));
    assert!(
        repo.complete(&t.id, "b", TaskStatus::Completed, &serde_json::json!({"ok": 1}), None).await.expect("complete")
    );
    let done = TaskReads::get(&*repo, &t.id).await.expect("get").expect("task");
    assert_eq!((done.status, done.outputs), (TaskStatus::Completed, Some(serde_json::json!({"ok": 1}))));
}

/// Failures are retried after the backoff until the attempts run out; release gives a lease back.
pub async fn failures_back_off_then_fail_and_released_tasks_return(repo: Subject) {
    let t = task(1);
    repo.enqueue(&t).await.expect("enqueue");
    let policy =
        RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
    let failure = TaskFailure { code: "down".into(), message: "try later".into() };
    let claimed = repo.claim("w", Duration::from_secs(30)).await.expect("claim").expect("task");
    assert_eq!(repo.fail(&claimed.id, "w", &failure, true, &policy).await.expect("fail"), Some(TaskStatus::Pending));
    assert!(repo.claim("w", Duration::from_secs(30)).await.expect("claim").is_none(), "not due during the backoff");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = repo.claim("w", Duration::from_secs(30)).await.expect("claim").expect("due again");
    assert_eq!(repo.release("w").await.expect("release"), 1);
    let third = repo.claim("v", Duration::from_secs(30)).await.expect("claim").expect("released");
    assert_eq!((second.attempts, third.attempts), (2, 2), "a released lease does not count as an attempt");
    assert_eq!(repo.fail(&third.id, "v", &failure, true, &policy).await.expect("fail"), Some(TaskStatus::Pending));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let last = repo.claim("v", Duration::from_secs(30)).await.expect("claim").expect("due");
    assert_eq!(repo.fail(&last.id, "v", &failure, true, &policy).await.expect("fail"), Some(TaskStatus::Failed));
    let failed = TaskReads::get(&*repo, &t.id).await.expect("get").expect("task");
    assert_eq!((failed.status, failed.error.map(|e| e.code)), (TaskStatus::Failed, Some("down".to_owned())));
}

/// A batch is submitted once with its task, and finished once with its event.
pub async fn batches_submit_and_finish_once(repo: Subject) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let batch = draft_batch(&b);
    repo.create(&batch).await.expect("create");
    let first = task(1);
    let submitted = repo.submit(&b.id, &batch.id, &first, now()).await.expect("submit");
    assert!(
        matches!(&submitted, stowage_domain::ports::SubmitOutcome::Submitted(s, t) if s.status == TaskStatus::Pending && t.id == first.id),
        "{submitted:?}"
    );
    let again = repo.submit(&b.id, &batch.id, &task(2), now()).await.expect("submit");
    assert!(matches!(again, stowage_domain::ports::SubmitOutcome::NotDraft(_)));
    let (e1, e2) = (task(3), task(4));
    repo.finish(&batch.id, TaskStatus::Completed, now(), Some(e1.clone())).await.expect("finish");
    repo.finish(&batch.id, TaskStatus::Failed, now(), Some(e2.clone())).await.expect("finish again");
    assert!(TaskReads::get(&*repo, &e1.id).await.expect("get").is_some());
    assert!(TaskReads::get(&*repo, &e2.id).await.expect("get").is_none(), "no second event");
    assert_eq!(
        BatchRepo::get(&*repo, &b.id, &batch.id).await.expect("get").expect("batch").status,
        TaskStatus::Completed
    );
}

/// Concurrent attempts to make objects of one upload: one succeeds; deleting it frees the claim.
pub async fn an_upload_gives_its_bytes_to_one_object(repo: Subject) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let u = upload(&repo, &b).await;
    let mut p = plan(&b, &u, 9);
    p.object = None;
    assert!(matches!(repo.apply_confirmation(&p).await.expect("confirm"), ConfirmationOutcome::Original(_)));
    let objects: Vec<BucketObject> = (0..8)
        .map(|_| {
            let mut o = plan(&b, &u, 9).object.expect("object");
            o.upload_id = None;
            o
        })
        .collect();
    let ids = [u.id.clone()];
    let outcomes = join_all(objects.iter().map(|o| repo.attach_object(o, &ids))).await;
    let created = outcomes.iter().filter(|o| matches!(o, Ok(AttachOutcome::Created))).count();
    assert_eq!(created, 1, "{outcomes:?}");
    let listed = repo.list_objects(&b.id, None, 100).await.expect("list");
    assert_eq!(listed.len(), 1);
    let attached = repo.get_upload(&b.id, &u.id).await.expect("get").expect("upload");
    assert_eq!(attached.object_id.as_ref(), Some(&listed[0].id));
    let keys = repo.delete_object(&b.id, &listed[0].id).await.expect("delete").expect("existed");
    assert_eq!(keys, vec![u.key.clone()], "no other blob references the bytes");
    let after = repo.find_bucket(&b.namespace_id, b.id.as_str()).await.expect("find").expect("bucket");
    assert_eq!((after.object_count, after.total_size_bytes), (0, 0));
}

/// Deleting an object releases its content and detaches every upload that pointed at it: no
/// claim, upload or batch refers to the gone object, and the same content is an original again.
pub async fn deleting_an_object_releases_its_content_and_detaches_its_uploads(repo: Subject) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let (first, second) = (upload(&repo, &b).await, upload(&repo, &b).await);
    let ConfirmationOutcome::Original(original) = repo.apply_confirmation(&plan(&b, &first, 5)).await.expect("confirm")
    else {
        panic!("the first confirm is the original")
    };
    let object = original.object_id.clone().expect("an object");
    let ConfirmationOutcome::Duplicate(duplicate) =
        repo.apply_confirmation(&plan(&b, &second, 5)).await.expect("confirm")
    else {
        panic!("the second confirm is a duplicate")
    };
    assert_eq!(duplicate.object_id.as_ref(), Some(&object));
    let batch = Batch {
        id: BatchId::new(&suffix()),
        bucket_id: b.id.clone(),
        status: TaskStatus::Draft,
        object_ids: vec![object.clone()],
        task_id: None,
        created_at: now(),
        updated_at: now(),
    };
    repo.create(&batch).await.expect("a batch holding the object");

    let keys = repo.delete_object(&b.id, &object).await.expect("an object in a batch can be deleted").expect("existed");
    assert_eq!(keys, vec![first.key.clone()]);
    let scope = stowage_domain::dedup::ClaimScope::of(&b).expect("scope");
    assert_eq!(repo.find_claim(&scope, &Sha256Hex::from_bytes(&[5; 32])).await.expect("claim"), None);
    for id in [&first.id, &second.id] {
        let detached = repo.get_upload(&b.id, id).await.expect("get").expect("upload");
        assert_eq!(
            (detached.status(), detached.object_id.as_ref(), detached.object_deleted()),
            (UploadStatus::Completed, None, true)
        );
        assert!(!detached.is_attachable(), "its bytes are gone: it cannot become an object again");
    }
    let kept = BatchRepo::get(&*repo, &b.id, &batch.id).await.expect("get").expect("batch");
    assert_eq!(kept.object_ids, vec![object.clone()], "the batch keeps the id as a tombstone");
    let third = upload(&repo, &b).await;
    let outcome = repo.apply_confirmation(&plan(&b, &third, 5)).await.expect("confirm");
    assert!(matches!(outcome, ConfirmationOutcome::Original(_)), "the same content is an original again: {outcome:?}");
}

/// A worker of one lane never claims a task of another: webhook deliveries wait only for the
/// webhook lane, confirms and batches only for the work lane.
pub async fn each_lane_claims_only_its_own_tasks(repo: Subject) {
    let work = task(1);
    let webhook = NewTask { task_type: TaskType::new(TaskType::WEBHOOK_DELIVERY), ..task(2) };
    repo.enqueue(&webhook).await.expect("enqueue");
    repo.enqueue(&work).await.expect("enqueue");
    let lease = Duration::from_secs(30);
    let claimed = repo.claim_in("w", lease, Lane::Work).await.expect("claim").expect("a work task");
    assert_eq!(claimed.id, work.id, "the older webhook delivery is not the work lane's");
    assert!(repo.claim_in("w", lease, Lane::Work).await.expect("claim").is_none());
    let claimed = repo.claim_in("h", lease, Lane::Webhooks).await.expect("claim").expect("a delivery");
    assert_eq!(claimed.id, webhook.id);
    assert!(repo.claim_in("h", lease, Lane::Webhooks).await.expect("claim").is_none());
}

fn api_key(n: u8, namespaces: Vec<NamespaceId>, all_namespaces: bool, created_at: OffsetDateTime) -> ApiKey {
    ApiKey {
        id: KeyId::new(&suffix()),
        key_hash: format!("{n:064x}"),
        role: Role::Write,
        namespaces,
        all_namespaces,
        description: Some(format!("key {n}")),
        created_at,
        revoked_at: None,
        last_used_at: None,
    }
}

/// Keys: unique hashes, listed oldest first (by namespace when asked), marked used, revoked once.
pub async fn keys_are_listed_by_namespace_revoked_once_and_marked_used(repo: Subject) {
    let (a, b) = (bucket(&repo, BucketSettings::default()).await, bucket(&repo, BucketSettings::default()).await);
    let t0 = now();
    let first = api_key(1, vec![a.namespace_id.clone()], false, t0);
    let second = api_key(2, vec![b.namespace_id.clone()], false, t0 + Duration::from_secs(1));
    let operator = api_key(3, vec![a.namespace_id.clone()], true, t0 + Duration::from_secs(2));
    for key in [&first, &second, &operator] {
        repo.create_api_key(key).await.expect("create");
    }
    assert!(repo.create_api_key(&first).await.is_err(), "a hash is unique");
    assert_eq!(repo.find_api_key(&operator.key_hash).await.expect("find"), Some(operator.clone()));
    assert_eq!(repo.find_api_key(&format!("{:064x}", 9)).await.expect("find"), None);
    let ids = |keys: Vec<ApiKey>| keys.into_iter().map(|k| k.id).collect::<Vec<_>>();
    let all = ids(repo.list_api_keys(None).await.expect("list"));
    assert_eq!(all, [first.id.clone(), second.id.clone(), operator.id.clone()], "oldest first");
    let in_a = ids(repo.list_api_keys(Some(a.namespace_id.clone())).await.expect("list"));
    assert_eq!(in_a, [first.id.clone(), operator.id.clone()]);

    let used = t0 + Duration::from_secs(5);
    repo.touch_api_key(&second.id, used).await.expect("touch");
    let found = repo.find_api_key(&second.key_hash).await.expect("find").expect("key");
    assert_eq!(found.last_used_at, Some(used));

    let revoked_at = t0 + Duration::from_secs(10);
    let revoked = repo.revoke_api_key(&first.id, revoked_at).await.expect("revoke").expect("key");
    assert_eq!(revoked.revoked_at, Some(revoked_at));
    let again = repo.revoke_api_key(&first.id, revoked_at + Duration::from_secs(1)).await.expect("revoke");
    assert_eq!(again.and_then(|k| k.revoked_at), Some(revoked_at), "the first revocation time stays");
    let found = repo.find_api_key(&first.key_hash).await.expect("find").expect("key");
    assert_eq!(found.revoked_at, Some(revoked_at));
    let unknown = KeyId::new(&suffix());
    assert_eq!(repo.revoke_api_key(&unknown, revoked_at).await.expect("revoke"), None);
}

/// A claim is released only by the upload holding it; the content is then an original again.
pub async fn a_claim_is_released_only_by_its_holder(repo: Subject) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let (first, second) = (upload(&repo, &b).await, upload(&repo, &b).await);
    let first_plan = plan(&b, &first, 7);
    assert!(matches!(repo.apply_confirmation(&first_plan).await.expect("confirm"), ConfirmationOutcome::Original(_)));
    let claim = first_plan.claim.clone().expect("the default settings deduplicate");
    let (scope, sha) = (claim.scope, claim.sha256);
    assert!(!repo.release_claim(&scope, &sha, &second.id).await.expect("release"), "not the holder");
    assert_eq!(repo.find_claim(&scope, &sha).await.expect("find").map(|u| u.id), Some(first.id.clone()));
    assert!(repo.release_claim(&scope, &sha, &first.id).await.expect("release"));
    assert!(repo.find_claim(&scope, &sha).await.expect("find").is_none());
    assert!(!repo.release_claim(&scope, &sha, &first.id).await.expect("release"), "released once");
    // The same content now claims for the next upload.
    let next = plan(&b, &second, 7);
    assert!(matches!(repo.apply_confirmation(&next).await.expect("confirm"), ConfirmationOutcome::Original(_)));
}

/// Tenants list their confirms and batches, never the internal webhook deliveries.
pub async fn webhook_deliveries_are_not_listed_to_tenants(repo: Subject) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let of_namespace = |n, task_type| NewTask {
        task_type: TaskType::new(task_type),
        inputs: serde_json::json!({"n": n, "namespace_id": b.namespace_id}),
        ..task(n)
    };
    let (confirm, delivery) = (of_namespace(1, TaskType::CONFIRM_UPLOAD), of_namespace(2, TaskType::WEBHOOK_DELIVERY));
    repo.enqueue(&confirm).await.expect("enqueue");
    repo.enqueue(&delivery).await.expect("enqueue");
    let listed = TaskReads::list(&*repo, &b.namespace_id, None, None, 100).await.expect("list");
    assert_eq!(listed.into_iter().map(|t| t.id).collect::<Vec<_>>(), vec![confirm.id]);
}

/// A stored row damaged under the ports, the way a bug in an older version or a hand edit would.
#[derive(Debug, Clone)]
pub enum Damage {
    /// The upload's stored object key becomes empty, which the domain refuses to decode.
    UploadKey(UploadId),
    /// The task's stored id becomes one the domain refuses to decode.
    TaskId(TaskId),
}

/// Applies a [`Damage`] with the adapter's own SQL.
pub type Corrupt = Arc<dyn Fn(Damage) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// A row that does not decode is skipped by list pages (the cursor still moves past it), by the
/// expiry sweep and by workers (the task is failed where it lies, never claimed again).
pub async fn a_row_that_does_not_decode_never_stops_a_page_a_sweep_or_a_worker(repo: Subject, corrupt: Corrupt) {
    let b = bucket(&repo, BucketSettings::default()).await;
    let start = now() - time::Duration::hours(3);
    let mut ids = Vec::new();
    for i in 0..3 {
        let u = new_upload(&b, start + time::Duration::seconds(i));
        repo.insert_upload(&u, None).await.expect("insert");
        ids.push(u.id);
    }
    corrupt(Damage::UploadKey(ids[1].clone())).await;
    let good = vec![ids[0].clone(), ids[2].clone()];

    let mut seen = Vec::new();
    let mut query = UploadQuery { limit: 1, ..UploadQuery::default() };
    for _ in 0..10 {
        let page = repo.list_uploads(&b.id, &query).await.expect("a page with a corrupt row still answers");
        seen.extend(page.uploads.into_iter().map(|u| u.id));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, good, "the pages go past the corrupt row to the end");
    let whole = repo.list_uploads(&b.id, &UploadQuery { limit: 100, ..UploadQuery::default() }).await.expect("page");
    assert_eq!(whole.uploads.into_iter().map(|u| u.id).collect::<Vec<_>>(), good);

    let expirable = repo.list_expirable(now() + time::Duration::hours(2), 10).await.expect("the sweep still reads");
    let expirable: Vec<UploadId> = expirable.into_iter().map(|u| u.id).filter(|id| ids.contains(id)).collect();
    assert_eq!(expirable, good, "the sweep gets every readable upload");

    let in_namespace = |n| NewTask { inputs: serde_json::json!({"n": n, "namespace_id": b.namespace_id}), ..task(n) };
    let (bad, next) = (in_namespace(1), in_namespace(2));
    repo.enqueue(&bad).await.expect("enqueue");
    repo.enqueue(&next).await.expect("enqueue");
    corrupt(Damage::TaskId(bad.id.clone())).await;
    let claimed = repo.claim("w", Duration::from_secs(30)).await.expect("a corrupt task does not stop the worker");
    assert_eq!(claimed.map(|t| t.id), Some(next.id.clone()), "the next readable task is claimed");
    assert!(
        repo.claim("w", Duration::from_secs(30)).await.expect("claim").is_none(),
        "the corrupt task is not handed out again"
    );
    let listed = TaskReads::list(&*repo, &b.namespace_id, None, None, 100).await.expect("the task list still answers");
    assert_eq!(listed.into_iter().map(|t| t.id).collect::<Vec<_>>(), vec![next.id]);
}

/// Runs every check above, each on a fresh repository from `fresh`, as one `#[tokio::test]` each.
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:expr) => {
        $crate::conformance_suite!(@each $fresh;
            transitions_apply_only_from_the_expected_status,
            an_idempotency_key_returns_the_first_upload,
            concurrent_creates_are_each_written_once_and_answered_alone,
            concurrent_confirmations_of_one_upload_write_once,
            one_content_has_one_original_whatever_the_concurrency,
            a_quota_holds_under_concurrent_confirms,
            events_are_written_with_the_change_they_report,
            keyset_pages_visit_every_upload_once,
            each_task_is_handed_to_one_worker,
            an_expired_lease_is_delivered_again,
            failures_back_off_then_fail_and_released_tasks_return,
            batches_submit_and_finish_once,
            an_upload_gives_its_bytes_to_one_object,
            keys_are_listed_by_namespace_revoked_once_and_marked_used,
            deleting_an_object_releases_its_content_and_detaches_its_uploads,
            each_lane_claims_only_its_own_tasks,
            a_claim_is_released_only_by_its_holder,
            webhook_deliveries_are_not_listed_to_tenants,
            names_are_unique_and_buckets_are_found_by_id_or_name_within_their_namespace_only,
            an_upload_round_trips_and_is_invisible_from_another_bucket,
            only_pending_uploads_past_the_cutoff_are_expirable,
            pending_uploads_page_by_expiry_then_id,
            a_draft_batch_is_submitted_once_with_its_task,
            listing_ten_thousand_uploads_page_by_page_returns_each_exactly_once_in_order,
            listing_filters_by_status_metadata_and_time,
            sixty_four_concurrent_confirms_of_one_upload_create_one_object_and_agree,
            thirty_two_uploads_of_one_content_make_one_original_and_thirty_one_duplicates,
            namespace_scope_finds_duplicates_across_buckets,
            a_failed_confirmation_transaction_leaves_no_object_task_claim_or_usage,
            a_write_failing_beside_others_undoes_the_whole_confirmation,
            auto_submit_batch_writes_the_batch_and_its_task_with_the_upload,
            four_workers_drain_five_hundred_tasks_each_exactly_once,
            a_task_whose_lease_expires_is_redelivered_and_completed_once,
            a_heartbeat_keeps_the_lease,
            a_task_that_keeps_failing_ends_failed_after_max_attempts_with_its_error,
            a_retry_waits_for_its_backoff,
            a_permanent_failure_is_not_retried,
            a_canceled_task_is_not_claimed_and_its_holder_cannot_complete_it,
            released_leases_are_claimable_at_once_without_counting_an_attempt,
            a_long_poll_returns_as_soon_as_the_task_changes,
            a_long_poll_on_an_unchanged_task_times_out_with_the_task,
        );
    };
    ($fresh:expr, corrupt: $corrupt:expr) => {
        $crate::conformance_suite!($fresh);

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_row_that_does_not_decode_never_stops_a_page_a_sweep_or_a_worker() {
            let (repo, guard) = $fresh.await;
            let corrupt = $corrupt(&guard);
            $crate::a_row_that_does_not_decode_never_stops_a_page_a_sweep_or_a_worker(repo, corrupt).await;
        }
    };
    (@each $fresh:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (repo, _guard) = $fresh.await;
                $crate::$name(repo).await;
            }
        )*
    };
}
