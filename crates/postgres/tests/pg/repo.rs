//! Namespaces, buckets and uploads: uniqueness, tenancy, idempotency, transitions.

use crate::helpers::*;
use stowage_domain::bucket::BucketSettings;
use stowage_domain::error::RepoError;
use stowage_domain::ports::{InsertUpload, Transition, UploadRepo};
use stowage_domain::status::UploadStatus;
use stowage_domain::upload::Failure;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_unique_and_buckets_are_found_by_id_or_name_within_their_namespace_only() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let ns = namespace(&repo).await;
    let other = namespace(&repo).await;
    assert!(matches!(repo.create_namespace(&ns).await.unwrap_err(), RepoError::AlreadyExists(_)));
    assert_eq!(repo.find_namespace(ns.name.as_str()).await.unwrap().unwrap(), ns);
    let b = bucket(&repo, &ns, BucketSettings { require_checksum: true, ..BucketSettings::default() }).await;
    assert!(matches!(repo.create_bucket(&b).await.unwrap_err(), RepoError::AlreadyExists(_)));
    assert_eq!(repo.find_bucket(&ns.id, b.id.as_str()).await.unwrap().unwrap(), b);
    assert_eq!(repo.find_bucket(&ns.id, b.name.as_str()).await.unwrap().unwrap().settings, b.settings);
    assert!(repo.find_bucket(&other.id, b.id.as_str()).await.unwrap().is_none());
    assert!(repo.find_bucket(&other.id, b.name.as_str()).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_round_trips_and_is_invisible_from_another_bucket() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let ns = namespace(&repo).await;
    let b = bucket(&repo, &ns, BucketSettings::default()).await;
    let other = bucket(&repo, &ns, BucketSettings::default()).await;
    let u = upload(&repo, &b).await;
    assert_eq!(repo.get_upload(&b.id, &u.id).await.unwrap().unwrap(), u);
    assert!(repo.get_upload(&other.id, &u.id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_insert_with_the_same_idempotency_key_returns_the_first_upload() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let ns = namespace(&repo).await;
    let b = bucket(&repo, &ns, BucketSettings::default()).await;
    let first = new_upload(&b, now());
    let retry = new_upload(&b, now());
    assert_eq!(repo.insert_upload(&first, Some("key-1".into())).await.unwrap(), InsertUpload::Inserted);
    assert_eq!(repo.insert_upload(&retry, Some("key-1".into())).await.unwrap(), InsertUpload::Existing(first));
    assert_eq!(db.count("SELECT count(*) AS n FROM uploads").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_apply_only_from_the_expected_status() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let ns = namespace(&repo).await;
    let b = bucket(&repo, &ns, BucketSettings::default()).await;
    let u = upload(&repo, &b).await;
    let Transition::Applied(canceled) = repo.cancel_upload(&u.id, UploadStatus::Pending, now()).await.unwrap() else {
        panic!("not applied")
    };
    assert_eq!(canceled.status, UploadStatus::Canceled);
    let Transition::Stale(current) =
        repo.record_failure(&u.id, UploadStatus::Pending, &Failure::expired(), now(), None).await.unwrap()
    else {
        panic!("a stale transition was applied")
    };
    assert_eq!(current, canceled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_pending_uploads_past_the_cutoff_are_expirable() {
    let db = TestDb::new().await;
    let repo = db.repo();
    let ns = namespace(&repo).await;
    let b = bucket(&repo, &ns, BucketSettings::default()).await;
    let old = new_upload(&b, now() - time::Duration::days(3));
    repo.insert_upload(&old, None).await.unwrap();
    let fresh = upload(&repo, &b).await;
    let old_canceled = new_upload(&b, now() - time::Duration::days(3));
    repo.insert_upload(&old_canceled, None).await.unwrap();
    repo.cancel_upload(&old_canceled.id, UploadStatus::Pending, now()).await.unwrap();
    let expirable = repo.list_expirable(now() - time::Duration::days(1), 100).await.unwrap();
    assert_eq!(expirable.iter().map(|u| &u.id).collect::<Vec<_>>(), [&old.id]);
    assert!(!expirable.iter().any(|u| u.id == fresh.id));
}
