//! Files above the single-PUT limit: a part plan at create, presigned part URLs, and a confirm
//! that assembles the file from what the store lists and hashes it in the background.

use crate::helpers::*;
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;

/// 12 MiB and a bit in parts of 5 MiB: three parts, the last one small.
fn big_file() -> Vec<u8> {
    (0..12 * MIB + 4321).map(|i| u8::try_from((i * 31 + i / 7919) % 251).unwrap()).collect()
}

fn small_limits(s: &mut stowage_server::Settings) {
    s.uploads.max_single_put_bytes = 8 * MIB as u64;
    s.uploads.multipart_part_size_bytes = 5 * MIB as u64;
}

async fn spawn_small_limits() -> TestApp {
    spawn_with(small_limits).await
}

async fn part_urls(app: &TestApp, bucket: &str, upload: &str, numbers: &[u32]) -> (reqwest::StatusCode, Value) {
    app.post(&format!("/v1/buckets/{bucket}/uploads/{upload}/parts"), &json!({"part_numbers": numbers})).await
}

/// PUTs one part to its presigned URL with exactly the listed headers.
async fn put_part(part: &Value, bytes: &[u8]) {
    let mut request = reqwest::Client::new().put(part["url"].as_str().unwrap());
    for (name, value) in part["headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    let response = request.body(bytes.to_vec()).send().await.unwrap();
    assert_eq!(response.status(), 200, "part PUT failed: {}", response.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parts_through_presigned_part_urls_confirm_to_the_right_sha256() {
    three_parts(spawn_small_limits().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parts_on_the_local_disk_store_confirm_to_the_right_sha256() {
    three_parts(spawn_on_disk_with(small_limits).await).await;
}

async fn three_parts(app: TestApp) {
    let bucket = app.bucket("big", json!({})).await;
    let bytes = big_file();
    let upload = app.create_upload(&bucket, "big.bin", json!({"file_size_bytes": bytes.len()})).await;
    assert_eq!(upload["multipart"], json!({"part_size_bytes": 5 * MIB, "part_count": 3}), "{upload}");
    assert_eq!(upload["presigned_url"], Value::Null);
    let id = upload["upload_id"].as_str().unwrap();

    let (status, urls) = part_urls(&app, &bucket, id, &[1, 2, 3]).await;
    assert_eq!(status, 200, "{urls}");
    let parts = urls["parts"].as_array().unwrap();
    assert_eq!(parts.iter().map(|p| p["part_number"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    let chunks: Vec<&[u8]> = bytes.chunks(5 * MIB).collect();
    // Parts 1 and 3 only: confirm refuses, names what is missing, and changes nothing.
    put_part(&parts[0], chunks[0]).await;
    put_part(&parts[2], chunks[2]).await;
    let (status, refused) = app.confirm(&bucket, id, &json!({})).await;
    assert_eq!((status.as_u16(), refused["error"]["code"].as_str()), (400, Some("multipart_incomplete")), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("1, 3"), "{refused}");
    assert_eq!(app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await.1["status"], "PENDING");

    put_part(&parts[1], chunks[1]).await;
    let (status, receipt) = app.confirm(&bucket, id, &json!({})).await;
    assert_eq!((status.as_u16(), receipt["status"].as_str()), (200, Some("PROCESSING")), "{receipt}");
    let task = app.wait_task(receipt["task_id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "COMPLETED", "{task}");

    let (_, done) = app.get(&format!("/v1/buckets/{bucket}/uploads/{id}")).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["file_hash"], sha256_hex(&bytes));
    assert_eq!(done["file_size_bytes"].as_u64().unwrap(), bytes.len() as u64);
    assert!(done["etag"].as_str().unwrap().ends_with("-3"), "a multipart etag: {done}");
    assert!(done["object_id"].is_string());
    // Confirming again answers from the record.
    let (status, again) = app.confirm(&bucket, id, &json!({})).await;
    assert_eq!((status.as_u16(), &again["file_hash"]), (200, &done["file_hash"]), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_urls_are_refused_outside_the_plan_and_for_single_puts() {
    let app = spawn_small_limits().await;
    let bucket = app.bucket("plan", json!({})).await;
    let big = app.create_upload(&bucket, "big.bin", json!({"file_size_bytes": 9 * MIB})).await;
    let big = big["upload_id"].as_str().unwrap();
    let small = app.create_upload(&bucket, "small.bin", json!({"file_size_bytes": 10})).await;
    assert_eq!(small["multipart"], Value::Null);
    let small = small["upload_id"].as_str().unwrap();
    for (upload, numbers, status, code) in [
        (big, vec![0], 400, "invalid_part_numbers"),
        (big, vec![3], 400, "invalid_part_numbers"),
        (big, vec![], 400, "invalid_part_numbers"),
        (small, vec![1], 409, "not_multipart"),
        ("upl_AAAAAAAAAAAAAAAA", vec![1], 404, "upload_not_found"),
    ] {
        let (got, body) = part_urls(&app, &bucket, upload, &numbers).await;
        assert_eq!((got.as_u16(), body["error"]["code"].as_str()), (status, Some(code)), "{numbers:?}: {body}");
    }
    // Canceling with delete_s3_object aborts the multipart upload: no part URL afterwards.
    let (status, _) = app.delete(&format!("/v1/buckets/{bucket}/uploads/{big}?delete_s3_object=true")).await;
    assert_eq!(status, 204);
    let (status, body) = part_urls(&app, &bucket, big, &[1]).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_upload_state")), "{body}");
}
