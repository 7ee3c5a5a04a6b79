//! Presigned PUTs bind what the client declared; the store enforces it.

use crate::helpers::*;
use std::time::Duration;
use stowage_domain::content::{Sha256Hex, StoredChecksum};
use stowage_domain::names::ContentType;
use stowage_domain::ports::{ObjectStore, PresignPut};

fn put(key: stowage_domain::names::ObjectKey, body: &[u8], sha256: bool) -> PresignPut {
    PresignPut {
        max_length: None,
        key,
        content_type: ContentType::parse("image/png").unwrap(),
        content_length: Some(body.len() as u64),
        sha256: sha256.then(|| Sha256Hex::parse(&sha256_hex(body)).unwrap()),
        expires_in: Duration::from_secs(600),
    }
}

#[tokio::test]
async fn a_presigned_put_from_a_plain_http_client_lands_and_head_reports_size_and_md5_etag() {
    let store = store().await;
    let body = b"hello, stowage".to_vec();
    let k = key("hello.png");
    let signed = store.presign_put(&put(k.clone(), &body, false)).await.unwrap();
    assert_eq!(signed.method, "PUT");
    let names: Vec<_> = signed.headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    assert!(names.contains(&"content-type".to_owned()), "{names:?}");
    assert!(names.contains(&"content-length".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("x-amz-checksum")), "no checksum unless asked: {names:?}");

    let response = send(&signed, body.clone(), &[]).await;
    assert_eq!(response.status(), 200);
    let head = store.head(&k).await.unwrap().expect("stored");
    assert_eq!(head.size, body.len() as u64);
    assert_eq!(head.etag.as_str(), md5_hex(&body));
    assert_eq!(head.content_type.as_deref(), Some("image/png"));
}

#[tokio::test]
async fn a_signed_checksum_is_verified_by_the_store_and_reported_by_head() {
    let store = store().await;
    let body = b"checked bytes".to_vec();
    let k = key("c.png");
    let signed = store.presign_put(&put(k.clone(), &body, true)).await.unwrap();
    assert!(signed.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("x-amz-checksum-sha256")));
    assert_eq!(send(&signed, body.clone(), &[]).await.status(), 200);
    let head = store.head(&k).await.unwrap().unwrap();
    assert_eq!(head.sha256, Some(StoredChecksum::FullObject(Sha256Hex::parse(&sha256_hex(&body)).unwrap())));
}

#[tokio::test]
async fn a_wrong_content_type_is_rejected_and_nothing_is_stored() {
    let store = store().await;
    let body = b"typed".to_vec();
    let k = key("t.png");
    let signed = store.presign_put(&put(k.clone(), &body, false)).await.unwrap();
    let response = send(&signed, body, &[("content-type", "text/html")]).await;
    assert_eq!(response.status(), 403);
    assert!(store.head(&k).await.unwrap().is_none());
}

#[tokio::test]
async fn a_body_of_another_length_than_declared_is_rejected() {
    let store = store().await;
    let declared = b"twelve bytes".to_vec();
    let k = key("l.png");
    let signed = store.presign_put(&put(k.clone(), &declared, false)).await.unwrap();
    let shorter = b"eleven byte".to_vec();
    let length = shorter.len().to_string();
    let response = send(&signed, shorter, &[("content-length", &length)]).await;
    assert_eq!(response.status(), 403);
    assert!(store.head(&k).await.unwrap().is_none());
}

#[tokio::test]
async fn bytes_that_do_not_match_the_signed_checksum_are_rejected_and_nothing_is_stored() {
    let store = store().await;
    let declared = b"the real bytes".to_vec();
    let k = key("d.png");
    let signed = store.presign_put(&put(k.clone(), &declared, true)).await.unwrap();
    let other = b"the fake bytes".to_vec();
    assert_eq!(other.len(), declared.len());
    let response = send(&signed, other, &[]).await;
    assert_eq!(response.status(), 400, "{}", response.text().await.unwrap_or_default());
    assert!(store.head(&k).await.unwrap().is_none());
}

#[tokio::test]
async fn a_tampered_url_is_rejected() {
    let store = store().await;
    let body = b"x".to_vec();
    let k = key("x.png");
    let mut signed = store.presign_put(&put(k.clone(), &body, false)).await.unwrap();
    let at = signed.url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &signed.url[at..=at] == "a" { "b" } else { "a" };
    signed.url.replace_range(at..=at, flipped);
    assert_eq!(send(&signed, body, &[]).await.status(), 403);
    assert!(store.head(&k).await.unwrap().is_none());
}

#[tokio::test]
async fn an_expired_url_is_rejected() {
    let store = store().await;
    let body = b"late".to_vec();
    let k = key("late.png");
    let signed = store
        .presign_put(&PresignPut { expires_in: Duration::from_secs(1), ..put(k.clone(), &body, false) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let status = send(&signed, body, &[]).await.status();
    assert!(status == 400 || status == 403, "expired URL answered {status}");
    assert!(store.head(&k).await.unwrap().is_none());
}

#[tokio::test]
async fn a_presigned_get_downloads_the_bytes() {
    let store = store().await;
    let body = b"download me".to_vec();
    let k = key("g.png");
    send(&store.presign_put(&put(k.clone(), &body, false)).await.unwrap(), body.clone(), &[]).await;
    let get = store.presign_get(&k, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(get.method, "GET");
    let response = send(&get, Vec::new(), &[]).await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
}
