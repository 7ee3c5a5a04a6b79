//! Create-upload validation, the duplicate short-circuit and what gets signed.

use super::*;
use crate::usecases::testkit::*;

fn request() -> CreateUploadRequest {
    CreateUploadRequest {
        filename: Filename::parse("cat.png").unwrap(),
        content_type: ContentType::parse("image/png").unwrap(),
        file_size_bytes: Some(FileSize::new(10).unwrap()),
        presigned_url_expiration: None,
        metadata: serde_json::json!({"k": "v"}),
        create_object_on_confirm: true,
        object_metadata: serde_json::json!({}),
        blob_property: None,
        blob_type: None,
        file_hash: None,
        skip_duplicates: true,
        enforce_checksum: false,
        idempotency_key: None,
        client_parts: false,
    }
}

fn world_with(bucket: crate::bucket::Bucket) -> World {
    let mut world = World::new();
    let cached = bucket.clone();
    world.tenancy.expect_find_bucket_cached().returning(move |_, _| Ok(Some(cached.clone())));
    world.tenancy.expect_find_bucket().returning(move |_, _| Ok(Some(bucket.clone())));
    world
}

fn presigns(world: &mut World) -> std::sync::Arc<std::sync::Mutex<Vec<PresignPut>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let captured = seen.clone();
    world.store.expect_presign_put().returning(move |req| {
        captured.lock().unwrap().push(req.clone());
        Ok(PresignedRequest {
            url: format!("https://s3.test/{}", req.key),
            method: "PUT".into(),
            headers: vec![],
            expires_at: NOW,
        })
    });
    seen
}

async fn run(world: &World, req: CreateUploadRequest) -> Result<CreatedUpload, CreateUploadError> {
    create_upload(world.deps(), &ns(), "photos", req).await
}

#[tokio::test]
async fn a_valid_request_records_a_pending_upload_with_a_signed_put() {
    let mut world = world_with(bucket());
    let signed = presigns(&mut world);
    world.uploads.expect_insert_upload().times(1).returning(|_, _| Ok(InsertUpload::Inserted));
    let created = run(&world, request()).await.unwrap();
    assert_eq!(created.upload.status, UploadStatus::Pending);
    assert!(created.upload.id.as_str().starts_with("upl_"));
    assert_eq!(created.upload.expires_at, NOW + time::Duration::hours(1));
    assert!(created.upload.key.as_str().ends_with(&format!("{}/cat.png", created.upload.id)));
    assert!(!created.is_duplicate);
    let signed = signed.lock().unwrap();
    assert_eq!(signed[0].content_type.as_str(), "image/png");
    assert_eq!(signed[0].content_length, Some(10));
    assert_eq!(signed[0].sha256, None, "the checksum is signed only on request");
    assert_eq!(signed[0].expires_in, std::time::Duration::from_secs(3600));
}

#[tokio::test]
async fn unknown_bucket_is_bucket_not_found() {
    let mut world = World::new();
    world.tenancy.expect_find_bucket_cached().returning(|_, _| Ok(None));
    world.tenancy.expect_find_bucket().never();
    assert_eq!(run(&world, request()).await.unwrap_err().code(), "bucket_not_found");
}

#[tokio::test]
async fn a_type_the_bucket_does_not_allow_is_refused() {
    let mut b = bucket();
    b.settings.allowed_content_types = vec!["video/*".into()];
    let world = world_with(b);
    assert_eq!(run(&world, request()).await.unwrap_err().code(), "content_type_not_allowed");
}

#[tokio::test]
async fn a_size_above_the_bucket_limit_is_file_too_large_before_any_url() {
    let mut b = bucket();
    b.settings.max_file_size_bytes = Some(9);
    let mut world = world_with(b);
    world.store.expect_presign_put().never();
    let err = run(&world, request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("file_too_large", ErrorKind::BadRequest));
}

#[tokio::test]
async fn a_size_above_the_single_put_limit_gets_a_multipart_plan_and_no_put_url() {
    let mut world = world_with(bucket());
    world.policy.max_single_put_bytes = 5;
    world.policy.multipart_part_size_bytes = 4;
    world.store.expect_create_multipart().times(1).returning(|_, _| Ok("mp-1".to_owned()));
    world.store.expect_presign_put().never();
    world.uploads.expect_insert_upload().times(1).returning(|_, _| Ok(InsertUpload::Inserted));
    let created = run(&world, request()).await.unwrap();
    assert_eq!(created.presigned, None);
    assert_eq!(
        created.upload.multipart,
        Some(Multipart { upload_id: "mp-1".into(), part_size: 4, part_count: 3 }),
        "10 bytes in parts of 4"
    );
}

