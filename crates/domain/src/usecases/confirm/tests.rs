//! Every branch of confirm steps 1–8, over mocks of the ports.

use super::*;
use crate::bucket::{DuplicateBlobPolicy, DuplicateScope};
use crate::content::{ContentDigest, StoredChecksum};
use crate::ports::ObjectHead;
use crate::upload::{Completion, Verified};
use crate::usecases::testkit::*;

fn request() -> ConfirmRequest {
    ConfirmRequest::default()
}

fn completed(upload: &Upload) -> Upload {
    let verified = Verified { etag: etag(MD5), size: 10, sha256: sha(7) };
    let object = crate::ids::ObjectId::parse("obj_oooooooooooooooo").ok();
    upload.complete(verified, Completion::Original { object, batch: None }, NOW).unwrap()
}

/// Expects a HeadObject answering `head`.
/// The store holds `head` (read by HeadObject for a signed checksum, else by the read that may
/// hash; this one answers no digest, so the content is hashed by `hash` as a store without the
/// one-read path does).
fn stored(world: &mut World, head: Option<ObjectHead>) {
    let read = head.clone();
    world.store.expect_head().times(..=1).returning(move |_| Ok(head.clone()));
    world.store.expect_head_and_hash().times(..=1).returning(move |_, _| Ok(read.clone().map(|h| (h, None))));
}

/// Expects `apply_confirmation` and answers as the repository would for an original.
fn applies_as_original(world: &mut World) -> std::sync::Arc<std::sync::Mutex<Option<ConfirmationPlan>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let captured = seen.clone();
    let upload = pending_upload();
    world.uploads.expect_apply_confirmation().times(1).returning(move |plan| {
        *captured.lock().unwrap() = Some(plan.clone());
        let batch = plan.batch.as_ref().map(|(b, t)| (b.id.clone(), t.id.clone()));
        let object = plan.object.as_ref().map(|o| o.id.clone());
        Ok(ConfirmationOutcome::Original(
            upload.complete(plan.verified.clone(), Completion::Original { object, batch }, plan.now).unwrap(),
        ))
    });
    seen
}

async fn run(world: &World, req: &ConfirmRequest) -> Result<ConfirmReceipt, ConfirmError> {
    confirm_upload(world.deps(), &ns(), "photos", pending_upload().id.as_str(), req).await
}

#[tokio::test]
async fn unknown_bucket_is_bucket_not_found() {
    let mut world = World::new();
    world.tenancy.expect_find_bucket_cached().returning(|_, _| Ok(None));
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("bucket_not_found", ErrorKind::NotFound));
}

#[tokio::test]
async fn malformed_upload_id_is_upload_not_found() {
    let mut world = World::new();
    world.tenancy.expect_find_bucket_cached().returning(|_, _| Ok(Some(bucket())));
    let err = confirm_upload(world.deps(), &ns(), "photos", "upl_../../etc", &request()).await.unwrap_err();
    assert_eq!(err.code(), "upload_not_found");
}

#[tokio::test]
async fn upload_of_another_bucket_is_upload_not_found() {
    let mut world = World::new();
    world.tenancy.expect_find_bucket_cached().returning(|_, _| Ok(Some(bucket())));
    world.uploads.expect_get_upload().returning(|_, _| Ok(None));
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("upload_not_found", ErrorKind::NotFound));
}

#[tokio::test]
async fn confirming_a_completed_upload_replays_the_recorded_answer_without_touching_storage() {
    let done = completed(&pending_upload());
    let world = World::new().with(bucket(), done.clone());
    let receipt = run(&world, &request()).await.unwrap();
    assert_eq!(receipt, done.receipt());
    assert_eq!(receipt.status, UploadStatus::Completed);
    assert_eq!(receipt.file_hash, Some(sha(7)));
}

