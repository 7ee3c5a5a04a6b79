//! The object-store behaviour the rest of stowage relies on, checked on both stores the server
//! can run on — S3 and the local disk — through the port and real presigned HTTP transfers.

use crate::helpers::*;
use std::time::Duration;
use stowage_domain::error::StorageError;
use stowage_domain::names::{ContentType, ObjectKey};
use stowage_domain::ports::{PresignPut, PresignedRequest};

const PART: usize = 5 * 1024 * 1024;

fn key(name: &str) -> ObjectKey {
    ObjectKey::parse(&format!("uploads/ns_x/bkt_x/{}/{name}", uuid::Uuid::new_v4().simple())).unwrap()
}

async fn send(request: &PresignedRequest, body: Vec<u8>) -> reqwest::StatusCode {
    let mut put = reqwest::Client::new().put(&request.url);
    for (name, value) in &request.headers {
        put = put.header(name, value);
    }
    put.body(body).send().await.unwrap().status()
}

async fn put_bytes(app: &TestApp, k: &ObjectKey, body: &[u8]) {
    let request = PresignPut {
        max_length: None,
        key: k.clone(),
        content_type: ContentType::parse("application/octet-stream").unwrap(),
        content_length: Some(body.len() as u64),
        sha256: None,
        expires_in: Duration::from_secs(600),
    };
    let signed = app.store.presign_put(&request).await.unwrap();
    assert_eq!(send(&signed, body.to_vec()).await, 200);
}

async fn head_hash_delete_and_list(app: TestApp) {
    let store = &app.store;
    assert_eq!(store.head(&key("missing")).await.unwrap(), None);
    assert!(matches!(store.hash(&key("gone")).await, Err(StorageError::Rejected(_))));

    let body: Vec<u8> = (0..300_000u32).map(|i| u8::try_from(i % 251).unwrap()).collect();
    let k = key("h.bin");
    put_bytes(&app, &k, &body).await;
    let head = store.head(&k).await.unwrap().unwrap();
    assert_eq!((head.size, head.etag.as_str()), (body.len() as u64, md5_hex(&body).as_str()));
    let digest = store.hash(&k).await.unwrap();
    assert_eq!(
        (digest.sha256.as_str(), digest.md5_hex.as_str(), digest.bytes),
        (sha256_hex(&body).as_str(), md5_hex(&body).as_str(), body.len() as u64)
    );
    assert_eq!(store.read_prefix(&k, 10).await.unwrap(), body[..10]);

    let prefix = k.as_str().rsplit_once('/').unwrap().0.to_owned() + "/";
    let other = ObjectKey::parse(&format!("{prefix}i.bin")).unwrap();
    put_bytes(&app, &other, b"1234").await;
    let page = store.list(&prefix, None).await.unwrap();
    assert_eq!(page.objects.iter().map(|o| o.key.clone()).collect::<Vec<_>>(), [k.clone(), other.clone()]);
    assert!(page.objects.iter().all(|o| o.last_modified.is_some()) && page.next.is_none());

    store.delete(&k).await.unwrap();
    assert!(store.head(&k).await.unwrap().is_none());
    store.delete(&k).await.unwrap();
    store.ping().await.unwrap();
}

async fn multipart_completes_from_the_listed_parts_and_aborts(app: TestApp) {
    let store = &app.store;
    let k = key("big.bin");
    let octets = ContentType::parse("application/octet-stream").unwrap();
    let upload_id = store.create_multipart(&k, &octets).await.unwrap();
    let body: Vec<u8> = (0..(2 * PART + 1234)).map(|i| u8::try_from(i % 253).unwrap()).collect();
    for (n, chunk) in body.chunks(PART).enumerate() {
        let part =
            store.presign_part(&k, &upload_id, u32::try_from(n + 1).unwrap(), Duration::from_secs(600)).await.unwrap();
        assert_eq!(send(&part, chunk.to_vec()).await, 200);
    }
    let parts = store.list_parts(&k, &upload_id).await.unwrap();
    assert_eq!(parts.iter().map(|p| p.part_number).collect::<Vec<_>>(), [1, 2, 3]);
    let head = store.complete_multipart(&k, &upload_id, &parts).await.unwrap();
    assert_eq!((head.size, head.etag.multipart_parts()), (body.len() as u64, Some(3)));
    assert_eq!(store.hash(&k).await.unwrap().sha256.as_str(), sha256_hex(&body));
    assert_eq!(store.complete_multipart(&k, &upload_id, &parts).await.unwrap().etag, head.etag, "repeatable");

    let aborted = key("aborted.bin");
    let upload_id = store.create_multipart(&aborted, &octets).await.unwrap();
    let part = store.presign_part(&aborted, &upload_id, 1, Duration::from_secs(600)).await.unwrap();
    assert_eq!(send(&part, vec![7; 1024]).await, 200);
    store.abort_multipart(&aborted, &upload_id).await.unwrap();
    assert_eq!(store.list_parts(&aborted, &upload_id).await.unwrap_err(), StorageError::NoSuchUpload);
    assert!(store.head(&aborted).await.unwrap().is_none());
    store.abort_multipart(&aborted, &upload_id).await.unwrap();
    assert_eq!(store.complete_multipart(&aborted, &upload_id, &[]).await.unwrap_err(), StorageError::NoSuchUpload);
}

async fn signed_puts_refuse_other_content_types_and_digests(app: TestApp) {
    let k = key("strict.bin");
    let body = b"exact".to_vec();
    let request = PresignPut {
        max_length: None,
        key: k.clone(),
        content_type: ContentType::parse("image/png").unwrap(),
        content_length: Some(5),
        sha256: Some(stowage_domain::content::Sha256Hex::parse(&sha256_hex(&body)).unwrap()),
        expires_in: Duration::from_secs(600),
    };
    let signed = app.store.presign_put(&request).await.unwrap();
    let mut wrong_type = signed.clone();
    for header in &mut wrong_type.headers {
        if header.0.eq_ignore_ascii_case("content-type") {
            header.1 = "text/plain".into();
        }
    }
    assert_eq!(send(&wrong_type, body.clone()).await, 403);
    assert_eq!(send(&signed, b"EXACT".to_vec()).await, 400, "a wrong digest");
    assert!(app.store.head(&k).await.unwrap().is_none(), "nothing stored");
    assert_eq!(send(&signed, body).await, 200);
    assert!(app.store.head(&k).await.unwrap().is_some());
}

/// Each check on S3 and on the local disk.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod on_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::spawn_app().await).await;
                }
            )*
        }
        mod on_disk {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::spawn_on_disk().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    head_hash_delete_and_list,
    multipart_completes_from_the_listed_parts_and_aborts,
    signed_puts_refuse_other_content_types_and_digests,
);
