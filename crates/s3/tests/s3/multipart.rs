//! Multipart uploads through presigned part URLs, completed from the store's own part list.

use crate::helpers::*;
use std::time::Duration;
use stowage_domain::error::StorageError;
use stowage_domain::names::ContentType;
use stowage_domain::ports::ObjectStore;

const PART: usize = 5 * 1024 * 1024;

#[tokio::test]
async fn three_parts_through_presigned_urls_complete_from_list_parts_with_a_dash_three_etag() {
    let store = store().await;
    let k = key("big.bin");
    let upload_id = store.create_multipart(&k, &ContentType::parse("application/octet-stream").unwrap()).await.unwrap();
    let body: Vec<u8> = (0..(2 * PART + 1234)).map(|i| (i % 253) as u8).collect();
    for (n, chunk) in body.chunks(PART).enumerate() {
        let part = store.presign_part(&k, &upload_id, n as u32 + 1, Duration::from_secs(600)).await.unwrap();
        let response = send(&part, chunk.to_vec(), &[]).await;
        assert_eq!(response.status(), 200);
    }
    let parts = store.list_parts(&k, &upload_id).await.unwrap();
    assert_eq!(parts.iter().map(|p| p.part_number).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(parts.iter().map(|p| p.size).sum::<u64>(), body.len() as u64);

    let head = store.complete_multipart(&k, &upload_id, &parts).await.unwrap();
    assert_eq!(head.size, body.len() as u64);
    assert_eq!(head.etag.multipart_parts(), Some(3));
    assert_eq!(store.hash(&k).await.unwrap().sha256.as_str(), sha256_hex(&body));

    // Completing again is answered from the object.
    let again = store.complete_multipart(&k, &upload_id, &parts).await.unwrap();
    assert_eq!(again.etag, head.etag);
}

#[tokio::test]
async fn abort_removes_the_pending_upload() {
    let store = store().await;
    let k = key("aborted.bin");
    let upload_id = store.create_multipart(&k, &ContentType::parse("application/octet-stream").unwrap()).await.unwrap();
    let part = store.presign_part(&k, &upload_id, 1, Duration::from_secs(600)).await.unwrap();
    assert_eq!(send(&part, vec![7; 1024], &[]).await.status(), 200);
    store.abort_multipart(&k, &upload_id).await.unwrap();
    assert_eq!(store.list_parts(&k, &upload_id).await.unwrap_err(), StorageError::NoSuchUpload);
    assert!(store.head(&k).await.unwrap().is_none());
    store.abort_multipart(&k, &upload_id).await.unwrap();
    assert_eq!(store.complete_multipart(&k, &upload_id, &[]).await.unwrap_err(), StorageError::NoSuchUpload);
}