#[tokio::test]
async fn replay_with_a_contradicting_etag_is_etag_mismatch() {
    let world = World::new().with(bucket(), completed(&pending_upload()));
    let req = ConfirmRequest { etag: Some(etag("ffffffffffffffffffffffffffffffff")), ..request() };
    assert_eq!(run(&world, &req).await.unwrap_err().code(), "etag_mismatch");
}

#[tokio::test]
async fn replay_with_a_contradicting_size_is_size_mismatch() {
    let world = World::new().with(bucket(), completed(&pending_upload()));
    let req = ConfirmRequest { file_size_bytes: Some(FileSize::new(11).unwrap()), ..request() };
    assert_eq!(run(&world, &req).await.unwrap_err().code(), "size_mismatch");
}

#[tokio::test]
async fn replay_with_the_recorded_etag_and_size_succeeds() {
    let world = World::new().with(bucket(), completed(&pending_upload()));
    let req = ConfirmRequest {
        etag: Some(etag(&format!("\"{}\"", MD5.to_uppercase()))),
        file_size_bytes: Some(FileSize::new(10).unwrap()),
        ..request()
    };
    assert_eq!(run(&world, &req).await.unwrap().status, UploadStatus::Completed);
}

#[tokio::test]
async fn confirming_a_processing_upload_answers_processing_with_the_same_task() {
    let task = TaskId::parse("task_tttttttttttttttt").unwrap();
    let processing = pending_upload().begin_processing(task.clone(), NOW).unwrap();
    let world = World::new().with(bucket(), processing);
    let receipt = run(&world, &request()).await.unwrap();
    assert_eq!(receipt.status, UploadStatus::Processing);
    assert_eq!(receipt.task_id, Some(task));
    assert_eq!(receipt.message, "Upload confirmation is being processed in the background.");
}

#[tokio::test]
async fn confirming_a_canceled_upload_is_upload_canceled() {
    let canceled = pending_upload().cancel(NOW).unwrap();
    let world = World::new().with(bucket(), canceled);
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("upload_canceled", ErrorKind::BadRequest));
}

#[tokio::test]
async fn confirming_after_the_grace_records_the_expiry_and_is_upload_expired() {
    let mut stale = pending_upload();
    stale.expires_at = NOW - time::Duration::hours(25);
    let mut world = World::new().with(bucket(), stale.clone());
    world
        .uploads
        .expect_record_failure()
        .withf(|_, expected, failure, _, _| {
            *expected == UploadStatus::Pending && failure.code.as_str() == "upload_expired"
        })
        .times(1)
        .returning(move |_, _, f, now, _| Ok(Transition::Applied(stale.clone()).map_failure(f, now)));
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("upload_expired", ErrorKind::BadRequest));
}

#[tokio::test]
async fn confirming_within_the_grace_still_verifies() {
    let mut late = pending_upload();
    late.expires_at = NOW - time::Duration::hours(23);
    let mut world = World::new().with(bucket(), late);
    stored(&mut world, None);
    assert_eq!(run(&world, &request()).await.unwrap_err().code(), "object_not_in_storage");
}

#[tokio::test]
async fn an_expired_failure_stays_expired_without_writes() {
    let expired = pending_upload().expire(NOW).unwrap();
    let world = World::new().with(bucket(), expired);
    assert_eq!(run(&world, &request()).await.unwrap_err().code(), "upload_expired");
}

#[tokio::test]
async fn async_flag_moves_to_processing_and_enqueues_the_confirm_task() {
    let mut world = World::new().with(bucket(), pending_upload());
    world
        .uploads
        .expect_begin_processing()
        .withf(|_, expected, task, _| {
            *expected == UploadStatus::Pending
                && task.task_type.as_str() == "api_buckets_uploads_confirm"
                && task.inputs["upload_id"] == "upl_0000000000000001"
                && task.inputs["auto_submit_batch"] == true
        })
        .times(1)
        .returning(|_, _, task, now| {
            Ok(Transition::Applied(pending_upload().begin_processing(task.id.clone(), now).unwrap()))
        });
    let receipt = run(&world, &ConfirmRequest { run_async: true, auto_submit_batch: true, ..request() }).await.unwrap();
    assert_eq!(receipt.status, UploadStatus::Processing);
    assert!(receipt.task_id.is_some());
}

