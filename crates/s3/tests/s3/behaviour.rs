//! HeadObject, hashing, delete and listing as the rest of stowage relies on them.

use crate::helpers::*;
use std::time::Duration;
use stowage_domain::error::StorageError;
use stowage_domain::names::ContentType;
use stowage_domain::ports::{ObjectStore, PresignPut};
use stowage_s3::S3ObjectStore;

async fn put_bytes(store: &S3ObjectStore, k: &stowage_domain::names::ObjectKey, body: &[u8]) {
    let request = PresignPut {
        max_length: None,
        key: k.clone(),
        content_type: ContentType::parse("application/octet-stream").unwrap(),
        content_length: Some(body.len() as u64),
        sha256: None,
        expires_in: Duration::from_secs(600),
    };
    let signed = store.presign_put(&request).await.unwrap();
    assert_eq!(send(&signed, body.to_vec(), &[]).await.status(), 200);
}

#[tokio::test]
async fn head_of_a_missing_key_is_none_not_an_error() {
    let store = store().await;
    assert_eq!(store.head(&key("missing")).await.unwrap(), None);
}

#[tokio::test]
async fn hashing_reports_sha256_md5_and_the_byte_count() {
    let store = store().await;
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let k = key("h.bin");
    put_bytes(&store, &k, &body).await;
    let seen = std::sync::atomic::AtomicU64::new(0);
    let digest = store.hash_with_progress(&k, &|n| seen.store(n, std::sync::atomic::Ordering::Relaxed)).await.unwrap();
    assert_eq!(digest.sha256.as_str(), sha256_hex(&body));
    assert_eq!(digest.md5_hex, md5_hex(&body));
    assert_eq!(digest.bytes, body.len() as u64);
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), body.len() as u64, "progress reached the end");
    assert!(store.head(&k).await.unwrap().unwrap().sha256.is_none(), "no checksum was stored for an unsigned PUT");
}

#[tokio::test]
async fn one_read_gives_the_head_and_the_digest_of_a_small_object_and_only_the_head_of_a_large_one() {
    let store = store().await;
    let body: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let k = key("once.bin");
    put_bytes(&store, &k, &body).await;
    let head = store.head(&k).await.unwrap().unwrap();
    let (read_head, digest) = store.head_and_hash(&k, body.len() as u64).await.unwrap().unwrap();
    assert_eq!(read_head, head, "the read's head is HeadObject's");
    let digest = digest.expect("small enough to hash");
    assert_eq!(
        (digest.sha256.as_str(), digest.md5_hex.as_str()),
        (sha256_hex(&body).as_str(), md5_hex(&body).as_str())
    );
    assert_eq!(digest.bytes, body.len() as u64);
    let (large_head, none) = store.head_and_hash(&k, body.len() as u64 - 1).await.unwrap().unwrap();
    assert_eq!((large_head, none), (head, None), "above the limit only the head");
    assert_eq!(store.head_and_hash(&key("never-put"), 1 << 20).await.unwrap(), None);
}

#[tokio::test]
async fn hashing_a_missing_object_is_an_error_not_a_hash() {
    let store = store().await;
    let err = store.hash(&key("gone")).await.unwrap_err();
    assert!(matches!(err, StorageError::Rejected(_)), "{err:?}");
}

#[tokio::test]
async fn delete_removes_and_deleting_again_succeeds() {
    let store = store().await;
    let k = key("d.bin");
    put_bytes(&store, &k, b"bye").await;
    store.delete(&k).await.unwrap();
    assert!(store.head(&k).await.unwrap().is_none());
    store.delete(&k).await.unwrap();
}

#[tokio::test]
async fn listing_a_prefix_returns_its_keys_without_the_configured_prefix() {
    let store = store().await;
    let keys: Vec<_> =
        (0..3).map(|i| stowage_domain::names::ObjectKey::parse(&format!("uploads/a/{i}.bin")).unwrap()).collect();
    for k in &keys {
        put_bytes(&store, k, b"1234").await;
    }
    put_bytes(&store, &stowage_domain::names::ObjectKey::parse("other/x.bin").unwrap(), b"1").await;
    let page = store.list("uploads/", None).await.unwrap();
    assert_eq!(page.objects.iter().map(|o| o.key.clone()).collect::<Vec<_>>(), keys);
    assert!(page.objects.iter().all(|o| o.size == 4 && o.last_modified.is_some()));
    assert!(page.next.is_none());
    assert!(store.locator(&keys[0]).ends_with("/test-prefix/uploads/a/0.bin"));
}

#[tokio::test]
async fn a_missing_bucket_is_a_configuration_error_with_a_clear_message() {
    let store = S3ObjectStore::new(config("no-such-bucket-anywhere")).await;
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StorageError::Misconfigured(_)), "{err:?}");
    let err = store.head(&key("k")).await;
    assert!(matches!(err, Ok(None) | Err(StorageError::Misconfigured(_))), "{err:?}");
}

#[tokio::test]
async fn wrong_credentials_are_a_configuration_error() {
    let good = store().await;
    let bad =
        S3ObjectStore::new(stowage_s3::S3Config { secret_access_key: Some("0".repeat(64)), ..good.config().clone() })
            .await;
    let err = bad.ping().await.unwrap_err();
    assert!(matches!(err, StorageError::Misconfigured(_)), "{err:?}");
}