#[tokio::test]
async fn a_multipart_upload_that_is_not_recorded_is_aborted() {
    let mut world = world_with(bucket());
    world.policy.max_single_put_bytes = 5;
    world.store.expect_create_multipart().returning(|_, _| Ok("mp-1".to_owned()));
    world.store.expect_abort_multipart().withf(|_, id| id == "mp-1").times(1).returning(|_, _| Ok(()));
    world.uploads.expect_insert_upload().returning(|_, _| Err(RepoError::Unavailable("down".into())));
    assert_eq!(run(&world, request()).await.unwrap_err().kind(), ErrorKind::Unavailable);
}

#[test]
fn part_plans_stay_within_ten_thousand_parts() {
    assert_eq!(Multipart::plan(10, 4), (4, 3));
    assert_eq!(Multipart::plan(8, 4), (4, 2));
    assert_eq!(Multipart::plan(1 << 40, 5 << 20), ((1u64 << 40).div_ceil(10_000), 10_000));
}

#[tokio::test]
async fn a_size_beyond_the_quota_is_quota_exceeded() {
    let mut b = bucket();
    b.settings.quota_bytes = Some(5);
    let world = world_with(b);
    let err = run(&world, request()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("quota_exceeded", ErrorKind::QuotaExceeded));
}

/// The bucket comes from a cache, whose usage may be old: a refusal is decided on a fresh read,
/// and a fresh read is made only then.
#[tokio::test]
async fn a_stale_cached_usage_does_not_refuse_and_a_fresh_one_is_read_only_before_a_refusal() {
    let mut fresh = bucket();
    fresh.settings.quota_bytes = Some(100);
    let mut stale = fresh.clone();
    stale.total_size_bytes = 95;
    let mut world = World::new();
    world.tenancy.expect_find_bucket_cached().returning(move |_, _| Ok(Some(stale.clone())));
    world.tenancy.expect_find_bucket().times(1).returning(move |_, _| Ok(Some(fresh.clone())));
    presigns(&mut world);
    world.uploads.expect_insert_upload().times(1).returning(|_, _| Ok(InsertUpload::Inserted));
    assert_eq!(run(&world, request()).await.unwrap().upload.status, UploadStatus::Pending);

    let mut world = world_with(bucket());
    world.tenancy.checkpoint();
    world.tenancy.expect_find_bucket_cached().returning(|_, _| Ok(Some(bucket())));
    world.tenancy.expect_find_bucket().never();
    presigns(&mut world);
    world.uploads.expect_insert_upload().times(1).returning(|_, _| Ok(InsertUpload::Inserted));
    run(&world, request()).await.unwrap();
}

#[tokio::test]
async fn expiration_outside_60_to_86400_seconds_is_refused() {
    for bad in [0, 59, 86_401] {
        let world = world_with(bucket());
        let err =
            run(&world, CreateUploadRequest { presigned_url_expiration: Some(bad), ..request() }).await.unwrap_err();
        assert_eq!(err.code(), "invalid_expiration", "{bad}");
    }
}

#[tokio::test]
async fn expiration_bounds_are_accepted() {
    for ok in [60, 86_400] {
        let mut world = world_with(bucket());
        presigns(&mut world);
        world.uploads.expect_insert_upload().returning(|_, _| Ok(InsertUpload::Inserted));
        let created =
            run(&world, CreateUploadRequest { presigned_url_expiration: Some(ok), ..request() }).await.unwrap();
        assert_eq!(created.upload.expires_at, NOW + time::Duration::seconds(i64::from(ok)));
    }
}

#[tokio::test]
async fn a_bucket_requiring_checksums_refuses_an_upload_without_file_hash() {
    let mut b = bucket();
    b.settings.require_checksum = true;
    let world = world_with(b);
    assert_eq!(run(&world, request()).await.unwrap_err().code(), "checksum_required");
}

#[tokio::test]
async fn enforce_checksum_without_file_hash_is_refused() {
    let world = world_with(bucket());
    let err = run(&world, CreateUploadRequest { enforce_checksum: true, ..request() }).await.unwrap_err();
    assert_eq!(err.code(), "checksum_required");
}

#[tokio::test]
async fn enforce_checksum_signs_the_declared_sha256() {
    let mut world = world_with(bucket());
    world.uploads.expect_find_claim().returning(|_, _| Ok(None));
    let signed = presigns(&mut world);
    world.uploads.expect_insert_upload().returning(|_, _| Ok(InsertUpload::Inserted));
    let created = run(&world, CreateUploadRequest { enforce_checksum: true, file_hash: Some(sha(3)), ..request() })
        .await
        .unwrap();
    assert!(created.upload.checksum_signed);
    assert_eq!(signed.lock().unwrap()[0].sha256, Some(sha(3)));
}