#[tokio::test]
async fn an_object_at_the_async_threshold_goes_asynchronous() {
    let mut b = bucket();
    b.settings.async_threshold_bytes = 1000;
    let mut world = World::new().with(b, pending_upload());
    stored(&mut world, Some(head(1000, None)));
    world.uploads.expect_begin_processing().times(1).returning(|_, _, task, now| {
        Ok(Transition::Applied(pending_upload().begin_processing(task.id.clone(), now).unwrap()))
    });
    assert_eq!(run(&world, &request()).await.unwrap().status, UploadStatus::Processing);
}

#[tokio::test]
async fn a_missing_object_is_object_not_in_storage_and_changes_nothing() {
    let mut world = World::new().with(bucket(), pending_upload());
    stored(&mut world, None);
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("object_not_in_storage", ErrorKind::BadRequest));
}

#[tokio::test]
async fn a_different_etag_is_etag_mismatch() {
    let mut world = World::new().with(bucket(), pending_upload());
    stored(&mut world, Some(head(10, None)));
    let req = ConfirmRequest { etag: Some(etag("0123456789abcdef0123456789abcdef")), ..request() };
    assert_eq!(run(&world, &req).await.unwrap_err().code(), "etag_mismatch");
}

#[tokio::test]
async fn a_different_confirmed_size_is_size_mismatch() {
    let mut world = World::new().with(bucket(), pending_upload());
    stored(&mut world, Some(head(10, None)));
    let req = ConfirmRequest { file_size_bytes: Some(FileSize::new(9).unwrap()), ..request() };
    assert_eq!(run(&world, &req).await.unwrap_err().code(), "size_mismatch");
}

#[tokio::test]
async fn a_size_different_from_the_one_declared_at_create_is_size_mismatch() {
    let mut upload = pending_upload();
    upload.declared_size = Some(FileSize::new(11).unwrap());
    let mut world = World::new().with(bucket(), upload);
    stored(&mut world, Some(head(10, None)));
    assert_eq!(run(&world, &request()).await.unwrap_err().code(), "size_mismatch");
}

#[tokio::test]
async fn an_object_above_the_bucket_limit_is_file_too_large() {
    let mut b = bucket();
    b.settings.max_file_size_bytes = Some(5);
    let mut world = World::new().with(b, pending_upload());
    stored(&mut world, Some(head(10, None)));
    assert_eq!(run(&world, &request()).await.unwrap_err().code(), "file_too_large");
}

#[tokio::test]
async fn an_object_beyond_the_quota_is_quota_exceeded() {
    let mut b = bucket();
    b.settings.quota_bytes = Some(15);
    b.total_size_bytes = 10;
    let mut world = World::new().with(b, pending_upload());
    stored(&mut world, Some(head(10, None)));
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("quota_exceeded", ErrorKind::QuotaExceeded));
}

#[tokio::test]
async fn an_unsigned_upload_is_read_once_for_its_head_and_digest() {
    let mut world = World::new().with(bucket(), pending_upload());
    let digest = ContentDigest { sha256: sha(6), md5_hex: "00".repeat(16), bytes: 10 };
    world.store.expect_head().never();
    world.store.expect_hash().never();
    world
        .store
        .expect_head_and_hash()
        .withf(|_, max| *max == bucket().settings.async_threshold_bytes - 1)
        .times(1)
        .returning(move |_, _| Ok(Some((head(10, None), Some(digest.clone())))));
    let seen = applies_as_original(&mut world);
    run(&world, &request()).await.expect("confirmed");
    assert_eq!(seen.lock().unwrap().as_ref().map(|p| p.verified.sha256.clone()), Some(sha(6)));
}

