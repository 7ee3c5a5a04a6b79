//! With the store down, every call that needs it is `Unavailable` within the timeouts.

use crate::helpers::*;
use std::time::{Duration, Instant};
use stowage_domain::error::StorageError;
use stowage_domain::names::ContentType;
use stowage_domain::ports::{ObjectStore, PartInfo};
use stowage_s3::{S3Config, S3ObjectStore};

fn assert_unavailable<T: std::fmt::Debug>(what: &str, result: Result<T, StorageError>) {
    assert!(matches!(result, Err(StorageError::Unavailable(_))), "{what}: {result:?}");
}

async fn check_every_call(store: &S3ObjectStore) {
    let k = key("k");
    let ct = ContentType::parse("text/plain").unwrap();
    assert_unavailable("head", store.head(&k).await);
    assert_unavailable("hash", store.hash(&k).await);
    assert_unavailable("delete", store.delete(&k).await);
    assert_unavailable("list", store.list("uploads/", None).await);
    assert_unavailable("ping", store.ping().await);
    assert_unavailable("create_multipart", store.create_multipart(&k, &ct).await);
    assert_unavailable("list_parts", store.list_parts(&k, "id").await);
    let part = PartInfo { part_number: 1, etag: stowage_domain::content::ETag::parse("abc").unwrap(), size: 1 };
    assert_unavailable("complete_multipart", store.complete_multipart(&k, "id", &[part]).await);
    assert_unavailable("abort_multipart", store.abort_multipart(&k, "id").await);
}

#[tokio::test]
async fn with_nothing_listening_every_call_is_unavailable() {
    let down = S3Config { endpoint: Some("http://127.0.0.1:1".to_owned()), max_attempts: 1, ..config("any") };
    let store = S3ObjectStore::new(down).await;
    let started = Instant::now();
    check_every_call(&store).await;
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn with_a_store_that_never_answers_every_call_is_unavailable_after_the_timeout() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let hung = S3Config {
        endpoint: Some(endpoint),
        operation_timeout: Duration::from_millis(300),
        read_timeout: Duration::from_millis(300),
        max_attempts: 1,
        ..config("any")
    };
    let store = S3ObjectStore::new(hung).await;
    let started = Instant::now();
    check_every_call(&store).await;
    // Nine calls, each bounded by the 300 ms timeout.
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    drop(silent);
}

#[tokio::test]
async fn presigning_needs_no_connection() {
    let down = S3Config { endpoint: Some("http://127.0.0.1:1".to_owned()), ..config("any") };
    let store = S3ObjectStore::new(down).await;
    let signed = store.presign_get(&key("k"), Duration::from_secs(60)).await.unwrap();
    assert!(signed.url.starts_with("http://127.0.0.1:1/any/test-prefix/uploads/"));
}