#[tokio::test]
async fn a_known_hash_short_circuits_to_the_existing_upload_without_a_url() {
    let mut world = world_with(bucket());
    let original = pending_upload();
    let o = original.clone();
    world
        .uploads
        .expect_find_claim()
        .withf(|scope, hash| scope.as_str() == "bkt_bbbbbbbbbbbbbbbb" && *hash == sha(3))
        .returning(move |_, _| Ok(Some(o.clone())));
    world.store.expect_presign_put().never();
    world.uploads.expect_insert_upload().never();
    let created = run(&world, CreateUploadRequest { file_hash: Some(sha(3)), ..request() }).await.unwrap();
    assert!(created.is_duplicate);
    assert!(created.presigned.is_none());
    assert_eq!(created.upload.id, original.id);
}

#[tokio::test]
async fn skip_duplicates_false_always_creates() {
    let mut world = world_with(bucket());
    world.uploads.expect_find_claim().never();
    presigns(&mut world);
    world.uploads.expect_insert_upload().times(1).returning(|_, _| Ok(InsertUpload::Inserted));
    let created = run(&world, CreateUploadRequest { file_hash: Some(sha(3)), skip_duplicates: false, ..request() })
        .await
        .unwrap();
    assert!(!created.is_duplicate);
    assert!(created.presigned.is_some());
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_returns_the_first_upload() {
    let mut world = world_with(bucket());
    presigns(&mut world);
    let first = pending_upload();
    let f = first.clone();
    world
        .uploads
        .expect_insert_upload()
        .withf(|_, key| key.as_deref() == Some("k-1"))
        .returning(move |_, _| Ok(InsertUpload::Existing(f.clone())));
    let created = run(&world, CreateUploadRequest { idempotency_key: Some("k-1".into()), ..request() }).await.unwrap();
    assert_eq!(created.upload.id, first.id);
    assert!(created.presigned.is_some());
}

#[tokio::test]
async fn a_storage_outage_while_signing_records_nothing() {
    let mut world = world_with(bucket());
    world.store.expect_presign_put().returning(|_| Err(StorageError::Unavailable("down".into())));
    world.uploads.expect_insert_upload().never();
    let err = run(&world, request()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn no_url_is_signed_for_an_upload_past_pending() {
    let world = World::new();
    let done = pending_upload().cancel(NOW).unwrap();
    assert_eq!(presign_put(world.deps(), &bucket(), &done).await.unwrap(), None);
}

#[tokio::test]
async fn a_batch_create_answers_each_item_in_order_and_a_refusal_does_not_stop_the_rest() {
    let mut b = bucket();
    b.settings.allowed_content_types = vec!["image/*".into()];
    let mut world = world_with(b);
    presigns(&mut world);
    world.uploads.expect_insert_upload().times(2).returning(|_, _| Ok(InsertUpload::Inserted));
    let text = CreateUploadRequest { content_type: ContentType::parse("text/plain").unwrap(), ..request() };
    let items: Vec<Result<CreateUploadRequest, &str>> = vec![Ok(request()), Err("unreadable"), Ok(text), Ok(request())];
    let results = create_uploads(world.deps(), &ns(), "photos", items).await.unwrap();
    assert!(results[0].is_ok() && results[3].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err(), &BatchItemError::Invalid("unreadable"));
    assert!(matches!(&results[2], Err(BatchItemError::Refused(e)) if e.code() == "content_type_not_allowed"));
}

#[tokio::test]
async fn an_outage_fails_the_whole_batch_create() {
    let mut world = world_with(bucket());
    world.store.expect_presign_put().returning(|_| Err(StorageError::Unavailable("down".into())));
    let items: Vec<Result<CreateUploadRequest, ()>> = vec![Ok(request()), Ok(request())];
    let err = create_uploads(world.deps(), &ns(), "photos", items).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn the_buckets_size_limit_is_signed_into_the_put_as_its_maximum_length() {
    let mut limited = bucket();
    limited.settings.max_file_size_bytes = Some(1_048_576);
    let mut world = world_with(limited);
    let signed = presigns(&mut world);
    world.uploads.expect_insert_upload().times(1).returning(|_, _| Ok(InsertUpload::Inserted));
    run(&world, request()).await.unwrap();
    assert_eq!(signed.lock().unwrap()[0].max_length, Some(1_048_576));
}