#[tokio::test]
async fn a_quota_refusal_is_decided_on_fresh_usage_not_on_a_cached_bucket() {
    // The cached bucket still counts bytes an object deleted since held; the database's does not.
    let mut fresh = bucket();
    fresh.settings.quota_bytes = Some(15);
    let cached = Bucket { total_size_bytes: 10, ..fresh.clone() };
    let mut world = World::new();
    world.tenancy.expect_find_bucket_cached().returning(move |_, _| Ok(Some(cached.clone())));
    world.tenancy.expect_find_bucket().times(1).returning(move |_, _| Ok(Some(fresh.clone())));
    world.uploads.expect_get_upload().returning(|_, _| Ok(Some(pending_upload())));
    world.uploads.expect_find_claim().returning(|_, _| Ok(None));
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    world.uploads.expect_apply_confirmation().times(1).returning(|plan| {
        let done = pending_upload()
            .complete(plan.verified.clone(), Completion::Original { object: None, batch: None }, plan.now)
            .expect("completes");
        Ok(ConfirmationOutcome::Original(done))
    });
    let receipt = run(&world, &request()).await.expect("room in the bucket once usage is re-read");
    assert_eq!(receipt.status, UploadStatus::Completed);
}

#[tokio::test]
async fn a_declared_hash_different_from_the_stores_checksum_is_checksum_mismatch() {
    let mut upload = pending_upload();
    upload.declared_hash = Some(sha(1));
    let mut world = World::new().with(bucket(), upload);
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(2))))));
    assert_eq!(run(&world, &request()).await.unwrap_err().code(), "checksum_mismatch");
}

#[tokio::test]
async fn a_declared_hash_different_from_the_computed_one_is_checksum_mismatch() {
    let mut upload = pending_upload();
    upload.declared_hash = Some(sha(1));
    let mut world = World::new().with(bucket(), upload);
    stored(&mut world, Some(head(10, None)));
    world
        .store
        .expect_hash()
        .times(1)
        .returning(|_| Ok(ContentDigest { sha256: sha(3), md5_hex: MD5.into(), bytes: 10 }));
    assert_eq!(run(&world, &request()).await.unwrap_err().code(), "checksum_mismatch");
}

#[tokio::test]
async fn the_stores_full_object_checksum_is_the_hash_and_nothing_is_streamed() {
    let mut world = World::new().with(bucket(), pending_upload());
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    world.store.expect_hash().never();
    applies_as_original(&mut world);
    assert_eq!(run(&world, &request()).await.unwrap().file_hash, Some(sha(4)));
}

#[tokio::test]
async fn without_a_checksum_the_hash_is_computed_by_streaming() {
    let mut world = World::new().with(bucket(), pending_upload());
    stored(&mut world, Some(head(10, None)));
    world
        .store
        .expect_hash()
        .times(1)
        .returning(|_| Ok(ContentDigest { sha256: sha(5), md5_hex: MD5.into(), bytes: 10 }));
    applies_as_original(&mut world);
    assert_eq!(run(&world, &request()).await.unwrap().file_hash, Some(sha(5)));
}

#[tokio::test]
async fn a_composite_checksum_is_not_a_content_hash() {
    let mut world = World::new().with(bucket(), pending_upload());
    stored(&mut world, Some(head(10, Some(StoredChecksum::Composite("abc-3".into())))));
    world
        .store
        .expect_hash()
        .times(1)
        .returning(|_| Ok(ContentDigest { sha256: sha(6), md5_hex: MD5.into(), bytes: 10 }));
    applies_as_original(&mut world);
    assert_eq!(run(&world, &request()).await.unwrap().file_hash, Some(sha(6)));
}

