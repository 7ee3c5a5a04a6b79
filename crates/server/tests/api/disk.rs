//! The local-disk store's signed route: what a token allows goes in, anything else is refused
//! with S3's status codes and leaves no file behind; downloads are signed too.

use crate::helpers::*;
use serde_json::{Value, json};
use std::path::Path;

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// PUTs `body` to the upload's URL with its headers, `change` applied to them; returns status and body.
async fn put_with(
    upload: &Value,
    url: &str,
    body: Vec<u8>,
    change: impl Fn(&str, &str) -> Option<String>,
) -> (u16, String) {
    let mut request = reqwest::Client::new().put(url);
    for (name, value) in upload["presigned_headers"].as_object().unwrap() {
        if let Some(value) = change(name, value.as_str().unwrap()) {
            request = request.header(name, value);
        }
    }
    let response = request.body(body).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn same(_: &str, value: &str) -> Option<String> {
    Some(value.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_expired_or_mismatched_transfers_are_refused_and_leave_nothing_behind() {
    let app = spawn_on_disk().await;
    let data = app.data_dir.clone().unwrap();
    let bucket = app.bucket("strict", json!({})).await;
    let bytes = b"exactly these bytes".to_vec();
    let upload = app
        .create_upload(
            &bucket,
            "s.bin",
            json!({"file_size_bytes": bytes.len(), "file_hash": sha256_hex(&bytes), "enforce_checksum": true}),
        )
        .await;
    let url = upload["presigned_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/storage/uploads/", app.address)), "{url}");

    // A changed signature, changed claims, no token at all.
    let flipped = {
        let mut chars: Vec<char> = url.chars().collect();
        let last = chars.len() - 1;
        chars[last] = if chars[last] == '0' { '1' } else { '0' };
        chars.into_iter().collect::<String>()
    };
    let claims_changed = url.replacen("token=e", "token=f", 1).replacen("token=", "token=A", 1);
    let no_token = url.split('?').next().unwrap().to_owned();
    for bad in [&flipped, &claims_changed, &no_token] {
        let (status, body) = put_with(&upload, bad, bytes.clone(), same).await;
        assert_eq!(status, 403, "{bad}: {body}");
    }
    let (status, body) = put_with(&upload, &url, bytes.clone(), |n, v| {
        Some(if n.eq_ignore_ascii_case("content-type") { "text/html".to_owned() } else { v.to_owned() })
    })
    .await;
    assert_eq!((status, body.contains("SignatureDoesNotMatch")), (403, true), "wrong content type: {body}");
    let (status, _) = put_with(&upload, &url, b"exactly these bytes and more".to_vec(), |n, v| {
        (!n.eq_ignore_ascii_case("content-length")).then(|| v.to_owned())
    })
    .await;
    assert_eq!(status, 403, "another length than the signed one");
    let (status, body) = put_with(&upload, &url, b"EXACTLY these bytes".to_vec(), same).await;
    assert_eq!((status, body.contains("BadDigest")), (400, true), "other bytes of the right length: {body}");
    assert_eq!(files_under(&data.join("objects/objects")), Vec::<std::path::PathBuf>::new(), "nothing stored");
    assert_eq!(files_under(&data.join("objects/tmp")), Vec::<std::path::PathBuf>::new(), "no temporary file left");

    // The signed transfer itself works, answers the MD5 etag, and confirm needs no read-back.
    let (status, _) = put_with(&upload, &url, bytes.clone(), same).await;
    assert_eq!(status, 200);
    let (status, receipt) = app.confirm(&bucket, upload["upload_id"].as_str().unwrap(), &json!({})).await;
    assert_eq!((status.as_u16(), receipt["etag"].as_str()), (200, Some(md5_hex(&bytes).as_str())), "{receipt}");
    assert_eq!(receipt["file_hash"], sha256_hex(&bytes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_url_is_refused() {
    let app = spawn_on_disk().await;
    let key = stowage_domain::names::ObjectKey::parse("uploads/x/y/z/late.bin").unwrap();
    let request = stowage_domain::ports::PresignPut {
        max_length: None,
        key: key.clone(),
        content_type: stowage_domain::names::ContentType::parse("application/octet-stream").unwrap(),
        content_length: None,
        sha256: None,
        expires_in: std::time::Duration::ZERO,
    };
    let signed = app.store.presign_put(&request).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = reqwest::Client::new()
        .put(&signed.url)
        .header("content-type", "application/octet-stream")
        .body(b"too late".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("expired"));
    assert!(app.store.head(&key).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_download_through_signed_get_urls() {
    let app = spawn_on_disk().await;
    let bucket = app.bucket("dl", json!({})).await;
    let bytes = b"download me".to_vec();
    let (id, _) = app.upload(&bucket, &bytes).await;
    let (_, receipt) = app.confirm(&bucket, &id, &json!({})).await;
    let object = receipt["object_id"].as_str().unwrap();
    let (_, object) = app.get(&format!("/v1/buckets/{bucket}/objects/{object}?return_presigned_urls=true")).await;
    let url = object["blobs"][0]["presigned_url"].as_str().unwrap();
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], format!("\"{}\"", md5_hex(&bytes)).as_str());
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // A download token does not allow uploads.
    let put = reqwest::Client::new().put(url).body(b"overwrite".to_vec()).send().await.unwrap();
    assert_eq!(put.status(), 403);
}