#[tokio::test]
async fn an_original_creates_one_object_with_its_blob_and_claims_the_content() {
    let mut world = World::new().with(bucket(), pending_upload());
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    let plan = applies_as_original(&mut world);
    let receipt = run(&world, &request()).await.unwrap();
    let plan = plan.lock().unwrap().clone().unwrap();
    let object = plan.object.unwrap();
    assert_eq!(receipt.object_id, Some(object.id.clone()));
    assert_eq!(receipt.status, UploadStatus::Completed);
    assert_eq!(receipt.verified_at, Some(NOW));
    assert_eq!(receipt.message, "Upload confirmed and bucket object created.");
    assert_eq!(object.status, TaskStatus::Draft);
    assert_eq!(object.blobs[0].details.hash, Some(sha(4)));
    assert_eq!(object.blobs[0].details.size_bytes, 10);
    assert_eq!(object.blobs[0].blob_type, "IMAGE");
    assert!(object.blobs[0].url.starts_with("s3://"));
    assert_eq!(plan.claim.unwrap().sha256, sha(4));
    assert_eq!(plan.expected, UploadStatus::Pending);
    assert!(plan.batch.is_none());
}

#[tokio::test]
async fn a_duplicate_points_at_the_original_upload_and_object() {
    let mut world = World::new().with(bucket(), pending_upload());
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    let original = upload_id(9);
    let original_object = crate::ids::ObjectId::parse("obj_originaloriginal").unwrap();
    let (o, oo) = (original.clone(), original_object.clone());
    world.uploads.expect_apply_confirmation().times(1).returning(move |plan| {
        let dup = Completion::Duplicate { of: o.clone(), object: Some(oo.clone()) };
        Ok(ConfirmationOutcome::Duplicate(pending_upload().complete(plan.verified.clone(), dup, plan.now).unwrap()))
    });
    let receipt = run(&world, &request()).await.unwrap();
    assert!(receipt.is_duplicate);
    assert_eq!(receipt.duplicate_of_upload_id, Some(original.clone()));
    assert_eq!(receipt.object_id, Some(original_object));
    assert_eq!(receipt.batch_id, None);
    assert_eq!(receipt.message, format!("Upload confirmed as a duplicate of {original}."));
}

#[tokio::test]
async fn a_duplicate_in_a_delete_policy_bucket_has_its_bytes_deleted() {
    let mut b = bucket();
    b.settings.duplicate_blob_policy = DuplicateBlobPolicy::Delete;
    let mut world = World::new().with(b, pending_upload());
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    world.uploads.expect_apply_confirmation().returning(|plan| {
        let dup = Completion::Duplicate { of: upload_id(9), object: None };
        Ok(ConfirmationOutcome::Duplicate(pending_upload().complete(plan.verified.clone(), dup, plan.now).unwrap()))
    });
    world.store.expect_delete().withf(|key| *key == pending_upload().key).times(1).returning(|_| Ok(()));
    assert!(run(&world, &request()).await.unwrap().is_duplicate);
}

#[tokio::test]
async fn without_create_object_on_confirm_no_object_is_planned() {
    let mut upload = pending_upload();
    upload.create_object_on_confirm = false;
    let mut world = World::new().with(bucket(), upload);
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    let plan = applies_as_original(&mut world);
    let receipt = run(&world, &ConfirmRequest { auto_submit_batch: true, ..request() }).await.unwrap();
    let plan = plan.lock().unwrap().clone().unwrap();
    assert!(plan.object.is_none());
    assert!(plan.batch.is_none(), "auto_submit_batch has no effect without an object");
    assert_eq!(receipt.object_id, None);
    assert_eq!(receipt.message, "Upload confirmed.");
}

#[tokio::test]
async fn auto_submit_batch_plans_a_submitted_batch_and_reports_its_task() {
    let mut world = World::new().with(bucket(), pending_upload());
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    let plan = applies_as_original(&mut world);
    let receipt = run(&world, &ConfirmRequest { auto_submit_batch: true, ..request() }).await.unwrap();
    let plan = plan.lock().unwrap().clone().unwrap();
    let (batch, task) = plan.batch.unwrap();
    assert_eq!(batch.object_ids, vec![plan.object.unwrap().id]);
    assert_eq!(batch.status, TaskStatus::Pending);
    assert_eq!(task.task_type.as_str(), TaskType::PROCESS_BATCH);
    assert_eq!(receipt.batch_id, Some(batch.id));
    assert_eq!(receipt.task_id, Some(task.id));
}

#[tokio::test]
async fn scope_off_claims_nothing() {
    let mut b = bucket();
    b.settings.duplicate_scope = DuplicateScope::Off;
    let mut world = World::new().with(b, pending_upload());
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    let plan = applies_as_original(&mut world);
    run(&world, &request()).await.unwrap();
    assert!(plan.lock().unwrap().clone().unwrap().claim.is_none());
}

#[tokio::test]
async fn losing_the_race_rereads_and_answers_from_the_winners_result() {
    let mut world = World::new().with(bucket(), pending_upload());
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    let winner = completed(&pending_upload());
    let w = winner.clone();
    world.uploads.expect_apply_confirmation().times(1).returning(move |_| Ok(ConfirmationOutcome::Stale(w.clone())));
    assert_eq!(run(&world, &request()).await.unwrap(), winner.receipt());
}

#[tokio::test]
async fn losing_the_race_to_an_async_confirm_answers_processing() {
    let mut world = World::new().with(bucket(), pending_upload());
    let task = TaskId::parse("task_tttttttttttttttt").unwrap();
    let processing = pending_upload().begin_processing(task.clone(), NOW).unwrap();
    world
        .uploads
        .expect_begin_processing()
        .times(1)
        .returning(move |_, _, _, _| Ok(Transition::Stale(processing.clone())));
    let receipt = run(&world, &ConfirmRequest { run_async: true, ..request() }).await.unwrap();
    assert_eq!((receipt.status, receipt.task_id), (UploadStatus::Processing, Some(task)));
}

#[tokio::test]
async fn endless_contention_gives_up_with_a_conflict() {
    let mut world = World::new().with(bucket(), pending_upload());
    world
        .store
        .expect_head_and_hash()
        .returning(|_, _| Ok(Some((head(10, Some(StoredChecksum::FullObject(sha(4)))), None))));
    world
        .uploads
        .expect_apply_confirmation()
        .times(MAX_RACES)
        .returning(|_| Ok(ConfirmationOutcome::Stale(pending_upload())));
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("confirm_contention", ErrorKind::Conflict));
}

#[tokio::test]
async fn a_failed_upload_is_verified_again_from_failed() {
    let failed = pending_upload()
        .begin_processing(TaskId::parse("task_tttttttttttttttt").unwrap(), NOW)
        .unwrap()
        .fail_verification(
            crate::upload::Failure { code: crate::upload::FailureCode::ObjectNotInStorage, message: "x".into() },
            NOW,
        )
        .unwrap();
    let mut world = World::new().with(bucket(), failed);
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    world.uploads.expect_apply_confirmation().withf(|plan| plan.expected == UploadStatus::Failed).times(1).returning(
        |plan| {
            Ok(ConfirmationOutcome::Original(
                pending_upload()
                    .complete(plan.verified.clone(), Completion::Original { object: None, batch: None }, plan.now)
                    .unwrap(),
            ))
        },
    );
    assert_eq!(run(&world, &request()).await.unwrap().status, UploadStatus::Completed);
}

#[tokio::test]
async fn storage_outage_is_unavailable() {
    let mut world = World::new().with(bucket(), pending_upload());
    world.store.expect_head_and_hash().returning(|_, _| Err(StorageError::Unavailable("connection refused".into())));
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("storage_unavailable", ErrorKind::Unavailable));
}

#[tokio::test]
async fn database_outage_is_unavailable() {
    let mut world = World::new();
    world.tenancy.expect_find_bucket_cached().returning(|_, _| Err(RepoError::Unavailable("pool timeout".into())));
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("database_unavailable", ErrorKind::Unavailable));
}

#[tokio::test]
async fn a_misconfigured_store_is_an_internal_error() {
    let mut world = World::new().with(bucket(), pending_upload());
    world.store.expect_head_and_hash().returning(|_, _| Err(StorageError::Misconfigured("access denied".into())));
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("storage_misconfigured", ErrorKind::Internal));
}

/// Lets a test answer `record_failure` with the upload as the repository would leave it.
trait MapFailure {
    fn map_failure(self, failure: &crate::upload::Failure, now: time::OffsetDateTime) -> Self;
}
impl MapFailure for Transition {
    fn map_failure(self, failure: &crate::upload::Failure, now: time::OffsetDateTime) -> Self {
        match self {
            Transition::Applied(mut u) => {
                u.status = UploadStatus::Failed;
                u.failure = Some(failure.clone());
                u.updated_at = now;
                Transition::Applied(u)
            }
            stale => stale,
        }
    }
}

fn multipart_upload() -> Upload {
    let mut upload = pending_upload();
    upload.declared_size = Some(FileSize::new(25).unwrap());
    upload.multipart = Some(Multipart { upload_id: "mp-1".into(), part_size: 10, part_count: 3 });
    upload
}

fn part(n: u32, size: u64) -> crate::ports::PartInfo {
    crate::ports::PartInfo { part_number: n, etag: etag(MD5), size }
}

#[tokio::test]
async fn a_multipart_upload_with_a_missing_part_is_refused_and_not_completed() {
    let mut world = World::new().with(bucket(), multipart_upload());
    world.store.expect_list_parts().returning(|_, _| Ok(vec![part(1, 10), part(3, 5)]));
    world.store.expect_complete_multipart().never();
    let err = run(&world, &request()).await.unwrap_err();
    assert_eq!(err.code(), "multipart_incomplete");
    assert!(err.to_string().contains("parts 1, 3 of"), "{err}");
}

#[tokio::test]
async fn a_multipart_upload_whose_parts_miss_the_declared_size_is_size_mismatch() {
    let mut world = World::new().with(bucket(), multipart_upload());
    world.store.expect_list_parts().returning(|_, _| Ok(vec![part(1, 10), part(2, 10), part(3, 4)]));
    world.store.expect_complete_multipart().never();
    assert_eq!(run(&world, &request()).await.unwrap_err().code(), "size_mismatch");
}

#[tokio::test]
async fn a_complete_multipart_upload_is_assembled_from_the_listed_parts_then_hashed_in_the_background() {
    let mut world = World::new().with(bucket(), multipart_upload());
    world.store.expect_list_parts().returning(|_, _| Ok(vec![part(1, 10), part(2, 10), part(3, 5)]));
    world
        .store
        .expect_complete_multipart()
        .withf(|_, id, parts| id == "mp-1" && parts.len() == 3)
        .times(1)
        .returning(|_, _, _| Ok(head(25, None)));
    world.store.expect_hash().never();
    world.uploads.expect_begin_processing().times(1).returning(|_, _, task, now| {
        Ok(Transition::Applied(multipart_upload().begin_processing(task.id.clone(), now).unwrap()))
    });
    let receipt = run(&world, &request()).await.unwrap();
    assert_eq!(receipt.status, UploadStatus::Processing);
}

#[tokio::test]
async fn a_failed_assembly_is_checked_with_head_before_the_confirm_fails() {
    // The store assembled the object but the answer was lost: HeadObject shows it.
    let mut world = World::new().with(bucket(), multipart_upload());
    world.store.expect_list_parts().returning(|_, _| Ok(vec![part(1, 10), part(2, 10), part(3, 5)]));
    world
        .store
        .expect_complete_multipart()
        .times(1)
        .returning(|_, _, _| Err(StorageError::Unavailable("timed out".into())));
    stored(&mut world, Some(head(25, None)));
    world.uploads.expect_begin_processing().times(1).returning(|_, _, task, now| {
        Ok(Transition::Applied(multipart_upload().begin_processing(task.id.clone(), now).unwrap()))
    });
    assert_eq!(run(&world, &request()).await.unwrap().status, UploadStatus::Processing);

    // Nothing assembled: the store's error stands, and nothing is recorded.
    let mut world = World::new().with(bucket(), multipart_upload());
    world.store.expect_list_parts().returning(|_, _| Ok(vec![part(1, 10), part(2, 10), part(3, 5)]));
    world
        .store
        .expect_complete_multipart()
        .times(1)
        .returning(|_, _, _| Err(StorageError::Unavailable("timed out".into())));
    stored(&mut world, None);
    world.uploads.expect_begin_processing().never();
    assert_eq!(run(&world, &request()).await.unwrap_err().code(), "storage_unavailable");
}

#[tokio::test]
async fn a_client_planned_multipart_upload_is_complete_with_any_gapless_parts() {
    let planned = Multipart::client_planned("mp".into());
    assert!(planned.is_complete(&[1]));
    assert!(planned.is_complete(&[1, 2, 3]));
    assert!(!planned.is_complete(&[]));
    assert!(!planned.is_complete(&[1, 3]));
    assert!(!planned.is_complete(&[2, 3]));
    let fixed = Multipart { upload_id: "mp".into(), part_size: 10, part_count: 3 };
    assert!(fixed.is_complete(&[1, 2, 3]));
    assert!(!fixed.is_complete(&[1, 2]));
}

#[tokio::test]
async fn a_multipart_upload_the_store_already_assembled_is_not_assembled_again() {
    let mut world = World::new().with(bucket(), multipart_upload());
    world.store.expect_list_parts().returning(|_, _| Err(StorageError::NoSuchUpload));
    stored(&mut world, Some(head(25, None)));
    world.store.expect_complete_multipart().never();
    world.uploads.expect_begin_processing().times(1).returning(|_, _, task, now| {
        Ok(Transition::Applied(multipart_upload().begin_processing(task.id.clone(), now).unwrap()))
    });
    assert_eq!(run(&world, &request()).await.unwrap().status, UploadStatus::Processing);
}

#[tokio::test]
async fn an_original_never_checks_a_holder_and_a_held_claim_is_checked_once_then_applied_trusted() {
    // An original: no claim lookup at all (the transaction claims the content).
    let mut world = World::new();
    world.tenancy.expect_find_bucket_cached().returning(|_, _| Ok(Some(bucket())));
    world.uploads.expect_get_upload().returning(|_, _| Ok(Some(pending_upload())));
    world.uploads.expect_find_claim().times(0);
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    applies_as_original(&mut world);
    assert!(!run(&world, &request()).await.unwrap().is_duplicate);

    // A held claim: the holder is looked up once, then the plan is applied again, trusted.
    let mut world = World::new();
    world.tenancy.expect_find_bucket_cached().returning(|_, _| Ok(Some(bucket())));
    world.uploads.expect_get_upload().returning(|_, _| Ok(Some(pending_upload())));
    world.uploads.expect_find_claim().times(1).returning(|_, _| Ok(None));
    stored(&mut world, Some(head(10, Some(StoredChecksum::FullObject(sha(4))))));
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = attempts.clone();
    world.uploads.expect_apply_confirmation().times(2).returning(move |plan| {
        let attempt = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(plan.holder_trusted, attempt == 1, "attempt {attempt}");
        if !plan.holder_trusted {
            return Ok(ConfirmationOutcome::ClaimHeld);
        }
        let dup = Completion::Duplicate { of: upload_id(9), object: None };
        Ok(ConfirmationOutcome::Duplicate(pending_upload().complete(plan.verified.clone(), dup, plan.now).unwrap()))
    });
    assert!(run(&world, &request()).await.unwrap().is_duplicate);
    assert_eq!(attempts.load(std::sync::atomic::Ordering::Relaxed), 2);
}
